// Where the slow sequential Erlang-to-Node calls come from (issue 14's p99).
//
//   npm run build && node --expose-gc bench/tail.mjs
//
// An erl driver node D calls the gen_server `bb_server' hosted in this process
// (one caller, back to back, as bench:dist's "sequential calls, Erlang to
// Node"), for BENCH_ROUNDS (default 3) rounds of BENCH_FLOW_MS (default 3000).
// On this side each call's arrival (the last socket 'data' event before the
// handler runs), its reply's write (socket.write) and whether the loop was
// busy-polling when the request came are recorded, with every GC
// (PerformanceObserver 'gc'); D returns each call's latency. The calls above
// D's p99 are then split into time in this process (data event to write) and
// time outside it (the transits, D's own time, and this loop's wakeup when it
// was asleep), with the GCs that overlap them and scavenges per 10k calls.
// BENCH_HEAPPROF=1 also samples where the allocations come from (B/call);
// BENCH_AB_SPIN=0,2 alternates busypoll.ts's spin per round.
import { PerformanceObserver } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { atom } = await import(new URL('../dist/etf/index.js', import.meta.url).href);
const { startEpmd, startErlNode } = await import(new URL('../dist/testing/index.js', import.meta.url).href);
const { isPolling, busySpinDefault } = await import(new URL('../dist/dist/busypoll.js', import.meta.url).href);
// BENCH_AB_SPIN=<us>,<us>...: round r spins the r-th value (mod their count) in each polling turn (busypoll.ts SPIN_US).
const SPINS = (process.env.BENCH_AB_SPIN ?? '').split(',').filter((x) => x !== '').map(Number);

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FLOW_MS = Number(process.env.BENCH_FLOW_MS ?? 3000);
const COOKIE = `tail${process.pid}`;
const here = fileURLToPath(new URL('.', import.meta.url));

// Per request, on this side (performance.now() ms): preallocated, so that recording allocates nothing.
const CAP = 1 << 20;
const tIn = new Float64Array(CAP);
const tOut = new Float64Array(CAP);
const polled = new Uint8Array(CAP);
let nIn = 0;
let nData = 0;
let lastData = 0;
let lastPolled = 0;
let nOut = 0;
let recording = false;
const gcs = [];
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (recording) gcs.push({ start: e.startTime, dur: e.duration, kind: e.detail?.kind ?? e.kind });
});
obs.observe({ entryTypes: ['gc'] });

