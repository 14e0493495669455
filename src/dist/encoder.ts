// Framing of an established distribution connection, outgoing side:
// DistEncoder turns (control, payload) into frames, as pass-through, as a 68
// header (with atom cache references when enabled), or fragmented (69 + 70s)
// when large.
// Spec: erl_ext_dist "Distribution Header"; erl_dist_protocol "Protocol
// between Connected Nodes".
import type { Term } from '../etf/types.js';
import { TermWriter } from '../etf/index.js';
import { atomRefHook } from '../etf/atoms.js';
import { DFLAG } from './flags.js';
import { DEFAULT_FRAGMENT_SIZE, DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, PASS_THROUGH, VERSION_MAGIC } from './framing.js';
import { OutAtomCache, messageRefs } from './atomcache.js';

/** Options of {@link DistEncoder}. */
export interface DistEncoderOptions {
  /** The negotiated flags: decide pass-through vs header and whether to fragment. */
  flags: bigint;
  /** Largest fragment body; default {@link DEFAULT_FRAGMENT_SIZE}. Messages larger than this are fragmented. */
  fragmentSize?: number;
  /**
   * Send atoms through the connection's atom cache (when DFLAG_DIST_HDR_ATOM_CACHE
   * is negotiated): each atom in full once, then as a reference. Default true.
   */
  atomCache?: boolean;
}

/**
 * The writer every connection encodes into: frames are views of its slabs,
 * and a connection holds no buffer of its own while it is idle.
 */
const shared = new TermWriter();
let busy = false;

/** Room left before the terms for the length, 131 68 and a header of old references (written last). */
const GAP = 64;

/**
 * Encodes outgoing messages into frames (each with its 4-byte length): a
 * small message is one buffer, length, header, control and payload together.
 * With the atom cache, each message's header lists the atoms its terms
 * refer to (see atomcache.ts); without, a 68 header has zero references.
 */
export class DistEncoder {
  private readonly useHeader: boolean;
  private readonly fragment: boolean;
  private readonly fragmentSize: number;
  /** The peer's cache as we filled it; undefined without the atom cache. */
  private readonly cache: OutAtomCache | undefined;
  private seq = 0n;

  constructor(o: DistEncoderOptions) {
    this.useHeader = (o.flags & DFLAG.DIST_HDR_ATOM_CACHE) !== 0n;
    this.fragment = this.useHeader && (o.flags & DFLAG.FRAGMENTS) !== 0n;
    this.fragmentSize = Math.max(16, o.fragmentSize ?? DEFAULT_FRAGMENT_SIZE);
    this.cache = this.useHeader && o.atomCache !== false ? new OutAtomCache() : undefined;
  }

  /** The zero-length frame that is a tick. */
  static readonly TICK = Buffer.alloc(4);

  /** Atom cache entries sent in full so far (0 without the atom cache). */
  get atomCacheEntries(): number {
    return this.cache?.newEntries ?? 0;
  }

  /**
   * Encodes a control tuple and optional payload. Returns the buffers to
   * write, in order (frame lengths included); a fragmented message spans
   * several frames, all returned here, to be written back to back. Throws the
   * codec's EncodeError for a value with no Erlang term.
   */
  encode(control: Term, payload?: Term): Buffer[] {
    // A getter inside a term that sends while we encode gets its own writer, without the cache.
    if (busy) return this.encodeWith(new TermWriter(4096), control, payload, false);
    busy = true;
    try {
      return this.encodeWith(shared, control, payload, this.cache !== undefined);
    } finally {
      busy = false;
    }
  }

