// The wire layer: npm `thrift`'s TBinaryProtocol, TCompactProtocol and
// TFramedTransport, subclassed only where they are wrong or slow for us.
//
// What we keep from npm thrift: message headers and version checks, field
// headers (including compact's field-id deltas and bool-in-header encoding),
// container headers and negative-size checks, skip() with its depth limit, the
// frame reader (TFramedTransport.receiver, with its size cap) and the
// per-frame read transport (TFramedTransport).
//
// What we override, and why:
// - i64 is a bigint, exact over the whole range, in both protocols. npm thrift
//   reads i64 as node-int64 and its generated code passes map keys as strings
//   that node-int64 parses as hex (apache/thrift #1519, #1740).
// - writes go to one growable buffer (WriteBuffer) instead of allocating a
//   Buffer per byte, and a whole frame is built in place.
// - compact: readVarint32 without an Int64 allocation per varint; readBool of
//   a container element (npm thrift reads `.value` of a number and always
//   returns false); writeMessageEnd clears the seqid (npm thrift never does,
//   so every second message logs "SeqId already set").
// - list/set/map headers whose size cannot fit in the bytes left are refused
//   before any element is read (a huge length cannot make us loop or allocate).
import thrift from 'thrift';
import { ThriftEncodeError, ThriftProtocolError } from './errors.js';
import { WriteBuffer } from './buffer.js';

export { WriteBuffer };

/** Thrift wire type ids (TType), shared by both protocols' headers. */
export const TType = {
  STOP: 0,
  VOID: 1,
  BOOL: 2,
  BYTE: 3,
  DOUBLE: 4,
  I16: 6,
  I32: 8,
  I64: 10,
  STRING: 11,
  STRUCT: 12,
  MAP: 13,
  SET: 14,
  LIST: 15,
  UUID: 16,
} as const;

const TYPE_NAMES: Record<number, string> = {
  0: 'stop',
  1: 'void',
  2: 'bool',
  3: 'byte',
  4: 'double',
  6: 'i16',
  8: 'i32',
  10: 'i64',
  11: 'string',
  12: 'struct',
  13: 'map',
  14: 'set',
  15: 'list',
  16: 'uuid',
};

/** The name of a wire type id (`i64`, `struct`, ...), or `type(<n>)`. */
export function typeName(id: number): string {
  return TYPE_NAMES[id] ?? `type(${id})`;
}

/** Thrift message types (TMessageType). */
export const MessageType = { CALL: 1, REPLY: 2, EXCEPTION: 3, ONEWAY: 4 } as const;

/** The two wire protocols beambridge speaks. */
export type ProtocolName = 'binary' | 'compact';

/** Default cap on one frame: 16 MB, the common Thrift default. */
export const DEFAULT_MAX_FRAME_BYTES = 16_384_000;

/** A message header as read by {@link ThriftProtocol.readMessageBegin}. */
export interface MessageHeader {
  fname: string;
  mtype: number;
  rseqid: number;
}
/** A field header; `ftype` is {@link TType.STOP} at the end of a struct. */
export interface FieldHeader {
  fname: string | null;
  ftype: number;
  fid: number;
}
export interface MapHeader {
  ktype: number;
  vtype: number;
  size: number;
}
export interface ListHeader {
  etype: number;
  size: number;
}

/**
 * The protocol interface generated code reads and writes through: npm thrift's
 * TProtocol, with i64 as bigint. {@link BinaryProtocol} and
 * {@link CompactProtocol} implement it.
 */
export interface ThriftProtocol extends NpmProtocolMethods {
  /** Reads an i64 as int32 halves into `out` (no bigint made; see I64Map). */
  readI64Parts(out: { hi: number; lo: number }): void;
  /** Writes the i64 whose int32 halves are `hi` and `lo`. */
  writeI64Parts(hi: number, lo: number): void;
}

