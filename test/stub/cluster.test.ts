// A cluster of three stub nodes from the TypeScript helper: they find each
// other, agree on the partition map, and pass the distribution EUnit suite
// (chat_dist_tests) run from a hidden Erlang client node; over Thrift, a user
// asked of the wrong node gets WrongPartition naming the owner and its port.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STUB_DIR, startStubCluster, type StubNode, erlCommand } from '../../src/testing/index.js';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

type Range = { first: number; last: number; node: string; thrift_port: number };

t.test('a cluster of three', async (t) => {
  const nodes: StubNode[] = await startStubCluster(t, 3, { users: 1000, friends: 50, logLevel: 'error' });
  const names = nodes.map((n) => n.node).sort();

  t.test('every node knows the whole cluster and the same map', async (t) => {
    const maps: Range[][] = [];
    for (const n of nodes) {
      t.equal(n.ready.cluster_complete, true);
      t.same([...n.ready.cluster].sort(), names);
      maps.push((await n.control('partition_map')).ranges as Range[]);
    }
    t.same(maps[1], maps[0]);
    t.same(maps[2], maps[0]);
    t.same(maps[0]!.map((r) => [r.first, r.last]), [[0, 340], [341, 681], [682, 1023]]);
    for (const r of maps[0]!) {
      const owner = nodes.find((n) => n.node === r.node)!;
      t.equal(r.thrift_port, owner.thriftPort);
    }
  });

  t.test('distribution suite from a hidden client node', async (t) => {
    const stub = nodes[0]!;
    // chat_dist_tests is compiled by make test-beams (under the build lock).
    const built = await run('flock', [join(STUB_DIR, 'ebin', '.build.lock'), 'make', '-s', '-C', STUB_DIR, 'test-beams'], {}, 300_000);
    t.equal(built.code, 0, built.stderr);
    const { cmd, args } = erlCommand([
      '-noshell', '-noinput', '-hidden', '-start_epmd', 'false',
      '-name', `dist_client_${process.pid}@127.0.0.1`, '-setcookie', stub.cookie,
      '-pa', join(STUB_DIR, 'ebin'), '-pa', join(STUB_DIR, 'ebin-test'),
      '-eval', 'R = eunit:test(chat_dist_tests, [verbose]), halt(case R of ok -> 0; _ -> 1 end).',
    ], '');
    const r = await run(cmd, args, { ERL_EPMD_PORT: String(stub.epmdPort), CHAT_STUB_NODES: nodes.map((n) => n.node).join(',') }, 300_000);
    t.equal(r.code, 0, `${r.stdout.slice(-6000)}\n${r.stderr.slice(-2000)}`);
    const m = /All (\d+) tests passed/.exec(r.stdout);
    t.ok(m && Number(m[1]) >= 9, m?.[0] ?? 'no EUnit summary');
  });

  t.test('Thrift: WrongPartition names the owner (python3-thrift)', async (t) => {
    const gen = mkdtempSync('/tmp/chat-stub-py-');
    t.teardown(() => rmSync(gen, { recursive: true, force: true }));
    const g = await run('thrift', ['--gen', 'py', '-out', gen, join(STUB_DIR, '..', 'idl', 'chat.thrift')], {}, 60_000);
    t.equal(g.code, 0, g.stderr);
    const script = join(STUB_DIR, '..', 'test', 'stub', 'thrift_interop.py');
    const ranges = (await nodes[0]!.control('partition_map')).ranges as Range[];
    for (const asked of nodes) {
      for (const r of ranges) {
        const user = 5 * 1024 + r.first; // slot r.first
        const out = await run('/usr/bin/python3', [script, gen, String(asked.thriftPort), 'compact', 'framed', 'login', String(user)], {}, 60_000);
        t.equal(out.code, 0, out.stderr);
        const res = JSON.parse(out.stdout);
        if (r.node === asked.node) t.same(res, { ok: 0 }, `${asked.node} owns ${user}`);
        else t.same(res, { WrongPartition: { userId: String(user), owner: r.node, thriftPort: r.thrift_port } });
      }
    }
  });
});
