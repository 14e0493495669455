// A process mailbox: a queue of terms with selective receive, per-receive
// timeouts and abort signals, and an async iterator over it (a queued
// iterator in the manner of nats.js). Delivery never blocks: a message goes to
// the oldest pending receive whose `match` accepts it, else to the queue.
import type { Term } from '../etf/types.js';
import { deadline } from '../deadline.js';
import { NodeError, abortError } from './errors.js';

/** Options of a receive. */
export interface ReceiveOptions {
  /**
   * Give up after this many milliseconds with `ERR_TIMEOUT`. `0` only looks at
   * what is queued already (Erlang's `after 0`). Default: wait forever.
   */
  timeoutMs?: number;
  /**
   * Selective receive: the first queued (or later arriving) message for which
   * this returns true. `process.receive` also takes an Erlang pattern here (a
   * string or `pattern`), and then resolves with the pattern's variables.
   */
  match?: (message: Term) => boolean;
  /** Rejects with `ERR_ABORTED` when it fires. */
  signal?: AbortSignal;
}

/** What {@link Mailbox.take} returns when nothing matches. */
export const NONE: unique symbol = Symbol('none');

interface Waiter {
  match: ((m: Term) => boolean) | undefined;
  resolve: (m: Term) => void;
  reject: (e: Error) => void;
}

/** Counters of one mailbox. */
export interface MailboxStats {
  /** Messages delivered (queued or handed to a waiting receive). */
  delivered: number;
  /** Messages taken by receives. */
  received: number;
  /** Messages dropped because the mailbox was closed. */
  dropped: number;
}

/**
 * The message queue of one process. {@link close} ends it: pending receives
 * reject (with the given error, `ERR_PROCESS_EXITED`), later deliveries are
 * dropped, and iterators end (normally for a normal exit, else by throwing).
 */
export class Mailbox implements AsyncIterable<Term> {
  private q: Term[] = [];
  private head = 0;
  private readonly waiters: Waiter[] = [];
  private closedWith: { make: () => NodeError; error: NodeError | undefined; normal: boolean } | undefined;
  readonly stats: MailboxStats = { delivered: 0, received: 0, dropped: 0 };

  /** Messages waiting in the queue. */
  get size(): number {
    return this.q.length - this.head;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Delivers a message. Returns false (and drops it) when closed. */
  push(m: Term): boolean {
    if (this.closedWith) {
      this.stats.dropped++;
      return false;
    }
    this.stats.delivered++;
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      let ok: boolean;
      try {
        ok = w.match === undefined || w.match(m);
      } catch (e) {
        // A throwing match fails its own receive and does not consume the message.
        this.waiters.splice(i--, 1);
        w.reject(e as Error);
        continue;
      }
      if (ok) {
        this.waiters.splice(i, 1);
        this.stats.received++;
        w.resolve(m);
        return true;
      }
    }
    this.q.push(m);
    return true;
  }

  /**
   * Takes the first queued message that `match` accepts; `NONE` when there is
   * none. Throws what `match` throws.
   */
  take(match?: (m: Term) => boolean): Term | typeof NONE {
    const q = this.q;
    for (let i = this.head; i < q.length; i++) {
      const m = q[i];
      if (match === undefined || match(m)) {
        if (i === this.head) return this.shift();
        q.splice(i, 1);
        this.stats.received++;
        return m;
      }
    }
    return NONE;
  }

  /** Waits for a message (see {@link ReceiveOptions}). */
  receive(o: ReceiveOptions = {}): Promise<Term> {
    const { match, timeoutMs, signal } = o;
    try {
      const m = this.take(match);
      if (m !== NONE) return Promise.resolve(m);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.closedWith) return Promise.reject(this.closeError());
    if (signal?.aborted) return Promise.reject(abortError(signal, 'receive'));
    if (timeoutMs !== undefined && timeoutMs <= 0) {
      return Promise.reject(new NodeError('ERR_TIMEOUT', 'receive: no matching message'));
    }
    // Without a deadline the waiter is the promise's own functions (no timer, no closures).
    if (signal === undefined && (timeoutMs === undefined || !Number.isFinite(timeoutMs))) {
      return new Promise<Term>((resolve, reject) => {
        this.waiters.push({ match, resolve, reject });
      });
    }
    return new Promise<Term>((resolve, reject) => {
      const w: Waiter = {
        match,
        resolve: (m) => {
          d.clear();
          resolve(m);
        },
        reject: (e) => {
          d.clear();
          reject(e);
        },
      };
      const drop = (e: Error) => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        w.reject(e);
      };
      const d = deadline(
        { timeoutMs, signal },
        () => drop(new NodeError('ERR_TIMEOUT', `receive: nothing matched within ${timeoutMs} ms`)),
        () => drop(abortError(signal!, 'receive')),
      );
      this.waiters.push(w);
    });
  }

  /**
   * Closes the mailbox with the error later receives reject with (made only
   * when needed: most processes end with nobody waiting). `normal` marks a
   * normal exit: iterators then end instead of throwing. Queued messages are
   * discarded. Idempotent.
   */
  close(error: NodeError | (() => NodeError), normal: boolean): void {
    if (this.closedWith) return;
    this.closedWith = { make: typeof error === 'function' ? error : () => error, error: undefined, normal };
    this.stats.dropped += this.size;
    this.q = [];
    this.head = 0;
    if (this.waiters.length > 0) {
      const e = this.closeError()!;
      for (const w of this.waiters.splice(0)) w.reject(e);
    }
  }

  /** The error of a closed mailbox (the same object every time). */
  private closeError(): NodeError | undefined {
    const c = this.closedWith;
    if (!c) return undefined;
    c.error ??= c.make();
    return c.error;
  }

  /** Iterates over messages as they arrive, until the mailbox closes. */
  [Symbol.asyncIterator](): AsyncIterator<Term> {
    const ended = (e: unknown): IteratorResult<Term> => {
      if (this.closedWith && e === this.closeError() && this.closedWith.normal) return { value: undefined, done: true };
      throw e;
    };
    return {
      next: () => {
        // A queued message is taken at once (one settled promise, no receive).
        if (this.head < this.q.length) return Promise.resolve({ value: this.shift(), done: false });
        if (this.closedWith) return Promise.reject(this.closeError()).catch(ended);
        // Wait with a waiter that settles the iterator's promise itself (no `.then` hop per message).
        return new Promise<IteratorResult<Term>>((resolve, reject) => {
          this.waiters.push({
            match: undefined,
            resolve: (value) => resolve({ value, done: false }),
            reject: (e) => {
              try {
                resolve(ended(e));
              } catch (x) {
                reject(x);
              }
            },
          });
        });
      },
      return: async () => ({ value: undefined, done: true }),
    };
  }

  /** Takes the oldest queued message (the queue must not be empty). */
  private shift(): Term {
    const q = this.q;
    const m = q[this.head];
    q[this.head] = undefined;
    this.head++;
    if (this.head >= q.length) {
      this.q = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > q.length) {
      this.q = q.slice(this.head);
      this.head = 0;
    }
    this.stats.received++;
    return m;
  }
}
