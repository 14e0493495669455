// Framing of an established distribution connection, incoming side.
//
// - FrameSplitter: the 4-byte-length frame stream, surviving any split of the
//   TCP stream, with a size cap. A frame that lies inside one chunk is handed
//   on as (chunk, start, end), with no view and no copy; a frame cut by a
//   chunk boundary is copied into one buffer of its exact size, allocated
//   once when its length is known, so a 200 MB frame costs 200 MB and not
//   the chunks plus their concatenation. A zero-length frame is a tick.
// - DistDecoder: one frame -> (control, payload), for pass-through frames
//   (112), normal distribution headers (131 68) with the per-connection atom
//   cache, and fragmented messages (131 69 / 131 70) reassembled into one
//   buffer that grows as fragments arrive (bounded per connection).
// The outgoing side (DistEncoder) is encoder.ts.
// Spec: erl_ext_dist "Distribution Header"; erl_dist_protocol "Protocol
// between Connected Nodes".
import { Atom, Pid, Tuple, atom, type Term } from '../etf/types.js';
import { decodeLimits, decodeSpan, decodeSpanEnd, type DecodeLimits } from '../etf/decode.js';
import { viewSource } from '../etf/reader.js';
import { DecodeError, type DecodeOptions } from '../etf/index.js';
import { DistError } from './errors.js';

/** Frame type bytes. */
export const PASS_THROUGH = 112;
export const VERSION_MAGIC = 131;
export const DIST_HEADER = 68;
export const DIST_FRAG_HEADER = 69;
export const DIST_FRAG_CONT = 70;

/** OTP's fragment size (erts dist.h ERTS_DIST_FRAGMENT_SIZE). */
export const DEFAULT_FRAGMENT_SIZE = 64 * 1024;
/** Default cap on one frame and on one reassembled message: 512 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 512 * 1024 * 1024;

/** @internal Where {@link FrameSplitter.feed} hands complete frames: `buf[start, end)`, valid during the call. */
export interface FrameSink {
  frame(buf: Buffer, start: number, end: number): void;
}

/** Splits a TCP byte stream into frames (without their 4-byte length). */
export class FrameSplitter {
  /** The length prefix while fewer than 4 of its bytes have arrived. */
  private readonly head = Buffer.alloc(4);
  private headLen = 0;
  /** The frame being filled across chunks, allocated once at its full size. */
  private partial: Buffer | undefined = undefined;
  private filled = 0;

  constructor(private readonly maxFrameSize: number = DEFAULT_MAX_MESSAGE_SIZE) {}

  /** Bytes held for an incomplete frame. */
  get pendingBytes(): number {
    return this.partial === undefined ? this.headLen : 4 + this.filled;
  }

  /**
   * Feeds a chunk; calls `onFrame` for each complete frame, in order. Throws
   * {@link DistError} `ERR_FRAME_TOO_LARGE` for a length over the cap (the
   * stream is then dead); exceptions from `onFrame` propagate.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    this.feed(chunk, { frame: (b, s, e) => onFrame(s === 0 && e === b.length ? b : b.subarray(s, e)) });
  }

  /**
   * @internal {@link push} without views: each complete frame goes to
   * `sink.frame(buf, start, end)`, `buf` being the chunk itself or, for a
   * frame that spanned chunks, a buffer holding exactly that frame.
   */
  feed(chunk: Buffer, sink: FrameSink): void {
    const n = chunk.length;
    let off = 0;
    if (this.partial !== undefined || this.headLen > 0) {
      off = this.resume(chunk, sink);
      if (off < 0) return;
    }
    while (n - off >= 4) {
      const len = ((chunk[off] << 24) | (chunk[off + 1] << 16) | (chunk[off + 2] << 8) | chunk[off + 3]) >>> 0;
      const end = off + 4 + len;
      if (end > n) {
        this.begin(len);
        const have = n - off - 4;
        chunk.copy(this.partial!, 0, off + 4, n);
        this.filled = have;
        return;
      }
      sink.frame(chunk, off + 4, end);
      off = end;
    }
    if (off < n) {
      // 1 to 3 bytes of the next length prefix.
      chunk.copy(this.head, 0, off, n);
      this.headLen = n - off;
    }
  }

