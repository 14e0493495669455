// The one owner of links, monitors and exit signals. Every change to a
// process's links (`p.links`), the monitors it holds (`p.monitors`), the
// monitors on it (`p.monitoredBy`), and the per-peer list of processes with
// links or monitors across that peer, is made here: for the process's own
// calls (link, unlink, monitor, demonitor, exit), for what arrives from
// peers (dispatch.ts calls the `incoming*` methods) and for a lost peer.
// Others only read those tables.
//
// Local targets are handled in place (with the same rules as the wire
// protocol); remote ones become `Outgoing` signals on the peer's connection
// (wire.ts picks the variant the connection negotiated, e.g. PAYLOAD_EXIT).
// Spec: erl_dist_protocol, "Protocol between Connected Nodes" and "New Link
// Protocol".
import { Atom, Pid, Reference, Tuple, atom, tuple, type Term } from '../etf/types.js';
import type { SpawnRequestSignal } from '../dist/index.js';
import type { Peers } from './peers.js';
import type { Registry } from './registry.js';
import { pidKey, refKey, type LocalProcess, type MonitorTarget } from './process.js';
import type { Outgoing } from './wire.js';

const NOPROC = atom('noproc');
const NOCONNECTION = atom('noconnection');
const NORMAL = atom('normal');
const KILL = atom('kill');
const KILLED = atom('killed');
const EXIT = atom('EXIT');
const DOWN = atom('DOWN');
const PROCESS = atom('process');
const LINK = atom('link');
const MONITOR = atom('monitor');

function nameOf(x: string | Atom): string {
  return typeof x === 'string' ? x : x.name;
}

/** Links, monitors and exit signals of one node's processes. */
export class Signals {
  /** Processes with links or monitors across each peer (for a lost peer). */
  private readonly watchers = new Map<string, Set<LocalProcess>>();
  private unlinkIds = 0n;

  constructor(
    private readonly name: string,
    private readonly nodeAtom: Atom,
    private readonly registry: Registry,
    private readonly peers: Peers,
  ) {}

  /** Records that `p` has links or monitors across `peer`. */
  private watch(peer: string, p: LocalProcess): void {
    let s = this.watchers.get(peer);
    if (!s) this.watchers.set(peer, (s = new Set()));
    s.add(p);
  }

  /** Sends a signal to `peer` if connected or connecting, never dialing for it. */
  private sendIfUp(peer: string, o: Outgoing): void {
    if (this.peers.live(peer) || this.peers.isPending(peer)) this.peers.send(peer, o);
  }

  // ------------------------------------------------- the process's own calls

  /** `from` monitors `target` with `ref` (MONITOR_P for a remote one). */
  monitor(from: LocalProcess, target: MonitorTarget, ref: Reference): void {
    const k = refKey(ref);
    let peer: string | undefined;
    let wire: Pid | Atom;
    let object: Pid | Tuple;
    if (target instanceof Pid) {
      wire = object = target;
      if (target.node !== this.nodeAtom) peer = target.node.name;
    } else {
      const [name, node] = typeof target === 'string' || target instanceof Atom ? [nameOf(target), this.name] : [nameOf(target.name), nameOf(target.node)];
      wire = atom(name);
      object = tuple(wire, atom(node));
      if (node !== this.name) peer = node;
    }
    if (peer === undefined) {
      const t = wire instanceof Pid ? this.registry.process(wire) : this.registry.byName(wire.name);
      from.monitors.set(k, { ref, object, target: t ? t.pid : wire, peer: undefined });
      if (!t || !t.alive) {
        this.down(from, ref, NOPROC);
        return;
      }
      t.monitoredBy.set(k, { ref, watcher: from.pid, name: wire instanceof Atom ? wire : undefined });
      return;
    }
    from.monitors.set(k, { ref, object, target: wire, peer });
    this.watch(peer, from);
    this.peers.send(peer, { kind: 'monitor', from: from.pid, to: wire, ref });
  }

  /** Removes a monitor `from` holds (DEMONITOR_P for a remote one); true if it was active. */
  demonitor(from: LocalProcess, ref: Reference): boolean {
    const k = refKey(ref);
    const m = from.monitors.get(k);
    if (!m) return false;
    from.monitors.delete(k);
    if (!from.alive) return true;
    if (m.peer === undefined) {
      if (m.target instanceof Pid) this.registry.process(m.target)?.monitoredBy.delete(k);
    } else {
      this.sendIfUp(m.peer, { kind: 'demonitor', from: from.pid, to: m.target, ref: m.ref });
    }
    return true;
  }

