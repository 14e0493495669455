// DistConnection against fake peers that complete a real handshake and then
// misbehave: split writes, silence, garbage. Only the offending connection
// drops; others keep working.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import NetKeepAlive from 'net-keepalive';
import { socketPair } from '../../src/testing/index.js';
import { waitUntil } from '../helpers/until.js';
import {
  initiateHandshake,
  genDigest,
  DistEncoder,
  DistConnection,
  DistDecoder,
  FrameSplitter,
  ctrl,
  DEFAULT_DFLAGS,
  type ControlMessage,
  type DistError,
} from '../../src/dist/index.js';
import { atom, tuple, Pid, encode } from '../../src/etf/index.js';
import { Harness, uniq } from './harness.js';

const node = `conn${uniq}@127.0.0.1`;

/** A raw peer: connects to the harness, handshakes, then exposes the socket. */
async function fakePeer(h: Harness, name: string): Promise<{ socket: Socket; encoder: DistEncoder }> {
  const s = connect({ port: h.port, host: '127.0.0.1' });
  await new Promise((r) => s.once('connect', r));
  const hs = await initiateHandshake(s, { name, cookie: 'c', creation: 5, peer: node });
  s.on('error', () => {});
  s.resume();
  return { socket: s, encoder: new DistEncoder({ flags: hs.flags }) };
}

function closed(c: DistConnection): Promise<DistError | undefined> {
  return new Promise((r) => (c.closed ? r(c.reason) : c.once('close', r)));
}

/**
 * Plays the accepting side of a handshake by hand (erl_dist_protocol
 * "Distribution Handshake": status `ok`, our challenge, the ack) on `b`, and
 * sends `after` in the same write as the ack, so that the initiator's
 * HandshakeResult carries it as leftover bytes.
 */
async function scriptedAccept(b: Socket, name: string, cookie: string, after: Buffer): Promise<void> {
  const read = async () => ((await once(b, 'data')) as [Buffer])[0];
  await read(); // send_name
  b.write(Buffer.from([0, 3, 0x73, 0x6f, 0x6b])); // "sok"
  const n = Buffer.alloc(19 + name.length);
  n[0] = 0x4e; // 'N': flags, challenge, creation, name
  n.writeBigUInt64BE(DEFAULT_DFLAGS, 1);
  n.writeUInt32BE(4321, 9);
  n.writeUInt32BE(7, 13);
  n.writeUInt16BE(name.length, 17);
  n.write(name, 19);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(n.length);
  b.write(Buffer.concat([len, n]));
  const reply = await read(); // 'r', their challenge, their digest
  const ack = Buffer.concat([Buffer.of(0, 17, 0x61), genDigest(reply.readUInt32BE(3), cookie)]);
  b.write(Buffer.concat([ack, after]));
}

t.test('frames sent with the last handshake message reach listeners attached after construction', async (t) => {
  const peer = `lo${uniq}@127.0.0.1`;
  const from = new Pid(atom(peer), 1, 0, 7);
  // One encoder for frames that several fresh connections read: without the atom cache, which is per connection.
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS, atomCache: false });
  const frame = (what: string) => {
    const sig = ctrl.regSend(from, atom('x'), atom(what));
    return Buffer.concat(enc.encode(sig.control, sig.payload));
  };
  const words = (got: ControlMessage[]) => got.map((m) => (m.kind === 'reg_send' ? String(m.message) : m.kind));

  // The connection reads the leftover itself.
  {
    const [a, b] = await socketPair(t);
    const init = initiateHandshake(a, { name: node, cookie: 'c', creation: 5, peer, timeoutMs: 5000 });
    await scriptedAccept(b, peer, 'c', Buffer.concat([DistEncoder.TICK, frame('first'), frame('second')]));
    const hs = await init;
    t.ok(hs.leftover.length > 0, `the handshake left ${hs.leftover.length} bytes`);
    const conn = new DistConnection(hs);
    t.teardown(() => conn.close());
    const got: ControlMessage[] = [];
    conn.on('message', (m: ControlMessage) => got.push(m));
    t.equal(got.length, 0, 'nothing is emitted from inside the constructor');
    t.equal(conn.stats.bytesIn, 0, 'nor read');
    b.write(frame('live'));
    await waitUntil('three messages', () => got.length >= 3);
    t.same(words(got), ['first', 'second', 'live'], 'the leftover frames first, then the live stream');
    t.equal(conn.stats.ticksIn, 1, 'the tick in the leftover counted');
    t.equal(conn.stats.messagesIn, 3);
  }

  // The node layer's older way: the leftover pushed back into the socket, and
  // a HandshakeResult with none. It behaves the same.
  {
    const [a, b] = await socketPair(t);
    const init = initiateHandshake(a, { name: node, cookie: 'c', creation: 5, peer, timeoutMs: 5000 });
    await scriptedAccept(b, peer, 'c', Buffer.concat([frame('first'), DistEncoder.TICK]));
    const hs = await init;
    t.ok(hs.leftover.length > 0);
    a.unshift(hs.leftover);
    const conn = new DistConnection({ ...hs, leftover: Buffer.alloc(0) });
    t.teardown(() => conn.close());
    const got: ControlMessage[] = [];
    conn.on('message', (m: ControlMessage) => got.push(m));
    b.write(frame('live'));
    await waitUntil('two messages', () => got.length >= 2);
    t.same(words(got), ['first', 'live'], 'unshifted bytes first, then the live stream');
    t.equal(conn.stats.ticksIn, 1);
  }

  // A leftover that is only part of a frame: the rest comes on the socket.
  {
    const [a, b] = await socketPair(t);
    const init = initiateHandshake(a, { name: node, cookie: 'c', creation: 5, peer, timeoutMs: 5000 });
    const whole = frame('split');
    await scriptedAccept(b, peer, 'c', whole.subarray(0, 7));
    const hs = await init;
    t.equal(hs.leftover.length, 7);
    const conn = new DistConnection(hs);
    t.teardown(() => conn.close());
    const got: ControlMessage[] = [];
    conn.on('message', (m: ControlMessage) => got.push(m));
    b.write(whole.subarray(7));
    await waitUntil('the split message', () => got.length >= 1);
    t.same(words(got), ['split'], 'reassembled across the leftover and the socket');
  }
});

