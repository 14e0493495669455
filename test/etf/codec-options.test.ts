// Codec options (lossless, offset, version, atomCache, maxInflatedSize,
// compressed levels) and the TermWriter builder used by the distribution layer.
import { inflateSync } from 'node:zlib';
import t from 'tap';
import { DecodeError, EncodeError, Float, ImproperList, TermWriter, atom, decode, decodeWithLength, encode, tuple, type Term } from '../../src/etf/index.js';

const ext = (...b: number[]) => Buffer.from([131, ...b]);

t.test('lossless', async (t) => {
  const b = encode([new Float(1), new Float(-0), 2.5, 3]);
  t.same(decode(b), [1, -0, 2.5, 3], 'default: floats are numbers');
  t.same(decode(b, { lossless: true }), [new Float(1), new Float(-0), 2.5, 3], 'lossless: integral floats are Floats');
  t.same(encode(decode(b, { lossless: true })), b, 'lossless round trip is byte-exact');
  t.not(Buffer.compare(encode(decode(b)), b), 0, 'the default mapping is not lossless');
  t.same(decode(b, { lossless: false }), [1, -0, 2.5, 3]);
});

t.test('offset, version: false, decodeWithLength', async (t) => {
  const framed = Buffer.from([9, 9, 131, 104, 1, 97, 5, 7, 7]);
  t.same(decodeWithLength(framed, { offset: 2 }), { term: tuple(5), length: 5 }, 'from an offset, with the bytes used');
  t.throws(() => decode(framed, { offset: 2 }), { code: 'ERR_DECODE_TRAILING', offset: 7 });
  t.same(decode(framed.subarray(0, 7), { offset: 2 }), tuple(5));
  t.same(decode(Buffer.from([104, 1, 97, 5]), { version: false }), tuple(5), 'no version byte');
  t.same(decodeWithLength(Buffer.from([0, 97, 5, 97, 6]), { version: false, offset: 1 }), { term: 5, length: 2 });
  t.same(decodeWithLength(Buffer.from([0, 97, 5, 97, 6]), { version: false, offset: 3 }), { term: 6, length: 2 });
  t.same(decode(Buffer.from([131, 97, 1]), { offset: 0 }), 1);
  // Several terms back to back, as after a distribution header.
  const two = Buffer.concat([encode(atom('ctl'), { version: false }), encode(tuple(1, 2), { version: false })]);
  const first = decodeWithLength(two, { version: false });
  t.equal(first.term, atom('ctl'));
  t.same(decode(two, { version: false, offset: first.length }), tuple(1, 2));
  // Offsets in errors are absolute positions in the input.
  t.throws(() => decode(Buffer.from([0, 0, 0, 131, 98, 1]), { offset: 3 }), { code: 'ERR_DECODE_TRUNCATED', offset: 4, tag: 98 });
  // A compressed term with bytes after it: decodeWithLength counts only the term.
  const c = encode(new Array(200).fill(7), { compressed: true });
  t.equal(c[1], 80);
  const r = decodeWithLength(Buffer.concat([Buffer.from([1]), c, Buffer.from([2, 3])]), { offset: 1 });
  t.equal(r.length, c.length);
  t.same(r.term, new Array(200).fill(7));
});

t.test('version: false on encode', async (t) => {
  t.same([...encode(5, { version: false })], [97, 5]);
  t.same([...encode(5, { version: true })], [131, 97, 5]);
  t.same([...encode(5, {})], [131, 97, 5]);
});

