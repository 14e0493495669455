// The Node Thrift server under hostile input: truncated frames, bad type ids,
// huge lengths, garbage. Each closes only its own connection; the server keeps
// answering everyone else. Also: split reads, unknown methods, protocol `auto`.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { ChatChannelClient, serveChatChannel } from '../../src/thrift/gen/chat.js';
import { WriteBuffer, writerFor, readerFor, MessageType, TType, type ProtocolName } from '../../src/thrift/protocol.js';
import { readApplicationException } from '../../src/thrift/codec.js';
import { refHandler } from './ref.js';

/** A raw TCP peer: sends bytes, collects what comes back until the server closes or `ms` pass. */
async function rawExchange(
  port: number,
  chunks: Buffer[],
  ms = 2000,
  enough: (data: Buffer) => boolean = () => false,
): Promise<{ data: Buffer; closed: boolean }> {
  const s: Socket = connect({ port, host: '127.0.0.1' });
  await once(s, 'connect');
  const got: Buffer[] = [];
  let done: (closed: boolean) => void = () => {};
  const finished = new Promise<boolean>((r) => (done = r));
  s.on('data', (d: Buffer) => {
    got.push(d);
    if (enough(Buffer.concat(got))) done(false);
  });
  s.on('error', () => {});
  s.on('close', () => done(true));
  for (const c of chunks) s.write(c);
  const timer = setTimeout(() => done(false), ms);
  const closed = await finished;
  clearTimeout(timer);
  s.destroy();
  return { data: Buffer.concat(got), closed };
}

/** One framed message: header then `body` writes the args. */
function frame(protocol: ProtocolName, name: string, seqid: number, body: (p: ReturnType<typeof writerFor>) => void, type: number = MessageType.CALL): Buffer {
  const out = new WriteBuffer(64);
  out.pos = 4;
  const p = writerFor(protocol, out);
  p.writeMessageBegin(name, type, seqid);
  body(p);
  p.writeMessageEnd();
  out.buf.writeInt32BE(out.pos - 4, 0);
  return out.toBuffer();
}

const loginArgs = (id: bigint) => (p: ReturnType<typeof writerFor>) => {
  p.writeStructBegin('login_args');
  p.writeFieldBegin('userId', TType.I64, 1);
  p.writeI64(id);
  p.writeFieldEnd();
  p.writeFieldStop();
  p.writeStructEnd();
};

/** Reads the first reply frame: [header, app exception if any]. */
function firstReply(protocol: ProtocolName, data: Buffer) {
  const len = data.readInt32BE(0);
  const p = readerFor(protocol, data.subarray(4, 4 + len));
  const h = p.readMessageBegin();
  return { h, p, appError: h.mtype === MessageType.EXCEPTION ? readApplicationException(p) : undefined };
}

