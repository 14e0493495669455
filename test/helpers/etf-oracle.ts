// The Erlang side of the ETF verification tests: a long-running `erl -noinput`
// running test/erl/etf_oracle.erl, driven line by line over stdin/stdout (see
// the protocol at the top of that file). One erl serves thousands of requests,
// pipelined, so the ~1 s start-up is paid once per test file and OTP variant.
//
// For a debootstrap'd OTP root the module source is copied into ROOT/tmp (a
// chroot'd erl cannot see /work) and removed as soon as it is loaded. The erl
// process is stopped by pid in teardown, never by name.
//
// Also here: `diffTerm`, a strict structural comparison of decoded JS terms
// against the values a test expects, with `like()` for partially known values
// (a local pid's number, a fun's MD5).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import {
  Atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  LocalExt,
  Pid,
  Port,
  Reference,
  Tuple,
  type Term,
} from '../../src/index.js';
import { erlCommand, type Teardownable } from '../../src/testing/index.js';

const SOURCE = fileURLToPath(new URL('../erl/etf_oracle.erl', import.meta.url));

/** How Erlang judged a re-encoded term against the original. */
export type CheckStatus =
  | 'same' // =:= and every float bit-identical
  | 'inexact' // =:= but a float differs bitwise (e.g. -0.0 vs 0.0 on OTP 25)
  | 'differ' // not =:=
  | 'bad' // binary_to_term rejected the re-encoded bytes
  | 'error'; // the request itself failed

export interface CheckResult {
  status: CheckStatus;
  /** Erlang's description of the difference (empty when `same`). */
  detail: string;
}

interface Pending {
  resolve: (lines: string[]) => void;
  reject: (e: Error) => void;
  lines: string[];
  /** A multi-line reply (gen), complete at its `done` line. */
  multi: boolean;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
});

function unhexText(h: string): string {
  return Buffer.from(h, 'hex').toString('utf8');
}

