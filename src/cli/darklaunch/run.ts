// One dark-launch run, without the CLI: `runDarklaunch(settings, hooks)`
// brings up the system (or takes the one given), starts the users over worker
// threads, samples every second, fires the faults, and at the end stops the
// users' actions, drains the messages in flight, audits what is still
// undelivered, stops everything it started, and resolves with the report.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { CommandFailed } from '../io.js';
import { Collector, type CostSample, type Sample } from './collect.js';
import { MetricsScraper, ProcStat, SelfStat, stubStats } from './cost.js';
import { assessFaults, explainLoss, fire, type FaultRecord } from './faults.js';
import type { AuditAnswer, AuditItem } from './ledger.js';
import { addCounters, zeroCounters, type AuditLoad, type FromWorker, type ToWorker, type WorkerInit } from './messages.js';
import { planDigest, shardUsers, UserPlan } from './plan.js';
import { Pool } from './pool.js';
import { buildReport, type Report } from './report.js';
import type { DarklaunchSettings } from './settings.js';
import { givenSystem, type SystemUnderTest } from './system.js';

/** What the live view shows, every second. */
export interface LiveStatus {
  phase: 'running' | 'draining' | 'auditing' | 'stopping';
  elapsedS: number;
  remainingS: number;
  usersStarted: number;
  usersActive: number;
  heldPolls: number;
  sendsPerS: number;
  deliveriesPerS: number;
  p50: number;
  p99: number;
  errorsPerS: number;
  errorsTotal: number;
  faultsFired: number;
  faultsPlanned: number;
  outstanding: number;
}

/** Callbacks of a run; all optional. */
export interface RunHooks {
  /** Stops the run early (Ctrl-C): the report is still written, marked interrupted. */
  signal?: AbortSignal;
  /** Every closed second. */
  onSample?(s: Sample, live: LiveStatus): void;
  onFault?(f: FaultRecord): void;
  /** Progress before and after the load: `spawning the stub cluster`, `stopping`, ... */
  onPhase?(text: string): void;
  /** Builds the system under test (default: spawn.ts with --spawn, else the TARGET). */
  system?(s: DarklaunchSettings, say: (text: string) => void): Promise<SystemUnderTest>;
}

const BATCH_MS = 250;
const SOCKET_HEADROOM = 600;
/** Audit rounds at most: the first, and rounds for messages accepted while the previous one ran. */
const AUDIT_ROUNDS = 3;
/** History reads per second the whole audit makes (split over the workers that have recipients). */
const AUDIT_READS_PER_S = 200;

/** One worker thread, or the main thread's own pool (`workers: 0`). */
interface Runner {
  users: Set<number>;
  /** Resolves when the runner said `stopped` (its users' actions are over). */
  stopped: Promise<void>;
  send(m: ToWorker): void;
  closed: Promise<void>;
  terminate(): Promise<void>;
}

