// subscribe() over Thrift, which has no push: one poller per user (however
// many local subscribers; two pollers of one user would answer each other's
// polls with CONTINUE forever) long-polls the user's channel while the user
// is online, and polls the user's presence. Two loops share one state:
//
//   presence loop   every presenceIntervalMs: presence changed? -> event;
//                   offline -> online wakes the channel loop (from seq 0:
//                   a channel opened by login starts there)
//   channel loop    while online: poll(afterSeq = last seq seen)
//                     EVENTS   -> one chat event each
//                     CONTINUE -> check presence before polling again (a
//                                 poll would reopen a logged-out channel)
//                     REFRESH  -> reset (the channel restarted: its seq
//                                 went back; or events were dropped)
//                   an error (the owner is down) -> wait until the presence
//                   loop reaches the owner again, then poll
//
// After the owner was unreachable the subscription always gives one reset,
// as over distribution: `node_restarted` when the user turns out offline or
// the channel's seq went back, else `reconnected`.
import { backoffPolicy } from '../backoff.js';
import { deadline } from '../deadline.js';
import { PollStatus, PresenceState } from '../thrift/gen/chat.js';
import { ChatClosedError } from './errors.js';
import { EventQueue } from './queue.js';
import type { ChatCallOptions, ChatEvent, ChatSubscription, PollOptions, SubscribeOptions } from './types.js';
import type { PollResult } from '../thrift/gen/chat.js';

/** How a Thrift subscription polls. */
export interface PollSubscriptionOptions {
  /** How long each long-poll of a subscription is held, ms (default 25 000). */
  pollTimeoutMs?: number;
  /** How often a subscription asks for the user's presence, ms (default 1000). */
  presenceIntervalMs?: number;
}

/** What the subscription needs from its client. */
export interface PollHost {
  poll(user: bigint, afterSeq: bigint, o: PollOptions): Promise<PollResult>;
  /** The user's presence from its owner; rejects (ERR_CHAT_UNAVAILABLE) when the owner cannot answer. */
  presenceOf(user: bigint, o: ChatCallOptions): Promise<PresenceState>;
}

/** Resolves after `ms`, or at once when `signal` fires (the library's deadline helper). */
const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => void deadline({ timeoutMs: ms, signal }, resolve, () => resolve()));

/** Resolves when `register` calls back, or when `signal` fires; the listener goes with it. */
function until(signal: AbortSignal, register: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const d = deadline({ signal }, () => {}, () => resolve());
    register(() => {
      d.clear();
      resolve();
    });
  });
}

/** Spacing of the channel loop's polls after repeated failures (the library's backoff policy). */
const RETRY = backoffPolicy({ maxDelayMs: 1000 }, { baseDelayMs: 25, maxRetries: Infinity });

/** @internal The poller of one user, feeding every local subscription of that user. */
class UserPoller {
  readonly queues = new Set<EventQueue>();
  ready: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private state: PresenceState = PresenceState.OFFLINE;
  private seq = 0n;
  /** The owner was unreachable since the last good answer. */
  private outage = false;
  private wake: (() => void) | undefined;
  /** Woken by the next presence answer (the owner is reachable). */
  private reachable: (() => void)[] = [];
  private readonly pollMs: number;
  private readonly presenceMs: number;

  constructor(
    private readonly host: PollHost,
    readonly userId: bigint,
    po: PollSubscriptionOptions,
  ) {
    this.pollMs = po.pollTimeoutMs ?? 25_000;
    this.presenceMs = po.presenceIntervalMs ?? 1000;
  }

  private push(ev: ChatEvent): void {
    for (const q of this.queues) q.push(ev);
  }

  /** Stops polling (the last subscriber left, or the client closed). */
  end(): void {
    this.stop.abort();
    for (const q of this.queues) q.end();
    this.queues.clear();
  }

  /** Reads the current state; the subscription is in place once this resolves. */
  async start(o: SubscribeOptions): Promise<void> {
    const co = { timeoutMs: o.timeoutMs, signal: this.stop.signal };
    this.state = await this.host.presenceOf(this.userId, co);
    if (this.state !== PresenceState.OFFLINE) {
      // A negative afterSeq is answered at once with REFRESH and the current seq.
      this.seq = (await this.host.poll(this.userId, -1n, { ...co, timeoutMs: 0 })).seq;
    }
    void this.presenceLoop();
    void this.channelLoop();
  }