/** The TProtocol methods npm thrift's protocols have (i64 as bigint), which ThriftProtocol extends. */
export interface NpmProtocolMethods {
  writeMessageBegin(name: string, type: number, seqid: number): void;
  writeMessageEnd(): void;
  writeStructBegin(name: string): void;
  writeStructEnd(): void;
  writeFieldBegin(name: string, type: number, id: number): void;
  writeFieldEnd(): void;
  writeFieldStop(): void;
  writeMapBegin(ktype: number, vtype: number, size: number): void;
  writeMapEnd(): void;
  writeListBegin(etype: number, size: number): void;
  writeListEnd(): void;
  writeSetBegin(etype: number, size: number): void;
  writeSetEnd(): void;
  writeBool(v: boolean): void;
  writeByte(v: number): void;
  writeI16(v: number): void;
  writeI32(v: number): void;
  /** Accepts a bigint, or a number that is a safe integer. */
  writeI64(v: bigint | number): void;
  writeDouble(v: number): void;
  writeString(v: string): void;
  writeBinary(v: Uint8Array): void;

  readMessageBegin(): MessageHeader;
  readMessageEnd(): void;
  readStructBegin(): unknown;
  readStructEnd(): void;
  /** The header object may be reused by the next call: read its fields before reading further. */
  readFieldBegin(): FieldHeader;
  readFieldEnd(): void;
  readMapBegin(): MapHeader;
  readMapEnd(): void;
  readListBegin(): ListHeader;
  readListEnd(): void;
  readSetBegin(): ListHeader;
  readSetEnd(): void;
  readBool(): boolean;
  readByte(): number;
  readI16(): number;
  readI32(): number;
  readI64(): bigint;
  readDouble(): number;
  readString(): string;
  readBinary(): Buffer;
  skip(type: number): void;
}

// npm thrift's read transport, as much of it as we touch directly.
interface ReadTransport {
  inBuf: Buffer;
  /** A DataView over `dvOf` (V8 inlines DataView reads; Buffer#readInt32BE is slower). */
  dv?: DataView;
  dvOf?: Buffer;
  readPos: number;
  ensureAvailable(n: number): void;
  readByte(): number;
}

// The inherited part of npm thrift's protocols, typed our way (the published
// typings declare i64 as node-int64, which we replace).
interface NpmProtocol extends NpmProtocolMethods {
  trans: unknown;
  _seqid: number | null;
}
type NpmProtocolCtor = new (trans: unknown, ...rest: unknown[]) => NpmProtocol;

const NpmBinary = thrift.TBinaryProtocol as unknown as NpmProtocolCtor;
const NpmCompact = thrift.TCompactProtocol as unknown as NpmProtocolCtor;
const NpmFramed = thrift.TFramedTransport as unknown as {
  new (buf: Buffer): ReadTransport;
  receiver(cb: (t: ReadTransport) => void, seqid?: number, maxLength?: number): (data: Buffer) => void;
};

const STRUCT_HEADER = Object.freeze({ fname: '' });

function view(t: ReadTransport): DataView {
  const b = t.inBuf;
  if (t.dvOf !== b) {
    t.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    t.dvOf = b;
  }
  return t.dv!;
}
// Buffer#utf8Slice: what Buffer#toString('utf8', a, b) calls, minus the argument handling.
interface Utf8Slicer {
  utf8Slice(start: number, end: number): string;
}

function underrun(): ThriftProtocolError {
  return new ThriftProtocolError('truncated Thrift data', { code: 'ERR_THRIFT_TRUNCATED' });
}

/** Refuses a container whose declared size cannot fit in the bytes left. */
function checkSize(trans: unknown, size: number, minElemBytes: number): void {
  if (size < 0) throw new ThriftProtocolError(`negative container size ${size}`);
  const t = trans as ReadTransport;
  if (t.inBuf !== undefined && size * minElemBytes > t.inBuf.length - t.readPos) {
    throw new ThriftProtocolError(`container size ${size} exceeds the ${t.inBuf.length - t.readPos} bytes left`, {
      code: 'ERR_THRIFT_SIZE_LIMIT',
      offset: t.readPos,
    });
  }
}

// The least bytes one element of a type takes on the wire (compact: varints
// and bools take 1; binary: its fixed widths, strings a 4-byte length).
const MIN_BYTES_BINARY: Record<number, number> = { 2: 1, 3: 1, 4: 8, 6: 2, 8: 4, 10: 8, 11: 4, 12: 1, 13: 6, 14: 5, 15: 5, 16: 16 };
const MIN_BYTES_COMPACT: Record<number, number> = { 4: 8, 16: 16 };

