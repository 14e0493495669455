#!/usr/bin/env node
// `npm run demo -- --web`: the chat in a browser.
//
// Installs what is missing and builds (as `npm run demo` does), starts epmd
// on a free port, the Erlang chat stub, a beambridge node with ChatCluster
// over distribution, and the long-poll gateway with the chat page, then
// prints the URL. Sign in with any user id from 1 to the stub's user count
// (two browser windows, or a private window, make two users). Ctrl-C stops
// everything it started, by pid.
//
// Options: --port N (gateway port, default 8080, 0 = any), --host A
// (default 127.0.0.1), --users N (default 100), --idle-ms MS (default 60000).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, startEpmd } from './procs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (s = '') => process.stdout.write(`${s}\n`);
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
};

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.error(`demo: ${what} failed (${cmd} ${args.join(' ')})`);
    process.exit(1);
  }
}
if (!existsSync(join(root, 'node_modules'))) run('npm', ['ci', '--no-audit', '--no-fund'], 'installing the npm dependencies');
run('bash', [join(root, 'scripts', 'ensure-erlang.sh')], 'installing Erlang');
// The test of this demo has built already.
if (process.env.BEAMBRIDGE_DEMO_SKIP_BUILD !== '1') run('npm', ['run', '--silent', 'build'], 'the build');

const { Node } = await import(new URL('../dist/otp/index.js', import.meta.url).href);
const { ChatCluster, serveGateway, acceptKnownUsers } = await import(new URL('../dist/chat/index.js', import.meta.url).href);

let epmd;
let stub;
let node;
let chat;
let gateway;
let stopping;
async function stopAll(code) {
  stopping ??= (async () => {
    say('\nstopping everything this demo started');
    await gateway?.close().then(() => say('gateway closed'));
    await chat?.close();
    await node?.stop().then(() => say('beambridge node stopped'));
    await stub?.stop().then(() => say(`chat stub stopped (pid ${stub.pid})`));
    await epmd?.stop().then(() => say(`epmd stopped (pid ${epmd.pid})`));
    process.exit(code);
  })();
  return stopping;
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void stopAll(0));

try {
  const users = Number(arg('users', '100'));
  const { port: epmdPort, proc } = await startEpmd();
  epmd = proc;
  say(`epmd on port ${epmdPort} (pid ${epmd.pid})`);
  const cookie = `demo_${randomBytes(6).toString('hex')}`;
  const stubName = `chatstub_${process.pid}@127.0.0.1`;
  stub = start(join(root, 'erlang-stub', 'bin', 'chat-stub'), [
    '--name', stubName, '--cookie', cookie, '--epmd-port', String(epmdPort), '--thrift-port', '0',
    '--users', String(users), '--friends', '8', '--idle-ms', arg('idle-ms', '60000'), '--log-level', 'error',
  ]);
  const ready = JSON.parse(await stub.line(/^\{.*"node"/, 120_000));
  say(`chat stub ${ready.node} is up (OTP ${ready.otp_release}, pid ${stub.pid}, users 1..${ready.users})`);
  node = await Node.start({ name: `web_${process.pid}@127.0.0.1`, cookie, epmd: { port: epmdPort } });
  chat = await ChatCluster.connect({ node, seeds: [stubName] });
  gateway = await serveGateway({
    backend: chat,
    port: Number(arg('port', '8080')),
    host: arg('host', '127.0.0.1'),
    secret: randomBytes(32),
    authenticate: acceptKnownUsers(chat),
    presenceIntervalMs: 2000,
    metrics: true,
  });
  const friends = await chat.friends(1n);
  say(`\nThe chat is at ${gateway.url}`);
  say(`Sign in as user 1 in one window and as user ${friends[0]} (a friend of 1) in another (or a private window).`);
  say(`Metrics: ${gateway.url}metrics`);
  say('Ctrl-C stops everything.');
} catch (e) {
  console.error(`demo failed: ${e?.stack ?? e}`);
  await stopAll(1);
}
