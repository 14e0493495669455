// One signed-in user on the gateway: ONE upstream long-poll loop on the
// user's channel, shared by all the user's tabs and sessions, a small buffer
// of the events it brought (keyed by the channel's seq), and the browser
// polls held for the user.
//
// Why one loop: the channel servers answer a newer poll for the same user by
// ending the held one with `continue`, so tabs polling the backend each on
// their own would knock each other's polls out. The loop polls from the last
// seq it saw, appends what comes to the buffer, and answers every held
// browser poll from it. A browser poll:
// - `after` in the buffer's range: the events after it, at once;
// - `after` equal to the newest seq: held until an event, a presence change,
//   or its deadline (`continue`);
// - `after` ahead of the channel, or an `epoch` from before a channel reset
//   this gateway saw: `refresh`, the page re-reads history and polls from
//   `seq`;
// - `after` older than the buffer (or an epoch from an earlier gateway
//   process): the channel itself is asked once, without holding
//   (`poll(user, after, {timeoutMs: 0})`): its retained events, or `refresh`.
// While the backend fails, the loop backs off, and each retry is a poll that
// answers at once (`timeoutMs: 0`), so the failure ends as soon as the backend
// answers, not when a long-poll returns. A browser poll (at most one a second
// per user), a call of the user that succeeded (sign-in, send, typing,
// history), or another user's loop recovering cuts the backoff short.
// A channel reset (`refresh` from upstream, e.g. after the channel crashed)
// starts a new epoch and answers the held polls with `refresh`. The loop runs
// while any tab polled in the last `idleStopMs`; then the user is dropped
// from the gateway (and goes offline after the servers' grace time).
import { ChatError } from '../errors.js';
import { PollStatus, type ChannelEvent, type PollResult } from '../../thrift/gen/chat.js';
import type { ChatBackend } from '../types.js';
import type { HttpResponse } from './http.js';
import type { FriendEntry, PresenceWatcher } from './presence.js';
import { TokenBucket } from './session.js';
import type { BackoffPolicy } from '../../backoff.js';

/** A browser poll the gateway holds. */
export interface HeldPoll {
  res: HttpResponse;
  after: bigint;
  epoch: number | undefined;
  pv: number | undefined;
  deadline: number;
  user: UserChannel;
}

export type PollStatusName = 'events' | 'continue' | 'refresh';

/** What a channel needs of its gateway. */
export interface ChannelHost {
  readonly backend: ChatBackend;
  readonly upstreamPollMs: number;
  readonly maxPollsPerUser: number;
  readonly bufferSize: number;
  readonly idleStopMs: number;
  readonly backoff: BackoffPolicy;
  /** The first epoch of this gateway process; epochs below it come from an earlier one. */
  readonly epochBase: number;
  nextEpoch(): number;
  timed<T>(method: string, f: () => Promise<T>): Promise<T>;
  /** Writes a poll answer (and forgets the poll). */
  answer(p: HeldPoll, status: PollStatusName, seq: bigint, events: readonly ChannelEvent[]): void;
  /** Writes an error answer to a poll (and forgets it). */
  answerError(p: HeldPoll, e: unknown): void;
  /** Held polls changed (count for metrics and the deadline sweep). */
  held(p: HeldPoll, on: boolean): void;
  /** The user was dropped from the gateway. */
  dropped(u: UserChannel): void;
  /** The user's loop answered again after failing: the backend may be back for others too. */
  recovered(u: UserChannel): void;
}

/** Buffered events older than this are dropped (see UserChannel.trim). */
const BUFFER_AGE_MS = 120_000;
/** A browser poll cuts a failing loop's backoff short at most this often. */
const RETRY_GAP_MS = 1000;

export class UserChannel implements PresenceWatcher {
  readonly key: string;
  epoch: number;
  /** Newest seq the loop saw; the buffer covers (base, seq]. -1 until the first answer. */
  seq = -1n;
  base = -1n;
  private readonly events: ChannelEvent[] = [];
  /** When each buffered event arrived (ms). */
  private readonly times: number[] = [];
  readonly polls: HeldPoll[] = [];
  /** The friends' presence entries (shared with other users; cached at sign-in) and the presence version. */
  friends: readonly FriendEntry[] = [];
  pv = 0;
  ready: Promise<void>;
  private markReady!: () => void;
  private isReady = false;
  /** The last upstream failure while the loop is failing. */
  failure: unknown = undefined;
  lastUse = Date.now();
  stopped = false;
  bucket: TokenBucket | undefined;
  private probes = 0;
  /** The loop's backoff sleep while failing (cut short by retrySoon). */
  private sleeping: { timer: NodeJS.Timeout; until: number; wake: () => void } | undefined;
  /** When the last upstream attempt failed. */
  private failedAt = 0;
  /** Resolved when the loop's next upstream attempt settles (success or failure). */
  private attempt: { done: Promise<void>; settle: () => void } | undefined;