/** A map header whose size the remaining bytes can hold (by the element types' minimum sizes in `min`). */
function checkMap(trans: unknown, h: MapHeader, min: Record<number, number>): MapHeader {
  if (h.size !== 0) checkSize(trans, h.size, (min[h.ktype] ?? 1) + (min[h.vtype] ?? 1));
  return h;
}

/** A list or set header whose size the remaining bytes can hold. */
function checkList(trans: unknown, h: ListHeader, min: Record<number, number>): ListHeader {
  checkSize(trans, h.size, min[h.etype] ?? 1);
  return h;
}

/**
 * npm thrift's TBinaryProtocol with exact bigint i64 and in-place writes.
 * Give it a {@link WriteBuffer} to write, or a TFramedTransport (see
 * {@link readerFor}) to read.
 */
export class BinaryProtocol extends NpmBinary implements ThriftProtocol {
  constructor(trans: WriteBuffer | ReadTransport) {
    super(trans, false, true);
  }

  override writeMessageEnd(): void {
    this._seqid = null;
  }
  override writeByte(v: number): void {
    (this.trans as WriteBuffer).byte(v);
  }
  override writeBool(v: boolean): void {
    (this.trans as WriteBuffer).byte(v ? 1 : 0);
  }
  override writeFieldBegin(_name: string, type: number, id: number): void {
    const w = this.trans as WriteBuffer;
    w.byte(type);
    w.i16(id);
  }
  override writeI16(v: number): void {
    (this.trans as WriteBuffer).i16(v);
  }
  override writeI32(v: number): void {
    (this.trans as WriteBuffer).i32(v);
  }
  override writeI64(v: bigint | number): void {
    (this.trans as WriteBuffer).i64(v);
  }
  writeI64Parts(hi: number, lo: number): void {
    (this.trans as WriteBuffer).i64Parts(hi, lo);
  }
  override writeDouble(v: number): void {
    (this.trans as WriteBuffer).f64be(v);
  }
  override writeString(v: string): void {
    (this.trans as WriteBuffer).stringI32(v);
  }
  override writeBinary(v: Uint8Array): void {
    const w = this.trans as WriteBuffer;
    w.i32(v.length);
    w.bytes(v);
  }

  // Hot-path reads straight from the frame buffer (same results and checks as
  // the inherited ones, without an allocation per struct and per field).
  private readonly field: FieldHeader = { fname: null, ftype: 0, fid: 0 };
  override readStructBegin(): unknown {
    return STRUCT_HEADER;
  }
  override readFieldBegin(): FieldHeader {
    const t = this.trans as ReadTransport;
    const b = t.inBuf;
    const p = t.readPos;
    const f = this.field;
    if (p >= b.length) throw underrun();
    const type = b[p]!;
    if (type === TType.STOP) {
      t.readPos = p + 1;
      f.ftype = 0;
      f.fid = 0;
      return f;
    }
    if (p + 3 > b.length) throw underrun();
    f.ftype = type;
    f.fid = (((b[p + 1]! << 8) | b[p + 2]!) << 16) >> 16;
    t.readPos = p + 3;
    return f;
  }
  override readI32(): number {
    const t = this.trans as ReadTransport;
    if (t.readPos + 4 > t.inBuf.length) throw underrun();
    const v = view(t).getInt32(t.readPos);
    t.readPos += 4;
    return v;
  }
  override readString(): string {
    const t = this.trans as ReadTransport;
    const b = t.inBuf;
    const p = t.readPos;
    if (p + 4 > b.length) throw underrun();
    const n = view(t).getInt32(p);
    if (n < 0) throw new ThriftProtocolError(`negative string size ${n}`, { offset: p });
    if (p + 4 + n > b.length) throw underrun();
    t.readPos = p + 4 + n;
    return n === 0 ? '' : (b as unknown as Utf8Slicer).utf8Slice(p + 4, p + 4 + n);
  }
  override readMessageBegin(): MessageHeader {
    const h = super.readMessageBegin();
    // Old non-strict headers: npm thrift returns the name as a Buffer.
    if (typeof h.fname !== 'string') h.fname = String(h.fname);
    return h;
  }
  override readI64(): bigint {
    const t = this.trans as ReadTransport;
    if (t.readPos + 8 > t.inBuf.length) throw underrun();
    const v = view(t).getBigInt64(t.readPos);
    t.readPos += 8;
    return v;
  }
  readI64Parts(out: { hi: number; lo: number }): void {
    const t = this.trans as ReadTransport;
    if (t.readPos + 8 > t.inBuf.length) throw underrun();
    const dv = view(t);
    out.hi = dv.getInt32(t.readPos);
    out.lo = dv.getInt32(t.readPos + 4);
    t.readPos += 8;
  }
  override readMapBegin(): MapHeader {
    return checkMap(this.trans, super.readMapBegin(), MIN_BYTES_BINARY);
  }
  override readListBegin(): ListHeader {
    return checkList(this.trans, super.readListBegin(), MIN_BYTES_BINARY);
  }
  override readSetBegin(): ListHeader {
    return checkList(this.trans, super.readSetBegin(), MIN_BYTES_BINARY);
  }
}

