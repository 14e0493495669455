// Control messages from a raw distribution client (src/dist only) that
// dials the node and sends crafted signals. OTP's answers: SPAWN_REQUEST of
// something not exposed -> a SPAWN_REPLY with a pid that exits undef (and
// notsup from a NodeCore, which does not advertise DFLAG_SPAWN), an orphan
// SPAWN_REPLY -> EXIT2 abandoned, LINK to a dead pid -> EXIT noproc,
// MONITOR_P of an unknown process -> (PAYLOAD_)MONITOR_P_EXIT noproc,
// UNLINK_ID -> its ack; the delivery forms: SEND, SEND_SENDER, REG_SEND,
// ALIAS_SEND, ALTACT_SIG_SEND, GROUP_LEADER, EXIT2 with kill; erpc's
// SPAWN_REQUEST with link and monitor; the new link protocol when signals
// cross (deterministic here, unlike against erl); the _TT exit forms.
import t from 'tap';
import { Node } from '../../src/otp/index.js';
import { NodeCore } from '../../src/node/index.js';
import { DEFAULT_DFLAGS, DFLAG, DistConnection, ctrl, dial, hasFlag, CTRL, type ControlMessage } from '../../src/dist/index.js';
import { ImproperList, Pid, Reference, Tuple, atom, formatTerm, tuple, termEquals, type Term } from '../../src/etf/index.js';
import { freePort } from '../../src/testing/index.js';

const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e5).toString(36)}`;

/** A raw connection to `peer` with a log of what it receives. */
async function rawClient(peer: string, epmdPort: number, flags: bigint) {
  const name = `raw${Math.floor(Math.random() * 1e9).toString(36)}${uniq}@127.0.0.1`;
  const creation = 0x20000 + Math.floor(Math.random() * 0xffff);
  const hs = await dial(peer, { name, cookie: 'k', creation, flags, epmd: { port: epmdPort }, timeoutMs: 5000 });
  if (hs.leftover.length > 0) hs.socket.unshift(hs.leftover);
  const conn = new DistConnection({ ...hs, leftover: Buffer.alloc(0) });
  const log: ControlMessage[] = [];
  let wake: (() => void) | undefined;
  conn.on('message', (m: ControlMessage) => {
    log.push(m);
    wake?.();
  });
  const me = (id: number) => new Pid(atom(name), id, 0, creation);
  async function next(pred: (m: ControlMessage) => boolean, timeoutMs = 5000): Promise<ControlMessage> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = log.findIndex(pred);
      if (i >= 0) return log.splice(i, 1)[0];
      if (Date.now() > end) throw new Error(`no matching message; got ${log.map((m) => m.kind).join(',')}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  }
  /** A round trip to the node's net_kernel: everything sent before it has been handled. */
  async function sync(): Promise<void> {
    const tag = new Reference(atom(name), creation, [Math.floor(Math.random() * 0x3ffff), 0, 1]);
    conn.sendSignal(ctrl.regSend(me(99), atom('net_kernel'), tuple(atom('$gen_call'), tuple(me(99), tag), tuple(atom('is_auth'), atom(name)))));
    await next((m) => m.kind === 'send' && m.to.id === 99);
  }
  return { conn, me, next, log, name, sync };
}

