/**
 * A lossless bridge between Erlang terms and MessagePack, for hops that are not
 * Erlang (HTTP bodies, logs, queues). `fromMsgpack(toMsgpack(t))` is
 * `termEquals` to `t` for every term.
 *
 * Native MessagePack types carry what they carry unambiguously: integers within
 * int64/uint64 as int, every float as float64 (integral ones come back as
 * {@link Float}), binaries as bin (JS strings, which are UTF-8 binaries, as str),
 * proper lists as arrays, maps as maps (any key type), booleans as bool and the
 * atom `undefined` (or JS `null`/`undefined`) as nil. Everything else is an
 * extension type:
 *
 * | ext type | term             | payload (integers big-endian)                                     |
 * |----------|------------------|-------------------------------------------------------------------|
 * | 0x01     | atom             | name, UTF-8                                                       |
 * | 0x02     | tuple            | empty; marker: first item of an array `[marker, E1, ..., En]`      |
 * | 0x03     | integer > 64 bit | sign byte (0 positive, 1 negative), magnitude                     |
 * | 0x04     | pid              | id u32, serial u32, creation u32, node name UTF-8                 |
 * | 0x05     | port             | id u64, creation u32, node name UTF-8                             |
 * | 0x06     | reference        | creation u32, id count u8, ids u32 each (wire order), node UTF-8  |
 * | 0x07     | bitstring        | bits used in the last byte u8 (1..7), bytes                       |
 * | 0x08     | improper list    | empty; marker: `[marker, H1, ..., Hn, Tail]`                      |
 * | 0x09     | local fun        | arity u8, index u32, uniq (16 bytes), module UTF-8; marker:       |
 * |          |                  | `[marker, OldIndex, OldUniq, Pid, FreeVar1, ...]`                 |
 * | 0x0A     | export fun       | arity u8, module byte length u16, module UTF-8, function UTF-8    |
 * | 0x0B     | LOCAL_EXT        | the opaque bytes (starting with tag 121)                          |
 *
 * Markers only ever appear as the first item of an array; anywhere else they
 * are an error. Data from other producers decodes too: `str` becomes a Buffer
 * (a UTF-8 binary), nil the atom `undefined`, float32 a float, and an unknown
 * extension (such as the timestamp, -1) the tuple `{msgpack_ext, Type, Data}`.
 * Duplicate map keys are not detected. Decoded binaries are Buffer views of the
 * input (zero-copy, like `decode`). Malformed input raises {@link DecodeError}.
 *
 * The encoder and decoder are iterative (any nesting depth) and reuse one
 * growable buffer. The same extension handlers are registered in
 * {@link erlangExtensionCodec}, an @msgpack/msgpack `ExtensionCodec`, for use
 * with that library's own `encode`/`decode` on data without tuples, improper
 * lists or local funs (which need the array markers above).
 */
import { ExtData, ExtensionCodec } from '@msgpack/msgpack';
import { DecodeError, EncodeError, type DecodeErrorCode } from './errors.js';
import {
  Atom,
  atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  LocalExt,
  Pid,
  Port,
  Reference,
  Tuple,
  type Term,
} from './types.js';

export const EXT_ATOM = 0x01;
export const EXT_TUPLE = 0x02;
export const EXT_BIGINT = 0x03;
export const EXT_PID = 0x04;
export const EXT_PORT = 0x05;
export const EXT_REF = 0x06;
export const EXT_BITS = 0x07;
export const EXT_IMPROPER = 0x08;
export const EXT_FUN = 0x09;
export const EXT_EXPORT = 0x0a;
export const EXT_LOCAL = 0x0b;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const atomBytes = new WeakMap<Atom, Uint8Array>();
const UNDEFINED = atom('undefined');

function nameBytes(a: Atom): Uint8Array {
  let b = atomBytes.get(a);
  if (b === undefined) {
    b = textEncoder.encode(a.name);
    atomBytes.set(a, b);
  }
  return b;
}

