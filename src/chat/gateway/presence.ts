// Presence for every signed-in user of one gateway, at the cost of ONE
// backend `presence()` call per interval.
//
// Presence is the expensive part of chat (every user has hundreds of
// friends, and naive polling costs friends x users per interval). The hub
// keeps one entry per id that is the friend of at least one signed-in user
// (the union of their cached friend lists), with the users watching it;
// each user holds its friends' entries (shared, one per id), not copies.
// Every `intervalMs` it asks the backend for the states of that union in one
// batched call (split at the backend's 100 000 ids), and only ids whose
// state changed are pushed: each change gets a version number, and the
// watchers' held polls are answered with the changes newer than the version
// their page has seen. A page never asks for presence on its own.
//
// Pushes are coalesced and spread: a change (from the batched call, or a
// friend's fresher state seen at someone's sign-in) only marks its
// watchers. The batched call starts every 2/3 of `intervalMs` (counted from
// call start to call start; a round is skipped while the previous call still
// runs); after it, the watchers marked so far are woken evenly over the next
// 1/3, a slice at a time, so the event loop keeps serving messages in between
// and the pages' new polls do not come back as one crowd. A change thus
// reaches a page within `intervalMs` plus the batched call's own time (while
// that call takes under 2/3 of `intervalMs`), and a user's held poll is answered for presence at
// most once per round, whatever number of friends changed (the answer
// carries all of them).
import { PresenceState, type Presence } from '../../thrift/gen/chat.js';
import type { ChatBackend } from '../types.js';

/** What the hub needs of a signed-in user. */
export interface PresenceWatcher {
  /** The newest presence version among this user's friends. */
  pv: number;
  /** The user's friends' entries, set by {@link PresenceHub.join}. */
  friends: readonly FriendEntry[];
  /** Called after `pv` moved (answers held polls); at most once per interval for changes of others. */
  presenceChanged(): void;
}

/** The hub's entry for one watched id, shared by every user who has that friend. */
export interface FriendEntry {
  readonly id: bigint;
  /** The users watching it (an array: a few words per watcher). */
  readonly watchers: PresenceWatcher[];
  state: PresenceState;
  /** Idle seconds reported at `at` (for an idle friend). */
  idleBase: number;
  at: number;
  /** The version of the last change. */
  v: number;
  /** The entry's JSON text while it is online or offline (made once per change). */
  text: string | undefined;
}

/** A friend's presence as the page gets it. */
export interface FriendPresenceJson {
  userId: string;
  state: 'online' | 'idle' | 'offline';
  idleSeconds: number;
}

const STATE_NAME = { [PresenceState.ONLINE]: 'online', [PresenceState.IDLE]: 'idle', [PresenceState.OFFLINE]: 'offline' } as const;

/** Most ids in one backend `presence()` call (the servers' limit). */
const MAX_IDS_PER_CALL = 100_000;
/** A flush wakes one slice of its watchers every this many ms. */
const FLUSH_STEP_MS = 50;

export interface PresenceHubOptions {
  intervalMs: number;
  /** Wraps a backend call for metrics. */
  timed<T>(method: string, f: () => Promise<T>): Promise<T>;
  /** Counts one batched call of `ids` ids and `changes` pushed changes. */
  count(ids: number, changes: number): void;
}

function entryJson(e: FriendEntry, now: number): FriendPresenceJson {
  return {
    userId: e.id.toString(),
    state: STATE_NAME[e.state],
    idleSeconds: e.state === PresenceState.IDLE ? e.idleBase + Math.floor((now - e.at) / 1000) : 0,
  };
}

/** `JSON.stringify(entryJson(e))`, cached while the friend is online or offline (idle seconds move). */
function entryText(e: FriendEntry, now: number): string {
  if (e.text !== undefined) return e.text;
  const t = JSON.stringify(entryJson(e, now));
  if (e.state !== PresenceState.IDLE) e.text = t;
  return t;
}

export class PresenceHub {
  readonly entries = new Map<bigint, FriendEntry>();
  /** Versions start at the hub's creation time in ms, so a page's version from an earlier gateway is always older. */
  readonly base = Date.now();
  private version = this.base;
  private timer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  /** Watchers with changes not yet pushed (woken at the next flush). */
  private pending = new Set<PresenceWatcher>();
  /** Batched calls and ids asked so far (also in the metrics). */
  calls = 0;
  ids = 0;

  constructor(private readonly backend: ChatBackend, private readonly o: PresenceHubOptions) {}

  get currentVersion(): number {
    return this.version;
  }

  start(): void {
    this.schedule();
  }

