// I64Map: a Map<bigint, V> for Thrift's map<i64, V>, keyed by the exact
// 64-bit value. Decoded maps use it: keys are stored in a BigInt64Array,
// written and hashed as two int32 halves (V8 hashes a bigint key far slower
// than a number), so decoding 500 entries makes no bigint. Reading a key
// makes one from the array's 8 bytes, inline in optimized code: on Node 20
// that is ~3x cheaper than BigInt(number) (8 ns against 25 ns a key).
// Keys and table sit in a region of a shared slab (see region()), and the
// iterators allocate only what they hand out (see I64MapIterator.next).
// Deleted entries leave holes that a rebuild squeezes out when the map fills
// up or falls under a quarter full (see rebuild()), so set/delete churn does
// not grow it; live iterators find their place again through Epoch.
// It implements the whole Map interface (insertion order, last write wins),
// so it can be used, or copied with `new Map(m)`, wherever a Map<bigint, V>
// is expected.
import { inspect } from 'node:util';

const TWO32 = 4294967296;

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

/** The value a deleted entry holds (module-private, so never a user's value). */
const HOLE: unknown = Symbol('deleted');

// Storage. A map's keys and hash table share one region of an ArrayBuffer.
// A new ArrayBuffer costs ~2 µs (a backing store and its GC bookkeeping), as
// much as decoding 100 entries, so regions of SLAB / 32 to SLAB / 4 bytes
// (maps of about 64 to 512 entries) are cut from a shared slab, the way Node's
// Buffer pool serves small Buffers: a map keeps its slab (SLAB bytes) alive
// while it lives, at most 32 times its own region. Smaller maps get their own
// buffer, so that a cached small map (a presence() result of a few friends)
// does not hold 32 KiB. Regions are never reused, so they start zeroed.
const SLAB = 32768;
let slab = new ArrayBuffer(SLAB);
let slabUsed = 0;
/** Where the last region() starts in the buffer it returned. */
let regionAt = 0;

/** A zeroed region of `bytes` (a multiple of 8): in the returned buffer, from regionAt. */
function region(bytes: number): ArrayBuffer {
  if (bytes > SLAB / 4 || bytes < SLAB / 32) {
    regionAt = 0;
    return new ArrayBuffer(bytes);
  }
  if (slabUsed + bytes > SLAB) {
    slab = new ArrayBuffer(SLAB);
    slabUsed = 0;
  }
  regionAt = slabUsed;
  slabUsed += bytes;
  return slab;
}

/**
 * One layout of a map's entry indexes, ended by a rebuild that moves them
 * (a compaction or clear()). The map points at its current epoch, made the
 * first time an iterator or forEach needs one; an iterator keeps the epoch it
 * last stepped in and, when the map has moved on, follows `next` to translate
 * its position, as V8's Map iterators follow their map's obsolete tables.
 * Only iterators hold ended epochs, so the chain goes with the last of them.
 */
class Epoch {
  /** Once ended: the entry indexes the rebuild removed, ascending; null if it removed every entry (clear). */
  removed: Int32Array | null = null;
  /** The epoch that followed; null while this one is current. */
  next: Epoch | null = null;
}

/** Where position `i` of epoch `e` (an entry index, or the first after it) is in the current epoch. */
function catchUp(e: Epoch, i: number): number {
  for (; e.next !== null; e = e.next) {
    const r = e.removed;
    if (r === null) {
      i = 0; // cleared: what comes next is what was set since
      continue;
    }
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid]! < i) lo = mid + 1;
      else hi = mid;
    }
    i -= lo; // every removed entry before i moved the rest one place down
  }
  return i;
}

/** Iterates entries, keys or values without a generator (one result object per step). */
class I64MapIterator<V, T> implements MapIterator<T> {
  private i = 0;
  /** The map's epoch when this iterator last stepped. */
  private epoch: Epoch;
  constructor(
    private m: I64Map<V>,
    private readonly pick: (m: I64Map<V>, i: number) => T,
  ) {
    this.epoch = m.epoch ??= new Epoch();
  }

