// ChatChannelCluster (the chat tier over Thrift) against three Node servers
// acting as partitions: each owns slot ranges and throws WrongPartition for
// ids it does not own. Routing by slot, refresh-and-retry-once when the map
// moves (WrongPartition never reaches the caller), presence split by owner,
// a dead seed skipped.
import t, { type Test } from 'tap';
import { serveChatChannel, WrongPartition, type ChatChannelHandler, type SlotRange } from '../../src/thrift/gen/chat.js';
import { ChatChannelCluster } from '../../src/chat/thrift.js';
import { slotOf } from '../../src/chat/slot.js';
import type { ThriftServer } from '../../src/thrift/server.js';
import { ChatUnavailableError } from '../../src/chat/errors.js';
import { Moved } from '../../src/chat/routing.js';
import { refHandler } from '../thrift/ref.js';

interface Node {
  name: string;
  srv: ThriftServer;
  calls: string[];
}

/** Three partition servers sharing one mutable map (so tests can move slots). */
async function startCluster(t: Test) {
  // `map` is what partitionMap() serves; `check` (default: the same) is what nodes enforce.
  const state = { map: [] as SlotRange[], check: undefined as SlotRange[] | undefined, mapReads: 0 };
  const nodes: Node[] = [];
  const owner = (id: bigint) => (state.check ?? state.map).find((r) => slotOf(id) >= r.first && slotOf(id) <= r.last);
  for (const name of ['n1', 'n2', 'n3']) {
    const node: Node = { name: `${name}@127.0.0.1`, srv: undefined as unknown as ThriftServer, calls: [] };
    const check = (id: bigint) => {
      const o = owner(id);
      if (o?.node !== node.name) throw new WrongPartition({ userId: id, owner: o?.node ?? '', thriftPort: o?.thriftPort ?? 0 });
    };
    const handler: ChatChannelHandler = {
      ...refHandler,
      login(u, ctx) {
        node.calls.push(`login ${u}`);
        check(u);
        void ctx;
        return u + 1n;
      },
      send(f, to, text, cid, ctx) {
        node.calls.push(`send ${f}`);
        check(f);
        return refHandler.send(f, to, text, cid, ctx);
      },
      presence(ids, ctx) {
        node.calls.push(`presence ${ids.join(',')}`);
        for (const id of ids) check(id);
        return refHandler.presence(ids, ctx);
      },
      partitionMap() {
        state.mapReads++;
        return state.map;
      },
    };
    node.srv = await serveChatChannel(handler);
    t.teardown(() => node.srv.close());
    nodes.push(node);
  }
  const ranges = (cuts: [number, number, number][]) =>
    cuts.map(([first, last, i]) => ({ first, last, node: nodes[i]!.name, thriftPort: nodes[i]!.srv.port }));
  state.map = ranges([
    [0, 340, 0],
    [341, 681, 1],
    [682, 1023, 2],
  ]);
  return { nodes, state, ranges };
}

t.test('routes by slot to the owning node', async (t) => {
  const { nodes } = await startCluster(t);
  const c = await ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: nodes[1]!.srv.port }] });
  t.teardown(() => c.close());
  t.equal(c.partitions.length, 3);
  t.equal(await c.login(5), 6n); // slot 5: n1
  t.equal(await c.login(1024 + 400), 1425n); // slot 400: n2
  t.equal(await c.login(-1), 0n); // slot 1023 (floored): n3
  t.equal(await c.login(2n ** 62n + 700n), 2n ** 62n + 701n); // slot 700: n3
  t.same(nodes[0]!.calls, ['login 5']);
  t.same(nodes[1]!.calls, ['login 1424']);
  t.same(nodes[2]!.calls, ['login -1', `login ${2n ** 62n + 700n}`]);
  const m = await c.send(1024 + 341, 5, 'hi', { clientMsgId: 'c' }); // routed by the sender: n2
  t.equal(m.fromId, 1365n);
  t.equal(nodes[1]!.calls.at(-1), 'send 1365');
});

t.test('on WrongPartition: refresh the map and retry once', async (t) => {
  const { nodes, state, ranges } = await startCluster(t);
  const c = await ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: nodes[0]!.srv.port }] });
  t.teardown(() => c.close());
  const before = c.refreshes;
  // Slot 5 moves from n1 to n3 behind the client's back.
  state.map = ranges([
    [0, 4, 0],
    [5, 5, 2],
    [6, 340, 0],
    [341, 681, 1],
    [682, 1023, 2],
  ]);
  t.equal(await c.login(5), 6n, 'the call succeeds after one redirect');
  t.same(nodes[0]!.calls, ['login 5'], 'first tried the old owner');
  t.same(nodes[2]!.calls, ['login 5'], 'then the new owner');
  t.equal(c.refreshes, before + 1, 'one map refresh');
  t.equal(c.ownerOf(5)?.port, nodes[2]!.srv.port);
  t.equal(await c.login(5), 6n);
  t.same(nodes[2]!.calls, ['login 5', 'login 5'], 'next call goes straight to the new owner');
});

