// The ETF encoder with hand-checked bytes: every encode mapping, derived from
// erl_ext_dist (byte layouts in the comments) and cross-checked with
// `erl -noshell -eval 'io:format("~w",[term_to_binary(T)])'`.
// Decoding is in codec-decode; error codes, options and the writer in codec-errors / codec-options.
import t from 'tap';
import {
  Atom,
  BitBinary,
  EncodeError,
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
  atomCount,
  decode,
  encode,
  tuple,
  type Term,
} from '../../src/etf/index.js';
import { bytes, enc, ext, NODE, NODE_BYTES, sa, u32, utf8 } from './codec-bytes.js';

t.test('encode: integers', async (t) => {
  t.same(enc(0), [131, 97, 0], 'SMALL_INTEGER_EXT 0');
  t.same(enc(255), [131, 97, 255]);
  t.same(enc(-0), [131, 97, 0], '-0 is the integer 0');
  t.same(enc(256), [131, 98, 0, 0, 1, 0], 'INTEGER_EXT');
  t.same(enc(-1), [131, 98, 255, 255, 255, 255]);
  t.same(enc(2147483647), [131, 98, 127, 255, 255, 255]);
  t.same(enc(-2147483648), [131, 98, 128, 0, 0, 0]);
  t.same(enc(2147483648), [131, 110, 4, 0, 0, 0, 0, 128], 'SMALL_BIG_EXT 2^31');
  t.same(enc(-2147483649), [131, 110, 4, 1, 1, 0, 0, 128]);
  t.same(enc(2 ** 32), [131, 110, 5, 0, 0, 0, 0, 0, 1]);
  t.same(enc(1732900000123), [131, 110, 6, 0, 123, 145, 227, 120, 147, 1]);
  t.same(enc(Number.MAX_SAFE_INTEGER), [131, 110, 7, 0, 255, 255, 255, 255, 255, 255, 31]);
  t.same(enc(-Number.MAX_SAFE_INTEGER), [131, 110, 7, 1, 255, 255, 255, 255, 255, 255, 31]);
  t.same(enc(2 ** 64), [131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 'an integral double beyond 2^53 is exact');
  t.same(enc(1e20), enc(100000000000000000000n));
});

t.test('encode: bigints take the smallest tag', async (t) => {
  t.same(enc(5n), [131, 97, 5]);
  t.same(enc(-5n), [131, 98, 255, 255, 255, 251]);
  t.same(enc(2n ** 31n), [131, 110, 4, 0, 0, 0, 0, 128]);
  t.same(enc(2n ** 64n), [131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.same(enc(-(2n ** 64n)), [131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  const b255 = enc(2n ** 2032n); // 255 bytes of magnitude: still SMALL_BIG
  t.same(b255.slice(0, 4), [131, 110, 255, 0]);
  const big = enc(-(2n ** 2040n)); // 256 bytes: LARGE_BIG_EXT, 111, n:32, sign
  t.same(big.slice(0, 7), [131, 111, 0, 0, 1, 0, 1]);
  t.equal(big.length, 7 + 256);
  t.equal(big[big.length - 1], 1);
  t.throws(() => encode(2n ** (8n * 4_194_296n)), EncodeError, 'over OTP big limit');
  t.equal(decode(encode(2n ** (8n * 4_194_296n) - 1n)), 2n ** (8n * 4_194_296n) - 1n, 'the largest OTP big');
});

t.test('encode: floats', async (t) => {
  t.same(enc(1.5), [131, 70, 63, 248, 0, 0, 0, 0, 0, 0], 'NEW_FLOAT_EXT big-endian');
  t.same(enc(-0.1), [131, 70, 191, 185, 153, 153, 153, 153, 153, 154]);
  t.same(enc(5e-324), [131, 70, 0, 0, 0, 0, 0, 0, 0, 1]);
  t.same(enc(new Float(1)), [131, 70, 63, 240, 0, 0, 0, 0, 0, 0], 'Float keeps 1.0 a float');
  t.same(enc(new Float(-0)), [131, 70, 128, 0, 0, 0, 0, 0, 0, 0]);
  for (const bad of [NaN, Infinity, -Infinity]) {
    t.throws(() => encode(bad), EncodeError, `${bad}`);
    t.throws(() => encode(new Float(bad)), EncodeError, `Float(${bad})`);
    t.throws(() => encode([1, tuple(bad)]), EncodeError, `nested ${bad}`);
  }
});

t.test('encode: strings, booleans, null and undefined', async (t) => {
  t.same(enc(''), [131, 109, 0, 0, 0, 0]);
  t.same(enc('héllo'), [131, 109, 0, 0, 0, 6, ...utf8('héllo')], 'UTF-8 binary');
  t.same(enc('😀'), [131, 109, 0, 0, 0, 4, 240, 159, 152, 128]);
  const long = 'x'.repeat(100) + 'ü';
  t.same(enc(long), [131, 109, ...u32(102), ...utf8(long)], 'long string');
  const longAscii = 'a'.repeat(300);
  t.same(enc(longAscii), [131, 109, ...u32(300), ...utf8(longAscii)]);
  t.same(enc(true), [131, ...sa('true')]);
  t.same(enc(false), [131, ...sa('false')]);
  t.same(enc(null), [131, ...sa('undefined')]);
  t.same(enc(undefined), [131, ...sa('undefined')]);
});

t.test('encode: atoms', async (t) => {
  t.same(enc(atom('ok')), [131, 119, 2, 111, 107], 'SMALL_ATOM_UTF8_EXT');
  t.same(enc(atom('')), [131, 119, 0]);
  t.same(enc(atom('héllo')), [131, ...sa('héllo')]);
  const wide = 'é'.repeat(200); // 200 characters, 400 bytes
  t.same(enc(atom(wide)), [131, 118, 1, 144, ...utf8(wide)], 'ATOM_UTF8_EXT over 255 bytes');
  t.same(enc(atom('😀'.repeat(255))).slice(0, 4), [131, 118, 3, 252], '255 four-byte characters');
  t.same(enc(atom('a'.repeat(255))).slice(0, 3), [131, 119, 255]);
  t.throws(() => encode(atom('a'.repeat(256))), EncodeError, '256 characters');
  t.throws(() => encode(atom('\ud800x')), EncodeError, 'lone surrogate');
  t.throws(() => encode(atom('x\udc00')), EncodeError, 'lone low surrogate');
  t.same(enc(new Atom('not_interned')), [131, ...sa('not_interned')], 'a stray Atom still encodes');
  // The encoding is cached on the atom: the second encode (a cache hit) gives the same bytes.
  const hot = atom(`cached_${Math.random().toString(36).slice(2)}`);
  const first = enc(tuple(hot, [hot]));
  t.same(enc(tuple(hot, [hot])), first, 'cached encoding reused');
  t.same(first, [131, 104, 2, ...sa(hot.name), 108, 0, 0, 0, 1, ...sa(hot.name), 106]);
  t.throws(() => encode(atom('b'.repeat(256))), EncodeError, 'a refused atom is refused again (nothing cached)');
  t.throws(() => encode(atom('b'.repeat(256))), EncodeError);
});

t.test('atomCount: the size of the atom table', async (t) => {
  const n = atomCount();
  const name = `count_${Math.random().toString(36).slice(2)}`;
  atom(name);
  t.equal(atomCount(), n + 1, 'a new atom is interned once');
  atom(name);
  new Atom(`${name}_stray`);
  t.equal(atomCount(), n + 1, 'interning again, or a stray Atom, adds nothing');
  decode(ext(...sa(`${name}_decoded`)));
  t.equal(atomCount(), n + 2, 'decoding a new atom interns it');
});

t.test('encode: tuples', async (t) => {
  t.same(enc(tuple()), [131, 104, 0]);
  t.same(enc(tuple(1, atom('a'))), [131, 104, 2, 97, 1, 119, 1, 97]);
  const big = enc(new Tuple(Array.from({ length: 256 }, () => 0)));
  t.same(big.slice(0, 6), [131, 105, 0, 0, 1, 0], 'LARGE_TUPLE_EXT');
  t.equal(big.length, 6 + 512);
  class MyTuple extends Tuple {}
  t.same(enc(new MyTuple([1])), [131, 104, 1, 97, 1], 'a Tuple subclass');
  t.same(enc(new MyTuple(new Array(256).fill(1))).slice(0, 8), [131, 105, 0, 0, 1, 0, 97, 1], 'a large Tuple subclass');
  t.same(enc(tuple(tuple(tuple()))), [131, 104, 1, 104, 1, 104, 0]);
});

t.test('encode: lists', async (t) => {
  t.same(enc([]), [131, 106], 'NIL_EXT');
  t.same(enc([1, 2, 3]), [131, 107, 0, 3, 1, 2, 3], 'STRING_EXT for bytes');
  t.same(enc([0, 255]), [131, 107, 0, 2, 0, 255]);
  t.same(enc([1, 256]), [131, 108, 0, 0, 0, 2, 97, 1, 98, 0, 0, 1, 0, 106], 'LIST_EXT');
  t.same(enc([1, 1.5]), [131, 108, 0, 0, 0, 2, 97, 1, 70, 63, 248, 0, 0, 0, 0, 0, 0, 106]);
  t.same(enc([-1]), [131, 108, 0, 0, 0, 1, 98, 255, 255, 255, 255, 106]);
  t.same(enc([atom('a'), [], [[]]]), [131, 108, 0, 0, 0, 3, 119, 1, 97, 106, 108, 0, 0, 0, 1, 106, 106, 106]);
  const s65535 = enc(new Array(65535).fill(7));
  t.same(s65535.slice(0, 4), [131, 107, 255, 255], '65535 bytes: STRING_EXT');
  const l65536 = enc(new Array(65536).fill(7));
  t.same(l65536.slice(0, 6), [131, 108, 0, 1, 0, 0], '65536 bytes: LIST_EXT');
  t.equal(l65536.length, 6 + 2 * 65536 + 1);
  class MyArray extends Array<Term> {}
  const ma = new MyArray();
  ma.push(300);
  t.same(enc(ma), [131, 108, 0, 0, 0, 1, 98, 0, 0, 1, 44, 106], 'an Array subclass');
  t.same(enc(new MyArray()), [131, 106]);
  const ma2 = new MyArray();
  ma2.push(1, 2);
  t.same(enc(ma2), [131, 107, 0, 2, 1, 2]);
});

t.test('encode: improper lists', async (t) => {
  t.same(enc(new ImproperList([1], atom('a'))), [131, 108, 0, 0, 0, 1, 97, 1, 119, 1, 97]);
  t.same(enc(new ImproperList([1, 2], 3.5)), [131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 70, 64, 12, 0, 0, 0, 0, 0, 0]);
  t.same(enc(new ImproperList([], 5)), [131, 97, 5], 'no heads: just the tail');
  t.same(enc(new ImproperList([], tuple(1))), [131, 104, 1, 97, 1]);
  t.same(
    enc(new ImproperList([new ImproperList([1], 2)], tuple())),
    [131, 108, 0, 0, 0, 1, 108, 0, 0, 0, 1, 97, 1, 97, 2, 104, 0],
    'nested, container tail',
  );
  t.same(
    enc(new ImproperList([1], [2])),
    [131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 1, 2],
    'a list tail makes a proper list on the wire',
  );
  t.same(decode(encode(new ImproperList([1], [2]))), [1, 2]);
});

t.test('encode: maps and plain objects', async (t) => {
  t.same(enc(new Map()), [131, 116, 0, 0, 0, 0]);
  t.same(
    enc(
      new Map<Term, Term>([
        [atom('a'), 1],
        [2, [3]],
      ]),
    ),
    [131, 116, 0, 0, 0, 2, 119, 1, 97, 97, 1, 97, 2, 107, 0, 1, 3],
  );
  t.same(enc({}), [131, 116, 0, 0, 0, 0]);
  t.same(enc({ a: 1, é: 'x' }), [131, 116, 0, 0, 0, 2, 109, 0, 0, 0, 1, 97, 97, 1, 109, 0, 0, 0, 2, 195, 169, 109, 0, 0, 0, 1, 120]);
  const bare = Object.create(null) as Record<string, Term>;
  bare.k = null;
  t.same(enc(bare), [131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 107, ...sa('undefined')], 'null-prototype object');
  class MyMap extends Map<Term, Term> {}
  t.same(enc(new MyMap([[1, 2]])), [131, 116, 0, 0, 0, 1, 97, 1, 97, 2], 'a Map subclass');
});

t.test('encode: binaries and bitstrings', async (t) => {
  t.same(enc(bytes(1, 2, 3)), [131, 109, 0, 0, 0, 3, 1, 2, 3]);
  t.same(enc(new Uint8Array([9])), [131, 109, 0, 0, 0, 1, 9], 'Uint8Array');
  const big = Buffer.alloc(1000, 5);
  t.same(enc(big), [131, 109, ...u32(1000), ...big]);
  const view = Buffer.from([0, 1, 2, 3, 4]).subarray(1, 3);
  t.same(enc(view), [131, 109, 0, 0, 0, 2, 1, 2], 'a view encodes its own bytes');
  class MyBytes extends Uint8Array {}
  t.same(enc(new MyBytes([4, 5])), [131, 109, 0, 0, 0, 2, 4, 5], 'a Uint8Array subclass');
  // An own `length` that lies: the Len header counts the bytes really copied (no stale buffer bytes, no RangeError).
  const liar = <T extends Uint8Array>(d: T, length: number): T => Object.defineProperty(d, 'length', { value: length });
  const twelve = Buffer.from(Array.from({ length: 12 }, (_, i) => i + 1));
  t.same(enc(liar(Buffer.from(twelve), 20)), [131, 109, ...u32(12), ...twelve], 'a Buffer whose length says more than it holds');
  t.same(enc(tuple(liar(Buffer.from(twelve), 3), true)), [131, 104, 2, 109, ...u32(12), ...twelve, 119, 4, ...utf8('true')], 'less');
  t.same(enc(liar(new Uint8Array(300).fill(7), 10)), [131, 109, ...u32(300), ...new Array(300).fill(7)], 'a long one');
  t.same(enc(new BitBinary(liar(bytes(1, 2, 0xe0), 1), 3)), [131, 77, 0, 0, 0, 3, 3, 1, 2, 0xe0], 'a BitBinary');
  t.same(enc(new BitBinary(bytes(0xe0), 3)), [131, 77, 0, 0, 0, 1, 3, 0xe0], 'BIT_BINARY_EXT');
  t.same(enc(new BitBinary(bytes(1, 0x80), 1)), [131, 77, 0, 0, 0, 2, 1, 1, 0x80]);
  t.same(enc(new BitBinary(bytes(1, 2), 8)), [131, 109, 0, 0, 0, 2, 1, 2], 'bits 8: a binary');
  t.same(enc(new BitBinary(bytes(), 0)), [131, 109, 0, 0, 0, 0], 'empty: a binary');
  t.throws(() => encode(new BitBinary(bytes(1), 0)), EncodeError);
  t.throws(() => encode(new BitBinary(bytes(1), 9)), EncodeError);
  t.throws(() => encode(new BitBinary([1] as unknown as Buffer, 3)), EncodeError);
});

t.test('encode: pids, ports, references', async (t) => {
  t.same(enc(new Pid(NODE, 1, 2, 3)), [131, 88, ...NODE_BYTES, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3], 'NEW_PID_EXT');
  t.same(enc(new Pid(NODE, 0xffffffff, 0, 0xffffffff)), [131, 88, ...NODE_BYTES, 255, 255, 255, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  t.throws(() => encode(new Pid(NODE, -1, 0, 0)), EncodeError);
  t.throws(() => encode(new Pid(NODE, 2 ** 32, 0, 0)), EncodeError);
  t.throws(() => encode(new Pid('n' as unknown as Atom, 1, 0, 0)), EncodeError, 'node not an atom');
  t.same(enc(new Port(NODE, 7, 2)), [131, 89, ...NODE_BYTES, 0, 0, 0, 7, 0, 0, 0, 2], 'NEW_PORT_EXT');
  t.same(enc(new Port(NODE, 7n, 2)), [131, 89, ...NODE_BYTES, 0, 0, 0, 7, 0, 0, 0, 2], 'bigint id that fits 32 bits');
  t.same(enc(new Port(NODE, 2 ** 40, 2)), [131, 120, ...NODE_BYTES, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2], 'V4_PORT_EXT');
  t.same(enc(new Port(NODE, 2n ** 64n - 1n, 1)), [131, 120, ...NODE_BYTES, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 1]);
  t.throws(() => encode(new Port(NODE, 2n ** 64n, 1)), EncodeError);
  t.throws(() => encode(new Port(NODE, -1, 1)), EncodeError);
  t.same(
    enc(new Reference(NODE, 5, [1, 2, 3])),
    [131, 90, 0, 3, ...NODE_BYTES, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
    'NEWER_REFERENCE_EXT',
  );
  t.same(enc(new Reference(NODE, 0, [])), [131, 90, 0, 0, ...NODE_BYTES, 0, 0, 0, 0]);
  t.throws(() => encode(new Reference(NODE, 0, [1, 2, 3, 4, 5, 6])), EncodeError);
  t.throws(() => encode(new Reference(NODE, 0, [1.5])), EncodeError);
});

t.test('encode: funs and LOCAL_EXT', async (t) => {
  t.same(enc(new ExportFun(atom('lists'), atom('map'), 2)), [131, 113, ...sa('lists'), ...sa('map'), 97, 2], 'EXPORT_EXT');
  t.throws(() => encode(new ExportFun(atom('m'), atom('f'), 256)), EncodeError);
  t.throws(() => encode(new ExportFun(atom('m'), 'f' as unknown as Atom, 1)), EncodeError);
  const uniq = Buffer.alloc(16, 0xab);
  const pid = new Pid(NODE, 1, 0, 2);
  const f = new Fun(1, uniq, 7, atom('m'), 3, 300, pid, [1, atom('x')]);
  const body = [
    1, ...uniq, 0, 0, 0, 7, 0, 0, 0, 2, ...sa('m'), 97, 3, 98, 0, 0, 1, 44,
    88, ...NODE_BYTES, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 97, 1, ...sa('x'),
  ];
  t.same(enc(f), [131, 112, ...u32(body.length + 4), ...body], 'NEW_FUN_EXT with Size back-patched');
  const f0 = new Fun(0, uniq, 0, atom('m'), 0, -1n, pid, []);
  const e0 = enc(f0);
  t.equal(e0[1], 112);
  t.equal(Buffer.from(e0).readUInt32BE(2), e0.length - 2, 'Size counts itself and everything after');
  const nested = enc(tuple(f, f0));
  t.same(decode(Buffer.from(nested)), tuple(f, f0), 'funs round-trip');
  t.throws(() => encode(new Fun(0, Buffer.alloc(15), 0, atom('m'), 0, 0, pid, [])), EncodeError, 'uniq of 15 bytes');
  t.throws(() => encode(new Fun(256, uniq, 0, atom('m'), 0, 0, pid, [])), EncodeError, 'arity 256');
  t.throws(() => encode(new Fun(0, uniq, 0, atom('m'), 2 ** 31, 0, pid, [])), EncodeError, 'oldIndex beyond int32');
  t.throws(() => encode(new Fun(0, uniq, 0, atom('m'), 0, 0, {} as Pid, [])), EncodeError, 'pid not a Pid');
  t.throws(() => encode(new Fun(0, uniq, 0, atom('m'), 0, 0, pid, {} as Term[])), EncodeError, 'freeVars not an array');
  const local = bytes(121, 1, 2, 3, 4, 97, 5);
  t.same(enc(new LocalExt(local)), [131, ...local], 'LOCAL_EXT bytes as they are');
  t.throws(() => encode(new LocalExt(bytes(97, 5))), EncodeError, 'not starting with 121');
});

t.test('encode: values with no Erlang term', async (t) => {
  const bad: unknown[] = [() => 1, Symbol('s'), new Date(0), new Set([1]), new Uint16Array(2), new (class Foo {})(), /re/];
  for (const v of bad) {
    t.throws(() => encode(v as Term), EncodeError, String(typeof v === 'symbol' ? 'symbol' : v));
    t.throws(() => encode([1, tuple(v as Term)]), EncodeError, 'nested');
  }
  t.throws(() => encode(new ImproperList({} as Term[], 1)), EncodeError);
  try {
    encode(new Date(0) as unknown as Term);
  } catch (e) {
    t.match((e as Error).message, /Date/, 'the message names the class');
    t.equal((e as EncodeError).code, 'ERR_ENCODE');
  }
});

t.test('encode: cycles raise instead of looping', async (t) => {
  const a: Term[] = [1];
  a.push(a);
  t.throws(() => encode(a), EncodeError, 'array in itself');
  const m = new Map<Term, Term>();
  m.set(1, m);
  t.throws(() => encode(m), EncodeError, 'map in itself');
  const o: Record<string, Term> = {};
  o.self = [o];
  t.throws(() => encode(o), EncodeError, 'object in itself');
  const tp = new Tuple([1]);
  tp.elements.push(tp);
  t.throws(() => encode(tp), EncodeError, 'tuple in itself');
  const il = new ImproperList([1], 0) as { tail: Term };
  il.tail = il as unknown as Term;
  t.throws(() => encode(il as unknown as Term), EncodeError, 'improper list whose tail is itself');
  // A shared (acyclic) subterm is fine, even deep.
  const shared = [atom('x')];
  let deep: Term = shared;
  for (let i = 0; i < 3000; i++) deep = [shared, deep];
  t.ok(decode(encode(deep)), 'a deep DAG encodes');
  // The writer is usable after the error.
  t.same(enc(1), [131, 97, 1]);
});

t.test('encode: a getter that encodes while encoding', async (t) => {
  const o = {
    get inner() {
      return encode(tuple(atom('in'))) as Term;
    },
  };
  const out = decode(encode({ x: 1, inner: 0 } as Term)) as Map<Term, Term>;
  t.equal(out.size, 2);
  const v = decode(encode(o as unknown as Term)) as Map<Term, Term>;
  const inner = v.get([...v.keys()][0]) as Buffer;
  t.same(decode(inner), tuple(atom('in')), 'the nested encode has its own writer');
});

t.test('encode: results do not overlap', async (t) => {
  const outs: Buffer[] = [];
  for (let i = 0; i < 3000; i++) outs.push(encode(tuple(i, 'x'.repeat(i % 50))));
  for (let i = 0; i < outs.length; i++) {
    t.same(decode(outs[i]), tuple(i, Buffer.from('x'.repeat(i % 50))), `result ${i} intact`);
    if (i > 20) i += 97;
  }
  const big = encode(Buffer.alloc(200_000, 1));
  t.equal(big.length, 200_006);
  const after = encode(atom('after'));
  t.same([...after], [131, ...sa('after')]);
  t.equal(big[200_005], 1, 'a large result is intact after later encodes');
});

t.test('encode: safe integers beyond int32 give the same bytes as the same bigint', async (t) => {
  const edges = [2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 255, 1732900000123, 2 ** 48 - 1, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];
  for (const m of edges) {
    for (const v of [m, -m]) {
      t.same([...encode(v)], [...encode(BigInt(v))], `${v}`);
      t.same([...encode(tuple(v))], [...encode(tuple(BigInt(v)))], `${v} in a tuple`);
    }
  }
  t.same(enc(Number.MAX_SAFE_INTEGER), [131, 110, 7, 0, 255, 255, 255, 255, 255, 255, 31]);
});

t.test('encode: leaves written a word at a time leave no stray bytes between terms', async (t) => {
  // The leaf writers store whole words (atoms, booleans, SMALL_BIG_EXT digits) and may
  // write past a leaf's end inside the headroom: the next term must overwrite them.
  const leaves: Term[] = [true, false, null, undefined, atom('a'), atom('hello_world'), 1.5, -0.25, 2 ** 32, -(2 ** 40 + 255), 7, -70000];
  const wrong: string[] = [];
  let checked = 0;
  for (let n = 0; n <= 70; n++) {
    const bin = Buffer.alloc(n);
    for (let i = 0; i < n; i++) bin[i] = (i * 37 + n) & 0xff;
    t.same(enc(bin), [131, 109, ...u32(n), ...bin], `binary of ${n} bytes`);
    for (const leaf of leaves) {
      const parts: Term[] = [leaf, bin, leaf, tuple(bin, leaf), leaf];
      const expected = [131, 104, parts.length, ...parts.flatMap((p) => enc(p).slice(1))];
      if (!sameBytes(enc(tuple(...parts)), expected)) wrong.push(`${String(leaf)} around a binary of ${n} bytes`);
      checked++;
    }
  }
  t.same(wrong, [], `${checked} tuples of leaves and binaries`);
  t.equal(checked, 71 * leaves.length);
  t.same(enc(tuple(true, 1)), [131, 104, 2, 119, 4, ...utf8('true'), 97, 1], 'true, then an integer right after it');
});

/** Element by element (t.same on thousands of arrays would print too much on a failure). */
function sameBytes(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
