// I64Map behaves exactly like a Map<bigint, V> (checked against one over
// bounded random operations), over the whole i64 range, and prints and
// serializes readably.
import t from 'tap';
import { inspect } from 'node:util';
import { I64Map, i64Parts, i64FromParts } from '../../src/thrift/i64map.js';

const EDGES = [0n, 1n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n, -(2n ** 32n), 2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n), 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)];

t.test('parts round-trip over the whole range', async (t) => {
  const p = { hi: 0, lo: 0 };
  for (const k of EDGES) {
    i64Parts(k, p);
    t.equal(i64FromParts(p.hi, p.lo), k, String(k));
    if (k > -(2n ** 53n) && k < 2n ** 53n) {
      i64Parts(Number(k), p);
      t.equal(i64FromParts(p.hi, p.lo), k, `${k} as a number`);
    }
  }
  t.throws(() => i64Parts(2n ** 63n, p), RangeError);
  t.throws(() => i64Parts(0.5, p), RangeError);
});

t.test('same behaviour as Map<bigint, V> over random operations', async (t) => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const pool = [...EDGES, ...Array.from({ length: 40 }, (_, i) => BigInt(i) * 1_000_003n - 20_000_000n)];
  const ref = new Map<bigint, number>();
  const m = new I64Map<number>();
  for (let step = 0; step < 5000; step++) {
    const k = pool[rnd(pool.length)]!;
    const op = rnd(10);
    if (op < 6) {
      ref.set(k, step);
      m.set(k, step);
    } else if (op < 9) {
      if (ref.delete(k) !== m.delete(k)) {
        t.fail(`delete ${k} at step ${step}`);
        return;
      }
    } else if (rnd(20) === 0) {
      ref.clear();
      m.clear();
    }
    if (m.size !== ref.size || m.get(k) !== ref.get(k) || m.has(k) !== ref.has(k)) {
      t.fail(`step ${step}: differs`);
      return;
    }
  }
  t.same([...m], [...ref], 'same entries in the same (insertion) order');
  t.same([...m.keys()], [...ref.keys()]);
  t.same([...m.values()], [...ref.values()]);
  const seen: [bigint, number][] = [];
  m.forEach((v, k) => seen.push([k, v]));
  t.same(seen, [...ref]);
});

t.test('construction, lookups by number, printing', async (t) => {
  const m = new I64Map([
    [2n ** 63n - 1n, 'max'],
    [5, 'five'],
  ]);
  t.equal(m.get(5n), 'five');
  t.equal(m.get(5), 'five', 'a safe-integer number finds the same key');
  t.equal(m.get(2n ** 64n), undefined, 'an out-of-range key is never found');
  t.equal(m.has('5' as unknown as bigint), false);
  t.equal(Object.prototype.toString.call(m), '[object I64Map]');
  t.equal(inspect(m), "I64Map(2) { 9223372036854775807n => 'max', 5n => 'five' }");
  t.equal(JSON.stringify(m), '[["9223372036854775807","max"],["5","five"]]');
  t.same(new Map(m), new Map<bigint, string>([[2n ** 63n - 1n, 'max'], [5n, 'five']]), 'copies into a Map');
  const big = new I64Map<number>(2);
  for (let i = 0; i < 1000; i++) big.set(BigInt(i) << 40n, i);
  t.equal(big.size, 1000, 'grows');
  t.equal(big.get(999n << 40n), 999);
});

