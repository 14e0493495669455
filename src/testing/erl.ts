// Real Erlang for tests: erl nodes on free ports (stopped by pid), erlc and
// one-shot erl runs. Starting epmd and the erl command line live in
// src/procs/erl.ts (the darklaunch CLI uses them too).
//
// BEAMBRIDGE_OTP_ROOT=/opt/otp-sid runs erl inside that debootstrap'd root
// (see scripts/otp-roots.sh) so the same suite runs against OTP 27 or 29.
// BEAMBRIDGE_EPMD_PORT, when set (this repository's CI sets it), names an epmd
// that is already running; otherwise each test file starts its own.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, resolve } from 'node:path';
import { startProcess, type Started, type TestContext } from '../procs/process.js';
import { erlCommand, isTestContext, otpRoot } from '../procs/erl.js';

/** One Erlang/OTP installation the suite can run against. */
export interface OtpVariant {
  /** A label for test names, e.g. `OTP 25 (system)` or `OTP 29 (/opt/otp-sid)`. */
  label: string;
  /** The chroot root, or '' for the system erl. */
  root: string;
}

/**
 * The system OTP plus every debootstrap'd root that exists (scripts/otp-roots.sh
 * makes /opt/otp-trixie and /opt/otp-sid; BEAMBRIDGE_OTP_ROOTS, colon-separated,
 * overrides the list). Prints once which ones are absent.
 */
export function otpVariants(): OtpVariant[] {
  const wanted = (process.env.BEAMBRIDGE_OTP_ROOTS ?? '/opt/otp-trixie:/opt/otp-sid').split(':').filter(Boolean);
  const out: OtpVariant[] = [{ label: 'OTP system', root: '' }];
  const absent: string[] = [];
  for (const root of wanted) {
    if (existsSync(`${root}/usr/bin/erl`)) out.push({ label: `OTP ${root}`, root });
    else absent.push(root);
  }
  if (absent.length > 0 && !warned) {
    warned = true;
    console.error(`# OTP roots absent (${absent.join(', ')}): testing the system OTP only; run scripts/otp-roots.sh`);
  }
  return out;
}
let warned = false;

export interface ErlNodeOptions {
  /** Full node name, e.g. `a1@127.0.0.1` (a -name), or a short name with `shortNames`. */
  name: string;
  cookie: string;
  epmdPort: number;
  shortNames?: boolean;
  /** Extra erl arguments (e.g. `-pa dir`, `-kernel net_ticktime 4`). */
  args?: string[];
  /** An Erlang expression run after start, before the ready line is printed. */
  eval?: string;
  /** OTP root (see {@link otpVariants}); default {@link otpRoot}. */
  root?: string;
  /** Erlang source files (`.erl`) to compile with that OTP's erlc and put on the code path (`-pa`). */
  modules?: string[];
}

/**
 * Starts a distributed erl node (`-start_epmd false`, registering with the
 * epmd at `epmdPort`) and waits until it prints its ready line. It is stopped
 * by pid on `stop()`, when the test `t` ends, and when this process exits.
 * `startErlNode(options)` without a test works too (no runner).
 */
export async function startErlNode(t: TestContext | undefined, o: ErlNodeOptions): Promise<Started>;
export async function startErlNode(o: ErlNodeOptions): Promise<Started>;
export async function startErlNode(a: TestContext | ErlNodeOptions | undefined, b?: ErlNodeOptions): Promise<Started> {
  const [t, o] = b === undefined && !isTestContext(a) ? [undefined, a as ErlNodeOptions] : [a as TestContext | undefined, b!];
  const ready = `BEAMBRIDGE_READY ${o.name}`;
  const codePath = o.modules?.length ? ['-pa', await compileErl(o.modules, o.root ?? otpRoot())] : [];
  const evalExpr = `${o.eval ? o.eval + ', ' : ''}io:format("~s~n", ["${ready}"]).`;
  const { cmd, args } = erlCommand([
    '-noshell',
    '-start_epmd', 'false',
    o.shortNames ? '-sname' : '-name', o.name,
    '-setcookie', o.cookie,
    ...codePath,
    ...(o.args ?? []),
    '-eval', evalExpr,
  ], o.root);
  return startProcess({
    cmd,
    args,
    env: { ERL_EPMD_PORT: String(o.epmdPort) },
    ready: new RegExp(`^${ready.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`),
    t,
  });
}

const compiled = new Map<string, Promise<string>>();
const compiledDirs: string[] = [];

