// The node: a name, a creation, a listen socket registered with EPMD, the
// connection table (peers.ts), the process tables (registry.ts), links,
// monitors and exit signals (signals.ts, their one owner), the busy policy
// (busy.ts), nodedown handling, the peer status stream, the memory guard,
// observability (diagnostics.ts) and the built-in net_kernel. Incoming
// control messages are handled in dispatch.ts, which is given the tables
// and does not know this class.
//
// The path of a message to a remote pid, each step a plain call that never
// calls back into the node (8 functions up to the socket's writer):
//   LocalProcess.send -> NodeCore.sendFrom -> NodeCore.route (local delivery
//   ends here) -> Peers.send (queued here while dialing) -> toWire (picks
//   SEND_SENDER or SEND; ctrl.* builds the tuple) -> DistConnection.send ->
//   DistConnection.queue (the encoder makes the frame) -> SocketWriter.write,
//   whose flush writes the turn's frames to the socket in one writev.
import { EventEmitter } from 'node:events';
import { Atom, Pid, Reference, Tuple, atom, type Term } from '../etf/types.js';
import { DistError, ctrl, type ControlMessage, type DistConnection, type SpawnRequestSignal } from '../dist/index.js';
import { deadline, type WaitOptions } from '../deadline.js';
import { NodeError } from './errors.js';
import { Peers } from './peers.js';
import { Registry, checkName } from './registry.js';
import { Signals } from './signals.js';
import { StatusStream, reconnectPolicy, type PeerStatus, type StatusOptions } from './reconnect.js';
import { dispatchControl, type DispatchTables } from './dispatch.js';
import { BusyPolicy } from './busy.js';
import { channels, type Logger } from './diagnostics.js';
import { MemoryGuard } from './guard.js';
import { genReply, parseGenCall, isAtom, type GenFrom } from './gencall.js';
import { peerOf, toWire, type MessageOut } from './wire.js';
import { LocalProcess, type MonitorTarget, type ProcessHost, type SendTarget, type SpawnOptions } from './process.js';
import { prepareNode, type NodeOptions, type NodeSetup } from './setup.js';

export type { WaitOptions } from '../deadline.js';

const NOTSUP = atom('notsup');
const SHUTDOWN = atom('shutdown');
const YES = atom('yes');

/**
 * The typed events of a node:
 * - `'nodeup'` (peer): a connection to `peer` is up (either direction).
 * - `'nodedown'` (peer, reason: DistError): it is gone; `reason.code` says why
 *   (`ERR_CONNECTION_CLOSED`, `ERR_TICK_TIMEOUT`, `ERR_DIST_PROTOCOL`, ...).
 * - `'status'` (status): every change of a peer's state, dials included
 *   (see {@link PeerStatus}; also readable as `node.status()`).
 * - `'handshakeError'` (err: DistError, peer?): a handshake failed in either
 *   direction (bad cookie, refused, timeout...), for logs.
 */
export interface NodeEvents {
  nodeup: [peer: string];
  nodedown: [peer: string, reason: DistError];
  status: [status: PeerStatus];
  handshakeError: [err: DistError, peer: string | undefined];
}

/**
 * A beambridge node: a member of an Erlang cluster. This class holds the
 * distribution and process machinery; `Node` (src/otp) adds rpc, ping,
 * gen_server calls and servers. Start one with `Node.start(...)`.
 */
// NodeCore is a ProcessHost (process.ts) structurally; the interface is internal,
// so it is not named here (stripInternal would leave a dangling reference).
export class NodeCore extends EventEmitter<NodeEvents> {
  /** The full node name, e.g. `web1@127.0.0.1`. */
  readonly name: string;
  /** The node name as an atom (what pids carry). */
  readonly nodeAtom: Atom;
  /** The creation EPMD gave this incarnation (32-bit). */
  readonly creation: number;
  /** True for a hidden node. */
  readonly hidden: boolean;
  /** The distribution listen port. */
  readonly port: number;
  /** The flags this node advertises. */
  readonly flags: bigint;
  /** The send policy for messages to a connection over its busy limit (see `NodeOptions.onBusy`). */
  readonly onBusy: 'wait' | 'error';
  /** Where the node logs (the `logger` option). */
  readonly logger: Logger;
  protected readonly peers: Peers;
  private readonly setup: NodeSetup;
  private readonly registry: Registry;
  private readonly signals: Signals;
  private readonly busyPolicy: BusyPolicy;
  private readonly tables: DispatchTables;
  private readonly guard: MemoryGuard | undefined;
  private readonly streams = new Set<StatusStream>();
  private signaller: LocalProcess | undefined;
  private stopping: Promise<void> | undefined;
  /** Why each peer last went down or could not be reached (cleared at nodeup). */
  private readonly failures = new Map<string, DistError>();