t.test('a message written one byte at a time arrives once, intact', async (t) => {
  const h = await Harness.start(t, { name: node, cookie: 'c' });
  const p = await fakePeer(h, `bytes${uniq}@127.0.0.1`);
  await h.until(() => h.connections.length === 1);
  const c = h.connections[0];
  const from = new Pid(atom(`bytes${uniq}@127.0.0.1`), 1, 0, 5);
  const sig = ctrl.regSend(from, atom('x'), [atom('split'), Buffer.alloc(300, 1)]);
  const bufs = p.encoder.encode(sig.control, sig.payload);
  const bytes = Buffer.concat([DistEncoder.TICK, ...bufs, DistEncoder.TICK]);
  for (const b of bytes) {
    p.socket.write(Buffer.of(b));
    await new Promise((r) => setImmediate(r));
  }
  const m = await h.next(c, (x) => x.kind === 'reg_send');
  t.match(m, { kind: 'reg_send', to: atom('x'), from });
  t.equal(c.stats.ticksIn, 2);
  t.equal(c.stats.messagesIn, 1);
  t.equal(NetKeepAlive.getUserTimeout(c.socket), 60_000, 'TCP_USER_TIMEOUT set to the ticktime');
});

t.test('a silent peer is dropped after net_ticktime; a ticking one is not', async (t) => {
  const tickTimeMs = 800;
  const h = await Harness.start(t, { name: node, cookie: 'c', connection: { tickTimeMs } });
  const silent = await fakePeer(h, `silent${uniq}@127.0.0.1`);
  const chatty = await fakePeer(h, `chatty${uniq}@127.0.0.1`);
  await h.until(() => h.connections.length === 2);
  const cs = h.connections.find((c) => c.peer.startsWith('silent'))!;
  const cc = h.connections.find((c) => c.peer.startsWith('chatty'))!;
  // The chatty peer answers every tick with a tick, as OTP does.
  chatty.socket.on('data', () => chatty.socket.write(DistEncoder.TICK));
  let ticksSeen = 0;
  silent.socket.on('data', () => ticksSeen++);
  const started = Date.now();
  const err = await closed(cs);
  const after = Date.now() - started;
  t.equal(err?.code, 'ERR_TICK_TIMEOUT');
  t.ok(ticksSeen >= 1, `we ticked the silent peer (${ticksSeen} reads)`);
  t.ok(after >= tickTimeMs * 0.5 && after < tickTimeMs * 20, `dropped after ${after} ms (window ${tickTimeMs}-${tickTimeMs * 1.25} ms)`);
  t.comment(`silent peer dropped after ${after} ms at ticktime ${tickTimeMs} ms`);
  t.notOk(cc.closed, 'the ticking peer stays');
  t.ok(cc.stats.ticksOut >= 1 && cc.stats.ticksIn >= 1);
});

