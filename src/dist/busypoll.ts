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

/** The time the loop keeps polling until (performance.now() milliseconds). */
let until = 0;
let running = false;
/** Whether a read came while polling, polls in a row that read nothing, and writes left to skip. */
let caught = false;
let misses = 0;
let skip = 0;
const MISS_LIMIT = 8;
const SKIP = 64;

function spin(): void {
  if (performance.now() < until) {
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