  protected constructor(s: NodeSetup) {
    super();
    this.setup = s;
    this.name = s.name.full;
    this.nodeAtom = atom(this.name);
    this.creation = s.creation;
    this.hidden = s.hidden;
    this.port = s.listenPort;
    this.flags = s.flags;
    this.onBusy = s.onBusy;
    this.logger = s.logger;
    this.busyPolicy = new BusyPolicy(s.onBusy);
    this.registry = new Registry(this.nodeAtom, this.creation);
    this.peers = new Peers(
      {
        name: this.name,
        cookie: s.cookie,
        creation: s.creation,
        flags: s.flags,
        epmd: s.epmd,
        setupTimeMs: s.setupTimeMs,
        connection: s.connection,
        tls: s.tls,
        reconnect: reconnectPolicy(s.reconnect),
        maxPendingHandshakes: s.maxPendingHandshakes,
      },
      {
        up: (c) => this.onUp(c),
        down: (c, err) => this.onDown(c, err),
        failed: (peer, err) => this.peerGone(peer, err),
        handshakeError: (err, peer) => this.onHandshakeError(err, peer),
        refused: () => this.logger.debug('incoming connection refused: maxPendingHandshakes handshakes in progress', { limit: s.maxPendingHandshakes }),
        status: (st) => this.emit('status', st),
      },
    );
    this.signals = new Signals(this.name, this.nodeAtom, this.registry, this.peers);
    this.tables = { registry: this.registry, signals: this.signals, onSpawnRequest: (c, m) => this.onSpawnRequest(c, m) };
    if (s.memoryGuard !== false) this.guard = new MemoryGuard(s.memoryGuard, this.logger, () => this.registry.all());
    s.server.removeAllListeners('connection');
    // Accept errors (e.g. EMFILE) are transient; the server keeps listening.
    s.server.on('error', () => {});
    s.server.on('connection', (sock) => this.peers.accept(sock));
    for (const sock of s.early.splice(0)) this.peers.accept(sock);
    // Keep the EPMD registration's events from becoming unhandled errors; it re-registers by itself.
    s.registration.on('error', () => {});
    s.registration.on('lost', (e: Error) => this.logger.warn(`EPMD registration lost: ${e.message}; re-registering`, { node: this.name }));
    s.registration.on('retryFailed', (e: Error) => this.logger.debug(`EPMD re-registration failed: ${e.message}`, { node: this.name }));
    this.bootNetKernel();
  }

  /** Starts a node: listens, registers with EPMD, and is ready to dial and be dialed. */
  static async start(o: NodeOptions): Promise<NodeCore> {
    return new NodeCore(await prepareNode(o));
  }

  /** @internal For subclasses' `start`; `spawn` advertises DFLAG_SPAWN (override {@link onSpawnRequest} then). */
  protected static prepare(o: NodeOptions, spawn = false): Promise<NodeSetup> {
    return prepareNode(o, spawn);
  }

  /** True once {@link stop} was called. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** The EPMD this node is registered with. */
  get epmdPort(): number {
    return this.setup.epmd.port;
  }

  /** Names of the connected peers (Erlang's `nodes(connected)`). */
  nodes(): string[] {
    return [...this.peers.conns.keys()];
  }

  /** Why `peer` last went down or could not be reached, until it is up again. */
  lastError(peer: string): DistError | undefined {
    return this.failures.get(peer);
  }

  /** The live connection to a peer (for its flags and counters), if any. */
  connection(peer: string): DistConnection | undefined {
    return this.peers.live(peer);
  }

