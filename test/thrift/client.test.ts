// Client connection management against a real Node Thrift server: timeouts,
// abort, pending calls failing on a drop, reconnect with backoff, bounded wait
// or fail-fast while disconnected, seqid wrap, 64 pipelined calls with held
// polls that do not block sends, the pool, keepalive, close.
import t from 'tap';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import {
  ChatChannelClient,
  ChatChannelService,
  NotOnline,
  PollStatus,
  serveChatChannel,
  type ChatChannelHandler,
  type PollResult,
} from '../../src/thrift/gen/chat.js';
import {
  ThriftAbortError,
  ThriftApplicationError,
  ThriftClientClosedError,
  ThriftConnectError,
  ThriftConnectionLostError,
  ThriftEncodeError,
  ThriftNotConnectedError,
  ThriftTimeoutError,
} from '../../src/thrift/errors.js';
import { ThriftClient, backoffDelay } from '../../src/thrift/client.js';
import type { MethodDescriptor } from '../../src/thrift/service.js';
import { freePort } from '../../src/testing/index.js';
import { refHandler } from './ref.js';
import { waitUntil } from '../helpers/until.js';

// A handler may listen on CallContext.signal for each call, and 32 polls held on one
// connection are not a leak: the server raises that signal's listener limit.
const listenerWarnings: string[] = [];
process.on('warning', (w) => {
  if (w.name === 'MaxListenersExceededWarning') listenerWarnings.push(w.message);
});

/** A handler whose polls wait until released (or the connection closes). */
function holdingHandler() {
  const held: { release: () => void; userId: bigint }[] = [];
  const seqids: number[] = [];
  const handler: ChatChannelHandler = {
    ...refHandler,
    login(userId, ctx) {
      seqids.push(ctx.seqid);
      return userId;
    },
    poll(userId, afterSeq, _timeoutMs, ctx): Promise<PollResult> {
      return new Promise((resolve) => {
        const release = () => resolve({ status: PollStatus.CONTINUE, seq: afterSeq, events: [] });
        held.push({ release, userId });
        ctx.signal.addEventListener('abort', release, { once: true });
      });
    },
  };
  return { handler, held, seqids };
}

for (const protocol of ['binary', 'compact'] as const) {
  t.test(`${protocol}: 64 pipelined calls on one connection; held polls do not block sends`, async (t) => {
    const { handler, held } = holdingHandler();
    const srv = await serveChatChannel(handler, { protocol });
    t.teardown(() => srv.close());
    const c = await ChatChannelClient.connect({ port: srv.port, protocol, poolSize: 1 });
    t.teardown(() => c.close());

    const polls = Array.from({ length: 32 }, (_, i) => c.poll(1000 + i, i, 60_000, { timeoutMs: 30_000 }));
    const sends = Array.from({ length: 32 }, (_, i) => c.send(i + 1, 5000 + i, `msg ${i}`, `cid-${i}`));
    const sent = await Promise.all(sends); // resolves while all 32 polls are still held
    t.equal(held.length, 32, 'all polls are held by the server');
    t.same(
      sent.map((m) => [m.fromId, m.toId, m.text]),
      sent.map((_, i) => [BigInt(i + 1), BigInt(5000 + i), `msg ${i} <cid-${i}>`]),
      'each send got its own reply',
    );
    t.equal(srv.connections, 1, 'one connection carried all 64 calls');
    // Release in reverse order: replies come back out of order and still match.
    for (const h of [...held].reverse()) h.release();
    const results = await Promise.all(polls);
    t.same(
      results.map((r) => r.seq),
      results.map((_, i) => BigInt(i)),
      'each poll got its own reply',
    );
  });
}

