// The connection table of a node: one live DistConnection per peer, the
// handshakes in progress in both directions, auto-connect with a queue that
// keeps per-pair order, and OTP's simultaneous-connect rule (see the header
// of src/dist/index.ts), TLS in both directions when configured, and the
// reconnect backoff (reconnect.ts): after a failed dial the next one to that
// peer waits, and the messages sent meanwhile wait in order. Nothing is kept
// for a peer that has not passed the cookie check except a transient
// "incoming handshake in progress" mark.
import type { Socket } from 'node:net';
import {
  DistConnection,
  DistError,
  acceptHandshake,
  dial,
  resolveSimultaneous,
  type AcceptDecision,
  type DistConnectionOptions,
  type HandshakeResult,
  type OutgoingSignal,
  type PeerHello,
  type DistTlsOptions,
} from '../dist/index.js';
import type { EpmdClient } from '../epmd/index.js';
import { NodeError, abortError } from './errors.js';
import type { PeerStatus, ReconnectPolicy } from './reconnect.js';

/** Builds the wire form of a signal once the connection (and its flags) is known; undefined to drop it. */
export type SignalBuilder = (flags: bigint) => OutgoingSignal | undefined;

/** Settings the table needs from its node. */
export interface PeersConfig {
  name: string;
  cookie: string | ((peer: string) => string);
  creation: number;
  flags: bigint;
  epmd: EpmdClient;
  /** Per-step handshake deadline (net_setuptime). */
  setupTimeMs: number;
  connection: DistConnectionOptions;
  /** Distribution over TLS, both directions. */
  tls: DistTlsOptions | undefined;
  reconnect: ReconnectPolicy;
}

/** What the node is told about the table's life. */
export interface PeersEvents {
  /** A connection is up (after the handshake, before queued signals are written). */
  up(conn: DistConnection): void;
  /** A connection went down (`err` undefined for a local close). */
  down(conn: DistConnection, err: DistError | undefined): void;
  /** A connection attempt to `peer` failed and nothing else is pending for it: queued signals were dropped. */
  failed(peer: string, err: DistError): void;
  /** A handshake failed (either direction), for logs. */
  handshakeError(err: DistError, peer: string | undefined): void;
  /** A peer's connection state changed. */
  status(s: PeerStatus): void;
}

interface Waiter {
  resolve: (c: DistConnection) => void;
  reject: (e: Error) => void;
}

/** A signal waiting for the connection; `message` for sends (kept across retries), false for other signals. */
interface Queued {
  build: SignalBuilder;
  message: boolean;
}

/** A peer with handshakes in progress, or waiting for its next dial. */
interface Pending {
  peer: string;
  queue: Queued[];
  waiters: Set<Waiter>;
  /** Our dial in progress. */
  dial: AbortController | undefined;
  /** Incoming handshakes past `decide`. */
  incoming: number;
  /** After our dial lost a simultaneous connect: how long we wait for the peer's. */
  grace: NodeJS.Timeout | undefined;
  lastError: DistError | undefined;
  /** Our dials started for this pending entry (an incoming attempt that fails makes us try ours once more). */
  dials: number;
  /** Our next dial, scheduled after the backoff delay. */
  retry: NodeJS.Timeout | undefined;
  /** Failed attempts while messages waited (they are dropped past the policy's maxRetries). */
  retries: number;
}

/** Consecutive failed dials to a peer and when the next may start. */
interface Backoff {
  failures: number;
  nextAt: number;
}

/** Most signals queued for a peer that is being dialed; beyond, new ones are dropped (as OTP drops on a dead connection). */
const MAX_QUEUE = 1_000_000;

export class Peers {
  /** Live connections by peer name. */
  readonly conns = new Map<string, DistConnection>();
  private readonly pending = new Map<string, Pending>();
  /** Accepted sockets still in the handshake. */
  private readonly handshaking = new Set<Socket>();
  /** Peers whose last dial failed, until they are up again. */
  private readonly backoff = new Map<string, Backoff>();
  private stopped = false;

