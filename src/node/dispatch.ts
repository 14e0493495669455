// The incoming half of the distribution protocol: what a node does with each
// control message (erl_dist_protocol, "Protocol between Connected Nodes").
// Messages go to mailboxes; link, monitor and exit signals to the process
// tables; and whatever beambridge does not implement is answered as OTP
// answers it: LINK to a dead pid -> EXIT noproc, MONITOR_P of an unknown
// process -> MONITOR_P_EXIT noproc (the PAYLOAD form when negotiated),
// UNLINK_ID -> UNLINK_ID_ACK always (sent at once, so before anything else
// to that process), SPAWN_REQUEST -> the node's spawn handler (NodeCore
// answers SPAWN_REPLY notsup; src/otp's Node runs exposed functions), an
// orphan SPAWN_REPLY -> EXIT2 abandoned. Messages to unknown pids, names and
// aliases are dropped, which is OTP's answer too. Links follow the new link
// protocol (erl_dist_protocol, "New Link Protocol"): a LINK for an existing
// link is ignored, an UNLINK_ID removes only an active link, an
// UNLINK_ID_ACK only the inactive link whose id it carries.
import { Atom, Pid, atom } from '../etf/types.js';
import { DFLAG, ctrl, hasFlag, type ControlMessage, type DistConnection, type OutgoingSignal } from '../dist/index.js';
import { pidKey, refKey } from './process.js';
import type { NodeCore } from './node.js';

const NOPROC = atom('noproc');
const ABANDONED = atom('abandoned');
/** ALTACT_SIG_SEND flag: the signal is an exit signal, not a message. */
const ALTACT_EXIT = 16;

function sendOn(c: DistConnection, s: OutgoingSignal): void {
  if (!c.closed) c.sendSignal(s);
}

/** Acts on one control message that arrived on `c`. */
export function dispatchControl(node: NodeCore, c: DistConnection, m: ControlMessage): void {
  switch (m.kind) {
    case 'send':
      node.process(m.to)?.deliver(m.message);
      return;
    case 'reg_send':
      node.byName(m.to.name)?.deliver(m.message);
      return;
    case 'alias_send':
      node.byAlias(m.alias)?.deliver(m.message);
      return;
    case 'altact_sig_send': {
      // OTP 28's form of alias/name/pid sends (we do not advertise it, but take it).
      const exit = (m.flags & ALTACT_EXIT) !== 0;
      const target =
        m.to instanceof Pid ? node.process(m.to) : m.to instanceof Atom ? node.byName(m.to.name) : node.byAlias(m.to);
      if (exit) target?.exitSignal(m.from, m.message, false);
      else target?.deliver(m.message);
      return;
    }
    case 'link': {
      const t = node.process(m.to);
      if (t?.alive) {
        const k = pidKey(m.from);
        if (!t.links.has(k)) t.links.set(k, { pid: m.from, unlinking: undefined });
        node.watch(c.peer, t);
      } else {
        sendOn(c, ctrl.exit(m.to, m.from, NOPROC));
      }
      return;
    }
    case 'unlink':
    case 'unlink_id': {
      const t = node.process(m.to);
      const k = pidKey(m.from);
      if (t && t.links.get(k)?.unlinking === undefined) t.links.delete(k);
      // UNLINK_ID is always acknowledged, even for a dead process (before anything else to that pid).
      if (m.kind === 'unlink_id') sendOn(c, ctrl.unlinkIdAck(m.id, m.to, m.from));
      return;
    }
    case 'unlink_id_ack': {
      const t = node.process(m.to);
      const k = pidKey(m.from);
      if (t && t.links.get(k)?.unlinking === m.id) t.links.delete(k);
      return;
    }
    case 'exit':
      node.process(m.to)?.exitSignal(m.from, m.reason, true);
      return;
    case 'exit2':
      node.process(m.to)?.exitSignal(m.from, m.reason, false);
      return;
    case 'monitor': {
      const t = m.to instanceof Pid ? node.process(m.to) : node.byName(m.to.name);
      if (t?.alive) {
        t.monitoredBy.set(refKey(m.ref), { ref: m.ref, watcher: m.from, name: m.to instanceof Atom ? m.to : undefined });
        node.watch(c.peer, t);
      } else {
        const ex = hasFlag(c.flags, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadMonitorExit(m.to, m.from, m.ref, NOPROC) : ctrl.monitorExit(m.to, m.from, m.ref, NOPROC);
        sendOn(c, ex);
      }
      return;
    }
    case 'demonitor': {
      const t = m.to instanceof Pid ? node.process(m.to) : node.byName(m.to.name);
      t?.monitoredBy.delete(refKey(m.ref));
      return;
    }
    case 'monitor_exit':
      node.process(m.to)?.down(m.ref, m.reason);
      return;
    case 'group_leader': {
      const t = node.process(m.to);
      if (t) t.groupLeader = m.from;
      return;
    }
    case 'spawn_request':
      node.onSpawnRequest(c, m);
      return;
    case 'spawn_reply':
      // We never send SPAWN_REQUEST: a process spawned for nobody is abandoned, as OTP does.
      if (m.result instanceof Pid) sendOn(c, ctrl.exit2(m.to, m.result, ABANDONED));
      return;
  }
}
