// Locks across the cluster, the way kernel global.erl takes them: calls to
// every node's global_name_server (`{set_lock, Id}` / `{del_lock, Id}`, as
// gen_server:multi_call makes them), the boss-first order, and the locker:
// the process that, when two partitions connect, locks its own partition
// together with the other partition's locker before names are exchanged.
// See global.ts for the protocol as a whole.
import { Atom, Pid, Reference, Tuple, atom, compareTerms, termEquals, tuple, type Term } from '../etf/index.js';
import { NONE, genCallMessage, isDown, refKey, type LocalProcess, type NodeCore } from '../node/index.js';

export const GLOBAL = atom('global');
export const GNS = 'global_name_server';
const SET_LOCK = atom('set_lock');
const DEL_LOCK = atom('del_lock');
const LOCK_SET = atom('lock_set');

/** What the locker and the lock calls need from the name server of this node. */
export interface GlobalHost {
  readonly node: NodeCore;
  /** Answers a global_name_server call made by `from` on this node, as a remote call would be answered. */
  localCall(request: Term, from: Pid): Term | undefined;
  /** global.erl's can_set_lock on this node. */
  canSetLock(id: Term): boolean;
  /** True while a `global` resource lock is set on this node. */
  isGlobalLockSet(): boolean;
  /** The nodes this node's global knows (synced with). */
  knownNodes(): string[];
  /** The locker has locked both partitions for the connect session `tag` with `peer`. */
  lockIsSet(peer: string, tag: Term, lockId: Term): void;
}

/** The largest node name: the node locked first (and unlocked last). */
export function theBoss(nodes: string[]): string {
  return nodes.reduce((a, b) => (compareTerms(atom(a), atom(b)) >= 0 ? a : b));
}

/**
 * Sleeps as global.erl's random_sleep: up to 250 ms the first time, doubling
 * to 8 s; `signal` ends it early. The timer does not keep the process alive
 * (a stopped node's retries end at their next check).
 */
