// kernel's global with a visible beambridge node, against real erl (every
// OTP variant present): a three-node cluster of two erl nodes (ga, gm) and a
// visible beambridge node (gz, the largest name: the boss every global lock
// is taken on first). global:sync() with the Node against an erl peer, names
// both ways, clashes settled as global settles them (by Erlang's resolver,
// and by the Node's when a Node whose name sorts first joins), Erlang locks
// and register_name through the Node, the Node leaving and coming back, and
// prevent_overlapping_partitions. Each figure is printed.
import t from 'tap';
import { Node } from '../../src/otp/index.js';
import { Pid, Tuple, atom, termEquals, tuple, type Term } from '../../src/etf/index.js';
import { startEpmd } from '../../src/testing/index.js';
import { variantsSideBySide } from '../helpers/otp.js';
import { Driver, eventually, median, startGlobalErl } from './global-cluster.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const COOKIE = 'globalcookie';
const ROUNDS = 3;
const ms = (x: number) => `${x.toFixed(1)} ms`;

// Each variant has its own epmd, node names and erl: they run side by side (mostly waiting on erl).
for (const v of variantsSideBySide(t)) {
  t.test(v.label, async (t) => {
    const epmdPort = await startEpmd(t);
    const tag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const A = `ga${tag}@127.0.0.1`;
    const B = `gm${tag}@127.0.0.1`;
    const J = `gz${tag}@127.0.0.1`;
    const K = `g0${tag}@127.0.0.1`;
    await Promise.all([A, B].map((name) => startGlobalErl(t, { name, cookie: COOKIE, epmdPort, root: v.root })));
    const h = await Node.start({ name: `gh${tag}@127.0.0.1`, cookie: COOKIE, epmd: { port: epmdPort } });
    t.teardown(() => h.stop());
    const d = new Driver(h);
    const startJ = async () => {
      const n = await Node.start({ name: J, cookie: COOKIE, epmd: { port: epmdPort }, hidden: false });
      t.teardown(() => n.stop());
      return n;
    };
    let j = await startJ();

    t.test('reference: a visible node without global stalls global:sync() until it leaves', async (t) => {
      const off = await Node.start({ name: `gy${tag}@127.0.0.1`, cookie: COOKIE, epmd: { port: epmdPort }, hidden: false, global: false });
      t.teardown(() => off.stop());
      t.throws(() => off.global.whereis('x'), { code: 'ERR_GLOBAL_DISABLED' });
      await off.connect(A);
      const syncer = await d.rpc(A, 'global_peer', 'sync_async');
      t.equal(await d.rpc(A, 'global_peer', 'sync_result', [syncer, 2000]), atom('pending'), 'global:sync() on ga still waits after 2 s');
      const left = Date.now();
      await off.stop();
      const r = (await d.rpc(A, 'global_peer', 'sync_result', [syncer, 30_000])) as Tuple;
      t.equal(r.at(0), atom('ok'));
      t.comment(`${v.label}: without global, ga's global:sync() took ${ms(Number(r.at(1)) / 1000)}, returning ${Date.now() - left} ms after the node left`);
      await eventually(() => d.nodes(A), (n) => n.length === 0, 'ga lets it go');
    });

    t.test('global:sync() on an erl node: a beambridge peer against an erl peer', async (t) => {
      const withErl: number[] = [];
      const withNode: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // The same join each time: `ga` alone, then a peer joins it and ga's global:sync() waits for it.
        // Before each cut, both sides' lockers have released their locks (a late del_lock would reconnect).
        withErl.push(await d.join(A, B));
        await Promise.all([d.quiet(A), d.quiet(B)]);
        await d.rpc(A, 'erlang', 'disconnect_node', [atom(B)]);
        await eventually(() => Promise.all([d.nodes(A), d.nodes(B)]), (n) => n.flat().length === 0, 'ga and gm part');
        withNode.push(await d.join(A, J));
        await Promise.all([d.quiet(A), eventually(() => j.global.info().locks, (n) => n === 0, 'locks on the Node')]);
        await d.rpc(A, 'erlang', 'disconnect_node', [atom(J)]);
        await eventually(() => d.nodes(A), (n) => n.length === 0, 'ga lets gz go');
        await eventually(() => j.global.info().known, (k) => k.length === 0, 'gz forgets ga');
      }
      const ratios = withNode.map((x, i) => x / withErl[i]);
      t.comment(`${v.label}: global:sync() after net_adm:ping, per round: erl peer ${withErl.map(ms).join(', ')}; beambridge peer ${withNode.map(ms).join(', ')}`);
      t.comment(`${v.label}: beambridge/erl per round ${ratios.map((r) => r.toFixed(2)).join(', ')}, median ${median(ratios).toFixed(2)} (without global it waits until the node leaves: see the reference test)`);
      // Not a timing assertion: the point is that it returns, as with an erl peer, instead of waiting for the Node to leave.
      for (const x of withNode) t.ok(x < 30_000, `global:sync() returned in ${ms(x)}`);
    });

    t.test('three-node cluster: the Node joins, every node syncs, the mesh is full', async (t) => {
      const joinErl = await d.join(A, B);
      await Promise.all([d.quiet(A), d.quiet(B)]);
      const t0 = Date.now();
      await j.connect(A);
      const syncA = await d.syncTime(A);
      // ga told gm about the Node (new_nodes) and the Node about gm (resolved): they connect to each other by themselves.
      await eventually(() => d.nodes(B), (n) => n.includes(J), 'gm connects to the Node');
      const syncB = await d.syncTime(B);
      await j.global.sync({ timeoutMs: 30_000 });
      const all = Date.now() - t0;
      t.comment(`${v.label}: gm joins ga: ${ms(joinErl)}; gz joins {ga, gm}: global:sync() on ga ${ms(syncA)}, then on gm ${ms(syncB)}; full mesh, synced everywhere ${all} ms after connect`);
      t.same(await d.nodes(A), [B, J].sort());
      t.same(j.nodes().filter((n) => n === A || n === B).sort(), [A, B].sort(), 'the Node connected to both');
      t.same(await d.known(A), [B, J].sort(), "ga's global knows the Node");
      t.same(await d.known(B), [A, J].sort(), "gm's global knows the Node");
      t.same(j.global.info().known.sort(), [A, B].sort(), "the Node's global knows both");
      t.same(j.global.info().synced.sort(), [A, B].sort(), 'and is synced with both');
    });

    t.test('names both ways: register, whereis, send, unregister, exits', async (t) => {
      const a1 = await d.register(A, 'a1');
      t.ok(a1.yes);
      t.ok(termEquals(j.global.whereis('a1')!, a1.pid), "the Node sees ga's name at once");
      const p = j.spawn();
      t.equal(await j.global.register('j1', p), true, 'yes');
      t.ok(termEquals((await d.whereis(A, 'j1'))!, p.pid), 'ga: global:whereis_name(j1)');
      t.ok(termEquals((await d.whereis(B, 'j1'))!, p.pid), 'gm: global:whereis_name(j1)');
      await d.rpc(B, 'global', 'send', [atom('j1'), atom('hello')]);
      t.equal(await p.receive({ timeoutMs: 10_000 }), atom('hello'), 'global:send from gm reaches the Node process');
      t.equal(await j.global.register('a1', j.spawn()), false, 'a taken name: no');
      t.equal(await j.global.register('j1b', p), false, 'a pid with a name already: no');
      // Erlang registers a pid of the Node.
      const q = j.spawn();
      t.equal(await d.rpc(B, 'global_peer', 'register_for', [atom('jb'), q.pid, atom('random_exit_name')]), atom('yes'));
      t.ok(termEquals(j.global.whereis('jb')!, q.pid), 'the Node sees the name gm gave its process');
      t.same(j.global.names().map((n) => String(n)).sort(), await d.names(B), 'registered_names agree');
      t.same(await d.names(A), await d.names(B));
      // A globally registered gen_server in JS, called from Erlang as {global, Name}.
      const srv = j.serve(undefined, { call: (req) => tuple(atom('pong'), req) });
      t.equal(await j.global.register('js_srv', srv.pid), true);
      const r = await d.rpc(A, 'gen_server', 'call', [tuple(atom('global'), atom('js_srv')), atom('ping')]);
      t.ok(termEquals(r, tuple(atom('pong'), atom('ping'))), "gen_server:call({global, js_srv}, ping) from ga");
      t.ok(termEquals(await j.call({ global: 'js_srv' }, atom('x')), tuple(atom('pong'), atom('x'))), 'node.call({ global: name })');
      await t.rejects(j.call({ global: 'nobody' }, atom('x')), { code: 'ERR_NOPROC' });
      // Unregistration both ways.
      await j.global.unregister('j1');
      t.equal(await d.whereis(A, 'j1'), undefined, 'unregistered on ga');
      await d.rpc(A, 'global', 'unregister_name', [atom('a1')]);
      t.equal(j.global.whereis('a1'), undefined, 'unregistered on the Node');
      // A process exit removes its name on every node.
      q.exit();
      await eventually(() => d.whereis(B, 'jb'), (x) => x === undefined, 'gm drops jb');
      await eventually(() => d.whereis(A, 'jb'), (x) => x === undefined, 'ga drops jb');
      const a2 = await d.register(A, 'a2');
      await d.rpc(A, 'erlang', 'exit', [a2.pid, atom('kill')]);
      await eventually(() => j.global.whereis('a2'), (x) => x === undefined, 'the Node drops a2');
      t.throws(() => j.global.send('a2', atom('x')), { code: 'ERR_NOT_REGISTERED' });
    });

    t.test('Erlang global locks and register_name go through the Node (the boss) without waiting', async (t) => {
      const all = [A, B, J].map((n) => atom(n));
      const holder = (await d.rpc(B, 'global_peer', 'holder')) as Pid;
      const setLock = async (id: Term, retries = 0) => {
        const r = (await d.rpc(B, 'global_peer', 'set_lock', [holder, id, all, retries])) as Tuple;
        return { set: r.at(0) === true, ms: Number(r.at(1)) / 1000 };
      };
      const res = tuple(atom('res'), holder);
      const l1 = await setLock(res);
      t.ok(l1.set, 'gm: global:set_lock on [ga, gm, gz]');
      t.equal(await j.global.setLock([atom('res'), atom('js')], { retries: 0 }), false, 'the Node cannot take the lock gm holds');
      await d.rpc(B, 'global_peer', 'del_lock', [holder, res, all]);
      t.equal(await j.global.setLock([atom('res'), atom('js')], { retries: 0 }), true, 'the Node takes it once released');
      const l2 = await setLock(res);
      t.notOk(l2.set, 'gm cannot take the lock the Node holds');
      await j.global.delLock([atom('res'), atom('js')]);
      const l3 = await setLock(res);
      t.ok(l3.set, 'gm takes it again');
      await d.rpc(B, 'global_peer', 'del_lock', [holder, res, all]);
      const tr = (await d.rpc(A, 'global_peer', 'trans_time', [tuple(atom('res2'), atom('ga')), all])) as Tuple;
      t.equal(tr.at(0), atom('done'), 'global:trans on ga');
      const reg = await d.register(A, 'locked_name');
      t.ok(reg.yes, 'global:register_name on ga (its lock is taken on the Node first)');
      t.equal(await j.global.trans([atom('res3'), atom('js')], () => 42), 42, 'node.global.trans');
      t.comment(`${v.label}: with the Node as boss: set_lock ${ms(l1.ms)} (refused: ${ms(l2.ms)}), trans ${ms(Number(tr.at(1)) / 1000)}, register_name ${ms(reg.ms)}`);
    });

    t.test('the Node leaves and comes back; a clash is settled by the Erlang side', async (t) => {
      const p = j.spawn();
      t.ok(await j.global.register('j_leaves', p));
      t.ok(await d.whereis(A, 'j_leaves'));
      await j.stop();
      await eventually(() => d.whereis(A, 'j_leaves'), (x) => x === undefined, "ga drops the Node's name");
      await eventually(() => d.whereis(B, 'j_leaves'), (x) => x === undefined, "gm drops the Node's name");
      await eventually(() => d.nodes(A), (n) => !n.includes(J), 'ga lost the Node');
      const afterLeave = await d.syncTime(A);
      t.comment(`${v.label}: global:sync() on ga after the Node left: ${ms(afterLeave)}`);
      // Back under the same name (a new creation). While alone it takes a name ga also has.
      j = await startJ();
      const mine = j.spawn();
      t.equal(await j.global.register('clash', mine), true, 'alone, the Node registers clash');
      const theirs = await d.register(A, 'clash');
      t.ok(theirs.yes);
      const back = await d.join(A, J);
      const syncB = await d.syncTime(B);
      t.comment(`${v.label}: the Node comes back: ga's join and global:sync() ${ms(back)}, gm's global:sync() ${ms(syncB)}`);
      // ga (the smaller name) settles it with its default resolver, random_exit_name: the pid on the larger node dies.
      await eventually(() => mine.alive, (x) => !x, 'the Node process loses the clash');
      t.equal(mine.reason, atom('killed'), "global:random_exit_name's kill");
      t.ok(termEquals(j.global.whereis('clash')!, theirs.pid), 'the name stays with the Erlang process');
      t.ok(termEquals((await d.whereis(B, 'clash'))!, theirs.pid));
      await j.global.sync({ timeoutMs: 30_000 });
      t.same(j.global.info().known.sort(), [A, B].sort());
      const q = j.spawn();
      t.ok(await j.global.register('j_back', q));
      t.ok(termEquals((await d.whereis(B, 'j_back'))!, q.pid), 'names work again after the return');
    });

    t.test("a Node whose name sorts first settles clashes with its own resolvers", async (t) => {
      const k = await Node.start({ name: K, cookie: COOKIE, epmd: { port: epmdPort }, hidden: false });
      t.teardown(() => k.stop());
      const kExit = k.spawn();
      const kNotify = k.spawn();
      const kJs = k.spawn();
      const kNone = k.spawn();
      const seen: Term[] = [];
      t.ok(await k.global.register('c_exit', kExit));
      t.ok(await k.global.register('c_notify', kNotify, { resolve: 'notify' }));
      t.ok(await k.global.register('c_js', kJs, { resolve: (name, other) => (seen.push(name), other) }));
      t.ok(await k.global.register('c_none', kNone, { resolve: () => undefined }));
      const b = Object.fromEntries(await Promise.all(['c_exit', 'c_notify', 'c_js', 'c_none'].map(async (n) => [n, await d.register(B, n)] as const)));
      const joined = await d.join(A, K);
      t.comment(`${v.label}: a second Node (g0) with four clashing names joins: ga's join and global:sync() ${ms(joined)}`);
      await k.global.sync({ timeoutMs: 30_000 });
      // c_exit: random_exit_name run on the Node kills the pid on the larger node, gm's.
      t.equal(await eventually(() => d.log(B, b.c_exit.pid), (x) => x === atom('dead'), "gm's c_exit holder is killed"), atom('dead'));
      t.ok(termEquals((await d.whereis(B, 'c_exit'))!, kExit.pid), 'c_exit stays with the Node process');
      t.ok(kExit.alive);
      // c_notify: random_notify_name tells gm's holder instead.
      const log = await eventually(() => d.log(B, b.c_notify.pid), (x) => Array.isArray(x) && x.length > 0, "gm's holder is told");
      t.ok(termEquals(log, [tuple(atom('global_name_conflict'), atom('c_notify'))]), '{global_name_conflict, c_notify}');
      t.ok(termEquals((await d.whereis(A, 'c_notify'))!, kNotify.pid));
      // c_js: the JS resolver gave the name to the other (Erlang) process.
      t.ok(termEquals(seen, [atom('c_js')]), 'the JS resolver ran once');
      t.ok(termEquals((await d.whereis(A, 'c_js'))!, b.c_js.pid), 'c_js went to the Erlang process');
      t.ok(termEquals(k.global.whereis('c_js')!, b.c_js.pid));
      t.ok(kJs.alive, 'and the Node process lives on');
      // c_none: unregistered everywhere.
      t.equal(await d.whereis(A, 'c_none'), undefined);
      t.equal(await d.whereis(B, 'c_none'), undefined);
      t.equal(k.global.whereis('c_none'), undefined);
      await k.stop();
    });

    t.test('a clash over a Node process that Erlang registered: its Erlang fun runs on an Erlang node', async (t) => {
      // gm registers a process of the Node with global:register_name/2 (the resolve method is an Erlang fun).
      const q = j.spawn();
      t.equal(await d.rpc(B, 'global', 'register_name', [atom('ej'), q.pid]), atom('yes'));
      // A Node named after everyone else joins with its own ej: ga settles it, by rpc to the Node (node(Pid2)),
      // which cannot run an Erlang fun and has an Erlang node run it.
      const l = await Node.start({ name: `h${tag}@127.0.0.1`, cookie: COOKIE, epmd: { port: epmdPort }, hidden: false });
      t.teardown(() => l.stop());
      const lp = l.spawn();
      t.ok(await l.global.register('ej', lp));
      await d.join(A, l.name);
      await l.global.sync({ timeoutMs: 30_000 });
      // random_exit_name: the pid on the larger node (h...) is killed, the Node's (gz...) keeps the name.
      await eventually(() => lp.alive, (x) => !x, "the joining node's process is killed");
      t.equal(lp.reason, atom('killed'));
      t.ok(q.alive);
      t.ok(termEquals((await d.whereis(A, 'ej'))!, q.pid));
      t.ok(termEquals(l.global.whereis('ej')!, q.pid));
      await l.stop();
      await eventually(() => d.nodes(A), (n) => !n.includes(l.name), 'it leaves');
    });

    t.test('prevent_overlapping_partitions: cutting one connection parts all three, as it parts three erl nodes', async (t) => {
      // OTP 25+: a node that loses a peer tells the others (lost_connection), and they drop that peer
      // (asking it with remove_connection); so a cut between two nodes of three leaves all three apart.
      // Three erl nodes do exactly this; here the Node is one of the three, on both ends of the cut.
      const quiet = () => Promise.all([d.quiet(A), d.quiet(B), eventually(() => j.global.info().locks, (n) => n === 0, 'locks on the Node')]);
      const apart = () => Promise.all([d.nodes(A), d.nodes(B), j.nodes().filter((n) => n === A || n === B)]);
      const rejoin = async () => {
        await d.join(A, J);
        await d.join(A, B);
        await eventually(() => d.nodes(B), (n) => n.length === 2, 'gm connects to the Node by itself');
        await j.global.sync({ timeoutMs: 30_000 });
        t.same(await d.known(B), [A, J].sort(), 'one cluster again');
      };
      await eventually(() => d.nodes(B), (n) => n.includes(J), 'gm connected to the Node');
      await quiet();
      await d.rpc(A, 'erlang', 'disconnect_node', [atom(J)]);
      // gm drops ga only because the Node reported losing ga: ga's own report names the Node.
      t.same(await eventually(apart, (x) => x.every((n) => n.length === 0), 'ga cuts the Node: all apart'), [[], [], []]);
      t.same(j.global.info().known, []);
      await rejoin();
      await quiet();
      j.disconnect(A);
      t.same(await eventually(apart, (x) => x.every((n) => n.length === 0), 'the Node cuts ga: all apart'), [[], [], []]);
      await rejoin();
    });
  });
}