for (const protocol of ['binary', 'compact'] as const) {
  t.test(`${protocol}: malformed frames close only their own connection`, async (t) => {
    const errors: Error[] = [];
    const srv = await serveChatChannel(refHandler, { protocol, maxFrameBytes: 1 << 20, onError: (e) => errors.push(e) });
    t.teardown(() => srv.close());
    const good = await ChatChannelClient.connect({ port: srv.port, protocol, poolSize: 1 });
    t.teardown(() => good.close());
    t.equal(await good.login(1), 2n);

    // Truncated: a frame announcing 100 bytes, 10 sent, then the peer waits.
    const trunc = Buffer.alloc(14);
    trunc.writeInt32BE(100, 0);
    const r1 = await rawExchange(srv.port, [trunc], 200);
    t.equal(r1.data.length, 0, 'no reply to a partial frame');

    // Huge frame length: closed at once.
    const huge = Buffer.alloc(8);
    huge.writeInt32BE(0x7fffffff, 0);
    t.ok((await rawExchange(srv.port, [huge])).closed, 'huge frame length closes the connection');
    t.ok(errors.some((e) => (e as { code?: string }).code === 'ERR_THRIFT_FRAME_TOO_LARGE'), 'reported as frame too large');

    // Negative frame length.
    const neg = Buffer.alloc(8);
    neg.writeInt32BE(-5, 0);
    t.ok((await rawExchange(srv.port, [neg])).closed, 'negative frame length closes the connection');

    // Bad type id inside the args struct: PROTOCOL_ERROR, then closed.
    const badType = frame(protocol, 'login', 7, (p) => {
      p.writeStructBegin('login_args');
      p.writeFieldBegin('x', TType.I64, 1);
      p.writeI64(1n);
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
    });
    // Corrupt the field type of the first field (binary: byte after the header; compact: the low nibble).
    const hdrLen = protocol === 'binary' ? 4 + 4 + 4 + 5 + 4 : 4 + 1 + 1 + 1 + 1 + 5;
    badType[hdrLen] = protocol === 'binary' ? 0x7f : (badType[hdrLen]! & 0xf0) | 0x0e;
    const r2 = await rawExchange(srv.port, [badType]);
    t.ok(r2.closed, 'bad type id closes the connection');
    const rep = firstReply(protocol, r2.data);
    t.equal(rep.h.rseqid, 7);
    t.equal(rep.appError?.typeName, 'PROTOCOL_ERROR', 'answered with PROTOCOL_ERROR first');

    // Huge string length inside a small frame.
    const hugeString = frame(protocol, 'send', 8, (p) => {
      p.writeStructBegin('send_args');
      p.writeFieldBegin('text', TType.STRING, 3);
      p.writeString('abc');
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
    });
    if (protocol === 'binary') hugeString.writeInt32BE(0x7ffffff0, hugeString.indexOf('abc') - 4);
    else hugeString.set([0xf0, 0xff, 0xff, 0xff, 0x07], hugeString.indexOf('abc') - 1);
    const r3 = await rawExchange(srv.port, [hugeString]);
    t.ok(r3.closed, 'huge string length closes the connection');

    // Huge list size: refused before reading elements.
    const hugeList = frame(protocol, 'presence', 9, (p) => {
      p.writeStructBegin('presence_args');
      p.writeFieldBegin('userIds', TType.LIST, 1);
      p.writeListBegin(TType.I64, 1);
      p.writeI64(1n);
      p.writeListEnd();
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
    });
    let hugeListFrame: Buffer;
    if (protocol === 'binary') {
      const at = hugeList.indexOf(Buffer.from([TType.I64, 0, 0, 0, 1])) + 1;
      hugeList.writeInt32BE(0x7fffffff, at);
      hugeListFrame = hugeList;
    } else {
      // header, field 1 (delta) of type list, list header: size in a varint, elements i64.
      const body = Buffer.from([0x82, 0x21, 9, 8, ...Buffer.from('presence'), 0x19, 0xf6, 0xff, 0xff, 0xff, 0x7f, 0, 0]);
      hugeListFrame = Buffer.concat([Buffer.alloc(4), body]);
      hugeListFrame.writeInt32BE(body.length, 0);
    }
    const r4 = await rawExchange(srv.port, [hugeListFrame]);
    t.equal(firstReply(protocol, r4.data).appError?.typeName, 'PROTOCOL_ERROR');
    t.ok(r4.closed, 'huge list size closes the connection');

    // Bad protocol version byte.
    const badVersion = frame(protocol, 'login', 1, loginArgs(1n));
    badVersion[4] = protocol === 'binary' ? 0x81 : 0x83;
    t.ok((await rawExchange(srv.port, [badVersion])).closed, 'bad version closes the connection');

    // A reply (not a call) sent to the server.
    const r5 = await rawExchange(srv.port, [frame(protocol, 'login', 3, loginArgs(1n), MessageType.REPLY)]);
    t.equal(firstReply(protocol, r5.data).appError?.typeName, 'INVALID_MESSAGE_TYPE');
    t.ok(r5.closed);

    // Bounded garbage: random frames, each on its own connection.
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 8) & 0xff;
    for (let i = 0; i < 40; i++) {
      const n = 1 + (rnd() % 64);
      const body = Buffer.from(Array.from({ length: n }, rnd));
      if (i % 2 === 0) body[0] = protocol === 'binary' ? 0x80 : 0x82;
      const f = Buffer.alloc(4 + n);
      f.writeInt32BE(n, 0);
      body.copy(f, 4);
      await rawExchange(srv.port, [f], 100);
    }

    t.equal(await good.login(41), 42n, 'the well-behaved connection never noticed');
    t.equal(srv.connections, 1, 'every bad connection is gone');
  });

  t.test(`${protocol}: split reads, unknown method (connection stays), pipelined raw frames`, async (t) => {
    const srv = await serveChatChannel(refHandler, { protocol });
    t.teardown(() => srv.close());
    const req = frame(protocol, 'login', 11, loginArgs(2n ** 62n));
    const unknown = frame(protocol, 'nope', 12, (p) => {
      p.writeStructBegin('nope_args');
      p.writeFieldBegin('a', TType.STRING, 1);
      p.writeString('ignored');
      p.writeFieldEnd();
      p.writeFieldStop();
      p.writeStructEnd();
    });
    const all = Buffer.concat([unknown, req]);
    const bytes = [...all].map((b) => Buffer.from([b])); // one byte per write
    const twoFrames = (d: Buffer) => d.length >= 4 && d.length >= 8 + d.readInt32BE(0) && d.length >= 8 + d.readInt32BE(0) + d.readInt32BE(4 + d.readInt32BE(0));
    const r = await rawExchange(srv.port, bytes, 30_000, twoFrames);
    t.notOk(r.closed, 'the connection stays open');
    const first = firstReply(protocol, r.data);
    t.equal(first.appError?.typeName, 'UNKNOWN_METHOD');
    t.equal(first.h.rseqid, 12);
    const second = firstReply(protocol, r.data.subarray(4 + r.data.readInt32BE(0)));
    t.equal(second.h.mtype, MessageType.REPLY);
    t.equal(second.h.rseqid, 11);
    second.p.readStructBegin();
    const f = second.p.readFieldBegin();
    t.equal(f.fid, 0);
    t.equal(second.p.readI64(), 2n ** 62n + 1n);
  });
}