t.test('compressed', async (t) => {
  const big = new Array(1000).fill(atom('hello'));
  const plain = encode(big);
  const z = encode(big, { compressed: true });
  t.same([...z.subarray(0, 2)], [131, 80], 'tag 80');
  t.equal(z.readUInt32BE(2), plain.length - 1, 'UncompressedSize is the plain size without the version byte');
  t.same(inflateSync(z.subarray(6)), plain.subarray(1), 'zlib data of the plain encoding');
  t.ok(z.length < plain.length);
  t.same(decode(z), big);
  for (let level = 1; level <= 9; level++) {
    const zl = encode(big, { compressed: level });
    t.equal(zl[1], 80, `level ${level}`);
    t.same(decode(zl), big);
  }
  t.same(encode(big, { compressed: 0 }), plain, 'level 0 does not shrink: plain encoding');
  t.same(encode(atom('x'), { compressed: true }), encode(atom('x')), 'small terms stay plain (as term_to_binary)');
  t.same(encode(big, { compressed: false }), plain);
  const nv = encode(big, { compressed: true, version: false });
  t.equal(nv[0], 80, 'version: false and compressed');
  t.same(decode(nv, { version: false }), big);
  t.throws(() => encode(1, { compressed: 10 }), EncodeError);
  t.throws(() => encode(1, { compressed: -1 }), EncodeError);
  t.throws(() => encode(1, { compressed: 1.5 }), EncodeError);
  t.throws(() => encode(1, { compressed: 'yes' as never }), EncodeError);
});

t.test('maxInflatedSize', async (t) => {
  const z = encode(new Array(1000).fill(1), { compressed: true });
  const size = z.readUInt32BE(2);
  t.same(decode(z, { maxInflatedSize: size }), new Array(1000).fill(1));
  t.throws(() => decode(z, { maxInflatedSize: size - 1 }), { code: 'ERR_DECODE_INFLATE_LIMIT', offset: 1, tag: 80 });
});

t.test('atomCache', async (t) => {
  const cache = new Array<ReturnType<typeof atom> | undefined>(256);
  cache[3] = atom('cached');
  cache[7] = atom('false');
  t.same(decode(ext(104, 2, 82, 3, 82, 7), { atomCache: cache }), tuple(atom('cached'), false));
  t.throws(() => decode(ext(82, 4), { atomCache: cache }), DecodeError);
});

t.test('TermWriter: a distribution frame', async (t) => {
  const w = new TermWriter();
  const len = w.reserveU32();
  w.writeU8(112).writeVersion().writeTerm(tuple(2, atom(''), atom('rex'))).writeVersion().writeTerm(tuple(atom('hi'), 1));
  w.patchU32(len, w.length - 4);
  const frame = w.finish();
  t.equal(frame.readUInt32BE(0), frame.length - 4, 'Len counts what follows it');
  t.equal(frame[4], 112, 'pass-through');
  const ctl = decodeWithLength(frame, { offset: 5 });
  t.same(ctl.term, tuple(2, atom(''), atom('rex')));
  t.same(decode(frame, { offset: 5 + ctl.length }), tuple(atom('hi'), 1));
  t.equal(w.length, 0, 'finish starts a new message');
});

