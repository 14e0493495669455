// The main thread's view of a run: it takes the workers' batches, reconciles
// the ledger, and every second closes a Sample (what happened in that
// second: counters, latencies, gauges, costs, faults). Totals are kept beside
// the samples and always equal their sums.
import { Histogram, type HistogramJson, type Percentiles } from './hist.js';
import { Ledger } from './ledger.js';
import { addCounters, LATENCY_KINDS, zeroCounters, type Batch, type Counters } from './messages.js';

/** One stub node's figures in a sample: its `stats` and, when spawned, its process's RSS and CPU. */
export interface StubCost {
  node: string;
  up: boolean;
  rssMB?: number;
  /** CPU used in the last second, in % of one core. */
  cpuPct?: number;
  online?: number;
  heldPolls?: number;
  messages?: number;
  processes?: number;
  delayMs?: number;
}

/** What the system under test cost in one second. */
export interface CostSample {
  /** The gateway process (spawned: from /proc; otherwise from its /metrics when it exposes process metrics). */
  gateway?: {
    rssMB?: number;
    cpuPct?: number;
    /** Polls the gateway says it holds (/metrics). */
    heldPolls?: number;
    /**
     * Backend calls per second and their latency (ms), from the gateway's
     * histogram (/metrics): all but the held polls, and by method. Only in the
     * seconds a scrape answered (a loaded gateway may take several); the rates
     * cover the time since the previous answer.
     */
    backend?: { calls: number; p50: number; p99: number; byMethod?: Record<string, { calls: number; p50: number; p99: number }> };
    /** HTTP requests answered per second (/metrics), in the seconds a scrape answered. */
    requests?: number;
  };
  stubs?: StubCost[];
  /** The simulator itself (every worker thread included). */
  simulator: { rssMB: number; cpuPct: number };
}

/** One second of the run. `t` is the end of the second, in seconds from the start. */
export interface Sample {
  t: number;
  /**
   * `run`: the measured window; `drain`: after it, the pages stopped acting and
   * their polls bring what is in flight; `audit`: the end-of-run history
   * audit, whose own requests are not in the sample (see `phases.auditLoad`).
   * Absent in reports from before the field existed.
   */
  phase?: 'run' | 'drain' | 'audit';
  counters: Counters;
  errors: Record<string, number>;
  /** Users whose planned start has passed, users signed in, users idle (end of the second). */
  users: { started: number; active: number; idle: number };
  /** Polls the simulated pages hold (sent, no answer yet). */
  heldPolls: number;
  /** First deliveries by a poll of accepted messages (each has a latency in `delivery`). */
  deliveries: number;
  recovered: number;
  duplicates: number;
  delivery: Percentiles;
  send: Percentiles;
  presence: Percentiles;
  repoll: Percentiles;
  cost: CostSample;
  /** The --fault texts that fired in this second. */
  faults: string[];
  /** The delivery histogram, so `merge` can combine seconds exactly. */
  hist: HistogramJson;
}

/** Totals over the run: equal to the sums over the samples. */
export interface Totals {
  counters: Counters;
  errors: Record<string, number>;
  deliveries: number;
  recovered: number;
  duplicates: number;
  latency: Record<'delivery' | (typeof LATENCY_KINDS)[number], Percentiles>;
  histograms: Record<'delivery' | (typeof LATENCY_KINDS)[number], HistogramJson>;
}

type Kind = 'delivery' | (typeof LATENCY_KINDS)[number];
const KINDS: Kind[] = ['delivery', ...LATENCY_KINDS];

function hists(): Record<Kind, Histogram> {
  return Object.fromEntries(KINDS.map((k) => [k, new Histogram()])) as Record<Kind, Histogram>;
}

export class Collector {
  readonly ledger: Ledger;
  private counters = zeroCounters();
  private errors: Record<string, number> = {};
  private h = hists();
  private deliveries = 0;
  private recovered = 0;
  private duplicates = 0;
  private readonly gauges = new Map<number, Batch['gauges']>();
  private readonly total = { counters: zeroCounters(), errors: {} as Record<string, number>, h: hists(), deliveries: 0, recovered: 0, duplicates: 0 };

  constructor(local: (user: number) => boolean, startedAt: number) {
    this.ledger = new Ledger(local, startedAt);
  }

  /** Takes one worker's batch. */
  add(worker: number, b: Batch): void {
    addCounters(this.counters, b.counters);
    for (const [k, n] of Object.entries(b.errors)) this.errors[k] = (this.errors[k] ?? 0) + n;
    for (const k of LATENCY_KINDS) for (const v of b.lat[k]) this.h[k].add(v);
    for (const [id, from, to, at] of b.accepted) {
      const lat = this.ledger.accepted(id, from, to, at);
      if (lat !== undefined) this.deliveredIn(lat);
    }
    for (const [id, from, to, at] of b.delivered) {
      const r = this.ledger.delivered(id, from, to, at);
      if (r.duplicate) this.duplicates++;
      else if (r.latency !== undefined) this.deliveredIn(r.latency);
    }
    for (const [id, from, to, at] of b.recovered) {
      this.ledger.recovered(id, from, to, at);
      this.recovered++;
    }
    this.gauges.set(worker, b.gauges);
  }

  private deliveredIn(latency: number): void {
    this.deliveries++;
    this.h.delivery.add(latency);
  }

  /** The users signed in, idle, and polls held, over all workers (latest batches). */
  gaugeTotals(): Batch['gauges'] {
    const g = { active: 0, held: 0, idle: 0 };
    for (const x of this.gauges.values()) {
      g.active += x.active;
      g.held += x.held;
      g.idle += x.idle;
    }
    return g;
  }

  /** Closes the current second into a Sample and starts the next. */
  tick(t: number, started: number, cost: CostSample, faults: string[], phase: Sample['phase'] = 'run'): Sample {
    const g = this.gaugeTotals();
    const s: Sample = {
      t,
      phase,
      counters: this.counters,
      errors: this.errors,
      users: { started, active: g.active, idle: g.idle },
      heldPolls: g.held,
      deliveries: this.deliveries,
      recovered: this.recovered,
      duplicates: this.duplicates,
      delivery: this.h.delivery.percentiles(),
      send: this.h.send.percentiles(),
      presence: this.h.presence.percentiles(),
      repoll: this.h.repoll.percentiles(),
      cost,
      faults,
      hist: this.h.delivery.toJSON(),
    };
    const T = this.total;
    addCounters(T.counters, this.counters);
    for (const [k, n] of Object.entries(this.errors)) T.errors[k] = (T.errors[k] ?? 0) + n;
    for (const k of KINDS) T.h[k].merge(this.h[k]);
    T.deliveries += this.deliveries;
    T.recovered += this.recovered;
    T.duplicates += this.duplicates;
    this.counters = zeroCounters();
    this.errors = {};
    this.h = hists();
    this.deliveries = 0;
    this.recovered = 0;
    this.duplicates = 0;
    return s;
  }

  /** The totals of every sample closed so far. */
  totals(): Totals {
    const T = this.total;
    return {
      counters: { ...T.counters },
      errors: { ...T.errors },
      deliveries: T.deliveries,
      recovered: T.recovered,
      duplicates: T.duplicates,
      latency: Object.fromEntries(KINDS.map((k) => [k, T.h[k].percentiles()])) as Totals['latency'],
      histograms: Object.fromEntries(KINDS.map((k) => [k, T.h[k].toJSON()])) as Totals['histograms'],
    };
  }
}
