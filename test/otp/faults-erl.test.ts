// Issue 15, against real erl, with OTP doing the same in the same run:
// - fail fast: with a peer dead (and the queued-send backoff grown), call,
//   rpc, monitor and ping fail within milliseconds with ERR_NODEDOWN /
//   noconnection / pang, as OTP's do;
// - recover at once: after an outage, a sender's messages reach the
//   restarted peer within 100 ms of it registering again (the default
//   backoff, with retries enough for the outage), as OTP's do;
// - `maxRetries: 0` drops the messages sent during the outage at once (none
//   is delivered later), as OTP drops them.
// Figures are printed with t.comment; only generous bounds are asserted (the
// machine is shared). BEAMBRIDGE_FULL_FAULTS=1 runs the full sizes
// (10 s and 8 s outages); the default is scaled down (3 s).
import t from 'tap';
import { Node, type CallError, type RpcError } from '../../src/otp/index.js';
import { Tuple, atom, formatTerm, tuple, type Term } from '../../src/etf/index.js';
import { isDown } from '../../src/node/index.js';
import { compileErl, erlCommand, otpRoot, startEpmd, startErlNode, startProcess, type Started, type Teardownable } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { isTuple } from '../node/peer.js';
import { until } from '../helpers/until.js';

const FULL = process.env.BEAMBRIDGE_FULL_FAULTS === '1';
const DEAD_MS = FULL ? 10_000 : 3000;
const OUTAGE_MS = FULL ? 8000 : 3000;
const ROUNDS = 4;
const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const root = otpRoot();

