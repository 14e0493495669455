// One client connection: framed Thrift over a TCP socket, many calls in
// flight at once, replies matched to calls by seqid in any order.
//
// Outgoing frames are built in place in one WriteBuffer and written with one
// socket.write per microtask turn, so 64 calls made together leave as one
// segment. Incoming bytes go through npm thrift's frame splitter.
import type { Socket } from 'node:net';
import { MessageType, WriteBuffer, frameSplitter, readerFor, writerFor, type ProtocolName, type ThriftProtocol } from './protocol.js';
import { asProtocolError, readApplicationException } from './codec.js';
import { ThriftConnectionLostError, ThriftFrameTooLargeError, ThriftProtocolError } from './errors.js';
import type { MethodDescriptor } from './service.js';

/** A call waiting for its reply. Owned by the client; the connection settles it. */
export interface PendingCall {
  method: MethodDescriptor<any, any>;
  args: unknown[];
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** Set by the connection that sent it. */
  conn?: ClientConnection;
  seqid?: number;
}

const MAX_SEQID = 0x7fffffff;

export interface ClientConnectionOptions {
  protocol: ProtocolName;
  maxFrameBytes: number;
  /** First seqid to use (then +1, wrapping from 2^31-1 to 0). */
  firstSeqId: number;
  /** Called once, after every pending call has been failed. */
  onClose(conn: ClientConnection, cause: Error | undefined): void;
}

export class ClientConnection {
  readonly socket: Socket;
  /** Calls sent on this connection and not yet answered, by seqid. */
  readonly pending = new Map<number, PendingCall>();
  closed = false;
  /** Replies that matched no pending call (late replies to timed-out or aborted calls). */
  unmatched = 0;
  private seqid: number;
  private readonly out = new WriteBuffer(8192);
  private readonly writer: ThriftProtocol;
  private flushQueued = false;
  private readonly split: (chunk: Buffer) => void;
  private readonly o: ClientConnectionOptions;
  private readonly flushNow = () => this.flush();

  constructor(socket: Socket, o: ClientConnectionOptions) {
    this.socket = socket;
    this.o = o;
    this.seqid = o.firstSeqId | 0;
    this.writer = writerFor(o.protocol, this.out);
    this.split = frameSplitter((payload) => this.onFrame(payload), o.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.split(chunk);
      } catch (e) {
        this.destroy(frameError(e, o.maxFrameBytes));
      }
    });
    socket.on('error', (e) => this.destroy(e));
    socket.on('close', () => this.destroy(undefined));
  }

  private nextSeqId(): number {
    // Wraps from 2^31-1 to 0, skipping ids still in flight (a call held for a
    // very long time must not be answered with a newer call's reply).
    for (;;) {
      const id = this.seqid;
      this.seqid = id >= MAX_SEQID ? 0 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /**
   * Encodes the call into the outgoing buffer and registers it. Throws (and
   * leaves nothing half-written) if the arguments cannot be encoded.
   */
  send(call: PendingCall): void {
    const out = this.out;
    const start = out.pos;
    const seqid = this.nextSeqId();
    try {
      out.ensure(4);
      out.pos += 4; // frame length, patched below
      const p = this.writer;
      p.writeMessageBegin(call.method.name, call.method.oneway ? MessageType.ONEWAY : MessageType.CALL, seqid);
      call.method.writeArgs(p, call.args);
      p.writeMessageEnd();
    } catch (e) {
      out.pos = start;
      this.writer.writeMessageEnd();
      throw e;
    }
    const len = out.pos - start - 4;
    out.buf.writeInt32BE(len, start);
    call.conn = this;
    call.seqid = seqid;
    if (!call.method.oneway) this.pending.set(seqid, call);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
    }
    if (call.method.oneway) call.resolve(undefined);
  }

  /** Forgets a call (timed out or aborted); a reply arriving later is dropped. */
  forget(call: PendingCall): void {
    if (call.seqid !== undefined && this.pending.get(call.seqid) === call) this.pending.delete(call.seqid);
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.pos === 0 || this.closed) return;
    const bytes = Buffer.from(this.out.buf.subarray(0, this.out.pos));
    this.out.reset();
    this.socket.write(bytes);
  }

  private onFrame(payload: Buffer): void {
    const p = readerFor(this.o.protocol, payload);
    let h;
    try {
      h = p.readMessageBegin();
    } catch (e) {
      throw asProtocolError(e, p);
    }
    const call = this.pending.get(h.rseqid);
    if (call === undefined) {
      this.unmatched++;
      return;
    }
    this.pending.delete(h.rseqid);
    try {
      if (h.mtype === MessageType.EXCEPTION) {
        call.reject(readApplicationException(p));
      } else if (h.mtype === MessageType.REPLY) {
        call.resolve(call.method.readResult(p));
      } else {
        call.reject(new ThriftProtocolError(`unexpected message type ${h.mtype} in a reply to ${call.method.name}`));
      }
    } catch (e) {
      // A declared exception arrives as a throw from readResult; anything else is a decode error.
      call.reject(e instanceof Error && !isNpmThriftError(e) ? e : asProtocolError(e, p));
    }
  }

  /** Closes the socket and fails every pending call with ThriftConnectionLostError. */
  destroy(cause: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const c of calls) c.reject(new ThriftConnectionLostError(c.method.name, cause));
    this.o.onClose(this, cause);
  }
}

/** Maps an exception thrown by the frame splitter to a typed error. */
export function frameError(e: unknown, maxFrameBytes: number): Error {
  const m = e instanceof Error ? /^Frame size (-?\d+)/.exec(e.message) : null;
  return m ? new ThriftFrameTooLargeError(Number(m[1]), maxFrameBytes) : asProtocolError(e);
}

function isNpmThriftError(e: Error): boolean {
  return e.name === 'InputBufferUnderrunError' || e.name === 'TProtocolException' || /^Invalid type/.test(e.message);
}
