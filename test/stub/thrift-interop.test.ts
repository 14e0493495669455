// The stub's hand-written Thrift server against an independent peer:
// Debian's python3-thrift (code generated from idl/chat.thrift at test time)
// runs the interop scenario over binary and compact, framed and buffered; the
// Erlang client runs the same scenario; the two transcripts must be equal.
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STUB_DIR, startStub } from '../../src/testing/index.js';

function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

type Step = { step: string; result: Record<string, any> };

t.test('python3-thrift and the Erlang client agree', async (t) => {
  // Slots 1020..1023 are owned by nobody: the scenario's "unowned" user.
  const stub = await startStub(t, { slots: '0-1019', logLevel: 'error' });
  const gen = mkdtempSync('/tmp/chat-stub-py-');
  t.teardown(() => rmSync(gen, { recursive: true, force: true }));
  const g = await run('thrift', ['--gen', 'py', '-out', gen, join(STUB_DIR, '..', 'idl', 'chat.thrift')]);
  t.equal(g.code, 0, g.stderr);
  const built = await run('flock', [join(STUB_DIR, 'ebin', '.build.lock'), 'make', '-s', '-C', STUB_DIR, 'test-beams'], 300_000);
  t.equal(built.code, 0, built.stderr);

  let k = 1;
  for (const protocol of ['binary', 'compact']) {
    for (const transport of ['framed', 'buffered']) {
      t.test(`${protocol} ${transport}`, async (t) => {
        // Each run gets fresh users: base = 100 + 1024 k keeps their slots at 101..103 and 1021.
        const pyBase = 100 + 1024 * k++;
        const erlBase = 100 + 1024 * k++;
        const py = await run('/usr/bin/python3', [join(STUB_DIR, '..', 'test', 'stub', 'thrift_interop.py'), gen,
          String(stub.thriftPort), protocol, transport, String(pyBase)]);
        t.equal(py.code, 0, py.stderr);
        const erl = await run('erl', ['-noshell', '-noinput', '-start_epmd', 'false', '-pa', join(STUB_DIR, 'ebin'),
          '-pa', join(STUB_DIR, 'ebin-test'), '-eval', 'chat_interop_scenario:main()', '-extra',
          String(stub.thriftPort), protocol, transport, String(erlBase)]);
        t.equal(erl.code, 0, erl.stderr);
        const a = JSON.parse(py.stdout) as Step[];
        const b = JSON.parse(erl.stdout) as Step[];
        t.same(b, a, 'same transcript from both clients');

        const by = (name: string) => a.find((s) => s.step === name)!.result;
        t.same(by('send a->b again'), by('send a->b'), 'repeated clientMsgId: same message');
        t.equal(by('send a->b').ok.text, 'h\u00e9llo \u2713');
        t.same(by('send a->c offline'), { NotOnline: { userId: '3' } });
        t.equal(by('poll b events').ok.status, 0);
        t.same(by('poll b events').ok.events.map((e: any) => e.seq), ['1', '2', '3']);
        t.same(by('poll b ahead').ok, { status: 2, seq: '3', events: [] });
        t.same(by('poll b continue').ok, { status: 1, seq: '3', events: [] });
        t.same(by('presence').ok, {
          1: 2, 2: 2, 3: 0,
          '9007199254740993': 0, '4611686018427387904': 0, '9223372036854775807': 0, '-9223372036854775808': 0,
        });
        t.same(by('login unowned'), { WrongPartition: { userId: '921', owner: '', thriftPort: 0 } });
        t.same(by('unknown method').ok, { name: 'noSuchMethod', messageType: 3, seqid: 4242, type: 1 });
        t.same(by('partitionMap').ok, [[0, 1019, stub.node, stub.thriftPort]]);
        t.same(by('send a->b after logout'), { NotOnline: { userId: '2' } });
      });
    }
  }
});
