// Every DecodeError code of the codec, from crafted bytes: the code, the byte
// offset and the tag are asserted. Also: decode raises nothing but
// DecodeError for bad bytes, a zlib bomb is refused, and the decoder is
// usable after an error.
import { Writable } from 'node:stream';
import { createDeflate, deflateSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { DecodeError, atom, decode, decodeWithLength, type DecodeOptions } from '../../src/etf/index.js';


const ext = (...b: number[]) => Buffer.from([131, ...b]);
const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
const sa = (s: string) => [119, Buffer.byteLength(s), ...Buffer.from(s, 'utf8')];

function fails(t: Test, input: Buffer, code: string, offset: number, tag: number | undefined, what = code, opts?: DecodeOptions): void {
  try {
    decode(input, opts);
    t.fail(`${what}: decoded, expected ${code}`);
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      t.fail(`${what}: threw ${String(e)}, not a DecodeError`);
      return;
    }
    t.match({ code: e.code, offset: e.offset, tag: e.tag }, { code, offset, tag }, what);
    t.equal(e.name, 'DecodeError');
  }
}

/** zlib-compressed payload (tag 80) with the given declared size. */
function compressed(payload: number[] | Buffer, declared?: number): Buffer {
  const body = Buffer.from(payload);
  const z = deflateSync(body);
  const head = Buffer.alloc(6);
  head[0] = 131;
  head[1] = 80;
  head.writeUInt32BE(declared ?? body.length, 2);
  return Buffer.concat([head, z]);
}

