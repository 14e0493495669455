// What both transports share: the slot table (who owns which slot, read
// from a partition map), the time budget a call keeps across its retry, and
// the route-and-retry-once rule for a node that says it does not own a slot
// (WrongPartition, the stub's MOVED).
import type { SlotRange } from '../thrift/gen/chat.js';
import { ChatAbortedError, ChatClosedError, ChatTimeoutError, ChatUnavailableError } from './errors.js';
import { CHAT_SLOTS, slotOf } from './slot.js';
import type { ChatCallOptions } from './types.js';

/** The owner of a slot: its node name and Thrift port. */
export interface SlotOwner {
  node: string;
  thriftPort: number;
}

/** Slot -> owner, from the last partition map read. */
export class SlotTable {
  private owners: (SlotOwner | undefined)[] = new Array<SlotOwner | undefined>(CHAT_SLOTS);
  /** The last map installed. */
  map: SlotRange[] = [];

  /** Installs a partition map (entries outside 0..1023 are clipped). */
  install(map: SlotRange[]): void {
    const owners = new Array<SlotOwner | undefined>(CHAT_SLOTS);
    const byNode = new Map<string, SlotOwner>();
    for (const r of map) {
      let o = byNode.get(r.node);
      if (o === undefined) byNode.set(r.node, (o = { node: r.node, thriftPort: r.thriftPort }));
      for (let s = Math.max(0, r.first); s <= Math.min(CHAT_SLOTS - 1, r.last); s++) owners[s] = o;
    }
    this.owners = owners;
    this.map = map;
  }

  /** The owner of a slot, or undefined when no node owns it. */
  bySlot(slot: number): SlotOwner | undefined {
    return this.owners[slot];
  }

  /** The owner of a user id's slot. */
  ownerOf(userId: bigint | number): SlotOwner | undefined {
    return this.owners[slotOf(userId)];
  }

  /** Every node named in the map. */
  nodes(): SlotOwner[] {
    return [...new Set(this.owners.filter((o): o is SlotOwner => o !== undefined))];
  }
}

/**
 * A node answered that it does not own `userId`'s slot; `owner` is the node
 * it names ('' when none), `thriftPort` that node's port. Transports turn
 * their own WrongPartition into this; it never reaches callers.
 */
export class Moved extends Error {
  constructor(
    readonly userId: bigint,
    readonly owner: string,
    readonly thriftPort: number,
    options?: { cause?: unknown },
  ) {
    super(`${owner || 'no node'} owns the slot of user ${userId}`, options);
  }
}

/**
 * The time budget of one call, kept across its retry: `timeoutMs` from the
 * start, and the caller's signal. It arms nothing: each step is given what is
 * left (`remaining()`) as its own `timeoutMs`, which the transport's waits arm
 * with the library's deadline helper (src/deadline.ts). The client's closing is not a listener on
 * every call (an AbortSignal listener per call costs more than the rest of
 * the client's work put together): only long calls (a held poll) carry the
 * closing signal, so that close() ends them at once.
 */
export class CallBudget {
  readonly timeoutMs: number;
  private readonly end: number;
  /** The signal to give every step: the caller's (with the closing one for a long call), if any. */
  readonly signal: AbortSignal | undefined;

  constructor(
    readonly what: string,
    timeoutMs: number,
    private readonly closing: AbortSignal,
    signal: AbortSignal | undefined,
    long = false,
  ) {
    this.timeoutMs = timeoutMs;
    this.end = Number.isFinite(timeoutMs) ? performance.now() + timeoutMs : Infinity;
    if (closing.aborted) throw new ChatClosedError();
    if (signal?.aborted) throw new ChatAbortedError(what, signal.reason);
    if (!long || signal === undefined) this.signal = long ? closing : signal;
    else {
      // A long call with the caller's signal: a controller of its own that either aborts. Not
      // AbortSignal.any (on Node 20 it costs several plain listeners, and a gateway re-polls
      // 10,000 channels), and no listener on the closing signal per call: the client's long
      // calls are one set that closing aborts. finish() unlinks both.
      const mine = new AbortController();
      const link = (): void => mine.abort(signal.reason);
      signal.addEventListener('abort', link, { once: true });
      const calls = longCalls(closing);
      calls.add(mine);
      this.unlink = () => {
        calls.delete(mine);
        signal.removeEventListener('abort', link);
      };
      this.signal = mine.signal;
    }
  }

  private unlink: (() => void) | undefined;

