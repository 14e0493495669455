// The per-user buffer of the gateway (src/chat/gateway/channel.ts) under a
// randomised schedule: events, channel crashes, a window smaller than the
// bursts, and several tabs polling from wherever they are. Every tab must end
// up with every message (events, plus a history re-read after `refresh`),
// and no message may come twice through the poll answers of one epoch.
//
// The channel here is a small model of the stub's documented poll semantics
// (erlang-stub/README.md, "The long-poll"), so thousands of schedules run in
// a second; the same code runs against the real stub in the API and browser
// tests.
import t from 'tap';
import { PollStatus, PresenceState, type ChannelEvent, type PollResult } from '../../src/thrift/gen/chat.js';
import { PresenceHub, type PresenceWatcher } from '../../src/chat/gateway/presence.js';
import { UserChannel, type ChannelHost, type HeldPoll, type PollStatusName } from '../../src/chat/gateway/channel.js';
import { backoffPolicy } from '../../src/backoff.js';
import type { HttpResponse } from '../../src/chat/gateway/http.js';
import { until } from '../helpers/until.js';

/** The stub's channel: seq, a window of retained events, one held poll, crashes. */
class ModelChannel {
  seq = 0n;
  events: ChannelEvent[] = [];
  history: bigint[] = [];
  held: { after: bigint; resolve: (r: PollResult) => void; timer: NodeJS.Timeout; unlisten: () => void } | undefined;
  nextId = 1n;

  constructor(readonly window: number) {}

  push(): void {
    const id = this.nextId++;
    this.history.push(id);
    this.seq += 1n;
    this.events.push({ seq: this.seq, message: { id, fromId: 2n, toId: 1n, text: `m${id}`, sentAtMs: 0n } });
    if (this.events.length > this.window) this.events.shift();
    if (this.held) this.answerHeld(this.result(this.held.after)!);
  }

  kill(): void {
    this.seq = 0n;
    this.events = [];
    if (this.held) this.answerHeld({ status: PollStatus.REFRESH, seq: 0n, events: [] });
  }

  private answerHeld(r: PollResult): void {
    const h = this.held!;
    this.held = undefined;
    clearTimeout(h.timer);
    h.unlisten();
    h.resolve(r);
  }

  private result(after: bigint): PollResult | undefined {
    const len = BigInt(this.events.length);
    if (after > this.seq || after < this.seq - len) return { status: PollStatus.REFRESH, seq: this.seq, events: [] };
    if (after < this.seq) return { status: PollStatus.EVENTS, seq: this.seq, events: this.events.filter((e) => e.seq > after) };
    return undefined;
  }

