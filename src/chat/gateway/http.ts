// A small, strict HTTP/1.1 server on `net` for the long-poll gateway.
//
// Why not node:http: a held long-poll is the gateway's whole cost, and
// node:http spends about 9 KB RSS per held request here; this server keeps
// one small object per connection and no timer per connection (one sweep a
// second checks every deadline), and measures about half that
// (bench/gateway.mjs prints both in one run).
//
// What it speaks (RFC 9112): request line and header fields terminated by
// CRLF; bodies by Content-Length only (Transfer-Encoding is refused with
// 501, RFC 9112 section 6.1); persistent connections (HTTP/1.1 by default,
// HTTP/1.0 only with `Connection: keep-alive`); pipelined requests are read
// one after the other: the next is parsed only once the answer to the
// previous one is written (section 9.3.2). Limits: head size (431), body
// size (413), a deadline for the head, one for the body, and one for an
// idle keep-alive connection (the connection is closed, 408 when a request
// had started), one for a handler (503 past it: a long-poll is bounded by the
// application well before), and a short linger after an answer that closes
// the connection has been written in full (the socket is destroyed then, FIN
// from the client or not; a client that does not read is cut at a longer cap).
// HEAD is answered like GET without the body (RFC 9110 section 9.3.2).
import { createServer, type Server, type Socket } from 'node:net';

/** One parsed request. Header names are lower case; repeated fields are joined with `, `. */
export interface HttpRequest {
  method: string;
  /** The path, percent-encoded as sent (no query). */
  path: string;
  /** The query string without `?` (`''` when none). */
  query: string;
  headers: Map<string, string>;
  body: Buffer;
  /** Whether the connection stays open after the answer. */
  keepAlive: boolean;
  /** The client's address (set by the server). */
  remoteAddress?: string;
}

/** The answer side of one request. `send` writes the whole answer once; later calls are ignored. */
export interface HttpResponse {
  /** True once the answer was sent or the client went away. */
  readonly done: boolean;
  send(status: number, headers: Record<string, string | number>, body?: Buffer | string): void;
  /** Called once if the client goes away before the answer is sent. One callback. */
  onAbort(cb: () => void): void;
}

export type HttpHandler = (req: HttpRequest, res: HttpResponse) => void;

/** Limits and deadlines of {@link serveHttp}; every field has a default. */
export interface HttpServerOptions {
  /** Largest request line plus header fields, in bytes (default 8 KiB); past it 431. */
  maxHeaderBytes?: number;
  /** Largest body (default 64 KiB); a larger Content-Length gets 413. */
  maxBodyBytes?: number;
  /** From a request's first byte to the end of its head (default 10 s). */
  headersTimeoutMs?: number;
  /** From a request's first byte to the end of its body (default 20 s). */
  requestTimeoutMs?: number;
  /** An idle persistent connection is closed after this long (default 60 s). */
  keepAliveTimeoutMs?: number;
  /** A handler that has not answered after this long gets 503 and the connection is closed (default 300 s). */
  handlerTimeoutMs?: number;
  /** After an answer with `Connection: close` has been fully written, how long the client may take to close before the socket is destroyed (default 2 s). */
  lingerMs?: number;
  /** How long a `Connection: close` answer may take to be written to a client that reads slowly or not at all; the socket is destroyed after (default 60 s). */
  lingerWriteMs?: number;
  /** Told of a server error after listen (accept failures such as EMFILE); the server keeps running. */
  onError?: (error: Error) => void;
  /** Most connections at once; further ones are closed at once (default 50 000). */
  maxConnections?: number;
  /** Told of each request the server itself refused (parse errors, limits, deadlines), with the status and code sent. */
  onRefused?: (status: number, code: string) => void;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 411: 'Length Required',
  413: 'Content Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable', 505: 'HTTP Version Not Supported',
};

/** A request the parser refused: answer `status` and close the connection. */
export class HttpParseError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The error codes of the answers the server sends by itself. */
const REFUSAL_CODES: Record<number, string> = {
  408: 'request_timeout', 413: 'too_large', 431: 'headers_too_large', 500: 'internal', 501: 'not_implemented', 503: 'handler_timeout', 505: 'http_version',
};