t.test('entries() sees sets and deletes made while iterating, across a grow', async (t) => {
  const m = new I64Map<number>(4);
  const ref = new Map<bigint, number>();
  for (const k of [1n, 2n, 3n]) {
    m.set(k, Number(k));
    ref.set(k, Number(k));
  }
  const seen: [bigint, number][] = [];
  const want: [bigint, number][] = [];
  for (const e of m) {
    seen.push(e);
    if (e[0] === 1n) {
      m.delete(2n);
      for (let i = 10n; i < 20n; i++) m.set(i, Number(i)); // grows past the capacity of 4
    }
  }
  for (const e of ref) {
    want.push(e);
    if (e[0] === 1n) {
      ref.delete(2n);
      for (let i = 10n; i < 20n; i++) ref.set(i, Number(i));
    }
  }
  t.same(seen, want, 'same entries as a Map iterated the same way');
  const it = m.entries();
  t.equal(it[Symbol.iterator](), it);
  const first = it.next();
  t.same(first, { value: [1n, 1], done: false });
  const second = it.next();
  t.not(first.value, second.value, 'each entry is a fresh array');
  t.not(first, second, 'each step is a fresh result object');
  t.same(first, { value: [1n, 1], done: false }, 'an earlier result is not overwritten');
  for (let r = it.next(); !r.done; r = it.next());
  t.same(it.next(), { value: undefined, done: true }, 'stays done');
  m.set(100n, 100);
  t.same(it.next(), { value: undefined, done: true }, 'stays done after a set, as a Map iterator does');
  const keys = m.keys();
  for (let r = keys.next(); !r.done; r = keys.next());
  m.clear();
  m.set(1n, 1);
  t.same(keys.next(), { value: undefined, done: true }, 'and after clear() and a set');
  t.same([...new I64Map<number>()], [], 'an empty map yields nothing');
});

t.test('an iterator or forEach running across a clear() goes on as a Map iterator does', async (t) => {
  const pairs = (n: number) => Array.from({ length: n }, (_, i): [bigint, number] => [BigInt(i), i]);
  for (const how of ['clear', 'delete every entry']) {
    const m = new I64Map<number>(pairs(5));
    const ref = new Map<bigint, number>(pairs(5));
    const its = [m.keys(), ref.keys()] as const;
    const empty = (x: Map<bigint, number>) => (how === 'clear' ? x.clear() : [...x.keys()].forEach((k) => x.delete(k)));
    t.same([its[0].next(), its[0].next()], [its[1].next(), its[1].next()]);
    empty(m);
    empty(ref);
    m.set(7n, 7).set(8n, 8);
    ref.set(7n, 7).set(8n, 8);
    const rest = [...its[1]];
    t.same(rest, [7n, 8n], `${how}: a Map iterator visits the entries set since`);
    t.same([...its[0]], rest, `${how}: so does an I64Map iterator`);
  }
  const m = new I64Map<number>(pairs(3));
  const ref = new Map<bigint, number>(pairs(3));
  for (const x of [m, ref] as Map<bigint, number>[]) {
    const seen: number[] = [];
    let cleared = false;
    x.forEach((v) => {
      seen.push(v);
      if (v === 1 && !cleared) {
        cleared = true;
        x.clear();
        x.set(10n, 10).set(11n, 11);
      }
    });
    t.same(seen, [0, 1, 10, 11], `forEach across a clear() (${x === ref ? 'Map' : 'I64Map'})`);
  }
});

t.test('clear() empties the map, which is then reusable', async (t) => {
  const m = new I64Map<number>([
    [1n, 1],
    [-(2n ** 63n), 2],
  ]);
  m.clear();
  t.equal(m.size, 0);
  t.equal(m.get(1n), undefined);
  t.same([...m], []);
  for (let i = 0n; i < 20n; i++) m.set(i, Number(i));
  t.equal(m.size, 20);
  t.equal(m.get(19n), 19);
  t.same([...m.keys()].slice(0, 3), [0n, 1n, 2n]);
});

