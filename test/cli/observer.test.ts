// DistObserver (src/dist/observer.ts), the engine of `beambridge tap`: bytes of
// a real link between two erl nodes are recorded through an in-process relay,
// then replayed whole and one byte at a time; both must give the same events.
import t, { type Test } from 'tap';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { EpmdClient, EpmdServer } from '../../src/epmd/index.js';
import { DistObserver, parseHandshakeMessage, controlOpName, type ObservedSide, type ObserverEvent } from '../../src/dist/observer.js';
import { termToJson } from '../../src/etf/index.js';
import type { Term } from '../../src/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';

const COOKIE = 'obscookie';
type Chunk = [ObservedSide, Buffer];

/** Records a real link: node obsa dials obsb through a relay that keeps every chunk. */
async function record(t: Test): Promise<Chunk[]> {
  const epmdPort = await startEpmd(t);
  await startErlNode(t, { name: 'obsb@127.0.0.1', cookie: COOKIE, epmdPort, eval: 'bb_cli:observed()', modules: [erlModule('bb_cli')] });
  const target = (await new EpmdClient({ port: epmdPort }).portPlease('obsb'))!.port;
  const chunks: Chunk[] = [];
  const sockets = new Set<Socket>();
  const relay = createServer((c) => {
    const s = connect({ host: '127.0.0.1', port: target });
    sockets.add(c).add(s);
    c.on('data', (d: Buffer) => chunks.push(['initiator', Buffer.from(d)]));
    s.on('data', (d: Buffer) => chunks.push(['acceptor', Buffer.from(d)]));
    c.on('error', () => {});
    s.on('error', () => {});
    c.pipe(s);
    s.pipe(c);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  const relayPort = (relay.address() as { port: number }).port;
  const epmd = await EpmdServer.start({ port: 0, resolve: (n) => (n === 'obsb' ? relayPort : undefined) });
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    relay.close();
    await epmd.close();
  });
  await startErlNode(t, {
    name: 'obsa@127.0.0.1',
    cookie: COOKIE,
    epmdPort: epmd.port,
    eval: "{obsreg, 'obsb@127.0.0.1'} ! {ping, self()}, receive {pong, _, _} -> ok after 10000 -> exit(no_pong) end",
  });
  return chunks;
}

/** Events as comparable JSON text (terms through the lossless JSON form). */
function replay(chunks: Chunk[], split: boolean, cookie = COOKIE): { events: ObserverEvent[]; text: string[] } {
  const events: ObserverEvent[] = [];
  const o = new DistObserver({ onEvent: (e) => events.push(e), cookie });
  for (const [side, data] of chunks) {
    if (split) for (let i = 0; i < data.length; i++) o.push(side, data.subarray(i, i + 1));
    else o.push(side, data);
  }
  const text = events.map((e) =>
    JSON.stringify(e, (k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString(16);
      if ((k === 'control' || k === 'payload') && v !== undefined) return termToJson(v as Term);
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') return Buffer.from((v as { data: number[] }).data).toString('hex');
      return v;
    }),
  );
  return { events, text };
}

