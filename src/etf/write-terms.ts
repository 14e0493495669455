/**
 * Term writers used by {@link TermWriter} (writer.ts): the hot leaf writer
 * that the encoder inlines, and the less common terms (pids, ports,
 * references, funs, bitstrings, improper lists, plain objects, bignums)
 * written through the writer's public byte API.
 *
 * Byte layouts follow erl_ext_dist ("External Term Format"); each case names
 * its section.
 */
import { Buffer } from 'node:buffer';
import { atomEncoding, atomWords, atomWordsOf } from './atoms.js';
import { bigintMagnitude, writeSafeMagnitude } from './bignum.js';
import { EncodeError } from './errors.js';
import { MAX_BIG_BYTES } from './tags.js';
import { Atom, BitBinary, ExportFun, Float, Fun, ImproperList, LocalExt, Pid, Port, Reference, atom, type Term } from './types.js';

/** Frame end actions: what to write once a container's children are written. */
export const END_NONE = 0; // tuple, map
export const END_NIL = 1; // proper list: NIL_EXT
export const END_TAIL = 2; // improper list: then the tail (aux), as one more child
export const END_FUN = 3; // NEW_FUN_EXT: back-patch Size (aux = mark of the Size field)

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
const floatScratch = new Uint8Array(9);

/** The byte API of TermWriter that the rare-term writers use. */
export interface ByteSink {
  writeU8(v: number): unknown;
  writeU16(v: number): unknown;
  writeU32(v: number): unknown;
  writeBytes(bytes: Uint8Array): unknown;
  reserveU32(): number;
}

/** A container whose header is written: its children come next. */
export interface Opened {
  children: Term[];
  end: number;
  /** END_TAIL: the tail; END_FUN: the Size mark; END_NONE: the source map/object (cycle tracking). */
  aux: unknown;
}

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
      let w = atomWords.get(t as Atom);
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

/** True when every element is an integer 0..255 (STRING_EXT material). */
export function isByteList(a: Term[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 255) || (v | 0) !== v) return false;
  }
  return true;
}

export function describe(v: unknown): string {
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'number') return String(v);
  const name = (v as object | null)?.constructor?.name;
  return name ? `an instance of ${name}` : 'an object with a custom prototype';
}

/**
 * Writes one of the less common terms: a leaf completely (returns undefined)
 * or a container's header (returns its children). Throws {@link EncodeError}
 * for a value with no Erlang term.
 */
export function writeRare(w: ByteSink, t: object): Opened | undefined {
  if (t instanceof Atom) {
    w.writeBytes(atomEncoding(t));
    return undefined;
  }
  if (t instanceof Float) {
    const v = t.value;
    if (!(typeof v === 'number' && v - v === 0)) throw new EncodeError(`cannot encode Float(${v}): Erlang floats are finite`);
    w.writeBytes(floatScratch.subarray(0, writeFloat(v, floatScratch, 0)));
    return undefined;
  }
  if (t instanceof Pid) {
    writePid(w, t);
    return undefined;
  }
  if (t instanceof Reference) {
    // NEWER_REFERENCE_EXT: 90, Len:16, Node, Creation:32, ID:32 * Len
    const ids = t.ids;
    if (!Array.isArray(ids) || ids.length > 5) throw new EncodeError('Reference.ids must be an array of at most 5 words');
    w.writeU8(90);
    w.writeU16(ids.length);
    writeAtom(w, t.node, 'Reference.node');
    w.writeU32(u32(t.creation, 'Reference.creation'));
    for (const id of ids) w.writeU32(u32(id, 'Reference.ids[]'));
    return undefined;
  }
  if (t instanceof Port) {
    // NEW_PORT_EXT: 89, Node, ID:32, Creation:32 / V4_PORT_EXT: 120, Node, ID:64, Creation:32
    const id = t.id;
    const big = typeof id === 'bigint' ? id : Number.isSafeInteger(id) && id >= 0 ? BigInt(id) : -1n;
    if (big < 0n || big > 0xffffffffffffffffn) throw new EncodeError('Port.id must be a 64-bit unsigned integer');
    const wide = big > 0xffffffffn;
    w.writeU8(wide ? 120 : 89);
    writeAtom(w, t.node, 'Port.node');
    if (wide) w.writeU32(Number(big >> 32n));
    w.writeU32(Number(big & 0xffffffffn));
    w.writeU32(u32(t.creation, 'Port.creation'));
    return undefined;
  }
  if (t instanceof BitBinary) {
    // BIT_BINARY_EXT: 77, Len:32, Bits:8, Data (whole bytes -> BINARY_EXT)
    const d = t.data;
    const bits = t.bits;
    if (!(d instanceof Uint8Array)) throw new EncodeError('BitBinary.data must be a Uint8Array');
    if (d.length === 0 || bits === 8) {
      w.writeU8(109);
      w.writeU32(d.length);
      w.writeBytes(d);
      return undefined;
    }
    if (!(Number.isInteger(bits) && bits >= 1 && bits <= 8)) throw new EncodeError(`BitBinary.bits must be 1..8, got ${bits}`);
    w.writeU8(77);
    w.writeU32(d.length);
    w.writeU8(bits);
    w.writeBytes(d);
    return undefined;
  }
  if (t instanceof ImproperList) {
    // LIST_EXT: 108, Length:32, Elements, Tail. No heads: just the tail.
    const el = t.elements;
    if (!Array.isArray(el)) throw new EncodeError('ImproperList.elements must be an array');
    if (el.length === 0) return { children: [t.tail], end: END_NONE, aux: undefined };
    w.writeU8(108);
    w.writeU32(el.length);
    return { children: el, end: END_TAIL, aux: t.tail };
  }
  if (t instanceof Fun) return writeFunHeader(w, t);
  if (t instanceof ExportFun) {
    // EXPORT_EXT: 113, Module, Function, Arity (SMALL_INTEGER_EXT)
    const a = t.arity;
    if (!(Number.isInteger(a) && a >= 0 && a <= 255)) throw new EncodeError('ExportFun.arity must be 0..255');
    w.writeU8(113);
    writeAtom(w, t.module, 'ExportFun.module');
    writeAtom(w, t.function, 'ExportFun.function');
    w.writeU8(97);
    w.writeU8(a);
    return undefined;
  }
  if (t instanceof LocalExt) {
    const d = t.bytes;
    if (!(d instanceof Uint8Array) || d[0] !== 121) throw new EncodeError('LocalExt.bytes must start with the LOCAL_EXT tag 121');
    w.writeBytes(d);
    return undefined;
  }
  const proto = Object.getPrototypeOf(t);
  if (proto === Object.prototype || proto === null) {
    // A plain object: MAP_EXT with its own enumerable keys as UTF-8 binaries.
    const o = t as Record<string, Term>;
    const keys = Object.keys(o);
    const flat: Term[] = new Array(2 * keys.length);
    for (let i = 0; i < keys.length; i++) {
      flat[2 * i] = keys[i];
      flat[2 * i + 1] = o[keys[i]];
    }
    w.writeU8(116);
    w.writeU32(keys.length);
    return { children: flat, end: END_NONE, aux: o };
  }
  throw new EncodeError(`cannot encode ${describe(t)} as an Erlang term`);
}