t.test('maps cut from the shared slab and maps with their own buffer keep exact keys apart', async (t) => {
  // Capacities below, at and above the slab's largest region (512 entries),
  // each filled past its capacity so that it grows, some out of the slab.
  const maps = [4, 100, 512, 513, 2000].map((cap) => ({ cap, m: new I64Map<number>(cap), ref: new Map<bigint, number>() }));
  const around = (e: bigint) => [e - 1n, e, e + 1n].filter((k) => k >= -(2n ** 63n) && k < 2n ** 63n);
  const pool = [...EDGES.flatMap(around), ...Array.from({ length: 1200 }, (_, i) => BigInt(i) * 0x1_0000_0001n - 2n ** 40n)];
  for (const { cap, m, ref } of maps) {
    for (let i = 0; i < Math.min(pool.length, cap * 2 + 3); i++) {
      m.set(pool[i]!, i);
      ref.set(pool[i]!, i);
    }
  }
  for (const { cap, m, ref } of maps) {
    t.equal(m.size, ref.size, `capacity ${cap}: size`);
    t.same([...m], [...ref], `capacity ${cap}: same entries in the same order`);
    t.ok([...ref].every(([k, v]) => m.get(k) === v), `capacity ${cap}: every key found`);
  }
  t.equal(maps[0]!.m.get(2n ** 53n + 1n), maps[0]!.ref.get(2n ** 53n + 1n), '2^53 + 1 is not 2^53');
  t.equal(new I64Map<number>([[2n ** 53n, 1]]).get(2n ** 53n + 1n), undefined);
  t.equal(new I64Map<number>([[-(2n ** 63n), 1]]).get(2n ** 63n - 1n), undefined);
});

t.test('only maps of about 64 to 512 entries share a slab: a small map keeps no 32 KiB alive', async (t) => {
  const bufferOf = (cap: number) => new I64Map<number>(cap).keys64.buffer.byteLength;
  // Keys (8 bytes an entry) and a table of a power of two at least twice the capacity (4 bytes a slot).
  t.equal(bufferOf(1), 4 * 8 + 16 * 4, 'the smallest map (4 entries, 16 slots): its own 96 bytes');
  t.equal(bufferOf(50), 50 * 8 + 128 * 4, 'a 1 KiB region or less: its own buffer');
  t.equal(bufferOf(100), 32768, '100 entries: a region of the slab');
  t.equal(bufferOf(500), 32768, '500 entries: a region of the slab');
  t.equal(bufferOf(600), 600 * 8 + 2048 * 4, 'beyond 8 KiB: its own buffer');
});

t.test('set/delete churn keeps the map small: holes are squeezed out, a map a quarter full shrinks', async (t) => {
  const m = new I64Map<number>();
  for (let i = 0; i < 100_000; i++) {
    m.set(BigInt(i) * 7919n, i);
    if (i >= 5) m.delete(BigInt(i - 5) * 7919n); // six live entries at most, 100,000 keys in all
  }
  t.equal(m.size, 5);
  t.ok(m.keys64.length <= 16, `capacity ${m.keys64.length} after 100,000 distinct keys, at most 6 live`);
  t.same([...m.values()], [99_995, 99_996, 99_997, 99_998, 99_999], 'in insertion order');
  const big = new I64Map<number>();
  for (let i = 0; i < 4096; i++) big.set(BigInt(i), i);
  const full = big.keys64.length;
  for (let i = 0; i < 4090; i++) big.delete(BigInt(i));
  t.ok(big.keys64.length <= full / 64, `deleting down to 6 of 4096 shrinks the capacity from ${full} to ${big.keys64.length}`);
  t.same([...big.keys()], [4090n, 4091n, 4092n, 4093n, 4094n, 4095n]);
  t.ok([...big.keys()].every((k) => big.get(k) === Number(k)), 'every key still found');
  big.clear();
  t.ok(big.keys64.length <= 16, 'clear() gives the room back');
});

