// The ChatBackend contract, as one suite run unchanged against every
// transport (contract.test.ts runs it over distribution and over Thrift, on
// a real three-node stub cluster per OTP version). It speaks only the
// contract: no hand-built request tuples, no transport errors.
import type { Test } from 'tap';
import {
  CHAT_SLOTS,
  ChatAbortedError,
  ChatBadRequestError,
  ChatError,
  ChatNotOnlineError,
  ChatTimeoutError,
  PollStatus,
  PresenceState,
  slotOf,
  type ChatBackend,
  type ChatEvent,
  type ChatSubscription,
} from '../../src/chat/index.js';
import { BeamBridgeError } from '../../src/errors.js';
import type { StubNode } from '../../src/testing/index.js';

/** What the suite runs against. */
export interface ContractEnv {
  /** The three stub nodes (started with users >= 2000, friends 20, idleMs 1000, graceMs 0). */
  nodes: StubNode[];
  /** A multiple of 1024 no other run uses: this run's users are base + 3072 + slot. */
  base: bigint;
  /** A seeded user (1..users) no other run uses, with its friends. */
  seeded: bigint;
  /** Connects a new client of the transport under test. */
  connect(): Promise<ChatBackend>;
  /** The stub's idle_ms. */
  idleMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The next event of `sub` that `match` accepts, within `ms` (earlier ones are skipped). */
export async function nextEvent(sub: ChatSubscription, match: (e: ChatEvent) => boolean, ms = 10_000): Promise<ChatEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no matching event within ${ms} ms`)), ms);
  });
  try {
    for (;;) {
      const r = await Promise.race([sub.next(), timeout]);
      if (r.done) throw new Error('the subscription ended');
      if (match(r.value)) return r.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (bounded) until `check` holds. */
async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

const online = (s: PresenceState | undefined) => s === PresenceState.ONLINE || s === PresenceState.IDLE;

export async function contractSuite(t: Test, env: ContractEnv): Promise<void> {
  const chat = await env.connect();
  t.teardown(() => chat.close());
  const { nodes, base } = env;
  const firstSlot = (i: number) => nodes[i]!.slots[0]![0];
  /** User n of this run on node i (n < 300). */
  const userOn = (i: number, n: number) => base + 3072n + BigInt(firstSlot(i) + n);
  const ownerNode = (u: bigint) => nodes.find((x) => x.slots.some(([a, b]) => slotOf(u) >= a && slotOf(u) <= b))!;

  await t.test('partitionMap names the three nodes and covers every slot', async (t) => {
    const map = await chat.partitionMap();
    t.equal(map.length, 3);
    t.same(map.map((r) => [r.first, r.last, r.node]), nodes.map((n) => [n.slots[0]![0], n.slots[0]![1], n.node]));
    t.same(map.map((r) => r.thriftPort), nodes.map((n) => n.thriftPort));
    t.equal(map.reduce((n, r) => n + r.last - r.first + 1, 0), CHAT_SLOTS);
  });

  const a = userOn(0, 1);
  const b = userOn(2, 1);
  await t.test('login, send across nodes, dedup, poll, history on both sides', async (t) => {
    t.equal(await chat.login(a), 0n, 'a new channel starts at seq 0');
    t.equal(await chat.login(Number(b)), 0n, 'numbers are accepted');
    const m = await chat.send(a, b, 'héllo ✓', { clientMsgId: 'c-1' });
    t.match(m, { fromId: a, toId: b, text: 'héllo ✓', clientMsgId: 'c-1' });
    t.type(m.id, 'bigint');
    t.ok(m.sentAtMs > 1_600_000_000_000n, 'stored with a timestamp');
    t.same(await chat.send(a, b, 'héllo ✓', { clientMsgId: 'c-1' }), m, 'a repeated clientMsgId returns the first message');
    const m2 = await chat.send(a, b, 'second');
    t.equal(m2.clientMsgId, undefined, 'no client id: none stored');
    t.ok(m2.id > m.id, 'ids increase per sender');
    const p = await chat.poll(b, 0, { timeoutMs: 0 });
    t.equal(p.status, PollStatus.EVENTS);
    t.same(p.events.map((e) => [e.seq, e.message?.text]), [[1n, 'héllo ✓'], [2n, 'second']], 'queued once each, in order');
    t.equal(p.seq, 2n);
    const echo = await chat.poll(a, 0, { timeoutMs: 0 });
    t.same(echo.events.map((e) => e.message?.id), [m.id, m2.id], 'echoed to the sender');
    for (const [u, peer] of [[a, b], [b, a]] as const) {
      t.same((await chat.history(u, peer, 10)).map((x) => x.id), [m.id, m2.id], `history at ${ownerNode(u).node}`);
    }
    t.same((await chat.history(a, b, 1)).map((x) => x.text), ['second'], 'the last messages, oldest first');
    t.same(await chat.history(a, b, 0), []);
    t.equal(await chat.login(b), 2n, 'login again: the current seq');
  });

  await t.test('poll outcomes and typing', async (t) => {
    t.equal((await chat.poll(b, 99, { timeoutMs: 0 })).status, PollStatus.REFRESH, 'ahead: refresh');
    const cont = await chat.poll(b, 2, { timeoutMs: 50 });
    t.same([cont.status, cont.seq, cont.events], [PollStatus.CONTINUE, 2n, []], 'nothing new: continue after the hold');
    const held = chat.poll(b, 2, { timeoutMs: 10_000 });
    await sleep(100);
    await chat.typing(a, b, true);
    const r = await held;
    t.equal(r.status, PollStatus.EVENTS, 'a held poll is answered by the event');
    t.same(r.events[0], { seq: 3n, message: undefined, typing: { fromId: a, toId: b, active: true } });
  });

  await t.test('errors are typed, the same for every transport', async (t) => {
    const offline = userOn(1, 7);
    const e1 = await chat.send(a, offline, 'x').catch((e: unknown) => e);
    t.ok(e1 instanceof ChatNotOnlineError && e1 instanceof ChatError && e1 instanceof BeamBridgeError);
    t.match(e1, { code: 'ERR_CHAT_NOT_ONLINE', userId: offline }, 'names the recipient');
    t.match(await chat.send(offline, a, 'x').catch((e: unknown) => e), { code: 'ERR_CHAT_NOT_ONLINE', userId: offline }, 'names the sender');
    t.match(await chat.typing(a, offline, true).catch((e: unknown) => e), { code: 'ERR_CHAT_NOT_ONLINE', userId: offline });
    const long = await chat.send(a, b, 'x'.repeat(65_537)).catch((e: unknown) => e);
    t.ok(long instanceof ChatBadRequestError);
    t.match(long, { code: 'ERR_CHAT_BAD_REQUEST', reason: 'text_too_long' });
    t.same((await chat.history(b, a, 10)).length, 2, 'nothing was stored');
    for (const bad of [2n ** 63n, -(2n ** 63n) - 1n, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
      t.match(await chat.login(bad).catch((e: unknown) => e), { code: 'ERR_CHAT_BAD_REQUEST', reason: 'user_id' }, `user id ${bad}`);
    }
    t.match(await chat.presence(Array.from({ length: 100_001 }, (_, i) => i)).catch((e: unknown) => e), { code: 'ERR_CHAT_BAD_REQUEST', reason: 'presence_ids' });

    // A slow server: the call's own deadline.
    const slow = ownerNode(a);
    await slow.fault.delay(5000);
    try {
      const started = Date.now();
      const e = await chat.login(a, { timeoutMs: 150 }).catch((x: unknown) => x);
      t.ok(e instanceof ChatTimeoutError, 'ERR_CHAT_TIMEOUT');
      t.match(e, { code: 'ERR_CHAT_TIMEOUT', timeoutMs: 150 });
      t.ok(Date.now() - started < 4000, 'at the deadline, not at the (5 s late) reply');
    } finally {
      await slow.fault.delay(0);
    }

    const ac = new AbortController();
    const held = chat.poll(b, 3, { timeoutMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('user left')), 50);
    const ab = await held.catch((e: unknown) => e);
    t.ok(ab instanceof ChatAbortedError);
    t.match(ab, { code: 'ERR_CHAT_ABORTED', cause: { message: 'user left' } });
    t.match(await chat.touch(a, { signal: AbortSignal.abort() }).catch((e: unknown) => e), { code: 'ERR_CHAT_ABORTED' }, 'already aborted');
  });

  await t.test('presence, friends and friendsPresence', async (t) => {
    const c = userOn(1, 9);
    const ids = [a, b, c, 2n ** 53n + 1n, -5n, 2n ** 63n - 1n, -(2n ** 63n)];
    const p = await chat.presence(ids);
    t.equal(p.size, ids.length, 'every id asked');
    t.ok(online(p.get(a)) && online(p.get(b)), 'logged-in users are online (or idle)');
    t.same([c, ...ids.slice(3)].map((id) => p.get(id)), ids.slice(2).map(() => PresenceState.OFFLINE), 'exact 64-bit keys; unknown users offline');
    t.equal(p.get(Number(a)), p.get(a), 'looked up by number too');
    t.equal((await chat.presence([])).size, 0);

    const u = env.seeded;
    const friends = await chat.friends(u);
    t.equal(friends.length, 20, 'the whole seeded list');
    t.same(friends, [...friends].sort((x, y) => (x < y ? -1 : 1)), 'ascending');
    t.ok(friends.every((f) => typeof f === 'bigint' && f !== u));
    t.ok((await chat.friends(friends[0]!)).includes(u), 'symmetric');
    t.same(await chat.friends(0), [], 'no friends outside the seeded users');

    const logged = friends.slice(0, 3);
    for (const f of [u, ...logged]) await chat.login(f);
    const fp = await chat.friendsPresence(u);
    t.ok(logged.every((f) => online(fp.find((x) => x.userId === f)?.state)), 'logged-in friends are listed online');
    t.ok(fp.every((x) => friends.includes(x.userId) && online(x.state)), 'only friends, only online or idle ones');
    t.same(fp.map((x) => x.userId), [...fp.map((x) => x.userId)].sort((x, y) => (x < y ? -1 : 1)), 'ascending');
    const all = await chat.presence(friends);
    t.equal(all.size, 20, 'presence() gives every friend, offline ones too');
    t.ok(logged.every((f) => online(all.get(f))));
  });

  await t.test('touch makes an idle user online; logout answers a held poll', async (t) => {
    const e = userOn(1, 11);
    await chat.login(e);
    t.ok(await eventually(async () => (await chat.presence([e])).get(e) === PresenceState.IDLE, env.idleMs * 10), 'idle after idle_ms');
    await chat.touch(e);
    t.equal((await chat.presence([e])).get(e), PresenceState.ONLINE, 'online after touch');
    const held = chat.poll(e, 0, { timeoutMs: 10_000 });
    await sleep(100);
    await chat.logout(e);
    t.equal((await held).status, PollStatus.CONTINUE, 'logout answers the held poll');
    t.equal((await chat.presence([e])).get(e), PresenceState.OFFLINE);
    await chat.logout(e);
    t.pass('logout of a user who is not online is fine');
  });

  await t.test('subscribe: chat events, resets, presence, unsubscribe', async (t) => {
    const s = await chat.subscribe(b);
    const s2 = await chat.subscribe(b);
    t.equal(s.userId, b);
    const m = await chat.send(a, b, 'sub-1');
    for (const x of [s, s2]) {
      const ev = await nextEvent(x, (e) => e.type === 'chat' && e.event.message?.id === m.id);
      t.match(ev, { type: 'chat', userId: b, event: { message: { text: 'sub-1', fromId: a } } }, 'every subscriber gets the message');
      t.ok(ev.type === 'chat' && ev.event.seq > 0n, 'with its seq');
    }
    await chat.typing(a, b, false);
    t.match(await nextEvent(s, (e) => e.type === 'chat'), { event: { typing: { fromId: a, active: false } } });

    await ownerNode(b).fault.killChannel(b);
    for (const x of [s, s2]) {
      t.match(await nextEvent(x, (e) => e.type === 'reset'), { type: 'reset', userId: b, seq: 0n, reason: 'channel_restarted' }, 'a channel crash is a reset');
    }
    const after = await chat.send(a, b, 'after the crash');
    t.match(await nextEvent(s, (e) => e.type === 'chat'), { event: { seq: 1n, message: { id: after.id } } }, 'events continue from seq 1');

    await chat.logout(b);
    t.match(await nextEvent(s, (e) => e.type === 'presence'), { type: 'presence', userId: b, state: PresenceState.OFFLINE });
    await chat.login(b);
    t.match(await nextEvent(s, (e) => e.type === 'presence'), { type: 'presence', state: PresenceState.ONLINE });

    // Breaking out of the loop ends that subscription only.
    for await (const ev of s) {
      t.ok(ev, 'an event');
      break;
    }
    const ended = await s.next();
    t.equal(ended.done, true, 'break unsubscribed');
    const m2 = await chat.send(a, b, 'still there');
    t.match(await nextEvent(s2, (e) => e.type === 'chat' && e.event.message?.id === m2.id), { type: 'chat' }, 'the other subscriber still gets events');

    const ac = new AbortController();
    const s3 = await chat.subscribe(a, { signal: ac.signal });
    const reading = (async () => {
      let n = 0;
      for await (const _ of s3) n++;
      return n;
    })();
    ac.abort();
    t.type(await reading, 'number', 'an AbortSignal ends the loop');
    await s2.close();
    t.equal((await s2.next()).done, true);
  });

  await t.test('a dropped connection: calls come back by themselves, subscribers get a reset', async (t) => {
    const u = userOn(1, 30);
    await chat.login(u);
    const s = await chat.subscribe(u);
    const owner = ownerNode(u);
    // Each transport loses its own connections: distribution (disconnect_peers) or Thrift (close_thrift).
    await owner.fault.disconnectPeers();
    await owner.fault.closeThrift();
    t.match(await nextEvent(s, (e) => e.type === 'reset'), { type: 'reset', userId: u, reason: 'reconnected' }, 'events may have been missed: a reset');
    let m: Awaited<ReturnType<ChatBackend['send']>> | undefined;
    t.ok(await eventually(async () => (m = await chat.send(a, u, 'back').catch(() => undefined)) !== undefined), 'sends succeed again');
    t.match(await nextEvent(s, (e) => e.type === 'chat' && e.event.message?.id === m!.id), { type: 'chat' }, 'and the subscription delivers');
    await s.close();
  });

  await t.test('WrongPartition is followed, never surfaced', async (t) => {
    const internals = chat as unknown as { table: { install(m: unknown[]): void }; refreshes: number };
    const first = nodes[0]!;
    // The client believes node 1 owns every slot (a stale map).
    internals.table.install([{ first: 0, last: 1023, node: first.node, thriftPort: first.thriftPort }]);
    const before = internals.refreshes;
    const u = userOn(2, 20);
    t.equal(await chat.login(u), 0n, 'answered by the real owner');
    t.equal(internals.refreshes, before + 1, 'after one map refresh');
    t.equal((await chat.partitionMap()).length, 3);
  });

  await t.test('close ends subscriptions and fails later calls', async (t) => {
    const c2 = await env.connect();
    const sub = await c2.subscribe(a);
    const pending = sub.next();
    // Held polls end at close, with or without the caller's own signal.
    const held = [c2.poll(b, 1_000_000, { timeoutMs: 10_000 }), c2.poll(a, 1_000_000, { timeoutMs: 10_000, signal: new AbortController().signal })]
      .map((p) => p.catch((e: unknown) => e));
    const t0 = Date.now();
    await c2.close();
    t.equal((await pending).done, true, 'the subscription ended');
    for (const p of held) t.match(await p, { code: 'ERR_CHAT_CLOSED' }, 'a held poll ended with the client');
    t.ok(Date.now() - t0 < 5000, 'at close, not at the poll deadline');
    t.match(await c2.login(a).catch((e: unknown) => e), { code: 'ERR_CHAT_CLOSED' });
    t.match(await c2.subscribe(a).catch((e: unknown) => e), { code: 'ERR_CHAT_CLOSED' });
    await c2.close();
  });
}
