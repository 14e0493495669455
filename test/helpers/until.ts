// Waiting for a condition instead of sleeping a fixed time before asserting it:
// on a loaded machine a fixed sleep can end before the event it waits for
// (timers run before the socket reads of the same loop turn), and a test that
// fails when the machine is slow is a bug. Every wait here is bounded in time.
//
// - `until` answers whether the condition came to hold: for a test that asserts
//   on the answer (`t.ok(await until(...), 'what')`).
// - `waitUntil` and `pollFor` are for a wait the test cannot go on without: they
//   reject with `<what>: not within <limit> ms`, which fails the test with that
//   message instead of letting it run on and fail later somewhere less clear.

/** A condition checked by polling: a plain predicate, or one that asks somebody (a socket, a node). */
export type Condition = () => boolean | Promise<boolean>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` every `everyMs` until it holds or `limitMs` has passed; resolves with its last value. */
export async function until(pred: Condition, limitMs = 10_000, everyMs = 10): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (!(await pred())) {
    if (Date.now() > end) return pred();
    await sleep(everyMs);
  }
  return true;
}

/**
 * Polls `poll` every `everyMs` until it returns a value other than `undefined`
 * and resolves with it; rejects with `<what>: not within <limitMs> ms` once
 * `limitMs` has passed without one. `what` may be a function, called only then
 * (to describe what was seen instead).
 */
export async function pollFor<T>(
  what: string | (() => string),
  poll: () => T | undefined | Promise<T | undefined>,
  limitMs = 10_000,
  everyMs = 10,
): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await poll();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${typeof what === 'string' ? what : what()}: not within ${limitMs} ms`);
    await sleep(everyMs);
  }
}

/** {@link until} for a wait the test cannot go on without: rejects with `<what>: not within <limitMs> ms`. */
export async function waitUntil(what: string | (() => string), pred: Condition, limitMs = 10_000, everyMs = 10): Promise<void> {
  await pollFor(what, async () => ((await pred()) ? true : undefined), limitMs, everyMs);
}
