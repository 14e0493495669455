// Framing of an established distribution connection.
//
// - FrameSplitter: the 4-byte-length frame stream, surviving any split of the
//   TCP stream (pending chunks + missing-byte count, one concat per frame,
//   subarray views, a size cap). A zero-length frame is a tick.
// - DistDecoder: one frame -> (control, payload), for pass-through frames
//   (112), normal distribution headers (131 68) with the per-connection atom
//   cache, and fragmented messages (131 69 / 131 70) reassembled.
// - DistEncoder: (control, payload) -> frames, as pass-through, as a 68 header
//   without cache refs, or fragmented (69 + 70s) when large.
// Spec: erl_ext_dist "Distribution Header"; erl_dist_protocol "Protocol
// between Connected Nodes".
import { atom, type Atom, type Term } from '../etf/types.js';
import { decode, decodeWithLength, TermWriter, type DecodeOptions } from '../etf/index.js';
import { DistError } from './errors.js';
import { DFLAG } from './flags.js';

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

/** Splits a TCP byte stream into frames (without their 4-byte length). */
export class FrameSplitter {
  private chunks: Buffer[] = [];
  private have = 0;
  /** Bytes needed (from the start of the pending frame) before progress is possible; 0 when nothing is pending. */
  private need = 0;

  constructor(private readonly maxFrameSize: number = DEFAULT_MAX_MESSAGE_SIZE) {}

  /** Bytes held for an incomplete frame. */
  get pendingBytes(): number {
    return this.have;
  }

  /**
   * Feeds a chunk; calls `onFrame` for each complete frame, in order. Throws
   * {@link DistError} `ERR_FRAME_TOO_LARGE` for a length over the cap (the
   * stream is then dead); exceptions from `onFrame` propagate.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let x = chunk;
    if (this.need > 0) {
      this.chunks.push(chunk);
      this.have += chunk.length;
      if (this.have < this.need) return;
      x = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.have);
      this.chunks = [];
      this.have = 0;
      this.need = 0;
    }
    let off = 0;
    while (x.length - off >= 4) {
      const len = x.readUInt32BE(off);
      if (len > this.maxFrameSize) {
        throw new DistError('ERR_FRAME_TOO_LARGE', `frame of ${len} bytes is over the ${this.maxFrameSize}-byte cap`);
      }
      const end = off + 4 + len;
      if (end > x.length) {
        this.need = 4 + len;
        break;
      }
      onFrame(x.subarray(off + 4, end));
      off = end;
    }
    if (off < x.length) {
      const rest = off === 0 ? x : x.subarray(off);
      this.chunks = [rest];
      this.have = rest.length;
      if (this.need === 0) this.need = 4;
    }
  }
}

/** The 2048-entry atom cache of one connection's incoming direction (8 segments of 256). */
export class AtomCache {
  readonly entries: (Atom | undefined)[] = new Array<Atom | undefined>(2048);
}

/** A decoded message: the control tuple and the payload that follows it, if any. */
export interface DecodedMessage {
  control: Term;
  payload: Term | undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function protocolError(msg: string, cause?: unknown): DistError {
  return new DistError('ERR_DIST_PROTOCOL', msg, { cause });
}

/**
 * Reads NumberOfAtomCacheRefs, Flags and AtomCacheRefs (erl_ext_dist "Normal
 * Distribution Header"), updates `cache` with new entries and returns the
 * atoms the following terms refer to by ATOM_CACHE_REF index.
 */
export function readAtomCacheRefs(buf: Buffer, start: number, cache: AtomCache): { atoms: Atom[]; offset: number } {
  let off = start;
  const need = (n: number) => {
    if (off + n > buf.length) throw protocolError('distribution header runs past the frame');
  };
  need(1);
  const n = buf[off++];
  const atoms: Atom[] = [];
  if (n === 0) return { atoms, offset: off };
  const flagBytes = (n >> 1) + 1;
  need(flagBytes);
  const flags = off;
  off += flagBytes;
  // Flags for index i: low nibble of byte i/2 for even i, high nibble for odd.
  const nibble = (i: number) => (i & 1 ? buf[flags + (i >> 1)] >> 4 : buf[flags + (i >> 1)] & 0x0f);
  const longAtoms = (nibble(n) & 1) === 1;
  for (let i = 0; i < n; i++) {
    const f = nibble(i);
    need(1);
    const slot = (f & 7) * 256 + buf[off++];
    if (f & 8) {
      let len: number;
      if (longAtoms) {
        need(2);
        len = buf.readUInt16BE(off);
        off += 2;
      } else {
        need(1);
        len = buf[off++];
      }
      need(len);
      let text: string;
      try {
        text = utf8.decode(buf.subarray(off, off + len));
      } catch (e) {
        throw protocolError('atom cache entry is not UTF-8', e);
      }
      off += len;
      if (len > 255 && [...text].length > 255) throw protocolError('atom cache entry longer than 255 characters');
      const a = atom(text);
      cache.entries[slot] = a;
      atoms.push(a);
    } else {
      const a = cache.entries[slot];
      if (a === undefined) throw protocolError(`reference to empty atom cache slot ${slot}`);
      atoms.push(a);
    }
  }
  return { atoms, offset: off };
}

/** A fragmented message being reassembled. */
interface Sequence {
  atoms: Atom[];
  chunks: Buffer[];
  size: number;
  /** The fragment id the next continuation must carry. */
  next: bigint;
}

/** Options of {@link DistDecoder}. */
export interface DistDecoderOptions {
  /** Cap on a reassembled message; default {@link DEFAULT_MAX_MESSAGE_SIZE}. */
  maxMessageSize?: number;
  /** Most fragmented messages in flight at once; default 1024. */
  maxSequences?: number;
  /** Passed to the term decoder (e.g. `lossless`, `maxInflatedSize`). */
  decodeOptions?: Omit<DecodeOptions, 'atomCache' | 'offset'>;
}

/** Decodes incoming frames of one connection. Throws {@link DistError} `ERR_DIST_PROTOCOL` for any malformed frame. */
export class DistDecoder {
  readonly cache = new AtomCache();
  /** Frames seen, by kind, and atom-cache traffic (for stats and tests). */
  readonly counters = { passThrough: 0, header: 0, fragmentStarts: 0, fragmentConts: 0, cacheRefs: 0, newCacheEntries: 0 };
  private readonly sequences = new Map<bigint, Sequence>();
  private readonly maxMessageSize: number;
  private readonly maxSequences: number;
  private readonly decodeOptions: Omit<DecodeOptions, 'atomCache' | 'offset'>;