  /** Allocates the buffer of a frame of `len` bytes (checked against the cap). */
  private begin(len: number): void {
    if (len > this.maxFrameSize) {
      throw new DistError('ERR_FRAME_TOO_LARGE', `frame of ${len} bytes is over the ${this.maxFrameSize}-byte cap`);
    }
    this.partial = Buffer.allocUnsafe(len);
    this.filled = 0;
  }

  /**
   * Continues the incomplete frame with the start of `chunk`. Returns the
   * offset in `chunk` after it, or -1 when the whole chunk was used.
   */
  private resume(chunk: Buffer, sink: FrameSink): number {
    let off = 0;
    if (this.partial === undefined) {
      const take = Math.min(4 - this.headLen, chunk.length);
      chunk.copy(this.head, this.headLen, 0, take);
      this.headLen += take;
      if (this.headLen < 4) return -1;
      off = take;
      this.headLen = 0;
      this.begin(this.head.readUInt32BE(0));
    }
    const f = this.partial!;
    const take = Math.min(f.length - this.filled, chunk.length - off);
    chunk.copy(f, this.filled, off, off + take);
    this.filled += take;
    if (this.filled < f.length) return -1;
    this.partial = undefined;
    this.filled = 0;
    sink.frame(f, 0, f.length);
    return off + take < chunk.length ? off + take : -1;
  }
}

/**
 * The 2048-entry atom cache of one connection's incoming direction (8
 * segments of 256; entry `segment * 256 + index`). `entries` grows as the
 * peer fills it (a connection that never uses the cache costs nothing);
 * the {@link DistDecoder} that owns it is the only writer.
 */
export class AtomCache {
  readonly entries: (Atom | undefined)[] = [];
}

/** A decoded message: the control tuple and the payload that follows it, if any. */
export interface DecodedMessage {
  control: Term;
  payload: Term | undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const NO_ATOMS: Atom[] = [];
const NO_BYTES = Buffer.alloc(0);

function protocolError(msg: string, cause?: unknown): DistError {
  return new DistError('ERR_DIST_PROTOCOL', msg, { cause });
}

function headerPastFrame(): never {
  throw protocolError('distribution header runs past the frame');
}

/**
 * @internal Whether {@link DistDecoder.decodeAt} names its buffer to the term
 * decoder (`viewSource`) so that the binaries of the many frames in one read
 * share one fetch of its memory (bench/dist.mjs switches it for its A/B rows).
 */
export const viewSourceDefault = { on: true };

/** Headers remembered by {@link DistDecoder} (see its `memoBytes`). */
const HEADER_MEMO = 4;

/** Controls up to this many bytes are remembered by {@link DistDecoder} (REG_SEND with a pid and a name fits). */
const CTL_MEMO = 96;

/**
 * A control tuple of numbers, atoms and pids only: nothing in it is a view of
 * the frame's buffer, so remembering it keeps no buffer alive. A control with
 * a reference (MONITOR_P, DEMONITOR_P, ALIAS_SEND, a monitor's exit) names a
 * new reference nearly every time: remembering it would only evict the
 * control that does repeat (a gen_server:call from OTP 24 on sends MONITOR_P,
 * REG_SEND and DEMONITOR_P per call, the REG_SEND always the same).
 */
function flatControl(c: Term): boolean {
  if (!(c instanceof Tuple)) return false;
  for (const x of c.elements) {
    if (!(typeof x === 'number' || typeof x === 'boolean' || x instanceof Atom || x instanceof Pid)) return false;
  }
  return true;
}

function sameBytes(buf: Buffer, at: number, memo: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[at + i] !== memo[i]) return false;
  return true;
}

/** Offset after the atom cache refs parsed by the last {@link parseRefs}. */
let refsEnd = 0;
/** New cache entries in the last {@link parseRefs}. */
let refsNew = 0;

