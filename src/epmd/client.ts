// EPMD client: ALIVE2 registration kept for the node's lifetime (re-registered
// with the library's backoff policy when the EPMD goes away), PORT_PLEASE2 and
// NAMES. Spec: erl_dist_protocol, "EPMD Protocol". Replies may arrive split
// over any number of reads; each request buffers until its reply is complete.
// Every error names the EPMD (host:port) it was about.
import type { Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { backoffPolicy, type BackoffOptions, type BackoffPolicy } from '../backoff.js';
import { connectWithDeadline, withDeadline } from '../deadline.js';
import { EpmdError } from './errors.js';
import {
  EPMD_DEFAULT_PORT,
  NODE_TYPE_HIDDEN,
  NODE_TYPE_NORMAL,
  encodeAlive2Req,
  encodeNamesReq,
  encodePortPlease2Req,
  nameBytes,
  nodeInfo,
  parseAlive2Resp,
  parseNamesResp,
  parsePort2Resp,
  type EpmdNameEntry,
  type EpmdNodeInfo,
} from './protocol.js';

/** Where the EPMD is and how long to wait for it. */
export interface EpmdClientOptions {
  /** EPMD host; default `127.0.0.1`. Registration always uses this host. */
  host?: string;
  /** EPMD port; default `$ERL_EPMD_PORT` or 4369. */
  port?: number;
  /** Deadline for one request (connect + reply); default 10 000 ms (as OTP's erl_epmd). */
  timeoutMs?: number;
}

/** Per-call options: a deadline and a cancellation signal. */
export interface EpmdCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Ask the EPMD on another host (PORT_PLEASE2 / NAMES only). */
  host?: string;
}

/** What {@link EpmdClient.register} registers. */
export interface EpmdRegisterOptions {
  /** The alive name (the part before `@`). */
  name: string;
  /** The distribution listen port. */
  port: number;
  /** Register as a hidden node (NodeType 72); default false (77). */
  hidden?: boolean;
  extra?: Buffer;
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * How re-registration is retried after the EPMD connection is lost (the
   * library's one backoff policy): default `baseDelayMs` 100, `maxDelayMs`
   * 5000, `jitter` 0.5, and `maxRetries` unlimited (it retries until it
   * succeeds or the registration is closed).
   */
  reconnect?: BackoffOptions;
}

/** The re-registration policy of `o` (see {@link EpmdRegisterOptions.reconnect}). */
export function registrationBackoff(o: BackoffOptions = {}): BackoffPolicy {
  return backoffPolicy(o, { baseDelayMs: 100, maxRetries: Infinity });
}

/** Why a connection to the EPMD failed, with what to do about it. */
const UNREACHABLE_HINT = 'is epmd running there? Start it (`epmd -daemon`), or give the node `epmd: { embedded: true }`';

function envPort(): number {
  const p = Number(process.env.ERL_EPMD_PORT);
  return Number.isInteger(p) && p > 0 && p < 65536 ? p : EPMD_DEFAULT_PORT;
}

/** Talks to one EPMD. Stateless apart from its options; safe to share. */
export class EpmdClient {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;

