// toMsgpack / fromMsgpack: lossless round trips for every kind of term, the
// exact wire layout of the native types, interop with @msgpack/msgpack in both
// directions, malformed input (every truncation, bit flips), deep terms, and
// random terms (fresh seed per run, printed on failure), including terms made by
// real Erlang that must survive ETF -> msgpack -> ETF and be =:= in Erlang.
import t from 'tap';
import { randomInt } from 'node:crypto';
import { decode as mpDecode, encode as mpEncode, ExtData, ExtensionCodec } from '@msgpack/msgpack';
import {
  atom,
  BitBinary,
  decode,
  DecodeError,
  encode,
  EncodeError,
  ExportFun,
  Float,
  formatTerm,
  Fun,
  ImproperList,
  LocalExt,
  Pid,
  Port,
  Reference,
  termEquals,
  Tuple,
  tuple,
  type Term,
} from '../../src/etf/index.js';
import { erlangExtensionCodec, EXT_FUN, EXT_TUPLE, fromMsgpack, toMsgpack } from '../../src/etf/msgpack.js';
import { erlWith } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { variantsSideBySide } from '../helpers/otp.js';

const node = atom('chat@host');
const pid = new Pid(node, 0x7fff, 0x1fff, 0xfffffffe);
const bigMap = (n: number) => new Map<Term, Term>(Array.from({ length: n }, (_, i) => [i, atom(`v${i}`)]));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const samples: Term[] = [
  0, 1, -1, 31, -32, -33, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -128, -129, -32768, -32769,
  -(2 ** 31), -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53 - 1), 1e20,
  2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 63n), -(2n ** 63n) - 1n, 2n ** 1000n, -(2n ** 1000n), 5n,
  2.5, -0.5, 1e-300, new Float(1), new Float(-0), new Float(0), new Float(2.5), new Float(1e300),
  atom('ok'), atom(''), atom('héllo'), atom('abcd'), atom('abcdefgh'), atom('abcdefghijklmnop'), atom('x'.repeat(255)), atom('\u{1F600}'.repeat(255)), atom('true'), atom('false'), atom('undefined'), true, false, null, undefined,
  tuple(), tuple(atom('ok'), 1), tuple(tuple(tuple())), new Tuple(Array.from({ length: 300 }, (_, i) => i)),
  [], [1, 2, 3], Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 70000 }, (_, i) => i & 0xff),
  new ImproperList([1], 2), new ImproperList([1, 2], new ImproperList([3], atom('x'))), new ImproperList([1], [2, 3]),
  new ImproperList([], 7), new ImproperList([atom('a')], tuple()),
  '', 'hi', 'héllo', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(300), 'z'.repeat(70000),
  Buffer.alloc(0), Buffer.from([1, 2, 3]), Buffer.alloc(255, 1), Buffer.alloc(256, 2), Buffer.alloc(70000, 3), new Uint8Array([9, 8]),
  new BitBinary(Buffer.from([0xff, 0x80]), 1), new BitBinary(Buffer.from([0x40]), 3), new BitBinary(Buffer.from([1, 2]), 8),
  new BitBinary(Buffer.alloc(0), 8), new BitBinary(Buffer.from([0xfe]), 7),
  pid, new Pid(atom('a@h'), 0, 0, 0),
  new Port(node, 7, 1), new Port(node, 2n ** 64n - 1n, 0xffffffff),
  new Reference(node, 3, [1]), new Reference(node, 3, [1, 2, 3]), new Reference(node, 0xffffffff, [1, 2, 3, 4, 5]),
  new ExportFun(atom('lists'), atom('map'), 2), new ExportFun(atom('модуль'), atom('ф'), 255),
  new Fun(1, Buffer.alloc(16, 7), 3, atom('erl_eval'), 45, 97283095, pid, []),
  new Fun(2, Buffer.from('0123456789abcdef'), 0xffffffff, atom('m'), 2n ** 40n, 0, pid, [tuple(1, [2]), new Map([[atom('k'), 'v']])]),
  new LocalExt(Buffer.from([121, 1, 2, 3])),
  new Map(), new Map<Term, Term>([[atom('a'), 1], [tuple(1, 2), [3]], [new Map([[1, 2]]), 'x'], [[1, 2], 2], [1, 'int'], [new Float(1), 'float']]),
  bigMap(15), bigMap(16), bigMap(70000),
  {}, { a: 1, b: [atom('c')], 'é': { nested: 'x' } },
  tuple(atom('msg'), 123456789, 987654321, Buffer.from('hello there, how are you?'), 1732900000123),
];