  next(): IteratorResult<T, undefined> {
    const m = this.m;
    const n = m.count;
    let i = this.i;
    if (m.epoch !== this.epoch) {
      // Rebuilt or cleared since the last step: find the same place in the new layout.
      i = catchUp(this.epoch, i);
      this.epoch = m.epoch!;
    }
    while (i < n && m.vals[i] === HOLE) i++;
    const done = i >= n;
    if (done) {
      // Stays done, as a Map iterator does, even if entries are added later.
      this.m = FINISHED as I64Map<V>;
      this.epoch = FINISHED_EPOCH;
    } else this.i = i + 1;
    // One allocation site for both outcomes: in a for-of that inlines next(),
    // V8's escape analysis then removes the result object (40 bytes an entry);
    // with two sites, merged by the return, both are allocated.
    return { value: done ? undefined : this.pick(m, i), done } as IteratorResult<T, undefined>;
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
  /** @internal The keys, in insertion order (deleted ones too); its length is the capacity. */
  keys64!: BigInt64Array;
  /** The same memory as int32 halves: key i is words[2i + HI], words[2i + LO]. */
  private words!: Int32Array;
  /** @internal The values, HOLE for a deleted entry. */
  vals: V[];
  /** Open addressing, linear probing: entry index + 1, 0 for an empty slot; at least twice the capacity. */
  private table!: Int32Array;
  /** @internal Entries appended (live or deleted). */
  count = 0;
  private live = 0;
  /** @internal The current layout of entry indexes, once an iterator or forEach has needed one (see Epoch). */
  epoch: Epoch | null = null;

  /** Creates an empty map (with room for `capacity` entries), or one holding `entries`. */
  constructor(entries?: Iterable<readonly [bigint | number, V]> | number | null) {
    if (typeof entries === 'number' && !(Number.isSafeInteger(entries) && entries >= 0)) {
      // Checked before layout(): a NaN or fractional size would derail the shared slab.
      throw new RangeError(`I64Map capacity must be a non-negative integer: ${entries}`);
    }
    const cap = typeof entries === 'number' ? Math.max(4, entries) : 8;
    this.layout(cap);
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
      const i = t[h]! - 1;
      if (i < 0) return -1;
      if (w[2 * i + HI] === hi && w[2 * i + LO] === lo && this.vals[i] !== HOLE) return i;
    }
  }

  /** Sets the entry for the key given as int32 halves (the decoder's path). */
  setParts(hi: number, lo: number, value: V): this {
    // One probe: either the live entry with this key, or the empty slot to fill.
    const t = this.table;
    const w = this.words;
    const mask = t.length - 1;
    let h = hash(hi, lo) & mask;
    for (let i = t[h]! - 1; i >= 0; h = (h + 1) & mask, i = t[h]! - 1) {
      if (w[2 * i + HI] === hi && w[2 * i + LO] === lo && this.vals[i] !== HOLE) {
        this.vals[i] = value;
        return this;
      }
    }
    if (this.count === this.keys64.length) {
      this.makeRoom();
      return this.setParts(hi, lo, value);
    }
    const n = this.count++;
    w[2 * n + HI] = hi;
    w[2 * n + LO] = lo;
    this.vals[n] = value;
    this.live++;
    t[h] = n + 1;
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
    while (t[h] !== 0) h = (h + 1) & mask;
    t[h] = n + 1;
  }

  /** Keys (8 bytes each) then the hash table (4 bytes a slot), for `cap` entries, in one new zeroed region. */
  private layout(cap: number): void {
    const size = tableSizeFor(cap);
    const buf = region(cap * 8 + size * 4);
    this.keys64 = new BigInt64Array(buf, regionAt, cap);
    this.words = new Int32Array(buf, regionAt, cap * 2);
    this.table = new Int32Array(buf, regionAt + cap * 8, size);
  }

