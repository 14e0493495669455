// The ETF decoder with hand-checked bytes: every decode tag, derived from
// erl_ext_dist (byte layouts in the comments) and cross-checked with
// `erl -noshell -eval 'io:format("~w",[term_to_binary(T)])'`; and round trips.
// Encoding is in codec-encode; error codes, options and the writer in codec-errors / codec-options.
import t from 'tap';
import {
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  LocalExt,
  Pid,
  Port,
  Reference,
  Tuple,
  atom,
  decode,
  decodeWithLength,
  encode,
  tuple,
  type Term,
} from '../../src/etf/index.js';
import { ascii, bytes, ext, NODE, sa, utf8 } from './codec-bytes.js';

t.test('decode: numbers', async (t) => {
  t.equal(decode(ext(97, 200)), 200);
  t.equal(decode(ext(98, 255, 255, 255, 254)), -2);
  t.equal(decode(ext(98, 128, 0, 0, 0)), -2147483648);
  t.equal(decode(ext(110, 4, 0, 0, 0, 0, 128)), 2147483648);
  t.equal(decode(ext(110, 7, 0, 255, 255, 255, 255, 255, 255, 31)), Number.MAX_SAFE_INTEGER, 'safe: a number');
  t.equal(decode(ext(110, 7, 1, 255, 255, 255, 255, 255, 255, 31)), -Number.MAX_SAFE_INTEGER);
  t.equal(decode(ext(110, 7, 0, 0, 0, 0, 0, 0, 0, 32)), 2n ** 53n, '2^53: a bigint');
  t.equal(decode(ext(110, 7, 1, 0, 0, 0, 0, 0, 0, 32)), -(2n ** 53n));
  t.equal(decode(ext(110, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0)), 1, 'non-normalized big that fits: a number');
  t.equal(decode(ext(110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)), 2n ** 64n);
  t.equal(decode(ext(110, 12, 1, 5, ...new Array(11).fill(0))), -5, 'long zero-padded big');
  t.equal(decode(ext(110, 0, 0)), 0, 'zero digits');
  t.ok(Object.is(decode(ext(110, 0, 1)), 0), 'negative zero-digit big is 0, not -0');
  t.ok(Object.is(decode(ext(110, 2, 1, 0, 0)), 0));
  t.equal(decode(ext(111, 0, 0, 0, 1, 0, 7)), 7, 'LARGE_BIG_EXT');
  t.equal(decode(ext(110, 1, 2, 5)), -5, 'any nonzero sign byte is negative (as OTP reads it)');
  t.equal(decode(ext(111, 0, 0, 0, 1, 255, 5)), -5);
  const huge = [111, 0, 0, 1, 0, 1, ...new Array(255).fill(0), 1];
  t.equal(decode(ext(...huge)), -(2n ** 2040n));
  t.equal(decode(ext(70, 63, 248, 0, 0, 0, 0, 0, 0)), 1.5);
  t.equal(decode(ext(70, 63, 240, 0, 0, 0, 0, 0, 0)), 1, 'NEW_FLOAT_EXT 1.0: number by default');
  t.ok(Object.is(decode(ext(70, 128, 0, 0, 0, 0, 0, 0, 0)), -0), '-0.0 by default');
  t.same(decode(ext(70, 63, 240, 0, 0, 0, 0, 0, 0), { lossless: true }), new Float(1), 'lossless: Float');
  const nz = decode(ext(70, 128, 0, 0, 0, 0, 0, 0, 0), { lossless: true }) as Float;
  t.ok(nz instanceof Float && Object.is(nz.value, -0), 'lossless -0.0');
  t.equal(decode(ext(70, 63, 248, 0, 0, 0, 0, 0, 0), { lossless: true }), 1.5, 'non-integral stays a number');
  const text = (s: string) => ext(99, ...ascii(s), ...new Array(31 - s.length).fill(0));
  t.equal(decode(text('1.50000000000000000000e+00')), 1.5, 'FLOAT_EXT');
  t.equal(decode(text('-2.5e-3')), -0.0025);
  t.equal(decode(text('+1.5E+05')), 150000);
  t.same(decode(text('1.00000000000000000000e+00'), { lossless: true }), new Float(1));
  t.equal(decode(text('1.00000000000000000000e+00')), 1);
  t.equal(decode(text('1.5e-400')), 0, 'underflow is zero (as OTP)');
});