t.test('ERR_DECODE_TRUNCATED', async (t) => {
  fails(t, Buffer.alloc(0), 'ERR_DECODE_TRUNCATED', 0, undefined, 'empty input');
  fails(t, ext(), 'ERR_DECODE_TRUNCATED', 1, undefined, 'version byte only');
  fails(t, ext(97), 'ERR_DECODE_TRUNCATED', 1, 97, 'SMALL_INTEGER_EXT');
  fails(t, ext(98, 0, 0), 'ERR_DECODE_TRUNCATED', 1, 98, 'INTEGER_EXT');
  fails(t, ext(70, 1, 2, 3), 'ERR_DECODE_TRUNCATED', 1, 70, 'NEW_FLOAT_EXT');
  fails(t, ext(99, 49, 46, 48), 'ERR_DECODE_TRUNCATED', 1, 99, 'FLOAT_EXT');
  fails(t, ext(104), 'ERR_DECODE_TRUNCATED', 1, 104, 'SMALL_TUPLE_EXT arity');
  fails(t, ext(104, 2, 97, 1), 'ERR_DECODE_TRUNCATED', 5, undefined, 'a missing tuple element');
  fails(t, ext(105, 0, 0), 'ERR_DECODE_TRUNCATED', 1, 105);
  fails(t, ext(108, 0, 0, 0, 1, 97, 1), 'ERR_DECODE_TRUNCATED', 8, undefined, 'a list without its tail');
  fails(t, ext(108, 0, 0, 0, 1, 97, 1, 107, 0), 'ERR_DECODE_TRUNCATED', 8, 107, 'a cut string tail');
  fails(t, ext(108, 0, 0, 0, 1, 97, 1, 108, 0, 0), 'ERR_DECODE_TRUNCATED', 8, 108, 'a cut list tail');
  fails(t, ext(108, 0, 0), 'ERR_DECODE_TRUNCATED', 1, 108);
  fails(t, ext(107, 0), 'ERR_DECODE_TRUNCATED', 1, 107);
  fails(t, ext(109, 0, 0, 0), 'ERR_DECODE_TRUNCATED', 1, 109);
  fails(t, ext(77, 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 77);
  fails(t, ext(116, 0, 0, 0, 1, 97, 1), 'ERR_DECODE_TRUNCATED', 8, undefined, 'a key without its value');
  fails(t, ext(116, 0), 'ERR_DECODE_TRUNCATED', 1, 116);
  fails(t, ext(110, 1), 'ERR_DECODE_TRUNCATED', 1, 110);
  fails(t, ext(111, 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 111);
  fails(t, ext(119), 'ERR_DECODE_TRUNCATED', 1, 119, 'atom length');
  fails(t, ext(100, 0), 'ERR_DECODE_TRUNCATED', 1, 100);
  fails(t, ext(82), 'ERR_DECODE_TRUNCATED', 1, 82);
  fails(t, ext(88), 'ERR_DECODE_TRUNCATED', 2, undefined, 'a pid without its node');
  fails(t, ext(88, ...sa('n'), 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 88, 'NEW_PID_EXT fields');
  fails(t, ext(103, ...sa('n'), 0, 0, 0, 1, 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 103);
  fails(t, ext(89, ...sa('n'), 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 89);
  fails(t, ext(102, ...sa('n'), 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 102);
  fails(t, ext(120, ...sa('n'), 0, 0, 0, 1, 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 120);
  fails(t, ext(90, 0), 'ERR_DECODE_TRUNCATED', 1, 90);
  fails(t, ext(90, 0, 1, ...sa('n'), 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 90, 'missing id words');
  fails(t, ext(114, 0, 1, ...sa('n'), 1, 0, 0), 'ERR_DECODE_TRUNCATED', 1, 114);
  fails(t, ext(101, ...sa('n'), 0, 0, 0, 1), 'ERR_DECODE_TRUNCATED', 1, 101);
  fails(t, ext(113, ...sa('m'), ...sa('f'), 97), 'ERR_DECODE_TRUNCATED', 1, 113, 'export arity');
  fails(t, ext(112, 0, 0, 0, 40, 0), 'ERR_DECODE_TRUNCATED', 1, 112, 'fun header');
  fails(t, ext(121, 1, 2), 'ERR_DECODE_TRUNCATED', 1, 121, 'LOCAL_EXT hash');
  fails(t, ext(80, 0, 0), 'ERR_DECODE_TRUNCATED', 1, 80, 'compressed header');
});

t.test('ERR_DECODE_BAD_VERSION', async (t) => {
  fails(t, Buffer.from([130, 97, 1]), 'ERR_DECODE_BAD_VERSION', 0, undefined, 'version 130');
  fails(t, Buffer.from([97, 1]), 'ERR_DECODE_BAD_VERSION', 0, undefined, 'no version byte');
  fails(t, Buffer.from([0, 0, 97, 1]), 'ERR_DECODE_BAD_VERSION', 2, undefined, 'at the offset', { offset: 2 });
});

t.test('ERR_DECODE_UNKNOWN_TAG', async (t) => {
  fails(t, ext(117, 0, 0, 0, 0), 'ERR_DECODE_UNKNOWN_TAG', 1, 117, 'FUN_EXT (removed in OTP 23)');
  fails(t, ext(200), 'ERR_DECODE_UNKNOWN_TAG', 1, 200);
  fails(t, ext(68, 0), 'ERR_DECODE_UNKNOWN_TAG', 1, 68, 'a distribution header is not a term');
  fails(t, ext(104, 2, 97, 1, 0), 'ERR_DECODE_UNKNOWN_TAG', 5, 0, 'inside a tuple');
  fails(t, Buffer.from([131, 131]), 'ERR_DECODE_UNKNOWN_TAG', 1, 131);
});

t.test('ERR_DECODE_BAD_LENGTH', async (t) => {
  fails(t, ext(109, 0, 0, 0, 10, 1), 'ERR_DECODE_BAD_LENGTH', 1, 109, 'binary longer than the input');
  fails(t, ext(109, 255, 255, 255, 255), 'ERR_DECODE_BAD_LENGTH', 1, 109, '4 GiB binary');
  fails(t, ext(77, 0, 0, 0, 9, 3, 1), 'ERR_DECODE_BAD_LENGTH', 1, 77);
  fails(t, ext(107, 0, 5, 1), 'ERR_DECODE_BAD_LENGTH', 1, 107);
  fails(t, ext(108, 255, 255, 255, 255, 97, 1), 'ERR_DECODE_BAD_LENGTH', 1, 108, '4G-element list refused before allocating');
  fails(t, ext(108, 0, 0, 0, 1, 97, 1, 107, 0, 9, 1), 'ERR_DECODE_BAD_LENGTH', 8, 107, 'string tail');
  fails(t, ext(108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 9, 106), 'ERR_DECODE_BAD_LENGTH', 8, 108, 'list tail');
  fails(t, ext(105, 127, 255, 255, 255, 97, 1), 'ERR_DECODE_BAD_LENGTH', 1, 105, 'huge tuple refused before allocating');
  fails(t, ext(116, 0, 0, 0, 3, 97, 1, 97, 2), 'ERR_DECODE_BAD_LENGTH', 1, 116, 'map pairs beyond the input');
  fails(t, ext(116, 127, 255, 255, 255), 'ERR_DECODE_BAD_LENGTH', 1, 116);
  fails(t, ext(110, 5, 0, 1), 'ERR_DECODE_BAD_LENGTH', 1, 110);
  fails(t, ext(111, 0, 0, 1, 0, 0, 1), 'ERR_DECODE_BAD_LENGTH', 1, 111);
  fails(t, ext(119, 5, 97), 'ERR_DECODE_BAD_LENGTH', 1, 119, 'atom text beyond the input');
  fails(t, ext(100, 0, 5, 97), 'ERR_DECODE_BAD_LENGTH', 1, 100);
  fails(t, ext(90, 0, 6, ...sa('n'), 0, 0, 0, 0, ...new Array(24).fill(0)), 'ERR_DECODE_BAD_LENGTH', 1, 90, 'a reference of 6 words');
  fails(t, ext(114, 0, 9, ...sa('n')), 'ERR_DECODE_BAD_LENGTH', 1, 114);
  const fun = (size: number, numFree: number, rest: number[]) =>
    ext(112, 0, 0, 0, size, 0, ...new Array(16).fill(0), 0, 0, 0, 0, 0, 0, 0, numFree, ...rest);
  const funRest = [...sa('m'), 97, 0, 97, 0, 88, ...sa('n'), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
  const good = 4 + 1 + 16 + 4 + 4 + funRest.length;
  t.ok(decode(fun(good, 0, funRest)), 'a well-formed fun decodes');
  // OTP 25-29 ignore Size (binary_to_term accepts any value), and so do we.
  t.same(decode(fun(good + 50, 0, funRest)), decode(fun(good, 0, funRest)), 'a wrong Size is ignored, as by OTP');
  fails(t, fun(good, 200, funRest), 'ERR_DECODE_BAD_LENGTH', 1, 112, 'NumFree beyond the input');
});

t.test('ERR_DECODE_BAD_ATOM and ERR_DECODE_ATOM_TOO_LONG', async (t) => {
  fails(t, ext(119, 2, 0xc0, 0x80), 'ERR_DECODE_BAD_ATOM', 1, 119, 'overlong UTF-8');
  fails(t, ext(119, 3, 0xed, 0xa0, 0x80), 'ERR_DECODE_BAD_ATOM', 1, 119, 'a surrogate in UTF-8');
  fails(t, ext(118, 0, 1, 0xff), 'ERR_DECODE_BAD_ATOM', 1, 118, 'byte 0xff');
  fails(t, ext(119, 2, 0xc3, 0x28), 'ERR_DECODE_BAD_ATOM', 1, 119, 'bad continuation');
  fails(t, ext(119, 1, 0xc3), 'ERR_DECODE_BAD_ATOM', 1, 119, 'cut sequence');
  fails(t, ext(119, 4, 0xf4, 0x90, 0x80, 0x80), 'ERR_DECODE_BAD_ATOM', 1, 119, 'beyond U+10FFFF');
  fails(t, ext(104, 1, 119, 1, 0x80), 'ERR_DECODE_BAD_ATOM', 3, 119, 'inside a tuple');
  fails(t, ext(88, 119, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_ATOM', 2, 119, 'a pid node');
  const a256 = new Array(256).fill(97);
  fails(t, ext(100, 1, 0, ...a256), 'ERR_DECODE_ATOM_TOO_LONG', 1, 100, 'ATOM_EXT of 256');
  fails(t, ext(118, 1, 0, ...a256), 'ERR_DECODE_ATOM_TOO_LONG', 1, 118, 'ATOM_UTF8_EXT of 256 ASCII');
  const e256 = [...Buffer.from('é'.repeat(256))];
  fails(t, ext(118, 2, 0, ...e256), 'ERR_DECODE_ATOM_TOO_LONG', 1, 118, '256 two-byte characters');
  t.equal(decode(ext(118, 0, 255, ...a256.slice(1))), atom('a'.repeat(255)), '255 is fine');
});

t.test('ERR_DECODE_BAD_FLOAT', async (t) => {
  fails(t, ext(70, 127, 248, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_FLOAT', 1, 70, 'NaN');
  fails(t, ext(70, 127, 240, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_FLOAT', 1, 70, '+Inf');
  fails(t, ext(70, 255, 240, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_FLOAT', 1, 70, '-Inf');
  fails(t, ext(104, 1, 70, 255, 255, 255, 255, 255, 255, 255, 255), 'ERR_DECODE_BAD_FLOAT', 3, 70, 'nested NaN');
  const text = (s: string) => ext(99, ...ascii(s), ...new Array(31 - s.length).fill(0));
  // What OTP 25 refuses (checked with binary_to_term): no fraction, spaces, junk, inf, overflow.
  for (const s of ['1', '1e5', '.5', '5.', ' 1.5', '1.5 ', '1.5abc', 'inf', 'nan', '1.5e', '1.5e+', '1.5e1000', '', '0x1.0']) {
    fails(t, text(s), 'ERR_DECODE_BAD_FLOAT', 1, 99, JSON.stringify(s));
  }
  fails(t, ext(99, ...new Array(31).fill(49)), 'ERR_DECODE_BAD_FLOAT', 1, 99, 'no NUL in 31 bytes');
});

t.test('ERR_DECODE_DUPLICATE_KEY (=:= semantics)', async (t) => {
  fails(t, ext(116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3), 'ERR_DECODE_DUPLICATE_KEY', 10, 97, 'two 1 keys');
  fails(t, ext(116, 0, 0, 0, 2, 97, 1, 97, 2, 110, 1, 0, 1, 97, 3), 'ERR_DECODE_DUPLICATE_KEY', 10, 110, '1 and a SMALL_BIG 1');
  fails(t, ext(116, 0, 0, 0, 2, ...sa('a'), 97, 2, 100, 0, 1, 97, 97, 3), 'ERR_DECODE_DUPLICATE_KEY', 11, 100, 'one atom, two tags');
  fails(t, ext(116, 0, 0, 0, 2, 119, 4, ...ascii('true'), 97, 2, 119, 4, ...ascii('true'), 97, 3), 'ERR_DECODE_DUPLICATE_KEY', 14, 119, 'booleans');
  const bin = [109, 0, 0, 0, 2, 104, 105];
  fails(t, ext(116, 0, 0, 0, 2, ...bin, 97, 1, ...bin, 97, 2), 'ERR_DECODE_DUPLICATE_KEY', 15, 109, 'binary keys');
  fails(t, ext(116, 0, 0, 0, 2, 104, 1, 97, 1, 97, 1, 104, 1, 98, 0, 0, 0, 1, 97, 2), 'ERR_DECODE_DUPLICATE_KEY', 12, 104, 'tuple keys');
  fails(t, ext(116, 0, 0, 0, 2, 70, 63, 240, 0, 0, 0, 0, 0, 0, 97, 1, 70, 63, 240, 0, 0, 0, 0, 0, 0, 97, 2), 'ERR_DECODE_DUPLICATE_KEY', 17, 70, 'float keys');
  fails(t, ext(116, 0, 0, 0, 2, 107, 0, 1, 5, 97, 1, 108, 0, 0, 0, 1, 97, 5, 106, 97, 2), 'ERR_DECODE_DUPLICATE_KEY', 12, 108, 'STRING and LIST of one value');
  fails(t, ext(116, 0, 0, 0, 2, 106, 97, 1, 106, 97, 2), 'ERR_DECODE_DUPLICATE_KEY', 9, 106, 'two [] keys');
  const m = ext(116, 0, 0, 0, 3, 109, 0, 0, 0, 1, 97, 97, 1, 104, 0, 97, 2, 109, 0, 0, 0, 1, 98, 97, 3);
  t.equal((decode(m) as Map<unknown, unknown>).size, 3, 'distinct compound keys are fine');
  fails(
    t,
    ext(104, 1, 116, 0, 0, 0, 1, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 1, 97, 0),
    'ERR_DECODE_DUPLICATE_KEY',
    17,
    97,
    'inside a map that is a key',
  );
  // Keys of every kind: distinct ones are kept, a repeat of each is refused.
  const n = [119, 1, 110];
  const kinds: number[][] = [
    [110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // 2^64
    [88, ...n, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3], // pid
    [89, ...n, 0, 0, 0, 1, 0, 0, 0, 2], // port
    [90, 0, 1, ...n, 0, 0, 0, 1, 0, 0, 0, 9], // reference
    [77, 0, 0, 0, 1, 3, 0xe0], // bitstring
    [104, 2, 119, 4, ...ascii('true'), 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // {true, 2^64}
    [104, 1, 104, 1, 104, 0], // {{{}}}
    [108, 0, 0, 0, 1, 104, 0, 106], // [{}]
    [113, ...sa('m'), ...sa('f'), 97, 1], // fun m:f/1
    [116, 0, 0, 0, 0], // #{}
    [109, 0, 0, 0, 70, ...new Array(70).fill(65)], // a long binary
    [109, 0, 0, 0, 70, ...new Array(69).fill(65), 66], // another long binary, same ends
  ];
  kinds.push([104, 2, 97, 1, 119, 1, 97]); // {1, a}
  kinds.push([104, 2, 97, 1, 119, 1, 98]); // {1, b}: same signature as {1, a}, not =:=
  kinds.push([104, 1, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // {2^64}
  const all = kinds.flatMap((k, i) => [...k, 97, i]);
  const distinct = decode(ext(116, 0, 0, 0, kinds.length, ...all)) as Map<unknown, unknown>;
  t.equal(distinct.size, kinds.length, 'distinct keys of every kind');
  for (const [i, k] of kinds.entries()) {
    const before = all.length + 6;
    fails(t, ext(116, 0, 0, 0, kinds.length + 1, ...all, ...k, 97, 99), 'ERR_DECODE_DUPLICATE_KEY', before, k[0], `repeated key ${i}`);
  }
  // References whose ids differ only by trailing zero words are =:= (OTP 25:
  // binary_to_term refuses this map with badarg), so they are duplicate keys.
  const ref = (...ids: number[]) => [90, 0, ids.length, ...n, 0, 0, 0, 1, ...ids.flatMap((id) => [0, 0, 0, id])];
  fails(t, ext(116, 0, 0, 0, 2, ...ref(7), 97, 1, ...ref(7, 0, 0), 97, 2), 'ERR_DECODE_DUPLICATE_KEY', 22, 90, 'refs [7] and [7,0,0]');
  fails(t, ext(116, 0, 0, 0, 2, ...ref(7, 0, 0), 97, 1, ...ref(7), 97, 2), 'ERR_DECODE_DUPLICATE_KEY', 30, 90, 'refs [7,0,0] and [7]');
  const refs = decode(ext(116, 0, 0, 0, 2, ...ref(7, 0, 0), 97, 1, ...ref(7, 0, 1), 97, 2)) as Map<unknown, unknown>;
  t.equal(refs.size, 2, 'refs [7,0,0] and [7,0,1] are distinct keys');
  // Many distinct binary keys (bucketed signatures, no quadratic blow-up).
  const many = 20000;
  const parts = [Buffer.from([131, 116, 0, 0, 0, 0])];
  parts[0].writeUInt32BE(many, 2);
  for (let i = 0; i < many; i++) {
    const k = Buffer.from(`key-${i}`);
    const h = Buffer.alloc(5);
    h[0] = 109;
    h.writeUInt32BE(k.length, 1);
    parts.push(h, k, Buffer.from([97, i & 255]));
  }
  t.equal((decode(Buffer.concat(parts)) as Map<unknown, unknown>).size, many, '20,000 binary keys');
});

t.test('ERR_DECODE_BAD_BITS', async (t) => {
  fails(t, ext(77, 0, 0, 0, 1, 0, 5), 'ERR_DECODE_BAD_BITS', 1, 77, 'bits 0 with data');
  fails(t, ext(77, 0, 0, 0, 1, 9, 5), 'ERR_DECODE_BAD_BITS', 1, 77, 'bits 9');
  fails(t, ext(77, 0, 0, 0, 0, 8), 'ERR_DECODE_BAD_BITS', 1, 77, 'no data but bits');
  fails(t, ext(77, 0, 0, 0, 0, 255), 'ERR_DECODE_BAD_BITS', 1, 77);
});

t.test('ERR_DECODE_BIG_TOO_LARGE', async (t) => {
  fails(t, ext(111, 0, 64, 0, 0, 0), 'ERR_DECODE_BIG_TOO_LARGE', 1, 111, '4,194,304 bytes, refused before the length check');
  fails(t, ext(111, 0, 63, 255, 249, 0), 'ERR_DECODE_BIG_TOO_LARGE', 1, 111, '4,194,297 bytes');
  fails(t, ext(111, 255, 255, 255, 255, 0), 'ERR_DECODE_BIG_TOO_LARGE', 1, 111);
  const max = Buffer.alloc(1 + 6 + 4_194_296, 0);
  max.set([131, 111, 0, 63, 255, 248, 0]);
  max[max.length - 1] = 1;
  t.equal(decode(max), 2n ** BigInt(8 * (4_194_296 - 1)), 'the largest OTP big decodes');
});

t.test('ERR_DECODE_TRAILING', async (t) => {
  fails(t, ext(97, 1, 0), 'ERR_DECODE_TRAILING', 3, undefined, 'one byte after');
  fails(t, Buffer.from([131, 97, 1, 131, 97, 1]), 'ERR_DECODE_TRAILING', 3, undefined, 'two terms');
  t.same(decodeWithLength(ext(97, 1, 0)), { term: 1, length: 3 }, 'decodeWithLength reports the length instead');
  const c = Buffer.concat([compressed([104, 0]), Buffer.from([7])]);
  fails(t, c, 'ERR_DECODE_TRAILING', c.length - 1, undefined, 'after zlib data');
  fails(t, compressed([97, 1, 2]), 'ERR_DECODE_TRAILING', 2, undefined, 'inside the compressed payload (payload offset)');
});

t.test('ERR_DECODE_INFLATE_LIMIT and ERR_DECODE_BAD_COMPRESSED', async (t) => {
  const body = [107, 0, 100, ...new Array(100).fill(1)];
  t.same(decode(compressed(body)), new Array(100).fill(1), 'a compressed term decodes');
  fails(t, compressed(body), 'ERR_DECODE_INFLATE_LIMIT', 1, 80, 'over maxInflatedSize', { maxInflatedSize: 102 });
  t.ok(decode(compressed(body), { maxInflatedSize: 103 }), 'exactly at the limit');
  fails(t, compressed(body, 64 * 1024 * 1024 + 1), 'ERR_DECODE_INFLATE_LIMIT', 1, 80, 'over the 64 MiB default');
  fails(t, compressed(body, 0), 'ERR_DECODE_BAD_COMPRESSED', 1, 80, 'declared size 0');
  fails(t, compressed(body, 50), 'ERR_DECODE_BAD_COMPRESSED', 1, 80, 'inflates to more than declared');
  fails(t, compressed(body, 200), 'ERR_DECODE_BAD_COMPRESSED', 1, 80, 'inflates to less than declared');
  fails(t, ext(80, 0, 0, 0, 10, 1, 2, 3, 4), 'ERR_DECODE_BAD_COMPRESSED', 1, 80, 'not zlib');
  const cut = compressed(body);
  fails(t, cut.subarray(0, cut.length - 3), 'ERR_DECODE_BAD_COMPRESSED', 1, 80, 'cut zlib stream');
  fails(t, compressed([104, 1, 200]), 'ERR_DECODE_UNKNOWN_TAG', 2, 200, 'errors inside report payload offsets');
  fails(t, compressed([80, 0, 0, 0, 1, 0]), 'ERR_DECODE_BAD_TERM', 0, 80, 'compressed inside compressed');
});

/** About 1 MB of zlib data that inflates to 1 GiB of zeros, streamed (never held in memory). */
async function zlibBomb(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const z = createDeflate({ level: 9 });
  const done = new Promise<void>((resolve, reject) => {
    z.pipe(
      new Writable({
        write(c: Buffer, _e, cb) {
          chunks.push(c);
          cb();
        },
      }),
    ).on('finish', resolve);
    z.on('error', reject);
  });
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < 1024; i++) {
    if (!z.write(zeros)) await new Promise((r) => z.once('drain', r));
  }
  z.end();
  await done;
  return Buffer.concat(chunks);
}

t.test('a 1 MB zlib bomb is refused', async (t) => {
  const bomb = await zlibBomb();
  t.ok(bomb.length > 900_000 && bomb.length < 1_200_000, `bomb of ${bomb.length} bytes`);
  const head = Buffer.from([131, 80, 0, 0, 0, 0]);
  head.writeUInt32BE(2 ** 30, 2);
  const honest = Buffer.concat([head, bomb]);
  fails(t, honest, 'ERR_DECODE_INFLATE_LIMIT', 1, 80, 'declared 1 GiB: refused before inflating');
  head.writeUInt32BE(1000, 2);
  const lying = Buffer.concat([head, bomb]);
  fails(t, lying, 'ERR_DECODE_BAD_COMPRESSED', 1, 80, 'declared 1000 bytes: inflation stops at 1000');
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 20; i++) {
    try {
      decode(lying);
    } catch {
      // expected
    }
  }
  t.ok(process.memoryUsage().rss - before < 256 * 1024 * 1024, 'memory stays bounded');
});

t.test('ERR_DECODE_ATOM_CACHE', async (t) => {
  fails(t, ext(82, 0), 'ERR_DECODE_ATOM_CACHE', 1, 82, 'no cache');
  fails(t, ext(82, 1), 'ERR_DECODE_ATOM_CACHE', 1, 82, 'empty slot', { atomCache: [atom('a')] });
  fails(t, ext(82, 0), 'ERR_DECODE_ATOM_CACHE', 1, 82, 'slot is not an atom', { atomCache: ['a' as never] });
  fails(t, ext(104, 1, 82, 254), 'ERR_DECODE_ATOM_CACHE', 3, 82, 'nested', { atomCache: [] });
});

t.test('ERR_DECODE_BAD_TERM', async (t) => {
  fails(t, ext(88, 97, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_TERM', 2, 97, 'pid node is an integer');
  fails(t, ext(88, 106, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_TERM', 2, 106, 'NIL node outside LOCAL_EXT');
  fails(t, ext(89, 104, 0, 0, 0, 0, 1, 0, 0, 0, 0), 'ERR_DECODE_BAD_TERM', 2, 104, 'port node is a tuple');
  fails(t, ext(90, 0, 1, 109, 0, 0, 0, 0), 'ERR_DECODE_BAD_TERM', 4, 109, 'reference node is a binary');
  fails(t, ext(113, ...sa('m'), 97, 1, 97, 1), 'ERR_DECODE_BAD_TERM', 5, 97, 'export function is an integer');
  fails(t, ext(113, ...sa('m'), ...sa('f'), 98, 0, 0, 1, 0), 'ERR_DECODE_BAD_TERM', 8, 98, 'export arity 256');
  fails(t, ext(113, ...sa('m'), ...sa('f'), ...sa('x')), 'ERR_DECODE_BAD_TERM', 8, 119, 'export arity is an atom');
  fails(t, ext(113, ...sa('m'), ...sa('f'), 98, 0, 0), 'ERR_DECODE_TRUNCATED', 1, 113, 'cut INTEGER_EXT arity');
  // The old 2-bit creations and 18-bit reference words (erl_ext_dist; OTP refuses more).
  fails(t, ext(103, ...sa('n'), 0, 0, 0, 1, 0, 0, 0, 2, 4), 'ERR_DECODE_BAD_TERM', 1, 103, 'PID_EXT creation 4');
  fails(t, ext(102, ...sa('n'), 0, 0, 0, 1, 4), 'ERR_DECODE_BAD_TERM', 1, 102, 'PORT_EXT creation 4');
  fails(t, ext(101, ...sa('n'), 0, 0, 0, 1, 4), 'ERR_DECODE_BAD_TERM', 1, 101, 'REFERENCE_EXT creation 4');
  fails(t, ext(101, ...sa('n'), 0, 4, 0, 0, 1), 'ERR_DECODE_BAD_TERM', 1, 101, 'REFERENCE_EXT word of 19 bits');
  fails(t, ext(114, 0, 1, ...sa('n'), 4, 0, 0, 0, 1), 'ERR_DECODE_BAD_TERM', 1, 114, 'NEW_REFERENCE_EXT creation 4');
  fails(t, ext(114, 0, 2, ...sa('n'), 1, 0, 4, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_TERM', 1, 114, 'NEW_REFERENCE_EXT first word of 19 bits');
  fails(t, ext(104, 1, 80, 0, 0, 0, 1, 0), 'ERR_DECODE_BAD_TERM', 3, 80, 'compressed below the top level');
  const rest = (mod: number[], pid: number[]) => [...mod, 97, 0, 97, 0, ...pid];
  const pid = [88, ...sa('n'), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
  const fun = (r: number[]) => ext(112, ...[0, 0, 0, 29 + r.length], 0, ...new Array(16).fill(0), 0, 0, 0, 0, 0, 0, 0, 0, ...r);
  t.ok(decode(fun(rest(sa('m'), pid))), 'a well-formed fun');
  t.ok(decode(fun(rest(sa('true'), pid))), 'module true is an atom too');
  fails(t, fun(rest([97, 1], pid)), 'ERR_DECODE_BAD_TERM', 1, 112, 'fun module is an integer');
  fails(t, fun(rest(sa('m'), [97, 1])), 'ERR_DECODE_BAD_TERM', 1, 112, 'fun pid is an integer');
  fails(t, fun([...sa('m'), 106, 97, 0, ...pid]), 'ERR_DECODE_BAD_TERM', 1, 112, 'fun old index is []');
});

t.test('bad arguments are programming errors, not DecodeErrors', async (t) => {
  t.throws(() => decode('abc' as unknown as Uint8Array), TypeError);
  t.throws(() => decode(ext(97, 1), { offset: 5 }), RangeError);
  t.throws(() => decode(ext(97, 1), { offset: -1 }), RangeError);
  t.throws(() => decode(ext(97, 1), { offset: 0.5 }), RangeError);
  t.throws(() => decode(ext(97, 1), { maxInflatedSize: NaN }), RangeError, 'a NaN cap would be no cap');
  t.throws(() => decode(ext(97, 1), { maxInflatedSize: -1 }), RangeError);
  t.equal(decode(ext(97, 1), { maxInflatedSize: Infinity }), 1, 'Infinity: no cap');
});

t.test('the decoder recovers after an error', async (t) => {
  fails(t, ext(116, 0, 0, 0, 1, 104, 1, 116, 0, 0, 0, 1, 70, 63, 240, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_TRUNCATED', 22, undefined, 'cut inside a key');
  t.equal(decode(ext(70, 63, 240, 0, 0, 0, 0, 0, 0)), 1, 'a float after a failed key decodes as a number again');
  fails(t, ext(121, 0, 0, 0, 0, 104, 1, 200), 'ERR_DECODE_UNKNOWN_TAG', 8, 200, 'inside LOCAL_EXT');
  fails(t, ext(88, 106, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0), 'ERR_DECODE_BAD_TERM', 2, 106, 'local mode does not leak');
});
