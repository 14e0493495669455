/**
 * The leaves of the External Term Format encoder (writer.ts): small terms
 * written inline at a position the caller has made room for (integers,
 * floats, atoms, booleans, short binaries, pids and references whose node
 * fits), each returning the new position or -1 to leave the term to the
 * general path. Byte layouts: erl_ext_dist "External Term Format".
 */
import { atomWordsOf, type AtomRefTable } from './atoms.js';
import { typedLength } from './buffers.js';
import { Atom, atom, type Pid, type Reference, type Term } from './types.js';

/** Free space guaranteed before each leaf; every fixed-size leaf fits in it. */
export const HEADROOM = 64;
/** Binaries up to this size are written as leaves (they fit in HEADROOM). */
const SHORT_BINARY = HEADROOM - 5;
/** Shorter binaries are copied byte by byte; longer ones with `set` (a memmove, but ~15 ns to call). */
const COPY_LOOP_MAX = 8;
/**
 * `Uint8Array.prototype.set`, called directly: in perf profiles of the chat
 * encode (Node 20), `b.set(...)` on the slab Buffer compiled to a generic
 * LoadIC call per binary, and this form is ~8 ns faster there.
 */
const u8set = Uint8Array.prototype.set;

const TRUE_WORDS = atomWordsOf(atom('true'));
const FALSE_WORDS = atomWordsOf(atom('false'));
const UNDEFINED_WORDS = atomWordsOf(atom('undefined'));

/**
 * Writes an atom's cached encoding (see atomWordsOf, atoms.ts) a word at a
 * time; returns the position after it. Up to 3 bytes past the atom are
 * written too, inside the caller's room: they are overwritten or beyond the end.
 */
function putWords(w: Int32Array, dv: DataView, p: number): number {
  for (let i = 1, q = p; i < w.length; i++, q += 4) dv.setInt32(q, w[i]);
  return p + w[0];
}

/**
 * Writes `t` at `b[p]` when it is a small leaf (a safe integer, a finite
 * float, a boolean, null/undefined, an atom of up to {@link HEADROOM} bytes,
 * a binary of up to {@link SHORT_BINARY} bytes); returns the new position, or
 * -1 for anything else. The caller guarantees {@link HEADROOM} bytes of room;
 * `dv` is a DataView of `b`'s memory (`b.byteOffset` 0). Kept small so that
 * it inlines.
 */