t.test('decode: atoms and booleans', async (t) => {
  t.equal(decode(ext(119, 2, 111, 107)), atom('ok'), 'SMALL_ATOM_UTF8_EXT');
  t.equal(decode(ext(118, 0, 2, 111, 107)), atom('ok'), 'ATOM_UTF8_EXT');
  t.equal(decode(ext(115, 2, 111, 107)), atom('ok'), 'SMALL_ATOM_EXT');
  t.equal(decode(ext(100, 0, 2, 111, 107)), atom('ok'), 'ATOM_EXT');
  t.equal(decode(ext(100, 0, 1, 0xe9)), atom('é'), 'ATOM_EXT is Latin-1');
  t.equal(decode(ext(115, 1, 0xff)), atom('ÿ'));
  t.equal(decode(ext(119, 2, 0xc3, 0xa9)), atom('é'), 'UTF-8');
  t.equal(decode(ext(119, 4, 240, 159, 152, 128)), atom('😀'));
  t.equal(decode(ext(119, 3, 0xef, 0xbb, 0xbf)), atom('\ufeff'), 'a BOM is kept');
  t.equal(decode(ext(119, 0)), atom(''));
  t.equal(decode(ext(100, 0, 0)), atom(''));
  t.equal(decode(ext(119, 4, ...ascii('true'))), true);
  t.equal(decode(ext(100, 0, 5, ...ascii('false'))), false);
  t.equal(decode(ext(119, 9, ...ascii('undefined'))), atom('undefined'));
  const long = 'é'.repeat(255);
  t.equal(decode(ext(118, 1, 254, ...utf8(long))), atom(long), '255 two-byte characters');
  const longAscii = 'q'.repeat(200);
  t.equal(decode(ext(119, 200, ...ascii(longAscii))), atom(longAscii), 'long ASCII atom');
  // The decode cache must tell apart atoms with the same length and ends.
  const names = ['abcd', 'abzd', 'axcd', 'abce', 'ab\u00e9d'];
  for (let round = 0; round < 3; round++) {
    for (const n of names) t.equal(decode(ext(...sa(n))), atom(n), `${n} round ${round}`);
  }
  t.equal(decode(ext(115, 4, 0x61, 0x62, 0xe9, 0x64)), atom('ab\u00e9d'), 'Latin-1 high byte');
  // The cache keeps its own copy of the bytes: reusing the input buffer for
  // another atom with the same length and ends must not return the old atom.
  const reused = ext(119, 5, ...ascii('lists'));
  t.equal(decode(reused), atom('lists'));
  reused[4] = 0x68; // 'lists' -> 'lhsts'
  t.equal(decode(reused), atom('lhsts'), 'no stale cache hit after the input changed');
  reused[4] = 0x69;
  t.equal(decode(reused), atom('lists'));
  t.equal(decode(ext(119, 4, 0x61, 0x62, 0xc3, 0xa9)), atom('ab\u00e9'), 'same bytes, UTF-8 reading');
});

t.test('decode: ATOM_CACHE_REF', async (t) => {
  const cache = [atom('zero'), undefined, atom('true')];
  t.equal(decode(ext(82, 0), { atomCache: cache }), atom('zero'));
  t.equal(decode(ext(82, 2), { atomCache: cache }), true, 'a cached true is a boolean');
  t.same(decode(ext(104, 2, 82, 0, 82, 0), { atomCache: cache }), tuple(atom('zero'), atom('zero')));
  t.same(decode(ext(88, 82, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3), { atomCache: cache }), new Pid(atom('zero'), 1, 2, 3), 'as a node');
});

