#!/usr/bin/env node
// `npm run demo`: beambridge as a member of an Erlang cluster, end to end.
//
// 1. Installs what is missing (npm ci when node_modules is absent, Erlang via
//    scripts/ensure-erlang.sh) and builds.
// 2. Starts epmd on a free port, the Erlang chat stub (erlang-stub/bin/chat-stub)
//    and a beambridge node.
// 3. Over Erlang distribution only (gen_server calls to the stub's
//    `chat_channel`, and messages the stub pushes into a Node mailbox): logs
//    two users in, holds a long-poll, exchanges chat messages, shows typing,
//    queries presence and history, logs out.
// 4. Stops everything it started, by pid, and exits 0 (1 on any failure).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (s = '') => process.stdout.write(`${s}\n`);
const step = (s) => say(`\n== ${s}`);

// ------------------------------------------------------------ 1. install
function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`demo: ${what} failed (${cmd} ${args.join(' ')})`);
    process.exit(1);
  }
}
step('setup');
if (!existsSync(join(root, 'node_modules'))) {
  say('node_modules is missing: npm ci');
  run('npm', ['ci', '--no-audit', '--no-fund'], 'installing the npm dependencies');
}
run('bash', [join(root, 'scripts', 'ensure-erlang.sh')], 'installing Erlang');
say('building (tsc)');
run('npm', ['run', '--silent', 'build'], 'the build');

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { atom, tuple, Tuple, formatTerm } = await import(new URL('../dist/etf/index.js', import.meta.url).href);

// --------------------------------------------------------- 2. processes
const children = new Set();
function killAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));