t.test('timeout of a call the server never answers; the connection stays usable', async (t) => {
  const { handler } = holdingHandler();
  const srv = await serveChatChannel(handler);
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port, poolSize: 1 });
  t.teardown(() => c.close());
  const err = await c.poll(1, 0, 0, { timeoutMs: 50 }).catch((e: unknown) => e);
  t.ok(err instanceof ThriftTimeoutError, 'ThriftTimeoutError');
  t.equal((err as ThriftTimeoutError).code, 'ERR_THRIFT_TIMEOUT');
  t.equal((err as ThriftTimeoutError).method, 'poll');
  t.equal(await c.login(7), 7n, 'a later call on the same connection works');
  t.equal(c.thrift.pendingCalls, 0, 'the timed-out call is forgotten');
});

t.test('a client-wide default timeout applies', async (t) => {
  const { handler } = holdingHandler();
  const srv = await serveChatChannel(handler);
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port, timeoutMs: 40 });
  t.teardown(() => c.close());
  await t.rejects(c.poll(1, 0, 0), { code: 'ERR_THRIFT_TIMEOUT' });
});

t.test('AbortSignal cancels a pending call, and an aborted signal fails at once', async (t) => {
  const { handler, held } = holdingHandler();
  const srv = await serveChatChannel(handler);
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port });
  t.teardown(() => c.close());
  const ac = new AbortController();
  const p = c.poll(1, 0, 0, { signal: ac.signal });
  await waitUntil('the poll held by the server', () => held.length === 1);
  ac.abort(new Error('user left'));
  const err = await p.catch((e: unknown) => e);
  t.ok(err instanceof ThriftAbortError, 'ThriftAbortError');
  t.equal((err as ThriftAbortError).code, 'ERR_THRIFT_ABORTED');
  t.match((err as Error).cause, { message: 'user left' });
  await t.rejects(c.login(1, { signal: ac.signal }), { code: 'ERR_THRIFT_ABORTED' }, 'already aborted');
  held[0]!.release(); // the late reply is dropped
  t.equal(await c.login(2), 2n);
});

t.test('a dropped connection fails every pending call; the client reconnects with backoff', async (t) => {
  const { handler, held } = holdingHandler();
  const port = await freePort();
  let srv = await serveChatChannel(handler, { port });
  const delays: number[] = [];
  const c = await ChatChannelClient.connect({
    port,
    poolSize: 1,
    reconnect: { delay: (attempt) => (delays.push(attempt), 20) },
  });
  t.teardown(async () => {
    await c.close();
    await srv.close();
  });
  const events: string[] = [];
  c.thrift.on('disconnect', () => events.push('disconnect'));
  c.thrift.on('connect', () => events.push('connect'));

  const pending = [c.poll(1, 0, 0), c.poll(2, 0, 0), c.poll(3, 0, 0)];
  await waitUntil('three polls held by the server', () => held.length === 3);
  await srv.close(); // drops the connection with three calls in flight
  const errs = await Promise.all(pending.map((p) => p.catch((e: unknown) => e)));
  for (const e of errs) {
    t.ok(e instanceof ThriftConnectionLostError, 'ThriftConnectionLostError');
    t.equal((e as ThriftConnectionLostError).code, 'ERR_THRIFT_CONNECTION_LOST');
  }
  await waitUntil('two reconnect attempts', () => delays.length >= 2); // a few refused attempts while the server is down
  srv = await serveChatChannel(handler, { port });
  t.equal(await c.login(9, { timeoutMs: 10_000 }), 9n, 'a call made while reconnecting waits and succeeds');
  t.ok(c.thrift.connected >= 1);
  t.same(events.slice(0, 1), ['disconnect']);
  t.ok(events.includes('connect'), 'reconnected');
  t.same(delays.slice(0, 2), [1, 2], 'the backoff function saw increasing attempts');
});