t.test('decode: tuples, lists, strings', async (t) => {
  t.same(decode(ext(104, 0)), tuple());
  t.ok(decode(ext(104, 0)) instanceof Tuple);
  t.same(decode(ext(104, 2, 97, 1, 104, 1, 106)), tuple(1, tuple([])));
  t.same(decode(ext(105, 0, 0, 0, 2, 97, 1, 97, 2)), tuple(1, 2), 'LARGE_TUPLE_EXT');
  t.same(decode(ext(105, 0, 0, 0, 0)), tuple());
  t.same(decode(ext(106)), [], 'NIL_EXT');
  t.same(decode(ext(107, 0, 3, 104, 105, 255)), [104, 105, 255], 'STRING_EXT: numbers');
  t.same(decode(ext(107, 0, 0)), []);
  t.same(decode(ext(108, 0, 0, 0, 2, 97, 1, 97, 2, 106)), [1, 2], 'LIST_EXT');
  t.same(decode(ext(108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3)), new ImproperList([1, 2], 3), 'improper');
  t.same(decode(ext(108, 0, 0, 0, 1, 106, 119, 1, 97)), new ImproperList([[]], atom('a')));
  t.same(decode(ext(108, 0, 0, 0, 0, 106)), [], 'zero elements, NIL tail');
  t.equal(decode(ext(108, 0, 0, 0, 0, 97, 1)), 1, 'zero elements: the list is its tail');
  t.same(decode(ext(108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 5, 6)), [1, 5, 6], 'a STRING_EXT tail joins the list');
  t.same(decode(ext(108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106)), [1, 2], 'a LIST_EXT tail joins the list');
  t.same(decode(ext(108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 0, 108, 0, 0, 0, 1, 97, 2, 97, 9)), new ImproperList([1, 2], 9));
  t.same(decode(ext(108, 0, 0, 0, 1, 104, 0, 108, 0, 0, 0, 1, 97, 2, 104, 0)), new ImproperList([tuple(), 2], tuple()));
  t.same(
    decode(ext(108, 0, 0, 0, 1, 108, 0, 0, 0, 1, 97, 1, 97, 2, 70, 64, 12, 0, 0, 0, 0, 0, 0)),
    new ImproperList([new ImproperList([1], 2)], 3.5),
  );
  // A list chained through 200,000 one-element tails decodes in linear time.
  const n = 200_000;
  const chain = Buffer.alloc(1 + n * 7 + 1);
  chain[0] = 131;
  for (let i = 0; i < n; i++) chain.set([108, 0, 0, 0, 1, 97, i & 255], 1 + i * 7);
  chain[1 + n * 7] = 106;
  const long = decode(chain) as number[];
  t.equal(long.length, n);
  t.equal(long[n - 1], (n - 1) & 255);
});

t.test('decode: binaries are zero-copy views', async (t) => {
  const input = ext(109, 0, 0, 0, 3, 7, 8, 9);
  const b = decode(input) as Buffer;
  t.ok(Buffer.isBuffer(b));
  t.same([...b], [7, 8, 9]);
  t.equal(b.buffer, input.buffer, 'shares the input memory');
  t.same(decode(ext(109, 0, 0, 0, 0)), Buffer.alloc(0));
  const u8 = new Uint8Array([131, 109, 0, 0, 0, 1, 42]);
  const fromU8 = decode(u8) as Buffer;
  t.ok(Buffer.isBuffer(fromU8), 'a Uint8Array input still gives Buffers');
  t.equal(fromU8[0], 42);
  t.same(decode(ext(77, 0, 0, 0, 1, 3, 0xe0)), new BitBinary(bytes(0xe0), 3), 'BIT_BINARY_EXT');
  const masked = decode(ext(77, 0, 0, 0, 2, 1, 5, 0xff)) as BitBinary;
  t.same([...masked.data], [5, 0x80], 'unused bits are cleared (as OTP does)');
  t.equal(masked.bitLength, 9);
  t.same(decode(ext(77, 0, 0, 0, 1, 8, 0xff)), bytes(0xff), '8 bits: a binary');
  t.same(decode(ext(77, 0, 0, 0, 0, 0)), Buffer.alloc(0), 'empty: a binary');
});

