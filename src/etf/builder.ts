/**
 * {@link ByteBuilder}: the byte layer under TermWriter (writer.ts): one
 * growable buffer written in slabs, raw big-endian writes, a reserved length
 * that is filled in later, and zero-copy hand-out of each finished message.
 */
import { Buffer } from 'node:buffer';
import { bufferView, typedLength } from './buffers.js';

/**
 * Bytes written into an internal slab. {@link finish} hands out what was
 * written since the last `finish()` as a `Buffer` *view* of that slab (no
 * copy) and starts the next message right after it. Returned buffers never
 * change afterwards, but several may share one underlying `ArrayBuffer` (as
 * Node's own pooled buffers do), so `buf.buffer` is larger than `buf`.
 */
export class ByteBuilder {
  protected buf: Buffer;
  /** `buf.buffer`; slabs are allocated unpooled, so their byteOffset is 0. */
  protected mem: ArrayBuffer;
  /** A DataView of `mem`, for word-sized writes. */
  protected dv: DataView;
  /** Where the current message starts in `buf`. */
  protected start = 0;
  /** The write position in `buf`. */
  protected pos = 0;
  protected readonly slabSize: number;

  /** @param slabSize Size of each internal slab in bytes (default 64 KiB). */
  constructor(slabSize = 65536) {
    this.slabSize = Math.max(1024, Math.floor(slabSize) || 0);
    this.buf = Buffer.allocUnsafeSlow(this.slabSize);
    this.mem = this.buf.buffer as ArrayBuffer;
    this.dv = new DataView(this.mem);
  }

  /** Bytes written since the last {@link finish} or {@link reset}. */
  get length(): number {
    return this.pos - this.start;
  }

  /** Writes the version byte 131 (erl_ext_dist "Introduction"). */
  writeVersion(): this {
    return this.writeU8(131);
  }

  /** Writes one unsigned byte. */
  writeU8(v: number): this {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = v;
    return this;
  }

  /** Writes an unsigned 16-bit big-endian integer. */
  writeU16(v: number): this {
    if (this.pos + 2 > this.buf.length) this.grow(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
    return this;
  }

  /** Writes an unsigned 32-bit big-endian integer. */
  writeU32(v: number): this {
    if (this.pos + 4 > this.buf.length) this.grow(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.pos = p + 4;
    return this;
  }

  /** Writes raw bytes (for example a pre-encoded term or a header). */
  writeBytes(bytes: Uint8Array): this {
    const n = typedLength.call(bytes); // what `set` copies (see typedLength)
    if (this.pos + n > this.buf.length) this.grow(n);
    const b = this.buf;
    const p = this.pos;
    if (n <= 16) for (let i = 0; i < n; i++) b[p + i] = bytes[i];
    else b.set(bytes, p);
    this.pos = p + n;
    return this;
  }

  /**
   * Reserves 4 bytes for a big-endian length written later with
   * {@link patchU32}; returns their position as an offset from the start of
   * the current message (it stays valid when the buffer grows).
   */
  reserveU32(): number {
    const mark = this.pos - this.start;
    this.writeU32(0);
    return mark;
  }

  /**
   * Advances past `n` bytes whose content is left undefined, to be filled
   * with {@link patchBytes} (or dropped with {@link dropFront}); returns
   * their position as an offset from the start of the current message.
   */
  skip(n: number): number {
    const mark = this.pos - this.start;
    if (this.pos + n > this.buf.length) this.grow(n);
    this.pos += n;
    return mark;
  }

  /** Writes `bytes` over the current message at `mark` (an offset from its start), inside what was written. */
  patchBytes(mark: number, bytes: Uint8Array, from = 0, to = bytes.length): this {
    const n = to - from;
    if (!(mark >= 0 && mark + n <= this.pos - this.start)) {
      throw new RangeError(`patchBytes: ${n} bytes at ${mark} are outside the current message`);
    }
    const b = this.buf;
    const p = this.start + mark;
    for (let i = 0; i < n; i++) b[p + i] = bytes[from + i];
    return this;
  }

  /** Drops the first `n` bytes of the current message (the message then starts `n` bytes later). */
  dropFront(n: number): this {
    if (!(n >= 0 && n <= this.pos - this.start)) throw new RangeError(`dropFront: ${n} bytes is more than the current message`);
    this.start += n;
    return this;
  }

  /** Fills 4 bytes reserved by {@link reserveU32} with `value`. */
  patchU32(mark: number, value: number): this {
    if (!(mark >= 0 && mark + 4 <= this.pos - this.start)) {
      throw new RangeError(`patchU32: mark ${mark} is outside the current message`);
    }
    const b = this.buf;
    const p = this.start + mark;
    b[p] = value >>> 24;
    b[p + 1] = value >>> 16;
    b[p + 2] = value >>> 8;
    b[p + 3] = value;
    return this;
  }

  /**
   * Returns the bytes written since the last `finish()`/`reset()` and starts a
   * new message. The result is a view of the internal slab (see the class
   * comment); it is copied only when it would waste most of a large buffer.
   */
  finish(): Buffer {
    const b = this.buf;
    let out = bufferView(this.mem, this.start, this.pos - this.start);
    const next = (this.pos + 7) & ~7;
    const rest = b.length - next;
    if (rest >= 1024 && (b.length === this.slabSize || rest <= Math.max(4 * this.slabSize, 3 * out.length))) {
      this.start = this.pos = next;
      return out;
    }
    // Start a new slab. A large buffer that was grown for this message and is
    // mostly empty is not kept alive by the result: copy the result out.
    if (b.length > this.slabSize && out.length < b.length >>> 1) out = Buffer.from(out);
    this.buf = Buffer.allocUnsafeSlow(this.slabSize);
    this.mem = this.buf.buffer as ArrayBuffer;
    this.dv = new DataView(this.mem);
    this.start = this.pos = 0;
    return out;
  }

  /** Discards what was written since the last `finish()`. */
  reset(): this {
    this.pos = this.start;
    return this;
  }

  /** Makes room for `n` more bytes, moving the current message to a new buffer. */
  protected grow(n: number): void {
    const used = this.pos - this.start;
    // Room for this write plus as much again as is used (amortized doubling
    // while a message grows piece by piece). A large message (a big binary,
    // up to 256 KiB) gets room for three more like it, so that a run of them
    // shares slabs as small ones do instead of taking a buffer each.
    const need = used + n;
    const room = need >= this.slabSize / 2 && need <= 1 << 18 ? 4 * ((need + 7) & ~7) + 1024 : 0;
    const size = Math.max(this.slabSize, need + Math.max(4096, used), room);
    const nb = Buffer.allocUnsafeSlow(size);
    this.buf.copy(nb, 0, this.start, this.pos);
    this.buf = nb;
    this.mem = nb.buffer as ArrayBuffer;
    this.dv = new DataView(this.mem);
    this.start = 0;
    this.pos = used;
  }
}
