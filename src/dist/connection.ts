// An established distribution connection: frames in (split reads, atom cache,
// fragments, ticks), control messages up, frames out through one coalescing
// writer, net ticks both ways, TCP keepalive and user timeout, and a send
// buffer with a busy limit and a policy for senders when it is over it.
// Works the same over TCP and over TLS (the TCP options go to the socket under
// the TLS one). Spec: erl_dist_protocol "Protocol between Connected Nodes".
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Term } from '../etf/types.js';
import { deadline } from '../deadline.js';
import { applyKeepAlive, type KeepAliveOptions } from '../keepalive.js';
import { DistError } from './errors.js';
import { DFLAG } from './flags.js';
import { DistDecoder, FrameSplitter, DEFAULT_MAX_MESSAGE_SIZE, type DistDecoderOptions, type FrameSink } from './framing.js';
import { DistEncoder } from './encoder.js';
import { parseControl, type ControlMessage, type OutgoingSignal } from './control.js';
import { TickState } from './ticker.js';
import { SocketWriter } from './writer.js';
import { busyPollDefault, keepPolling, pollRead } from './busypoll.js';
import type { HandshakeResult } from './handshake.js';

export type { KeepAliveOptions } from '../keepalive.js';

/**
 * @internal The read hold of connections that do not set one (bench/dist.mjs switches it for its A/B rows).
 * `readOn`: a read that filled the read buffer, or that left more of the stream buffered in the socket
 * object, starts no hold (false: any read of `frames` frames may, as before 7 December).
 * `quietFrames`: the frames that start a hold when the connection sent no message since the previous
 * read (a one-way stream, which a hold does not slow: nobody waits for an answer).
 */
export const readHoldDefault = { ms: 1, frames: 128, readOn: true, quietFrames: 48 };

/** The longest read libuv hands a TCP socket (its 64 KiB read buffer), and a TLS socket's longest decrypted chunk (Node's 16 KiB). */
const FULL_READ_TCP = 65536;
const FULL_READ_TLS = 16384;

