// One growable output buffer that protocol writers append to. A whole frame
// is built in place (length patched at the end) and handed to the socket with
// one write; no Buffer is allocated per field.
import { ThriftEncodeError } from './errors.js';

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const TWO32 = 4294967296;

/**
 * One growable output buffer. Protocol writers append to it; a frame is built
 * in place and its length patched at the end. It also implements the write
 * half of npm thrift's TTransport (`write`, `flush`, `setCurrSeqId`) for the
 * inherited writers that use it.
 */
export class WriteBuffer {
  buf: Buffer;
  /** A DataView over `buf` (V8 inlines its writes). */
  dv: DataView;
  pos = 0;

  constructor(initialSize = 4096) {
    // Not from Node's shared pool: the DataView covers this buffer only.
    this.buf = Buffer.alloc(Math.max(16, initialSize));
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  byte(v: number): void {
    if (this.pos >= this.buf.length) this.grow(1);
    this.buf[this.pos++] = v & 0xff;
  }

  i16(v: number): void {
    if ((v << 16) >> 16 !== v) throw new ThriftEncodeError(`not an i16: ${v}`);
    this.ensure(2);
    const b = this.buf;
    b[this.pos] = v >>> 8;
    b[this.pos + 1] = v;
    this.pos += 2;
  }

  i32(v: number): void {
    if ((v | 0) !== v) throw new ThriftEncodeError(`not an i32: ${v}`);
    this.ensure(4);
    this.dv.setInt32(this.pos, v);
    this.pos += 4;
  }

  /** An i64 given as int32 halves (big-endian, TBinaryProtocol layout). */
  i64Parts(hi: number, lo: number): void {
    this.ensure(8);
    this.dv.setInt32(this.pos, hi);
    this.dv.setInt32(this.pos + 4, lo);
    this.pos += 8;
  }

  /** Big-endian two's-complement i64 (TBinaryProtocol layout). */
  i64(v: bigint | number): void {
    this.ensure(8);
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new ThriftEncodeError(`not an exact i64: ${v}`);
      const lo = v % TWO32;
      const hi = (v - lo) / TWO32;
      this.dv.setInt32(this.pos, lo < 0 ? hi - 1 : hi);
      this.dv.setUint32(this.pos + 4, lo < 0 ? lo + TWO32 : lo);
    } else {
      if (typeof v !== 'bigint' || v < I64_MIN || v > I64_MAX) throw new ThriftEncodeError(`not an i64: ${String(v)}`);
      this.dv.setBigInt64(this.pos, v);
    }
    this.pos += 8;
  }

  f64be(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Unsigned LEB128 of a uint32 (a compact varint). */
  varint32(n: number): void {
    this.ensure(5);
    const b = this.buf;
    let p = this.pos;
    n >>>= 0;
    while (n > 0x7f) {
      b[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[p++] = n;
    this.pos = p;
  }

  /** Unsigned LEB128 of a uint64 given as a non-negative number (< 2^53) or bigint. */
  varint64(n: number | bigint): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    if (typeof n === 'number') {
      while (n > 0x7f) {
        b[p++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
      b[p++] = n;
    } else {
      while (n > 0x7fn) {
        b[p++] = Number(n & 0x7fn) | 0x80;
        n >>= 7n;
      }
      b[p++] = Number(n);
    }
    this.pos = p;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** A string as i32 length + UTF-8 (binary protocol). */
  stringI32(s: string): void {
    if (typeof s !== 'string') throw new ThriftEncodeError(`not a string: ${typeof s}`);
    const max = s.length * 3;
    this.ensure(4 + max);
    const n = s.length < 64 && isAscii(s) ? writeAscii(this.buf, s, this.pos + 4) : this.buf.write(s, this.pos + 4);
    this.dv.setInt32(this.pos, n);
    this.pos += 4 + n;
  }

  /** A string as varint length + UTF-8 (compact protocol). */
  stringVarint(s: string): void {
    if (typeof s !== 'string') throw new ThriftEncodeError(`not a string: ${typeof s}`);
    if (s.length <= 42) {
      // At most 126 bytes of UTF-8: the length is one varint byte.
      this.ensure(1 + s.length * 3);
      const n = isAscii(s) ? writeAscii(this.buf, s, this.pos + 1) : this.buf.write(s, this.pos + 1);
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s);
    this.varint32(n);
    this.ensure(n);
    this.buf.write(s, this.pos);
    this.pos += n;
  }

  // The write half of npm thrift's TTransport, for inherited writers.
  write(data: Buffer | string): void {
    this.bytes(typeof data === 'string' ? Buffer.from(data) : data);
  }
  flush(): void {}
  setCurrSeqId(_seqid: number): void {}

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  reset(): void {
    this.pos = 0;
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function writeAscii(b: Buffer, s: string, at: number): number {
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
  return s.length;
}

