// Child processes for the demo and the benchmarks (plain ESM, no build
// needed): start one with its output collected, wait for a line or a port,
// stop it by pid (SIGTERM, then SIGKILL). Everything started here is killed
// by pid when this process exits, so nothing outlives it.
import { spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** Tracks a child started elsewhere (spawn, fork): killed by pid if still running when this process exits. */
export function track(c) {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

/** Kills (SIGKILL, by pid) every child started or tracked here that still runs. */
export function killTracked() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Starts `cmd args`; returns { pid, line(re, ms), stop() }. */
export function start(cmd, args, { cwd, env = {} } = {}) {
  const c = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  let out = '';
  let err = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  c.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((resolve) => c.once('exit', () => (children.delete(c), resolve())));
  return {
    pid: c.pid,
    /** Resolves with the first stdout line matching `re`; rejects if the process exits or `ms` pass first. */
    async line(re, ms) {
      const end = Date.now() + ms;
      for (;;) {
        const m = out.split('\n').find((l) => re.test(l));
        if (m !== undefined) return m;
        if (c.exitCode !== null) throw new Error(`${cmd} exited: ${err.trim()}`);
        if (Date.now() > end) throw new Error(`${cmd} not ready after ${ms} ms: ${err.trim()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
    async stop() {
      if (c.exitCode !== null || c.signalCode !== null) return;
      process.kill(c.pid, 'SIGTERM');
      const t = setTimeout(() => c.exitCode === null && process.kill(c.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A free TCP port on 127.0.0.1. */
export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Resolves once 127.0.0.1:`port` accepts connections (at most `ms`). */
export async function waitPort(port, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on port ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts epmd on a free port and waits for it; returns { port, proc }. */
export async function startEpmd() {
  const port = await freePort();
  const proc = start('epmd', ['-port', String(port)]);
  await waitPort(port, 10_000);
  return { port, proc };
}
