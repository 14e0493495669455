// Distribution benchmark: beambridge against erl-to-erl, every flow in the
// same run, round by round, over one loopback connection per pair.
//
//   npm run bench:dist                 (builds, then runs this file)
//   node bench/dist.mjs [--quick]      (uses the last build in dist/)
//
// Nodes: a sink erl node S (the Erlang peer: a `counter' that counts chat
// messages and a gen_server `bb_server' that echoes calls), a driver erl
// node D (the erl side of every flow that starts in Erlang), and the
// beambridge node J in this process (registering the same `counter' and
// `bb_server'). The message is the 58-byte chat message
// {chat_msg, 1001, <<"hello">>, [alice, bob], #{seq => 7}}, always sent to
// a registered name. Each round runs, for every row, the erl-to-erl baseline
// (D to S) and then the beambridge flows (J to S, D to J), each for FLOW_MS:
//   one-way     messages/s, sender to `counter' (the count comes back after the last message);
//   calls x64   gen_server:call round trips/s, 64 concurrent callers;
//   sequential  one caller: calls/s and the p50 / p99 latency;
// then the memory row: a wave of hidden erl peers connects to both S and J,
// and each side's growth per connected peer is compared (erlang:memory(total)
// on S after a GC of every process; V8 heap used, without compiled code, plus
// external memory on J after full GCs). Each round's ratio is beambridge / erl (for latencies and memory,
// erl / beambridge, so that above 1 is better everywhere); the table gives
// every round's ratio and their median.
//
// Environment: BENCH_ROUNDS (default 5), BENCH_FLOW_MS (default 3000),
// BENCH_CALLERS (default 64), BENCH_PEERS (peers per memory round, default 6).
// Everything started here (epmd, erl nodes; beambridge/testing) is stopped by pid on exit.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import { median, table } from './stats.mjs';

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { atom, tuple, Tuple, encode } = await import(new URL('../dist/etf/index.js', import.meta.url).href);
const { startEpmd, startErlNode } = await import(new URL('../dist/testing/index.js', import.meta.url).href);
const { busyPollDefault, busySpinDefault } = await import(new URL('../dist/dist/busypoll.js', import.meta.url).href);
const { readHoldDefault } = await import(new URL('../dist/dist/connection.js', import.meta.url).href);
const { viewSourceDefault } = await import(new URL('../dist/dist/framing.js', import.meta.url).href);

const quick = process.argv.includes('--quick');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 5));
const FLOW_MS = Number(process.env.BENCH_FLOW_MS ?? (quick ? 1000 : 3000));
const CALLERS = Number(process.env.BENCH_CALLERS ?? 64);
const PEERS = Number(process.env.BENCH_PEERS ?? (quick ? 3 : 6));
// --only <text>[,<text>...] (or BENCH_ONLY=<text>,...): run only the flows whose label contains one of
// the texts (for iterating and profiling; e.g. BENCH_ONLY='Erlang to Node, one-way|sequential' with `|`
// when a text has a comma); --no-memory skips the memory row, --no-atom-cache the atom cache section
// (BENCH_AC_MS per flow there, default 2000).
const AC_MS = Number(process.env.BENCH_AC_MS ?? (quick ? 1000 : 2000));
const onlyAt = process.argv.indexOf('--only');
const onlyText = onlyAt > 0 ? process.argv[onlyAt + 1] : process.env.BENCH_ONLY || undefined;
const ONLY = onlyText === undefined ? undefined : onlyText.split(onlyText.includes('|') ? '|' : ',').map((x) => x.trim()).filter((x) => x !== '');
const selected = (label) => ONLY === undefined || ONLY.some((t) => label.includes(t));
const MEMORY = !process.argv.includes('--no-memory') && (ONLY === undefined || ONLY.some((t) => 'memory per connected peer'.includes(t)));
const ATOM_CACHE = !process.argv.includes('--no-atom-cache') && (ONLY === undefined || ONLY.some((t) => 'atom cache'.includes(t)));
const COOKIE = `bench${process.pid}`;
const here = fileURLToPath(new URL('.', import.meta.url));
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc (npm run bench:dist does)');

