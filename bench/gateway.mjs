#!/usr/bin/env node
// bench/gateway.mjs: what held long-polls cost the gateway, on this
// package's HTTP server and on plain node:http, in the same run.
//
// Processes: epmd and the Erlang chat stub (the real backend: users
// 1..USERS, every one signed in), the gateway (bench/gateway-server.mjs:
// beambridge node + ChatCluster over distribution + serveGateway, once per
// HTTP layer), the clients (bench/gateway-clients.mjs, its own process), and
// this orchestrator, which also sends the messages through its own
// ChatCluster. Per round and per HTTP layer:
//   1. USERS sign in over HTTP (each user's upstream poll loop starts);
//      the gateway's RSS and heap are read after full GCs;
//   2. one poll per user is held (USERS connections); RSS and heap again:
//      the difference per held poll;
//   3. USERS/2 messages are sent between pairs of users from here, so every
//      held poll gets one event; each client records its receipt time minus
//      the message's sentAtMs (stamped by the stub when it made the message):
//      backend event to client. The gateway process also records, for each
//      upstream poll answer, its receipt minus sentAtMs (event -> gateway),
//      and the fan-out how late each send left against its schedule and each
//      send's round trip: where the time goes;
//   4. re-poll cycles on keep-alive (an answer and the next poll on the same
//      connection) for CYCLE_MS with CYCLE_CONNS connections;
//   5. presence: the gateway's batched presence() calls and ids asked.
// Prints every figure for both layers, the ratio per round, and the median.
// Bounded: BENCH_TIMEOUT seconds for the whole run (default 900). GW_PROF=dir
// CPU-profiles the gateway and client processes whole; GW_PROF_FANOUT=dir
// the gateway through the fan-out only (step 3). CYCLES_ONLY=1 runs steps 1
// and 4 only (a fan-out gives each user one event to re-poll from; about a
// minute with USERS=1000), for work on the cycle path.
//
//   npm run bench:gateway        (USERS=10000 ROUNDS=3 by default)
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { killTracked as killAll, startEpmd, track } from '../scripts/procs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const USERS = Number(process.env.USERS ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CYCLE_MS = Number(process.env.CYCLE_MS ?? 5000);
const CYCLE_CONNS = Number(process.env.CYCLE_CONNS ?? 500);
const FRIENDS = Number(process.env.FRIENDS ?? 20);
const PRESENCE_MS = Number(process.env.PRESENCE_MS ?? 2000);
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT ?? 900);
// Sends per second in the fan-out (each gives two events); 0 = as fast as possible.
const FANOUT_RATE = Number(process.env.FANOUT_RATE ?? 2000);
// CYCLES_ONLY=1: only the re-poll cycle phase (no held polls, no memory or latency figures), e.g. USERS=1000.
const CYCLES_ONLY = process.env.CYCLES_ONLY === '1';

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { ChatCluster } = await import(new URL('../dist/chat/index.js', import.meta.url).href);

