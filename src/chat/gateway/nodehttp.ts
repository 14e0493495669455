// The gateway's handler on plain node:http, with the same limits and
// deadlines as http.ts. Not the default: bench/gateway.mjs runs the very same
// gateway on both servers in one run, so the figures it prints compare the
// HTTP layers and nothing else.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOn, type HttpHandler, type HttpRequest, type HttpResponse, type HttpServerOptions } from './http.js';

class NodeResponse implements HttpResponse {
  done = false;
  private abortCb: (() => void) | undefined;

  constructor(private readonly res: ServerResponse, private readonly srv: NodeHttpServer) {
    res.on('close', () => {
      if (this.done) return;
      this.done = true;
      this.abortCb?.();
    });
  }

  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }

  send(status: number, headers: Record<string, string | number>, body: Buffer | string = ''): void {
    if (this.done) return;
    this.done = true;
    const b = typeof body === 'string' ? Buffer.from(body) : body;
    // A server that is closing ends every connection after its answer.
    if (this.srv.closing) this.res.shouldKeepAlive = false;
    // node:http leaves the body out of an answer to HEAD by itself.
    this.res.writeHead(status, { ...headers, 'Content-Length': b.length });
    this.res.end(b);
  }
}

/** The same surface as `HttpServer` (http.ts), over node:http. */
export class NodeHttpServer {
  readonly server: Server;
  closing = false;
  private open = 0;

  constructor(handler: HttpHandler, o: HttpServerOptions = {}) {
    const maxBody = o.maxBodyBytes ?? 65_536;
    this.server = createServer({ maxHeaderSize: o.maxHeaderBytes ?? 8192, noDelay: true }, (req: IncomingMessage, res: ServerResponse) => {
      const r = new NodeResponse(res, this);
      const tooLarge = () => {
        o.onRefused?.(413, 'too_large');
        res.shouldKeepAlive = false;
        r.send(413, { 'Content-Type': 'application/json' }, JSON.stringify({ error: { code: 'too_large', message: `request body over ${maxBody} bytes` } }));
      };
      const len = Number(req.headers['content-length'] ?? 0);
      if (len > maxBody) return tooLarge();
      // The body as it comes (Content-Length or chunked): over the limit, 413 and the rest is not read.
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= maxBody) chunks.push(c);
        else if (!r.done) {
          chunks.length = 0;
          tooLarge();
          req.socket.destroySoon();
        }
      });
      req.on('end', () => {
        if (size > maxBody) return;
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        const headers = new Map<string, string>();
        for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
        const request: HttpRequest = {
          method: req.method ?? 'GET',
          path: q < 0 ? url : url.slice(0, q),
          query: q < 0 ? '' : url.slice(q + 1),
          headers,
          body: Buffer.concat(chunks),
          keepAlive: !this.closing,
          remoteAddress: req.socket.remoteAddress,
        };
        try {
          handler(request, r);
        } catch {
          r.send(500, {}, '');
        }
      });
    });
    this.server.headersTimeout = o.headersTimeoutMs ?? 10_000;
    this.server.requestTimeout = 0; // held polls are bounded by the gateway itself
    this.server.keepAliveTimeout = o.keepAliveTimeoutMs ?? 60_000;
    // An error after listen (EMFILE on accept...) is reported and the server carries on; never an unhandled 'error'.
    this.server.on('error', (e: Error) => {
      if (this.server.listening) o.onError?.(e);
    });
    this.server.on('connection', (s) => {
      this.open++;
      s.once('close', () => this.open--);
    });
  }

  get connections(): number {
    return this.open;
  }

  listen(port: number, host: string): Promise<void> {
    return listenOn(this.server, port, host);
  }

  /** Stops listening, ends idle connections at once and the others once answered; resolves when none is left, destroying what remains after `graceMs`. */
  async close(graceMs = 1000): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.open === 0) return closed;
    const t = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(t);
  }
}
