// One timer per worker for every user's planned actions and waits: callbacks
// go into 100 ms slots of a wheel that a single interval turns, instead of a
// Node timer per user and per wait (10,000 users schedule ~100,000 of those a
// minute). A callback runs in the first turn at or after its time, so up to
// one slot late; nothing the simulator times is that fine (latencies are
// measured with performance.now, not with these timers).

const SLOT_MS = 100;

export class Wheel {
  private readonly slots = new Map<number, (() => void)[]>();
  private done: number;
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.done = Math.floor(Date.now() / SLOT_MS) - 1;
    this.timer = setInterval(() => this.turn(), SLOT_MS);
  }

  /** Runs `fn` at epoch ms `at` (at once, in the next turn, when that has passed). */
  at(at: number, fn: () => void): void {
    const slot = Math.max(this.done + 1, Math.ceil(at / SLOT_MS));
    const list = this.slots.get(slot);
    if (list) list.push(fn);
    else this.slots.set(slot, [fn]);
  }

  /** Runs `fn` after `ms`. */
  after(ms: number, fn: () => void): void {
    this.at(Date.now() + ms, fn);
  }

  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Callbacks waiting. */
  get size(): number {
    let n = 0;
    for (const l of this.slots.values()) n += l.length;
    return n;
  }

  private turn(): void {
    const now = Math.floor(Date.now() / SLOT_MS);
    while (this.done < now) {
      const slot = ++this.done;
      const list = this.slots.get(slot);
      if (!list) continue;
      this.slots.delete(slot);
      for (const fn of list) fn();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.slots.clear();
  }
}
