// The two tables a global name server keeps, as kernel global.erl keeps them
// in ETS: registered names (name -> pid, resolve method, monitor) and locks
// (resource -> requester id, holders with their monitors). The server owns
// the monitors; these tables only index them by reference so that a DOWN
// finds what it ends.
import { encode } from '../etf/index.js';
import { Pid, Reference, termEquals, type Term } from '../etf/index.js';
import { pidKey, refKey } from '../node/index.js';

/** A term as a map key: its external format (equal terms give equal bytes, maps aside). */
export function termKey(t: Term): string {
  return encode(t).toString('latin1');
}

/** One registered name. */
export interface NameEntry {
  name: Term;
  pid: Pid;
  /** The resolve method, stored and passed on as the registering node gave it (a fun). */
  method: Term;
  /** The monitor on `pid`. */
  ref: Reference;
}

/** Registered names, by name, by pid and by monitor. */
export class NameTable {
  private readonly byName = new Map<string, NameEntry>();
  private readonly byPid = new Map<string, Set<string>>();
  private readonly byRef = new Map<string, string>();

  get size(): number {
    return this.byName.size;
  }

  get(name: Term): NameEntry | undefined {
    return this.byName.get(termKey(name));
  }

  /** Inserts (the caller has deleted any entry of the same name first). */
  insert(e: NameEntry): void {
    const k = termKey(e.name);
    this.byName.set(k, e);
    const pk = pidKey(e.pid);
    let s = this.byPid.get(pk);
    if (!s) this.byPid.set(pk, (s = new Set()));
    s.add(k);
    this.byRef.set(refKey(e.ref), k);
  }

  /** Removes `name`; returns the entry it had. */
  delete(name: Term): NameEntry | undefined {
    const k = termKey(name);
    const e = this.byName.get(k);
    if (!e) return undefined;
    this.byName.delete(k);
    const pk = pidKey(e.pid);
    const s = this.byPid.get(pk);
    s?.delete(k);
    if (s?.size === 0) this.byPid.delete(pk);
    this.byRef.delete(refKey(e.ref));
    return e;
  }

  /** The entry whose monitor is `ref`. */
  byMonitor(ref: Reference): NameEntry | undefined {
    const k = this.byRef.get(refKey(ref));
    return k === undefined ? undefined : this.byName.get(k);
  }

  /** Names registered for `pid`. */
  namesOf(pid: Pid): Term[] {
    return [...(this.byPid.get(pidKey(pid)) ?? [])].map((k) => this.byName.get(k)!.name);
  }

  all(): NameEntry[] {
    return [...this.byName.values()];
  }
}

/** A lock id: `{ResourceId, LockRequesterId}`. */
export interface LockId {
  resource: Term;
  requester: Term;
}

/** A set lock: its requester and the processes holding it (each monitored). */
export interface LockEntry {
  resource: Term;
  requester: Term;
  holders: { pid: Pid; ref: Reference }[];
}

/**
 * Locks, by resource. A resource is locked by one requester id at a time;
 * any number of processes may hold it under that id (global.erl's
 * can_set_lock / insert_lock / remove_lock).
 */
export class LockTable {
  private readonly locks = new Map<string, LockEntry>();
  private readonly byRef = new Map<string, string>();

  get size(): number {
    return this.locks.size;
  }

  /** The lock on `resource`, if any. */
  get(resource: Term): LockEntry | undefined {
    return this.locks.get(termKey(resource));
  }

  /** False when another requester holds the resource. */
  canSet(id: LockId): boolean {
    const e = this.get(id.resource);
    return !e || termEquals(e.requester, id.requester);
  }

  /** True when `pid` already holds `id`'s resource. */
  holds(id: LockId, pid: Pid): boolean {
    const k = pidKey(pid);
    return this.get(id.resource)?.holders.some((h) => pidKey(h.pid) === k) ?? false;
  }

  /** Adds a holder (the caller checked {@link canSet} and made the monitor). */
  add(id: LockId, pid: Pid, ref: Reference): void {
    const k = termKey(id.resource);
    let e = this.locks.get(k);
    if (!e) this.locks.set(k, (e = { resource: id.resource, requester: id.requester, holders: [] }));
    e.holders.unshift({ pid, ref });
    this.byRef.set(refKey(ref), k);
  }

  /**
   * Removes the holder `pid` (or the one monitored by `ref`) of `resource`;
   * returns its monitor and whether the lock is now free.
   */
  remove(resource: Term, match: { pid: Pid } | { ref: Reference }): { ref: Reference; freed: boolean } | undefined {
    const k = termKey(resource);
    const e = this.locks.get(k);
    if (!e) return undefined;
    const i = 'pid' in match ? e.holders.findIndex((h) => pidKey(h.pid) === pidKey(match.pid)) : e.holders.findIndex((h) => refKey(h.ref) === refKey(match.ref));
    if (i < 0) return undefined;
    const [h] = e.holders.splice(i, 1);
    this.byRef.delete(refKey(h.ref));
    if (e.holders.length === 0) this.locks.delete(k);
    return { ref: h.ref, freed: e.holders.length === 0 };
  }

  /** The resource a holder's monitor belongs to. */
  resourceOf(ref: Reference): Term | undefined {
    const k = this.byRef.get(refKey(ref));
    return k === undefined ? undefined : this.locks.get(k)?.resource;
  }

  all(): LockEntry[] {
    return [...this.locks.values()];
  }
}
