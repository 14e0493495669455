// An embedded EPMD for machines that have none. Real `erl` nodes register with
// it, `epmd -names` and `net_adm:names()` list them, and PORT_PLEASE2 answers
// from the registrations or from an embedder's `resolve` hook (used by the CLI
// to answer lookups for a node with a relay port). A registration lives as long
// as the socket that made it. Spec: erl_dist_protocol, "EPMD Protocol".
import { createServer, type Server, type Socket } from 'node:net';
import { EventEmitter, once } from 'node:events';
import { randomInt } from 'node:crypto';
import { deadline } from '../deadline.js';
import { EpmdError } from './errors.js';
import {
  EPMD,
  EPMD_DEFAULT_PORT,
  encodeAlive2Resp,
  encodeNamesResp,
  encodePort2Resp,
  nodeInfo,
  parseAlive2Req,
  decodeUtf8,
  type EpmdNodeInfo,
} from './protocol.js';

/** Options of {@link EpmdServer.start}. */
export interface EpmdServerOptions {
  /** Address to listen on; default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; default 4369. 0 picks a free port (see {@link EpmdServer.port}). */
  port?: number;
  /**
   * Consulted first for every PORT_PLEASE2 request. Return a port (the node is
   * reported as a normal node speaking version 6), a full or partial
   * {@link EpmdNodeInfo}, or `undefined` to fall back to the registrations.
   */
  resolve?: (name: string) => number | (Partial<EpmdNodeInfo> & { port: number }) | undefined;
  /**
   * Honour KILL_REQ and STOP_REQ from local clients (like `epmd
   * -relaxed_command_check`). Default false: KILL answers "NO", STOP "NOEXIST".
   */
  relaxedCommandCheck?: boolean;
  /** A client that has not sent a complete request by then is dropped; default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Most concurrent client connections; default 1024. */
  maxConnections?: number;
}

/** One registered node. */
export interface EpmdRegistrationInfo extends EpmdNodeInfo {
  creation: number;
}

const MAX_REQUEST = 4096;

