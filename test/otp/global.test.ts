// kernel's global between beambridge nodes alone (no erl): both ends of each
// connect are ours, so each side's locker must take the lock itself, and the
// two must not block each other. Hidden nodes take no part; names, clashes,
// locks and a node leaving behave as between erl nodes.
import t from 'tap';
import { Node, GlobalError } from '../../src/otp/index.js';
import { Fun, Pid, Tuple, atom, termEquals, tuple, type Term } from '../../src/etf/index.js';
import { freePort } from '../../src/testing/index.js';
import { eventually } from './global-cluster.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

t.test('global between beambridge nodes', async (t) => {
  const epmdPort = await freePort();
  // The first node runs the embedded EPMD for the others, and stays up to the end.
  const h = await Node.start({ name: `gh${uniq}@127.0.0.1`, cookie: 'k', epmd: { embedded: true, port: epmdPort } });
  t.teardown(() => h.stop());
  const start = async (prefix: string, extra: { global?: false } = {}) => {
    const n = await Node.start({ name: `${prefix}${uniq}@127.0.0.1`, cookie: 'k', epmd: { embedded: true, port: epmdPort }, hidden: false, ...extra });
    t.teardown(() => n.stop());
    return n;
  };
  const a = await start('ga');
  const b = await start('gb');
  const c = await start('gc');

  t.test('a hidden node takes no part in global', async (t) => {
    t.equal(h.global.enabled, false);
    t.throws(() => h.global.whereis('x'), GlobalError);
    t.throws(() => h.global.names(), { code: 'ERR_GLOBAL_DISABLED' });
    await t.rejects(h.global.register('x', h.spawn()), { code: 'ERR_GLOBAL_DISABLED' });
    await h.connect(a.name);
    await a.global.sync({ timeoutMs: 5000 });
    t.same(a.global.info().known, [], 'a does not sync with a hidden peer');
    t.same(await h.rpc(a.name, 'global', 'registered_names', []), [], "a's global module answers rpc");
  });

  t.test('two nodes sync both ways; a third joins and meets the other by itself', async (t) => {
    const t0 = Date.now();
    await a.connect(b.name);
    await Promise.all([a.global.sync({ timeoutMs: 10_000 }), b.global.sync({ timeoutMs: 10_000 })]);
    const ab = Date.now() - t0;
    t.same(a.global.info().known, [b.name]);
    t.same(b.global.info().known, [a.name]);
    const t1 = Date.now();
    await c.connect(a.name);
    await c.global.sync({ timeoutMs: 10_000 });
    await eventually(() => c.global.info().known.sort(), (k) => k.length === 2, 'c knows a and b');
    await eventually(() => b.nodes(), (n) => n.includes(c.name), 'b connected to c');
    await b.global.sync({ timeoutMs: 10_000 });
    t.comment(`beambridge nodes only: two nodes synced in ${ab} ms; a third joined and synced with both in ${Date.now() - t1} ms`);
    t.same(b.global.info().known.sort(), [a.name, c.name].sort());
    t.same(b.global.info().synced.sort(), [a.name, c.name].sort());
  });

  t.test('names: register, whereis, send, call, unregister, exits', async (t) => {
    const p = a.spawn();
    t.equal(await a.global.register('from_a', p), true);
    t.ok(termEquals(b.global.whereis('from_a')!, p.pid));
    t.ok(termEquals(c.global.whereis(atom('from_a'))!, p.pid), 'a string name is the atom');
    t.ok(termEquals(c.global.send('from_a', atom('hi')), p.pid));
    t.equal(await p.receive({ timeoutMs: 5000 }), atom('hi'));
    t.equal(await c.global.register('from_a', c.spawn()), false, 'taken');
    t.equal(await c.global.register('second', p.pid), false, 'a pid has one name');
    // Any term can be a name, and a node can register another node's pid.
    const name: Term = tuple(atom('room'), 42);
    const p2 = a.spawn();
    t.equal(await c.global.register(name, p2.pid), true);
    t.ok(termEquals(a.global.whereis(name)!, p2.pid));
    t.same(a.global.names().length, 2);
    const srv = b.serve(undefined, { call: (req) => tuple(atom('got'), req) });
    await b.global.reRegister('srv', srv.pid);
    t.ok(termEquals(c.global.whereis('srv')!, srv.pid), 'reRegister');
    t.ok(termEquals(await c.call({ global: 'srv' }, 1), tuple(atom('got'), 1)));
    await c.global.unregister(name);
    t.equal(a.global.whereis(name), undefined);
    p.exit();
    await eventually(() => c.global.whereis('from_a'), (x) => x === undefined, 'the exit removes the name on c');
    t.equal(b.global.whereis('from_a'), undefined);
    await srv.stop();
    await eventually(() => a.global.whereis('srv'), (x) => x === undefined, 'srv gone');
  });

  t.test('locks', async (t) => {
    t.ok(await a.global.setLock([atom('r'), atom('a')], { retries: 0 }));
    t.ok(await a.global.setLock([atom('r'), atom('a')], { retries: 0 }), 'the same requester again');
    t.notOk(await b.global.setLock([atom('r'), atom('b')], { retries: 0 }), 'another requester is refused');
    const waiting = b.global.setLock([atom('r'), atom('b')], { retries: 5 });
    await a.global.delLock([atom('r'), atom('a')]);
    t.ok(await waiting, 'a retrying requester gets it once released');
    await t.rejects(c.global.trans([atom('r'), atom('c')], () => 1, { retries: 0 }), { code: 'ERR_LOCK_NOT_SET' });
    await b.global.delLock([atom('r'), atom('b')]);
    t.equal(await c.global.trans([atom('r'), atom('c')], async () => 'ran'), 'ran');
    // A holder that exits releases its locks everywhere.
    const holder = a.spawn();
    t.ok(await a.global.setLock([atom('r2'), atom('x')], { process: holder, retries: 0 }));
    t.notOk(await b.global.setLock([atom('r2'), atom('y')], { retries: 0 }));
    holder.exit();
    t.ok(await b.global.setLock([atom('r2'), atom('y')], { retries: 10 }), 'released by the exit');
    const aborted = new AbortController();
    const gaveUp = c.global.setLock([atom('r2'), atom('z')], { signal: aborted.signal });
    aborted.abort();
    t.equal(await gaveUp, false, 'an aborted setLock resolves false');
  });

  t.test('a clash when a partition joins: the node whose name sorts first resolves', async (t) => {
    // g0 sorts before ga: its resolvers run; gz sorts after: ga's do.
    const first = await start('g0');
    const last = await start('gz');
    const seen: [Term, Pid, Pid][] = [];
    const mine = first.spawn();
    t.ok(await first.global.register('clash', mine, { resolve: (n, other, me) => (seen.push([n, other, me]), me) }));
    const theirs = a.spawn();
    t.ok(await a.global.register('clash', theirs));
    await first.connect(a.name);
    await first.global.sync({ timeoutMs: 10_000 });
    t.equal(seen.length, 1, 'the JS resolver ran on g0');
    t.ok(termEquals(seen[0][1], theirs.pid) && termEquals(seen[0][2], mine.pid), '(name, other, mine)');
    t.ok(termEquals(a.global.whereis('clash')!, mine.pid), 'the name went where the resolver said');
    t.ok(theirs.alive, 'nobody was killed');
    // gz joins with two of these names; ga (smaller) resolves each with the method of its own registration.
    const kept = last.spawn();
    const doomed = last.spawn();
    t.ok(await last.global.register('clash', kept));
    const theirs2 = a.spawn();
    t.ok(await a.global.register('clash2', theirs2));
    t.ok(await last.global.register('clash2', doomed));
    await last.connect(a.name);
    await last.global.sync({ timeoutMs: 10_000 });
    // clash: g0's JS resolver (run on g0 by rpc from ga) keeps g0's process; gz's just loses the name.
    t.equal(seen.length, 2, 'the JS resolver ran again, on g0');
    t.ok(termEquals(last.global.whereis('clash')!, mine.pid));
    t.ok(kept.alive);
    // clash2: ga's default, random_exit_name, kills the pid on the larger node (gz).
    await eventually(() => doomed.alive, (x) => !x, 'the process on gz loses');
    t.equal(doomed.reason, atom('killed'));
    t.ok(termEquals(last.global.whereis('clash2')!, theirs2.pid));
    await first.stop();
    await last.stop();
  });

  t.test('a clash whose method is an Erlang fun no node here can run: the name is unregistered, no loop', async (t) => {
    // What an Erlang node's global:register_name/2 stores: a fun of module global, here from a node that left.
    const erlFun = new Fun(3, Buffer.alloc(16), 0, atom('global'), 0, 0, new Pid(atom('gone@nowhere'), 1, 0, 1), []);
    const bp = b.spawn();
    for (const n of [a, b, c]) t.equal(await h.call({ name: 'global_name_server', node: n.name }, tuple(atom('register'), atom('fclash'), bp.pid, erlFun)), atom('yes'));
    const x = await start('gx');
    const xp = x.spawn();
    t.ok(await x.global.register('fclash', xp));
    // ga (smaller) settles it on gb, the node of the pid; gb cannot run the fun and finds no Erlang node that can.
    await x.connect(a.name);
    await x.global.sync({ timeoutMs: 10_000 });
    await eventually(() => a.global.whereis('fclash'), (p) => p === undefined, 'unregistered on ga');
    t.equal(x.global.whereis('fclash'), undefined, 'and on the joining node');
    t.ok(bp.alive && xp.alive, 'nobody killed');
    await x.stop();
  });

  t.test('malformed messages to global_name_server are dropped; it keeps serving', async (t) => {
    const to = { name: 'global_name_server', node: a.name };
    const me = h.spawn();
    const junk: Term[] = [
      atom('junk'),
      tuple(atom('init_connect'), 1, 2, 3),
      tuple(atom('$gen_cast'), tuple(atom('init_connect'), tuple(atom('x')), atom(h.name), 3)),
      tuple(atom('$gen_cast'), tuple(atom('init_connect'), tuple(8, 1), atom(h.name), tuple(atom('locker'), 1, 2, 3))),
      tuple(atom('$gen_cast'), tuple(atom('exchange'), atom(h.name), [1, 2], [], 7)),
      tuple(atom('$gen_cast'), tuple(atom('resolved'), atom(h.name), 1, 2, 3, 4, 5)),
      tuple(atom('$gen_cast'), tuple(atom('new_nodes'), atom(h.name), [tuple(atom('insert'), 1)], [], [1, 'x'], 3)),
      tuple(atom('$gen_cast'), tuple(atom('lock_set'), me.pid, true, [], 99)),
      tuple(atom('init_connect_ack'), atom(h.name), 1, 2),
      tuple(atom('cancel_connect'), atom(h.name), 1),
      tuple(atom('lost_connection'), 1, 2, 3, 4),
      tuple(atom('lost_connection'), atom(h.name), 1, 1, atom('nobody@nowhere')),
      tuple(atom('remove_connection'), atom('nobody@nowhere')),
      tuple(atom('$gen_call'), tuple(me.pid, atom('tag')), tuple(atom('set_lock'), 1)),
      tuple(atom('$gen_call'), tuple(me.pid, atom('tag')), atom('unknown_call')),
    ];
    for (const m of junk) me.send(to, m);
    // What an Erlang node may ask it.
    const ask = (req: Term) => h.call(to, req, { timeoutMs: 5000 });
    t.equal(await ask(atom('get_protocol_version')), 8);
    t.same(await ask(atom('get_names_ext')), []);
    t.same(((await ask(atom('get_known'))) as Term[]).length, a.global.info().known.length);
    t.ok(Array.isArray(await ask(atom('get_synced'))));
    const r = a.spawn();
    t.ok(await a.global.register('still_works', r));
    t.ok(termEquals(b.global.whereis('still_works')!, r.pid));
    me.send(to, tuple(atom('whereis'), atom('still_works'), tuple(me.pid, atom('w'))));
    const w = await me.receive({ timeoutMs: 5000, match: (m) => m instanceof Tuple && m.at(0) === atom('w') });
    t.ok(termEquals(w, tuple(atom('w'), r.pid)), '{whereis, Name, From} is answered');
  });

  t.test('a node leaving takes its names; global keeps working', async (t) => {
    const q = c.spawn();
    t.ok(await c.global.register('from_c', q));
    t.ok(a.global.whereis('from_c'));
    await c.stop();
    await eventually(() => a.global.whereis('from_c'), (x) => x === undefined, "c's name is gone on a");
    await eventually(() => b.global.info().known, (k) => !k.includes(c.name), 'b forgets c');
    const r = a.spawn();
    t.ok(await a.global.register('after', r));
    t.ok(termEquals(b.global.whereis('after')!, r.pid));
    const off = await start('gq', { global: false });
    t.equal(off.global.enabled, false, 'global: false on a visible node');
  });
});

t.test('a GlobalError is a BeamBridgeError with a code', (t) => {
  const e = new GlobalError('ERR_NOT_REGISTERED', 'x');
  t.equal(e.code, 'ERR_NOT_REGISTERED');
  t.equal(e.name, 'GlobalError');
  t.end();
});
