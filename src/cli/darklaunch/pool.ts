// The users of one worker and what they report: a Pool starts each user on
// its plan, gathers counters, latencies and ledger records into a Batch every
// `batchMs`, and answers the main thread's commands (stop acting, audit,
// close). worker.ts runs a Pool in a worker thread; with `workers: 0` the
// main thread runs one itself.
import { Gateway } from './api.js';
import type { AuditAnswer, AuditItem } from './ledger.js';
import { LATENCY_KINDS, zeroCounters, type AuditLoad, type Batch, type Counters, type FromWorker, type Latencies, type LedgerRecord, type ToWorker, type WorkerInit } from './messages.js';
import { UserPlan } from './plan.js';
import { SimUser } from './user.js';
import { Wheel } from './wheel.js';

/** History reads in flight per worker during the audit (also paced: see `readsPerS`). */
const AUDIT_PARALLEL = 8;

function emptyLatencies(): Latencies {
  return { send: [], presence: [], repoll: [], login: [], history: [] };
}

export class Pool {
  readonly gateway: Gateway;
  readonly t0: number;
  readonly runId: string;
  readonly pollTimeoutMs: number;
  /** The one timer of this worker's users (plans, waits, backoff). */
  readonly wheel = new Wheel();
  /** Polls sent and not yet answered. */
  held = 0;
  accepted: LedgerRecord[] = [];
  delivered: LedgerRecord[] = [];
  recovered: LedgerRecord[] = [];
  private counters: Counters = zeroCounters();
  private errors: Record<string, number> = {};
  private lat: Latencies = emptyLatencies();
  private readonly users = new Map<number, SimUser>();
  private timer: NodeJS.Timeout | undefined;
  /** Once the audit begins, counters go here, not into the batches (the samples measure the load only). */
  private auditing = false;
  private auditLoad: AuditLoad = { counters: zeroCounters(), errors: {} };

  constructor(
    private readonly init: WorkerInit,
    private readonly post: (m: FromWorker) => void,
  ) {
    this.t0 = init.t0;
    this.runId = init.runId;
    this.pollTimeoutMs = init.pollTimeoutMs;
    // A socket per user for its held poll, plus room for calls in flight.
    this.gateway = new Gateway(init.target, init.users.length + 256);
    for (const id of init.users) this.users.set(id, new SimUser(id, new UserPlan(init.plan, id), this));
  }

  start(): void {
    for (const u of this.users.values()) u.start();
    this.timer = setInterval(() => this.flush(), this.init.batchMs);
  }

  count(k: keyof Counters, n = 1): void {
    // An acceptance always goes into the samples: the ledger checks them against its own (a send still
    // being retried when the audit began, after the stop timed out, is still a send of the window).
    (this.auditing && k !== 'sendsAccepted' ? this.auditLoad.counters : this.counters)[k] += n;
  }

  error(key: string): void {
    const errors = this.auditing ? this.auditLoad.errors : this.errors;
    errors[key] = (errors[key] ?? 0) + 1;
  }

  latency(kind: (typeof LATENCY_KINDS)[number], ms: number): void {
    if (!this.auditing) this.lat[kind].push(Math.round(ms * 1000) / 1000);
  }

  /** A bug in the simulator itself: reported, never silent. */
  fail(e: unknown): void {
    this.post({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }

  /** Everything since the last batch. */
  takeBatch(): Batch {
    let active = 0;
    let idle = 0;
    for (const u of this.users.values()) {
      if (u.signedIn) active++;
      if (u.signedIn && u.idle) idle++;
    }
    const b: Batch = {
      counters: this.counters,
      errors: this.errors,
      lat: this.lat,
      accepted: this.accepted,
      delivered: this.delivered,
      recovered: this.recovered,
      gauges: { active, held: this.held, idle },
    };
    this.counters = zeroCounters();
    this.errors = {};
    this.lat = emptyLatencies();
    this.accepted = [];
    this.delivered = [];
    this.recovered = [];
    return b;
  }

  private flush(): void {
    this.post({ type: 'batch', batch: this.takeBatch() });
  }

  /** Handles a command from the main thread. */
  handle(m: ToWorker): void {
    switch (m.type) {
      case 'stop-actions':
        for (const u of this.users.values()) u.stopActing();
        // Sends in progress finish (or give up) first, so the ledger has every acceptance before the drain.
        Promise.all([...this.users.values()].map((u) => u.settled())).then(
          () => {
            this.flush();
            this.post({ type: 'stopped' });
          },
          (e: unknown) => this.fail(e),
        );
        return;
      case 'audit':
        this.auditing = true;
        this.audit(m.items, m.readsPerS).then(
          (answers) => {
            const load = this.auditLoad;
            this.auditLoad = { counters: zeroCounters(), errors: {} };
            this.post({ type: 'audit', round: m.round, answers, load });
          },
          (e: unknown) => this.fail(e),
        );
        return;
      case 'close':
        this.close();
        return;
    }
  }

  /**
   * Answers the audit: one history read per (recipient, sender) pair, a few at
   * once and at most `readsPerS` a second, so that the audit does not load a
   * gateway that is still catching up.
   */
  private async audit(items: AuditItem[], readsPerS: number): Promise<AuditAnswer[]> {
    const pairs = new Map<string, AuditItem[]>();
    for (const it of items) {
      const k = `${it.to}:${it.from}`;
      const list = pairs.get(k);
      if (list) list.push(it);
      else pairs.set(k, [it]);
    }
    const jobs = [...pairs.values()];
    const out: AuditAnswer[] = [];
    let next = 0;
    const gapMs = 1000 / Math.max(0.1, readsPerS);
    const a0 = performance.now();
    const run = async () => {
      while (next < jobs.length) {
        const i = next++;
        const job = jobs[i];
        const wait = a0 + i * gapMs - performance.now();
        if (wait > 1) await this.wheel.sleep(wait);
        const u = this.users.get(job[0].to);
        if (!u) {
          for (const it of job) out.push({ id: it.id, inHistory: false, refreshedAfter: false, error: 'the recipient is not in this worker' });
          continue;
        }
        out.push(...(await u.audit(job)));
      }
    };
    await Promise.all(Array.from({ length: AUDIT_PARALLEL }, run));
    this.flush();
    return out;
  }

  /** Stops every user, posts the last batch, closes the sockets. */
  close(): void {
    for (const u of this.users.values()) u.close();
    clearInterval(this.timer);
    this.wheel.stop();
    this.flush();
    this.gateway.close();
    this.post({ type: 'closed' });
  }
}