/** A running etf_oracle. Create with {@link EtfOracle.start}. */
export class EtfOracle {
  /** `erlang:system_info(otp_release)` of the oracle, e.g. 25. */
  otpRelease = 0;
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private partial = '';
  private stderr = '';
  private exited = false;
  private readonly exit: Promise<void>;
  private readyWaiter: ((line: string) => void) | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly label: string,
  ) {
    live.add(child);
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (chunk: string) => this.onData(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (this.stderr.length < 100_000) this.stderr += chunk;
    });
    child.stdin!.on('error', () => {
      /* reported through exit */
    });
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        live.delete(child);
        const err = new Error(`etf_oracle (${label}) exited (${code ?? signal}); stderr: ${this.stderr.slice(0, 4000)}`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        resolve();
      });
    });
  }

  /**
   * Compiles and starts the oracle under the given OTP root ('' = system erl)
   * and registers its stop as a teardown of `t`.
   */
  static async start(opts: { root?: string; t?: Teardownable; timeoutMs?: number } = {}): Promise<EtfOracle> {
    const root = opts.root ?? '';
    let hostDir: string | undefined;
    let path = SOURCE;
    if (root) {
      hostDir = mkdtempSync(join(root, 'tmp', 'beambridge-etf-'));
      copyFileSync(SOURCE, join(hostDir, 'etf_oracle.erl'));
      path = join(hostDir.slice(root.replace(/\/+$/, '').length), 'etf_oracle.erl');
    }
    const expr =
      `{ok, M, B} = compile:file("${path}", [binary, report_errors, report_warnings]), ` +
      `{module, M} = code:load_binary(M, "${path}", B), etf_oracle:main().`;
    // -noinput: the oracle reads stdin itself, through a port (see etf_oracle.erl).
    const { cmd, args } = erlCommand(['-noinput', '-start_epmd', 'false', '-eval', expr], root);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const oracle = new EtfOracle(child, root ? `OTP root ${root}` : 'system OTP');
    opts.t?.teardown(() => oracle.stop());
    const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
    const ready = new Promise<string>((resolve) => {
      oracle.readyWaiter = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const line = await Promise.race([
        ready,
        spawnError,
        oracle.exit.then(() => {
          throw new Error(`etf_oracle did not start: ${oracle.stderr}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`etf_oracle did not start within ${opts.timeoutMs ?? 120_000} ms: ${oracle.stderr}`)),
            opts.timeoutMs ?? 120_000,
          );
        }),
      ]);
      oracle.otpRelease = Number(line.split(' ')[1]);
    } catch (e) {
      await oracle.stop();
      throw e;
    } finally {
      clearTimeout(timer);
      if (hostDir) rmSync(hostDir, { recursive: true, force: true });
    }
    return oracle;
  }

  private onData(chunk: string): void {
    this.partial += chunk;
    let i: number;
    while ((i = this.partial.indexOf('\n')) >= 0) {
      const line = this.partial.slice(0, i).replace(/\r$/, '');
      this.partial = this.partial.slice(i + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    if (this.readyWaiter && line.startsWith('ready ')) {
      const w = this.readyWaiter;
      this.readyWaiter = undefined;
      w(line);
      return;
    }
    const sp = line.indexOf(' ');
    const id = sp < 0 ? line : line.slice(0, sp);
    const rest = sp < 0 ? '' : line.slice(sp + 1);
    const p = this.pending.get(id);
    if (!p) return; // compiler output or other noise
    if (rest.startsWith('error ')) {
      this.pending.delete(id);
      p.reject(new Error(`etf_oracle: ${unhexText(rest.slice(6))}`));
    } else if (!p.multi) {
      this.pending.delete(id);
      p.resolve([rest]);
    } else if (rest === 'done') {
      this.pending.delete(id);
      p.resolve(p.lines);
    } else {
      p.lines.push(rest);
    }
  }

  private request(words: string[], multi = false): Promise<string[]> {
    if (this.exited) return Promise.reject(new Error(`etf_oracle (${this.label}) is not running`));
    const id = String(this.nextId++);
    const line = [words[0], id, ...words.slice(1)].join(' ') + '\n';
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, lines: [], multi });
      this.child.stdin!.write(line);
    });
  }

  /**
   * Evaluates Erlang expressions (without the final dot) that yield an
   * external-format binary, and returns it. Rejects when evaluation fails or
   * binary_to_term/1 refuses the result.
   */
  async evalBinary(expr: string): Promise<Buffer> {
    const [rest] = await this.request(['eval', Buffer.from(`${expr}.`, 'utf8').toString('hex')]);
    if (!rest.startsWith('ok ')) throw new Error(`etf_oracle eval: unexpected reply ${rest.slice(0, 200)}`);
    return Buffer.from(rest.slice(3), 'hex');
  }

  /**
   * Does binary_to_term/1 accept `bytes`, using all of them? (It silently
   * ignores bytes after the term: those inputs count as not accepted.)
   */
  async accepts(bytes: Uint8Array): Promise<boolean> {
    const [rest] = await this.request(['accept', hexOrZero(bytes)]);
    return rest === 'yes';
  }

  /** Compares binary_to_term(reencoded) with binary_to_term(original) in Erlang. */
  check(original: Uint8Array, reencoded: Uint8Array): Promise<CheckResult> {
    return this.compare(['check', Buffer.from(original).toString('hex'), hexOrZero(reencoded)]);
  }

  /** Compares binary_to_term(reencoded) with term number `n` of the last {@link generate}. */
  checkGenerated(n: number, reencoded: Uint8Array): Promise<CheckResult> {
    return this.compare(['checkgen', String(n), hexOrZero(reencoded)]);
  }

  private async compare(words: string[]): Promise<CheckResult> {
    try {
      const [rest] = await this.request(words);
      const sp = rest.indexOf(' ');
      const status = (sp < 0 ? rest : rest.slice(0, sp)) as CheckStatus;
      return { status, detail: sp < 0 ? '' : unhexText(rest.slice(sp + 1)) };
    } catch (e) {
      return { status: 'error', detail: (e as Error).message };
    }
  }

  /**
   * Generates `count` random terms from `seed` (Erlang's rand, exsss) and
   * returns their encodings and the term_to_binary options used for each
   * (Erlang syntax); the terms stay in the oracle for
   * {@link checkGenerated}.
   */
  async generate(seed: bigint, count: number): Promise<{ bytes: Buffer; options: string }[]> {
    const lines = await this.request(['gen', seed.toString(), String(count)], true);
    return lines.map((l) => {
      const [t, hex, opts] = l.split(' ');
      if (t !== 't' || hex === undefined) throw new Error(`etf_oracle gen: unexpected line ${l.slice(0, 200)}`);
      return { bytes: Buffer.from(hex, 'hex'), options: unhexText(opts ?? '') };
    });
  }

  /** Asks the oracle to halt, then SIGKILLs it by pid if it has not within `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    try {
      this.child.stdin!.end('quit\n');
    } catch {
      /* stdin already closed */
    }
    const timer = setTimeout(() => {
      try {
        if (!this.exited) process.kill(this.child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}

function hexOrZero(b: Uint8Array): string {
  // An empty argument would vanish from the space-separated line.
  return b.length === 0 ? '00' : Buffer.from(b).toString('hex');
}

// ------------------------------------------------------------ comparison

/** A partially known expected value: an instance of `ctor` whose listed fields match. */
export class Like {
  constructor(
    readonly ctor: abstract new (...args: never[]) => object,
    readonly fields: Record<string, unknown>,
  ) {}
}

/** Expect an instance of `ctor` with (at least) these fields. */
export function like(ctor: abstract new (...args: never[]) => object, fields: Record<string, unknown> = {}): Like {
  return new Like(ctor, fields);
}

/** What a test expects a decode to return: a term, possibly with {@link Like} parts. */
export type Expected = Term | Like;

type Frame = { e: unknown; a: unknown; path: () => string };

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  if (Buffer.isBuffer(v)) return 'Buffer';
  if (Array.isArray(v)) return 'Array';
  return (v as object).constructor?.name ?? 'Object';
}

function show(v: unknown): string {
  return inspect(v, { depth: 3, maxArrayLength: 8, maxStringLength: 80, breakLength: 160 });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/**
 * Strict structural comparison of a decoded value against an expected one.
 * Returns `undefined` when they match, else a description of the first
 * difference with its path. Numbers compare with Object.is (so -0 and 0
 * differ), a number never equals a bigint, atoms must be the interned
 * instance, binaries must be Buffers, Map entries match in any order.
 * Iterative, so 100,000-deep nesting is fine.
 */
export function diffTerm(expected: unknown, actual: unknown): string | undefined {
  const stack: Frame[] = [{ e: expected, a: actual, path: () => '$' }];
  while (stack.length > 0) {
    const { e, a, path } = stack.pop()!;
    const fail = (why: string) => `${path()}: ${why}; expected ${show(e)}, got ${show(a)}`;
    const push = (ce: unknown, ca: unknown, step: string) => stack.push({ e: ce, a: ca, path: () => path() + step });
    if (e instanceof Like) {
      if (!(a instanceof e.ctor)) return fail(`not a ${e.ctor.name}`);
      for (const [k, v] of Object.entries(e.fields)) push(v, (a as Record<string, unknown>)[k], `.${k}`);
      continue;
    }
    if (typeof e !== 'object' || e === null) {
      if (typeof e !== typeof a) return fail(`type ${kind(a)} instead of ${kind(e)}`);
      if (!Object.is(e, a)) return fail('different value');
      continue;
    }
    if (kind(e) !== kind(a)) {
      // A Buffer is expected for binaries; a plain Uint8Array also passes.
      if (!(Buffer.isBuffer(e) && a instanceof Uint8Array && kind(a) === 'Uint8Array')) {
        return fail(`type ${kind(a)} instead of ${kind(e)}`);
      }
    }
    if (e instanceof Atom) {
      if ((a as Atom).name !== e.name) return fail('different atom');
      if (a !== e) return fail('atom is not the interned instance');
    } else if (e instanceof Uint8Array) {
      if (!bytesEqual(e, a as Uint8Array)) return fail('different bytes');
    } else if (e instanceof Float) {
      if (!Object.is(e.value, (a as Float).value)) return fail('different float');
    } else if (Array.isArray(e)) {
      const arr = a as unknown[];
      if (arr.length !== e.length) return fail(`length ${arr.length} instead of ${e.length}`);
      for (let i = e.length - 1; i >= 0; i--) push(e[i], arr[i], `[${i}]`);
    } else if (e instanceof Tuple) {
      const t = a as Tuple;
      if (!Array.isArray(t.elements) || t.elements.length !== e.elements.length) {
        return fail(`arity ${t.elements?.length} instead of ${e.elements.length}`);
      }
      for (let i = e.elements.length - 1; i >= 0; i--) push(e.elements[i], t.elements[i], `{${i}}`);
    } else if (e instanceof Map) {
      const m = a as Map<unknown, unknown>;
      if (m.size !== e.size) return fail(`size ${m.size} instead of ${e.size}`);
      const remaining = [...m.entries()];
      for (const [ek, ev] of e) {
        const i = remaining.findIndex(([ak]) => diffTerm(ek, ak) === undefined);
        if (i < 0) return fail(`no key ${show(ek)}`);
        const [, av] = remaining.splice(i, 1)[0];
        push(ev, av, `#{${show(ek)}}`);
      }
    } else if (e instanceof ImproperList) {
      const l = a as ImproperList;
      push(e.tail, l.tail, '.tail');
      push(e.elements, l.elements, '.elements');
    } else if (e instanceof BitBinary) {
      const b = a as BitBinary;
      if (b.bits !== e.bits) return fail(`bits ${b.bits} instead of ${e.bits}`);
      if (!bytesEqual(e.data, b.data)) return fail('different bits data');
    } else if (e instanceof Pid || e instanceof Port || e instanceof Reference || e instanceof Fun || e instanceof ExportFun) {
      const fields = Object.keys(e) as (keyof typeof e)[];
      for (const k of fields) push(e[k], (a as typeof e)[k], `.${String(k)}`);
    } else if (e instanceof LocalExt) {
      if (!bytesEqual(e.bytes, (a as LocalExt).bytes)) return fail('different LOCAL_EXT bytes');
    } else {
      return fail(`unsupported expected value ${kind(e)}`);
    }
  }
  return undefined;
}

/**
 * The default (non-lossless) decode of a value whose lossless decode is
 * `expected`: every {@link Float} becomes its plain number, except inside map
 * keys, which decode losslessly in both modes.
 */
export function withoutFloats(expected: Expected): Expected {
  const seen = new Map<unknown, unknown>();
  const conv = (v: unknown): unknown => {
    if (v instanceof Float) return v.value;
    if (typeof v !== 'object' || v === null || v instanceof Atom || v instanceof Uint8Array) return v;
    const memo = seen.get(v);
    if (memo !== undefined) return memo;
    let out: unknown = v;
    if (Array.isArray(v)) out = v.map(conv);
    else if (v instanceof Tuple) out = new Tuple(v.elements.map(conv) as Term[]);
    // Map keys stay lossless in the default decode too (Erlang matches keys with =:=).
    else if (v instanceof Map) out = new Map([...v].map(([k, x]) => [k, conv(x)]));
    else if (v instanceof ImproperList) out = new ImproperList(v.elements.map(conv) as Term[], conv(v.tail) as Term);
    else if (v instanceof Fun) {
      out = new Fun(v.arity, v.uniq, v.index, v.module, v.oldIndex, v.oldUniq, v.pid, v.freeVars.map(conv) as Term[]);
    } else if (v instanceof Like) {
      out = new Like(v.ctor, Object.fromEntries(Object.entries(v.fields).map(([k, x]) => [k, conv(x)])));
    }
    seen.set(v, out);
    return out;
  };
  return conv(expected) as Expected;
}

/** Short hex of a buffer for messages: the first `max` bytes. */
export function hexPreview(b: Uint8Array, max = 64): string {
  const h = Buffer.from(b.subarray(0, max)).toString('hex');
  return b.length > max ? `${h}... (${b.length} bytes)` : h;
}
