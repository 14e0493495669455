// What a node sends to a peer, as data: an `Outgoing` names the signal and its
// parts, and `toWire` turns it into the control message the connection's
// negotiated flags allow (erl_dist_protocol, "Protocol between Connected
// Nodes"). A signal waiting for a connection is kept in this form, so the
// connection table (peers.ts) builds it once the flags are known without
// calling back into the node.
import type { Atom, Pid, Reference, Term } from '../etf/types.js';
import { DFLAG, ctrl, hasFlag, type OutgoingSignal } from '../dist/index.js';

/** A signal for a peer, before the connection's flags are known. */
export type Outgoing =
  /** A message to a pid: SEND_SENDER with DFLAG_SEND_SENDER, else SEND. */
  | { kind: 'send'; from: Pid; to: Pid; msg: Term }
  /** A message to an alias: ALIAS_SEND, dropped (as OTP drops it) without DFLAG_ALIAS. */
  | { kind: 'alias_send'; from: Pid; to: Reference; msg: Term }
  /** A message to a name registered on node `node`: REG_SEND. */
  | { kind: 'reg_send'; from: Pid; to: Atom; node: string; msg: Term }
  /** A gen_server reply: to the alias with DFLAG_ALIAS when there is one, else to the pid. */
  | { kind: 'reply'; from: Pid; to: Pid; alias: Reference | undefined; msg: Term }
  | { kind: 'link'; from: Pid; to: Pid }
  | { kind: 'unlink_id'; id: bigint; from: Pid; to: Pid }
  /** A broken link's exit signal: EXIT, or PAYLOAD_EXIT with DFLAG_EXIT_PAYLOAD. */
  | { kind: 'exit'; from: Pid; to: Pid; reason: Term }
  /** `exit(To, Reason)`: EXIT2, or PAYLOAD_EXIT2 with DFLAG_EXIT_PAYLOAD. */
  | { kind: 'exit2'; from: Pid; to: Pid; reason: Term }
  | { kind: 'monitor'; from: Pid; to: Pid | Atom; ref: Reference }
  | { kind: 'demonitor'; from: Pid; to: Pid | Atom; ref: Reference }
  /** A monitored process exited: MONITOR_P_EXIT, or PAYLOAD_MONITOR_P_EXIT with DFLAG_EXIT_PAYLOAD. */
  | { kind: 'monitor_exit'; from: Pid | Atom; to: Pid; ref: Reference; reason: Term };

/** A message a process sends (what `route` makes of `p.send`). */
export type MessageOut = Extract<Outgoing, { kind: 'send' | 'alias_send' | 'reg_send' }>;

/** The peer a message goes to. */
export function peerOf(o: MessageOut): string {
  return o.kind === 'reg_send' ? o.node : o.to.node.name;
}

/** True for messages (which wait across failed dials), false for the other signals. */
export function isMessage(o: Outgoing): boolean {
  return o.kind === 'send' || o.kind === 'reg_send' || o.kind === 'alias_send' || o.kind === 'reply';
}

/** The control message for `o` on a connection with `flags`; undefined when the peer cannot take it (dropped). */
export function toWire(o: Outgoing, flags: bigint): OutgoingSignal | undefined {
  switch (o.kind) {
    case 'send':
      return hasFlag(flags, DFLAG.SEND_SENDER) ? ctrl.sendSender(o.from, o.to, o.msg) : ctrl.send(o.to, o.msg);
    case 'alias_send':
      return hasFlag(flags, DFLAG.ALIAS) ? ctrl.aliasSend(o.from, o.to, o.msg) : undefined;
    case 'reg_send':
      return ctrl.regSend(o.from, o.to, o.msg);
    case 'reply':
      if (o.alias !== undefined && hasFlag(flags, DFLAG.ALIAS)) return ctrl.aliasSend(o.from, o.alias, o.msg);
      return hasFlag(flags, DFLAG.SEND_SENDER) ? ctrl.sendSender(o.from, o.to, o.msg) : ctrl.send(o.to, o.msg);
    case 'link':
      return ctrl.link(o.from, o.to);
    case 'unlink_id':
      return ctrl.unlinkId(o.id, o.from, o.to);
    case 'exit':
      return hasFlag(flags, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadExit(o.from, o.to, o.reason) : ctrl.exit(o.from, o.to, o.reason);
    case 'exit2':
      return hasFlag(flags, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadExit2(o.from, o.to, o.reason) : ctrl.exit2(o.from, o.to, o.reason);
    case 'monitor':
      return ctrl.monitor(o.from, o.to, o.ref);
    case 'demonitor':
      return ctrl.demonitor(o.from, o.to, o.ref);
    case 'monitor_exit':
      return hasFlag(flags, DFLAG.EXIT_PAYLOAD)
        ? ctrl.payloadMonitorExit(o.from, o.to, o.ref, o.reason)
        : ctrl.monitorExit(o.from, o.to, o.ref, o.reason);
  }
}
