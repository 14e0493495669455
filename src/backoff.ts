// The one backoff policy of the library, with the same option names wherever
// something is retried: a node re-dialing a peer (`reconnect`), an EPMD
// registration re-registering (`reconnect`), a Thrift client re-connecting a
// pool slot (`reconnect`). Jittered, capped exponential delays, overridable.
// No dependencies (like errors.ts): every layer may use it.

/**
 * How a failed connection is retried. The delay before retry `attempt`
 * (1 after the first failure) is `delay(attempt, target)` when given, else
 * `min(maxDelayMs, baseDelayMs * 2^(attempt-1))` minus up to `jitter` of it at
 * random. The defaults of `baseDelayMs` and `maxRetries` depend on what is
 * retried (each user says).
 */
export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  baseDelayMs?: number;
  /** Cap of the delay, in ms; default 5000. */
  maxDelayMs?: number;
  /** Fraction of each delay removed at random (0 to 1); default 0.5, so a delay d becomes d/2 to d. */
  jitter?: number;
  /** Failed retries in a row after which the user gives up (what giving up means depends on the user). */
  maxRetries?: number;
  /** Replaces the computed delay: `attempt` counts from 1; `target` names what is retried (a peer, `host:port`). */
  delay?: (attempt: number, target: string) => number;
}

/** A resolved policy (see {@link backoffPolicy}). */
export interface BackoffPolicy {
  readonly maxRetries: number;
  /** The delay before retry `attempt` (0 for `attempt <= 0`), never negative. */
  delayMs(attempt: number, target?: string): number;
}

/** Builds a policy from the options, with the user's own defaults for `baseDelayMs` and `maxRetries`. */
export function backoffPolicy(o: BackoffOptions = {}, defaults: { baseDelayMs: number; maxRetries: number }): BackoffPolicy {
  const base = o.baseDelayMs ?? defaults.baseDelayMs;
  const cap = o.maxDelayMs ?? 5000;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const custom = o.delay;
  return {
    maxRetries: Math.max(0, o.maxRetries ?? defaults.maxRetries),
    delayMs(attempt, target = '') {
      if (attempt <= 0) return 0;
      if (custom) return Math.max(0, custom(attempt, target));
      const d = Math.min(cap, base * 2 ** Math.min(attempt - 1, 30));
      return Math.round(d * (1 - jitter * Math.random()));
    },
  };
}
