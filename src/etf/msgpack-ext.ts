/**
 * The MessagePack extension types that carry Erlang terms (the table is in
 * msgpack.ts): their payloads both ways, and {@link erlangExtensionCodec}, the
 * same handlers registered for @msgpack/msgpack's own `encode`/`decode`.
 * Shared by the encoder (msgpack.ts) and the decoder (msgpack-decode.ts).
 */
import { ExtensionCodec } from '@msgpack/msgpack';
import { DecodeError, type DecodeErrorCode } from './errors.js';
import { Atom, atom, BitBinary, ExportFun, LocalExt, Pid, Port, Reference, type Term } from './types.js';

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

/** @internal */
export const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const atomBytes = new WeakMap<Atom, Uint8Array>();
/** @internal The atom `undefined`, MessagePack's nil. */
export const UNDEFINED = atom('undefined');

/** @internal An atom's name as UTF-8 (cached per atom). */
export function nameBytes(a: Atom): Uint8Array {
  let b = atomBytes.get(a);
  if (b === undefined) {
    b = textEncoder.encode(a.name);
    atomBytes.set(a, b);
  }
  return b;
}

// ---------------------------------------------------------------- payloads

/** @internal Extension payloads of the scalar (non-marker) types. */
export function scalarPayload(t: Term): { type: number; data: Uint8Array } | null {
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

/** @internal */
export function payloadError(code: DecodeErrorCode, what: string, at: number, type: number): never {
  throw new DecodeError(code, `bad msgpack extension ${type} (${what})`, at, type);
}

// Recently decoded atoms by a hash of their UTF-8 bytes: a hit costs no string.
const atomCache = new Map<number, { a: Atom; b: Uint8Array }>();
const shortAtoms = new Map<number, Atom>();

/** @internal An atom from the UTF-8 bytes `d[start..end)`; `at` and `type` are for errors. */
export function readName(d: Uint8Array, start: number, end: number, at: number, type: number): Atom {
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

/** @internal Decodes the payload of a scalar extension type; `at` is its offset, for errors. */
export function scalarTerm(type: number, d: Uint8Array, at: number): Term {
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