const CRLFCRLF = Buffer.from('\r\n\r\n');
// Shared by every idle parser (a held poll's connection keeps nothing of its own here), and the body of every request without one.
const EMPTY = Buffer.alloc(0);
// RFC 9110 section 5.6.2: tchar, by character code.
const TCHAR = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[ch.charCodeAt(0)] = 1;

/** Whether `text[from, to)` is a token (one tchar or more). */
function isToken(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/**
 * The request parser, separate from the socket so it can be fed one byte at
 * a time in tests. `push` appends bytes; `next` returns the next complete
 * request, `undefined` when more bytes are needed, or throws
 * {@link HttpParseError}. It holds at most one head plus one body of bytes
 * beyond what was consumed (a pipelining client is read at the server's pace).
 */
export class HttpParser {
  private buf: Buffer = EMPTY;
  private scanned = 0;
  private head: HttpRequest | undefined;
  private bodyLen = 0;

  constructor(private readonly maxHeaderBytes = 8192, private readonly maxBodyBytes = 65536) {}

  /** Bytes received and not yet consumed. */
  get buffered(): number {
    return this.buf.length;
  }

  /** Whether a request has started (some of its bytes arrived) and is not complete. */
  get inRequest(): boolean {
    return this.head !== undefined || this.buf.length > 0;
  }

  /** Whether the head of the current request is complete (its body is awaited). */
  get inBody(): boolean {
    return this.head !== undefined;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  next(): HttpRequest | undefined {
    let req = this.head;
    if (req === undefined) {
      // Leading empty lines before a request line are ignored (RFC 9112 section 2.2).
      while (this.buf.length >= 2 && this.buf[0] === 13 && this.buf[1] === 10) this.buf = this.buf.subarray(2);
      const end = this.buf.indexOf(CRLFCRLF, Math.max(0, this.scanned - 3));
      if (end < 0) {
        if (this.buf.length > this.maxHeaderBytes) throw new HttpParseError(431, 'request head too large');
        this.scanned = this.buf.length;
        return undefined;
      }
      if (end + 4 > this.maxHeaderBytes) throw new HttpParseError(431, 'request head too large');
      req = parseHead(this.buf.toString('latin1', 0, end));
      this.bodyLen = bodyLength(req.headers, this.maxBodyBytes);
      this.buf = end + 4 === this.buf.length ? EMPTY : this.buf.subarray(end + 4);
      this.scanned = 0;
    }
    if (this.buf.length < this.bodyLen) {
      this.head = req;
      return undefined;
    }
    this.head = undefined;
    if (this.bodyLen > 0) {
      req.body = Buffer.from(this.buf.subarray(0, this.bodyLen));
      this.buf = this.buf.length === this.bodyLen ? EMPTY : this.buf.subarray(this.bodyLen);
    }
    return req;
  }
}

/**
 * The head of a request (its text up to the empty line, latin1), read by
 * character codes: request line (section 3), then field lines (section 5),
 * each checked as it is read.
 */
function parseHead(text: string): HttpRequest {
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  // method SP request-target SP HTTP-version: exactly two spaces.
  const sp1 = text.indexOf(' ');
  const sp2 = sp1 < 0 || sp1 >= eol ? -1 : text.indexOf(' ', sp1 + 1);
  const sp3 = sp2 < 0 || sp2 >= eol ? -1 : text.indexOf(' ', sp2 + 1);
  if (sp2 < 0 || sp2 >= eol || (sp3 >= 0 && sp3 < eol)) throw new HttpParseError(400, 'malformed request line');
  if (!isToken(text, 0, sp1)) throw new HttpParseError(400, 'malformed method');
  const version = text.slice(sp2 + 1, eol);
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') {
    throw new HttpParseError(/^HTTP\/\d\.\d$/.test(version) ? 505 : 400, 'unsupported HTTP version');
  }
  // origin-form: "/" then visible ASCII.
  if (sp2 === sp1 + 1 || text.charCodeAt(sp1 + 1) !== 47) throw new HttpParseError(400, 'malformed request target');
  let q = -1;
  for (let i = sp1 + 2; i < sp2; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) throw new HttpParseError(400, 'malformed request target');
    if (c === 63 && q < 0) q = i;
  }
  const headers = new Map<string, string>();
  for (let i = eol + 2; i < text.length; ) {
    let e = text.indexOf('\r\n', i);
    if (e < 0) e = text.length;
    // field-name ":" OWS field-value OWS. No obsolete line folding (section 5.2), no bare CR or LF, no space before the colon (section 5.1).
    let colon = i;
    for (let c = text.charCodeAt(colon); colon < e && c < 128 && TCHAR[c] === 1; c = text.charCodeAt(++colon));
    if (colon === i || colon === e || text.charCodeAt(colon) !== 58) throw new HttpParseError(400, 'malformed header field');
    let vs = colon + 1;
    let ve = e;
    for (let c = text.charCodeAt(vs); vs < ve && (c === 32 || c === 9); c = text.charCodeAt(++vs));
    for (let c = text.charCodeAt(ve - 1); ve > vs && (c === 32 || c === 9); c = text.charCodeAt(--ve - 1));
    // Field values: visible ASCII, obs-text, space and tab (section 5.5); no CR, LF, NUL or other controls.
    for (let k = vs; k < ve; k++) {
      const c = text.charCodeAt(k);
      if ((c < 0x20 && c !== 9) || c === 0x7f) throw new HttpParseError(400, 'malformed header field value');
    }
    const key = text.slice(i, colon).toLowerCase();
    const value = text.slice(vs, ve);
    const prev = headers.get(key);
    headers.set(key, prev === undefined ? value : `${prev}, ${value}`);
    i = e + 2;
  }
  const method = text.slice(0, sp1);
  if (version === 'HTTP/1.1' && !headers.has('host')) throw new HttpParseError(400, 'missing Host header');
  const conn = headers.get('connection');
  const keepAlive = conn === undefined ? version === 'HTTP/1.1' : version === 'HTTP/1.1' ? !/\bclose\b/i.test(conn) : /\bkeep-alive\b/i.test(conn);
  return {
    method,
    path: q < 0 ? text.slice(sp1 + 1, sp2) : text.slice(sp1 + 1, q),
    query: q < 0 ? '' : text.slice(q + 1, sp2),
    headers,
    body: EMPTY,
    keepAlive,
    remoteAddress: undefined,
  };
}

