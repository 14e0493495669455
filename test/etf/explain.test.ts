// explain(): the annotated dissection of ETF bytes, on bytes made by real
// Erlang. Structural invariants on every node, agreement with the codec on
// every malformed variant, the options, and bounds on huge or deep input.
import t, { type Test } from 'tap';
import { deflateSync, inflateSync } from 'node:zlib';
import { atom, BitBinary, decode, decodeWithLength, DecodeError, encode, formatTerm, type Term } from '../../src/etf/index.js';
import { explain, type ExplainNode, type Explanation } from '../../src/etf/explain.js';
import { runErl } from '../../src/testing/index.js';

// One of every tag term_to_binary produces on OTP 25, plus edge values.
const VECTORS = [
  '0', '255', '256', '-1', '2147483647', '-2147483648', '134217728', '1 bsl 64', '-(1 bsl 1000)', '1 bsl 2100',
  '2.5', '-0.0', '5.0e-324', '1.0',
  "ok", "'ünïcødé'", "list_to_atom(lists:duplicate(255, $x))", "''",
  '{}', '{a, b}', 'list_to_tuple(lists:seq(1, 256))',
  '[]', '"abc"', '[1, 2, 3]', '[a | b]', 'lists:seq(1, 70000)', '[1000, [2]]',
  '<<>>', '<<"hello">>', '<<1:1>>', '<<1, 2:7>>',
  '#{}', '#{a => 1, <<"b">> => [2], {c} => #{}}', 'maps:from_list([{K, K} || K <- lists:seq(1, 40)])',
  'self()', 'make_ref()', 'hd(erlang:ports())', 'fun lists:map/2', 'fun(X) -> {X, self()} end',
  '{self(), [make_ref()], #{port => hd(erlang:ports())}}',
];

let hexes: string[] = [];

t.before(async () => {
  const out = await runErl(`[io:format("~s~n", [binary:encode_hex(term_to_binary(T))]) || T <- [${VECTORS.join(', ')}]]`);
  hexes = out.trim().split('\n');
});

function* walk(nodes: ExplainNode[]): Generator<ExplainNode> {
  const stack = [...nodes].reverse();
  while (stack.length > 0) {
    const n = stack.pop()!;
    yield n;
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
}

/** Every node's bytes, decoded by the codec on their own, are the node's value; children tile the parent. */
function checkTree(t: Test, bytes: Buffer, x: Explanation): void {
  // Offsets under COMPRESSED count in the inflated data (131 80 Size:32 then zlib).
  const inflated = x.nodes[1]?.tag === 80 ? inflateSync(bytes.subarray(6)) : undefined;
  for (const n of walk(x.nodes)) {
    const buf = n.inflated ? inflated! : bytes;
    if (n.offset + n.length > buf.length) t.fail(`${n.tagName} at ${n.offset} runs past the input`);
    if (n.tag === 131 || n.tag === 80) continue;
    const { term, length } = decodeWithLength(buf, { offset: n.offset, version: false, lossless: true });
    if (length !== n.length) t.fail(`${n.tagName} at ${n.offset}: length ${n.length}, codec says ${length}`);
    if (n.value !== undefined && !n.value.includes('...') && n.value !== formatTerm(term)) t.fail(`${n.tagName} at ${n.offset}: value ${n.value}`);
    let at = n.offset + n.ownLength;
    if (n.children.length > 0 && !n.omitted && ![88, 89, 90, 101, 102, 103, 114, 120].includes(n.tag)) {
      // Children follow the header back to back (pids, ports and refs have fields after their node).
      for (const c of n.children) {
        if (c.offset !== at && n.tag !== 112) t.fail(`${c.tagName} at ${c.offset} should start at ${at}`);
        at = c.offset + c.length;
      }
      if (n.tag !== 112 && at !== n.offset + n.length) t.fail(`${n.tagName} at ${n.offset}: children end at ${at}, not where it ends`);
    }
    if (n.children.length > 0 && n.children[0].depth !== n.depth + 1) t.fail(`${n.tagName} at ${n.offset}: children not one level deeper`);
  }
}

t.test('every vector: a complete tree that agrees with the codec byte for byte', async (t) => {
  t.equal(hexes.length, VECTORS.length);
  for (let i = 0; i < hexes.length; i++) {
    const bytes = Buffer.from(hexes[i], 'hex');
    const x = explain(bytes);
    t.notOk(x.error, `${VECTORS[i]}: no error (${x.error?.message})`);
    t.equal(x.length, bytes.length, `${VECTORS[i]}: the whole input is used`);
    t.equal(x.nodes[0].tagName, 'VERSION');
    t.equal(x.nodes[1].length, bytes.length - 1, 'the term spans the rest');
    t.equal(x.nodes[1].value ?? formatTerm(decode(bytes, { lossless: true })), formatTerm(decode(bytes, { lossless: true })), 'root value is the decoded term');
    checkTree(t, bytes, x);
  }
});

t.test('names, roles, fields and meanings of a known term', async (t) => {
  const bytes = encode(new Map<Term, Term>([[atom('k'), [1, Buffer.from('hi')]]]));
  const x = explain(bytes);
  const map = x.nodes[1];
  t.match(map, { tag: 116, tagName: 'MAP_EXT', meaning: 'map of 1 pair', depth: 0, offset: 1, fields: [{ name: 'Arity', offset: 2, length: 4, value: '1' }] });
  t.match(map.children[0], { role: 'key 1', value: 'k', depth: 1 });
  const list = map.children[1];
  t.match(list, { role: 'value 1', tagName: 'LIST_EXT', meaning: 'proper list of 2 elements' });
  t.same(list.children.map((n) => [n.role, n.tagName, n.value]), [
    ['element 1', 'SMALL_INTEGER_EXT', '1'],
    ['element 2', 'BINARY_EXT', '<<"hi">>'],
    ['tail', 'NIL_EXT', '[]'],
  ]);
  t.equal(list.children[1].hex, '6d000000026869');
  const improper = explain(Buffer.from(hexes[VECTORS.indexOf('[a | b]')], 'hex'));
  t.equal(improper.nodes[1].meaning, 'improper list of 1 element');
  t.equal(improper.nodes[1].children[1].role, 'tail');
  // Long leaves are shortened in `value`, never in `length`.
  const long = explain(encode([Buffer.alloc(100, 65), Array.from({ length: 100 }, () => 7), new BitBinary(Buffer.alloc(100), 3)]));
  t.same(long.nodes[1].children.slice(0, 3).map((n) => [n.tagName, n.length, /\.\.\.(>>|\])$/.test(n.value ?? '')]), [
    ['BINARY_EXT', 105, true],
    ['STRING_EXT', 103, true],
    ['BIT_BINARY_EXT', 106, true],
  ]);
});

