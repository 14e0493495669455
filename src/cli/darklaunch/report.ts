// report.json: the settings, every per-second sample, the totals, the
// correctness ledger, the faults, the costs and the SLO verdict of a run,
// plus the consistency rules every report (merged ones too) obeys.
import { cpus, loadavg } from 'node:os';
import type { Sample, Totals } from './collect.js';
import type { FaultRecord } from './faults.js';
import type { ExternalRecords, LedgerSummary } from './ledger.js';
import type { AuditLoad, Counters } from './messages.js';
import { formatDuration, type DarklaunchSettings, type SloCondition } from './settings.js';
import type { SystemUnderTest } from './system.js';

/** The verdict on one SLO condition. `actual` is null when nothing was measured. */
export interface SloResult {
  text: string;
  actual: number | null;
  ok: boolean;
  note?: string;
}

/**
 * How long the drain and the audit took, and what the audit's own requests
 * were (history reads, the sign-ins it needed, and the pages' polls while it
 * ran): after the measured window and kept out of the samples and totals.
 */
export interface Phases {
  drainS: number;
  auditS: number;
  auditLoad?: AuditLoad;
}

/** Averages and peaks of what the system under test cost over the run. */
export interface CostSummary {
  gateway: { cpuPctMean: number | null; cpuPctMax: number | null; rssMBMax: number | null; heldPollsMax: number | null; backendP99Max: number | null; backendCallsPerS: number | null } | null;
  stubs: { node: string; cpuPctMean: number | null; cpuPctMax: number | null; rssMBMax: number | null; heldPollsMax: number | null }[];
  simulator: { cpuPctMean: number; cpuPctMax: number; rssMBMax: number };
}

/** The whole of report.json. Times in seconds from the start unless named `...Ms`/`...At`. */
export interface Report {
  tool: 'beambridge darklaunch';
  reportVersion: 1;
  startedAt: string;
  startedAtMs: number;
  endedAt: string;
  elapsedS: number;
  interrupted: boolean;
  settings: Record<string, unknown> & { users: number; slo: string; faults: string[]; shard: string; seed: number };
  /** The users this run simulated (ids lo..hi) and a digest of their whole plan. */
  plan: { users: number; range: [number, number]; digest: string };
  system: { spawned: boolean; target: string; stubs: { index: number; node: string; controlPort: number; slots: [number, number][] }[] };
  machine: { cpus: number; loadAvgStart: number[]; loadAvgEnd: number[]; node: string; platform: string };
  phases: Phases;
  samples: Sample[];
  totals: Totals;
  cost: CostSummary;
  ledger: LedgerSummary & { settled: boolean };
  /** Cross-shard records, reconciled by `darklaunch merge`. */
  external: ExternalRecords;
  faults: FaultRecord[];
  slo: { met: boolean; conditions: SloResult[] };
  simulatorErrors: string[];
  /** For merged reports: the reports merged. */
  merged?: { startedAt: string; shard: string; range: [number, number]; offsetS: number }[];
}

/** Settings as report.json shows them (durations in seconds, faults and SLO as given). */
function settingsJson(s: DarklaunchSettings, target: string): Report['settings'] {
  return {
    target,
    spawn: s.spawn,
    stubNodes: s.spawn ? s.stubNodes : undefined,
    transport: s.spawn ? s.transport : undefined,
    users: s.users,
    firstUser: s.firstUser,
    friends: s.spawn ? s.friends : undefined,
    rampS: s.rampMs / 1000,
    durationS: s.durationMs / 1000,
    seed: s.seed,
    workers: s.workers,
    shard: `${s.shard.index}/${s.shard.count}`,
    presenceEveryS: s.presenceEveryMs / 1000,
    sendsPerMin: s.sendsPerMin,
    typingShare: s.typingShare,
    idleShare: s.idleShare,
    idleForS: s.idleForMs / 1000,
    reloginShare: s.reloginShare,
    drainS: s.drainMs / 1000,
    pollTimeoutS: s.pollTimeoutMs / 1000,
    faults: s.faults.map((f) => f.text),
    slo: s.slo.map((c) => c.text).join(','),
  };
}