  constructor(readonly id: bigint, private readonly host: ChannelHost, knownSeq: bigint | undefined) {
    this.key = id.toString();
    this.epoch = host.nextEpoch();
    this.ready = new Promise<void>((r) => (this.markReady = r));
    if (knownSeq !== undefined) this.init(knownSeq);
    void this.loop();
  }

  private init(seq: bigint): void {
    this.seq = this.base = seq;
    if (!this.isReady) {
      this.isReady = true;
      this.markReady();
    }
  }

  private async loop(): Promise<void> {
    const h = this.host;
    let failures = 0;
    while (!this.stopped) {
      try {
        // Negative `after` (not ready yet): the channel answers `refresh` with its seq at once, which is not activity.
        // One controller, aborted by a nudge or by stop(), made anew only after an abort (10,000 loops re-poll).
        if (this.inflight === undefined || this.inflight.signal.aborted) this.inflight = new AbortController();
        const inflight = this.inflight;
        // While failing, a poll that answers at once: the failure ends as soon as the backend answers.
        const timeoutMs = this.isReady && this.failure === undefined ? h.upstreamPollMs : 0;
        const r = await h.timed('poll', () => h.backend.poll(this.id, this.seq, { timeoutMs, signal: inflight.signal }));
        failures = 0;
        const wasFailing = this.failure !== undefined;
        this.failure = undefined;
        this.apply(r);
        this.settle();
        if (wasFailing) h.recovered(this);
      } catch (e) {
        if (this.stopped) return;
        if (this.inflight?.signal.aborted) continue; // nudged: poll again at once
        failures++;
        this.failure = e;
        this.failedAt = Date.now();
        if (!this.isReady) {
          // Polls waiting for the first answer are answered below; later ones wait for the next try.
          this.markReady();
          this.ready = new Promise<void>((r) => (this.markReady = r));
        }
        for (const p of this.polls.splice(0)) {
          h.held(p, false);
          h.answerError(p, e);
        }
        this.settle();
        await this.sleep(h.backoff.delayMs(failures, this.key));
      }
      if (Date.now() - this.lastUse > h.idleStopMs && this.polls.length === 0) this.stop();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const s = {
        until: Date.now() + ms,
        wake: () => {
          clearTimeout(s.timer);
          if (this.sleeping === s) this.sleeping = undefined;
          resolve();
        },
        timer: undefined as unknown as NodeJS.Timeout,
      };
      s.timer = setTimeout(s.wake, ms).unref();
      this.sleeping = s;
    });
  }

  private settle(): void {
    const a = this.attempt;
    this.attempt = undefined;
    a?.settle();
  }

  /** While the loop is failing and backing off: retries within `ms` (at once for 0). */
  retrySoon(ms = 0): void {
    const s = this.sleeping;
    if (s === undefined || this.stopped || s.until <= Date.now() + ms) return;
    clearTimeout(s.timer);
    if (ms <= 0) return s.wake();
    s.until = Date.now() + ms;
    s.timer = setTimeout(s.wake, ms).unref();
  }

  /**
   * While the loop is failing: retries at once (when `force`, or when its
   * last attempt failed at least RETRY_GAP_MS ago) and resolves once the
   * retry settled (`failure` says how). Resolves at once when not failing or
   * when it is too early to retry. Bounded by the backend's call timeout:
   * the retry is a poll that answers at once.
   */
  retryNow(force: boolean): Promise<void> {
    if (this.failure === undefined || this.stopped) return Promise.resolve();
    if (this.sleeping !== undefined) {
      if (!force && Date.now() - this.failedAt < RETRY_GAP_MS) return Promise.resolve();
      this.retrySoon(0);
    }
    // Sleeping (woken above) or an attempt in flight: wait for the attempt's outcome.
    if (this.attempt === undefined) {
      let settle!: () => void;
      const done = new Promise<void>((r) => (settle = r));
      this.attempt = { done, settle };
    }
    return this.attempt.done;
  }

  /**
   * An event for this user was just stored through this gateway (a send to
   * or from the user, made at `since`, epoch ms). If the loop has had no
   * upstream answer since then `nudgeMs` later, its poll is given up and
   * made again: a poll the channel servers lost (sent to a channel process
   * that crashed before it took the poll) would otherwise stall the user
   * until the call's timeout. Counted from the call's start, not from now:
   * the event's own answer often arrives before the call's reply, and a
   * nudge then would abort a healthy poll (it did for most sends at 10,000
   * users).
   */
  expectEvent(nudgeMs: number, since = Date.now()): void {
    if (this.stopped || this.nudge !== undefined || !this.isReady) return;
    this.nudge = setTimeout(() => {
      this.nudge = undefined;
      if (this.answeredAt < since && !this.stopped) this.inflight?.abort();
    }, nudgeMs);
    this.nudge.unref();
  }

  private inflight: AbortController | undefined;
  private nudge: NodeJS.Timeout | undefined;
  /** When the last upstream answer was applied (epoch ms). */
  private answeredAt = 0;

  private apply(r: PollResult): void {
    this.answeredAt = Date.now();
    if (!this.isReady) {
      this.init(r.status === PollStatus.EVENTS && r.events.length > 0 ? r.events[0].seq - 1n : r.seq);
      if (r.status !== PollStatus.EVENTS) {
        this.wake();
        return;
      }
    }
    if (r.status === PollStatus.EVENTS) {
      const now = Date.now();
      let added = false;
      for (const ev of r.events) {
        if (ev.seq <= this.seq) continue; // already buffered
        this.events.push(ev);
        this.times.push(now);
        this.seq = ev.seq;
        added = true;
      }
      // Held polls get the whole burst first; then the buffer is trimmed to its size and age.
      if (added) this.wake();
      this.trim(now);
    } else if (r.status === PollStatus.REFRESH || r.seq < this.seq) {
      // The channel was reset (restarted empty), or dropped events the loop had not seen: a new epoch.
      this.reset(r.seq);
    }
  }

  /**
   * Drops buffered events past `bufferSize`, and those older than
   * BUFFER_AGE_MS: every tab has polled past them long before (a tab
   * re-polls at once after each answer), and one that has not asks the
   * channel (`probe`). Without the age bound a gateway holds `bufferSize`
   * events of every signed-in user after a few hours.
   */
  private trim(now: number): void {
    const ev = this.events;
    let n = Math.max(0, ev.length - this.host.bufferSize);
    while (n < ev.length && now - this.times[n] > BUFFER_AGE_MS) n++;
    if (n === 0) return;
    this.base = ev[n - 1].seq;
    ev.splice(0, n);
    this.times.splice(0, n);
  }

  private reset(seq: bigint): void {
    this.epoch = this.host.nextEpoch();
    this.events.length = 0;
    this.times.length = 0;
    this.seq = this.base = seq;
    for (const p of this.polls.splice(0)) {
      this.host.held(p, false);
      this.host.answer(p, 'refresh', this.seq, []);
    }
  }

  /** Answers the held polls that can be answered now. */
  private wake(): void {
    const keep: HeldPoll[] = [];
    for (const p of this.polls.splice(0)) {
      if (this.tryAnswer(p)) continue;
      if (this.isReady && p.after < this.base) {
        // Held from before the buffer's start (it moved on): ask the channel.
        this.host.held(p, false);
        void this.probe(p);
      } else keep.push(p);
    }
    this.polls.push(...keep);
  }

  presenceChanged(): void {
    this.wake();
  }

  /** A browser poll arrived: answered or held at once (no promise) unless the channel must be asked first. */
  poll(res: HttpResponse, after: bigint, epoch: number | undefined, pv: number | undefined, deadline: number): Promise<void> | void {
    this.lastUse = Date.now();
    const p: HeldPoll = { res, after, epoch, pv, deadline, user: this };
    // The usual case: the loop is up and the page polls within this gateway's buffer.
    if (this.isReady && this.failure === undefined && after >= this.base && (epoch === undefined || epoch >= this.host.epochBase)) {
      if (!this.tryAnswer(p)) this.hold(p);
      return;
    }
    return this.pollSlow(p);
  }

  private async pollSlow(p: HeldPoll): Promise<void> {
    const { after, epoch } = p;
    if (!this.isReady) {
      // Bounded: the deadline sweep answers it `continue` if the first upstream answer is late.
      this.hold(p);
      // Failing before a first answer: the next attempt (now, unless the last failed within a second) settles `ready`.
      void this.retryNow(false);
      await this.ready;
      if (!this.release(p)) return;
    }
    // The backend may be back since the loop last failed: ask it (at most once a second per user).
    if (this.failure !== undefined) await this.retryNow(false);
    if (this.failure !== undefined) {
      this.host.answerError(p, this.failure);
      return;
    }
    if (epoch !== undefined && epoch < this.host.epochBase && after >= 0n) {
      // A page from before this gateway started: the channel knows where it stands.
      await this.probe(p);
      return;
    }
    if (this.tryAnswer(p)) return;
    if (after < this.base) {
      await this.probe(p);
      return;
    }
    this.hold(p);
  }

  private hold(p: HeldPoll): void {
    this.polls.push(p);
    this.host.held(p, true);
    p.res.onAbort(() => this.release(p));
    // Past the limit of polls per user, the oldest is answered `continue`.
    while (this.polls.length > this.host.maxPollsPerUser) {
      const old = this.polls.shift()!;
      this.host.held(old, false);
      this.host.answer(old, 'continue', this.seq, []);
    }
  }

  /** Forgets a held poll; true when it was held. */
  release(p: HeldPoll): boolean {
    const i = this.polls.indexOf(p);
    if (i < 0) return false;
    this.polls.splice(i, 1);
    this.host.held(p, false);
    return true;
  }

  /** Answers `p` if there is something for it; true when answered. */
  private tryAnswer(p: HeldPoll): boolean {
    if (!this.isReady) return false;
    if (p.epoch !== undefined && p.epoch >= this.host.epochBase && p.epoch !== this.epoch) {
      this.host.answer(p, 'refresh', this.seq, []);
      return true;
    }
    if (p.after > this.seq) {
      this.host.answer(p, 'refresh', this.seq, []);
      return true;
    }
    if (p.after < this.seq && p.after >= this.base) {
      const out = this.events.filter((e) => e.seq > p.after);
      this.host.answer(p, 'events', this.seq, out);
      return true;
    }
    if (p.after === this.seq && p.pv !== undefined && this.pv > p.pv) {
      this.host.answer(p, 'events', this.seq, []);
      return true;
    }
    return false;
  }

  /** Asks the channel for what came after `p.after` without holding (at most a few at once per user). */
  private async probe(p: HeldPoll): Promise<void> {
    if (this.probes >= 4) {
      this.host.answer(p, 'refresh', this.seq, []);
      return;
    }
    this.probes++;
    try {
      const r = await this.host.timed('poll', () => this.host.backend.poll(this.id, p.after, { timeoutMs: 0 }));
      if (this.stopped) {
        this.host.answer(p, 'continue', this.seq, []);
      } else if (r.status === PollStatus.EVENTS) {
        // The channel's retained events run from after+1 on; answer those the loop's buffer
        // also covers, so the page's next poll continues from the buffer.
        const out = r.events.filter((e) => e.seq > p.after && e.seq <= this.seq);
        if (out.length > 0 && out[0].seq === p.after + 1n) this.host.answer(p, 'events', out[out.length - 1].seq, out);
        else this.host.answer(p, 'refresh', this.seq, []);
      } else if (r.status === PollStatus.CONTINUE && p.after === this.seq) {
        // Nothing new: the page is where the channel is; hold it in this epoch.
        p.epoch = this.epoch;
        if (!this.tryAnswer(p)) this.hold(p);
      } else {
        this.host.answer(p, 'refresh', this.seq, []);
      }
    } catch (e) {
      this.host.answerError(p, e);
    } finally {
      this.probes--;
    }
  }

  /** Stops the loop and answers the held polls `continue`. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.inflight?.abort();
    if (this.nudge !== undefined) clearTimeout(this.nudge);
    this.sleeping?.wake();
    this.settle();
    for (const p of this.polls.splice(0)) {
      this.host.held(p, false);
      this.host.answer(p, 'continue', this.seq, []);
    }
    if (!this.isReady) this.markReady();
    this.host.dropped(this);
  }
}

/** The error code a backend failure becomes in HTTP. */
export function isChatError(e: unknown): e is ChatError {
  return e instanceof ChatError;
}