t.test('compressed terms: inner offsets count from the inflated data', async (t) => {
  const out = await runErl('io:format("~s", [binary:encode_hex(term_to_binary(lists:duplicate(50, <<"zip">>), [compressed]))])');
  const bytes = Buffer.from(out.trim(), 'hex');
  const x = explain(bytes);
  t.notOk(x.error);
  t.match(x.nodes[1], { tagName: 'COMPRESSED', offset: 1, inflated: false, length: bytes.length - 1 });
  const inner = x.nodes[1].children[0];
  t.match(inner, { tagName: 'LIST_EXT', offset: 0, inflated: true, depth: 1 });
  t.equal(inner.children.length, 51);
  checkTree(t, bytes, x);

  const bomb = Buffer.concat([Buffer.from([131, 80, 0x7f, 0xff, 0xff, 0xff]), deflateSync(Buffer.alloc(1024))]);
  t.match(explain(bomb).error, { code: 'ERR_DECODE_INFLATE_LIMIT' }, 'a declared size over the cap is refused before inflating');
  const lying = Buffer.concat([Buffer.from([131, 80, 0, 0, 0, 9]), deflateSync(Buffer.from([106]))]);
  t.match(explain(lying).error, { code: 'ERR_DECODE_BAD_COMPRESSED' });
  t.match(explain(Buffer.from([131, 80, 0, 0, 0, 1, 1, 2, 3])).error, { code: 'ERR_DECODE_BAD_COMPRESSED' });
  const extra = Buffer.concat([Buffer.from([131, 80, 0, 0, 0, 2]), deflateSync(Buffer.from([106, 106]))]);
  t.throws(() => decode(extra), DecodeError, 'a byte after the term inside the inflated data is refused');
  t.ok(explain(extra).error, 'and explain says so');
});

t.test('every truncation and bit flip: never throws, and agrees with decode', async (t) => {
  let checked = 0;
  for (const hex of hexes) {
    const good = Buffer.from(hex, 'hex');
    if (good.length > 200) continue; // the long vectors add time, not cases
    const variants: Buffer[] = [];
    for (let n = 0; n < good.length; n++) variants.push(good.subarray(0, n));
    for (let i = 0; i < good.length; i++) {
      for (const mask of [1, 2, 4, 8, 16, 32, 64, 128, 255]) {
        const b = Buffer.from(good);
        b[i] ^= mask;
        variants.push(b);
      }
    }
    for (const b of variants) {
      let want: DecodeError | undefined;
      try {
        decode(b);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
        want = e;
      }
      const x = explain(b);
      checked++;
      if (want === undefined) {
        if (x.error) t.fail(`${b.toString('hex')}: decode accepts, explain says ${x.error.message}`);
      } else if (!x.error || x.error.code !== want.code || x.error.offset !== want.offset) {
        t.fail(`${b.toString('hex')}: decode says ${want.code} at ${want.offset}, explain ${x.error?.code} at ${x.error?.offset}`);
      }
    }
  }
  t.ok(checked > 5000, `${checked} variants agree with decode`);
});

