// I64Map: a Map<bigint, V> for Thrift's map<i64, V>, keyed by the exact
// 64-bit value. Decoded maps use it: keys are stored in a BigInt64Array,
// written and hashed as two int32 halves (V8 hashes a bigint key far slower
// than a number), so decoding 500 entries makes no bigint; reading a key
// makes one from the array's 8 bytes, which is as cheap as BigInt(number).
// It implements the whole Map interface (insertion order, last write wins),
// so it can be used, or copied with `new Map(m)`, wherever a Map<bigint, V>
// is expected.
import { inspect } from 'node:util';

const TWO32 = 4294967296;
const EMPTY = -1;

/** Splits a bigint (or safe-integer number) into int32 halves. Throws RangeError outside the i64 range. */
export function i64Parts(k: bigint | number, out: { hi: number; lo: number }): void {
  let n: number;
  if (typeof k === 'number') {
    if (!Number.isSafeInteger(k)) throw new RangeError(`not an exact i64: ${k}`);
    n = k;
  } else {
    n = Number(k); // exact when it lands strictly inside ±2^53
    if (!(n > -0x20000000000000 && n < 0x20000000000000)) {
      if (k < -(2n ** 63n) || k >= 2n ** 63n) throw new RangeError(`not an i64: ${k}`);
      out.hi = Number(k >> 32n) | 0;
      out.lo = Number(k & 0xffffffffn) | 0;
      return;
    }
  }
  const hi = Math.floor(n / TWO32);
  out.hi = hi | 0;
  out.lo = (n - hi * TWO32) | 0;
}

/** The bigint of two int32 halves. */
export function i64FromParts(hi: number, lo: number): bigint {
  if (hi >= -0x200000 && hi < 0x200000) return BigInt(hi * TWO32 + (lo >>> 0));
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}

function hash(hi: number, lo: number): number {
  const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1);
  return h ^ (h >>> 16);
}

const scratch = { hi: 0, lo: 0 };

/** Where the halves of key i sit in the Int32Array over the keys' BigInt64Array. */
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LE ? 1 : 0;
const LO = LE ? 0 : 1;

/** Iterates entries, keys or values without a generator (one result object per step). */
class I64MapIterator<V, T> implements MapIterator<T> {
  private i = 0;
  constructor(
    private readonly m: I64Map<V>,
    private readonly pick: (m: I64Map<V>, i: number) => T,
  ) {}

  next(): IteratorResult<T, undefined> {
    const m = this.m;
    while (this.i < m.count) {
      const i = this.i++;
      if (m.alive[i] === 1) return { value: this.pick(m, i), done: false };
    }
    return { value: undefined, done: true };
  }

  [Symbol.iterator](): MapIterator<T> {
    return this;
  }
}

const pickEntry = <V>(m: I64Map<V>, i: number): [bigint, V] => [m.keys64[i]!, m.vals[i]!];
const pickKey = <V>(m: I64Map<V>, i: number): bigint => m.keys64[i]!;
const pickValue = <V>(m: I64Map<V>, i: number): V => m.vals[i]!;

/** A Map keyed by exact 64-bit integers; see the top of this file. */
export class I64Map<V> implements Map<bigint, V> {
  /** @internal The keys, in insertion order (with deleted ones where `alive` is 0). */
  keys64: BigInt64Array;
  /** The same memory as int32 halves: key i is words[2i + HI], words[2i + LO]. */
  private words: Int32Array;
  /** @internal */
  vals: V[];
  /** @internal 1 for a live entry, 0 for a deleted one. */
  alive: Uint8Array;
  private table: Int32Array;
  /** @internal Entries appended (live or deleted). */
  count = 0;
  private live = 0;

  /** Creates an empty map (with room for `capacity` entries), or one holding `entries`. */
  constructor(entries?: Iterable<readonly [bigint | number, V]> | number | null) {
    const cap = typeof entries === 'number' ? Math.max(4, entries) : 8;
    // One buffer for keys, hash table and live flags: a decoded map makes one
    // backing store, not three (each costs an allocation and GC bookkeeping).
    const size = tableSizeFor(cap);
    const buf = new ArrayBuffer(cap * 9 + size * 4);
    this.keys64 = new BigInt64Array(buf, 0, cap);
    this.words = new Int32Array(buf, 0, cap * 2);
    this.table = new Int32Array(buf, cap * 8, size).fill(EMPTY);
    this.alive = new Uint8Array(buf, cap * 8 + size * 4, cap);
    this.vals = new Array<V>(cap);
    if (entries !== undefined && entries !== null && typeof entries !== 'number') {
      for (const [k, v] of entries) this.set(k as bigint, v);
    }
  }

  get size(): number {
    return this.live;
  }

  get [Symbol.toStringTag](): string {
    return 'I64Map';
  }

