// The dissector on frames captured live between the Node client and server
// (through a recording relay), in binary and compact, framed and unframed,
// with and without the IDL; and on malformed input. The captured frames are
// kept in test/thrift/fixtures/*.hex for the CLI's `thrift decode` tests
// (BEAMBRIDGE_UPDATE_FIXTURES=1 rewrites them).
import t from 'tap';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ChatChannelClient, serveChatChannel, ChatChannelService } from '../../src/thrift/gen/chat.js';
import { dissectThriftMessage, formatThriftDissection, type DissectedValue } from '../../src/thrift/dissect.js';
import { parseThriftIdl } from '../../src/thrift/idl.js';
import { ThriftProtocolError } from '../../src/thrift/errors.js';
import type { MethodDescriptor } from '../../src/thrift/service.js';
import { refHandler } from './ref.js';

const repo = join(new URL('.', import.meta.url).pathname, '..', '..');
const fixtures = join(repo, 'test', 'thrift', 'fixtures');
const idl = parseThriftIdl(readFileSync(join(repo, 'idl', 'chat.thrift'), 'utf8'));

/** Splits a byte stream into frames (each with its 4-byte header). */
function frames(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i + 4 <= stream.length; ) {
    const n = stream.readInt32BE(i);
    out.push(stream.subarray(i, i + 4 + n));
    i += 4 + n;
  }
  return out;
}

/** A relay in front of `port` that records both directions. */
async function recordingRelay(port: number) {
  const up: Buffer[] = [];
  const down: Buffer[] = [];
  const socks: Socket[] = [];
  const relay = createServer((client) => {
    const server = connect({ port, host: '127.0.0.1' });
    socks.push(client, server);
    client.on('data', (d: Buffer) => (up.push(d), server.write(d)));
    server.on('data', (d: Buffer) => (down.push(d), client.write(d)));
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    port: (relay.address() as { port: number }).port,
    requests: () => frames(Buffer.concat(up)),
    replies: () => frames(Buffer.concat(down)),
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        relay.close(() => r());
      }),
  };
}

/** Captures request and reply frames of a few calls, per protocol. */
async function capture(protocol: 'binary' | 'compact') {
  const srv = await serveChatChannel(refHandler, { protocol });
  const relay = await recordingRelay(srv.port);
  const c = await ChatChannelClient.connect({ port: relay.port, protocol, poolSize: 1, firstSeqId: 7 });
  await c.send(42, 43, 'hello', 'c-1');
  await c.presence([2n ** 53n + 1n, 2n ** 63n - 1n]);
  await c.send(1, 0, 'nobody', 'c-2').catch(() => undefined);
  const nope: MethodDescriptor<[], void> = { ...(ChatChannelService.methods['touch'] as MethodDescriptor<[], void>), name: 'nope', writeArgs: (p) => (p.writeStructBegin('a'), p.writeFieldStop(), p.writeStructEnd()) };
  await c.thrift.call(nope, []).catch(() => undefined);
  await c.poll(10, 5, 0);
  await c.close();
  await relay.close();
  await srv.close();
  const [sendCall, presenceCall, , , pollCall] = relay.requests();
  const [sendReply, presenceReply, notOnlineReply, unknownReply, pollReply] = relay.replies();
  return { sendCall, sendReply, presenceCall, presenceReply, notOnlineReply, unknownReply, pollCall, pollReply } as Record<string, Buffer>;
}

const find = (fields: { id: number; value: DissectedValue }[], id: number) => fields.find((f) => f.id === id)!.value;