t.test('garbage drops only that connection, every time', async (t) => {
  const h = await Harness.start(t, { name: node, cookie: 'c' });
  const good = await fakePeer(h, `good${uniq}@127.0.0.1`);
  await h.until(() => h.connections.length === 1);
  const goodConn = h.connections[0];
  const from = new Pid(atom(`good${uniq}@127.0.0.1`), 1, 0, 5);
  const valid = Buffer.concat(good.encoder.encode(tuple(6, from, atom(''), atom('x')), 'ok'));
  const frameOf = (b: Buffer) => {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(b.length);
    return Buffer.concat([l, b]);
  };
  const garbage: [string, Buffer][] = [
    ['random bytes', frameOf(Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]))],
    ['oversized length', Buffer.of(0xff, 0xff, 0xff, 0xf0, 1)],
    ['truncated term', frameOf(Buffer.concat([Buffer.of(112), encode(tuple(6, from, atom(''), atom('x'))).subarray(0, 9)]))],
    ['unknown control tag', frameOf(Buffer.concat([Buffer.of(112), encode(tuple(99, from))]))],
    ['control not a tuple', frameOf(Buffer.concat([Buffer.of(112), encode([1, 2])]))],
    ['bad atom cache ref', frameOf(Buffer.of(131, 68, 1, 0x00, 5, 104, 1, 82, 0))],
    ['unknown fragment continuation', frameOf(Buffer.concat([Buffer.of(131, 70), Buffer.alloc(15), Buffer.of(1)]))],
    ['bad version byte', frameOf(Buffer.concat([Buffer.of(112, 130), encode(1).subarray(1)]))],
  ];
  const rounds = 15;
  const codes = new Map<string, string>();
  for (let i = 0; i < rounds; i++) {
    for (const [what, bytes] of garbage) {
      const p = await fakePeer(h, `bad${i}x${what.replace(/\W/g, '')}${uniq}@127.0.0.1`);
      await h.until(() => h.connections.some((c) => c.peer.startsWith(`bad${i}x${what.replace(/\W/g, '')}`)));
      const c = h.connections.find((x) => x.peer.startsWith(`bad${i}x${what.replace(/\W/g, '')}`))!;
      // A valid message first, then the garbage in the same write.
      p.socket.write(Buffer.concat([valid, bytes]));
      const err = await closed(c);
      codes.set(what, err?.code ?? 'none');
      if (err === undefined || !/^ERR_(DIST_PROTOCOL|FRAME_TOO_LARGE)$/.test(err.code)) t.fail(`${what}: ${err?.code}`);
      await h.next(c, (m) => m.kind === 'reg_send', 5000); // the valid message before it was delivered
      p.socket.destroy();
    }
  }
  for (const [what, code] of codes) t.match(code, /^ERR_(DIST_PROTOCOL|FRAME_TOO_LARGE)$/, `${what} -> ${code}`);
  t.notOk(goodConn.closed, `the well-behaved connection survived ${rounds * garbage.length} bad peers`);
  good.socket.write(valid);
  t.match(await h.next(goodConn, (m: ControlMessage) => m.kind === 'reg_send'), { kind: 'reg_send', from });
});

t.test('send after close, graceful close, stats', async (t) => {
  const h = await Harness.start(t, { name: node, cookie: 'c' });
  const p = await fakePeer(h, `grace${uniq}@127.0.0.1`);
  await h.until(() => h.connections.length === 1);
  const c = h.connections[0];
  const got: Buffer[] = [];
  p.socket.on('data', (d: Buffer) => got.push(d));
  const to = new Pid(atom(`grace${uniq}@127.0.0.1`), 1, 0, 5);
  t.throws(() => c.send(tuple(2, atom(''), to), Symbol('no term') as never), { code: 'ERR_ENCODE' }, 'unencodable payload');
  t.ok(c.send(tuple(2, atom(''), to), 'last words'), 'the connection is still usable');
  c.close();
  t.equal(await closed(c), undefined, 'a local close has no error');
  t.throws(() => c.send(tuple(2, atom(''), to), 'x'), { code: 'ERR_CONNECTION_CLOSED' });
  await new Promise((r) => p.socket.once('end', r));
  t.ok(Buffer.concat(got).includes(Buffer.from('last words')), 'queued frames flushed before the FIN');
  t.equal(c.stats.messagesOut, 1);
  const frames: Buffer[] = [];
  new FrameSplitter().push(Buffer.concat(got), (f) => frames.push(f));
  const payloads = frames.filter((f) => f.length > 0).map((f) => new DistDecoder().decodeFrame(f)!.payload);
  t.same(payloads, [Buffer.from('last words')], 'the failed encode left no partial frame');
  t.equal(c.pendingFragments, 0);
  t.equal(c.busy, false);
  // Peer closing is reported as ERR_CONNECTION_CLOSED.
  const p2 = await fakePeer(h, `bye${uniq}@127.0.0.1`);
  await h.until(() => h.connections.length === 2);
  p2.socket.end();
  t.match(await closed(h.connections[1]), { code: 'ERR_CONNECTION_CLOSED' });
  t.equal(DEFAULT_DFLAGS & 1n, 0n);
});
