/**
 * The less common terms for TermWriter (writer.ts): pids, ports, references,
 * funs, bitstrings, improper lists, plain objects, bignums, written through
 * the writer's byte API. The hot leaves (numbers, atoms, short binaries) are
 * in writer.ts, where the encoder's loop inlines them.
 *
 * Byte layouts follow erl_ext_dist ("External Term Format"); each case names
 * its section.
 */
import { atomEncoding, atomRefHook } from './atoms.js';
import { bigintMagnitude } from './bignum.js';
import { typedLength } from './buffers.js';
import { EncodeError } from './errors.js';
import { MAX_BIG_BYTES } from './tags.js';
import { Atom, BitBinary, ExportFun, Float, Fun, ImproperList, LocalExt, Pid, Port, Reference, type Term } from './types.js';

/** Frame end actions: what to write once a container's children are written. */
export const END_NONE = 0; // tuple, map
export const END_NIL = 1; // proper list: NIL_EXT
export const END_TAIL = 2; // improper list: then the tail (aux), as one more child
export const END_FUN = 3; // NEW_FUN_EXT: back-patch Size (aux = mark of the Size field)

// NEW_FLOAT_EXT scratch for Float objects: 70, IEEE double big-endian.
const floatBytes = new Uint8Array(9);
const floatView = new DataView(floatBytes.buffer);

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
    writeAtom(w, t, 'atom');
    return undefined;
  }
  if (t instanceof Float) {
    const v = t.value;
    if (!(typeof v === 'number' && v - v === 0)) throw new EncodeError(`cannot encode Float(${v}): Erlang floats are finite`);
    floatBytes[0] = 70;
    floatView.setFloat64(1, v);
    w.writeBytes(floatBytes);
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
    const n = typedLength.call(d); // what writeBytes copies
    if (n === 0 || bits === 8) {
      w.writeU8(109);
      w.writeU32(n);
      w.writeBytes(d);
      return undefined;
    }
    if (!(Number.isInteger(bits) && bits >= 1 && bits <= 8)) throw new EncodeError(`BitBinary.bits must be 1..8, got ${bits}`);
    w.writeU8(77);
    w.writeU32(n);
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
  const refs = atomRefHook.owner === w ? atomRefHook.table : undefined;
  const i = refs === undefined ? -1 : refs.ref(a);
  if (i >= 0) {
    w.writeU8(82); // ATOM_CACHE_REF
    w.writeU8(i);
  } else {
    w.writeBytes(atomEncoding(a));
  }
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