t.test('TermWriter: raw writes, reset, patch bounds', async (t) => {
  const w = new TermWriter(1024);
  w.writeU8(1).writeU16(0x0203).writeU32(0x04050607).writeBytes(Buffer.from([8, 9]));
  w.writeBytes(Buffer.alloc(40, 10));
  t.equal(w.length, 49);
  const a = w.finish();
  t.same([...a.subarray(0, 9)], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  w.writeU8(99);
  w.reset();
  t.equal(w.length, 0, 'reset discards');
  t.same([...w.writeU8(5).finish()], [5]);
  const m = w.reserveU32();
  t.throws(() => w.patchU32(m + 1, 0), RangeError, 'a mark beyond the message');
  t.throws(() => w.patchU32(-1, 0), RangeError);
  w.patchU32(m, 0xdeadbeef);
  t.same([...w.finish()], [0xde, 0xad, 0xbe, 0xef]);
  t.same([...a.subarray(0, 3)], [1, 2, 3], 'earlier results are unchanged');
});

t.test('TermWriter: growth, large messages, many messages', async (t) => {
  const w = new TermWriter(1024);
  const mark = w.reserveU32();
  const big: Term[] = Array.from({ length: 5000 }, (_, i) => tuple(i, 'x'.repeat(i % 30)));
  w.writeTerm(big);
  w.patchU32(mark, w.length - 4);
  const out = w.finish();
  t.equal(out.readUInt32BE(0), out.length - 4, 'a mark survives buffer growth');
  t.same(decode(out, { version: false, offset: 4 }), big.map((x) => tuple((x as ReturnType<typeof tuple>).at(0), Buffer.from((x as ReturnType<typeof tuple>).at(1) as string))));
  const results: Buffer[] = [];
  for (let i = 0; i < 500; i++) results.push(w.writeVersion().writeTerm(i * 1000).finish());
  results.forEach((r, i) => t.equal(decode(r), i * 1000, `message ${i}`));
  const huge = w.writeVersion().writeTerm(Buffer.alloc(3 * 1024 * 1024, 3)).finish();
  t.equal(huge.length, 6 + 3 * 1024 * 1024);
  const small = w.writeVersion().writeTerm(1).finish();
  t.same([...small], [131, 97, 1]);
  t.equal(huge[huge.length - 1], 3);
  // A grown buffer mostly empty after a message is copied out, not kept.
  const w2 = new TermWriter(1024);
  w2.writeBytes(Buffer.alloc(100_000));
  w2.reset();
  const tiny = w2.writeU8(7).finish();
  t.same([...tiny], [7]);
  t.ok(tiny.buffer.byteLength < 100_000, 'a small result does not pin a large grown buffer');
});

t.test('TermWriter: an error discards the message', async (t) => {
  const w = new TermWriter();
  w.writeU32(7).writeVersion();
  t.throws(() => w.writeTerm([1, 2, () => 3] as unknown as Term), EncodeError);
  t.equal(w.length, 0, 'nothing of the failed message remains');
  w.writeVersion().writeTerm(atom('ok'));
  t.same(decode(w.finish()), atom('ok'), 'the writer works after the error');
  t.throws(() => w.writeTerm(NaN), EncodeError);
  t.throws(() => w.writeTerm(2n ** (8n * 4_194_296n)), EncodeError);
  t.same([...w.writeU8(1).finish()], [1]);
});

function nested(depth: number, inner: Term): Term {
  let x = inner;
  for (let i = 0; i < depth; i++) x = [x];
  return x;
}

t.test('TermWriter: the buffer grows at every point of a term', async (t) => {
  const terms: Term[] = [
    tuple(1, 2),
    [1, 300],
    new ImproperList([300], 1.5),
    new ImproperList([tuple()], tuple()),
    new ImproperList([1], new ImproperList([2], 3)),
    new Map<Term, Term>([[1, [2, 300]]]),
    [[[300]], [tuple(tuple())]],
    'x'.repeat(100),
    Buffer.alloc(80, 1),
    atom('a'.repeat(100)),
    new Array(300).fill(tuple()),
    2n ** 200n,
    nested(100, [300]),
    nested(70, tuple(1)),
    [atom('y'.repeat(62))],
    nested(3, [atom('y'.repeat(62))]),
    nested(40, [atom('z'.repeat(62))]),
    [1, new ImproperList([2], atom('y'.repeat(62)))],
  ];
  // Each term starts at every offset that makes the 1 KiB slab overflow
  // somewhere inside it, so every growth point of the encoder is exercised.
  let bad = 0;
  let runs = 0;
  for (const x of terms) {
    const expected = encode(x, { version: false });
    for (let pre = Math.max(0, 1024 - expected.length - 80); pre <= 1024; pre++) {
      const w = new TermWriter(1024);
      w.writeBytes(Buffer.alloc(pre, 9));
      w.writeTerm(x);
      const out = w.finish();
      runs++;
      if (!out.subarray(pre).equals(expected) || (pre > 0 && out[pre - 1] !== 9)) bad++;
    }
  }
  t.ok(runs > 1000, `${runs} placements`);
  t.equal(bad, 0, 'the same bytes whatever the buffer position');
});
