// One simulated user: a chat page with the UI turned off, speaking only the
// gateway's HTTP API. It signs in at its planned time, holds a long-poll and
// makes it again after every answer, timeout or error (with the page's capped
// jittered backoff, or the server's Retry-After), asks for its friends'
// presence on schedule, sends to friends who are online (sometimes typing
// first), goes idle and comes back, and may log out and sign in again. After
// a `refresh` (or a new sign-in) it re-reads history, as the page does.
import type { ApiFailure, ApiMessage, ApiPoll, ApiPresence, ApiResult } from './api.js';
import { errorKey, toMessage, toPoll } from './api.js';
import type { AuditAnswer } from './ledger.js';
import type { PlannedSend, UserPlan } from './plan.js';
import type { Pool } from './pool.js';

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;
/** The page takes a poll with no answer for this long as a broken connection. */
const POLL_DEADLINE_MS = 70_000;

/**
 * The page's backoff after its `failures`-th failure in a row (as the
 * gateway's page, channel.js): 500 ms doubling to 8 s, jittered in the upper
 * half, and at least the server's Retry-After (up to 16 s).
 */
export function backoffMs(failures: number, retryAfterMs = 0, rnd: number = Math.random()): number {
  const capped = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(Math.max(0, failures - 1), 10));
  return Math.max(capped * (0.5 + rnd / 2), Math.min(retryAfterMs, MAX_DELAY_MS * 2));
}

/** The ledger key of a message: its id and clientMsgId (ids alone repeat after a stub node restarts). */
export function messageKey(m: ApiMessage): string {
  return `${m.id}/${m.clientMsgId ?? ''}`;
}

const HISTORY_LIMIT = 50;
/**
 * The audit's history read of one conversation: the gateway's largest `limit`
 * by default (`maxHistoryLimit`, 1,000; a larger one is a 400). At one send a
 * minute, a run would need over 16 hours for one pair to pass it.
 */
const AUDIT_HISTORY_LIMIT = 1000;
const HISTORY_PARALLEL = 4;
/** Attempts of one audit history read refused with 429 (each waits its Retry-After). */
const AUDIT_ATTEMPTS = 5;
/** Attempts of one send (same clientMsgId, so the server keeps one copy). */
const SEND_ATTEMPTS = 4;

/** Gateway statuses that are answers about the request, not failures of the system. */
function isRejection(e: ApiFailure): boolean {
  return e.status === 400 || e.status === 403 || e.status === 404 || e.status === 409 || e.status === 413 || e.status === 422;
}

export class SimUser {
  private cookie = '';
  /** The page's cursor: the last seq, the channel's epoch, the presence version. */
  private seq = '0';
  private epoch = 0;
  private pv = 0;
  /** Friends online or idle, from the last presence answer and the changes polls brought. */
  private readonly online = new Set<string>();
  /** Keys of messages seen from each peer (by poll or history). */
  private readonly seen = new Map<string, Set<string>>();
  /** Times (epoch ms) of refreshes and new sign-ins, for the audit. */
  readonly refreshedAt: number[] = [];
  signedIn = false;
  idle = false;
  private session = 0;
  private sendNo = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly sleeps = new Set<() => void>();
  private acting = true;
  private closed = false;
  private readonly me: string;

  constructor(
    readonly id: number,
    private readonly plan: UserPlan,
    private readonly pool: Pool,
  ) {
    this.me = String(id);
  }

  /** Schedules everything the plan says. */
  start(): void {
    this.at(this.plan.startAt, () => this.act(() => this.signIn(false)));
    this.scheduleSend();
    this.schedulePresence();
    const { idle, away } = this.plan;
    if (idle) {
      this.at(idle.at, () => {
        this.idle = true;
        this.pool.count('idleStarts');
      });
      this.at(idle.at + idle.forMs, () => (this.idle = false));
    }
    if (away) {
      this.at(away.at, () => this.act(() => this.logout()));
      this.at(away.at + away.forMs, () => this.act(() => this.signIn(true)));
    }
  }

  /** Resolves when the action in progress (and any queued) has finished. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Stops planned actions (sends, presence, sign-ins); the poll goes on. */
  stopActing(): void {
    // Planned actions still on the pool's wheel find `acting` false and do nothing.
    this.acting = false;
    for (const wake of [...this.sleeps]) wake();
  }

  /** Ends everything; held polls end when the pool closes its sockets. */
  close(): void {
    this.stopActing();
    this.closed = true;
  }

