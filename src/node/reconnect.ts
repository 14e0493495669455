// The reconnect policy of a node (jittered, capped exponential backoff) and
// the peer status stream (an async iterable of status changes, in the manner
// of nats.js's `status()`).
import type { DistError } from '../dist/index.js';

/**
 * How a node re-dials a peer it could not reach. Sending to a peer that is
 * not connected dials it (Erlang's auto-connect). After a failed dial, the
 * next dial to that peer waits `delay(failures)` (by default
 * `min(maxDelayMs, baseDelayMs * 2^(failures-1))`, minus up to `jitter` of
 * it at random), so a peer that is down is not hammered. Messages sent in the
 * meantime wait in order and go out on the next attempt; after `maxRetries`
 * failed attempts in a row they are dropped, as OTP drops messages to an
 * unreachable node. Links and monitors across the peer fire with
 * `noconnection` at the first failed attempt, as in OTP, and the link and
 * monitor signals still queued are dropped with them.
 */
export interface ReconnectOptions {
  /** Delay after the first failure; default 200 ms. */
  baseDelayMs?: number;
  /** Cap of the delay; default 5000 ms. */
  maxDelayMs?: number;
  /** Fraction of the delay removed at random (0 to 1); default 0.5. */
  jitter?: number;
  /** Failed attempts in a row after which queued messages are dropped; default 5. `0`: dropped at the first failure (OTP's behaviour). */
  maxRetries?: number;
  /** Replaces the computed delay: `failures` counts failed dials in a row (1 after the first). */
  delay?: (failures: number, peer: string) => number;
}

/** The resolved policy. */
export interface ReconnectPolicy {
  maxRetries: number;
  delayMs(failures: number, peer: string): number;
}

/** Builds the policy from the options (see {@link ReconnectOptions} for the defaults). */
export function reconnectPolicy(o: ReconnectOptions = {}): ReconnectPolicy {
  const base = o.baseDelayMs ?? 200;
  const cap = o.maxDelayMs ?? 5000;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const custom = o.delay;
  return {
    maxRetries: Math.max(0, o.maxRetries ?? 5),
    delayMs(failures, peer) {
      if (failures <= 0) return 0;
      if (custom) return Math.max(0, custom(failures, peer));
      const d = Math.min(cap, base * 2 ** Math.min(failures - 1, 30));
      return Math.round(d * (1 - jitter * Math.random()));
    },
  };
}

/**
 * A change of a peer's connection state:
 * - `connecting`: we started dialing `peer` (`attempt` counts dials since it was last up, from 1);
 * - `up`: a connection is up (either direction);
 * - `down`: a connection was lost, or a dial failed (`reason`); `retryInMs`
 *   is set when messages are waiting and another dial is scheduled.
 */
export type PeerStatus =
  | { peer: string; state: 'connecting'; attempt: number }
  | { peer: string; state: 'up' }
  | { peer: string; state: 'down'; reason: DistError; retryInMs?: number };

/** Options of `node.status()`. */
export interface StatusOptions {
  /** Ends the iteration when it fires. */
  signal?: AbortSignal;
  /** Most undelivered statuses kept; older ones are dropped past it. Default 10 000. */
  maxQueued?: number;
}

/**
 * A queue of statuses read as an async iterable. `push` adds, `end` finishes
 * (pending reads resolve as done). Reading stops the feed when the consumer
 * breaks out of `for await` (through `return`).
 */
export class StatusStream implements AsyncIterableIterator<PeerStatus> {
  private readonly q: PeerStatus[] = [];
  private readonly waiting: ((r: IteratorResult<PeerStatus>) => void)[] = [];
  private ended = false;
  /** Statuses dropped because the consumer lagged past `maxQueued`. */
  dropped = 0;

  constructor(
    private readonly detach: () => void,
    private readonly maxQueued = 10_000,
  ) {}

  push(s: PeerStatus): void {
    if (this.ended) return;
    const w = this.waiting.shift();
    if (w) {
      w({ value: s, done: false });
      return;
    }
    if (this.q.length >= this.maxQueued) {
      this.q.shift();
      this.dropped++;
    }
    this.q.push(s);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.detach();
    for (const w of this.waiting.splice(0)) w({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<PeerStatus>> {
    const s = this.q.shift();
    if (s !== undefined) return Promise.resolve({ value: s, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  return(): Promise<IteratorResult<PeerStatus>> {
    this.q.length = 0;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<PeerStatus> {
    return this;
  }
}
