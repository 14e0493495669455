// Child processes by pid: start real servers (epmd, erl nodes, the chat stub)
// on free ports, wait for them to be ready, fail fast if they die, and stop
// them by pid: on `stop()`, when the owning scope (a test's teardown, or the
// `darklaunch --spawn` run) ends, and when this process exits or is ended by
// SIGINT, SIGTERM or SIGHUP. Nothing here ever ends a process it did not start.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { once } from 'node:events';

/**
 * The test a helper ties a process's life to, from any runner: tap's `t`
 * (`t.teardown`), node:test's `t` (`t.after`), or anything with one of those.
 * Pass `undefined` (no runner) and call `stop()` yourself; every process is
 * stopped when this process exits anyway.
 */
export interface TestContext {
  teardown?(fn: () => unknown): void;
  after?(fn: () => unknown): void;
}

/** A tap-style test with `teardown` (what the repository's own test utilities take). */
export interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** Runs `fn` when the test `t` ends (tap's teardown or node:test's after); nothing without a test. */
export function onTestEnd(t: TestContext | undefined, fn: () => unknown): void {
  if (typeof t?.teardown === 'function') t.teardown(fn);
  else if (typeof t?.after === 'function') t.after(fn);
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface Started {
  child: ChildProcess;
  pid: number;
  /** Every stdout line seen so far. */
  lines: string[];
  /** Every stderr chunk seen so far, joined. */
  stderr(): string;
  /** Resolves with the first stdout line (seen or future) that matches. */
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: boolean;
}

export interface StartOptions {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Wait for a stdout line matching this before resolving. */
  ready?: RegExp;
  /** Or wait until this TCP port on 127.0.0.1 accepts a connection. */
  readyPort?: number;
  timeoutMs?: number;
  /** Stops the process when this test ends (see {@link TestContext}). */
  t?: TestContext;
}

const live = new Set<ChildProcess>();
let guarded = false;

/** SIGKILLs every process still running that a helper started. */
function killLive(): void {
  for (const c of live) {
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/**
 * Stops started processes when this process ends: on exit, and on SIGINT,
 * SIGTERM and SIGHUP, after which the signal is raised again (so the process
 * still ends as it would have) unless someone else handles it.
 */
function guardExit(): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', killLive);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killLive();
      process.removeListener(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Starts a process, waits until it is ready, and arranges to stop it by pid. */
export async function startProcess(o: StartOptions): Promise<Started> {
  const child = spawn(o.cmd, o.args, {
    env: { ...process.env, ...o.env },
    cwd: o.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  guardExit();
  live.add(child);
  // A started process never keeps this one alive by itself: without a test
  // runner, the script ends when its own work does, and the exit handler
  // above stops what is still running.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let err = '';
  let partial = '';
  let exited = false;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    let i: number;
    while ((i = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, i).replace(/\r$/, '');
      partial = partial.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    err += chunk;
  });
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      resolve();
    });
  });
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));

  const started: Started = {
    child,
    pid: child.pid ?? -1,
    lines,
    stderr: () => err,
    get exited() {
      return exited;
    },
    waitForLine(re, timeoutMs = 30_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from ${o.cmd}; stderr: ${err}`));
        }, timeoutMs);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exit.then(() => {
          clearTimeout(timer);
          reject(new Error(`${o.cmd} exited before printing ${re}; stdout: ${lines.join('\n')} stderr: ${err}`));
        });
      });
    },
    async stop(graceMs = 3000) {
      if (exited || child.pid === undefined) return;
      // The child is unref'd (above), and once the SIGKILL timer below has
      // fired nothing else may hold the event loop: it could then end before
      // the 'exit' event, leaving this promise (a test's teardown) unsettled.
      // Whoever waits for the exit keeps this process alive until it comes.
      child.ref();
      try {
        process.kill(child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          if (!exited) process.kill(child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
  onTestEnd(o.t, () => started.stop());

  const timeoutMs = o.timeoutMs ?? 60_000;
  try {
    if (o.ready) {
      await Promise.race([started.waitForLine(o.ready, timeoutMs), spawnError]);
    } else if (o.readyPort !== undefined) {
      await Promise.race([waitForPort(o.readyPort, timeoutMs, () => exited), spawnError]);
    }
  } catch (e) {
    await started.stop(500);
    throw e;
  }
  return started;
}

/** Resolves once 127.0.0.1:`port` accepts a TCP connection. */
export async function waitForPort(port: number, timeoutMs = 30_000, dead: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (dead()) throw new Error(`process died before port ${port} opened`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