/**
 * Compiles Erlang source files with the erlc of `root` (default the system
 * OTP) and resolves with the directory of the .beam files as erl in `root`
 * sees it (for `-pa`). Compiled once per process for the same files and root.
 * Across processes, the output is kept in a cache directory of this user
 * (mode 0700, under the OS temp dir or the root's /tmp), keyed by a digest of
 * the sources and of the erlc installation, so a test suite runs erlc once per
 * module set instead of once per test file. Sources with an `-include`,
 * `-include_lib` or a parse transform (whose other files the digest cannot
 * see), or no usable cache directory: each process compiles into a fresh
 * directory removed when it exits. A relative `-include("x.hrl")` finds the
 * header beside the source (the `.hrl` files there are copied along; for the
 * system OTP each source's directory is also on the include path).
 */
export function compileErl(files: string[], root: string = otpRoot()): Promise<string> {
  const abs = files.map((f) => resolve(f)).sort();
  const key = `${root}\0${abs.map((f) => `${f}@${statSync(f).mtimeMs}`).join('\0')}`;
  let p = compiled.get(key);
  if (p === undefined) {
    p = compileCached(abs, root) ?? compileInto(abs, root, freshDir(root));
    compiled.set(key, p);
    p.catch(() => compiled.delete(key));
  }
  return p;
}

/** The temp directory erlc of `root` can write in: the OS's, or the root's /tmp. */
const tempIn = (root: string): string => (root ? join(root, 'tmp') : tmpdir());

/** `dir` as erl in `root` sees it (a path inside the root). */
const seenIn = (root: string, dir: string): string => (root ? dir.slice(root.length) : dir);

/** A directory of this process's own, removed when it exits. */
function freshDir(root: string): string {
  const dir = mkdtempSync(join(tempIn(root), 'beambridge-erl-'));
  if (compiledDirs.length === 0) process.on('exit', () => compiledDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  compiledDirs.push(dir);
  return dir;
}

/**
 * Copies `abs` into `dir` and runs erlc there; resolves with `dir` as erl in `root` sees it.
 * A relative `-include` resolves as it would beside the sources: the `.hrl` files next to
 * each source are copied along, and for the system OTP each source's directory is also on
 * the include path (`-I`; a root cannot see the host's directories).
 */
function compileInto(abs: string[], root: string, dir: string): Promise<string> {
  return new Promise<string>((ok, fail) => {
    const srcDirs = [...new Set(abs.map((f) => dirname(f)))];
    for (const d of srcDirs) {
      for (const h of readdirSync(d).filter((n) => n.endsWith('.hrl'))) copyFileSync(join(d, h), join(dir, h));
    }
    for (const f of abs) copyFileSync(f, join(dir, basename(f)));
    const seen = seenIn(root, dir);
    const erlc = root ? { cmd: 'chroot', args: [root, 'erlc'] } : { cmd: 'erlc', args: [] };
    const includes = root ? [] : srcDirs.flatMap((d) => ['-I', d]);
    execFile(erlc.cmd, [...erlc.args, ...includes, '-o', seen, ...abs.map((f) => join(seen, basename(f)))], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`erlc failed for ${abs.join(', ')}: ${err.message}\n${stdout}${stderr}`));
      else ok(seen);
    });
  });
}

/**
 * What identifies the erlc that compiles for `root`: for the system OTP, the
 * erlc found on PATH (its real path and mtime); for a root, its OTP releases.
 * Undefined when unknown (then nothing is cached).
 */
function erlcIdentity(root: string): string | undefined {
  try {
    if (root) {
      const rel = join(root, 'usr/lib/erlang/releases');
      const versions = readdirSync(rel).filter((d) => /^\d+$/.test(d)).map((d) => readFileSync(join(rel, d, 'OTP_VERSION'), 'utf8').trim());
      return versions.length > 0 ? versions.join(',') : undefined;
    }
    for (const d of (process.env.PATH ?? '').split(delimiter)) {
      const f = join(d, 'erlc');
      if (d && existsSync(f)) {
        const real = realpathSync(f);
        return `${real}@${statSync(real).mtimeMs}`;
      }
    }
  } catch {
    // no identity: no cache
  }
  return undefined;
}

/** This user's cache directory (created 0700; refused unless it is a directory of ours that nobody else may write). */
function cacheBase(root: string): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const base = join(tempIn(root), `beambridge-erl-cache-${uid}`);
  try {
    mkdirSync(base, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
  }
  const st = lstatSync(base);
  return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0 ? base : undefined;
}