/** The soft limit on open files of this process (from /proc), or undefined. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function defaultSystem(s: DarklaunchSettings, say: (text: string) => void): Promise<SystemUnderTest> {
  if (!s.spawn) return givenSystem(s.target!, s.stubControl, s.metricsUrl);
  const { spawnSystem } = await import('./spawn.js');
  return spawnSystem(s, say);
}

export async function runDarklaunch(settings: DarklaunchSettings, hooks: RunHooks = {}): Promise<Report> {
  const users = shardUsers(settings.firstUser, settings.users, settings.shard);
  const limit = openFileLimit();
  if (limit !== undefined && users.length + SOCKET_HEADROOM > limit)
    throw new CommandFailed(
      `${users.length} users need about ${users.length + SOCKET_HEADROOM} sockets, above this process's open-file limit of ${limit}: ` +
        `split the users over processes with --shard i/n (and merge the reports), or raise ulimit -n`,
    );
  const say = hooks.onPhase ?? (() => {});
  const signal = hooks.signal;
  const loadAvgStart = (await import('node:os')).loadavg();
  const sys = await (hooks.system ?? defaultSystem)(settings, say);
  try {
    return await load(settings, users, sys, hooks, loadAvgStart);
  } finally {
    say('stopping what was started');
    await sys.close();
    if (signal?.aborted) say('interrupted');
  }
}

async function load(settings: DarklaunchSettings, users: number[], sys: SystemUnderTest, hooks: RunHooks, loadAvgStart: number[]): Promise<Report> {
  const say = hooks.onPhase ?? (() => {});
  const signal = hooks.signal;
  const runId = randomBytes(4).toString('hex');
  const t0 = Date.now() + 300;
  const lo = users[0];
  const hi = users[users.length - 1];
  const collector = new Collector((u) => u >= lo && u <= hi, t0);
  const starts = users.map((u) => new UserPlan(settings, u).startAt).sort((a, b) => a - b);
  const digest = planDigest(settings, users);

  // ---- the users, over worker threads
  const nWorkers = Math.min(settings.workers, users.length);
  const init = (us: number[]): WorkerInit => ({
    target: sys.target,
    users: us,
    plan: settings,
    t0,
    runId,
    pollTimeoutMs: settings.pollTimeoutMs,
    batchMs: BATCH_MS,
  });
  /** Audit waiters by `worker/round`. */
  const auditWaiters = new Map<string, (a: AuditAnswer[]) => void>();
  const auditLoad: AuditLoad = { counters: zeroCounters(), errors: {} };
  const failures: string[] = [];
  const stoppedResolve: (() => void)[] = [];
  const stopped = (i: number) => new Promise<void>((r) => (stoppedResolve[i] = r));
  const onMessage = (i: number, m: FromWorker) => {
    if (m.type === 'batch') collector.add(i, m.batch);
    else if (m.type === 'stopped') stoppedResolve[i]?.();
    else if (m.type === 'audit') {
      addCounters(auditLoad.counters, m.load.counters);
      for (const [k, n] of Object.entries(m.load.errors)) auditLoad.errors[k] = (auditLoad.errors[k] ?? 0) + n;
      auditWaiters.get(`${i}/${m.round}`)?.(m.answers);
    }
    else if (m.type === 'error' && failures.length < 20) failures.push(m.message);
  };
  const runners: Runner[] = [];
  if (nWorkers === 0) {
    let closedResolve!: () => void;
    const closed = new Promise<void>((r) => (closedResolve = r));
    const pool = new Pool(init(users), (m) => {
      onMessage(0, m);
      if (m.type === 'closed') closedResolve();
    });
    pool.start();
    runners.push({ users: new Set(users), stopped: stopped(0), send: (m) => pool.handle(m), closed, terminate: async () => {} });
  } else {
    const shares: number[][] = Array.from({ length: nWorkers }, () => []);
    users.forEach((u, i) => shares[i % nWorkers].push(u));
    for (const [i, share] of shares.entries()) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: init(share) });
      let closedResolve!: () => void;
      const closed = new Promise<void>((r) => (closedResolve = r));
      w.on('message', (m: FromWorker) => {
        onMessage(i, m);
        if (m.type === 'closed') closedResolve();
      });
      w.on('error', (e) => {
        failures.push(`worker ${i}: ${e.stack ?? e.message}`);
        closedResolve();
      });
      w.on('exit', () => {
        closedResolve();
        stoppedResolve[i]?.();
      });
      runners.push({ users: new Set(share), stopped: stopped(i), send: (m) => w.postMessage(m), closed, terminate: () => w.terminate().then(() => {}) });
    }
  }
  const broadcast = (m: ToWorker) => runners.forEach((r) => r.send(m));

  // ---- costs, sampled every second (the asynchronous parts land in the next second)
  const self = new SelfStat();
  const gatewayProc = sys.gatewayPid !== undefined ? new ProcStat(sys.gatewayPid) : undefined;
  const stubProcs = new Map<number, ProcStat>();
  const scraper = sys.metricsUrl ? new MetricsScraper(sys.metricsUrl) : undefined;
  // The stubs and the gateway's /metrics are asked apart (a loaded gateway answers late). The
  // gateway's gauges carry over to the seconds its scrape has not answered yet; its rates
  // (requests, backend calls) go into one sample only.
  let lastStubs: CostSample['stubs'];
  let lastGateway: CostSample['gateway'];
  let freshGateway = false;
  let stubsBusy = false;
  let scrapeBusy = false;
  const sampleStubs = async () => {
    if (stubsBusy) return;
    stubsBusy = true;
    try {
      const stubs = sys.stubs();
      const stats = await Promise.all(stubs.map((s) => stubStats(s.node, s.controlPort)));
      for (const [i, st] of stats.entries()) {
        const pid = stubs[i].pid;
        if (pid === undefined) continue;
        let p = stubProcs.get(pid);
        if (!p) stubProcs.set(pid, (p = new ProcStat(pid)));
        Object.assign(st, p.sample() ?? {});
      }
      lastStubs = stats.length ? stats : undefined;
    } finally {
      stubsBusy = false;
    }
  };
  const scrape = async () => {
    if (scrapeBusy || !scraper) return;
    scrapeBusy = true;
    try {
      lastGateway = await scraper.sample();
      freshGateway = true;
    } finally {
      scrapeBusy = false;
    }
  };
  const sampleAsync = () => Promise.all([sampleStubs(), scrape()]);
  const cost = (): CostSample => {
    let metrics = lastGateway;
    if (metrics && !freshGateway) metrics = { heldPolls: metrics.heldPolls, rssMB: metrics.rssMB };
    freshGateway = false;
    const gw = { ...(metrics ?? {}), ...(gatewayProc?.sample() ?? {}) };
    for (const k of Object.keys(gw) as (keyof typeof gw)[]) if (gw[k] === undefined) delete gw[k];
    return { gateway: Object.keys(gw).length ? gw : undefined, stubs: lastStubs, simulator: self.sample() };
  };

  // ---- faults
  const faults: FaultRecord[] = [];
  let firedThisSecond: string[] = [];
  const faultTimers = settings.faults.map((f) =>
    setTimeout(() => {
      firedThisSecond.push(f.text);
      void fire(sys, f, t0).then((rec) => {
        faults.push(rec);
        hooks.onFault?.(rec);
      });
    }, Math.max(0, t0 + f.atMs - Date.now())),
  );
  const faultsSettled = async () => {
    for (let i = 0; i < 600 && faults.length < settings.faults.length && !signal?.aborted; i++) await sleep(100);
  };

  // ---- the clock: one sample per second
  const samples: Sample[] = [];
  let phase: LiveStatus['phase'] = 'running';
  /** Which part of the run a sample belongs to: the measured window, the drain, or the audit (its own requests are kept out). */
  let window: Sample['phase'] = 'run';
  let sec = 0;
  let prevErrorsTotal = 0;
  const tick = () => {
    sec++;
    const elapsed = Date.now() - t0;
    let started = 0;
    while (started < starts.length && starts[started] <= elapsed) started++;
    const s = collector.tick(sec, started, cost(), firedThisSecond, window);
    firedThisSecond = [];
    samples.push(s);
    void sampleAsync();
    const errs = Object.values(s.errors).reduce((a, b) => a + b, 0);
    prevErrorsTotal += errs;
    hooks.onSample?.(s, {
      phase,
      elapsedS: sec,
      remainingS: Math.max(0, Math.ceil((settings.durationMs - elapsed) / 1000)),
      usersStarted: started,
      usersActive: s.users.active,
      heldPolls: s.heldPolls,
      sendsPerS: s.counters.sendsAccepted,
      deliveriesPerS: s.deliveries,
      p50: s.delivery.p50,
      p99: s.delivery.p99,
      errorsPerS: errs,
      errorsTotal: prevErrorsTotal,
      faultsFired: faults.length,
      faultsPlanned: settings.faults.length,
      outstanding: collector.ledger.outstandingCount(),
    });
  };
  await sleep(t0 - Date.now());
  // Each tick is due at t0 + its second (not 1 s after the last one ran), so that
  // sample t stays second t of the run when a loaded event loop runs ticks late.
  let clock: NodeJS.Timeout | undefined;
  const next = () => {
    clock = setTimeout(() => {
      tick();
      next();
    }, Math.max(0, t0 + (sec + 1) * 1000 - Date.now()));
  };
  next();
  const endedEarly = () => signal?.aborted === true;

  // ---- the run, then drain, audit, close
  let drainS = 0;
  let auditS = 0;
  try {
    await sleepUntil(t0 + settings.durationMs, signal);
    window = 'drain';
    broadcast({ type: 'stop-actions' });
    faultTimers.forEach(clearTimeout);
    await faultsSettled();
    // Actions in progress (a send being retried, a sign-in) end within a request's timeout.
    await Promise.race([Promise.all(runners.map((r) => r.stopped)), sleep(45_000, true)]);
    if (!endedEarly()) {
      phase = 'draining';
      say('draining: waiting for messages in flight');
      const d0 = Date.now();
      await sleep(2 * BATCH_MS);
      while (Date.now() - d0 < settings.drainMs && collector.ledger.outstandingCount() > 0 && !endedEarly()) await sleep(200);
      drainS = (Date.now() - d0) / 1000;
    }
    if (!endedEarly()) {
      phase = 'auditing';
      window = 'audit';
      const a0 = Date.now();
      // A send whose answer came late (a loaded gateway) is accepted after the audit began: it is audited in the next round.
      const answers: AuditAnswer[] = [];
      const asked = new Set<string>();
      for (let round = 0; round < AUDIT_ROUNDS && !endedEarly(); round++) {
        const items = collector.ledger.outstanding().filter((it) => !asked.has(it.id));
        if (items.length === 0) break;
        const n = `${items.length} undelivered message${items.length === 1 ? '' : 's'}`;
        say(round === 0 ? `auditing ${n} against history` : `auditing ${n} accepted after the audit began`);
        for (const it of items) asked.add(it.id);
        answers.push(...(await audit(runners, auditWaiters, round, items, signal)));
      }
      // Interrupted during the audit: what it did not settle stays in flight.
      if (!endedEarly()) collector.ledger.settle(answers, (m) => explainLoss(faults, sys.stubs(), m));
      auditS = (Date.now() - a0) / 1000;
    }
  } finally {
    phase = 'stopping';
    faultTimers.forEach(clearTimeout);
    broadcast({ type: 'close' });
    await Promise.race([Promise.all(runners.map((r) => r.closed)), sleep(10_000, true)]);
    await Promise.all(runners.map((r) => r.terminate()));
    clearTimeout(clock);
  }
  tick();
  assessFaults(faults, samples);
  if (failures.length > 0) say(`simulator errors:\n${failures.join('\n')}`);
  return buildReport({
    settings,
    sys,
    t0,
    endedAt: Date.now(),
    users: users.length,
    range: [lo, hi],
    digest,
    samples,
    totals: collector.totals(),
    ledger: collector.ledger.summary(),
    settled: collector.ledger.settled,
    external: collector.ledger.external(),
    faults,
    interrupted: endedEarly(),
    phases: { drainS, auditS, auditLoad },
    loadAvgStart,
    simulatorErrors: failures,
  });
}