t.test('a recorded link decodes the same whole and one byte at a time', async (t) => {
  const chunks = await record(t);
  t.ok(chunks.length > 4, `${chunks.length} chunks recorded`);
  const whole = replay(chunks, false);
  const bytes = replay(chunks, true);
  t.same(bytes.text, whole.text, 'byte-at-a-time replay gives the same events');
  const steps = whole.events.filter((e) => e.type === 'handshake').map((e) => (e.type === 'handshake' ? `${e.from}:${e.message.step}` : ''));
  t.same(steps, ['initiator:send_name', 'acceptor:status', 'acceptor:challenge', 'initiator:challenge_reply', 'acceptor:challenge_ack']);
  const est = whole.events.find((e) => e.type === 'established');
  t.match(est, { initiator: 'obsa@127.0.0.1', acceptor: 'obsb@127.0.0.1' });
  for (const e of whole.events) {
    if (e.type === 'handshake' && 'digestOk' in e.message) t.equal(e.message.digestOk, true, `${e.message.step}: digest checks out`);
  }
  const msgs = whole.events.filter((e): e is Extract<ObserverEvent, { type: 'message' }> => e.type === 'message');
  const ping = msgs.find((m) => m.opName === 'REG_SEND' && termToJson(m.control).includes('obsreg'));
  t.ok(ping, 'the REG_SEND to obsreg');
  t.match(termToJson(ping!.payload!), /^\{"\$tuple":\[\{"\$atom":"ping"\},\{"\$pid":\{"node":"obsa@127\.0\.0\.1"/);
  const pong = msgs.find((m) => m.payload !== undefined && termToJson(m.payload).startsWith('{"$tuple":[{"$atom":"pong"}'));
  t.ok(pong, 'the reply');
  t.match(pong!.frame, { kind: 'fragmented' }, 'a 200 KB message arrives in fragments');
  t.ok(pong!.frame.fragments > 1);
  t.notOk(whole.events.some((e) => e.type === 'error'), 'no decode errors');

  const wrong = replay(chunks, false, 'not the cookie');
  const digests = wrong.events.flatMap((e) => (e.type === 'handshake' && 'digestOk' in e.message ? [e.message.digestOk] : []));
  t.same(digests, [false, false], 'a different cookie: both digests are flagged');
});

t.test('a garbage frame stops decoding of that direction only', async (t) => {
  const events: ObserverEvent[] = [];
  const o = new DistObserver({ onEvent: (e) => events.push(e) });
  const hs = (body: Buffer) => Buffer.concat([Buffer.from([body.length >> 8, body.length & 255]), body]);
  const name = (n: string) => Buffer.from(n);
  const sendName = Buffer.concat([Buffer.from('N'), Buffer.alloc(8), Buffer.from([0, 0, 0, 1, 0, 3]), name('a@h')]);
  const challenge = Buffer.concat([Buffer.from('N'), Buffer.alloc(8), Buffer.from([0, 0, 0, 9, 0, 0, 0, 2, 0, 3]), name('b@h')]);
  o.push('initiator', hs(sendName));
  o.push('acceptor', Buffer.concat([hs(Buffer.from('sok')), hs(challenge)]));
  o.push('initiator', hs(Buffer.concat([Buffer.from('r'), Buffer.alloc(20)])));
  // The ack and, in the same chunk, a tick and a pass-through frame: control {2, '', y}, payload x.
  const send = Buffer.from([112, 131, 104, 3, 97, 2, 119, 0, 119, 1, 121, 131, 119, 1, 120]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, send.length]), send]);
  o.push('acceptor', Buffer.concat([hs(Buffer.concat([Buffer.from('a'), Buffer.alloc(16)])), Buffer.alloc(4), frame]));
  o.push('initiator', Buffer.from([0, 0, 0, 3, 9, 9, 9]));
  o.push('initiator', frame);
  o.push('acceptor', frame);
  t.same(
    events.map((e) => e.type + (e.type === 'message' ? `:${e.opName}` : e.type === 'error' ? `:${e.from}:${e.error.code}` : '')),
    ['handshake', 'handshake', 'handshake', 'handshake', 'handshake', 'established', 'tick', 'message:SEND', 'error:initiator:ERR_DIST_PROTOCOL', 'message:SEND'],
    'after the bad frame the initiator side is ignored, the acceptor side still decodes',
  );
  // Each event has its own control term: a consumer mutating one does not change the next.
  const sends = () => events.filter((e): e is Extract<ObserverEvent, { type: 'message' }> => e.type === 'message');
  (sends()[1].control as { elements: unknown[] }).elements[0] = 99;
  o.push('acceptor', frame);
  const third = sends()[2];
  t.not(third.control, sends()[1].control, 'a fresh control term per event');
  t.equal((third.control as { elements: unknown[] }).elements[0], 2, 'unchanged by the mutation of an earlier event');
});

t.test('handshake messages: every step, old and new formats', async (t) => {
  t.match(parseHandshakeMessage(Buffer.from('n\x00\x05\x00\x00\x00\x04a@h', 'latin1'), 'initiator'), { step: 'send_name', version: 5, name: 'a@h', flags: 4n });
  t.match(parseHandshakeMessage(Buffer.from('n\x00\x05\x00\x00\x00\x04\x00\x00\x00\x07b@h', 'latin1'), 'acceptor'), { step: 'challenge', version: 5, challenge: 7, name: 'b@h' });
  t.match(parseHandshakeMessage(Buffer.from('salive'), 'acceptor'), { step: 'status', status: 'alive' });
  t.match(parseHandshakeMessage(Buffer.from('strue'), 'initiator'), { step: 'alive_answer', proceed: true });
  t.match(parseHandshakeMessage(Buffer.from('c\x00\x00\x00\x04\x00\x00\x00\x09', 'latin1'), 'initiator'), { step: 'complement', flagsHigh: 4, creation: 9 });
  const named = Buffer.concat([Buffer.from('snamed:'), Buffer.from([0, 3]), Buffer.from('x@h'), Buffer.from([0, 0, 0, 5])]);
  t.match(parseHandshakeMessage(named, 'acceptor'), { step: 'status', status: 'named', name: 'x@h', creation: 5 });
  t.throws(() => parseHandshakeMessage(Buffer.from('N\x00'), 'initiator'), { code: 'ERR_HANDSHAKE_PROTOCOL' });
  t.throws(() => parseHandshakeMessage(Buffer.from('?'), 'initiator'), { code: 'ERR_HANDSHAKE_PROTOCOL' });
  const badName = Buffer.concat([Buffer.from('N'), Buffer.alloc(12), Buffer.from([0, 1, 0xff])]);
  t.throws(() => parseHandshakeMessage(badName, 'initiator'), { code: 'ERR_HANDSHAKE_NAME' });
  // Version 6 'N' goes through the handshake's own parser, lenient about the
  // name's length (the handshake refuses a name over 255 characters; the
  // observer reports what it sees).
  const longName = `${'a'.repeat(300)}@h`;
  const sendName = Buffer.alloc(15 + longName.length);
  sendName[0] = 0x4e;
  sendName.writeBigUInt64BE(0xdn, 1);
  sendName.writeUInt32BE(9, 9);
  sendName.writeUInt16BE(longName.length, 13);
  sendName.write(longName, 15);
  t.match(parseHandshakeMessage(sendName, 'initiator'), { step: 'send_name', version: 6, flags: 0xdn, creation: 9, name: longName });
  const challenge = Buffer.alloc(19 + 3);
  challenge[0] = 0x4e;
  challenge.writeBigUInt64BE(0xen, 1);
  challenge.writeUInt32BE(77, 9);
  challenge.writeUInt32BE(8, 13);
  challenge.writeUInt16BE(3, 17);
  challenge.write('b@h', 19);
  t.match(parseHandshakeMessage(challenge, 'acceptor'), { step: 'challenge', version: 6, flags: 0xen, challenge: 77, creation: 8, name: 'b@h' });
  challenge.writeUInt16BE(4, 17);
  t.throws(() => parseHandshakeMessage(challenge, 'acceptor'), { code: 'ERR_HANDSHAKE_PROTOCOL' }, 'a name past the end');
  t.equal(controlOpName(6), 'REG_SEND');
  t.equal(controlOpName(99), 'op 99');
});