t.test('decode: maps', async (t) => {
  t.same(decode(ext(116, 0, 0, 0, 0)), new Map());
  const m = decode(ext(116, 0, 0, 0, 2, 119, 1, 97, 97, 1, 97, 2, 106)) as Map<Term, Term>;
  t.same([...m.entries()], [
    [atom('a'), 1],
    [2, []],
  ]);
  t.equal(m.get(atom('a')), 1, 'atom keys work with Map.get');
  const f = decode(ext(116, 0, 0, 0, 2, 97, 1, 97, 2, 70, 63, 240, 0, 0, 0, 0, 0, 0, 97, 3)) as Map<Term, Term>;
  t.equal(f.size, 2, '1 and 1.0 are different keys');
  t.equal(f.get(1), 2);
  const fk = [...f.keys()][1];
  t.ok(fk instanceof Float && fk.value === 1, 'an integral float key is a Float even without lossless');
  const tk = decode(ext(116, 0, 0, 0, 2, 104, 1, 97, 1, 97, 1, 104, 1, 70, 63, 240, 0, 0, 0, 0, 0, 0, 97, 2)) as Map<Term, Term>;
  t.equal(tk.size, 2, '{1} and {1.0} are different keys');
  t.same([...tk.keys()][1], tuple(new Float(1)), 'floats inside keys stay Floats');
  const v = decode(ext(116, 0, 0, 0, 1, 97, 1, 70, 63, 240, 0, 0, 0, 0, 0, 0)) as Map<Term, Term>;
  t.equal(v.get(1), 1, 'values follow the lossless option');
  const bk = decode(ext(116, 0, 0, 0, 2, 109, 0, 0, 0, 1, 97, 97, 1, 109, 0, 0, 0, 1, 98, 97, 2)) as Map<Term, Term>;
  t.equal(bk.size, 2, 'binary keys');
  const nested = decode(ext(116, 0, 0, 0, 1, 116, 0, 0, 0, 1, 97, 1, 97, 2, 116, 0, 0, 0, 0)) as Map<Term, Term>;
  t.same([...nested.keys()][0], new Map([[1, 2]]), 'a map as a key');
});

t.test('decode: pids, ports, references', async (t) => {
  const n = [100, 0, 3, ...ascii('n@h')]; // ATOM_EXT node
  t.same(decode(ext(88, ...n, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3)), new Pid(NODE, 1, 2, 3), 'NEW_PID_EXT');
  t.same(decode(ext(103, ...n, 0, 0, 0, 1, 0, 0, 0, 2, 3)), new Pid(NODE, 1, 2, 3), 'PID_EXT');
  t.same(decode(ext(88, ...n, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255)), new Pid(NODE, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1));
  t.same(decode(ext(89, ...n, 0, 0, 0, 7, 0, 0, 0, 2)), new Port(NODE, 7, 2), 'NEW_PORT_EXT');
  t.same(decode(ext(102, ...n, 0, 0, 0, 7, 2)), new Port(NODE, 7, 2), 'PORT_EXT');
  t.same(decode(ext(120, ...n, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2)), new Port(NODE, 7, 2), 'V4_PORT_EXT, small id: number');
  t.same(decode(ext(120, ...n, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2)), new Port(NODE, 2n ** 40n, 2), 'V4_PORT_EXT, 64-bit id: bigint');
  t.same(decode(ext(90, 0, 2, ...n, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2)), new Reference(NODE, 5, [1, 2]), 'NEWER_REFERENCE_EXT');
  t.same(decode(ext(90, 0, 0, ...n, 0, 0, 0, 5)), new Reference(NODE, 5, []), 'zero words (OTP accepts them)');
  t.same(decode(ext(114, 0, 2, ...n, 3, 0, 0, 0, 1, 0, 0, 0, 2)), new Reference(NODE, 3, [1, 2]), 'NEW_REFERENCE_EXT');
  t.same(decode(ext(101, ...n, 0, 0, 0, 9, 1)), new Reference(NODE, 1, [9]), 'REFERENCE_EXT');
  t.same(decode(ext(101, ...n, 0, 3, 255, 255, 3)), new Reference(NODE, 3, [0x3ffff]), 'REFERENCE_EXT, 18-bit word, creation 3');
  t.same(decode(ext(103, ...n, 255, 255, 255, 255, 255, 255, 255, 255, 3)), new Pid(NODE, 2 ** 32 - 1, 2 ** 32 - 1, 3), 'PID_EXT, creation 3');
  t.same(
    decode(ext(90, 0, 5, 119, 1, 110, 0, 0, 0, 1, ...new Array(20).fill(1))),
    new Reference(atom('n'), 1, new Array(5).fill(0x01010101)),
  );
});