t.test('protocol auto: binary and compact clients on one server', async (t) => {
  const srv = await serveChatChannel(refHandler, { protocol: 'auto' });
  t.teardown(() => srv.close());
  const b = await ChatChannelClient.connect({ port: srv.port, protocol: 'binary' });
  const c = await ChatChannelClient.connect({ port: srv.port, protocol: 'compact' });
  t.teardown(async () => {
    await b.close();
    await c.close();
  });
  t.equal(await b.login(1), 2n);
  t.equal(await c.login(2), 3n);
  t.same([...(await c.presence([2n ** 63n - 1n]))], [[2n ** 63n - 1n, 1]]);
});

t.test('handler results that cannot be encoded become INTERNAL_ERROR', async (t) => {
  const srv = await serveChatChannel({
    ...refHandler,
    login: () => 2n ** 64n,
    partitionMap: () => undefined as never,
  });
  t.teardown(() => srv.close());
  const c = await ChatChannelClient.connect({ port: srv.port });
  t.teardown(() => c.close());
  await t.rejects(c.login(1), { code: 'ERR_THRIFT_APPLICATION', typeName: 'INTERNAL_ERROR' });
  await t.rejects(c.partitionMap(), { code: 'ERR_THRIFT_APPLICATION', message: /returned no result/ });
  t.same(await c.friendsPresence(1), refHandler.friendsPresence(1n, undefined as never));
});
