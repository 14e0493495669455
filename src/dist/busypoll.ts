// Busy polling after distribution traffic, as an Erlang scheduler busy-waits
// before it sleeps (erl +sbwt, default very_short).
//
// A request or reply written on loopback is answered within tens of
// microseconds, but the event loop then sleeps in epoll_wait, and waking a
// sleeping thread (and, in a VM, a halted vCPU) costs about as much as the
// whole round trip. While the poller holds, the loop is kept turning with
// setImmediate, so libuv polls with a zero timeout and the answer is read as
// soon as it lands, without a wakeup. Every connection's reads and writes
// extend it by the budget of that connection; once nothing has moved for the
// budget the loop sleeps as usual. The cost is at most one budget of CPU
// after each burst of traffic.

/** The time the loop keeps polling until (performance.now() milliseconds). */
let until = 0;
let running = false;

function spin(): void {
  if (performance.now() < until) setImmediate(spin);
  else running = false;
}

/**
 * Keeps the event loop polling (not sleeping) for `us` microseconds from now,
 * or longer if already asked for longer. `us <= 0` does nothing.
 */
export function keepPolling(us: number): void {
  if (!(us > 0)) return;
  const t = performance.now() + us / 1000;
  if (t > until) until = t;
  if (!running) {
    running = true;
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
}