const say = (s = '') => process.stdout.write(`${s}\n`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
setTimeout(() => {
  console.error(`bench/gateway: cut off after ${TIMEOUT_S} s`);
  process.exit(1);
}, TIMEOUT_S * 1000).unref();

/** A forked child answering one IPC message per request. */
function ipc(child) {
  const waiting = [];
  child.on('message', (m) => waiting.shift()?.(m));
  child.once('exit', (code) => {
    for (const w of waiting.splice(0)) w({ error: `process exited (${code})` });
  });
  return {
    next: () => new Promise((r) => waiting.push(r)),
    async ask(msg) {
      const p = new Promise((r) => waiting.push(r));
      child.send(msg);
      const m = await p;
      if (m.error) throw new Error(m.error);
      return m;
    },
  };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const median = (xs) => pct(xs, 50);
const kb = (b) => (b / 1024).toFixed(2);

// ---------------------------------------------------------------- backend
const { port: epmdPort } = await startEpmd();
const cookie = `bench_${randomBytes(6).toString('hex')}`;
const stubName = `gwstub_${process.pid}@127.0.0.1`;
const stub = track(spawn(join(root, 'erlang-stub', 'bin', 'chat-stub'), [
  '--name', stubName, '--cookie', cookie, '--epmd-port', String(epmdPort), '--thrift-port', '0',
  '--users', String(USERS), '--friends', String(FRIENDS), '--grace-ms', '0', '--idle-ms', '600000', '--log-level', 'error',
], { stdio: ['ignore', 'pipe', 'inherit'] }));
await new Promise((resolve, reject) => {
  let out = '';
  stub.stdout.on('data', (d) => {
    out += d;
    if (out.includes('"node"')) resolve();
  });
  stub.once('exit', () => reject(new Error('the stub exited')));
});
const node = await Node.start({ name: `bbbench_${process.pid}@127.0.0.1`, cookie, epmd: { port: epmdPort } });
const chat = await ChatCluster.connect({ node, seeds: [stubName], callTimeoutMs: 30_000 });
const secret = randomBytes(32).toString('hex');
say(`bench/gateway: ${USERS} users (${FRIENDS} friends each) on the chat stub over distribution, ${ROUNDS} rounds, ` +
  `fan-out ${FANOUT_RATE || 'unpaced'} sends/s; load average ${loadavg()[0].toFixed(2)}`);
if (loadavg()[0] > 2.5) say('warning: load average above 2.5: figures will be noisy');

/**
 * Sends one message for every pair of users (each user gets one event: the
 * recipient's, and the sender's echo), FANOUT_RATE sends a second on a fixed
 * schedule, at most `inFlight` at once.
 */
async function fanout(inFlight = 256) {
  let next = 1;
  let i = 0;
  const t0 = Date.now();
  const lag = [];
  const call = [];
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next + 1 <= USERS) {
      const from = next;
      next += 2;
      const at = t0 + (FANOUT_RATE > 0 ? (i++ * 1000) / FANOUT_RATE : 0);
      if (at > Date.now()) await new Promise((r) => setTimeout(r, at - Date.now()));
      const t = Date.now();
      lag.push(t - at);
      await chat.send(from, from + 1, `fan-out ${from}`);
      call.push(Date.now() - t);
    }
  }));
  // lag: how far behind its schedule each send was issued; call: each send's round trip.
  return { ms: Date.now() - t0, lagP99: pct(lag, 99), callP50: pct(call, 50), callP99: pct(call, 99) };
}

/**
 * Re-poll cycles; besides the rate, each process's CPU time per cycle (a
 * figure a busy machine disturbs less than the rate).
 */
async function cycles(out, server, cli) {
  const cyc = (await cli.ask({ cmd: 'cycles', conns: CYCLE_CONNS, ms: CYCLE_MS, gwPid: server.pid })).ok;
  out.cyclesPerSec = cyc.perSec;
  out.gwCpuPerCycle = cyc.gwCpuUs / cyc.count;
  out.clientCpuPerCycle = cyc.cpuUs / cyc.count;
}

/**
 * CYCLES_ONLY: after the sign-ins, one event for every user (the fan-out,
 * no browser poll held), and once the gateway's upstream loops have them,
 * the re-poll cycles (each poll from the sign-in seq is answered at once).
 */
async function cyclesOnly(out, server, srv, cli) {
  out.send = await fanout();
  let got = 0;
  const t0 = Date.now();
  while (got < USERS && Date.now() - t0 < 30_000) {
    await new Promise((r) => setTimeout(r, 100));
    got += (await srv.ask({ cmd: 'upstream' })).ok.length;
  }
  await cycles(out, server, cli);
  return out;
}

