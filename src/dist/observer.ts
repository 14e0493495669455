/**
 * A passive observer of one distribution connection between two other nodes,
 * for debugging tools (the CLI's `beambridge tap`). Feed it the bytes each side
 * sends, in order and split however TCP split them; it reports the handshake
 * steps, then every frame decoded: control message and payload, fragments
 * reassembled and atom-cache references resolved (one {@link DistDecoder}, so
 * one atom cache, per direction). It never writes anything and never alters
 * the stream: a relay forwards the same bytes untouched.
 *
 * Handshake messages (2-byte length, erl_dist_protocol "Distribution
 * Handshake"): send_name `N` (or the old `n`), status `s`, the initiator's
 * `s true|false` answer to `alive`, complement `c`, challenge `N`/`n`,
 * challenge_reply `r`, challenge_ack `a`. After its last handshake message each
 * side switches to 4-byte frames (erl_dist_protocol "Protocol between Connected
 * Nodes"); bytes after that message in the same chunk are the first frame's.
 *
 * A malformed message ends decoding of that direction only (an `error` event);
 * the observer keeps no state that could grow without bound beyond what the
 * DistDecoder caps.
 */
import { genDigest } from './handshake.js';
import { parseN } from './hsreader.js';
import { DistDecoder, FrameSplitter, DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, PASS_THROUGH, type DistDecoderOptions } from './framing.js';
import { DistError } from './errors.js';
import { expandFlags } from './flags.js';
import { CTRL } from './control.js';
import { Tuple, type Term } from '../etf/types.js';

/** Which side of the observed connection sent something: the dialing node, or the dialed one. */
export type ObservedSide = 'initiator' | 'acceptor';

/** One handshake message, parsed. */
export type HandshakeMessage =
  | { step: 'send_name'; version: 5 | 6; flags: bigint; creation?: number; name: string }
  | { step: 'status'; status: string; name?: string; creation?: number }
  | { step: 'alive_answer'; proceed: boolean }
  | { step: 'complement'; flagsHigh: number; creation: number }
  | { step: 'challenge'; version: 5 | 6; flags: bigint; challenge: number; creation?: number; name: string }
  | { step: 'challenge_reply'; challenge: number; digest: Buffer; digestOk?: boolean }
  | { step: 'challenge_ack'; digest: Buffer; digestOk?: boolean };

/** How a decoded message travelled. */
export interface FrameInfo {
  /** `pass-through` (112), `header` (131 68), or `fragmented` (131 69 and 70s). */
  kind: 'pass-through' | 'header' | 'fragmented';
  /** Atom cache references in the distribution header (0 for pass-through). */
  atomCacheRefs: number;
  /** Number of fragments (1 unless fragmented). */
  fragments: number;
  /** Frame bytes of the whole message, all fragments, without the 4-byte lengths. */
  bytes: number;
}

/** What {@link DistObserver} reports. */
export type ObserverEvent =
  | { type: 'handshake'; from: ObservedSide; message: HandshakeMessage }
  | { type: 'established'; initiator: string; acceptor: string; flags: bigint }
  | { type: 'message'; from: ObservedSide; op: number; opName: string; control: Term; payload: Term | undefined; frame: FrameInfo }
  | { type: 'tick'; from: ObservedSide }
  | { type: 'error'; from: ObservedSide; error: DistError };

/** Options of {@link DistObserver}. */
export interface DistObserverOptions {
  /** Called for every event, synchronously, in stream order per side. */
  onEvent: (e: ObserverEvent) => void;
  /** When given, challenge replies and acks are checked against it (`digestOk`). */
  cookie?: string;
  /** Passed to each direction's {@link DistDecoder}; `lossless` defaults to true here. */
  decoder?: DistDecoderOptions;
}

const MAX_HS_MESSAGE = 4096;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(CTRL).map(([k, v]) => [v, k]));

/** The name of a control message tag (`REG_SEND`), or `op N` for one OTP does not define. */
export function controlOpName(op: number): string {
  return OP_NAMES[op] ?? `op ${op}`;
}

/** One direction of the connection. */
class Direction {
  handshake = true;
  dead = false;
  buf: Buffer = Buffer.alloc(0);
  readonly splitter = new FrameSplitter();
  readonly decoder: DistDecoder;
  /** Fragmented sequences in flight: fragment count and bytes so far. */
  readonly sequences = new Map<bigint, { fragments: number; bytes: number; refs: number }>();

