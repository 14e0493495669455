// Waiting for a condition instead of sleeping a fixed time before asserting it:
// on a loaded machine a fixed sleep can end before the event it waits for
// (timers run before the socket reads of the same loop turn), and a test that
// fails when the machine is slow is a bug.

/** Polls `pred` every `everyMs` until it holds or `limitMs` has passed; resolves with its last value. */
export async function until(pred: () => boolean, limitMs = 10_000, everyMs = 10): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (!pred()) {
    if (Date.now() > end) return pred();
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}