t.test('options: version, offset, trailing bytes, atom cache, LOCAL_EXT', async (t) => {
  const bare = encode([1, 2], { version: false } as never);
  const x = explain(Buffer.concat([Buffer.from([0xff, 0xff]), bare]), { version: false, offset: 2 });
  t.notOk(x.error);
  t.equal(x.nodes[0].tagName, 'STRING_EXT', 'no version node without the version byte');
  t.equal(x.nodes[0].offset, 2);
  t.equal(x.length, bare.length);

  const withTail = Buffer.concat([encode(atom('a')), Buffer.from([1, 2, 3])]);
  t.match(explain(withTail).error, { code: 'ERR_DECODE_TRAILING', offset: withTail.length - 3 });
  const lenient = explain(withTail, { allowTrailing: true });
  t.notOk(lenient.error);
  t.equal(lenient.trailing, 3);

  const ref = Buffer.from([131, 104, 2, 82, 0, 82, 1]);
  t.match(explain(ref).error, { code: 'ERR_DECODE_ATOM_CACHE' }, 'an atom cache ref without a cache');
  const cached = explain(ref, { atomCache: [atom('hello'), atom('world')] });
  t.notOk(cached.error);
  t.same(cached.nodes[1].children.map((n) => [n.tagName, n.meaning, n.value]), [
    ['ATOM_CACHE_REF', 'atom cache reference #0', 'hello'],
    ['ATOM_CACHE_REF', 'atom cache reference #1', 'world'],
  ]);

  // {LOCAL_EXT(hash 0, 7), []}: LOCAL_EXT is 121, a 32-bit hash, then one term.
  const local = Buffer.from([131, 104, 2, 121, 0, 0, 0, 0, 97, 7, 106]);
  const lx = explain(local);
  t.equal(lx.error, undefined, 'explain reads a tuple holding a LOCAL_EXT term without error');
  t.match(lx.nodes[1].children[0], { tagName: 'LOCAL_EXT', offset: 3, length: 7 }, 'the LOCAL_EXT node spans its tag, hash and inner term (7 bytes at offset 3)');
  t.equal(lx.nodes[1].children[0].length, decodeWithLength(local, { offset: 3, version: false }).length, 'the same length the decoder reads');
  t.match(lx.nodes[1].children[1], { tagName: 'NIL_EXT', offset: 10 }, 'the next element starts after it');

  t.match(explain(Buffer.from([131, 117, 0])).error, { code: 'ERR_DECODE_UNKNOWN_TAG', offset: 1, tag: 117 });
  t.match(explain(Buffer.from([130, 106])).error, { code: 'ERR_DECODE_BAD_VERSION', offset: 0 });
  t.match(explain(Buffer.alloc(0)).error, { code: 'ERR_DECODE_TRUNCATED' });
});

t.test('maxNodes bounds the tree; deep nesting does not overflow the stack', async (t) => {
  const bytes = Buffer.from(hexes[VECTORS.indexOf('lists:seq(1, 70000)')], 'hex');
  const x = explain(bytes, { maxNodes: 100 });
  t.notOk(x.error);
  t.equal([...walk(x.nodes)].length, 101, 'the version node and 100 term nodes');
  t.equal(x.omitted, 70001 - 99, 'the rest are counted');
  t.equal(x.nodes[1].omitted, x.omitted);
  t.equal(x.nodes[1].length, bytes.length - 1, 'lengths are still exact');

  // [[[...[]...]]] a hundred thousand deep: 131, then 108 0 0 0 1 per level, then NILs.
  const depth = 100_000;
  const deep = Buffer.alloc(1 + depth * 5 + depth + 1);
  deep[0] = 131;
  for (let i = 0; i < depth; i++) deep.set([108, 0, 0, 0, 1], 1 + i * 5);
  deep.fill(106, 1 + depth * 5);
  const d = explain(deep, { maxNodes: 1000 });
  t.notOk(d.error, d.error?.message ?? 'no error');
  t.equal(d.length, deep.length);
  t.equal(d.omitted, 2 * depth + 1 - 1000);
});