  constructor(
    private readonly cfg: PeersConfig,
    private readonly ev: PeersEvents,
  ) {}

  /** True while a handshake with `peer` is in progress (signals to it are queued). */
  isPending(peer: string): boolean {
    return this.pending.has(peer);
  }

  /** The live connection to `peer`, if any. */
  live(peer: string): DistConnection | undefined {
    return this.conns.get(peer);
  }

  /**
   * Sends a signal to `peer`, dialing it first when needed (after the
   * backoff delay if the last dial failed). `message` marks a message send,
   * which stays queued across failed attempts (other signals are dropped at
   * the first failure, when their links and monitors fire). Returns false
   * when the connection is over its busy limit.
   */
  send(peer: string, build: SignalBuilder, message = false): boolean {
    const c = this.conns.get(peer);
    if (c) {
      const s = build(c.flags);
      return s === undefined ? true : c.sendSignal(s);
    }
    if (this.stopped) return true;
    const p = this.pendingFor(peer);
    if (p.queue.length < MAX_QUEUE) p.queue.push({ build, message });
    this.ensureDial(p);
    return true;
  }

  /** Signals waiting for the connection to `peer`. */
  queued(peer: string): number {
    return this.pending.get(peer)?.queue.length ?? 0;
  }

  /** Resolves with the connection to `peer`, dialing when needed. */
  connect(peer: string, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<DistConnection> {
    const c = this.conns.get(peer);
    if (c) return Promise.resolve(c);
    if (this.stopped) return Promise.reject(new NodeError('ERR_NODE_STOPPED', 'the node is stopped'));
    if (o.signal?.aborted) return Promise.reject(abortError(o.signal, `connect to ${peer}`));
    const p = this.pendingFor(peer);
    return new Promise<DistConnection>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        p.waiters.delete(w);
        if (timer) clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
      };
      const w: Waiter = {
        resolve: (conn) => {
          finish();
          resolve(conn);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      };
      const onAbort = () => w.reject(abortError(o.signal!, `connect to ${peer}`));
      if (o.timeoutMs !== undefined) {
        timer = setTimeout(() => w.reject(new NodeError('ERR_TIMEOUT', `connecting to ${peer} took over ${o.timeoutMs} ms`)), o.timeoutMs);
      }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      p.waiters.add(w);
      // An explicit connect does not wait for the backoff delay.
      this.ensureDial(p, true);
    });
  }

  /** Runs the acceptor handshake on a socket from the node's listener. */
  accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.on('error', () => {});
    this.handshaking.add(socket);
    let held: Pending | undefined;
    const release = () => {
      if (held) {
        held.incoming--;
        held = undefined;
      }
    };
    const decide = (h: PeerHello): AcceptDecision => {
      if (this.stopped) return 'not_allowed';
      if (h.dynamic) return 'ok';
      if (h.name === this.cfg.name) return 'not_allowed';
      if (this.conns.has(h.name)) return 'alive';
      const existing = this.pending.get(h.name);
      let decision: AcceptDecision = 'ok';
      if (existing?.dial) {
        decision = resolveSimultaneous(this.cfg.name, h.name);
        if (decision === 'nok') return 'nok';
        // Our name is smaller: abandon our dial and take this one.
        existing.dial.abort();
        existing.dial = undefined;
      }
      held = this.pendingFor(h.name);
      held.incoming++;
      return decision;
    };
    const beforeAck = (r: Omit<HandshakeResult, 'leftover'>) => {
      const old = this.conns.get(r.peer);
      // `alive`: the peer proved it is the node we are connected to; that connection is stale.
      if (old) old.close(new DistError('ERR_CONNECTION_CLOSED', `${r.peer} reconnected; the old connection is dropped`, { peer: r.peer }));
    };
    acceptHandshake(socket, {
      name: this.cfg.name,
      cookie: this.cfg.cookie,
      creation: this.cfg.creation,
      flags: this.cfg.flags,
      timeoutMs: this.cfg.setupTimeMs,
      tls: this.cfg.tls,
      decide,
      beforeAck,
    }).then(
      (hs) => {
        this.handshaking.delete(socket);
        release();
        this.install(hs);
      },
      (err: DistError) => {
        this.handshaking.delete(socket);
        const p = held;
        release();
        this.ev.handshakeError(err, err.peer);
        if (!p) return;
        // Someone claiming the name failed; if we have work for that node and have
        // not dialed it ourselves twice yet, dial it rather than drop the work.
        const work = p.queue.length > 0 || p.waiters.size > 0;
        const idle = p.incoming === 0 && !p.dial && !p.grace && !p.retry && this.pending.get(p.peer) === p;
        if (work && idle && p.dials < 2) this.ensureDial(p);
        // Nobody waits for that name: forget the mark, and keep nothing about the attempt.
        else if (!work && idle) this.pending.delete(p.peer);
        else this.settleFailure(p, err);
      },
    );
  }

  /** Closes every connection and fails everything pending. */
  stop(): void {
    this.stopped = true;
    const err = new DistError('ERR_CONNECTION_CLOSED', 'the local node is stopping');
    for (const p of [...this.pending.values()]) {
      p.dial?.abort();
      p.dial = undefined;
      p.incoming = 0;
      this.fail(p, err);
    }
    this.backoff.clear();
    for (const c of [...this.conns.values()]) c.close();
    for (const s of this.handshaking) s.destroy();
    this.handshaking.clear();
  }

  /** Closes the connection to `peer` (Erlang's `disconnect_node/1`); true if there was one. */
  disconnect(peer: string): boolean {
    const c = this.conns.get(peer);
    if (!c) return false;
    c.close();
    return true;
  }

  private pendingFor(peer: string): Pending {
    let p = this.pending.get(peer);
    if (!p) {
      p = {
        peer,
        queue: [],
        waiters: new Set(),
        dial: undefined,
        incoming: 0,
        grace: undefined,
        lastError: undefined,
        dials: 0,
        retry: undefined,
        retries: 0,
      };
      this.pending.set(peer, p);
    }
    return p;
  }

  /**
   * Starts our dial unless one is running or an incoming handshake will do;
   * after a failed dial, only once the backoff delay has passed (`now`
   * skips the delay).
   */
  private ensureDial(p: Pending, now = false): void {
    if (p.dial || p.incoming > 0 || p.grace || this.stopped) return;
    if (p.retry) {
      if (!now) return;
      clearTimeout(p.retry);
      p.retry = undefined;
    }
    const b = this.backoff.get(p.peer);
    const wait = b && !now ? b.nextAt - Date.now() : 0;
    if (wait > 0) {
      p.retry = setTimeout(() => {
        p.retry = undefined;
        if (this.pending.get(p.peer) === p) this.ensureDial(p, true);
      }, wait);
      p.retry.unref();
      return;
    }
    const ac = new AbortController();
    p.dial = ac;
    p.dials++;
    this.ev.status({ peer: p.peer, state: 'connecting', attempt: (b?.failures ?? 0) + 1 });
    dial(p.peer, {
      name: this.cfg.name,
      cookie: this.cfg.cookie,
      creation: this.cfg.creation,
      flags: this.cfg.flags,
      epmd: this.cfg.epmd,
      timeoutMs: this.cfg.setupTimeMs,
      tls: this.cfg.tls,
      signal: ac.signal,
    }).then(
      (hs) => {
        if (p.dial === ac) p.dial = undefined;
        if (ac.signal.aborted || this.stopped) {
          hs.socket.destroy();
          return;
        }
        this.install(hs);
      },
      (err: DistError) => {
        if (p.dial === ac) p.dial = undefined;
        if (ac.signal.aborted) return; // abandoned for an incoming connection, or stopping
        this.ev.handshakeError(err, p.peer);
        if (err.code === 'ERR_HANDSHAKE_SIMULTANEOUS' && this.pending.get(p.peer) === p) {
          // The peer is dialing us and wins: wait for its handshake.
          p.lastError = err;
          if (p.incoming === 0) {
            p.grace = setTimeout(() => {
              p.grace = undefined;
              this.settleFailure(p, err);
            }, this.cfg.setupTimeMs);
            p.grace.unref();
          }
          return;
        }
        this.settleFailure(p, err);
      },
    );
  }

  /** A handshake for `p` failed: give up on the peer unless another attempt is still running. */
  private settleFailure(p: Pending, err: DistError): void {
    if (this.pending.get(p.peer) !== p) return;
    p.lastError = err;
    if (p.dial || p.incoming > 0 || p.retry || this.conns.has(p.peer)) return;
    if (p.grace && err.code !== 'ERR_HANDSHAKE_SIMULTANEOUS') return;
    this.fail(p, err);
  }

  /**
   * Every attempt for `p` failed: waiters reject, links and monitors across
   * the peer fire (through `failed`), queued signals other than messages are
   * dropped, and the messages wait for another dial after the backoff delay
   * unless the policy's retries are spent.
   */
  private fail(p: Pending, err: DistError): void {
    if (p.grace) clearTimeout(p.grace);
    p.grace = undefined;
    if (p.retry) clearTimeout(p.retry);
    p.retry = undefined;
    const hadWork = p.queue.length > 0 || p.waiters.size > 0;
    const messages = p.queue.filter((q) => q.message);
    p.queue = [];
    if (this.stopped) {
      this.pending.delete(p.peer);
      for (const w of [...p.waiters]) w.reject(err);
      return;
    }
    const b = this.backoff.get(p.peer) ?? { failures: 0, nextAt: 0 };
    b.failures++;
    const delay = this.cfg.reconnect.delayMs(b.failures, p.peer);
    b.nextAt = Date.now() + delay;
    this.backoff.set(p.peer, b);
    const retry = messages.length > 0 && p.retries < this.cfg.reconnect.maxRetries;
    if (!retry) this.pending.delete(p.peer);
    for (const w of [...p.waiters]) w.reject(err);
    if (hadWork) this.ev.failed(p.peer, err);
    this.ev.status(retry ? { peer: p.peer, state: 'down', reason: err, retryInMs: delay } : { peer: p.peer, state: 'down', reason: err });
    if (!retry || this.pending.get(p.peer) !== p) return;
    // The messages go first, before whatever was queued while the links and monitors fired.
    p.retries++;
    p.lastError = err;
    p.dials = 0;
    p.queue = [...messages, ...p.queue.filter((q) => q.message)];
    this.ensureDial(p);
  }

  private install(hs: HandshakeResult): void {
    if (this.stopped) {
      hs.socket.destroy();
      return;
    }
    // The connection starts reading (the handshake's leftover bytes first) in a
    // microtask: the node's listeners, attached in `up` below, see everything.
    const conn = new DistConnection(hs, this.cfg.connection);
    const old = this.conns.get(conn.peer);
    this.conns.set(conn.peer, conn);
    if (old) old.close(new DistError('ERR_CONNECTION_CLOSED', `replaced by a new connection to ${conn.peer}`, { peer: conn.peer }));
    conn.once('close', (err?: DistError) => {
      if (this.conns.get(conn.peer) === conn) this.conns.delete(conn.peer);
      this.ev.down(conn, err);
      const reason = err ?? new DistError('ERR_CONNECTION_CLOSED', `disconnected from ${conn.peer}`, { peer: conn.peer });
      this.ev.status({ peer: conn.peer, state: 'down', reason });
    });
    this.backoff.delete(conn.peer);
    const p = this.pending.get(conn.peer);
    if (p) {
      this.pending.delete(conn.peer);
      if (p.grace) clearTimeout(p.grace);
      if (p.retry) clearTimeout(p.retry);
      p.dial?.abort();
    }
    this.ev.up(conn);
    this.ev.status({ peer: conn.peer, state: 'up' });
    if (p) {
      for (const q of p.queue) {
        if (conn.closed) break;
        const s = q.build(conn.flags);
        if (s) conn.sendSignal(s);
      }
      p.queue = [];
      for (const w of [...p.waiters]) w.resolve(conn);
    }
  }
}
