// The Thrift client runtime under every generated client: a small pool of
// pipelined connections to one endpoint, per-call timeouts and AbortSignal,
// typed failures when a connection drops, reconnect with jittered capped
// backoff, a bounded wait (or fail-fast) while disconnected, TCP keepalive.
//
// Lifecycle of one pool slot:
//   connecting --ok--> open --socket closes--> backoff --timer--> connecting
//        \--fails--> backoff                      (gives up after maxAttempts)
// A call takes the open slot with the fewest calls in flight. With no open
// slot it waits (bounded) for one, or fails at once, as configured.
import { connect as netConnect, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { ClientConnection, type PendingCall } from './connection.js';
import { DEFAULT_MAX_FRAME_BYTES, type ProtocolName } from './protocol.js';
import {
  ThriftAbortError,
  ThriftClientClosedError,
  ThriftConnectError,
  ThriftNotConnectedError,
  ThriftTimeoutError,
} from './errors.js';
import type { CallOptions, MethodDescriptor } from './service.js';

/** Reconnect policy. The delay before attempt `n` (1-based) is `delay(n)` if given, else jittered exponential. */
export interface ThriftReconnectOptions {
  /** First delay, in ms (default 100). */
  initialDelayMs?: number;
  /** Cap on the delay, in ms (default 5000). */
  maxDelayMs?: number;
  /** Fraction of each delay that is random, 0..1 (default 0.5: a delay d becomes d/2 + random(d/2)). */
  jitter?: number;
  /** Give up after this many failed attempts in a row (default Infinity). */
  maxAttempts?: number;
  /** Overrides the computed delay: return the ms to wait before attempt `attempt`. */
  delay?: (attempt: number) => number;
}

/** TCP keepalive and user timeout, set through `net-keepalive`. */
export interface ThriftKeepAliveOptions {
  /** Idle time before the first probe, ms (default 10000). */
  idleMs?: number;
  /** Time between probes, ms (default 5000). */
  intervalMs?: number;
  /** Unanswered probes before the kernel drops the connection (default 3). */
  probes?: number;
  /** TCP_USER_TIMEOUT: drop the connection when sent data stays unacknowledged this long, ms (default 30000). */
  userTimeoutMs?: number;
}

/** Options of {@link ThriftClient.connect} and of every generated client's `connect`. */
export interface ThriftClientOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  port: number;
  /** Wire protocol (framed transport either way). Default `binary`. */
  protocol?: ProtocolName;
  /** Connections kept to the endpoint; calls are spread over them. Default 2. */
  poolSize?: number;
  /** Default per-call timeout in ms (default 30000; `Infinity` for none). */
  timeoutMs?: number;
  /** Timeout of one TCP connect attempt, ms (default 10000). */
  connectTimeoutMs?: number;
  /** With no open connection: `wait` (default) up to `maxDisconnectedWaitMs` for one, or `fail` at once. */
  whenDisconnected?: 'wait' | 'fail';
  /** Bound on that wait, ms (default 5000; the call's own timeout still applies). */
  maxDisconnectedWaitMs?: number;
  /** Reconnect policy, or `false` to never reconnect a dropped connection. */
  reconnect?: ThriftReconnectOptions | false;
  /** TCP keepalive settings, or `false` to leave the OS defaults. */
  keepAlive?: ThriftKeepAliveOptions | false;
  /** Largest reply frame accepted, bytes (default 16 MB). A larger one closes the connection. */
  maxFrameBytes?: number;
  /** First seqid on each connection (default 0). Seqids wrap from 2^31-1 to 0. Mostly for tests. */
  firstSeqId?: number;
}

/** Events a {@link ThriftClient} emits (it is an EventEmitter; none of them is `error`). */
export interface ThriftClientEvents {
  /** A pool slot connected (first time or after a reconnect). */
  connect: [info: { slot: number; host: string; port: number }];
  /** A pool slot's connection closed; its pending calls have been failed. */
  disconnect: [info: { slot: number; cause?: Error }];
  /** A pool slot will try again after `delayMs`. */
  reconnecting: [info: { slot: number; attempt: number; delayMs: number; cause?: Error }];
}

