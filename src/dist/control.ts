// Distribution control messages: a typed union, a strict parser, and
// constructors. Spec: erl_dist_protocol, "Protocol between Connected Nodes"
// (the ControlMessage list and the "New Ctrlmessages for Erlang/OTP 21 .. 28"
// sections). The payload (the message, or the exit reason of the PAYLOAD
// variants) travels after the control tuple and is folded in here.
import { Atom, Pid, Reference, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { DistError } from './errors.js';

/** Control message tags (erts dist.h `enum dop`). */
export const CTRL = {
  LINK: 1,
  SEND: 2,
  EXIT: 3,
  UNLINK: 4,
  NODE_LINK: 5,
  REG_SEND: 6,
  GROUP_LEADER: 7,
  EXIT2: 8,
  SEND_TT: 12,
  EXIT_TT: 13,
  REG_SEND_TT: 16,
  EXIT2_TT: 18,
  MONITOR_P: 19,
  DEMONITOR_P: 20,
  MONITOR_P_EXIT: 21,
  SEND_SENDER: 22,
  SEND_SENDER_TT: 23,
  PAYLOAD_EXIT: 24,
  PAYLOAD_EXIT_TT: 25,
  PAYLOAD_EXIT2: 26,
  PAYLOAD_EXIT2_TT: 27,
  PAYLOAD_MONITOR_P_EXIT: 28,
  SPAWN_REQUEST: 29,
  SPAWN_REQUEST_TT: 30,
  SPAWN_REPLY: 31,
  SPAWN_REPLY_TT: 32,
  ALIAS_SEND: 33,
  ALIAS_SEND_TT: 34,
  UNLINK_ID: 35,
  UNLINK_ID_ACK: 36,
  ALTACT_SIG_SEND: 37,
} as const;

/** ALTACT_SIG_SEND flag bits (OTP 28, erts dist.h). */
export const ALTACT_SIG_FLAG = { PRIO: 1, TOKEN: 2, ALIAS: 4, NAME: 8, EXIT: 16 } as const;

/** SPAWN_REPLY flag bits. */
export const SPAWN_REPLY_FLAG = { LINK: 1, MONITOR: 2 } as const;

/** Fields every parsed control message has. */
interface Base {
  /** The wire tag ({@link CTRL}), telling e.g. EXIT from PAYLOAD_EXIT_TT. */
  op: number;
  /** The sequential trace token of the `_TT` variants. */
  traceToken?: Term;
}

/** A message to a pid: SEND, SEND_TT, SEND_SENDER, SEND_SENDER_TT. `from` is absent for SEND/SEND_TT. */
export interface SendSignal extends Base {
  kind: 'send';
  from: Pid | undefined;
  to: Pid;
  message: Term;
}
/** A message to a registered name: REG_SEND, REG_SEND_TT. */
export interface RegSendSignal extends Base {
  kind: 'reg_send';
  from: Pid;
  to: Atom;
  message: Term;
}
/** A message to a process alias: ALIAS_SEND, ALIAS_SEND_TT. */
export interface AliasSendSignal extends Base {
  kind: 'alias_send';
  from: Pid;
  alias: Reference;
  message: Term;
}
/**
 * OTP 28's ALTACT_SIG_SEND: a message (or, with the EXIT flag, an exit signal
 * whose reason is `message`) to a pid, name or alias.
 */
export interface AltactSignal extends Base {
  kind: 'altact_sig_send';
  flags: number;
  from: Pid;
  to: Pid | Atom | Reference;
  message: Term;
}
/** LINK. */
export interface LinkSignal extends Base {
  kind: 'link';
  from: Pid;
  to: Pid;
}
/** The old UNLINK (4), gone since OTP 26; parsed so the node layer can refuse it knowingly. */
export interface UnlinkSignal extends Base {
  kind: 'unlink';
  from: Pid;
  to: Pid;
}
/** UNLINK_ID and UNLINK_ID_ACK. `id` is in 1..2^64-1. */
export interface UnlinkIdSignal extends Base {
  kind: 'unlink_id' | 'unlink_id_ack';
  id: bigint;
  from: Pid;
  to: Pid;
}
/** A link exit (EXIT, EXIT_TT, PAYLOAD_EXIT, PAYLOAD_EXIT_TT) or `exit/2` (EXIT2 and its variants). */
export interface ExitSignal extends Base {
  kind: 'exit' | 'exit2';
  from: Pid;
  to: Pid;
  reason: Term;
}
/** MONITOR_P and DEMONITOR_P: `to` is a pid or a registered name. */
export interface MonitorSignal extends Base {
  kind: 'monitor' | 'demonitor';
  from: Pid;
  to: Pid | Atom;
  ref: Reference;
}
/** MONITOR_P_EXIT, PAYLOAD_MONITOR_P_EXIT: the monitored process (pid or name) `from` is down. */
export interface MonitorExitSignal extends Base {
  kind: 'monitor_exit';
  from: Pid | Atom;
  to: Pid;
  ref: Reference;
  reason: Term;
}
/** GROUP_LEADER. */
export interface GroupLeaderSignal extends Base {
  kind: 'group_leader';
  from: Pid;
  to: Pid;
}
/** SPAWN_REQUEST, SPAWN_REQUEST_TT. */
export interface SpawnRequestSignal extends Base {
  kind: 'spawn_request';
  reqId: Reference;
  from: Pid;
  groupLeader: Pid;
  module: Atom;
  function: Atom;
  arity: number;
  options: Term[];
  args: Term[];
}
/** SPAWN_REPLY, SPAWN_REPLY_TT: `result` is the new pid or an error atom. */
export interface SpawnReplySignal extends Base {
  kind: 'spawn_reply';
  reqId: Reference;
  to: Pid;
  flags: number;
  result: Pid | Atom;
}

/** Every control message, discriminated by `kind`. */
export type ControlMessage =
  | SendSignal
  | RegSendSignal
  | AliasSendSignal
  | AltactSignal
  | LinkSignal
  | UnlinkSignal
  | UnlinkIdSignal
  | ExitSignal
  | MonitorSignal
  | MonitorExitSignal
  | GroupLeaderSignal
  | SpawnRequestSignal
  | SpawnReplySignal;

function bad(msg: string): DistError {
  return new DistError('ERR_DIST_PROTOCOL', `malformed control message: ${msg}`);
}

function pid(t: Term, what: string): Pid {
  if (t instanceof Pid) return t;
  throw bad(`${what} is not a pid`);
}
function ref(t: Term, what: string): Reference {
  if (t instanceof Reference) return t;
  throw bad(`${what} is not a reference`);
}
function name(t: Term, what: string): Atom {
  if (t instanceof Atom) return t;
  throw bad(`${what} is not an atom`);
}
function pidOrName(t: Term, what: string): Pid | Atom {
  if (t instanceof Pid || t instanceof Atom) return t;
  throw bad(`${what} is neither a pid nor an atom`);
}
function int(t: Term, what: string): number | bigint {
  if ((typeof t === 'number' && Number.isInteger(t)) || typeof t === 'bigint') return t;
  throw bad(`${what} is not an integer`);
}
function list(t: Term, what: string): Term[] {
  if (Array.isArray(t)) return t;
  throw bad(`${what} is not a proper list`);
}
function needPayload(p: Term | undefined, op: number): Term {
  if (p === undefined) throw bad(`control ${op} without its payload`);
  return p;
}

/**
 * Parses a control tuple and its payload into a {@link ControlMessage}.
 * Throws {@link DistError} `ERR_DIST_PROTOCOL` for a wrong arity, a field of
 * the wrong type, a missing or unexpected payload, or an unknown tag (which
 * OTP also treats as a broken connection).
 */
export function parseControl(control: Term, payload: Term | undefined): ControlMessage {
  if (!(control instanceof Tuple) || control.size === 0) throw bad('not a tuple');
  const e = control.elements;
  const op = e[0];
  if (typeof op !== 'number') throw bad('the tag is not a small integer');
  // The message sends first, without closures: they are most of the traffic.
  switch (op) {
    case CTRL.SEND:
    case CTRL.SEND_TT: {
      checkArity(e, op, op === CTRL.SEND ? 3 : 4);
      const m: SendSignal = { kind: 'send', op, from: undefined, to: pid(e[2], 'ToPid'), message: needPayload(payload, op) };
      if (op === CTRL.SEND_TT) m.traceToken = e[3];
      return m;
    }
    case CTRL.SEND_SENDER:
    case CTRL.SEND_SENDER_TT: {
      checkArity(e, op, op === CTRL.SEND_SENDER ? 3 : 4);
      const m: SendSignal = { kind: 'send', op, from: pid(e[1], 'FromPid'), to: pid(e[2], 'ToPid'), message: needPayload(payload, op) };
      if (op === CTRL.SEND_SENDER_TT) m.traceToken = e[3];
      return m;
    }
    case CTRL.REG_SEND:
    case CTRL.REG_SEND_TT: {
      checkArity(e, op, op === CTRL.REG_SEND ? 4 : 5);
      const m: RegSendSignal = { kind: 'reg_send', op, from: pid(e[1], 'FromPid'), to: name(e[3], 'ToName'), message: needPayload(payload, op) };
      if (op === CTRL.REG_SEND_TT) m.traceToken = e[4];
      return m;
    }
    case CTRL.ALIAS_SEND:
    case CTRL.ALIAS_SEND_TT: {
      checkArity(e, op, op === CTRL.ALIAS_SEND ? 3 : 4);
      const m: AliasSendSignal = { kind: 'alias_send', op, from: pid(e[1], 'FromPid'), alias: ref(e[2], 'Alias'), message: needPayload(payload, op) };
      if (op === CTRL.ALIAS_SEND_TT) m.traceToken = e[3];
      return m;
    }
    default:
      return parseSignal(e, op, payload);
  }
}

function checkArity(e: Term[], op: number, n: number): void {
  if (e.length !== n) throw bad(`tag ${op} with ${e.length} elements, expected ${n}`);
}

/** {@link parseControl} for everything but the message sends. */
function parseSignal(e: Term[], op: number, payload: Term | undefined): ControlMessage {
  const arity = (n: number) => checkArity(e, op, n);
  const noPayload = () => {
    if (payload !== undefined) throw bad(`tag ${op} followed by a payload`);
  };
  switch (op) {
    case CTRL.ALTACT_SIG_SEND: {
      if (e.length !== 4 && e.length !== 5) throw bad(`tag 37 with ${e.length} elements`);
      const flags = int(e[1], 'Flags');
      const to = e[3];
      if (!(to instanceof Pid || to instanceof Atom || to instanceof Reference)) throw bad('ALTACT_SIG_SEND target');
      return {
        kind: 'altact_sig_send',
        op,
        flags: Number(flags),
        from: pid(e[2], 'SenderPid'),
        to,
        message: needPayload(payload, op),
        ...tt(e, e.length === 5, 4),
      };
    }
    case CTRL.LINK:
    case CTRL.UNLINK:
    case CTRL.GROUP_LEADER:
      arity(3);
      noPayload();
      return {
        kind: op === CTRL.LINK ? 'link' : op === CTRL.UNLINK ? 'unlink' : 'group_leader',
        op,
        from: pid(e[1], 'FromPid'),
        to: pid(e[2], 'ToPid'),
      };
    case CTRL.UNLINK_ID:
    case CTRL.UNLINK_ID_ACK: {
      arity(4);
      noPayload();
      const id = BigInt(int(e[1], 'Id'));
      if (id < 1n || id >= 1n << 64n) throw bad('unlink id out of range');
      return { kind: op === CTRL.UNLINK_ID ? 'unlink_id' : 'unlink_id_ack', op, id, from: pid(e[2], 'FromPid'), to: pid(e[3], 'ToPid') };
    }
    case CTRL.EXIT:
    case CTRL.EXIT2:
      arity(4);
      noPayload();
      return { kind: op === CTRL.EXIT ? 'exit' : 'exit2', op, from: pid(e[1], 'FromPid'), to: pid(e[2], 'ToPid'), reason: e[3] };
    case CTRL.EXIT_TT:
    case CTRL.EXIT2_TT:
      arity(5);
      noPayload();
      return {
        kind: op === CTRL.EXIT_TT ? 'exit' : 'exit2',
        op,
        from: pid(e[1], 'FromPid'),
        to: pid(e[2], 'ToPid'),
        traceToken: e[3],
        reason: e[4],
      };
    case CTRL.PAYLOAD_EXIT:
    case CTRL.PAYLOAD_EXIT2:
    case CTRL.PAYLOAD_EXIT_TT:
    case CTRL.PAYLOAD_EXIT2_TT: {
      const traced = op === CTRL.PAYLOAD_EXIT_TT || op === CTRL.PAYLOAD_EXIT2_TT;
      arity(traced ? 4 : 3);
      return {
        kind: op === CTRL.PAYLOAD_EXIT || op === CTRL.PAYLOAD_EXIT_TT ? 'exit' : 'exit2',
        op,
        from: pid(e[1], 'FromPid'),
        to: pid(e[2], 'ToPid'),
        reason: needPayload(payload, op),
        ...tt(e, traced, 3),
      };
    }
    case CTRL.MONITOR_P:
    case CTRL.DEMONITOR_P:
      arity(4);
      noPayload();
      return {
        kind: op === CTRL.MONITOR_P ? 'monitor' : 'demonitor',
        op,
        from: pid(e[1], 'FromPid'),
        to: pidOrName(e[2], 'ToProc'),
        ref: ref(e[3], 'Ref'),
      };
    case CTRL.MONITOR_P_EXIT:
      arity(5);
      noPayload();
      return { kind: 'monitor_exit', op, from: pidOrName(e[1], 'FromProc'), to: pid(e[2], 'ToPid'), ref: ref(e[3], 'Ref'), reason: e[4] };
    case CTRL.PAYLOAD_MONITOR_P_EXIT:
      arity(4);
      return {
        kind: 'monitor_exit',
        op,
        from: pidOrName(e[1], 'FromProc'),
        to: pid(e[2], 'ToPid'),
        ref: ref(e[3], 'Ref'),
        reason: needPayload(payload, op),
      };
    case CTRL.SPAWN_REQUEST:
    case CTRL.SPAWN_REQUEST_TT: {
      arity(op === CTRL.SPAWN_REQUEST ? 6 : 7);
      const mfa = e[4];
      if (!(mfa instanceof Tuple) || mfa.size !== 3) throw bad('SPAWN_REQUEST {M, F, A}');
      const arityN = int(mfa.elements[2], 'Arity');
      const args = list(needPayload(payload, op), 'ArgList');
      if (Number(arityN) !== args.length) throw bad('SPAWN_REQUEST arity does not match the argument list');
      return {
        kind: 'spawn_request',
        op,
        reqId: ref(e[1], 'ReqId'),
        from: pid(e[2], 'From'),
        groupLeader: pid(e[3], 'GroupLeader'),
        module: name(mfa.elements[0], 'Module'),
        function: name(mfa.elements[1], 'Function'),
        arity: Number(arityN),
        options: list(e[5], 'OptList'),
        args,
        ...tt(e, op === CTRL.SPAWN_REQUEST_TT, 6),
      };
    }
    case CTRL.SPAWN_REPLY:
    case CTRL.SPAWN_REPLY_TT: {
      arity(op === CTRL.SPAWN_REPLY ? 5 : 6);
      noPayload();
      return {
        kind: 'spawn_reply',
        op,
        reqId: ref(e[1], 'ReqId'),
        to: pid(e[2], 'To'),
        flags: Number(int(e[3], 'Flags')),
        result: pidOrName(e[4], 'Result'),
        ...tt(e, op === CTRL.SPAWN_REPLY_TT, 5),
      };
    }
    default:
      throw bad(`unknown tag ${op}`);
  }
}

function tt(e: Term[], traced: boolean, i: number): { traceToken?: Term } {
  return traced ? { traceToken: e[i] } : {};
}

/** A control tuple plus its payload, ready for `DistConnection.send`. */
export interface OutgoingSignal {
  control: Tuple;
  payload?: Term;
}

const EMPTY = atom('');

/**
 * Constructors for the control messages beambridge sends. Each returns the
 * control tuple and payload; the choice between a classic message and its
 * SEND_SENDER / PAYLOAD variant belongs to the caller, who knows the
 * negotiated flags.
 */
export const ctrl = {
  /** SEND `{2, '', To}` + Message. */
  send: (to: Pid, message: Term): OutgoingSignal => ({ control: tuple(CTRL.SEND, EMPTY, to), payload: message }),
  /** SEND_SENDER `{22, From, To}` + Message (only when DFLAG_SEND_SENDER is negotiated). */
  sendSender: (from: Pid, to: Pid, message: Term): OutgoingSignal => ({ control: tuple(CTRL.SEND_SENDER, from, to), payload: message }),
  /** REG_SEND `{6, From, '', ToName}` + Message. */
  regSend: (from: Pid, to: Atom, message: Term): OutgoingSignal => ({
    control: tuple(CTRL.REG_SEND, from, EMPTY, to),
    payload: message,
  }),
  /** ALIAS_SEND `{33, From, Alias}` + Message. */
  aliasSend: (from: Pid, alias: Reference, message: Term): OutgoingSignal => ({
    control: tuple(CTRL.ALIAS_SEND, from, alias),
    payload: message,
  }),
  /** LINK `{1, From, To}`. */
  link: (from: Pid, to: Pid): OutgoingSignal => ({ control: tuple(CTRL.LINK, from, to) }),
  /** UNLINK_ID `{35, Id, From, To}`. */
  unlinkId: (id: bigint, from: Pid, to: Pid): OutgoingSignal => ({ control: tuple(CTRL.UNLINK_ID, smallest(id), from, to) }),
  /** UNLINK_ID_ACK `{36, Id, From, To}`: `from` acknowledges the UNLINK_ID that `to` sent. */
  unlinkIdAck: (id: bigint, from: Pid, to: Pid): OutgoingSignal => ({ control: tuple(CTRL.UNLINK_ID_ACK, smallest(id), from, to) }),
  /** EXIT `{3, From, To, Reason}`: a link broke. */
  exit: (from: Pid, to: Pid, reason: Term): OutgoingSignal => ({ control: tuple(CTRL.EXIT, from, to, reason) }),
  /** PAYLOAD_EXIT `{24, From, To}` + Reason (only with DFLAG_EXIT_PAYLOAD). */
  payloadExit: (from: Pid, to: Pid, reason: Term): OutgoingSignal => ({ control: tuple(CTRL.PAYLOAD_EXIT, from, to), payload: reason }),
  /** EXIT2 `{8, From, To, Reason}`: `exit(To, Reason)`. */
  exit2: (from: Pid, to: Pid, reason: Term): OutgoingSignal => ({ control: tuple(CTRL.EXIT2, from, to, reason) }),
  /** PAYLOAD_EXIT2 `{26, From, To}` + Reason (only with DFLAG_EXIT_PAYLOAD). */
  payloadExit2: (from: Pid, to: Pid, reason: Term): OutgoingSignal => ({ control: tuple(CTRL.PAYLOAD_EXIT2, from, to), payload: reason }),
  /** MONITOR_P `{19, From, ToProc, Ref}`. */
  monitor: (from: Pid, to: Pid | Atom, r: Reference): OutgoingSignal => ({ control: tuple(CTRL.MONITOR_P, from, to, r) }),
  /** DEMONITOR_P `{20, From, ToProc, Ref}`. */
  demonitor: (from: Pid, to: Pid | Atom, r: Reference): OutgoingSignal => ({ control: tuple(CTRL.DEMONITOR_P, from, to, r) }),
  /** MONITOR_P_EXIT `{21, FromProc, ToPid, Ref, Reason}`: the monitored `from` is down. */
  monitorExit: (from: Pid | Atom, to: Pid, r: Reference, reason: Term): OutgoingSignal => ({
    control: tuple(CTRL.MONITOR_P_EXIT, from, to, r, reason),
  }),
  /** PAYLOAD_MONITOR_P_EXIT `{28, FromProc, ToPid, Ref}` + Reason (only with DFLAG_EXIT_PAYLOAD). */
  payloadMonitorExit: (from: Pid | Atom, to: Pid, r: Reference, reason: Term): OutgoingSignal => ({
    control: tuple(CTRL.PAYLOAD_MONITOR_P_EXIT, from, to, r),
    payload: reason,
  }),
  /** GROUP_LEADER `{7, From, To}`. */
  groupLeader: (from: Pid, to: Pid): OutgoingSignal => ({ control: tuple(CTRL.GROUP_LEADER, from, to) }),
  /** SPAWN_REQUEST `{29, ReqId, From, GroupLeader, {M, F, A}, Opts}` + Args (only with DFLAG_SPAWN). */
  spawnRequest: (reqId: Reference, from: Pid, groupLeader: Pid, m: Atom, f: Atom, args: Term[], options: Term[] = []): OutgoingSignal => ({
    control: tuple(CTRL.SPAWN_REQUEST, reqId, from, groupLeader, tuple(m, f, args.length), options),
    payload: args,
  }),
  /** SPAWN_REPLY `{31, ReqId, To, Flags, Result}`. */
  spawnReply: (reqId: Reference, to: Pid, flags: number, result: Pid | Atom): OutgoingSignal => ({
    control: tuple(CTRL.SPAWN_REPLY, reqId, to, flags, result),
  }),
};

/** A bigint as a number when it is safe, so the encoder picks the small forms. */
function smallest(n: bigint): number | bigint {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}
