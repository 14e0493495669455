// Control messages: every tag parses into the union, malformed tuples are
// refused with a typed error, and constructors round-trip through the wire.
import t from 'tap';
import { CTRL, ctrl, parseControl, DistEncoder, DistDecoder, FrameSplitter, DEFAULT_DFLAGS, type ControlMessage } from '../../src/dist/index.js';
import { atom, tuple, Pid, Reference, type Term } from '../../src/etf/index.js';

const p1 = new Pid(atom('a@h'), 1, 0, 7);
const p2 = new Pid(atom('b@h'), 2, 0, 9);
const r1 = new Reference(atom('a@h'), 7, [1, 2, 3]);
const tok = tuple(0, atom('x'), 1, p1);
const E = atom('');

t.test('every tag parses', async (t) => {
  const cases: [Term, Term | undefined, Partial<ControlMessage> & { kind: string }][] = [
    [tuple(CTRL.LINK, p1, p2), undefined, { kind: 'link', from: p1, to: p2 }],
    [tuple(CTRL.SEND, E, p2), 'm', { kind: 'send', from: undefined, to: p2, message: 'm' }],
    [tuple(CTRL.EXIT, p1, p2, atom('boom')), undefined, { kind: 'exit', from: p1, to: p2, reason: atom('boom') }],
    [tuple(CTRL.UNLINK, p1, p2), undefined, { kind: 'unlink', from: p1, to: p2 }],
    [tuple(CTRL.REG_SEND, p1, E, atom('rex')), 'm', { kind: 'reg_send', from: p1, to: atom('rex'), message: 'm' }],
    [tuple(CTRL.GROUP_LEADER, p1, p2), undefined, { kind: 'group_leader', from: p1, to: p2 }],
    [tuple(CTRL.EXIT2, p1, p2, atom('kill')), undefined, { kind: 'exit2', reason: atom('kill') }],
    [tuple(CTRL.SEND_TT, E, p2, tok), 'm', { kind: 'send', to: p2, traceToken: tok, message: 'm' }],
    [tuple(CTRL.EXIT_TT, p1, p2, tok, 'r'), undefined, { kind: 'exit', traceToken: tok, reason: 'r' }],
    [tuple(CTRL.REG_SEND_TT, p1, E, atom('n'), tok), 'm', { kind: 'reg_send', to: atom('n'), traceToken: tok }],
    [tuple(CTRL.EXIT2_TT, p1, p2, tok, 'r'), undefined, { kind: 'exit2', traceToken: tok, reason: 'r' }],
    [tuple(CTRL.MONITOR_P, p1, atom('srv'), r1), undefined, { kind: 'monitor', from: p1, to: atom('srv'), ref: r1 }],
    [tuple(CTRL.DEMONITOR_P, p1, p2, r1), undefined, { kind: 'demonitor', to: p2, ref: r1 }],
    [tuple(CTRL.MONITOR_P_EXIT, atom('srv'), p2, r1, atom('noproc')), undefined, { kind: 'monitor_exit', from: atom('srv'), reason: atom('noproc') }],
    [tuple(CTRL.SEND_SENDER, p1, p2), 'm', { kind: 'send', from: p1, to: p2, message: 'm' }],
    [tuple(CTRL.SEND_SENDER_TT, p1, p2, tok), 'm', { kind: 'send', from: p1, traceToken: tok }],
    [tuple(CTRL.PAYLOAD_EXIT, p1, p2), 'why', { kind: 'exit', reason: 'why' }],
    [tuple(CTRL.PAYLOAD_EXIT_TT, p1, p2, tok), 'why', { kind: 'exit', reason: 'why', traceToken: tok }],
    [tuple(CTRL.PAYLOAD_EXIT2, p1, p2), 'why', { kind: 'exit2', reason: 'why' }],
    [tuple(CTRL.PAYLOAD_EXIT2_TT, p1, p2, tok), 'why', { kind: 'exit2', traceToken: tok }],
    [tuple(CTRL.PAYLOAD_MONITOR_P_EXIT, p1, p2, r1), 'why', { kind: 'monitor_exit', from: p1, reason: 'why' }],
    [
      tuple(CTRL.SPAWN_REQUEST, r1, p1, p2, tuple(atom('m'), atom('f'), 2), [atom('link')]),
      [1, 2],
      { kind: 'spawn_request', reqId: r1, module: atom('m'), function: atom('f'), arity: 2, args: [1, 2], options: [atom('link')] },
    ],
    [
      tuple(CTRL.SPAWN_REQUEST_TT, r1, p1, p2, tuple(atom('m'), atom('f'), 0), [], tok),
      [],
      { kind: 'spawn_request', arity: 0, traceToken: tok },
    ],
    [tuple(CTRL.SPAWN_REPLY, r1, p1, 3, p2), undefined, { kind: 'spawn_reply', flags: 3, result: p2 }],
    [tuple(CTRL.SPAWN_REPLY_TT, r1, p1, 0, atom('badarg'), tok), undefined, { kind: 'spawn_reply', result: atom('badarg'), traceToken: tok }],
    [tuple(CTRL.ALIAS_SEND, p1, r1), 'm', { kind: 'alias_send', alias: r1, message: 'm' }],
    [tuple(CTRL.ALIAS_SEND_TT, p1, r1, tok), 'm', { kind: 'alias_send', traceToken: tok }],
    [tuple(CTRL.UNLINK_ID, 5, p1, p2), undefined, { kind: 'unlink_id', id: 5n }],
    [tuple(CTRL.UNLINK_ID_ACK, 2n ** 64n - 1n, p1, p2), undefined, { kind: 'unlink_id_ack', id: 2n ** 64n - 1n }],
    [tuple(CTRL.ALTACT_SIG_SEND, 4, p1, r1), 'm', { kind: 'altact_sig_send', flags: 4, to: r1, message: 'm' }],
    [tuple(CTRL.ALTACT_SIG_SEND, 10, p1, atom('n'), tok), 'm', { kind: 'altact_sig_send', to: atom('n'), traceToken: tok }],
  ];
  for (const [c, p, expect] of cases) {
    const m = parseControl(c, p);
    t.match(m, expect, `${expect.kind} (${(c as { elements: Term[] }).elements[0]})`);
    t.equal(m.op, (c as { elements: Term[] }).elements[0]);
  }
});

