// The mailbox alone: selective receive, order, timeouts, abort, close, the
// async iterator. No sockets.
import t from 'tap';
import { Mailbox, NONE, NodeError } from '../../src/node/index.js';
import { atom } from '../../src/etf/index.js';

const exited = (normal: boolean) => new NodeError('ERR_PROCESS_EXITED', 'gone', { reason: atom(normal ? 'normal' : 'boom') });

t.test('messages come out in order; selective receive skips without losing', async (t) => {
  const mb = new Mailbox();
  for (const m of [1, 2, 3, 4]) mb.push(m);
  t.equal(mb.size, 4);
  t.equal(await mb.receive({ match: (m) => m === 3 }), 3);
  t.equal(await mb.receive(), 1);
  t.equal(await mb.receive(), 2);
  t.equal(await mb.receive(), 4);
  t.equal(mb.size, 0);
  t.same(mb.stats, { delivered: 4, received: 4, dropped: 0 });
});

t.test('a waiting receive gets the first matching message; others queue', async (t) => {
  const mb = new Mailbox();
  const even = mb.receive({ match: (m) => typeof m === 'number' && m % 2 === 0 });
  const any = mb.receive();
  mb.push(1); // not even: goes to `any`
  mb.push(2);
  mb.push(3); // nobody waits any more: queued
  t.equal(await any, 1);
  t.equal(await even, 2);
  t.equal(mb.take(), 3);
  t.equal(mb.take(), NONE);
});

t.test('undefined and null are messages like any other', async (t) => {
  const mb = new Mailbox();
  mb.push(undefined);
  mb.push(null);
  t.equal(await mb.receive({ timeoutMs: 0 }), undefined);
  t.equal(await mb.receive({ timeoutMs: 0 }), null);
});

t.test('timeouts: 0 looks only at the queue; a positive one rejects with ERR_TIMEOUT', async (t) => {
  const mb = new Mailbox();
  await t.rejects(mb.receive({ timeoutMs: 0 }), { code: 'ERR_TIMEOUT' });
  mb.push('x');
  await t.rejects(mb.receive({ timeoutMs: 0, match: (m) => m === 'y' }), { code: 'ERR_TIMEOUT' });
  t.equal(await mb.receive({ timeoutMs: 0 }), 'x');
  await t.rejects(mb.receive({ timeoutMs: 20 }), { code: 'ERR_TIMEOUT', name: 'NodeError' });
  // The timed-out receive is gone: a later message is queued, not lost.
  mb.push('later');
  t.equal(mb.size, 1);
});

t.test('abort: already aborted, and aborted while waiting', async (t) => {
  const mb = new Mailbox();
  await t.rejects(mb.receive({ signal: AbortSignal.abort() }), { code: 'ERR_ABORTED' });
  const ac = new AbortController();
  const r = mb.receive({ signal: ac.signal });
  ac.abort(new Error('stop'));
  await t.rejects(r, { code: 'ERR_ABORTED' });
  mb.push(1);
  t.equal(mb.size, 1, 'the aborted receive did not take the message');
});

t.test('a throwing match fails its own receive and leaves the message', async (t) => {
  const mb = new Mailbox();
  const bad = mb.receive({
    match: () => {
      throw new Error('bad match');
    },
  });
  const good = mb.receive();
  mb.push('m');
  await t.rejects(bad, { message: 'bad match' });
  t.equal(await good, 'm');
  mb.push('n');
  await t.rejects(
    mb.receive({
      match: () => {
        throw new Error('bad again');
      },
    }),
    { message: 'bad again' },
  );
  t.equal(mb.size, 1);
});

t.test('close rejects waiters, drops later messages, ends iterators', async (t) => {
  const mb = new Mailbox();
  const w = mb.receive();
  const err = exited(true);
  mb.close(err, true);
  await t.rejects(w, err);
  t.equal(mb.push(1), false);
  t.equal(mb.stats.dropped, 1);
  await t.rejects(mb.receive(), { code: 'ERR_PROCESS_EXITED' });
  const seen: unknown[] = [];
  for await (const m of mb) seen.push(m);
  t.same(seen, [], 'a normal close ends iteration');
});

t.test('iteration yields messages as they come and throws on an abnormal close', async (t) => {
  const mb = new Mailbox();
  const seen: unknown[] = [];
  const loop = (async () => {
    for await (const m of mb) seen.push(m);
  })();
  mb.push(1);
  mb.push(2);
  await new Promise((r) => setImmediate(r));
  mb.push(3);
  await new Promise((r) => setImmediate(r));
  mb.close(exited(false), false);
  await t.rejects(loop, { code: 'ERR_PROCESS_EXITED', reason: atom('boom') });
  t.same(seen, [1, 2, 3]);
});

t.test('a long queue compacts and keeps order', async (t) => {
  const mb = new Mailbox();
  for (let i = 0; i < 5000; i++) mb.push(i);
  let inOrder = true;
  for (let i = 0; i < 4000; i++) if (mb.take() !== i) inOrder = false;
  t.ok(inOrder, 'the first 4000 in order');
  mb.push(5000);
  const rest: unknown[] = [];
  for (;;) {
    const m = mb.take();
    if (m === NONE) break;
    rest.push(m);
  }
  t.equal(rest.length, 1001);
  t.equal(rest[0], 4000);
  t.equal(rest[1000], 5000);
});
