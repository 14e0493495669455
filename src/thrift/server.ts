// The Thrift server runtime under every generated `serve<Service>`: framed
// binary or compact over TCP, typed (possibly async) handlers, and many calls
// answered concurrently on one connection — a handler that holds a call (a
// long poll) never delays the replies to calls behind it.
//
// Failure rules:
// - a handler throwing one of the method's declared exceptions: sent as that exception;
// - any other throw or rejection: a TApplicationException INTERNAL_ERROR;
// - an unknown method: a TApplicationException UNKNOWN_METHOD (the connection stays);
// - a malformed frame (truncated, bad type id, huge length, bad version):
//   a TApplicationException PROTOCOL_ERROR if the header could be read, then
//   that connection is closed. The listener and every other connection stay up.
import { createServer, type Server, type Socket } from 'node:net';
import { once, setMaxListeners } from 'node:events';
import {
  DEFAULT_MAX_FRAME_BYTES,
  MessageType,
  WriteBuffer,
  frameSplitter,
  readerFor,
  writerFor,
  TType,
  type ProtocolName,
  type ThriftProtocol,
} from './protocol.js';
import { TApplicationExceptionType } from './errors.js';
import { asProtocolError, writeApplicationException } from './codec.js';
import { frameError } from './connection.js';
import type { CallContext, MethodDescriptor, ServiceDescriptor } from './service.js';

