/**
 * The leaves of the External Term Format encoder (writer.ts): small terms
 * written inline at a position the caller has made room for (integers,
 * floats, atoms, booleans, short binaries, pids and references whose node
 * fits), each returning the new position or -1 to leave the term to the
 * general path. Byte layouts: erl_ext_dist "External Term Format".
 */
import { Buffer } from 'node:buffer';
import { atomEncoding, atomWordsOf, type AtomRefTable } from './atoms.js';
import { writeSafeMagnitude } from './bignum.js';
import { Atom, atom, type Pid, type Reference, type Term } from './types.js';

/** Free space guaranteed before each leaf; every fixed-size leaf fits in it. */
export const HEADROOM = 64;
/** Binaries up to this size are written as leaves (they fit in HEADROOM). */
const SHORT_BINARY = HEADROOM - 5;

const TRUE_BYTES = atomEncoding(atom('true'));
const FALSE_BYTES = atomEncoding(atom('false'));
const UNDEFINED_BYTES = atomEncoding(atom('undefined'));

// Host-order scratch for IEEE doubles (NEW_FLOAT_EXT is big-endian).
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function copySmall(e: Uint8Array, b: Uint8Array, p: number): number {
  const n = e.length;
  for (let i = 0; i < n; i++) b[p + i] = e[i];
  return p + n;
}

/** NEW_FLOAT_EXT: 70, IEEE 754 double, big-endian. `v` must be finite. */
function writeFloat(v: number, b: Uint8Array, p: number): number {
  f64[0] = v;
  b[p] = 70;
  if (LITTLE_ENDIAN) {
    b[p + 1] = f64b[7];
    b[p + 2] = f64b[6];
    b[p + 3] = f64b[5];
    b[p + 4] = f64b[4];
    b[p + 5] = f64b[3];
    b[p + 6] = f64b[2];
    b[p + 7] = f64b[1];
    b[p + 8] = f64b[0];
  } else {
    for (let i = 0; i < 8; i++) b[p + 1 + i] = f64b[i];
  }
  return p + 9;
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
      b[p + 1] = t >>> 24;
      b[p + 2] = t >>> 16;
      b[p + 3] = t >>> 8;
      b[p + 4] = t;
      return p + 5;
    }
    return writeNumber(t, b, p);
  }
  if (typeof t === 'object') {
    if (t === null) return copySmall(UNDEFINED_BYTES, b, p);
    const c = t.constructor;
    if (c === Atom) {
      // The cached encoding, a word at a time (may write up to 3 bytes past
      // the atom, inside HEADROOM; they are overwritten or beyond the end).
      let w = (t as Atom).extWords;
      if (w === undefined) w = atomWordsOf(t as Atom);
      const n = w[0];
      if (n > HEADROOM) return -1;
      for (let i = 1, q = p; i < w.length; i++, q += 4) dv.setInt32(q, w[i]);
      return p + n;
    }
    return c === Buffer || c === Uint8Array ? writeShortBinary(t as Uint8Array, b, p) : -1;
  }
  if (typeof t === 'boolean') return copySmall(t ? TRUE_BYTES : FALSE_BYTES, b, p);
  return t === undefined ? copySmall(UNDEFINED_BYTES, b, p) : -1;
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
  const n = w[0];
  if (n > room - 3) return -1;
  for (let i = 1, q = p; i < w.length; i++, q += 4) dv.setInt32(q, w[i]);
  return p + n;
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
function writeNumber(t: number, b: Uint8Array, p: number): number {
  if (Number.isInteger(t)) {
    if (t >= -9007199254740991 && t <= 9007199254740991) {
      // SMALL_BIG_EXT: 110, n:8, Sign:8, digits little-endian
      b[p] = 110;
      b[p + 2] = t < 0 ? 1 : 0;
      const n = writeSafeMagnitude(b, p + 3, t < 0 ? -t : t);
      b[p + 1] = n;
      return p + 3 + n;
    }
    return -1;
  }
  return t - t === 0 ? writeFloat(t, b, p) : -1;
}

/** BINARY_EXT: 109, Len:32, Data, for binaries that fit in HEADROOM; else -1. */
function writeShortBinary(d: Uint8Array, b: Uint8Array, p: number): number {
  const n = d.length;
  if (n > SHORT_BINARY) return -1;
  b[p] = 109;
  b[p + 1] = 0;
  b[p + 2] = 0;
  b[p + 3] = 0;
  b[p + 4] = n;
  return copySmall(d, b, p + 5);
}

/** A map's keys and values, alternating (forEach: no entry arrays, unlike for...of). */
export function flatten(m: Map<Term, Term>): Term[] {
  const out: Term[] = new Array(2 * m.size);
  let j = 0;
  m.forEach((value, key) => {
    out[j++] = key;
    out[j++] = value;
  });
  return out;
}