// term_to_binary(fun() -> ok end) and term_to_binary(fun lists:map/2) on OTP 25
// (erl -noshell -eval 'io:format("~w",[term_to_binary(fun() -> ok end)])').
const OTP25_FUN = bytes(
  131, 112, 0, 0, 0, 143, 0, 6, 83, 97, 170, 70, 21, 144, 209, 189, 241, 235, 98, 209, 166, 235, 8, 0, 0, 0, 43, 0, 0, 0, 1, 100, 0, 8, 101,
  114, 108, 95, 101, 118, 97, 108, 97, 43, 98, 0, 50, 155, 13, 88, 100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115,
  116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 104, 6, 97, 14, 106, 100, 0, 4, 110, 111, 110, 101, 100, 0, 4, 110, 111, 110, 101, 116, 0, 0, 0,
  0, 108, 0, 0, 0, 1, 104, 5, 100, 0, 6, 99, 108, 97, 117, 115, 101, 97, 14, 106, 106, 108, 0, 0, 0, 1, 104, 3, 100, 0, 4, 97, 116, 111,
  109, 97, 14, 100, 0, 2, 111, 107, 106, 106,
);
// term_to_binary(fun() -> ok end, [local]) on OTP 29: OldIndex and OldUniq
// wrapped in LOCAL_EXT, the pid's node as NIL_EXT.
const OTP29_LOCAL_FUN = bytes(
  131, 121, 187, 115, 240, 152, 112, 0, 0, 0, 132, 0, 248, 37, 47, 246, 123, 244, 211, 6, 126, 138, 154, 65, 205, 61, 207, 38, 0, 0, 0,
  43, 0, 0, 0, 1, 119, 8, 101, 114, 108, 95, 101, 118, 97, 108, 121, 93, 170, 255, 117, 97, 43, 121, 55, 254, 104, 247, 98, 7, 193, 41,
  127, 88, 106, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 104, 6, 97, 2, 106, 119, 4, 110, 111, 110, 101, 119, 4, 110, 111, 110, 101, 116, 0, 0,
  0, 0, 108, 0, 0, 0, 1, 104, 5, 119, 6, 99, 108, 97, 117, 115, 101, 97, 2, 106, 106, 108, 0, 0, 0, 1, 104, 3, 119, 4, 97, 116, 111, 109,
  97, 2, 119, 2, 111, 107, 106, 106,
);

t.test('decode: funs', async (t) => {
  t.same(decode(ext(113, 100, 0, 5, ...ascii('lists'), 100, 0, 3, ...ascii('map'), 97, 2)), new ExportFun(atom('lists'), atom('map'), 2));
  t.same(decode(ext(113, ...sa('m'), ...sa('f'), 98, 0, 0, 0, 255)), new ExportFun(atom('m'), atom('f'), 255), 'INTEGER_EXT arity (OTP reads it)');
  const f = decode(OTP25_FUN) as Fun;
  t.ok(f instanceof Fun);
  t.equal(f.arity, 0);
  t.equal(f.index, 43);
  t.equal(f.module, atom('erl_eval'));
  t.equal(f.oldIndex, 43);
  t.equal(f.oldUniq, 3316493);
  t.same(f.uniq, OTP25_FUN.subarray(7, 23));
  t.same(f.pid, new Pid(atom('nonode@nohost'), 9, 0, 0));
  t.equal(f.freeVars.length, 1);
  t.ok(f.freeVars[0] instanceof Tuple);
  const again = encode(f);
  t.equal(again.readUInt32BE(2), again.length - 2, 're-encoded Size is right');
  t.same(decode(again), f, 'round trip');
  const ff = decode(ext(104, 2, ...OTP25_FUN.subarray(1), 97, 1)) as Tuple;
  t.same(ff.at(0), f, 'inside a tuple');
  t.equal(ff.at(1), 1);
});

