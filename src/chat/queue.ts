// One subscription's events as a queued async iterator: the transport
// pushes, the consumer reads with `for await`. Breaking out of the loop
// (`return`), `close()` or the subscribe signal ends it and calls the
// transport's `onClose` once (which unsubscribes).
import type { ChatEvent, ChatSubscription } from './types.js';

/** @internal A {@link ChatSubscription} fed by a transport. */
export class EventQueue implements ChatSubscription {
  private readonly q: ChatEvent[] = [];
  private head = 0;
  private readonly waiting: ((r: IteratorResult<ChatEvent>) => void)[] = [];
  private ended = false;
  private closing: Promise<void> | undefined;
  private readonly onAbort: () => void;
  dropped = 0;

  constructor(
    readonly userId: bigint,
    private readonly onClose: (q: EventQueue) => Promise<void>,
    private readonly maxQueued = 10_000,
    private readonly signal?: AbortSignal,
  ) {
    this.onAbort = () => void this.close();
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** True once ended (closed, aborted, or the client closed). */
  get done(): boolean {
    return this.ended;
  }

  /** Adds an event (dropped when ended; the oldest is dropped past `maxQueued`). */
  push(ev: ChatEvent): void {
    if (this.ended) return;
    const w = this.waiting.shift();
    if (w) {
      w({ value: ev, done: false });
      return;
    }
    if (this.q.length - this.head >= this.maxQueued) {
      this.head++;
      this.dropped++;
    }
    this.q.push(ev);
  }

  /** Ends the iteration without unsubscribing (the transport has already let go). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.q.length = 0;
    this.head = 0;
    for (const w of this.waiting.splice(0)) w({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<ChatEvent>> {
    if (this.head < this.q.length) {
      const value = this.q[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.q.length) {
        this.q.splice(0, this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async return(): Promise<IteratorResult<ChatEvent>> {
    await this.close();
    return { value: undefined, done: true };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.end();
      await this.onClose(this).catch(() => {});
    })();
    return this.closing;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