// ---------------------------------------------------------------- payloads

/** Extension payloads of the scalar (non-marker) types. */
function scalarPayload(t: Term): { type: number; data: Uint8Array } | null {
  if (t instanceof Atom) return { type: EXT_ATOM, data: nameBytes(t) };
  if (typeof t === 'bigint') {
    const neg = t < 0n;
    let hex = (neg ? -t : t).toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    const data = new Uint8Array(1 + hex.length / 2);
    data[0] = neg ? 1 : 0;
    data.set(Buffer.from(hex, 'hex'), 1);
    return { type: EXT_BIGINT, data };
  }
  if (t instanceof Pid) {
    const node = nameBytes(t.node);
    const data = new Uint8Array(12 + node.length);
    const v = new DataView(data.buffer);
    v.setUint32(0, t.id);
    v.setUint32(4, t.serial);
    v.setUint32(8, t.creation);
    data.set(node, 12);
    return { type: EXT_PID, data };
  }
  if (t instanceof Port) {
    const node = nameBytes(t.node);
    const data = new Uint8Array(12 + node.length);
    const v = new DataView(data.buffer);
    v.setBigUint64(0, BigInt(t.id));
    v.setUint32(8, t.creation);
    data.set(node, 12);
    return { type: EXT_PORT, data };
  }
  if (t instanceof Reference) {
    const node = nameBytes(t.node);
    const n = t.ids.length;
    const data = new Uint8Array(5 + 4 * n + node.length);
    const v = new DataView(data.buffer);
    v.setUint32(0, t.creation);
    data[4] = n;
    for (let i = 0; i < n; i++) v.setUint32(5 + 4 * i, t.ids[i]);
    data.set(node, 5 + 4 * n);
    return { type: EXT_REF, data };
  }
  if (t instanceof BitBinary) {
    const data = new Uint8Array(1 + t.data.length);
    data[0] = t.bits;
    data.set(t.data, 1);
    return { type: EXT_BITS, data };
  }
  if (t instanceof ExportFun) {
    const m = nameBytes(t.module);
    const f = nameBytes(t.function);
    const data = new Uint8Array(3 + m.length + f.length);
    data[0] = t.arity;
    data[1] = m.length >> 8;
    data[2] = m.length & 0xff;
    data.set(m, 3);
    data.set(f, 3 + m.length);
    return { type: EXT_EXPORT, data };
  }
  if (t instanceof LocalExt) return { type: EXT_LOCAL, data: t.bytes };
  return null;
}

function payloadError(code: DecodeErrorCode, what: string, at: number, type: number): never {
  throw new DecodeError(code, `bad msgpack extension ${type} (${what})`, at, type);
}

// Recently decoded atoms by a hash of their UTF-8 bytes: a hit costs no string.
const atomCache = new Map<number, { a: Atom; b: Uint8Array }>();
const shortAtoms = new Map<number, Atom>();

function readName(d: Uint8Array, start: number, end: number, at: number, type: number): Atom {
  const len = end - start;
  if (len <= 6) {
    // Short names: the bytes themselves are the key.
    let k = len;
    for (let i = start; i < end; i++) k = k * 256 + d[i];
    const a = shortAtoms.get(k);
    if (a !== undefined) return a;
  }
  let h = 0x811c9dc5 ^ len;
  for (let i = start; i < end; i++) h = Math.imul(h ^ d[i], 16777619);
  const hit = atomCache.get(h);
  if (hit !== undefined && hit.b.length === end - start) {
    let same = true;
    for (let i = 0; same && i < hit.b.length; i++) same = hit.b[i] === d[start + i];
    if (same) return hit.a;
  }
  let name: string;
  try {
    name = textDecoder.decode(d.subarray(start, end));
  } catch {
    return payloadError('ERR_DECODE_BAD_ATOM', 'invalid UTF-8 in an atom', at, type);
  }
  if (end - start > 255) {
    let n = 0;
    for (const _ of name) n++;
    if (n > 255) payloadError('ERR_DECODE_ATOM_TOO_LONG', 'atom over 255 characters', at, type);
  }
  const a = atom(name);
  if (len <= 6) {
    let k = len;
    for (let i = start; i < end; i++) k = k * 256 + d[i];
    if (shortAtoms.size >= 4096) shortAtoms.clear();
    shortAtoms.set(k, a);
  } else {
    if (atomCache.size >= 4096) atomCache.clear();
    atomCache.set(h, { a, b: nameBytes(a) });
  }
  return a;
}

