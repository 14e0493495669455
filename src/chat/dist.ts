// ChatCluster: the ChatBackend over Erlang distribution. Every call is a
// gen_server call to `chat_channel` on the node owning the user's slot
// (erlang-stub/README.md, "The Erlang front door"), made by a started
// beambridge Node.
//
// Health (health.ts): the client watches the node's nodedown. While an owner
// is down, calls for its users fail at once with ERR_CHAT_UNAVAILABLE (no
// network, no timeout), and a probe loop dials it and asks its chat_channel
// for the partition map. Once it answers with a map that knows the whole
// cluster again, the owner is up: the map is installed and the hub re-makes
// the subscriptions that were there (a reset event tells each subscriber).
import { atom, tuple, type Term } from '../etf/types.js';
import type { NodeError } from '../node/index.js';
import type { CallError } from '../otp/errors.js';
import type { Node } from '../otp/node.js';
import type { ChatMessage, PollResult, Presence, PresenceState, SlotRange } from '../thrift/gen/chat.js';
import type { I64Map } from '../thrift/i64map.js';
import { ClusterClient, type ClusterClientOptions } from './base.js';
import { checkLimit, checkText, DEFAULT_POLL_MS } from './checks.js';
import { SubscriptionHub } from './dist-hub.js';
import { big, forEachPresence, okValue, toIds, toMessage, toPollResult, toPresenceList, toSlotRanges } from './dist-terms.js';
import { ChatClosedError, ChatInternalError, ChatUnavailableError } from './errors.js';
import { budget, routed, type CallBudget, type SlotOwner } from './routing.js';
import { toUserId, userIdTerm } from './slot.js';
import type { ChatBackend, ChatCallOptions, ChatSubscription, PollOptions, SendOptions, SubscribeOptions, UserId } from './types.js';

const A = {
  login: atom('login'),
  logout: atom('logout'),
  touch: atom('touch'),
  typing: atom('typing'),
  send: atom('send'),
  poll: atom('poll'),
  friendsPresence: atom('friends_presence'),
  presence: atom('presence'),
  history: atom('history'),
  friends: atom('friends'),
  partitionMap: atom('partition_map'),
  undefined: atom('undefined'),
};
const CHAT_CHANNEL = 'chat_channel';
const asBig = (u: number | bigint | undefined) => (u === undefined ? undefined : BigInt(u));

/** Options of {@link ChatCluster.connect}. */
export interface ChatClusterOptions extends ClusterClientOptions {
  /** A started beambridge node (`Node.start(...)`) with the cluster's cookie. The cluster client does not stop it. */
  node: Node;
  /** Stub node names to read the partition map from (any one that answers is enough). */
  seeds: string[];
}

/**
 * The chat channel cluster over Erlang distribution.
 *
 * ```ts
 * const node = await Node.start({ name: 'web1@127.0.0.1', cookie })
 * const chat = await ChatCluster.connect({ node, seeds: ['stub1@127.0.0.1'] })
 * await chat.login(42n)
 * const sub = await chat.subscribe(7)
 * await chat.send(42n, 7, 'hi', { clientMsgId: 'c-1' })
 * for await (const ev of sub) if (ev.type === 'chat') console.log(ev.event.message?.text)
 * ```
 */
export class ChatCluster extends ClusterClient<string> implements ChatBackend {
  readonly transport = 'dist' as const;
  /** The beambridge node the calls are made from. */
  readonly node: Node;
  /** The creation of each node's incarnation last seen up (a new one means it restarted). */
  private readonly creations = new Map<string, number>();
  private readonly hub: SubscriptionHub;
  private readonly onDown = (peer: string) => this.nodeDown(peer);
  private readonly onUp = (peer: string) => this.health.nudge(peer);

  private constructor(o: ChatClusterOptions) {
    super([...o.seeds], o);
    this.node = o.node;
    this.node.on('nodedown', this.onDown);
    this.node.on('nodeup', this.onUp);
    this.hub = new SubscriptionHub({
      node: this.node,
      callFor: (user, req, d) => this.routedAt(user, req, d, 'subscribe'),
      budget: (what, opts) => budget(what, opts, this.callTimeoutMs, this.closer.signal),
      retryLater: (node, attempt, run) => this.health.later(this.health.delayMs(attempt, node), run),
    });
  }

