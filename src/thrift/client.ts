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
import { backoffPolicy, type BackoffOptions, type BackoffPolicy } from '../backoff.js';
import { deadline, type Deadline } from '../deadline.js';
import { applyKeepAlive, type KeepAliveOptions } from '../keepalive.js';
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

/**
 * Reconnect policy: the library's one backoff policy (the same options as a
 * node's `reconnect` and an EPMD registration's). Defaults: `baseDelayMs`
 * 100, `maxDelayMs` 5000, `jitter` 0.5, `maxRetries` unlimited (after that
 * many failed attempts in a row the slot gives up). `delay(attempt, target)`
 * gets `host:port` as its target.
 */
export interface ThriftReconnectOptions extends BackoffOptions {
  /** @deprecated Use `baseDelayMs`. */
  initialDelayMs?: number;
  /** @deprecated Use `maxRetries`. */
  maxAttempts?: number;
}

function reconnectBackoff(o: ThriftReconnectOptions): BackoffPolicy {
  return backoffPolicy(
    { ...o, baseDelayMs: o.baseDelayMs ?? o.initialDelayMs, maxRetries: o.maxRetries ?? o.maxAttempts },
    { baseDelayMs: 100, maxRetries: Infinity },
  );
}

/** TCP keepalive and user timeout of a Thrift client socket (the one keepalive helper's options). */
export type ThriftKeepAliveOptions = KeepAliveOptions;

/** The Thrift client's keepalive defaults. */
const KEEPALIVE_DEFAULTS = { idleMs: 10_000, intervalMs: 5000, probes: 3, userTimeoutMs: 30_000 };

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
  /**
   * TCP keepalive settings, or `false` to leave the OS defaults. Defaults: idle
   * 10 s, probes every 5 s, 3 probes, TCP_USER_TIMEOUT 30 s.
   */
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

/** The delay before reconnect attempt `attempt` (1-based) under `o` (see {@link ThriftReconnectOptions}). */
export function backoffDelay(attempt: number, o: ThriftReconnectOptions = {}, target?: string): number {
  return reconnectBackoff(o).delayMs(attempt, target);
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
  wait: Deadline;
}

/** Call bookkeeping the client keeps around a PendingCall. */
interface CallState extends PendingCall {
  deadline?: Deadline;
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
  /** The reconnect policy; undefined for `reconnect: false`. */
  private readonly backoff: BackoffPolicy | undefined;

  private constructor(o: ThriftClientOptions) {
    super();
    this.o = o;
    this.backoff = o.reconnect === false ? undefined : reconnectBackoff(o.reconnect ?? {});
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
      const timer = deadline(
        { timeoutMs: ms },
        () => socket.destroy(new Error(`connect timed out after ${ms} ms`)),
        () => {},
      );
      const fail = (e: Error) => {
        timer.clear();
        socket.destroy();
        const err = new ThriftConnectError(this.host, this.port, e);
        slot.lastError = err;
        this.scheduleReconnect(slot, err);
        reject(err);
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        timer.clear();
        socket.removeListener('error', fail);
        if (this.closed) {
          socket.destroy();
          reject(new ThriftClientClosedError());
          return;
        }
        if (this.o.keepAlive !== false) applyKeepAlive(socket, this.o.keepAlive ?? {}, KEEPALIVE_DEFAULTS);
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
    const policy = this.backoff;
    slot.attempt++;
    if (policy === undefined || slot.attempt > policy.maxRetries) {
      slot.state = 'failed';
      if (this.slots.every((s) => s.state === 'failed' || s.state === 'closed')) {
        this.failWaiters(new ThriftNotConnectedError(`no connection to ${this.host}:${this.port} (reconnect gave up)`, { cause }));
      }
      return;
    }
    slot.state = 'backoff';
    const delayMs = policy.delayMs(slot.attempt, `${this.host}:${this.port}`);
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
      if (signal?.aborted) {
        reject(new ThriftAbortError(method.name, signal.reason));
        return;
      }
      const timeoutMs = opts?.timeoutMs ?? this.o.timeoutMs ?? 30_000;
      // Not unref'd: a pending call is work the process is waiting for.
      st.deadline = deadline(
        { timeoutMs, signal },
        () => this.cancel(st, new ThriftTimeoutError(method.name, timeoutMs)),
        (reason) => this.cancel(st, new ThriftAbortError(method.name, reason)),
      );
      this.dispatch(st);
    });
  }

  private settle(st: CallState): void {
    st.settled = true;
    st.deadline?.clear();
  }

  // Timeout or abort: forget the call wherever it is, then fail it.
  private cancel(st: CallState, err: Error): void {
    if (st.settled) return;
    st.conn?.forget(st);
    const i = this.waiters.findIndex((w) => w.call === st);
    if (i >= 0) {
      this.waiters[i]!.wait.clear();
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
    const wait = deadline(
      { timeoutMs: waitMs },
      () => {
        this.waiters = this.waiters.filter((w) => w.call !== st);
        st.reject(
          new ThriftNotConnectedError(`no connection to ${this.host}:${this.port} within ${waitMs} ms`, {
            cause: this.lastError(),
          }),
        );
      },
      () => {},
    );
    this.waiters.push({ call: st, wait });
  }

  private lastError(): Error | undefined {
    return this.slots.find((s) => s.lastError)?.lastError;
  }

  private drainWaiters(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      w.wait.clear();
      this.dispatch(w.call as CallState);
    }
  }

  private failWaiters(err: Error): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      w.wait.clear();
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
