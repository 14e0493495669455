// The handshake between two in-process endpoints: both directions, digests,
// NAME_ME, statuses, simultaneous connect, deadlines and malformed input.
import t from 'tap';
import { socketPair } from '../../src/testing/index.js';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import {
  acceptHandshake,
  initiateHandshake,
  genDigest,
  resolveSimultaneous,
  splitNodeName,
  DEFAULT_DFLAGS,
  DFLAG,
  REQUIRED_DFLAGS,
  MANDATORY_DFLAGS_25,
  expandFlags,
  flagNames,
  DistError,
  type AcceptOptions,
  type InitiateOptions,
} from '../../src/dist/index.js';
import { Harness, uniq } from './harness.js';
import { until } from '../helpers/until.js';

const A = { name: 'alpha@127.0.0.1', cookie: 'secret', creation: 0x11223344 };
const B = { name: 'beta@127.0.0.1', cookie: 'secret', creation: 0x55667788 };

t.test('digest is MD5(cookie ++ decimal challenge)', async (t) => {
  const expect = createHash('md5').update('secret4294967295').digest();
  t.same(genDigest(0xffffffff, 'secret'), expect);
  t.same(genDigest(-1, 'secret'), expect, 'challenge taken as unsigned');
});

t.test('flags helpers', async (t) => {
  t.equal(MANDATORY_DFLAGS_25, 0x1070f94n, 'the OTP 25 mandatory set');
  t.equal(expandFlags(DFLAG.MANDATORY_25_DIGEST) & MANDATORY_DFLAGS_25, MANDATORY_DFLAGS_25);
  t.equal(expandFlags(DFLAG.PUBLISHED), DFLAG.PUBLISHED);
  t.ok((DEFAULT_DFLAGS & REQUIRED_DFLAGS) === REQUIRED_DFLAGS);
  for (const f of [DFLAG.SEND_SENDER, DFLAG.EXIT_PAYLOAD, DFLAG.ALIAS, DFLAG.SPAWN, DFLAG.ALTACT_SIG, DFLAG.PUBLISHED]) {
    t.equal(DEFAULT_DFLAGS & f, 0n, `${flagNames(f)} not advertised by default`);
  }
  t.same(flagNames(DFLAG.V4_NC | (1n << 60n)), ['V4_NC', '0x1000000000000000']);
  t.same(splitNodeName('a@b'), { alive: 'a', host: 'b' });
  t.equal(splitNodeName('a@b@c'), undefined);
  t.equal(splitNodeName('@b'), undefined);
  t.equal(resolveSimultaneous('b@h', 'a@h'), 'nok');
  t.equal(resolveSimultaneous('a@h', 'b@h'), 'ok_simultaneous');
});

t.test('both directions agree, and leftover bytes reach the frame stream', async (t) => {
  const [a, b] = await socketPair(t);
  const accept = acceptHandshake(b, { ...B, flags: DEFAULT_DFLAGS | DFLAG.PUBLISHED });
  const init = initiateHandshake(a, { ...A, peer: B.name });
  const [ra, rb] = await Promise.all([init, accept]);
  t.equal(ra.peer, B.name);
  t.equal(rb.peer, A.name);
  t.equal(ra.peerCreation, B.creation);
  t.equal(rb.peerCreation, A.creation);
  t.equal(ra.flags, DEFAULT_DFLAGS);
  t.equal(rb.flags, DEFAULT_DFLAGS, 'negotiated = intersection');
  t.equal(ra.status, 'ok');
  t.ok(ra.initiator);
  t.notOk(rb.initiator);
  // Bytes sent right after the handshake are not lost.
  b.write(Buffer.from('after'));
  const got: Buffer[] = [];
  a.on('data', (d: Buffer) => got.push(d));
  a.resume();
  const text = () => Buffer.concat([ra.leftover, ...got]).toString();
  await until(() => text().length >= 'after'.length);
  t.equal(text(), 'after');
});

