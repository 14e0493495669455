// The connection table of a node: one live DistConnection per peer, the
// handshakes in progress in both directions (incoming ones capped by
// `maxPendingHandshakes`), auto-connect with a queue that keeps per-pair
// order, OTP's simultaneous-connect rule (see the header of
// src/dist/index.ts), and TLS in both directions when configured.
//
// Dialing a peer that is not connected (what each new piece of work does):
// - Any new work (a send, a link, a monitor, and so call, rpc and ping, or
//   `connect`) tries one connection at once, as OTP does, joining the attempt
//   in flight if there is one. A peer that is down therefore fails fast (its
//   EPMD says it is not registered, in about a millisecond), and a peer that
//   is back is reached by the next piece of work, without waiting out a timer.
// - Within RECHECK_MS of a failed attempt the peer counts as known down and
//   no new attempt is made: a link or monitor fires `noconnection` at once,
//   a message waits (or, with `maxRetries: 0`, is dropped at once, as OTP
//   drops it). This keeps a tight loop from dialing a dead peer thousands of
//   times a second.
// - Messages that were waiting when an attempt failed are retried on the
//   reconnect backoff (reconnect.ts) and dropped once `maxRetries` backoff
//   retries have failed; new work dials in between without counting.
// Nothing is kept for a peer that has not passed the cookie check except a
// transient "incoming handshake in progress" mark.
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
  type PeerHello,
  type DistTlsOptions,
} from '../dist/index.js';
import type { EpmdClient } from '../epmd/index.js';
import { withDeadline, type WaitOptions } from '../deadline.js';
import { NodeError } from './errors.js';
import type { PeerStatus, ReconnectPolicy } from './reconnect.js';
import { isMessage, toWire, type Outgoing } from './wire.js';

/** How long after a failed attempt a peer counts as known down (no new attempt; see the header). */
export const RECHECK_MS = 50;

/** Default cap of incoming handshakes in progress (NodeOptions.maxPendingHandshakes). */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 256;

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
  /** Incoming handshakes in progress beyond which new connections are closed at once. */
  maxPendingHandshakes: number;
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
  /** An incoming connection was closed at once: `maxPendingHandshakes` handshakes were in progress. */
  refused(): void;
  /** A peer's connection state changed. */
  status(s: PeerStatus): void;
}

interface Waiter {
  resolve: (c: DistConnection) => void;
  reject: (e: Error) => void;
}

/** A peer with handshakes in progress, or messages waiting for its next dial. */
interface Pending {
  peer: string;
  queue: Outgoing[];
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
  /** The next dial: a backoff retry of the waiting messages. */
  retry: { timer: NodeJS.Timeout; at: number } | undefined;
  /** Backoff retries made for the waiting messages (they are dropped past the policy's maxRetries). */
  retries: number;
}

/** A peer whose last attempt failed, until it is up again. */
interface Down {
  /** When the attempt failed (Date.now()). */
  at: number;
  error: DistError;
  /** Failed attempts in a row. */
  failures: number;
}

/** Most signals queued for a peer that is being dialed; beyond, new ones are dropped (as OTP drops on a dead connection). */
const MAX_QUEUE = 1_000_000;

export class Peers {
  /** Live connections by peer name. */
  readonly conns = new Map<string, DistConnection>();
  private readonly pending = new Map<string, Pending>();
  /** Accepted sockets still in the handshake. */
  private readonly handshaking = new Set<Socket>();
  /** Peers whose last attempt failed, until they are up again. */
  private readonly down = new Map<string, Down>();
  private stopped = false;
  /** Incoming connections closed at once because the handshake cap was full. */
  refusedHandshakes = 0;
  /** Messages dropped because their peer could not be reached. */
  droppedMessages = 0;

  constructor(
    private readonly cfg: PeersConfig,
    private readonly ev: PeersEvents,
  ) {}

  /** True while a handshake with `peer` is in progress or messages wait for it (signals to it are queued). */
  isPending(peer: string): boolean {
    return this.pending.has(peer);
  }

  /** The live connection to `peer`, if any. */
  live(peer: string): DistConnection | undefined {
    return this.conns.get(peer);
  }

  /** Incoming handshakes in progress. */
  get handshakes(): number {
    return this.handshaking.size;
  }

  /**
   * Sends a signal to `peer`, dialing it when needed (see the header of this
   * file). Returns false when the connection is over its busy limit.
   */
  send(peer: string, o: Outgoing): boolean {
    const c = this.conns.get(peer);
    if (c) {
      const s = toWire(o, c.flags);
      return s === undefined ? true : c.send(s.control, s.payload);
    }
    if (this.stopped) return true;
    let p = this.pending.get(peer);
    const d = this.down.get(peer);
    if (d && !(p && attempting(p)) && Date.now() - d.at < RECHECK_MS) {
      // Known down a moment ago: no new attempt.
      if (!isMessage(o)) {
        // The link or monitor this signal set up fires now (its watcher is registered already).
        this.ev.failed(peer, d.error);
        return true;
      }
      if (this.cfg.reconnect.maxRetries === 0) {
        this.droppedMessages++;
        return true;
      }
      p ??= this.pendingFor(peer);
      if (p.queue.length < MAX_QUEUE) p.queue.push(o);
      else this.droppedMessages++;
      // It waits for the next piece of work, or for a backoff retry.
      if (!p.retry) this.schedule(p, this.cfg.reconnect.delayMs(p.retries + 1, peer));
      return true;
    }
    p ??= this.pendingFor(peer);
    if (p.queue.length < MAX_QUEUE) p.queue.push(o);
    else this.droppedMessages++;
    this.ensureDial(p);
    return true;
  }