  /** Signals (messages included) waiting for a connection to `peer` that is being made. */
  queued(peer: string): number {
    return this.peers.queued(peer);
  }

  /**
   * Counters of the node's defences: `pendingHandshakes` (incoming
   * handshakes in progress), `refusedHandshakes` (connections closed at once
   * because `maxPendingHandshakes` were in progress), `droppedMessages`
   * (messages to peers that could not be reached), `overloaded` (the memory
   * guard refuses new work) and `shed` (processes the guard ended).
   */
  get health(): { pendingHandshakes: number; refusedHandshakes: number; droppedMessages: number; overloaded: boolean; shed: number } {
    return {
      pendingHandshakes: this.peers.handshakes,
      refusedHandshakes: this.peers.refusedHandshakes,
      droppedMessages: this.peers.droppedMessages,
      overloaded: this.guard?.overloaded ?? false,
      shed: this.guard?.shed ?? 0,
    };
  }

  /**
   * The peers' state changes as an async iterable, from now on:
   * `{ peer, state: 'connecting' | 'up' | 'down', ... }` (see
   * {@link PeerStatus}). Ends when the node stops, when `signal` fires, or
   * when the loop breaks. The same changes are emitted as `'status'` events.
   *
   * ```ts
   * for await (const s of node.status()) console.log(s.peer, s.state)
   * ```
   */
  status(o: StatusOptions = {}): AsyncIterableIterator<PeerStatus> {
    const onStatus = (st: PeerStatus) => stream.push(st);
    const stream: StatusStream = new StatusStream(() => {
      this.off('status', onStatus);
      this.streams.delete(stream);
      d.clear();
    }, o.maxQueued);
    this.on('status', onStatus);
    this.streams.add(stream);
    const d = deadline({ signal: o.signal }, () => {}, () => stream.end());
    if (this.stopping) stream.end();
    return stream;
  }

  // ---------------------------------------------------------------- processes

  /**
   * Creates a process (a pid with a mailbox), optionally registered under
   * `name`. Throws `ERR_NODE_STOPPED`, `ERR_OVERLOADED` (the memory guard is
   * refusing new work), `ERR_NAME_TAKEN` or `ERR_BAD_NAME`.
   */
  spawn(o: SpawnOptions = {}): LocalProcess {
    this.checkRunning();
    if (this.guard?.overloaded) {
      throw new NodeError('ERR_OVERLOADED', `node ${this.name} is overloaded: the heap is over the memory guard; new work is refused`);
    }
    if (o.name !== undefined) checkName(o.name);
    const p = new LocalProcess(this as ProcessHost, this.registry.newPid(), { ...o, mailboxLimit: o.mailboxLimit ?? this.setup.mailboxLimit });
    this.registry.add(p);
    if (o.name !== undefined) this.registry.register(o.name, p);
    return p;
  }

  /** Registers a live process under `name` (Erlang's `register/2`). Throws `ERR_NAME_TAKEN` or `ERR_BAD_NAME`. */
  register(name: string, p: LocalProcess): void {
    this.registry.register(name, p);
  }

  /** Removes a registered name; returns true if it was registered. */
  unregister(name: string): boolean {
    return this.registry.unregister(name);
  }

  /** The process registered under `name` (Erlang's `whereis/1`). */
  whereis(name: string): LocalProcess | undefined {
    return this.registry.byName(name);
  }

  /** Registered names (Erlang's `registered/0`). */
  registered(): string[] {
    return this.registry.registered();
  }

  /** The local process with this pid, if alive. */
  process(pid: Pid): LocalProcess | undefined {
    return this.registry.process(pid);
  }

  /** Live processes on this node. */
  get processCount(): number {
    return this.registry.size;
  }

  /** A new reference of this node (NEWER_REFERENCE_EXT, three words as OTP makes them). */
  makeRef(): Reference {
    return this.registry.makeRef();
  }

