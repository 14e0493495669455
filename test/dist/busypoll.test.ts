// Busy polling after a connection writes (busypoll.ts, DistConnectionOptions.busyPollUs):
// the event loop keeps turning for the budget and then sleeps again; 0 turns it off.
import t from 'tap';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { socketPair } from '../../src/testing/index.js';
import { DistConnection, ctrl, DEFAULT_BUSY_POLL_US, type HandshakeResult } from '../../src/dist/index.js';
import { SPIN_US, busySpinDefault, busySpinStats, isPolling, keepPolling, pollRead, stopPolling } from '../../src/dist/busypoll.js';
import { Pid, atom } from '../../src/etf/index.js';
import { DEFAULT_DFLAGS } from '../../src/dist/flags.js';

t.test('keepPolling keeps the loop turning for its budget, then lets it sleep', async (t) => {
  stopPolling();
  await new Promise((r) => setTimeout(r, 5));
  t.notOk(isPolling(), 'idle at first');
  keepPolling(0);
  t.notOk(isPolling(), 'a budget of 0 does nothing');
  // t0 before the budget starts: the polling must then outlast 20 ms from t0 however
  // late this process runs (taken after, a preemption in between shortened the wait).
  const t0 = performance.now();
  keepPolling(20_000);
  t.ok(isPolling(), 'polling after traffic');
  keepPolling(1);
  while (isPolling() && performance.now() - t0 < 2000) await new Promise((r) => setImmediate(r));
  t.notOk(isPolling(), 'stops once the (longest) budget has passed');
  const ms = performance.now() - t0;
  t.ok(ms >= 19.9, `a shorter budget does not cut a longer one (${ms.toFixed(1)} ms)`);
  keepPolling(60_000);
  stopPolling();
  await new Promise((r) => setTimeout(r, 5));
  t.notOk(isPolling(), 'stopPolling ends it at the next turn');
});

t.test('each polling turn spins in JS first, unless the turn before read something', async (t) => {
  t.ok(SPIN_US > 0 && busySpinDefault.us === SPIN_US, `default ${SPIN_US} µs`);
  /** The loop's polling turns and those that spun while it polls for 20 ms (with pollRead in each of this test's turns when `read`). */
  const turns = async (spinUs: number, read: boolean): Promise<{ turns: number; spins: number }> => {
    stopPolling();
    await new Promise((r) => setTimeout(r, 5));
    busySpinDefault.us = spinUs;
    const before = { ...busySpinStats };
    try {
      keepPolling(20_000);
      for (let n = 0; isPolling() && n < 1_000_000; n++) {
        if (read) pollRead();
        await new Promise((r) => setImmediate(r));
      }
      return { turns: busySpinStats.turns - before.turns, spins: busySpinStats.spins - before.spins };
    } finally {
      busySpinDefault.us = SPIN_US;
    }
  };
  // Counted, not timed: a slow or busy machine changes how many turns fit in 20 ms, not which spin.
  const plain = await turns(0, false);
  t.ok(plain.turns > 0, `${plain.turns} turns`);
  t.equal(plain.spins, 0, 'a spin of 0 µs: no turn spins');
  const spun = await turns(100, false);
  t.ok(spun.turns > 0);
  t.equal(spun.spins, spun.turns, `nothing read: every turn spins (${spun.turns})`);
  const reading = await turns(100, true);
  t.ok(reading.turns > 0);
  // A read in each of this test's turns, which interleave with the loop's one to one:
  // at most the first turn (before the test's first read) spins.
  t.ok(reading.spins <= 1, `a read before each turn: ${reading.spins} of ${reading.turns} turns spun`);
  stopPolling();
});

/** Polls once for `us` and waits until the poll is over; `read` reports a read during it. */
async function pollOnce(us: number, read = false): Promise<boolean> {
  keepPolling(us);
  const started = isPolling();
  if (read) pollRead();
  for (let i = 0; i < 10_000 && isPolling(); i++) await new Promise((r) => setImmediate(r));
  return started;
}

t.test('polls that read nothing pause polling for a while', async (t) => {
  stopPolling();
  for (let i = 0; i < 7; i++) await pollOnce(200);
  t.ok(await pollOnce(200, true), 'seven empty polls, then one that read: still polling');
  for (let i = 0; i < 7; i++) t.ok(await pollOnce(200), `empty poll ${i + 1} after a useful one`);
  t.ok(await pollOnce(200), 'the eighth empty poll in a row');
  let skipped = 0;
  while (skipped < 1000 && !(await pollOnce(200))) skipped++;
  t.equal(skipped, 64, 'the next 64 writes do not poll, then polling is tried again');
  stopPolling();
});

t.test('a connection polls after it writes, unless busyPollUs is 0', async (t) => {
  t.ok(DEFAULT_BUSY_POLL_US > 0, `default ${DEFAULT_BUSY_POLL_US} µs`);
  const peer = 'bp@127.0.0.1';
  const hs = async (): Promise<{ conn: (us: number) => DistConnection; other: Socket }> => {
    const [a, b] = await socketPair(t);
    const r: HandshakeResult = {
      peer,
      name: 'me@127.0.0.1',
      flags: DEFAULT_DFLAGS,
      peerFlags: DEFAULT_DFLAGS,
      peerCreation: 1,
      creation: 2,
      initiator: true,
      status: 'ok',
      socket: a,
      leftover: Buffer.alloc(0),
    };
    return { conn: (us) => new DistConnection(r, { busyPollUs: us, keepAlive: false }), other: b };
  };
  const to = new Pid(atom(peer), 1, 0, 1);
  for (const us of [0, 50_000]) {
    stopPolling();
    await new Promise((r) => setTimeout(r, 5));
    const { conn, other } = await hs();
    const c = conn(us);
    t.teardown(() => c.close());
    const got = once(other, 'data');
    c.sendSignal(ctrl.send(to, atom('hello')));
    await got;
    t.equal(isPolling(), us > 0, `busyPollUs ${us}: ${us > 0 ? 'polling' : 'asleep'} after the write`);
    c.close();
  }
  stopPolling();
});
