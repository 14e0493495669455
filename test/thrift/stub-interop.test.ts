// The typed client against the Erlang stub's hand-written Thrift server
// (erlang-stub/, started through test/helpers/stub.ts): every method and each
// poll outcome, declared exceptions, map<i64, ...> keys above 2^53 in binary
// and compact, 64 pipelined calls with held polls not blocking sends,
// reconnect after a fault and after a restart, the timeout of a call the stub
// never answers in time, and WrongPartition from a stub cluster (the
// partition-aware chat client is tested in test/chat/).
import t from 'tap';
import {
  ChatChannelClient,
  NotOnline,
  PollStatus,
  PresenceState,
  WrongPartition,
  type PollResult,
} from '../../src/thrift/gen/chat.js';
import { ThriftConnectionLostError, ThriftTimeoutError } from '../../src/thrift/errors.js';
import { startStub, startStubCluster } from '../../src/testing/index.js';
import { until } from '../helpers/until.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('one stub node', async (t) => {
  const stub = await startStub(t, { users: 200, friends: 4, window: 5, graceMs: 0 });

  for (const [i, protocol] of (['binary', 'compact'] as const).entries()) {
    t.test(`${protocol}: every method and each poll outcome`, async (t) => {
      const c = await ChatChannelClient.connect({ port: stub.thriftPort, protocol, poolSize: 1 });
      t.teardown(() => c.close());
      const a = BigInt(10 + i * 20); // users of this subtest: a, b
      const b = a + 1n;

      t.same(await c.partitionMap(), [{ first: 0, last: 1023, node: stub.node, thriftPort: stub.thriftPort }]);
      t.equal(await c.login(a), 0n, 'login returns the current seq');
      t.equal(await c.login(b), 0n);

      const m = await c.send(a, b, 'hello ✓', `cid-${protocol}`);
      t.match(m, { fromId: a, toId: b, text: 'hello ✓', clientMsgId: `cid-${protocol}` });
      t.ok(m.id > 0n && m.sentAtMs > 1_600_000_000_000n, 'id and timestamp set by the stub');
      t.same(await c.send(a, b, 'hello ✓', `cid-${protocol}`), m, 'a repeated clientMsgId is not queued twice');

      // Events: the message is there at once.
      const p1 = await c.poll(b, 0, 5000);
      t.equal(p1.status, PollStatus.EVENTS);
      t.equal(p1.events.length, 1);
      t.same(p1.events[0]!.message, m);

      await c.typing(a, b, true);
      const p2 = await c.poll(b, p1.seq, 5000);
      t.equal(p2.status, PollStatus.EVENTS);
      t.same(p2.events[0]!.typing, { fromId: a, toId: b, active: true });

      // Continue: nothing new within the timeout.
      const p3 = await c.poll(b, p2.seq, 100);
      t.same([p3.status, p3.seq, p3.events], [PollStatus.CONTINUE, p2.seq, []]);

      // Refresh: ahead of the current seq, and stale past the window (5 events kept).
      const p4 = await c.poll(b, p2.seq + 100n, 100);
      t.same([p4.status, p4.seq], [PollStatus.REFRESH, p2.seq]);
      for (let k = 0; k < 8; k++) await c.send(a, b, `burst ${k}`, `burst-${protocol}-${k}`);
      const p5 = await c.poll(b, 0, 100);
      t.equal(p5.status, PollStatus.REFRESH, 'stale afterSeq: refresh');
      t.equal(p5.seq, p2.seq + 8n);

      // A newer poll answers the older held one with continue.
      const held = c.poll(b, p5.seq, 30_000);
      await sleep(50);
      const newer = c.poll(b, p5.seq, 100);
      t.equal((await held).status, PollStatus.CONTINUE, 'the older poll is released');
      t.equal((await newer).status, PollStatus.CONTINUE);

      await c.touch(a);
      const fp = await c.friendsPresence(a);
      t.ok(Array.isArray(fp), 'friendsPresence answers a list');
      for (const p of fp) t.ok(p.state === PresenceState.ONLINE || p.state === PresenceState.IDLE, 'only online or idle friends');

      const hist = await c.history(b, a, 3);
      t.equal(hist.length, 3, 'history honours the limit');
      t.ok(hist.every((h) => (h.fromId === a && h.toId === b) || (h.fromId === b && h.toId === a)));

      // map<i64, PresenceState> keys above 2^53, exact.
      const big = [2n ** 53n + 1n, 2n ** 53n + 2n, 2n ** 63n - 1n, -(2n ** 63n), a, b];
      const pres = await c.presence(big);
      t.same([...pres.keys()].sort(), [...big].sort(), 'every key back, none collapsed');
      t.equal(pres.get(a), PresenceState.ONLINE);
      t.equal(pres.get(2n ** 53n + 1n), PresenceState.OFFLINE);
      t.equal((await c.presence([])).size, 0);

      // Declared exceptions.
      const no = await c.send(a, 199, 'x', '').catch((e: unknown) => e);
      t.ok(no instanceof NotOnline, 'NotOnline for an offline recipient');
      t.equal((no as NotOnline).userId, 199n);
      await c.logout(b);
      await t.rejects(c.typing(a, b, false), NotOnline, 'after logout the user is not online');
    });
  }

  t.test('64 pipelined calls on one connection: held polls do not block sends', async (t) => {
    const c = await ChatChannelClient.connect({ port: stub.thriftPort, poolSize: 1 });
    t.teardown(() => c.close());
    const pollers = Array.from({ length: 32 }, (_, k) => BigInt(100 + k));
    const senders = Array.from({ length: 32 }, (_, k) => BigInt(140 + k));
    await Promise.all([...pollers, ...senders].map((u) => c.login(u)));
    let pollsDone = 0;
    const polls = pollers.map((u) =>
      c.poll(u, 0, 30_000, { timeoutMs: 60_000 }).then((r: PollResult) => {
        pollsDone++;
        return r;
      }),
    );
    await sleep(100);
    // 32 sends among the senders (a ring), while 32 polls are held on the same connection.
    const sends = await Promise.all(senders.map((u, k) => c.send(u, senders[(k + 1) % 32]!, `ring ${k}`, `ring-${k}`)));
    t.equal(pollsDone, 0, 'every send answered while all 32 polls were held');
    t.same(
      sends.map((m) => [m.fromId, m.text]),
      senders.map((u, k) => [u, `ring ${k}`]),
    );
    // Wake each poll with a message of its own; replies match their calls.
    await Promise.all(pollers.map((u, k) => c.send(senders[k]!, u, `wake ${u}`, `wake-${u}`)));
    const results = await Promise.all(polls);
    for (const [k, r] of results.entries()) {
      if (r.status !== PollStatus.EVENTS || r.events[0]?.message?.text !== `wake ${pollers[k]}`) {
        t.fail(`poll ${k} got ${JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
    }
    t.pass('every held poll got its own wake-up message');
  });

  t.test('timeout of a call the stub does not answer in time', async (t) => {
    const c = await ChatChannelClient.connect({ port: stub.thriftPort, poolSize: 1 });
    t.teardown(() => c.close());
    await stub.fault.delay(3000);
    const err = await c.login(5, { timeoutMs: 200 }).catch((e: unknown) => e);
    await stub.fault.delay(0);
    t.ok(err instanceof ThriftTimeoutError, 'ThriftTimeoutError');
    t.equal(await c.login(5, { timeoutMs: 10_000 }), 0n, 'the connection still works');
  });

  t.test('reconnect after the stub closes every Thrift connection', async (t) => {
    const c = await ChatChannelClient.connect({ port: stub.thriftPort, poolSize: 2, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
    t.teardown(() => c.close());
    await c.login(60);
    await until(() => c.thrift.connected >= 2, 5000); // both pooled connections up
    const held = c.poll(60, 0, 30_000).catch((e: unknown) => e);
    await sleep(50);
    let drops = 0;
    const bothDropped = new Promise<void>((r) => c.thrift.on('disconnect', () => ++drops === 2 && r()));
    const closed = await stub.fault.closeThrift();
    t.ok(closed >= 2, `the stub closed ${closed} connections`);
    t.ok((await held) instanceof ThriftConnectionLostError, 'the held poll fails with a typed error');
    await bothDropped; // (a call sent before the client sees a close would fail with ThriftConnectionLostError)
    t.equal(await c.login(60, { timeoutMs: 10_000 }), 0n, 'a call after the fault succeeds on a new connection');
  });

  t.test('fault: refused connections, then recovery', async (t) => {
    const c = await ChatChannelClient.connect({ port: stub.thriftPort, poolSize: 1, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    t.teardown(() => c.close());
    const dropped = new Promise((r) => c.thrift.once('disconnect', r));
    await stub.fault.refuseConnections(500);
    await stub.fault.closeThrift();
    await dropped; // (a call made before the client sees the close would fail with ThriftConnectionLostError)
    t.equal(await c.login(61, { timeoutMs: 15_000 }), 0n, 'the client kept retrying until the stub accepted again');
  });
});

t.test('reconnect after the stub is restarted on the same port', async (t) => {
  const first = await startStub(t, { users: 10, graceMs: 0 });
  const port = first.thriftPort;
  const c = await ChatChannelClient.connect({ port, poolSize: 1, protocol: 'compact', reconnect: { initialDelayMs: 50, maxDelayMs: 500 } });
  t.teardown(() => c.close());
  t.equal(await c.login(1), 0n);
  await first.stop();
  await startStub(t, { users: 10, graceMs: 0, thriftPort: port });
  t.equal(await c.login(1, { timeoutMs: 30_000 }), 0n, 'the new stub answers (fresh state)');
});

t.test('cluster of three stub nodes', async (t) => {
  const nodes = await startStubCluster(t, 3, { users: 50, graceMs: 0 });

  t.test('WrongPartition names the owner', async (t) => {
    const wrong = nodes[0]!;
    const id = 1024n + BigInt(nodes[2]!.slots[0]![0]); // a slot of node 3
    const c = await ChatChannelClient.connect({ port: wrong.thriftPort, poolSize: 1 });
    t.teardown(() => c.close());
    const err = await c.login(id).catch((e: unknown) => e);
    t.ok(err instanceof WrongPartition);
    t.match(err, { userId: id, owner: nodes[2]!.node, thriftPort: nodes[2]!.thriftPort, code: 'ERR_THRIFT_WRONG_PARTITION' });
  });
});