  /**
   * Sends an exit signal to `target`, local or remote (Erlang's
   * `exit(Pid, Reason)`, EXIT2 on the wire; a string reason becomes an atom).
   * `kill` cannot be trapped and ends the target with `killed`; `normal` is
   * ignored by a process that does not trap exits; a process that traps
   * exits gets `{'EXIT', From, Reason}`. The sender is `from`, or a process
   * of the node itself.
   */
  exit(target: Pid, reason: Term, o: { from?: LocalProcess } = {}): void {
    this.checkRunning();
    (o.from ?? this.systemProcess()).sendExit(target, reason);
  }

  /** A process of the node itself, the sender of signals no user process sends (`exit`, casts). */
  protected systemProcess(): LocalProcess {
    if (!this.signaller?.alive) this.signaller = this.spawn();
    return this.signaller;
  }

  // ------------------------------------------------------------- connections

  /**
   * Connects to `peer` unless connected (at once, whatever the reconnect
   * backoff). Rejects with the `DistError` of the failure (`ERR_BAD_COOKIE`,
   * `ERR_NODE_NOT_FOUND` for pang, `ERR_HANDSHAKE_REFUSED`, `ERR_UNREACHABLE`,
   * `ERR_TLS`, ...), or `ERR_TIMEOUT` / `ERR_ABORTED`.
   */
  async connect(peer: string, o: WaitOptions = {}): Promise<void> {
    this.checkRunning();
    if (peer === this.name) return;
    await this.peers.connect(peer, o);
  }

  /** Closes the connection to `peer` (Erlang's `disconnect_node/1`); true if it was connected. */
  disconnect(peer: string): boolean {
    return this.peers.disconnect(peer);
  }

  /**
   * Resolves when the connection to `peer` is below its busy limit (at once
   * when it is, or when there is no connection). Use it to pace large sends.
   * Rejects with `ERR_TIMEOUT` after `timeoutMs`, or `ERR_ABORTED`.
   */
  async waitWritable(peer: string, o: WaitOptions = {}): Promise<void> {
    const c = this.peers.live(peer);
    if (c?.busy) await this.busyPolicy.whenRoom(c, peer, o, undefined, 'ERR_TIMEOUT');
  }

  /**
   * Stops the node: closes every connection (peers see their links and
   * monitors to us fire with `noconnection`, and our processes linked to
   * theirs die with `noconnection`), ends the other processes with
   * `shutdown`, stops listening, unregisters from EPMD and stops the embedded
   * EPMD if this node started it. Status iterators end. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.guard?.stop();
    this.peers.stop();
    for (const p of this.registry.all()) p.exit(SHUTDOWN);
    for (const st of [...this.streams]) st.end();
    const s = this.setup;
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
    await s.registration.close();
    if (s.embeddedEpmd) await s.embeddedEpmd.close();
  }

  // ---------------------------------------------------- ProcessHost (sending)

  /** @internal */
  sendFrom(from: LocalProcess, to: SendTarget, msg: Term): boolean {
    const o = this.route(from, to, msg);
    if (channels.send.hasSubscribers) channels.send.publish({ node: this.name, from: from.pid, to, peer: o && peerOf(o), message: msg });
    if (o === undefined) return true;
    const peer = peerOf(o);
    this.busyPolicy.admit(this.peers.live(peer), peer);
    return this.peers.send(peer, o);
  }

  /**
   * @internal A message from one of the node's own servers (rex, the io
   * server...): never refused by the busy policy and never throws; dropped
   * when it cannot be routed.
   */
  post(from: LocalProcess, to: Pid, msg: Term): void {
    if (!from.alive) return;
    const o = this.route(from, to, msg);
    if (o !== undefined) this.peers.send(peerOf(o), o);
  }

  /** @internal */
  async sendFromAsync(from: LocalProcess, to: SendTarget, msg: Term, o: WaitOptions): Promise<void> {
    const out = this.route(from, to, msg);
    if (out === undefined) return;
    const peer = peerOf(out);
    const c = this.peers.live(peer);
    if (!c) {
      this.peers.send(peer, out);
      return;
    }
    const sig = toWire(out, c.flags);
    if (sig) await this.busyPolicy.whenRoom(c, peer, o, sig, 'ERR_BUSY');
  }