/** Decodes the payload of a scalar extension type; `at` is its offset, for errors. */
function scalarTerm(type: number, d: Uint8Array, at: number): Term {
  if (type === EXT_ATOM) return readName(d, 0, d.length, at, type);
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const need = (n: number) => {
    if (d.length < n) payloadError('ERR_DECODE_TRUNCATED', 'payload too short', at, type);
  };
  switch (type) {
    case EXT_BIGINT: {
      need(2);
      if (d[0] > 1) payloadError('ERR_DECODE_BAD_TERM', 'sign byte', at, type);
      const mag = BigInt(`0x${Buffer.from(d.buffer, d.byteOffset + 1, d.length - 1).toString('hex')}`);
      const n = d[0] ? -mag : mag;
      return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
    }
    case EXT_PID:
      need(12);
      return new Pid(readName(d, 12, d.length, at, type), v.getUint32(0), v.getUint32(4), v.getUint32(8));
    case EXT_PORT: {
      need(12);
      const id = v.getBigUint64(0);
      return new Port(readName(d, 12, d.length, at, type), id <= 0xffffffffn ? Number(id) : id, v.getUint32(8));
    }
    case EXT_REF: {
      need(5);
      const n = d[4];
      need(5 + 4 * n);
      if (n < 1 || n > 5) payloadError('ERR_DECODE_BAD_LENGTH', 'reference id count', at, type);
      const ids: number[] = [];
      for (let i = 0; i < n; i++) ids.push(v.getUint32(5 + 4 * i));
      return new Reference(readName(d, 5 + 4 * n, d.length, at, type), v.getUint32(0), ids);
    }
    case EXT_BITS:
      need(2);
      if (d[0] < 1 || d[0] > 7 || (d[d.length - 1] & (0xff >> d[0])) !== 0) {
        payloadError('ERR_DECODE_BAD_BITS', 'bit count or unused bits', at, type);
      }
      return new BitBinary(Buffer.from(d.subarray(1)), d[0]);
    case EXT_EXPORT: {
      need(3);
      const ml = (d[1] << 8) | d[2];
      need(3 + ml);
      return new ExportFun(readName(d, 3, 3 + ml, at, type), readName(d, 3 + ml, d.length, at, type), d[0]);
    }
    default: // EXT_LOCAL (callers pass only this module's scalar types)
      if (d.length < 2 || d[0] !== 121) payloadError('ERR_DECODE_BAD_TERM', 'not LOCAL_EXT bytes', at, type);
      return new LocalExt(Buffer.from(d));
  }
}

/**
 * An @msgpack/msgpack `ExtensionCodec` with this module's scalar extension
 * types (atoms, big integers, pids, ports, references, bitstrings, export funs,
 * LOCAL_EXT), for use with that library's `encode`/`decode`.
 */
export const erlangExtensionCodec = new ExtensionCodec();
for (const type of [EXT_ATOM, EXT_BIGINT, EXT_PID, EXT_PORT, EXT_REF, EXT_BITS, EXT_EXPORT, EXT_LOCAL]) {
  erlangExtensionCodec.register({
    type,
    encode: (input) => {
      const p = scalarPayload(input as Term);
      return p !== null && p.type === type ? p.data : null;
    },
    decode: (data) => scalarTerm(type, data, 0),
  });
}

// ---------------------------------------------------------------- encoding

