// Interop with an independent implementation: Debian's python3-thrift with
// code from `thrift --gen py` (generated at test time). A Python client calls
// the Node server, and the Node client calls a Python server, in binary and
// compact; both must give exactly the reference answers (test/thrift/ref.ts,
// mirrored by test/thrift/py/chat_ref.py), i64 values above 2^53 included.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ChatChannelClient, serveChatChannel } from '../../src/thrift/gen/chat.js';
import { freePort, startProcess } from '../../src/testing/index.js';
import { CALLS, canon, canonError, expected, refHandler } from './ref.js';

const run = promisify(execFile);
const PY = '/usr/bin/python3';
const here = new URL('.', import.meta.url).pathname;
const repo = join(here, '..', '..');

async function ensurePythonThrift(): Promise<void> {
  const ok = await run(PY, ['-c', 'import thrift'])
    .then(() => run('thrift', ['--version']))
    .then(() => true)
    .catch(() => false);
  if (!ok) await run('bash', [join(repo, 'scripts', 'ensure-test-deps.sh')]);
}

await ensurePythonThrift();
const genDir = mkdtempSync(join(tmpdir(), 'beambridge-py-'));
t.teardown(() => rmSync(genDir, { recursive: true, force: true }));
await run('thrift', ['--gen', 'py', '-out', genDir, join(repo, 'idl', 'chat.thrift')]);

for (const protocol of ['binary', 'compact'] as const) {
  t.test(`python client -> node server (${protocol})`, async (t) => {
    const srv = await serveChatChannel(refHandler, { protocol });
    t.teardown(() => srv.close());
    const { stdout } = await run(PY, [join(here, 'py', 'client.py'), genDir, String(srv.port), protocol], {
      timeout: 60_000,
    });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown);
    t.equal(lines.length, CALLS.length, 'one answer per call');
    for (const [i, [method, args]] of CALLS.entries()) {
      t.same(lines[i], await expected(method, args), `${method} #${i}`);
    }
  });

  t.test(`node client -> python server (${protocol})`, async (t) => {
    const port = await freePort();
    await startProcess({
      cmd: PY,
      args: [join(here, 'py', 'server.py'), genDir, String(port), protocol],
      ready: /^READY/,
      t,
    });
    const c = await ChatChannelClient.connect({ port, protocol, poolSize: 1 });
    t.teardown(() => c.close());
    for (const [i, [method, args]] of CALLS.entries()) {
      const fn = c[method] as (...a: unknown[]) => Promise<unknown>;
      let got: unknown;
      try {
        got = { method, result: canon(await fn.apply(c, args)) };
      } catch (e) {
        got = { method, error: canonError(e) };
      }
      t.same(got, await expected(method, args), `${method} #${i}`);
    }
    // Pipelined: all at once on one connection (the Python server answers in order).
    const all = await Promise.all(CALLS.map(([m, a]) => (c[m] as (...x: unknown[]) => Promise<unknown>).apply(c, a).then(canon, canonError)));
    const want = await Promise.all(CALLS.map(([m, a]) => expected(m, a)));
    t.same(
      all,
      want.map((w) => (w as { result?: unknown; error?: unknown }).result ?? (w as { error: unknown }).error),
      'pipelined calls match',
    );
  });
}