  /** Signals waiting for the connection to `peer`. */
  queued(peer: string): number {
    return this.pending.get(peer)?.queue.length ?? 0;
  }

  /** Resolves with the connection to `peer`, dialing at once when needed (whatever the backoff). */
  connect(peer: string, o: WaitOptions = {}): Promise<DistConnection> {
    const c = this.conns.get(peer);
    if (c) return Promise.resolve(c);
    if (this.stopped) return Promise.reject(new NodeError('ERR_NODE_STOPPED', 'the node is stopped'));
    return withDeadline<DistConnection>(
      o,
      {
        timeout: () => new NodeError('ERR_TIMEOUT', `connecting to ${peer} took over ${o.timeoutMs} ms`),
        abort: (reason) => new NodeError('ERR_ABORTED', `connect to ${peer} aborted`, { cause: reason }),
      },
      (resolve, reject) => {
        const p = this.pendingFor(peer);
        const w: Waiter = { resolve, reject };
        p.waiters.add(w);
        this.ensureDial(p);
        return () => p.waiters.delete(w);
      },
    );
  }

  /** Runs the acceptor handshake on a socket from the node's listener. */
  accept(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.handshaking.size >= this.cfg.maxPendingHandshakes) {
      // Refused at once: nothing is read from it and nothing is kept.
      socket.on('error', () => {});
      socket.destroy();
      this.refusedHandshakes++;
      this.ev.refused();
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
        const idle = p.incoming === 0 && !p.dial && !p.grace && this.pending.get(p.peer) === p;
        if (work && idle && p.dials < 2) this.ensureDial(p);
        // Nobody waits for that name: forget the mark, and keep nothing about the attempt.
        else if (!work && idle) this.forget(p);
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
    this.down.clear();
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

  /** Drops a pending entry and its timers. */
  private forget(p: Pending): void {
    if (p.grace) clearTimeout(p.grace);
    p.grace = undefined;
    if (p.retry) clearTimeout(p.retry.timer);
    p.retry = undefined;
    if (this.pending.get(p.peer) === p) this.pending.delete(p.peer);
  }

  /** A backoff retry of the waiting messages of `p` in `ms`. */
  private schedule(p: Pending, ms: number): void {
    const timer = setTimeout(() => {
      p.retry = undefined;
      if (this.pending.get(p.peer) !== p) return;
      p.retries++;
      this.ensureDial(p);
    }, Math.max(0, ms));
    timer.unref();
    p.retry = { timer, at: Date.now() + ms };
  }

  /** Starts our dial unless one is running or an incoming handshake will do. */
  private ensureDial(p: Pending): void {
    if (attempting(p) || this.stopped) return;
    const b = this.down.get(p.peer);
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
    if (p.dial || p.incoming > 0 || this.conns.has(p.peer)) return;
    if (p.grace && err.code !== 'ERR_HANDSHAKE_SIMULTANEOUS') return;
    this.fail(p, err);
  }

  /**
   * Every attempt for `p` failed: the peer is known down, waiters reject,
   * links and monitors across the peer fire (through `failed`), queued
   * signals other than messages are dropped, and the messages wait for a
   * backoff retry unless the policy's retries are spent (or it has none).
   */
  private fail(p: Pending, err: DistError): void {
    if (p.grace) clearTimeout(p.grace);
    p.grace = undefined;
    const hadWork = p.queue.length > 0 || p.waiters.size > 0;
    const messages = p.queue.filter(isMessage);
    p.queue = [];
    if (this.stopped) {
      this.forget(p);
      for (const w of [...p.waiters]) w.reject(err);
      return;
    }
    const d = this.down.get(p.peer);
    this.down.set(p.peer, { at: Date.now(), error: err, failures: (d?.failures ?? 0) + 1 });
    const { maxRetries } = this.cfg.reconnect;
    const keep = messages.length > 0 && p.retries < maxRetries;
    if (!keep) {
      this.droppedMessages += messages.length;
      this.forget(p);
    }
    for (const w of [...p.waiters]) w.reject(err);
    if (hadWork) this.ev.failed(p.peer, err);
    if (!keep || this.pending.get(p.peer) !== p) {
      this.ev.status({ peer: p.peer, state: 'down', reason: err });
      return;
    }
    // The messages go first, before whatever was queued while the links and monitors fired.
    p.lastError = err;
    p.dials = 0;
    p.queue = [...messages, ...p.queue.filter(isMessage)];
    // A retry scheduled now reports its delay as given (reading the clock again could say 1 ms less).
    let retryInMs: number;
    if (p.retry) retryInMs = Math.max(0, p.retry.at - Date.now());
    else {
      retryInMs = Math.max(0, this.cfg.reconnect.delayMs(p.retries + 1, p.peer));
      this.schedule(p, retryInMs);
    }
    this.ev.status({ peer: p.peer, state: 'down', reason: err, retryInMs });
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
    this.down.delete(conn.peer);
    const p = this.pending.get(conn.peer);
    if (p) {
      this.forget(p);
      p.dial?.abort();
    }
    this.ev.up(conn);
    this.ev.status({ peer: conn.peer, state: 'up' });
    if (p) {
      for (const q of p.queue) {
        if (conn.closed) break;
        const s = toWire(q, conn.flags);
        if (s) conn.sendSignal(s);
      }
      p.queue = [];
      for (const w of [...p.waiters]) w.resolve(conn);
    }
  }
}

/** True while an attempt for `p` is in flight (ours, an incoming one, or the wait for the peer's after `nok`). */
function attempting(p: Pending): boolean {
  return p.dial !== undefined || p.incoming > 0 || p.grace !== undefined;
}
