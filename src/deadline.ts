// The one deadline helper of the library: every wait takes `timeoutMs` and an
// `AbortSignal` (EPMD requests, dials, handshake steps, TLS, receives,
// connects, busy waits, Thrift calls), and each arms them here, so that the
// timer and the abort listener are always removed together when the wait
// ends, and at most one of "timed out" and "aborted" is ever reported.
// No dependencies (like errors.ts): every layer may use it.
import { connect, type Socket } from 'node:net';

/** A deadline and a cancellation signal, as every wait of the library takes them. */
export interface WaitOptions {
  /** Give up after this many milliseconds. `undefined` (or `Infinity`) waits without a deadline. */
  timeoutMs?: number;
  /** Give up when it fires. */
  signal?: AbortSignal;
}

/** An armed deadline (see {@link deadline}). */
export interface Deadline {
  /** Ends the wait: clears the timer and detaches from the signal. Idempotent. */
  clear(): void;
  /** Restarts the timer for another `timeoutMs` (a per-step deadline, e.g. each handshake message). */
  refresh(): void;
}

const NOOP: Deadline = { clear() {}, refresh() {} };

/**
 * Arms `o`: `onTimeout` runs once `timeoutMs` has passed, `onAbort(reason)`
 * when the signal fires (in a microtask if it has fired already, so never
 * before this returns). At most one of them runs, once; after either, or
 * after `clear()`, nothing more happens. `unref` keeps the timer from holding
 * the process open.
 */
export function deadline(o: WaitOptions, onTimeout: () => void, onAbort: (reason: unknown) => void, unref = false): Deadline {
  const { timeoutMs, signal } = o;
  const timed = timeoutMs !== undefined && Number.isFinite(timeoutMs);
  if (!timed && !signal) return NOOP;
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  const clear = () => {
    if (done) return;
    done = true;
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', aborted);
  };
  const aborted = () => {
    if (done) return;
    clear();
    onAbort(signal!.reason);
  };
  if (timed) {
    timer = setTimeout(
      () => {
        if (done) return;
        clear();
        onTimeout();
      },
      Math.max(0, timeoutMs),
    );
    if (unref) timer.unref();
  }
  if (signal?.aborted) queueMicrotask(aborted);
  else signal?.addEventListener('abort', aborted, { once: true });
  return {
    clear,
    refresh() {
      if (!done) timer?.refresh();
    },
  };
}

/** The errors a {@link withDeadline} wait ends with. */
export interface DeadlineErrors {
  timeout(): Error;
  abort(reason: unknown): Error;
}

/**
 * A promise settled by `start`'s `resolve` / `reject`, or by the deadline:
 * `errors.timeout()` after `timeoutMs`, `errors.abort(reason)` when the signal
 * fires (at once, without calling `start`, if it has fired already). `start`
 * may return a cleanup, which runs once when the promise settles, whichever
 * way; a throw from `start` rejects.
 */
export function withDeadline<T>(
  o: WaitOptions,
  errors: DeadlineErrors,
  start: (resolve: (v: T) => void, reject: (e: Error) => void) => (() => void) | void,
): Promise<T> {
  if (o.signal?.aborted) return Promise.reject(errors.abort(o.signal.reason));
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let cleanup: (() => void) | void = undefined;
    const finish = (err: Error | undefined, v?: T) => {
      if (settled) return;
      settled = true;
      d.clear();
      if (cleanup) cleanup();
      if (err) reject(err);
      else resolve(v as T);
    };
    const d = deadline(
      o,
      () => finish(errors.timeout()),
      (reason) => finish(errors.abort(reason)),
    );
    try {
      cleanup = start(
        (v) => finish(undefined, v),
        (e) => finish(e),
      );
      // Settled synchronously inside `start`: its cleanup was not known yet.
      if (settled && cleanup) cleanup();
    } catch (e) {
      finish(e as Error);
    }
  });
}

/**
 * A TCP connection to `host:port` within `o`'s deadline: resolves with the
 * connected socket; rejects with `errors.failed(e)` when the connect fails,
 * or the deadline's errors (the socket is then destroyed).
 */
export function connectWithDeadline(
  host: string,
  port: number,
  o: WaitOptions,
  errors: DeadlineErrors & { failed(e: Error): Error },
): Promise<Socket> {
  return withDeadline<Socket>(o, errors, (resolve, reject) => {
    const s = connect({ host, port });
    let ok = false;
    const onConnect = () => {
      ok = true;
      resolve(s);
    };
    const onError = (e: Error) => reject(errors.failed(e));
    s.once('connect', onConnect);
    s.once('error', onError);
    return () => {
      s.removeListener('connect', onConnect);
      s.removeListener('error', onError);
      if (!ok) s.destroy();
    };
  });
}
