// The codec: golden bytes from the Thrift specs, i64 exact over its whole
// range in both protocols (struct fields and map keys), cross-checks against
// npm thrift's own unmodified protocol classes, compact bools in containers,
// bounded random round trips, and every truncation raising ThriftProtocolError.
import t from 'tap';
import thrift from 'thrift';
import {
  ChatChannel_presence,
  ChatMessage,
  NotOnline,
  PollResult,
  PollStatus,
  PresenceState,
  WrongPartition,
} from '../../src/thrift/gen/chat.js';
import { WriteBuffer, writerFor, readerFor, TType, BinaryProtocol, CompactProtocol } from '../../src/thrift/protocol.js';
import { encodeWith, decodeWith } from '../../src/thrift/codec.js';
import { ThriftEncodeError, ThriftProtocolError } from '../../src/thrift/errors.js';

const EXTREMES = [0n, 1n, -1n, 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n)];

t.test('golden bytes: Typing in binary and compact', async (t) => {
  const { Typing } = await import('../../src/thrift/gen/chat.js');
  const v = { fromId: 1n, toId: -2n, active: true };
  // binary: [type i64][id 1][8 bytes] ... [type bool][id 3][1] [stop]
  t.equal(
    Typing.encode(v, 'binary').toString('hex'),
    '0a00010000000000000001' + '0a0002fffffffffffffffe' + '02000301' + '00',
  );
  // compact: delta-1 i64 (0x16) zigzag(1)=2, delta-1 i64 zigzag(-2)=3, delta-1 bool-true (0x11), stop
  t.equal(Typing.encode(v, 'compact').toString('hex'), '1602' + '1603' + '11' + '00');
});

for (const protocol of ['binary', 'compact'] as const) {
  t.test(`${protocol}: i64 is exact in fields and map keys over the whole range`, async (t) => {
    for (const x of EXTREMES) {
      const m = { id: x, fromId: -x, toId: x, text: '', sentAtMs: x, clientMsgId: String(x) };
      if (x === -(2n ** 63n)) m.fromId = x; // -min is out of range
      t.same(ChatMessage.decode(ChatMessage.encode(m, protocol), protocol), m, `ChatMessage with ${x}`);
    }
    const map = new Map(EXTREMES.map((k, i) => [k, (i % 3) as PresenceState]));
    const out = new WriteBuffer(64);
    ChatChannel_presence.writeResult(writerFor(protocol, out), map as never); // a plain Map is accepted too
    const back = ChatChannel_presence.readResult(readerFor(protocol, out.toBuffer()));
    t.same([...back.entries()], [...map.entries()], 'map<i64, PresenceState> keeps every key, in order');
    t.equal(back.size, EXTREMES.length, 'no keys collapse');
  });

  t.test(`${protocol}: our bytes and npm thrift's unmodified protocol agree on i64`, async (t) => {
    const Npm = protocol === 'binary' ? thrift.TBinaryProtocol : thrift.TCompactProtocol;
    for (const x of EXTREMES) {
      const bytes = encodeWith(protocol, (p, v: bigint) => p.writeI64(v), x);
      const npm = new (Npm as unknown as new (t: unknown) => { readI64(): { buffer: Buffer; offset?: number } })(
        new (thrift.TFramedTransport as unknown as new (b: Buffer) => unknown)(bytes),
      );
      const toBigInt = (thrift as unknown as { toBigInt(i: unknown): bigint }).toBigInt;
      t.equal(toBigInt(npm.readI64()), x, `npm thrift reads our ${x}`);
    }
  });

  t.test(`${protocol}: bools inside containers round-trip`, async (t) => {
    const bools = [true, false, true, true, false];
    const bytes = encodeWith(
      protocol,
      (p, v: boolean[]) => {
        p.writeListBegin(TType.BOOL, v.length);
        for (const b of v) p.writeBool(b);
        p.writeListEnd();
      },
      bools,
    );
    const back = decodeWith(
      protocol,
      (p) => {
        const h = p.readListBegin();
        return Array.from({ length: h.size }, () => p.readBool());
      },
      bytes,
    );
    t.same(back, bools);
  });

  t.test(`${protocol}: bounded random round trips of PollResult`, async (t) => {
    let seed = 99;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const big = () => BigInt.asIntN(64, (BigInt(rnd(1 << 30)) << 34n) ^ BigInt(rnd(1 << 30)) ^ (rnd(2) ? -1n : 0n));
    const text = () => String.fromCodePoint(...Array.from({ length: rnd(60) }, () => [0x41 + rnd(26), 0xe9, 0x1f600, 0x4e2d][rnd(4)]!));
    for (let i = 0; i < 200; i++) {
      const v: PollResult = {
        status: rnd(3) as PollStatus,
        seq: big(),
        events: Array.from({ length: rnd(5) }, () => ({
          seq: big(),
          message: rnd(2) ? { id: big(), fromId: big(), toId: big(), text: text(), sentAtMs: big(), clientMsgId: rnd(2) ? text() : undefined } : undefined,
          typing: rnd(2) ? { fromId: big(), toId: big(), active: rnd(2) === 1 } : undefined,
        })),
      };
      const back = PollResult.decode(PollResult.encode(v, protocol), protocol);
      if (JSON.stringify(back, (_, x) => (typeof x === 'bigint' ? `${x}n` : x)) !== JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))) {
        t.fail(`round trip #${i} differs`);
        return;
      }
    }
    t.pass('200 random PollResults round-trip');
  });

  t.test(`${protocol}: every truncation of a message raises ThriftProtocolError`, async (t) => {
    const v: PollResult = {
      status: PollStatus.EVENTS,
      seq: 2n ** 60n,
      events: [{ seq: 1n, message: { id: 1n, fromId: 2n, toId: 3n, text: 'hello', sentAtMs: 4n, clientMsgId: 'c' } }, { seq: 2n, typing: { fromId: 1n, toId: 2n, active: false } }],
    };
    const bytes = PollResult.encode(v, protocol);
    let bad = 0;
    for (let n = 0; n < bytes.length; n++) {
      try {
        PollResult.decode(bytes.subarray(0, n), protocol);
        bad++;
      } catch (e) {
        if (!(e instanceof ThriftProtocolError)) {
          t.fail(`prefix ${n}: ${String(e)}`);
          return;
        }
      }
    }
    t.equal(bad, 0, `all ${bytes.length} prefixes rejected`);
  });
}

