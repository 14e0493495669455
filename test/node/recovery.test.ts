// Without Erlang: the reconnect policy (jittered, capped, overridable), the
// status stream, sends to a node that is down (queued across backoff retries,
// delivered in order once it is up, dropped when the retries are spent;
// monitors fire at the first failure), and node.exit, gen_servers, casts and
// exposed functions between two beambridge nodes.
import t from 'tap';
import { ErlangException, Node, RpcError, noReply, type CallFrom } from '../../src/otp/index.js';
import { isDown, reconnectPolicy, type PeerStatus } from '../../src/node/index.js';
import { Tuple, atom, termEquals, tuple, type Term } from '../../src/etf/index.js';
import { freePort } from '../../src/testing/index.js';
import { until } from '../helpers/until.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const A = atom;

t.test('reconnect policy: exponential, capped, jittered, overridable', async (t) => {
  const exact = reconnectPolicy({ jitter: 0 });
  t.same([0, 1, 2, 3, 4, 5, 6, 10, 100].map((n) => exact.delayMs(n, 'p')), [0, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  t.equal(exact.maxRetries, 5);
  const jittered = reconnectPolicy({ baseDelayMs: 1000, maxDelayMs: 8000, jitter: 0.5 });
  const samples = Array.from({ length: 200 }, () => jittered.delayMs(3, 'p'));
  t.ok(samples.every((d) => d >= 2000 && d <= 4000), 'within [d/2, d] for d = 4000');
  t.ok(new Set(samples).size > 10, 'jittered');
  const custom = reconnectPolicy({ delay: (n, peer) => (peer === 'x' ? n * 7 : -5), maxRetries: 0 });
  t.equal(custom.delayMs(3, 'x'), 21);
  t.equal(custom.delayMs(3, 'y'), 0, 'never negative');
  t.equal(custom.maxRetries, 0);
  t.equal(reconnectPolicy({ jitter: 9 }).delayMs(1, 'p') <= 200, true, 'jitter is clamped to [0, 1]');
});

t.test('two nodes: reconnect, status, exits, servers, exposed functions', async (t) => {
  const epmdPort = await freePort();
  const a = await Node.start({
    name: `jsra${uniq}@127.0.0.1`,
    cookie: 'k',
    epmd: { embedded: true, port: epmdPort },
    reconnect: { delay: () => 100, maxRetries: 50 },
  });
  t.teardown(() => a.stop());

  t.test('sends to a node that is not up yet wait, and go out in order once it is', async (t) => {
    const bName = `jsrb${uniq}@127.0.0.1`;
    const statuses: PeerStatus[] = [];
    a.on('status', (s) => s.peer === bName && statuses.push(s));
    const streamed: PeerStatus[] = [];
    const ac = new AbortController();
    const reading = (async () => {
      for await (const s of a.status({ signal: ac.signal })) if (s.peer === bName) streamed.push(s);
    })();
    const p = a.spawn();
    const watcher = a.spawn();
    const ref = watcher.monitor({ name: 'inbox', node: bName });
    for (let i = 1; i <= 50; i++) p.send({ name: 'inbox', node: bName }, i);
    const d = (await watcher.receive({ timeoutMs: 10_000, match: (m) => isDown(m, ref) })) as Tuple;
    t.equal(d.at(4), A('noconnection'), 'a monitor across the peer fires at the first failed dial');
    t.ok(statuses.some((s) => s.state === 'connecting'));
    const failed = statuses.find((s) => s.state === 'down');
    t.match(failed, { state: 'down', retryInMs: 100, reason: { code: 'ERR_NODE_NOT_FOUND' } });
    t.equal(a.queued(bName), 50, 'the messages wait (the monitor signal was dropped with its DOWN)');
    for (let i = 51; i <= 60; i++) p.send({ name: 'inbox', node: bName }, i);
    const b = await Node.start({ name: bName, cookie: 'k', epmd: { port: epmdPort } });
    t.teardown(() => b.stop());
    const inbox = b.spawn({ name: 'inbox' });
    const got: Term[] = [];
    for (let i = 0; i < 60; i++) got.push(await inbox.receive({ timeoutMs: 10_000 }));
    t.same(got, Array.from({ length: 60 }, (_, i) => i + 1), 'all 60, in order');
    const states = statuses.map((s) => s.state);
    t.equal(states[states.length - 1], 'up');
    t.equal(states[states.length - 2], 'connecting');
    await new Promise((r) => setImmediate(r));
    t.same(streamed, statuses, 'the stream saw what the events saw');
    ac.abort();
    await reading;
    // A lost connection: status down; the next send dials again at once.
    const down = new Promise<void>((r) => a.once('nodedown', () => r()));
    b.disconnect(a.name);
    await down;
    p.send({ name: 'inbox', node: bName }, 'again');
    t.same(await inbox.receive({ timeoutMs: 10_000 }), Buffer.from('again'));
    p.exit();
    watcher.exit();
  });

  t.test('retries are bounded: queued messages are dropped when they are spent', async (t) => {
    const c = await Node.start({ name: `jsrc${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort }, reconnect: { delay: () => 30, maxRetries: 2 } });
    t.teardown(() => c.stop());
    const ghost = `ghost${uniq}@127.0.0.1`;
    const events: PeerStatus[] = [];
    c.on('status', (s) => events.push(s));
    const p = c.spawn();
    p.send({ name: 'x', node: ghost }, 1);
    const gaveUp = new Promise<void>((r) => c.on('status', (s) => s.state === 'down' && s.retryInMs === undefined && r()));
    await gaveUp;
    t.equal(events.filter((s) => s.state === 'connecting').length, 3, 'one dial and two retries');
    t.equal(c.queued(ghost), 0, 'dropped, as OTP drops messages to an unreachable node');
    // An explicit connect does not wait for the backoff.
    const before = events.length;
    const r = c.connect(ghost);
    t.match(events[before], { state: 'connecting', peer: ghost }, 'dialing at once');
    await t.rejects(r, { code: 'ERR_NODE_NOT_FOUND' });
    // Status iterators: break, end at stop, maxQueued.
    const it = c.status({ maxQueued: 2 });
    for (let i = 0; i < 5; i++) c.emit('status', { peer: `p${i}`, state: 'up' });
    const first = await it.next();
    t.match(first.value, { peer: 'p3' }, 'the oldest were dropped past maxQueued');
    await c.stop();
    t.match(await it.next(), { value: { peer: 'p4' } });
    t.match(await it.next(), { done: true }, 'ended by stop');
    const late = c.status();
    t.match(await late.next(), { done: true }, 'a stopped node has no status to give');
  });

  t.test('node.exit and p.sendExit', async (t) => {
    const trap = a.spawn({ trapExit: true });
    const plain = a.spawn();
    const other = a.spawn();
    a.exit(trap.pid, 'why');
    const m = (await trap.receive({ timeoutMs: 1000 })) as Tuple;
    t.equal(m.at(0), A('EXIT'));
    t.equal(m.at(2), A('why'), 'a string reason becomes an atom');
    a.exit(plain.pid, A('normal'));
    t.equal(plain.alive, true, 'normal is ignored without trap_exit');
    other.sendExit(plain.pid, tuple(A('custom'), 1));
    t.ok(termEquals(plain.reason, tuple(A('custom'), 1)));
    a.exit(trap.pid, A('kill'));
    t.equal(trap.reason, A('killed'));
    other.sendExit(other.pid, A('normal'));
    t.equal(other.reason, A('normal'), 'exit(self(), normal) ends the process');
  });

  t.test('gen_servers, casts and exposed functions across two nodes', async (t) => {
    const b = await Node.start({ name: `jsrd${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort } });
    t.teardown(() => b.stop());
    let held: CallFrom | undefined;
    const casts: Term[] = [];
    const srv = b.serve('kv', {
      call: async (req, from) => {
        if (req === A('hold')) {
          held = from;
          return noReply;
        }
        if (req === A('die')) throw ErlangException.error(A('badarg'));
        return tuple(A('ok'), req);
      },
      cast: (req) => void casts.push(req),
    });
    const kv = { name: 'kv', node: b.name };
    t.ok(termEquals(await a.call(kv, 1), tuple(A('ok'), 1)));
    a.cast(kv, A('c'));
    const deferred = a.call(kv, A('hold'));
    // The cast went first on the same connection: once the call is held, the cast is in.
    await until(() => held !== undefined);
    t.equal(casts.length, 1);
    b.reply(held!, A('later'));
    t.equal(await deferred, A('later'), 'node.reply answers a deferred call');
    const dead = await a.call(kv, A('die')).catch((e: unknown) => e);
    t.match(dead, { code: 'ERR_CALL_EXIT' });
    t.ok(termEquals((dead as { reason: Term }).reason, tuple(A('badarg'), [])), 'exit reason {badarg, Stack}');
    t.ok(termEquals(await srv.exited, tuple(A('badarg'), [])));
    t.throws(() => b.serve('net_kernel', {}), { code: 'ERR_NAME_TAKEN' });
    // rpc (rex's C-node form) into an exposed module.
    b.expose('calc', { add: (x, y) => (x as number) + (y as number), oops: () => { throw new Error('bad input'); } });
    t.equal(await a.rpc(b.name, 'calc', 'add', [2, 3], { timeoutMs: 5000 }), 5);
    const err = (await a.rpc(b.name, 'calc', 'oops', [], { timeoutMs: 5000 }).catch((e: unknown) => e)) as RpcError;
    t.equal(err.code, 'ERR_RPC_EXCEPTION');
    t.ok(termEquals((err.exitReason as Tuple).at(0), tuple(A('js_error'), Buffer.from('bad input'))));
    t.equal(err.erlangStack?.length, 1);
    // sendAsync: local targets resolve at once; remote ones once queued.
    const p = a.spawn();
    const q = a.spawn();
    await p.sendAsync(q.pid, 'local');
    t.equal(await q.receive({ timeoutMs: 1000 }), 'local', 'a local message is the JS value itself');
    const r = b.spawn({ name: 'r' });
    await p.sendAsync({ name: 'r', node: b.name }, 'remote');
    t.same(await r.receive({ timeoutMs: 5000 }), Buffer.from('remote'), 'a string crosses as a binary');
    await t.rejects(p.sendAsync({ name: 'r', node: b.name }, 'x', { signal: AbortSignal.abort() }), { code: 'ERR_ABORTED' });
  });
});