/** Options of {@link DistConnection}. */
export interface DistConnectionOptions {
  /** net_ticktime in milliseconds; default 60 000 (OTP's 60 s). */
  tickTimeMs?: number;
  /** Checks per ticktime (net_tickintensity); default 4. */
  tickIntensity?: number;
  /** Cap on one frame; default 512 MiB. */
  maxFrameSize?: number;
  /** Cap on a reassembled message, and other decoder settings. */
  decoder?: DistDecoderOptions;
  /** Largest fragment sent; default 64 KiB. */
  fragmentSize?: number;
  /**
   * Send atoms through the atom cache when the peer negotiated
   * DFLAG_DIST_HDR_ATOM_CACHE (as OTP does): each atom in full once, then as a
   * 2-byte reference, so a message's atoms (the node name in every pid, the
   * record tags) cost the peer neither the bytes nor the atom-table lookups.
   * Default true; false sends every atom in full (a header with no references).
   */
  atomCache?: boolean;
  /**
   * Send-buffer size (queued + in the socket) above which {@link DistConnection.send}
   * returns false and {@link DistConnection.busy} is true, like OTP's
   * dist_buf_busy_limit; default 1 MiB. `'drain'` is emitted when it drops back.
   */
  busyLimitBytes?: number;
  /**
   * What {@link DistConnection.send} does while the connection is busy (at or
   * over `busyLimitBytes`, e.g. because the peer stopped reading):
   * - `'wait'` (default): the message is queued anyway and `send` returns
   *   false; the caller is expected to wait (`await conn.drained()`, or send
   *   with `await conn.sendAsync(...)` which waits by itself). Memory is bounded
   *   only if callers wait.
   * - `'error'`: `send` throws `ERR_BUSY` and queues nothing; every message
   *   accepted before stays queued and is written in order. The connection
   *   then holds at most `busyLimitBytes` plus one message (plus ticks and
   *   signals sent with `force`).
   * `sendAsync` waits for room under both policies.
   */
  onBusy?: 'wait' | 'error';
  /**
   * TCP keepalive settings, or false to leave the socket's defaults. Defaults:
   * idle and TCP_USER_TIMEOUT the ticktime, probes every 1000 ms, 4 probes.
   */
  keepAlive?: KeepAliveOptions | false;
  /**
   * Microseconds the event loop keeps polling (instead of sleeping in
   * epoll_wait) after this connection writes, as an Erlang scheduler
   * busy-waits before it sleeps (erl +sbwt): an answer that comes within it
   * is read without a thread wakeup, which on loopback is about a third of a
   * call's round trip. Costs at most this much CPU after each burst of
   * writes; after 8 polls in a row that read nothing, the next 64 writes do
   * not poll (busypoll.ts). Default 200; 0 turns it off (the loop then
   * sleeps as soon as it is idle).
   */
  busyPollUs?: number;
  /**
   * Receive coalescing for streams of small messages: after one read that
   * held at least {@link readHoldFrames} frames, the connection stops reading
   * for this many milliseconds (`socket.pause()`), so that the kernel gathers
   * the stream and the next read takes it in one go. An idle receiver that
   * reads every few kilobytes makes the sending VM pay a wakeup and an ACK
   * for each of them, and an Erlang sender then writes (and pays for) every
   * message on its own; held, it queues and writes in batches (bench:dist,
   * README). Reads with fewer frames (requests, replies, a large message
   * arriving in pieces) are handled at once, so call latency is unchanged;
   * a message in a stream waits at most this much longer. A read that filled
   * the 64 KiB read buffer starts no hold: the kernel holds more of the stream
   * already, and the connection reads on until a read empties it. Default 1; 0
   * turns it off.
   */
  readHoldMs?: number;
  /**
   * Frames in one read that start a hold (see {@link readHoldMs}). Default 128, or 48 when the
   * connection sent no message since the previous read: a one-way stream (its sender waits for
   * nothing from us) then holds from the reads of about 4 KB it brings on loopback, where a stream
   * of requests, which a hold would delay, keeps 128.
   */
  readHoldFrames?: number;
}

/** Options of {@link DistConnection.sendAsync} and {@link DistConnection.drained}. */
export interface DistWaitOptions {
  /** Give up after this long with `ERR_BUSY`; default: wait as long as the connection lives. */
  timeoutMs?: number;
  /** Give up with `ERR_ABORTED`. */
  signal?: AbortSignal;
}

/** A caller of sendAsync / drained waiting for room, in arrival order. */
interface Waiter {
  run: () => void;
  fail: (e: DistError) => void;
}

/** Traffic counters of one connection. */
export interface DistConnectionStats {
  framesIn: number;
  bytesIn: number;
  ticksIn: number;
  messagesIn: number;
  messagesOut: number;
  ticksOut: number;
  /** Times reading paused after a read of many frames (see {@link DistConnectionOptions.readHoldMs}). */
  readHolds: number;
}

/**
 * One distribution connection to a peer node, after the handshake.
 *
 * Reading starts in a microtask after construction: attach the listeners in
 * the same synchronous block as `new DistConnection(...)`.
 *
 * Events:
 * - `'message'` (msg: ControlMessage): every control message, in arrival order.
 * - `'close'` (err: DistError | undefined): once; `undefined` when closed
 *   locally with {@link close}, else why (`ERR_CONNECTION_CLOSED`,
 *   `ERR_TICK_TIMEOUT`, `ERR_DIST_PROTOCOL`, `ERR_FRAME_TOO_LARGE`).
 * - `'drain'`: the send buffer dropped below the busy limit after being over it.
 *
 * Backpressure: see {@link DistConnectionOptions.onBusy}, {@link sendAsync}
 * and {@link drained}.
 */