t.test('while disconnected: fail fast, or wait a bounded time', async (t) => {
  const port = await freePort();
  const srv = await serveChatChannel(refHandler, { port });
  const fast = await ChatChannelClient.connect({ port, poolSize: 1, whenDisconnected: 'fail', reconnect: { delay: () => 60_000 } });
  const slow = await ChatChannelClient.connect({ port, poolSize: 1, maxDisconnectedWaitMs: 80, reconnect: { delay: () => 60_000 } });
  t.teardown(async () => {
    await fast.close();
    await slow.close();
  });
  await srv.close();
  await waitUntil('both clients disconnected', () => fast.thrift.connected === 0 && slow.thrift.connected === 0);
  const e1 = await fast.login(1).catch((e: unknown) => e);
  t.ok(e1 instanceof ThriftNotConnectedError, 'fail fast');
  t.equal((e1 as ThriftNotConnectedError).code, 'ERR_THRIFT_NOT_CONNECTED');
  const e2 = await slow.login(1).catch((e: unknown) => e);
  t.ok(e2 instanceof ThriftNotConnectedError, 'bounded wait ends in ThriftNotConnectedError');
  t.match((e2 as Error).message, /within 80 ms/);
});

t.test('reconnect: false gives up, and calls fail instead of waiting', async (t) => {
  const port = await freePort();
  const srv = await serveChatChannel(refHandler, { port });
  const c = await ChatChannelClient.connect({ port, poolSize: 1, reconnect: false });
  t.teardown(() => c.close());
  await srv.close();
  await waitUntil('the client disconnected', () => c.thrift.connected === 0);
  await t.rejects(c.login(1), { code: 'ERR_THRIFT_NOT_CONNECTED' });
});

t.test('seqids wrap from 2^31-1 to 0, with calls in flight across the wrap', async (t) => {
  const { handler, seqids } = holdingHandler();
  const srv = await serveChatChannel(handler);
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port, poolSize: 1, firstSeqId: 2 ** 31 - 3 });
  t.teardown(() => c.close());
  for (let i = 0; i < 4; i++) t.equal(await c.login(i), BigInt(i));
  const burst = await Promise.all(Array.from({ length: 8 }, (_, i) => c.login(100 + i)));
  t.same(burst, Array.from({ length: 8 }, (_, i) => BigInt(100 + i)), 'pipelined calls across the wrap match');
  t.same(seqids.slice(0, 6), [2147483645, 2147483646, 2147483647, 0, 1, 2], 'wrapped to 0');
  t.ok(seqids.every((s) => s >= 0 && s <= 2147483647), 'every seqid is a non-negative i32');
});

t.test('typed errors: declared exception, handler failure, unknown method, bad arguments', async (t) => {
  const srv = await serveChatChannel({
    ...refHandler,
    touch() {
      throw new TypeError('handler bug');
    },
  });
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port });
  t.teardown(() => c.close());
  const no = await c.send(1, 0, 'x', 'y').catch((e: unknown) => e);
  t.ok(no instanceof NotOnline, 'declared exception');
  t.equal((no as NotOnline).code, 'ERR_THRIFT_NOT_ONLINE');
  t.equal((no as NotOnline).userId, 0n);
  const app = await c.touch(1).catch((e: unknown) => e);
  t.ok(app instanceof ThriftApplicationError);
  t.equal((app as ThriftApplicationError).typeName, 'INTERNAL_ERROR');
  t.equal((app as Error).message, 'handler bug');
  const unknown: MethodDescriptor<[], void> = {
    ...ChatChannelService.methods['touch']!,
    name: 'noSuchMethod',
    writeArgs(p) {
      p.writeStructBegin('x');
      p.writeFieldStop();
      p.writeStructEnd();
    },
  };
  const um = await c.thrift.call(unknown, []).catch((e: unknown) => e);
  t.equal((um as ThriftApplicationError).typeName, 'UNKNOWN_METHOD');
  await t.rejects(c.login(1.5), ThriftEncodeError, 'a non-integer i64 is refused before sending');
  await t.rejects(c.history(1, 2, 2 ** 31), { code: 'ERR_THRIFT_ENCODE' }, 'an i32 out of range is refused');
  t.equal(await c.login(2n ** 63n - 2n), 2n ** 63n - 1n, 'the connection is still fine');
});