/** The default delay before reconnect attempt `attempt` (1-based): capped exponential with jitter. */
export function backoffDelay(attempt: number, o: ThriftReconnectOptions = {}): number {
  if (o.delay) return Math.max(0, o.delay(attempt));
  const initial = o.initialDelayMs ?? 100;
  const max = o.maxDelayMs ?? 5000;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const base = Math.min(max, initial * 2 ** Math.min(30, attempt - 1));
  return Math.round(base * (1 - jitter) + Math.random() * base * jitter);
}

type KeepAliveModule = {
  setKeepAliveInterval(s: Socket, ms: number): boolean;
  setKeepAliveProbes(s: Socket, n: number): boolean;
  setUserTimeout(s: Socket, ms: number): boolean;
};
let keepAliveModule: KeepAliveModule | null | undefined;
function loadKeepAlive(): KeepAliveModule | null {
  if (keepAliveModule === undefined) {
    try {
      keepAliveModule = createRequire(import.meta.url)('net-keepalive') as KeepAliveModule;
    } catch {
      keepAliveModule = null; // platform without the native binding: OS defaults apply
    }
  }
  return keepAliveModule;
}

/** Applies keepalive and user timeout to a connected socket. Returns false if the platform refused. */
export function applyKeepAlive(socket: Socket, o: ThriftKeepAliveOptions = {}): boolean {
  socket.setKeepAlive(true, o.idleMs ?? 10_000);
  const k = loadKeepAlive();
  if (!k) return false;
  try {
    k.setKeepAliveInterval(socket, o.intervalMs ?? 5000);
    k.setKeepAliveProbes(socket, o.probes ?? 3);
    k.setUserTimeout(socket, o.userTimeoutMs ?? 30_000);
    return true;
  } catch {
    return false;
  }
}

interface Slot {
  index: number;
  state: 'connecting' | 'open' | 'backoff' | 'failed' | 'closed';
  conn?: ClientConnection;
  attempt: number;
  timer?: NodeJS.Timeout;
  socket?: Socket;
  lastError?: Error;
}

interface Waiter {
  call: PendingCall;
  timer: NodeJS.Timeout;
}

/** Call bookkeeping the client keeps around a PendingCall. */
interface CallState extends PendingCall {
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
  settled: boolean;
}

/**
 * A pooled, pipelined Thrift client for one endpoint. Generated clients
 * (e.g. `ChatChannelClient`) wrap one; use it directly to call any
 * {@link MethodDescriptor}.
 */
export class ThriftClient extends EventEmitter<ThriftClientEvents> {
  readonly host: string;
  readonly port: number;
  readonly protocol: ProtocolName;
  private readonly o: ThriftClientOptions;
  private readonly slots: Slot[] = [];
  private waiters: Waiter[] = [];
  private closed = false;

  private constructor(o: ThriftClientOptions) {
    super();
    this.o = o;
    this.host = o.host ?? '127.0.0.1';
    this.port = o.port;
    this.protocol = o.protocol ?? 'binary';
  }