for (const protocol of ['binary', 'compact'] as const) {
  t.test(`${protocol}: captured frames dissect, with and without the IDL`, async (t) => {
    const cap = await capture(protocol);
    // Keep the captures for the CLI tests.
    for (const [name, bytes] of Object.entries(cap)) {
      const file = join(fixtures, `${protocol}-${name}.hex`);
      if (process.env.BEAMBRIDGE_UPDATE_FIXTURES === '1' || !existsSync(file)) {
        mkdirSync(fixtures, { recursive: true });
        writeFileSync(file, bytes.toString('hex') + '\n');
      }
      t.equal(readFileSync(file, 'utf8').trim(), bytes.toString('hex'), `fixture ${protocol}-${name} matches a live capture`);
    }

    const call = dissectThriftMessage(cap.sendCall!);
    t.match(call, { protocol, framed: true, messageType: 'call', method: 'send', seqid: 7, structName: 'send_args', trailing: 0 });
    t.equal(call.frameLength, cap.sendCall!.length - 4);
    t.same(
      call.fields.map((f) => [f.id, f.name, f.value.type]),
      [
        [1, undefined, 'i64'],
        [2, undefined, 'i64'],
        [3, undefined, 'string'],
        [4, undefined, 'string'],
      ],
      'without the IDL: ids and types only',
    );
    const named = dissectThriftMessage(cap.sendCall!, { idl });
    t.same(
      named.fields.map((f) => [f.name, f.value.type === 'i64' || f.value.type === 'string' ? f.value.value : null]),
      [
        ['fromId', 42n],
        ['toId', 43n],
        ['text', 'hello'],
        ['clientMsgId', 'c-1'],
      ],
    );
    t.equal(named.service, 'ChatChannel');

    const reply = dissectThriftMessage(cap.sendReply!, { idl, protocol });
    t.match(reply, { messageType: 'reply', method: 'send', seqid: 7, structName: 'send_result' });
    const success = find(reply.fields, 0);
    t.equal(reply.fields[0]!.name, 'success');
    t.ok(success.type === 'struct' && success.typeName === 'ChatMessage');
    if (success.type === 'struct') {
      t.same(
        success.fields.map((f) => f.name),
        ['id', 'fromId', 'toId', 'text', 'sentAtMs', 'clientMsgId'],
      );
    }

    const pres = dissectThriftMessage(cap.presenceReply!, { idl });
    const map = find(pres.fields, 0);
    t.equal(map.type, 'map');
    if (map.type === 'map') {
      t.same(
        map.entries.map((e) => [e.key.type === 'i64' ? e.key.value : null, e.value.type === 'i32' ? e.value.enumValue : null]),
        [
          [2n ** 53n + 1n, 'OFFLINE'],
          [2n ** 63n - 1n, 'IDLE'],
        ],
        'i64 keys above 2^53 exact; enum names from the IDL',
      );
    }

    const no = dissectThriftMessage(cap.notOnlineReply!, { idl });
    t.equal(no.fields[0]!.name, 'no', 'a declared exception is named');
    const unknown = dissectThriftMessage(cap.unknownReply!, { idl });
    t.match(unknown, { messageType: 'exception', structName: 'TApplicationException' });
    t.same(
      unknown.fields.map((f) => f.name),
      ['message', 'type'],
    );

    const poll = dissectThriftMessage(cap.pollReply!, { idl });
    const text = formatThriftDissection(poll);
    t.match(text, /reply ChatChannel\.poll seqid=11/);
    t.match(text, /status: i32 0 \(PollStatus\.EVENTS\)/);
    t.match(text, /typing: struct Typing/);
    t.match(text, /active: bool true/);

    // Unframed: the same message without its frame header.
    const unframed = dissectThriftMessage(cap.sendCall!.subarray(4));
    t.match(unframed, { framed: false, method: 'send', seqid: 7, protocol });
    t.equal(dissectThriftMessage(cap.sendCall!.subarray(4), { framed: false, protocol }).fields.length, 4);
  });
}

t.test('malformed input: typed errors with offsets', async (t) => {
  const cap = await capture('binary');
  const call = cap.sendCall!;
  const err = (b: Uint8Array, o = {}) => {
    try {
      dissectThriftMessage(b, o);
    } catch (e) {
      return e as ThriftProtocolError;
    }
    return undefined;
  };
  for (let n = 5; n < call.length; n += 7) {
    const e = err(call.subarray(4, n), { framed: false });
    t.ok(e instanceof ThriftProtocolError, `truncated at ${n}`);
  }
  t.match(err(call.subarray(0, 10)), { code: 'ERR_THRIFT_TRUNCATED' }, 'frame shorter than declared');
  t.match(err(Buffer.from([0, 0, 0, 0, 0]), { framed: true }), { code: 'ERR_THRIFT_TRUNCATED' });
  const bad = Buffer.from(call);
  bad[4 + 4 + 4 + 4 + 4] = 0x42; // first field's type byte
  const e = err(bad);
  t.ok(e instanceof ThriftProtocolError);
  t.ok(e!.offset >= 0, `offset ${e!.offset} reported`);
  // Nesting deeper than the limit: list<list<list<...>>>.
  const deep = Buffer.concat([
    Buffer.from([0x80, 1, 0, 1, 0, 0, 0, 1, 0x78, 0, 0, 0, 1]), // call "x", seqid 1
    Buffer.from([0x0f, 0, 1]), // field 1: list
    ...Array.from({ length: 70 }, () => Buffer.from([0x0f, 0, 0, 0, 1])), // list<list<...>> of one element
    Buffer.from([0x08, 0, 0, 0, 0, 0]), // innermost list<i32> (empty), stop
  ]);
  t.match(err(deep, { framed: false }), { code: 'ERR_THRIFT_DEPTH' });
  t.match(err(deep.subarray(0, 13 + 3 + 5 * 10), { framed: false, maxDepth: 4 }), { code: 'ERR_THRIFT_DEPTH' });
  const ok = Buffer.concat([deep.subarray(0, 13 + 3 + 5 * 3), Buffer.from([0x08, 0, 0, 0, 0, 0])]);
  t.equal(dissectThriftMessage(ok, { framed: false }).fields.length, 1, 'shallow nesting is fine');
});
