// The global_name_server of a visible beambridge node: the process Erlang
// nodes talk to (see global.ts for the protocol). It keeps the names and
// locks tables, the nodes global knows and has synced with, and one connect
// session per node being synced; it handles messages one at a time, as the
// gen_server does, and leaves the waiting (locks, name clashes) to the
// locker and to resolver tasks, which report back through its mailbox.
// The state (tables, node sets, sending helpers) is in global-state.ts.
import { Atom, Pid, Reference, Tuple, atom, compareTerms, termEquals, tuple, type Term } from '../etf/index.js';
import { isDown, parseFrom, parseGenCall, parseGenCast, type LocalProcess } from '../node/index.js';
import type { Node } from './node.js';
import { GLOBAL_VSN, GlobalState, POP_VSN, A, isTuple, knownNode } from './global-state.js';
import { isLockSet } from './global-locker.js';
import { exchangeNames } from './global-resolve.js';

/** One connect session with a node (global.erl's resolver entry and process-dictionary keys). */
interface Session {
  myTag: number;
  hisTag?: Term;
  vsn?: number;
  resolverLive: boolean;
  waitLock?: 'lock_is_set' | { exchange: Term };
  saveOps?: { ops: Term[] } | { hisResolved: Term; hisKnown: Term };
  lockId?: Term;
}

export class GlobalServer extends GlobalState {
  /** Nodes being removed to prevent overlapping partitions (no lost_connection at their nodedown). */
  private readonly removing = new Set<string>();
  private readonly sessions = new Map<string, Session>();
  /** init_connect messages that came before their session. */
  private readonly preConnect = new Map<string, Tuple>();
  /** lost_connection messages seen, by `{NodeA, NodeB}`. */
  private readonly lost = new Map<string, { xcre: Term; opId: Term; timer: NodeJS.Timeout }>();
  private nextTag = 1;
  private nextOpId = 1;
  /** Tells this incarnation's lost_connection messages from an earlier one's. */
  private readonly xcreation: bigint;

  constructor(
    node: Node,
    /** Tags events inside this node. */
    ev: Reference,
    private readonly pop: boolean,
  ) {
    super(node, ev);
    this.xcreation = (BigInt(Math.floor(Math.random() * 2 ** 26)) << 32n) + BigInt(node.creation) + (1n << 59n);
    void this.loop().catch(() => {});
  }

  // ------------------------------------------------------------------ messages

  private async loop(): Promise<void> {
    for await (const m of this.proc) {
      try {
        this.handle(m);
      } catch {
        // A malformed message from a peer is dropped, as a gen_server would crash and restart without it.
      }
    }
  }

  private handle(m: Term): void {
    if (m instanceof Tuple && m.elements[0] === this.ev) return this.event(m);
    const call = parseGenCall(m);
    if (call) {
      const r = this.localCall(call.request, call.from.pid);
      if (r !== undefined) this.node.replyTo(call.from, r, this.proc);
      return;
    }
    const cast = parseGenCast(m);
    if (cast) return this.cast(cast.request);
    if (isDown(m)) return this.down((m as Tuple).elements[1] as Reference);
    if (!(m instanceof Tuple)) return;
    const e = m.elements;
    if (isTuple(m, A.lostConnection, 5)) return this.lostConnection(m);
    if (isTuple(m, A.whereis, 3)) {
      const from = parseFrom(e[2]);
      if (from) this.node.replyTo(from, this.where(e[1]) ?? A.undefined, this.proc);
      return;
    }
    // The others name the sending node second.
    const peer = e[1] instanceof Atom ? e[1].name : undefined;
    if (peer === undefined) return;
    if (isTuple(m, A.initConnectAck, 4)) this.initConnectAck(peer, e[2], e[3]);
    else if (isTuple(m, A.cancelConnect, 3)) this.cancelConnect(peer, e[2]);
    else if (isTuple(m, A.removeConnection, 2)) this.removeConnection(peer);
  }

  private event(m: Tuple): void {
    const [, kind, a, b, c, d] = m.elements;
    const peer = (a as Atom).name;
    switch (kind) {
      case A.nodeup:
        return this.handleNodeup(peer);
      case A.nodedown:
      case A.extraNodedown:
        for (const s of this.syncers) this.proc.send(s.pid, tuple(this.ev, A.nodedown, a));
        return this.handleNodedown(peer, 'disconnected');
      case A.lockIsSet:
        return this.lockIsSetEvent(peer, b, c);
      case A.exchangeOps:
        return this.exchangeOps(peer, b, c as Term[], d);
    }
  }

