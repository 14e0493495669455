// ChatChannelCluster: the ChatBackend over Thrift (service ChatChannel of
// idl/chat.thrift), for tiers that reach the channel servers the way
// Facebook's web tier did. Any node answers partitionMap() with the slot
// ranges, each naming its node (`name@host`) and Thrift port; the client
// keeps one pooled ChatChannelClient per node and routes each call to the
// owner of its user (send and typing by the sender). Errors, routing,
// health and presence splitting are the ones of ChatCluster (base.ts), so
// both transports answer alike.
import {
  ChatChannelClient,
  NotOnline,
  WrongPartition,
  type ChatMessage,
  type PollResult,
  PresenceState,
  type Presence,
  type SlotRange,
} from '../thrift/gen/chat.js';
import type { ThriftClientOptions } from '../thrift/client.js';
import { ThriftApplicationError, TApplicationExceptionType } from '../thrift/errors.js';
import type { I64Map } from '../thrift/i64map.js';
import { ClusterClient, type ClusterClientOptions } from './base.js';
import { checkLimit, checkText, DEFAULT_POLL_MS } from './checks.js';
import { ChatBadRequestError, ChatClosedError, ChatInternalError, ChatNotOnlineError, ChatUnavailableError, type ChatBadRequestReason } from './errors.js';
import { Moved, routed, type CallBudget, type SlotOwner } from './routing.js';
import { toUserId, userIdTerm } from './slot.js';
import { PollHub, type PollSubscriptionOptions } from './thrift-subscribe.js';
import type { ChatBackend, ChatCallOptions, ChatSubscription, PollOptions, SendOptions, SubscribeOptions, UserId } from './types.js';

/** A node's Thrift endpoint. */
export interface ClusterEndpoint {
  host: string;
  port: number;
}

/**
 * Options of {@link ChatChannelCluster.connect}: seeds, the cluster
 * options, how subscriptions poll, and the options every per-node Thrift
 * client gets (protocol, pool size, keepalive, ...).
 */
export interface ChatChannelClusterOptions
  extends ClusterClientOptions,
    PollSubscriptionOptions,
    Omit<ThriftClientOptions, 'host' | 'port' | 'timeoutMs' | 'reconnect' | 'whenDisconnected' | 'maxDisconnectedWaitMs'> {
  /** Nodes to read the partition map from (any one that answers is enough). */
  seeds: ClusterEndpoint[];
  /** The host to connect to for a node name (default: the part after `@`, e.g. `stub1@127.0.0.1` -> `127.0.0.1`). */
  resolveHost?: (node: string) => string;
}

const key = (e: ClusterEndpoint) => `${e.host}:${e.port}`;
const asBig = (u: number | bigint | undefined) => (u === undefined ? undefined : BigInt(u));
const BAD_REQUEST = /^\{bad_request,(.*)\}$/s;
const KNOWN_BAD_REQUESTS = new Set(['text', 'text_too_long', 'client_msg_id', 'presence_ids']);

/**
 * The chat channel cluster over Thrift.
 *
 * ```ts
 * const chat = await ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: 9090 }] })
 * await chat.login(42n)
 * const m = await chat.send(42n, 7, 'hi', { clientMsgId: 'c-1' })
 * ```
 */
export class ChatChannelCluster extends ClusterClient<ClusterEndpoint> implements ChatBackend {
  readonly transport = 'thrift' as const;
  private readonly o: ChatChannelClusterOptions;
  private readonly clients = new Map<string, Promise<ChatChannelClient>>();
  private readonly pollers: PollHub;

  private constructor(o: ChatChannelClusterOptions) {
    super(o.seeds, o);
    this.o = o;
    this.pollers = new PollHub(this, o);
  }