function isLoopback(addr: string | undefined): boolean {
  if (addr === undefined) return false;
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

/**
 * The embedded EPMD server.
 *
 * Events: `'register'` (info: EpmdRegistrationInfo), `'unregister'` (info),
 * `'clientError'` (err: EpmdError) for a malformed request (that client is
 * dropped), `'kill'` after an honoured KILL_REQ (the server has closed).
 */
export class EpmdServer extends EventEmitter {
  private readonly server: Server;
  private readonly nodes = new Map<string, { info: EpmdRegistrationInfo; socket: Socket }>();
  private readonly sockets = new Set<Socket>();
  private readonly opts: EpmdServerOptions;
  private listenPort = 0;

  private constructor(opts: EpmdServerOptions) {
    super();
    this.opts = opts;
    this.server = createServer((s) => this.onConnection(s));
    this.server.maxConnections = opts.maxConnections ?? 1024;
  }

  /** Starts listening; rejects if the port is taken. */
  static async start(opts: EpmdServerOptions = {}): Promise<EpmdServer> {
    const srv = new EpmdServer(opts);
    srv.server.listen(opts.port ?? EPMD_DEFAULT_PORT, opts.host ?? '127.0.0.1');
    try {
      await Promise.race([
        once(srv.server, 'listening'),
        once(srv.server, 'error').then(([e]) => Promise.reject(e)),
      ]);
    } catch (e) {
      const where = `${opts.host ?? '127.0.0.1'}:${opts.port ?? EPMD_DEFAULT_PORT}`;
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new EpmdError('ERR_PORT_IN_USE', `embedded EPMD cannot listen on ${where}: the port is already in use (another epmd?)`, { cause: e });
      }
      throw new EpmdError('ERR_EPMD_UNREACHABLE', `embedded EPMD cannot listen on ${where}: ${(e as Error).message}`, { cause: e });
    }
    const a = srv.server.address();
    srv.listenPort = typeof a === 'object' && a !== null ? a.port : 0;
    return srv;
  }

  /** The port the server listens on. */
  get port(): number {
    return this.listenPort;
  }

  /** The registered nodes, in registration order. */
  registrations(): EpmdRegistrationInfo[] {
    return [...this.nodes.values()].map((n) => n.info);
  }

  /** What PORT_PLEASE2 would answer for `name`. */
  lookup(name: string): EpmdNodeInfo | undefined {
    const r = this.opts.resolve?.(name);
    if (r !== undefined) return typeof r === 'number' ? nodeInfo({ name, port: r }) : nodeInfo({ ...r, name });
    return this.nodes.get(name)?.info;
  }

  /** Stops listening and drops every client (which unregisters every node). */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(s: Socket): void {
    this.sockets.add(s);
    s.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let registered: string | undefined;
    const timer = deadline({ timeoutMs: this.opts.requestTimeoutMs ?? 10_000 }, () => s.destroy(), () => {}, true);
    s.on('error', () => {});
    s.on('close', () => {
      timer.clear();
      this.sockets.delete(s);
      if (registered !== undefined) {
        const n = this.nodes.get(registered);
        if (n && n.socket === s) {
          this.nodes.delete(registered);
          this.emit('unregister', n.info);
        }
      }
    });
    s.on('data', (d: Buffer) => {
      if (registered !== undefined) return; // a registration socket carries nothing more
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (buf.length < 2) return;
      const len = buf.readUInt16BE(0);
      if (len === 0 || len > MAX_REQUEST) return this.reject(s, `bad request length ${len}`);
      if (buf.length < 2 + len) return;
      if (buf.length > 2 + len) return this.reject(s, 'bytes after the request');
      timer.clear();
      const body = buf.subarray(2, 2 + len);
      buf = Buffer.alloc(0);
      try {
        registered = this.handle(s, body);
      } catch (e) {
        this.reject(s, (e as Error).message);
      }
    });
  }

  private reject(s: Socket, why: string): void {
    this.emit('clientError', new EpmdError('ERR_EPMD_PROTOCOL', `EPMD client ${s.remoteAddress}:${s.remotePort}: ${why}`));
    s.destroy();
  }

  /** Serves one request; returns the registered name for an ALIVE2_REQ. */
  private handle(s: Socket, body: Buffer): string | undefined {
    const local = isLoopback(s.remoteAddress);
    switch (body[0]) {
      case EPMD.ALIVE2_REQ: {
        if (!local) {
          s.destroy();
          return undefined;
        }
        const req = parseAlive2Req(body);
        const extended = req.highestVersion >= 6;
        if (this.nodes.has(req.name)) {
          s.write(encodeAlive2Resp(1, 0, extended));
          s.end();
          return undefined;
        }
        // A fresh 32-bit creation; 0..3 are the values of pre-OTP-23 nodes.
        const info: EpmdRegistrationInfo = { ...req, creation: randomInt(4, 0xffffffff) };
        this.nodes.set(req.name, { info, socket: s });
        s.setKeepAlive(true, 30_000);
        s.write(encodeAlive2Resp(0, extended ? info.creation : (info.creation % 3) + 1, extended));
        this.emit('register', info);
        return req.name;
      }
      case EPMD.PORT_PLEASE2_REQ: {
        const name = decodeUtf8(body.subarray(1));
        if (name === undefined) throw new Error('PORT_PLEASE2 name is not UTF-8');
        s.end(encodePort2Resp(this.lookup(name)));
        return undefined;
      }
      case EPMD.NAMES_REQ:
        s.end(encodeNamesResp(this.port, this.registrations()));
        return undefined;
      case EPMD.DUMP_REQ: {
        const head = Buffer.allocUnsafe(4);
        head.writeUInt32BE(this.port, 0);
        // There are no file descriptors to show; the ordinal stands in for one.
        const lines = this.registrations()
          .map((n, i) => `active name     <${n.name}> at port ${n.port}, fd = ${i + 1}\n`)
          .join('');
        s.end(Buffer.concat([head, Buffer.from(lines, 'utf8')]));
        return undefined;
      }
      case EPMD.KILL_REQ:
        if (local && this.opts.relaxedCommandCheck) {
          s.end('OK');
          void this.close().then(() => this.emit('kill'));
        } else {
          s.end('NO');
        }
        return undefined;
      case EPMD.STOP_REQ: {
        const name = decodeUtf8(body.subarray(1));
        const n = name === undefined ? undefined : this.nodes.get(name);
        if (local && this.opts.relaxedCommandCheck && n) {
          n.socket.destroy();
          s.end('STOPPED');
        } else {
          s.end('NOEXIST');
        }
        return undefined;
      }
      default:
        throw new Error(`unknown request tag ${body[0]}`);
    }
  }
}
