// Issue 13, "errors that say what to do", against a real erl node:
// - the root cause reaches the caller: a wrong cookie makes rpc and call
//   fail with ERR_BAD_COOKIE (not a nodedown wrapping it), ping says why;
// - messages name the EPMD (host:port) they asked and end with a hint;
// - `node.serve(name, h, { restart })` keeps a registered server available
//   for Erlang callers while a JS throw still ends the process as OTP would,
//   within its restart intensity;
// - stack traces sent to Erlang carry the file's name, not its path, unless
//   `stackFilePaths` is set;
// - node:diagnostics_channel channels and the `logger` option see
//   connections, handshake errors, sends and calls (with timing).
import t from 'tap';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Node, RpcError, type CallError } from '../../src/otp/index.js';
import { Tuple, atom, formatTerm, tuple } from '../../src/etf/index.js';
import type { CallEndEvent, ConnectionDownEvent, ConnectionUpEvent, HandshakeErrorEvent, Logger, SendEvent } from '../../src/node/index.js';
import { freePort, otpRoot, startEpmd, startErlNode } from '../../src/testing/index.js';
import { PEER_EVAL, PEER_MODULES, evalErl } from '../node/peer.js';
import { until } from '../helpers/until.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const root = otpRoot();

/** A logger that keeps every line. */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