function bodyLength(headers: Map<string, string>, max: number): number {
  if (headers.has('transfer-encoding')) throw new HttpParseError(501, 'Transfer-Encoding is not supported; send Content-Length');
  const cl = headers.get('content-length');
  if (cl === undefined) return 0;
  // Repeated fields were joined with ", ": equal values are one length (RFC 9112 section 6.3), others are refused.
  const values = new Set(cl.split(',').map((s) => s.trim()));
  if (values.size !== 1) throw new HttpParseError(400, 'conflicting Content-Length');
  const v = [...values][0];
  if (!/^\d{1,15}$/.test(v)) throw new HttpParseError(400, 'malformed Content-Length');
  const n = Number(v);
  if (n > max) throw new HttpParseError(413, `request body over ${max} bytes`);
  return n;
}

// The field lines of a header object the application reuses (frozen), rendered once.
const FIELD_LINES = new WeakMap<object, string>();

function fieldLines(headers: Record<string, string | number>): string {
  let lines = FIELD_LINES.get(headers);
  if (lines !== undefined) return lines;
  lines = '';
  for (const k in headers) lines += `${k}: ${headers[k]}\r\n`;
  if (Object.isFrozen(headers)) FIELD_LINES.set(headers, lines);
  return lines;
}

/** The head of an answer: status line, the given fields, Content-Length, Connection. */
export function responseHead(status: number, headers: Record<string, string | number>, bodyLength: number, keepAlive: boolean): string {
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\n${fieldLines(headers)}Content-Length: ${bodyLength}\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
}

// ------------------------------------------------------------------ server

const enum Phase {
  Idle, // between requests (keep-alive deadline)
  Reading, // a request has started (head or body deadline)
  Handling, // the handler has it (the handler deadline; the application bounds it well before)
  Closing, // answered with Connection: close; destroyed at the deadline if the client does not close
}

/** The state of one connection: one object, no closures, no timer. */
class Conn implements HttpResponse {
  parser: HttpParser;
  phase = Phase.Idle;
  deadline: number;
  started = 0;
  keepAlive = true;
  /** The request being answered is a HEAD. */
  head = false;
  done = true;
  private abortCb: (() => void) | undefined = undefined;
  /** The client's address, read once. */
  readonly remote: string | undefined;