  /**
   * Reads the partition map from the first seed that answers and connects to
   * every node in it (those that cannot be reached are marked down and
   * probed). Rejects with ERR_CHAT_UNAVAILABLE when no seed answers.
   */
  static async connect(o: ChatClusterOptions): Promise<ChatCluster> {
    if (o.seeds.length === 0) throw new TypeError('ChatCluster needs at least one seed');
    const c = new ChatCluster(o);
    try {
      await c.refresh(c.dl('partition_map', undefined));
      await Promise.all(
        c.table.nodes().map((n) =>
          c.node.connect(n.node, { timeoutMs: c.callTimeoutMs }).then(
            () => c.seen(n.node),
            () => c.health.markDown(n.node),
          ),
        ),
      );
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /** The node owning a user's slot, per the last map read. */
  ownerOf(user: UserId): string | undefined {
    return this.table.ownerOf(toUserId(user))?.node;
  }

  /** Live subscriptions. */
  get subscriptions(): number {
    return this.hub.size;
  }

  // ------------------------------------------------------------------ health

  private seen(node: string): void {
    const creation = this.node.connection(node)?.peerCreation;
    if (creation !== undefined) this.creations.set(node, creation);
  }

  private nodeDown(peer: string): void {
    if (this.seeds.includes(peer) || this.table.nodes().some((o) => o.node === peer)) this.health.markDown(peer);
  }

  protected wentDown(node: string): void {
    this.hub.lost(node);
  }

  /** A probe: dial the node and ask its chat_channel for a map that knows the whole cluster. */
  protected async probe(node: string): Promise<boolean> {
    const o = { timeoutMs: this.probeTimeoutMs, signal: this.closer.signal };
    await this.node.connect(node, o);
    const map = toSlotRanges(okValue(await this.node.call({ name: CHAT_CHANNEL, node }, A.partitionMap, o), 'partition_map'));
    if (!this.complete(map)) return false;
    this.install(map);
    return true;
  }

  protected recovered(node: string): void {
    const before = this.creations.get(node);
    this.seen(node);
    const now = this.creations.get(node);
    this.hub.recovered(node, before !== undefined && now !== before ? 'node_restarted' : 'reconnected');
  }

  // ----------------------------------------------------------------- calling

  protected async mapAt(at: string | SlotOwner, d: CallBudget): Promise<SlotRange[]> {
    const node = typeof at === 'string' ? at : at.node;
    return toSlotRanges(await this.at(node, A.partitionMap, d, undefined, 'partition_map'));
  }

  /** One gen_server call to chat_channel at `node`: the value of its `{ok, Value}`, or the error of the contract. */
  private at(node: string, req: Term, d: CallBudget, user: number | bigint | undefined, what: string): Promise<Term> {
    if (this.isDown(node)) return Promise.reject(new ChatUnavailableError(`${what}: ${node} is down`, { userId: asBig(user), node }));
    let timeoutMs: number;
    try {
      timeoutMs = d.remaining();
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.node.call({ name: CHAT_CHANNEL, node }, req, { timeoutMs, signal: d.signal }).then(
      (reply) => okValue(reply, what),
      (e: unknown) => {
        throw this.failed(e, node, d, user, what);
      },
    );
  }

  private failed(e: unknown, node: string, d: CallBudget, user: number | bigint | undefined, what: string): Error {
    switch ((e as CallError | NodeError).code) {
      case 'ERR_NODEDOWN':
        this.health.markDown(node);
        return new ChatUnavailableError(`${what}: ${node} is down`, { userId: asBig(user), node, cause: e });
      case 'ERR_NOPROC':
      case 'ERR_CALL_EXIT':
        return new ChatUnavailableError(`${what}: chat_channel on ${node} is not running`, { userId: asBig(user), node, cause: e });
      case 'ERR_BAD_COOKIE':
      case 'ERR_TLS':
        return new ChatUnavailableError(`${what}: ${node} refuses this node (${(e as Error).message})`, { userId: asBig(user), node, cause: e });
      case 'ERR_OVERLOADED':
        return new ChatUnavailableError(`${what}: this node is overloaded (${(e as Error).message})`, { userId: asBig(user), node, cause: e });
      case 'ERR_TIMEOUT':
      case 'ERR_ABORTED':
        return d.stopped(e);
      case 'ERR_NODE_STOPPED':
        return new ChatClosedError(`the beambridge node ${this.node.name} is stopped`);
      default:
        if (e instanceof Error && 'code' in e && String(e.code).startsWith('ERR_CHAT_')) return e;
        return new ChatInternalError(`${what} at ${node} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** A call routed by `user` (WrongPartition followed once); resolves with the node that answered. */
  private routedAt(user: number | bigint, req: Term, d: CallBudget, what: string): Promise<string> {
    return routed(this, user, d, (owner) => this.at(owner.node, req, d, user, what).then(() => owner.node));
  }

  /** A call routed by `user` (WrongPartition followed once); resolves with the reply's value. */
  private call(what: string, user: number | bigint, req: Term, d: CallBudget): Promise<Term> {
    return routed(this, user, d, (owner) => this.at(owner.node, req, d, user, what));
  }

  async login(user: UserId, o?: ChatCallOptions): Promise<bigint> {
    const id = userIdTerm(user);
    return big(await this.call('login', id, tuple(A.login, id), this.dl('login', o)), 'login seq');
  }

  async logout(user: UserId, o?: ChatCallOptions): Promise<void> {
    const id = userIdTerm(user);
    await this.call('logout', id, tuple(A.logout, id), this.dl('logout', o));
  }

  async touch(user: UserId, o?: ChatCallOptions): Promise<void> {
    const id = userIdTerm(user);
    await this.call('touch', id, tuple(A.touch, id), this.dl('touch', o));
  }

  async typing(from: UserId, to: UserId, active: boolean, o?: ChatCallOptions): Promise<void> {
    const f = userIdTerm(from, 'from');
    await this.call('typing', f, tuple(A.typing, f, userIdTerm(to, 'to'), active === true), this.dl('typing', o));
  }

  async send(from: UserId, to: UserId, text: string, o?: SendOptions): Promise<ChatMessage> {
    const f = userIdTerm(from, 'from');
    const cid = o?.clientMsgId;
    const req = tuple(A.send, f, userIdTerm(to, 'to'), checkText(text), cid === undefined || cid === '' ? A.undefined : checkText(cid, 'client_msg_id'));
    return toMessage(await this.call('send', f, req, this.dl('send', o)));
  }

  async poll(user: UserId, afterSeq: UserId, o?: PollOptions): Promise<PollResult> {
    const id = userIdTerm(user);
    const hold = checkLimit(o?.timeoutMs ?? DEFAULT_POLL_MS, 'timeout');
    const d = budget('poll', { signal: o?.signal }, this.callTimeoutMs, this.closer.signal, hold);
    try {
      return toPollResult(await this.call('poll', id, tuple(A.poll, id, userIdTerm(afterSeq, 'afterSeq'), hold), d));
    } finally {
      d.finish();
    }
  }

  async friendsPresence(user: UserId, o?: ChatCallOptions): Promise<Presence[]> {
    const id = userIdTerm(user);
    return toPresenceList(await this.call('friends_presence', id, tuple(A.friendsPresence, id), this.dl('friends_presence', o)));
  }

  /** One call per owning node, in parallel; ids whose owner is down (or that no node owns) are OFFLINE. */
  async presence(userIds: Iterable<UserId>, o?: ChatCallOptions): Promise<I64Map<PresenceState>> {
    return this.presenceByOwner(userIds, o, async (owner, ids, d, out) => {
      const v = await this.at(owner.node, tuple(A.presence, ids.map((x) => userIdTerm(x))), d, undefined, 'presence');
      forEachPresence(v, (id, s) => out.set(id, s));
    });
  }

  async history(user: UserId, peer: UserId, limit: number, o?: ChatCallOptions): Promise<ChatMessage[]> {
    const id = userIdTerm(user);
    const v = await this.call('history', id, tuple(A.history, id, userIdTerm(peer, 'peer'), checkLimit(limit, 'limit')), this.dl('history', o));
    if (!Array.isArray(v)) throw new ChatInternalError('history: the reply is not a list');
    return v.map(toMessage);
  }

  /** Asked of the user's owner, or of any other node that is up when the owner is not (every node knows every friend list). */
  async friends(user: UserId, o?: ChatCallOptions): Promise<bigint[]> {
    const id = userIdTerm(user);
    const d = this.dl('friends', o);
    const req = tuple(A.friends, id);
    const v = await this.anyNode(
      () => this.call('friends', id, req, d),
      (n) => this.at(n.node, req, d, id, 'friends'),
    );
    return toIds(v, 'friends');
  }

  async subscribe(user: UserId, o?: SubscribeOptions): Promise<ChatSubscription> {
    this.checkOpen();
    return this.hub.subscribe(user, o);
  }

  /** Ends subscriptions and held polls, stops probing; see {@link ChatBackend.close}. Leaves the node running. */
  async close(): Promise<void> {
    if (!this.shutdown()) return;
    this.node.off('nodedown', this.onDown);
    this.node.off('nodeup', this.onUp);
    this.hub.close();
  }
}
