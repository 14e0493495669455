// A beambridge process: a pid on this node with a mailbox (optionally
// bounded), its aliases, and the tables of its links and monitors, which only
// signals.ts changes (the process asks the node, the ProcessHost below, for
// every link, unlink, monitor, demonitor and exit signal). Everything that
// crosses the network goes through the node.
import { Atom, Pid, Reference, Tuple, atom, type Term } from '../etf/types.js';
import { isPattern, pattern as compilePattern, type Bindings, type Pattern } from '../etf/pattern.js';
import { NodeError } from './errors.js';
import { Mailbox, type ReceiveOptions } from './mailbox.js';

/**
 * Where a message goes: a pid (local or remote), an alias (a `Reference`),
 * a name registered on this node (`'listener'` or `atom('listener')`), or a
 * name registered on another node (`{ name, node }`).
 */
export type SendTarget = Pid | Reference | string | Atom | RemoteName;

/** A name registered on a node. */
export interface RemoteName {
  name: string | Atom;
  node: string | Atom;
}

/** What a process may monitor: a pid, a local name, or a name on a node. */
export type MonitorTarget = Pid | string | Atom | RemoteName;

/** @internal The node services a process uses. Implemented by NodeCore. */
export interface ProcessHost {
  readonly nodeAtom: Atom;
  makeRef(): Reference;
  /** Sends `msg` from `from`; returns false when the connection is over its busy limit. */
  sendFrom(from: LocalProcess, to: SendTarget, msg: Term): boolean;
  /** Sends `msg` from `from` once the connection has room. */
  sendFromAsync(from: LocalProcess, to: SendTarget, msg: Term, o: { timeoutMs?: number; signal?: AbortSignal }): Promise<void>;
  /** An exit signal from `from` to `to` (EXIT2). */
  exit2From(from: LocalProcess, to: Pid, reason: Term): void;
  monitorFrom(from: LocalProcess, target: MonitorTarget, ref: Reference): void;
  /** Removes a monitor `from` holds; true if it was active. */
  demonitorFrom(from: LocalProcess, ref: Reference): boolean;
  linkFrom(from: LocalProcess, to: Pid): void;
  unlinkFrom(from: LocalProcess, to: Pid): void;
  addAlias(p: LocalProcess, ref: Reference): void;
  removeAlias(ref: Reference): void;
  /** The process died: unregister it and send its exit to links and monitors. */
  onExit(p: LocalProcess, reason: Term): void;
  /** The process's mailbox overflowed its bound (the process then exits with `mailbox_overflow`). */
  onOverflow(p: LocalProcess): void;
  /** The mailbox grew by another {@link BACKLOG_STEP} messages (the memory guard samples the heap at once). */
  onBacklog(p: LocalProcess): void;
}

/**
 * Every this many queued messages a growing mailbox tells its host: a flood
 * can fill the heap between two of the memory guard's timer samples (timers
 * run late when V8 is busy collecting), so the guard also samples on growth.
 */
export const BACKLOG_STEP = 4096;

/** A monitor this process holds on another process. */
export interface OutgoingMonitor {
  ref: Reference;
  /** What goes in the DOWN message: the pid, or `{Name, Node}`. */
  object: Pid | Tuple;
  /** What MONITOR_P / DEMONITOR_P name: the pid, or the name atom. */
  target: Pid | Atom;
  /** The peer node, or undefined for a local target. */
  peer: string | undefined;
}

/** A monitor another process holds on this one. */
export interface IncomingMonitor {
  ref: Reference;
  watcher: Pid;
  /** Set when the monitor was made by registered name (the DOWN then names it). */
  name: Atom | undefined;
}

/** A link of this process. `unlinking` is the id of our UNLINK_ID awaiting its ack. */
export interface LinkEntry {
  pid: Pid;
  unlinking: bigint | undefined;
}

const NORMAL = atom('normal');
const DOWN = atom('DOWN');
/** The exit reason of a process whose mailbox overflowed its bound. */
export const MAILBOX_OVERFLOW = atom('mailbox_overflow');

/** A stable string key for a pid (any node). */
export function pidKey(p: Pid): string {
  return `${p.node.name}|${p.creation}|${p.id}|${p.serial}`;
}

/** A stable string key for a reference (any node). */
export function refKey(r: Reference): string {
  const i = r.ids;
  // Three words (what OTP and this node make) without Array#join.
  return i.length === 3 ? `${r.node.name}|${r.creation}|${i[0]}.${i[1]}.${i[2]}` : `${r.node.name}|${r.creation}|${i.join('.')}`;
}

