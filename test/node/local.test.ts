// Node without Erlang: the embedded EPMD, processes on one node (names,
// aliases, monitors, links), and two beambridge nodes talking to each other
// (auto-connect, simultaneous connect, remote monitors and links, nodedown,
// bad cookie, pang).
import t from 'tap';
import { once } from 'node:events';
import { Node, CallError } from '../../src/otp/index.js';
import { NodeError, isDown, type LocalProcess } from '../../src/node/index.js';
import { EpmdClient } from '../../src/epmd/index.js';
import { Pid, Reference, Tuple, atom, tuple, termEquals, type Term } from '../../src/etf/index.js';
import { freePort } from '../../src/testing/index.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const EXIT = atom('EXIT');

/**
 * A round trip from `x` to `y`'s net_kernel: signals `x` sent to `y` before it
 * have been handled by `y`, and what `y` sent back before the reply has been
 * handled by `x` (one connection keeps order).
 */
async function sync(x: Node, y: Node): Promise<void> {
  await x.call({ name: 'net_kernel', node: y.name }, tuple(atom('is_auth'), x.nodeAtom));
}

function isTuple(m: Term, tag: string, size?: number): m is Tuple {
  return m instanceof Tuple && m.elements[0] === atom(tag) && (size === undefined || m.elements.length === size);
}