  private encodeWith(w: TermWriter, control: Term, payload: Term | undefined, withCache: boolean): Buffer[] {
    if (!this.useHeader) {
      // 112, then each term with its version byte (erl_dist_protocol, pass-through).
      const mark = w.reserveU32();
      w.writeU8(PASS_THROUGH).writeVersion().writeTerm(control);
      if (payload !== undefined) w.writeVersion().writeTerm(payload);
      w.patchU32(mark, w.length - 4);
      return [w.finish()];
    }
    if (!withCache) {
      // 131 68 NumberOfAtomCacheRefs=0 (erl_ext_dist "Normal Distribution Header"); terms without version bytes.
      const mark = w.reserveU32();
      w.writeU8(VERSION_MAGIC).writeU8(DIST_HEADER).writeU8(0).writeTerm(control);
      const ctrlEnd = w.length;
      if (payload !== undefined) w.writeTerm(payload);
      const bodyLen = w.length - 7;
      w.patchU32(mark, w.length - 4);
      const frame = w.finish();
      if (!this.fragment || payload === undefined || bodyLen <= this.fragmentSize) return [frame];
      return this.encodeFragments(NO_REFS_HEADER, frame.subarray(7, ctrlEnd), frame.subarray(ctrlEnd));
    }
    // The terms first, after a gap, with atoms as references; then the
    // header, which now can be known, goes at the end of the gap.
    const gap = w.skip(GAP);
    let ctrlEnd: number;
    messageRefs.begin();
    atomRefHook.table = messageRefs;
    atomRefHook.owner = w;
    try {
      w.writeTerm(control);
      ctrlEnd = w.length;
      if (payload !== undefined) w.writeTerm(payload);
    } finally {
      atomRefHook.table = undefined;
      atomRefHook.owner = undefined;
      messageRefs.end();
    }
    const header = this.cache!.header(messageRefs.atoms);
    const bodyLen = w.length - GAP;
    if (this.fragment && payload !== undefined && bodyLen > this.fragmentSize) {
      const body = w.finish();
      return this.encodeFragments(header, body.subarray(gap + GAP, ctrlEnd), body.subarray(ctrlEnd));
    }
    const front = 6 + header.length;
    if (front <= GAP) {
      // [Len:32][131][68][header] right before the terms; the rest of the gap is dropped.
      const at = gap + GAP - front;
      const len = front - 4 + bodyLen;
      prefix[0] = len >>> 24;
      prefix[1] = len >>> 16;
      prefix[2] = len >>> 8;
      prefix[3] = len;
      w.patchBytes(at, prefix).patchBytes(at + 6, header).dropFront(at);
      return [w.finish()];
    }
    // A header larger than the gap (new atoms with their text): the prefix in its own buffer.
    const body = w.finish().subarray(GAP);
    const head = Buffer.allocUnsafe(front);
    head.writeUInt32BE(front - 4 + body.length, 0);
    head[4] = VERSION_MAGIC;
    head[5] = DIST_HEADER;
    header.copy(head, 6);
    return [head, body];
  }

  /**
   * 131 69 Seq Frag header | ctrl | payload start, then 131 70 Seq Frag | payload
   * slices (erl_ext_dist "Distribution Header for fragmented messages").
   */
  private encodeFragments(header: Buffer, ctrl: Buffer, pay: Buffer): Buffer[] {
    const size = this.fragmentSize;
    const firstPay = Math.max(0, size - ctrl.length);
    const restLen = pay.length - Math.min(firstPay, pay.length);
    const count = 1 + Math.ceil(restLen / size);
    const seq = ++this.seq;
    const out: Buffer[] = [];
    const first = Buffer.allocUnsafe(4 + 18 + header.length);
    const firstSlice = pay.subarray(0, Math.min(firstPay, pay.length));
    first.writeUInt32BE(18 + header.length + ctrl.length + firstSlice.length, 0);
    first[4] = VERSION_MAGIC;
    first[5] = DIST_FRAG_HEADER;
    first.writeBigUInt64BE(seq, 6);
    first.writeBigUInt64BE(BigInt(count), 14);
    header.copy(first, 22);
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

const NO_REFS_HEADER = Buffer.of(0);
/** [Len:32][131][68], the length filled per frame. */
const prefix = Buffer.of(0, 0, 0, 0, VERSION_MAGIC, DIST_HEADER);