  constructor(opts: EpmdClientOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? envPort();
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /**
   * PORT_PLEASE2: where does node `name` (alive part) listen? Resolves
   * `undefined` when the EPMD does not know it.
   */
  async portPlease(name: string, opts: EpmdCallOptions = {}): Promise<EpmdNodeInfo | undefined> {
    const req = encodePortPlease2Req(name);
    const r = await this.request(req, opts, (buf, ended) => {
      const v = parsePort2Resp(buf);
      if (v === undefined && ended) {
        throw new EpmdError('ERR_EPMD_CLOSED', `EPMD closed before a full PORT2_RESP (${buf.length} bytes)`);
      }
      return v;
    });
    return r ?? undefined;
  }

  /** NAMES: every node registered in the EPMD. */
  async names(opts: EpmdCallOptions = {}): Promise<EpmdNameEntry[]> {
    const r = await this.request(encodeNamesReq(), opts, (buf, ended) => (ended ? parseNamesResp(buf) : undefined));
    return r.nodes;
  }

  /**
   * ALIVE2: registers a node and keeps the registration for as long as the
   * returned {@link EpmdRegistration} is open. Rejects with
   * `ERR_EPMD_NAME_TAKEN` when the name is in use, `ERR_EPMD_UNREACHABLE`
   * when there is no EPMD.
   */
  async register(o: EpmdRegisterOptions): Promise<EpmdRegistration> {
    nameBytes(o.name);
    const reg = new EpmdRegistration(this, o);
    await reg.start(o.signal);
    return reg;
  }

  /** `host:port` of the EPMD a request to `host` goes to (for messages). */
  where(host: string = this.host): string {
    return `${host}:${this.port}`;
  }

  /** @internal Opens a socket to the EPMD, with deadline and abort. */
  openSocket(host: string, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
    const at = this.where(host);
    return connectWithDeadline(host, this.port, { timeoutMs, signal }, {
      timeout: () => new EpmdError('ERR_EPMD_TIMEOUT', `connecting to EPMD at ${at} timed out after ${timeoutMs} ms; ${UNREACHABLE_HINT}`),
      abort: (reason) => abortError(reason),
      failed: (e) => new EpmdError('ERR_EPMD_UNREACHABLE', `cannot reach EPMD at ${at}: ${e.message}; ${UNREACHABLE_HINT}`, { cause: e }),
    });
  }

  /**
   * One request/response exchange. `parse` sees all bytes so far and whether
   * the EPMD has closed; it returns the answer, `undefined` to keep reading, or
   * throws.
   */
  private async request<T>(
    req: Buffer,
    opts: EpmdCallOptions,
    parse: (buf: Buffer, ended: boolean) => T | undefined,
  ): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const host = opts.host ?? this.host;
    const at = this.where(host);
    const started = Date.now();
    const s = await this.openSocket(host, timeoutMs, opts.signal);
    return withDeadline<T>(
      { timeoutMs: Math.max(0, timeoutMs - (Date.now() - started)), signal: opts.signal },
      {
        timeout: () => new EpmdError('ERR_EPMD_TIMEOUT', `EPMD at ${at} did not answer in ${timeoutMs} ms`),
        abort: (reason) => abortError(reason),
      },
      (resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let settled = false;
        const finish = (err: Error | undefined, v?: T) => {
          if (settled) return;
          settled = true;
          if (err) reject(err);
          else resolve(v as T);
        };
        const step = (ended: boolean) => {
          try {
            const v = parse(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size), ended);
            if (v !== undefined) finish(undefined, v);
          } catch (e) {
            finish(e as Error);
          }
        };
        s.on('data', (d: Buffer) => {
          chunks.push(d);
          size += d.length;
          step(false);
        });
        s.on('end', () => step(true));
        s.on('close', () => {
          if (!settled) step(true);
          finish(new EpmdError('ERR_EPMD_CLOSED', `EPMD at ${at} closed the connection`));
        });
        s.on('error', (e) => finish(new EpmdError('ERR_EPMD_CLOSED', `EPMD connection to ${at} failed: ${e.message}`, { cause: e })));
        s.write(req);
        return () => {
          settled = true;
          s.destroy();
        };
      },
    );
  }
}

function abortError(reason: unknown): EpmdError {
  return new EpmdError('ERR_ABORTED', 'aborted', { cause: reason });
}

/** The state of an {@link EpmdRegistration}. */
export type EpmdRegistrationState = 'registered' | 'reconnecting' | 'closed';

/**
 * A live ALIVE2 registration: the TCP connection to the EPMD that keeps the
 * name registered (closing it unregisters). When the EPMD closes the socket
 * (for instance it restarted), the registration is retried with the backoff
 * policy of {@link EpmdRegisterOptions.reconnect} until it succeeds, the
 * retries are spent (the registration is then closed), or {@link close} is
 * called.
 *
 * Events: `'registered'` (creation: number) after every successful ALIVE2,
 * including re-registrations; `'lost'` (error: EpmdError) when the EPMD
 * connection drops; `'retryFailed'` (error, attempt) when a re-registration
 * attempt fails (it will be retried).
 */
export class EpmdRegistration extends EventEmitter {
  /** The registered alive name. */
  readonly name: string;
  /** The creation the EPMD gave in its latest ALIVE2 reply. */
  creation = 0;
  /** Number of successful registrations so far (1 after start). */
  registrations = 0;
  private socket: Socket | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly info: EpmdNodeInfo;
  private readonly policy: BackoffPolicy;