/** Sends each worker the audit items of its recipients and waits (bounded) for the answers. */
async function audit(runners: Runner[], waiters: Map<string, (a: AuditAnswer[]) => void>, round: number, items: AuditItem[], signal: AbortSignal | undefined): Promise<AuditAnswer[]> {
  const answers: AuditAnswer[] = [];
  const shares = runners.map((r) => items.filter((it) => r.users.has(it.to)));
  const readsPerS = AUDIT_READS_PER_S / Math.max(1, shares.filter((mine) => mine.length > 0).length);
  const jobs = runners.map((r, i) => {
    const mine = shares[i];
    if (mine.length === 0) return Promise.resolve();
    const key = `${i}/${round}`;
    const got = new Promise<AuditAnswer[]>((resolve) => waiters.set(key, resolve));
    r.send({ type: 'audit', round, items: mine, readsPerS });
    // Bounded: two minutes and more for a long list (history reads of a loaded system are slow), at most five; Ctrl-C ends it.
    const bound = new AbortController();
    const ended = sleepUntil(Date.now() + Math.min(300_000, 120_000 + 100 * mine.length), AbortSignal.any([bound.signal, ...(signal ? [signal] : [])]));
    return Promise.race([got, ended.then(() => undefined)]).then((a) => {
      bound.abort();
      waiters.delete(key);
      answers.push(...(a ?? mine.map((it) => ({ id: it.id, inHistory: false, refreshedAfter: false, error: signal?.aborted ? 'the run was interrupted' : 'the audit timed out' }))));
    });
  });
  await Promise.all(jobs);
  return answers;
}

/** Waits `ms`; an `unref`'d wait does not keep the process alive. */
function sleep(ms: number, unref = false): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, Math.max(0, ms));
    if (unref) t.unref();
  });
}

/** Sleeps until the epoch ms `at`, or until `signal` fires. */
function sleepUntil(at: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, at - Date.now()));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
