#!/usr/bin/env node
// `npm run demo`: beambridge as a member of an Erlang cluster, end to end.
//
// 1. Installs what is missing (npm ci when node_modules is absent, Erlang via
//    scripts/ensure-erlang.sh) and builds.
// 2. Starts epmd on a free port, two Erlang chat stub nodes forming one cluster
//    (erlang-stub/bin/chat-stub) and a beambridge node.
// 3. With the chat client (beambridge/chat's ChatCluster, over Erlang
//    distribution: calls routed by slot to the owning stub node, events
//    pushed to a subscription): logs two users in, holds a long-poll,
//    exchanges chat messages, shows typing, queries presence and history,
//    shows typed errors, logs out.
// 4. Stops everything it started, by pid, and exits 0 (1 on any failure).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `npm run demo -- --web`: the chat page in a browser instead (scripts/demo-web.mjs).
if (process.argv.includes('--web')) {
  await import('./demo-web.mjs');
  await new Promise(() => {}); // runs until Ctrl-C
}

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
const { ChatCluster, PollStatus, PresenceState } = await import(new URL('../dist/chat/index.js', import.meta.url).href);

// --------------------------------------------------------- 2. processes
const { start: startIn, startEpmd } = await import(new URL('./procs.mjs', import.meta.url).href);
const start = (cmd, args) => startIn(cmd, args, { cwd: root });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));

// ------------------------------------------------------------ helpers
const STATUS = Object.fromEntries(Object.entries(PollStatus).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k]));
const STATE = Object.fromEntries(Object.entries(PresenceState).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k]));

