// Control messages a beambridge node does not implement (yet) get OTP's
// answer. A raw distribution client (src/dist only) dials the node and sends
// crafted signals: SPAWN_REQUEST -> SPAWN_REPLY notsup, an orphan SPAWN_REPLY
// -> EXIT2 abandoned, LINK to a dead pid -> EXIT noproc, MONITOR_P of an
// unknown process -> (PAYLOAD_)MONITOR_P_EXIT noproc, UNLINK_ID -> its ack;
// and the delivery forms: SEND, SEND_SENDER, REG_SEND, ALIAS_SEND,
// ALTACT_SIG_SEND, GROUP_LEADER, EXIT2 with kill.
import t from 'tap';
import { Node } from '../../src/otp/index.js';
import { DEFAULT_DFLAGS, DFLAG, DistConnection, ctrl, dial, CTRL, type ControlMessage } from '../../src/dist/index.js';
import { ImproperList, Pid, Reference, atom, tuple, termEquals, type Term } from '../../src/etf/index.js';
import { freePort } from '../helpers/procs.js';

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
      t.match(sr, { kind: 'spawn_reply', to: from, flags: 0, result: atom('notsup') });
      t.ok(termEquals((sr as { reqId: Reference }).reqId, reqId));

      const orphan = c.me(9);
      c.conn.sendSignal(ctrl.spawnReply(reqId, from, 0, orphan));
      t.match(await c.next((m) => m.kind === 'exit2'), { kind: 'exit2', to: orphan, reason: atom('abandoned') });

      c.conn.sendSignal(ctrl.link(from, dead.pid));
      const ex = await c.next((m) => m.kind === 'exit');
      t.match(ex, { kind: 'exit', from: dead.pid, to: from, reason: atom('noproc') });
      t.equal(ex.op, CTRL.EXIT);

      const mref = new Reference(atom(c.name), 1, [7, 8, 9]);
      c.conn.sendSignal(ctrl.monitor(from, dead.pid, mref));
      const me1 = await c.next((m) => m.kind === 'monitor_exit');
      t.match(me1, { kind: 'monitor_exit', from: dead.pid, to: from, reason: atom('noproc') });
      t.equal(me1.op, payloadExits ? CTRL.PAYLOAD_MONITOR_P_EXIT : CTRL.MONITOR_P_EXIT);
      c.conn.sendSignal(ctrl.monitor(from, atom('no_such_name'), mref));
      t.match(await c.next((m) => m.kind === 'monitor_exit'), { from: atom('no_such_name'), reason: atom('noproc') });

      c.conn.sendSignal(ctrl.unlinkId(5n, from, dead.pid));
      t.match(await c.next((m) => m.kind === 'unlink_id_ack'), { kind: 'unlink_id_ack', id: 5n, from: dead.pid, to: from });

      // A message to an unknown name is dropped (OTP's answer); the connection stays up.
      c.conn.sendSignal(ctrl.regSend(from, atom('nobody_here'), 'lost'));
      const nk = new Reference(atom(c.name), 1, [4, 4, 4]);
      c.conn.sendSignal(ctrl.regSend(from, atom('net_kernel'), tuple(atom('$gen_call'), tuple(from, nk), tuple(atom('is_auth'), atom(c.name)))));
      const yes = await c.next((m) => m.kind === 'send');
      t.ok(termEquals((yes as unknown as { message: Term }).message, tuple(nk, atom('yes'))), 'net_kernel answers is_auth');
      t.notOk(c.conn.closed);
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
    t.same(got, [1, 2, 3, 4, 5, 6]);
    c.conn.sendSignal(ctrl.groupLeader(from, p.pid));
    await c.sync();
    t.ok(p.groupLeader && termEquals(p.groupLeader, from), 'GROUP_LEADER sets the group leader');
    // Our sends use SEND_SENDER and ALIAS_SEND where negotiated.
    p.send(from, atom('hi'));
    t.match(await c.next((m) => m.kind === 'send'), { op: CTRL.SEND_SENDER, from: p.pid, to: from, message: atom('hi') });
    const theirAlias = new Reference(atom(c.name), 1, [5, 6, 7]);
    p.send(theirAlias, atom('aliased'));
    t.match(await c.next((m) => m.kind === 'alias_send'), { from: p.pid, message: atom('aliased') });
    // EXIT2 kill cannot be trapped; the peer's monitor sees killed.
    p.trapExit = true;
    const mref = new Reference(atom(c.name), 1, [1, 1, 1]);
    c.conn.sendSignal(ctrl.monitor(from, p.pid, mref)); // the same connection keeps it before the EXIT2
    c.conn.sendSignal(ctrl.exit2(from, p.pid, atom('kill')));
    t.match(await c.next((m) => m.kind === 'monitor_exit'), { from: p.pid, to: from, reason: atom('killed') });
    t.equal(p.alive, false);
    // A link exit with trap_exit becomes a message; without, a non-normal one kills.
    const q = node.spawn({ trapExit: true });
    c.conn.sendSignal(ctrl.link(from, q.pid));
    c.conn.sendSignal(ctrl.exit(from, q.pid, atom('boom')));
    t.ok(termEquals(await q.receive({ timeoutMs: 5000 }), tuple(atom('EXIT'), from, atom('boom'))));
    // Without DFLAG_ALIAS a reply to an [alias | Ref] tag goes to the pid.
    const d = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS);
    t.teardown(() => d.conn.close());
    const dfrom = d.me(3);
    const aliasRef = new Reference(atom(d.name), 1, [9, 9, 9]);
    const tag = new ImproperList([atom('alias')], aliasRef);
    d.conn.sendSignal(ctrl.regSend(dfrom, atom('net_kernel'), tuple(atom('$gen_call'), tuple(dfrom, tag), tuple(atom('is_auth'), atom(d.name)))));
    const r = await d.next((m) => m.kind === 'send');
    t.match(r, { op: CTRL.SEND, to: dfrom });
    t.ok(termEquals((r as unknown as { message: Term }).message, tuple(tag, atom('yes'))));
  });

  t.test('a malformed control message drops only that connection', async (t) => {
    const c = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS);
    const closed = new Promise((r) => c.conn.once('close', r));
    const down = new Promise<unknown[]>((r) => node.once('nodedown', (...a) => r(a)));
    c.conn.send(tuple(99, atom('bogus')));
    await closed;
    const [peer, reason] = await down;
    t.equal(peer, c.name);
    t.match(reason, { code: 'ERR_DIST_PROTOCOL' });
    const other = await rawClient(node.name, epmdPort, DEFAULT_DFLAGS);
    t.ok(node.nodes().includes(other.name), 'the node still accepts connections');
    other.conn.close();
  });
});