let buf = new Uint8Array(8192);
let view = new DataView(buf.buffer);
let pos = 0;

function ensure(n: number): void {
  if (pos + n <= buf.length) return;
  const next = new Uint8Array(Math.max(buf.length * 2, pos + n));
  next.set(buf.subarray(0, pos));
  buf = next;
  view = new DataView(buf.buffer);
}

/** A length or count: the fix form when it fits (fixMax >= 0), else the 8 (if any), 16 or 32-bit form. */
function header(fix: number, fixMax: number, t8: number, t16: number, n: number): void {
  ensure(5);
  if (n <= fixMax) buf[pos++] = fix | n;
  else if (t8 !== 0 && n <= 0xff) {
    buf[pos++] = t8;
    buf[pos++] = n;
  } else if (n <= 0xffff) {
    buf[pos++] = t16;
    view.setUint16(pos, n);
    pos += 2;
  } else {
    buf[pos++] = t16 + 1;
    view.setUint32(pos, n);
    pos += 4;
  }
}
const arrayHeader = (n: number) => header(0x90, 15, 0, 0xdc, n);
const mapHeader = (n: number) => header(0x80, 15, 0, 0xde, n);
const strHeader = (n: number) => header(0xa0, 31, 0xd9, 0xda, n);
const binHeader = (n: number) => header(0, -1, 0xc4, 0xc5, n);
const extHeader = (n: number) => header(0, -1, 0xc7, 0xc8, n);

function writeBytes(b: Uint8Array): void {
  ensure(b.length);
  buf.set(b, pos);
  pos += b.length;
}

function writeInt(n: number): void {
  ensure(9);
  if (n >= 0) {
    if (n < 0x80) buf[pos++] = n;
    else if (n < 0x100) {
      buf[pos++] = 0xcc;
      buf[pos++] = n;
    } else if (n < 0x10000) {
      buf[pos++] = 0xcd;
      view.setUint16(pos, n);
      pos += 2;
    } else if (n < 0x100000000) {
      buf[pos++] = 0xce;
      view.setUint32(pos, n);
      pos += 4;
    } else {
      buf[pos++] = 0xcf;
      view.setBigUint64(pos, BigInt(n));
      pos += 8;
    }
  } else if (n >= -32) buf[pos++] = n & 0xff;
  else if (n >= -0x80) {
    buf[pos++] = 0xd0;
    view.setInt8(pos++, n);
  } else if (n >= -0x8000) {
    buf[pos++] = 0xd1;
    view.setInt16(pos, n);
    pos += 2;
  } else if (n >= -0x80000000) {
    buf[pos++] = 0xd2;
    view.setInt32(pos, n);
    pos += 4;
  } else {
    buf[pos++] = 0xd3;
    view.setBigInt64(pos, BigInt(n));
    pos += 8;
  }
}

function writeFloat(x: number): void {
  if (!Number.isFinite(x)) throw new EncodeError(`${x} is not an Erlang float`);
  ensure(9);
  buf[pos++] = 0xcb;
  view.setFloat64(pos, x);
  pos += 8;
}

function writeExt(type: number, data: Uint8Array): void {
  const n = data.length;
  ensure(6);
  const fix = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
  if (fix) buf[pos++] = fix;
  else extHeader(n);
  buf[pos++] = type;
  writeBytes(data);
}

function writeStr(s: string): void {
  const n = Buffer.byteLength(s, 'utf8');
  strHeader(n);
  ensure(n);
  if (n === s.length) for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
  else textEncoder.encodeInto(s, buf.subarray(pos, pos + n));
  pos += n;
}

/** Splits a list into its heads and its final non-list tail ([] when proper). */
function flattenList(t: ImproperList): [Term[], Term] {
  let heads = t.elements;
  let tail = t.tail;
  while (Array.isArray(tail) ? tail.length > 0 : tail instanceof ImproperList) {
    const xs = Array.isArray(tail) ? tail : (tail as ImproperList).elements;
    heads = heads.concat(xs);
    tail = Array.isArray(tail) ? [] : (tail as ImproperList).tail;
  }
  return [heads, tail];
}