  constructor(readonly socket: Socket, readonly srv: HttpServer) {
    this.parser = new HttpParser(srv.maxHeaderBytes, srv.maxBodyBytes);
    this.remote = socket.remoteAddress;
    this.deadline = Date.now() + srv.keepAliveTimeoutMs;
  }

  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }

  aborted(): void {
    if (this.done) return;
    this.done = true;
    const cb = this.abortCb;
    this.abortCb = undefined;
    if (cb) cb();
  }

  send(status: number, headers: Record<string, string | number>, body: Buffer | string = ''): void {
    if (this.done) return;
    this.done = true;
    this.abortCb = undefined;
    if (this.socket.destroyed) return;
    // A server that is closing ends every connection after its answer.
    if (this.srv.closing) this.keepAlive = false;
    // One write: the head (latin1) and the body (UTF-8) side by side.
    const bodyLen = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const head = responseHead(status, headers, bodyLen, this.keepAlive);
    // HEAD: the same head, Content-Length included, and no body (RFC 9110 section 9.3.2).
    if (this.head) this.socket.write(head, 'latin1');
    // An ASCII body (a JSON answer, usually) is the same bytes in latin1: one string, written by the stream without a Buffer.
    else if (typeof body === 'string' && bodyLen === body.length) this.socket.write(head + body, 'latin1');
    else {
      const out = Buffer.allocUnsafe(head.length + bodyLen);
      out.write(head, 0, 'latin1');
      if (typeof body === 'string') out.write(body, head.length, 'utf8');
      else body.copy(out, head.length);
      this.socket.write(out);
    }
    if (!this.keepAlive) {
      this.linger();
      return;
    }
    this.phase = Phase.Idle;
    this.deadline = Date.now() + this.srv.keepAliveTimeoutMs;
    // Pipelined requests already buffered are read now (after this answer).
    if (this.parser.buffered > 0) setImmediate(drain, this);
  }

  /**
   * Ends our side; the socket is destroyed when the client closes or at the
   * linger deadline, whichever comes first. The deadline is `lingerWriteMs`
   * while the answer is still being written (a slow reader gets all of it)
   * and `lingerMs` from when it has been handed to the kernel in full.
   */
  linger(): void {
    this.phase = Phase.Closing;
    this.deadline = Date.now() + this.srv.lingerWriteMs;
    this.socket.end(lingerWritten.bind(this));
  }

  fail(status: number, message: string): void {
    this.keepAlive = false;
    this.done = false;
    const code = REFUSAL_CODES[status] ?? 'bad_request';
    this.srv.onRefused?.(status, code);
    this.send(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }, JSON.stringify({ error: { code, message } }));
  }
}

/** 'finish' of a closing connection: its answer is written; the short linger starts. */
function lingerWritten(this: Conn): void {
  this.deadline = Math.min(this.deadline, Date.now() + this.srv.lingerMs);
}

function drain(c: Conn): void {
  if (c.phase === Phase.Handling || c.phase === Phase.Closing || c.socket.destroyed) return;
  let req: HttpRequest | undefined;
  try {
    req = c.parser.next();
  } catch (e) {
    if (e instanceof HttpParseError) c.fail(e.status, e.message);
    else c.socket.destroy();
    return;
  }
  const now = Date.now();
  if (req === undefined) {
    if (c.parser.inRequest) {
      if (c.phase === Phase.Idle) {
        c.phase = Phase.Reading;
        c.started = now;
      }
      c.deadline = c.started + (c.parser.inBody ? c.srv.requestTimeoutMs : c.srv.headersTimeoutMs);
    }
    return;
  }
  c.phase = Phase.Handling;
  c.deadline = now + c.srv.handlerTimeoutMs;
  req.remoteAddress = c.remote;
  c.keepAlive = req.keepAlive && !c.srv.closing;
  c.head = req.method === 'HEAD';
  c.done = false;
  try {
    c.srv.handler(req, c);
  } catch {
    if (!c.done) c.fail(500, 'internal error');
  }
}

function onData(this: Socket, chunk: Buffer): void {
  const c = CONNS.get(this);
  if (c === undefined) return;
  // After a closing answer, whatever the client still sends is dropped.
  if (c.phase === Phase.Closing) return;
  c.parser.push(chunk);
  // A pipelining client may not run ahead by more than one head and one body.
  if (c.parser.buffered > c.srv.maxHeaderBytes + c.srv.maxBodyBytes + 4) {
    if (c.phase === Phase.Handling) {
      this.destroy();
      return;
    }
  }
  if (c.phase !== Phase.Handling) drain(c);
}

