// Chat tier benchmark: what the typed chat client costs over the raw calls
// it makes, against the same Erlang stub node, in one run.
//
//   sends/s            chat.send(from, to, text) vs node.call(chat_channel,
//                      {send, From, To, Text, undefined}) vs the Thrift client
//   friendsPresence/s  chat.friendsPresence(user) of a user with 200 friends
//                      (half of them online) vs node.call(chat_channel,
//                      {friends_presence, User}) vs the Thrift client
//
//   npm run bench:chat                 (builds, then runs this file)
//   node bench/chat.mjs [--quick]      (uses the last build in dist/)
//
// Each round gives every flow BENCH_SECONDS (default 3) with BENCH_CALLERS
// concurrent callers (default 32), in slices of BENCH_SLICE_MS (default
// 250) that alternate between raw, ChatCluster and Thrift (each slice
// drains before the next starts), so that a machine shared with other work
// slows all three alike. Prints each round's rates and ratios (client / raw
// node.call), then the median ratio of each; the target is an overhead of at
// most 10% (ChatCluster / raw >= 0.90). BENCH_ROUNDS (default 5). Everything
// started here (epmd, the stub) is stopped by pid on exit; every flow is
// bounded in time.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { median } from './stats.mjs';

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { atom, tuple } = await import(new URL('../dist/etf/index.js', import.meta.url).href);
const { ChatCluster, ChatChannelCluster } = await import(new URL('../dist/chat/index.js', import.meta.url).href);

const quick = process.argv.includes('--quick');
const SECONDS = Number(process.env.BENCH_SECONDS ?? (quick ? 1 : 3));
const CALLERS = Number(process.env.BENCH_CALLERS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (quick ? 2 : 5));
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 250);
const COOKIE = `chatbench${process.pid}`;
const here = fileURLToPath(new URL('.', import.meta.url));

const { start, startEpmd } = await import(new URL('../scripts/procs.mjs', import.meta.url).href);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// ---------------------------------------------------------------- flows
/** Runs `op(callerIndex)` from CALLERS concurrent callers for `ms`, then drains; returns [ops, elapsed ms, cpu us of this process]. */
async function slice(op, ms) {
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, c) => {
      while (performance.now() < end) {
        await op(c);
        n++;
      }
    }),
  );
  const u = process.cpuUsage(u0);
  return [n, performance.now() - t0, u.user + u.system];
}

/** SECONDS for each of `ops`, in alternating slices; returns [ops/s, cpu us per op] of each. */
async function interleaved(ops) {
  const n = ops.map(() => 0);
  const ms = ops.map(() => 0);
  const cpu = ops.map(() => 0);
  for (let left = SECONDS * 1000; left > 0; left -= SLICE_MS) {
    for (const [i, op] of ops.entries()) {
      const [k, t, c] = await slice(op, Math.min(SLICE_MS, left));
      n[i] += k;
      ms[i] += t;
      cpu[i] += c;
    }
  }
  return n.map((k, i) => [k / (ms[i] / 1000), cpu[i] / k]);
}

const fmt = (x) => `${Math.round(x).toLocaleString('en-US')}/s`;

