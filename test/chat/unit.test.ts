// The chat tier's pieces without a server: the subscription queue, the
// reading of chat_channel's reply terms and errors, deadlines, and the down
// set with its probe loop.
import t from 'tap';
import { atom, tuple } from '../../src/etf/index.js';
import { reconnectPolicy } from '../../src/node/index.js';
import { ChatAbortedError, ChatClosedError, ChatError, ChatInternalError, ChatNotOnlineError, ChatTimeoutError, PollStatus, PresenceState } from '../../src/chat/index.js';
import { okValue, toPollResult, toPresenceList, toSlotRanges, toMessage, forEachPresence } from '../../src/chat/dist-terms.js';
import { EventQueue } from '../../src/chat/queue.js';
import { CallBudget, Moved, SlotTable } from '../../src/chat/routing.js';
import { Health } from '../../src/chat/health.js';
import { BeamBridgeError } from '../../src/errors.js';
// Waits are bounded (10 s): no test here depends on how fast the machine is.
import { until } from '../helpers/until.js';

const A = atom;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('EventQueue: order, a bounded backlog, end, close once, abort', async (t) => {
  let closes = 0;
  const q = new EventQueue(5n, async () => void closes++, 3);
  const ev = (n: number) => ({ type: 'presence' as const, userId: 5n, state: n as PresenceState });
  for (let i = 0; i < 5; i++) q.push(ev(i));
  t.equal(q.dropped, 2, 'the oldest are dropped past maxQueued');
  t.same((await q.next()).value, ev(2));
  const pending = [q.next(), q.next(), q.next()];
  q.push(ev(9));
  t.same((await pending[0]).value, ev(3));
  t.same((await pending[1]).value, ev(4));
  t.same((await pending[2]).value, ev(9), 'a waiting reader gets the next push');
  const waiting = q.next();
  await Promise.all([q.close(), q.close()]);
  t.equal(closes, 1, 'onClose runs once');
  t.same(await waiting, { value: undefined, done: true });
  q.push(ev(1));
  t.equal((await q.next()).done, true, 'nothing after the end');

  const ac = new AbortController();
  const q2 = new EventQueue(1n, async () => void closes++, undefined, ac.signal);
  const r = q2.next();
  ac.abort();
  t.same(await r, { value: undefined, done: true }, 'the signal ends it');
  t.equal(closes, 2);
  const q3 = new EventQueue(1n, async () => {});
  for (let i = 0; i < 3000; i++) q3.push(ev(i % 3));
  for (let i = 0; i < 3000; i++) t.equal((await q3.next()).value?.type, 'presence');
  t.equal(q3.dropped, 0);
  t.same(await q3.return(), { value: undefined, done: true });
});

t.test("chat_channel's replies and errors", async (t) => {
  t.equal(okValue(A('ok'), 'x'), undefined);
  t.equal(okValue(tuple(A('ok'), 7), 'x'), 7);
  const err = (reason: unknown) => {
    try {
      okValue(tuple(A('error'), reason as never), 'call');
    } catch (e) {
      return e;
    }
    return undefined;
  };
  const no = err(tuple(A('not_online'), 2n ** 60n));
  t.ok(no instanceof ChatNotOnlineError && no instanceof ChatError && no instanceof BeamBridgeError);
  t.match(no, { userId: 2n ** 60n });
  t.match(err(tuple(A('bad_request'), A('client_msg_id'))), { code: 'ERR_CHAT_BAD_REQUEST', reason: 'client_msg_id' });
  t.match(err(tuple(A('bad_request'), tuple(A('foo'), 1))), { code: 'ERR_CHAT_BAD_REQUEST', reason: 'request' });
  t.match(err(tuple(A('unavailable'), A('presence'))), { code: 'ERR_CHAT_UNAVAILABLE' });
  t.match(err(tuple(A('internal'), A('badarg'))), { code: 'ERR_CHAT_INTERNAL' });
  t.match(err(A('weird')), { code: 'ERR_CHAT_INTERNAL' });
  const moved = err(tuple(A('wrong_partition'), 5, A('undefined'), 0));
  t.ok(moved instanceof Moved);
  t.match(moved, { userId: 5n, owner: '', thriftPort: 0 });
  t.match(err(tuple(A('wrong_partition'), 5, A('n@h'), 9)), { owner: 'n@h', thriftPort: 9 });
  t.throws(() => okValue(tuple(A('ok'), 1, 2), 'x'), ChatInternalError);
  t.throws(() => okValue(42, 'x'), { code: 'ERR_CHAT_INTERNAL' });

  const msg = new Map<unknown, unknown>([[A('id'), 1], [A('from'), 2], [A('to'), 3], [A('text'), Buffer.from('hé')], [A('sent_at_ms'), 4], [A('client_msg_id'), A('undefined')]]);
  t.same(toMessage(msg as never), { id: 1n, fromId: 2n, toId: 3n, text: 'hé', sentAtMs: 4n, clientMsgId: undefined });
  t.throws(() => toMessage(new Map([[A('id'), 'x']]) as never), { code: 'ERR_CHAT_INTERNAL' });
  t.throws(() => toMessage([] as never), { code: 'ERR_CHAT_INTERNAL' });
  const poll = new Map<unknown, unknown>([[A('status'), A('continue')], [A('seq'), 3], [A('events'), []]]);
  t.same(toPollResult(poll as never), { status: PollStatus.CONTINUE, seq: 3n, events: [] });
  t.throws(() => toPollResult(new Map([[A('status'), A('maybe')]]) as never), { code: 'ERR_CHAT_INTERNAL' });
  const pres = [new Map<unknown, unknown>([[A('user_id'), 9], [A('state'), A('idle')], [A('idle_seconds'), 2 ** 40]])];
  t.same(toPresenceList(pres as never), [{ userId: 9n, state: PresenceState.IDLE, idleSeconds: 0x7fffffff }]);
  t.throws(() => toPresenceList([new Map<unknown, unknown>([[A('user_id'), 9], [A('state'), A('away')]])] as never), { code: 'ERR_CHAT_INTERNAL' });
  t.throws(() => toSlotRanges([new Map([[A('node'), 'n']])] as never), { code: 'ERR_CHAT_INTERNAL' });
  t.throws(() => forEachPresence(new Map([[A('x'), A('online')]]) as never, () => {}), { code: 'ERR_CHAT_INTERNAL' });
});