t.test('the pool spreads calls over its connections', async (t) => {
  const ports = new Set<number>();
  const srv = await serveChatChannel({
    ...refHandler,
    login(u, ctx) {
      ports.add(ctx.remotePort);
      return u;
    },
  });
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port, poolSize: 3 });
  t.teardown(() => c.close());
  await waitUntil('three pool connections', () => c.thrift.connected === 3);
  await Promise.all(Array.from({ length: 30 }, (_, i) => c.login(i)));
  t.equal(ports.size, 3, 'three connections carried calls');
  t.equal(srv.connections, 3);
});

t.test('close fails pending calls, refuses new ones, and is idempotent', async (t) => {
  const { handler, held } = holdingHandler();
  const srv = await serveChatChannel(handler);
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port });
  const p = c.poll(1, 0, 0).catch((e: unknown) => e);
  await waitUntil('the poll held by the server', () => held.length === 1);
  await c.close();
  t.ok((await p) instanceof ThriftConnectionLostError, 'pending call failed');
  await t.rejects(c.login(1), ThriftClientClosedError);
  await c.close();
});

t.test('connect to a closed port rejects with ThriftConnectError', async (t) => {
  const port = await freePort();
  const err = await ChatChannelClient.connect({ port }).catch((e: unknown) => e);
  t.ok(err instanceof ThriftConnectError);
  t.equal((err as ThriftConnectError).code, 'ERR_THRIFT_CONNECT');
  t.equal((err as ThriftConnectError).port, port);
});

t.test('keepalive and user timeout are set through net-keepalive', async (t) => {
  const srv = await serveChatChannel(refHandler);
  t.teardown(() => srv.close());
  const client = await ThriftClient.connect({ port: srv.port, poolSize: 1, keepAlive: { intervalMs: 2000, probes: 4, userTimeoutMs: 7000 } });
  t.teardown(() => client.close());
  const c = new ChatChannelClient(client);
  t.equal(await c.login(1), 2n);
  const nk = createRequire(import.meta.url)('net-keepalive') as {
    getKeepAliveInterval(s: Socket): number;
    getKeepAliveProbes(s: Socket): number;
    getUserTimeout(s: Socket): number;
  };
  const sock = (client as unknown as { slots: { conn?: { socket: Socket } }[] }).slots[0]!.conn!.socket;
  t.equal(nk.getKeepAliveInterval(sock), 2000);
  t.equal(nk.getKeepAliveProbes(sock), 4);
  t.equal(nk.getUserTimeout(sock), 7000);
  const plain = await ThriftClient.connect({ port: srv.port, poolSize: 1 });
  t.teardown(() => plain.close());
  t.equal(await new ChatChannelClient(plain).login(2), 3n, 'a client with default keepalive works');
  const plainSock = (plain as unknown as { slots: { conn?: { socket: Socket } }[] }).slots[0]!.conn!.socket;
  t.equal(nk.getKeepAliveInterval(plainSock), 5000, 'default probe interval of a Thrift client socket');
  t.equal(nk.getKeepAliveProbes(plainSock), 3, 'default probe count of a Thrift client socket');
  t.equal(nk.getUserTimeout(plainSock), 30_000, 'default TCP_USER_TIMEOUT of a Thrift client socket');
});

t.test('backoff is capped, exponential and jittered', async (t) => {
  for (let a = 1; a <= 20; a++) {
    const d = backoffDelay(a, { initialDelayMs: 100, maxDelayMs: 2000, jitter: 0.5 });
    const base = Math.min(2000, 100 * 2 ** (a - 1));
    t.ok(d >= base / 2 && d <= base, `attempt ${a}: ${d} in [${base / 2}, ${base}]`);
  }
  t.equal(backoffDelay(3, { initialDelayMs: 10, jitter: 0 }), 40, 'no jitter: exact');
  t.equal(backoffDelay(5, { delay: (n) => n * 7 }), 35, 'user override');
});

t.test('no listener-limit warning from per-call abort listeners', async (t) => {
  await new Promise((r) => setImmediate(r));
  t.same(listenerWarnings, [], 'CallContext.signal takes a listener per held call');
});
