// Subscriptions over distribution: one beambridge process per ChatCluster
// (the hub) is what the channel servers push to (`{subscribe, User, HubPid}`,
// erlang-stub/README.md "Messages to subscribers"). It demultiplexes the
// pushes to every local subscription of the user. The server is asked once
// per user, however many local subscribers; the last one to leave
// unsubscribes. When the owner's node goes down the server forgets the hub's
// subscriptions: once the node is back the hub subscribes again and gives
// each affected subscriber a reset event.
import { Tuple, atom, tuple, type Term } from '../etf/types.js';
import type { LocalProcess } from '../node/index.js';
import type { Node } from '../otp/node.js';
import { big, toEvent, toState } from './dist-terms.js';
import { EventQueue } from './queue.js';
import type { CallBudget } from './routing.js';
import { toUserId, userIdTerm } from './slot.js';
import type { ChatSubscription, ResetReason, SubscribeOptions, UserId } from './types.js';

const CHAT_EVENT = atom('chat_event');
const PRESENCE_EVENT = atom('presence_event');
const CHANNEL_RESET = atom('channel_reset');
const SUBSCRIBE = atom('subscribe');
const UNSUBSCRIBE = atom('unsubscribe');

/** What the hub needs from its ChatCluster. */
export interface HubHost {
  readonly node: Node;
  /** A routed call for `user` (WrongPartition followed); resolves with the node that answered. */
  callFor(user: bigint, request: Term, d: CallBudget): Promise<string>;
  /** A call budget with the cluster's default call timeout. */
  budget(what: string, o?: { timeoutMs?: number; signal?: AbortSignal }): CallBudget;
  /** Retries a failed re-subscription later (backoff), until it succeeds or the cluster closes. */
  retryLater(node: string, attempt: number, run: () => void): void;
}

/** The hub's state for one user. */
interface UserSubs {
  id: bigint;
  term: number | bigint;
  queues: Set<EventQueue>;
  /** The node the subscription was made at. */
  node: string | undefined;
  /** The subscription is gone with its node (until re-made). */
  lost: boolean;
  /** The last seq pushed for the user's channel. */
  lastSeq: bigint;
  ready: Promise<void>;
}

/** @internal The subscription hub of a ChatCluster. */
export class SubscriptionHub {
  readonly proc: LocalProcess;
  private readonly users = new Map<bigint, UserSubs>();
  private closed = false;

  constructor(private readonly host: HubHost) {
    this.proc = host.node.spawn();
    void this.loop();
  }

  /** Live local subscriptions (all users). */
  get size(): number {
    let n = 0;
    for (const u of this.users.values()) n += u.queues.size;
    return n;
  }

  private async loop(): Promise<void> {
    try {
      for await (const m of this.proc) this.dispatch(m);
    } catch {
      /* the process was killed */
    }
    this.endAll();
  }

  private dispatch(m: Term): void {
    if (!(m instanceof Tuple) || m.elements.length !== 3) return;
    const [tag, user, body] = m.elements;
    if (typeof user !== 'number' && typeof user !== 'bigint') return;
    const userId = BigInt(user);
    const u = this.users.get(userId);
    if (u === undefined) return;
    try {
      if (tag === CHAT_EVENT) {
        const event = toEvent(body!);
        u.lastSeq = event.seq;
        this.push(u, { type: 'chat', userId, event });
      } else if (tag === PRESENCE_EVENT) {
        this.push(u, { type: 'presence', userId, state: toState(body!) });
      } else if (tag === CHANNEL_RESET) {
        u.lastSeq = big(body!, 'channel_reset seq');
        this.push(u, { type: 'reset', userId, seq: u.lastSeq, reason: 'channel_restarted' });
      }
    } catch {
      /* a push outside the contract is dropped */
    }
  }

  private push(u: UserSubs, ev: Parameters<EventQueue['push']>[0]): void {
    for (const q of u.queues) q.push(ev);
  }

  /** A new subscription; resolves once the user's owner has the hub subscribed. */
  async subscribe(user: UserId, o: SubscribeOptions = {}): Promise<ChatSubscription> {
    const id = toUserId(user);
    const d = this.host.budget('subscribe', o);
    let u = this.users.get(id);
    if (u === undefined) {
      const nu: UserSubs = { id, term: userIdTerm(id), queues: new Set(), node: undefined, lost: false, lastSeq: 0n, ready: Promise.resolve() };
      nu.ready = this.host.callFor(id, tuple(SUBSCRIBE, nu.term, this.proc.pid), d).then((node) => {
        nu.node = node;
      });
      this.users.set(id, (u = nu));
    }
    const entry = u;
    const q = new EventQueue(id, (x) => this.leave(entry, x), o.maxQueued, o.signal);
    entry.queues.add(q);
    try {
      await entry.ready;
    } catch (e) {
      entry.queues.delete(q);
      q.end();
      if (entry.queues.size === 0 && this.users.get(id) === entry) this.users.delete(id);
      throw e;
    }
    return q;
  }

  private async leave(u: UserSubs, q: EventQueue): Promise<void> {
    u.queues.delete(q);
    if (u.queues.size > 0 || this.users.get(u.id) !== u) return;
    this.users.delete(u.id);
    if (this.closed || u.lost) return;
    await u.ready.catch(() => {});
    await this.host.callFor(u.id, tuple(UNSUBSCRIBE, u.term, this.proc.pid), this.host.budget('unsubscribe')).catch(() => {});
  }

  /** `node` went down: the subscriptions made there are gone. */
  lost(node: string): void {
    for (const u of this.users.values()) if (u.node === node) u.lost = true;
  }

  /** `node` is back: subscribe again there, then tell each subscriber. */
  recovered(node: string, reason: ResetReason): void {
    for (const u of this.users.values()) if (u.lost && u.node === node) this.resubscribe(u, reason, 1);
  }

  private resubscribe(u: UserSubs, reason: ResetReason, attempt: number): void {
    if (this.closed || this.users.get(u.id) !== u || !u.lost) return;
    const node = u.node!;
    u.ready = this.host.callFor(u.id, tuple(SUBSCRIBE, u.term, this.proc.pid), this.host.budget('subscribe')).then(
      (at) => {
        u.node = at;
        u.lost = false;
        if (reason === 'node_restarted') u.lastSeq = 0n;
        this.push(u, { type: 'reset', userId: u.id, seq: u.lastSeq, reason });
      },
      () => this.host.retryLater(node, attempt, () => this.resubscribe(u, reason, attempt + 1)),
    );
  }

  private endAll(): void {
    for (const u of this.users.values()) for (const q of u.queues) q.end();
    this.users.clear();
  }

  /** Ends every subscription; the hub process exits (the servers drop its subscriptions when they see it go). */
  close(): void {
    this.closed = true;
    this.endAll();
    this.proc.exit();
  }
}
