// Framing of an established distribution connection, outgoing side:
// DistEncoder turns (control, payload) into frames, as pass-through, as a 68
// header, or fragmented (69 + 70s) when large.
// Spec: erl_ext_dist "Distribution Header"; erl_dist_protocol "Protocol
// between Connected Nodes".
import type { Term } from '../etf/types.js';
import { TermWriter } from '../etf/index.js';
import { DFLAG } from './flags.js';
import { DEFAULT_FRAGMENT_SIZE, DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, PASS_THROUGH, VERSION_MAGIC } from './framing.js';

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
