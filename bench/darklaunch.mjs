#!/usr/bin/env node
// The dark launch at scale (`npm run bench:darklaunch`): `beambridge
// darklaunch --spawn` on this machine, the simulator and the gateway in
// separate processes, a two-node stub cluster, every user holding a
// long-poll, sending one message a minute and asking for its 200 friends'
// presence once a minute. SLO: delivery p99 under 100 ms, nothing lost.
//
// It runs DARKLAUNCH_USERS (default 10000) first, then searches for the
// largest user count that holds the SLO (up and down in steps, then halving
// the gap, to within DARKLAUNCH_PRECISION users, default 1000), and prints,
// for every run, the figures and where the time went: gateway CPU and RSS
// (per held poll), its backend calls by method, each stub node's CPU and
// held polls, and the simulator's own CPU; and, from each process's
// DARKLAUNCH_DIAG lines (bench-output/darklaunch-N.diag.jsonl), the gateway's
// and the simulator threads' event-loop delay and GC pauses.
//
// Environment: DARKLAUNCH_USERS (first count, or a comma list to run just
// those), DARKLAUNCH_SEARCH=0 (no search: only the listed counts),
// DARKLAUNCH_DURATION (5m), DARKLAUNCH_RAMP (2m), DARKLAUNCH_MAX
// (19000: one process holds at most about 19,500 sockets here),
// DARKLAUNCH_PRECISION (1000), DARKLAUNCH_OUT (bench-output/).
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const MAIN = join(root, 'dist', 'cli', 'main.js');
const env = process.env;
const duration = env.DARKLAUNCH_DURATION ?? '5m';
const ramp = env.DARKLAUNCH_RAMP ?? '2m';
const max = Number(env.DARKLAUNCH_MAX ?? 19_000);
const precision = Number(env.DARKLAUNCH_PRECISION ?? 1000);
const outRoot = env.DARKLAUNCH_OUT ?? join(root, 'bench-output');
const list = (env.DARKLAUNCH_USERS ?? '10000').split(',').map(Number);
const SLO = 'p99<=100ms,lost=0';

const say = (s = '') => process.stdout.write(`${s}\n`);
const la = () => loadavg().map((x) => x.toFixed(2)).join(' ');

/** One run; resolves with its report (or undefined when it could not run). */
function runOnce(users) {
  const out = join(outRoot, `darklaunch-${users}`);
  const args = [MAIN, 'darklaunch', '--spawn', '--stub-nodes', '2', '--users', String(users), '--friends', '200', '--presence-every', '60s',
    '--sends-per-min', '1', '--ramp', ramp, '--duration', duration, '--drain', '30s', '--slo', SLO, '--out', out, '--json'];
  say(`\n== ${users} users: node ${args.slice(1).join(' ')}`);
  say(`load average before: ${la()}`);
  return new Promise((resolve) => {
    // Each process's event-loop delay and GC pauses, every 5 s (src/cli/darklaunch/diag.ts).
    const diag = join(outRoot, `darklaunch-${users}.diag.jsonl`);
    mkdirSync(outRoot, { recursive: true });
    rmSync(diag, { force: true });
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, DARKLAUNCH_DIAG: diag } });
    let buf = '';
    let last = 0;
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const o = JSON.parse(line);
          if (o.type === 'phase') say(`  ${o.text}`);
          if (o.type === 'sample' && o.t - last >= 30) {
            last = o.t;
            say(`  ${o.t}s: ${o.users.active} signed in, ${o.heldPolls} polls held, ${o.counters.sendsAccepted} sends/s, delivery p50 ${o.delivery.p50} ms p99 ${o.delivery.p99} ms, gateway CPU ${o.cost.gateway?.cpuPct ?? '?'}%`);
          }
        } catch {
          /* not JSON */
        }
      }
    });
    child.on('close', (code) => {
      say(`load average after: ${la()}`);
      try {
        resolve({ code, report: JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), out, diag: readDiag(join(outRoot, `darklaunch-${users}.diag.jsonl`)) });
      } catch {
        say(`  no report (exit ${code})`);
        resolve(undefined);
      }
    });
  });
}

/** The diag lines of one run, by process: event-loop delay p99 (worst 5 s), longest stall, GC share and longest pause. */
function readDiag(file) {
  let rows;
  try {
    rows = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return undefined;
  }
  const by = (label) => rows.filter((r) => r.label === label);
  const sum = (rs) => {
    if (rs.length === 0) return undefined;
    // Share of each thread's time (a line covers 5 s of one thread).
    const gcMs = rs.reduce((a, r) => a + r.gc.ms, 0);
    return {
      eldP99: Math.max(...rs.map((r) => r.eld.p99)),
      eldMax: Math.max(...rs.map((r) => r.eld.max)),
      gcPct: Math.round((gcMs / (rs.length * 5000)) * 1000) / 10,
      gcMax: Math.max(...rs.map((r) => r.gc.max)),
      fds: Math.max(...rs.map((r) => r.fds ?? 0)),
    };
  };
  return { gateway: sum(by('gateway')), simulator: sum(by('simulator-worker')) };
}

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)] : null;
};

