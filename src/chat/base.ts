// What both cluster clients share above their wire: the slot table and its
// refresh, the down set (health.ts), deadlines, presence split by owner,
// `friends` from any node, close. A transport supplies `mapAt` (read the
// partition map from one node or seed) and `probe` (does a down node serve
// again?), and makes its calls through `routed` (routing.ts).
import { setMaxListeners } from 'node:events';
import { backoffPolicy, type BackoffOptions } from '../backoff.js';
import { PresenceState, type SlotRange } from '../thrift/gen/chat.js';
import { I64Map } from '../thrift/i64map.js';
import { presenceIds } from './checks.js';
import { ChatClosedError, ChatUnavailableError } from './errors.js';
import { Health } from './health.js';
import { CallBudget, budget, SlotTable, type SlotOwner } from './routing.js';
import type { ChatCallOptions, UserId } from './types.js';

/** Options both cluster clients take. */
export interface ClusterClientOptions {
  /** Default `timeoutMs` of every call, ms (default 5000). */
  callTimeoutMs?: number;
  /**
   * How a node that is down is probed until it serves again: the library's
   * backoff policy (`baseDelayMs` default 50, `maxDelayMs` default 500,
   * `jitter` default 0.5, or a `delay(attempt, node)` function). Probing
   * never gives up while the client is open.
   */
  recovery?: Omit<BackoffOptions, 'maxRetries'>;
  /** Time one probe may take, ms (default 2000). */
  probeTimeoutMs?: number;
}

/** The transport-independent half of ChatCluster and ChatChannelCluster (not constructed directly). */
export abstract class ClusterClient<Seed> {
  /** @internal */
  readonly table = new SlotTable();
  protected readonly callTimeoutMs: number;
  protected readonly probeTimeoutMs: number;
  protected readonly closer = new AbortController();
  protected readonly health: Health;
  private refreshing: Promise<SlotRange[]> | undefined;
  /** How many times the partition map was read. */
  refreshes = 0;

  constructor(
    protected readonly seeds: readonly Seed[],
    o: ClusterClientOptions,
  ) {
    this.callTimeoutMs = o.callTimeoutMs ?? 5000;
    this.probeTimeoutMs = o.probeTimeoutMs ?? 2000;
    setMaxListeners(0, this.closer.signal);
    this.health = new Health(
      backoffPolicy({ maxDelayMs: 500, ...o.recovery }, { baseDelayMs: 50, maxRetries: Infinity }),
      this.closer.signal,
      (node) => this.probe(node),
      (node) => this.recovered(node),
      (node) => this.wentDown(node),
    );
  }

  /** Reads the partition map at a seed (`Seed`) or a node of the map (`SlotOwner`). */
  protected abstract mapAt(at: Seed | SlotOwner, d: CallBudget): Promise<SlotRange[]>;
  /** Resolves true once `node` serves again (then the client installs its map). */
  protected abstract probe(node: string): Promise<boolean>;
  /** `node` serves again. */
  protected abstract recovered(node: string): void;
  /** `node` was marked down. */
  protected abstract wentDown(node: string): void;

  /** True once closed. */
  get closed(): boolean {
    return this.closer.signal.aborted;
  }

  /** The last partition map read. */
  get partitions(): readonly SlotRange[] {
    return this.table.map;
  }

  /** True while this client considers `node` down (calls for its users fail at once). */
  isDown(node: string): boolean {
    return this.health.isDown(node);
  }

  /** @internal Re-reads the partition map from a seed or a node that is up (one read at a time; concurrent callers share it). */
  refresh(d: CallBudget): Promise<SlotRange[]> {
    this.refreshing ??= this.readMap(d).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async readMap(d: CallBudget): Promise<SlotRange[]> {
    const candidates: (Seed | SlotOwner)[] = [...this.seeds, ...this.table.nodes().filter((o) => !this.isDown(o.node))];
    let last: unknown;
    for (const at of candidates) {
      try {
        const map = await this.mapAt(at, d);
        this.install(map);
        return map;
      } catch (e) {
        if (d.aborted) throw e;
        last = e;
      }
    }
    throw new ChatUnavailableError('no cluster node answered partitionMap', { cause: last });
  }

  protected install(map: SlotRange[]): void {
    this.table.install(map);
    this.refreshes++;
  }

  /** True when `map` names every node the current table does (a restarted node has heard from the others). */
  protected complete(map: SlotRange[]): boolean {
    const known = new Set(map.map((r) => r.node));
    return this.table.nodes().every((o) => known.has(o.node));
  }

  protected dl(what: string, o: ChatCallOptions | undefined, extraMs = 0): CallBudget {
    return budget(what, o, this.callTimeoutMs, this.closer.signal, extraMs);
  }

  async partitionMap(o?: ChatCallOptions): Promise<SlotRange[]> {
    return this.refresh(this.dl('partitionMap', o));
  }

  /**
   * presence() split by owner: `ask` runs once per owning node that is up,
   * in parallel, and fills `out`. Ids whose owner is down, unreachable or
   * unknown stay OFFLINE.
   */
  protected async presenceByOwner(
    userIds: Iterable<UserId>,
    o: ChatCallOptions | undefined,
    ask: (owner: SlotOwner, ids: bigint[], d: CallBudget, out: I64Map<PresenceState>) => Promise<void>,
  ): Promise<I64Map<PresenceState>> {
    const ids = presenceIds(userIds);
    const d = this.dl('presence', o);
    if (ids.some((id) => this.table.ownerOf(id) === undefined)) await this.refresh(d).catch(() => undefined);
    const out = new I64Map<PresenceState>(ids.length);
    const groups = new Map<SlotOwner, bigint[]>();
    for (const id of ids) {
      out.set(id, PresenceState.OFFLINE);
      const owner = this.table.ownerOf(id);
      if (owner === undefined || this.isDown(owner.node)) continue;
      let g = groups.get(owner);
      if (g === undefined) groups.set(owner, (g = []));
      g.push(id);
    }
    await Promise.all(
      [...groups].map(([owner, group]) =>
        ask(owner, group, d, out).catch((e: unknown) => {
          if (!(e instanceof ChatUnavailableError)) throw e;
        }),
      ),
    );
    return out;
  }

  /** Runs `first`; if it is ERR_CHAT_UNAVAILABLE, runs `at` at every other node that is up until one answers. */
  protected async anyNode<T>(first: () => Promise<T>, at: (owner: SlotOwner) => Promise<T>): Promise<T> {
    try {
      return await first();
    } catch (e) {
      if (!(e instanceof ChatUnavailableError)) throw e;
      for (const n of this.table.nodes()) {
        if (this.isDown(n.node) || n.node === e.node) continue;
        try {
          return await at(n);
        } catch (e2) {
          if (!(e2 instanceof ChatUnavailableError)) throw e2;
        }
      }
      throw e;
    }
  }

  /** Rejects at once when closed. */
  protected checkOpen(): void {
    if (this.closed) throw new ChatClosedError();
  }

  /** Stops probes and ends held polls (their long calls carry the closing signal). */
  protected shutdown(): boolean {
    if (this.closed) return false;
    this.closer.abort(new ChatClosedError());
    this.health.stop();
    return true;
  }
}
