// Struct- and message-level helpers over the protocols: encode/decode one
// value to bytes (with cached writers and readers), TApplicationException on
// the wire, and the mapping of npm thrift's read errors to ThriftProtocolError.
import { ThriftEncodeError, ThriftProtocolError, ThriftApplicationError } from './errors.js';
import { WriteBuffer } from './buffer.js';
import { TType, readerFor, readerOffset, writerFor, type ProtocolName, type ThriftProtocol } from './protocol.js';

/**
 * Converts anything npm thrift's readers throw (TProtocolException,
 * InputBufferUnderrunError, plain `Error('Invalid type')`) into a
 * {@link ThriftProtocolError}, keeping ours as they are.
 */
export function asProtocolError(e: unknown, p?: ThriftProtocol): Error {
  if (e instanceof ThriftProtocolError || e instanceof ThriftEncodeError) return e;
  const offset = p === undefined ? undefined : readerOffset(p);
  const name = (e as { name?: string } | null)?.name;
  if (name === 'InputBufferUnderrunError') {
    return new ThriftProtocolError('truncated Thrift data', { code: 'ERR_THRIFT_TRUNCATED', cause: e, offset });
  }
  const msg = e instanceof Error || (typeof e === 'object' && e !== null) ? String((e as Error).message) : String(e);
  return new ThriftProtocolError(`malformed Thrift data: ${msg}`, { cause: e, offset });
}

/** Writes a TApplicationException struct (field 1 message, field 2 type). */
export function writeApplicationException(p: ThriftProtocol, type: number, message: string): void {
  p.writeStructBegin('TApplicationException');
  p.writeFieldBegin('message', TType.STRING, 1);
  p.writeString(message);
  p.writeFieldEnd();
  p.writeFieldBegin('type', TType.I32, 2);
  p.writeI32(type);
  p.writeFieldEnd();
  p.writeFieldStop();
  p.writeStructEnd();
}

/** Reads a TApplicationException struct into a {@link ThriftApplicationError}. */
export function readApplicationException(p: ThriftProtocol): ThriftApplicationError {
  let message = '';
  let type = 0;
  p.readStructBegin();
  for (;;) {
    const f = p.readFieldBegin();
    if (f.ftype === TType.STOP) break;
    if (f.fid === 1 && f.ftype === TType.STRING) message = p.readString();
    else if (f.fid === 2 && f.ftype === TType.I32) type = p.readI32();
    else p.skip(f.ftype);
    p.readFieldEnd();
  }
  p.readStructEnd();
  return new ThriftApplicationError(type, message || 'TApplicationException');
}

/**
 * Encodes one value with a struct-style writer into a fresh buffer (no
 * message header, no frame): the bytes a field of that type carries.
 */
export function encodeWith<T>(protocol: ProtocolName, write: (p: ThriftProtocol, v: T) => void, value: T): Buffer {
  // One cached writer per protocol (a fresh one if an encode is already running).
  const cached = protocol === 'compact' ? compactWriter : binaryWriter;
  if (cached.busy) {
    const out = new WriteBuffer(256);
    write(writerFor(protocol, out), value);
    return out.toBuffer();
  }
  cached.busy = true;
  try {
    cached.out.reset();
    write(cached.p, value);
    return cached.out.toBuffer();
  } catch (e) {
    cached.p = writerFor(protocol, cached.out); // drop any half-written protocol state
    throw e;
  } finally {
    cached.busy = false;
  }
}

function cachedWriter(protocol: ProtocolName) {
  const out = new WriteBuffer(1024);
  return { out, p: writerFor(protocol, out), busy: false };
}
const binaryWriter = cachedWriter('binary');
const compactWriter = cachedWriter('compact');

/** Decodes bytes produced by {@link encodeWith}; malformed input raises {@link ThriftProtocolError}. */
export function decodeWith<T>(protocol: ProtocolName, read: (p: ThriftProtocol) => T, bytes: Uint8Array): T {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // One cached reader per protocol (a fresh one if a read is already running).
  const cached = protocol === 'compact' ? compactReader : binaryReader;
  const p = cached.busy ? readerFor(protocol, buf) : cached.p;
  const own = p === cached.p;
  if (own) {
    cached.busy = true;
    const t = (p as unknown as { trans: { inBuf: Buffer; readPos: number } }).trans;
    t.inBuf = buf;
    t.readPos = 0;
  }
  try {
    return read(p);
  } catch (e) {
    if (own) cached.p = readerFor(protocol, EMPTY); // a failed read may leave protocol state behind
    throw asProtocolError(e, p);
  } finally {
    if (own) {
      cached.busy = false;
      (cached.p as unknown as { trans: { inBuf: Buffer } }).trans.inBuf = EMPTY;
    }
  }
}

const EMPTY = Buffer.alloc(0);
const binaryReader = { p: readerFor('binary', EMPTY), busy: false };
const compactReader = { p: readerFor('compact', EMPTY), busy: false };