t.test('the ack and the first frame in one TCP chunk', async (t) => {
  // A scripted acceptor that writes its ack and a tick in one write.
  const [a, b] = await socketPair(t);
  const init = initiateHandshake(a, { ...A, peer: B.name });
  const read = async () => {
    const [d] = (await once(b, 'data')) as [Buffer];
    return d;
  };
  await read(); // send_name
  b.write(Buffer.from([0, 3, 0x73, 0x6f, 0x6b])); // "sok"
  const n = Buffer.alloc(19 + B.name.length);
  n[0] = 0x4e;
  n.writeBigUInt64BE(DEFAULT_DFLAGS, 1);
  n.writeUInt32BE(1234, 9);
  n.writeUInt32BE(B.creation, 13);
  n.writeUInt16BE(B.name.length, 17);
  n.write(B.name, 19);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(n.length);
  b.write(Buffer.concat([len, n]));
  const reply = await read();
  t.same(reply.subarray(7), genDigest(1234, 'secret'), 'our digest of their challenge');
  const ack = Buffer.concat([Buffer.of(0, 17, 0x61), genDigest(reply.readUInt32BE(3), 'secret')]);
  b.write(Buffer.concat([ack, Buffer.of(0, 0, 0, 0, 0, 0, 0, 1, 9)]));
  const r = await init;
  t.same([...r.leftover], [0, 0, 0, 0, 0, 0, 0, 1, 9]);
});

t.test('bad cookie is refused in both directions', async (t) => {
  {
    const [a, b] = await socketPair(t);
    const accept = acceptHandshake(b, { ...B, cookie: 'other' });
    const init = initiateHandshake(a, { ...A, peer: B.name });
    await t.rejects(accept, { code: 'ERR_BAD_COOKIE', peer: A.name }, 'acceptor sees a wrong reply');
    await t.rejects(init, { code: 'ERR_BAD_COOKIE' }, 'initiator sees the refusal');
  }
  {
    // An acceptor that knows our cookie-less digest trick: a wrong ack digest.
    const [a, b] = await socketPair(t);
    const accept = acceptHandshake(b, { ...B, cookie: (peer) => (peer === A.name ? 'secret' : 'x') });
    const init = initiateHandshake(a, { ...A, peer: B.name });
    await Promise.all([accept, init]);
    t.pass('per-peer cookie function');
  }
});

t.test('NAME_ME: the acceptor names the initiator', async (t) => {
  const [a, b] = await socketPair(t);
  const accept = acceptHandshake(b, { ...B, dynamicName: (host) => ({ name: `dyn1@${host}`, creation: 99 }) });
  const init = initiateHandshake(a, { ...A, name: '127.0.0.1', creation: 0, nameMe: true, peer: B.name });
  const [ra, rb] = await Promise.all([init, accept]);
  t.equal(ra.name, 'dyn1@127.0.0.1');
  t.equal(ra.creation, 99);
  t.equal(ra.status, 'named');
  t.equal(rb.peer, 'dyn1@127.0.0.1');
  t.equal(rb.peerCreation, 99);
  t.equal(ra.flags & DFLAG.NAME_ME, 0n, 'NAME_ME is not a capability');
  // Default dynamic names.
  const [c, d] = await socketPair(t);
  const [rc] = await Promise.all([
    initiateHandshake(c, { ...A, name: 'localhost', creation: 0, nameMe: true, peer: B.name }),
    acceptHandshake(d, B),
  ]);
  t.match(rc.name, /^[a-z]{12}@localhost$/);
});