function stat(xs: (number | undefined)[]): { mean: number | null; max: number | null } {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return { mean: null, max: null };
  return { mean: Math.round((v.reduce((a, b) => a + b, 0) / v.length) * 10) / 10, max: Math.max(...v) };
}

/** Averages and peaks of the per-second costs. */
export function summariseCost(samples: Sample[]): CostSummary {
  const gw = samples.map((s) => s.cost.gateway).filter((g) => g !== undefined);
  const nodes = [...new Set(samples.flatMap((s) => (s.cost.stubs ?? []).map((n) => n.node)))];
  const sim = samples.map((s) => s.cost.simulator);
  const calls = gw.map((g) => g.backend?.calls);
  return {
    gateway:
      gw.length === 0
        ? null
        : {
            cpuPctMean: stat(gw.map((g) => g.cpuPct)).mean,
            cpuPctMax: stat(gw.map((g) => g.cpuPct)).max,
            rssMBMax: stat(gw.map((g) => g.rssMB)).max,
            heldPollsMax: stat(gw.map((g) => g.heldPolls)).max,
            backendP99Max: stat(gw.map((g) => g.backend?.p99)).max,
            backendCallsPerS: stat(calls).mean,
          },
    stubs: nodes.map((node) => {
      const xs = samples.map((s) => s.cost.stubs?.find((n) => n.node === node)).filter((n) => n !== undefined && n.up);
      return {
        node,
        cpuPctMean: stat(xs.map((n) => n!.cpuPct)).mean,
        cpuPctMax: stat(xs.map((n) => n!.cpuPct)).max,
        rssMBMax: stat(xs.map((n) => n!.rssMB)).max,
        heldPollsMax: stat(xs.map((n) => n!.heldPolls)).max,
      };
    }),
    simulator: {
      cpuPctMean: stat(sim.map((x) => x.cpuPct)).mean ?? 0,
      cpuPctMax: stat(sim.map((x) => x.cpuPct)).max ?? 0,
      rssMBMax: stat(sim.map((x) => x.rssMB)).max ?? 0,
    },
  };
}

/** Checks the SLO against the totals and the ledger. */
export function evaluateSlo(conditions: SloCondition[], totals: Totals, ledger: LedgerSummary): Report['slo'] {
  const c = totals.counters;
  const out: SloResult[] = conditions.map((cond) => {
    let actual: number | null;
    let note: string | undefined;
    switch (cond.metric) {
      case 'lost':
        actual = ledger.lostUnexplained;
        if (ledger.lostExplained > 0) note = `${ledger.lostExplained} more lost to faults (explained)`;
        break;
      case 'duplicated':
        actual = ledger.duplicated;
        break;
      case 'errors': {
        const failed = c.failures - c.sendsRejected;
        actual = cond.value < 1 && cond.value > 0 ? (c.requests === 0 ? 0 : failed / c.requests) : failed;
        break;
      }
      default: {
        const d = totals.latency.delivery;
        actual = d.count === 0 ? null : d[cond.metric];
        if (actual === null) note = 'no message was delivered';
      }
    }
    const ok = actual === null ? ledger.accepted === 0 && c.sends === 0 : cond.op === '<=' ? actual <= cond.value : cond.op === '<' ? actual < cond.value : actual === cond.value;
    return { text: cond.text, actual, ok, ...(note ? { note } : {}) };
  });
  if (c.sends > 0 && c.sendsAccepted === 0) out.push({ text: 'sends accepted > 0', actual: 0, ok: false, note: 'no send was accepted' });
  return { met: out.every((r) => r.ok), conditions: out };
}

