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
 * The encoder and decoder are iterative (any nesting depth); the encoder reuses
 * one growable buffer. The same extension handlers are registered in
 * {@link erlangExtensionCodec}, an @msgpack/msgpack `ExtensionCodec`, for use
 * with that library's own `encode`/`decode` on data without tuples, improper
 * lists or local funs (which need the array markers above).
 *
 * This module is the encoder and re-exports the rest: the decoder is in
 * msgpack-decode.ts, the extension payloads in msgpack-ext.ts.
 */
import { EncodeError } from './errors.js';
import { Atom, BitBinary, Float, Fun, ImproperList, Tuple, type Term } from './types.js';
import { EXT_ATOM, EXT_BIGINT, EXT_FUN, EXT_IMPROPER, EXT_TUPLE, nameBytes, scalarPayload, textEncoder, UNDEFINED } from './msgpack-ext.js';

export {
  EXT_ATOM,
  EXT_TUPLE,
  EXT_BIGINT,
  EXT_PID,
  EXT_PORT,
  EXT_REF,
  EXT_BITS,
  EXT_IMPROPER,
  EXT_FUN,
  EXT_EXPORT,
  EXT_LOCAL,
  erlangExtensionCodec,
} from './msgpack-ext.js';
export { fromMsgpack } from './msgpack-decode.js';

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
