// Real Erlang for tests: epmd and erl nodes on free ports, stopped by pid.
//
// BEAMBRIDGE_OTP_ROOT=/opt/otp-sid runs erl inside that debootstrap'd root
// (see scripts/otp-roots.sh) so the same suite runs against OTP 27 or 29.
// BEAMBRIDGE_EPMD_PORT, when set (by .ci/run), names an epmd that is already
// running; otherwise each test file starts its own.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, startProcess, type Started, type Teardownable } from './procs.js';

/** The OTP root to run erl in by default, or '' for the system erl. */
export function otpRoot(): string {
  return process.env.BEAMBRIDGE_OTP_ROOT ?? '';
}

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

/** Command and arguments that run `erl args...` for the given (or default) OTP root. */
export function erlCommand(args: string[], root: string = otpRoot()): { cmd: string; args: string[] } {
  return root ? { cmd: 'chroot', args: [root, 'erl', ...args] } : { cmd: 'erl', args };
}

/** Starts epmd on a free port (or reuses BEAMBRIDGE_EPMD_PORT) and returns the port. */
export async function startEpmd(t: Teardownable): Promise<number> {
  const shared = process.env.BEAMBRIDGE_EPMD_PORT;
  if (shared) return Number(shared);
  const port = await freePort();
  await startProcess({
    cmd: 'epmd',
    args: ['-port', String(port), '-relaxed_command_check'],
    readyPort: port,
    t,
  });
  return port;
}

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
}

/** Starts a distributed erl node and waits until it prints its ready line. */
export async function startErlNode(t: Teardownable, o: ErlNodeOptions): Promise<Started> {
  const ready = `BEAMBRIDGE_READY ${o.name}`;
  const evalExpr = `${o.eval ? o.eval + ', ' : ''}io:format("~s~n", ["${ready}"]).`;
  const { cmd, args } = erlCommand([
    '-noshell',
    '-start_epmd', 'false',
    o.shortNames ? '-sname' : '-name', o.name,
    '-setcookie', o.cookie,
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

/**
 * Runs a non-distributed `erl -noshell` that evaluates `expr` and halts, and
 * resolves with its stdout. `expr` is a sequence of Erlang expressions without
 * the final dot; `halt()` is appended.
 */
export function runErl(
  expr: string,
  opts: { args?: string[]; timeoutMs?: number; input?: string; root?: string } = {},
): Promise<string> {
  const { cmd, args } = erlCommand(['-noshell', '-start_epmd', 'false', ...(opts.args ?? []), '-eval', `${expr}, halt().`], opts.root);
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
 * Compiles and loads the Erlang module `src` (sent on stdin, never written to
 * disk, so it works inside an OTP root too), then evaluates `call`, which may use
 * `Data` (the `data` string). Errors come back as a thrown Error, never a crash dump.
 */
export async function erlWith(src: string, call: string, data: string, root: string): Promise<string> {
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
