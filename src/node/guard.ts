// The node's memory guard: before V8's heap is exhausted (which aborts the
// whole process and every connection with it), the node refuses new work and
// relieves the pressure. Sampled on a timer (`v8.getHeapStatistics()`, a few
// microseconds), never on the message path. Policy (NodeOptions.memoryGuard):
// - while the used heap is over `maxHeapRatio` of the heap limit, `spawn` and
//   everything built on it (call, rpc, ping, serve, incoming erpc) fails with
//   NodeError `ERR_OVERLOADED`;
// - when it stays over for two samples in a row, the process with the longest
//   mailbox (at least `shedMinMessages`) exits with `mailbox_overflow`, which
//   its links and monitors see, and its queued messages are freed;
// - under `maxHeapRatio - 0.05` the node takes work again.
import { getHeapStatistics } from 'node:v8';

/** Settings of the memory guard (see `NodeOptions.memoryGuard`). */
export interface MemoryGuardOptions {
  /** Used heap / heap limit at which the node is overloaded; default 0.85. */
  maxHeapRatio?: number;
  /** Sampling period; default 100 ms. */
  intervalMs?: number;
  /** The smallest mailbox the guard ends to relieve the heap; default 10 000 messages. */
  shedMinMessages?: number;
}

/** The heap in use as a fraction of V8's limit. */
export function heapRatio(): number {
  const h = getHeapStatistics();
  return h.used_heap_size / h.heap_size_limit;
}

export class MemoryGuard {
  /** True while the heap is over the guard. */
  overloaded = false;
  /** Times the guard ended a process to relieve the heap. */
  shed = 0;
  private over = 0;
  private readonly timer: NodeJS.Timeout;
  readonly maxRatio: number;
  readonly shedMin: number;

  constructor(
    o: MemoryGuardOptions,
    private readonly onChange: (overloaded: boolean, ratio: number) => void,
    private readonly relieve: (minMessages: number) => boolean,
    private readonly sample: () => number = heapRatio,
  ) {
    this.maxRatio = o.maxHeapRatio ?? 0.85;
    this.shedMin = o.shedMinMessages ?? 10_000;
    this.timer = setInterval(() => this.check(), o.intervalMs ?? 100);
    this.timer.unref();
  }

  /** One sample (the timer calls it; tests may too). */
  check(): void {
    const r = this.sample();
    if (r >= this.maxRatio) {
      this.over++;
      if (!this.overloaded) {
        this.overloaded = true;
        this.onChange(true, r);
      }
      if (this.over >= 2 && this.relieve(this.shedMin)) {
        this.shed++;
        this.over = 0;
      }
    } else {
      this.over = 0;
      if (this.overloaded && r < this.maxRatio - 0.05) {
        this.overloaded = false;
        this.onChange(false, r);
      }
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