  /** A DOWN for a monitor `p` holds (from its peer or a local process): the monitor goes, the message arrives. */
  down(p: LocalProcess, ref: Reference, reason: Term): void {
    const k = refKey(ref);
    const m = p.monitors.get(k);
    if (!m) return;
    p.monitors.delete(k);
    p.deliver(tuple(DOWN, ref, PROCESS, m.object, reason));
  }

  /** `from` links to `to` (Erlang's link/1). */
  link(from: LocalProcess, to: Pid): void {
    const k = pidKey(to);
    if (!from.alive || k === pidKey(from.pid)) return;
    const e = from.links.get(k);
    if (e && e.unlinking === undefined) return;
    from.links.set(k, { pid: to, unlinking: undefined });
    if (to.node === this.nodeAtom) {
      const t = this.registry.process(to);
      if (!t || !t.alive) this.exitSignal(from, to, NOPROC, true);
      // A LINK received while link information exists is ignored.
      else if (!t.links.has(pidKey(from.pid))) t.links.set(pidKey(from.pid), { pid: from.pid, unlinking: undefined });
      return;
    }
    this.watch(to.node.name, from);
    this.peers.send(to.node.name, { kind: 'link', from: from.pid, to });
  }

  /** `from` unlinks `to` (Erlang's unlink/1, the UNLINK_ID protocol with a peer). */
  unlink(from: LocalProcess, to: Pid): void {
    const k = pidKey(to);
    const e = from.links.get(k);
    if (!from.alive || !e || e.unlinking !== undefined) return;
    const peer = to.node.name;
    if (to.node === this.nodeAtom || !(this.peers.live(peer) || this.peers.isPending(peer))) {
      // A local process acks at once (and drops its side if active); an unreachable one is as good as unlinked.
      const t = this.registry.process(to);
      const theirs = t?.links.get(pidKey(from.pid));
      if (t && theirs && theirs.unlinking === undefined) t.links.delete(pidKey(from.pid));
      from.links.delete(k);
      return;
    }
    const id = ++this.unlinkIds;
    e.unlinking = id;
    this.peers.send(peer, { kind: 'unlink_id', id, from: from.pid, to });
  }

  /** `exit(To, Reason)` from `from` (EXIT2 or PAYLOAD_EXIT2 for a remote one; dials if needed). */
  exit2(from: LocalProcess, to: Pid, reason: Term): void {
    if (to.node === this.nodeAtom) {
      const t = this.registry.process(to);
      if (t) this.exitSignal(t, from.pid, reason, false);
      return;
    }
    this.peers.send(to.node.name, { kind: 'exit2', from: from.pid, to, reason });
  }

  /**
   * An exit signal from `from` reaches `p`. `viaLink` for a broken link
   * (EXIT), false for `exit/2` (EXIT2). Erlang's rules: a link exit needs the
   * link (an inactive one, whose UNLINK_ID is in flight, ignores it); `kill`
   * by exit/2 cannot be trapped; with trapExit the signal becomes a message;
   * otherwise a non-normal reason ends the process.
   */
  exitSignal(p: LocalProcess, from: Pid, reason: Term, viaLink: boolean): void {
    if (!p.alive) return;
    if (viaLink) {
      const k = pidKey(from);
      const e = p.links.get(k);
      if (!e) return;
      p.links.delete(k);
      if (e.unlinking !== undefined) return;
    }
    if (!viaLink && reason === KILL) {
      p.exit(KILLED);
      return;
    }
    if (p.trapExit) {
      p.deliver(tuple(EXIT, from, reason));
      return;
    }
    if (reason === NORMAL && pidKey(from) !== pidKey(p.pid)) return;
    p.exit(reason);
  }

