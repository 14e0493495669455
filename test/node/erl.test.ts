// Node against real erl nodes, for every OTP variant present (system OTP 25,
// and the OTP 27 / 29 roots when scripts/otp-roots.sh made them): both dial
// directions, every term kind both ways, 64 MB each way, registered names on
// both sides, rpc (value, exception, badrpc, timeout), OTP's answers for
// what Node does not have, nodedown when the erl node is killed, bad cookie
// and pang.
import t from 'tap';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { Node, RpcError } from '../../src/otp/index.js';
import { isDown, parseGenCall } from '../../src/node/index.js';
import {
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  Pid,
  Port,
  Reference,
  Tuple,
  atom,
  formatTerm,
  termEquals,
  tuple,
  type Term,
} from '../../src/etf/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { PEER_EVAL, PEER_MODULES, evalErl, isTuple } from './peer.js';
import { until } from '../helpers/until.js';
import { variantsSideBySide } from '../helpers/otp.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** Terms made in JS, and the same terms written in Erlang. */
const JS_ZOO: Term[] = [
  0, 1, -1, 255, 256, -2147483648, 2147483647, 2147483648, 2n ** 64n, -(2n ** 100n), 2n ** 2000n,
  new Float(1), new Float(-0.5), 3.14, new Float(1e300), -2.5e-300,
  atom('atom'), atom('Ünïcödé'), atom(''), true, false,
  tuple(), tuple(atom('a'), atom('b')), new Tuple(Array.from({ length: 300 }, (_, i) => i + 1)),
  [], [1, 2, 3], new ImproperList([1], 2), new ImproperList([atom('a'), atom('b')], atom('c')),
  new Map(), new Map<Term, Term>([[atom('a'), 1], [Buffer.from('b'), [2]]]), new Map<Term, Term>(Array.from({ length: 40 }, (_, i) => [i + 1, i + 1])),
  Buffer.alloc(0), Buffer.from([1, 2, 3]), new BitBinary(Buffer.from([0b00100000]), 3), new BitBinary(Buffer.from([255, 0x70]), 4), Buffer.alloc(100_000, 120),
  new ExportFun(atom('lists'), atom('reverse'), 1),
  tuple(atom('nested'), [new Map<Term, Term>([[atom('k'), tuple(1, [2.5, Buffer.from('z')])]])]),
  'utf8 ünïcödé string',
];
const ERL_ZOO = `[0, 1, -1, 255, 256, -2147483648, 2147483647, 2147483648, 1 bsl 64, -(1 bsl 100), 1 bsl 2000,
  1.0, -0.5, 3.14, 1.0e300, -2.5e-300,
  atom, 'Ünïcödé', '', true, false,
  {}, {a, b}, list_to_tuple(lists:seq(1, 300)),
  [], [1, 2, 3], [1 | 2], [a, b | c],
  #{}, #{a => 1, <<"b">> => [2]}, maps:from_list([{I, I} || I <- lists:seq(1, 40)]),
  <<>>, <<1, 2, 3>>, <<1:3>>, <<255, 7:4>>, binary:copy(<<"x">>, 100000),
  fun lists:reverse/1,
  {nested, [#{k => {1, [2.5, <<"z">>]}}]},
  <<"utf8 ünïcödé string"/utf8>>]`;