  /** A round every 2/3 of the interval, from start to start (a round whose previous call still runs is skipped). */
  private schedule(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), Math.max(1, Math.round((this.o.intervalMs * 2) / 3)));
    this.timer.unref();
  }

  /** One batched round: asks the union, marks changes, wakes the marked watchers. Never throws (a failed round is retried next interval). */
  async tick(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      const all = [...this.entries.values()];
      for (let i = 0; i < all.length; i += MAX_IDS_PER_CALL) {
        const chunk = all.slice(i, i + MAX_IDS_PER_CALL);
        // An entry set after the call started (a sign-in's fresher state) is newer than its answer.
        const asked = this.version;
        const states = await this.o.timed('presence', () => this.backend.presence(chunk.map((e) => e.id)));
        this.calls++;
        this.ids += chunk.length;
        const now = Date.now();
        let changes = 0;
        for (const e of chunk) {
          const s = states.get(e.id);
          if (s === undefined || s === e.state || e.v > asked) continue;
          changes++;
          this.set(e, s, 0, now);
        }
        this.o.count(chunk.length, changes);
      }
    } catch {
      // The backend is down or slow: states stay as they were, the next round asks again.
    } finally {
      this.running = false;
      this.flush();
    }
  }

  private set(e: FriendEntry, state: PresenceState, idleSeconds: number, now: number): void {
    e.state = state;
    e.idleBase = idleSeconds;
    e.at = now;
    e.v = ++this.version;
    e.text = undefined;
    for (const w of e.watchers) {
      w.pv = e.v;
      this.pending.add(w);
    }
  }

  /** Wakes the watchers marked so far, spread evenly over a third of the interval. */
  private flush(): void {
    if (this.pending.size === 0 || this.closed) return;
    const batch = [...this.pending];
    this.pending = new Set();
    const steps = Math.max(1, Math.min(batch.length, Math.floor(this.o.intervalMs / 3 / FLUSH_STEP_MS)));
    let done = 0;
    const step = (n: number): void => {
      this.flushTimer = undefined;
      if (this.closed) return;
      const end = n >= steps ? batch.length : Math.round((batch.length * n) / steps);
      for (; done < end; done++) batch[done].presenceChanged();
      if (done < batch.length) {
        this.flushTimer = setTimeout(step, FLUSH_STEP_MS, n + 1);
        this.flushTimer.unref();
      }
    };
    step(1);
  }

  /**
   * A user signed in: watches `friends`, with the states of `online` (the
   * user's `friendsPresence()`, fresher than the hub's) and offline for the
   * others. Sets `w.friends` (the entries {@link view} and {@link leave}
   * take) and `w.pv`, and answers `w`'s held polls.
   */
  join(w: PresenceWatcher, friends: readonly bigint[], online: readonly Presence[]): void {
    // Once per watcher (the gateway loads a user's friends once): a second join would watch twice.
    if (w.friends.length > 0) this.leave(w, w.friends);
    const now = Date.now();
    const known = new Map<bigint, Presence>();
    for (const p of online) known.set(p.userId, p);
    let pv = 0;
    const mine: FriendEntry[] = [];
    for (const id of friends) {
      const p = known.get(id);
      const state = p?.state ?? PresenceState.OFFLINE;
      let e = this.entries.get(id);
      if (e === undefined) {
        e = { id, watchers: [], state, idleBase: p?.idleSeconds ?? 0, at: now, v: ++this.version, text: undefined };
        this.entries.set(id, e);
      } else if (e.state !== state) {
        // Fresher than the hub's: the other watchers hear of it at the next flush.
        this.set(e, state, p?.idleSeconds ?? 0, now);
      }
      e.watchers.push(w);
      mine.push(e);
      pv = Math.max(pv, e.v);
    }
    this.pending.delete(w);
    w.friends = mine;
    w.pv = Math.max(w.pv, pv, this.base);
    // Polls held before the list was known (a page from before a restart) get the whole list now.
    w.presenceChanged();
  }

  /** A user signed out or went away: stops watching its friends. */
  leave(w: PresenceWatcher, friends: readonly FriendEntry[]): void {
    this.pending.delete(w);
    for (const e of friends) {
      const i = e.watchers.indexOf(w);
      if (i < 0) continue;
      e.watchers[i] = e.watchers[e.watchers.length - 1];
      e.watchers.pop();
      if (e.watchers.length === 0 && this.entries.get(e.id) === e) this.entries.delete(e.id);
    }
  }

  /** The entries among `friends` whose presence changed after version `since` (all of them when `since` is older than this hub). */
  view(friends: readonly FriendEntry[], since = 0): FriendPresenceJson[] {
    const all = since < this.base;
    const now = Date.now();
    const out: FriendPresenceJson[] = [];
    for (const e of friends) if (all || e.v > since) out.push(entryJson(e, now));
    return out;
  }

  /** `JSON.stringify(this.view(friends, since))`, from each entry's cached text; `''` when nothing changed (and `since` is not older than the hub). */
  viewText(friends: readonly FriendEntry[], since = 0): string {
    const all = since < this.base;
    const now = Date.now();
    let out = '';
    for (const e of friends) {
      if (!all && e.v <= since) continue;
      out += out === '' ? `[${entryText(e, now)}` : `,${entryText(e, now)}`;
    }
    return out === '' ? (all ? '[]' : '') : `${out}]`;
  }

  close(): void {
    this.closed = true;
    this.pending.clear();
    if (this.timer) clearInterval(this.timer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }
}
