// `beambridge tap` between two real erl nodes: the other node finds NODE
// through the tap's EPMD, its connection passes through the relay, and the
// tap prints the handshake and every control message with its payload.
import t from 'tap';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { startCli } from './cli.js';

const COOKIE = 'tapcookie';
const B = 'tapb@127.0.0.1';

// test/erl/bb_cli.erl. Node B: a registered process that answers {hello, From, N} with {reply, N + 1}.
const B_EVAL = 'bb_cli:tap_b()';
const MODULES = [erlModule('bb_cli')];

// Node A: a REG_SEND to B's process and its SEND back, an rpc, a gen_server call to rex,
// and a 300 KB binary (fragmented on the wire).
const A_EVAL = `bb_cli:tap_a('${B}')`;

t.test('tap decodes a link between two erl nodes', async (t) => {
  const epmdPort = await startEpmd(t);
  await startErlNode(t, { name: B, cookie: COOKIE, epmdPort, eval: B_EVAL, modules: MODULES });
  const tap = await startCli(t, ['tap', B, '--cookie', COOKIE, '--node-epmd-port', String(epmdPort)], { ready: /start the other node with ERL_EPMD_PORT=\d+/ });
  const tapEpmd = Number(/ERL_EPMD_PORT=(\d+)/.exec(tap.lines.join('\n'))![1]);
  const a = await startErlNode(t, { name: 'tapa@127.0.0.1', cookie: COOKIE, epmdPort: tapEpmd, eval: A_EVAL, modules: MODULES });
  t.match(a.lines.join('\n'), /A_DONE 43 \[3,2,1\] "tapped"/, 'A talked to B through the tap');

  await tap.waitForLine(/ALIAS_SEND/);
  const out = tap.lines.join('\n');
  t.match(out, /#1 127\.0\.0\.1:\d+ -> tapb@127\.0\.0\.1 at 127\.0\.0\.1:\d+/, 'the relayed connection');
  t.match(out, /tapa@127\.0\.0\.1 -> tapb@127\.0\.0\.1 {2}send_name version=6 flags=0x[0-9a-f]+ creation=\d+ name=tapa@127\.0\.0\.1/);
  t.match(out, /tapb@127\.0\.0\.1 -> tapa@127\.0\.0\.1 {2}status ok/);
  t.match(out, /challenge version=6 .* name=tapb@127\.0\.0\.1/);
  t.match(out, /challenge_reply challenge=\d+ digest=[0-9a-f]{32} digest matches the cookie/);
  t.match(out, /challenge_ack digest=[0-9a-f]{32} digest matches the cookie/);
  t.match(out, /connected tapa@127\.0\.0\.1 <-> tapb@127\.0\.0\.1; optional flags: .*FRAGMENTS/);
  t.match(out, /tapa@127\.0\.0\.1 -> tapb@127\.0\.0\.1 {2}REG_SEND \{6, <'tapa@127\.0\.0\.1'\.\d+\.\d+>, '', tapreg\} {2}payload \{hello, <'tapa@127\.0\.0\.1'\.\d+\.\d+>, 42\}/, 'REG_SEND with its payload');
  t.match(out, /tapb@127\.0\.0\.1 -> tapa@127\.0\.0\.1 {2}SEND_SENDER \{22, <'tapb@127\.0\.0\.1'\.\d+\.\d+>, <'tapa@127\.0\.0\.1'\.\d+\.\d+>\} {2}payload \{reply, 43\}/, 'SEND (SEND_SENDER between OTP nodes) with its payload');
  t.match(out, /SPAWN_REQUEST \{29, .*\{erpc, execute_call, 4\}.* payload \[#Ref<.*>, lists, reverse, \[\[1, 2, 3\]\]\]/, 'the rpc');
  t.match(out, /PAYLOAD_MONITOR_P_EXIT .* payload \{#Ref<.*>, return, \[3, 2, 1\]\}/, 'and its result');
  t.match(out, /REG_SEND \{6, .*, '', rex\} {2}payload \{'\$gen_call', .*\{call, erlang, atom_to_list, \[tapped\], .*\}\}/, 'a gen_server call to rex');
  t.match(out, /ALIAS_SEND \{33, .*\} {2}payload \{\[alias\|#Ref<.*>\], "tapped"\}|ALIAS_SEND \{33, .*\} {2}payload \{\[alias\|#Ref<.*>\], \[116, 97, 112, 112, 101, 100\]\}/, 'and its reply to the alias');
  t.match(out, /payload \{big, '#Bin<300000 bytes>'\} \[\d+ fragments, \d+ bytes\]/, 'a fragmented message, reassembled');
  t.match(out, /\[\d+ atom cache refs, \d+ bytes\]/, 'atom cache refs resolved');
  t.notMatch(out, /cannot decode/, 'no direction stopped decoding');

  await a.stop();
  await tap.waitForLine(/#1 closed by /);
  await tap.stop();
  t.match(tap.lines.join('\n'), /tap stopped: 1 connection, \d+ messages/, 'Ctrl-C (SIGTERM) stops it cleanly');
  t.equal(tap.child.exitCode, 0, 'exit 0');
});

t.test('tap --json: one object per event', async (t) => {
  const epmdPort = await startEpmd(t);
  await startErlNode(t, { name: 'tapjb@127.0.0.1', cookie: COOKIE, epmdPort, eval: B_EVAL, modules: MODULES });
  const tap = await startCli(t, ['tap', 'tapjb', '--json', '--node-epmd-port', String(epmdPort)], { ready: /"event":"listening"/ });
  const tapEpmd = (JSON.parse(tap.lines[0]) as { epmdPort: number }).epmdPort;
  const a = await startErlNode(t, {
    name: 'tapja@127.0.0.1',
    cookie: COOKIE,
    epmdPort: tapEpmd,
    eval: "P = self(), {tapreg, 'tapjb@127.0.0.1'} ! {hello, P, 1.0e3}, receive {reply, _} -> ok end",
  });
  await tap.waitForLine(/"opName":"SEND_SENDER".*\{"\$atom":"reply"\}/);
  const events = tap.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(events.every((e) => typeof e.time === 'string' && typeof e.event === 'string'), 'every line is an event object');
  t.same(events.filter((e) => e.event === 'handshake').map((e) => e.step), ['send_name', 'status', 'challenge', 'challenge_reply', 'challenge_ack']);
  const reg = events.find((e) => e.opName === 'REG_SEND' && JSON.stringify(e.control).includes('tapreg'));
  t.match(reg, { from: 'tapja@127.0.0.1', to: 'tapjb@127.0.0.1', op: 6, frame: { kind: 'header' } });
  t.same((reg!.payload as { $tuple: unknown[] }).$tuple[2], { $float: 1000 }, 'the payload in lossless JSON: 1.0e3 stays a float');
  t.same((reg!.payload as { $tuple: unknown[] }).$tuple[0], { $atom: 'hello' });
  const reply = events.find((e) => e.opName === 'SEND_SENDER' && JSON.stringify(e.payload).includes('{"$atom":"reply"}'));
  t.same(reply!.payload, { $tuple: [{ $atom: 'reply' }, { $float: 1001 }] }, '1001.0 stays a float');
  await a.stop();
});