function onClose(this: Socket): void {
  const c = CONNS.get(this);
  if (c === undefined) return;
  CONNS.delete(this);
  c.srv.conns.delete(c);
  c.aborted();
}

function onError(this: Socket): void {
  this.destroy();
}

const CONNS = new WeakMap<Socket, Conn>();

/** A running server; `close()` stops listening, ends idle connections and, after `graceMs`, all others. */
export class HttpServer {
  readonly server: Server;
  readonly conns = new Set<Conn>();
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly handlerTimeoutMs: number;
  readonly lingerMs: number;
  readonly lingerWriteMs: number;
  closing = false;
  readonly onRefused: ((status: number, code: string) => void) | undefined;
  private readonly sweep: NodeJS.Timeout;

  constructor(readonly handler: HttpHandler, o: HttpServerOptions = {}) {
    this.maxHeaderBytes = o.maxHeaderBytes ?? 8192;
    this.maxBodyBytes = o.maxBodyBytes ?? 65536;
    this.headersTimeoutMs = o.headersTimeoutMs ?? 10_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 20_000;
    this.keepAliveTimeoutMs = o.keepAliveTimeoutMs ?? 60_000;
    this.handlerTimeoutMs = o.handlerTimeoutMs ?? 300_000;
    this.lingerMs = o.lingerMs ?? 2000;
    this.lingerWriteMs = Math.max(this.lingerMs, o.lingerWriteMs ?? 60_000);
    const maxConnections = o.maxConnections ?? 50_000;
    this.onRefused = o.onRefused;
    this.server = createServer({ noDelay: true }, (socket) => {
      if (this.closing || this.conns.size >= maxConnections) {
        socket.destroy();
        return;
      }
      const c = new Conn(socket, this);
      CONNS.set(socket, c);
      this.conns.add(c);
      socket.on('data', onData);
      socket.on('close', onClose);
      socket.on('error', onError);
    });
    // An error after listen (EMFILE on accept...) is reported and the server carries on; never an unhandled 'error'.
    this.server.on('error', (e: Error) => {
      if (this.server.listening) o.onError?.(e);
    });
    this.sweep = setInterval(() => this.expire(), Math.min(1000, Math.max(50, this.headersTimeoutMs / 4)));
    this.sweep.unref();
  }

  /** Acts on connections past their deadline, in every phase (one sweep for all of them). */
  private expire(): void {
    const now = Date.now();
    for (const c of this.conns) {
      if (now < c.deadline) continue;
      if (c.phase === Phase.Reading) c.fail(408, 'request not received in time');
      else if (c.phase === Phase.Handling) {
        c.aborted(); // the application releases what it holds for this request
        c.fail(503, 'the request was not answered in time');
      } else c.socket.destroy();
    }
  }

  listen(port: number, host: string): Promise<void> {
    return listenOn(this.server, port, host);
  }

  /** Connections open now. */
  get connections(): number {
    return this.conns.size;
  }

  /**
   * Stops listening and ends connections: idle ones at once, the others once
   * answered (each answer says `Connection: close`). Resolves as soon as every
   * connection is gone; those still open after `graceMs` are destroyed.
   */
  async close(graceMs = 1000): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // An answer still being written (Closing) gets the grace, as a request being handled does.
    for (const c of this.conns) if (c.phase !== Phase.Handling && c.phase !== Phase.Closing) c.socket.destroy();
    if (this.conns.size === 0) {
      clearInterval(this.sweep);
      return closed;
    }
    const t = setTimeout(() => {
      for (const c of this.conns) c.socket.destroy();
    }, graceMs);
    await closed;
    clearTimeout(t);
    clearInterval(this.sweep);
  }
}

/** Listens on `host:port` with a backlog for a crowd reconnecting at once; rejects on a listen error. */
export function listenOn(server: Server | import('node:http').Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Starts an {@link HttpServer} on `host:port` (port 0: ephemeral). */
export async function serveHttp(handler: HttpHandler, port: number, host: string, o?: HttpServerOptions): Promise<HttpServer> {
  const s = new HttpServer(handler, o);
  await s.listen(port, host);
  return s;
}