  /** Delivers a local send; for a remote one, returns the signal to send. */
  private route(from: LocalProcess, to: SendTarget, msg: Term): MessageOut | undefined {
    if (to instanceof Pid) {
      if (to.node === this.nodeAtom) {
        this.registry.process(to)?.deliver(msg);
        return undefined;
      }
      return { kind: 'send', from: from.pid, to, msg };
    }
    if (to instanceof Reference) {
      if (to.node === this.nodeAtom) {
        this.registry.byAlias(to)?.deliver(msg);
        return undefined;
      }
      return { kind: 'alias_send', from: from.pid, to, msg };
    }
    if (typeof to === 'string' || to instanceof Atom) {
      this.sendLocalName(nameOf(to), msg);
      return undefined;
    }
    if (typeof to === 'object' && to !== null && 'name' in to && 'node' in to) {
      const node = nameOf(to.node);
      const name = atom(nameOf(to.name));
      if (node === this.name) {
        this.sendLocalName(name.name, msg);
        return undefined;
      }
      return { kind: 'reg_send', from: from.pid, to: name, node, msg };
    }
    throw new NodeError('ERR_BAD_TARGET', 'send target must be a Pid, a Reference, a name or { name, node }');
  }

  private sendLocalName(name: string, msg: Term): void {
    const p = this.registry.byName(name);
    // Erlang's `Name ! Msg` raises badarg for an unregistered local name.
    if (!p) throw new NodeError('ERR_BAD_TARGET', `no process is registered as ${name}`);
    p.deliver(msg);
  }

  /**
   * Replies to a gen_server-style caller: `{Tag, Reply}` to the caller's
   * alias by ALIAS_SEND when the tag carries one and the connection has
   * DFLAG_ALIAS, else to its pid.
   */
  replyTo(from: GenFrom, reply: Term, sender: LocalProcess): void {
    const { to, message } = genReply(from, reply);
    if (from.pid.node === this.nodeAtom) {
      if (to instanceof Reference) this.registry.byAlias(to)?.deliver(message);
      else this.registry.process(to)?.deliver(message);
      return;
    }
    this.peers.send(from.pid.node.name, { kind: 'reply', from: sender.pid, to: from.pid, alias: from.alias, msg: message });
  }

  // ------------------------------------------- ProcessHost (links, monitors)

  /** @internal */
  monitorFrom(from: LocalProcess, target: MonitorTarget, ref: Reference): void {
    this.signals.monitor(from, target, ref);
  }

  /** @internal */
  demonitorFrom(from: LocalProcess, ref: Reference): boolean {
    return this.signals.demonitor(from, ref);
  }

  /** @internal */
  linkFrom(from: LocalProcess, to: Pid): void {
    this.signals.link(from, to);
  }

  /** @internal */
  unlinkFrom(from: LocalProcess, to: Pid): void {
    this.signals.unlink(from, to);
  }

  /** @internal */
  exit2From(from: LocalProcess, to: Pid, reason: Term): void {
    this.signals.exit2(from, to, reason);
  }

  /** @internal */
  addAlias(p: LocalProcess, ref: Reference): void {
    this.registry.addAlias(p, ref);
  }

  /** @internal */
  removeAlias(ref: Reference): void {
    this.registry.removeAlias(ref);
  }

  /** @internal A process died: clean the tables and signal its links and monitors. */
  onExit(p: LocalProcess, reason: Term): void {
    this.registry.remove(p);
    this.signals.exited(p, reason);
  }

  /** @internal A mailbox overflowed its bound (the process exits with `mailbox_overflow`). */
  onOverflow(p: LocalProcess): void {
    this.logger.warn(`process ${p.pid}${p.name ? ` (${p.name})` : ''} exits with mailbox_overflow: ${p.mailbox.size} messages queued`, {
      pid: String(p.pid),
      limit: p.mailboxLimit,
    });
  }

  /** @internal A mailbox grew by another BACKLOG_STEP messages: the memory guard samples now. */
  onBacklog(): void {
    this.guard?.check();
  }

  // ----------------------------------------------------------- incoming side

