// Distribution benchmark: a beambridge node against an erl node, over the
// same loopback, to the same Erlang sink, in one run.
//
//   1. one-way small messages/s ({msg, I} to a pid) from Node to an Erlang
//      process, over one connection, vs the same flow from a second erl node;
//   2. gen_server call round trips/s with 64 concurrent callers (Node's
//      node.call vs gen_server:call), against the same gen_server.
//
//   npm run bench:dist                 (builds, then runs this file)
//   node bench/dist.mjs [--quick]      (uses the last build in dist/)
//
// Prints each round, then the medians and the ratios Node / erl (targets:
// >= 0.7x for messages, >= 0.8x for round trips). Times are wall clock of
// the whole flow (first send to the sink's "done"; first call to the last
// reply). Every flow is bounded in count and by a timeout.
//
// Environment: BENCH_MSGS (messages per round, default 200000),
// BENCH_CALLERS (default 64), BENCH_CALLS (calls per caller per round,
// default 400), BENCH_ROUNDS (default 3; the median is reported).
// Everything started here (epmd, erl nodes) is stopped by pid on exit.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { atom, tuple, Tuple } = await import(new URL('../dist/etf/index.js', import.meta.url).href);

const quick = process.argv.includes('--quick');
const MSGS = Number(process.env.BENCH_MSGS ?? (quick ? 50_000 : 200_000));
const CALLERS = Number(process.env.BENCH_CALLERS ?? 64);
const CALLS = Number(process.env.BENCH_CALLS ?? (quick ? 100 : 400));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 1 : 3));
const COOKIE = `bench${process.pid}`;
const here = fileURLToPath(new URL('.', import.meta.url));

// ------------------------------------------------------------- processes
const children = new Set();
function stopAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  children.clear();
}
process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function start(cmd, args, env = {}) {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  let out = '';
  let err = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  c.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((resolve) => c.once('exit', (code) => (children.delete(c), resolve(code))));
  return {
    pid: c.pid,
    exited,
    out: () => out,
    err: () => err,
    async waitFor(re, ms) {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (c.exitCode !== null) throw new Error(`${cmd} exited: ${err}${out}`);
        if (Date.now() > end) throw new Error(`timeout waiting for ${re} from ${cmd}: ${err}${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return out.match(re);
    },
    async stop() {
      if (c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port, ms) {
  const { connect } = await import('node:net');
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`port ${port} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function erl(name, ebin, epmdPort, evalExpr) {
  return start('erl', ['-noshell', '-start_epmd', 'false', '-name', name, '-setcookie', COOKIE, '-pa', ebin, '-eval', evalExpr], {
    ERL_EPMD_PORT: String(epmdPort),
  });
}

// ------------------------------------------------------------- measures
const MSG = atom('msg');
const PING = atom('ping');

async function jsMessages(node, sink) {
  const p = node.spawn();
  try {
    p.send({ name: 'counter', node: sink }, tuple(atom('start'), p.pid, MSGS));
    const ready = await p.receive({ timeoutMs: 10_000 });
    const pid = ready.at(1);
    const t0 = performance.now();
    for (let i = MSGS; i > 0; i--) {
      if (!p.send(pid, tuple(MSG, i))) await node.waitWritable(sink, { timeoutMs: 60_000 });
    }
    await p.receive({ timeoutMs: 120_000, match: (m) => m instanceof Tuple && m.at(0) === atom('done') });
    return (performance.now() - t0) / 1000;
  } finally {
    p.exit();
  }
}

async function jsCalls(node, sink) {
  const server = { name: 'bb_server', node: sink };
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      for (let k = 0; k < CALLS; k++) {
        const r = await node.call(server, PING, { timeoutMs: 60_000 });
        if (r !== PING) throw new Error('bad reply');
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

async function erlFlows(ebin, epmdPort, sink, round) {
  const d = erl(`bbdriver${round}_${process.pid}@127.0.0.1`, ebin, epmdPort, `dist_bench:drive('${sink}', ${MSGS}, ${CALLERS}, ${CALLS}), halt().`);
  const m = await d.waitFor(/MSGS (\d+)\nCALLS (\d+)\n/, 300_000);
  await d.exited;
  return { msgs: Number(m[1]) / 1e6, calls: Number(m[2]) / 1e6 };
}

// ------------------------------------------------------------------ main
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

const ebin = mkdtempSync(join(tmpdir(), 'bb-bench-'));
let node;
try {
  execFileSync('erlc', ['-o', ebin, join(here, 'dist_bench.erl')]);
  const epmdPort = await freePort();
  start('epmd', ['-port', String(epmdPort)]);
  await waitPort(epmdPort, 10_000);
  const sinkName = `bbsink_${process.pid}@127.0.0.1`;
  const sink = erl(sinkName, ebin, epmdPort, 'dist_bench:sink(), io:format("READY~n").');
  await sink.waitFor(/READY/, 30_000);
  node = await Node.start({ name: `bbjs_${process.pid}@127.0.0.1`, cookie: COOKIE, epmd: { port: epmdPort } });
  if (!(await node.ping(sinkName))) throw new Error('cannot reach the sink');
  await jsCalls(node, sinkName); // warm-up (JIT, connection)

  console.log(`dist benchmark: ${MSGS} messages, ${CALLERS} callers x ${CALLS} calls, ${ROUNDS} round(s); OTP ${execFileSync('erl', ['-noshell', '-eval', 'io:format("~s", [erlang:system_info(otp_release)]), halt().']).toString()}, Node ${process.version}`);
  const res = { jsMsgs: [], erlMsgs: [], jsCalls: [], erlCalls: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const jm = MSGS / (await jsMessages(node, sinkName));
    const e = await erlFlows(ebin, epmdPort, sinkName, r);
    const em = MSGS / e.msgs;
    const ec = (CALLERS * CALLS) / e.calls;
    const jc = (CALLERS * CALLS) / (await jsCalls(node, sinkName));
    res.jsMsgs.push(jm);
    res.erlMsgs.push(em);
    res.jsCalls.push(jc);
    res.erlCalls.push(ec);
    console.log(
      `round ${r + 1}: messages/s Node ${fmt(jm)} erl ${fmt(em)} (${(jm / em).toFixed(2)}x); round trips/s Node ${fmt(jc)} erl ${fmt(ec)} (${(jc / ec).toFixed(2)}x)`,
    );
  }
  const jm = median(res.jsMsgs);
  const em = median(res.erlMsgs);
  const jc = median(res.jsCalls);
  const ec = median(res.erlCalls);
  console.log('');
  console.log('flow                                   Node/s        erl/s    ratio   target');
  console.log(`one-way small messages (1 conn)  ${fmt(jm).padStart(12)} ${fmt(em).padStart(12)}   ${(jm / em).toFixed(2)}x   >= 0.70x ${jm / em >= 0.7 ? 'met' : 'MISSED'}`);
  console.log(`gen_server calls, ${CALLERS} callers      ${fmt(jc).padStart(12)} ${fmt(ec).padStart(12)}   ${(jc / ec).toFixed(2)}x   >= 0.80x ${jc / ec >= 0.8 ? 'met' : 'MISSED'}`);
} finally {
  if (node) await node.stop();
  stopAll();
  rmSync(ebin, { recursive: true, force: true });
}
