// Busy polling after distribution traffic, as an Erlang scheduler busy-waits
// before it sleeps (erl +sbwt, default very_short).
//
// A request or reply written on loopback is answered within tens of
// microseconds, but the event loop then sleeps in epoll_wait, and the sleep
// and the wakeup (in a VM, of a halted vCPU too) cost a third of a loopback
// call's round trip (bench:dist, README). While the poller holds, the loop is
// kept turning with setImmediate, so libuv polls with a zero timeout and the
// answer is read as soon as it lands, without a wakeup. Every write on a
// connection extends it by that connection's budget; once nothing has been
// written for the budget the loop sleeps as usual. The cost is at most one budget of CPU
// after each burst of traffic, and less when nothing answers: after
// MISS_LIMIT polls in a row that read nothing (one-way sends, casts), the
// next SKIP writes do not poll, then polling is tried again.
//
// Each turn of the loop costs a few hundred bytes of garbage (the Immediate
// and Node's bookkeeping around running it) and lasts about 3 µs, so polling
// alone made most of a sequential call's garbage, and the scavenges it
// brought were the largest part of the calls over p99 (bench/tail.mjs,
// bench/FIGURES.md). So each turn also spins in JS for SPIN_US before it
// polls again, as an Erlang scheduler spins between its polls: with 2 µs, a
// turn lasts about 6 µs instead of 3 and the polling makes 60% of the garbage
// per µs (and V8 then also grew its young generation: scavenges were 4-5 times
// rarer), for a read that comes at most SPIN_US later (on average well under
// half of it).

/** The time the loop keeps polling until (performance.now() milliseconds). */
let until = 0;
let running = false;
/** Whether a read came while polling, polls in a row that read nothing, and writes left to skip. */
let caught = false;
let misses = 0;
let skip = 0;
const MISS_LIMIT = 8;
const SKIP = 64;

/** Loop iterations that take about {@link busySpinDefault}.us (tuned as it runs: JIT tiers and CPUs differ). */
let spinIters = 64;
/** Where the spin's arithmetic goes, so that the loop has an effect. */
let spinSink = 0;
/** A connection read since the last turn. */
let justRead = false;

/** @internal Polling turns taken, and those that spun (tests read them; nothing resets them). */
export const busySpinStats = { turns: 0, spins: 0 };

function spin(): void {
  const t0 = performance.now();
  if (t0 < until) {
    const target = busySpinDefault.us / 1000;
    busySpinStats.turns++;
    // A turn that read something does not spin: what the read started (a reply's write, queued
    // with setImmediate after this) runs first.
    if (justRead) justRead = false;
    else if (target > 0) {
      busySpinStats.spins++;
      let x = spinSink;
      for (let i = 0; i < spinIters; i++) x = (x * 31 + i) | 0;
      spinSink = x;
      const dt = performance.now() - t0;
      if (dt < target * 0.75) spinIters = Math.min(spinIters * 2, 1 << 20);
      else if (dt > target * 1.5 && spinIters > 1) spinIters >>= 1;
    }
    setImmediate(spin);
    return;
  }
  running = false;
  if (caught) misses = 0;
  else if (++misses >= MISS_LIMIT) {
    misses = 0;
    skip = SKIP;
  }
}

/** A connection read something: the poll (if any) was worth it. */
export function pollRead(): void {
  if (running) caught = true;
  justRead = true;
}

/**
 * Keeps the event loop polling (not sleeping) for `us` microseconds from now,
 * or longer if already asked for longer. `us <= 0` does nothing; so does a
 * write while polling is paused after polls that read nothing.
 */
export function keepPolling(us: number): void {
  if (!(us > 0)) return;
  if (skip > 0) {
    skip--;
    return;
  }
  const t = performance.now() + us / 1000;
  if (t > until) until = t;
  if (!running) {
    running = true;
    caught = false;
    setImmediate(spin);
  }
}

/** The default budget of a connection (`DistConnectionOptions.busyPollUs`), in microseconds. */
export const DEFAULT_BUSY_POLL_US = 200;

/** @internal The budget of connections that do not set one (bench/dist.mjs switches it for its A/B rows). */
export const busyPollDefault = { us: DEFAULT_BUSY_POLL_US };

/** Microseconds each polling turn spins in JS before it polls again (see the top of this file). */
export const SPIN_US = 2;

/** @internal The spin of every polling turn (bench/dist.mjs switches it for its A/B rows; 0: none). */
export const busySpinDefault = { us: SPIN_US };

/** True while the loop is kept polling. */
export function isPolling(): boolean {
  return running;
}

/** Stops polling now (the loop then sleeps as soon as it has nothing else to do). */
export function stopPolling(): void {
  until = 0;
  misses = 0;
  skip = 0;
}