// BENCH_HEAPPROF=1: sample allocations (those a GC collected too) during each round and print where they come from, per call.
const HEAPPROF = process.env.BENCH_HEAPPROF === '1';
const { Session } = await import('node:inspector');
const session = new Session();
if (HEAPPROF) session.connect();
const post = (m, p) => new Promise((res, rej) => session.post(m, p ?? {}, (e, r) => (e ? rej(e) : res(r))));
function allocReport(profile, calls) {
  const by = new Map();
  let total = 0;
  const walk = (n, stack) => {
    const f = n.callFrame;
    const here = `${f.functionName || '(anon)'} ${f.url.replace(/^.*\/(dist|bench|node:)/, '$1')}:${f.lineNumber + 1}`;
    const st = [here, ...stack].slice(0, 4);
    if (n.selfSize > 0) {
      const k = st.join(' < ');
      by.set(k, (by.get(k) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c, st);
  };
  walk(profile.head, []);
  console.log(`  allocated (sampled) ${(total / calls).toFixed(0)} B/call; top sites, B/call:`);
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`    ${(v / calls).toFixed(0).padStart(6)}  ${k}`);
}

const pct = (s, q) => s[Math.min(s.length - 1, Math.floor(s.length * q))];
const sorted = (xs) => Float64Array.from(xs).sort();
const f1 = (x) => x.toFixed(1);

let node;
try {
  const epmdPort = await startEpmd();
  const driverName = `tdriver_${process.pid}@127.0.0.1`;
  const jsName = `tjs_${process.pid}@127.0.0.1`;
  await startErlNode({ name: driverName, cookie: COOKIE, epmdPort, modules: [join(here, 'dist_bench.erl')] });
  node = await Node.start({ name: jsName, cookie: COOKIE, epmd: { port: epmdPort } });
  node.serve('bb_server', {
    call: (req) => {
      if (recording) {
        polled[nIn] = lastPolled;
        tIn[nIn++] = lastData;
      }
      return req;
    },
  });
  if (!(await node.ping(driverName))) throw new Error('cannot reach the driver');
  const conn = node.connection(driverName);
  const sock = conn.socket;
  const lens = new Map();
  sock.prependListener('data', (d) => {
    if (!recording) return;
    lens.set(d.length, (lens.get(d.length) ?? 0) + 1);
    lastPolled = isPolling() ? 1 : 0;
    lastData = performance.now();
    nData++;
  });
  const write = sock.write;
  sock.write = function (...a) {
    const r = write.apply(this, a);
    if (recording) tOut[nOut++] = performance.now();
    return r;
  };
  const seq = (ms) => node.rpc(driverName, 'dist_bench', 'seq', [atom(jsName), ms], { timeoutMs: ms + 60_000 });
  await seq(500);
  console.log(`tail: ${ROUNDS} round(s) of ${FLOW_MS} ms, sequential calls Erlang to Node, Node ${process.version}, load ${loadavg()[0].toFixed(2)}`);
  for (let r = 0; r < ROUNDS; r++) {
    if (SPINS.length > 0) busySpinDefault.us = SPINS[r % SPINS.length];
    nIn = nOut = nData = 0;
    gcs.length = 0;
    globalThis.gc();
    const heap0 = process.memoryUsage().heapUsed;
    const ru0 = process.resourceUsage();
    if (HEAPPROF) await post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
    recording = true;
    const res = await seq(FLOW_MS);
    recording = false;
    const prof = HEAPPROF ? (await post('HeapProfiler.stopSampling')).profile : undefined;
    await new Promise((r) => setTimeout(r, 50)); // the observer's last entries
    const ru = process.resourceUsage();
    const [n, , latRev] = res.elements;
    const lat = latRev.slice().reverse(); // D returns newest first
    // This side saw the rpc request (first data event) and the calls; the rpc's reply is the last write.
    // Match the last n requests with the n calls.
    const inOff = nIn - n;
    const outOff = nOut - n; // the first write is the rpc request
    const s = sorted(lat);
    const p50 = pct(s, 0.5);
    const p99 = pct(s, 0.99);
    const inside = [];
    const outside = [];
    for (let k = 0; k < n; k++) {
      inside.push((tOut[outOff + k] - tIn[inOff + k]) * 1000);
      if (k > 0) outside.push((tIn[inOff + k] - tOut[outOff + k - 1]) * 1000);
    }
    console.log(`  reads by size (bytes x count): ${[...lens].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k}x${v}`).join(' ')}`);
    lens.clear();
    if (prof) allocReport(prof, res.elements[0]);
    const scav = gcs.filter((g) => g.kind === 1);
    const other = gcs.filter((g) => g.kind !== 1);
    const ctx = ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches + ru.involuntaryContextSwitches - ru0.involuntaryContextSwitches;
    console.log(
      `round ${r + 1} [spin ${busySpinDefault.us}]: ${n} calls (${nIn} handled, ${nData} data events, ${nOut} writes), p50 ${f1(p50)} µs, p99 ${f1(p99)} µs, p99.9 ${f1(pct(s, 0.999))}, max ${f1(s[s.length - 1])}; ` +
        `${ctx} context switches (${(ctx / n).toFixed(3)}/call); scavenges ${scav.length} (${f1((scav.length / n) * 1e4)} per 10k calls, ${f1(scav.reduce((a, g) => a + g.dur, 0) * 1000 / Math.max(1, scav.length))} µs each), other GCs ${other.length}; ` +
        `heap +${f1((process.memoryUsage().heapUsed - heap0) / n)} B/call net`,
    );
    const si = sorted(inside);
    const so = sorted(outside);
    console.log(`  in Node (data event to write): p50 ${f1(pct(si, 0.5))} p99 ${f1(pct(si, 0.99))} max ${f1(si[si.length - 1])}; outside: p50 ${f1(pct(so, 0.5))} p99 ${f1(pct(so, 0.99))} max ${f1(so[so.length - 1])}`);
    // The slow calls: call k's latency covers request k's transit, this side's time on it, and the reply's transit.
    // Their time outside this process is latency - inside; a GC overlaps it if it ran between the request's arrival and the reply's write.
    const slow = [];
    for (let k = 0; k < n; k++) if (lat[k] > p99) slow.push(k);
    let withGc = 0;
    let insideBig = 0;
    let asleep = 0;
    const rows = [];
    for (const k of slow) {
      const a = tIn[inOff + k];
      const b = tOut[outOff + k];
      const gc = gcs.filter((g) => g.start < b && g.start + g.dur > a - 0.5);
      if (gc.length > 0) withGc++;
      const ins = (b - a) * 1000;
      if (ins > lat[k] / 2) insideBig++;
      if (!polled[inOff + k]) asleep++;
      rows.push(`${Math.round(lat[k])}=${Math.round(ins)}in${polled[inOff + k] ? '' : '(woke)'}${gc.length ? `+gc${gc.map((g) => g.kind).join('')}` : ''}`);
    }
    const allAsleep = Array.from(polled.subarray(inOff, inOff + n)).filter((x) => !x).length;
    console.log(
      `  ${slow.length} calls above p99: ${withGc} overlap a GC, ${insideBig} spent over half in Node, ${asleep} found the loop asleep (all calls: ${allAsleep} asleep, ${f1((allAsleep / n) * 100)}%)`,
    );
    console.log(`  slow calls (latency=µs in Node): ${rows.slice(0, 40).join(' ')}`);
    // Latency by whether the loop was polling.
    const byPoll = [[], []];
    for (let k = 0; k < n; k++) byPoll[polled[inOff + k]].push(lat[k]);
    for (const v of [1, 0]) {
      const x = sorted(byPoll[v]);
      if (x.length > 0) console.log(`  ${v ? 'polling' : 'asleep '}: ${x.length} calls, p50 ${f1(pct(x, 0.5))} p99 ${f1(pct(x, 0.99))}`);
    }
  }
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  obs.disconnect();
  if (node) await node.stop();
  process.exit(process.exitCode ?? 0);
}
