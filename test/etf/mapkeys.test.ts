// Duplicate map keys (src/etf/mapkeys.ts): the decoder's signature of a compound
// key must be shared by `=:=` keys and by no others, so that a map of many
// same-shaped keys from a peer costs linear work. Bounded by counting termEquals
// calls, not by wall time.
import t from 'tap';
import { randomInt } from 'node:crypto';
import { atom, BitBinary, decode, ExportFun, Float, Fun, ImproperList, LocalExt, Pid, Port, Reference, termEquals, Tuple, type Term } from '../../src/index.js';
import { dupKeyStats, DupKeys, keySignature } from '../../src/etf/mapkeys.js';

/** ETF bytes of a map whose keys are `keys` (each an encoded term without the 131) and values small ints. */
function mapExt(keys: Buffer[]): Buffer {
  const head = Buffer.from([131, 116, 0, 0, 0, 0]);
  head.writeUInt32BE(keys.length, 2);
  const parts: Buffer[] = [head];
  for (const [i, k] of keys.entries()) parts.push(k, Buffer.from([97, i & 255]));
  return Buffer.concat(parts);
}

const int = (i: number) => {
  const b = Buffer.alloc(5);
  b[0] = 98;
  b.writeInt32BE(i, 1);
  return b;
};
const atomExt = (name: string) => Buffer.concat([Buffer.from([119, name.length]), Buffer.from(name, 'latin1')]);
const binExt = (data: Buffer) => {
  const h = Buffer.alloc(5);
  h[0] = 109;
  h.writeUInt32BE(data.length, 1);
  return Buffer.concat([h, data]);
};
const tuple2 = (a: Buffer, b: Buffer) => Buffer.concat([Buffer.from([104, 2]), a, b]);

/** Decodes `keys` as one map and returns the termEquals calls it took. */
function comparisonsToDecode(keys: Buffer[]): { size: number; comparisons: number } {
  const before = dupKeyStats.comparisons;
  const m = decode(mapExt(keys)) as Map<Term, Term>;
  return { size: m.size, comparisons: dupKeyStats.comparisons - before };
}

t.test('50,000 same-shaped tuple keys {same, I}: no pairwise comparisons', async (t) => {
  const n = 50_000;
  // The quadratic case first, on DupKeys itself, checked as it grows: before the
  // fix every key met every earlier one (n²/2 = 1.25e9 comparisons), so this
  // stops at the first checkpoint instead of running for minutes.
  const d = new DupKeys();
  const before = dupKeyStats.comparisons;
  let added = 0;
  let found = 0;
  for (let i = 0; i < n; i++) {
    if (d.addOrFind(new Tuple([atom('same'), i]))) found++;
    added++;
    if (i % 1000 === 999 && dupKeyStats.comparisons - before > added) break;
  }
  t.equal(added, n, 'every key was added');
  t.equal(found, 0, 'no key was taken for a duplicate');
  t.ok(dupKeyStats.comparisons - before <= n, `at most one comparison per key (made ${dupKeyStats.comparisons - before} for ${added})`);
  t.equal(d.addOrFind(new Tuple([atom('same'), 123])), true, 'a repeat is still found');

  // The same through the decoder, as a peer would send it.
  const keys = Array.from({ length: n }, (_, i) => tuple2(atomExt('same'), int(i)));
  const r = comparisonsToDecode(keys);
  t.equal(r.size, n, 'the map has every key');
  t.ok(r.comparisons <= n, `decode made ${r.comparisons} comparisons for ${n} keys`);
  t.throws(() => decode(mapExt([...keys, keys[777]])), { code: 'ERR_DECODE_DUPLICATE_KEY' }, 'a repeated key is refused');
});