/** A complete extension object (header, type, payload) as standalone bytes. */
function extBytes(type: number, data: Uint8Array): Uint8Array {
  const saved = [buf, view, pos] as const;
  buf = new Uint8Array(data.length + 6);
  view = new DataView(buf.buffer);
  pos = 0;
  writeExt(type, data);
  const out = buf.subarray(0, pos);
  [buf, view, pos] = saved;
  return out;
}

const atomEncodings = new WeakMap<Atom, Uint8Array>();
const TUPLE_MARK = Uint8Array.of(0xc7, 0, EXT_TUPLE);
const IMPROPER_MARK = Uint8Array.of(0xc7, 0, EXT_IMPROPER);

function writeBig(t: bigint): void {
  if (t >= -(2n ** 63n) && t < 2n ** 64n) {
    ensure(9);
    buf[pos++] = t < 0n ? 0xd3 : 0xcf;
    if (t < 0n) view.setBigInt64(pos, t);
    else view.setBigUint64(pos, t);
    pos += 8;
  } else writeExt(EXT_BIGINT, scalarPayload(t)!.data);
}

function writeByte(b: number): void {
  ensure(1);
  buf[pos++] = b;
}

/**
 * Writes one term, or the header of a container; returns the container's
 * items to write next, in order (null when there are none).
 */
function writeOne(t: Term): Term[] | null {
  switch (typeof t) {
    case 'number':
      if (Number.isSafeInteger(t)) writeInt(t);
      else if (Number.isInteger(t)) writeBig(BigInt(t));
      else writeFloat(t);
      return null;
    case 'bigint':
      writeBig(t);
      return null;
    case 'string':
      writeStr(t);
      return null;
    case 'boolean':
      writeByte(t ? 0xc3 : 0xc2);
      return null;
    case 'undefined':
      writeByte(0xc0);
      return null;
    case 'object':
      break;
    default:
      throw new EncodeError(`not an Erlang term: ${typeof t}`);
  }
  if (t === null || t === UNDEFINED) writeByte(0xc0);
  else if (Array.isArray(t)) {
    arrayHeader(t.length);
    return t;
  } else if (t instanceof Atom) {
    if (t.name === 'true' || t.name === 'false') writeByte(t.name === 'true' ? 0xc3 : 0xc2);
    else {
      let e = atomEncodings.get(t);
      if (e === undefined) atomEncodings.set(t, (e = extBytes(EXT_ATOM, nameBytes(t))));
      writeBytes(e);
    }
  } else if (t instanceof Tuple) {
    arrayHeader(t.elements.length + 1);
    writeBytes(TUPLE_MARK);
    return t.elements;
  } else if (t instanceof Uint8Array) {
    binHeader(t.length);
    writeBytes(t);
  } else if (t instanceof Map) {
    mapHeader(t.size);
    const kv: Term[] = [];
    for (const [k, v] of t) kv.push(k, v);
    return kv;
  } else if (t instanceof Float) writeFloat(t.value);
  else if (t instanceof BitBinary && (t.bits === 8 || t.data.length === 0)) return writeOne(t.data);
  else if (t instanceof ImproperList) {
    const [heads, tail] = flattenList(t);
    if (heads.length === 0) return writeOne(tail);
    if (Array.isArray(tail)) return writeOne(heads);
    arrayHeader(heads.length + 2);
    writeBytes(IMPROPER_MARK);
    return [...heads, tail];
  } else if (t instanceof Fun) {
    const mod = nameBytes(t.module);
    const data = new Uint8Array(21 + mod.length);
    data[0] = t.arity;
    new DataView(data.buffer).setUint32(1, t.index);
    data.set(t.uniq.subarray(0, 16), 5);
    data.set(mod, 21);
    arrayHeader(t.freeVars.length + 4);
    writeExt(EXT_FUN, data);
    return [t.oldIndex, t.oldUniq, t.pid, ...t.freeVars];
  } else {
    const p = scalarPayload(t);
    if (p !== null) writeExt(p.type, p.data);
    else {
      // A plain object: a map with binary keys.
      const o = t as { [k: string]: Term };
      const keys = Object.keys(o);
      mapHeader(keys.length);
      const kv: Term[] = [];
      for (const k of keys) kv.push(k, o[k]);
      return kv;
    }
  }
  return null;
}