export class DistConnection extends EventEmitter {
  /** The peer's full node name. */
  readonly peer: string;
  /** Our full node name. */
  readonly name: string;
  /** The negotiated flags. */
  readonly flags: bigint;
  /** The peer's advertised flags. */
  readonly peerFlags: bigint;
  readonly peerCreation: number;
  readonly creation: number;
  /** True when we dialed. */
  readonly initiator: boolean;
  /** The stream the distribution runs over (a `TLSSocket` with TLS). */
  readonly socket: Socket;
  /** The TCP socket (under {@link socket} with TLS; the same object without). */
  readonly tcpSocket: Socket;
  /** The send policy while busy (see {@link DistConnectionOptions.onBusy}). */
  readonly onBusy: 'wait' | 'error';
  readonly stats: DistConnectionStats = { framesIn: 0, bytesIn: 0, ticksIn: 0, messagesIn: 0, messagesOut: 0, ticksOut: 0, readHolds: 0 };
  readonly busyLimitBytes: number;
  private readonly splitter: FrameSplitter;
  private readonly sink: FrameSink = { frame: (b, s, e) => this.onFrame(b, s, e) };
  private readonly decoder: DistDecoder;
  private readonly encoder: DistEncoder;
  private readonly writer: SocketWriter;
  private readonly ticks: TickState;
  private readonly tickTimer: NodeJS.Timeout;
  private wasBusy = false;
  private readonly busyPollOpt: number | undefined;
  private readonly holdMsOpt: number | undefined;
  private readonly holdFramesOpt: number | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  /** `stats.messagesOut` at the end of the previous read (see {@link readHoldFrames}). */
  private outAtRead = -1;
  private readonly waiters: Waiter[] = [];
  private listenerError: unknown;
  private closeReason: DistError | undefined;
  private isClosed = false;

  constructor(hs: HandshakeResult, o: DistConnectionOptions = {}) {
    super();
    this.peer = hs.peer;
    this.name = hs.name;
    this.flags = hs.flags;
    this.peerFlags = hs.peerFlags;
    this.peerCreation = hs.peerCreation;
    this.creation = hs.creation;
    this.initiator = hs.initiator;
    this.socket = hs.socket;
    this.tcpSocket = hs.tcpSocket ?? hs.socket;
    this.busyLimitBytes = o.busyLimitBytes ?? 1024 * 1024;
    this.onBusy = o.onBusy ?? 'wait';
    this.busyPollOpt = o.busyPollUs;
    this.holdMsOpt = o.readHoldMs;
    this.holdFramesOpt = o.readHoldFrames;
    const tickTimeMs = o.tickTimeMs ?? 60_000;
    const intensity = o.tickIntensity ?? 4;
    this.ticks = new TickState(intensity, (hs.peerFlags & DFLAG.PUBLISHED) === 0n);
    this.splitter = new FrameSplitter(o.maxFrameSize ?? DEFAULT_MAX_MESSAGE_SIZE);
    this.decoder = new DistDecoder(o.decoder);
    this.encoder = new DistEncoder({ flags: hs.flags, fragmentSize: o.fragmentSize, atomCache: o.atomCache });
    this.writer = new SocketWriter(
      this.socket,
      () => {
        this.ticks.markWrote();
        keepPolling(this.busyPollOpt ?? busyPollDefault.us);
        this.checkDrain();
      },
      () => this.checkDrain(),
      // Only a connection that was busy, or has senders waiting for room, needs to know when its writes leave.
      () => this.wasBusy || this.waiters.length > 0,
    );

    const s = this.socket;
    const tcp = this.tcpSocket;
    tcp.setNoDelay(true);
    if (o.keepAlive !== false) {
      applyKeepAlive(tcp, o.keepAlive ?? {}, { idleMs: tickTimeMs, intervalMs: 1000, probes: 4, userTimeoutMs: tickTimeMs });
    }
    if (tcp !== s) tcp.on('error', () => {}); // reported through the TLS socket
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('drain', () => this.checkDrain());
    s.on('error', (e) => this.close(new DistError('ERR_CONNECTION_CLOSED', `connection to ${this.peer} failed: ${e.message}`, { cause: e, peer: this.peer })));
    s.on('end', () => this.close(new DistError('ERR_CONNECTION_CLOSED', `${this.peer} closed the connection`, { peer: this.peer })));
    s.on('close', () => this.close(new DistError('ERR_CONNECTION_CLOSED', `connection to ${this.peer} closed`, { peer: this.peer })));

    const interval = Math.max(1, Math.floor(tickTimeMs / intensity));
    this.tickTimer = setTimeout(() => this.onTickTimer(), interval);
    this.tickTimer.unref();

    // Reading starts in a microtask, so that listeners attached right after
    // construction see everything: first the bytes that came with the last
    // handshake message, then the live stream.
    queueMicrotask(() => {
      if (hs.leftover.length > 0) this.onData(hs.leftover);
      if (this.isClosed) return;
      if (s.destroyed || s.readableEnded) {
        this.close(new DistError('ERR_CONNECTION_CLOSED', `${this.peer} closed the connection`, { peer: this.peer }));
      } else {
        s.resume();
      }
    });
  }

