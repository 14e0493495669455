// Erlang process semantics across the bridge, against real erl (every OTP
// variant present), both directions: links and the UNLINK_ID protocol,
// exits and trap_exit, EXIT2 and kill, the PAYLOAD and _TT variants OTP
// sends, monitors by pid and by name, aliases, and a lost connection firing
// every link and monitor across it with noconnection at once.
import t from 'tap';
import { Node } from '../../src/otp/index.js';
import { CTRL, type ControlMessage } from '../../src/dist/index.js';
import { NONE, isDown, type LocalProcess } from '../../src/node/index.js';
import { Pid, Reference, Tuple, atom, formatTerm, termEquals, tuple, type Term } from '../../src/etf/index.js';
import { startEpmd, startErlNode } from '../../src/testing/index.js';
import { PEER_EVAL, PEER_MODULES, isTuple } from '../node/peer.js';
import { Puppet, isExit } from './puppet.js';
import { until } from '../helpers/until.js';
import { variantsSideBySide } from '../helpers/otp.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;
const A = atom;

function isDownOf(m: Term, obj?: Term, reason?: Term): boolean {
  return isTuple(m, 'DOWN', 5) && (obj === undefined || termEquals(m.at(3), obj)) && (reason === undefined || termEquals(m.at(4), reason));
}