/** The figures of one run, and where the time went. */
function describe(r, diag) {
  const d = r.totals.latency.delivery;
  const L = r.ledger;
  const steady = r.samples.filter((s) => s.t > Number(r.settings.rampS) + 5 && s.t <= Number(r.settings.durationS));
  const gw = steady.map((s) => s.cost.gateway ?? {});
  const held = median(steady.map((s) => s.cost.gateway?.heldPolls ?? s.heldPolls));
  const rss = median(gw.map((g) => g.rssMB));
  // Backend rates are in the seconds the gateway's /metrics answered (a loaded gateway answers late).
  const scraped = gw.filter((g) => g.backend !== undefined);
  const methods = {};
  for (const g of scraped) for (const [m, x] of Object.entries(g.backend.byMethod ?? {})) (methods[m] ??= []).push(x);
  const lines = [
    `users ${r.plan.users}: delivery p50 ${d.p50} ms, p90 ${d.p90} ms, p99 ${d.p99} ms, max ${d.max} ms; ${L.accepted} accepted, ${L.delivered} delivered, ${L.recoveredByHistory} recovered by history, ${L.lost} lost; SLO ${SLO} ${r.slo.met ? 'MET' : 'NOT met'}`,
    `  simulator: send p99 ${r.totals.latency.send.p99} ms, presence p99 ${r.totals.latency.presence.p99} ms, login p99 ${r.totals.latency.login.p99} ms, re-poll p99 ${r.totals.latency.repoll.p99} ms; ${r.totals.counters.failures} failed requests of ${r.totals.counters.requests}`,
    `  gateway (steady state): CPU median ${median(gw.map((g) => g.cpuPct))}% of a core (max ${r.cost.gateway?.cpuPctMax}%), RSS ${rss} MB for ${held} held polls` +
      (rss && held ? ` (${((rss * 1024) / held).toFixed(1)} KB per held poll, process included)` : ''),
    `  gateway /metrics answered in ${scraped.length} of ${steady.length} steady seconds`,
    ...Object.entries(methods).map(([m, xs]) => `    backend ${m}: ${(xs.reduce((a, x) => a + x.calls, 0) / Math.max(1, scraped.length)).toFixed(1)} calls/s, p99 median ${median(xs.map((x) => x.p99))} ms`),
    ...r.cost.stubs.map((s) => `  stub ${s.node}: CPU mean ${s.cpuPctMean}% (max ${s.cpuPctMax}%), RSS max ${s.rssMBMax} MB, held polls max ${s.heldPollsMax}`),
    `  simulator process: CPU mean ${r.cost.simulator.cpuPctMean}% (max ${r.cost.simulator.cpuPctMax}%), RSS max ${r.cost.simulator.rssMBMax} MB`,
    // Event-loop delay includes the 10 ms sampling resolution; a simulator thread's delay is queueing outside the gateway.
    ...Object.entries(diag ?? {})
      .filter(([, d]) => d !== undefined)
      .map(([who, d]) => `  ${who} event loop: delay p99 at most ${d.eldP99} ms per 5 s, longest ${d.eldMax} ms; GC ${d.gcPct}% of the time, longest pause ${d.gcMax} ms; ${d.fds} open files at most`),
    `  load average ${r.machine.loadAvgStart.join(' ')} at the start, ${r.machine.loadAvgEnd.join(' ')} at the end${r.machine.loadAvgStart[0] > 2.5 ? ' (a busy machine: latency depends on what else runs)' : ''}`,
  ];
  return lines.join('\n');
}

const results = new Map();
async function tryUsers(n) {
  if (results.has(n)) return results.get(n);
  const got = await runOnce(n);
  const ok = got !== undefined && got.report.slo.met;
  if (got) say(describe(got.report, got.diag));
  results.set(n, { ok, got });
  return results.get(n);
}

say(`darklaunch scale benchmark: SLO ${SLO}; ${duration} runs with a ${ramp} ramp; load average now ${la()}`);
if (list.length > 1 || env.DARKLAUNCH_SEARCH === '0') {
  for (const n of list) await tryUsers(n);
} else {
  // Step up or down from the first count until the verdict changes, then halve the gap.
  let n = list[0];
  let good = 0;
  let bad = Infinity;
  if ((await tryUsers(n)).ok) good = n;
  else bad = n;
  while (bad - good > precision) {
    if (bad === Infinity) {
      if (n >= max) break;
      n = Math.min(max, n * 1.5);
    } else if (good === 0) {
      if (n <= precision) break;
      n = Math.max(precision, Math.floor(n / 2));
    } else n = Math.floor((good + bad) / 2);
    n = Math.round(n / 100) * 100;
    if (results.has(n)) break;
    if ((await tryUsers(n)).ok) good = Math.max(good, n);
    else bad = Math.min(bad, n);
  }
  say(`\n== largest user count holding ${SLO} here: ${good === 0 ? `none tried (below ${bad})` : good}${bad !== Infinity ? `; ${bad} did not` : ` (the most tried: ${max})`}`);
}
say('\n== summary');
for (const [n, { ok, got }] of [...results.entries()].sort((a, b) => a[0] - b[0])) {
  const d = got?.report.totals.latency.delivery;
  say(`${String(n).padStart(6)} users: ${ok ? 'MET    ' : 'NOT met'} delivery p99 ${d?.p99 ?? '?'} ms, lost ${got?.report.ledger.lost ?? '?'}, report ${got?.out ?? '-'}`);
}