  /** `p` died with `reason`: its active links get the exit, its watchers a DOWN, its own monitors are removed. */
  exited(p: LocalProcess, reason: Term): void {
    const self = p.pid;
    const links = [...p.links.values()];
    p.links.clear();
    for (const l of links) {
      if (l.unlinking !== undefined) continue;
      if (l.pid.node === this.nodeAtom) {
        const t = this.registry.process(l.pid);
        if (t) this.exitSignal(t, self, reason, true);
      } else this.sendIfUp(l.pid.node.name, { kind: 'exit', from: self, to: l.pid, reason });
    }
    const watchers = [...p.monitoredBy.values()];
    p.monitoredBy.clear();
    for (const m of watchers) {
      if (m.watcher.node === this.nodeAtom) {
        const w = this.registry.process(m.watcher);
        if (w) this.down(w, m.ref, reason);
      } else this.sendIfUp(m.watcher.node.name, { kind: 'monitor_exit', from: m.name ?? self, to: m.watcher, ref: m.ref, reason });
    }
    const held = [...p.monitors.values()];
    p.monitors.clear();
    for (const m of held) {
      if (m.peer === undefined) {
        if (m.target instanceof Pid) this.registry.process(m.target)?.monitoredBy.delete(refKey(m.ref));
      } else this.sendIfUp(m.peer, { kind: 'demonitor', from: self, to: m.target, ref: m.ref });
    }
    for (const [peer, set] of this.watchers) {
      if (set.delete(p) && set.size === 0) this.watchers.delete(peer);
    }
  }

  /** Every link and monitor across `peer` fires with noconnection, at once, as OTP does. */
  peerGone(peer: string): void {
    const set = this.watchers.get(peer);
    if (!set) return;
    this.watchers.delete(peer);
    for (const p of set) {
      for (const m of [...p.monitors.values()]) if (m.peer === peer) this.down(p, m.ref, NOCONNECTION);
      for (const [k, m] of [...p.monitoredBy]) if (m.watcher.node.name === peer) p.monitoredBy.delete(k);
      for (const l of [...p.links.values()]) {
        // An inactive link (unlink in flight) is only removed, as the protocol says.
        if (l.pid.node.name === peer) this.exitSignal(p, l.pid, NOCONNECTION, true);
      }
    }
  }

  // ------------------------------------------------- what peers sent (dispatch.ts)

  /** LINK from `from` (on `peer`) to `to`; false when `to` is dead (the caller answers EXIT noproc). */
  incomingLink(peer: string, to: LocalProcess | undefined, from: Pid): boolean {
    if (!to?.alive) return false;
    const k = pidKey(from);
    if (!to.links.has(k)) to.links.set(k, { pid: from, unlinking: undefined });
    this.watch(peer, to);
    return true;
  }

  /** UNLINK_ID (or the old UNLINK) from `from`: removes only an active link. */
  incomingUnlink(to: LocalProcess | undefined, from: Pid): void {
    const k = pidKey(from);
    if (to && to.links.get(k)?.unlinking === undefined) to.links.delete(k);
  }

  /** UNLINK_ID_ACK: removes only the inactive link whose id it carries. */
  incomingUnlinkAck(to: LocalProcess | undefined, from: Pid, id: bigint): void {
    const k = pidKey(from);
    if (to && to.links.get(k)?.unlinking === id) to.links.delete(k);
  }

  /** MONITOR_P from `watcher` (on `peer`); false when the target is dead or unknown (the caller answers noproc). */
  incomingMonitor(peer: string, target: LocalProcess | undefined, watcher: Pid, ref: Reference, name: Atom | undefined): boolean {
    if (!target?.alive) return false;
    target.monitoredBy.set(refKey(ref), { ref, watcher, name });
    this.watch(peer, target);
    return true;
  }

  /** DEMONITOR_P. */
  incomingDemonitor(target: LocalProcess | undefined, ref: Reference): void {
    target?.monitoredBy.delete(refKey(ref));
  }

  /**
   * Sets up a SPAWN_REQUEST's `link` and `monitor` options on the new
   * process `p` (the monitor's reference is the request id) and returns the
   * SPAWN_REPLY flags of what was set up (1 link, 2 monitor).
   */
  spawnOptions(peer: string, p: LocalProcess, m: SpawnRequestSignal): number {
    let flags = 0;
    for (const o of m.options) {
      if (o === LINK) {
        p.links.set(pidKey(m.from), { pid: m.from, unlinking: undefined });
        flags |= 1;
      } else if (o === MONITOR || (o instanceof Tuple && o.elements.length === 2 && o.elements[0] === MONITOR)) {
        p.monitoredBy.set(refKey(m.reqId), { ref: m.reqId, watcher: m.from, name: undefined });
        flags |= 2;
      }
    }
    if (flags !== 0) this.watch(peer, p);
    return flags;
  }
}