// ------------------------------------------------------------- the data
const CHAT = atom('chat_msg');
const REPORT = atom('report');
const COUNT = atom('count');
const chatMsg = tuple(CHAT, 1001, Buffer.from('hello'), [atom('alice'), atom('bob')], new Map([[atom('seq'), 7]]));
if (encode(chatMsg).length !== 58) throw new Error(`the chat message is ${encode(chatMsg).length} bytes, not 58`);
const isChat = (m) => m instanceof Tuple && m.elements[0] === CHAT;
/** An atom-heavy term (20 distinct atoms, as records and proplists are): for the atom cache section. */
const A = (s) => atom(s);
const atomHeavy = tuple(A('user_state'), A('alice'), [
  tuple(A('status'), A('online')),
  tuple(A('client'), A('web')),
  tuple(A('idle_minutes'), 0),
  tuple(A('last_seen'), 1732900000),
  tuple(A('role'), A('member')),
  tuple(A('flags'), [A('typing'), A('away_message'), A('mobile')]),
  tuple(A('channel'), A('lobby')),
], new Map([[A('presence'), A('visible')], [A('tier'), A('channel_server')]]));

// ------------------------------------------------ the beambridge side (J)
/** J's `counter': counts chat messages; {report, From} answers {count, N} and resets. */
function startCounter(node) {
  const p = node.spawn({ name: 'counter' });
  void (async () => {
    let n = 0;
    for await (const m of p) {
      if (m instanceof Tuple && m.elements[0] === REPORT) {
        p.send(m.elements[1], tuple(COUNT, n));
        n = 0;
      } else n++;
    }
  })().catch(() => {}); // ends with the node
}

const yieldTurn = () => new Promise((r) => setImmediate(r));

/** J to S one-way: { rate, n, bytes } in messages/s, messages, and bytes written per message. */
async function jsOneway(node, sink, ms, msg = chatMsg) {
  const p = node.spawn();
  try {
    const to = { name: 'counter', node: sink };
    const isCount = (m) => m instanceof Tuple && m.elements[0] === COUNT;
    p.send(to, tuple(REPORT, p.pid)); // resets the counter
    await p.receive({ timeoutMs: 60_000, match: isCount });
    const sock = node.connection(sink).tcpSocket;
    const bytes0 = sock.bytesWritten;
    const t0 = performance.now();
    const end = t0 + ms;
    let sent = 0;
    while (performance.now() < end) {
      let full = false;
      for (let i = 0; i < 1000; i++) if (!p.send(to, msg)) full = true;
      sent += 1000;
      if (full) await node.waitWritable(sink, { timeoutMs: 60_000 });
      else await yieldTurn();
    }
    p.send(to, tuple(REPORT, p.pid));
    const r = await p.receive({ timeoutMs: 120_000, match: isCount });
    const dt = (performance.now() - t0) / 1000;
    if (r.elements[1] !== sent) throw new Error(`sent ${sent}, counted ${r.elements[1]}`);
    return { rate: sent / dt, n: sent, bytes: (sock.bytesWritten - bytes0) / sent };
  } finally {
    p.exit();
  }
}

/** J to S, CALLERS concurrent callers: { rate } in calls/s. */
async function jsCalls(node, sink, ms, callers = CALLERS) {
  const server = { name: 'bb_server', node: sink };
  const t0 = performance.now();
  const end = t0 + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      do {
        const r = await node.call(server, chatMsg, { timeoutMs: 60_000 });
        if (!isChat(r)) throw new Error('bad reply');
        n++;
      } while (performance.now() < end);
    }),
  );
  return { rate: n / ((performance.now() - t0) / 1000), n };
}

/** J to S, one caller: { rate, p50, p99 } (latencies in µs). */
async function jsSeq(node, sink, ms) {
  const server = { name: 'bb_server', node: sink };
  const lat = [];
  const t0 = performance.now();
  const end = t0 + ms;
  let b;
  do {
    const a = performance.now();
    const r = await node.call(server, chatMsg, { timeoutMs: 60_000 });
    b = performance.now();
    if (!isChat(r)) throw new Error('bad reply');
    lat.push((b - a) * 1000);
  } while (b < end);
  return { rate: lat.length / ((b - t0) / 1000), n: lat.length, ...percentiles(lat) };
}

