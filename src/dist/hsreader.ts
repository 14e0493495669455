// The handshake's messages: the reader of length-prefixed handshake messages
// (2-byte lengths over TCP, 4 over TLS), each within a step deadline, and the
// version 6 'N' message (send_name, and the challenge with its extra field).
// Spec: erl_dist_protocol, "Distribution Handshake". handshake.ts runs the
// state machine in both directions; the passive observer parses 'N' too.
import type { Socket } from 'node:net';
import { deadline, type Deadline } from '../deadline.js';
import { DistError } from './errors.js';

/** The largest handshake message we read. */
const MAX_HS_MESSAGE = 4096;

function ignore(): void {}

/** @internal Reads length-prefixed handshake messages (2 bytes over TCP, 4 over TLS) from a socket, each within a deadline. */
export class HandshakeReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: DistError | undefined;
  private readonly deadline: Deadline;
  private readonly onData = (d: Buffer) => {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.pump();
  };
  private readonly onClose = () => this.fail(new DistError('ERR_CONNECTION_CLOSED', 'connection closed during the handshake'));
  private readonly onError = (e: Error & { code?: string }) =>
    this.fail(
      /^ERR_(SSL|TLS)_/.test(e.code ?? '')
        ? new DistError('ERR_TLS', `TLS error during the handshake (the peer may have refused our certificate): ${e.message}`, { cause: e })
        : new DistError('ERR_CONNECTION_CLOSED', `socket error during the handshake: ${e.message}`, { cause: e }),
    );

  constructor(
    readonly socket: Socket,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    /** Length prefix of each message: 2 over TCP, 4 over TLS. */
    private readonly lenBytes: 2 | 4,
  ) {
    this.deadline = deadline(
      { timeoutMs, signal },
      () => this.fail(new DistError('ERR_HANDSHAKE_TIMEOUT', `handshake step took over ${timeoutMs} ms`)),
      (reason) => this.fail(new DistError('ERR_ABORTED', 'handshake aborted', { cause: reason })),
    );
    // A permanent guard: an error after detach (before the connection takes
    // the socket, or while a refused socket drains) must not crash the process.
    socket.on('error', ignore);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('end', this.onClose);
    socket.on('error', this.onError);
  }

  /** The next message body (without its length); restarts the step deadline. */
  next(): Promise<Buffer> {
    this.deadline.refresh();
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  private pump(): void {
    if (this.failure) {
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(this.failure);
      return;
    }
    const h = this.lenBytes;
    if (this.buf.length < h) return;
    const len = h === 2 ? this.buf.readUInt16BE(0) : this.buf.readUInt32BE(0);
    if (len === 0 || len > MAX_HS_MESSAGE) {
      // A TLS record (content type 20-23, version 3.x) where a 2-byte length was due: the peer speaks TLS.
      const tls = h === 2 && this.buf[0] >= 0x14 && this.buf[0] <= 0x17 && this.buf[1] === 0x03;
      this.fail(
        tls
          ? new DistError('ERR_TLS', `the peer speaks TLS distribution and this node does not: give this node the \`tls\` option, or start the peer without -proto_dist inet_tls`)
          : new DistError('ERR_HANDSHAKE_PROTOCOL', `handshake message length ${len}`),
      );
      return;
    }
    if (!this.waiter) {
      // A message the state machine did not ask for yet; a conforming peer
      // never sends two before our answer, but tolerate it until asked.
      if (this.buf.length > 2 * (MAX_HS_MESSAGE + h)) this.fail(new DistError('ERR_HANDSHAKE_PROTOCOL', 'unsolicited handshake data'));
      return;
    }
    if (this.buf.length < h + len) return;
    const msg = this.buf.subarray(h, h + len);
    this.buf = this.buf.subarray(h + len);
    const w = this.waiter;
    this.waiter = undefined;
    w.resolve(msg);
  }

  fail(e: DistError): void {
    if (this.failure) return;
    this.failure = e;
    this.pump();
  }

  /** Stops reading: the socket is paused and the unread bytes returned. */
  detach(): Buffer {
    this.deadline.clear();
    this.socket.pause();
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('close', this.onClose);
    this.socket.removeListener('end', this.onClose);
    this.socket.removeListener('error', this.onError);
    return this.buf;
  }

  /** Writes one handshake message with its length prefix. */
  send(body: Buffer): void {
    const h = this.lenBytes;
    const b = Buffer.allocUnsafe(h + body.length);
    if (h === 2) b.writeUInt16BE(body.length, 0);
    else b.writeUInt32BE(body.length, 0);
    body.copy(b, h);
    this.socket.write(b);
  }

  sendStatus(status: string): void {
    this.send(Buffer.from(`s${status}`, 'latin1'));
  }
}

/** @internal 'N' flags(8) [challenge(4)] creation(4) nlen(2) name: send_name and the challenge. */
export function encodeN(flags: bigint, creation: number, name: string, challenge?: number): Buffer {
  const nb = Buffer.from(name, 'utf8');
  const extra = challenge === undefined ? 0 : 4;
  const b = Buffer.allocUnsafe(15 + extra + nb.length);
  b[0] = 0x4e; // 'N'
  b.writeBigUInt64BE(BigInt.asUintN(64, flags), 1);
  let o = 9;
  if (challenge !== undefined) o = b.writeUInt32BE(challenge >>> 0, o);
  o = b.writeUInt32BE(creation >>> 0, o);
  o = b.writeUInt16BE(nb.length, o);
  nb.copy(b, o);
  return b;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * @internal Parses a version 6 'N' message: send_name, or with `withChallenge`
 * the challenge (erl_dist_protocol "Distribution Handshake": flags(8)
 * [challenge(4)] creation(4) nlen(2) name). Extra bytes after the name are
 * ignored. Throws `ERR_HANDSHAKE_PROTOCOL` for a short or non-'N' message and
 * `ERR_HANDSHAKE_NAME` for a name that is not UTF-8 or, unless `lenient` (the
 * passive observer, which reports what it sees), longer than 255 characters.
 */
export function parseN(
  m: Buffer,
  withChallenge: boolean,
  o: { lenient?: boolean } = {},
): { flags: bigint; creation: number; name: string; challenge: number } {
  const head = withChallenge ? 19 : 15;
  if (m.length < head || m[0] !== 0x4e) {
    const what = m[0] === 0x6e ? 'an old version-5 name message (OTP 22 or older)' : `a malformed ${withChallenge ? 'challenge' : 'send_name'}`;
    throw new DistError('ERR_HANDSHAKE_PROTOCOL', `peer sent ${what}`);
  }
  const flags = m.readBigUInt64BE(1);
  const challenge = withChallenge ? m.readUInt32BE(9) : 0;
  const creation = m.readUInt32BE(head - 6);
  const nlen = m.readUInt16BE(head - 2);
  if (m.length < head + nlen) throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'name runs past the message');
  let name: string;
  try {
    name = utf8.decode(m.subarray(head, head + nlen));
  } catch {
    throw new DistError('ERR_HANDSHAKE_NAME', 'peer name is not UTF-8');
  }
  if (!o.lenient && [...name].length > 255) throw new DistError('ERR_HANDSHAKE_NAME', 'peer name longer than 255 characters');
  return { flags, creation, name, challenge };
}
