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
// protocol (erl_dist_protocol, "New Link Protocol"); the link and monitor
// tables are changed by signals.ts, their one owner. This module depends on
// the tables it is given, not on the node.
import { Atom, Pid, atom } from '../etf/types.js';
import {
  DFLAG,
  ctrl,
  hasFlag,
  type ControlMessage,
  type DistConnection,
  type OutgoingSignal,
  type SpawnRequestSignal,
} from '../dist/index.js';
import type { Registry } from './registry.js';
import type { Signals } from './signals.js';

/** What incoming control messages act on: the node's process tables, its signals and its spawn handler. */
export interface DispatchTables {
  readonly registry: Registry;
  readonly signals: Signals;
  /** A SPAWN_REQUEST arrived (the node answers it). */
  onSpawnRequest(c: DistConnection, m: SpawnRequestSignal): void;
}

const NOPROC = atom('noproc');
const ABANDONED = atom('abandoned');
/** ALTACT_SIG_SEND flag: the signal is an exit signal, not a message. */
const ALTACT_EXIT = 16;

function sendOn(c: DistConnection, s: OutgoingSignal): void {
  if (!c.closed) c.sendSignal(s);
}

/** Acts on one control message that arrived on `c`. */
export function dispatchControl(t: DispatchTables, c: DistConnection, m: ControlMessage): void {
  const reg = t.registry;
  switch (m.kind) {
    case 'send':
      reg.process(m.to)?.deliver(m.message);
      return;
    case 'reg_send':
      reg.byName(m.to.name)?.deliver(m.message);
      return;
    case 'alias_send':
      reg.byAlias(m.alias)?.deliver(m.message);
      return;
    case 'altact_sig_send': {
      // OTP 28's form of alias/name/pid sends (we do not advertise it, but take it).
      const exit = (m.flags & ALTACT_EXIT) !== 0;
      const target = m.to instanceof Pid ? reg.process(m.to) : m.to instanceof Atom ? reg.byName(m.to.name) : reg.byAlias(m.to);
      if (exit) {
        if (target) t.signals.exitSignal(target, m.from, m.message, false);
      } else target?.deliver(m.message);
      return;
    }
    case 'link':
      if (!t.signals.incomingLink(c.peer, reg.process(m.to), m.from)) sendOn(c, ctrl.exit(m.to, m.from, NOPROC));
      return;
    case 'unlink':
    case 'unlink_id':
      t.signals.incomingUnlink(reg.process(m.to), m.from);
      // UNLINK_ID is always acknowledged, even for a dead process (before anything else to that pid).
      if (m.kind === 'unlink_id') sendOn(c, ctrl.unlinkIdAck(m.id, m.to, m.from));
      return;
    case 'unlink_id_ack':
      t.signals.incomingUnlinkAck(reg.process(m.to), m.from, m.id);
      return;
    case 'exit':
    case 'exit2': {
      const p = reg.process(m.to);
      if (p) t.signals.exitSignal(p, m.from, m.reason, m.kind === 'exit');
      return;
    }
    case 'monitor': {
      const target = m.to instanceof Pid ? reg.process(m.to) : reg.byName(m.to.name);
      if (!t.signals.incomingMonitor(c.peer, target, m.from, m.ref, m.to instanceof Atom ? m.to : undefined)) {
        sendOn(c, hasFlag(c.flags, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadMonitorExit(m.to, m.from, m.ref, NOPROC) : ctrl.monitorExit(m.to, m.from, m.ref, NOPROC));
      }
      return;
    }
    case 'demonitor':
      t.signals.incomingDemonitor(m.to instanceof Pid ? reg.process(m.to) : reg.byName(m.to.name), m.ref);
      return;
    case 'monitor_exit': {
      const p = reg.process(m.to);
      if (p) t.signals.down(p, m.ref, m.reason);
      return;
    }
    case 'group_leader': {
      const p = reg.process(m.to);
      if (p) p.groupLeader = m.from;
      return;
    }
    case 'spawn_request':
      t.onSpawnRequest(c, m);
      return;
    case 'spawn_reply':
      // We never send SPAWN_REQUEST: a process spawned for nobody is abandoned, as OTP does.
      if (m.result instanceof Pid) sendOn(c, ctrl.exit2(m.to, m.result, ABANDONED));
      return;
  }
}