let epmd;
let stub;
let node;
let dist;
let thrift;
try {
  const e = await startEpmd();
  epmd = e.proc;
  const epmdPort = e.port;
  const stubName = `chatbench_${process.pid}@127.0.0.1`;
  stub = start(join(here, '..', 'erlang-stub', 'bin', 'chat-stub'), [
    '--name', stubName, '--cookie', COOKIE, '--epmd-port', String(epmdPort), '--thrift-port', '0',
    '--users', '10000', '--friends', '200', '--grace-ms', '0', '--log-level', 'error',
  ]);
  const ready = JSON.parse(await stub.line(/^\{.*"node"/, 120_000));
  node = await Node.start({ name: `chatbench_js_${process.pid}@127.0.0.1`, cookie: COOKIE, epmd: { port: epmdPort } });
  dist = await ChatCluster.connect({ node, seeds: [stubName] });
  thrift = await ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: ready.thrift_port }], poolSize: 4 });

  // Senders and recipients (one pair per caller), and a user with 200 friends, half of them online.
  const senders = Array.from({ length: CALLERS }, (_, i) => 5000 + i);
  const recipients = senders.map((s) => s + 1000);
  for (const u of [...senders, ...recipients]) await dist.login(u);
  const fpUser = 42;
  const friends = await dist.friends(fpUser);
  for (const f of friends.filter((_, i) => i % 2 === 0)) await dist.login(f);
  const listed = (await dist.friendsPresence(fpUser)).length;

  const server = { name: 'chat_channel', node: stubName };
  const SEND = atom('send');
  const FP = atom('friends_presence');
  const UNDEFINED = atom('undefined');
  const OK = atom('ok');
  const check = (r) => {
    if (r.at?.(0) !== OK) throw new Error(`unexpected reply ${String(r)}`);
  };
  const text = 'benchmark message, about the size of a chat line';
  const flows = {
    'send raw': (c) => node.call(server, tuple(SEND, senders[c], recipients[c], text, UNDEFINED), { timeoutMs: 10_000 }).then(check),
    'send ChatCluster': (c) => dist.send(senders[c], recipients[c], text, { timeoutMs: 10_000 }),
    'send Thrift': (c) => thrift.send(senders[c], recipients[c], text, { timeoutMs: 10_000 }),
    'friendsPresence raw': () => node.call(server, tuple(FP, fpUser), { timeoutMs: 10_000 }).then(check),
    'friendsPresence ChatCluster': () => dist.friendsPresence(fpUser, { timeoutMs: 10_000 }),
    'friendsPresence Thrift': () => thrift.friendsPresence(fpUser, { timeoutMs: 10_000 }),
  };
  const names = Object.keys(flows);

  console.log(`chat bench: stub ${stubName} (OTP ${ready.otp_release}), ${CALLERS} concurrent callers, ${SECONDS} s per flow per round in ${SLICE_MS} ms slices, ${ROUNDS} rounds`);
  console.log(`friendsPresence of user ${fpUser}: ${friends.length} friends, ${listed} online; load average ${loadavg()[0].toFixed(2)}`);
  if (loadavg()[0] > 2.5) console.log('warning: the machine is busy (load average > 2.5); ratios are noisy');
  // Warm-up: every flow briefly.
  for (const k of names) await slice(flows[k], 300);

  const ratios = { 'send ChatCluster': [], 'send Thrift': [], 'friendsPresence ChatCluster': [], 'friendsPresence Thrift': [] };
  const cpuRatios = { 'send ChatCluster': [], 'send Thrift': [], 'friendsPresence ChatCluster': [], 'friendsPresence Thrift': [] };
  for (let r = 0; r < ROUNDS; r++) {
    const rate = {};
    const cpuPerOp = {};
    const line = [];
    for (const what of ['send', 'friendsPresence']) {
      // Rotate who goes first in each slice from round to round.
      const order = ['raw', 'ChatCluster', 'Thrift'].map((_, i, a) => a[(i + r) % a.length]);
      const got = await interleaved(order.map((via) => flows[`${what} ${via}`]));
      order.forEach((via, i) => {
        rate[`${what} ${via}`] = got[i][0];
        cpuPerOp[`${what} ${via}`] = got[i][1];
      });
      const raw = rate[`${what} raw`];
      const parts = [`${what}: raw ${fmt(raw)} ${cpuPerOp[`${what} raw`].toFixed(0)} us cpu/op`];
      for (const via of ['ChatCluster', 'Thrift']) {
        const k = `${what} ${via}`;
        ratios[k].push(rate[k] / raw);
        cpuRatios[k].push(cpuPerOp[`${what} raw`] / cpuPerOp[k]);
        parts.push(`${via} ${fmt(rate[k])} ${cpuPerOp[k].toFixed(0)} us (${(rate[k] / raw).toFixed(3)}x)`);
      }
      line.push(parts.join(', '));
    }
    console.log(`round ${r + 1}: ${line.join(' | ')}`);
  }

  console.log('\nmedian ratios (client / raw node.call, same stub, same run):');
  let pass = true;
  for (const [k, xs] of Object.entries(ratios)) {
    const m = median(xs);
    const target = k.endsWith('ChatCluster');
    if (target && m < 0.9) pass = false;
    console.log(`  ${k.padEnd(28)} ${m.toFixed(3)}x  (rounds: ${xs.map((x) => x.toFixed(3)).join(', ')})${target ? `  target >= 0.90: ${m >= 0.9 ? 'PASS' : 'FAIL'}` : ''}`);
  }
  console.log('\nmedian ratios of this process\'s CPU per operation (raw / client; 1.0 = no overhead), steadier than rates on a busy machine:');
  for (const [k, xs] of Object.entries(cpuRatios)) console.log(`  ${k.padEnd(28)} ${median(xs).toFixed(3)}x  (rounds: ${xs.map((x) => x.toFixed(3)).join(', ')})`);
  console.log(pass ? '\nchat bench: PASS (ChatCluster overhead at most 10%)' : '\nchat bench: FAIL (ChatCluster overhead above 10%)');
} finally {
  await thrift?.close();
  await dist?.close();
  await node?.stop();
  await stub?.stop();
  await epmd?.stop();
}