  /** The map is full: double it, unless at least half are holes, which compacting frees (kept out of setParts, which the decoder inlines). */
  private makeRoom(): void {
    const cap = this.keys64.length;
    this.rebuild(this.live > cap >> 1 ? cap * 2 : cap);
  }

  /**
   * Gives the map room for `cap` entries (at least the live ones), keeping
   * their order. Without holes (only growing: a delete always leaves one) the
   * entries move to a new region and keep their indexes. Otherwise the holes
   * are squeezed out, in place when the room stays the same (entry i moves
   * down to j <= i), and the epoch ends, so live iterators can follow.
   */
  private rebuild(cap: number): void {
    const n = this.count;
    const oldWords = this.words;
    const oldVals = this.vals;
    if (this.live === n) {
      this.layout(cap);
      this.keys64.set(new BigInt64Array(oldWords.buffer, oldWords.byteOffset, n));
      this.vals.length = cap;
      for (let i = 0; i < n; i++) this.place(i);
      return;
    }
    const inPlace = cap === this.keys64.length;
    if (inPlace) this.table.fill(0);
    else this.layout(cap);
    const w = this.words;
    const vals = inPlace ? oldVals : new Array<V>(cap);
    const removed = this.epoch === null ? null : new Int32Array(n - this.live);
    let j = 0;
    for (let i = 0; i < n; i++) {
      const v = oldVals[i]!;
      if (v === HOLE) {
        if (removed !== null) removed[i - j] = i;
        continue;
      }
      w[2 * j + HI] = oldWords[2 * i + HI]!;
      w[2 * j + LO] = oldWords[2 * i + LO]!;
      vals[j] = v;
      j++;
    }
    if (inPlace) vals.fill(undefined as V, j, n); // the moved values' old places
    this.vals = vals;
    this.count = j;
    for (let i = 0; i < j; i++) this.place(i);
    if (removed !== null) this.endEpoch(removed);
  }

  /** Ends the current epoch, if anything holds one, with what the rebuild removed (null: everything). */
  private endEpoch(removed: Int32Array | null): void {
    const e = this.epoch;
    if (e === null) return;
    e.removed = removed;
    e.next = this.epoch = new Epoch();
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
    this.vals[i] = HOLE as V;
    this.live--;
    const cap = this.keys64.length;
    if (this.live === 0) this.clear();
    else if (cap > 16 && this.live < cap >> 2) this.rebuild(Math.max(16, this.live * 2)); // a quarter full: room for twice the live
    return true;
  }

  clear(): void {
    this.endEpoch(null);
    this.count = 0;
    this.live = 0;
    if (this.keys64.length > 16) this.layout(8); // give the room back, as a Map does
    else this.table.fill(0);
    this.vals = new Array<V>(this.keys64.length);
  }

  forEach(fn: (value: V, key: bigint, map: Map<bigint, V>) => void, thisArg?: unknown): void {
    let e = (this.epoch ??= new Epoch());
    for (let i = 0; i < this.count; i++) {
      if (this.vals[i] === HOLE) continue;
      fn.call(thisArg, this.vals[i]!, this.keys64[i]!, this);
      if (this.epoch !== e) {
        // fn rebuilt or cleared the map: go on from the same place, as Map.prototype.forEach does.
        i = catchUp(e, i + 1) - 1;
        e = this.epoch!;
      }
    }
  }

  /** Calls `fn` with each entry's key as int32 halves (the encoder's path: no bigint made). */
  forEachParts(fn: (value: V, hi: number, lo: number) => void): void {
    const w = this.words;
    for (let i = 0; i < this.count; i++) if (this.vals[i] !== HOLE) fn(this.vals[i]!, w[2 * i + HI]!, w[2 * i + LO]!);
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

/** What a finished iterator points at: an empty map, so it stays done. */
const FINISHED = new I64Map<unknown>(0);
const FINISHED_EPOCH = (FINISHED.epoch = new Epoch());
