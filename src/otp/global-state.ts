// What the global_name_server of a visible beambridge node keeps, and the
// operations on it that do not depend on where a message came from: the names
// and locks tables (global.erl's ins_name/del_name, set_lock/del_lock), the
// nodes global knows, has synced with or is connecting to, and the helpers
// that send to other nodes' name servers. global-server.ts builds the
// protocol (message dispatch, connect sessions, partitions) on top of it.
import { Atom, Pid, Reference, Tuple, atom, termEquals, tuple, type Term } from '../etf/index.js';
import { DFLAG, hasFlag } from '../dist/index.js';
import type { LocalProcess } from '../node/index.js';
import type { Node } from './node.js';
import { GLOBAL, GNS, Locker, type GlobalHost } from './global-locker.js';
import { LockTable, NameTable, termKey, type LockId } from './global-tables.js';
import { parseOps, type GlobalResolver, type ResolveContext } from './global-resolve.js';

/** The protocol version this server speaks (OTP 25 to 29 speak 8). */
export const GLOBAL_VSN = 8;
/** The version that added the prevent_overlapping_partitions messages. */
export const POP_VSN = 7;

export const A = {
  initConnect: atom('init_connect'),
  initConnectAck: atom('init_connect_ack'),
  cancelConnect: atom('cancel_connect'),
  locker: atom('locker'),
  noLongerAPid: atom('no_longer_a_pid'),
  exchange: atom('exchange'),
  resolved: atom('resolved'),
  newNodes: atom('new_nodes'),
  inSync: atom('in_sync'),
  lostConnection: atom('lost_connection'),
  removeConnection: atom('remove_connection'),
  unused: atom('unused'),
  vsn: atom('vsn'),
  lock: atom('lock'),
  setLock: atom('set_lock'),
  delLock: atom('del_lock'),
  register: atom('register'),
  registerExt: atom('register_ext'),
  unregister: atom('unregister'),
  whereis: atom('whereis'),
  yes: atom('yes'),
  ok: atom('ok'),
  genCast: atom('$gen_cast'),
  undefined: atom('undefined'),
  // Events inside this node (tagged with a reference only it knows).
  nodeup: atom('nodeup'),
  nodedown: atom('nodedown'),
  extraNodedown: atom('extra_nodedown'),
  lockIsSet: atom('lock_is_set'),
  exchangeOps: atom('exchange_ops'),
  synced: atom('synced'),
};


export function isTuple(m: Term, tag: Atom, size?: number): m is Tuple {
  return m instanceof Tuple && m.elements[0] === tag && (size === undefined || m.elements.length === size);
}

/** The node of a known-nodes list entry: `Node` or `{Node, Vsn}`. */
export function knownNode(t: Term): string | undefined {
  if (t instanceof Atom) return t.name;
  if (t instanceof Tuple && t.elements.length === 2 && t.elements[0] instanceof Atom) return t.elements[0].name;
  return undefined;
}

export function lockIdOf(t: Term): LockId | undefined {
  return t instanceof Tuple && t.elements.length === 2 ? { resource: t.elements[0], requester: t.elements[1] } : undefined;
}

/** The tables, the node sets and the sending helpers of a GlobalServer. */
export abstract class GlobalState implements GlobalHost {
  readonly proc: LocalProcess;
  readonly locker: Locker;
  readonly names = new NameTable();
  readonly locks = new LockTable();
  /** JS resolvers of names registered from this node. */
  readonly jsResolvers = new Map<string, { pid: Pid; fn: GlobalResolver }>();
  /** Known (synced) nodes and their protocol versions. */
  protected readonly known = new Map<string, number>();
  /** Nodes whose init_connect arrived in the current session, with their versions. */
  protected readonly pending = new Map<string, number>();
  protected readonly syncedNodes = new Set<string>();
  /** Visible peers, as nodeup/nodedown saw them. */
  protected readonly visible = new Set<string>();
  /** Processes waiting in sync(): they get `{Ev, synced, [Node]}` and `{Ev, nodedown, Node}`. */
  readonly syncers = new Set<LocalProcess>();
  protected globalLockDown = false;
  /** What name clashes are settled with. */
  readonly ctx: ResolveContext;

  constructor(
    readonly node: Node,
    /** Tags events inside this node. */
    readonly ev: Reference,
  ) {
    this.proc = node.spawn({ name: GNS });
    this.locker = new Locker(this, ev);
    this.ctx = { node, names: this.names, sender: this.proc, jsResolvers: this.jsResolvers, erlangPeers: () => [...this.known.keys()] };
  }

  /** Answers a global_name_server call (see GlobalServer). */
  abstract localCall(req: Term, from: Pid): Term | undefined;

  // ------------------------------------------------------------ the node's view

  /** Known nodes (global.erl's `known`, without the pending ones). */
  knownNodes(): string[] {
    return [...this.known.keys()];
  }

  synced(): string[] {
    return [...this.syncedNodes];
  }

  /** Visible peers not synced yet: what global:sync() waits for. */
  unsynced(): string[] {
    return [...this.visible].filter((n) => !this.syncedNodes.has(n));
  }

  /** global.erl's where/1: a local pid counts only while alive. */
  where(name: Term): Pid | undefined {
    const e = this.names.get(name);
    if (!e) return undefined;
    if (e.pid.node === this.node.nodeAtom && !this.node.process(e.pid)) return undefined;
    return e.pid;
  }

  canSetLock(id: Term): boolean {
    const l = lockIdOf(id);
    return l !== undefined && this.locks.canSet(l);
  }

  isGlobalLockSet(): boolean {
    return this.locks.get(GLOBAL) !== undefined;
  }