t.test('encode errors are typed and leave nothing behind', async (t) => {
  t.throws(() => ChatMessage.encode({ id: 2n ** 63n, fromId: 0n, toId: 0n, text: '', sentAtMs: 0n }), ThriftEncodeError);
  t.throws(() => ChatMessage.encode({ id: 0.5 as unknown as bigint, fromId: 0n, toId: 0n, text: '', sentAtMs: 0n }), ThriftEncodeError);
  t.throws(() => ChatMessage.encode({ id: 1n, fromId: 0n, toId: 0n, text: 5 as unknown as string, sentAtMs: 0n }), ThriftEncodeError);
  t.throws(() => encodeWith('compact', (p, v: number) => p.writeI32(v), 2 ** 31), ThriftEncodeError);
  t.throws(() => encodeWith('binary', (p, v: number) => p.writeI16(v), 40000), ThriftEncodeError);
  t.equal(encodeWith('binary', (p, v: number) => p.writeI64(v), -1).toString('hex'), 'ffffffffffffffff', 'safe numbers are i64s too');
  t.equal(encodeWith('compact', (p, v: number) => p.writeI64(v), 2 ** 53 - 1).length, 8);
});

t.test('declared exceptions: codes, messages, codec', async (t) => {
  const wp = new WrongPartition({ userId: 1025n, owner: 'stub2@127.0.0.1', thriftPort: 9091 });
  t.equal(wp.code, 'ERR_THRIFT_WRONG_PARTITION');
  t.equal(wp.thriftName, 'WrongPartition');
  t.equal(wp.message, 'WrongPartition { userId: 1025, owner: "stub2@127.0.0.1", thriftPort: 9091 }');
  const back = WrongPartition.decode(WrongPartition.encode(wp, 'compact'), 'compact');
  t.ok(back instanceof WrongPartition);
  t.same([back.userId, back.owner, back.thriftPort], [1025n, 'stub2@127.0.0.1', 9091]);
  t.equal(new NotOnline({ userId: 5n }).code, 'ERR_THRIFT_NOT_ONLINE');
});

t.test('WriteBuffer grows and strings of any size encode', async (t) => {
  const w = new WriteBuffer(4);
  const long = 'é'.repeat(10_000) + '✓'.repeat(100);
  const p = writerFor('compact', w);
  p.writeString(long);
  p.writeString('x'.repeat(300));
  const r = readerFor('compact', w.toBuffer());
  t.equal(r.readString(), long);
  t.equal(r.readString(), 'x'.repeat(300));
  t.ok(new BinaryProtocol(new WriteBuffer()) instanceof thrift.TBinaryProtocol, 'our protocols are npm thrift protocols');
  t.ok(new CompactProtocol(new WriteBuffer()) instanceof thrift.TCompactProtocol);
});