/** What run.ts hands over at the end. */
export interface RunOutcome {
  settings: DarklaunchSettings;
  sys: SystemUnderTest;
  t0: number;
  endedAt: number;
  users: number;
  range: [number, number];
  digest: string;
  samples: Sample[];
  totals: Totals;
  ledger: LedgerSummary;
  settled: boolean;
  external: ExternalRecords;
  faults: FaultRecord[];
  interrupted: boolean;
  phases: Phases;
  loadAvgStart: number[];
  simulatorErrors: string[];
}

export function buildReport(o: RunOutcome): Report {
  return {
    tool: 'beambridge darklaunch',
    reportVersion: 1,
    startedAt: new Date(o.t0).toISOString(),
    startedAtMs: o.t0,
    endedAt: new Date(o.endedAt).toISOString(),
    elapsedS: Math.round(o.endedAt - o.t0) / 1000,
    interrupted: o.interrupted,
    settings: settingsJson(o.settings, o.sys.target),
    plan: { users: o.users, range: o.range, digest: o.digest },
    system: {
      spawned: o.settings.spawn,
      target: o.sys.target,
      stubs: o.sys.stubs().map((s) => ({ index: s.index, node: s.node, controlPort: s.controlPort, slots: s.slots })),
    },
    machine: { cpus: cpus().length, loadAvgStart: o.loadAvgStart.map(r2), loadAvgEnd: loadavg().map(r2), node: process.version, platform: process.platform },
    phases: { drainS: r2(o.phases.drainS), auditS: r2(o.phases.auditS), ...(o.phases.auditLoad ? { auditLoad: o.phases.auditLoad } : {}) },
    samples: o.samples,
    totals: o.totals,
    cost: summariseCost(o.samples),
    ledger: { ...o.ledger, settled: o.settled },
    external: o.external,
    faults: o.faults,
    slo: evaluateSlo(o.settings.slo, o.totals, o.ledger),
    simulatorErrors: o.simulatorErrors,
  };
}

function r2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * The rules every report obeys; returns what breaks them (empty when
 * consistent): the totals are the sums of the samples, the ledger's
 * categories add up to what was accepted, every accepted send is in the
 * ledger, and every delivery has one latency.
 */
export function checkConsistency(r: Report): string[] {
  const bad: string[] = [];
  const sumOf = (f: (s: Sample) => number) => r.samples.reduce((a, s) => a + f(s), 0);
  for (const k of Object.keys(r.totals.counters) as (keyof Counters)[]) {
    const sum = sumOf((s) => s.counters[k]);
    if (sum !== r.totals.counters[k]) bad.push(`counters.${k}: samples add up to ${sum}, totals say ${r.totals.counters[k]}`);
  }
  const errKeys = new Set([...Object.keys(r.totals.errors), ...r.samples.flatMap((s) => Object.keys(s.errors))]);
  for (const k of errKeys) {
    const sum = sumOf((s) => s.errors[k] ?? 0);
    if (sum !== (r.totals.errors[k] ?? 0)) bad.push(`errors["${k}"]: samples add up to ${sum}, totals say ${r.totals.errors[k] ?? 0}`);
  }
  for (const k of ['deliveries', 'recovered', 'duplicates'] as const) {
    const sum = sumOf((s) => s[k]);
    if (sum !== r.totals[k]) bad.push(`${k}: samples add up to ${sum}, totals say ${r.totals[k]}`);
  }
  const histSum = sumOf((s) => s.hist.n);
  if (histSum !== r.totals.latency.delivery.count) bad.push(`delivery latencies: samples hold ${histSum}, totals ${r.totals.latency.delivery.count}`);
  if (r.totals.deliveries !== r.totals.latency.delivery.count) bad.push(`${r.totals.deliveries} deliveries but ${r.totals.latency.delivery.count} delivery latencies`);
  const L = r.ledger;
  if (L.delivered !== r.totals.deliveries) bad.push(`ledger.delivered ${L.delivered} but ${r.totals.deliveries} deliveries in the samples`);
  const parts = L.delivered + L.recoveredByHistory + L.lost + L.inFlight;
  if (parts !== L.accepted) bad.push(`ledger: delivered + recoveredByHistory + lost + inFlight = ${parts}, accepted = ${L.accepted}`);
  if (L.lost !== L.lostExplained + L.lostUnexplained) bad.push('ledger: lost is not lostExplained + lostUnexplained');
  const byReason = Object.values(L.lostByReason).reduce((a, b) => a + b, 0);
  if (byReason !== L.lost) bad.push(`ledger: lostByReason adds up to ${byReason}, lost = ${L.lost}`);
  if (r.totals.counters.sendsAccepted !== L.accepted + L.externalSent)
    bad.push(`${r.totals.counters.sendsAccepted} sends accepted, but the ledger has ${L.accepted} + ${L.externalSent} external`);
  if (L.settled && L.inFlight !== 0) bad.push(`ledger settled with ${L.inFlight} still in flight`);
  return bad;
}