/** Integer as SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT or LARGE_BIG_EXT. */
export function writeBigint(w: ByteSink, v: bigint): void {
  if (v >= -2147483648n && v <= 2147483647n) {
    writeInt32Term(w, Number(v));
    return;
  }
  const neg = v < 0n;
  const mag = bigintMagnitude(neg ? -v : v);
  const n = mag.length;
  if (n > MAX_BIG_BYTES) throw new EncodeError(`integer of ${n} bytes exceeds Erlang's limit of ${MAX_BIG_BYTES} bytes`);
  if (n <= 255) {
    w.writeU8(110);
    w.writeU8(n);
  } else {
    w.writeU8(111);
    w.writeU32(n);
  }
  w.writeU8(neg ? 1 : 0);
  w.writeBytes(mag);
}

/** A 32-bit signed integer as SMALL_INTEGER_EXT or INTEGER_EXT. */
function writeInt32Term(w: ByteSink, v: number): void {
  if (v >= 0 && v <= 255) {
    w.writeU8(97);
    w.writeU8(v);
  } else {
    w.writeU8(98);
    w.writeU32(v >>> 0);
  }
}

function writeAtom(w: ByteSink, a: unknown, what: string): void {
  if (!(a instanceof Atom)) throw new EncodeError(`${what} must be an Atom`);
  w.writeBytes(atomEncoding(a));
}

/** NEW_PID_EXT: 88, Node, ID:32, Serial:32, Creation:32. */
function writePid(w: ByteSink, t: Pid): void {
  w.writeU8(88);
  writeAtom(w, t.node, 'Pid.node');
  w.writeU32(u32(t.id, 'Pid.id'));
  w.writeU32(u32(t.serial, 'Pid.serial'));
  w.writeU32(u32(t.creation, 'Pid.creation'));
}

/** NEW_FUN_EXT up to and including Pid; the free variables follow as children. */
function writeFunHeader(w: ByteSink, f: Fun): Opened {
  // 112, Size:32, Arity:8, Uniq:16, Index:32, NumFree:32, Module, OldIndex, OldUniq, Pid, Free vars
  const free = f.freeVars;
  if (!Array.isArray(free)) throw new EncodeError('Fun.freeVars must be an array');
  if (!(f.uniq instanceof Uint8Array) || f.uniq.length !== 16) throw new EncodeError('Fun.uniq must be 16 bytes');
  if (!(Number.isInteger(f.arity) && f.arity >= 0 && f.arity <= 255)) throw new EncodeError('Fun.arity must be 0..255');
  if (!(f.pid instanceof Pid)) throw new EncodeError('Fun.pid must be a Pid');
  const oldIndex = i32(f.oldIndex, 'Fun.oldIndex');
  const oldUniq = i32(f.oldUniq, 'Fun.oldUniq');
  w.writeU8(112);
  const mark = w.reserveU32();
  w.writeU8(f.arity);
  w.writeBytes(f.uniq);
  w.writeU32(u32(f.index, 'Fun.index'));
  w.writeU32(free.length);
  writeAtom(w, f.module, 'Fun.module');
  writeInt32Term(w, oldIndex);
  writeInt32Term(w, oldUniq);
  writePid(w, f.pid);
  return { children: free, end: END_FUN, aux: mark };
}

function u32(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  throw new EncodeError(`${what} must be an unsigned 32-bit integer, got ${String(v)}`);
}

function i32(v: unknown, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= -2147483648 && n <= 2147483647) return n;
  throw new EncodeError(`${what} must be a signed 32-bit integer, got ${String(v)}`);
}