  constructor(o: DistDecoderOptions = {}) {
    this.maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.maxSequences = o.maxSequences ?? 1024;
    this.decodeOptions = o.decodeOptions ?? {};
  }

  /** Fragmented messages currently being reassembled. */
  get pendingSequences(): number {
    return this.sequences.size;
  }

  /**
   * Decodes one frame (without its length). Returns `undefined` for a tick
   * or for a fragment that does not complete a message.
   */
  decodeFrame(frame: Buffer): DecodedMessage | undefined {
    if (frame.length === 0) return undefined;
    if (frame[0] === PASS_THROUGH) {
      this.counters.passThrough++;
      return this.decodeBody(frame.subarray(1), [], true);
    }
    if (frame[0] !== VERSION_MAGIC || frame.length < 2) throw protocolError(`unknown frame type ${frame[0]}`);
    switch (frame[1]) {
      case DIST_HEADER: {
        this.counters.header++;
        const { atoms, offset } = this.refs(frame, 2);
        return this.decodeBody(frame.subarray(offset), atoms, false);
      }
      case DIST_FRAG_HEADER: {
        if (frame.length < 18) throw protocolError('short fragment header');
        const seq = frame.readBigUInt64BE(2);
        const frag = frame.readBigUInt64BE(10);
        this.counters.fragmentStarts++;
        const { atoms, offset } = this.refs(frame, 18);
        if (frag === 0n) throw protocolError('fragment id 0');
        const body = frame.subarray(offset);
        if (frag === 1n) return this.decodeBody(body, atoms, false);
        if (this.sequences.has(seq)) throw protocolError(`fragment sequence ${seq} started twice`);
        if (this.sequences.size >= this.maxSequences) throw protocolError(`more than ${this.maxSequences} fragmented messages in flight`);
        this.sequences.set(seq, { atoms, chunks: [body], size: body.length, next: frag - 1n });
        return undefined;
      }
      case DIST_FRAG_CONT: {
        if (frame.length < 18) throw protocolError('short fragment continuation header');
        const seq = frame.readBigUInt64BE(2);
        const frag = frame.readBigUInt64BE(10);
        const s = this.sequences.get(seq);
        this.counters.fragmentConts++;
        if (!s) throw protocolError(`continuation of unknown fragment sequence ${seq}`);
        if (frag !== s.next) throw protocolError(`fragment ${frag} of sequence ${seq} out of order (expected ${s.next})`);
        const body = frame.subarray(18);
        s.size += body.length;
        if (s.size > this.maxMessageSize) {
          throw new DistError('ERR_FRAME_TOO_LARGE', `fragmented message over the ${this.maxMessageSize}-byte cap`);
        }
        s.chunks.push(body);
        s.next--;
        if (frag !== 1n) return undefined;
        this.sequences.delete(seq);
        return this.decodeBody(Buffer.concat(s.chunks, s.size), s.atoms, false);
      }
      default:
        throw protocolError(`unknown distribution header type ${frame[1]}`);
    }
  }

  private refs(frame: Buffer, at: number): { atoms: Atom[]; offset: number } {
    const r = readAtomCacheRefs(frame, at, this.cache);
    this.counters.cacheRefs += r.atoms.length;
    if (r.atoms.length > 0) {
      // New entries are flagged in the header; count them from the flag nibbles.
      const n = frame[at];
      for (let i = 0; i < n; i++) {
        const b = frame[at + 1 + (i >> 1)];
        if ((i & 1 ? b >> 4 : b) & 8) this.counters.newCacheEntries++;
      }
    }
    return r;
  }

