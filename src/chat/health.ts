// Which cluster nodes are down, for both transports. A node is marked down
// when a call finds it unreachable (or the node layer reports nodedown);
// from then on calls for its users fail at once, and a probe loop with the
// node layer's backoff policy asks it, until it answers, whether it serves
// again. Then `onRecovered` runs (the transport re-reads the map and makes
// its subscriptions again).
import type { BackoffPolicy } from '../backoff.js';
import { deadline } from '../deadline.js';

interface State {
  /** performance.now() when it went down. */
  since: number;
  probing: boolean;
  /** The next scheduled probe. */
  timer: NodeJS.Timeout | undefined;
}

/** The down set and its probe loops (used by the cluster clients). */
export class Health {
  private readonly down = new Map<string, State>();

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly closing: AbortSignal,
    /** Resolves true once `node` serves again. */
    private readonly probe: (node: string) => Promise<boolean>,
    private readonly onRecovered: (node: string, downMs: number) => void,
    private readonly onDown: (node: string) => void = () => {},
  ) {}

  /** True while `node` is considered down. */
  isDown(node: string): boolean {
    return this.down.size !== 0 && this.down.has(node);
  }

  /** The nodes considered down. */
  nodes(): string[] {
    return [...this.down.keys()];
  }

  /** Marks `node` down (once) and starts probing it. */
  markDown(node: string): void {
    if (this.closing.aborted || this.down.has(node)) return;
    const st: State = { since: performance.now(), probing: false, timer: undefined };
    this.down.set(node, st);
    this.onDown(node);
    this.schedule(node, st, 1);
  }

  /** Probes `node` now (for example on nodeup) unless a probe is running. */
  nudge(node: string): void {
    const st = this.down.get(node);
    if (st === undefined || st.probing) return;
    clearTimeout(st.timer);
    void this.attempt(node, st, 1);
  }

  /** Runs `run` after `ms` unless the client closes first. */
  later(ms: number, run: () => void): void {
    if (!this.closing.aborted) deadline({ timeoutMs: ms, signal: this.closing }, run, () => {});
  }

  /** Backoff delay before attempt `n` (1-based) for `node`. */
  delayMs(n: number, node: string): number {
    return this.policy.delayMs(n, node);
  }

  private schedule(node: string, st: State, failures: number): void {
    if (this.closing.aborted) return;
    st.timer = setTimeout(() => void this.attempt(node, st, failures), this.policy.delayMs(failures, node));
  }

  /** Stops every probe (the client is closing). */
  stop(): void {
    for (const st of this.down.values()) clearTimeout(st.timer);
  }

  private async attempt(node: string, st: State, failures: number): Promise<void> {
    if (this.down.get(node) !== st || st.probing) return;
    st.probing = true;
    let ok = false;
    try {
      ok = await this.probe(node);
    } catch {
      ok = false;
    }
    st.probing = false;
    if (this.closing.aborted || this.down.get(node) !== st) return;
    if (ok) {
      this.down.delete(node);
      this.onRecovered(node, performance.now() - st.since);
    } else this.schedule(node, st, failures + 1);
  }
}
