// A report made by the real Collector, Ledger and buildReport from made-up
// batches (no network): one global stream of messages between users 1..100,
// of which a report sees the sends of its own users and the deliveries to
// them, so the reports of two shards reconcile in `merge`.
import { Collector, type CostSample } from '../../src/cli/darklaunch/collect.js';
import type { FaultRecord } from '../../src/cli/darklaunch/faults.js';
import { explainLoss } from '../../src/cli/darklaunch/faults.js';
import { zeroCounters, type Batch } from '../../src/cli/darklaunch/messages.js';
import { Rng } from '../../src/cli/darklaunch/rng.js';
import { buildReport, type Report } from '../../src/cli/darklaunch/report.js';
import { defaultSettings, parseFault } from '../../src/cli/darklaunch/settings.js';
import type { StubInfo, SystemUnderTest } from '../../src/cli/darklaunch/system.js';

const BASE = 1_700_000_000_000;
const STUBS: StubInfo[] = [
  { index: 1, node: 'stub1@127.0.0.1', controlPort: 1, pid: undefined, slots: [[0, 511]] },
  { index: 2, node: 'stub2@127.0.0.1', controlPort: 2, pid: undefined, slots: [[512, 1023]] },
];

interface Msg {
  id: string;
  from: number;
  to: number;
  acceptedAt: number;
  deliveredAt: number;
  lost: boolean;
  dup: boolean;
}

function messages(seconds: number): Msg[] {
  const r = new Rng(42);
  const out: Msg[] = [];
  for (let i = 0; i < seconds * 10; i++) {
    const from = 1 + Math.floor(r.next() * 100);
    let to = 1 + Math.floor(r.next() * 100);
    if (to === from) to = (to % 100) + 1;
    const acceptedAt = BASE + 2000 + r.next() * (seconds * 1000 - 5000);
    out.push({ id: `${i}/dl-x-${from}-${i}`, from, to, acceptedAt, deliveredAt: acceptedAt + 2 + r.next() * 60, lost: i === 7, dup: i === 11 });
  }
  return out;
}

function emptyBatch(): Batch {
  return {
    counters: zeroCounters(),
    errors: {},
    lat: { send: [], presence: [], repoll: [], login: [], history: [] },
    accepted: [],
    delivered: [],
    recovered: [],
    gauges: { active: 0, held: 0, idle: 0 },
  };
}

export function syntheticReport(o: { range: [number, number]; seconds: number; seed: number; faults?: boolean; startOffsetMs?: number }): Report {
  const [lo, hi] = o.range;
  const mine = (u: number) => u >= lo && u <= hi;
  const t0 = BASE + (o.startOffsetMs ?? 0);
  const c = new Collector(mine, t0);
  const msgs = messages(o.seconds);
  const faults: FaultRecord[] = o.faults
    ? [{ text: 'kill-node:1@5s', kind: 'kill-node', atS: 5, firedAtS: 5.01, doneAtS: 6.5, ok: true, detail: 'SIGKILL stub1@127.0.0.1', kill: { node: 'stub1@127.0.0.1', killedAt: t0 + 5010, restartedAt: t0 + 6500 } }]
    : [];
  const samples = [];
  for (let k = 1; k <= o.seconds; k++) {
    const b = emptyBatch();
    const inWindow = (at: number) => at >= t0 + (k - 1) * 1000 && at < t0 + k * 1000;
    for (const m of msgs) {
      if (mine(m.from) && inWindow(m.acceptedAt)) {
        b.counters.sends++;
        b.counters.sendsAccepted++;
        b.counters.requests++;
        b.lat.send.push(3 + (m.acceptedAt % 7));
        b.accepted.push([m.id, m.from, m.to, m.acceptedAt]);
      }
      if (mine(m.to) && !m.lost && inWindow(m.deliveredAt)) {
        b.counters.pollEvents += m.dup ? 2 : 1;
        b.counters.requests += m.dup ? 2 : 1;
        b.delivered.push([m.id, m.from, m.to, m.deliveredAt]);
        if (m.dup) b.delivered.push([m.id, m.from, m.to, m.deliveredAt + 1]);
      }
    }
    b.counters.presence += 5;
    b.counters.requests += 6;
    b.counters.failures += k === 6 ? 1 : 0;
    if (k === 6) b.errors['HTTP 503 ERR_CHAT_UNAVAILABLE'] = 1;
    b.lat.presence.push(1.5, 2.5, 3, 4, 20);
    b.lat.repoll.push(0.2, 0.3);
    b.gauges = { active: hi - lo + 1, held: hi - lo, idle: 2 };
    c.add(0, b);
    const cost: CostSample = {
      gateway: { rssMB: 60 + k, cpuPct: 20 + (k % 5), heldPolls: hi - lo },
      stubs: STUBS.map((s) => ({ node: s.node, up: !(o.faults && s.index === 1 && k === 6), cpuPct: 10 + k, rssMB: 80, heldPolls: 25, online: 50 })),
      simulator: { rssMB: 100, cpuPct: 30 },
    };
    samples.push(c.tick(k, Math.min(hi - lo + 1, k * 10), cost, faults.filter((f) => Math.ceil(f.firedAtS) === k).map((f) => f.text)));
  }
  c.ledger.settle(
    c.ledger.outstanding().map((it) => ({ id: it.id, inHistory: false, refreshedAfter: false })),
    (m) => explainLoss(faults, STUBS, m) ?? (o.faults ? { reason: 'made-up loss', fault: 'kill-node:1@5s' } : undefined),
  );
  const sys: SystemUnderTest = {
    target: 'http://127.0.0.1:9/',
    metricsUrl: undefined,
    gatewayPid: undefined,
    stubs: () => STUBS,
    killChannel: async () => '',
    delay: async () => '',
    close: async () => {},
  };
  const settings = defaultSettings({ spawn: true, users: 100, seed: o.seed, durationMs: o.seconds * 1000, rampMs: 5000, faults: o.faults ? [parseFault('kill-node:1@5s')] : [] });
  return buildReport({
    settings,
    sys,
    t0,
    endedAt: t0 + o.seconds * 1000,
    users: hi - lo + 1,
    range: o.range,
    digest: 'synthetic',
    samples,
    totals: c.totals(),
    ledger: c.ledger.summary(),
    settled: true,
    external: c.ledger.external(),
    faults,
    interrupted: false,
    phases: { drainS: 1, auditS: 0.1 },
    loadAvgStart: [1, 1, 1],
    simulatorErrors: [],
  });
}
