// The node's memory guard: before V8's heap is exhausted (which aborts the
// whole process and every connection with it), the node refuses new work and
// relieves the pressure. Sampled on a timer (`v8.getHeapStatistics()`, a few
// microseconds), never on the message path. Policy (NodeOptions.memoryGuard):
// - while the old generation is over `maxHeapRatio` of its limit, `spawn`
//   and everything built on it (call, rpc, ping, serve, incoming erpc)
//   fails with NodeError `ERR_OVERLOADED`;
// - at once, the process with the longest mailbox (at least
//   `shedMinMessages`) exits with `mailbox_overflow`, which its links and
//   monitors see, and its queued messages are freed; then at most one more
//   every 10 samples while it stays over, the time for V8 to collect what
//   was freed;
// - a mailbox that grows by another BACKLOG_STEP (4,096) messages makes the
//   guard sample at once (process.ts): timers run late under a flood.
// - under `maxHeapRatio - 0.05` the node takes work again.
// The margin matters: near its limit V8 spends its time in full collections
// and timers (this one included) stop running, so the guard acts well before.
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import type { Logger } from './diagnostics.js';
import { MAILBOX_OVERFLOW, type LocalProcess } from './process.js';

/** Settings of the memory guard (see `NodeOptions.memoryGuard`). */
export interface MemoryGuardOptions {
  /** Old generation in use / its limit at which the node is overloaded; default 0.75. */
  maxHeapRatio?: number;
  /** Sampling period; default 100 ms. */
  intervalMs?: number;
  /** The smallest mailbox the guard ends to relieve the heap; default 10 000 messages. */
  shedMinMessages?: number;
}

/**
 * The young generation's share of V8's `heap_size_limit`: three semi-spaces
 * of `--max-semi-space-size` MB (16 by default on 64-bit Node 20). The old
 * generation, where queued messages end up and where V8 runs out, gets the
 * rest: `--max-old-space-size=64` gives a `heap_size_limit` of 112 MB.
 */
function youngReserve(): number {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  const m = /--max-semi-space-size[= ](\d+)/.exec(flags);
  return 3 * (m ? Number(m[1]) : 16) * 1048576;
}

let oldLimit: number | undefined;

/**
 * The old generation in use as a fraction of what V8 allows it before it
 * aborts. The young generation is left out: its garbage swings by many
 * megabytes between scavenges, and what a flood keeps alive is promoted.
 */
export function heapRatio(): number {
  oldLimit ??= Math.max(getHeapStatistics().heap_size_limit / 2, getHeapStatistics().heap_size_limit - youngReserve());
  let used = 0;
  for (const s of getHeapSpaceStatistics()) if (!s.space_name.startsWith('new_')) used += s.space_used_size;
  return used / oldLimit;
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

  /**
   * `processes` lists the node's live processes (the candidates for relief);
   * `sample` measures the heap (tests give a fake one).
   */
  constructor(
    o: MemoryGuardOptions,
    private readonly logger: Logger,
    private readonly processes: () => Iterable<LocalProcess>,
    private readonly sample: () => number = heapRatio,
  ) {
    this.maxRatio = o.maxHeapRatio ?? 0.75;
    this.shedMin = o.shedMinMessages ?? 10_000;
    this.timer = setInterval(() => this.check(), o.intervalMs ?? 100);
    this.timer.unref();
  }

  /** One sample (the timer calls it; tests may too). */
  check(): void {
    const r = this.sample();
    if (!this.overloaded) {
      if (r < this.maxRatio) return;
      this.overloaded = true;
      this.over = 0;
      this.logger.error(`memory guard: ${Math.round(r * 100)}% of the heap limit in use; new work is refused (ERR_OVERLOADED)`);
    } else if (r < this.maxRatio - 0.05) {
      this.overloaded = false;
      this.logger.warn(`memory guard: ${Math.round(r * 100)}% of the heap limit in use; taking work again`);
      return;
    }
    // Overloaded (the hysteresis band counts too): relieve now, then every 10 samples at most.
    if (this.over++ >= 0 && this.relieve()) {
      this.shed++;
      this.over = -9;
    }
  }

  /** The longest mailbox (of at least `shedMin` messages) exits with `mailbox_overflow`; false when there is none. */
  private relieve(): boolean {
    let worst: LocalProcess | undefined;
    for (const p of this.processes()) if (p.mailbox.size >= this.shedMin && (!worst || p.mailbox.size > worst.mailbox.size)) worst = p;
    if (!worst) return false;
    this.logger.error(`memory guard: process ${worst.pid} exits with mailbox_overflow to free ${worst.mailbox.size} queued messages`, {
      pid: String(worst.pid),
    });
    worst.exit(MAILBOX_OVERFLOW);
    return true;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