t.test('control messages from a raw peer', async (t) => {
  const epmdPort = await freePort();
  const node = await Node.start({ name: `jsctl${uniq}@127.0.0.1`, cookie: 'k', epmd: { embedded: true, port: epmdPort } });
  t.teardown(() => node.stop());

  for (const payloadExits of [false, true]) {
    t.test(`OTP answers (EXIT_PAYLOAD ${payloadExits ? 'on' : 'off'})`, async (t) => {
      const flags = payloadExits ? DEFAULT_DFLAGS | DFLAG.EXIT_PAYLOAD : DEFAULT_DFLAGS;
      const c = await rawClient(node.name, epmdPort, flags);
      t.teardown(() => c.conn.close());
      const dead = node.spawn();
      dead.exit();
      const from = c.me(1);

      const reqId = new Reference(atom(c.name), 1, [1, 2, 3]);
      c.conn.sendSignal(ctrl.spawnRequest(reqId, from, from, atom('m'), atom('f'), [1]));
      const sr = await c.next((m) => m.kind === 'spawn_reply');
      t.match(sr, { kind: 'spawn_reply', to: from, flags: 0 }, 'SPAWN_REPLY to the requester, no link or monitor flags');
      t.ok((sr as { result: Term }).result instanceof Pid, 'a Node spawns m:f even though it is not exposed');
      t.ok(termEquals((sr as { reqId: Reference }).reqId, reqId), 'the reply carries the request id');
      // The same with a monitor: the process exits undef, as Erlang's spawn of an unknown function does.
      const monId = new Reference(atom(c.name), 1, [1, 2, 4]);
      c.conn.sendSignal(ctrl.spawnRequest(monId, from, from, atom('m'), atom('f'), [1], [atom('monitor')]));
      const msr = await c.next((m) => m.kind === 'spawn_reply');
      t.match(msr, { kind: 'spawn_reply', to: from, flags: 2 }, 'SPAWN_REPLY says monitored');
      const undef = await c.next((m) => m.kind === 'monitor_exit');
      t.match(undef, { kind: 'monitor_exit', from: (msr as { result: Pid }).result, to: from }, 'the DOWN comes from the spawned pid');
      const why = (undef as { reason: Term }).reason;
      t.ok(why === atom('undef') || (why instanceof Tuple && why.at(0) === atom('undef')), `the spawned process exited undef (${formatTerm(why)})`);

      const orphan = c.me(9);
      c.conn.sendSignal(ctrl.spawnReply(reqId, from, 0, orphan));
      t.match(await c.next((m) => m.kind === 'exit2'), { kind: 'exit2', to: orphan, reason: atom('abandoned') }, 'an orphan SPAWN_REPLY gets EXIT2 abandoned');

      c.conn.sendSignal(ctrl.link(from, dead.pid));
      const ex = await c.next((m) => m.kind === 'exit');
      t.match(ex, { kind: 'exit', from: dead.pid, to: from, reason: atom('noproc') }, 'LINK to a dead pid gets EXIT noproc');
      t.equal(ex.op, CTRL.EXIT, 'the noproc answer to LINK is a plain EXIT in both modes');

      const mref = new Reference(atom(c.name), 1, [7, 8, 9]);
      c.conn.sendSignal(ctrl.monitor(from, dead.pid, mref));
      const me1 = await c.next((m) => m.kind === 'monitor_exit');
      t.match(me1, { kind: 'monitor_exit', from: dead.pid, to: from, reason: atom('noproc') }, 'MONITOR_P of a dead pid gets MONITOR_P_EXIT noproc');
      t.equal(me1.op, payloadExits ? CTRL.PAYLOAD_MONITOR_P_EXIT : CTRL.MONITOR_P_EXIT, 'in the payload form only when EXIT_PAYLOAD is negotiated');
      c.conn.sendSignal(ctrl.monitor(from, atom('no_such_name'), mref));
      t.match(await c.next((m) => m.kind === 'monitor_exit'), { from: atom('no_such_name'), reason: atom('noproc') }, 'MONITOR_P of an unknown name gets noproc naming the name');

      c.conn.sendSignal(ctrl.unlinkId(5n, from, dead.pid));
      t.match(await c.next((m) => m.kind === 'unlink_id_ack'), { kind: 'unlink_id_ack', id: 5n, from: dead.pid, to: from }, 'UNLINK_ID is acknowledged with its id');

      // A message to an unknown name is dropped (OTP's answer); the connection stays up.
      c.conn.sendSignal(ctrl.regSend(from, atom('nobody_here'), 'lost'));
      const nk = new Reference(atom(c.name), 1, [4, 4, 4]);
      c.conn.sendSignal(ctrl.regSend(from, atom('net_kernel'), tuple(atom('$gen_call'), tuple(from, nk), tuple(atom('is_auth'), atom(c.name)))));
      const yes = await c.next((m) => m.kind === 'send');
      t.ok(termEquals((yes as unknown as { message: Term }).message, tuple(nk, atom('yes'))), 'net_kernel answers is_auth');
      t.notOk(c.conn.closed, 'the connection stays up');
    });
  }

  t.test('delivery forms and process signals', async (t) => {
    const c = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS | DFLAG.SEND_SENDER | DFLAG.ALIAS);
    t.teardown(() => c.conn.close());
    const p = node.spawn({ name: 'target' });
    const from = c.me(2);
    c.conn.sendSignal(ctrl.send(p.pid, 1));
    c.conn.sendSignal(ctrl.sendSender(from, p.pid, 2));
    c.conn.sendSignal(ctrl.regSend(from, atom('target'), 3));
    const al = p.alias();
    c.conn.sendSignal(ctrl.aliasSend(from, al, 4));
    // OTP 28's ALTACT_SIG_SEND {37, Flags, From, To} + Message: to a name (NAME flag), then to the alias.
    c.conn.send(tuple(CTRL.ALTACT_SIG_SEND, 8, from, atom('target')), 5);
    c.conn.send(tuple(CTRL.ALTACT_SIG_SEND, 4, from, al), 6);
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await p.receive({ timeoutMs: 5000 }));
    t.same(got, [1, 2, 3, 4, 5, 6], 'SEND, SEND_SENDER, REG_SEND, ALIAS_SEND and both ALTACT_SIG_SEND forms deliver in order');
    c.conn.sendSignal(ctrl.groupLeader(from, p.pid));
    await c.sync();
    t.ok(p.groupLeader && termEquals(p.groupLeader, from), 'GROUP_LEADER sets the group leader');
    // Our sends use SEND_SENDER and ALIAS_SEND where negotiated.
    p.send(from, atom('hi'));
    t.match(await c.next((m) => m.kind === 'send'), { op: CTRL.SEND_SENDER, from: p.pid, to: from, message: atom('hi') }, 'our send to a pid uses SEND_SENDER');
    const theirAlias = new Reference(atom(c.name), 1, [5, 6, 7]);
    p.send(theirAlias, atom('aliased'));
    t.match(await c.next((m) => m.kind === 'alias_send'), { from: p.pid, message: atom('aliased') }, 'our send to an alias uses ALIAS_SEND');
    // EXIT2 kill cannot be trapped; the peer's monitor sees killed.
    p.trapExit = true;
    const mref = new Reference(atom(c.name), 1, [1, 1, 1]);
    c.conn.sendSignal(ctrl.monitor(from, p.pid, mref)); // the same connection keeps it before the EXIT2
    c.conn.sendSignal(ctrl.exit2(from, p.pid, atom('kill')));
    t.match(await c.next((m) => m.kind === 'monitor_exit'), { from: p.pid, to: from, reason: atom('killed') }, 'EXIT2 kill: the monitor reports killed');
    t.equal(p.alive, false, 'and the process is dead');
    // A link exit with trap_exit becomes a message; without, a non-normal one kills.
    const q = node.spawn({ trapExit: true });
    c.conn.sendSignal(ctrl.link(from, q.pid));
    c.conn.sendSignal(ctrl.exit(from, q.pid, atom('boom')));
    t.ok(termEquals(await q.receive({ timeoutMs: 5000 }), tuple(atom('EXIT'), from, atom('boom'))), "a link EXIT reaches a trapping process as {'EXIT', From, boom}");
    // Without DFLAG_ALIAS a reply to an [alias | Ref] tag goes to the pid.
    const d = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS);
    t.teardown(() => d.conn.close());
    const dfrom = d.me(3);
    const aliasRef = new Reference(atom(d.name), 1, [9, 9, 9]);
    const tag = new ImproperList([atom('alias')], aliasRef);
    d.conn.sendSignal(ctrl.regSend(dfrom, atom('net_kernel'), tuple(atom('$gen_call'), tuple(dfrom, tag), tuple(atom('is_auth'), atom(d.name)))));
    const r = await d.next((m) => m.kind === 'send');
    t.match(r, { op: CTRL.SEND, to: dfrom }, 'the reply to an [alias | Ref] tag goes to the pid as SEND');
    t.ok(termEquals((r as unknown as { message: Term }).message, tuple(tag, atom('yes'))), 'with the whole tag in it');
  });

  t.test('a malformed control message drops only that connection', async (t) => {
    const c = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS);
    const closed = new Promise((r) => c.conn.once('close', r));
    const down = new Promise<unknown[]>((r) => node.once('nodedown', (...a) => r(a)));
    c.conn.send(tuple(99, atom('bogus')));
    await closed;
    const [peer, reason] = await down;
    t.equal(peer, c.name, 'nodedown names the peer');
    t.match(reason, { code: 'ERR_DIST_PROTOCOL' }, 'with ERR_DIST_PROTOCOL');
    const other = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS);
    t.ok(node.nodes().includes(other.name), 'the node still accepts connections');
    other.conn.close();
  });

  t.test('a NodeCore (no DFLAG_SPAWN) refuses SPAWN_REQUEST with notsup', async (t) => {
    const core = await NodeCore.start({ name: `jscore${uniq}@127.0.0.1`, cookie: 'k', epmd: { port: epmdPort } });
    t.teardown(() => core.stop());
    t.equal(hasFlag(core.flags, DFLAG.SPAWN), false, 'a NodeCore does not advertise DFLAG_SPAWN');
    t.equal(hasFlag(node.flags, DFLAG.SPAWN), true, 'a Node advertises it');
    const c = await rawClient(core.name, epmdPort, DEFAULT_DFLAGS);
    t.teardown(() => c.conn.close());
    const reqId = new Reference(atom(c.name), 1, [3, 2, 1]);
    c.conn.sendSignal(ctrl.spawnRequest(reqId, c.me(1), c.me(1), atom('m'), atom('f'), []));
    t.match(await c.next((m) => m.kind === 'spawn_reply'), { flags: 0, result: atom('notsup') }, 'so it refuses SPAWN_REQUEST with notsup');
  });

  t.test("erpc's SPAWN_REQUEST with link and monitor: the reply's flags, then the exits", async (t) => {
    node.expose('ctl_js', { add: (a, b) => (a as number) + (b as number), fail: () => { throw new Error('nope'); } });
    const c = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS | DFLAG.EXIT_PAYLOAD | DFLAG.SPAWN);
    t.teardown(() => c.conn.close());
    const from = c.me(5);
    for (const [fn, args, want] of [
      ['add', [2, 3], (res: Term) => tuple(res, atom('return'), 5)],
      ['fail', [], (res: Term) => tuple(res, atom('error'), tuple(atom('js_error'), Buffer.from('nope')))],
    ] as const) {
      const reqId = new Reference(atom(c.name), 1, [7, 7, fn.length]);
      const res = new Reference(atom(c.name), 1, [8, 8, fn.length]);
      c.conn.sendSignal(ctrl.spawnRequest(reqId, from, from, atom('erpc'), atom('execute_call'), [res, atom('ctl_js'), atom(fn), [...args]], [atom('link'), atom('monitor')]));
      const sr = await c.next((m) => m.kind === 'spawn_reply');
      t.match(sr, { kind: 'spawn_reply', to: from, flags: 3 }, 'linked and monitored on our side');
      const pid = (sr as { result: Pid }).result;
      const down = await c.next((m) => m.kind === 'monitor_exit');
      t.match(down, { op: CTRL.PAYLOAD_MONITOR_P_EXIT, from: pid, to: from }, 'the monitor fires from the spawned pid in the payload form');
      t.ok(termEquals((down as { ref: Reference }).ref, reqId), 'the monitor reference is the request id');
      const reason = (down as { reason: Term }).reason as Tuple;
      if (fn === 'add') t.ok(termEquals(reason, want(res)), `add(2, 3) comes back as exactly {Res, return, 5}: ${formatTerm(reason)}`);
      else {
        // erpc's error form is {Res, error, Reason, Stack}: check all four.
        t.equal(reason.size, 4, `fail: {Res, error, Reason, Stack}: ${formatTerm(reason)}`);
        t.ok(termEquals(new Tuple(reason.elements.slice(0, 3)), want(res)), 'fail: Res, error and {js_error, <<"nope">>}');
        t.ok(Array.isArray(reason.at(3)), 'fail: the stack is a list');
      }
      const ex = await c.next((m) => m.kind === 'exit');
      t.match(ex, { op: CTRL.PAYLOAD_EXIT, from: pid, to: from }, 'and the link carries the same reason');
    }
    node.unexpose('ctl_js');
  });

  t.test('the new link protocol when signals cross', async (t) => {
    const c = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS);
    t.teardown(() => c.conn.close());
    const from = c.me(6);
    const p = node.spawn();
    const key = () => [...p.links.values()][0];
    c.conn.sendSignal(ctrl.link(from, p.pid));
    await c.sync();
    t.equal(key()?.unlinking, undefined, 'LINK: an active link');
    p.unlink(from);
    t.match(await c.next((m) => m.kind === 'unlink_id'), { id: 1n, from: p.pid, to: from }, 'our unlink sends UNLINK_ID 1');
    c.conn.sendSignal(ctrl.link(from, p.pid));
    await c.sync();
    t.equal(key()?.unlinking, 1n, 'a LINK while our unlink is in flight is ignored');
    c.conn.sendSignal(ctrl.exit(from, p.pid, atom('crossed')));
    await c.sync();
    t.equal(p.alive, true, 'an exit crossing our UNLINK_ID is ignored');
    t.equal(p.links.size, 0, 'and the link information is gone');
    c.conn.sendSignal(ctrl.unlinkIdAck(1n, from, p.pid));
    await c.sync();
    t.equal(p.alive, true, 'the process survives the ack');
    c.conn.sendSignal(ctrl.link(from, p.pid));
    await c.sync();
    p.unlink(from);
    t.match(await c.next((m) => m.kind === 'unlink_id'), { id: 2n }, 'the next unlink uses id 2');
    c.conn.sendSignal(ctrl.unlinkIdAck(99n, from, p.pid));
    await c.sync();
    t.equal(key()?.unlinking, 2n, 'an ack with another id is ignored');
    c.conn.sendSignal(ctrl.unlinkIdAck(2n, from, p.pid));
    await c.sync();
    t.equal(p.links.size, 0, 'the right ack removes it');
    // Their UNLINK_ID of an active link: removed, acknowledged.
    c.conn.sendSignal(ctrl.link(from, p.pid));
    c.conn.sendSignal(ctrl.unlinkId(7n, from, p.pid));
    t.match(await c.next((m) => m.kind === 'unlink_id_ack'), { id: 7n, from: p.pid, to: from }, 'their UNLINK_ID of an active link is acknowledged');
    t.equal(p.links.size, 0, 'and the link is gone');
    // Their UNLINK_ID while ours is in flight: the link stays until our ack comes.
    c.conn.sendSignal(ctrl.link(from, p.pid));
    await c.sync();
    p.unlink(from);
    c.conn.sendSignal(ctrl.unlinkId(8n, from, p.pid));
    t.match(await c.next((m) => m.kind === 'unlink_id_ack'), { id: 8n }, 'their UNLINK_ID while ours is in flight is acknowledged');
    t.equal(key()?.unlinking, 3n, 'still waiting for our own ack');
    c.conn.sendSignal(ctrl.unlinkIdAck(3n, from, p.pid));
    await c.sync();
    t.equal(p.links.size, 0, 'our ack removes it');
    p.exit();
  });

  t.test('exit signals in their _TT forms', async (t) => {
    const c = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS | DFLAG.EXIT_PAYLOAD);
    t.teardown(() => c.conn.close());
    const from = c.me(7);
    const p = node.spawn({ trapExit: true });
    const token = tuple(0, 5, 1, from, 0);
    c.conn.sendSignal(ctrl.link(from, p.pid));
    c.conn.send(tuple(CTRL.EXIT_TT, from, p.pid, token, atom('r1')));
    c.conn.send(tuple(CTRL.EXIT2_TT, from, p.pid, token, atom('r2')));
    c.conn.sendSignal(ctrl.link(from, p.pid));
    c.conn.send(tuple(CTRL.PAYLOAD_EXIT_TT, from, p.pid, token), atom('r3'));
    c.conn.send(tuple(CTRL.PAYLOAD_EXIT2_TT, from, p.pid, token), atom('r4'));
    c.conn.send(tuple(CTRL.SEND_TT, atom(''), p.pid, token), atom('m5'));
    c.conn.send(tuple(CTRL.REG_SEND_TT, from, atom(''), atom('target_tt'), token), atom('lost'));
    const got = [];
    for (let i = 0; i < 5; i++) got.push(formatTerm(await p.receive({ timeoutMs: 5000 })));
    t.same(got, ['r1', 'r2', 'r3', 'r4', 'm5'].map((r) => (r === 'm5' ? 'm5' : formatTerm(tuple(atom('EXIT'), from, atom(r))))), 'EXIT_TT, EXIT2_TT, PAYLOAD_EXIT_TT, PAYLOAD_EXIT2_TT arrive as EXIT messages, SEND_TT as a message; REG_SEND_TT to nobody is dropped');
    p.exit();
  });
});