/**
 * npm thrift's TCompactProtocol with exact bigint i64, in-place writes, and
 * the container-bool and seqid fixes described at the top of this file.
 */
export class CompactProtocol extends NpmCompact implements ThriftProtocol {
  constructor(trans: WriteBuffer | ReadTransport) {
    super(trans);
  }

  override writeMessageEnd(): void {
    this._seqid = null;
  }
  override writeByte(v: number): void {
    (this.trans as WriteBuffer).byte(v);
  }
  override writeI16(v: number): void {
    if ((v << 16) >> 16 !== v) throw new ThriftEncodeError(`not an i16: ${v}`);
    (this.trans as WriteBuffer).varint32((v << 1) ^ (v >> 31));
  }
  override writeI32(v: number): void {
    if ((v | 0) !== v) throw new ThriftEncodeError(`not an i32: ${v}`);
    (this.trans as WriteBuffer).varint32((v << 1) ^ (v >> 31));
  }
  override writeI64(v: bigint | number): void {
    const w = this.trans as WriteBuffer;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new ThriftEncodeError(`not an exact i64: ${v}`);
      if (v >= -0x10000000000000 && v < 0x10000000000000) {
        w.varint64(v >= 0 ? v * 2 : -v * 2 - 1);
        return;
      }
      v = BigInt(v);
    }
    if (v >= -0x10000000000000n && v < 0x10000000000000n) {
      const n = Number(v);
      w.varint64(n >= 0 ? n * 2 : -n * 2 - 1);
    } else {
      if (typeof v !== 'bigint' || v < I64_MIN || v > I64_MAX) throw new ThriftEncodeError(`not an i64: ${String(v)}`);
      w.varint64(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
    }
  }
  writeI64Parts(hi: number, lo: number): void {
    // zigzag over 64 bits, then a varint of the unsigned halves
    let zhi = (hi << 1) | (lo >>> 31);
    let zlo = lo << 1;
    if (hi < 0) {
      zhi = ~zhi;
      zlo = ~zlo;
    }
    const w = this.trans as WriteBuffer;
    w.ensure(10);
    const b = w.buf;
    let p = w.pos;
    while (zhi !== 0 || zlo >>> 0 > 0x7f) {
      b[p++] = (zlo & 0x7f) | 0x80;
      zlo = (zlo >>> 7) | (zhi << 25);
      zhi >>>= 7;
    }
    b[p++] = zlo;
    w.pos = p;
  }
  // Called by the inherited header writers.
  writeVarint32(n: number): void {
    (this.trans as WriteBuffer).varint32(n);
  }
  override writeString(v: string): void {
    (this.trans as WriteBuffer).stringVarint(v);
  }
  override writeBinary(v: Uint8Array): void {
    const w = this.trans as WriteBuffer;
    w.varint32(v.length);
    w.bytes(v);
  }