t.test('decode: LOCAL_EXT stays opaque', async (t) => {
  // term_to_binary({a, self(), [make_ref()]}, [local]) on OTP 27.
  const local = bytes(
    131, 121, 75, 165, 236, 44, 104, 3, 119, 1, 97, 88, 106, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 108, 0, 0, 0, 1, 90, 0, 3, 106, 0, 0, 0, 0,
    0, 2, 212, 165, 233, 228, 0, 1, 232, 206, 5, 214, 106,
  );
  const v = decode(local) as LocalExt;
  t.ok(v instanceof LocalExt);
  t.same(v.bytes, local.subarray(1), 'the bytes from the 121 tag to the end of the term');
  t.same(encode(v), local, 'encodes back to the same bytes');
  const inTuple = decode(ext(104, 2, ...local.subarray(1), 97, 7)) as Tuple;
  t.same((inTuple.at(0) as LocalExt).bytes, local.subarray(1), 'its length is found inside a tuple');
  t.equal(inTuple.at(1), 7);
  const lf = decode(OTP29_LOCAL_FUN) as LocalExt;
  t.equal(lf.bytes.length, OTP29_LOCAL_FUN.length - 1, 'a local fun with nested LOCAL_EXT');
  const port = bytes(131, 121, 164, 18, 33, 22, 120, 106, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  t.equal((decode(port) as LocalExt).bytes.length, 19, 'a local V4 port');
  const { length } = decodeWithLength(Buffer.concat([local, bytes(1, 2)]));
  t.equal(length, local.length);
});

t.test('decode: deep nesting is iterative', async (t) => {
  const depth = 1_000_000;
  const lists = Buffer.alloc(1 + depth * 6 + 1 + depth);
  lists[0] = 131;
  for (let i = 0; i < depth; i++) lists.set([108, 0, 0, 0, 1], 1 + i * 5);
  lists[1 + depth * 5] = 106;
  lists.fill(106, 2 + depth * 5);
  const decodedLists = decode(lists.subarray(0, 2 + depth * 6));
  let d = 0;
  for (let x = decodedLists as Term[]; x.length > 0; x = x[0] as Term[]) d++;
  t.equal(d, depth, 'a 1,000,000-deep list decodes');
  t.ok(encode(decodedLists).equals(lists.subarray(0, 2 + depth * 6)), 'and re-encodes to the same bytes');

  const tuples = Buffer.alloc(1 + depth * 2 + 1);
  tuples[0] = 131;
  for (let i = 0; i < depth; i++) tuples.set([104, 1], 1 + i * 2);
  tuples[1 + depth * 2] = 106;
  const decodedTuples = decode(tuples);
  let e = 0;
  for (let x = decodedTuples; x instanceof Tuple; x = x.at(0)) e++;
  t.equal(e, depth, 'a 1,000,000-deep tuple decodes');
  t.ok(encode(decodedTuples).equals(tuples), 'and re-encodes');

  const maps = Buffer.alloc(1 + 100_000 * 7 + 1);
  maps[0] = 131;
  for (let i = 0; i < 100_000; i++) maps.set([116, 0, 0, 0, 1, 97, 1], 1 + i * 7);
  maps[1 + 100_000 * 7] = 106;
  t.ok(encode(decode(maps)).equals(maps), '100,000-deep maps');
});

t.test('round trips of mixed terms', async (t) => {
  const terms: Term[] = [
    tuple(atom('msg'), 123456789, 987654321, Buffer.from('hello there, how are you?'), 1732900000123),
    [tuple(1, atom('online')), tuple(2, atom('idle'))],
    new Map<Term, Term>([
      [atom('k'), [1, 2, 300]],
      [Buffer.from('b'), new Map([[tuple(), []]])],
    ]),
    [new ImproperList([1, 2], 3), -(2n ** 100n), new Float(2), -1.25e-300, true, false, atom('x')],
    new Tuple(Array.from({ length: 300 }, (_, i) => i * 1000)),
  ];
  for (const term of terms) {
    const b = encode(term);
    t.same(decode(b, { lossless: true }), term, 'decode(encode(x)) is x');
    t.same(encode(decode(b, { lossless: true })), b, 'and encodes to the same bytes');
  }
});