  /**
   * Opens the pool and resolves once one connection is up. Rejects with
   * ThriftConnectError (`ERR_THRIFT_CONNECT`) if every first attempt fails.
   */
  static async connect(o: ThriftClientOptions): Promise<ThriftClient> {
    const c = new ThriftClient(o);
    const n = Math.max(1, Math.floor(o.poolSize ?? 2));
    const attempts: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const slot: Slot = { index: i, state: 'connecting', attempt: 0 };
      c.slots.push(slot);
      attempts.push(c.open(slot));
    }
    try {
      await Promise.any(attempts);
    } catch (e) {
      const first = (e as AggregateError).errors?.[0];
      await c.close();
      throw first instanceof Error ? first : new ThriftConnectError(c.host, c.port, e);
    }
    return c;
  }

  /** Number of open connections in the pool. */
  get connected(): number {
    return this.slots.filter((s) => s.state === 'open').length;
  }

  /** Calls sent and awaiting a reply, plus calls waiting for a connection. */
  get pendingCalls(): number {
    let n = this.waiters.length;
    for (const s of this.slots) n += s.conn?.pending.size ?? 0;
    return n;
  }

  // One TCP connect attempt for a slot; on success the slot is open.
  private open(slot: Slot): Promise<void> {
    slot.state = 'connecting';
    return new Promise<void>((resolve, reject) => {
      const socket = netConnect({ host: this.host, port: this.port });
      slot.socket = socket;
      socket.setNoDelay(true);
      const ms = this.connectTimeoutMs;
      const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${ms} ms`)), ms);
      const fail = (e: Error) => {
        clearTimeout(timer);
        socket.destroy();
        const err = new ThriftConnectError(this.host, this.port, e);
        slot.lastError = err;
        this.scheduleReconnect(slot, err);
        reject(err);
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', fail);
        if (this.closed) {
          socket.destroy();
          reject(new ThriftClientClosedError());
          return;
        }
        if (this.o.keepAlive !== false) applyKeepAlive(socket, this.o.keepAlive);
        slot.conn = new ClientConnection(socket, {
          protocol: this.protocol,
          maxFrameBytes: this.o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
          firstSeqId: this.o.firstSeqId ?? 0,
          onClose: (conn, cause) => this.onConnClose(slot, conn, cause),
        });
        slot.state = 'open';
        slot.attempt = 0;
        this.emit('connect', { slot: slot.index, host: this.host, port: this.port });
        this.drainWaiters();
        resolve();
      });
    });
  }

  private get connectTimeoutMs(): number {
    return this.o.connectTimeoutMs ?? 10_000;
  }

  private onConnClose(slot: Slot, conn: ClientConnection, cause: Error | undefined): void {
    if (slot.conn !== conn) return;
    slot.conn = undefined;
    this.emit('disconnect', cause === undefined ? { slot: slot.index } : { slot: slot.index, cause });
    this.scheduleReconnect(slot, cause);
  }

  private scheduleReconnect(slot: Slot, cause: Error | undefined): void {
    if (this.closed) {
      slot.state = 'closed';
      return;
    }
    const policy = this.o.reconnect;
    slot.attempt++;
    if (policy === false || slot.attempt > (policy?.maxAttempts ?? Infinity)) {
      slot.state = 'failed';
      if (this.slots.every((s) => s.state === 'failed' || s.state === 'closed')) {
        this.failWaiters(new ThriftNotConnectedError(`no connection to ${this.host}:${this.port} (reconnect gave up)`, { cause }));
      }
      return;
    }
    slot.state = 'backoff';
    const delayMs = backoffDelay(slot.attempt, policy || {});
    this.emit('reconnecting', { slot: slot.index, attempt: slot.attempt, delayMs, ...(cause ? { cause } : {}) });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.closed) return;
      this.open(slot).catch(() => {
        /* open() already scheduled the next attempt */
      });
    }, delayMs);
    slot.timer.unref();
  }

  /**
   * Calls one service method. Resolves with its result; rejects with the
   * declared exception the server sent, or with a typed BeamBridgeError:
   * ThriftTimeoutError, ThriftAbortError, ThriftConnectionLostError,
   * ThriftNotConnectedError, ThriftApplicationError, ThriftProtocolError,
   * ThriftEncodeError, ThriftClientClosedError.
   */
  call<A extends unknown[], R>(method: MethodDescriptor<A, R>, args: A, opts?: CallOptions): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.closed) {
        reject(new ThriftClientClosedError());
        return;
      }
      const signal = opts?.signal;
      if (signal?.aborted) {
        reject(new ThriftAbortError(method.name, signal.reason));
        return;
      }
      const st: CallState = {
        method,
        args,
        settled: false,
        resolve: (v) => {
          if (st.settled) return;
          this.settle(st);
          resolve(v as R);
        },
        reject: (e) => {
          if (st.settled) return;
          this.settle(st);
          reject(e);
        },
      };
      const timeoutMs = opts?.timeoutMs ?? this.o.timeoutMs ?? 30_000;
      if (Number.isFinite(timeoutMs)) {
        // Not unref'd: a pending call is work the process is waiting for.
        st.timer = setTimeout(() => this.cancel(st, new ThriftTimeoutError(method.name, timeoutMs)), Math.max(0, timeoutMs));
      }
      if (signal) {
        st.signal = signal;
        st.onAbort = () => this.cancel(st, new ThriftAbortError(method.name, signal.reason));
        signal.addEventListener('abort', st.onAbort, { once: true });
      }
      this.dispatch(st);
    });
  }

  private settle(st: CallState): void {
    st.settled = true;
    if (st.timer) clearTimeout(st.timer);
    if (st.signal && st.onAbort) st.signal.removeEventListener('abort', st.onAbort);
  }

  // Timeout or abort: forget the call wherever it is, then fail it.
  private cancel(st: CallState, err: Error): void {
    if (st.settled) return;
    st.conn?.forget(st);
    const i = this.waiters.findIndex((w) => w.call === st);
    if (i >= 0) {
      clearTimeout(this.waiters[i]!.timer);
      this.waiters.splice(i, 1);
    }
    st.reject(err);
  }

  private pickConnection(): ClientConnection | undefined {
    let best: ClientConnection | undefined;
    for (const s of this.slots) {
      const c = s.conn;
      if (s.state === 'open' && c && !c.closed && (best === undefined || c.pending.size < best.pending.size)) best = c;
    }
    return best;
  }

  private dispatch(st: CallState): void {
    const conn = this.pickConnection();
    if (conn) {
      try {
        conn.send(st);
      } catch (e) {
        st.reject(e as Error);
      }
      return;
    }
    const allFailed = this.slots.every((s) => s.state === 'failed' || s.state === 'closed');
    if (this.o.whenDisconnected === 'fail' || allFailed) {
      st.reject(new ThriftNotConnectedError(`no open connection to ${this.host}:${this.port}`, { cause: this.lastError() }));
      return;
    }
    const waitMs = this.o.maxDisconnectedWaitMs ?? 5000;
    const timer = setTimeout(() => {
      this.waiters = this.waiters.filter((w) => w.call !== st);
      st.reject(
        new ThriftNotConnectedError(`no connection to ${this.host}:${this.port} within ${waitMs} ms`, {
          cause: this.lastError(),
        }),
      );
    }, waitMs);
    this.waiters.push({ call: st, timer });
  }

  private lastError(): Error | undefined {
    return this.slots.find((s) => s.lastError)?.lastError;
  }

  private drainWaiters(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      this.dispatch(w.call as CallState);
    }
  }

  private failWaiters(err: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.call.reject(err);
    }
  }

  /**
   * Closes every connection and stops reconnecting. Calls still pending fail
   * with ThriftConnectionLostError, calls waiting for a connection with
   * ThriftClientClosedError. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failWaiters(new ThriftClientClosedError());
    const closing: Promise<unknown>[] = [];
    for (const s of this.slots) {
      if (s.timer) clearTimeout(s.timer);
      const sock = s.conn?.socket ?? s.socket;
      if (sock && !sock.destroyed) closing.push(new Promise((r) => sock.once('close', r)));
      s.conn?.destroy(new ThriftClientClosedError());
      s.socket?.destroy();
      s.state = 'closed';
    }
    await Promise.all(closing);
  }
}
