// `beambridge ping | rpc | send | listen` against a real erl node.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atom, encode, Pid } from '../../src/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';
import { cli, cliIn, plainEnv, startCli } from './cli.js';

const COOKIE = 'nodecookie';
const PEER = 'clipeer@127.0.0.1';
// A process that prints what it gets, and one that answers {From, M} with {echo, M} (test/erl/bb_cli.erl).
const PEER_EVAL = 'bb_cli:peer()';

t.test('against a real erl node', async (t) => {
  const epmdPort = await startEpmd(t);
  const peer = await startErlNode(t, { name: PEER, cookie: COOKIE, epmdPort, eval: PEER_EVAL, modules: [erlModule('bb_cli')] });
  const env = plainEnv({ ERL_EPMD_PORT: String(epmdPort) });
  // A real process where the process is what is checked ($ERL_EPMD_PORT, ~/.erlang.cookie
  // through $HOME); every other command runs in this process (cliIn), with --epmd-port.
  const spawned = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => cli(args, { env: { ...env, ...extraEnv } });
  const run = (args: string[]) => cliIn([...args, '--epmd-port', String(epmdPort)], { env });

  t.test('ping: pong exits 0, pang exits 1', async (t) => {
    const pong = await spawned(['ping', PEER, '--cookie', COOKIE]);
    t.equal(pong.stdout, 'pong\n', 'the EPMD port from $ERL_EPMD_PORT');
    t.equal(pong.code, 0, pong.stderr);
    const bad = await run(['ping', PEER, '--cookie', 'wrong', '--timeout', '5000']);
    t.match(bad.stdout, /^pang \(ERR_BAD_COOKIE: .*check the cookie.*\)\n$/, `a wrong cookie is pang, and says so: ${bad.stdout.trim()}`);
    t.equal(bad.code, 1);
    const nobody = await run(['ping', 'nobody@127.0.0.1', '--cookie', COOKIE]);
    t.match(
      nobody.stdout,
      new RegExp(`^pang \\(ERR_NODE_NOT_FOUND: nobody@127\\.0\\.0\\.1 is not registered in the EPMD at 127\\.0\\.0\\.1:${epmdPort};.*\\)\\n$`),
      `an unknown node is pang, naming the EPMD asked: ${nobody.stdout.trim()}`,
    );
    t.equal(nobody.code, 1);
    const json = await run(['ping', PEER, '--cookie', COOKIE, '--json']);
    t.match(JSON.parse(json.stdout), { node: PEER, result: 'pong' });
    const jsonPang = await run(['ping', 'nobody@127.0.0.1', '--cookie', COOKIE, '--json']);
    t.match(JSON.parse(jsonPang.stdout), { node: 'nobody@127.0.0.1', result: 'pang', reason: { code: 'ERR_NODE_NOT_FOUND' } }, 'the reason in JSON');
    // Without --cookie, ~/.erlang.cookie as erl reads it.
    const home = mkdtempSync(join(tmpdir(), 'bb-home-'));
    t.teardown(() => rmSync(home, { recursive: true, force: true }));
    writeFileSync(join(home, '.erlang.cookie'), COOKIE, { mode: 0o400 });
    t.equal((await spawned(['ping', PEER], { HOME: home })).stdout, 'pong\n', 'the cookie from ~/.erlang.cookie');
  });

  t.test('rpc: the result in Erlang syntax; exceptions exit 1', async (t) => {
    const r = await run(['rpc', PEER, 'lists', 'reverse', '[[1, 2.0, <<"three">>]]', '--cookie', COOKIE]);
    t.equal(r.stdout, '[<<"three">>, 2.0, 1]\n');
    t.equal(r.code, 0, r.stderr);
    t.equal((await run(['rpc', PEER, 'erlang', 'node', '--cookie', COOKIE])).stdout, `'${PEER}'\n`, 'ARGS defaults to []');
    const io = await run(['rpc', PEER, 'io', 'format', '["hello ~s~n", ["world"]]', '--cookie', COOKIE]);
    t.equal(io.stdout, 'hello world\nok\n', "the function's output comes first, then the result");
    const boom = await run(['rpc', PEER, 'erlang', 'error', '[boom]', '--cookie', COOKIE]);
    t.equal(boom.code, 1);
    t.match(boom.stderr, /^beambridge rpc: ERR_RPC_EXCEPTION: .*boom/);
    t.equal(boom.stderr.trim().split('\n').length, 1, 'one line');
    const undef = await run(['rpc', PEER, 'no_such_module', 'f', '[]', '--cookie', COOKIE, '--json']);
    t.equal(undef.code, 1, undef.stderr);
    t.match(JSON.parse(undef.stdout.split('\n')[0] || '{}'), { error: 'ERR_RPC_EXCEPTION', reason: { $tuple: [{ $atom: 'EXIT' }, { $tuple: [{ $atom: 'undef' }] }] } });
    const ok = await run(['rpc', PEER, 'erlang', 'list_to_tuple', '[[a, 1.5]]', '--cookie', COOKIE, '--json']);
    t.same(JSON.parse(ok.stdout), { result: { $tuple: [{ $atom: 'a' }, 1.5] } });
    t.equal((await run(['rpc', PEER, 'erlang', 'node', '{not, a, list}', '--cookie', COOKIE])).code, 2, 'ARGS that is not a list is a usage error');
    t.equal((await run(['rpc', PEER, 'erlang', 'node', '[unclosed', '--cookie', COOKIE])).code, 1, 'ARGS that does not parse is a reported failure');
    const down = await run(['rpc', 'nobody@127.0.0.1', 'erlang', 'node', '--cookie', COOKIE]);
    t.equal(down.code, 1);
    t.match(down.stderr, /ERR_NODEDOWN/);
  });

  t.test('send: the registered process gets the term', async (t) => {
    const r = await run(['send', PEER, 'sink', '{from_cli, [1, 2.5], <<"bin">>, -7}', '--cookie', COOKIE]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^sent to \{sink, 'clipeer@127\.0\.0\.1'\} from <'beambridge-send-\d+-[0-9a-f]+@127\.0\.0\.1'\.\d+\.\d+>\n$/);
    await peer.waitForLine(/^GOT \{from_cli,\[1,2\.5\],<<"bin">>,-7\}$/, 10_000);
    t.pass('erl printed the message');
    const nobody = await run(['send', 'nobody@127.0.0.1', 'sink', 'x', '--cookie', COOKIE, '--timeout', '3000']);
    t.equal(nobody.code, 1);
    t.match(nobody.stderr, /cannot reach nobody@127\.0\.0\.1/);
    t.equal((await run(['send', PEER, 'sink', '{bad', '--cookie', COOKIE])).code, 1);
  });

  t.test('listen: every message with its sender and time', async (t) => {
    const spy = await startCli(t, ['listen', '--name', 'clispy@127.0.0.1', '--register', 'inbox', '--cookie', COOKIE], {
      env: { ERL_EPMD_PORT: String(epmdPort) },
      ready: /listening as clispy@127\.0\.0\.1, process <'clispy@127\.0\.0\.1'\.\d+\.\d+> registered as inbox/,
    });
    await startErlNode(t, {
      name: 'clisender@127.0.0.1',
      cookie: COOKIE,
      epmdPort,
      eval: "{inbox, 'clispy@127.0.0.1'} ! {hello, self(), 1.0}, {inbox, 'clispy@127.0.0.1'} ! [1, 2, 3]",
    });
    const sent = await run(['send', 'clispy@127.0.0.1', 'inbox', '{from_cli, 42}', '--cookie', COOKIE]);
    t.equal(sent.code, 0, sent.stderr);
    // The erl sender's two messages and ours come over two connections: wait for all three, in any order.
    await spy.waitForLine(/from_cli/);
    await spy.waitForLine(/via REG_SEND: \{hello, /);
    await spy.waitForLine(/via REG_SEND: \[1, 2, 3\]$/);
    const out = spy.lines.join('\n');
    t.match(out, /^\d\d:\d\d:\d\d\.\d{3} nodeup clisender@127\.0\.0\.1$/m);
    t.match(out, /^\d\d:\d\d:\d\d\.\d{3} from <'clisender@127\.0\.0\.1'\.\d+\.\d+> via REG_SEND: \{hello, <'clisender@127\.0\.0\.1'\.\d+\.\d+>, 1\.0\}$/m);
    t.match(out, /^\d\d:\d\d:\d\d\.\d{3} from <'clisender@127\.0\.0\.1'\.\d+\.\d+> via REG_SEND: \[1, 2, 3\]$/m);
    t.match(out, /from <'beambridge-send-\d+-[0-9a-f]+@127\.0\.0\.1'\.\d+\.\d+> via REG_SEND: \{from_cli, 42\}/);
    await spy.stop();
    t.match(spy.lines[spy.lines.length - 1], /stopped after 3 messages$/);
    t.equal(spy.child.exitCode, 0);
  });

  t.test('listen --json, without a registered name: messages to the pid', async (t) => {
    const spy = await startCli(t, ['listen', '--name', 'clispyj@127.0.0.1', '--json', '--cookie', COOKIE], {
      env: { ERL_EPMD_PORT: String(epmdPort) },
      ready: /"event":"listening"/,
    });
    const first = JSON.parse(spy.lines[0]) as { node: string; pid: { $pid: { node: string; id: number; serial: number; creation: number } }; registered: null };
    t.match(first, { node: 'clispyj@127.0.0.1', registered: null });
    const p = first.pid.$pid;
    const pidHex = encode(new Pid(atom(p.node), p.id, p.serial, p.creation)).toString('hex');
    await startErlNode(t, {
      name: 'clisenderj@127.0.0.1',
      cookie: COOKIE,
      epmdPort,
      eval: `P = binary_to_term(binary:decode_hex(<<"${pidHex}">>)), P ! {direct, 1.5, self()}`,
    });
    const line = await spy.waitForLine(/"event":"message"/);
    const e = JSON.parse(line) as Record<string, unknown>;
    t.match(e, { event: 'message', node: 'clisenderj@127.0.0.1', op: /^SEND(_SENDER)?$/ });
    // SEND carries no sender; SEND_SENDER (when the nodes negotiated it) does.
    if (e.op === 'SEND_SENDER') t.match(e.from, { $pid: { node: 'clisenderj@127.0.0.1' } });
    else t.equal(e.from, null);
    t.match(e.message, { $tuple: [{ $atom: 'direct' }, 1.5, { $pid: { node: 'clisenderj@127.0.0.1' } }] });
    t.equal((await run(['listen'])).code, 2, '--name is required');
  });
});