export function writeLeaf(t: Term, b: Uint8Array, dv: DataView, p: number): number {
  if (typeof t === 'number') {
    if ((t | 0) === t) {
      if (t >= 0 && t <= 255) {
        // SMALL_INTEGER_EXT: 97, Int:8 (-0 is written as 0)
        b[p] = 97;
        b[p + 1] = t;
        return p + 2;
      }
      // INTEGER_EXT: 98, Int:32 big-endian
      b[p] = 98;
      dv.setInt32(p + 1, t);
      return p + 5;
    }
    return writeNumber(t, b, dv, p);
  }
  // Atoms, booleans and undefined share one word-copy loop (writeLeaf must stay small to inline).
  let w: Int32Array | undefined;
  if (typeof t === 'object') {
    // instanceof, not `t.constructor`: that load sees every kind of term and
    // goes megamorphic in a mixed term; a prototype walk stays cheap.
    if (t instanceof Atom) {
      w = t.extWords;
      if (w === undefined) w = atomWordsOf(t);
      if (w[0] > HEADROOM) return -1;
    } else if (t === null) {
      w = UNDEFINED_WORDS;
    } else {
      return t instanceof Uint8Array ? writeShortBinary(t, b, p) : -1;
    }
  } else if (typeof t === 'boolean') {
    w = t ? TRUE_WORDS : FALSE_WORDS;
  } else if (t === undefined) {
    w = UNDEFINED_WORDS;
  } else {
    return -1;
  }
  return putWords(w, dv, p);
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && v >>> 0 === v;

/**
 * An atom at `b[p]` (a node inside a pid or reference, or any atom in a
 * message with the atom cache): a cache reference, or the atom in full when
 * its encoding is at most `room - 3` bytes (words are written); -1 otherwise.
 */
export function writeNodeAtom(a: unknown, b: Uint8Array, dv: DataView, p: number, refs: AtomRefTable | undefined, room: number): number {
  if (!(a instanceof Atom)) return -1;
  if (refs !== undefined) {
    const i = refs.ref(a);
    if (i >= 0) {
      b[p] = 82; // ATOM_CACHE_REF
      b[p + 1] = i;
      return p + 2;
    }
  }
  let w = a.extWords;
  if (w === undefined) w = atomWordsOf(a);
  return w[0] > room - 3 ? -1 : putWords(w, dv, p);
}

/** NEW_PID_EXT: 88, Node, ID:32, Serial:32, Creation:32 (a pid whose node name fits in the headroom; else -1). */
export function writePidLeaf(t: Pid, b: Uint8Array, dv: DataView, p: number, refs: AtomRefTable | undefined): number {
  const { id, serial, creation } = t;
  if (!isU32(id) || !isU32(serial) || !isU32(creation)) return -1; // the slow path says what is wrong
  b[p] = 88;
  const q = writeNodeAtom(t.node, b, dv, p + 1, refs, HEADROOM - 13);
  if (q < 0) return -1;
  dv.setUint32(q, id);
  dv.setUint32(q + 4, serial);
  dv.setUint32(q + 8, creation);
  return q + 12;
}

/** NEWER_REFERENCE_EXT: 90, Len:16, Node, Creation:32, ID:32 * Len (when it fits in the headroom; else -1). */
export function writeRefLeaf(t: Reference, b: Uint8Array, dv: DataView, p: number, refs: AtomRefTable | undefined): number {
  const ids = t.ids;
  const creation = t.creation;
  if (!Array.isArray(ids) || ids.length > 5 || !isU32(creation)) return -1;
  const n = ids.length;
  for (let i = 0; i < n; i++) if (!isU32(ids[i])) return -1;
  b[p] = 90;
  b[p + 1] = 0;
  b[p + 2] = n;
  let q = writeNodeAtom(t.node, b, dv, p + 3, refs, HEADROOM - 7 - 4 * n);
  if (q < 0) return -1;
  dv.setUint32(q, creation);
  q += 4;
  for (let i = 0; i < n; i++, q += 4) dv.setUint32(q, ids[i]);
  return q;
}

/** Numbers beyond int32: SMALL_BIG_EXT for safe integers, NEW_FLOAT_EXT. */
function writeNumber(t: number, b: Uint8Array, dv: DataView, p: number): number {
  if (Number.isInteger(t)) {
    if (t >= -9007199254740991 && t <= 9007199254740991) {
      // SMALL_BIG_EXT: 110, n:8, Sign:8, digits little-endian. Beyond int32,
      // 2^31 <= m < 2^53: the low word has 4 significant bytes, the high one 0-3.
      const m = t < 0 ? -t : t;
      // `m >>> 0` is m modulo 2^32 (ToUint32), far cheaper than `m % 2 ** 32`.
      const lo = m >>> 0;
      const hi = (m - lo) / 4294967296;
      b[p] = 110;
      b[p + 2] = t < 0 ? 1 : 0;
      dv.setUint32(p + 3, lo, true);
      if (hi === 0) {
        b[p + 1] = 4;
        return p + 7;
      }
      dv.setUint32(p + 7, hi, true); // its zero high bytes fall past the end
      const n = hi < 0x100 ? 5 : hi < 0x10000 ? 6 : 7;
      b[p + 1] = n;
      return p + 3 + n;
    }
    return -1;
  }
  if (t - t !== 0) return -1; // NaN, Infinity: the general path says what is wrong
  // NEW_FLOAT_EXT: 70, IEEE 754 double, big-endian
  b[p] = 70;
  dv.setFloat64(p + 1, t);
  return p + 9;
}

/** BINARY_EXT: 109, Len:32, Data, for binaries that fit in HEADROOM; else -1. */
function writeShortBinary(d: Uint8Array, b: Uint8Array, p: number): number {
  const n = typedLength.call(d);
  if (n > SHORT_BINARY) return -1;
  b[p] = 109;
  b[p + 1] = 0;
  b[p + 2] = 0;
  b[p + 3] = 0;
  b[p + 4] = n;
  p += 5;
  if (n <= COPY_LOOP_MAX) for (let i = 0; i < n; i++) b[p + i] = d[i];
  else u8set.call(b, d, p);
  return p + n;
}

/**
 * A map's keys and values, alternating. Two plain for...of loops over keys()
 * and values() are optimized to inline iteration; forEach calls a closure per
 * entry and for...of over entries() builds [k, v] arrays.
 */
export function flatten(m: Map<Term, Term>): Term[] {
  const out: Term[] = new Array(2 * m.size);
  let j = 0;
  for (const k of m.keys()) {
    out[j] = k;
    j += 2;
  }
  j = 1;
  for (const v of m.values()) {
    out[j] = v;
    j += 2;
  }
  return out;
}