t.test('every kind of term survives the round trip', async (t) => {
  for (const s of samples) {
    const back = fromMsgpack(toMsgpack(s));
    if (!termEquals(back, s)) t.fail(`round trip of ${formatTerm(s).slice(0, 80)}: got ${formatTerm(back).slice(0, 80)}`);
  }
  t.pass(`${samples.length} samples`);
  // Representation details.
  t.ok(fromMsgpack(toMsgpack(new Float(1))) instanceof Float);
  t.ok(Object.is((fromMsgpack(toMsgpack(new Float(-0))) as Float).value, -0));
  t.equal(fromMsgpack(toMsgpack(2.5)), 2.5);
  t.equal(fromMsgpack(toMsgpack(2n ** 63n - 1n)), 2n ** 63n - 1n);
  t.equal(fromMsgpack(toMsgpack(5n)), 5);
  t.equal(fromMsgpack(toMsgpack(1e20)), 100000000000000000000n);
  t.equal(fromMsgpack(toMsgpack(null)), atom('undefined'));
  t.equal(fromMsgpack(toMsgpack(atom('true'))), true);
  t.ok(Buffer.isBuffer(fromMsgpack(toMsgpack('hi'))));
  t.ok(fromMsgpack(toMsgpack(new Map([[tuple(1), 2]]))) instanceof Map);
  t.ok(fromMsgpack(toMsgpack({ a: 1 })) instanceof Map);
  const f = fromMsgpack(toMsgpack(samples.find((x) => x instanceof Fun && x.freeVars.length > 0)!)) as Fun;
  t.same([f.arity, f.index, f.module, f.oldIndex, f.oldUniq, f.uniq.toString()], [2, 0xffffffff, atom('m'), 2n ** 40n, 0, '0123456789abcdef']);
  t.ok(termEquals(f.pid, pid) && f.pid.creation === 0xfffffffe);
  const p = fromMsgpack(toMsgpack(new Port(node, 2n ** 64n - 1n, 5))) as Port;
  t.equal(p.id, 2n ** 64n - 1n);
  t.equal((fromMsgpack(toMsgpack(new Port(node, 7, 5))) as Port).id, 7);
});