/** Options of {@link serveThrift} and of every generated `serve<Service>`. */
export interface ThriftServerOptions {
  /** TCP port; 0 (the default) picks a free one (read it back from `server.port`). */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`; pass `0.0.0.0` or `::` to listen on all interfaces. */
  host?: string;
  /** `binary` (default), `compact`, or `auto` to detect it per connection from the first frame. */
  protocol?: ProtocolName | 'auto';
  /** Largest request frame accepted, bytes (default 16 MB). A larger one closes that connection. */
  maxFrameBytes?: number;
  /**
   * Called with every error the server handles without crashing: handler
   * failures (after they were sent as TApplicationException), malformed
   * frames (before the connection is closed), socket errors.
   */
  onError?: (err: Error, info: { method?: string; remoteAddress?: string }) => void;
}

/** A running Thrift server. */
export interface ThriftServer {
  /** The port it listens on. */
  readonly port: number;
  readonly host: string;
  /** Open client connections. */
  readonly connections: number;
  /** Stops listening, closes every connection (pending calls get no reply), and resolves when done. */
  close(): Promise<void>;
}

const NOT_DECLARED = Symbol('not declared');

interface Conn {
  socket: Socket;
  protocol: ProtocolName | undefined;
  out: WriteBuffer;
  writer: ThriftProtocol | undefined;
  flushQueued: boolean;
  closing: boolean;
  abort: AbortController;
  remoteAddress: string;
  remotePort: number;
}

/** Serves `service` with `handler` (an object with one method per IDL function, each taking the arguments then a {@link CallContext}). */
export async function serveThrift<H extends object>(
  service: ServiceDescriptor,
  handler: H,
  o: ThriftServerOptions = {},
): Promise<ThriftServer> {
  const host = o.host ?? '127.0.0.1';
  const maxFrameBytes = o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const conns = new Set<Conn>();
  const report = (err: Error, info: { method?: string; remoteAddress?: string }) => {
    try {
      o.onError?.(err, info);
    } catch {
      /* a failing observer must not take the server down */
    }
  };

  const flush = (c: Conn) => {
    c.flushQueued = false;
    if (c.out.pos === 0 || c.socket.destroyed) return;
    const bytes = Buffer.from(c.out.buf.subarray(0, c.out.pos));
    c.out.reset();
    c.socket.write(bytes);
    if (c.closing) c.socket.end();
  };

  // Appends one reply frame; `body` writes everything after the message header.
  const reply = (c: Conn, name: string, type: number, seqid: number, body: (p: ThriftProtocol) => void): void => {
    if (c.socket.destroyed || c.writer === undefined) return;
    const out = c.out;
    const start = out.pos;
    out.ensure(4);
    out.pos += 4;
    try {
      c.writer.writeMessageBegin(name, type, seqid);
      body(c.writer);
      c.writer.writeMessageEnd();
    } catch (e) {
      out.pos = start;
      c.writer.writeMessageEnd();
      throw e;
    }
    out.buf.writeInt32BE(out.pos - start - 4, start);
    if (!c.flushQueued) {
      c.flushQueued = true;
      queueMicrotask(() => flush(c));
    }
  };

  const replyAppError = (c: Conn, name: string, seqid: number, type: number, message: string) =>
    reply(c, name, MessageType.EXCEPTION, seqid, (p) => writeApplicationException(p, type, message));

  const closeAfterReplies = (c: Conn) => {
    c.closing = true;
    if (!c.flushQueued) c.socket.end();
  };

  const answer = (c: Conn, m: MethodDescriptor, seqid: number, ok: boolean, value: unknown): void => {
    if (m.oneway || c.socket.destroyed) return;
    if (ok) {
      try {
        reply(c, m.name, MessageType.REPLY, seqid, (p) => m.writeResult(p, value));
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        report(err, { method: m.name, remoteAddress: c.remoteAddress });
        replyAppError(c, m.name, seqid, TApplicationExceptionType.INTERNAL_ERROR, `cannot encode the result: ${err.message}`);
      }
      return;
    }
    let declared = false;
    try {
      reply(c, m.name, MessageType.REPLY, seqid, (p) => {
        declared = m.writeException(p, value);
        if (!declared) throw NOT_DECLARED;
      });
    } catch {
      declared = false; // not declared, or not encodable: sent as TApplicationException below
    }
    if (declared) return;
    const err = value instanceof Error ? value : new Error(String(value));
    report(err, { method: m.name, remoteAddress: c.remoteAddress });
    replyAppError(c, m.name, seqid, TApplicationExceptionType.INTERNAL_ERROR, err.message || String(value));
  };

  const onFrame = (c: Conn, payload: Buffer): void => {
    if (c.closing) return;
    if (c.protocol === undefined) {
      // `auto`: 0x80 0x01 starts a strict binary header, 0x82 a compact one.
      c.protocol = payload[0] === 0x82 ? 'compact' : 'binary';
      c.writer = writerFor(c.protocol, c.out);
    }
    const p = readerFor(c.protocol, payload);
    let h;
    try {
      h = p.readMessageBegin();
    } catch (e) {
      report(asProtocolError(e, p), { remoteAddress: c.remoteAddress });
      c.closing = true;
      c.socket.destroy();
      return;
    }
    const { fname, mtype, rseqid } = h;
    if (mtype !== MessageType.CALL && mtype !== MessageType.ONEWAY) {
      replyAppError(c, fname, rseqid, TApplicationExceptionType.INVALID_MESSAGE_TYPE, `message type ${mtype} is not a call`);
      closeAfterReplies(c);
      return;
    }
    const m = Object.hasOwn(service.methods, fname) ? service.methods[fname] : undefined;
    let args: unknown[];
    try {
      if (m === undefined) {
        p.skip(TType.STRUCT);
        replyAppError(c, fname, rseqid, TApplicationExceptionType.UNKNOWN_METHOD, `unknown method ${service.name}.${fname}`);
        return;
      }
      args = m.readArgs(p);
      p.readMessageEnd();
    } catch (e) {
      const err = asProtocolError(e, p);
      report(err, { method: fname, remoteAddress: c.remoteAddress });
      replyAppError(c, fname, rseqid, TApplicationExceptionType.PROTOCOL_ERROR, err.message);
      closeAfterReplies(c);
      return;
    }
    const ctx: CallContext = {
      method: m.name,
      seqid: rseqid,
      remoteAddress: c.remoteAddress,
      remotePort: c.remotePort,
      signal: c.abort.signal,
    };
    let r: unknown;
    try {
      const fn = (handler as Record<string, unknown>)[m.name];
      if (typeof fn !== 'function') throw new Error(`the handler has no method ${m.name}`);
      args.push(ctx);
      r = (fn as (...a: unknown[]) => unknown).apply(handler, args);
    } catch (e) {
      answer(c, m, rseqid, false, e);
      return;
    }
    if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') {
      (r as PromiseLike<unknown>).then(
        (v) => answer(c, m, rseqid, true, v),
        (e) => answer(c, m, rseqid, false, e),
      );
    } else {
      answer(c, m, rseqid, true, r);
    }
  };

  const server: Server = createServer((socket) => {
    socket.setNoDelay(true);
    const c: Conn = {
      socket,
      protocol: o.protocol === 'auto' ? undefined : (o.protocol ?? 'binary'),
      out: new WriteBuffer(8192),
      writer: undefined,
      flushQueued: false,
      closing: false,
      abort: new AbortController(),
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
    };
    if (c.protocol !== undefined) c.writer = writerFor(c.protocol, c.out);
    // Every call on the connection gets this signal (CallContext.signal): a handler
    // that listens on it per call, with many calls in flight (pipelined long polls),
    // is not a leak, so Node's warning at 11 listeners would only be noise.
    setMaxListeners(0, c.abort.signal);
    conns.add(c);
    const split = frameSplitter((payload) => onFrame(c, payload), maxFrameBytes);
    socket.on('data', (chunk: Buffer) => {
      try {
        split(chunk);
      } catch (e) {
        report(frameError(e, maxFrameBytes), { remoteAddress: c.remoteAddress });
        c.closing = true;
        socket.destroy();
      }
    });
    socket.on('error', (e) => report(e, { remoteAddress: c.remoteAddress }));
    socket.on('close', () => {
      conns.delete(c);
      c.abort.abort(new Error('connection closed'));
    });
  });
  server.on('error', (e) => report(e, {}));
  server.listen(o.port ?? 0, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([e]) => {
      throw e;
    }),
  ]);
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : (o.port ?? 0);

  return {
    port,
    host,
    get connections() {
      return conns.size;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of conns) c.socket.destroy();
      await closed;
    },
  };
}
