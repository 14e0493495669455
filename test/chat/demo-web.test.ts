// `npm run demo -- --web`: starts epmd, the stub and the gateway, prints the
// URL (which serves the page and signs users in), and stops everything it
// started on Ctrl-C (SIGINT).
import t from 'tap';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '../helpers/until.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('demo --web', async (t) => {
  const child = spawn(process.execPath, ['scripts/demo.mjs', '--web', '--port', '0'], {
    cwd: root,
    env: { ...process.env, BEAMBRIDGE_DEMO_SKIP_BUILD: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await until(() => /The chat is at (http:\S+)/.test(out) || child.exitCode !== null, 120_000, 100);
  const url = /The chat is at (http:\S+)/.exec(out)?.[1];
  t.ok(url, 'the URL is printed');
  t.comment(out.trim());
  const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  t.equal(pids.length, 2, 'epmd and the stub, with their pids');
  const page = await fetch(url!);
  t.equal(page.status, 200);
  t.match(await page.text(), /<label for="user-id">User id<\/label>/);
  const login = await fetch(new URL('/api/login', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"1"}' });
  t.equal(login.status, 200, 'a seeded user signs in');
  child.kill('SIGINT');
  // The bound's timer is cleared: a pending 30 s timer kept this file's process alive for 30 s after the test.
  let bound: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise((r) => (bound = setTimeout(() => r('timeout'), 30_000)))]).finally(() => clearTimeout(bound));
  t.equal(code, 0, 'exits 0 on Ctrl-C');
  t.match(out, /epmd stopped/);
  for (const pid of pids) t.notOk(alive(pid), `pid ${pid} is gone`);
});