  private get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  /** A presence answer: events for a change, the channel loop woken when the user comes online. */
  private observe(s: PresenceState): void {
    for (const w of this.reachable.splice(0)) w();
    const was = this.state;
    if (s === was) return;
    this.state = s;
    if (s === PresenceState.OFFLINE && this.outage) {
      this.outage = false;
      this.push({ type: 'reset', userId: this.userId, seq: 0n, reason: 'node_restarted' });
    }
    this.push({ type: 'presence', userId: this.userId, state: s });
    if (was === PresenceState.OFFLINE) {
      this.seq = 0n;
      this.wake?.();
    }
  }

  private async checkPresence(): Promise<boolean> {
    try {
      this.observe(await this.host.presenceOf(this.userId, { signal: this.stop.signal }));
      return true;
    } catch (e) {
      if (e instanceof ChatClosedError) this.end();
      else this.outage = true;
      return false;
    }
  }

  private async presenceLoop(): Promise<void> {
    while (!this.stopped) {
      await sleep(this.presenceMs, this.stop.signal);
      if (!this.stopped) await this.checkPresence();
    }
  }

  private async channelLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.state === PresenceState.OFFLINE) {
        await until(this.stop.signal, (wake) => (this.wake = wake));
        this.wake = undefined;
        continue;
      }
      let r: PollResult;
      try {
        // After an outage, a first poll that is not held tells at once which channel this is.
        r = await this.host.poll(this.userId, this.seq, { timeoutMs: this.outage ? 0 : this.pollMs, signal: this.stop.signal });
        failures = 0;
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof ChatClosedError) return this.end();
        this.outage = true;
        // Never poll blindly after a failure (a poll would log in a user whom a restarted node no longer
        // knows): wait for the presence loop to reach the owner, and a little more after repeated failures.
        await until(this.stop.signal, (wake) => this.reachable.push(wake));
        if (failures > 0) await sleep(RETRY.delayMs(failures), this.stop.signal);
        failures++;
        continue;
      }
      this.answer(r);
      if (r.status === PollStatus.CONTINUE) await this.checkPresence();
    }
  }

  private answer(r: PollResult): void {
    if (this.outage && r.status !== PollStatus.REFRESH) {
      // The same channel, or a new one that has already passed our seq: which one cannot be told.
      this.outage = false;
      this.push({ type: 'reset', userId: this.userId, seq: this.seq, reason: 'reconnected' });
    }
    if (r.status === PollStatus.EVENTS) {
      for (const event of r.events) this.push({ type: 'chat', userId: this.userId, event });
      this.seq = r.seq;
    } else if (r.status === PollStatus.REFRESH) {
      const back = r.seq < this.seq;
      const reason = this.outage ? (back ? 'node_restarted' : 'reconnected') : back ? 'channel_restarted' : 'dropped';
      this.outage = false;
      this.seq = r.seq;
      this.push({ type: 'reset', userId: this.userId, seq: r.seq, reason });
    }
  }
}

/** @internal The Thrift subscriptions of one client: one {@link UserPoller} per user. */
export class PollHub {
  private readonly pollers = new Map<bigint, UserPoller>();

  constructor(
    private readonly host: PollHost,
    private readonly po: PollSubscriptionOptions,
  ) {}

  /** A new subscription; resolves once the user's poller has read the user's state. */
  async subscribe(userId: bigint, o: SubscribeOptions): Promise<ChatSubscription> {
    let p = this.pollers.get(userId);
    if (p === undefined) {
      const np = new UserPoller(this.host, userId, this.po);
      np.ready = np.start(o);
      this.pollers.set(userId, (p = np));
    }
    const poller = p;
    const q = new EventQueue(userId, async (x) => this.leave(poller, x), o.maxQueued, o.signal);
    poller.queues.add(q);
    try {
      await poller.ready;
    } catch (e) {
      await q.close();
      throw e;
    }
    return q;
  }

  private leave(p: UserPoller, q: EventQueue): void {
    p.queues.delete(q);
    if (p.queues.size === 0 && this.pollers.get(p.userId) === p) {
      this.pollers.delete(p.userId);
      p.end();
    }
  }

  /** Ends every subscription. */
  close(): void {
    for (const p of this.pollers.values()) p.end();
    this.pollers.clear();
  }
}