// ------------------------------------------------------ the erl side (D)
// BENCH_BUSY_DIST=1: the erl sender also counts its suspensions on a busy distribution port (printed per flow).
const BUSY_DIST = process.env.BENCH_BUSY_DIST === '1';
// BENCH_PROBE=1: for each Erlang-side one-way flow, where the sender's and the receiver's time goes
// (CPU, msacc states, socket writes and reads per message; printed per flow).
const PROBE = process.env.BENCH_PROBE === '1' || process.env.BENCH_PROBE === 'perf';
async function erlOneway(node, driver, target, ms) {
  const probe = PROBE ? await probeStart(node, driver, target) : undefined;
  const r = await node.rpc(driver, 'dist_bench', BUSY_DIST ? 'oneway_busy' : 'oneway', [atom(target), ms], { timeoutMs: ms + 180_000 });
  const [sent, counted, us, busy] = r.elements;
  if (sent !== counted) throw new Error(`erl sent ${sent} to ${target}, counted ${counted}`);
  if (BUSY_DIST) console.log(`erl one-way to ${target.split('_')[0]}: ${sent} messages, ${busy} busy_dist_port suspensions`);
  if (probe) await probeStop(node, probe, sent, us);
  return { rate: sent / (us / 1e6), n: sent };
}

/** /proc/<pid>/stat user + system time in µs. */
function procCpuUs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(x[11]) + Number(x[12])) * 1e6) / 100;
}
const jsReads = { n: 0, bytes: 0, hooked: new Set() };
async function probeStart(node, driver, target) {
  const js = target === node.name;
  const erls = js ? [[driver, target]] : [[driver, target], [target, driver]];
  const st = await Promise.all(erls.map(([n, peer]) => node.rpc(n, 'dist_bench', 'probe_start', [atom(peer)])));
  if (js) {
    const sock = node.connection(driver).socket;
    if (!jsReads.hooked.has(sock)) {
      jsReads.hooked.add(sock);
      sock.on('data', (d) => {
        jsReads.n++;
        jsReads.bytes += d.length;
      });
    }
  }
  const pids = st.map((x) => Number(String.fromCharCode(...x.elements[0])));
  // BENCH_PROBE=perf: also count system calls and context switches with perf stat (slows both sides).
  const perf = process.env.BENCH_PROBE === 'perf' ? [...pids, ...(js ? [process.pid] : [])].map((x) => perfStat(x)) : [];
  // BENCH_PERF_RECORD=<prefix>: also `perf record -g` the sender into <prefix>-<node|erl>-<n>.data.
  if (process.env.BENCH_PERF_RECORD) {
    const file = `${process.env.BENCH_PERF_RECORD}-${js ? 'node' : 'erl'}-${++perfRecords}.data`;
    perf[pids.length + (js ? 1 : 0)] = perfStat(pids[0], ['record', '-g', '-o', file]);
  }
  if (perf.length > 0) await new Promise((r) => setTimeout(r, 200)); // perf attached
  // The receiving socket's TCP state halfway through the flow (ss -tmi: rcvbuf, window, queues).
  const rport = js ? node.connection(driver).tcpSocket.localPort : Number(st[1].elements[2]);
  const ss = new Promise((r) => setTimeout(() => {
    const c = spawn('ss', ['-tmiHn', 'state', 'established', `( sport = :${rport} )`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let o = '';
    c.stdout.on('data', (d) => (o += d));
    c.on('close', () => r(o.replace(/\s+/g, ' ').trim()));
    c.on('error', () => r(''));
  }, (FLOW_MS / 2)));
  return { js, erls, perf, ss, net0: tcpExt(), cpu0: pids.map(procCpuUs), port0: st.map((x) => portStats(x.elements[1])), js0: { ...jsReads, cpu: process.cpuUsage(), holds: js ? node.connection(driver).stats.readHolds : 0, conn: js ? node.connection(driver) : undefined } };
}

/** dist_bench:port_stats/1's [{recv_cnt, N}, ...] as an object. */
function portStats(list) {
  return Object.fromEntries(list.map((t) => [t.elements[0].name, Number(t.elements[1])]));
}

/** The kernel's TcpExt counters (system-wide: the flow is most of the machine's TCP traffic while it runs). */
function tcpExt() {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
  const k = lines[0].split(' ').slice(1);
  const v = lines[1].split(' ').slice(1).map(Number);
  return Object.fromEntries(k.map((x, i) => [x, v[i]]));
}

// The system calls and scheduling events a probed process makes (perf stat on its pid, ended with SIGINT).
const PERF_EVENTS = ['writev', 'sendmsg', 'sendto', 'write', 'read', 'readv', 'recvfrom', 'recvmsg', 'epoll_wait', 'epoll_pwait', 'poll', 'futex'];
let perfRecords = 0;
function perfStat(pid, args) {
  const ev = [...PERF_EVENTS.map((e) => `syscalls:sys_enter_${e}`), 'context-switches'].join(',');
  const c = spawn('perf', [...(args ?? ['stat', '-x', ',', '-e', ev]), '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr.on('data', (d) => (err += d));
  const done = new Promise((r) => c.on('close', () => r(err)));
  c.on('error', () => {});
  return { stop: async () => (c.kill('SIGINT'), done) };
}
async function perfCounts(perf, sent) {
  const txt = await perf.stop();
  const out = [];
  for (const line of txt.split('\n')) {
    const [v, , name] = line.split(',');
    if (name === undefined || !(Number(v) > 0)) continue;
    out.push(`${name.replace('syscalls:sys_enter_', '')} ${((Number(v) / sent) * 1000).toFixed(1)}`);
  }
  return `per 1000 msgs: ${out.join(' ')}`;
}
async function probeStop(node, p, sent, us) {
  const out = [];
  const perfCountsOf = (i) => (p.perf[i] ? perfCounts(p.perf[i], sent) : '');
  for (let i = 0; i < p.erls.length; i++) {
    const [n, peer] = p.erls[i];
    const r = await node.rpc(n, 'dist_bench', 'probe_stop', [atom(peer)]);
    const [osPid, stats, msacc] = r.elements;
    const cpu = procCpuUs(Number(String.fromCharCode(...osPid))) - p.cpu0[i];
    // The port's counters run from the connection's start: this flow's are the difference.
    const st0 = p.port0[i];
    const st = Object.fromEntries(Object.entries(portStats(stats)).map(([k, v]) => [k, v - (st0[k] ?? 0)]));
    const ms = msacc.map((t) => [t.elements[0].name, Number(t.elements[1])]).sort((a, b) => b[1] - a[1]);
    const io = i === 0 ? `${(st.send_cnt / sent * 1000).toFixed(1)} writes/1000 msgs, ${(st.send_oct / st.send_cnt).toFixed(0)} B each` : `${(st.recv_cnt / sent * 1000).toFixed(1)} reads/1000 msgs, ${(st.recv_oct / st.recv_cnt).toFixed(0)} B each`;
    out.push(`  ${i === 0 ? 'sender' : 'receiver'} ${n.split('_')[0]}: CPU ${(cpu / sent).toFixed(2)} µs/msg (${(cpu / us * 100).toFixed(0)}% of a core); ${io}; msacc µs/msg ${ms.filter(([k]) => k !== 'sleep').map(([k, v]) => `${k} ${(v / sent).toFixed(2)}`).join(' ')}\n    ${await perfCountsOf(i)}`);
  }
  if (p.perf.length > p.erls.length + (p.js ? 1 : 0)) await p.perf.at(-1).stop();
  if (p.js) {
    const cpu = process.cpuUsage(p.js0.cpu);
    const n = jsReads.n - p.js0.n;
    out.push(`  receiver Node: CPU ${((cpu.user + cpu.system) / sent).toFixed(2)} µs/msg (sys ${(cpu.system / sent).toFixed(2)}; ${(((cpu.user + cpu.system) / us) * 100).toFixed(0)}% of a core); ${(n / sent * 1000).toFixed(1)} reads/1000 msgs, ${((jsReads.bytes - p.js0.bytes) / n).toFixed(0)} B each, ${p.js0.conn.stats.readHolds - p.js0.holds} read holds\n    ${await perfCountsOf(1)}`);
  }
  const net = tcpExt();
  out.push(`  receiving socket mid-flow: ${await p.ss}`);
  out.push(`  TcpExt per 1000 msgs: ${Object.keys(net).map((k) => [k, ((net[k] - p.net0[k]) / sent) * 1000]).filter(([, v]) => v >= 0.5).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(' ')}`);
  console.log(`probe, one-way to ${p.js ? 'Node' : 'erl'}: ${sent} msgs, ${Math.round(sent / (us / 1e6)).toLocaleString('en-US')} msg/s\n${out.join('\n')}`);
}

async function erlCalls(node, driver, target, ms) {
  const r = await node.rpc(driver, 'dist_bench', 'calls', [atom(target), CALLERS, ms], { timeoutMs: ms + 180_000 });
  const [n, us] = r.elements;
  return { rate: n / (us / 1e6), n };
}

async function erlSeq(node, driver, target, ms) {
  const r = await node.rpc(driver, 'dist_bench', 'seq', [atom(target), ms], { timeoutMs: ms + 180_000 });
  const [n, us, lat] = r.elements;
  return { rate: n / (us / 1e6), n, ...percentiles(lat) };
}

// --------------------------------------------------------------- memory
/** V8 heap used (without compiled code, which is not per peer) plus external memory, after full GCs. */
function jsMemory() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  const m = process.memoryUsage();
  const code = getHeapSpaceStatistics()
    .filter((s) => s.space_name.startsWith('code'))
    .reduce((n, s) => n + s.space_used_size, 0);
  return m.heapUsed - code + m.external;
}

async function memoryRound(node, sink, driver, round, jsName, count) {
  const erlBefore = await node.rpc(sink, 'dist_bench', 'memory', [], { timeoutMs: 60_000 });
  const jsBefore = jsMemory();
  // The driver starts the peers (OTP's `peer'), so that this process holds nothing for them but their connections.
  const prefix = [...`bbpeer${round}_${process.pid}_`].map((c) => c.charCodeAt(0));
  await node.rpc(driver, 'dist_bench', 'peers', [prefix, count, [atom(sink), atom(jsName)]], { timeoutMs: 300_000 });
  await new Promise((r) => setTimeout(r, 500));
  const erlAfter = await node.rpc(sink, 'dist_bench', 'memory', [], { timeoutMs: 60_000 });
  const jsAfter = jsMemory();
  return { erl: (Number(erlAfter) - Number(erlBefore)) / count, js: (jsAfter - jsBefore) / count };
}

// ------------------------------------------------------------------ main
function percentiles(lat) {
  const s = Float64Array.from(lat).sort();
  return { p50: s[Math.floor(s.length * 0.5)], p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] };
}
const fmtRate = (n) => Math.round(n).toLocaleString('en-US');
const fmtUs = (n) => `${Math.round(n)} µs`;
const fmtKB = (n) => `${(n / 1024).toFixed(1)} KB`;

let node;
try {
  const epmdPort = await startEpmd();
  const sinkName = `bbsink_${process.pid}@127.0.0.1`;
  const driverName = `bbdriver_${process.pid}@127.0.0.1`;
  const jsName = `bbjs_${process.pid}@127.0.0.1`;
  const erl = (name, evalExpr) => startErlNode({ name, cookie: COOKIE, epmdPort, modules: [join(here, 'dist_bench.erl')], eval: evalExpr });
  await Promise.all([erl(sinkName, 'dist_bench:sink()'), erl(driverName)]);
  node = await Node.start({ name: jsName, cookie: COOKIE, epmd: { port: epmdPort } });
  startCounter(node);
  node.serve('bb_server', { call: (req) => req });
  if (!(await node.ping(sinkName)) || !(await node.ping(driverName))) throw new Error('cannot reach the erl nodes');
  const otpRelease = await node.rpc(sinkName, 'erlang', 'system_info', [atom('otp_release')]);
  const otp = Array.isArray(otpRelease) ? String.fromCharCode(...otpRelease) : String(otpRelease);

  // Each row: [label, baseline, beambridge flows...]; a flow returns { rate, p50?, p99? }.
  const rows = [
    {
      name: 'one-way',
      unit: 'msg/s',
      base: (ms) => erlOneway(node, driverName, sinkName, ms),
      flows: [
        ['Node to Erlang, one-way', (ms) => jsOneway(node, sinkName, ms)],
        ['Erlang to Node, one-way', (ms) => erlOneway(node, driverName, jsName, ms)],
      ],
    },
    {
      name: 'calls',
      unit: 'calls/s',
      base: (ms) => erlCalls(node, driverName, sinkName, ms),
      flows: [
        [`gen_server:call, ${CALLERS} callers, Node to Erlang`, (ms) => jsCalls(node, sinkName, ms)],
        [`gen_server:call, ${CALLERS} callers, Erlang to Node`, (ms) => erlCalls(node, driverName, jsName, ms)],
      ],
    },
    {
      name: 'sequential',
      unit: 'calls/s',
      base: (ms) => erlSeq(node, driverName, sinkName, ms),
      flows: [
        ['sequential calls, Node to Erlang', (ms) => jsSeq(node, sinkName, ms)],
        ['sequential calls, Erlang to Node', (ms) => erlSeq(node, driverName, jsName, ms)],
      ],
    },
  ];

  const load0 = loadavg()[0];
  console.log(
    `dist benchmark: OTP ${otp}, Node ${process.version}; ${ROUNDS} round(s) of ${FLOW_MS} ms per flow, ${CALLERS} callers, ${PEERS} peers per memory round; load average ${load0.toFixed(2)}`,
  );
  // results[label] = [{ base, got }] per round
  const results = new Map();
  const record = (label, base, got) => {
    if (!results.has(label)) results.set(label, []);
    results.get(label).push({ base, got });
  };

  if (ONLY !== undefined) {
    for (const row of rows) row.flows = row.flows.filter(([label]) => selected(label));
    rows.splice(0, rows.length, ...rows.filter((row) => row.flows.length > 0));
  }
  // A/B experiments: each flow runs once per value per round, with a connection default set to it.
  // BENCH_AB_POLL=<us>[,<us>...]: busy polling that long (busyPollUs); BENCH_AB_HOLD=<ms>[,<ms>...]: that read hold (readHoldMs);
  // BENCH_AB_SPIN=<us>[,<us>...]: each polling turn spinning that long (busypoll.ts SPIN_US; 0: none); BENCH_AB_READON below.
  const abRows = (env, tag, obj, key) => {
    const values = (process.env[env] ?? '').split(',').filter((x) => x !== '').map(Number);
    if (values.length === 0) return;
    const withValue = (v, f) => async (ms) => {
      const old = obj[key];
      obj[key] = v;
      try {
        return await f(ms);
      } finally {
        obj[key] = old;
      }
    };
    for (const row of rows) row.flows = row.flows.flatMap(([label, f]) => values.map((v) => [`${label} [${tag} ${v}]`, withValue(v, f)]));
  };
  abRows('BENCH_AB_POLL', 'poll', busyPollDefault, 'us');
  abRows('BENCH_AB_HOLD', 'hold', readHoldDefault, 'ms');
  // BENCH_AB_READON=0,1: 1 (the default) lets a read that filled the read buffer start no hold; 0: any read may, as before.
  abRows('BENCH_AB_READON', 'readon', readHoldDefault, 'readOn');
  abRows('BENCH_AB_SPIN', 'spin', busySpinDefault, 'us');
  // BENCH_AB_FRAMES=<n>[,<n>...]: frames in one read that start a read hold (readHoldFrames).
  abRows('BENCH_AB_FRAMES', 'frames', readHoldDefault, 'frames');
  // BENCH_AB_QUIET=<n>[,<n>...]: frames in one read that start a hold when the connection sent nothing since the last read.
  abRows('BENCH_AB_QUIET', 'quiet', readHoldDefault, 'quietFrames');
  // BENCH_AB_SOURCE=0,1: 1 (the default) names each read's buffer to the term decoder once (framing.ts viewSourceDefault); 0: not.
  abRows('BENCH_AB_SOURCE', 'source', viewSourceDefault, 'on');

  // Memory first, while both nodes are quiet: each round connects a new wave
  // of peers (after a first wave that warms up the code both sides run for a peer).
  if (MEMORY) await memoryRound(node, sinkName, driverName, 'w', jsName, 2);
  for (let r = 0; MEMORY && r < ROUNDS; r++) {
    const mem = await memoryRound(node, sinkName, driverName, r, jsName, PEERS);
    record('memory per connected peer', { mem: mem.erl }, { mem: mem.js });
    console.log(`memory round ${r + 1}: ${fmtKB(mem.js)} per peer vs erl ${fmtKB(mem.erl)}`);
  }

  // Warm-up: every flow briefly (JIT, connections, atom caches).
  for (const row of rows) {
    await row.base(300);
    for (const [, f] of row.flows) await f(300);
  }

  for (let r = 0; r < ROUNDS; r++) {
    const line = [];
    for (const row of rows) {
      const base = await row.base(FLOW_MS);
      for (const [label, f] of row.flows) {
        const cpu0 = process.cpuUsage();
        const ru0 = process.resourceUsage();
        const got = await f(FLOW_MS);
        const cpu = process.cpuUsage(cpu0);
        const ru = process.resourceUsage();
        const cs = (ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches + ru.involuntaryContextSwitches - ru0.involuntaryContextSwitches) / got.n;
        record(label, base, got);
        // This process's CPU time per message or call: the headroom left when the machine is loaded.
        line.push(`${label.replace(/,? ?one-way|gen_server:call, |sequential calls, /g, '')} ${(got.rate / base.rate).toFixed(2)}x (Node CPU ${((cpu.user + cpu.system) / got.n).toFixed(1)} µs, sys ${(cpu.system / got.n).toFixed(1)}, ${cs.toFixed(2)} switches each)`);
      }
    }
    console.log(`round ${r + 1} (load ${loadavg()[0].toFixed(2)}): ${line.join('; ')}`);
  }

  // ------------------------------------------------------------ the table
  const rowsOut = [];
  const add = (flow, erlFig, bbFig, ratios) => rowsOut.push([flow, erlFig, bbFig, ratios.map((x) => x.toFixed(2)).join(' '), `${median(ratios).toFixed(2)}x`]);
  for (const row of rows) {
    for (const [label] of row.flows) {
      const rs = results.get(label);
      const rng = (xs, f) => `${f(Math.min(...xs))}-${f(Math.max(...xs))}`;
      add(
        label,
        rng(rs.map((x) => x.base.rate), fmtRate),
        rng(rs.map((x) => x.got.rate), fmtRate),
        rs.map((x) => x.got.rate / x.base.rate),
      );
      if (row.name === 'sequential') {
        for (const q of ['p50', 'p99']) {
          add(
            `  latency ${q}`,
            rng(rs.map((x) => x.base[q]), fmtUs),
            rng(rs.map((x) => x.got[q]), fmtUs),
            rs.map((x) => x.base[q] / x.got[q]),
          );
        }
      }
    }
  }
  const mem = results.get('memory per connected peer') ?? [];
  if (mem.length > 0) add(
    'memory per connected peer',
    mem.map((x) => fmtKB(x.base.mem)).join(' '),
    mem.map((x) => fmtKB(x.got.mem)).join(' '),
    mem.map((x) => x.base.mem / x.got.mem),
  );
  console.log('');
  console.log(table(['flow', 'erl to erl', 'beambridge', 'ratio per round', 'median'], rowsOut));
  console.log('');
  console.log('Ratios are beambridge / erl for rates and erl / beambridge for latencies and memory: above 1 is better.');

  // ------------------------------------------------------ the atom cache
  if (ATOM_CACHE) {
    // A second beambridge node that sends every atom in full, against J (atom cache on, the default).
    let plain;
    try {
      plain = await Node.start({ name: `bbjsplain_${process.pid}@127.0.0.1`, cookie: COOKIE, epmd: { port: epmdPort }, connection: { atomCache: false } });
      if (!(await plain.ping(sinkName))) throw new Error('cannot reach the sink');
      const terms = [
        ['chat message', chatMsg],
        ['atom-heavy term (20 atoms)', atomHeavy],
      ];
      for (const [, msg] of terms) {
        await jsOneway(plain, sinkName, 300, msg);
        await jsOneway(node, sinkName, 300, msg);
      }
      const ac = new Map(terms.map(([name]) => [name, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (const [name, msg] of terms) {
          const off = await jsOneway(plain, sinkName, AC_MS, msg);
          const on = await jsOneway(node, sinkName, AC_MS, msg);
          ac.get(name).push({ off, on });
        }
      }
      const rowsAc = [...ac].map(([name, rs]) => [
        name,
        `${median(rs.map((x) => x.off.bytes)).toFixed(1)} B`,
        `${median(rs.map((x) => x.on.bytes)).toFixed(1)} B`,
        rs.map((x) => (x.on.rate / x.off.rate).toFixed(2)).join(' '),
        `${median(rs.map((x) => x.on.rate / x.off.rate)).toFixed(2)}x`,
      ]);
      console.log('');
      console.log(`atom cache (${ROUNDS} round(s) of ${AC_MS} ms per flow; bytes are written to the socket per message, frame header included):`);
      console.log(table(['Node to Erlang, one-way', 'bytes/msg, atoms in full', 'with the atom cache', 'msg/s ratio per round', 'median'], rowsAc));
    } finally {
      if (plain) await plain.stop();
    }
  }
  console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (at start ${load0.toFixed(2)})`);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (node) await node.stop();
  process.exit(process.exitCode ?? 0);
}