  // A varint of up to 5 bytes, as a signed 32-bit value (sizes above 2^31 turn
  // negative and are refused by the inherited negative-size checks).
  readVarint32(): number {
    const t = this.trans as ReadTransport;
    const b = t.inBuf;
    let p = t.readPos;
    let r = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (p >= b.length) throw underrun();
      const x = b[p++]!;
      r |= (x & 0x7f) << shift;
      if (x < 0x80) {
        t.readPos = p;
        return r | 0;
      }
    }
    throw new ThriftProtocolError('compact varint32 longer than 5 bytes', { offset: p });
  }
  override readI16(): number {
    const n = this.readVarint32();
    return (n >>> 1) ^ -(n & 1);
  }
  override readI32(): number {
    const n = this.readVarint32();
    return (n >>> 1) ^ -(n & 1);
  }
  readI64Parts(out: { hi: number; lo: number }): void {
    this.readVarint64Parts(out);
    const sign = out.lo & 1;
    const lo = (out.lo >>> 1) | (out.hi << 31);
    const hi = out.hi >>> 1;
    out.hi = sign ? ~hi : hi | 0;
    out.lo = sign ? ~lo : lo | 0;
  }
  private readVarint64Parts(out: { hi: number; lo: number }): void {
    const t = this.trans as ReadTransport;
    const b = t.inBuf;
    let p = t.readPos;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= b.length) throw underrun();
      const x = b[p++]!;
      if (shift < 28) lo |= (x & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (x & 0x0f) << 28;
        hi = (x & 0x7f) >>> 4;
      } else hi |= (x & 0x7f) << (shift - 32);
      if (x < 0x80) break;
      if (shift >= 63) throw new ThriftProtocolError('compact varint64 longer than 10 bytes', { offset: p });
    }
    t.readPos = p;
    out.hi = hi;
    out.lo = lo;
  }
  override readI64(): bigint {
    const t = this.trans as ReadTransport;
    const b = t.inBuf;
    let p = t.readPos;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (p >= b.length) throw underrun();
      const x = b[p++]!;
      if (shift < 28) lo |= (x & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (x & 0x0f) << 28;
        hi = (x & 0x7f) >>> 4;
      } else hi |= (x & 0x7f) << (shift - 32);
      if (x < 0x80) break;
      shift += 7;
      if (shift >= 70) throw new ThriftProtocolError('compact varint64 longer than 10 bytes', { offset: p });
    }
    t.readPos = p;
    const uhi = hi >>> 0;
    const ulo = lo >>> 0;
    if (uhi < 0x200000) {
      // Below 2^53: zigzag-decode in exact double arithmetic.
      const u = uhi * TWO32 + ulo;
      return BigInt(ulo & 1 ? -(u + 1) / 2 : u / 2);
    }
    const u = (BigInt(uhi) << 32n) | BigInt(ulo);
    return (u >> 1n) ^ -(u & 1n);
  }
  override readBool(): boolean {
    const self = this as unknown as { boolValue_: { hasBoolValue: boolean; boolValue: boolean } };
    if (self.boolValue_.hasBoolValue) {
      self.boolValue_.hasBoolValue = false;
      return self.boolValue_.boolValue;
    }
    // A bool inside a container: one byte, 1 = true (the compact spec allows 2 = false).
    const t = this.trans as ReadTransport;
    if (t.readPos >= t.inBuf.length) throw underrun();
    return t.inBuf[t.readPos++] === 1;
  }
  override readMapBegin(): MapHeader {
    return checkMap(this.trans, super.readMapBegin(), MIN_BYTES_COMPACT);
  }
  override readListBegin(): ListHeader {
    return checkList(this.trans, super.readListBegin(), MIN_BYTES_COMPACT);
  }
  override readSetBegin(): ListHeader {
    return this.readListBegin();
  }
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const TWO32 = 4294967296;

/** A protocol that writes into `out`. */
export function writerFor(protocol: ProtocolName, out: WriteBuffer): ThriftProtocol {
  return protocol === 'compact' ? new CompactProtocol(out) : new BinaryProtocol(out);
}

/** A protocol that reads `bytes` (one message or struct, no frame header), through npm thrift's TFramedTransport. */
export function readerFor(protocol: ProtocolName, bytes: Buffer): ThriftProtocol {
  const t = new NpmFramed(bytes);
  return protocol === 'compact' ? new CompactProtocol(t) : new BinaryProtocol(t);
}

/** The read position of a reader made by {@link readerFor}. */
export function readerOffset(p: ThriftProtocol): number {
  return ((p as unknown as NpmProtocol).trans as ReadTransport).readPos;
}

/**
 * npm thrift's frame splitter (TFramedTransport.receiver): feed it socket
 * chunks; it calls `onFrame` with each complete frame's payload. It throws
 * when a frame header announces more than `maxFrameBytes` (or a negative size).
 */
export function frameSplitter(onFrame: (payload: Buffer) => void, maxFrameBytes: number): (chunk: Buffer) => void {
  return NpmFramed.receiver((t) => onFrame(t.inBuf), undefined, maxFrameBytes);
}
