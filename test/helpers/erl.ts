// Real Erlang for tests: epmd and erl nodes on free ports, stopped by pid.
//
// BEAMBRIDGE_OTP_ROOT=/opt/otp-sid runs erl inside that debootstrap'd root
// (see scripts/otp-roots.sh) so the same suite runs against OTP 27 or 29.
// BEAMBRIDGE_EPMD_PORT, when set (by .ci/run), names an epmd that is already
// running; otherwise each test file starts its own.
import { execFile } from 'node:child_process';
import { freePort, startProcess, type Started, type Teardownable } from './procs.js';

/** The OTP root to run erl in, or '' for the system erl. */
export function otpRoot(): string {
  return process.env.BEAMBRIDGE_OTP_ROOT ?? '';
}

/** Command and arguments that run `erl args...` for the selected OTP. */
export function erlCommand(args: string[]): { cmd: string; args: string[] } {
  const root = otpRoot();
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
  ]);
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
export function runErl(expr: string, opts: { args?: string[]; timeoutMs?: number; input?: string } = {}): Promise<string> {
  const { cmd, args } = erlCommand(['-noshell', '-start_epmd', 'false', ...(opts.args ?? []), '-eval', `${expr}, halt().`]);
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