for (const v of variantsSideBySide(t)) {
  t.test(v.label, async (t) => {
    const epmdPort = await startEpmd(t);
    const vtag = `${uniq}${v.root ? v.root.replace(/\W/g, '') : 'sys'}`;
    const erlName = `sem${vtag}@127.0.0.1`;
    const node = await Node.start({ name: `jssem${vtag}@127.0.0.1`, cookie: 'cookie', epmd: { port: epmdPort } });
    t.teardown(() => node.stop());
    // Every control message the node receives, by wire tag.
    const ops = new Set<number>();
    node.on('nodeup', (peer) => node.connection(peer)?.on('message', (m: ControlMessage) => ops.add(m.op)));
    await startErlNode(t, { name: erlName, cookie: 'cookie', epmdPort, eval: PEER_EVAL, modules: PEER_MODULES, root: v.root });
    const me = node.spawn();
    const puppet = (trapExit = false) => Puppet.spawn(node, me, erlName, { trapExit });
    const links = async (e: Puppet) => (await e.do('{links, L} = process_info(Self, links), L.')) as Term[];

    t.test('links: LINK and UNLINK_ID with its ack, both ways', async (t) => {
      const p = node.spawn();
      const e = await puppet();
      p.link(e.pid);
      t.ok((await links(e)).some((x) => termEquals(x, p.pid)), 'erl sees the link');
      p.unlink(e.pid);
      t.equal(p.links.get([...p.links.keys()][0])?.unlinking, 1n, 'inactive until the ack');
      t.ok(await until(() => p.links.size === 0), 'the UNLINK_ID_ACK removed it');
      t.ok(ops.has(CTRL.UNLINK_ID_ACK), 'OTP acknowledged with UNLINK_ID_ACK');
      t.same(await links(e), [], 'erl dropped its side');
      // Erlang links and unlinks.
      await e.do('link(P), ok.', { P: p.pid });
      t.equal(p.links.size, 1, "erl's LINK arrived before its reply");
      await e.do('unlink(P), ok.', { P: p.pid });
      t.equal(p.links.size, 0, "erl's UNLINK_ID removed our side");
      t.ok(ops.has(CTRL.UNLINK_ID), 'OTP unlinks with UNLINK_ID');
      t.same(await links(e), [], 'our ack reached erl (its link information is gone)');
      // Linking again after the unlink works both ways.
      p.link(e.pid);
      t.equal((await links(e)).length, 1);
      p.exit();
    });

    t.test('no exit crosses an unlink', async (t) => {
      // erl links, unlinks, and tells us to die: our UNLINK_ID_ACK went first, so erl gets no EXIT.
      const e = await puppet(true);
      const p = node.spawn();
      void p.receive({ match: (m) => m === A('die') }).then(() => p.exit(A('boom')));
      await e.do('link(P), unlink(P), P ! die, ok.', { P: p.pid });
      t.ok(await until(() => !p.alive));
      await e.do('ok.');
      t.same((await e.log()).filter((m) => isExit(m)), [], 'no EXIT after the unlink');
      // We unlink and die at once: no EXIT goes out for an inactive link.
      const q = node.spawn();
      q.link(e.pid);
      await e.do('ok.');
      q.unlink(e.pid);
      q.exit(A('boom'));
      await e.do('ok.');
      t.same((await e.log()).filter((m) => isExit(m)), [], 'no EXIT from a process that unlinked first');
    });

    t.test('exits through links, both ways, with and without trap_exit', async (t) => {
      const e = await puppet(true);
      // p.exit(reason): the linked (trapping) erl process gets the signal, its monitor the DOWN.
      const p = node.spawn();
      await e.do('link(P), erlang:monitor(process, P), ok.', { P: p.pid });
      p.exit(tuple(A('shutdown'), 'why'));
      const reason = tuple(A('shutdown'), Buffer.from('why'));
      t.ok(isExit(await e.waitFor((m) => isExit(m, p.pid)), p.pid, reason), 'EXIT with our reason');
      t.ok(isDownOf(await e.waitFor((m) => isDownOf(m)), p.pid, reason), 'DOWN with our reason');
      // An erl process that exits: a trapping JS process gets a message, a non-trapping one dies.
      const victim = await puppet();
      const trap = node.spawn({ trapExit: true });
      const plain = node.spawn();
      trap.link(victim.pid);
      plain.link(victim.pid);
      await victim.do('ok.');
      t.equal(await victim.kill(A('crashed')), A('crashed'));
      t.ok(termEquals(await trap.receive({ timeoutMs: 10_000 }), tuple(A('EXIT'), victim.pid, A('crashed'))));
      t.ok(await until(() => !plain.alive));
      t.equal(plain.reason, A('crashed'), 'a non-trapping linked process dies with the reason');
      t.ok(ops.has(CTRL.PAYLOAD_EXIT), 'erl sends PAYLOAD_EXIT (EXIT_PAYLOAD is negotiated)');
      // A normal exit spares a non-trapping linked process (exit(self(), normal) ends the puppet with normal).
      const spared = node.spawn();
      const normal = await puppet();
      spared.link(normal.pid);
      await normal.do('ok.');
      t.equal(await normal.kill(A('normal')), A('normal'));
      t.ok(await until(() => spared.links.size === 0), 'the link is gone');
      t.equal(spared.alive, true, 'normal does not kill a linked process');
      [trap, spared].forEach((x) => x.exit());
    });

    t.test('EXIT2 both ways, and kill', async (t) => {
      const e = await puppet(true);
      // Erlang's exit(P, Reason) to JS processes.
      const trap = node.spawn({ trapExit: true });
      const plain = node.spawn();
      const keeps = node.spawn();
      const tough = node.spawn({ trapExit: true });
      await e.do('exit(T, why), exit(P, why), exit(K, normal), exit(U, kill), ok.', { T: trap.pid, P: plain.pid, K: keeps.pid, U: tough.pid });
      t.ok(termEquals(await trap.receive({ timeoutMs: 10_000 }), tuple(A('EXIT'), e.pid, A('why'))), 'trapped: a message');
      t.ok(await until(() => !plain.alive && !tough.alive));
      t.equal(plain.reason, A('why'), 'not trapped: dies');
      t.equal(keeps.alive, true, 'normal is ignored');
      t.equal(tough.reason, A('killed'), 'kill cannot be trapped');
      t.ok(ops.has(CTRL.PAYLOAD_EXIT2), 'erl sends PAYLOAD_EXIT2');
      // node.exit / p.sendExit to Erlang processes.
      const sender = node.spawn();
      sender.sendExit(e.pid, 'from_js');
      t.ok(isExit(await e.waitFor((m) => isExit(m, sender.pid)), sender.pid, A('from_js')), 'a trapping erl process gets {EXIT, From, Reason}');
      node.exit(e.pid, tuple(A('by_node'), 1));
      const m = await e.waitFor((x) => isExit(x, undefined, tuple(A('by_node'), 1)));
      t.ok((m as Tuple).at(1) instanceof Pid && ((m as Tuple).at(1) as Pid).node === node.nodeAtom, 'from a pid of our node');
      const soft = await puppet();
      const r1 = me.monitor(soft.pid);
      node.exit(soft.pid, A('stop_now'));
      t.equal(((await me.receive({ timeoutMs: 10_000, match: (x) => isDown(x, r1) })) as Tuple).at(4), A('stop_now'), 'a non-trapping erl process dies');
      const r2 = me.monitor(e.pid);
      node.exit(e.pid, A('kill'));
      t.equal(((await me.receive({ timeoutMs: 10_000, match: (x) => isDown(x, r2) })) as Tuple).at(4), A('killed'), 'kill ends a trapping erl process');
      [trap, keeps, sender].forEach((x) => x.exit());
    });

    t.test('the _TT variants OTP sends with a seq_trace token are understood', async (t) => {
      const target = node.spawn({ name: 'tt_target', trapExit: true });
      const other = node.spawn({ trapExit: true });
      const al = target.alias();
      const e = await puppet();
      const before = new Set(ops);
      await e.do(
        'seq_trace:set_token(label, 7), P ! m1, {tt_target, N} ! m2, A ! m3, exit(O, r4), seq_trace:set_token([]), ok.',
        { P: target.pid, N: node.nodeAtom, A: al, O: other.pid },
      );
      const got = [];
      for (let i = 0; i < 3; i++) got.push(await target.receive({ timeoutMs: 10_000 }));
      t.same(got, [A('m1'), A('m2'), A('m3')], 'SEND, REG_SEND and ALIAS_SEND with a token delivered in order');
      t.ok(termEquals(await other.receive({ timeoutMs: 10_000 }), tuple(A('EXIT'), e.pid, A('r4'))), 'EXIT2 with a token');
      const seen = [...ops].filter((o) => !before.has(o));
      t.comment(`control tags seen with a token: ${seen.sort((a, b) => a - b).join(', ')}`);
      t.ok(ops.has(CTRL.SEND_SENDER_TT), 'SEND_SENDER_TT');
      t.ok(ops.has(CTRL.REG_SEND_TT), 'REG_SEND_TT');
      t.ok(ops.has(CTRL.ALIAS_SEND_TT), 'ALIAS_SEND_TT');
      // A link exit with a token.
      const dying = await puppet();
      const linked = node.spawn({ trapExit: true });
      linked.link(dying.pid);
      await dying.do('ok.');
      dying.fire('seq_trace:set_token(label, 9), exit(Self, tt_bye).');
      t.ok(termEquals(await linked.receive({ timeoutMs: 10_000 }), tuple(A('EXIT'), dying.pid, A('tt_bye'))), 'link exit delivered');
      t.ok(ops.has(CTRL.PAYLOAD_EXIT_TT), 'PAYLOAD_EXIT_TT (exit/2 goes without the token; its _TT forms are tested with a raw peer)');
      [target, other, linked].forEach((x) => x.exit());
    });

    t.test('monitors: ours on erl by pid and by name, erl on ours, noproc, demonitor', async (t) => {
      const w = node.spawn();
      const e = await puppet();
      const ref = w.monitor(e.pid);
      t.ok(ref instanceof Reference);
      await e.kill(A('gone'));
      const d = (await w.receive({ timeoutMs: 10_000, match: (m) => isDown(m, ref) })) as Tuple;
      t.ok(termEquals(d, tuple(A('DOWN'), ref, A('process'), e.pid, A('gone'))), `DOWN: ${formatTerm(d)}`);
      // By name: the DOWN names {Name, Node}.
      const named = await puppet();
      await named.do('register(sem_named, Self), ok.');
      const r2 = w.monitor({ name: 'sem_named', node: erlName });
      await named.do('ok.');
      await named.kill(A('by_name'));
      const d2 = (await w.receive({ timeoutMs: 10_000, match: (m) => isDown(m, r2) })) as Tuple;
      t.ok(termEquals(d2.at(3), tuple(A('sem_named'), A(erlName))) && d2.at(4) === A('by_name'), `by name: ${formatTerm(d2)}`);
      // noproc for a dead pid and for an unknown name.
      const r3 = w.monitor(e.pid);
      t.equal(((await w.receive({ timeoutMs: 10_000, match: (m) => isDown(m, r3) })) as Tuple).at(4), A('noproc'));
      const r4 = w.monitor({ name: 'no_such_name', node: erlName });
      const d4 = (await w.receive({ timeoutMs: 10_000, match: (m) => isDown(m, r4) })) as Tuple;
      t.ok(termEquals(d4.at(3), tuple(A('no_such_name'), A(erlName))) && d4.at(4) === A('noproc'));
      // demonitor: erl drops its side, and no DOWN comes later.
      const alive = await puppet();
      const r5 = w.monitor(alive.pid);
      t.equal(((await alive.do('{monitored_by, M} = process_info(Self, monitored_by), M.')) as Term[]).length, 1);
      t.equal(w.demonitor(r5), true);
      t.same(await alive.do('{monitored_by, M} = process_info(Self, monitored_by), M.'), [], 'erl dropped the monitor');
      await alive.kill(A('late'));
      await (await puppet()).do('ok.'); // a round trip after the death: a DOWN would have come before it
      t.equal(w.mailbox.take((m) => isDown(m, r5)), NONE, 'no DOWN after demonitor');
      // Erlang monitors our processes, by pid and by name; DOWN with our reason; demonitor cleans our side.
      const x = node.spawn({ name: 'sem_js' });
      const y = node.spawn();
      const o = await puppet();
      const refs = (await o.do('{erlang:monitor(process, X), erlang:monitor(process, {sem_js, N}), erlang:monitor(process, Y)}.', {
        X: x.pid,
        N: node.nodeAtom,
        Y: y.pid,
      })) as Tuple;
      t.equal(x.monitoredBy.size, 2);
      await o.do('erlang:demonitor(R), ok.', { R: refs.at(2) });
      t.equal(y.monitoredBy.size, 0, "erl's DEMONITOR_P removed it");
      x.exit(A('js_done'));
      t.ok(isDownOf(await o.waitFor((m) => isDownOf(m, x.pid)), x.pid, A('js_done')), 'DOWN by pid');
      t.ok(isDownOf(await o.waitFor((m) => isDownOf(m, tuple(A('sem_js'), node.nodeAtom))), undefined, A('js_done')), 'DOWN by name: {Name, Node}');
      t.ok(ops.has(CTRL.PAYLOAD_MONITOR_P_EXIT), 'erl sends PAYLOAD_MONITOR_P_EXIT');
      y.exit();
      w.exit();
    });

    t.test('aliases: erl sends to ours until unalias', async (t) => {
      const p = node.spawn();
      const al = p.alias();
      const e = await puppet();
      await e.do('A ! one, ok.', { A: al });
      t.equal(await p.receive({ timeoutMs: 10_000 }), A('one'));
      t.equal(p.unalias(al), true);
      await e.do('A ! lost, P ! two, ok.', { A: al, P: p.pid });
      t.equal(await p.receive({ timeoutMs: 10_000 }), A('two'), 'a send to a removed alias is dropped');
      t.equal(p.mailbox.size, 0);
      p.exit();
    });

    t.test('a lost connection fires every link and monitor across it at once, with noconnection', async (t) => {
      const e1 = await puppet();
      await e1.do('register(sem_loss, Self), ok.');
      const trap = node.spawn({ trapExit: true });
      const plain = node.spawn();
      const byPid = node.spawn();
      const byName = node.spawn();
      trap.link(e1.pid);
      plain.link(e1.pid);
      const rp = byPid.monitor(e1.pid);
      const rn = byName.monitor({ name: 'sem_loss', node: erlName });
      const pending = node.call({ name: 'peer', node: erlName }, 'never_answered', { timeoutMs: 60_000 }).catch((x: unknown) => x);
      // The erl side watches ours.
      const x = node.spawn({ name: 'sem_x' });
      const e2 = await puppet(true);
      await e2.do('link(X), erlang:monitor(process, X), erlang:monitor(process, {sem_x, N}), ok.', { X: x.pid, N: node.nodeAtom });
      await e1.do('ok.');
      t.equal(x.links.size, 1);
      t.equal(x.monitoredBy.size, 2);
      let atDown: { trap: number; byPid: boolean; byName: boolean; plain: boolean; xWatchers: number } | undefined;
      const down = new Promise<string>((resolve) =>
        node.once('nodedown', (peer) => {
          // Synchronously, in the nodedown handler: everything has fired already.
          atDown = {
            trap: trap.mailbox.size,
            byPid: byPid.mailbox.size === 1 && isDown(byPid.mailbox.take() as Term, rp),
            byName: byName.mailbox.size === 1,
            plain: plain.alive,
            xWatchers: x.links.size + x.monitoredBy.size,
          };
          resolve(peer);
        }),
      );
      t.equal(node.disconnect(erlName), true);
      t.equal(await down, erlName, 'nodedown');
      t.same(atDown, { trap: 1, byPid: true, byName: true, plain: false, xWatchers: 0 }, 'all fired before nodedown was emitted');
      t.ok(termEquals(await trap.receive({ timeoutMs: 1000 }), tuple(A('EXIT'), e1.pid, A('noconnection'))));
      t.equal(plain.reason, A('noconnection'));
      const dn = (await byName.receive({ timeoutMs: 1000 })) as Tuple;
      t.ok(termEquals(dn, tuple(A('DOWN'), rn, A('process'), tuple(A('sem_loss'), A(erlName)), A('noconnection'))), formatTerm(dn));
      t.match(await pending, { code: 'ERR_NODEDOWN' }, 'a pending call fails with nodedown');
      // erl saw the same on its side (we reconnect to ask).
      const log = await e2.log();
      t.ok(log.some((m) => isExit(m, x.pid, A('noconnection'))), `erl: EXIT noconnection (${log.map((m) => formatTerm(m)).join(', ')})`);
      t.equal(log.filter((m) => isDownOf(m, undefined, A('noconnection'))).length, 2, 'erl: both DOWNs noconnection');
      [trap, byPid, byName, x].forEach((p: LocalProcess) => p.exit());
    });
  });
}