t.test('native types use the standard encodings', async (t) => {
  const cases: [Term, string][] = [
    [0, '00'], [127, '7f'], [128, 'cc80'], [256, 'cd0100'], [65536, 'ce00010000'], [2 ** 32, 'cf0000000100000000'],
    [-1, 'ff'], [-32, 'e0'], [-33, 'd0df'], [-129, 'd1ff7f'], [-32769, 'd2ffff7fff'], [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    [2n ** 64n - 1n, 'cfffffffffffffffff'], [-(2n ** 63n), 'd38000000000000000'],
    [2.5, 'cb4004000000000000'], [new Float(1), 'cb3ff0000000000000'],
    [true, 'c3'], [false, 'c2'], [null, 'c0'], [atom('undefined'), 'c0'],
    ['hi', 'a26869'], ['x'.repeat(32), `d920${'78'.repeat(32)}`], [Buffer.from([1]), 'c40101'],
    [[1, 2], '920102'], [new Map([[1, 2]]), '810102'], [{ a: 1 }, '81a16101'],
    [atom('ok'), 'd5016f6b'], [atom('a'), 'd40161'], [atom('abc'), 'c70301616263'],
    [tuple(1), '92c7000201'], [new ImproperList([1], 2), '93c700080102'],
    [2n ** 64n, 'c70a0300010000000000000000'],
  ];
  for (const [term, want] of cases) t.equal(hex(toMsgpack(term)), want, want);
  // Improper lists from other producers whose tail is itself a list.
  t.ok(termEquals(fromMsgpack(Buffer.from('93c7000801910 2'.replace(/ /g, ''), 'hex')), [1, 2]));
  t.ok(termEquals(fromMsgpack(Buffer.from('93c700080193c70008020 3'.replace(/ /g, ''), 'hex')), new ImproperList([1, 2], 3)));
});

t.test('interop with @msgpack/msgpack', async (t) => {
  // Their encoding, our decoding: str is a binary, nil is undefined, float32 widens.
  const theirs = mpEncode({ s: 'héllo', n: [1, -2, 2.5, null, true], b: new Uint8Array([1, 2]), big: 2n ** 60n }, { useBigInt64: true });
  const m = fromMsgpack(theirs) as Map<Term, Term>;
  t.ok(termEquals(m, new Map<Term, Term>([
    ['s', 'héllo'], ['n', [1, -2, 2.5, atom('undefined'), true]], ['b', Buffer.from([1, 2])], ['big', 2n ** 60n],
  ])));
  t.ok(termEquals(fromMsgpack(mpEncode(1.5, { forceFloat32: true })), 1.5));
  t.ok(fromMsgpack(mpEncode(1, { forceFloat32: true, forceIntegerToFloat: true })) instanceof Float);
  // A timestamp (ext -1) and an unknown extension are kept as {msgpack_ext, Type, Data}.
  const ts = fromMsgpack(mpEncode(new Date(0))) as Tuple;
  t.same([ts.elements[0], ts.elements[1]], [atom('msgpack_ext'), -1]);
  const ext = fromMsgpack(mpEncode(new ExtData(0x40, new Uint8Array([1, 2])))) as Tuple;
  t.ok(termEquals(ext, tuple(atom('msgpack_ext'), 0x40, Buffer.from([1, 2]))));
  // Our encoding, their decoding, through the exported ExtensionCodec.
  const ours = toMsgpack([atom('ok'), pid, new Reference(node, 1, [1, 2, 3]), new Port(node, 9, 2), 2n ** 70n, -(2n ** 70n),
    new BitBinary(Buffer.from([0x80]), 1), new ExportFun(atom('m'), atom('f'), 1), new LocalExt(Buffer.from([121, 0])), 'str', { k: 1 }]);
  const decoded = mpDecode(ours, { extensionCodec: erlangExtensionCodec, useBigInt64: true }) as Term[];
  t.ok(termEquals(decoded.slice(0, 9), [atom('ok'), pid, new Reference(node, 1, [1, 2, 3]), new Port(node, 9, 2), 2n ** 70n, -(2n ** 70n),
    new BitBinary(Buffer.from([0x80]), 1), new ExportFun(atom('m'), atom('f'), 1), new LocalExt(Buffer.from([121, 0]))]));
  t.equal(decoded[9], 'str');
  t.same(decoded[10], { k: 1 });
  // Their encoder with our codec: scalar extension terms go through it too.
  const viaLib = mpEncode([atom('a'), pid, 2n ** 70n], { extensionCodec: erlangExtensionCodec });
  t.ok(termEquals(fromMsgpack(viaLib), [atom('a'), pid, 2n ** 70n]));
  t.equal(mpEncode({ x: 1 }, { extensionCodec: erlangExtensionCodec }).length, 4, 'non-terms are left to the library');
  // A decoder registered on the shared codec turns foreign extensions into terms.
  const codec = erlangExtensionCodec as ExtensionCodec;
  codec.register({ type: 0x41, encode: () => null, decode: (d) => tuple(atom('custom'), d.length) });
  t.ok(termEquals(fromMsgpack(mpEncode(new ExtData(0x41, new Uint8Array(3)))), tuple(atom('custom'), 3)));
  // ... and may itself call fromMsgpack (nested msgpack), at the top or inside containers.
  codec.register({ type: 0x42, encode: () => null, decode: (d) => fromMsgpack(d) });
  const inner = toMsgpack(tuple(atom('in'), [2, new Map([[1, 2]])]));
  t.ok(termEquals(fromMsgpack(mpEncode(new ExtData(0x42, inner))), tuple(atom('in'), [2, new Map([[1, 2]])])));
  const outer = mpEncode([1, [new ExtData(0x42, inner), 3], 4]);
  t.ok(termEquals(fromMsgpack(outer), [1, [tuple(atom('in'), [2, new Map([[1, 2]])]), 3], 4]));
  codec.register({ type: 0x43, encode: () => null, decode: (d) => fromMsgpack(d) });
  t.throws(() => fromMsgpack(mpEncode([1, new ExtData(0x43, Uint8Array.of(0xc1))])), DecodeError);
  t.ok(termEquals(fromMsgpack(mpEncode([1, 2])), [1, 2]), 'state is clean after a nested failure');
});

t.test('malformed input raises DecodeError', async (t) => {
  const rich = toMsgpack(tuple(atom('héllo'), [1, 2n ** 70n, new Float(2)], new Map<Term, Term>([[pid, 'x'], ['k', new BitBinary(Buffer.from([0x80]), 1)]]),
    new Fun(0, Buffer.alloc(16), 1, atom('m'), 1, 2, pid, [3]), new ImproperList([1], 2), new Reference(node, 1, [1]), new Port(node, 1, 1),
    new ExportFun(atom('m'), atom('f'), 0), new LocalExt(Buffer.from([121, 0])), 'x'.repeat(300), Buffer.alloc(70000), 1.5, -7, 300, 70000, -300));
  let errors = 0;
  for (let i = 0; i < rich.length; i++) {
    try {
      fromMsgpack(rich.subarray(0, i));
      t.fail(`prefix ${i} decoded`);
    } catch (e) {
      if (!(e instanceof DecodeError) || !['ERR_DECODE_TRUNCATED', 'ERR_DECODE_BAD_LENGTH'].includes(e.code)) throw e;
      errors++;
    }
  }
  t.equal(errors, rich.length, 'every truncation is refused');
  // OTP's fuzz method: XOR each byte with 1, 2, 4, ..., 128 and 255 (on a smaller term).
  const small = toMsgpack(tuple(atom('ok'), [1, 2.5, 'hi'], new Map([[pid, new Reference(node, 1, [1])]]), new ImproperList([1], 2),
    new Fun(0, Buffer.alloc(16), 1, atom('m'), 1, 2, pid, []), new BitBinary(Buffer.from([0x80]), 1)));
  let decoded = 0;
  let refused = 0;
  for (let i = 0; i < small.length; i++) {
    for (const x of [1, 2, 4, 8, 16, 32, 64, 128, 255]) {
      const bad = Buffer.from(small);
      bad[i] ^= x;
      try {
        fromMsgpack(bad);
        decoded++;
      } catch (e) {
        if (!(e instanceof DecodeError)) throw new Error(`byte ${i} ^ ${x}: ${e}`);
        refused++;
      }
    }
  }
  t.ok(decoded > 0 && refused > 0, `bit flips: ${decoded} decoded, ${refused} refused, no other exception`);
  const bad: [string, string][] = [
    ['c1', 'ERR_DECODE_UNKNOWN_TAG'],
    ['0000', 'ERR_DECODE_TRAILING'],
    ['cb7ff8000000000000', 'ERR_DECODE_BAD_FLOAT'],
    ['ca7f800000', 'ERR_DECODE_BAD_FLOAT'],
    ['dd7fffffff', 'ERR_DECODE_BAD_LENGTH'],
    ['df00010000', 'ERR_DECODE_BAD_LENGTH'],
    ['c70002', 'ERR_DECODE_BAD_TERM'], // a marker alone
    ['9201c70002', 'ERR_DECODE_BAD_TERM'], // a marker not at the head
    ['81c7000201', 'ERR_DECODE_BAD_TERM'], // a marker as a map key
    ['91d40200', 'ERR_DECODE_BAD_TERM'], // a tuple marker with a payload
    ['92c7000801', 'ERR_DECODE_BAD_TERM'], // an improper list without a tail
    ['92c70f09000000000000000000000000000000000101', 'ERR_DECODE_BAD_TERM'], // a fun without pid
    ['91c700090000', 'ERR_DECODE_BAD_TERM'], // a fun marker too short
    ['d401ff', 'ERR_DECODE_BAD_ATOM'],
    [`c7ff01${'61'.repeat(254)}`, 'ERR_DECODE_TRUNCATED'],
    [`c8020001${'c3a9'.repeat(256)}`, 'ERR_DECODE_ATOM_TOO_LONG'],
    ['d40300', 'ERR_DECODE_TRUNCATED'],
    ['d5030201', 'ERR_DECODE_BAD_TERM'],
    ['c7030400000001', 'ERR_DECODE_TRUNCATED'],
    ['c70506000000000061', 'ERR_DECODE_BAD_LENGTH'],
    ['c70506000000000161', 'ERR_DECODE_TRUNCATED'],
    ['d5070001', 'ERR_DECODE_BAD_BITS'],
    ['d5070880', 'ERR_DECODE_BAD_BITS'],
    ['d50701ff', 'ERR_DECODE_BAD_BITS'],
    ['d50a00', 'ERR_DECODE_TRUNCATED'],
    ['c7030a0000056d', 'ERR_DECODE_TRUNCATED'],
    ['d50b7900', 'ERR_DECODE_BAD_TERM'].map((x, i) => (i === 0 ? 'd50b7a00' : x)) as [string, string],
    ['d40b79', 'ERR_DECODE_BAD_TERM'],
    ['c7', 'ERR_DECODE_TRUNCATED'],
    ['d4', 'ERR_DECODE_TRUNCATED'],
    ['', 'ERR_DECODE_TRUNCATED'],
  ];
  for (const [h, code] of bad) {
    try {
      fromMsgpack(Buffer.from(h, 'hex'));
      t.fail(`${h} decoded`);
    } catch (e) {
      t.ok(e instanceof DecodeError, h);
      t.equal((e as DecodeError).code, code, `${h}: ${(e as Error).message}`);
    }
  }
  t.throws(() => toMsgpack(NaN), EncodeError);
  t.throws(() => toMsgpack(new Float(Infinity)), EncodeError);
  t.throws(() => toMsgpack([(() => 1) as unknown as Term]), EncodeError);
});

t.test('deep terms and buffer reuse', async (t) => {
  let l: Term = [];
  let tp: Term = 0;
  let mp: Term = 0;
  let il: Term = 0;
  for (let i = 0; i < 100_000; i++) {
    l = [l];
    tp = tuple(tp, i);
    mp = new Map([[mp, i]]);
    il = new ImproperList([i], tuple(il));
  }
  for (const x of [l, tp, mp, il]) t.ok(termEquals(fromMsgpack(toMsgpack(x)), x));
  const huge = toMsgpack(Buffer.alloc(3 << 20, 7));
  t.equal(huge.length, (3 << 20) + 5);
  t.equal(hex(toMsgpack([1, 'a'])), '9201a161', 'the buffer is fine after growing and shrinking');
  t.equal(EXT_TUPLE, 2);
  t.equal(EXT_FUN, 9);
});

/** A small seeded PRNG (mulberry32), so a failing run can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTerm(r: () => number, depth: number): Term {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const few = () => Array.from({ length: Math.floor(r() * 4) }, () => randomTerm(r, depth - 1));
  const k = depth > 0 ? Math.floor(r() * 20) : 6 + Math.floor(r() * 14);
  switch (k) {
    case 0: return new Tuple(few());
    case 1: return few();
    case 2: {
      // Keys must be distinct terms (null and undefined are both the atom undefined).
      const m = new Map<Term, Term>();
      for (const k of few()) if (![...m.keys()].some((x) => termEquals(x, k))) m.set(k, randomTerm(r, depth - 1));
      return m;
    }
    case 3: return new ImproperList([randomTerm(r, depth - 1), ...few()], pick([atom('t'), 1, Buffer.from('x')]));
    case 4: return new Fun(Math.floor(r() * 5), Buffer.alloc(16, Math.floor(r() * 256)), Math.floor(r() * 100), atom('m'), 1, 2, pid, few());
    case 5: return Object.fromEntries(few().map((x, i) => [`k${i}`, x]));
    case 6: return Math.floor((r() - 0.5) * 2 ** Math.floor(r() * 60));
    case 7: return BigInt(Math.floor(r() * 1e15)) ** BigInt(1 + Math.floor(r() * 5)) * (r() < 0.5 ? -1n : 1n);
    case 8: return (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
    case 9: return new Float(Math.floor((r() - 0.5) * 1000));
    case 10: return atom(pick(['ok', 'error', '', 'héllo', 'a b', '\u{1F600}']));
    case 11: return pick([true, false, null, undefined, []]);
    case 12: return Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
    case 13: return pick(['', 'text', 'ünïcödé', 'x'.repeat(40)]);
    case 14: return new BitBinary(Buffer.from([Math.floor(r() * 256), 0x80]), 1);
    case 15: return new Pid(pick([node, atom('a@b')]), Math.floor(r() * 2 ** 32), Math.floor(r() * 2 ** 13), Math.floor(r() * 2 ** 32));
    case 16: return new Port(node, r() < 0.5 ? Math.floor(r() * 2 ** 32) : BigInt(Math.floor(r() * 2 ** 52)) * 4096n, 1);
    case 17: return new Reference(node, Math.floor(r() * 2 ** 32), Array.from({ length: 1 + Math.floor(r() * 5) }, () => Math.floor(r() * 2 ** 32)));
    case 18: return new ExportFun(atom('mod'), atom(pick(['f', 'g'])), Math.floor(r() * 256));
    default: return new LocalExt(Buffer.from([121, Math.floor(r() * 256)]));
  }
}

t.test('random terms survive the round trip', async (t) => {
  const seed = randomInt(1, 2 ** 31);
  const r = rng(seed);
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    const x = randomTerm(r, 4);
    const back = fromMsgpack(toMsgpack(x));
    if (!termEquals(back, x) && bad++ < 3) t.fail(`seed ${seed}, term ${i}: ${formatTerm(x)} came back as ${formatTerm(back)}`);
  }
  t.equal(bad, 0, `3000 random terms (seed ${seed})`);
});

// test/erl/bbmp.erl makes random terms of every kind term_to_binary can make (local funs, pids, ports and
// references of other nodes with any creation, bitstrings, bignums, -0.0, maps
// with compound keys, improper lists), printed as hex. Erlang then compares each
// original with what came back (the originals travel too: local pids and refs
// cannot be regenerated).
for (const v of variantsSideBySide(t)) {
  t.test(`terms made by ${v.label} survive ETF -> msgpack -> ETF`, async (t) => {
    const seed = randomInt(1, 2 ** 31);
    const count = 400;
    const lines = (await erlWith(erlModule('bbmp'), `bbmp:gen_all(${seed}, ${count})`, '', v.root)).trim().split('\n');
    const release = lines.pop()!;
    const bad: string[] = [];
    const hex: string[] = [];
    lines.forEach((h, i) => {
      const term = decode(Buffer.from(h, 'hex'), { lossless: true });
      const back = fromMsgpack(toMsgpack(term));
      if (!termEquals(back, term)) bad.push(`term ${i}: ${formatTerm(term).slice(0, 200)}`);
      hex.push(`${h} ${encode(back).toString('hex')}`);
    });
    t.equal(lines.length, count);
    t.same(bad.slice(0, 3), [], `termEquals after the trip (seed ${seed})`);
    const check = await erlWith(erlModule('bbmp'), `bbmp:check(${count}, Data)`, hex.join('\n'), v.root);
    const badIdx = JSON.parse(check.trim().replace(/^BAD /, '')) as number[];
    t.same(badIdx.slice(0, 5).map((i) => lines[i].slice(0, 200)), [], `=:= in ${release} after ETF -> msgpack -> ETF (seed ${seed})`);
  });
}