  /** The connection to `peer` went up or down (only visible connections are passed on). */
  peerEvent(peer: string, up: boolean): void {
    if (up) {
      const c = this.node.connection(peer);
      if (!c || !hasFlag(c.peerFlags, DFLAG.PUBLISHED)) return;
      this.visible.add(peer);
    } else if (!this.visible.delete(peer)) return;
    this.post(up ? A.nodeup : A.nodedown, atom(peer));
  }

  lockIsSet(peer: string, tag: Term, lockId: Term): void {
    this.post(A.lockIsSet, atom(peer), tag, lockId);
  }

  protected post(kind: Atom, ...args: Term[]): void {
    this.proc.deliver(tuple(this.ev, kind, ...args));
  }

  // ------------------------------------------------------------ names, locks

  protected setLock(idTerm: Term, pid: Pid): boolean {
    const id = lockIdOf(idTerm);
    if (!id || !this.locks.canSet(id)) return false;
    if (!this.locks.holds(id, pid)) this.locks.add(id, pid, this.proc.monitor(pid));
    return true;
  }

  protected delLock(idTerm: Term, pid: Pid): void {
    const id = lockIdOf(idTerm);
    const e = id && this.locks.get(id.resource);
    if (!id || !e || !termEquals(e.requester, id.requester)) return;
    const r = this.locks.remove(id.resource, { pid });
    if (!r) return;
    this.proc.demonitor(r.ref, { flush: true });
    if (r.freed && id.resource === GLOBAL) this.globalLockDown = false;
  }

  protected down(ref: Reference): void {
    const resource = this.locks.resourceOf(ref);
    if (resource !== undefined) {
      const r = this.locks.remove(resource, { ref });
      if (r?.freed && resource === GLOBAL) this.globalLockDown = true;
    }
    const n = this.names.byMonitor(ref);
    if (n) this.deleteName(n.name);
  }

  /**
   * global.erl's ins_name: (re)registers `name` and monitors the pid. The
   * registration must have been made under the `global` lock: by `from` (a
   * pid, for register calls) or by the lock id in `extra` (a node, for names
   * from a connect); if that lock is gone, the name is removed again.
   */
  insertName(name: Term, pid: Pid, method: Term, from: Pid | string, extra: Term): void {
    this.deleteName(name);
    this.names.insert({ name, pid, method, ref: this.proc.monitor(pid) });
    if (!this.lockStillSet(from, extra)) this.deleteName(name);
  }

  protected lockStillSet(from: Pid | string, extra: Term): boolean {
    const l = this.locks.get(GLOBAL);
    if (!l) return !this.globalLockDown;
    if (from instanceof Pid) return this.locks.holds({ resource: GLOBAL, requester: l.requester }, from);
    const lock = Array.isArray(extra) ? extra.find((x) => isTuple(x, A.lock, 2)) : undefined;
    const id = lock instanceof Tuple ? lockIdOf(lock.elements[1]) : undefined;
    return id !== undefined && termEquals(l.requester, id.requester);
  }

  deleteName(name: Term): void {
    const e = this.names.delete(name);
    if (!e) return;
    this.proc.demonitor(e.ref, { flush: true });
    const k = termKey(name);
    const r = this.jsResolvers.get(k);
    if (r && termEquals(r.pid, e.pid)) this.jsResolvers.delete(k);
  }

  protected doOps(ops: Term, from: string, extra: Term): void {
    const { inserts, deletes } = parseOps(ops);
    for (const [name, pid, method] of inserts) this.insertName(name, pid, method, from, extra);
    for (const name of deletes) this.deleteName(name);
  }

  // ---------------------------------------------------------- sending helpers

  /** A message to `peer`'s global_name_server, only over a live connection (noconnect). */
  protected volatile(peer: string, msg: Term): void {
    if (this.node.connection(peer)) this.proc.send({ name: GNS, node: peer }, msg);
  }

  protected castTo(peer: string, msg: Term, from: LocalProcess = this.proc): void {
    if (this.node.connection(peer)) from.send({ name: GNS, node: peer }, tuple(A.genCast, msg));
  }

  /** lost_connection and friends go to every known (and pending) node of version 7 or later. */
  protected multicast(msg: Term, except: string): void {
    for (const [n, v] of [...this.known, ...this.pending]) if (n !== except && v >= POP_VSN) this.volatile(n, msg);
  }

  protected nodeVsn(peer: string): number {
    return this.known.get(peer) ?? this.pending.get(peer) ?? 0;
  }

  /** `[{Node, Vsn}]` of the known nodes. */
  protected knownList(): Term[] {
    return [...this.known].map(([n, v]) => tuple(atom(n), v));
  }

  // ------------------------------------------------------------ known nodes

  /** Adds `[{Node, Vsn}]` (or atoms) to the known nodes; returns those that were new. */
  protected addToKnown(list: Term[]): string[] {
    const added: string[] = [];
    for (const x of list) {
      const n = knownNode(x);
      if (n === undefined || n === this.node.name || this.known.has(n)) continue;
      const v = x instanceof Tuple ? Number(x.elements[1]) : 0;
      this.known.set(n, Number.isFinite(v) ? v : 0);
      added.push(n);
    }
    return added;
  }

  /** Connects to each node and tells it we are in sync with it (global.erl's sync_others). */
  protected syncOthers(nodes: string[]): void {
    for (const n of nodes) {
      if (n === this.node.name) continue;
      this.node.connect(n).then(
        () => this.castTo(n, tuple(A.inSync, this.node.nodeAtom, true)),
        () => this.post(A.extraNodedown, atom(n)),
      );
    }
  }

  protected notifySynced(peer: string): void {
    for (const s of this.syncers) this.proc.send(s.pid, tuple(this.ev, A.synced, [atom(peer)]));
  }
}