/** Starts the sink peer (see bb_faults:sink_boot/1); resolves with it and the time it was registered. */
async function startSink(t: Teardownable, name: string, epmdPort: number, pa: string): Promise<{ erl: Started; readyAt: number }> {
  const { cmd, args } = erlCommand(['-noshell', '-start_epmd', 'false', '-setcookie', 'cookie', '-pa', pa, '-eval', `bb_faults:sink_boot('${name}')`], root);
  const erl = await startProcess({ cmd, args, env: { ERL_EPMD_PORT: String(epmdPort) }, ready: /^SINK_READY /, t });
  const line = erl.lines.find((l) => l.startsWith('SINK_READY '))!;
  return { erl, readyAt: Number(line.split(' ')[2]) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const fmt = (xs: number[]) => `${xs.map((x) => x.toFixed(1)).join(', ')} ms (median ${median(xs).toFixed(1)})`;

t.test(`faults against erl (${root || 'system OTP'})`, async (t) => {
  const epmdPort = await startEpmd(t);
  const pa = await compileErl([erlModule('bb_faults')], root);
  const peerName = `fsink${uniq}@127.0.0.1`;
  const otpName = `fotp${uniq}@127.0.0.1`;
  await startErlNode(t, { name: otpName, cookie: 'cookie', epmdPort, root, args: ['-pa', pa] });
  // The default backoff (200 ms doubling to 5 s, jitter 0.5), with more than its 5 retries:
  // those last 3.1-6.2 s, and the outage below is 3 s plus a restart that takes seconds
  // on a loaded machine, after which the default drops the waiting messages (as it should).
  const node = await Node.start({ name: `fjs${uniq}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, reconnect: { maxRetries: 50 } });
  t.teardown(() => node.stop());
  const sink = { name: 'sink', node: peerName };

  t.test('fail fast while a peer is known down', async (t) => {
    const { erl } = await startSink(t, peerName, epmdPort, pa);
    const p = node.spawn();
    t.equal(await node.ping(peerName), true, 'connected');
    t.equal(await node.rpc(otpName, 'net_adm', 'ping', [atom(peerName)]), atom('pong'), 'erl is connected too');
    const down = new Promise((r) => node.once('nodedown', r));
    process.kill(erl.pid, 'SIGKILL');
    await down;
    await erl.stop();
    // The peer stays dead; a sender keeps messages queued, so the reconnect backoff grows to its cap.
    const t0 = Date.now();
    for (let i = 0; Date.now() - t0 < DEAD_MS; i++) {
      p.send(sink, tuple(atom('js'), i, Date.now()));
      await sleep(100);
    }
    t.ok(node.queued(peerName) > 0, `messages wait for a retry (${node.queued(peerName)} queued)`);

    const ms = { call: [] as number[], rpc: [] as number[], monitor: [] as number[], ping: [] as number[] };
    const codes = { call: new Set<string>(), rpc: new Set<string>(), monitor: new Set<string>(), ping: new Set<string>() };
    for (let r = 0; r < ROUNDS; r++) {
      await sleep(100);
      let s = performance.now();
      const ce = (await node.call(sink, atom('x'), { timeoutMs: 1000 }).catch((e: CallError) => e)) as CallError;
      ms.call.push(performance.now() - s);
      codes.call.add(ce.code);
      await sleep(100);
      s = performance.now();
      const re = (await node.rpc(peerName, 'erlang', 'node', [], { timeoutMs: 5000 }).catch((e: RpcError) => e)) as RpcError;
      ms.rpc.push(performance.now() - s);
      codes.rpc.add(re.code);
      await sleep(100);
      s = performance.now();
      const ref = p.monitor(sink);
      const d = (await p.receive({ timeoutMs: 10_000, match: (m) => isDown(m, ref) })) as Tuple;
      ms.monitor.push(performance.now() - s);
      codes.monitor.add(formatTerm(d.at(4)));
      await sleep(100);
      s = performance.now();
      const pong = await node.ping(peerName, { timeoutMs: 5000 });
      ms.ping.push(performance.now() - s);
      codes.ping.add(pong ? 'pong' : 'pang');
    }
    const theirs = (await node.rpc(otpName, 'bb_faults', 'failfast', [atom(peerName), ROUNDS], { timeoutMs: 120_000 })) as Term[];
    const otpMs: Record<string, number[]> = {};
    const otpResults: Record<string, string> = {};
    for (const op of theirs as Tuple[]) {
      const name = (op.at(0) as { name: string }).name;
      otpMs[name] = (op.at(1) as Tuple[]).map((x) => Number(x.at(0)) / 1000);
      otpResults[name] = formatTerm((op.at(1) as Tuple[])[0].at(1)).slice(0, 60);
    }
    t.comment(`peer dead for ${DEAD_MS / 1000} s, ${ROUNDS} rounds 100 ms apart (the issue's before: rpc 4.6 s, monitor DOWN 4.5 s, ping 0.7 s, 3 of 4 calls ERR_TIMEOUT):`);
    for (const op of ['call', 'rpc', 'monitor', 'ping'] as const) {
      t.comment(`  ${op.padEnd(7)} beambridge ${fmt(ms[op])} [${[...codes[op]].join(' ')}]`);
      t.comment(`  ${op.padEnd(7)} OTP        ${fmt(otpMs[op])} [${otpResults[op]}]`);
    }
    t.same([...codes.call], ['ERR_NODEDOWN'], 'every call fails with ERR_NODEDOWN (not ERR_TIMEOUT)');
    t.same([...codes.rpc], ['ERR_NODEDOWN'], 'every rpc fails with ERR_NODEDOWN');
    t.same([...codes.monitor], ['noconnection'], 'every monitor fires DOWN noconnection');
    t.same([...codes.ping], ['pang'], 'every ping is pang');
    // "A few milliseconds" (the figures above); the bound only rules out waiting: it is the
    // call's own 1 s timeout, far below the backoff's 5 s, as a loaded machine stretches fast failures.
    for (const op of ['call', 'rpc', 'monitor', 'ping'] as const) t.ok(median(ms[op]) < 1000, `${op} fails fast (median ${median(ms[op]).toFixed(1)} ms)`);
    node.disconnect(peerName);
  });

  t.test('recover at once after an outage; maxRetries: 0 drops at once', async (t) => {
    // A second Node with OTP's drop-at-once policy, sending the same flow.
    const dropper = await Node.start({ name: `fjd${uniq}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, reconnect: { maxRetries: 0 } });
    t.teardown(() => dropper.stop());
    let { erl } = await startSink(t, peerName, epmdPort, pa);
    const senders = [node.spawn(), dropper.spawn()];
    const tags = ['js', 'js0'];
    // A ping can join a reconnect dial that started before the new sink registered
    // with epmd, and then fail with it (as net_adm:ping joins a pending setup):
    // the sink is reachable once a ping succeeds.
    t.ok(await until(() => node.ping(peerName), 10_000, 100), 'node reaches the new sink');
    t.ok(await until(() => dropper.ping(peerName), 10_000, 100), 'the dropper reaches the new sink');
    let running = true;
    const loops = senders.map(async (p, k) => {
      for (let i = 1; running; i++) {
        p.send(sink, tuple(atom(tags[k]), i, Date.now()));
        await sleep(10);
      }
    });
    const otpSender = await node.rpc(otpName, 'bb_faults', 'start_sender', [atom(peerName), atom('otp'), 10]);
    await sleep(500);
    const killedAt = Date.now();
    process.kill(erl.pid, 'SIGKILL');
    await erl.stop();
    await sleep(OUTAGE_MS);
    const restartedAt = Date.now();
    const back = await startSink(t, peerName, epmdPort, pa);
    erl = back.erl;
    const readyAt = back.readyAt;
    await sleep(1500);
    running = false;
    await Promise.all(loops);
    await node.rpc(otpName, 'erlang', 'send', [otpSender, atom('stop')]);
    await sleep(200);
    const me = node.spawn();
    me.send(sink, tuple(atom('get'), me.pid));
    const got = ((await me.receive({ timeoutMs: 30_000, match: (m) => isTuple(m, 'sink', 2) })) as Tuple).at(1) as Tuple[];
    const rows = got.map((r) => ({ tag: (r.at(0) as { name: string }).name, seq: Number(r.at(1)), sent: Number(r.at(2)), arrived: Number(r.at(3)) }));
    const first = (tag: string) => rows.filter((r) => r.tag === tag).reduce((m, r) => Math.min(m, r.arrived), Infinity) - readyAt;
    const fromOutage = (tag: string) => rows.filter((r) => r.tag === tag && r.sent > killedAt + 100 && r.sent < restartedAt).length;
    t.comment(`outage ${OUTAGE_MS / 1000} s; first delivery after the restarted peer registered (the issue's before: 2950 ms, 1480 ms with maxRetries 0; OTP about 5 ms):`);
    t.comment(`  beambridge (retrying) ${first('js')} ms, beambridge (maxRetries: 0) ${first('js0')} ms, OTP ${first('otp')} ms`);
    t.comment(`messages sent during the outage that were delivered later (the issue's before with maxRetries 0: 92 of 208 in a 2 s outage):`);
    t.comment(`  beambridge (maxRetries: 0) ${fromOutage('js0')}, OTP ${fromOutage('otp')}, beambridge (retrying: they wait in order) ${fromOutage('js')}`);
    t.ok(first('js') < 1000 && first('js0') < 1000, 'delivery resumes right after the peer is back (100 ms expected; generous bound)');
    t.equal(fromOutage('js0'), 0, 'maxRetries: 0 dropped every message sent during the outage');
    t.ok(fromOutage('js') > 0, 'the retrying policy kept them and delivered them');
    t.ok(await until(() => dropper.health.droppedMessages > 0, 1000), `the dropper counted ${dropper.health.droppedMessages} dropped messages`);
    await erl.stop();
  });
});