  /** True once closed (by either side). */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Why the connection closed; undefined while open or after a local {@link close}. */
  get reason(): DistError | undefined {
    return this.closeReason;
  }

  /** Bytes waiting to be written (in our queue and in the socket). */
  get bufferedBytes(): number {
    return this.writer.bufferedBytes;
  }

  /** True while {@link bufferedBytes} is at or over the busy limit. */
  get busy(): boolean {
    return this.bufferedBytes >= this.busyLimitBytes;
  }

  /** Fragmented incoming messages being reassembled. */
  get pendingFragments(): number {
    return this.decoder.pendingSequences;
  }

  /** Incoming frames by kind and atom-cache traffic (see {@link DistDecoder.counters}). */
  get frameCounters(): Readonly<DistDecoder['counters']> {
    return this.decoder.counters;
  }

  /** Atoms sent in full into the peer's atom cache so far (0 without the atom cache; see {@link DistConnectionOptions.atomCache}). */
  get atomCacheEntriesSent(): number {
    return this.encoder.atomCacheEntries;
  }

  /**
   * Queues a control tuple and optional payload (encoded now, written at the
   * end of this event-loop turn). Returns false when the send buffer is over
   * the busy limit after this message. While the connection is already busy,
   * the `'wait'` policy (default) queues the message anyway (then wait for
   * {@link drained} before sending more), and the `'error'` policy throws
   * `ERR_BUSY` without queuing it. Throws `ERR_CONNECTION_CLOSED` after close,
   * and the codec's EncodeError for a term that cannot be encoded.
   *
   * `o.force` queues the message even while busy under the `'error'` policy:
   * for the small signals the node layer must not lose or reorder (EXIT,
   * LINK, UNLINK_ID_ACK, MONITOR_P_EXIT, replies to the peer's requests), as
   * OTP's runtime queues the signals it sends on a process's behalf without
   * suspending it.
   */
  send(control: Term, payload?: Term, o?: { force?: boolean }): boolean {
    if (this.isClosed) {
      throw new DistError('ERR_CONNECTION_CLOSED', `connection to ${this.peer} is closed`, { cause: this.closeReason, peer: this.peer });
    }
    if (this.onBusy === 'error' && o?.force !== true && this.busy) {
      this.wasBusy = true;
      throw new DistError(
        'ERR_BUSY',
        `connection to ${this.peer} is busy: ${this.bufferedBytes} bytes buffered, limit ${this.busyLimitBytes}`,
        { peer: this.peer },
      );
    }
    return this.queue(control, payload);
  }

  private queue(control: Term, payload?: Term): boolean {
    this.writer.write(this.encoder.encode(control, payload));
    this.stats.messagesOut++;
    const busy = this.busy;
    if (busy) this.wasBusy = true;
    return !busy;
  }