  /**
   * Answers a global_name_server call (from another node, or from a process
   * of this one through the lock helpers); undefined for calls it does not
   * answer, as the gen_server leaves unknown calls unanswered.
   */
  localCall(req: Term, from: Pid): Term | undefined {
    if (req instanceof Atom) {
      if (req.name === 'get_known') return this.knownNodes().map((n) => atom(n));
      if (req.name === 'get_synced') return this.synced().map((n) => atom(n));
      if (req.name === 'get_protocol_version') return GLOBAL_VSN;
      if (req.name === 'get_names_ext') return [];
      return undefined;
    }
    if (!(req instanceof Tuple)) return undefined;
    const e = req.elements;
    if (isTuple(req, A.setLock, 2)) return this.setLock(e[1], from);
    if (isTuple(req, A.delLock, 2)) {
      this.delLock(e[1], from);
      return true;
    }
    if ((isTuple(req, A.register, 4) || isTuple(req, A.registerExt, 5)) && e[2] instanceof Pid) {
      this.insertName(e[1], e[2], e[3], from, []);
      return A.yes;
    }
    if (isTuple(req, A.unregister, 2)) {
      this.deleteName(e[1]);
      return A.ok;
    }
    return undefined;
  }

  private cast(req: Term): void {
    if (!(req instanceof Tuple)) return;
    const e = req.elements;
    if (isTuple(req, A.initConnect, 4)) return this.initConnect(req);
    if (isLockSet(req)) {
      const s = this.sessions.get((e[1] as Pid).node.name);
      if (s && termEquals(s.myTag, e[4])) this.locker.forward(req);
      return;
    }
    const peer = e[1] instanceof Atom ? e[1].name : undefined;
    if (peer === undefined) return;
    if (isTuple(req, A.exchange, 5)) this.exchange(peer, e[2], e[4]);
    else if (isTuple(req, A.resolved, 7)) this.resolved(peer, e[2], e[3], e[6]);
    else if (isTuple(req, A.newNodes, 6)) this.newNodes(peer, e[2], e[4], e[5]);
    else if (isTuple(req, A.inSync, 3)) this.inSync(peer);
    // async_del_name / async_del_lock (pre-R14 nodes) and anything else: ignored.
  }

  // ------------------------------------------------------------- connecting

  private handleNodeup(peer: string): void {
    if (this.known.has(peer) || this.sessions.has(peer)) return;
    const myTag = this.nextTag++;
    this.sessions.set(peer, { myTag, resolverLive: true });
    const known = new Map<Term, Term>([...this.known].map(([n, v]) => [atom(n), v]));
    this.castTo(peer, tuple(A.initConnect, tuple(GLOBAL_VSN, myTag), this.node.nodeAtom, tuple(A.locker, A.noLongerAPid, known, this.locker.pid)));
    const pre = this.preConnect.get(peer);
    if (pre) {
      this.preConnect.delete(peer);
      this.proc.deliver(tuple(A.genCast, pre));
    }
  }

  private initConnect(m: Tuple): void {
    const [, vsnTag, nodeAtom, initMsg] = m.elements;
    const peer = nodeAtom instanceof Atom ? nodeAtom.name : undefined;
    if (!peer || !(vsnTag instanceof Tuple) || vsnTag.elements.length < 2 || !isTuple(initMsg, A.locker, 4)) return;
    const hisVsn = Number(vsnTag.elements[0]);
    const hisTag = vsnTag.elements[1];
    const hisLocker = initMsg.elements[3];
    if (!(hisLocker instanceof Pid) || !Number.isInteger(hisVsn)) return;
    if (this.pending.has(peer)) {
      // A second connect attempt while one is going on: cancel both and start over.
      this.volatile(peer, tuple(A.cancelConnect, this.node.nodeAtom, hisTag));
      this.restartConnect(peer, this.sessions.get(peer)?.myTag);
      return;
    }
    const s = this.sessions.get(peer);
    if (!s) {
      this.preConnect.set(peer, m);
      return;
    }
    s.vsn = Math.min(hisVsn, GLOBAL_VSN);
    s.hisTag = hisTag;
    this.locker.hisTheLocker(peer, hisLocker, s.vsn, hisTag, s.myTag);
    this.volatile(peer, tuple(A.initConnectAck, this.node.nodeAtom, hisTag, s.myTag));
    this.pending.set(peer, hisVsn);
  }