/** Encodes a term as one MessagePack object (see the module comment for the mapping). */
export function toMsgpack(term: Term): Uint8Array {
  pos = 0;
  const stack: { xs: Term[]; i: number }[] = [];
  const first = writeOne(term);
  if (first !== null && first.length > 0) stack.push({ xs: first, i: 0 });
  while (stack.length > 0) {
    const f = stack[stack.length - 1];
    if (f.i === f.xs.length) {
      stack.pop();
      continue;
    }
    const xs = writeOne(f.xs[f.i++]);
    if (xs !== null && xs.length > 0) stack.push({ xs, i: 0 });
  }
  const out = buf.slice(0, pos);
  if (buf.length > 1 << 20) {
    buf = new Uint8Array(8192);
    view = new DataView(buf.buffer);
  }
  return out;
}

// ---------------------------------------------------------------- decoding

// What an open array becomes: announced by a marker extension at its head.
const A_LIST = 0;
const A_TUPLE = 1;
const A_IMPROPER = 2;
const A_FUN = 3;

type Frame = {
  kind: number;
  items: Term[];
  left: number;
  map: Map<Term, Term> | null;
  key: Term;
  at: number;
  fun: Uint8Array | null;
};

// Decoder state, module-wide so that small messages pay for no closures.
const NO_INPUT = new Uint8Array(0);
const NO_VIEW = new DataView(NO_INPUT.buffer);
let D: Uint8Array = NO_INPUT;
let V: DataView = NO_VIEW;
let P = 0;
let END = 0;
const frames: Frame[] = [];

function fail(code: DecodeErrorCode, msg: string, at: number, tag?: number): never {
  throw new DecodeError(code, msg, at, tag);
}

function need(n: number, at: number): void {
  if (P + n > END) fail('ERR_DECODE_TRUNCATED', 'msgpack input ends early', at);
}

function take(n: number, at: number): Uint8Array {
  need(n, at);
  P += n;
  return D.subarray(P - n, P);
}

/** A Buffer view of the next n bytes (shares memory with the input). */
function bin(n: number, at: number): Buffer {
  need(n, at);
  P += n;
  return Buffer.from(D.buffer, D.byteOffset + P - n, n);
}

// The last extension header read: payload length and type.
let extLen = 0;
let extType = 0;

/** Reads an extension header (P is past its first byte `b`) into extLen and extType. */
function extHead(b: number, at: number): void {
  extLen = 1 << (b - 0xd4);
  if (b < 0xd4) {
    const w = b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4; // ext 8, 16, 32
    need(w, at);
    extLen = w === 1 ? D[P] : w === 2 ? V.getUint16(P) : V.getUint32(P);
    P += w;
  }
  need(1, at);
  extType = V.getInt8(P++);
}

function isExt(b: number): boolean {
  return (b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8);
}

/** An extension that is neither ours nor a marker. */
function foreignExt(type: number, data: Uint8Array): Term {
  // A decoder registered on erlangExtensionCodec may make a term of it (and may
  // call fromMsgpack itself: keep our state); otherwise keep the bytes.
  const saved = [D, V, P, END] as const;
  const x = erlangExtensionCodec.decode(data, type, undefined);
  [D, V, P, END] = saved;
  return x instanceof ExtData || x instanceof Date ? new Tuple([atom('msgpack_ext'), type, Buffer.from(data)]) : (x as Term);
}