let epmd;
const stubs = [];
let node;
let chat;
let failed = false;
try {
  step('starting epmd, two Erlang chat stub nodes and a beambridge node');
  const e = await startEpmd();
  epmd = e.proc;
  const epmdPort = e.port;
  say(`epmd on port ${epmdPort} (pid ${epmd.pid})`);
  const cookie = `demo_${process.pid}`;
  const names = [1, 2].map((i) => `chatstub${i}_${process.pid}@127.0.0.1`);
  const slots = ['0-511', '512-1023'];
  for (const [i, name] of names.entries()) {
    stubs.push(start(join(root, 'erlang-stub', 'bin', 'chat-stub'), [
      '--name', name, '--cookie', cookie, '--epmd-port', String(epmdPort), '--thrift-port', '0',
      '--slots', slots[i], '--cluster', names.filter((n) => n !== name).join(','),
      '--users', '1000', '--friends', '6', '--log-level', 'error',
    ]));
  }
  for (const s of stubs) {
    const ready = JSON.parse(await s.line(/^\{.*"node"/, 120_000));
    say(`chat stub ${ready.node} is up (OTP ${ready.otp_release}, pid ${s.pid}, slots ${ready.slots.map((r) => r.join('-')).join(',')})`);
  }

  node = await Node.start({ name: `web_${process.pid}@127.0.0.1`, cookie, epmd: { port: epmdPort } });
  node.on('nodedown', (peer, reason) => say(`  [nodedown] ${peer} (${reason.code})`));
  say(`beambridge node ${node.name} (hidden, creation ${node.creation})`);

  step('the chat client: ChatCluster over Erlang distribution');
  chat = await ChatCluster.connect({ node, seeds: [names[0]] });
  for (const r of chat.partitions) say(`  slots ${r.first}-${r.last} -> ${r.node}`);

  step('two users log in (each call goes to the node that owns the user)');
  const alice = 1n;
  const friends = await chat.friends(alice);
  const bob = friends.find((f) => chat.ownerOf(f) !== chat.ownerOf(alice)) ?? friends[0];
  const names2 = new Map([[alice, 'alice'], [bob, 'bob']]);
  const who = (id) => `${names2.get(id) ?? 'user'} (${id})`;
  say(`alice is user ${alice}; her friends: ${friends.join(', ')}`);
  say(`bob is user ${bob}; alice lives on ${chat.ownerOf(alice)}, bob on ${chat.ownerOf(bob)}`);
  for (const u of [alice, bob]) say(`login ${who(u)} -> seq ${await chat.login(u)}`);

  // Bob's events, pushed by his channel server to one process of this client.
  const sub = await chat.subscribe(bob);
  const pushed = [];
  const watching = (async () => {
    for await (const ev of sub) {
      if (ev.type === 'chat') {
        const e = ev.event;
        pushed.push(`  [pushed] ${who(ev.userId)} seq ${e.seq}: ${e.message ? `message "${e.message.text}"` : `typing active=${e.typing.active}`}`);
      } else if (ev.type === 'presence') pushed.push(`  [pushed] ${who(ev.userId)} is now ${STATE[ev.state]}`);
      else pushed.push(`  [pushed] ${who(ev.userId)}: channel reset (${ev.reason}), seq ${ev.seq}`);
    }
  })();
  const flushPushed = async () => {
    await new Promise((r) => setTimeout(r, 100));
    for (const l of pushed.splice(0)) say(l);
  };
  say(`subscribed to bob's events`);

  step('bob long-polls; alice types, then sends');
  const describe = (res) => {
    say(`bob's poll returned: status ${STATUS[res.status]}, seq ${res.seq}`);
    for (const e of res.events) {
      say(`  seq ${e.seq}: ${e.message ? `message "${e.message.text}" from ${who(e.message.fromId)}` : `typing from ${who(e.typing.fromId)}`}`);
    }
    return res.seq;
  };
  let seq = (await chat.poll(bob, 0, { timeoutMs: 0 })).seq;
  let held = chat.poll(bob, seq, { timeoutMs: 10_000 });
  say(`bob's poll after seq ${seq} is held by his channel...`);
  await new Promise((r) => setTimeout(r, 200));
  await chat.typing(alice, bob, true);
  say('alice is typing to bob');
  seq = describe(await held);
  held = chat.poll(bob, seq, { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 200));
  const sent = await chat.send(alice, bob, 'Hi Bob! Sent from Node.js over Erlang distribution.', { clientMsgId: 'demo-1' });
  say(`alice -> bob: "${sent.text}" (message id ${sent.id})`);
  describe(await held);
  await flushPushed();

  step('bob answers; a repeated client message id is not sent twice');
  const reply = await chat.send(bob, alice, 'Hello Alice 👋 (ünïcödé survives)', { clientMsgId: 'demo-2' });
  say(`bob -> alice: "${reply.text}" (message id ${reply.id})`);
  const again = await chat.send(bob, alice, 'Hello Alice 👋 (ünïcödé survives)', { clientMsgId: 'demo-2' });
  say(`the same send again returns message id ${again.id} (deduplicated: ${again.id === reply.id})`);
  await flushPushed();

  step('presence');
  const fp = await chat.friendsPresence(alice);
  say(`alice's friends online or idle: ${fp.map((p) => `${who(p.userId)} ${STATE[p.state]}`).join(', ') || 'none'}`);
  const all = await chat.presence(friends);
  say(`every friend of alice: ${[...all].map(([k, v]) => `${k}=${STATE[v]}`).join(', ')}`);

  step('history (kept on both users\' nodes)');
  for (const m of await chat.history(alice, bob, 10)) say(`  ${who(m.fromId)} -> ${who(m.toId)}: "${m.text}"`);

  step('errors are typed');
  const notOnline = await chat.send(alice, 99n, 'anyone?').catch((e) => e);
  say(`sending to user 99, who is offline: ${notOnline.name} ${notOnline.code} (userId ${notOnline.userId})`);
  const tooLong = await chat.send(alice, bob, 'x'.repeat(70_000)).catch((e) => e);
  say(`a 70 kB message: ${tooLong.code} (${tooLong.reason})`);

  step('bob logs out');
  await chat.logout(bob);
  say(`bob is now ${STATE[(await chat.presence([bob])).get(bob)]}`);
  await flushPushed();
  await sub.close();
  await watching;
} catch (e) {
  failed = true;
  console.error(`\ndemo failed: ${e?.stack ?? e}`);
} finally {
  step('stopping everything this demo started');
  if (chat) await chat.close();
  if (node) await node.stop().then(() => say(`beambridge node stopped`));
  for (const s of stubs) await s.stop().then(() => say(`chat stub stopped (pid ${s.pid})`));
  if (epmd) await epmd.stop().then(() => say(`epmd stopped (pid ${epmd.pid})`));
}
say(failed ? '\ndemo: FAILED' : '\ndemo: done');
process.exit(failed ? 1 : 0);
