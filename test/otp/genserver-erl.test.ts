// gen_server both ways and rpc into Node, against real erl (every OTP
// variant present): node.call / node.cast against an Erlang gen_server
// (monitor, exit, timeout, late replies dropped, abort), gen_servers written
// in JS called by Erlang's gen_server:call/cast ([alias | Ref] tags, async
// and deferred replies, a throw seen by the caller, gen_server:stop), and
// functions exposed to Erlang's rpc:call, rpc:block_call, erpc:call,
// erpc:cast and spawn_monitor/4, with OTP's error shapes.
import t from 'tap';
import { CallError, ErlangException, Node, noReply, type CallFrom, type RpcContext } from '../../src/otp/index.js';
import { Pid, Reference, Tuple, atom, formatTerm, termEquals, tuple, type Term } from '../../src/etf/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { variantsSideBySide } from '../helpers/otp.js';
import { PEER_EVAL, PEER_MODULES, evalErl, isTuple } from '../node/peer.js';
import { until } from '../helpers/until.js';
import { erlModule } from '../helpers/erl-modules.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const A = atom;

// Each variant has its own epmd, node names and erl: they run side by side (mostly waiting on erl).
for (const v of variantsSideBySide(t)) {
  t.test(v.label, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `gs${vtag}@127.0.0.1`;
    const failures: string[] = [];
    const node = await Node.start({
      name: `jsgs${vtag}@127.0.0.1`,
      cookie: 'cookie',
      epmd: { port: epmdPort },
      onHandlerError: (e) => failures.push(`${formatTerm(e.module)}:${formatTerm(e.function)} ${e.outcome.kind}`),
    });
    t.teardown(() => node.stop());
    await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, eval: PEER_EVAL, modules: [...PEER_MODULES, erlModule('bb_srv')], root: v.root });
    const me = node.spawn();
    const ev = (src: string, bs: Record<string, Term> = {}) => evalErl(node, me, erlName, src, bs);
    const N = node.nodeAtom;

    t.test('node.call and node.cast against an Erlang gen_server', async (t) => {
      t.ok(termEquals(await ev('code:ensure_loaded(bb_srv).'), tuple(A('module'), A('bb_srv'))), 'test/erl/bb_srv.erl is on the code path');
      const pid = (await ev('bb_srv:start(bb_srv).')) as Pid;
      const srv = { name: 'bb_srv', node: erlName };
      t.ok(termEquals(await node.call(srv, tuple(A('echo'), 1)), tuple(A('echo'), 1)), 'by { name, node }');
      t.ok(termEquals(await node.call(pid, tuple(A('echo'), 2)), tuple(A('echo'), 2)), 'by pid');
      t.equal(await node.call(srv, tuple(A('later'), 50)), A('later'), 'a deferred gen_server:reply');
      // Timeout, and the late reply dropped with the call's process.
      const base = node.processCount;
      const late = (await node.call(srv, tuple(A('sleep'), 600), { timeoutMs: 100 }).catch((e: unknown) => e)) as CallError;
      t.ok(late instanceof CallError);
      t.match(late, { code: 'ERR_TIMEOUT', reason: A('timeout') });
      t.ok(termEquals(await node.call(srv, tuple(A('echo'), 3)), tuple(A('echo'), 3)), 'the next call gets its own reply, not the late one');
      t.equal(node.processCount, base, 'no process left behind: the late reply has nowhere to go');
      // Abort.
      const ac = new AbortController();
      const aborted = node.call(srv, tuple(A('sleep'), 300), { signal: ac.signal }).catch((e: unknown) => e);
      ac.abort();
      t.match(await aborted, { code: 'ERR_ABORTED' });
      // Casts.
      node.cast(srv, A('c1'));
      node.cast(pid, tuple(A('c2'), 2));
      node.cast({ name: 'no_such_server', node: erlName }, A('lost'));
      node.cast('no_local_server', A('lost'));
      t.ok(termEquals(await node.call(srv, A('casts')), [A('c1'), tuple(A('c2'), 2)]), 'casts arrived in order');
      // noproc, and the server exiting during the call.
      await t.rejects(node.call({ name: 'nobody', node: erlName }, A('x')), { code: 'ERR_NOPROC', reason: A('noproc') });
      const dies = (await node.call(srv, tuple(A('stop'), tuple(A('shutdown'), A('custom')))).catch((e: unknown) => e)) as CallError;
      t.match(dies, { code: 'ERR_CALL_EXIT' });
      t.ok(termEquals(dies.reason, tuple(A('shutdown'), A('custom'))), `the server's exit reason: ${formatTerm(dies.reason)}`);
      await t.rejects(node.call(pid, A('x')), { code: 'ERR_NOPROC' }, 'a dead pid: noproc');
    });

    t.test('a gen_server in Node, called by Erlang', async (t) => {
      let count = 0;
      let tags: Term[] = [];
      let held: CallFrom | undefined;
      const infos: Term[] = [];
      const casts: Term[] = [];
      let ended: Term | undefined;
      const srv = node.serve('js_counter', {
        async call(req, from) {
          tags.push(from.tag);
          if (isTuple(req, 'add', 2)) {
            // Async: the next message waits for this one.
            await new Promise((r) => setTimeout(r, 20));
            count += req.at(1) as number;
            return tuple(A('count'), count);
          }
          if (req === A('hold')) {
            held = from;
            return noReply;
          }
          if (req === A('get')) return count;
          if (req === A('crash')) throw new Error('kaboom');
          throw ErlangException.exit(tuple(A('unknown_call'), req));
        },
        cast(req) {
          casts.push(req);
          if (req === A('release') && held) held.reply(A('released'));
        },
        info(m) {
          infos.push(m);
        },
        terminate(reason) {
          ended = reason;
        },
      });
      t.equal(node.whereis('js_counter'), srv.process);
      const r = (await ev('[gen_server:call({js_counter, N}, {add, I}) || I <- [1, 2, 3]].', { N })) as Term[];
      t.ok(termEquals(r, [tuple(A('count'), 1), tuple(A('count'), 3), tuple(A('count'), 6)]), formatTerm(r));
      t.ok(tags.every((x) => formatTerm(x).startsWith('[alias|')), `OTP 24+ callers tag with [alias | Ref]: ${formatTerm(tags[0])}`);
      tags = [];
      // Concurrent callers are served one at a time, in order.
      const conc = (await ev(
        'S = self(), [spawn(fun() -> S ! {I, gen_server:call({js_counter, N}, {add, 10})} end) || I <- [1, 2, 3, 4]], lists:sort([receive {I, {count, C}} -> C end || I <- [1, 2, 3, 4]]).',
        { N },
      )) as Term[];
      t.same(conc, [16, 26, 36, 46]);
      // Casts and plain messages; a deferred reply through `from`.
      await ev('gen_server:cast({js_counter, N}, hello), {js_counter, N} ! plain_message, ok.', { N });
      t.ok(await until(() => casts.length === 1 && infos.length === 1));
      t.ok(termEquals([casts[0], infos[0]], [A('hello'), A('plain_message')]));
      const deferred = ev('gen_server:call({js_counter, N}, hold, 10000).', { N });
      t.ok(await until(() => held !== undefined));
      t.equal(await node.call('js_counter', A('get')), 46, 'the server goes on while a reply is deferred (local call by name)');
      node.cast({ name: 'js_counter', node: node.name }, A('release'));
      t.equal(await deferred, A('released'), 'the deferred reply reached the Erlang caller');
      // By pid from Erlang, and node.reply.
      t.equal(await ev('gen_server:call(P, get).', { P: srv.pid }), 46);
      // A handler that throws: the server exits with {js_error, Message}; the Erlang caller exits with it.
      const crash = (await ev('try gen_server:call({js_counter, N}, crash) catch exit:E -> E end.', { N })) as Tuple;
      t.ok(termEquals(crash.at(0), tuple(A('js_error'), Buffer.from('kaboom'))), `caller exits with ${formatTerm(crash)}`);
      t.ok(isTuple(crash.at(1), 'gen_server', 3), 'as {Reason, {gen_server, call, Args}}');
      t.ok(termEquals(await srv.exited, tuple(A('js_error'), Buffer.from('kaboom'))));
      t.ok(termEquals(ended, tuple(A('js_error'), Buffer.from('kaboom'))), 'terminate saw the reason');
      t.equal(node.whereis('js_counter'), undefined, 'the name is free');
      // ErlangException carries the reason; gen_server:stop from Erlang runs terminate.
      const s2 = node.serve('js_other', { call: () => { throw ErlangException.exit(A('custom_reason')); } });
      const c2 = (await ev('try gen_server:call({js_other, N}, x) catch exit:{R, _} -> R end.', { N })) as Term;
      t.equal(c2, A('custom_reason'));
      t.equal(await s2.exited, A('custom_reason'));
      let stopped: Term | undefined;
      const s3 = node.serve('js_stoppable', { terminate: (reason) => void (stopped = reason) });
      t.equal(await ev('gen_server:stop({js_stoppable, N}, bye, 5000).', { N }), A('ok'), 'gen_server:stop');
      t.equal(await s3.exited, A('bye'));
      t.equal(stopped, A('bye'));
      const s4 = node.serve(undefined, { call: (req) => tuple(A('anon'), req) });
      t.ok(termEquals(await ev('gen_server:call(P, hi).', { P: s4.pid }), tuple(A('anon'), A('hi'))), 'an anonymous server');
      t.equal(await s4.stop(), A('normal'));
      const s5 = node.serve('js_nocall', {});
      const c5 = (await ev('try gen_server:call({js_nocall, N}, what) catch exit:{R, _} -> R end.', { N })) as Term;
      t.ok(termEquals(c5, tuple(A('bad_call'), A('what'))), 'no call handler: {bad_call, Request}');
      t.ok(termEquals(await s5.exited, tuple(A('bad_call'), A('what'))));
      void tags;
    });

    t.test('functions exposed to rpc and erpc', async (t) => {
      const casted: Term[] = [];
      let ctxSeen: RpcContext | undefined;
      node.expose('chat_js', {
        handler: (a, b) => tuple(A('got'), a, b),
        async slow(ms) {
          await new Promise((r) => setTimeout(r, ms as number));
          return A('slow_done');
        },
        boom: () => {
          throw new Error('kaboom');
        },
        quit: () => {
          throw ErlangException.exit(A('bye'));
        },
        toss: () => {
          throw ErlangException.throw(tuple(A('thrown'), 1));
        },
        bad: () => {
          throw ErlangException.error(A('badarg'));
        },
        note(x) {
          casted.push(x);
          return A('ok');
        },
        whoami() {
          ctxSeen = { ...this };
          return this.caller;
        },
        unencodable: () => (() => 1) as unknown as Term,
      });
      t.same(node.exposed(), ['chat_js']);
      const q = `'${node.name}'`;
      t.ok(termEquals(await ev(`rpc:call(${q}, chat_js, handler, [1, <<"b">>]).`), tuple(A('got'), 1, Buffer.from('b'))), 'rpc:call');
      t.ok(termEquals(await ev(`erpc:call(${q}, chat_js, handler, [a, [2]], 5000).`), tuple(A('got'), A('a'), [2])), 'erpc:call');
      t.ok(termEquals(await ev(`rpc:block_call(${q}, chat_js, handler, [x, y], 5000).`), tuple(A('got'), A('x'), A('y'))), 'rpc:block_call (rex)');
      t.equal(await ev(`rpc:call(${q}, chat_js, slow, [30], 5000).`), A('slow_done'), 'an async function');
      // Concurrent calls run concurrently.
      t.same(await ev(`[erpc:call(${q}, chat_js, slow, [M], 5000) || M <- [10, 10]].`), [A('slow_done'), A('slow_done')]);
      // Errors, the OTP way.
      const rb = (await ev(`rpc:call(${q}, chat_js, boom, []).`)) as Tuple;
      t.ok(termEquals((((rb.at(1) as Tuple).at(1) as Tuple).at(0)), tuple(A('js_error'), Buffer.from('kaboom'))), `rpc: ${formatTerm(rb)}`);
      t.match(formatTerm(rb), /^\{badrpc, \{'EXIT', \{\{js_error, <<"kaboom">>\}, \[\{chat_js, boom, 0, /);
      const eb = (await ev(`try erpc:call(${q}, chat_js, boom, []) catch C:E -> {C, E} end.`)) as Tuple;
      t.match(formatTerm(eb), /^\{error, \{exception, \{js_error, <<"kaboom">>\}, \[\{chat_js, boom, 0, /, `erpc: ${formatTerm(eb)}`);
      t.ok(termEquals(await ev(`rpc:call(${q}, chat_js, quit, []).`), tuple(A('badrpc'), tuple(A('EXIT'), A('bye')))), 'rpc: exit');
      t.ok(termEquals(await ev(`try erpc:call(${q}, chat_js, quit, []) catch C:E -> {C, E} end.`), tuple(A('exit'), tuple(A('exception'), A('bye')))), 'erpc: exit');
      t.ok(termEquals(await ev(`rpc:call(${q}, chat_js, toss, []).`), tuple(A('thrown'), 1)), 'rpc: a throw is the value');
      t.ok(termEquals(await ev(`try erpc:call(${q}, chat_js, toss, []) catch C:E -> {C, E} end.`), tuple(A('throw'), tuple(A('thrown'), 1))), 'erpc: throw');
      const bad = (await ev(`try erpc:call(${q}, chat_js, bad, []) catch C:E -> {C, E} end.`)) as Tuple;
      t.ok(termEquals(bad, tuple(A('error'), tuple(A('exception'), A('badarg'), [tuple(A('chat_js'), A('bad'), 0, [])]))), formatTerm(bad));
      t.ok(
        termEquals(await ev(`rpc:call(${q}, chat_js, nope, [1]).`), tuple(A('badrpc'), tuple(A('EXIT'), tuple(A('undef'), [tuple(A('chat_js'), A('nope'), [1], [])])))),
        'rpc: undef for what is not exposed',
      );
      t.ok(
        termEquals(await ev(`try erpc:call(${q}, nomod, f, []) catch C:E -> {C, E} end.`), tuple(A('error'), tuple(A('exception'), A('undef'), [tuple(A('nomod'), A('f'), [], [])]))),
        'erpc: undef',
      );
      const un = (await ev(`try erpc:call(${q}, chat_js, unencodable, []) catch C:E -> {C, element(1, E)} end.`)) as Tuple;
      t.ok(termEquals(un, tuple(A('error'), A('exception'))), 'a result with no Erlang term is an error, not a dropped connection');
      // The context.
      const caller = (await ev(`{self(), erpc:call(${q}, chat_js, whoami, [])}.`)) as Tuple;
      t.ok(termEquals(caller.at(0), caller.at(1)), 'this.caller is the erpc caller');
      t.equal(ctxSeen?.module, 'chat_js');
      t.equal(ctxSeen?.function, 'whoami');
      // features_request, erpc:cast, spawn_monitor/4.
      t.ok(termEquals(await ev(`{rex, ${q}} ! {self(), features_request}, receive {features_reply, _, F} -> F after 5000 -> timeout end.`), [A('erpc')]));
      await ev(`erpc:cast(${q}, chat_js, note, [casted]), ok.`);
      t.ok(await until(() => casted.length === 1), 'erpc:cast ran the function');
      const sp = (await ev(`{_, R} = spawn_monitor(${q}, chat_js, note, [spawned]), receive {'DOWN', R, _, _, W} -> W after 5000 -> timeout end.`)) as Term;
      t.equal(sp, A('normal'), 'spawn_monitor/4 ran it in a process that exits normally');
      t.same(casted, [A('casted'), A('spawned')]);
      await ev(`erpc:cast(${q}, chat_js, boom, []), ok.`);
      t.ok(await until(() => failures.length === 1), 'a failed cast is reported');
      t.match(failures[0], /chat_js:boom error/);
      // A timeout on the Erlang side: erpc gives up; the function still finishes on ours.
      const to = (await ev(`try erpc:call(${q}, chat_js, slow, [400], 50) catch C:E -> {C, E} end.`)) as Tuple;
      t.ok(termEquals(to, tuple(A('error'), tuple(A('erpc'), A('timeout')))), formatTerm(to));
      t.equal(node.unexpose('chat_js'), true);
      t.ok(isTuple(await ev(`rpc:call(${q}, chat_js, handler, [1, 2]).`), 'badrpc'), 'unexposed: undef again');
      t.ok(me.pid instanceof Pid && node.makeRef() instanceof Reference);
    });
  });
}