  constructor(
    readonly side: ObservedSide,
    opts: DistDecoderOptions | undefined,
  ) {
    this.decoder = new DistDecoder({ ...opts, decodeOptions: { lossless: true, ...opts?.decodeOptions } });
  }
}

function hsError(msg: string): DistError {
  return new DistError('ERR_HANDSHAKE_PROTOCOL', msg);
}

function name(b: Buffer, from: number, to: number): string {
  try {
    return utf8.decode(b.subarray(from, to));
  } catch {
    throw new DistError('ERR_HANDSHAKE_NAME', 'node name is not UTF-8');
  }
}

/** Parses one handshake message body; `side` tells send_name from challenge. */
export function parseHandshakeMessage(m: Buffer, side: ObservedSide): HandshakeMessage {
  const need = (n: number) => {
    if (m.length < n) throw hsError(`short handshake message '${String.fromCharCode(m[0])}' (${m.length} bytes)`);
  };
  need(1);
  switch (String.fromCharCode(m[0])) {
    case 'N': {
      // The handshake's own parser, without its 255-character name limit.
      const n = parseN(m, side === 'acceptor', { lenient: true });
      return side === 'initiator'
        ? { step: 'send_name', version: 6, flags: n.flags, creation: n.creation, name: n.name }
        : { step: 'challenge', version: 6, flags: n.flags, challenge: n.challenge, creation: n.creation, name: n.name };
    }
    case 'n':
      // Version 5: Version:16, Flags:32, [Challenge:32,] Name.
      if (side === 'initiator') {
        need(7);
        return { step: 'send_name', version: 5, flags: BigInt(m.readUInt32BE(3)), name: name(m, 7, m.length) };
      }
      need(11);
      return { step: 'challenge', version: 5, flags: BigInt(m.readUInt32BE(3)), challenge: m.readUInt32BE(7), name: name(m, 11, m.length) };
    case 's': {
      const text = m.subarray(1).toString('latin1');
      if (side === 'initiator') return { step: 'alive_answer', proceed: text === 'true' };
      if (text.startsWith('named:')) {
        need(9);
        const nlen = m.readUInt16BE(7);
        need(13 + nlen);
        return { step: 'status', status: 'named', name: name(m, 9, 9 + nlen), creation: m.readUInt32BE(9 + nlen) };
      }
      return { step: 'status', status: text };
    }
    case 'c':
      need(9);
      return { step: 'complement', flagsHigh: m.readUInt32BE(1), creation: m.readUInt32BE(5) };
    case 'r':
      need(21);
      return { step: 'challenge_reply', challenge: m.readUInt32BE(1), digest: Buffer.from(m.subarray(5, 21)) };
    case 'a':
      need(17);
      return { step: 'challenge_ack', digest: Buffer.from(m.subarray(1, 17)) };
    default:
      throw hsError(`unknown handshake message tag ${m[0]}`);
  }
}

/** Watches one connection; see the module comment. */
export class DistObserver {
  private readonly sides: Record<ObservedSide, Direction>;
  private initiatorName = '';
  private acceptorName = '';
  private initiatorFlags = 0n;
  private acceptorFlags = 0n;
  /** The acceptor's challenge (checked in the reply) and the initiator's (checked in the ack). */
  private acceptorChallenge: number | undefined;
  private initiatorChallenge: number | undefined;
  private established = false;

  constructor(private readonly opts: DistObserverOptions) {
    this.sides = { initiator: new Direction('initiator', opts.decoder), acceptor: new Direction('acceptor', opts.decoder) };
  }

  /** True once both handshake halves have passed. */
  get isEstablished(): boolean {
    return this.established;
  }

  /** Feeds bytes that `from` sent. */
  push(from: ObservedSide, chunk: Buffer): void {
    const d = this.sides[from];
    if (d.dead || chunk.length === 0) return;
    try {
      if (d.handshake) {
        d.buf = d.buf.length === 0 ? chunk : Buffer.concat([d.buf, chunk]);
        this.pumpHandshake(d);
        if (d.handshake || d.dead) return;
        chunk = d.buf;
        d.buf = Buffer.alloc(0);
        if (chunk.length === 0) return;
      }
      d.splitter.push(chunk, (frame) => this.onFrame(d, frame));
    } catch (e) {
      d.dead = true;
      const error = e instanceof DistError ? e : new DistError('ERR_DIST_PROTOCOL', (e as Error).message, { cause: e });
      this.opts.onEvent({ type: 'error', from, error });
    }
  }