/**
 * Reads NumberOfAtomCacheRefs, Flags and AtomCacheRefs from `buf[start]`,
 * not past `end` (erl_ext_dist "Normal Distribution Header"); stores new
 * entries in `cache` and returns the atoms the following terms refer to by
 * ATOM_CACHE_REF index. Sets {@link refsEnd} and {@link refsNew}.
 */
function parseRefs(buf: Buffer, start: number, end: number, cache: AtomCache): Atom[] {
  let off = start;
  if (off >= end) headerPastFrame();
  const n = buf[off++];
  refsNew = 0;
  if (n === 0) {
    refsEnd = off;
    return NO_ATOMS;
  }
  const flags = off;
  off += (n >> 1) + 1;
  if (off > end) headerPastFrame();
  // Flags for ref i: the low nibble of byte i/2 for even i, the high one for
  // odd i; the nibble after the last ref's holds LongAtoms (bit 0).
  const last = buf[flags + (n >> 1)];
  const longAtoms = ((n & 1 ? last >> 4 : last) & 1) === 1;
  const atoms: Atom[] = new Array<Atom>(n);
  const entries = cache.entries;
  for (let i = 0; i < n; i++) {
    const fb = buf[flags + (i >> 1)];
    const f = i & 1 ? fb >> 4 : fb & 0x0f;
    if (off >= end) headerPastFrame();
    const slot = (f & 7) * 256 + buf[off++];
    if (f & 8) {
      let len: number;
      if (longAtoms) {
        if (off + 2 > end) headerPastFrame();
        len = (buf[off] << 8) | buf[off + 1];
        off += 2;
      } else {
        if (off >= end) headerPastFrame();
        len = buf[off++];
      }
      if (off + len > end) headerPastFrame();
      let text: string;
      try {
        text = utf8.decode(buf.subarray(off, off + len));
      } catch (e) {
        throw protocolError('atom cache entry is not UTF-8', e);
      }
      off += len;
      if (len > 255 && [...text].length > 255) throw protocolError('atom cache entry longer than 255 characters');
      const a = atom(text);
      entries[slot] = a;
      atoms[i] = a;
      refsNew++;
    } else {
      const a = entries[slot];
      if (a === undefined) throw protocolError(`reference to empty atom cache slot ${slot}`);
      atoms[i] = a;
    }
  }
  refsEnd = off;
  return atoms;
}

/**
 * Reads NumberOfAtomCacheRefs, Flags and AtomCacheRefs (erl_ext_dist "Normal
 * Distribution Header"), updates `cache` with new entries and returns the
 * atoms the following terms refer to by ATOM_CACHE_REF index.
 */
export function readAtomCacheRefs(buf: Buffer, start: number, cache: AtomCache): { atoms: Atom[]; offset: number } {
  const atoms = parseRefs(buf, start, buf.length, cache);
  return { atoms: atoms === NO_ATOMS ? [] : atoms, offset: refsEnd };
}

/** A fragmented message being reassembled into one buffer. */
interface Sequence {
  atoms: Atom[];
  /** The message body so far (control, then payload); grows as fragments arrive. */
  buf: Buffer;
  size: number;
  /** The most the message can hold if every fragment is as large as the first (OTP cuts at a fixed size). */
  promised: number;
  /** The fragment id the next continuation must carry. */
  next: bigint;
}

/**
 * Up front, a fragmented message gets room for this many times its first
 * fragment; later, room for the whole promised message once 1/this of it has
 * arrived. An honest message then costs about one allocation of its size
 * (plus 1/8 of it on the way), and a peer that lies about its fragment count
 * makes us hold at most this many times what it sent.
 */
const TRUST = 16;