/** True when `a` and `b` are the same reference (what {@link refKey} says, without building the keys). */
export function sameRef(a: Reference, b: Reference): boolean {
  if (a === b) return true;
  if (a.node !== b.node || a.creation !== b.creation) return false;
  const x = a.ids;
  const y = b.ids;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Options of `node.spawn`. */
export interface SpawnOptions {
  /** Register the process under this name on the node. */
  name?: string;
  /** Exit signals become `{'EXIT', From, Reason}` messages (Erlang's trap_exit); default false. */
  trapExit?: boolean;
  /**
   * Most messages the mailbox may hold; default the node's `mailboxLimit`
   * (none unless set). A message that arrives when the mailbox is full makes
   * the process exit with reason `mailbox_overflow` (it cannot be trapped):
   * its links get that exit signal and its monitors a DOWN with that reason,
   * and the queued messages are dropped. `Infinity` lifts the node's bound.
   */
  mailboxLimit?: number;
}

/**
 * A process on this node: a pid and a mailbox. Messages sent to its pid, its
 * registered name or its aliases arrive in the mailbox, from Erlang or from
 * other local processes.
 *
 * ```ts
 * const p = node.spawn({ name: 'listener' })
 * p.send({ name: 'chat_channel', node: 'stub@127.0.0.1' }, msg)
 * const m = await p.receive({ timeoutMs: 1000, match: (m) => ... })
 * for await (const m of p) { ... }   // ends when the process exits normally
 * p.exit()                           // or p.exit(reason)
 * ```
 *
 * A process dies when {@link exit} is called, when a non-normal exit signal
 * reaches it without {@link trapExit} (through a link, or `exit/2`), or when
 * the node stops. Receives then reject with `ERR_PROCESS_EXITED`.
 */
export class LocalProcess implements AsyncIterable<Term> {
  /** This process's pid. */
  readonly pid: Pid;
  /** The mailbox (for its counters; use the methods of the process to receive). */
  readonly mailbox = new Mailbox();
  /** When true, exit signals arrive as `{'EXIT', From, Reason}` messages instead of killing the process. */
  trapExit: boolean;
  /** The group leader set by a GROUP_LEADER signal, if any. */
  groupLeader: Pid | undefined;
  /** @internal The registered name, maintained by the node. */
  registeredName: string | undefined;
  /** The mailbox bound (see {@link SpawnOptions.mailboxLimit}); `Infinity` for none. */
  readonly mailboxLimit: number;
  /** @internal Links, by pid key (changed only by signals.ts). */
  readonly links = new Map<string, LinkEntry>();
  /** @internal Monitors this process holds, by ref key (changed only by signals.ts). */
  readonly monitors = new Map<string, OutgoingMonitor>();
  /** @internal Monitors on this process, by ref key (changed only by signals.ts). */
  readonly monitoredBy = new Map<string, IncomingMonitor>();
  /** @internal Active aliases, by ref key. */
  readonly aliases = new Map<string, Reference>();
  private exitReason: Term | undefined;
  private dead = false;

  /** @internal Use `node.spawn`. */
  constructor(
    private readonly host: ProcessHost,
    pid: Pid,
    o: SpawnOptions = {},
  ) {
    this.pid = pid;
    this.trapExit = o.trapExit ?? false;
    this.mailboxLimit = o.mailboxLimit ?? Infinity;
  }

  /** The name this process is registered under, if any. */
  get name(): string | undefined {
    return this.registeredName;
  }

  /** False once the process has exited. */
  get alive(): boolean {
    return !this.dead;
  }

  /** The exit reason once dead. */
  get reason(): Term | undefined {
    return this.exitReason;
  }

  /**
   * Sends `msg` to `to` (Erlang's `To ! Msg`). A remote node that is not
   * connected is dialed first, as Erlang does; messages wait in order until
   * the connection is up, and are dropped if it cannot be made within the
   * node's reconnect policy (OTP drops them at once). Sending from a dead
   * process, or to a dead or unknown process, is a no-op.
   *
   * Backpressure (the node's `onBusy` policy): under `'wait'` (default) the
   * message is always queued, and false means the connection's send buffer
   * is over its busy limit: wait with `node.waitWritable(peer)`, or use
   * {@link sendAsync}. Under `'error'` a send to a connection already over
   * the limit throws NodeError `ERR_BUSY` and queues nothing.
   */
  send(to: SendTarget, msg: Term): boolean {
    if (this.dead) return true;
    return this.host.sendFrom(this, to, msg);
  }

  /**
   * {@link send} that waits for room: resolves once the message is queued
   * on a connection below its busy limit (at once when it is, or when the
   * target is local or still being connected). Successive `sendAsync` calls
   * keep their order. Rejects with NodeError `ERR_BUSY` after `timeoutMs`,
   * or `ERR_ABORTED`. A connection lost meanwhile drops the message, as OTP
   * does.
   */
  sendAsync(to: SendTarget, msg: Term, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.dead) return Promise.resolve();
    return this.host.sendFromAsync(this, to, msg, o);
  }

  /**
   * Sends an exit signal to another process (Erlang's `exit(Pid, Reason)`):
   * `kill` ends it with `killed` even if it traps exits, `normal` is ignored
   * unless it traps exits, anything else ends it unless it traps exits (then
   * it gets `{'EXIT', ThisPid, Reason}`). A string reason becomes an atom.
   */
  sendExit(to: Pid, reason: Term): void {
    if (this.dead) return;
    this.host.exit2From(this, to, typeof reason === 'string' ? atom(reason) : reason);
  }

  /**
   * Waits for a message; see {@link ReceiveOptions}. Rejects with `ERR_TIMEOUT`,
   * `ERR_ABORTED` or `ERR_PROCESS_EXITED`. `match` is a predicate (resolves
   * with the message), or an Erlang pattern, as a string or from `pattern`
   * (resolves with its variables, like Erlang's `receive`):
   *
   * ```ts
   * const { User, Seq } = await p.receive({ match: '{chat_event, User, #{seq := Seq}}', timeoutMs: 5000 });
   * const { Reply } = await p.receive({ match: pattern`{reply, ${ref}, Reply}` });
   * const whole = await p.receive({ match: 'M = {ok, _}' });   // { M: the message }
   * ```
   */
  receive(o?: ReceiveOptions): Promise<Term>;
  receive<const S extends string>(o: Omit<ReceiveOptions, 'match'> & { match: S }): Promise<Bindings<S>>;
  receive<B>(o: Omit<ReceiveOptions, 'match'> & { match: Pattern<B> }): Promise<B>;
  receive(o?: Omit<ReceiveOptions, 'match'> & { match?: ReceiveOptions['match'] | string | Pattern<unknown> }): Promise<unknown> {
    const m = o?.match;
    if (typeof m !== 'string' && !isPattern(m)) return this.mailbox.receive(o as ReceiveOptions);
    const pat = typeof m === 'string' ? compilePattern(m) : m;
    return this.mailbox.receive({ ...o, match: (x) => pat.test(x) }).then((x) => pat.match(x));
  }

  /** Messages as they arrive; ends when the process exits normally, throws when it is killed. */
  [Symbol.asyncIterator](): AsyncIterator<Term> {
    return this.mailbox[Symbol.asyncIterator]();
  }

  /**
   * Monitors a process (Erlang's `monitor(process, Target)`). When it exits,
   * or is unknown, or its node goes down, `{'DOWN', Ref, process, Object,
   * Reason}` arrives in the mailbox (`Object` is the pid, or `{Name, Node}`
   * for a monitor by name; `Reason` is `noproc` or `noconnection` in those
   * cases). Returns the monitor reference.
   */
  monitor(target: MonitorTarget): Reference {
    const ref = this.host.makeRef();
    if (this.dead) return ref;
    this.host.monitorFrom(this, target, ref);
    return ref;
  }

  /**
   * Removes a monitor (Erlang's `demonitor/2`). With `flush`, a DOWN for it
   * already in the mailbox is removed too. Returns true if the monitor was active.
   */
  demonitor(ref: Reference, o: { flush?: boolean } = {}): boolean {
    const active = this.host.demonitorFrom(this, ref);
    if (o.flush) this.mailbox.take((x) => isDown(x, ref));
    return active;
  }

  /** Links to another process (Erlang's `link/1`): when one exits, the other gets the exit signal. */
  link(to: Pid): void {
    this.host.linkFrom(this, to);
  }

  /** Removes a link (Erlang's `unlink/1`, the UNLINK_ID protocol with the peer). */
  unlink(to: Pid): void {
    this.host.unlinkFrom(this, to);
  }

  /**
   * Creates an alias (Erlang's `alias/0`): a reference that others can send
   * to, reaching this process until {@link unalias}.
   */
  alias(): Reference {
    const ref = this.host.makeRef();
    if (this.dead) return ref;
    this.aliases.set(refKey(ref), ref);
    this.host.addAlias(this, ref);
    return ref;
  }

  /** Deactivates an alias; returns true if it was active. */
  unalias(ref: Reference): boolean {
    const k = refKey(ref);
    if (!this.aliases.delete(k)) return false;
    this.host.removeAlias(ref);
    return true;
  }

  /**
   * Ends the process with `reason` (default `normal`; a string becomes an
   * atom). Links get the exit signal, monitors a DOWN, and pending receives
   * reject with `ERR_PROCESS_EXITED`. Idempotent.
   */
  exit(reason: Term = NORMAL): void {
    this.die(typeof reason === 'string' ? atom(reason) : reason);
  }

  /** @internal Delivers a message; false when dead (or when it overflowed the bound, which ends the process). */
  deliver(msg: Term): boolean {
    if (this.mailbox.size >= this.mailboxLimit && !this.dead) {
      this.host.onOverflow(this);
      this.die(MAILBOX_OVERFLOW);
      return false;
    }
    const ok = this.mailbox.push(msg);
    const n = this.mailbox.size;
    if (n !== 0 && n % BACKLOG_STEP === 0) this.host.onBacklog(this);
    return ok;
  }

  private die(reason: Term): void {
    if (this.dead) return;
    this.dead = true;
    this.exitReason = reason;
    this.mailbox.close(() => new NodeError('ERR_PROCESS_EXITED', `process ${this.pid} exited`, { reason }), reason === NORMAL);
    this.host.onExit(this, reason);
  }
}

/** True for `{'DOWN', ref, ...}`. */
export function isDown(m: Term, ref?: Reference): boolean {
  return (
    m instanceof Tuple &&
    m.elements.length === 5 &&
    m.elements[0] === DOWN &&
    (ref === undefined || (m.elements[1] instanceof Reference && sameRef(m.elements[1], ref)))
  );
}