/**
 * Whether a source's output may depend on files other than itself: an
 * `-include`, `-include_lib` or parse transform the digest below cannot see
 * (such modules are compiled per process, as before the cache).
 */
const READS_OTHER_FILES = /^\s*-\s*(include|include_lib)\s*\(|parse_transform/m;

/** The compile through the cache (see {@link compileErl}), or undefined when there is no usable cache. */
function compileCached(abs: string[], root: string): Promise<string> | undefined {
  const sources = abs.map((f) => readFileSync(f));
  if (sources.some((b) => READS_OTHER_FILES.test(b.toString('latin1')))) return undefined;
  const id = erlcIdentity(root);
  const base = id === undefined ? undefined : cacheBase(root);
  if (id === undefined || base === undefined) return undefined;
  const h = createHash('sha256').update(`${root}\0${id}\0`);
  abs.forEach((f, i) => h.update(`${basename(f)}\0`).update(sources[i]).update('\0'));
  const final = join(base, h.digest('hex').slice(0, 32));
  const seen = seenIn(root, final);
  if (existsSync(join(final, '.done'))) return Promise.resolve(seen);
  // Compiled aside, then renamed into place whole: a concurrent process that
  // got there first wins, and nobody ever sees a half-written directory.
  const work = mkdtempSync(join(base, 'work-'));
  return compileInto(abs, root, work).then(
    () => {
      writeFileSync(join(work, '.done'), '');
      try {
        renameSync(work, final);
      } catch {
        rmSync(work, { recursive: true, force: true });
      }
      if (!existsSync(join(final, '.done'))) throw new Error(`erlc output missing in ${final}`);
      return seen;
    },
    (e: unknown) => {
      rmSync(work, { recursive: true, force: true });
      throw e;
    },
  );
}

/**
 * Runs a non-distributed `erl -noshell` that evaluates `expr` and halts, and
 * resolves with its stdout. `expr` is a sequence of Erlang expressions without
 * the final dot; `halt()` is appended. `modules` are compiled (see
 * {@link compileErl}) and put on the code path.
 */
export async function runErl(
  expr: string,
  opts: { args?: string[]; timeoutMs?: number; input?: string; root?: string; modules?: string[] } = {},
): Promise<string> {
  const codePath = opts.modules?.length ? ['-pa', await compileErl(opts.modules, opts.root ?? otpRoot())] : [];
  const { cmd, args } = erlCommand(['-noshell', '-start_epmd', 'false', ...codePath, ...(opts.args ?? []), '-eval', `${expr}, halt().`], opts.root);
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`erl failed: ${err.message}\n${stderr}\n${stdout.slice(0, 2000)}`));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/**
 * Compiles and loads an Erlang module in memory (its source is sent on stdin,
 * so it works inside an OTP root too), then evaluates `call`, which may use
 * `Data` (the `data` string). `src` is the path of a `.erl` file, or the
 * module's source itself (no preprocessor: no macros or includes). Errors come
 * back as a thrown Error, never a crash dump.
 */
export async function erlWith(src: string, call: string, data: string, root: string = otpRoot()): Promise<string> {
  if (/\.erl$/.test(src) && !src.includes('\n')) src = readFileSync(src, 'utf8');
  const expr =
    `io:setopts(standard_io, [{encoding, unicode}]), ` +
    `RA = fun R(Acc) -> case io:get_line('') of eof -> lists:append(lists:reverse(Acc)); L -> R([L | Acc]) end end, ` +
    `[Src, Data] = string:split(RA([]), "%%DATA%%\\n"), ` +
    // Never let erl crash (no erl_crash.dump): report errors on stdout instead.
    `try {ok, Ts, _} = erl_scan:string(Src), ` +
    `Sp = fun S([], _, Acc) -> lists:reverse(Acc); S([{dot, _} = D | T], Cur, Acc) -> S(T, [], [lists:reverse([D | Cur]) | Acc]); S([H | T], Cur, Acc) -> S(T, [H | Cur], Acc) end, ` +
    `Forms = [begin {ok, F} = erl_parse:parse_form(X), F end || X <- Sp(Ts, [], [])], ` +
    `{ok, Mod, Bin} = compile:forms(Forms, [return_errors]), {module, Mod} = code:load_binary(Mod, "gen.erl", Bin), ` +
    `${call} catch C:E:St -> io:format("ERLERROR ~p~n", [{C, E, St}]) end`;
  const out = await runErl(expr, { input: `${src}%%DATA%%\n${data}`, root });
  if (out.includes('ERLERROR')) throw new Error(out.slice(out.indexOf('ERLERROR')));
  return out;
}