/** Options of {@link DistDecoder}. */
export interface DistDecoderOptions {
  /** Cap on a reassembled message; default {@link DEFAULT_MAX_MESSAGE_SIZE}. */
  maxMessageSize?: number;
  /** Most fragmented messages in flight at once; default 1024. */
  maxSequences?: number;
  /**
   * Most bytes received and held for all fragmented messages in flight on
   * the connection; default the larger of `maxMessageSize` and
   * {@link DEFAULT_MAX_MESSAGE_SIZE}. A fragment that brings more fails the
   * connection with `ERR_FRAME_TOO_LARGE`. Room allocated ahead of data is
   * given only within this bound; past it, buffers grow by doubling, so
   * they are at most the bound plus twice the bytes held.
   */
  maxReassemblyBytes?: number;
  /** Passed to the term decoder (e.g. `lossless`, `maxInflatedSize`, `maxElements`). */
  decodeOptions?: Omit<DecodeOptions, 'atomCache' | 'offset'>;
}

/** Decodes incoming frames of one connection. Throws {@link DistError} `ERR_DIST_PROTOCOL` for any malformed frame. */
export class DistDecoder {
  readonly cache = new AtomCache();
  /** Frames seen, by kind, and atom-cache traffic (for stats and tests). */
  readonly counters = { passThrough: 0, header: 0, fragmentStarts: 0, fragmentConts: 0, cacheRefs: 0, newCacheEntries: 0, reassemblyGrowths: 0 };
  private readonly sequences = new Map<bigint, Sequence>();
  /** Bytes allocated for the sequences in flight, and the bytes they hold. */
  private reserved = 0;
  private held = 0;
  private readonly maxMessageSize: number;
  private readonly maxReassembly: number;
  private readonly maxSequences: number;
  private readonly limits: DecodeLimits;
  /**
   * The last {@link HEADER_MEMO} headers without new cache entries (their
   * bytes) and their atoms: a peer repeats the same header for every message
   * of the same shape, which then resolves with a comparison, and a few
   * shapes often alternate (a gen_server:call is MONITOR_P, REG_SEND and
   * DEMONITOR_P). Replaced round-robin; all dropped when a header adds entries.
   */
  private readonly memoBytes: Buffer[] = [];
  private readonly memoAtoms: Atom[][] = [];
  private memoNext = 0;
  /**
   * The last control term and its bytes: a peer sends the same control
   * (REG_SEND from one process to one name, SEND to one pid) message after
   * message, which then costs one comparison and no allocation.
   */
  private readonly ctlBytes = Buffer.allocUnsafeSlow(CTL_MEMO);
  private ctlLen = 0;
  private ctlTerm: Term = undefined;
  private ctlAtoms: Atom[] = NO_ATOMS;
  private ctlVersioned = false;

  constructor(o: DistDecoderOptions = {}) {
    this.maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxSequences = o.maxSequences ?? 1024;
    this.maxReassembly = o.maxReassemblyBytes ?? Math.max(this.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE);
    this.limits = decodeLimits(o.decodeOptions);
  }

  /** Fragmented messages currently being reassembled. */
  get pendingSequences(): number {
    return this.sequences.size;
  }

  /** Bytes allocated for the fragmented messages being reassembled. */
  get reassemblyBytes(): number {
    return this.reserved;
  }

  /**
   * Decodes one frame (without its length). Returns `undefined` for a tick
   * or for a fragment that does not complete a message.
   */
  decodeFrame(frame: Buffer): DecodedMessage | undefined {
    let done: boolean;
    try {
      done = this.decodeAt(frame, 0, frame.length);
    } finally {
      this.release();
    }
    if (!done) return undefined;
    // The remembered control is reused for later frames: callers get their own copy.
    const c = this.control;
    return { control: c === this.ctlTerm && c instanceof Tuple ? new Tuple(c.elements.slice()) : c, payload: this.payload };
  }

  /** @internal The message of the last {@link decodeAt} that returned true (no object per message). */
  control: Term = undefined;
  /** @internal */
  payload: Term | undefined = undefined;