  private at(atMs: number, fn: () => void): void {
    this.pool.wheel.at(this.pool.t0 + atMs, () => {
      if (this.acting) fn();
    });
  }

  /** Runs `fn` after the user's previous action (a page does one thing at a time). */
  private act(fn: () => Promise<void>): void {
    this.chain = this.chain.then(() => (this.closed ? undefined : fn())).catch((e: unknown) => this.pool.fail(e));
  }

  private scheduleSend(): void {
    const s = this.plan.nextSend();
    if (s) this.at(s.at, () => {
      this.scheduleSend();
      this.act(() => this.send(s));
    });
  }

  private schedulePresence(): void {
    const at = this.plan.nextPresence();
    if (at !== undefined) this.at(at, () => {
      this.schedulePresence();
      this.act(() => this.presence());
    });
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiResult<T>> {
    this.pool.count('requests');
    const r = await this.pool.gateway.call<T>(method, path, { cookie: this.cookie, body, timeoutMs: 30_000 });
    if (!r.ok) this.failed(r.error);
    return r;
  }

  private failed(e: ApiFailure): void {
    this.pool.count('failures');
    this.pool.error(errorKey(e));
  }

  /** Waits `ms`, or less when the run stops acting. */
  private sleep(ms: number): Promise<void> {
    if (!this.acting) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        if (!this.sleeps.delete(wake)) return;
        resolve();
      };
      this.sleeps.add(wake);
      this.pool.wheel.after(ms, wake);
    });
  }

  /** Signs in (retrying with backoff until it works or the run stops acting), then polls. */
  private async signIn(again: boolean): Promise<void> {
    if (this.signedIn) return;
    for (let attempt = 0; this.acting; attempt++) {
      const err = await this.login();
      if (err === undefined) {
        void this.pollLoop(this.session);
        if (again) {
          // A page loading again reads the conversations it had open.
          this.refreshedAt.push(Date.now());
          await this.readHistory();
        }
        await this.presence();
        return;
      }
      await this.sleep(backoffMs(attempt + 1, err.retryAfterMs));
    }
  }

  /** One POST /api/login; on success the user is signed in (a new session) and has its cursor and friends. */
  private async login(): Promise<ApiFailure | undefined> {
    const t = performance.now();
    this.pool.count('requests');
    const r = await this.pool.gateway.call<{ seq?: unknown; epoch?: unknown; pv?: unknown; friends?: unknown }>('POST', '/api/login', {
      body: { userId: this.me },
      timeoutMs: 30_000,
      onCookie: (c) => (this.cookie = c),
    });
    if (!r.ok) {
      this.failed(r.error);
      this.pool.count('loginErrors');
      return r.error;
    }
    this.pool.latency('login', performance.now() - t);
    this.pool.count('logins');
    this.seq = String(r.body.seq ?? '0');
    this.epoch = Number(r.body.epoch ?? 0);
    this.pv = Number(r.body.pv ?? 0);
    const friends = Array.isArray(r.body.friends) ? (r.body.friends as unknown[]) : [];
    this.online.clear();
    this.setPresence(friends.filter((f): f is ApiPresence => typeof f === 'object' && f !== null));
    this.signedIn = true;
    this.session++;
    return undefined;
  }

  private async logout(): Promise<void> {
    if (!this.signedIn) return;
    this.signedIn = false;
    this.session++;
    const r = await this.call<object>('POST', '/api/logout', {});
    if (r.ok) this.pool.count('logouts');
  }

  /** The long-poll loop of one session, as the page's channel.js; it ends when the user logs out or the pool closes. */
  private async pollLoop(session: number): Promise<void> {
    let failures = 0;
    let ended = Date.now();
    while (this.signedIn && this.session === session && !this.closed) {
      this.pool.held++;
      this.pool.count('requests');
      const r = await this.pool.gateway.call<unknown>('GET', `/api/poll?seq=${encodeURIComponent(this.seq)}&epoch=${this.epoch}&pv=${this.pv}`, {
        cookie: this.cookie,
        timeoutMs: POLL_DEADLINE_MS,
        onSent: () => this.pool.latency('repoll', Date.now() - ended),
      });
      this.pool.held--;
      ended = Date.now();
      // Closed, or the session ended meanwhile (a logout): the page dropped this poll, and its
      // answer must not move the cursor of the session that followed.
      if (this.closed || this.session !== session) return;
      const p = r.ok ? toPoll(r.body) : undefined;
      if (p) {
        failures = 0;
        await this.onPoll(p);
        // The gateway is going away (a restart): come back when it says.
        if (p.retryAfterMs > 0) await this.pool.wheel.sleep(Math.min(p.retryAfterMs, MAX_DELAY_MS));
        continue;
      }
      const err = r.ok ? { status: 502, code: 'ERR_BAD_POLL_ANSWER', message: 'not a poll answer', retryAfterMs: undefined } : r.error;
      this.failed(err);
      this.pool.count('pollErrors');
      if (err.status === 401) {
        // The session is gone: the page shows the sign-in form, and the person signs in again.
        this.signedIn = false;
        this.act(() => this.signIn(true));
        return;
      }
      await this.pool.wheel.sleep(backoffMs(++failures, err.retryAfterMs));
    }
  }

  private async onPoll(p: ApiPoll): Promise<void> {
    const now = Date.now();
    if (p.status === 'continue') this.pool.count('pollContinue');
    else if (p.status === 'events') this.pool.count('pollEvents');
    else this.pool.count('pollRefresh');
    for (const ev of p.events) {
      if ('message' in ev) {
        const m = ev.message;
        if (m.from === this.me) this.pool.count('echoes');
        else if (m.to === this.me) {
          this.markSeen(m);
          this.pool.delivered.push([messageKey(m), Number(m.from), this.id, now]);
        }
      } else if ('typing' in ev) this.pool.count('typingEvents');
    }
    if (p.epoch !== undefined) this.epoch = p.epoch;
    if (p.pv !== undefined) this.pv = p.pv;
    if (p.seq !== '') this.seq = p.seq;
    if (p.presence.length > 0) {
      this.pool.count('presencePushes', p.presence.length);
      this.setPresence(p.presence);
    }
    if (p.status === 'refresh') {
      this.refreshedAt.push(now);
      await this.readHistory();
    }
  }

  /** Takes friends' presence (a presence answer, or the changes a poll brought). */
  private setPresence(list: ApiPresence[]): void {
    for (const f of list) {
      const id = String(f.userId);
      if (f.state === 'online' || f.state === 'idle') this.online.add(id);
      else this.online.delete(id);
    }
  }

  private markSeen(m: ApiMessage): boolean {
    let s = this.seen.get(m.from);
    if (!s) this.seen.set(m.from, (s = new Set()));
    const k = messageKey(m);
    if (s.has(k)) return false;
    s.add(k);
    return true;
  }

  /**
   * The page's catch-up after `refresh` or a new sign-in: the history of every
   * conversation it has open (each peer it sent to or heard from); what was not
   * seen yet is shown (recovered by history). A message from a friend with no
   * open conversation is found by the audit at the end, as the page would show
   * it when that conversation is opened.
   */
  private async readHistory(): Promise<void> {
    const peers = [...this.seen.keys()];
    let next = 0;
    const worker = async () => {
      while (next < peers.length) {
        const peer = peers[next++];
        const msgs = await this.history(peer);
        const now = Date.now();
        for (const m of msgs ?? []) {
          if (m.to === this.me && m.from === peer && this.markSeen(m)) this.pool.recovered.push([messageKey(m), Number(m.from), this.id, now]);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(HISTORY_PARALLEL, peers.length) }, worker));
  }

  /** One conversation's last messages, or undefined when the call failed. */
  async history(peer: string, limit = HISTORY_LIMIT): Promise<ApiMessage[] | undefined> {
    const r = await this.historyOrFailure(peer, limit);
    return Array.isArray(r) ? r : undefined;
  }

  /** One history read: the messages, or the failure (so a caller can honour a 429's Retry-After). */
  private async historyOrFailure(peer: string, limit: number): Promise<ApiMessage[] | ApiFailure> {
    const t = performance.now();
    const r = await this.call<{ messages?: unknown }>('GET', `/api/history?with=${encodeURIComponent(peer)}&limit=${limit}`);
    if (!r.ok || !Array.isArray(r.body.messages)) {
      this.pool.count('historyErrors');
      return r.ok ? { status: 502, code: 'ERR_BAD_HISTORY_ANSWER', message: 'not a history answer', retryAfterMs: undefined } : r.error;
    }
    this.pool.count('historyReads');
    this.pool.latency('history', performance.now() - t);
    return r.body.messages.map((m) => toMessage(m as Record<string, unknown>));
  }

  private async presence(): Promise<void> {
    if (!this.signedIn) return;
    const t = performance.now();
    const r = await this.call<{ friends?: unknown }>('GET', '/api/presence');
    if (!r.ok || !Array.isArray(r.body.friends)) {
      this.pool.count('presenceErrors');
      return;
    }
    this.pool.latency('presence', performance.now() - t);
    this.pool.count('presence');
    this.online.clear();
    this.setPresence(r.body.friends as ApiPresence[]);
  }

  private async send(s: PlannedSend): Promise<void> {
    if (!this.signedIn || this.idle) return;
    if (this.online.size === 0) {
      this.pool.count('sendsSkipped');
      return;
    }
    const online = [...this.online].sort();
    const to = online[Math.floor(s.pick * online.length)];
    if (s.typingMs > 0) {
      const r = await this.call('POST', '/api/typing', { to, active: true });
      if (r.ok) this.pool.count('typing');
      await this.sleep(s.typingMs);
      // Signed out, or the run stopped acting while this user typed: the message is not sent.
      if (!this.signedIn || !this.acting) return;
    }
    const clientMsgId = `dl-${this.pool.runId}-${this.id}-${++this.sendNo}`;
    const text = `darklaunch ${this.id}->${to} #${this.sendNo} `.padEnd(s.textLen, '.');
    this.pool.count('sends');
    const t = performance.now();
    for (let attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
      if (attempt > 0) this.pool.count('sendRetries');
      const r = await this.call<{ message?: Record<string, unknown> }>('POST', '/api/send', { to, text, clientMsgId });
      if (r.ok && r.body.message) {
        const m = toMessage(r.body.message);
        this.pool.latency('send', performance.now() - t);
        this.pool.count('sendsAccepted');
        // Accepted when the server stored it (its clock: this machine's with --spawn).
        this.pool.accepted.push([messageKey(m), this.id, Number(m.to || to), m.sentAtMs > 0 ? m.sentAtMs : Date.now()]);
        if (!this.seen.has(to)) this.seen.set(to, new Set());
        break;
      }
      if (!r.ok && isRejection(r.error)) {
        this.pool.count('sendsRejected');
        break;
      }
      if (attempt === SEND_ATTEMPTS - 1 || !this.acting) {
        this.pool.count('sendsFailed');
        break;
      }
      await this.sleep(backoffMs(attempt + 1, r.ok ? 0 : r.error.retryAfterMs));
    }
    if (s.typingMs > 0 && this.signedIn) await this.call('POST', '/api/typing', { to, active: false });
  }

  /**
   * The audit of messages from one sender to this user: is each in history,
   * and did this user get a refresh (or sign in again) after it was accepted?
   */
  async audit(items: { id: string; from: number; acceptedAt: number }[]): Promise<AuditAnswer[]> {
    const answer = (it: (typeof items)[number], inHistory: boolean, error?: string): AuditAnswer => ({
      id: it.id,
      inHistory,
      refreshedAfter: this.refreshedAt.some((t) => t >= it.acceptedAt),
      ...(error ? { error } : {}),
    });
    // Signed out at the end (a sign-in the end of the run cut short): the person comes back, and
    // the page that loads reads history, as after a refresh.
    for (let attempt = 1; !this.signedIn && attempt <= 3; attempt++) {
      const err = await this.login();
      if (err) await this.pool.wheel.sleep(backoffMs(attempt, err.retryAfterMs));
      else this.refreshedAt.push(Date.now());
    }
    if (!this.signedIn) return items.map((it) => answer(it, false, 'the recipient could not sign in'));
    // A read of 1,000 costs many tokens of the gateway's API rate limit: a 429 is
    // waited out (its Retry-After) and retried, a bounded number of times.
    let msgs = await this.historyOrFailure(String(items[0].from), AUDIT_HISTORY_LIMIT);
    for (let attempt = 1; !Array.isArray(msgs) && msgs.status === 429 && attempt < AUDIT_ATTEMPTS; attempt++) {
      await this.pool.wheel.sleep(backoffMs(attempt, msgs.retryAfterMs));
      msgs = await this.historyOrFailure(String(items[0].from), AUDIT_HISTORY_LIMIT);
    }
    if (!Array.isArray(msgs)) return items.map((it) => answer(it, false, 'its history read failed'));
    const keys = new Set(msgs.map(messageKey));
    return items.map((it) => answer(it, keys.has(it.id)));
  }
}