t.test('iterators and forEach running across compactions and shrinks go on as a Map iterator does', async (t) => {
  let seed = 11;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let run = 0; run < 40; run++) {
    const m = new I64Map<number>();
    const ref = new Map<bigint, number>();
    let next = 0n;
    const add = () => {
      const k = next++;
      m.set(k, Number(k));
      ref.set(k, Number(k));
    };
    for (let i = 0; i < 10 + rnd(200); i++) add();
    // Iterators of both maps, stepped in lockstep while entries come and go.
    const its: [Iterator<bigint>, Iterator<bigint>][] = Array.from({ length: 4 }, () => [m.keys(), ref.keys()]);
    for (let step = 0; step < 600; step++) {
      const op = rnd(10);
      if (op < 4 && ref.size > 0) {
        const keys = [...ref.keys()];
        const k = keys[rnd(keys.length)]!;
        m.delete(k);
        ref.delete(k);
      } else if (op < 7) add();
      else {
        const [a, b] = its[rnd(its.length)]!;
        const x = a.next();
        const y = b.next();
        if (x.done !== y.done || x.value !== y.value) {
          t.fail(`run ${run}, step ${step}: the I64Map iterator gave ${String(x.value)}, a Map's ${String(y.value)}`);
          return;
        }
      }
    }
    for (const [a, b] of its) {
      const rest = (it: Iterator<bigint>) => {
        const out: bigint[] = [];
        for (let r = it.next(); !r.done; r = it.next()) out.push(r.value);
        return out;
      };
      const want = rest(b);
      if (JSON.stringify(rest(a).map(String)) !== JSON.stringify(want.map(String))) {
        t.fail(`run ${run}: an iterator's remaining keys differ`);
        return;
      }
    }
    // forEach whose callback deletes most entries (shrinks) and adds some (compactions).
    const seen: number[][] = [[], []];
    for (const [x, out] of [[m, seen[0]!], [ref, seen[1]!]] as const) {
      let calls = 0;
      const base = next;
      (x as Map<bigint, number>).forEach((v, k) => {
        out.push(v);
        if (++calls > 1000) return;
        if (calls % 3 === 0) for (const d of [...x.keys()].filter((key) => key < k).slice(0, 5)) x.delete(d);
        if (calls % 4 === 0 && k < base + 20n) x.set(base + BigInt(calls), -calls);
      });
    }
    if (JSON.stringify(seen[0]) !== JSON.stringify(seen[1])) {
      t.fail(`run ${run}: forEach visited ${seen[0]!.length} values, a Map's ${seen[1]!.length}, or in another order`);
      return;
    }
    t.same([...m], [...ref], `run ${run}: same entries after`);
  }
});

t.test('a compaction at the same capacity happens in place: churn makes no new buffers', async (t) => {
  const m = new I64Map<number>();
  const buffers = new Set<ArrayBufferLike>();
  for (let i = 0; i < 200_000; i++) {
    m.set(i, i);
    if (i >= 6) m.delete(i - 6);
    buffers.add(m.keys64.buffer);
  }
  t.ok(buffers.size <= 3, `${buffers.size} buffers for 200,000 set+delete pairs (the first, one grow)`);
  t.same([...m.keys()], [199_994n, 199_995n, 199_996n, 199_997n, 199_998n, 199_999n]);
  // A slab-sized map churning in place leaves no trail of regions behind it.
  const slabbed = new I64Map<number>(100);
  const regions = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    slabbed.set(i, i);
    if (i >= 60) slabbed.delete(i - 60);
    regions.add(`${slabbed.keys64.length}@${slabbed.keys64.byteOffset}`);
  }
  // 100 entries, then (full with 60 of 100 live) one grow to 200, then compactions in place.
  t.same([...regions].map((r) => r.split('@')[0]), ['100', '200'], 'a map of 100 with 60 live takes two slab regions in all');
  t.equal(slabbed.size, 60);
  t.ok([...slabbed.keys()].every((k, j) => k === BigInt(9940 + j) && slabbed.get(k) === 9940 + j), 'every entry in order and found');
});

t.test('a capacity that is not a non-negative integer is refused before it reaches the shared slab', async (t) => {
  for (const bad of [NaN, 100.5, -1, Infinity]) {
    t.throws(() => new I64Map<number>(bad), RangeError, `new I64Map(${bad})`);
  }
  const a = new I64Map<number>(100);
  const b = new I64Map<number>(100);
  for (let i = 0; i < 50; i++) {
    a.set(BigInt(i), i);
    b.set(BigInt(1000 + i), i);
  }
  t.equal(a.get(0n), 0, 'maps cut from the slab afterwards keep their own keys');
  t.equal(b.get(1000n), 0);
  t.not(a.keys64.byteOffset, b.keys64.byteOffset);
});