/** The final summary in a few lines, for a terminal. */
export function summaryText(r: Report): string[] {
  const d = r.totals.latency.delivery;
  const c = r.totals.counters;
  const L = r.ledger;
  const lines = [
    `${r.plan.users} users for ${formatDuration(r.elapsedS * 1000)}${r.interrupted ? ' (interrupted)' : ''}: ${c.sendsAccepted} sends accepted, ${d.count} delivered by poll, delivery p50 ${formatDuration(d.p50)} p99 ${formatDuration(d.p99)} max ${formatDuration(d.max)}`,
    `ledger: ${L.accepted} accepted, ${L.delivered} delivered, ${L.duplicated} duplicated, ${L.recoveredByHistory} recovered by history, ${L.lost} lost (${L.lostExplained} explained by faults)${L.inFlight ? `, ${L.inFlight} in flight` : ''}`,
  ];
  for (const [reason, n] of Object.entries(L.lostByReason)) lines.push(`  lost ${n}: ${reason}`);
  const errs = Object.entries(r.totals.errors).sort((a, b) => b[1] - a[1]);
  if (errs.length) lines.push(`errors: ${errs.slice(0, 6).map(([k, n]) => `${k} x${n}`).join(', ')}`);
  for (const f of r.faults)
    lines.push(`fault ${f.text} at ${f.firedAtS.toFixed(1)} s: ${f.ok ? f.detail : f.detail}${f.resumedAfterS !== undefined ? `; delivery resumed ${f.resumedAfterS.toFixed(1)} s after` : ''}`);
  const g = r.cost.gateway;
  if (g) lines.push(`gateway: CPU mean ${g.cpuPctMean ?? '?'}% max ${g.cpuPctMax ?? '?'}%, RSS max ${g.rssMBMax ?? '?'} MB${g.backendP99Max !== null ? `, backend call p99 max ${g.backendP99Max} ms` : ''}`);
  for (const s of r.cost.stubs) lines.push(`stub ${s.node}: CPU mean ${s.cpuPctMean ?? '?'}% max ${s.cpuPctMax ?? '?'}%, RSS max ${s.rssMBMax ?? '?'} MB, held polls max ${s.heldPollsMax ?? '?'}`);
  lines.push(`simulator: CPU mean ${r.cost.simulator.cpuPctMean}%, RSS max ${r.cost.simulator.rssMBMax} MB; load average ${r.machine.loadAvgStart[0]} at the start, ${r.machine.loadAvgEnd[0]} at the end`);
  lines.push(`SLO ${r.settings.slo}: ${r.slo.met ? 'met' : 'NOT met'} (${r.slo.conditions.map((x) => `${x.text}: ${x.actual ?? 'n/a'}${x.ok ? '' : ' FAIL'}`).join('; ')})`);
  return lines;
}