t.test('retries only once: a map that keeps pointing at a refusing node is ERR_CHAT_UNAVAILABLE', async (t) => {
  const { nodes, state, ranges } = await startCluster(t);
  const c = await ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: nodes[0]!.srv.port }] });
  t.teardown(() => c.close());
  // The served map says n1 owns everything; every node believes n2 does.
  state.map = ranges([[0, 1023, 0]]);
  state.check = ranges([[0, 1023, 1]]);
  const err = await c.login(7).catch((e: unknown) => e);
  t.ok(err instanceof ChatUnavailableError, 'unavailable after one retry');
  t.match(err, { code: 'ERR_CHAT_UNAVAILABLE', userId: 7n });
  t.ok((err as Error).cause instanceof Moved, 'the cause says the map never settled');
  t.same(nodes[0]!.calls, ['login 7', 'login 7'], 'two attempts, both at n1 (the map says so)');
  t.same(nodes[1]!.calls, [], 'never at n2');
});

t.test('presence is split by owner and merged', async (t) => {
  const { nodes } = await startCluster(t);
  const c = await ChatChannelCluster.connect({
    seeds: [
      { host: '127.0.0.1', port: 1 }, // a dead seed is skipped
      { host: '127.0.0.1', port: nodes[2]!.srv.port },
    ],
  });
  t.teardown(() => c.close());
  const ids = [1n, 2n, 400n, 2n ** 63n - 1n, 2n ** 53n + 1n, 1000n];
  const got = await c.presence(ids);
  t.same(
    [...got.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
    ids.map((id) => [id, Number(((id % 3n) + 3n) % 3n)]).sort(([a], [b]) => ((a as bigint) < (b as bigint) ? -1 : 1)),
  );
  const touched = nodes.filter((n) => n.calls.some((x) => x.startsWith('presence'))).length;
  t.ok(touched >= 2, `${touched} nodes asked, each for its own ids`);
  t.same(await c.partitionMap(), c.partitions);
});

t.test('no seed answers: connect rejects', async (t) => {
  await t.rejects(ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: 1 }], callTimeoutMs: 2000 }), {
    code: 'ERR_CHAT_UNAVAILABLE',
  });
});

t.test("the stub's failures become the chat errors", async (t) => {
  const { nodes } = await startCluster(t);
  // Every node fails logins the way the stub does: a TApplicationException whose message is the Erlang reason.
  const reasons = new Map<bigint, string>([
    [1n, '{bad_request,text_too_long}'],
    [2n, '{bad_request,{weird,term}}'],
    [3n, '{unavailable,{channel_restarting,3}}'],
    [4n, 'timeout'],
    [5n, '{internal,badarg}'],
  ]);
  for (const n of nodes) {
    await n.srv.close();
  }
  const srv = await serveChatChannel({
    ...refHandler,
    login(u) {
      throw new Error(reasons.get(u) ?? 'no');
    },
    partitionMap: () => [{ first: 0, last: 1023, node: 'x@127.0.0.1', thriftPort: srv.port }],
  });
  t.teardown(() => srv.close());
  const callTimeoutMs = 5000;
  const c = await ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: srv.port }], callTimeoutMs });
  t.teardown(() => c.close());
  t.match(await c.login(1).catch((e: unknown) => e), { code: 'ERR_CHAT_BAD_REQUEST', reason: 'text_too_long' });
  t.match(await c.login(2).catch((e: unknown) => e), { code: 'ERR_CHAT_BAD_REQUEST', reason: 'request' });
  t.match(await c.login(3).catch((e: unknown) => e), { code: 'ERR_CHAT_UNAVAILABLE', userId: 3n, node: 'x@127.0.0.1' });
  t.match(await c.login(4).catch((e: unknown) => e), { code: 'ERR_CHAT_UNAVAILABLE' });
  t.match(await c.login(5).catch((e: unknown) => e), { code: 'ERR_CHAT_INTERNAL', message: /internal,badarg/ });
  t.equal(c.isDown('x@127.0.0.1'), false, 'failures the server reports do not mark its node down');
  t.equal(c.ownerOf(7)?.port, srv.port);
  // The node goes away: marked down, calls fail at once, and it is probed back.
  await srv.close();
  const e = await c.login(6).catch((x: unknown) => x);
  t.match(e, { code: 'ERR_CHAT_UNAVAILABLE', node: 'x@127.0.0.1' });
  t.ok(c.isDown('x@127.0.0.1'));
  const started = performance.now();
  t.match(await c.touch(6).catch((x: unknown) => x), { code: 'ERR_CHAT_UNAVAILABLE' });
  // Only the alternative is ruled out (a loaded machine may stretch "at once"): no wait for the call timeout.
  t.ok(performance.now() - started < callTimeoutMs, 'at once while it is down, not at the 5 s call timeout');
  await c.close();
  t.match(await c.login(6).catch((x: unknown) => x), { code: 'ERR_CHAT_CLOSED' });
});
