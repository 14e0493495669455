// `darklaunch merge A.json B.json ...`: one report from the reports of
// several shards (--shard i/n) that loaded one gateway together. Samples are
// lined up by wall-clock second; counters, errors and delivery histograms add
// up exactly; a message sent in one shard to a user of another is reconciled
// here from the two shards' cross-shard records (delivered, recovered by
// history, or lost), and its latency lands in the second it was delivered.
import { Histogram, type Percentiles } from './hist.js';
import type { Sample, Totals } from './collect.js';
import type { LedgerSummary } from './ledger.js';
import { LOST_LISTED } from './ledger.js';
import { addCounters, zeroCounters } from './messages.js';
import { evaluateSlo, summariseCost, type Report } from './report.js';
import { parseSlo } from './settings.js';

/** A p50/p99 over seconds merged without histograms: count-weighted p50, and the largest p99 and max. */
function mergeApprox(xs: Percentiles[]): Percentiles {
  const n = xs.reduce((a, x) => a + x.count, 0);
  if (n === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const w = (f: (p: Percentiles) => number) => Math.round((xs.reduce((a, x) => a + f(x) * x.count, 0) / n) * 100) / 100;
  return { count: n, p50: w((x) => x.p50), p90: Math.max(...xs.map((x) => x.p90)), p99: Math.max(...xs.map((x) => x.p99)), max: Math.max(...xs.map((x) => x.max)), mean: w((x) => x.mean) };
}

function emptySample(t: number): Sample {
  const none = { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  return {
    t, counters: zeroCounters(), errors: {}, users: { started: 0, active: 0, idle: 0 }, heldPolls: 0, deliveries: 0, recovered: 0, duplicates: 0,
    delivery: none, send: none, presence: none, repoll: none, cost: { simulator: { rssMB: 0, cpuPct: 0 } }, faults: [], hist: new Histogram().toJSON(),
  };
}

/** Merges reports of shards of one run. Throws when they cannot belong together. */
export function mergeReports(reports: Report[]): Report {
  if (reports.length < 2) throw new Error('merge needs at least two reports');
  for (const r of reports) if (r.tool !== 'beambridge darklaunch' || r.reportVersion !== 1) throw new Error('not a darklaunch report (version 1)');
  const ranges = reports.map((r) => r.plan.range).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) if (ranges[i][0] <= ranges[i - 1][1]) throw new Error(`the reports simulate overlapping users (${ranges[i - 1].join('..')} and ${ranges[i].join('..')}): not shards of one run`);
  const start = Math.min(...reports.map((r) => r.startedAtMs));
  const offsets = reports.map((r) => Math.round((r.startedAtMs - start) / 1000));
  const local = (u: number) => ranges.some(([lo, hi]) => u >= lo && u <= hi);

  // ---- samples, by wall-clock second
  const bySecond = new Map<number, { s: Sample; parts: Sample[] }>();
  reports.forEach((r, i) => {
    for (const s of r.samples) {
      const t = s.t + offsets[i];
      let slot = bySecond.get(t);
      if (!slot) bySecond.set(t, (slot = { s: emptySample(t), parts: [] }));
      slot.parts.push(s);
    }
  });
  const hist = new Map<number, Histogram>();
  for (const [t, { s, parts }] of bySecond) {
    const h = new Histogram();
    for (const p of parts) {
      addCounters(s.counters, p.counters);
      for (const [k, n] of Object.entries(p.errors)) s.errors[k] = (s.errors[k] ?? 0) + n;
      s.users.started += p.users.started;
      s.users.active += p.users.active;
      s.users.idle += p.users.idle;
      s.heldPolls += p.heldPolls;
      s.deliveries += p.deliveries;
      s.recovered += p.recovered;
      s.duplicates += p.duplicates;
      s.faults.push(...p.faults);
      h.merge(Histogram.fromJSON(p.hist));
      s.cost.simulator.rssMB += p.cost.simulator.rssMB;
      s.cost.simulator.cpuPct += p.cost.simulator.cpuPct;
      s.cost.gateway ??= p.cost.gateway;
      s.cost.stubs ??= p.cost.stubs;
    }
    // A second is in the measured window while any shard is still in its own.
    const phases = parts.map((p) => p.phase ?? 'run');
    s.phase = phases.includes('run') ? 'run' : phases.includes('drain') ? 'drain' : 'audit';
    s.send = mergeApprox(parts.map((p) => p.send));
    s.presence = mergeApprox(parts.map((p) => p.presence));
    s.repoll = mergeApprox(parts.map((p) => p.repoll));
    hist.set(t, h);
  }

  // ---- totals (exact: counters and histograms add up)
  const totals: Totals = { counters: zeroCounters(), errors: {}, deliveries: 0, recovered: 0, duplicates: 0, latency: {} as Totals['latency'], histograms: {} as Totals['histograms'] };
  const kinds = Object.keys(reports[0].totals.histograms) as (keyof Totals['histograms'])[];
  const th = Object.fromEntries(kinds.map((k) => [k, new Histogram()])) as Record<(typeof kinds)[number], Histogram>;
  for (const r of reports) {
    addCounters(totals.counters, r.totals.counters);
    for (const [k, n] of Object.entries(r.totals.errors)) totals.errors[k] = (totals.errors[k] ?? 0) + n;
    totals.deliveries += r.totals.deliveries;
    totals.recovered += r.totals.recovered;
    totals.duplicates += r.totals.duplicates;
    for (const k of kinds) th[k].merge(Histogram.fromJSON(r.totals.histograms[k]));
  }

  // ---- the ledger: add the shards' own, then reconcile cross-shard records
  const L: LedgerSummary = {
    accepted: 0, delivered: 0, duplicated: 0, extraCopies: 0, recoveredByHistory: 0, recoveredByAudit: 0, lost: 0, lostExplained: 0,
    lostUnexplained: 0, inFlight: 0, deliveredUnaccepted: 0, externalSent: 0, externalReceived: 0, lostByReason: {}, lostMessages: [],
  };
  for (const r of reports) {
    for (const k of ['accepted', 'delivered', 'duplicated', 'extraCopies', 'recoveredByHistory', 'recoveredByAudit', 'lost', 'lostExplained', 'lostUnexplained', 'inFlight', 'deliveredUnaccepted'] as const) L[k] += r.ledger[k];
    for (const [k, n] of Object.entries(r.ledger.lostByReason)) L.lostByReason[k] = (L.lostByReason[k] ?? 0) + n;
    L.lostMessages.push(...r.ledger.lostMessages);
  }
  const received = new Map<string, [string, number, number, number, number, number]>();
  for (const r of reports) for (const x of r.external.received) received.set(x[0], x);
  const external: Report['external'] = { sent: [], received: [] };
  for (const r of reports) {
    for (const x of r.external.sent) {
      const [id, from, to, acceptedAt] = x;
      if (!local(to)) {
        external.sent.push(x);
        continue;
      }
      L.accepted++;
      const got = received.get(id);
      received.delete(id);
      if (got && got[5] === 0) {
        const latency = Math.max(0, got[3] - acceptedAt);
        const t = Math.floor((got[3] - start) / 1000) + 1;
        let slot = bySecond.get(t);
        if (!slot) bySecond.set(t, (slot = { s: emptySample(t), parts: [] }));
        slot.s.deliveries++;
        let h = hist.get(t);
        if (!h) hist.set(t, (h = new Histogram()));
        h.add(latency);
        totals.deliveries++;
        th.delivery.add(latency);
        L.delivered++;
        if (got[4] > 1) {
          L.duplicated++;
          L.extraCopies += got[4] - 1;
        }
      } else if (got) {
        L.recoveredByHistory++;
      } else {
        const reason = "sent to another shard's user, who never reported it (no audit across shards)";
        L.lost++;
        L.lostUnexplained++;
        L.lostByReason[reason] = (L.lostByReason[reason] ?? 0) + 1;
        L.lostMessages.push({ id, from, to, acceptedAtS: Math.round(acceptedAt - start) / 1000, inHistory: false, reason, fault: undefined });
      }
    }
  }
  for (const x of received.values()) {
    if (local(x[1])) L.deliveredUnaccepted++;
    else external.received.push(x);
  }
  L.externalSent = external.sent.length;
  L.externalReceived = external.received.length;
  L.lostMessages = L.lostMessages.sort((a, b) => a.acceptedAtS - b.acceptedAtS).slice(0, LOST_LISTED);

  const samples = [...bySecond.keys()].sort((a, b) => a - b).map((t) => {
    const s = bySecond.get(t)!.s;
    const h = hist.get(t) ?? new Histogram();
    s.hist = h.toJSON();
    s.delivery = h.percentiles();
    return s;
  });
  totals.latency = Object.fromEntries(kinds.map((k) => [k, th[k].percentiles()])) as Totals['latency'];
  totals.histograms = Object.fromEntries(kinds.map((k) => [k, th[k].toJSON()])) as Totals['histograms'];

  const first = reports[0];
  const faults = reports.flatMap((r, i) => r.faults.map((f) => ({ ...f, atS: f.atS + offsets[i], firedAtS: f.firedAtS + offsets[i], doneAtS: f.doneAtS === undefined ? undefined : f.doneAtS + offsets[i] })));
  const ended = Math.max(...reports.map((r) => Date.parse(r.endedAt)));
  const settled = reports.every((r) => r.ledger.settled);
  return {
    ...first,
    startedAt: new Date(start).toISOString(),
    startedAtMs: start,
    endedAt: new Date(ended).toISOString(),
    elapsedS: Math.round(ended - start) / 1000,
    interrupted: reports.some((r) => r.interrupted),
    settings: { ...first.settings, shard: reports.map((r) => r.settings.shard).join('+') },
    plan: { users: reports.reduce((a, r) => a + r.plan.users, 0), range: [ranges[0][0], ranges[ranges.length - 1][1]], digest: reports.map((r) => r.plan.digest).join('+') },
    machine: { ...first.machine, loadAvgStart: first.machine.loadAvgStart, loadAvgEnd: reports[reports.length - 1].machine.loadAvgEnd },
    phases: mergePhases(reports),
    samples,
    totals,
    cost: summariseCost(samples),
    ledger: { ...L, settled },
    external,
    faults,
    slo: evaluateSlo(parseSlo(first.settings.slo), totals, L),
    simulatorErrors: reports.flatMap((r) => r.simulatorErrors),
    merged: reports.map((r, i) => ({ startedAt: r.startedAt, shard: r.settings.shard, range: r.plan.range, offsetS: offsets[i] })),
  };
}

/** The longest drain and audit, and the audits' own requests added up. */
function mergePhases(reports: Report[]): Report['phases'] {
  const loads = reports.map((r) => r.phases.auditLoad).filter((l) => l !== undefined);
  const auditLoad = loads.length === 0 ? undefined : { counters: zeroCounters(), errors: {} as Record<string, number> };
  for (const l of loads) {
    addCounters(auditLoad!.counters, l.counters);
    for (const [k, n] of Object.entries(l.errors)) auditLoad!.errors[k] = (auditLoad!.errors[k] ?? 0) + n;
  }
  return {
    drainS: Math.max(...reports.map((r) => r.phases.drainS)),
    auditS: Math.max(...reports.map((r) => r.phases.auditS)),
    ...(auditLoad ? { auditLoad } : {}),
  };
}
