// Helpers of the benchmarks that run real erl nodes: child processes stopped
// by pid when the benchmark exits (normally, by error or by Ctrl-C), free
// ports, an epmd of their own, erl nodes, and the Erlang modules compiled
// into a temporary directory.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = new Set();
function stopAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
}
process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** Starts a child process; `waitFor(re, ms)` resolves when its stdout matches. */
export function start(cmd, args, env = {}) {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  let out = '';
  let err = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  c.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  c.once('exit', () => children.delete(c));
  return {
    async waitFor(re, ms) {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (c.exitCode !== null) throw new Error(`${cmd} exited: ${err}${out}`);
        if (Date.now() > end) throw new Error(`timeout waiting for ${re} from ${cmd}: ${err}${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

export function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts an epmd on a free port; returns the port. */
export async function startEpmd() {
  const port = await freePort();
  start('epmd', ['-port', String(port)]);
  await waitPort(port, 10_000);
  return port;
}

/**
 * Compiles the given .erl files into a temporary directory (removed at exit)
 * and returns a starter of erl nodes that load from it.
 */
export function erlNodes(sources, epmdPort, cookie) {
  const ebin = mkdtempSync(join(tmpdir(), 'bb-bench-'));
  process.on('exit', () => rmSync(ebin, { recursive: true, force: true }));
  execFileSync('erlc', ['-o', ebin, ...sources]);
  return (name, evalExpr, extra = []) =>
    start('erl', ['-noshell', '-start_epmd', 'false', '-name', name, '-setcookie', cookie, '-pa', ebin, ...extra, '-eval', evalExpr], {
      ERL_EPMD_PORT: String(epmdPort),
    });
}

/** The median of `xs`. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A Markdown table of `rows` under `head`, columns padded. */
export function table(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