  poll(_user: unknown, afterSeq: unknown, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<PollResult> {
    const after = BigInt(afterSeq as bigint);
    if (this.held) this.answerHeld({ status: PollStatus.CONTINUE, seq: this.seq, events: [] });
    const now = this.result(after);
    if (now !== undefined) return Promise.resolve(now);
    if ((o.timeoutMs ?? 30_000) <= 0) return Promise.resolve({ status: PollStatus.CONTINUE, seq: this.seq, events: [] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.held && this.answerHeld({ status: PollStatus.CONTINUE, seq: this.seq, events: [] }), o.timeoutMs ?? 30_000);
      // Like the real backends, the listener goes when the poll is answered: UserChannel
      // gives one signal to every poll until it aborts.
      const onAbort = () => {
        if (this.held?.resolve === resolve) {
          clearTimeout(timer);
          this.held = undefined;
          reject(new Error('aborted'));
        }
      };
      this.held = { after, resolve, timer, unlisten: () => o.signal?.removeEventListener('abort', onAbort) };
      o.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

type Answer = { status: PollStatusName | 'error'; seq: bigint; epoch: number; events: readonly ChannelEvent[] };

/** A UserChannel over the model, with a host that hands each answer to the tab that polled. */
function harness(ch: ModelChannel, bufferSize: number) {
  const waiting = new Map<HttpResponse, (a: Answer) => void>();
  let epoch = 1000;
  const settle = (p: HeldPoll, a: Answer) => {
    const f = waiting.get(p.res);
    waiting.delete(p.res);
    f?.(a);
  };
  const host: ChannelHost = {
    backend: ch as never,
    upstreamPollMs: 50,
    maxPollsPerUser: 8,
    bufferSize,
    idleStopMs: 60_000,
    backoff: backoffPolicy({ maxDelayMs: 10 }, { baseDelayMs: 5, maxRetries: Infinity }),
    epochBase: 1000,
    nextEpoch: () => ++epoch,
    timed: (_m, f) => f(),
    answer: (p, status, seq, events) => settle(p, { status, seq, epoch: p.user.epoch, events }),
    answerError: (p) => settle(p, { status: 'error', seq: p.after, epoch: p.user.epoch, events: [] }),
    held: () => undefined,
    dropped: () => undefined,
    recovered: () => undefined,
  };
  const user = new UserChannel(1n, host, 0n);
  return {
    user,
    poll(after: bigint, ep: number | undefined): Promise<Answer> {
      const res: HttpResponse = { done: false, send: () => undefined, onAbort: () => undefined };
      const answered = new Promise<Answer>((resolve) => waiting.set(res, resolve));
      void user.poll(res, after, ep, undefined, Date.now() + 60_000);
      return answered;
    },
  };
}

t.test('tabs see every message once per epoch, through bursts and crashes', async (t) => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let refreshes = 0;
  for (let run = 0; run < 40; run++) {
    const ch = new ModelChannel(4 + (run % 5));
    const h = harness(ch, 3 + (run % 7));
    let stop = false;
    const tabs = [0, 1, 2].map(() => ({ seq: 0n, epoch: undefined as number | undefined, seen: new Set<bigint>(), dupes: 0, viaEvents: new Set<string>() }));
    const loops = tabs.map(async (tab) => {
      while (!stop) {
        const a = await h.poll(tab.seq, tab.epoch);
        if (a.status === 'refresh') {
          refreshes++;
          for (const id of ch.history) tab.seen.add(id); // the page re-reads history
        }
        for (const e of a.events) {
          const k = `${a.epoch}:${e.message!.id}`;
          if (tab.viaEvents.has(k)) tab.dupes++;
          tab.viaEvents.add(k);
          tab.seen.add(e.message!.id);
        }
        tab.seq = a.seq;
        tab.epoch = a.epoch;
        if (rnd() < 0.3) await new Promise((r) => setTimeout(r, 1 + rnd() * 5)); // a slow tab
      }
    });
    for (let i = 0; i < 30; i++) {
      const burst = 1 + Math.floor(rnd() * 6);
      for (let j = 0; j < burst; j++) ch.push();
      if (rnd() < 0.08) ch.kill();
      await new Promise((r) => setTimeout(r, rnd() * 4));
    }
    // Quiesce: a last message, then every tab polls until it has it (bounded).
    ch.push();
    const last = ch.history.at(-1)!;
    await until(() => tabs.every((tb) => tb.seen.has(last)), 1000);
    if (tabs.some((tb) => !tb.seen.has(last))) {
      const u = h.user as any;
      t.comment(`run ${run} stuck: user seq ${u.seq} base ${u.base} epoch ${u.epoch} polls ${u.polls.length} ready ${u.isReady} failure ${u.failure} | channel seq ${ch.seq} held ${ch.held?.after} | tabs ${tabs.map((tb) => `${tb.seq}/${tb.epoch}`).join(' ')}`);
    }
    stop = true;
    h.user.stop();
    await Promise.all(loops);
    for (const [i, tab] of tabs.entries()) {
      const missing = ch.history.filter((id) => !tab.seen.has(id));
      if (missing.length > 0 || tab.dupes > 0) t.fail(`run ${run} tab ${i}: missing ${missing.join(',')}; ${tab.dupes} doubled`);
    }
  }
  t.ok(refreshes > 0, `40 randomised runs, ${refreshes} refreshes among them`);
});

t.test('presence: pushes are coalesced per watcher and round, spread over the round, and the text matches the objects', async (t) => {
  const states = new Map<bigint, PresenceState>();
  const backend = { presence: async (ids: bigint[]) => new Map(ids.map((id) => [id, states.get(id) ?? PresenceState.OFFLINE])) };
  const hub = new PresenceHub(backend as never, { intervalMs: 300, timed: (_m, f) => f(), count: () => undefined });
  const wakes = new Map<number, number[]>();
  const watcher = (n: number): PresenceWatcher & { n: number } => ({ n, pv: 0, friends: [], presenceChanged: () => wakes.set(n, [...(wakes.get(n) ?? []), Date.now()]) });
  // 60 users, each the friend of every other: a crowd.
  const ids = Array.from({ length: 60 }, (_, i) => BigInt(i + 1));
  const users = ids.map((_, i) => watcher(i));
  for (const [i, u] of users.entries()) hub.join(u, ids.filter((_, j) => j !== i), []);
  t.same([...wakes.values()].map((w) => w.length), users.map(() => 1), 'each joiner is woken once, for itself');
  t.equal(hub.entries.size, 60, 'one shared entry per friend id');
  t.ok(users[0].friends[0] === users[2].friends[1], 'users share the entry object of a common friend');
  wakes.clear();
  // 40 friends sign in at once, then one more user joins seeing 10 of them fresher than the hub.
  for (const id of ids.slice(0, 40)) states.set(id, PresenceState.ONLINE);
  const t0 = Date.now();
  await hub.tick();
  // The wake-ups are spread over a third of the interval (two 50 ms steps here).
  await until(() => wakes.size === 60);
  t.equal(wakes.size, 60, 'every watcher woken');
  t.ok([...wakes.values()].every((w) => w.length === 1), 'once each, for 39 or 40 changed friends');
  const times = [...wakes.values()].map((w) => w[0] - t0);
  t.ok(Math.max(...times) - Math.min(...times) >= 40, `spread over the round (${Math.min(...times)}..${Math.max(...times)} ms)`);
  const u0 = users[0];
  const view = hub.view(u0.friends, 0);
  t.equal(hub.viewText(u0.friends, 0), JSON.stringify(view), 'viewText is the JSON of view');
  t.equal(view.filter((f) => f.state === 'online').length, 39);
  t.equal(hub.viewText(u0.friends, u0.pv), '', 'nothing newer than the watcher\'s version');
  wakes.clear();
  states.set(41n, PresenceState.IDLE);
  const late = watcher(99);
  hub.join(late, [41n, 42n], [{ userId: 41n, state: PresenceState.IDLE, idleSeconds: 7 }]);
  t.same([...wakes.keys()], [99], 'a fresher state at sign-in wakes only the joiner at once');
  t.match(hub.viewText(late.friends, 0), /"userId":"41","state":"idle","idleSeconds":7/);
  await hub.tick();
  await until(() => wakes.size === 60);
  t.equal(wakes.size, 60, 'the 59 other watchers of 41 hear of it at the next round');
  hub.leave(late, late.friends);
  for (const u of users) hub.leave(u, u.friends);
  t.equal(hub.entries.size, 0, 'entries go with their last watcher');
  hub.close();
});

t.test('presence: rounds start 2/3 of the interval apart from call start, and a read older than a sign-in does not undo it', async (t) => {
  // Every read takes 150 ms; the interval is 300 ms, so a round starts every 200 ms.
  const calls: { start: number; end: number }[] = [];
  const hold: { gate?: Promise<void> } = {};
  const backend = {
    presence: async (ids: bigint[]) => {
      const c = { start: Date.now(), end: 0 };
      calls.push(c);
      await (hold.gate ?? new Promise((r) => setTimeout(r, 150)));
      c.end = Date.now();
      return new Map(ids.map((id) => [id, PresenceState.OFFLINE]));
    },
  };
  const hub = new PresenceHub(backend as never, { intervalMs: 300, timed: (_m, f) => f(), count: () => undefined });
  t.teardown(() => hub.close());
  const w: PresenceWatcher = { pv: 0, friends: [], presenceChanged: () => undefined };
  hub.join(w, [5n], []);
  hub.start();
  await until(() => calls.filter((c) => c.end > 0).length >= 7, 10_000, 20);
  hub.close();
  const done = calls.filter((c) => c.end > 0);
  // Scheduled after the call finished, the next one would start >= 200 ms after its end.
  const gaps = done.slice(1).map((c, i) => c.start - done[i].end);
  t.ok(gaps.length >= 5 && Math.min(...gaps) < 190, `end-to-next-start gaps ${gaps.join(', ')} ms: counted from the start`);

  // A read that started before a sign-in answers "offline" for a friend the sign-in saw online.
  const hub2 = new PresenceHub(backend as never, { intervalMs: 60_000, timed: (_m, f) => f(), count: () => undefined });
  t.teardown(() => hub2.close());
  const a: PresenceWatcher = { pv: 0, friends: [], presenceChanged: () => undefined };
  hub2.join(a, [7n], []);
  let release!: () => void;
  hold.gate = new Promise((r) => (release = r));
  const round = hub2.tick();
  const b: PresenceWatcher = { pv: 0, friends: [], presenceChanged: () => undefined };
  hub2.join(b, [7n], [{ userId: 7n, state: PresenceState.ONLINE, idleSeconds: 0 }]);
  release();
  await round;
  t.equal(hub2.view(b.friends, 0)[0].state, 'online', 'the sign-in\'s fresher state holds');
  hub2.close();
});

t.test('after an outage a browser poll makes the loop retry at once (not at the end of its backoff or upstream poll)', async (t) => {
  // The model fails while `down`; its held poll fails when it goes down (a nodedown).
  const ch = new ModelChannel(8);
  let down = false;
  const poll = ch.poll.bind(ch);
  ch.poll = (u, after, o) => (down ? Promise.reject(new Error('down')) : poll(u, after, o));
  let recovered = 0;
  const answers = new Map<HttpResponse, (a: string) => void>();
  const host: ChannelHost = {
    backend: ch as never,
    upstreamPollMs: 60_000,
    maxPollsPerUser: 4,
    bufferSize: 16,
    idleStopMs: 60_000,
    // The first retry waits 10-20 s: only a cut-short backoff recovers within the test.
    backoff: backoffPolicy({ baseDelayMs: 20_000, maxDelayMs: 20_000 }, { baseDelayMs: 20_000, maxRetries: Infinity }),
    epochBase: 1000,
    nextEpoch: () => 1001,
    timed: (_m, f) => f(),
    answer: (p, status) => answers.get(p.res)?.(status),
    answerError: (p) => answers.get(p.res)?.('error'),
    held: () => undefined,
    dropped: () => undefined,
    recovered: () => void recovered++,
  };
  const user = new UserChannel(1n, host, 0n);
  t.teardown(() => user.stop());
  const browserPoll = (): Promise<string> => {
    const res: HttpResponse = { done: false, send: () => undefined, onAbort: () => undefined };
    const a = new Promise<string>((r) => answers.set(res, r));
    void user.poll(res, ch.seq, undefined, undefined, Date.now() + 60_000);
    return a;
  };
  await until(() => ch.held !== undefined, 5000);
  t.ok(ch.held !== undefined, 'the loop holds a long-poll');
  const first = browserPoll();
  down = true;
  const h = ch.held!;
  ch.held = undefined;
  clearTimeout(h.timer);
  const failedAt = Date.now();
  h.resolve(Promise.reject(new Error('nodedown')) as never); // the held call fails
  t.equal(await first, 'error', 'the held poll fails with the backend');
  t.equal(await browserPoll(), 'error', 'polls fail while down');
  down = false;
  const third = await browserPoll();
  if (Date.now() - failedAt < 900) t.equal(third, 'error', 'a poll within a second of the failure does not retry (the page backs off)');
  else t.comment(`the machine stalled ${Date.now() - failedAt} ms since the failure; the within-a-second check is skipped this time`);
  await new Promise((r) => setTimeout(r, 1050));
  const t0 = Date.now();
  const held = browserPoll();
  // Bounded far below the loop's 10-20 s backoff, which is what a retry "at once" rules out.
  await until(() => recovered === 1 && ch.held !== undefined, 5000);
  t.equal(recovered, 1, 'the retry answered: the host hears of the recovery');
  t.ok(ch.held !== undefined, 'the loop is back in its long-poll');
  ch.push();
  t.equal(await held, 'events', `the browser poll was held and got the event (${Date.now() - t0} ms)`);
});

t.test('the buffer drops events older than two minutes; a tab behind them is answered from the channel', async (t) => {
  const ch = new ModelChannel(64);
  const h = harness(ch, 64);
  const realNow = Date.now;
  let skew = 0;
  Date.now = () => realNow() + skew;
  t.teardown(() => {
    Date.now = realNow;
    h.user.stop();
  });
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 3; i++) ch.push();
  await new Promise((r) => setTimeout(r, 20)); // the loop has buffered all three
  const first = await h.poll(0n, undefined);
  t.same(first.events.map((e) => e.seq), [1n, 2n, 3n], 'a tab gets the three events from the buffer');
  skew = 121_000;
  h.user.lastUse = Date.now(); // a tab polled just now (the user is not idle)
  ch.push();
  await new Promise((r) => setTimeout(r, 20));
  const u = h.user as unknown as { events: unknown[]; base: bigint };
  t.equal(u.events.length, 1, 'the events older than two minutes are gone; the new one is kept');
  t.equal(u.base, 3n);
  const behind = await h.poll(1n, first.epoch);
  t.equal(behind.status, 'events', 'a tab that had only seq 1 is not told to refresh');
  t.same(behind.events.map((e) => e.seq), [2n, 3n, 4n], 'the channel gave what the buffer no longer has');
});