t.test(`errors that say what to do (${root || 'system OTP'})`, async (t) => {
  const epmdPort = await startEpmd(t);
  const erlName = `errl${uniq}@127.0.0.1`;
  await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, root, eval: PEER_EVAL, modules: PEER_MODULES });
  const log = memoryLogger();
  const node = await Node.start({ name: `jserr${uniq}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, logger: log });
  t.teardown(() => node.stop());
  const me = node.spawn();

  t.test('a wrong cookie: rpc, call and ping fail with ERR_BAD_COOKIE', async (t) => {
    const wrong = await Node.start({ name: `jswc${uniq}@127.0.0.1`, cookie: 'wrong', epmd: { port: epmdPort } });
    t.teardown(() => wrong.stop());
    const re = (await wrong.rpc(erlName, 'erlang', 'node', [], { timeoutMs: 5000 }).catch((e: RpcError) => e)) as RpcError;
    t.ok(re instanceof RpcError);
    t.equal(re.code, 'ERR_BAD_COOKIE', 'rpc: the root cause, not ERR_NODEDOWN');
    t.equal(re.reason, atom('nodedown'), "reason is still what rpc:call returns ({badrpc, nodedown})");
    t.match(re.message, /cookies differ; check the cookie/, `and the message says what to do: ${re.message}`);
    const ce = (await wrong.call({ name: 'peer', node: erlName }, atom('x'), { timeoutMs: 5000 }).catch((e: CallError) => e)) as CallError;
    t.equal(ce.code, 'ERR_BAD_COOKIE', 'call: the root cause');
    t.match(ce.cause, { code: 'ERR_BAD_COOKIE' });
    const pd = await wrong.pingDetail(erlName);
    t.match(pd, { pong: false, reason: { code: 'ERR_BAD_COOKIE' } }, 'ping says why it got pang');
  });

  t.test('EPMD errors name the EPMD asked and end with a hint', async (t) => {
    const nobody = `nobody${uniq}@127.0.0.1`;
    const pd = await node.pingDetail(nobody);
    t.match(pd, { pong: false, reason: { code: 'ERR_NODE_NOT_FOUND', message: new RegExp(`EPMD at 127\\.0\\.0\\.1:${epmdPort}; is it running`) } });
    const re = (await node.rpc(nobody, 'erlang', 'node', []).catch((e: RpcError) => e)) as RpcError;
    t.equal(re.code, 'ERR_NODEDOWN');
    t.match(re.message, new RegExp(`not registered in the EPMD at 127\\.0\\.0\\.1:${epmdPort}`), `rpc: ${re.message}`);
    const port = await freePort();
    const e = (await Node.start({ name: `jsne${uniq}@127.0.0.1`, cookie: 'c', epmd: { port } }).catch((x: Error) => x)) as Error & { code: string };
    t.equal(e.code, 'ERR_EPMD_UNREACHABLE');
    t.match(e.message, new RegExp(`EPMD at 127\\.0\\.0\\.1:${port}: .*epmd: \\{ embedded: true \\}`), `no EPMD: ${e.message}`);
  });

  t.test('serve with restart keeps the registered server available to Erlang callers', async (t) => {
    let inits = 0;
    const srv = node.serve(
      'flaky',
      {
        init: () => void inits++,
        call: (req) => {
          if (req === atom('crash')) throw new Error('boom');
          return tuple(atom('ok'), req);
        },
      },
      { restart: 'permanent', intensity: 2, periodMs: 10_000 },
    );
    const call = (req: string) => evalErl(node, me, erlName, 'catch gen_server:call({flaky, N}, R, 2000).', { N: atom(node.name), R: atom(req) });
    t.same(await call('a'), tuple(atom('ok'), atom('a')));
    const first = srv.pid;
    const crashed = (await call('crash')) as Tuple;
    t.equal(formatTerm(crashed.at(1)), `{{js_error, <<"boom">>}, {gen_server, call, [{flaky, '${node.name}'}, crash, 2000]}}`, 'the Erlang caller sees the exit, as OTP');
    t.ok(await until(() => srv.restarts === 1 && srv.process.alive, 5000), 'restarted');
    t.not(formatTerm(srv.pid), formatTerm(first), 'a new pid');
    t.equal(node.whereis('flaky'), srv.process, 'under the same name');
    t.same(await call('b'), tuple(atom('ok'), atom('b')), 'and available again');
    t.equal(inits, 2, 'init ran again');
    await call('crash');
    t.ok(await until(() => srv.restarts === 2, 5000));
    await call('crash');
    const last = await srv.exited;
    t.equal(formatTerm(last), '{js_error, <<"boom">>}', 'past the intensity it stays down with the last reason');
    t.equal(node.whereis('flaky'), undefined);
    t.ok(log.lines.some((l) => /^error gen_server flaky reached its restart intensity/.test(l)), 'logged');
    const transient = node.serve('tr', { call: () => atom('ok') }, { restart: 'transient' });
    await transient.stop();
    t.equal(transient.restarts, 0, 'stop() never restarts');
  });

  t.test('stack traces sent to Erlang carry file names, not paths, unless asked', async (t) => {
    const thrower = {
      fail: () => {
        throw new Error('nope');
      },
    };
    node.expose('thrower', thrower);
    const full = await Node.start({ name: `jsfp${uniq}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort }, stackFilePaths: true });
    t.teardown(() => full.stop());
    full.expose('thrower', thrower);
    const fileOf = async (n: Node) => {
      const r = await evalErl(node, me, erlName, 'rpc:call(N, thrower, fail, []).', { N: atom(n.name) });
      return formatTerm(r, { strings: true });
    };
    const short = await fileOf(node);
    t.match(short, /\{file, "errors-erl\.test\.ts"\}/, `the file's name: ${short}`);
    t.notMatch(short, /\/work|\/test\//, 'no path');
    t.match(await fileOf(full), /\{file, "\/[^"]*\/test\/otp\/errors-erl\.test\.ts"\}/, 'the full path with stackFilePaths');
  });

  t.test('diagnostics channels and the logger', async (t) => {
    const seen: Record<string, unknown[]> = { up: [], down: [], hs: [], send: [], end: [] };
    const subs: [string, (m: unknown) => void][] = [
      ['beambridge:connection:up', (m) => seen.up.push(m)],
      ['beambridge:connection:down', (m) => seen.down.push(m)],
      ['beambridge:connection:handshakeError', (m) => seen.hs.push(m)],
      ['beambridge:send', (m) => seen.send.push(m)],
      ['beambridge:call:end', (m) => seen.end.push(m)],
    ];
    for (const [n, f] of subs) subscribe(n, f);
    t.teardown(() => subs.forEach(([n, f]) => unsubscribe(n, f)));
    const other = `erl2${uniq}@127.0.0.1`;
    const erl2 = await startErlNode(t, { name: other, cookie: 'cookie', epmdPort, root });
    t.equal(await node.ping(other), true);
    me.send({ name: 'nobody', node: other }, atom('hi'));
    t.same(await node.rpc(other, 'erlang', 'node', []), atom(other));
    await erl2.stop();
    t.ok(await until(() => (seen.down as ConnectionDownEvent[]).some((e) => e.peer === other), 5000));
    const wrong = await Node.start({ name: `jswd${uniq}@127.0.0.1`, cookie: 'wrong', epmd: { port: epmdPort } });
    t.teardown(() => wrong.stop());
    await wrong.ping(erlName);
    t.match((seen.up as ConnectionUpEvent[]).find((e) => e.peer === other), { node: node.name, initiator: true });
    t.match((seen.down as ConnectionDownEvent[]).find((e) => e.peer === other), { error: { code: 'ERR_CONNECTION_CLOSED' } });
    t.match((seen.hs as HandshakeErrorEvent[]).find((e) => e.node === wrong.name), { peer: erlName, error: { code: 'ERR_BAD_COOKIE' } });
    t.match((seen.send as SendEvent[]).find((e) => e.message === atom('hi')), { node: node.name, peer: other, from: me.pid });
    const ends = seen.end as CallEndEvent[];
    const rpc = ends.find((e) => e.kind === 'rpc' && e.peer === other)!;
    const ping = ends.find((e) => e.kind === 'ping' && e.peer === other)!;
    const failed = ends.find((e) => e.kind === 'ping' && e.node === wrong.name)!;
    t.match(rpc, { target: 'erlang:node/0', node: node.name });
    t.ok(rpc.durationMs > 0 && ping.durationMs > 0, `timed: rpc ${rpc.durationMs.toFixed(2)} ms, ping ${ping.durationMs.toFixed(2)} ms`);
    t.match(failed.error, { code: 'ERR_BAD_COOKIE' }, 'a failed call carries its error');
    t.ok(log.lines.some((l) => l === `info nodeup ${other}`), 'the logger saw nodeup');
    t.ok(log.lines.some((l) => l.startsWith(`info nodedown ${other}`)), 'and nodedown');
  });
});