  /** The call is over: a long call with the caller's signal lets go of it (call it once, in `finally`). */
  finish(): void {
    this.unlink?.();
    this.unlink = undefined;
  }

  /** True once the caller aborted or the client closed. */
  get aborted(): boolean {
    return this.closing.aborted || this.signal?.aborted === true;
  }

  /** Milliseconds left (at least 1 while any is left); throws ChatTimeoutError once none is. */
  remaining(): number {
    if (this.end === Infinity) return Infinity;
    const left = Math.ceil(this.end - performance.now());
    if (left <= 0) throw new ChatTimeoutError(this.what, this.timeoutMs);
    return left;
  }

  /** The error for a transport's timeout or abort: ChatClosedError, ChatAbortedError or ChatTimeoutError. */
  stopped(cause: unknown): Error {
    if (this.closing.aborted) return new ChatClosedError();
    if (this.signal?.aborted) return new ChatAbortedError(this.what, this.signal.reason);
    return new ChatTimeoutError(this.what, this.timeoutMs, { cause });
  }
}

// The long calls of each client with a caller's signal, aborted together when the client closes.
const LONG_CALLS = new WeakMap<AbortSignal, Set<AbortController>>();

function longCalls(closing: AbortSignal): Set<AbortController> {
  let calls = LONG_CALLS.get(closing);
  if (calls === undefined) {
    const set = new Set<AbortController>();
    calls = set;
    LONG_CALLS.set(closing, set);
    closing.addEventListener('abort', () => {
      for (const c of set) c.abort(closing.reason);
      set.clear();
    }, { once: true });
  }
  return calls;
}

/** Builds a call's {@link CallBudget} from its options and the client's default timeout; `extraMs` (a poll's hold) makes it a long call. */
export function budget(what: string, o: ChatCallOptions | undefined, defaultMs: number, closing: AbortSignal, extraMs = 0): CallBudget {
  const t = o?.timeoutMs ?? defaultMs;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) throw new TypeError(`timeoutMs must be a number >= 0, got ${String(t)}`);
  return new CallBudget(what, t + extraMs, closing, o?.signal, extraMs > 0);
}

/** What a transport gives {@link routed}: the table, a map refresh, and how to notice an owner that is down. */
export interface Router {
  readonly table: SlotTable;
  /** Re-reads the partition map (shared by concurrent callers). */
  refresh(d: CallBudget): Promise<unknown>;
}

/**
 * Runs `run` at the owner of `userId` (a checked id: a safe-integer number
 * or a bigint). On {@link Moved}, re-reads the map and runs it once more at
 * the new owner (or the one the node named); a second Moved, or a slot no
 * node owns, is ERR_CHAT_UNAVAILABLE. No async frame of its own on the
 * common path: the call's promise is `run`'s, with one `catch`.
 */
export function routed<T>(r: Router, userId: number | bigint, d: CallBudget, run: (owner: SlotOwner) => Promise<T>): Promise<T> {
  const owner = r.table.ownerOf(userId);
  if (owner === undefined) {
    return r.refresh(d).then(() => {
      const o = r.table.ownerOf(userId);
      if (o === undefined) throw noOwner(userId);
      return run(o).catch((e: unknown) => retryMoved(r, userId, d, run, e));
    });
  }
  return run(owner).catch((e: unknown) => retryMoved(r, userId, d, run, e));
}

async function retryMoved<T>(r: Router, userId: number | bigint, d: CallBudget, run: (owner: SlotOwner) => Promise<T>, e: unknown): Promise<T> {
  if (!(e instanceof Moved)) throw e;
  await r.refresh(d);
  let next = r.table.ownerOf(userId);
  if (next === undefined && e.owner !== '') next = { node: e.owner, thriftPort: e.thriftPort };
  if (next === undefined) throw noOwner(userId, e);
  try {
    return await run(next);
  } catch (e2) {
    if (e2 instanceof Moved) {
      throw new ChatUnavailableError(`the owner of user ${userId} is unsettled: ${e2.message} (after a refresh of the partition map)`, { userId: BigInt(userId), node: e2.owner || undefined, cause: e2 });
    }
    throw e2;
  }
}

/** ERR_CHAT_UNAVAILABLE for a slot no node owns. */
export function noOwner(userId: number | bigint, cause?: unknown): ChatUnavailableError {
  return new ChatUnavailableError(`no node owns slot ${slotOf(userId)} (user ${userId})`, { userId: BigInt(userId), cause });
}
