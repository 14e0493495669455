// epmd and the erl command line, for whatever starts Erlang processes (the
// test helpers in src/testing and `beambridge darklaunch --spawn`).
//
// BEAMBRIDGE_OTP_ROOT=/opt/otp-sid runs erl inside that debootstrap'd root
// (see scripts/otp-roots.sh). BEAMBRIDGE_EPMD_PORT, when set (this
// repository's CI sets it), names an epmd that is already running; otherwise
// startEpmd starts one.
import { freePort, startProcess, type Started, type TestContext } from './process.js';

/** True for a tap or node:test test (something a helper can tie a process to). */
export function isTestContext(x: unknown): x is TestContext {
  const o = x as TestContext | null | undefined;
  return typeof o?.teardown === 'function' || typeof o?.after === 'function';
}

/** The OTP root to run erl in by default, or '' for the system erl. */
export function otpRoot(): string {
  return process.env.BEAMBRIDGE_OTP_ROOT ?? '';
}

/** Command and arguments that run `erl args...` for the given (or default) OTP root. */
export function erlCommand(args: string[], root: string = otpRoot()): { cmd: string; args: string[] } {
  return root ? { cmd: 'chroot', args: [root, 'erl', ...args] } : { cmd: 'erl', args };
}

/**
 * Starts epmd on a free port (or reuses BEAMBRIDGE_EPMD_PORT) and returns the
 * port. It is stopped when the test `t` ends, or when this process exits.
 */
export async function startEpmd(t?: TestContext): Promise<number> {
  return (await startEpmdProcess(t)).port;
}

/** @internal {@link startEpmd} (on `onPort` if given), with the process to stop (undefined for a shared epmd). */
export async function startEpmdProcess(t?: TestContext, onPort?: number): Promise<{ port: number; process?: Started }> {
  const shared = process.env.BEAMBRIDGE_EPMD_PORT;
  if (shared) return { port: Number(shared) };
  // A port found free can be taken before epmd binds it (by another process's
  // listener, or as the local port of a connection); epmd then exits at once.
  // On a port of our own choosing, try another one.
  for (let attempt = 1; ; attempt++) {
    const port = onPort ?? (await freePort());
    try {
      const started = await startProcess({
        cmd: 'epmd',
        args: ['-port', String(port), '-relaxed_command_check'],
        readyPort: port,
        t,
      });
      if (started.exited) throw new Error(`epmd exited at start (port ${port} taken?): ${started.stderr()}`);
      return { port, process: started };
    } catch (e) {
      if (onPort !== undefined || attempt >= 3) throw e;
    }
  }
}

