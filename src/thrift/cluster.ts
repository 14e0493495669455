// A partition-aware client for a cluster of ChatChannel servers.
//
// User ids map to 1024 slots (slot = id mod 1024, floored, so negative ids
// land in 0..1023 too). Any node answers partitionMap() with the slot ranges,
// each naming its node (`name@host`) and Thrift port. The cluster client reads
// the map from a seed, keeps one pooled ChatChannelClient per node, and routes
// each call to the owner of its user: send and typing by the sender, the rest
// by their user, presence() split by owner and merged. When a node answers
// WrongPartition (the map moved, like Redis Cluster's MOVED), the client
// refreshes the map and retries once, at the owner of the id named in the error.
import {
  ChatChannelClient,
  WrongPartition,
  type ChatMessage,
  type PollResult,
  type Presence,
  type PresenceState,
  type SlotRange,
} from './gen/chat.js';
import type { ThriftClientOptions } from './client.js';
import { I64Map } from './i64map.js';
import type { CallOptions, I64Input } from './service.js';
import { ThriftClientClosedError, ThriftNoOwnerError, ThriftNotConnectedError } from './errors.js';

/** Number of hash slots user ids are spread over. */
export const CHAT_SLOTS = 1024;

/** A node's Thrift endpoint. */
export interface ClusterEndpoint {
  host: string;
  port: number;
}

/** Options of {@link ChatChannelCluster.connect}: seeds, plus the options every per-node client gets. */
export interface ChatChannelClusterOptions extends Omit<ThriftClientOptions, 'host' | 'port'> {
  /** Nodes to read the partition map from (any one that answers is enough). */
  seeds: ClusterEndpoint[];
  /** The host to connect to for a node name (default: the part after `@`, e.g. `stub1@127.0.0.1` -> `127.0.0.1`). */
  resolveHost?: (node: string) => string;
}

/** The slot of a user id: `id mod 1024`, floored. */
export function slotOf(userId: I64Input): number {
  const id = BigInt(userId);
  return Number(((id % 1024n) + 1024n) % 1024n);
}

const key = (e: ClusterEndpoint) => `${e.host}:${e.port}`;

/** A ChatChannel client over a partitioned cluster. Methods mirror {@link ChatChannelClient}. */
export class ChatChannelCluster {
  private readonly o: ChatChannelClusterOptions;
  private owners: (ClusterEndpoint | undefined)[] = new Array<ClusterEndpoint | undefined>(CHAT_SLOTS);
  private map: SlotRange[] = [];
  private readonly clients = new Map<string, Promise<ChatChannelClient>>();
  private refreshing: Promise<SlotRange[]> | undefined;
  private closed = false;
  /** How many times the partition map was read. */
  refreshes = 0;

  private constructor(o: ChatChannelClusterOptions) {
    this.o = o;
  }