  /** {@link send} for a constructed signal (see `ctrl`). */
  sendSignal(sig: OutgoingSignal, o?: { force?: boolean }): boolean {
    return this.send(sig.control, sig.payload, o);
  }

  /**
   * Sends once there is room: at once when the connection is not busy and no
   * earlier `sendAsync` is waiting, else after them, in call order, when the
   * buffer has drained below the limit. Resolves when the message is queued
   * for writing. Rejects with `ERR_CONNECTION_CLOSED` (closed before it could
   * be queued), `ERR_BUSY` (`timeoutMs` passed), `ERR_ABORTED`, or the codec's
   * EncodeError. Keeps a sender's order only if that sender does not mix it
   * with {@link send}.
   */
  sendAsync(control: Term, payload?: Term, o: DistWaitOptions = {}): Promise<void> {
    return this.whenRoom(() => void this.queue(control, payload), o);
  }

  /** {@link sendAsync} for a constructed signal (see `ctrl`). */
  sendSignalAsync(sig: OutgoingSignal, o: DistWaitOptions = {}): Promise<void> {
    return this.sendAsync(sig.control, sig.payload, o);
  }

  /**
   * Resolves when the connection is not busy (at once if it is not) and every
   * earlier `sendAsync` has been queued. Rejects like {@link sendAsync}.
   */
  drained(o: DistWaitOptions = {}): Promise<void> {
    return this.whenRoom(() => {}, o);
  }

  /** Callers of sendAsync / drained still waiting. */
  get waiting(): number {
    return this.waiters.length;
  }