  /**
   * @internal {@link decodeFrame} of `buf[start, end)`: true when a message
   * is complete, in {@link control} and {@link payload}; decoded binaries
   * may be views of `buf`.
   */
  decodeAt(buf: Buffer, start: number, end: number): boolean {
    if (end === start) return false;
    if (viewSourceDefault.on) viewSource(buf);
    const kind = buf[start];
    if (kind === PASS_THROUGH) {
      this.counters.passThrough++;
      return this.decodeBody(buf, start + 1, end, NO_ATOMS, true);
    }
    if (kind !== VERSION_MAGIC || end - start < 2) throw protocolError(`unknown frame type ${kind}`);
    switch (buf[start + 1]) {
      case DIST_HEADER: {
        this.counters.header++;
        const atoms = this.refs(buf, start + 2, end);
        return this.decodeBody(buf, refsEnd, end, atoms, false);
      }
      case DIST_FRAG_HEADER:
        return this.fragmentStart(buf, start, end);
      case DIST_FRAG_CONT:
        return this.fragmentCont(buf, start, end);
      default:
        throw protocolError(`unknown distribution header type ${buf[start + 1]}`);
    }
  }

  /** 131 69 SequenceId:64 FragmentId:64 NumberOfAtomCacheRefs ... (erl_ext_dist "Distribution Header for fragmented messages"). */
  private fragmentStart(buf: Buffer, start: number, end: number): boolean {
    if (end - start < 18) throw protocolError('short fragment header');
    const seq = buf.readBigUInt64BE(start + 2);
    const frag = buf.readBigUInt64BE(start + 10);
    this.counters.fragmentStarts++;
    const atoms = this.refs(buf, start + 18, end);
    if (frag === 0n) throw protocolError('fragment id 0');
    const off = refsEnd;
    if (frag === 1n) return this.decodeBody(buf, off, end, atoms, false);
    if (this.sequences.has(seq)) throw protocolError(`fragment sequence ${seq} started twice`);
    if (this.sequences.size >= this.maxSequences) throw protocolError(`more than ${this.maxSequences} fragmented messages in flight`);
    const len = end - off;
    if (len > this.maxMessageSize) throw new DistError('ERR_FRAME_TOO_LARGE', `fragmented message over the ${this.maxMessageSize}-byte cap`);
    const promised = Math.min(Number(frag) * Math.max(len, 1), this.maxMessageSize);
    const s: Sequence = { atoms, buf: NO_BYTES, size: 0, promised, next: frag - 1n };
    this.append(s, buf, off, end);
    this.sequences.set(seq, s);
    return false;
  }

  /** 131 70 SequenceId:64 FragmentId:64, then the next piece of the message. */
  private fragmentCont(buf: Buffer, start: number, end: number): boolean {
    if (end - start < 18) throw protocolError('short fragment continuation header');
    const seq = buf.readBigUInt64BE(start + 2);
    const frag = buf.readBigUInt64BE(start + 10);
    const s = this.sequences.get(seq);
    this.counters.fragmentConts++;
    if (!s) throw protocolError(`continuation of unknown fragment sequence ${seq}`);
    if (frag !== s.next) throw protocolError(`fragment ${frag} of sequence ${seq} out of order (expected ${s.next})`);
    this.append(s, buf, start + 18, end);
    s.next--;
    if (frag !== 1n) return false;
    this.sequences.delete(seq);
    this.reserved -= s.buf.length;
    this.held -= s.size;
    return this.decodeBody(s.buf, 0, s.size, s.atoms, false);
  }