export function randomSleep(times: number, signal?: AbortSignal): Promise<void> {
  const max = times > 5 ? 8000 : ((1 << times) * 1000) / 8;
  const ms = 1 + Math.floor(Math.random() * max);
  return new Promise((resolve) => {
    const t = setTimeout(done, ms).unref();
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function isReplyTo(m: Term, ref: Reference): boolean {
  if (!(m instanceof Tuple) || m.elements.length !== 2) return false;
  const tag = m.elements[0];
  return tag instanceof Tuple && tag.elements.length === 2 && tag.elements[0] instanceof Reference && refKey(tag.elements[0]) === refKey(ref);
}

/**
 * gen_server:multi_call(Nodes, global_name_server, Request) made by `p`:
 * each server is monitored by name, the call goes out as
 * `{'$gen_call', {P, {Ref, Node}}, Request}`, and a DOWN makes the node a
 * bad node. This node's own server answers at once through `host`.
 */
export async function multiCall(host: GlobalHost, p: LocalProcess, nodes: string[], request: Term): Promise<{ replies: Map<string, Term>; bad: string[] }> {
  const replies = new Map<string, Term>();
  const bad: string[] = [];
  const waits: { peer: string; ref: Reference }[] = [];
  for (const peer of nodes) {
    if (peer === host.node.name) {
      const r = host.localCall(request, p.pid);
      if (r === undefined) bad.push(peer);
      else replies.set(peer, r);
      continue;
    }
    const to = { name: GNS, node: peer };
    const ref = p.monitor(to);
    p.send(to, genCallMessage(p.pid, tuple(ref, atom(peer)), request));
    waits.push({ peer, ref });
  }
  for (const w of waits) {
    const m = (await p.receive({ match: (x) => isReplyTo(x, w.ref) || isDown(x, w.ref) })) as Tuple;
    if (m.elements.length === 2) {
      p.demonitor(w.ref, { flush: true });
      replies.set(w.peer, m.elements[1]);
    } else bad.push(w.peer);
  }
  return { replies, bad };
}

/**
 * global:set_lock(Id, Nodes, 0) made by `p`: true when every node that
 * answered set it; otherwise the nodes that did set it release it again.
 */
export async function setLockOn(host: GlobalHost, p: LocalProcess, id: Term, nodes: string[]): Promise<boolean> {
  if (nodes.length === 0) return true;
  // Probe our own node first when it is one of several: no need to ask the others if it refuses.
  if (nodes.length > 1 && nodes.includes(host.node.name) && !host.canSetLock(id)) return false;
  const { replies } = await multiCall(host, p, nodes, tuple(SET_LOCK, id));
  const granted = [...replies].filter(([, r]) => r === true).map(([n]) => n);
  if (granted.length === replies.size) return true;
  if (replies.size > 1) await multiCall(host, p, granted, tuple(DEL_LOCK, id));
  return false;
}

/** global:del_lock(Id, Nodes) made by `p`. */
export async function delLockOn(host: GlobalHost, p: LocalProcess, id: Term, nodes: string[]): Promise<void> {
  if (nodes.length > 0) await multiCall(host, p, nodes, tuple(DEL_LOCK, id));
}

/** Releases a lock taken boss first: the others, then the boss. */
export async function deleteBossLock(host: GlobalHost, p: LocalProcess, id: Term, nodes: string[]): Promise<void> {
  if (nodes.length === 0) return;
  const boss = theBoss(nodes);
  await delLockOn(host, p, id, nodes.filter((n) => n !== boss));
  await delLockOn(host, p, id, [boss]);
}

/** A partition's locker waiting to be locked with ours (global.erl's #him{}). */
interface Him {
  node: string;
  locker: Pid;
  vsn: number;
  myTag: Term;
  hisTag: Term;
}

const HIS_THE_LOCKER = atom('his_the_locker');
const CANCEL = atom('cancel');
const ADD_TO_KNOWN = atom('add_to_known');
const REMOVE_FROM_KNOWN = atom('remove_from_known');

/**
 * The locker of this node. The name server tells it about each connect
 * session (`hisTheLocker`), known nodes, and when a session ends
 * (`cancel`); the other partition's locker reaches it through the name
 * server with `{lock_set, Pid, IsSet, Known, Tag}`. Each lock it takes is
 * `{global, [LockerA, LockerB]}` (the two lockers, sorted), taken on the boss
 * of our partition, on ourselves and the other node, then on every node we
 * know; both lockers take it under the same id, so they do not block each
 * other. When both hold it, the name server exchanges names; the lock is
 * released when the name server cancels the session (after the `new_nodes`
 * messages, sent from here so they arrive before the release).
 *
 * It runs one step at a time, as the Erlang process does, with a selective
 * receive on its mailbox; events from the name server arrive there tagged
 * with a reference only this node knows.
 */
export class Locker {
  readonly proc: LocalProcess;
  private known: string[] = [];
  private hims: Him[] = [];
  private justSynced = false;
  private readonly funs = new Map<number, (sender: LocalProcess) => void>();
  private nextFun = 1;

  constructor(
    private readonly host: GlobalHost,
    private readonly ev: Reference,
  ) {
    this.proc = host.node.spawn();
    void this.loop().catch(() => {});
  }

  get pid(): Pid {
    return this.proc.pid;
  }

  /** A connect session with `peer` whose locker is `locker` may now be locked. */
  hisTheLocker(peer: string, locker: Pid, vsn: number, hisTag: Term, myTag: Term): void {
    this.post(HIS_THE_LOCKER, atom(peer), locker, vsn, hisTag, myTag);
  }

  /** Ends the session `tag` with `peer`; `fn` runs (from the locker) before a lock it holds is released. */
  cancel(peer: string, tag: Term, fn?: (sender: LocalProcess) => void): void {
    let id = 0;
    if (fn) this.funs.set((id = this.nextFun++), fn);
    this.post(CANCEL, atom(peer), tag, id);
  }

  addToKnown(nodes: string[]): void {
    if (nodes.length > 0) this.post(ADD_TO_KNOWN, nodes.map((n) => atom(n)));
  }

  removeFromKnown(peer: string): void {
    this.post(REMOVE_FROM_KNOWN, atom(peer));
  }

  /** A `{lock_set, ...}` from the other partition's locker. */
  forward(msg: Term): void {
    this.proc.deliver(msg);
  }

  private post(kind: Atom, ...args: Term[]): void {
    this.proc.deliver(tuple(this.ev, kind, ...args));
  }

  private isEv(m: Term, kind: Atom): boolean {
    return m instanceof Tuple && m.elements.length >= 2 && m.elements[0] === this.ev && m.elements[1] === kind;
  }

  /** `cancel` of the session `tag` with `peer`. */
  private isCancel(m: Term, peer: string, tag: Term): boolean {
    return this.isEv(m, CANCEL) && ((m as Tuple).elements[2] as Atom).name === peer && termEquals((m as Tuple).elements[3], tag);
  }

  private async loop(): Promise<void> {
    for (;;) {
      let m = this.proc.mailbox.take();
      if (m === NONE) {
        const timeoutMs = this.hims.length === 0 ? undefined : this.justSynced ? 0 : this.known.length === 0 ? 200 : Math.min(1000 + 100 * this.known.length, 3000);
        this.justSynced = false;
        try {
          m = await this.proc.receive({ timeoutMs });
        } catch {
          if (!this.proc.alive) return;
          if (!this.host.isGlobalLockSet()) await this.selectNode();
          continue;
        }
      }
      await this.handle(m);
    }
  }

  private async handle(m: Term): Promise<void> {
    if (!(m instanceof Tuple)) return;
    if (this.isEv(m, HIS_THE_LOCKER)) {
      const [, , peer, locker, vsn, hisTag, myTag] = m.elements as [Term, Term, Atom, Pid, number, Term, Term];
      this.hims.push({ node: peer.name, locker, vsn, hisTag, myTag });
    } else if (this.isEv(m, CANCEL)) {
      const [, , peer, tag, id] = m.elements as [Term, Term, Atom, Term, number];
      // A session that never reached the lock: nothing to release, and no new_nodes to send.
      this.funs.delete(id);
      if (tag !== undefined) this.removeHim(peer.name, tag);
    } else if (this.isEv(m, ADD_TO_KNOWN) || this.isEv(m, REMOVE_FROM_KNOWN)) {
      this.updateKnown(m as Tuple);
    } else if (isLockSet(m) && m.elements[2] === true) {
      await this.spontaneous(m.elements[1] as Pid, m.elements[4]);
    }
    // lock_set false outside a lock attempt, and stray replies, are dropped.
  }

  private updateKnown(m: Tuple): void {
    const arg = m.elements[2];
    if (m.elements[1] === ADD_TO_KNOWN) this.known = [...(arg as Atom[]).map((a) => a.name), ...this.known];
    else this.known = this.known.filter((n) => n !== (arg as Atom).name);
  }

  /** Applies the known-node updates already queued (the locker's copy may lag the server's). */
  private drainKnown(): void {
    for (;;) {
      const m = this.proc.mailbox.take((x) => this.isEv(x, ADD_TO_KNOWN) || this.isEv(x, REMOVE_FROM_KNOWN));
      if (m === NONE) return;
      this.updateKnown(m as Tuple);
    }
  }

  private findHim(peer: string): Him | undefined {
    return this.hims.find((h) => h.node === peer);
  }

  private removeHim(peer: string, tag: Term): void {
    this.hims = this.hims.filter((h) => !(h.node === peer && termEquals(h.myTag, tag)));
  }

  private lockId(his: Pid): Tuple {
    const pids = [this.proc.pid, his].sort(compareTerms);
    return tuple(GLOBAL, pids);
  }

  /** The other locker locked first and asks us to lock our side. */
  private async spontaneous(his: Pid, myTag: Term): Promise<void> {
    const peer = his.node.name;
    const him = this.findHim(peer);
    if (!him || !termEquals(him.myTag, myTag)) {
      this.sendLockSet(false, his, 0);
      return;
    }
    const lockId = this.lockId(his);
    const isSet = await this.lockNodesSafely(lockId, []);
    this.sendLockSet(isSet, his, him.hisTag);
    if (!isSet) return;
    this.host.lockIsSet(peer, myTag, lockId);
    await this.waitCancel(peer, myTag, lockId, [this.host.node.name, ...this.known]);
    this.justSynced = true;
    this.removeHim(peer, myTag);
  }

  /** Our timer fired with sessions waiting and no `global` lock set here: lock one of them. */
  private async selectNode(): Promise<void> {
    this.hims = this.hims.filter((h) => !this.known.includes(h.node));
    if (this.hims.length === 0) return;
    const him = this.hims[Math.floor(Math.random() * this.hims.length)];
    const lockId = this.lockId(him.locker);
    if (!(await this.lockNodesSafely(lockId, [him.node]))) return;
    const held = [this.host.node.name, him.node, ...this.known];
    this.sendLockSet(true, him.locker, him.hisTag);
    // Wait for the other locker's answer, or for the session to end.
    for (;;) {
      const m = (await this.proc.receive({
        match: (x) => (isLockSet(x) && (x.elements[1] as Pid).node.name === him.node) || this.isCancel(x, him.node, him.myTag),
      })) as Tuple;
      if (this.isEv(m, CANCEL)) {
        this.runFun(m.elements[4] as number);
        await deleteBossLock(this.host, this.proc, lockId, held);
        this.removeHim(him.node, him.myTag);
        return;
      }
      if (!termEquals(m.elements[4], him.myTag)) continue; // an answer to an older session
      if (m.elements[2] !== true) {
        await deleteBossLock(this.host, this.proc, lockId, held);
        return;
      }
      this.host.lockIsSet(him.node, him.myTag, lockId);
      await this.waitCancel(him.node, him.myTag, lockId, held);
      this.justSynced = true;
      this.removeHim(him.node, him.myTag);
      return;
    }
  }

  /** Holds the lock until the name server ends the session, then runs its fun and releases the lock. */
  private async waitCancel(peer: string, tag: Term, lockId: Term, nodes: string[]): Promise<void> {
    const m = (await this.proc.receive({ match: (x) => this.isCancel(x, peer, tag) })) as Tuple;
    this.runFun(m.elements[4] as number);
    await deleteBossLock(this.host, this.proc, lockId, nodes);
  }

  private runFun(id: number): void {
    const fn = this.funs.get(id);
    this.funs.delete(id);
    fn?.(this.proc);
  }

  /**
   * Locks our partition (and `extra`): the boss first (an optimisation that
   * also makes two partitions meet on one node), then ourselves and `extra`,
   * then every known node. Undoes what it took when a step fails.
   */
  private async lockNodesSafely(lockId: Term, extra: string[]): Promise<boolean> {
    const self = this.host.node.name;
    const first = [theBoss([self, ...this.known])];
    if (!(first[0] === self || this.host.canSetLock(lockId))) return false;
    if (!(await setLockOn(this.host, this.proc, lockId, first))) return false;
    this.drainKnown();
    const second = [self, ...extra].filter((n) => !first.includes(n));
    if (!(await setLockOn(this.host, this.proc, lockId, second))) {
      await delLockOn(this.host, this.proc, lockId, first);
      return false;
    }
    if (await setLockOn(this.host, this.proc, lockId, this.known.filter((n) => !first.includes(n)))) return true;
    await delLockOn(this.host, this.proc, lockId, [...first, ...second]);
    return false;
  }

  private sendLockSet(isSet: boolean, his: Pid, hisTag: Term): void {
    const peer = his.node.name;
    if (!this.host.node.connection(peer)) return;
    const msg = tuple(LOCK_SET, this.proc.pid, isSet, this.known.map((n) => atom(n)), hisTag);
    this.proc.send({ name: GNS, node: peer }, tuple(atom('$gen_cast'), msg));
  }
}

/** `{lock_set, Pid, IsSet, Known, Tag}`. */
export function isLockSet(m: Term): m is Tuple {
  return m instanceof Tuple && m.elements.length === 5 && m.elements[0] === LOCK_SET && m.elements[1] instanceof Pid;
}
