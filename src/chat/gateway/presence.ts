// Presence for every signed-in user of one gateway, at the cost of ONE
// backend `presence()` call per interval.
//
// Presence is the expensive part of chat (every user has hundreds of
// friends, and naive polling costs friends x users per interval). The hub
// keeps one entry per id that is the friend of at least one signed-in user
// (the union of their cached friend lists), with the users watching it.
// Every `intervalMs` it asks the backend for the states of that union in one
// batched call (split at the backend's 100 000 ids), and only ids whose
// state changed are pushed: each change gets a version number, and the
// watchers' held polls are answered with the changes newer than the version
// their page has seen. A page never asks for presence on its own.
import { PresenceState, type Presence } from '../../thrift/gen/chat.js';
import type { ChatBackend } from '../types.js';

/** What the hub needs of a signed-in user. */
export interface PresenceWatcher {
  /** The newest presence version among this user's friends. */
  pv: number;
  /** Called after `pv` moved (answers held polls). */
  presenceChanged(): void;
}

/** The hub's entry for one watched id. */
export interface FriendEntry {
  readonly id: bigint;
  readonly watchers: Set<PresenceWatcher>;
  state: PresenceState;
  /** Idle seconds reported at `at` (for an idle friend). */
  idleBase: number;
  at: number;
  /** The version of the last change. */
  v: number;
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

export interface PresenceHubOptions {
  intervalMs: number;
  /** Wraps a backend call for metrics. */
  timed<T>(method: string, f: () => Promise<T>): Promise<T>;
  /** Counts one batched call of `ids` ids and `changes` pushed changes. */
  count(ids: number, changes: number): void;
}

export class PresenceHub {
  readonly entries = new Map<string, FriendEntry>();
  /** Versions start at the hub's creation time in ms, so a page's version from an earlier gateway is always older. */
  readonly base = Date.now();
  private version = this.base;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
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

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  /** One batched round: asks the union, pushes changes. Never throws (a failed round is retried next interval). */
  async tick(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      const all = [...this.entries.values()];
      let changes = 0;
      for (let i = 0; i < all.length; i += MAX_IDS_PER_CALL) {
        const chunk = all.slice(i, i + MAX_IDS_PER_CALL);
        const states = await this.o.timed('presence', () => this.backend.presence(chunk.map((e) => e.id)));
        this.calls++;
        this.ids += chunk.length;
        const now = Date.now();
        const touched = new Set<PresenceWatcher>();
        for (const e of chunk) {
          const s = states.get(e.id);
          if (s === undefined || s === e.state) continue;
          changes++;
          this.set(e, s, 0, now, touched);
        }
        this.notify(touched);
        this.o.count(chunk.length, changes);
      }
    } catch {
      // The backend is down or slow: states stay as they were, the next round asks again.
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  private set(e: FriendEntry, state: PresenceState, idleSeconds: number, now: number, touched: Set<PresenceWatcher>): void {
    e.state = state;
    e.idleBase = idleSeconds;
    e.at = now;
    e.v = ++this.version;
    for (const w of e.watchers) {
      w.pv = e.v;
      touched.add(w);
    }
  }

  private notify(touched: Set<PresenceWatcher>): void {
    for (const w of touched) w.presenceChanged();
  }

  /**
   * A user signed in: watches `friends`, with the states of `online` (the
   * user's `friendsPresence()`, fresher than the hub's) and offline for the
   * others. Sets `w.pv`.
   */
  join(w: PresenceWatcher, friends: readonly bigint[], online: readonly Presence[]): void {
    const now = Date.now();
    const known = new Map<bigint, Presence>();
    for (const p of online) known.set(p.userId, p);
    const touched = new Set<PresenceWatcher>();
    let pv = 0;
    for (const id of friends) {
      const key = id.toString();
      const p = known.get(id);
      const state = p?.state ?? PresenceState.OFFLINE;
      let e = this.entries.get(key);
      if (e === undefined) {
        e = { id, watchers: new Set(), state, idleBase: p?.idleSeconds ?? 0, at: now, v: ++this.version };
        this.entries.set(key, e);
      } else if (e.state !== state) {
        this.set(e, state, p?.idleSeconds ?? 0, now, touched);
      }
      e.watchers.add(w);
      pv = Math.max(pv, e.v);
    }
    touched.delete(w);
    this.notify(touched);
    w.pv = Math.max(w.pv, pv, this.base);
    // Polls held before the list was known (a page from before a restart) get the whole list now.
    w.presenceChanged();
  }

  /** A user signed out or went away: stops watching its friends. */
  leave(w: PresenceWatcher, friends: readonly bigint[]): void {
    for (const id of friends) {
      const key = id.toString();
      const e = this.entries.get(key);
      if (e === undefined) continue;
      e.watchers.delete(w);
      if (e.watchers.size === 0) this.entries.delete(key);
    }
  }

  /** The friends among `friends` whose presence changed after version `since` (all of them when `since` is older than this hub). */
  view(friends: readonly bigint[], since = 0): FriendPresenceJson[] {
    const all = since < this.base;
    const now = Date.now();
    const out: FriendPresenceJson[] = [];
    for (const id of friends) {
      const e = this.entries.get(id.toString());
      if (e === undefined) continue;
      if (!all && e.v <= since) continue;
      out.push({
        userId: e.id.toString(),
        state: STATE_NAME[e.state],
        idleSeconds: e.state === PresenceState.IDLE ? e.idleBase + Math.floor((now - e.at) / 1000) : 0,
      });
    }
    return out;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
