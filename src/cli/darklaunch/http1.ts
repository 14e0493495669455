// A small HTTP/1.1 client for the simulated pages of one worker: keep-alive
// connections to one host (a held long-poll occupies one; freed connections
// are reused, warmest first), each request written in one write, answers read
// by Content-Length (or chunked, or to the end of the connection), and one
// deadline sweep per client instead of a timer per request. node:http's
// client costs about twice the CPU per request for the same exchange (its
// agent, parser and event plumbing dominated the simulator's profile), and at
// 10,000 users the simulator shares the machine with what it measures.
import { connect, type Socket } from 'node:net';

/** An answer: status, the headers the simulator reads, and the body as text. */
export interface RawResponse {
  status: number;
  /** The first Set-Cookie's `name=value`, if any. */
  cookie: string | undefined;
  retryAfter: string | undefined;
  body: string;
}

/** No answer: a socket error, a timeout (`TIMEOUT`) or a broken answer (`ERR_BAD_RESPONSE`). */
export interface RawFailure {
  code: string;
  message: string;
  /** The request went out on a kept-alive connection that had answered before (a browser retries those once). */
  reused: boolean;
}

export type RawResult = { ok: true; res: RawResponse } | { ok: false; error: RawFailure };

const CRLF2 = Buffer.from('\r\n\r\n');
/** How often the client looks for requests past their deadline. */
const SWEEP_MS = 250;

/** One request in flight on a connection. */
interface Pending {
  deadline: number;
  resolve: (r: RawResult) => void;
  onSent: (() => void) | undefined;
}

class Conn {
  readonly socket: Socket;
  pending: Pending | undefined;
  answered = 0;
  dead = false;
  private buf: Buffer | undefined;
  /** Once the head is read: the answer so far, and how many body bytes it needs (-1: to the end, -2: chunked). */
  private head: { status: number; cookie: string | undefined; retryAfter: string | undefined; close: boolean; need: number } | undefined;

  constructor(
    private readonly client: Http1Client,
    host: string,
    port: number,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (d: Buffer) => this.data(d));
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.fail(e.code ?? 'ERR_NETWORK', e.message));
    this.socket.on('close', () => this.fail(this.head?.need === -1 ? '' : 'ECONNRESET', 'socket hang up'));
  }

  send(text: string, p: Pending): void {
    this.pending = p;
    this.buf = undefined;
    this.head = undefined;
    if (p.onSent) this.socket.write(text, 'utf8', p.onSent);
    else this.socket.write(text, 'utf8');
  }

  private data(d: Buffer): void {
    this.buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    if (!this.pending) {
      // Bytes nobody asked for: the connection is out of step; drop it.
      this.kill();
      return;
    }
    if (!this.head) {
      const end = this.buf.indexOf(CRLF2);
      if (end < 0) return;
      const lines = this.buf.toString('latin1', 0, end).split('\r\n');
      this.buf = this.buf.subarray(end + 4);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      if (!m) return this.fail('ERR_BAD_RESPONSE', `not an HTTP/1.1 status line: ${lines[0].slice(0, 80)}`);
      let need = -1;
      let cookie: string | undefined;
      let retryAfter: string | undefined;
      let close = false;
      for (let i = 1; i < lines.length; i++) {
        const l = lines[i];
        const c = l.indexOf(':');
        const name = l.slice(0, c).toLowerCase();
        const value = l.slice(c + 1).trim();
        if (name === 'content-length') need = Number(value);
        else if (name === 'transfer-encoding' && /chunked/i.test(value)) need = -2;
        else if (name === 'set-cookie') cookie ??= value.split(';')[0];
        else if (name === 'retry-after') retryAfter = value;
        else if (name === 'connection' && /close/i.test(value)) close = true;
      }
      const status = Number(m[1]);
      // No body on 204 and 304, whatever the headers say (RFC 9112 section 6.3).
      if (status === 204 || status === 304) need = 0;
      this.head = { status, cookie, retryAfter, close, need };
    }
    const h = this.head;
    let body: Buffer | undefined;
    if (h.need >= 0 && this.buf.length >= h.need) body = this.buf.subarray(0, h.need);
    else if (h.need === -2) body = dechunk(this.buf);
    if (body === undefined) return;
    const p = this.pending;
    this.pending = undefined;
    this.head = undefined;
    this.buf = undefined;
    this.answered++;
    p.resolve({ ok: true, res: { status: h.status, cookie: h.cookie, retryAfter: h.retryAfter, body: body.toString('utf8') } });
    if (h.close) this.kill();
    else this.client.release(this);
  }

  /** The connection broke (or ended: an answer read to the end of the connection is complete then). */
  private fail(code: string, message: string): void {
    const p = this.pending;
    const h = this.head;
    this.pending = undefined;
    this.kill();
    if (!p) return;
    if (code === '' && h) p.resolve({ ok: true, res: { status: h.status, cookie: h.cookie, retryAfter: h.retryAfter, body: (this.buf ?? Buffer.alloc(0)).toString('utf8') } });
    else p.resolve({ ok: false, error: { code: code || 'ECONNRESET', message, reused: this.answered > 0 } });
  }

  /** Ends a request that ran past its deadline (and the connection with it). */
  expire(now: number): void {
    if (this.pending && now >= this.pending.deadline) this.fail('TIMEOUT', `no answer within the deadline`);
  }

  kill(): void {
    if (this.dead) return;
    this.dead = true;
    this.client.forget(this);
    this.socket.destroy();
  }
}