t.test('other shapes that looked alike to the old signature', async (t) => {
  const n = 10_000;
  const shapes: [string, (i: number) => Buffer][] = [
    // The element that differs deep inside, or past the first element of a nested tuple.
    ['{{same, I}}', (i) => Buffer.concat([Buffer.from([104, 1]), tuple2(atomExt('same'), int(i))])],
    ['[same, I]', (i) => Buffer.concat([Buffer.from([108, 0, 0, 0, 2]), atomExt('same'), int(i), Buffer.from([106])])],
    ['#{k => I}', (i) => Buffer.concat([Buffer.from([116, 0, 0, 0, 1]), atomExt('k'), int(i)])],
    // Long binaries with the same first and last 24 bytes.
    ['100-byte binaries differing in the middle', (i) => {
      const b = Buffer.alloc(100, 65);
      b.writeUInt32BE(i, 48);
      return binExt(b);
    }],
    ['{same, <<I:32>>}', (i) => tuple2(atomExt('same'), binExt(Buffer.from([i >> 24, (i >> 16) & 255, (i >> 8) & 255, i & 255])))],
  ];
  for (const [what, key] of shapes) {
    const r = comparisonsToDecode(Array.from({ length: n }, (_, i) => key(i)));
    t.equal(r.size, n, `${what}: every key kept`);
    t.ok(r.comparisons <= n, `${what}: ${r.comparisons} comparisons for ${n} keys`);
  }
});

// Terms in several JS spellings of the same Erlang term, and near misses.
const node = atom('n@h');
const p = (id: number) => new Pid(node, id, 0, 1);
const EQUAL_GROUPS: Term[][] = [
  [1, 1n],
  [2 ** 60, 2n ** 60n],
  [2.5, new Float(2.5)],
  [new Float(1)],
  [new Float(0)],
  [new Float(-0)],
  [atom('true'), true],
  [atom('undefined'), null, undefined],
  [atom('a')],
  ['hé', Buffer.from('hé', 'utf8'), new BitBinary(Buffer.from('hé', 'utf8'), 8)],
  [Buffer.alloc(0), '', new BitBinary(Buffer.alloc(0), 8)],
  [new BitBinary(Buffer.from([0xe0]), 3), new BitBinary(Buffer.from([0xff]), 3)],
  [new BitBinary(Buffer.from([0xe0]), 4)],
  [[1, 2], new ImproperList([1], [2]), new ImproperList([1], new ImproperList([2], [])), new ImproperList([1, 2], [])],
  [new ImproperList([1], 2), new ImproperList([1], new ImproperList([], 2))],
  [[], new ImproperList([], [])],
  [new Tuple([])],
  [new Tuple([atom('same'), 1]), new Tuple([atom('same'), 1n])],
  [new Tuple([atom('same'), 2])],
  [new Tuple([atom('same'), new Float(1)])],
  [new Map<Term, Term>([[Buffer.from('k'), 1], [Buffer.from('j'), 2]]), { j: 2, k: 1 }, new Map<Term, Term>([['j', 2n], ['k', 1]])],
  [new Map<Term, Term>([[new Tuple([1]), 1], [new Tuple([2]), 2]]), new Map<Term, Term>([[new Tuple([2]), 2], [new Tuple([1n]), 1]])],
  [new Map<Term, Term>([[new Tuple([1]), 2], [new Tuple([2]), 1]])],
  [new Map()],
  [p(1)],
  [p(2)],
  [new Pid(atom('m@h'), 1, 0, 1)],
  [new Pid(node, 1, 0, 2)],
  [new Port(node, 5, 1), new Port(node, 5n, 1)],
  [new Reference(node, 1, [7]), new Reference(node, 1, [7, 0, 0])],
  [new Reference(node, 1, [7, 0, 1])],
  [new ExportFun(atom('m'), atom('f'), 1)],
  [new ExportFun(atom('m'), atom('f'), 2)],
  [new Fun(1, Buffer.alloc(16), 0, atom('m'), 0, 5, p(1), [1]), new Fun(1, Buffer.alloc(16, 1), 0, atom('m'), 0, 5, p(2), [1n])],
  [new Fun(1, Buffer.alloc(16), 0, atom('m'), 0, 5, p(1), [2])],
  [new LocalExt(Buffer.from([131, 121, 1]))],
  [new Tuple([new Float(0), new Float(-0)])],
  [new Tuple([new Float(-0), new Float(0)])],
  [new Tuple(Array.from({ length: 100 }, (_, i) => i))],
  [new Tuple(Array.from({ length: 100 }, (_, i) => (i === 50 ? -1 : i)))],
];