  /** @internal Use {@link EpmdClient.register}. */
  constructor(
    private readonly client: EpmdClient,
    private readonly opts: EpmdRegisterOptions,
  ) {
    super();
    this.name = opts.name;
    this.policy = registrationBackoff(opts.reconnect);
    this.info = nodeInfo({
      name: opts.name,
      port: opts.port,
      nodeType: opts.hidden ? NODE_TYPE_HIDDEN : NODE_TYPE_NORMAL,
      extra: opts.extra,
    });
  }

  /** `registered`, `reconnecting` (EPMD lost, retrying) or `closed`. */
  get state(): EpmdRegistrationState {
    if (this.closed) return 'closed';
    return this.socket ? 'registered' : 'reconnecting';
  }

  /** @internal First registration; failures reject. */
  async start(signal?: AbortSignal): Promise<void> {
    await this.attemptOnce(signal);
  }

  private async attemptOnce(signal?: AbortSignal): Promise<void> {
    const timeoutMs = this.opts.timeoutMs ?? this.client.timeoutMs;
    const at = this.client.where();
    const s = await this.client.openSocket(this.client.host, timeoutMs, signal);
    let buf: Buffer = Buffer.alloc(0);
    const creation = await withDeadline<number>(
      { timeoutMs, signal },
      {
        timeout: () => new EpmdError('ERR_EPMD_TIMEOUT', `no ALIVE2 reply from EPMD at ${at} within ${timeoutMs} ms`),
        abort: (reason) => abortError(reason),
      },
      (resolve, reject) => {
        let ok = false;
        const onData = (d: Buffer) => {
          buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
          let r;
          try {
            r = parseAlive2Resp(buf);
          } catch (e) {
            return reject(e as Error);
          }
          if (r === undefined) return;
          if (r.result !== 0) {
            return reject(
              new EpmdError(
                'ERR_EPMD_NAME_TAKEN',
                `EPMD at ${at} refused to register ${this.name} (result ${r.result}): a node of that name is running; pick another name or stop that node`,
              ),
            );
          }
          ok = true;
          resolve(r.creation);
        };
        const onClose = () => reject(new EpmdError('ERR_EPMD_CLOSED', `EPMD at ${at} closed the connection during ALIVE2`));
        const onError = (e: Error) => reject(new EpmdError('ERR_EPMD_CLOSED', `EPMD connection to ${at} failed: ${e.message}`, { cause: e }));
        s.on('data', onData);
        s.on('close', onClose);
        s.on('error', onError);
        s.write(encodeAlive2Req(this.info));
        return () => {
          s.removeListener('data', onData);
          s.removeListener('close', onClose);
          s.removeListener('error', onError);
          if (!ok) s.destroy();
        };
      },
    );
    if (this.closed) {
      s.destroy();
      return;
    }
    this.socket = s;
    this.creation = creation;
    this.registrations++;
    this.attempt = 0;
    s.setKeepAlive(true, 30_000);
    // Anything else the EPMD sends on this socket is ignored; its close means
    // the registration is gone.
    s.on('data', () => {});
    s.on('error', () => {});
    s.once('close', () => this.onLost());
    this.emit('registered', creation);
  }

  private onLost(): void {
    this.socket = undefined;
    if (this.closed) return;
    this.emit('lost', new EpmdError('ERR_EPMD_CLOSED', `EPMD connection for ${this.name} lost`));
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    this.attempt++;
    if (this.attempt > this.policy.maxRetries) {
      // Out of retries: the registration is given up (closed).
      this.closed = true;
      return;
    }
    const delay = this.policy.delayMs(this.attempt, this.name);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.attemptOnce().catch((e: unknown) => {
        if (this.closed) return;
        this.emit('retryFailed', e, this.attempt);
        this.scheduleRetry();
      });
    }, delay);
    this.retryTimer.unref();
  }

  /** Unregisters (closes the EPMD connection) and stops retrying. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const s = this.socket;
    this.socket = undefined;
    if (s && !s.destroyed) {
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.destroy();
      });
    }
  }
}