t.test('embedded EPMD, processes and two nodes', async (t) => {
  const epmdPort = await freePort();
  const a = await Node.start({ name: `jsa${uniq}@127.0.0.1`, cookie: 'k', epmd: { embedded: true, port: epmdPort } });
  t.teardown(() => a.stop());
  const b = await Node.start({ name: `jsb${uniq}@127.0.0.1`, cookie: 'k', epmd: { embedded: true, port: epmdPort } });
  t.teardown(() => b.stop());

  t.test('the first node started the embedded EPMD; both are registered', async (t) => {
    const names = (await new EpmdClient({ port: epmdPort }).names()).map((n) => n.name).sort();
    t.same(names, [`jsa${uniq}`, `jsb${uniq}`]);
    t.ok(a.creation > 0 && b.creation > 0 && a.creation !== b.creation, `creations ${a.creation} ${b.creation}`);
    t.equal(a.hidden, true);
    t.equal(a.epmdPort, epmdPort);
    await t.rejects(Node.start({ name: `jsa${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort } }), { code: 'ERR_EPMD_NAME_TAKEN' });
  });

  t.test('names: register, whereis, taken, bad, unregister', async (t) => {
    const p = a.spawn({ name: 'reg1' });
    t.equal(p.name, 'reg1');
    t.equal(a.whereis('reg1'), p);
    t.ok(a.registered().includes('reg1') && a.registered().includes('net_kernel') && a.registered().includes('rex'));
    t.throws(() => a.spawn({ name: 'reg1' }), { code: 'ERR_NAME_TAKEN' });
    t.throws(() => a.register('reg2', p), { code: 'ERR_NAME_TAKEN' }, 'one name per process');
    t.throws(() => a.spawn({ name: '' }), { code: 'ERR_BAD_NAME' });
    t.ok(a.unregister('reg1'));
    t.equal(a.whereis('reg1'), undefined);
    t.equal(p.name, undefined);
    a.register('reg3', p);
    p.exit();
    t.equal(a.whereis('reg3'), undefined, 'a dead process loses its name');
    t.throws(() => a.register('reg4', p), { code: 'ERR_PROCESS_EXITED' });
    t.equal(p.send('nobody_here', 1), true, 'a dead process sends nothing (and does not throw)');
  });

  t.test('local sends: pid, name, {name, node}, alias; unknown name throws', async (t) => {
    const p = a.spawn({ name: `box${uniq}` });
    const q = a.spawn();
    q.send(p.pid, 1);
    q.send(`box${uniq}`, 2);
    q.send({ name: `box${uniq}`, node: a.name }, 3);
    const al = p.alias();
    q.send(al, 4);
    t.same([await p.receive(), await p.receive(), await p.receive(), await p.receive()], [1, 2, 3, 4]);
    t.ok(p.unalias(al));
    q.send(al, 5);
    await t.rejects(p.receive({ timeoutMs: 0 }), { code: 'ERR_TIMEOUT' }, 'an inactive alias drops');
    t.throws(() => q.send('no_such_name', 1), { code: 'ERR_BAD_TARGET' });
    t.throws(() => q.send(42 as never, 1), { code: 'ERR_BAD_TARGET' });
    // A pid of an old incarnation of this node is not ours.
    q.send(new Pid(a.nodeAtom, p.pid.id, p.pid.serial, a.creation + 1), 6);
    await t.rejects(p.receive({ timeoutMs: 0 }), { code: 'ERR_TIMEOUT' });
    p.exit();
    q.exit();
  });

  t.test('local monitors: DOWN with the reason, noproc, demonitor with flush, by name', async (t) => {
    const w = a.spawn();
    const target = a.spawn({ name: `mon${uniq}` });
    const r1 = w.monitor(target.pid);
    const r2 = w.monitor(`mon${uniq}`);
    target.exit(atom('bye'));
    const d1 = (await w.receive({ match: (m) => isDown(m, r1) })) as Tuple;
    t.ok(termEquals(d1, tuple(atom('DOWN'), r1, atom('process'), target.pid, atom('bye'))));
    const d2 = (await w.receive({ match: (m) => isDown(m, r2) })) as Tuple;
    t.ok(termEquals(d2.at(3), tuple(atom(`mon${uniq}`), a.nodeAtom)), 'by name: {Name, Node}');
    const r3 = w.monitor(target.pid);
    t.equal(((await w.receive({ match: (m) => isDown(m, r3) })) as Tuple).at(4), atom('noproc'));
    const r4 = w.monitor('nobody');
    t.equal(((await w.receive({ match: (m) => isDown(m, r4) })) as Tuple).at(4), atom('noproc'));
    const other = a.spawn();
    const r5 = w.monitor(other.pid);
    t.ok(w.demonitor(r5));
    other.exit(atom('x'));
    await t.rejects(w.receive({ timeoutMs: 20, match: (m) => isDown(m, r5) }), { code: 'ERR_TIMEOUT' });
    const r6 = w.monitor(other.pid); // noproc DOWN queued at once
    w.demonitor(r6, { flush: true });
    await t.rejects(w.receive({ timeoutMs: 0, match: (m) => isDown(m, r6) }), { code: 'ERR_TIMEOUT' }, 'flushed');
    w.exit();
  });

  t.test('local links: exits propagate, normal does not kill, trapExit turns them into messages', async (t) => {
    const x = a.spawn();
    const y = a.spawn();
    x.link(y.pid);
    const waiting = x.receive();
    y.exit(atom('crash'));
    await t.rejects(waiting, { code: 'ERR_PROCESS_EXITED', reason: atom('crash') });
    t.equal(x.alive, false);

    const u = a.spawn();
    const v = a.spawn();
    u.link(v.pid);
    v.exit();
    t.equal(u.alive, true, 'a normal exit does not kill a linked process');

    const trap = a.spawn({ trapExit: true });
    const z = a.spawn();
    trap.link(z.pid);
    z.exit(atom('oops'));
    const m = await trap.receive({ timeoutMs: 1000 });
    t.ok(termEquals(m, tuple(EXIT, z.pid, atom('oops'))));
    const dead = a.spawn();
    dead.exit();
    trap.link(dead.pid);
    t.ok(termEquals(await trap.receive({ timeoutMs: 1000 }), tuple(EXIT, dead.pid, atom('noproc'))), 'link to a dead pid: noproc');
    const k = a.spawn();
    k.link(trap.pid);
    k.unlink(trap.pid);
    k.exit(atom('after_unlink'));
    await t.rejects(trap.receive({ timeoutMs: 20 }), { code: 'ERR_TIMEOUT' }, 'unlinked: no signal');
    trap.exit();
    u.exit();
  });

  t.test('two nodes: auto-connect, messages both ways, nodeup on both', async (t) => {
    const upA = once(a, 'nodeup');
    const upB = once(b, 'nodeup');
    const pa = a.spawn({ name: 'pa' });
    const pb = b.spawn({ name: 'pb' });
    // Not connected yet: the send dials, the messages wait in order.
    for (let i = 0; i < 100; i++) pa.send({ name: 'pb', node: b.name }, tuple(pa.pid, i));
    t.same(await upA, [b.name]);
    t.same(await upB, [a.name]);
    const got: number[] = [];
    for (let i = 0; i < 100; i++) got.push((await pb.receive({ timeoutMs: 5000 }) as Tuple).at(1) as number);
    t.same(got, [...Array(100).keys()], 'in order');
    pb.send(pa.pid, atom('pong'));
    t.equal(await pa.receive({ timeoutMs: 5000 }), atom('pong'));
    const al = pb.alias();
    pa.send(al, atom('via_alias'));
    t.equal(await pb.receive({ timeoutMs: 5000 }), atom('via_alias'));
    t.same(a.nodes(), [b.name]);
    t.ok(a.connection(b.name)!.flags > 0n);
    t.equal(await a.ping(b.name), true, 'ping between beambridge nodes');
    const r = await a.call({ name: 'net_kernel', node: b.name }, tuple(atom('is_auth'), a.nodeAtom));
    t.equal(r, atom('yes'));
    pa.exit();
    pb.exit();
  });

  t.test('remote monitors and links, exits, noproc answers', async (t) => {
    const wa = a.spawn({ trapExit: true });
    const tb = b.spawn({ name: `tb${uniq}` });
    const ref = wa.monitor({ name: `tb${uniq}`, node: b.name });
    wa.link(tb.pid);
    await sync(a, b);
    t.equal(tb.monitoredBy.size, 1);
    t.equal(tb.links.size, 1);
    tb.exit(atom('gone'));
    const down = (await wa.receive({ timeoutMs: 5000, match: (m) => isDown(m, ref) })) as Tuple;
    t.ok(termEquals(down.at(3), tuple(atom(`tb${uniq}`), b.nodeAtom)));
    t.equal(down.at(4), atom('gone'));
    t.ok(termEquals(await wa.receive({ timeoutMs: 5000, match: (m) => isTuple(m, 'EXIT') }), tuple(EXIT, tb.pid, atom('gone'))));
    // The peer answers for processes it does not have.
    const r2 = wa.monitor(tb.pid);
    t.equal(((await wa.receive({ timeoutMs: 5000, match: (m) => isDown(m, r2) })) as Tuple).at(4), atom('noproc'));
    wa.link(tb.pid);
    t.ok(termEquals(await wa.receive({ timeoutMs: 5000 }), tuple(EXIT, tb.pid, atom('noproc'))));
    // exit/2 semantics: kill cannot be trapped.
    const victim = b.spawn({ trapExit: true });
    const killer = a.spawn();
    const r3 = killer.monitor(victim.pid);
    await sync(a, b);
    a.connection(b.name)!.send(tuple(8, killer.pid, victim.pid, atom('kill')));
    const d3 = (await killer.receive({ timeoutMs: 5000, match: (m) => isDown(m, r3) })) as Tuple;
    t.equal(d3.at(4), atom('killed'));
    // unlink with the UNLINK_ID protocol: after the ack, no exit crosses.
    const l1 = a.spawn({ trapExit: true });
    const l2 = b.spawn();
    l1.link(l2.pid);
    await sync(a, b);
    l1.unlink(l2.pid);
    await sync(a, b);
    t.equal(l1.links.size, 0, 'acked');
    t.equal(l2.links.size, 0);
    l2.exit(atom('late'));
    await t.rejects(l1.receive({ timeoutMs: 50 }), { code: 'ERR_TIMEOUT' });
    wa.exit();
    killer.exit();
    l1.exit();
  });

  t.test('calls: reply, noproc, the server exits, timeout drops the late reply', async (t) => {
    const server = b.spawn({ name: `srv${uniq}` });
    void (async () => {
      for await (const m of server) {
        const [, from, req] = (m as Tuple).elements;
        const [pid, tag] = (from as Tuple).elements as [Pid, Reference];
        if (req === atom('slow')) setTimeout(() => server.send(pid, tuple(tag, 'late')), 150);
        else if (req === atom('die')) server.exit(atom('died'));
        else server.send(pid, tuple(tag, tuple(atom('ok'), req)));
      }
    })().catch(() => {});
    const srv = { name: `srv${uniq}`, node: b.name };
    t.ok(termEquals(await a.call(srv, 'hi'), tuple(atom('ok'), 'hi')));
    await t.rejects(a.call(srv, atom('slow'), { timeoutMs: 50 }), { code: 'ERR_TIMEOUT', reason: atom('timeout') });
    await new Promise((r) => setTimeout(r, 200));
    t.ok(termEquals(await a.call(srv, 'again'), tuple(atom('ok'), 'again')), 'the late reply went nowhere');
    await t.rejects(a.call(srv, atom('die')), { code: 'ERR_CALL_EXIT', reason: atom('died') });
    const e = await a.call(srv, 'x').catch((x: unknown) => x);
    t.ok(e instanceof CallError && e.code === 'ERR_NOPROC');
    await t.rejects(a.call('nobody_local', 1), { code: 'ERR_NOPROC' });
    await t.rejects(a.call(srv, 1, { signal: AbortSignal.abort() }), { code: 'ERR_ABORTED' });
  });

  t.test('rpc into a beambridge node: rex answers undef, as a node without the module', async (t) => {
    await t.rejects(a.rpc(b.name, 'lists', 'reverse', [[1]], { timeoutMs: 5000 }), {
      code: 'ERR_RPC_EXCEPTION',
      exitReason: tuple(atom('undef'), [tuple(atom('lists'), atom('reverse'), [[1]], [])]),
    });
  });

  t.test('rex answers features_request (erpc: the node serves SPAWN_REQUEST) and gen_server calls as a node without the module', async (t) => {
    const p = a.spawn();
    p.send({ name: 'rex', node: b.name }, tuple(p.pid, atom('features_request')));
    t.ok(termEquals(await p.receive({ timeoutMs: 5000 }), tuple(atom('features_reply'), b.nodeAtom, [atom('erpc')])));
    const r = await a.call({ name: 'rex', node: b.name }, tuple(atom('block_call'), atom('m'), atom('f'), [], p.pid));
    t.ok(termEquals(r, tuple(atom('badrpc'), tuple(EXIT, tuple(atom('undef'), [tuple(atom('m'), atom('f'), [], [])])))));
    p.send({ name: 'rex', node: b.name }, tuple(atom('$gen_cast'), tuple(atom('cast'), atom('m'), atom('f'), [], p.pid)));
    p.send({ name: 'rex', node: b.name }, atom('junk'));
    t.equal(b.rex.alive, true, 'casts and junk are ignored');
    p.exit();
  });

  t.test('simultaneous connect between two fresh nodes resolves to one connection', async (t) => {
    for (let round = 0; round < 3; round++) {
      const c = await Node.start({ name: `jsc${round}${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort } });
      const d = await Node.start({ name: `jsd${round}${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort } });
      const pc = c.spawn({ name: 'p' });
      const pd = d.spawn({ name: 'p' });
      // Both dial in the same turn.
      await Promise.all([c.connect(d.name, { timeoutMs: 10_000 }), d.connect(c.name, { timeoutMs: 10_000 })]);
      t.same(c.nodes(), [d.name]);
      t.same(d.nodes(), [c.name]);
      pc.send({ name: 'p', node: d.name }, atom('from_c'));
      pd.send({ name: 'p', node: c.name }, atom('from_d'));
      t.equal(await pd.receive({ timeoutMs: 5000 }), atom('from_c'));
      t.equal(await pc.receive({ timeoutMs: 5000 }), atom('from_d'));
      await c.stop();
      await d.stop();
    }
  });

  t.test('nodedown: links and monitors fire with noconnection; the event carries the reason', async (t) => {
    const e = await Node.start({ name: `jse${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort } });
    const pe = e.spawn({ name: 'pe' });
    const w = a.spawn({ trapExit: true });
    const ref = w.monitor({ name: 'pe', node: e.name });
    w.link(pe.pid);
    await a.connect(e.name);
    await sync(a, e);
    const down = once(a, 'nodedown');
    const pending = a.call({ name: 'pe', node: e.name }, 'never answered', { timeoutMs: 10_000 }).catch((x: unknown) => x);
    await e.stop();
    const [peer, reason] = await down;
    t.equal(peer, e.name);
    t.equal(reason.code, 'ERR_CONNECTION_CLOSED');
    t.equal(((await w.receive({ timeoutMs: 5000, match: (m) => isDown(m, ref) })) as Tuple).at(4), atom('noconnection'));
    t.ok(termEquals(await w.receive({ timeoutMs: 5000, match: (m) => isTuple(m, 'EXIT') }), tuple(EXIT, pe.pid, atom('noconnection'))));
    t.match(await pending, { code: 'ERR_NODEDOWN', reason: tuple(atom('nodedown'), atom(e.name)) });
    t.equal(((await pending) as CallError).cause instanceof Error, true, 'the cause is the connection error');
    t.equal(pe.alive, false, 'the stopped node ended its processes');
    t.equal(pe.reason, atom('noconnection'), 'it was linked across the connection that closed first');
    w.exit();
  });

  t.test('bad cookie and pang between beambridge nodes', async (t) => {
    const f = await Node.start({ name: `jsf${uniq}@127.0.0.1`, cookie: 'other', epmd: { port: epmdPort } });
    t.teardown(() => f.stop());
    const refused = once(a, 'handshakeError');
    await t.rejects(f.connect(a.name), { code: 'ERR_BAD_COOKIE', name: 'DistError' });
    const [err] = await refused;
    t.equal(err.code, 'ERR_BAD_COOKIE', 'the accepting side saw the bad digest');
    t.equal(await f.ping(a.name), false);
    t.same(a.nodes().includes(f.name), false);
    await t.rejects(a.connect(`nosuch${uniq}@127.0.0.1`), { code: 'ERR_NODE_NOT_FOUND' });
    t.equal(await a.ping(`nosuch${uniq}@127.0.0.1`), false);
    // A message to an unreachable node is dropped; a monitor reports noconnection.
    const p = a.spawn();
    const ref = p.monitor({ name: 'x', node: `nosuch${uniq}@127.0.0.1` });
    p.send({ name: 'x', node: `nosuch${uniq}@127.0.0.1` }, 'lost');
    t.equal(((await p.receive({ timeoutMs: 10_000, match: (m) => isDown(m, ref) })) as Tuple).at(4), atom('noconnection'));
    t.equal(a.lastError(`nosuch${uniq}@127.0.0.1`)?.code, 'ERR_NODE_NOT_FOUND');
    await t.rejects(a.connect('bad name'), { code: 'ERR_HANDSHAKE_NAME' });
    await t.rejects(a.connect(`nosuch2${uniq}@127.0.0.1`, { signal: AbortSignal.abort() }), { code: 'ERR_ABORTED' });
    p.exit();
  });

  t.test('waitWritable paces a large burst', async (t) => {
    const sink = b.spawn({ name: `sink${uniq}` });
    const src = a.spawn();
    await a.connect(b.name);
    const blob = Buffer.alloc(256 * 1024, 7);
    let busy = 0;
    for (let i = 0; i < 40; i++) {
      if (!src.send({ name: `sink${uniq}`, node: b.name }, blob)) {
        busy++;
        await a.waitWritable(b.name, { timeoutMs: 30_000 });
      }
    }
    let bytes = 0;
    for (let i = 0; i < 40; i++) bytes += ((await sink.receive({ timeoutMs: 30_000 })) as Buffer).length;
    t.equal(bytes, 40 * blob.length, 'all arrived');
    t.ok(busy > 0, `the send buffer reported busy ${busy} times`);
    src.exit();
    sink.exit();
  });

  t.test('stop ends processes with shutdown and refuses new work', async (t) => {
    const g = await Node.start({ name: `jsg${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort } });
    const p: LocalProcess = g.spawn();
    const r = p.receive().catch((x: unknown) => x);
    await g.stop();
    t.match(await r, { code: 'ERR_PROCESS_EXITED', reason: atom('shutdown') });
    t.throws(() => g.spawn(), { code: 'ERR_NODE_STOPPED' });
    await t.rejects(g.connect(a.name), { code: 'ERR_NODE_STOPPED' });
    await g.stop();
    const names = (await new EpmdClient({ port: epmdPort }).names()).map((n) => n.name);
    t.notOk(names.includes(`jsg${uniq}`), 'unregistered');
    t.ok(new NodeError('ERR_TIMEOUT', 'x') instanceof Error);
  });
});