  private pumpHandshake(d: Direction): void {
    while (d.handshake && d.buf.length >= 2) {
      const len = d.buf.readUInt16BE(0);
      if (len === 0 || len > MAX_HS_MESSAGE) throw hsError(`handshake message length ${len}`);
      if (d.buf.length < 2 + len) return;
      const m = parseHandshakeMessage(d.buf.subarray(2, 2 + len), d.side);
      d.buf = d.buf.subarray(2 + len);
      this.onHandshake(d, m);
    }
  }

  private onHandshake(d: Direction, m: HandshakeMessage): void {
    const cookie = this.opts.cookie;
    switch (m.step) {
      case 'send_name':
        this.initiatorName = m.name;
        this.initiatorFlags = expandFlags(m.flags);
        break;
      case 'challenge':
        this.acceptorName = m.name;
        this.acceptorFlags = expandFlags(m.flags);
        this.acceptorChallenge = m.challenge;
        break;
      case 'status':
        if (m.status === 'named' && m.name !== undefined) this.initiatorName = m.name;
        break;
      case 'complement':
        this.initiatorFlags |= BigInt(m.flagsHigh) << 32n;
        break;
      case 'challenge_reply':
        this.initiatorChallenge = m.challenge;
        if (cookie !== undefined && this.acceptorChallenge !== undefined) m.digestOk = genDigest(this.acceptorChallenge, cookie).equals(m.digest);
        d.handshake = false;
        break;
      case 'challenge_ack':
        if (cookie !== undefined && this.initiatorChallenge !== undefined) m.digestOk = genDigest(this.initiatorChallenge, cookie).equals(m.digest);
        d.handshake = false;
        break;
      default:
        break;
    }
    this.opts.onEvent({ type: 'handshake', from: d.side, message: m });
    if (m.step === 'challenge_ack' && !this.established) {
      this.established = true;
      const flags = this.initiatorFlags & this.acceptorFlags;
      this.opts.onEvent({ type: 'established', initiator: this.initiatorName, acceptor: this.acceptorName, flags });
    }
  }

  private onFrame(d: Direction, frame: Buffer): void {
    if (frame.length === 0) {
      this.opts.onEvent({ type: 'tick', from: d.side });
      return;
    }
    const info = this.frameInfo(d, frame);
    const msg = d.decoder.decodeFrame(frame);
    if (msg === undefined || info === undefined) return;
    const op = msg.control instanceof Tuple ? msg.control.elements[0] : undefined;
    const opNum = typeof op === 'number' ? op : -1;
    this.opts.onEvent({ type: 'message', from: d.side, op: opNum, opName: controlOpName(opNum), control: msg.control, payload: msg.payload, frame: info });
  }

  /** How the frame travelled; `undefined` for a fragment that does not complete its message. */
  private frameInfo(d: Direction, frame: Buffer): FrameInfo | undefined {
    if (frame[0] === PASS_THROUGH) return { kind: 'pass-through', atomCacheRefs: 0, fragments: 1, bytes: frame.length };
    if (frame.length < 2) return { kind: 'header', atomCacheRefs: 0, fragments: 1, bytes: frame.length };
    if (frame[1] === DIST_HEADER) return { kind: 'header', atomCacheRefs: frame[2] ?? 0, fragments: 1, bytes: frame.length };
    if ((frame[1] !== DIST_FRAG_HEADER && frame[1] !== DIST_FRAG_CONT) || frame.length < 18) return undefined;
    const seq = frame.readBigUInt64BE(2);
    const frag = frame.readBigUInt64BE(10);
    let s = d.sequences.get(seq);
    if (frame[1] === DIST_FRAG_HEADER) {
      s = { fragments: Number(frag), bytes: 0, refs: frame[18] ?? 0 };
      // Kept only while the decoder holds the sequence too, so bounded as its map is.
      if (frag > 1n) d.sequences.set(seq, s);
    }
    if (!s) return undefined;
    s.bytes += frame.length;
    if (frag !== 1n) return undefined;
    d.sequences.delete(seq);
    return { kind: 'fragmented', atomCacheRefs: s.refs, fragments: s.fragments, bytes: s.bytes };
  }
}