/**
 * Decodes one MessagePack object to a term (see the module comment). Throws
 * {@link DecodeError} for malformed or truncated input and trailing bytes.
 */
export function fromMsgpack(bytes: Uint8Array): Term {
  const base = frames.length === 0 ? 0 : -1;
  if (base < 0) {
    // Re-entered from an extension decoder: run on fresh state.
    const saved = [D, V, P, END, frames.splice(0)] as const;
    try {
      return fromMsgpack(bytes);
    } finally {
      [D, V, P, END] = saved;
      frames.push(...saved[4]);
    }
  }
  D = bytes;
  V = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  P = 0;
  END = bytes.length;
  try {
    return decodeLoop();
  } finally {
    frames.length = 0;
    D = NO_INPUT; // do not keep the caller's bytes alive
    V = NO_VIEW;
  }
}

function decodeLoop(): Term {
  const d = D;
  const stack = frames;
  for (;;) {
    const at = P;
    need(1, at);
    const b = d[P++];
    let value: Term;
    let count = -1; // array items or map entries to open
    let isMap = false;
    if (b <= 0x7f) value = b;
    else if (b >= 0xe0) value = b - 0x100;
    else if (b <= 0x9f) {
      count = b & 0x0f;
      isMap = b <= 0x8f;
    } else if (b <= 0xbf) value = bin(b & 0x1f, at);
    else {
      switch (b) {
        case 0xc0: value = UNDEFINED; break;
        case 0xc2: value = false; break;
        case 0xc3: value = true; break;
        case 0xc4: case 0xd9: need(1, at); value = bin(d[P++], at); break;
        case 0xc5: case 0xda: need(2, at); P += 2; value = bin(V.getUint16(P - 2), at); break;
        case 0xc6: case 0xdb: need(4, at); P += 4; value = bin(V.getUint32(P - 4), at); break;
        case 0xca: case 0xcb: {
          need(b === 0xca ? 4 : 8, at);
          const x = b === 0xca ? V.getFloat32(P) : V.getFloat64(P);
          P += b === 0xca ? 4 : 8;
          if (!Number.isFinite(x)) fail('ERR_DECODE_BAD_FLOAT', `${x} is not an Erlang float`, at, b);
          value = Number.isInteger(x) ? new Float(x) : x;
          break;
        }
        case 0xcc: need(1, at); value = d[P++]; break;
        case 0xcd: need(2, at); value = V.getUint16(P); P += 2; break;
        case 0xce: need(4, at); value = V.getUint32(P); P += 4; break;
        case 0xd0: need(1, at); value = V.getInt8(P++); break;
        case 0xd1: need(2, at); value = V.getInt16(P); P += 2; break;
        case 0xd2: need(4, at); value = V.getInt32(P); P += 4; break;
        case 0xcf: case 0xd3: {
          need(8, at);
          const hi = b === 0xcf ? V.getUint32(P) : V.getInt32(P);
          if (hi < 0x200000 && hi > -0x200000) value = hi * 0x100000000 + V.getUint32(P + 4);
          else {
            const x = b === 0xcf ? V.getBigUint64(P) : V.getBigInt64(P);
            value = x >= -9007199254740991n && x <= 9007199254740991n ? Number(x) : x;
          }
          P += 8;
          break;
        }
        case 0xdc: need(2, at); count = V.getUint16(P); P += 2; break;
        case 0xdd: need(4, at); count = V.getUint32(P); P += 4; break;
        case 0xde: need(2, at); count = V.getUint16(P); P += 2; isMap = true; break;
        case 0xdf: need(4, at); count = V.getUint32(P); P += 4; isMap = true; break;
        case 0xc1: return fail('ERR_DECODE_UNKNOWN_TAG', 'msgpack byte 0xc1 is never used', at, b);
        default: {
          // Extensions: fixext 1/2/4/8/16 (0xd4-0xd8) and ext 8/16/32 (0xc7-0xc9).
          extHead(b, at);
          const n = extLen;
          const type = extType;
          if (type === EXT_ATOM) {
            need(n, at);
            P += n;
            value = readName(d, P - n, P, at, type);
            break;
          }
          const data = take(n, at);
          if (type === EXT_TUPLE || type === EXT_IMPROPER || type === EXT_FUN) {
            return fail('ERR_DECODE_BAD_TERM', 'msgpack marker extension outside the head of an array', at, type);
          }
          value = type > 0 && type <= EXT_LOCAL ? scalarTerm(type, data, at) : foreignExt(type, data);
        }
      }
    }
    if (count >= 0) {
      // Every item takes at least one byte: refuse counts the input cannot hold.
      if (count > END - P) fail('ERR_DECODE_BAD_LENGTH', `msgpack ${isMap ? 'map' : 'array'} of ${count} cannot fit`, at, b);
      let kind = A_LIST;
      let fun: Uint8Array | null = null;
      if (!isMap && count > 0 && isExt(d[P])) {
        // A marker at the head says what the array stands for.
        const mark = P++;
        extHead(d[mark], mark);
        const type = extType;
        if (type === EXT_TUPLE || type === EXT_IMPROPER) {
          if (extLen !== 0) fail('ERR_DECODE_BAD_TERM', 'msgpack marker with a payload', mark, type);
          kind = type === EXT_TUPLE ? A_TUPLE : A_IMPROPER;
          count--;
        } else if (type === EXT_FUN) {
          fun = take(extLen, mark);
          kind = A_FUN;
          count--;
        } else P = mark;
      }
      if (count > 0) {
        stack.push({ kind, items: [], left: isMap ? 2 * count : count, map: isMap ? new Map() : null, key: undefined, at, fun });
        continue;
      }
      value = isMap ? new Map() : finishArray(kind, [], at, fun);
    }
    // Hand the value to the open containers, closing those that are full.
    for (;;) {
      const f = stack[stack.length - 1];
      if (f === undefined) {
        if (P !== END) fail('ERR_DECODE_TRAILING', 'bytes left after the msgpack object', P);
        return value;
      }
      if (f.map !== null) {
        if (f.left-- % 2 === 0) f.key = value;
        else f.map.set(f.key, value);
      } else {
        f.items.push(value);
        f.left--;
      }
      if (f.left > 0) break;
      stack.pop();
      value = f.map ?? finishArray(f.kind, f.items, f.at, f.fun);
    }
  }
}

