// The reconnect policy of a node (the library's one backoff policy, see
// src/backoff.ts) and the peer status stream (an async iterable of status
// changes, in the manner of nats.js's `status()`).
import type { DistError } from '../dist/index.js';
import { backoffPolicy, type BackoffOptions, type BackoffPolicy } from '../backoff.js';

/**
 * How a node retries the messages waiting for a peer it could not reach (the
 * library's one backoff policy: the same options as an EPMD registration's
 * and a Thrift client's `reconnect`). New work for the peer (a send, a call,
 * a monitor...) dials at once whatever the backoff, as OTP does (see
 * `NodeOptions.reconnect`); the backoff spaces the retries of messages that
 * wait with nothing new arriving: retry `n` comes `delay(n, peer)` after the
 * failure (by default `min(maxDelayMs, baseDelayMs * 2^(n-1))`, minus up to
 * `jitter` of it at random). After `maxRetries` failed retries the waiting
 * messages are dropped, as OTP drops messages to an unreachable node;
 * `maxRetries: 0` drops them at once, as OTP does. Links and monitors across
 * the peer fire with `noconnection` at the first failed attempt, as in OTP.
 * Defaults: `baseDelayMs` 200, `maxDelayMs` 5000, `jitter` 0.5, `maxRetries` 5.
 */
export type ReconnectOptions = BackoffOptions;

/** The resolved policy. */
export type ReconnectPolicy = BackoffPolicy;

/** Builds the policy from the options (see {@link ReconnectOptions} for the defaults). */
export function reconnectPolicy(o: ReconnectOptions = {}): ReconnectPolicy {
  return backoffPolicy(o, { baseDelayMs: 200, maxRetries: 5 });
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