t.test('CallBudget: remaining time, timeout, abort, closed', async (t) => {
  const closing = new AbortController();
  const d = new CallBudget('x', 20, closing.signal, undefined);
  t.ok(d.remaining() > 0 && d.remaining() <= 20);
  await sleep(30);
  t.throws(() => d.remaining(), ChatTimeoutError);
  t.ok(d.stopped(new Error('t')) instanceof ChatTimeoutError);
  t.equal(d.signal, undefined, 'no signal of its own for a short call without one');
  const ac = new AbortController();
  const d2 = new CallBudget('y', Infinity, closing.signal, ac.signal);
  t.equal(d2.remaining(), Infinity);
  ac.abort('why');
  t.ok(d2.signal?.aborted && d2.aborted, 'the caller signal reaches the step signal');
  t.match(d2.stopped(undefined), { code: 'ERR_CHAT_ABORTED', cause: 'why' });
  const long = new CallBudget('poll', 100, closing.signal, undefined, true);
  t.equal(long.signal, closing.signal, 'a long call carries the closing signal');
  t.throws(() => new CallBudget('z', 1, closing.signal, ac.signal), ChatAbortedError);
  closing.abort();
  t.ok(d.stopped(undefined) instanceof ChatClosedError, 'after close: closed');
  t.throws(() => new CallBudget('z', 1, closing.signal, undefined), ChatClosedError);
});

t.test('SlotTable', async (t) => {
  const tab = new SlotTable();
  tab.install([{ first: 0, last: 9, node: 'a', thriftPort: 1 }, { first: 10, last: 2000, node: 'b', thriftPort: 2 }, { first: -5, last: -1, node: 'c', thriftPort: 3 }]);
  t.equal(tab.ownerOf(1033)?.node, 'a');
  t.equal(tab.ownerOf(-1)?.node, 'b', 'clipped to 0..1023');
  t.same(tab.nodes().map((o) => o.node).sort(), ['a', 'b']);
  tab.install([{ first: 0, last: 9, node: 'a', thriftPort: 1 }]);
  t.equal(tab.bySlot(10), undefined);
});

t.test('Health: down at once, probed with backoff until it serves, nudged, stopped', async (t) => {
  const closing = new AbortController();
  let probes = 0;
  let serve = false;
  const recovered: string[] = [];
  const down: string[] = [];
  const h = new Health(
    reconnectPolicy({ baseDelayMs: 5, maxDelayMs: 20 }),
    closing.signal,
    async () => {
      probes++;
      if (probes === 2) throw new Error('a probe that throws counts as a failure');
      return serve;
    },
    (n) => recovered.push(n),
    (n) => down.push(n),
  );
  h.markDown('n1');
  h.markDown('n1');
  t.same(down, ['n1'], 'once');
  t.ok(h.isDown('n1') && !h.isDown('n2'));
  t.same(h.nodes(), ['n1']);
  t.ok(await until(() => probes >= 3), 'probed again and again (a throwing probe is a failure)');
  serve = true;
  h.nudge('n1');
  t.ok(await until(() => recovered.length > 0), 'recovered once the probe succeeds');
  t.same(recovered, ['n1'], 'back after a successful probe');
  t.notOk(h.isDown('n1'));
  h.markDown('n2');
  h.stop();
  closing.abort();
  const before = probes;
  await sleep(50);
  t.equal(probes, before, 'no probes after stop');
  h.markDown('n3');
  t.notOk(h.isDown('n3'), 'nothing is marked once closed');
  let ran = false;
  h.later(1, () => (ran = true));
  await sleep(10);
  t.notOk(ran);
});
