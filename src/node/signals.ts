// The outgoing side of links, monitors and exit signals, and what a lost
// peer does to them. Local targets are handled in place (with the same rules
// as the wire protocol); remote ones become control messages on the peer's
// connection, in the variant the connection negotiated (PAYLOAD_EXIT,
// PAYLOAD_EXIT2, PAYLOAD_MONITOR_P_EXIT with DFLAG_EXIT_PAYLOAD).
// Spec: erl_dist_protocol, "Protocol between Connected Nodes" and "New Link
// Protocol".
import { Atom, Pid, Reference, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { DFLAG, ctrl, hasFlag, type OutgoingSignal, type SpawnRequestSignal } from '../dist/index.js';
import type { Peers } from './peers.js';
import type { Registry } from './registry.js';
import { pidKey, refKey, type LocalProcess, type MonitorTarget, type OutgoingMonitor } from './process.js';

const NOPROC = atom('noproc');
const NOCONNECTION = atom('noconnection');
const LINK = atom('link');
const MONITOR = atom('monitor');

function nameOf(x: string | Atom): string {
  return typeof x === 'string' ? x : x.name;
}

/** Links, monitors and exit signals of one node's processes. */
export class Signals {
  constructor(
    private readonly name: string,
    private readonly nodeAtom: Atom,
    private readonly registry: Registry,
    private readonly peers: Peers,
  ) {}

  /** Sends a signal to `peer` if connected or connecting, never dialing for it. */
  private sendIfUp(peer: string, build: (flags: bigint) => OutgoingSignal | undefined): void {
    if (this.peers.live(peer) || this.peers.isPending(peer)) this.peers.send(peer, build);
  }

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
        from.down(ref, NOPROC);
        return;
      }
      t.monitoredBy.set(k, { ref, watcher: from.pid, name: wire instanceof Atom ? wire : undefined });
      return;
    }
    from.monitors.set(k, { ref, object, target: wire, peer });
    this.registry.watch(peer, from);
    const self = from.pid;
    this.peers.send(peer, () => ctrl.monitor(self, wire, ref));
  }

  /** Removes a monitor `from` held (DEMONITOR_P for a remote one). */
  demonitor(from: LocalProcess, m: OutgoingMonitor): void {
    if (m.peer === undefined) {
      if (m.target instanceof Pid) this.registry.process(m.target)?.monitoredBy.delete(refKey(m.ref));
      return;
    }
    const self = from.pid;
    this.sendIfUp(m.peer, () => ctrl.demonitor(self, m.target, m.ref));
  }

  /** `from` links to `to` (its own link information is already set). */
  link(from: LocalProcess, to: Pid): void {
    if (to.node === this.nodeAtom) {
      const t = this.registry.process(to);
      if (!t || !t.alive) from.exitSignal(to, NOPROC, true);
      // A LINK received while link information exists is ignored.
      else if (!t.links.has(pidKey(from.pid))) t.links.set(pidKey(from.pid), { pid: from.pid, unlinking: undefined });
      return;
    }
    this.registry.watch(to.node.name, from);
    const self = from.pid;
    this.peers.send(to.node.name, () => ctrl.link(self, to));
  }

  /** `from` unlinks `to` with UNLINK_ID `id` (its own link is already inactive). */
  unlink(from: LocalProcess, to: Pid, id: bigint): void {
    const peer = to.node.name;
    if (to.node === this.nodeAtom || !(this.peers.live(peer) || this.peers.isPending(peer))) {
      // A local process acks at once (and drops its side if active); an unreachable one is as good as unlinked.
      const t = this.registry.process(to);
      const theirs = t?.links.get(pidKey(from.pid));
      if (t && theirs && theirs.unlinking === undefined) t.links.delete(pidKey(from.pid));
      from.links.delete(pidKey(to));
      return;
    }
    const self = from.pid;
    this.peers.send(peer, () => ctrl.unlinkId(id, self, to));
  }

  /** `exit(To, Reason)` from `from` (EXIT2 or PAYLOAD_EXIT2 for a remote one; dials if needed). */
  exit2(from: LocalProcess, to: Pid, reason: Term): void {
    if (to.node === this.nodeAtom) {
      this.registry.process(to)?.exitSignal(from.pid, reason, false);
      return;
    }
    const self = from.pid;
    this.peers.send(to.node.name, (f) => (hasFlag(f, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadExit2(self, to, reason) : ctrl.exit2(self, to, reason)));
  }

  /** `p` died with `reason`: its active links get the exit, its watchers a DOWN, its own monitors are removed. */
  exited(p: LocalProcess, reason: Term): void {
    const self = p.pid;
    for (const l of p.links.values()) {
      if (l.unlinking !== undefined) continue;
      if (l.pid.node === this.nodeAtom) this.registry.process(l.pid)?.exitSignal(self, reason, true);
      else {
        const to = l.pid;
        this.sendIfUp(to.node.name, (f) => (hasFlag(f, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadExit(self, to, reason) : ctrl.exit(self, to, reason)));
      }
    }
    p.links.clear();
    for (const m of p.monitoredBy.values()) {
      if (m.watcher.node === this.nodeAtom) this.registry.process(m.watcher)?.down(m.ref, reason);
      else {
        const who = m.name ?? self;
        this.sendIfUp(m.watcher.node.name, (f) =>
          hasFlag(f, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadMonitorExit(who, m.watcher, m.ref, reason) : ctrl.monitorExit(who, m.watcher, m.ref, reason),
        );
      }
    }
    p.monitoredBy.clear();
    for (const m of p.monitors.values()) this.demonitor(p, m);
    p.monitors.clear();
  }

  /** Every link and monitor across `peer` fires with noconnection, at once, as OTP does. */
  peerGone(peer: string): void {
    const set = this.registry.takeWatchers(peer);
    if (!set) return;
    for (const p of set) {
      for (const m of [...p.monitors.values()]) if (m.peer === peer) p.down(m.ref, NOCONNECTION);
      for (const m of [...p.monitoredBy.entries()]) if (m[1].watcher.node.name === peer) p.monitoredBy.delete(m[0]);
      for (const l of [...p.links.values()]) {
        // An inactive link (unlink in flight) is only removed, as the protocol says.
        if (l.pid.node.name === peer) p.exitSignal(l.pid, NOCONNECTION, true);
      }
    }
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
    if (flags !== 0) this.registry.watch(peer, p);
    return flags;
  }
}