  private initConnectAck(peer: string, hisMyTag: Term, hisHisTag: Term): void {
    const s = this.sessions.get(peer);
    if (s && termEquals(s.myTag, hisMyTag) && s.hisTag !== undefined && termEquals(s.hisTag, hisHisTag)) return;
    // The two sides disagree about the session: cancel it and start again.
    this.volatile(peer, tuple(A.cancelConnect, this.node.nodeAtom, hisHisTag));
    this.restartConnect(peer, s?.myTag);
  }

  private cancelConnect(peer: string, tag: Term): void {
    const s = this.sessions.get(peer);
    if (!s || !termEquals(s.myTag, tag)) return;
    // The other side gave up this session: no cancel_connect back, just start a new one.
    this.pending.delete(peer);
    this.restartConnect(peer, s.myTag);
  }

  private restartConnect(peer: string, myTag: number | undefined): void {
    this.cancelLocker(peer, myTag);
    this.reset(peer);
    this.pending.delete(peer);
    if (myTag !== undefined && this.visible.has(peer)) this.handleNodeup(peer);
  }

  /** Ends the locker's part of the session `tag` (running `fn` first if it holds the lock). */
  private cancelLocker(peer: string, tag: Term | undefined, fn?: (sender: LocalProcess) => void): void {
    this.locker.cancel(peer, tag, fn);
    const s = this.sessions.get(peer);
    if (!s || tag === undefined || !termEquals(s.myTag, tag)) return;
    // The other side is told when it had answered our init_connect (we may be the only side that knows it failed).
    if (this.pending.has(peer) && s.hisTag !== undefined) this.volatile(peer, tuple(A.cancelConnect, this.node.nodeAtom, s.hisTag));
    s.resolverLive = false;
  }

  private reset(peer: string): void {
    this.sessions.delete(peer);
    this.preConnect.delete(peer);
  }

  private sessionFor(peer: string, tag: Term): Session | undefined {
    const s = this.sessions.get(peer);
    if (s && s.resolverLive && termEquals(s.myTag, tag)) return s;
    this.cancelLocker(peer, tag);
    return undefined;
  }

  /** Our locker holds the lock on our partition: send our names. */
  private lockIsSetEvent(peer: string, tag: Term, lockId: Term): void {
    const s = this.sessionFor(peer, tag);
    if (!s) return;
    const names = this.names.all().map((e) => tuple(e.name, e.pid, e.method));
    this.castTo(peer, tuple(A.exchange, this.node.nodeAtom, names, [], s.hisTag!));
    s.lockId = lockId;
    if (s.waitLock !== undefined && s.waitLock !== 'lock_is_set') {
      const list = s.waitLock.exchange;
      s.waitLock = undefined;
      this.resolve(peer, s, list);
    } else s.waitLock = 'lock_is_set';
  }

  private exchange(peer: string, list: Term, tag: Term): void {
    const s = this.sessionFor(peer, tag);
    if (!s) return;
    if (s.waitLock === 'lock_is_set') {
      s.waitLock = undefined;
      this.resolve(peer, s, list);
    } else s.waitLock = { exchange: list };
  }

  /** The resolver: compares names off the server's turn (clashes may need rpc), then reports back. */
  private resolve(peer: string, s: Session, list: Term): void {
    void exchangeNames(this.ctx, list, peer).then(
      ({ ops, resolved }) => {
        if (s.resolverLive) this.post(A.exchangeOps, atom(peer), s.myTag, ops, resolved);
      },
      () => {},
    );
  }

  private exchangeOps(peer: string, tag: Term, ops: Term[], resolved: Term): void {
    const s = this.sessionFor(peer, tag);
    if (!s) return;
    this.castTo(peer, tuple(A.resolved, this.node.nodeAtom, resolved, this.knownList(), A.unused, [], s.hisTag!));
    const saved = s.saveOps;
    s.saveOps = { ops };
    if (saved && 'hisResolved' in saved) this.finishConnect(peer, s, saved.hisResolved, saved.hisKnown);
  }

  private resolved(peer: string, hisResolved: Term, hisKnown: Term, tag: Term): void {
    const s = this.sessionFor(peer, tag);
    if (!s) return;
    if (s.saveOps && 'ops' in s.saveOps) this.finishConnect(peer, s, hisResolved, hisKnown);
    else s.saveOps = { hisResolved, hisKnown };
  }