t.test('statuses: not_allowed, nok, alive', async (t) => {
  const run = async (decision: AcceptOptions['decide'], onAlive?: InitiateOptions['onAlive']) => {
    const [a, b] = await socketPair(t);
    const acc = acceptHandshake(b, { ...B, decide: decision });
    const ini = initiateHandshake(a, { ...A, peer: B.name, onAlive });
    return Promise.allSettled([ini, acc]);
  };
  let [i, a] = await run(() => 'not_allowed');
  t.match(i, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_REFUSED' } });
  t.match(a, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_REFUSED' } });
  [i, a] = await run(() => 'nok');
  t.match(i, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_SIMULTANEOUS' } });
  t.match(a, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_SIMULTANEOUS' } });
  let replaced = 0;
  {
    const [x, y] = await socketPair(t);
    const acc = acceptHandshake(y, { ...B, decide: () => 'alive', beforeAck: () => void replaced++ });
    const ini = initiateHandshake(x, { ...A, peer: B.name });
    const [ri, ra] = await Promise.all([ini, acc]);
    t.equal(ri.status, 'alive');
    t.equal(ra.status, 'alive');
    t.equal(replaced, 1, 'beforeAck ran before the ack');
  }
  [i, a] = await run(
    () => 'alive',
    () => false,
  );
  t.match(i, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_REFUSED' } });
  t.match(a, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_REFUSED' } });
  [i] = await run(() => 'ok_simultaneous');
  t.match(i, { status: 'fulfilled', value: { status: 'ok_simultaneous' } });
});

t.test('missing mandatory flags are refused', async (t) => {
  const [a, b] = await socketPair(t);
  const acc = acceptHandshake(b, B);
  const ini = initiateHandshake(a, { ...A, peer: B.name, flags: DEFAULT_DFLAGS & ~DFLAG.UNLINK_ID & ~DFLAG.MANDATORY_25_DIGEST });
  const [ri, ra] = await Promise.allSettled([ini, acc]);
  t.match(ra, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_REFUSED', message: /UNLINK_ID/ } });
  t.match(ri, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_REFUSED' } }, 'initiator gets not_allowed');
  // And the initiator refuses an acceptor lacking them.
  const [c, d] = await socketPair(t);
  const acc2 = acceptHandshake(d, { ...B, flags: DEFAULT_DFLAGS & ~DFLAG.V4_NC, requiredFlags: 0n });
  const ini2 = initiateHandshake(c, { ...A, peer: B.name });
  const [ri2] = await Promise.allSettled([ini2, acc2]);
  t.match(ri2, { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_REFUSED', message: /V4_NC/ } });
  // MANDATORY_25_DIGEST alone stands for the OTP 25 set.
  const [e, f] = await socketPair(t);
  const digestOnly = (DEFAULT_DFLAGS & ~MANDATORY_DFLAGS_25) | DFLAG.MANDATORY_25_DIGEST;
  const [r1] = await Promise.all([initiateHandshake(e, { ...A, peer: B.name, flags: digestOnly }), acceptHandshake(f, B)]);
  t.equal(r1.peer, B.name);
});

t.test('the dialed name must match the challenge', async (t) => {
  const [a, b] = await socketPair(t);
  const r = await Promise.allSettled([initiateHandshake(a, { ...A, peer: 'gamma@127.0.0.1' }), acceptHandshake(b, B)]);
  t.match(r[0], { status: 'rejected', reason: { code: 'ERR_HANDSHAKE_NAME' } });
});

t.test('deadlines and aborts', async (t) => {
  const [a, b] = await socketPair(t);
  b.on('data', () => {}); // a silent acceptor
  await t.rejects(initiateHandshake(a, { ...A, peer: B.name, timeoutMs: 200 }), { code: 'ERR_HANDSHAKE_TIMEOUT' });
  t.ok(a.destroyed, 'socket destroyed on failure');
  const [c, d] = await socketPair(t);
  c.on('data', () => {});
  await t.rejects(acceptHandshake(d, { ...B, timeoutMs: 200 }), { code: 'ERR_HANDSHAKE_TIMEOUT' }, 'a silent initiator');
  const [e] = await socketPair(t);
  const ac = new AbortController();
  const p = initiateHandshake(e, { ...A, peer: B.name, signal: ac.signal });
  ac.abort();
  await t.rejects(p, { code: 'ERR_ABORTED' });
});

t.test('malformed handshake input drops only that socket', async (t) => {
  const cases: [string, Buffer][] = [
    ['zero length', Buffer.of(0, 0)],
    ['oversized length', Buffer.of(0xff, 0xff, 1, 2, 3)],
    ['old version-5 name', Buffer.concat([Buffer.of(0, 10, 0x6e, 0, 5), Buffer.alloc(4), Buffer.from('a@b')])],
    ['short N', Buffer.of(0, 3, 0x4e, 0, 0)],
    ['name past end', Buffer.concat([Buffer.of(0, 15, 0x4e), Buffer.alloc(12), Buffer.of(0, 9)])],
    ['not a node name', (() => {
      const n = Buffer.alloc(15 + 5);
      n[0] = 0x4e;
      n.writeBigUInt64BE(DEFAULT_DFLAGS, 1);
      n.writeUInt16BE(5, 13);
      n.write('nohst', 15);
      return Buffer.concat([Buffer.of(0, n.length), n]);
    })()],
    ['invalid UTF-8 name', (() => {
      const n = Buffer.alloc(15 + 3);
      n[0] = 0x4e;
      n.writeBigUInt64BE(DEFAULT_DFLAGS, 1);
      n.writeUInt16BE(3, 13);
      n.set([0x61, 0x40, 0xff], 15);
      return Buffer.concat([Buffer.of(0, n.length), n]);
    })()],
    ['name over 255 characters', (() => {
      const name = `${'a'.repeat(300)}@h`;
      const n = Buffer.alloc(15 + name.length);
      n[0] = 0x4e;
      n.writeBigUInt64BE(DEFAULT_DFLAGS, 1);
      n.writeUInt16BE(name.length, 13);
      n.write(name, 15);
      return Buffer.concat([Buffer.of(0, n.length), n]);
    })()],
  ];
  for (const [what, bytes] of cases) {
    const [a, b] = await socketPair(t);
    const acc = acceptHandshake(b, B);
    a.on('error', () => {});
    a.write(bytes);
    const err = await acc.catch((e: unknown) => e);
    t.ok(err instanceof DistError, `${what}: typed error`);
    t.match((err as DistError).code, /^ERR_HANDSHAKE_(PROTOCOL|NAME)$/, `${what}: ${(err as DistError).code}`);
    t.ok(b.destroyed, `${what}: socket dropped`);
  }
  // A peer that closes mid-handshake.
  const [a, b] = await socketPair(t);
  const acc = acceptHandshake(b, B);
  a.end(Buffer.of(0, 30, 0x4e));
  await t.rejects(acc, { code: 'ERR_CONNECTION_CLOSED' });
});

t.test('simultaneous connect between two in-process nodes resolves to one connection', async (t) => {
  for (const [x, y] of [
    [`sa${uniq}@127.0.0.1`, `sb${uniq}@127.0.0.1`],
    [`sd${uniq}@127.0.0.1`, `sc${uniq}@127.0.0.1`],
  ]) {
    const hx = await Harness.start(t, { name: x, cookie: 'c' });
    const hy = await Harness.start(t, { name: y, cookie: 'c' });
    const [rx, ry] = await Promise.allSettled([hx.connect(y, { port: hy.port }), hy.connect(x, { port: hx.port })]);
    const greater = x > y ? 'x' : 'y';
    const winner = greater === 'x' ? rx : ry;
    const loser = greater === 'x' ? ry : rx;
    t.equal(winner.status, 'fulfilled', `${greater === 'x' ? x : y} (greater name) keeps its dial`);
    t.match(loser, { status: 'rejected', reason: { code: /ERR_HANDSHAKE_SIMULTANEOUS|ERR_ABORTED/ } }, 'the other dial gives way');
    const acceptor = greater === 'x' ? hy : hx;
    await acceptor.until(() => acceptor.accepted.length === 1);
    t.equal(acceptor.accepted[0].peer, greater === 'x' ? x : y);
    const live = [...hx.connections, ...hy.connections].filter((c) => !c.closed);
    t.equal(live.length, 2, 'exactly one connection, one end on each side');
  }
});