for (const v of variantsSideBySide(t)) {
  t.test(v.label, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `erl${vtag}@127.0.0.1`;
    const output: string[] = [];
    const node = await Node.start({
      name: `js${vtag}@127.0.0.1`,
      cookie: 'cookie',
      epmd: { port: epmdPort },
      lossless: true,
      onOutput: (s) => output.push(s),
    });
    t.teardown(() => node.stop());
    const ups: string[] = [];
    node.on('nodeup', (p) => ups.push(p));
    await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, eval: PEER_EVAL, modules: PEER_MODULES, root: v.root });
    const me = node.spawn({ name: 'me' });
    const ev = (src: string, bs: Record<string, Term> = {}) => evalErl(node, me, erlName, src, bs);

    t.test('Node dials erl: ping is pong, erl sees a hidden node', async (t) => {
      t.equal(await node.ping(erlName), true);
      t.ok(ups.includes(erlName), 'nodeup');
      t.same(node.nodes(), [erlName]);
      const hidden = (await ev('nodes(hidden).')) as Term[];
      t.ok(hidden.some((n) => n === node.nodeAtom), 'listed by nodes(hidden)');
      t.same(await ev('nodes().'), [], 'not a visible node');
      t.equal(await ev('gen_server:call({net_kernel, N}, {is_auth, node()}).', { N: node.nodeAtom }), atom('yes'), 'is_auth with an alias tag');
    });

    t.test('erl dials Node: net_adm:ping answers pong', async (t) => {
      const name = `dialer${vtag}@127.0.0.1`;
      const up = new Promise<void>((resolve) => node.on('nodeup', (p) => p === name && resolve()));
      const dialer = await startErlNode(t, {
        name,
        cookie: 'cookie',
        epmdPort,
        root: v.root,
        eval: `io:format("PING ~p~n", [net_adm:ping('${node.name}')])`,
      });
      t.equal(await dialer.waitForLine(/^PING /), 'PING pong');
      await up;
      t.equal(node.connection(name)?.initiator, false, 'the connection was accepted');
      await dialer.stop();
    });

    t.test('every term kind, both ways', async (t) => {
      // JS -> erl: erl compares with the same terms written in Erlang.
      const diff = await ev(`Zoo = ${ERL_ZOO}, [{I, G, Z} || {I, G, Z} <- lists:zip3(lists:seq(0, length(Zoo) - 1), Got, Zoo), G =/= Z].`, { Got: JS_ZOO });
      t.same(diff, [], `erl sees exactly its own terms: ${formatTerm(diff)}`);
      const ids = [me.pid, node.makeRef(), new Port(node.nodeAtom, 7, node.creation)];
      t.equal(await ev('[is_pid(P), is_reference(R), is_port(O), node(P), node(R), node(O)] =:= [true, true, true, N, N, N].', {
        P: ids[0], R: ids[1], O: ids[2], N: node.nodeAtom,
      }), true, 'our pid, reference and port are ours on the erl side');
      // JS -> erl -> JS: echoed, equal.
      me.send({ name: 'peer', node: erlName }, tuple(me.pid, atom('echo'), [...JS_ZOO, ...ids]));
      const echo = (await me.receive({ timeoutMs: 10_000, match: (m) => isTuple(m, 'echo') })) as Tuple;
      t.ok(termEquals(echo.at(1), [...JS_ZOO, ...ids]), 'echo equals what was sent');
      // erl -> JS -> erl, with erl's own pids, refs, ports and funs.
      const echoer = node.spawn();
      void (async () => {
        for await (const m of echoer) if (isTuple(m, 'zoo', 3)) echoer.send(m.at(1) as Pid, tuple(atom('zoo_back'), m.at(2)));
      })().catch(() => {});
      const zoo = `Y = 42, Zoo = ${ERL_ZOO} ++ [self(), make_ref(), hd(erlang:ports()), fun() -> ok end, fun(X) -> X + Y end],
        E ! {zoo, self(), Zoo},
        receive {zoo_back, Back} -> {Back =:= Zoo, Zoo} after 20000 -> timeout end.`;
      const r = (await ev(zoo, { E: echoer.pid })) as Tuple;
      t.equal(r.at(0), true, 'erl gets back exactly what it sent');
      const got = r.at(1) as Term[];
      const tail = got.slice(-5);
      t.ok(tail[0] instanceof Pid && tail[1] instanceof Reference && tail[2] instanceof Port && tail[3] instanceof Fun && tail[4] instanceof Fun);
      const bad = JS_ZOO.map((x, i) => i).filter((i) => !termEquals(got[i], JS_ZOO[i]));
      t.same(bad, [], `erl-made terms decode to the JS-made ones: ${bad.map((i) => formatTerm(got[i]) + ' vs ' + formatTerm(JS_ZOO[i])).join('; ')}`);
      t.ok(got[11] instanceof Float && got[10] === 2n ** 2000n && got[33] instanceof BitBinary && got[36] instanceof ExportFun);
      echoer.exit();
    });

    t.test('registered names on both sides', async (t) => {
      const listener = node.spawn({ name: 'listener' });
      t.equal(await ev("{listener, N} ! {hello, <<\"from erl\">>}, ok.", { N: node.nodeAtom }), atom('ok'));
      t.ok(termEquals(await listener.receive({ timeoutMs: 5000 }), tuple(atom('hello'), Buffer.from('from erl'))));
      listener.send({ name: 'peer', node: erlName }, tuple(listener.pid, atom('echo'), atom('to_erl_name')));
      t.ok(termEquals(await listener.receive({ timeoutMs: 5000 }), tuple(atom('echo'), atom('to_erl_name'))));
      // Sends from Erlang to a pid (SEND_SENDER) and to an alias (ALIAS_SEND).
      const al = listener.alias();
      await ev('P ! by_pid, A ! by_alias, ok.', { P: listener.pid, A: al });
      t.equal(await listener.receive({ timeoutMs: 5000 }), atom('by_pid'));
      t.equal(await listener.receive({ timeoutMs: 5000 }), atom('by_alias'));
      listener.exit();
    });

    t.test('64 MB binary each way', async (t) => {
      const big = Buffer.alloc(64 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
      t.equal(await ev('{byte_size(B), erlang:md5(B)} =:= {67108864, M}.', { B: big, M: md5(big) }), true, 'JS -> erl intact');
      const r = await ev("B = binary:copy(<<\"0123456789abcdef\">>, 4194304), P ! {big, B, erlang:md5(B)}, ok.", { P: me.pid });
      t.equal(r, atom('ok'));
      const m = (await me.receive({ timeoutMs: 60_000, match: (x) => isTuple(x, 'big') })) as Tuple;
      const b = m.at(1) as Buffer;
      t.equal(b.length, 64 * 1024 * 1024);
      t.same(md5(b), m.at(2), 'erl -> JS intact');
    });

    t.test('rpc: value, exceptions, throw, badrpc, timeout, output', async (t) => {
      t.same(await node.rpc(erlName, 'lists', 'reverse', [[1, 2, 3]], { timeoutMs: 5000 }), [3, 2, 1]);
      const err = (await node.rpc(erlName, 'erlang', 'error', [atom('boom')], { timeoutMs: 5000 }).catch((e: unknown) => e)) as RpcError;
      t.ok(err instanceof RpcError);
      t.equal(err.code, 'ERR_RPC_EXCEPTION');
      t.equal((err.exitReason as Tuple).at(0), atom('boom'));
      t.ok(Array.isArray(err.erlangStack) && err.erlangStack.length > 0, 'with the stack');
      await t.rejects(node.rpc(erlName, 'erlang', 'exit', [atom('bye')], { timeoutMs: 5000 }), { code: 'ERR_RPC_EXCEPTION', exitReason: atom('bye') });
      const undef = (await node.rpc(erlName, 'no_such_module', 'f', [], { timeoutMs: 5000 }).catch((e: unknown) => e)) as RpcError;
      t.equal(undef.code, 'ERR_RPC_EXCEPTION');
      t.equal((undef.exitReason as Tuple).at(0), atom('undef'));
      t.equal(await node.rpc(erlName, 'erlang', 'throw', [atom('thrown')], { timeoutMs: 5000 }), atom('thrown'), 'a throw is a value, as in rpc');
      await t.rejects(node.rpc(erlName, 'rpc', 'call', [atom('nonode@nowhere'), atom('lists'), atom('reverse'), [[1]]], { timeoutMs: 5000 }), {
        code: 'ERR_BADRPC',
        reason: atom('nodedown'),
      });
      await t.rejects(node.rpc(erlName, 'timer', 'sleep', [3000], { timeoutMs: 200 }), { code: 'ERR_TIMEOUT', reason: atom('timeout') });
      t.equal(await node.rpc(erlName, 'erlang', 'node', [], { timeoutMs: 5000 }), atom(erlName), 'the node still answers');
      t.equal(await node.rpc(erlName, 'io', 'format', ['hello ~p~n', [[1, 2]]], { timeoutMs: 5000 }), atom('ok'));
      t.match(output.join(''), /hello \[1, ?2\]\n/, 'the output reached our group leader');
      const ac = new AbortController();
      const aborted = node.rpc(erlName, 'timer', 'sleep', [3000], { signal: ac.signal }).catch((e: unknown) => e);
      ac.abort();
      t.match(await aborted, { code: 'ERR_ABORTED' });
    });

    t.test('OTP answers for what Node does not have; monitors, links, calls from erl', async (t) => {
      const dead = node.spawn();
      dead.exit();
      t.equal(await ev("erlang:monitor(process, P), receive {'DOWN', _, process, _, R} -> R after 5000 -> timeout end.", { P: dead.pid }), atom('noproc'));
      t.ok(
        termEquals(
          await ev("erlang:monitor(process, {nosuch, N}), receive {'DOWN', _, process, Obj, R} -> {Obj, R} after 5000 -> timeout end.", { N: node.nodeAtom }),
          tuple(tuple(atom('nosuch'), node.nodeAtom), atom('noproc')),
        ),
        'by name: {Name, Node}, noproc',
      );
      t.equal(
        await ev("process_flag(trap_exit, true), link(P), receive {'EXIT', P, R} -> R after 5000 -> timeout end.", { P: dead.pid }),
        atom('noproc'),
        'link to a dead pid: noproc',
      );
      // A live process: erl monitors and links, we exit, erl sees both.
      const live = node.spawn({ name: 'live' });
      const watch = ev(
        "process_flag(trap_exit, true), Ref = erlang:monitor(process, {live, N}), link(P), S ! ready," +
          " D = receive {'DOWN', Ref, process, _, R1} -> R1 after 10000 -> timeout end," +
          " X = receive {'EXIT', P, R2} -> R2 after 10000 -> timeout end, {D, X}.",
        { P: live.pid, N: node.nodeAtom, S: me.pid },
      );
      await me.receive({ timeoutMs: 10_000, match: (m) => m === atom('ready') });
      // The signals crossed before `ready`: the link and monitor are in place.
      t.equal(live.links.size, 1);
      t.equal(live.monitoredBy.size, 1);
      live.exit(atom('done_here'));
      t.ok(termEquals(await watch, tuple(atom('done_here'), atom('done_here'))), 'DOWN and EXIT with our reason');
      // gen_server:call from erl to a Node process: the [alias | Ref] tag is answered through the alias.
      const srv = node.spawn({ name: 'js_server' });
      void (async () => {
        for await (const m of srv) {
          const c = parseGenCall(m);
          if (c) node.replyTo(c.from, tuple(atom('reply'), c.request), srv);
        }
      })().catch(() => {});
      t.ok(termEquals(await ev('gen_server:call({js_server, N}, ping, 5000).', { N: node.nodeAtom }), tuple(atom('reply'), atom('ping'))));
      srv.exit();
      // exit/2 from erl.
      const victim = node.spawn({ trapExit: true });
      const ref = me.monitor(victim.pid);
      await ev('exit(P, kill), ok.', { P: victim.pid });
      t.equal(((await me.receive({ timeoutMs: 5000, match: (m) => isDown(m, ref) })) as Tuple).at(4), atom('killed'));
      // Our monitor on an erl process that does not exist.
      const r2 = me.monitor({ name: 'nosuch', node: erlName });
      t.equal(((await me.receive({ timeoutMs: 5000, match: (m) => isDown(m, r2) })) as Tuple).at(4), atom('noproc'));
      // Our link to an erl process that exits.
      const trap = node.spawn({ trapExit: true });
      const erlPid = (await ev('spawn(fun() -> receive stop -> exit(stopped) end end).')) as Pid;
      trap.link(erlPid);
      const r3 = trap.monitor(erlPid);
      trap.send(erlPid, atom('stop'));
      t.equal(((await trap.receive({ timeoutMs: 5000, match: (m) => isDown(m, r3) })) as Tuple).at(4), atom('stopped'));
      t.ok(termEquals(await trap.receive({ timeoutMs: 5000, match: (m) => isTuple(m, 'EXIT') }), tuple(atom('EXIT'), erlPid, atom('stopped'))));
      trap.exit();
      // rpc:block_call goes to our rex by gen_server:call: a node without the module answers undef.
      const bc = (await ev('rpc:block_call(N, lists, reverse, [[1]], 5000).', { N: node.nodeAtom })) as Tuple;
      t.equal(bc.at(0), atom('badrpc'));
      t.equal(((bc.at(1) as Tuple).at(1) as Tuple).at(0), atom('undef'));
      // rpc:call from erl into Node goes through erpc (SPAWN_REQUEST): lists is not exposed, so undef as on a node without it.
      t.ok(
        termEquals(
          await ev('rpc:call(N, lists, reverse, [[1]], 5000).', { N: node.nodeAtom }),
          tuple(atom('badrpc'), tuple(atom('EXIT'), tuple(atom('undef'), [tuple(atom('lists'), atom('reverse'), [[1]], [])]))),
        ),
      );
    });

    t.test('nodedown when the erl node is killed', async (t) => {
      const name = `victim${vtag}@127.0.0.1`;
      const victim = await startErlNode(t, { name, cookie: 'cookie', epmdPort, eval: PEER_EVAL, modules: PEER_MODULES, root: v.root });
      t.equal(await node.ping(name), true);
      const w = node.spawn({ trapExit: true });
      const ref = w.monitor({ name: 'peer', node: name });
      const erlPid = (await evalErl(node, w, name, 'spawn(fun() -> receive after infinity -> ok end end).')) as Pid;
      w.link(erlPid);
      const pending = node.call({ name: 'peer', node: name }, 'unanswered', { timeoutMs: 30_000 }).catch((e: unknown) => e);
      await evalErl(node, w, name, 'ok.'); // a round trip: the link and the call are in place
      const down = once(node, 'nodedown');
      process.kill(victim.pid, 'SIGKILL');
      const [peer, reason] = await down;
      t.equal(peer, name);
      t.equal(reason.code, 'ERR_CONNECTION_CLOSED');
      t.equal(((await w.receive({ timeoutMs: 5000, match: (m) => isDown(m, ref) })) as Tuple).at(4), atom('noconnection'));
      t.ok(termEquals(await w.receive({ timeoutMs: 5000, match: (m) => isTuple(m, 'EXIT') }), tuple(atom('EXIT'), erlPid, atom('noconnection'))));
      t.match(await pending, { code: 'ERR_NODEDOWN' });
      t.notOk(node.nodes().includes(name));
      t.equal(await node.ping(name), false, 'pang once it is gone');
      w.exit();
    });

    t.test('bad cookie both ways, and pang', async (t) => {
      const bad = await Node.start({ name: `jsbad${vtag}@127.0.0.1`, cookie: 'wrong', epmd: { port: epmdPort } });
      t.teardown(() => bad.stop());
      await t.rejects(bad.connect(erlName), { code: 'ERR_BAD_COOKIE' });
      t.equal(await bad.ping(erlName), false);
      // (bad's own retries of the ping's message may race erl's dial: only the cookie refusal matters here.)
      const refusals: string[] = [];
      bad.on('handshakeError', (e, peer) => peer === erlName && refusals.push(e.code));
      t.equal(await ev('net_adm:ping(B).', { B: atom(bad.name) }), atom('pang'), 'erl dialing a node with another cookie: pang');
      t.ok(await until(() => refusals.includes('ERR_BAD_COOKIE'), 5000), `bad refused erl's digest: ${refusals.join(' ')}`);
      await t.rejects(node.connect(`nosuch${vtag}@127.0.0.1`), { code: 'ERR_NODE_NOT_FOUND' });
      t.equal(await node.ping(`nosuch${vtag}@127.0.0.1`), false);
      t.equal(await ev(`net_adm:ping('nosuch${vtag}@127.0.0.1').`), atom('pang'));
    });

    t.test('stop: erl sees the node go', async (t) => {
      const other = await Node.start({ name: `jsgo${vtag}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort } });
      t.equal(await other.ping(erlName), true);
      const r = ev("monitor_node(N, true), S ! ready, receive {nodedown, N} -> down after 10000 -> timeout end.", { N: atom(other.name), S: me.pid });
      await me.receive({ timeoutMs: 10_000, match: (m) => m === atom('ready') });
      await other.stop();
      t.equal(await r, atom('down'));
      t.notOk(formatTerm(await ev('nodes(hidden).')).includes(other.name));
    });
  });
}