/** The body of a complete chunked answer, or undefined while it is incomplete. */
function dechunk(b: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(b.toString('latin1', at, eol), 16);
    if (!Number.isFinite(size)) return Buffer.alloc(0);
    if (size === 0) return b.indexOf('\r\n', eol + 2) < 0 ? undefined : Buffer.concat(parts);
    if (b.length < eol + 2 + size + 2) return undefined;
    parts.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Keep-alive HTTP/1.1 to one host:port. */
export class Http1Client {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly sweep: NodeJS.Timeout;
  private readonly hostLine: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxIdle: number,
  ) {
    this.hostLine = `Host: ${host.includes(':') ? `[${host}]` : host}:${port}\r\n`;
    this.sweep = setInterval(() => {
      const now = performance.now();
      for (const c of this.all) c.expire(now);
    }, SWEEP_MS);
  }

  /** Connections open now (held polls, calls in flight, idle). */
  get open(): number {
    return this.all.size;
  }

  /**
   * One request. `headers` are extra header lines, each ending in CRLF;
   * `body`, when given, is sent as JSON.
   */
  request(method: string, path: string, headers: string, body: string | undefined, timeoutMs: number, onSent?: () => void): Promise<RawResult> {
    let c = this.idle.pop();
    while (c?.dead) c = this.idle.pop();
    if (!c) {
      c = new Conn(this, this.host, this.port);
      this.all.add(c);
    }
    const text =
      body === undefined
        ? `${method} ${path} HTTP/1.1\r\n${this.hostLine}Accept: application/json\r\n${headers}\r\n`
        : `${method} ${path} HTTP/1.1\r\n${this.hostLine}Accept: application/json\r\n${headers}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const conn = c;
    return new Promise((resolve) => conn.send(text, { deadline: performance.now() + timeoutMs, resolve, onSent }));
  }

  /** A connection finished its answer and may carry the next request. */
  release(c: Conn): void {
    if (this.idle.length >= this.maxIdle) c.kill();
    else this.idle.push(c);
  }

  forget(c: Conn): void {
    this.all.delete(c);
  }

  /** Closes every connection (at the end of the run). */
  close(): void {
    clearInterval(this.sweep);
    for (const c of [...this.all]) c.kill();
    this.idle.length = 0;
  }
}