  private onUp(c: DistConnection): void {
    c.on('message', (m: ControlMessage) => {
      try {
        dispatchControl(this.tables, c, m);
      } catch (e) {
        // A message we cannot act on (e.g. a term that cannot be re-encoded in a reply) drops only this connection.
        c.close(new DistError('ERR_DIST_PROTOCOL', `${c.peer}: cannot handle ${m.kind}: ${(e as Error).message}`, { cause: e, peer: c.peer }));
      }
    });
    this.failures.delete(c.peer);
    this.logger.info(`nodeup ${c.peer}`, { peer: c.peer, initiator: c.initiator });
    if (channels.connectionUp.hasSubscribers) channels.connectionUp.publish({ node: this.name, peer: c.peer, initiator: c.initiator, flags: c.flags });
    this.emit('nodeup', c.peer);
  }

  private onDown(c: DistConnection, err: DistError | undefined): void {
    const reason = err ?? new DistError('ERR_CONNECTION_CLOSED', `disconnected from ${c.peer}`, { peer: c.peer });
    // Whatever replaces this connection starts with no links or monitors: everything across this one fires now.
    this.peerGone(c.peer, reason);
    this.logger.info(`nodedown ${c.peer}: ${reason.message}`, { peer: c.peer, code: reason.code });
    if (channels.connectionDown.hasSubscribers) channels.connectionDown.publish({ node: this.name, peer: c.peer, error: reason });
    this.emit('nodedown', c.peer, reason);
  }

  private onHandshakeError(err: DistError, peer: string | undefined): void {
    this.logger.warn(`handshake${peer ? ` with ${peer}` : ''} failed: ${err.message}`, { peer, code: err.code });
    if (channels.handshakeError.hasSubscribers) channels.handshakeError.publish({ node: this.name, peer, error: err });
    this.emit('handshakeError', err, peer);
  }

  /** The peer is unreachable: every link and monitor across it fires with noconnection, as OTP does. */
  private peerGone(peer: string, err: DistError): void {
    this.failures.set(peer, err);
    this.signals.peerGone(peer);
  }

  /**
   * @internal A SPAWN_REQUEST arrived on `c`. NodeCore does not advertise
   * DFLAG_SPAWN and refuses it with `notsup`; `Node` (src/otp) overrides
   * this to run exposed functions and erpc.
   */
  onSpawnRequest(c: DistConnection, m: SpawnRequestSignal): void {
    this.refuseSpawn(c, m, NOTSUP);
  }

  /** @internal Answers a SPAWN_REQUEST with an error atom (`notsup`, `badopt`, `system_limit`...). */
  refuseSpawn(c: DistConnection, m: SpawnRequestSignal, reason: Atom): void {
    if (!c.closed) c.sendSignal(ctrl.spawnReply(m.reqId, m.from, 0, reason));
  }

  /** @internal True while the memory guard refuses new work. */
  get overloaded(): boolean {
    return this.guard?.overloaded ?? false;
  }

  /**
   * @internal Creates the process a SPAWN_REQUEST asks for: its group
   * leader, the `link` and `monitor` options set up here (the monitor's
   * reference is the request id), and the SPAWN_REPLY with the new pid and
   * the flags of what was set up, sent before anything else from it.
   */
  acceptSpawn(c: DistConnection, m: SpawnRequestSignal): LocalProcess {
    const p = this.spawn();
    p.groupLeader = m.groupLeader;
    c.sendSignal(ctrl.spawnReply(m.reqId, m.from, this.signals.spawnOptions(c.peer, p, m), p.pid));
    return p;
  }

  /** net_kernel: answers `{is_auth, Node}` with `yes` (net_adm:ping); other requests are ignored, as OTP's net_kernel ignores unknown calls. */
  private bootNetKernel(): void {
    const nk = this.spawn({ name: 'net_kernel' });
    void (async () => {
      for await (const m of nk) {
        const call = parseGenCall(m);
        if (call && call.request instanceof Tuple && call.request.elements.length === 2 && isAtom(call.request.elements[0], 'is_auth')) {
          this.replyTo(call.from, YES, nk);
        }
      }
    })().catch(() => {});
  }

  private checkRunning(): void {
    if (this.stopping) throw new NodeError('ERR_NODE_STOPPED', `node ${this.name} is stopped`);
  }
}

function nameOf(x: string | Atom): string {
  return typeof x === 'string' ? x : x.name;
}
