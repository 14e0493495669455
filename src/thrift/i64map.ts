// I64Map: a Map<bigint, V> for Thrift's map<i64, V>, keyed by the exact
// 64-bit value. Decoded maps use it: keys are stored as two int32 halves in
// typed arrays and hashed as integers, so decoding 500 entries does not pay
// for bigint hashing (V8 hashes a bigint key far slower than a number); the
// bigint keys are made only when iterated. It implements the whole Map
// interface (insertion order, last write wins), so it can be used, or copied
// with `new Map(m)`, wherever a Map<bigint, V> is expected.
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

/** A Map keyed by exact 64-bit integers; see the top of this file. */
export class I64Map<V> implements Map<bigint, V> {
  private his: Int32Array;
  private los: Int32Array;
  private vals: V[];
  private keyCache: (bigint | undefined)[] = [];
  private alive: Uint8Array;
  private table: Int32Array;
  private count = 0; // entries appended (live or deleted)
  private live = 0;

  /** Creates an empty map (with room for `capacity` entries), or one holding `entries`. */
  constructor(entries?: Iterable<readonly [bigint | number, V]> | number | null) {
    const cap = typeof entries === 'number' ? Math.max(4, entries) : 8;
    this.his = new Int32Array(cap);
    this.los = new Int32Array(cap);
    this.alive = new Uint8Array(cap);
    this.vals = new Array<V>(cap);
    this.table = new Int32Array(tableSizeFor(cap)).fill(EMPTY);
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
    const mask = t.length - 1;
    for (let h = hash(hi, lo) & mask; ; h = (h + 1) & mask) {
      const i = t[h]!;
      if (i === EMPTY) return -1;
      if (this.his[i] === hi && this.los[i] === lo && this.alive[i] === 1) return i;
    }
  }

  /** Sets the entry for the key given as int32 halves (the decoder's path). */
  setParts(hi: number, lo: number, value: V): this {
    // One probe: either the live entry with this key, or the empty slot to fill.
    const t = this.table;
    const mask = t.length - 1;
    let h = hash(hi, lo) & mask;
    for (let i = t[h]!; i !== EMPTY; h = (h + 1) & mask, i = t[h]!) {
      if (this.his[i] === hi && this.los[i] === lo && this.alive[i] === 1) {
        this.vals[i] = value;
        return this;
      }
    }
    if (this.count === this.his.length) this.grow();
    const n = this.count++;
    this.his[n] = hi;
    this.los[n] = lo;
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
    let h = hash(this.his[n]!, this.los[n]!) & mask;
    while (t[h] !== EMPTY) h = (h + 1) & mask;
    t[h] = n;
  }

  private grow(): void {
    const cap = this.his.length * 2;
    const his = new Int32Array(cap);
    his.set(this.his);
    const los = new Int32Array(cap);
    los.set(this.los);
    const alive = new Uint8Array(cap);
    alive.set(this.alive);
    this.his = his;
    this.los = los;
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
    this.keyCache[i] = undefined;
    this.live--;
    if (this.live === 0) this.clear();
    return true;
  }

  clear(): void {
    this.count = 0;
    this.live = 0;
    this.vals = new Array<V>(this.his.length);
    this.keyCache = [];
    this.alive.fill(0);
    this.table.fill(EMPTY);
  }

  private keyAt(i: number): bigint {
    let k = this.keyCache[i];
    if (k === undefined) this.keyCache[i] = k = i64FromParts(this.his[i]!, this.los[i]!);
    return k;
  }

  forEach(fn: (value: V, key: bigint, map: Map<bigint, V>) => void, thisArg?: unknown): void {
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) fn.call(thisArg, this.vals[i]!, this.keyAt(i), this);
  }

  /** Calls `fn` with each entry's key as int32 halves (the encoder's path: no bigint made). */
  forEachParts(fn: (value: V, hi: number, lo: number) => void): void {
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) fn(this.vals[i]!, this.his[i]!, this.los[i]!);
  }

  *entries(): MapIterator<[bigint, V]> {
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) yield [this.keyAt(i), this.vals[i]!];
  }

  *keys(): MapIterator<bigint> {
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) yield this.keyAt(i);
  }

  *values(): MapIterator<V> {
    for (let i = 0; i < this.count; i++) if (this.alive[i] === 1) yield this.vals[i]!;
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