t.test('the signature is shared exactly by =:= terms (hand-picked spellings)', async (t) => {
  const all = EQUAL_GROUPS.flatMap((g, gi) => g.map((term) => ({ term, gi })));
  let checked = 0;
  for (const x of all) {
    for (const y of all) {
      const same = keySignature(x.term) === keySignature(y.term);
      if (same !== termEquals(x.term, y.term) || same !== (x.gi === y.gi)) {
        t.fail(`group ${x.gi} vs ${y.gi}: signature ${same ? 'equal' : 'differs'}, termEquals ${termEquals(x.term, y.term)}`);
      }
      checked++;
    }
  }
  t.pass(`${checked} pairs agree`);
});

/** A random term over a small alphabet (so equal pairs are common), in a random JS spelling. */
function randomTerm(depth: number): Term {
  const k = randomInt(depth > 3 ? 8 : 13);
  const int = randomInt(3) - 1;
  switch (k) {
    case 0:
      return randomInt(2) ? int : BigInt(int);
    case 1:
      return randomInt(2) ? new Float([0.5, -0, 0][randomInt(3)]) : [0.5, 1.5][randomInt(2)];
    case 2:
      return [atom('a'), atom('true'), true, null, undefined][randomInt(5)];
    case 3: {
      const s = ['', 'x', 'é'][randomInt(3)];
      return [s, Buffer.from(s, 'utf8')][randomInt(2)];
    }
    case 4:
      return new BitBinary(Buffer.from([randomInt(256)]), 1 + randomInt(2));
    case 5:
      return new Reference(node, 1, [1, ...Array(randomInt(3)).fill(randomInt(2))]);
    case 6:
      return p(randomInt(2));
    case 7:
      return [];
    case 8:
    case 9:
      return new Tuple(Array.from({ length: randomInt(3) }, () => randomTerm(depth + 1)));
    case 10: {
      const heads = Array.from({ length: 1 + randomInt(2) }, () => randomTerm(depth + 1));
      const improper = randomInt(3) === 0;
      const tail: Term = improper ? atom('t') : [];
      // Split the heads over nested ImproperLists at random.
      if (randomInt(2)) return improper ? new ImproperList(heads, tail) : heads;
      return new ImproperList(heads.slice(0, 1), heads.length > 1 ? new ImproperList(heads.slice(1), tail) : tail);
    }
    default: {
      const m = new Map<Term, Term>();
      for (let i = randomInt(3); i > 0; i--) m.set(randomTerm(depth + 1), randomTerm(depth + 1));
      return m;
    }
  }
}

t.test('the signature is shared exactly by =:= terms (random terms)', async (t) => {
  const terms = Array.from({ length: 400 }, () => randomTerm(0));
  const sigs = terms.map(keySignature);
  let equal = 0;
  let bad = 0;
  for (let i = 0; i < terms.length; i++) {
    for (let j = i + 1; j < terms.length; j++) {
      const eq = termEquals(terms[i], terms[j]);
      if (eq) equal++;
      if (eq !== (sigs[i] === sigs[j]) && bad++ < 5) t.fail(`${String(terms[i])} vs ${String(terms[j])}: termEquals ${eq}`);
    }
  }
  t.equal(bad, 0, `every pair agrees (${equal} equal pairs among ${(terms.length * (terms.length - 1)) / 2})`);
});

t.test('deep keys: no recursion, and long parts hashed', async (t) => {
  let deep: Term = 0;
  for (let i = 0; i < 100_000; i++) deep = new Tuple([deep]);
  let deep2: Term = 1;
  for (let i = 0; i < 100_000; i++) deep2 = new Tuple([deep2]);
  t.not(keySignature(deep), keySignature(deep2));
  t.ok(keySignature(deep).length <= 33, 'a long signature is a digest');
  let maps: Term = 0;
  for (let i = 0; i < 10_000; i++) maps = new Map<Term, Term>([[maps, i], [i + 0.5, atom('v')]]);
  t.type(keySignature(maps), 'string', 'maps nested 10,000 deep in keys and values');
});
