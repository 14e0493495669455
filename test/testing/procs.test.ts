// startProcess's stop() from a process with nothing else to keep it alive:
// the started child is unref'd, so once stop()'s SIGKILL timer has fired the
// event loop could end before the child's 'exit' event, leaving stop() (a
// test's teardown) unsettled. That is what made a TLS test "unfinished" when
// erl took longer than the grace period to stop under load.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// A child that ignores SIGTERM, so stop() must fall back to SIGKILL.
const STUBBORN = "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);";

t.test('stop() settles even when the child needs SIGKILL and nothing else is alive', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bb-procs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'stop.mts');
  const procs = pathToFileURL(join(import.meta.dirname, '../../src/procs/process.ts')).href;
  await writeFile(
    script,
    [
      `import { startProcess } from ${JSON.stringify(procs)};`,
      `const p = await startProcess({ cmd: process.execPath, args: ['-e', ${JSON.stringify(STUBBORN)}], ready: /^ready$/ });`,
      `const t0 = Date.now();`,
      `await p.stop(200);`,
      `console.log(JSON.stringify({ stopped: true, exited: p.exited, ms: Date.now() - t0 }));`,
      '',
    ].join('\n'),
  );
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [...process.execArgv, script], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
  t.equal(out.code, 0, `the script ends normally (stderr: ${out.stderr.slice(0, 400)})`);
  const line = out.stdout.trim().split('\n').pop() ?? '';
  t.match(line, /^\{/, 'stop() resolved: its line was printed');
  const r = JSON.parse(line.startsWith('{') ? line : '{}') as { stopped?: boolean; exited?: boolean; ms?: number };
  t.same({ stopped: r.stopped, exited: r.exited }, { stopped: true, exited: true }, `stopped, after SIGKILL (${r.ms} ms)`);
  t.ok((r.ms ?? 0) >= 200, 'the grace period ran out first (the SIGKILL path was taken)');
});