  private whenRoom(run: () => void, o: DistWaitOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const closedErr = () =>
        new DistError('ERR_CONNECTION_CLOSED', `connection to ${this.peer} is closed`, { cause: this.closeReason, peer: this.peer });
      if (this.isClosed) return reject(closedErr());
      if (o.signal?.aborted) return reject(new DistError('ERR_ABORTED', 'send aborted', { cause: o.signal.reason, peer: this.peer }));
      if (this.waiters.length === 0 && !this.busy) {
        try {
          run();
        } catch (e) {
          return reject(e as Error);
        }
        return resolve();
      }
      this.wasBusy = true;
      const cleanup = () => {
        d.clear();
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const w: Waiter = {
        run: () => {
          cleanup();
          try {
            run();
            resolve();
          } catch (e) {
            reject(e as Error);
          }
        },
        fail: (e) => {
          cleanup();
          reject(e);
        },
      };
      const d = deadline(
        o,
        () => w.fail(new DistError('ERR_BUSY', `connection to ${this.peer} stayed busy for ${o.timeoutMs} ms`, { peer: this.peer })),
        (reason) => w.fail(new DistError('ERR_ABORTED', 'send aborted', { cause: reason, peer: this.peer })),
      );
      this.waiters.push(w);
    });
  }

  /** Writes everything queued now instead of at the end of the turn. */
  flush(): void {
    this.writer.flush();
  }

  /**
   * Closes the connection. Without an error it is a graceful local close:
   * queued frames are written first. With an error the socket is destroyed at
   * once. Idempotent; `'close'` is emitted once.
   */
  close(err?: DistError): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = err;
    clearTimeout(this.tickTimer);
    clearTimeout(this.holdTimer);
    const s = this.socket;
    const tcp = this.tcpSocket;
    if (err === undefined && !s.destroyed) {
      this.writer.flush();
      this.writer.kill();
      s.end();
      setTimeout(() => {
        s.destroy();
        tcp.destroy();
      }, 2000).unref();
    } else {
      this.writer.kill();
      s.destroy();
      tcp.destroy();
    }
    const gone = new DistError('ERR_CONNECTION_CLOSED', `connection to ${this.peer} closed before the message could be queued`, {
      cause: err,
      peer: this.peer,
    });
    for (const w of this.waiters.slice()) w.fail(gone);
    this.emit('close', err);
  }

  private onData(d: Buffer): void {
    if (this.isClosed) return;
    this.stats.bytesIn += d.length;
    pollRead();
    const frames0 = this.stats.framesIn;
    try {
      this.splitter.feed(d, this.sink);
    } catch (e) {
      if (e === this.listenerError) {
        this.listenerError = undefined;
        throw e;
      }
      this.fail(e);
      return;
    } finally {
      this.decoder.release();
    }
    const quiet = this.stats.messagesOut === this.outAtRead;
    this.outAtRead = this.stats.messagesOut;
    const min = this.holdFramesOpt ?? (quiet ? readHoldDefault.quietFrames : readHoldDefault.frames);
    if (this.stats.framesIn - frames0 >= min && !this.moreWaiting(d.length)) this.hold();
  }

  /**
   * True when more of the stream is waiting already: the read filled the read buffer (so the kernel
   * holds more; libuv reads again in the same turn) or the socket object has more buffered. Holding
   * then would only let the receive buffer fill and stall the sender: one read per hold capped an
   * Erlang sender at ~500k messages/s (bench/FIGURES.md, 7 December, seventh session).
   */
  private moreWaiting(len: number): boolean {
    if (!readHoldDefault.readOn) return false;
    return len >= (this.socket === this.tcpSocket ? FULL_READ_TCP : FULL_READ_TLS) || this.socket.readableLength > 0;
  }

  /** Stops reading for the read hold (a stream of small messages is arriving), then reads on. */
  private hold(): void {
    const ms = this.holdMsOpt ?? readHoldDefault.ms;
    if (!(ms > 0) || this.holdTimer !== undefined || this.isClosed) return;
    this.stats.readHolds++;
    const s = this.socket;
    s.pause();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      if (!this.isClosed) s.resume();
    }, ms);
  }

  /** One frame, `buf[start, end)`: a tick, or a message handed to the `'message'` listeners. */
  private onFrame(buf: Buffer, start: number, end: number): void {
    if (this.isClosed) return;
    this.ticks.markRead();
    this.stats.framesIn++;
    if (end === start) {
      this.stats.ticksIn++;
      return;
    }
    let msg: ControlMessage;
    try {
      const d = this.decoder;
      if (!d.decodeAt(buf, start, end)) return;
      msg = parseControl(d.control, d.payload);
      d.control = d.payload = undefined;
    } catch (e) {
      this.fail(e);
      return;
    }
    this.stats.messagesIn++;
    try {
      this.emit('message', msg);
    } catch (e) {
      // A listener's throw is the listener's bug, not a protocol error: let it surface.
      this.listenerError = e;
      throw e;
    }
  }

  /** Closes on a malformed frame: only this connection drops. */
  private fail(e: unknown): void {
    this.close(
      e instanceof DistError
        ? new DistError(e.code, `${this.peer}: ${e.message}`, { cause: e.cause ?? e, peer: this.peer })
        : new DistError('ERR_DIST_PROTOCOL', `${this.peer}: ${(e as Error).message}`, { cause: e, peer: this.peer }),
    );
  }

  private onTickTimer(): void {
    if (this.isClosed) return;
    const action = this.ticks.check(this.writer.bufferedBytes > 0);
    if (action === 'timeout') {
      this.close(new DistError('ERR_TICK_TIMEOUT', `${this.peer} not responding: nothing received within net_ticktime`, { peer: this.peer }));
      return;
    }
    if (action === 'tick') {
      this.stats.ticksOut++;
      this.writer.write([DistEncoder.TICK]);
    }
    this.tickTimer.refresh();
  }

  private checkDrain(): void {
    if (this.isClosed) return;
    // Waiters first, in order, each while there is room; a waiter's message
    // may make the connection busy again, and the rest wait for the next drain.
    while (this.waiters.length > 0 && !this.busy) this.waiters[0].run();
    if (this.wasBusy && !this.busy && this.waiters.length === 0) {
      this.wasBusy = false;
      this.emit('drain');
    }
  }
}