  private find(hi: number, lo: number): number {
    const t = this.table;
    const w = this.words;
    const mask = t.length - 1;
    for (let h = hash(hi, lo) & mask; ; h = (h + 1) & mask) {
      const i = t[h]!;
      if (i === EMPTY) return -1;
      if (w[2 * i + HI] === hi && w[2 * i + LO] === lo && this.alive[i] === 1) return i;
    }
  }

  /** Sets the entry for the key given as int32 halves (the decoder's path). */
  setParts(hi: number, lo: number, value: V): this {
    // One probe: either the live entry with this key, or the empty slot to fill.
    const t = this.table;
    const mask = t.length - 1;
    let w = this.words;
    let h = hash(hi, lo) & mask;
    for (let i = t[h]!; i !== EMPTY; h = (h + 1) & mask, i = t[h]!) {
      if (w[2 * i + HI] === hi && w[2 * i + LO] === lo && this.alive[i] === 1) {
        this.vals[i] = value;
        return this;
      }
    }
    if (this.count === this.alive.length) {
      this.grow();
      w = this.words;
    }
    const n = this.count++;
    w[2 * n + HI] = hi;
    w[2 * n + LO] = lo;
    this.vals[n] = value;
    this.alive[n] = 1;
    this.live++;
    if (this.count * 2 > t.length) {
      this.rehash(t.length * 2);
    } else {
      t[h] = n;
    }
    return this;
  }

  /** The value for the key given as int32 halves. */
  getParts(hi: number, lo: number): V | undefined {
    const i = this.find(hi, lo);
    return i >= 0 ? this.vals[i] : undefined;
  }

  private place(n: number): void {
    const t = this.table;
    const mask = t.length - 1;
    let h = hash(this.words[2 * n + HI]!, this.words[2 * n + LO]!) & mask;
    while (t[h] !== EMPTY) h = (h + 1) & mask;
    t[h] = n;
  }

  private grow(): void {
    const cap = this.alive.length * 2;
    const buf = new ArrayBuffer(cap * 9);
    const keys = new BigInt64Array(buf, 0, cap);
    keys.set(this.keys64);
    const alive = new Uint8Array(buf, cap * 8, cap);
    alive.set(this.alive);
    this.keys64 = keys;
    this.words = new Int32Array(buf, 0, cap * 2);
    this.alive = alive;
    this.vals.length = cap;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(EMPTY);
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) this.place(i);
  }

  get(key: bigint | number): V | undefined {
    if (!toParts(key)) return undefined;
    return this.getParts(scratch.hi, scratch.lo);
  }

  has(key: bigint | number): boolean {
    return toParts(key) && this.find(scratch.hi, scratch.lo) >= 0;
  }

  set(key: bigint | number, value: V): this {
    i64Parts(key, scratch);
    return this.setParts(scratch.hi, scratch.lo, value);
  }

  delete(key: bigint | number): boolean {
    if (!toParts(key)) return false;
    const i = this.find(scratch.hi, scratch.lo);
    if (i < 0) return false;
    this.alive[i] = 0;
    this.vals[i] = undefined as V;
    this.live--;
    if (this.live === 0) this.clear();
    return true;
  }

  clear(): void {
    this.count = 0;
    this.live = 0;
    this.vals = new Array<V>(this.alive.length);
    this.alive.fill(0);
    this.table.fill(EMPTY);
  }

  forEach(fn: (value: V, key: bigint, map: Map<bigint, V>) => void, thisArg?: unknown): void {
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) fn.call(thisArg, this.vals[i]!, this.keys64[i]!, this);
  }

  /** Calls `fn` with each entry's key as int32 halves (the encoder's path: no bigint made). */
  forEachParts(fn: (value: V, hi: number, lo: number) => void): void {
    const w = this.words;
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) fn(this.vals[i]!, w[2 * i + HI]!, w[2 * i + LO]!);
  }

  entries(): MapIterator<[bigint, V]> {
    return new I64MapIterator(this, pickEntry);
  }

  keys(): MapIterator<bigint> {
    return new I64MapIterator(this, pickKey);
  }

  values(): MapIterator<V> {
    return new I64MapIterator(this, pickValue);
  }

  [Symbol.iterator](): MapIterator<[bigint, V]> {
    return this.entries();
  }

  [inspect.custom](_depth: number, opts: object): string {
    return `I64Map(${this.live}) ${inspect(new Map(this.entries()), opts).replace(/^Map\(\d+\) /, '')}`;
  }

  toJSON(): [string, V][] {
    return [...this.entries()].map(([k, v]) => [k.toString(), v]);
  }
}

function tableSizeFor(cap: number): number {
  let n = 16;
  while (n < cap * 2) n *= 2;
  return n;
}

// Splits a lookup key; false for anything that is not an i64 (never found).
function toParts(k: unknown): boolean {
  if (typeof k !== 'bigint' && typeof k !== 'number') return false;
  try {
    i64Parts(k, scratch);
    return true;
  } catch {
    return false;
  }
}