async function runLayer(layer) {
  const server = track(fork(join(here, 'gateway-server.mjs'), [layer, stubName, cookie, String(epmdPort), secret, String(PRESENCE_MS)], { execArgv: ['--expose-gc', ...(process.env.GW_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.GW_PROF}/server-${layer.replace(":", "")}`] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const srv = ipc(server);
  const { port } = await srv.next();
  const clients = track(fork(join(here, 'gateway-clients.mjs'), [], { execArgv: process.env.GW_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.GW_PROF}/clients-${layer.replace(":", "")}`] : [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const cli = ipc(clients);
  await cli.next();
  const out = { layer };
  try {
    const empty = await srv.ask({ cmd: 'mem' });
    let t0 = Date.now();
    await cli.ask({ cmd: 'login', port, users: USERS });
    out.loginPerSec = Math.round((USERS * 1000) / (Date.now() - t0));
    await new Promise((r) => setTimeout(r, 1000));
    if (CYCLES_ONLY) return await cyclesOnly(out, server, srv, cli);
    const base = await srv.ask({ cmd: 'mem' });
    await cli.ask({ cmd: 'hold' });
    t0 = Date.now();
    let s;
    do {
      await new Promise((r) => setTimeout(r, 200));
      s = (await srv.ask({ cmd: 'stats' })).stats;
    } while (s.heldPolls < USERS && Date.now() - t0 < 60_000);
    out.held = s.heldPolls;
    await new Promise((r) => setTimeout(r, 1000));
    const heldMem = await srv.ask({ cmd: 'mem' });
    out.rssPerPoll = (heldMem.rss - base.rss) / USERS;
    out.heapPerPoll = (heldMem.heapUsed - base.heapUsed) / USERS;
    out.rssPerUser = (base.rss - empty.rss) / USERS;
    out.heapPerUser = (base.heapUsed - empty.heapUsed) / USERS;
    const p0 = heldMem.stats;
    // Fan-out: one event for every held poll.
    await srv.ask({ cmd: 'upstream' });
    const profDir = process.env.GW_PROF_FANOUT;
    if (profDir) await srv.ask({ cmd: 'prof', file: join(profDir, `fanout-${layer.replace(':', '')}-${Date.now()}.cpuprofile`) });
    out.send = await fanout();
    out.sendMs = out.send.ms;
    t0 = Date.now();
    let lat = [];
    while (lat.length < USERS && Date.now() - t0 < 30_000) {
      await new Promise((r) => setTimeout(r, 250));
      lat = lat.concat((await cli.ask({ cmd: 'latencies' })).ok);
    }
    if (profDir) await srv.ask({ cmd: 'prof' });
    const up = (await srv.ask({ cmd: 'upstream' })).ok;
    out.upP50 = pct(up, 50);
    out.upP99 = pct(up, 99);
    out.received = lat.length;
    out.p50 = pct(lat, 50);
    out.p99 = pct(lat, 99);
    out.max = pct(lat, 100);
    await cycles(out, server, cli);
    const p1 = (await srv.ask({ cmd: 'stats' })).stats;
    out.presence = { calls: p1.presenceCalls - p0.presenceCalls, ids: p1.presenceIds - p0.presenceIds, seconds: (Date.now() - t0) / 1000 };
    out.watched = p1.presenceIds > 0 && p1.presenceCalls > 0 ? Math.round(p1.presenceIds / p1.presenceCalls) : 0;
  } finally {
    clients.send({ cmd: 'exit' });
    server.send({ cmd: 'exit' });
    await Promise.all([server, clients].map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
  }
  return out;
}

const rows = [];
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 === 1 ? ['node:http', 'beambridge'] : ['beambridge', 'node:http'];
  const r = {};
  for (const layer of order) {
    r[layer] = await runLayer(layer);
    const x = r[layer];
    if (CYCLES_ONLY) {
      say(`round ${round} ${layer.padEnd(10)} cycles ${x.cyclesPerSec}/s  CPU per cycle: gateway ${x.gwCpuPerCycle.toFixed(1)} µs, client ${x.clientCpuPerCycle.toFixed(1)} µs  (load average ${loadavg()[0].toFixed(2)})`);
      continue;
    }
    say(`round ${round} ${layer.padEnd(10)} held ${x.held}  RSS/poll ${kb(x.rssPerPoll)} KB  heap/poll ${kb(x.heapPerPoll)} KB  ` +
      `event->client p50/p99/max ${x.p50}/${x.p99}/${x.max} ms (${x.received} events, sent in ${x.sendMs} ms; ` +
      `send behind schedule p99 ${x.send.lagP99} ms, send call p50/p99 ${x.send.callP50}/${x.send.callP99} ms; event->gateway p50/p99 ${x.upP50}/${x.upP99} ms)  ` +
      `cycles ${x.cyclesPerSec}/s (CPU per cycle: gateway ${x.gwCpuPerCycle.toFixed(1)} µs, client ${x.clientCpuPerCycle.toFixed(1)} µs)  logins ${x.loginPerSec}/s  presence ${x.presence.calls} calls, ${x.presence.ids} ids in ${x.presence.seconds.toFixed(1)} s`);
  }
  rows.push(r);
}

const col = (layer, f) => rows.map((r) => f(r[layer]));
const ratio = (f) => rows.map((r) => f(r.beambridge) / f(r['node:http']));
const line = (name, f, unit, fmt = (v) => v.toFixed(2)) => {
  const b = col('beambridge', f);
  const n = col('node:http', f);
  const rs = ratio(f);
  say(`${name.padEnd(34)} ${`${fmt(median(b))} ${unit}`.padStart(14)} ${`${fmt(median(n))} ${unit}`.padStart(14)}   ratio per round ${rs.map((x) => x.toFixed(2)).join(', ')}; median ${median(rs).toFixed(2)}`);
};
say('');
say(`medians over ${ROUNDS} rounds                    beambridge      node:http`);
if (CYCLES_ONLY) {
  line('re-poll cycles (keep-alive)', (x) => x.cyclesPerSec, '/s', (v) => v.toFixed(0));
  line('  gateway CPU per cycle', (x) => x.gwCpuPerCycle, 'µs', (v) => v.toFixed(1));
  line('  client CPU per cycle', (x) => x.clientCpuPerCycle, 'µs', (v) => v.toFixed(1));
  say(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  await chat.close();
  await node.stop();
  killAll();
  process.exit(0);
}
line('RSS per held poll', (x) => x.rssPerPoll / 1024, 'KB');
line('heap per held poll', (x) => x.heapPerPoll / 1024, 'KB');
line('event -> client p50', (x) => x.p50, 'ms', (v) => v.toFixed(0));
line('event -> client p99', (x) => x.p99, 'ms', (v) => v.toFixed(0));
line('  of which event -> gateway p99', (x) => x.upP99, 'ms', (v) => v.toFixed(0));
line('re-poll cycles (keep-alive)', (x) => x.cyclesPerSec, '/s', (v) => v.toFixed(0));
line('  gateway CPU per cycle', (x) => x.gwCpuPerCycle, 'µs', (v) => v.toFixed(1));
line('  client CPU per cycle', (x) => x.clientCpuPerCycle, 'µs', (v) => v.toFixed(1));
line('RSS per signed-in user (no poll)', (x) => x.rssPerUser / 1024, 'KB');
line('heap per signed-in user (no poll)', (x) => x.heapPerUser / 1024, 'KB');
const pres = rows.map((r) => r.beambridge.presence);
const calls = pres.reduce((a, p) => a + p.calls, 0);
const ids = pres.reduce((a, p) => a + p.ids, 0);
const secs = pres.reduce((a, p) => a + p.seconds, 0);
say('');
say(`presence (beambridge rounds): ${(calls / secs).toFixed(2)} backend calls/s, ${Math.round(ids / secs)} ids/s for ${USERS} signed-in users ` +
  `(one batched presence() of the ${rows[0].beambridge.watched} watched friend ids every ${PRESENCE_MS} ms)`);
say(`  the same freshness by each page asking friendsPresence every ${PRESENCE_MS} ms would be ${Math.round((USERS * 1000) / PRESENCE_MS)} calls/s and ${Math.round((USERS * FRIENDS * 1000) / PRESENCE_MS)} ids/s`);
const b = rows.map((r) => r.beambridge);
const goals = [
  ['RSS per held poll <= 5 KB', median(b.map((x) => x.rssPerPoll)) <= 5 * 1024],
  ['event -> client p99 <= 200 ms', median(b.map((x) => x.p99)) <= 200],
  ['re-poll cycles >= 20,000/s', median(b.map((x) => x.cyclesPerSec)) >= 20_000],
];
say('');
for (const [g, ok] of goals) say(`${ok ? 'PASS' : 'MISS'} ${g}`);

await chat.close();
await node.stop();
killAll();
process.exit(0);