  /**
   * Both sides have the other's names: apply the operations, learn the
   * other partition's nodes (and tell them we are in sync), and have the
   * locker tell our partition about the new nodes before it releases the lock.
   */
  private finishConnect(peer: string, s: Session, hisResolved: Term, hisKnown: Term): void {
    const ops = [...(s.saveOps as { ops: Term[] }).ops, ...(Array.isArray(hisResolved) ? hisResolved : [])];
    const his = Array.isArray(hisKnown) ? hisKnown : [];
    const hisNodes = his.map(knownNode).filter((n): n is string => n !== undefined);
    const newNodes: Term[] = [tuple(atom(peer), this.nodeVsn(peer)), ...his.map((x) => (x instanceof Atom ? tuple(x, 0) : x))];
    this.syncOthers(hisNodes);
    const extra = [tuple(A.vsn, s.vsn ?? GLOBAL_VSN), tuple(A.lock, s.lockId ?? A.undefined)];
    this.doOps(ops, this.node.name, extra);
    this.notifySynced(peer);
    for (const n of hisNodes) this.cancelResolvedLocker(n);
    const tellKnown = [...this.known.keys()];
    const msg = tuple(A.newNodes, this.node.nodeAtom, ops, [], newNodes, extra);
    this.cancelResolvedLocker(peer, (sender) => {
      for (const n of tellKnown) this.castTo(n, msg, sender);
    });
    this.locker.addToKnown(this.addToKnown(newNodes));
    this.syncedNodes.add(peer);
  }

  private cancelResolvedLocker(peer: string, fn?: (sender: LocalProcess) => void): void {
    const tag = this.sessions.get(peer)?.myTag;
    // Not pending any more: no cancel_connect goes out for a session that succeeded.
    this.pending.delete(peer);
    this.cancelLocker(peer, tag, fn);
    this.reset(peer);
  }
  private newNodes(from: string, ops: Term, nodes: Term, extra: Term): void {
    const added = this.addToKnown(Array.isArray(nodes) ? nodes : []);
    this.syncOthers(added);
    this.doOps(ops, from, extra);
    this.locker.addToKnown(added);
  }

  private inSync(peer: string): void {
    this.notifySynced(peer);
    this.syncedNodes.add(peer);
    this.pending.delete(peer);
    this.cancelLocker(peer, this.sessions.get(peer)?.myTag);
    this.reset(peer);
  }

  // ------------------------------------------------- nodedown and partitions

  private handleNodedown(peer: string, what: 'disconnected' | 'remove_connection'): void {
    this.cancelLocker(peer, this.sessions.get(peer)?.myTag);
    this.locker.removeFromKnown(peer);
    this.reset(peer);
    if (what === 'remove_connection') this.removing.add(peer);
    else if (!this.removing.delete(peer)) this.informConnectionLoss(peer);
    this.pending.delete(peer);
    this.known.delete(peer);
    this.syncedNodes.delete(peer);
  }

  /** prevent_overlapping_partitions: tell every node we know that we lost `peer`. */
  private informConnectionLoss(peer: string): void {
    if (!this.pop || this.node.stopped) return;
    this.multicast(tuple(A.lostConnection, this.node.nodeAtom, this.xcreation, this.nextOpId++, atom(peer)), peer);
  }

  private lostConnection(m: Tuple): void {
    if (!this.pop) return;
    const [, a, xcre, opId, b] = m.elements;
    const nodeA = a instanceof Atom ? a.name : undefined;
    const nodeB = b instanceof Atom ? b.name : undefined;
    if (!nodeA || !nodeB) return;
    const key = `${nodeA} ${nodeB}`;
    const seen = this.lost.get(key);
    if (seen && termEquals(seen.xcre, xcre) && compareTerms(opId, seen.opId) <= 0) return;
    // Pass it on, so that every node hears it even if nodeA's connections fail meanwhile.
    this.multicast(m, nodeA);
    if (seen) clearTimeout(seen.timer);
    const timer = setTimeout(() => this.lost.delete(key), 3_600_000);
    timer.unref();
    this.lost.set(key, { xcre, opId, timer });
    const rm = nodeB === this.node.name ? nodeA : nodeB;
    if (!this.known.has(rm) && !this.pending.has(rm)) return;
    if (this.nodeVsn(rm) < POP_VSN) this.node.disconnect(rm);
    else this.volatile(rm, tuple(A.removeConnection, this.node.nodeAtom));
    this.handleNodedown(rm, 'remove_connection');
  }

  private removeConnection(peer: string): void {
    if (!this.known.has(peer) && !this.pending.has(peer)) return;
    this.node.disconnect(peer);
    this.handleNodedown(peer, 'remove_connection');
  }
}