t.test('malformed control messages are refused', async (t) => {
  const bad: [string, Term, Term | undefined][] = [
    ['not a tuple', [1, 2], undefined],
    ['empty tuple', tuple(), undefined],
    ['tag not an integer', tuple(atom('send'), E, p2), 'm'],
    ['unknown tag', tuple(99, p1), undefined],
    ['old NODE_LINK', tuple(5), undefined],
    ['wrong arity', tuple(CTRL.LINK, p1), undefined],
    ['pid expected', tuple(CTRL.LINK, p1, 'x'), undefined],
    ['missing payload', tuple(CTRL.SEND, E, p2), undefined],
    ['unexpected payload', tuple(CTRL.LINK, p1, p2), 'm'],
    ['name expected', tuple(CTRL.REG_SEND, p1, E, 'rex'), 'm'],
    ['ref expected', tuple(CTRL.ALIAS_SEND, p1, p2), 'm'],
    ['unlink id 0', tuple(CTRL.UNLINK_ID, 0, p1, p2), undefined],
    ['unlink id too big', tuple(CTRL.UNLINK_ID, 2n ** 64n, p1, p2), undefined],
    ['unlink id not an integer', tuple(CTRL.UNLINK_ID, 1.5, p1, p2), undefined],
    ['monitor target', tuple(CTRL.MONITOR_P, p1, 7, r1), undefined],
    ['spawn mfa', tuple(CTRL.SPAWN_REQUEST, r1, p1, p2, tuple(atom('m'), atom('f')), []), []],
    ['spawn arity mismatch', tuple(CTRL.SPAWN_REQUEST, r1, p1, p2, tuple(atom('m'), atom('f'), 1), []), []],
    ['spawn args not a list', tuple(CTRL.SPAWN_REQUEST, r1, p1, p2, tuple(atom('m'), atom('f'), 1), []), 'x'],
    ['altact arity', tuple(CTRL.ALTACT_SIG_SEND, 0, p1), 'm'],
    ['altact target', tuple(CTRL.ALTACT_SIG_SEND, 0, p1, 5), 'm'],
  ];
  for (const [what, c, p] of bad) t.throws(() => parseControl(c, p), { code: 'ERR_DIST_PROTOCOL', name: 'DistError' }, what);
});

t.test('constructors round-trip through encoder, frames and decoder', async (t) => {
  const sigs = [
    ctrl.send(p2, 'hi'),
    ctrl.sendSender(p1, p2, 'hi'),
    ctrl.regSend(p1, atom('shell'), [1, 2]),
    ctrl.aliasSend(p1, r1, 'reply'),
    ctrl.link(p1, p2),
    ctrl.unlinkId(2n ** 63n, p1, p2),
    ctrl.unlinkIdAck(7n, p2, p1),
    ctrl.exit(p1, p2, atom('normal')),
    ctrl.payloadExit(p1, p2, atom('normal')),
    ctrl.exit2(p1, p2, atom('kill')),
    ctrl.payloadExit2(p1, p2, atom('kill')),
    ctrl.monitor(p1, atom('srv'), r1),
    ctrl.demonitor(p1, p2, r1),
    ctrl.monitorExit(p2, p1, r1, atom('noproc')),
    ctrl.payloadMonitorExit(atom('srv'), p1, r1, atom('noproc')),
    ctrl.groupLeader(p1, p2),
    ctrl.spawnRequest(r1, p1, p2, atom('erlang'), atom('node'), []),
    ctrl.spawnReply(r1, p1, 2, p2),
  ];
  const enc = new DistEncoder({ flags: DEFAULT_DFLAGS });
  const dec = new DistDecoder();
  const kinds: string[] = [];
  for (const s of sigs) {
    const bufs = enc.encode(s.control, s.payload);
    const split = new FrameSplitter();
    split.push(Buffer.concat(bufs), (f) => {
      const m = dec.decodeFrame(f)!;
      kinds.push(parseControl(m.control, m.payload).kind);
    });
  }
  t.same(kinds, [
    'send', 'send', 'reg_send', 'alias_send', 'link', 'unlink_id', 'unlink_id_ack', 'exit', 'exit', 'exit2', 'exit2',
    'monitor', 'demonitor', 'monitor_exit', 'monitor_exit', 'group_leader', 'spawn_request', 'spawn_reply',
  ]);
  t.equal(ctrl.unlinkId(5n, p1, p2).control.at(1), 5, 'small ids as numbers');
});
