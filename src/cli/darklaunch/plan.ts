// The deterministic plan of each simulated user: when it signs in, when it
// asks for presence, when it sends (and whether it types first), when it goes
// idle, when it logs out and back in. Every user draws from its own random
// streams seeded from (seed, user id), one stream per kind of step, so the
// plan is the same whatever worker, shard or machine runs the user, and the
// steps can be generated lazily in any order.
import { createHash } from 'node:crypto';
import { Rng } from './rng.js';
import type { DarklaunchSettings } from './settings.js';

/** The part of the settings a plan depends on. */
export type PlanSettings = Pick<
  DarklaunchSettings,
  'seed' | 'rampMs' | 'durationMs' | 'presenceEveryMs' | 'sendsPerMin' | 'typingShare' | 'idleShare' | 'idleForMs' | 'reloginShare'
>;

/** One planned send. `pick` in [0, 1) chooses among the friends online at that moment. */
export interface PlannedSend {
  at: number;
  pick: number;
  /** Typing notices first for this long (0: no typing). */
  typingMs: number;
  /** Length of the text. */
  textLen: number;
}

/** A stretch of time, relative to the run's start. */
export interface Span {
  at: number;
  forMs: number;
}

const STREAM = { start: 0, send: 1, presence: 2, idle: 3, relogin: 4 } as const;

/** The plan of one user (times in ms from the run's start). */
export class UserPlan {
  /** When the user signs in. */
  readonly startAt: number;
  /** Its one idle period, if it has one. */
  readonly idle: Span | undefined;
  /** Its one logout (for `forMs`, then it signs in again), if it has one. */
  readonly away: Span | undefined;
  private readonly sendRng: Rng;
  private readonly presenceRng: Rng;
  private nextSendAt: number;
  private nextPresenceAt: number;

  constructor(
    private readonly s: PlanSettings,
    readonly user: number,
  ) {
    const stream = (k: number) => new Rng(s.seed, user * 8 + k);
    const start = stream(STREAM.start);
    this.startAt = Math.floor(start.next() * s.rampMs);
    const end = s.durationMs;
    const idle = stream(STREAM.idle);
    const idleAt = this.startAt + idle.range(5_000, Math.max(5_000, end - this.startAt - s.idleForMs));
    this.idle = idle.chance(s.idleShare) && idleAt + s.idleForMs < end ? { at: Math.floor(idleAt), forMs: s.idleForMs } : undefined;
    const rl = stream(STREAM.relogin);
    const awayFor = Math.floor(rl.range(2_000, 10_000));
    const awayAt = this.startAt + rl.range(10_000, Math.max(10_000, end - this.startAt - awayFor - 10_000));
    this.away = rl.chance(s.reloginShare) && awayAt + awayFor + 10_000 < end ? { at: Math.floor(awayAt), forMs: awayFor } : undefined;
    this.sendRng = stream(STREAM.send);
    this.presenceRng = stream(STREAM.presence);
    this.nextSendAt = this.startAt;
    this.nextPresenceAt = this.startAt;
  }

  /** Whether `at` falls in the idle period or while logged out. */
  private quiet(at: number, span: Span | undefined): boolean {
    return span !== undefined && at >= span.at && at < span.at + span.forMs;
  }

  /** The next send, or undefined past the end. Sends planned while idle or logged out are skipped. */
  nextSend(): PlannedSend | undefined {
    if (this.s.sendsPerMin <= 0) return undefined;
    for (;;) {
      this.nextSendAt += this.sendRng.exp(60_000 / this.s.sendsPerMin);
      const pick = this.sendRng.next();
      const typing = this.sendRng.chance(this.s.typingShare);
      const typingMs = typing ? Math.floor(this.sendRng.range(300, 3000)) : 0;
      const textLen = Math.floor(this.sendRng.range(8, 160));
      const at = Math.floor(this.nextSendAt);
      if (at >= this.s.durationMs) return undefined;
      if (this.quiet(at, this.idle) || this.quiet(at, this.away)) continue;
      return { at, pick, typingMs, textLen };
    }
  }

  /**
   * The next presence query: right after sign-in, then every
   * `presenceEveryMs` (with 5% jitter); none while logged out (the sign-in after
   * it asks again).
   */
  nextPresence(): number | undefined {
    for (;;) {
      const at = Math.floor(this.nextPresenceAt);
      this.nextPresenceAt += this.s.presenceEveryMs * this.presenceRng.range(0.95, 1.05);
      if (at >= this.s.durationMs) return undefined;
      if (!this.quiet(at, this.away)) return at;
    }
  }
}

/** The users of shard `index` of `count` (contiguous slices of the id range). */
export function shardUsers(first: number, users: number, shard: { index: number; count: number }): number[] {
  const lo = Math.floor(((shard.index - 1) * users) / shard.count);
  const hi = Math.floor((shard.index * users) / shard.count);
  const out: number[] = [];
  for (let i = lo; i < hi; i++) out.push(first + i);
  return out;
}

/**
 * A digest of the whole plan of these users (every step): equal for equal
 * settings and seed, so two runs can be shown to have followed one plan.
 */
export function planDigest(s: PlanSettings, users: readonly number[]): string {
  const h = createHash('sha256');
  for (const u of users) {
    const p = new UserPlan(s, u);
    h.update(`${u}:${p.startAt}:${p.idle?.at ?? '-'}/${p.idle?.forMs ?? '-'}:${p.away?.at ?? '-'}/${p.away?.forMs ?? '-'};`);
    for (let x = p.nextSend(); x; x = p.nextSend()) h.update(`s${x.at},${x.pick.toFixed(6)},${x.typingMs},${x.textLen};`);
    for (let x = p.nextPresence(); x !== undefined; x = p.nextPresence()) h.update(`p${x};`);
  }
  return h.digest('hex').slice(0, 16);
}