  /** Reads the partition map from the seeds and returns a routing client. */
  static async connect(o: ChatChannelClusterOptions): Promise<ChatChannelCluster> {
    if (o.seeds.length === 0) throw new TypeError('ChatChannelCluster needs at least one seed');
    const c = new ChatChannelCluster(o);
    try {
      await c.refresh();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** The last partition map read. */
  get partitions(): readonly SlotRange[] {
    return this.map;
  }

  /** The endpoint owning a user id's slot, per the last map read. */
  ownerOf(userId: I64Input): ClusterEndpoint | undefined {
    return this.owners[slotOf(userId)];
  }

  private endpointOf(r: { node: string; thriftPort: number }): ClusterEndpoint {
    const host = this.o.resolveHost ? this.o.resolveHost(r.node) : (r.node.split('@')[1] ?? r.node);
    return { host, port: r.thriftPort };
  }

  /** Re-reads the partition map (one read at a time; concurrent callers share it). */
  refresh(opts?: CallOptions): Promise<SlotRange[]> {
    this.refreshing ??= this.readMap(opts).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async readMap(opts?: CallOptions): Promise<SlotRange[]> {
    // Seeds first, then every node we know of.
    const candidates = new Map<string, ClusterEndpoint>();
    for (const s of this.o.seeds) candidates.set(key(s), s);
    for (const e of this.owners) if (e) candidates.set(key(e), e);
    let last: unknown;
    for (const ep of candidates.values()) {
      try {
        const client = await this.clientAt(ep);
        const map = await client.partitionMap(opts);
        this.install(map);
        this.refreshes++;
        return map;
      } catch (e) {
        last = e;
      }
    }
    throw new ThriftNotConnectedError('no cluster node answered partitionMap()', { cause: last });
  }

  private install(map: SlotRange[]): void {
    const owners = new Array<ClusterEndpoint | undefined>(CHAT_SLOTS);
    for (const r of map) {
      if (r.thriftPort <= 0) continue;
      const ep = this.endpointOf(r);
      for (let s = Math.max(0, r.first); s <= Math.min(CHAT_SLOTS - 1, r.last); s++) owners[s] = ep;
    }
    this.owners = owners;
    this.map = map;
  }

  private clientAt(ep: ClusterEndpoint): Promise<ChatChannelClient> {
    if (this.closed) return Promise.reject(new ThriftClientClosedError('the cluster client is closed'));
    const k = key(ep);
    let c = this.clients.get(k);
    if (c === undefined) {
      const { seeds: _seeds, resolveHost: _r, ...clientOptions } = this.o;
      c = ChatChannelClient.connect({ ...clientOptions, host: ep.host, port: ep.port });
      c.catch(() => this.clients.delete(k));
      this.clients.set(k, c);
    }
    return c;
  }

  private async ownerClient(userId: I64Input): Promise<ChatChannelClient> {
    let ep = this.ownerOf(userId);
    if (ep === undefined) {
      await this.refresh();
      ep = this.ownerOf(userId);
    }
    if (ep === undefined) throw new ThriftNoOwnerError(slotOf(userId));
    return this.clientAt(ep);
  }

  /** Runs `call` at the owner of `userId`; on WrongPartition refreshes the map and retries once. */
  private async route<T>(userId: I64Input, call: (c: ChatChannelClient) => Promise<T>): Promise<T> {
    try {
      return await call(await this.ownerClient(userId));
    } catch (e) {
      if (!(e instanceof WrongPartition)) throw e;
      await this.refresh();
      let ep = this.ownerOf(e.userId);
      if (ep === undefined && e.owner && e.thriftPort > 0) ep = this.endpointOf({ node: e.owner, thriftPort: e.thriftPort });
      if (ep === undefined) throw new ThriftNoOwnerError(slotOf(e.userId));
      return call(await this.clientAt(ep));
    }
  }

  login(userId: I64Input, options?: CallOptions): Promise<bigint> {
    return this.route(userId, (c) => c.login(userId, options));
  }
  logout(userId: I64Input, options?: CallOptions): Promise<void> {
    return this.route(userId, (c) => c.logout(userId, options));
  }
  /** Routed by the sender. */
  send(fromId: I64Input, toId: I64Input, text: string, clientMsgId: string, options?: CallOptions): Promise<ChatMessage> {
    return this.route(fromId, (c) => c.send(fromId, toId, text, clientMsgId, options));
  }
  /** Routed by the sender. */
  typing(fromId: I64Input, toId: I64Input, active: boolean, options?: CallOptions): Promise<void> {
    return this.route(fromId, (c) => c.typing(fromId, toId, active, options));
  }
  poll(userId: I64Input, afterSeq: I64Input, timeoutMs: number, options?: CallOptions): Promise<PollResult> {
    return this.route(userId, (c) => c.poll(userId, afterSeq, timeoutMs, options));
  }
  touch(userId: I64Input, options?: CallOptions): Promise<void> {
    return this.route(userId, (c) => c.touch(userId, options));
  }
  friendsPresence(userId: I64Input, options?: CallOptions): Promise<Presence[]> {
    return this.route(userId, (c) => c.friendsPresence(userId, options));
  }
  history(userId: I64Input, peerId: I64Input, limit: number, options?: CallOptions): Promise<ChatMessage[]> {
    return this.route(userId, (c) => c.history(userId, peerId, limit, options));
  }

  /** Presence of many users: one call per owning node, in parallel, merged. */
  async presence(userIds: readonly I64Input[], options?: CallOptions): Promise<I64Map<PresenceState>> {
    if (userIds.some((u) => this.ownerOf(u) === undefined)) await this.refresh();
    const groups = new Map<string, { ep: ClusterEndpoint; ids: I64Input[] }>();
    for (const u of userIds) {
      const ep = this.ownerOf(u);
      if (ep === undefined) throw new ThriftNoOwnerError(slotOf(u));
      let g = groups.get(key(ep));
      if (!g) groups.set(key(ep), (g = { ep, ids: [] }));
      g.ids.push(u);
    }
    const parts = await Promise.all([...groups.values()].map(async (g) => (await this.clientAt(g.ep)).presence(g.ids, options)));
    const out = new I64Map<PresenceState>(userIds.length);
    for (const m of parts) m.forEachParts((v, hi, lo) => out.setParts(hi, lo, v));
    return out;
  }

  /** Re-reads and returns the partition map. */
  partitionMap(options?: CallOptions): Promise<SlotRange[]> {
    return this.refresh(options);
  }

  /** Closes every per-node client. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close(), () => undefined)));
  }
}