  /** Reads the partition map from the seeds and returns a routing client. Rejects with ERR_CHAT_UNAVAILABLE when no seed answers. */
  static async connect(o: ChatChannelClusterOptions): Promise<ChatChannelCluster> {
    if (o.seeds.length === 0) throw new TypeError('ChatChannelCluster needs at least one seed');
    const c = new ChatChannelCluster(o);
    try {
      await c.refresh(c.dl('partitionMap', undefined));
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** The endpoint owning a user id's slot, per the last map read. */
  ownerOf(userId: UserId): ClusterEndpoint | undefined {
    const o = this.table.ownerOf(toUserId(userId));
    return o && this.endpointOf(o);
  }

  private endpointOf(r: { node: string; thriftPort: number }): ClusterEndpoint {
    const host = this.o.resolveHost ? this.o.resolveHost(r.node) : (r.node.split('@')[1] ?? r.node);
    return { host, port: r.thriftPort };
  }

  private clientAt(ep: ClusterEndpoint): Promise<ChatChannelClient> {
    if (this.closed) return Promise.reject(new ChatClosedError());
    const k = key(ep);
    let c = this.clients.get(k);
    if (c === undefined) {
      const { seeds: _s, resolveHost: _r, callTimeoutMs: _c, recovery: _rc, probeTimeoutMs: _p, pollTimeoutMs: _pt, presenceIntervalMs: _pi, ...thrift } = this.o;
      c = ChatChannelClient.connect({ ...thrift, host: ep.host, port: ep.port, reconnect: false, whenDisconnected: 'fail' });
      c.catch(() => {
        if (this.clients.get(k) === c) this.clients.delete(k);
      });
      this.clients.set(k, c);
    }
    return c;
  }

  private dropClient(ep: ClusterEndpoint): void {
    const k = key(ep);
    const c = this.clients.get(k);
    this.clients.delete(k);
    void c?.then((x) => x.close(), () => undefined);
  }

  // ------------------------------------------------------------------ health

  protected wentDown(node: string): void {
    const o = this.table.nodes().find((x) => x.node === node);
    if (o) this.dropClient(this.endpointOf(o));
  }

  /** A probe: learn the node's endpoint (it may have a new port), ask it for a map that knows the whole cluster. */
  protected async probe(node: string): Promise<boolean> {
    const d = this.dl('partitionMap', { timeoutMs: this.probeTimeoutMs });
    await this.refresh(d).catch(() => undefined);
    const owner = this.table.nodes().find((x) => x.node === node);
    if (owner === undefined) return false;
    const ep = this.endpointOf(owner);
    try {
      const map = await (await this.clientAt(ep)).partitionMap({ timeoutMs: d.remaining(), signal: d.signal });
      if (!this.complete(map)) return false;
      this.install(map);
      return true;
    } catch {
      this.dropClient(ep);
      return false;
    }
  }

  protected recovered(): void {}

  // ----------------------------------------------------------------- calling

  protected async mapAt(at: ClusterEndpoint | SlotOwner, d: CallBudget): Promise<SlotRange[]> {
    const ep = 'node' in at ? this.endpointOf(at) : at;
    return this.at(ep, 'node' in at ? at.node : undefined, undefined, d, 'partitionMap', (c) => c.partitionMap({ timeoutMs: d.remaining(), signal: d.signal }));
  }

  /** One call at an endpoint, with the errors of the contract. */
  private async at<T>(ep: ClusterEndpoint, node: string | undefined, user: number | bigint | undefined, d: CallBudget, what: string, run: (c: ChatChannelClient) => Promise<T>): Promise<T> {
    if (node !== undefined && this.isDown(node)) throw new ChatUnavailableError(`${what}: ${node} is down`, { userId: asBig(user), node });
    try {
      return await run(await this.clientAt(ep));
    } catch (e) {
      throw this.failed(e, ep, node, user, d, what);
    }
  }

  private failed(e: unknown, ep: ClusterEndpoint, node: string | undefined, user: number | bigint | undefined, d: CallBudget, what: string): Error {
    if (e instanceof WrongPartition) return new Moved(e.userId, e.owner, e.thriftPort, { cause: e });
    if (e instanceof NotOnline) return new ChatNotOnlineError(e.userId, { cause: e });
    if (e instanceof ThriftApplicationError) return applicationError(e, what, user, node);
    const where = node ?? key(ep);
    const code = (e as { code?: string }).code;
    if (this.closed) return e instanceof ChatClosedError ? e : new ChatClosedError();
    switch (code) {
      case 'ERR_THRIFT_TIMEOUT':
      case 'ERR_THRIFT_ABORTED':
        return d.stopped(e);
      case 'ERR_THRIFT_CLIENT_CLOSED': // dropped because its node went down
      case 'ERR_THRIFT_CONNECT':
      case 'ERR_THRIFT_NOT_CONNECTED':
      case 'ERR_THRIFT_CONNECTION_LOST':
        if (node !== undefined) this.health.markDown(node);
        else this.dropClient(ep);
        return new ChatUnavailableError(`${what}: ${where} is unreachable`, { userId: asBig(user), node, cause: e });
      case 'ERR_THRIFT_ENCODE':
        return new ChatBadRequestError('request', `${what}: ${(e as Error).message}`, { cause: e });
      default:
        if (e instanceof Error && 'code' in e && String(e.code).startsWith('ERR_CHAT_')) return e;
        return new ChatInternalError(`${what} at ${where} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** A call routed by `user` (WrongPartition followed once). */
  private call<T>(what: string, user: number | bigint, d: CallBudget, run: (c: ChatChannelClient, o: { timeoutMs: number; signal: AbortSignal | undefined }) => Promise<T>): Promise<T> {
    return routed(this, user, d, (owner) => this.at(this.endpointOf(owner), owner.node, user, d, what, (c) => run(c, { timeoutMs: d.remaining(), signal: d.signal })));
  }

  async login(user: UserId, o?: ChatCallOptions): Promise<bigint> {
    const id = userIdTerm(user);
    return this.call('login', id, this.dl('login', o), (c, co) => c.login(id, co));
  }

  async logout(user: UserId, o?: ChatCallOptions): Promise<void> {
    const id = userIdTerm(user);
    return this.call('logout', id, this.dl('logout', o), (c, co) => c.logout(id, co));
  }

  async touch(user: UserId, o?: ChatCallOptions): Promise<void> {
    const id = userIdTerm(user);
    return this.call('touch', id, this.dl('touch', o), (c, co) => c.touch(id, co));
  }

  async typing(from: UserId, to: UserId, active: boolean, o?: ChatCallOptions): Promise<void> {
    const f = userIdTerm(from, 'from');
    const t = userIdTerm(to, 'to');
    return this.call('typing', f, this.dl('typing', o), (c, co) => c.typing(f, t, active === true, co));
  }

  async send(from: UserId, to: UserId, text: string, o?: SendOptions): Promise<ChatMessage> {
    const f = userIdTerm(from, 'from');
    const t = userIdTerm(to, 'to');
    const body = checkText(text);
    const cid = o?.clientMsgId === undefined ? '' : checkText(o.clientMsgId, 'client_msg_id');
    return this.call('send', f, this.dl('send', o), (c, co) => c.send(f, t, body, cid, co));
  }

  async poll(user: UserId, afterSeq: UserId, o?: PollOptions): Promise<PollResult> {
    const id = userIdTerm(user);
    const after = userIdTerm(afterSeq, 'afterSeq');
    const hold = checkLimit(o?.timeoutMs ?? DEFAULT_POLL_MS, 'timeout');
    const d = this.dl('poll', { signal: o?.signal }, hold);
    try {
      return await this.call('poll', id, d, (c, co) => c.poll(id, after, hold, co));
    } finally {
      d.finish();
    }
  }

  async friendsPresence(user: UserId, o?: ChatCallOptions): Promise<Presence[]> {
    const id = userIdTerm(user);
    return this.call('friendsPresence', id, this.dl('friendsPresence', o), (c, co) => c.friendsPresence(id, co));
  }

  /** One call per owning node, in parallel; ids whose owner is down (or that no node owns) are OFFLINE. */
  async presence(userIds: Iterable<UserId>, o?: ChatCallOptions): Promise<I64Map<PresenceState>> {
    return this.presenceByOwner(userIds, o, async (owner, ids, d, out) => {
      const m = await this.at(this.endpointOf(owner), owner.node, undefined, d, 'presence', (c) => c.presence(ids, { timeoutMs: d.remaining(), signal: d.signal }));
      m.forEachParts((v, hi, lo) => out.setParts(hi, lo, v));
    });
  }

  /** @internal One user's presence from its owner (ERR_CHAT_UNAVAILABLE while it is down, unlike presence()). */
  async presenceOf(user: bigint, o: ChatCallOptions): Promise<PresenceState> {
    const m = await this.call('presence', user, this.dl('presence', o), (c, co) => c.presence([user], co));
    return m.get(user) ?? PresenceState.OFFLINE;
  }

  async history(user: UserId, peer: UserId, limit: number, o?: ChatCallOptions): Promise<ChatMessage[]> {
    const id = userIdTerm(user);
    const p = userIdTerm(peer, 'peer');
    const n = checkLimit(limit, 'limit');
    return this.call('history', id, this.dl('history', o), (c, co) => c.history(id, p, n, co));
  }

  /** Asked of the user's owner, or of any other node that is up when the owner is not (every node knows every friend list). */
  async friends(user: UserId, o?: ChatCallOptions): Promise<bigint[]> {
    const id = userIdTerm(user);
    const d = this.dl('friends', o);
    return this.anyNode(
      () => this.call('friends', id, d, (c, co) => c.friends(id, co)),
      (n) => this.at(this.endpointOf(n), n.node, id, d, 'friends', (c) => c.friends(id, { timeoutMs: d.remaining(), signal: d.signal })),
    );
  }

  /**
   * Long-polls the user's channel while the user is online and polls its
   * presence (see {@link PollSubscriptionOptions}); all subscriptions of a
   * user in this client share one poller. Like any poll, it keeps an online
   * user online, and it competes with other pollers of the same user: do not
   * poll() a user you subscribed to over Thrift.
   */
  async subscribe(user: UserId, o: SubscribeOptions = {}): Promise<ChatSubscription> {
    this.checkOpen();
    return this.pollers.subscribe(toUserId(user), o);
  }

  /** Closes every per-node client (calls pending on them fail with ERR_CHAT_CLOSED) and ends subscriptions. */
  async close(): Promise<void> {
    if (!this.shutdown()) return;
    this.pollers.close();
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close(), () => undefined)));
  }
}

/** The stub's TApplicationException for a failed call: its message is the Erlang reason printed with ~0p. */
function applicationError(e: ThriftApplicationError, what: string, user: number | bigint | undefined, node: string | undefined): Error {
  if (e.type === TApplicationExceptionType.INTERNAL_ERROR) {
    const bad = BAD_REQUEST.exec(e.message);
    if (bad) {
      const reason = (KNOWN_BAD_REQUESTS.has(bad[1]!) ? bad[1] : 'request') as ChatBadRequestReason;
      return new ChatBadRequestError(reason, `${what}: the server refused the request (${reason})`, { cause: e });
    }
    if (e.message.startsWith('{unavailable,') || e.message === 'timeout' || e.message === 'chat_channel is not running') {
      return new ChatUnavailableError(`${what}: the server could not serve it (${e.message})`, { userId: asBig(user), node, cause: e });
    }
  }
  if (e.type === TApplicationExceptionType.UNKNOWN_METHOD) {
    return new ChatInternalError(`${what}: the server does not implement it (an older channel server?)`, { cause: e });
  }
  return new ChatInternalError(`${what}: the server failed (${e.message})`, { cause: e });
}