  /** Control term then optional payload term. */
  private decodeBody(body: Buffer, atoms: Atom[], versioned: boolean): DecodedMessage {
    const opts: DecodeOptions = { ...this.decodeOptions, atomCache: atoms, version: versioned };
    try {
      const c = decodeWithLength(body, opts);
      const rest = body.subarray(c.length);
      return { control: c.term, payload: rest.length === 0 ? undefined : decode(rest, opts) };
    } catch (e) {
      throw protocolError(`undecodable distribution message: ${(e as Error).message}`, e);
    }
  }
}

/** Options of {@link DistEncoder}. */
export interface DistEncoderOptions {
  /** The negotiated flags: decide pass-through vs header and whether to fragment. */
  flags: bigint;
  /** Largest fragment body; default {@link DEFAULT_FRAGMENT_SIZE}. Messages larger than this are fragmented. */
  fragmentSize?: number;
}

/**
 * Encodes outgoing messages into frames (each with its 4-byte length). Atom
 * cache references are never used on output: a 68 header with zero refs is
 * valid and costs three bytes. Frames are built in one reusable
 * {@link TermWriter} per connection: a small message is one buffer, length,
 * header, control and payload together.
 */
export class DistEncoder {
  private readonly useHeader: boolean;
  private readonly fragment: boolean;
  private readonly fragmentSize: number;
  private readonly w = new TermWriter();
  private busy = false;
  private seq = 0n;

  constructor(o: DistEncoderOptions) {
    this.useHeader = (o.flags & DFLAG.DIST_HDR_ATOM_CACHE) !== 0n;
    this.fragment = this.useHeader && (o.flags & DFLAG.FRAGMENTS) !== 0n;
    this.fragmentSize = Math.max(16, o.fragmentSize ?? DEFAULT_FRAGMENT_SIZE);
  }

  /** The zero-length frame that is a tick. */
  static readonly TICK = Buffer.alloc(4);

  /**
   * Encodes a control tuple and optional payload. Returns the buffers to
   * write, in order (frame lengths included); a fragmented message spans
   * several frames, all returned here, to be written back to back. Throws the
   * codec's EncodeError for a value with no Erlang term.
   */
  encode(control: Term, payload?: Term): Buffer[] {
    // A getter inside a term that sends on this connection gets its own writer.
    const w = this.busy ? new TermWriter(4096) : this.w;
    const outer = this.busy;
    this.busy = true;
    try {
      const mark = w.reserveU32();
      let ctrlEnd: number;
      if (this.useHeader) {
        // 131 68 NumberOfAtomCacheRefs=0 (erl_ext_dist "Normal Distribution Header"); terms without version bytes.
        w.writeU8(VERSION_MAGIC).writeU8(DIST_HEADER).writeU8(0).writeTerm(control);
        ctrlEnd = w.length;
        if (payload !== undefined) w.writeTerm(payload);
      } else {
        // 112, then each term with its version byte (erl_dist_protocol, pass-through).
        w.writeU8(PASS_THROUGH).writeVersion().writeTerm(control);
        ctrlEnd = w.length;
        if (payload !== undefined) w.writeVersion().writeTerm(payload);
      }
      const bodyLen = w.length - (this.useHeader ? 7 : 5);
      w.patchU32(mark, w.length - 4);
      const frame = w.finish();
      if (!this.fragment || payload === undefined || bodyLen <= this.fragmentSize) return [frame];
      return this.encodeFragments(frame.subarray(7, ctrlEnd), frame.subarray(ctrlEnd));
    } finally {
      this.busy = outer;
    }
  }

  /** 131 69 Seq Frag 0 | ctrl | payload start, then 131 70 Seq Frag | payload slices (erl_ext_dist "Distribution Header for fragmented messages"). */
  private encodeFragments(ctrl: Buffer, pay: Buffer): Buffer[] {
    const size = this.fragmentSize;
    const firstPay = Math.max(0, size - ctrl.length);
    const restLen = pay.length - Math.min(firstPay, pay.length);
    const count = 1 + Math.ceil(restLen / size);
    const seq = ++this.seq;
    const out: Buffer[] = [];
    const first = Buffer.allocUnsafe(4 + 19);
    const firstSlice = pay.subarray(0, Math.min(firstPay, pay.length));
    first.writeUInt32BE(19 + ctrl.length + firstSlice.length, 0);
    first[4] = VERSION_MAGIC;
    first[5] = DIST_FRAG_HEADER;
    first.writeBigUInt64BE(seq, 6);
    first.writeBigUInt64BE(BigInt(count), 14);
    first[22] = 0;
    out.push(first, ctrl, firstSlice);
    let off = firstSlice.length;
    for (let frag = count - 1; frag >= 1; frag--) {
      const slice = pay.subarray(off, off + size);
      off += slice.length;
      const h = Buffer.allocUnsafe(4 + 18);
      h.writeUInt32BE(18 + slice.length, 0);
      h[4] = VERSION_MAGIC;
      h[5] = DIST_FRAG_CONT;
      h.writeBigUInt64BE(seq, 6);
      h.writeBigUInt64BE(BigInt(frag), 14);
      out.push(h, slice);
    }
    return out;
  }
}