/** The list, tuple, improper list or fun an array stands for. */
function finishArray(kind: number, items: Term[], at: number, fun: Uint8Array | null): Term {
  if (kind === A_LIST) return items;
  if (kind === A_TUPLE) return new Tuple(items);
  if (kind === A_IMPROPER) {
    if (items.length < 2) payloadError('ERR_DECODE_BAD_TERM', 'improper list without head or tail', at, EXT_IMPROPER);
    const tail = items.pop()!;
    if (Array.isArray(tail)) return items.concat(tail);
    if (tail instanceof ImproperList) return new ImproperList(items.concat(tail.elements), tail.tail);
    return new ImproperList(items, tail);
  }
  const d = fun!;
  const [oldIndex, oldUniq, pid] = items;
  if (d.length < 21 || !(pid instanceof Pid) || !isInt(oldIndex) || !isInt(oldUniq)) {
    return payloadError('ERR_DECODE_BAD_TERM', 'malformed local fun', at, EXT_FUN);
  }
  const index = new DataView(d.buffer, d.byteOffset).getUint32(1);
  const module = readName(d, 21, d.length, at, EXT_FUN);
  return new Fun(d[0], Buffer.from(d.subarray(5, 21)), index, module, oldIndex, oldUniq, pid, items.slice(3));
}

function isInt(t: Term): t is number | bigint {
  return typeof t === 'bigint' || Number.isInteger(t);
}