  /**
   * Appends `buf[start, end)` to the message of `s`, growing its buffer as
   * data arrives (see {@link TRUST}), within the per-message cap and the
   * connection's reassembly bound.
   */
  private append(s: Sequence, buf: Buffer, start: number, end: number): void {
    const size = s.size + (end - start);
    if (size > this.maxMessageSize) {
      throw new DistError('ERR_FRAME_TOO_LARGE', `fragmented message over the ${this.maxMessageSize}-byte cap`);
    }
    if (this.held + (end - start) > this.maxReassembly) {
      throw new DistError('ERR_FRAME_TOO_LARGE', `fragmented messages in flight over the ${this.maxReassembly}-byte reassembly bound`);
    }
    this.held += end - start;
    const old = s.buf.length;
    if (size > old) {
      // Room for TRUST first fragments, then double; the whole promise once
      // 1/TRUST of it is here. Past the promise (a peer that cut unevenly),
      // keep doubling. Never less than needed.
      let room = old === 0 ? TRUST * size : 2 * old;
      if (size <= s.promised) room = size * TRUST >= s.promised ? s.promised : Math.min(room, s.promised);
      room = Math.max(Math.min(room, this.maxMessageSize), size);
      // Room ahead of data only while the connection's buffers fit the bound;
      // past it, still double (never clip to `size`: that would copy the
      // whole message for every fragment). The hard limit is on bytes held.
      if (room > size && this.reserved - old + room > this.maxReassembly) {
        room = Math.max(size, Math.min(2 * old, this.maxMessageSize), Math.min(room, this.maxReassembly - (this.reserved - old)));
      }
      this.counters.reassemblyGrowths++;
      const grown = Buffer.allocUnsafeSlow(room);
      if (s.size > 0) s.buf.copy(grown, 0, 0, s.size);
      this.reserved += room - old;
      s.buf = grown;
    }
    buf.copy(s.buf, s.size, start, end);
    s.size = size;
  }

  /** The atoms of the header at `buf[at]`; sets `refsEnd`. */
  private refs(buf: Buffer, at: number, end: number): Atom[] {
    const memos = this.memoBytes;
    for (let m = 0; m < memos.length; m++) {
      const memo = memos[m];
      const n = memo.length;
      if (at + n > end) continue;
      let i = 0;
      while (i < n && buf[at + i] === memo[i]) i++;
      if (i === n) {
        refsEnd = at + n;
        const atoms = this.memoAtoms[m];
        this.counters.cacheRefs += atoms.length;
        return atoms;
      }
    }
    const atoms = parseRefs(buf, at, end, this.cache);
    this.counters.cacheRefs += atoms.length;
    if (refsNew > 0) {
      this.counters.newCacheEntries += refsNew;
      memos.length = 0;
      this.memoAtoms.length = 0;
      this.memoNext = 0;
    } else if (atoms.length > 0) {
      const m = this.memoNext;
      memos[m] = Buffer.from(buf.subarray(at, refsEnd));
      this.memoAtoms[m] = atoms;
      this.memoNext = (m + 1) % HEADER_MEMO;
    }
    return atoms;
  }

  /** @internal Lets go of the buffer {@link decodeAt} named to the term decoder (call after each read). */
  release(): void {
    viewSource(undefined);
  }

  /** Control term then optional payload term, from `buf[start, end)`. */
  private decodeBody(buf: Buffer, start: number, end: number, atoms: Atom[], versioned: boolean): true {
    try {
      let p: number;
      const n = this.ctlLen;
      if (n > 0 && atoms === this.ctlAtoms && versioned === this.ctlVersioned && start + n <= end && sameBytes(buf, start, this.ctlBytes, n)) {
        // The same bytes, under the same atom cache refs, as the last
        // control: the same term (a term's encoding is self-delimiting).
        this.control = this.ctlTerm;
        p = start + n;
      } else {
        this.control = decodeSpan(buf, start, end, versioned, atoms, this.limits);
        p = decodeSpanEnd();
        // Another control (one with a reference, or too large) leaves the remembered one in
        // place: it still stands for its own bytes under its own refs.
        if (p - start <= CTL_MEMO && flatControl(this.control)) {
          buf.copy(this.ctlBytes, 0, start, p);
          this.ctlLen = p - start;
          this.ctlTerm = this.control;
          this.ctlAtoms = atoms;
          this.ctlVersioned = versioned;
        }
      }
      if (p === end) {
        this.payload = undefined;
        return true;
      }
      this.payload = decodeSpan(buf, p, end, versioned, atoms, this.limits);
      const q = decodeSpanEnd();
      if (q !== end) throw new DecodeError('ERR_DECODE_TRAILING', `${end - q} bytes after the payload`, q);
      return true;
    } catch (e) {
      throw protocolError(`undecodable distribution message: ${(e as Error).message}`, e);
    }
  }
}
