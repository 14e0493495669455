// Backpressure: a peer that stops reading must not make our memory grow
// without bound. With `onBusy: 'error'` a send while busy fails with ERR_BUSY
// and the buffer stays under the limit plus one message; with `sendAsync` the
// sender waits; nothing accepted is dropped and everything arrives in order.
// Against a fake peer that never reads, and a real erl suspended with SIGSTOP.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { Harness, uniq } from './harness.js';
import {
  initiateHandshake,
  FrameSplitter,
  DistDecoder,
  ctrl,
  DistError,
  type DistConnection,
  type DistConnectionOptions,
} from '../../src/dist/index.js';
import { atom, tuple, Pid, Tuple, type Term } from '../../src/etf/index.js';
import { otpVariants, startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';

const MSG = 16 * 1024;

/** A peer that handshakes, then reads nothing until `resume()`; it decodes what it gets. */
async function stalledPeer(h: Harness, name: string) {
  const s: Socket = connect({ port: h.port, host: '127.0.0.1' });
  s.on('error', () => {});
  await once(s, 'connect');
  await initiateHandshake(s, { name, cookie: 'c', creation: 5, peer: h.o.name });
  s.pause();
  const seqs: number[] = [];
  const splitter = new FrameSplitter();
  const decoder = new DistDecoder();
  s.on('data', (d: Buffer) =>
    splitter.push(d, (f) => {
      const m = f.length === 0 ? undefined : decoder.decodeFrame(f);
      const p = m?.payload;
      if (p instanceof Tuple && p.at(0) === atom('seq')) seqs.push(p.at(1) as number);
    }),
  );
  await h.until(() => h.connections.some((c) => c.peer === name));
  const conn = h.connections.find((c) => c.peer === name)!;
  return { socket: s, conn, seqs, resume: () => s.resume() };
}

const turn = () => new Promise((r) => setImmediate(r));

t.test("onBusy 'error': ERR_BUSY while busy, memory bounded, nothing accepted is lost", async (t) => {
  const limit = 256 * 1024;
  const connection: DistConnectionOptions = { busyLimitBytes: limit, onBusy: 'error' };
  const h = await Harness.start(t, { name: `bpe${uniq}@127.0.0.1`, cookie: 'c', connection });
  const p = await stalledPeer(h, `slowe${uniq}@127.0.0.1`);
  const c = p.conn;
  const to = new Pid(atom(p.conn.peer), 1, 0, 5);
  const blob = Buffer.alloc(MSG, 1);
  let accepted = 0;
  let refused = 0;
  let maxBuffered = 0;
  // Bounded: at most 20,000 attempts (320 MB if nothing were ever refused).
  for (let i = 0; i < 20_000 && refused < 200; i++) {
    try {
      c.send(tuple(2, atom(''), to), tuple(atom('seq'), accepted, blob));
      accepted++;
    } catch (e) {
      if (!(e instanceof DistError) || e.code !== 'ERR_BUSY') throw e;
      refused++;
    }
    maxBuffered = Math.max(maxBuffered, c.bufferedBytes);
    if (i % 16 === 0) await turn();
  }
  t.comment(`stalled peer: ${accepted} messages accepted (${((accepted * MSG) / 1e6).toFixed(1)} MB, most of it in kernel buffers), ${refused} refused, max ${maxBuffered} bytes buffered, limit ${limit}`);
  t.equal(refused, 200, 'sends were refused with ERR_BUSY once the peer stopped reading');
  t.ok(maxBuffered <= limit + MSG + 256, `buffer stayed within the limit plus one message (${maxBuffered} <= ${limit + MSG + 256})`);
  t.ok(c.busy, 'the connection reports busy');
  t.notOk(c.closed, 'busy is not an error: the connection stays up');
  t.throws(() => c.send(tuple(2, atom(''), to), 'x'), { code: 'ERR_BUSY' });
  // A forced signal (here a LINK) is queued even while busy.
  const before = c.bufferedBytes;
  t.equal(c.sendSignal(ctrl.link(new Pid(atom(h.o.name), 1, 0, h.creation), to), { force: true }), false, 'forced signal queued, still busy');
  t.ok(c.bufferedBytes > before, 'the forced signal is in the buffer');

  // The peer reads again: everything accepted arrives, in order, and the connection drains.
  const drained = once(c, 'drain');
  p.resume();
  await drained;
  await c.drained();
  await new Promise<void>((r) => {
    const check = () => (p.seqs.length >= accepted ? r() : setTimeout(check, 20));
    check();
  });
  t.equal(p.seqs.length, accepted, `all ${accepted} accepted messages delivered`);
  t.ok(
    p.seqs.every((s, i) => s === i),
    'in order, none missing',
  );
  t.ok(c.send(tuple(2, atom(''), to), 'after'), 'sends are accepted again');
});

t.test("'wait' policy: sendAsync waits for room, drained() honours timeout, abort and close", async (t) => {
  const limit = 128 * 1024;
  const h = await Harness.start(t, { name: `bpw${uniq}@127.0.0.1`, cookie: 'c', connection: { busyLimitBytes: limit } });
  const p = await stalledPeer(h, `sloww${uniq}@127.0.0.1`);
  const c = p.conn;
  t.equal(c.onBusy, 'wait', 'wait is the default policy');
  const to = new Pid(atom(c.peer), 1, 0, 5);
  const blob = Buffer.alloc(MSG, 2);
  await t.rejects(c.sendAsync(tuple(2, atom(''), to), Symbol('no term') as never), { code: 'ERR_ENCODE' }, 'an unencodable term is refused');
  const N = 2000; // 32 MB in all: far more than the kernel buffers hold
  let maxBuffered = 0;
  let sent = 0;
  const producer = (async () => {
    for (let i = 0; i < N; i++) {
      await c.sendAsync(tuple(2, atom(''), to), tuple(atom('seq'), i, blob));
      sent++;
      maxBuffered = Math.max(maxBuffered, c.bufferedBytes);
    }
  })();
  // Let the producer run into the stalled peer.
  let stuckAt = -1;
  for (let k = 0; k < 500 && stuckAt < 0; k++) {
    const before = sent;
    await new Promise((r) => setTimeout(r, 20));
    if (sent === before && c.waiting > 0) stuckAt = sent;
  }
  t.ok(stuckAt > 0 && stuckAt < N, `the producer waits once the peer stops reading (after ${stuckAt} messages)`);
  t.ok(c.busy && c.waiting === 1, 'busy, one sender waiting');
  t.ok(maxBuffered <= limit + MSG + 256, `buffer within the limit plus one message (${maxBuffered})`);
  await t.rejects(c.drained({ timeoutMs: 50 }), { code: 'ERR_BUSY' }, 'drained() times out with ERR_BUSY');
  const ac = new AbortController();
  const aborted = c.sendAsync(tuple(2, atom(''), to), 'never', { signal: ac.signal });
  ac.abort();
  await t.rejects(aborted, { code: 'ERR_ABORTED' }, 'an aborted sendAsync is not sent');
  t.equal(c.waiting, 1);

  p.resume();
  await producer;
  t.equal(sent, N, `all ${N} sent once the peer read again`);
  t.ok(maxBuffered <= limit + MSG + 256, `max ${maxBuffered} bytes buffered over the whole run (limit ${limit})`);
  t.comment(`'wait' policy: ${N} x ${MSG} bytes through a peer that stalled; max buffered ${maxBuffered} bytes`);
  await c.drained();
  await new Promise<void>((r) => {
    const check = () => (p.seqs.length >= N ? r() : setTimeout(check, 20));
    check();
  });
  t.ok(
    p.seqs.length === N && p.seqs.every((s, i) => s === i),
    'every message delivered once, in order',
  );

  // Waiters fail with ERR_CONNECTION_CLOSED when the connection goes away.
  p.socket.pause();
  const big = Buffer.alloc(4 * limit, 3);
  c.send(tuple(2, atom(''), to), big);
  const pending = c.sendAsync(tuple(2, atom(''), to), 'late');
  c.close(new DistError('ERR_CONNECTION_CLOSED', 'test closes it'));
  await t.rejects(pending, { code: 'ERR_CONNECTION_CLOSED' });
  await t.rejects(c.sendAsync(tuple(2, atom(''), to), 'after close'), { code: 'ERR_CONNECTION_CLOSED' });
});

// The erl side: `sink` (test/erl/bb_sink.erl) counts {seq, I, Bin} messages and
// checks their order; {From, count} answers {count, N, LastOrBad}.

for (const v of otpVariants()) {
  t.test(`${v.label}: a SIGSTOPped erl does not make our buffer grow`, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `sink${vtag}@127.0.0.1`;
    const erl = await startErlNode(t, { name: erlName, cookie: 'c', epmdPort, root: v.root, eval: 'bb_sink:sink()', modules: [erlModule('bb_sink')] });
    t.teardown(() => {
      if (!erl.exited) process.kill(erl.pid, 'SIGCONT');
    });
    const h = await Harness.start(t, { name: `bps${vtag}@127.0.0.1`, cookie: 'c', epmdPort, connection: { onBusy: 'error' } });
    const c: DistConnection = await h.connect(erlName);
    const me = new Pid(atom(h.o.name), 1, 0, h.creation);
    const blob = Buffer.alloc(64 * 1024, 5);
    process.kill(erl.pid, 'SIGSTOP');
    let accepted = 0;
    let refused = 0;
    let maxBuffered = 0;
    // Bounded: 4,000 attempts at most (256 MB if nothing were refused).
    for (let i = 0; i < 4000 && refused < 100; i++) {
      try {
        c.sendSignal(ctrl.regSend(me, atom('sink'), tuple(atom('seq'), accepted, blob)));
        accepted++;
      } catch (e) {
        if ((e as DistError).code !== 'ERR_BUSY') throw e;
        refused++;
      }
      maxBuffered = Math.max(maxBuffered, c.bufferedBytes);
      if (i % 8 === 0) await turn();
    }
    t.comment(`${v.label}: erl stopped; ${accepted} x 64 KB accepted, ${refused} refused, max ${maxBuffered} bytes buffered (limit ${c.busyLimitBytes})`);
    t.equal(refused, 100, 'ERR_BUSY once the stopped erl no longer reads');
    t.ok(maxBuffered <= c.busyLimitBytes + 64 * 1024 + 256, `buffer bounded (${maxBuffered})`);
    process.kill(erl.pid, 'SIGCONT');
    await c.drained({ timeoutMs: 60_000 });
    c.sendSignal(ctrl.regSend(me, atom('sink'), tuple(me, atom('count'))));
    const m = await h.next(c, (x) => x.kind === 'send');
    const r = (m as { message: Term }).message as Tuple;
    t.same(r, tuple(atom('count'), accepted, accepted - 1), `erl received all ${accepted} accepted messages, in order`);
    t.notOk(c.closed);
  });
}