function start(cmd, args, env = {}) {
  const c = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  let out = '';
  let err = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  c.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((resolve) => c.once('exit', () => (children.delete(c), resolve())));
  return {
    pid: c.pid,
    async line(re, ms) {
      const end = Date.now() + ms;
      for (;;) {
        const m = out.split('\n').find((l) => re.test(l));
        if (m !== undefined) return m;
        if (c.exitCode !== null) throw new Error(`${cmd} exited: ${err.trim()}`);
        if (Date.now() > end) throw new Error(`${cmd} not ready after ${ms} ms: ${err.trim()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (c.exitCode !== null || c.signalCode !== null) return;
      process.kill(c.pid, 'SIGTERM');
      const t = setTimeout(() => c.exitCode === null && process.kill(c.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function waitPort(port, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`epmd did not open port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ------------------------------------------------------------ helpers
const A = (s) => atom(s);
const get = (m, k) => m.get(A(k));
const ok = (reply, what) => {
  if (reply === A('ok')) return undefined;
  if (reply instanceof Tuple && reply.at(0) === A('ok')) return reply.at(1);
  throw new Error(`${what}: ${formatTerm(reply)}`);
};
const text = (b) => (Buffer.isBuffer(b) ? b.toString('utf8') : String(b));

let epmd;
let stub;
let node;
let failed = false;
try {
  step('starting epmd, the Erlang chat stub and a beambridge node');
  const epmdPort = await freePort();
  epmd = start('epmd', ['-port', String(epmdPort)]);
  await waitPort(epmdPort, 10_000);
  say(`epmd on port ${epmdPort} (pid ${epmd.pid})`);
  const cookie = `demo_${process.pid}`;
  const stubName = `chatstub_${process.pid}@127.0.0.1`;
  stub = start(join(root, 'erlang-stub', 'bin', 'chat-stub'), [
    '--name', stubName, '--cookie', cookie, '--epmd-port', String(epmdPort),
    '--thrift-port', '0', '--users', '100', '--friends', '6', '--log-level', 'error',
  ]);
  const ready = JSON.parse(await stub.line(/^\{.*"node"/, 120_000));
  say(`chat stub ${ready.node} is up (OTP ${ready.otp_release}, pid ${stub.pid}, ${ready.users} users)`);

  node = await Node.start({ name: `web_${process.pid}@127.0.0.1`, cookie, epmd: { port: epmdPort } });
  node.on('nodeup', (peer) => say(`  [nodeup] ${peer}`));
  node.on('nodedown', (peer, reason) => say(`  [nodedown] ${peer} (${reason.code})`));
  say(`beambridge node ${node.name} (hidden, creation ${node.creation}, listening on ${node.port})`);
  say(`net_adm:ping from Node: ${(await node.ping(stubName)) ? 'pong' : 'pang'}`);
  const otp = await node.rpc(stubName, 'erlang', 'system_info', [A('otp_release')], { timeoutMs: 5000 });
  say(`rpc erlang:system_info(otp_release) -> ${formatTerm(otp, { strings: true })}`);

  const chat = { name: 'chat_channel', node: stubName };
  const call = (req, timeoutMs = 5000) => node.call(chat, req, { timeoutMs });

  step('two users log in');
  const alice = 1;
  const friends = ok(await call(tuple(A('friends'), alice)), 'friends');
  const bob = friends[0];
  const names = new Map([[alice, 'alice'], [bob, 'bob']]);
  const who = (id) => `${names.get(Number(id)) ?? 'user'} (${id})`;
  say(`alice is user ${alice}; her friends: ${friends.join(', ')}; bob is user ${bob}`);
  for (const u of [alice, bob]) say(`login ${who(u)} -> seq ${ok(await call(tuple(A('login'), u)), 'login')}`);

  // A Node process subscribes to both users' channels: the stub pushes events into its mailbox.
  const watcher = node.spawn({ name: 'demo_watcher' });
  for (const u of [alice, bob]) ok(await call(tuple(A('subscribe'), u, watcher.pid)), 'subscribe');
  say(`Node process ${watcher.pid} subscribed to both channels`);
  const pushed = [];
  const watching = (async () => {
    for await (const m of watcher) {
      if (!(m instanceof Tuple)) continue;
      const kind = m.at(0).name;
      if (kind === 'chat_event') {
        const ev = m.at(2);
        const type = get(ev, 'type').name;
        const line = type === 'message'
          ? `message "${text(get(get(ev, 'message'), 'text'))}"`
          : `typing active=${get(get(ev, 'typing'), 'active')}`;
        pushed.push(`  [pushed to Node] ${who(m.at(1))} channel seq ${get(ev, 'seq')}: ${line}`);
      } else if (kind === 'presence_event') {
        pushed.push(`  [pushed to Node] ${who(m.at(1))} is now ${m.at(2).name}`);
      }
    }
  })();
  const flushPushed = async () => {
    await new Promise((r) => setTimeout(r, 100));
    for (const l of pushed.splice(0)) say(l);
  };

  step('bob long-polls; alice types, then sends');
  const describeEvents = (res) => {
    say(`bob's poll returned: status ${get(res, 'status').name}, seq ${get(res, 'seq')}`);
    for (const ev of get(res, 'events')) {
      const type = get(ev, 'type').name;
      const m = get(ev, 'message');
      say(`  seq ${get(ev, 'seq')}: ${type === 'message' ? `message "${text(get(m, 'text'))}" from ${who(get(m, 'from'))}` : `typing from ${who(get(get(ev, 'typing'), 'from'))}`}`);
    }
    return get(res, 'seq');
  };
  let seq = get(ok(await call(tuple(A('poll'), bob, 0, 0)), 'poll'), 'seq');
  let held = call(tuple(A('poll'), bob, seq, 10_000), 15_000);
  say(`bob's poll after seq ${seq} is held by his channel...`);
  await new Promise((r) => setTimeout(r, 200));
  ok(await call(tuple(A('typing'), alice, bob, true)), 'typing');
  say('alice is typing to bob');
  seq = describeEvents(ok(await held, 'poll'));
  held = call(tuple(A('poll'), bob, seq, 10_000), 15_000);
  say(`bob polls again after seq ${seq}...`);
  await new Promise((r) => setTimeout(r, 200));
  const sent = ok(await call(tuple(A('send'), alice, bob, 'Hi Bob! Sent from Node.js over Erlang distribution.', 'demo-1')), 'send');
  say(`alice -> bob: "${text(get(sent, 'text'))}" (message id ${get(sent, 'id')})`);
  describeEvents(ok(await held, 'poll'));
  await flushPushed();

  step('bob answers; a repeated client message id is not sent twice');
  const reply = ok(await call(tuple(A('send'), bob, alice, 'Hello Alice 👋 (ünïcödé survives)', 'demo-2')), 'send');
  say(`bob -> alice: "${text(get(reply, 'text'))}" (message id ${get(reply, 'id')})`);
  const again = ok(await call(tuple(A('send'), bob, alice, 'Hello Alice 👋 (ünïcödé survives)', 'demo-2')), 'send');
  say(`the same send again returns message id ${get(again, 'id')} (deduplicated: ${get(again, 'id') === get(reply, 'id')})`);
  await flushPushed();

  step('presence');
  const fp = ok(await call(tuple(A('friends_presence'), alice)), 'friends_presence');
  say(`alice's friends online or idle: ${fp.map((p) => `${who(get(p, 'user_id'))} ${get(p, 'state').name}`).join(', ') || 'none'}`);
  const batch = ok(await call(tuple(A('presence'), [alice, bob, 99])), 'presence');
  say(`presence of 1, ${bob}, 99: ${[...batch].map(([k, v]) => `${k}=${v.name}`).join(', ')}`);

  step('history');
  for (const m of ok(await call(tuple(A('history'), alice, bob, 10)), 'history')) {
    say(`  ${who(get(m, 'from'))} -> ${who(get(m, 'to'))}: "${text(get(m, 'text'))}"`);
  }

  step('errors come back as terms');
  const notOnline = await call(tuple(A('send'), alice, 99, 'anyone?', A('undefined')));
  say(`sending to user 99, who is offline: ${formatTerm(notOnline)}`);
  const noproc = await node.call({ name: 'no_such_server', node: stubName }, A('hello')).catch((e) => e);
  say(`calling a server that does not exist: ${noproc.code}`);

  step('bob logs out');
  ok(await call(tuple(A('logout'), bob)), 'logout');
  const after = ok(await call(tuple(A('presence'), [bob])), 'presence');
  say(`bob is now ${after.get(bob).name}`);
  await flushPushed();
  for (const u of [alice, bob]) ok(await call(tuple(A('unsubscribe'), u, watcher.pid)), 'unsubscribe');
  watcher.exit();
  await watching;
  const stats = ok(await call(A('stats')), 'stats');
  say(`stub stats: ${get(stats, 'online')} online, ${get(stats, 'messages')} messages`);
} catch (e) {
  failed = true;
  console.error(`\ndemo failed: ${e?.stack ?? e}`);
} finally {
  step('stopping everything this demo started');
  if (node) await node.stop().then(() => say(`beambridge node stopped`));
  if (stub) await stub.stop().then(() => say(`chat stub stopped (pid ${stub.pid})`));
  if (epmd) await epmd.stop().then(() => say(`epmd stopped (pid ${epmd.pid})`));
}
say(failed ? '\ndemo: FAILED' : '\ndemo: done');
process.exit(failed ? 1 : 0);
