// The node: a name, a creation, a listen socket registered with EPMD, the
// connection table (peers.ts), the process table (pids, registered names,
// aliases), the outgoing side of links and monitors, nodedown handling, and
// the built-in net_kernel. Incoming control messages are handled in
// dispatch.ts.
//
// Tables, and how issue 5 builds on them: every LocalProcess keeps its own
// links (with the UNLINK_ID in flight), the monitors it holds, the monitors on
// it and its aliases; the node keeps pid -> process, name -> process,
// alias -> process, and per peer the processes with links or monitors across
// it (`watchers`), so a nodedown fires exactly those with `noconnection`.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Atom, Pid, Reference, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { DFLAG, DistError, ctrl, hasFlag, type ControlMessage, type DistConnection, type OutgoingSignal } from '../dist/index.js';
import { NodeError, abortError } from './errors.js';
import { Peers } from './peers.js';
import { dispatchControl } from './dispatch.js';
import { genReply, parseGenCall, isAtom, type GenFrom } from './gencall.js';
import {
  LocalProcess,
  pidKey,
  refKey,
  type MonitorTarget,
  type OutgoingMonitor,
  type ProcessHost,
  type SendTarget,
  type SpawnOptions,
} from './process.js';
import { prepareNode, type NodeOptions, type NodeSetup } from './setup.js';

const NOPROC = atom('noproc');
const NOCONNECTION = atom('noconnection');
const SHUTDOWN = atom('shutdown');
const YES = atom('yes');

/** Options of waits on the node: a deadline and a cancellation signal. */
export interface WaitOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The typed events of a node:
 * - `'nodeup'` (peer): a connection to `peer` is up (either direction).
 * - `'nodedown'` (peer, reason: DistError): it is gone; `reason.code` says why
 *   (`ERR_CONNECTION_CLOSED`, `ERR_TICK_TIMEOUT`, `ERR_DIST_PROTOCOL`, ...).
 * - `'handshakeError'` (err: DistError, peer?): a handshake failed in either
 *   direction (bad cookie, refused, timeout...), for logs.
 */
export interface NodeEvents {
  nodeup: [peer: string];
  nodedown: [peer: string, reason: DistError];
  handshakeError: [err: DistError, peer: string | undefined];
}

/**
 * A beambridge node: a member of an Erlang cluster. This class holds the
 * distribution and process machinery; `Node` (src/otp) adds rpc, ping and
 * gen_server calls. Start one with `Node.start(...)`.
 */
export class NodeCore extends EventEmitter<NodeEvents> implements ProcessHost {
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
  protected readonly peers: Peers;
  private readonly setup: NodeSetup;
  private readonly procs = new Map<number, LocalProcess>();
  private readonly names = new Map<string, LocalProcess>();
  private readonly aliasTable = new Map<string, LocalProcess>();
  /** Processes with links or monitors across each peer (for nodedown). */
  private readonly watchers = new Map<string, Set<LocalProcess>>();
  private nextId = 0;
  private nextSerial = 0;
  private refCount = 0;
  private readonly refSalt = randomBytes(4).readUInt32BE(0);
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
    this.peers = new Peers(
      {
        name: this.name,
        cookie: s.cookie,
        creation: s.creation,
        flags: s.flags,
        epmd: s.epmd,
        setupTimeMs: s.setupTimeMs,
        connection: s.connection,
      },
      {
        up: (c) => this.onUp(c),
        down: (c, err) => this.onDown(c, err),
        failed: (peer, err) => this.peerGone(peer, err),
        handshakeError: (err, peer) => this.emit('handshakeError', err, peer),
      },
    );
    s.server.removeAllListeners('connection');
    // Accept errors (e.g. EMFILE) are transient; the server keeps listening.
    s.server.on('error', () => {});
    s.server.on('connection', (sock) => this.peers.accept(sock));
    for (const sock of s.early.splice(0)) this.peers.accept(sock);
    // Keep the EPMD registration's events from becoming unhandled errors; it re-registers by itself.
    s.registration.on('error', () => {});
    this.bootNetKernel();
  }

  /** Starts a node: listens, registers with EPMD, and is ready to dial and be dialed. */
  static async start(o: NodeOptions): Promise<NodeCore> {
    return new NodeCore(await prepareNode(o));
  }

  /** @internal For subclasses' `start`. */
  protected static prepare(o: NodeOptions): Promise<NodeSetup> {
    return prepareNode(o);
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

  // ---------------------------------------------------------------- processes

  /** Creates a process (a pid with a mailbox), optionally registered under `name`. */
  spawn(o: SpawnOptions = {}): LocalProcess {
    this.checkRunning();
    if (o.name !== undefined) this.checkName(o.name);
    const p = new LocalProcess(this, this.newPid(), o);
    this.procs.set(p.pid.id * 8192 + p.pid.serial, p);
    if (o.name !== undefined) this.register(o.name, p);
    return p;
  }

  /** Registers a live process under `name` (Erlang's `register/2`). Throws `ERR_NAME_TAKEN` or `ERR_BAD_NAME`. */
  register(name: string, p: LocalProcess): void {
    this.checkName(name);
    if (!p.alive) throw new NodeError('ERR_PROCESS_EXITED', `cannot register ${name}: process ${p.pid} is dead`, { reason: p.reason });
    const cur = this.names.get(name);
    if (cur && cur !== p) throw new NodeError('ERR_NAME_TAKEN', `${name} is already registered to ${cur.pid}`);
    if (p.registeredName !== undefined && p.registeredName !== name) {
      throw new NodeError('ERR_NAME_TAKEN', `${p.pid} is already registered as ${p.registeredName}`);
    }
    this.names.set(name, p);
    p.registeredName = name;
  }

  /** Removes a registered name; returns true if it was registered. */
  unregister(name: string): boolean {
    const p = this.names.get(name);
    if (!p) return false;
    this.names.delete(name);
    p.registeredName = undefined;
    return true;
  }

  /** The process registered under `name` (Erlang's `whereis/1`). */
  whereis(name: string): LocalProcess | undefined {
    return this.names.get(name);
  }

  /** Registered names (Erlang's `registered/0`). */
  registered(): string[] {
    return [...this.names.keys()];
  }

  /** The local process with this pid, if alive. */
  process(pid: Pid): LocalProcess | undefined {
    if (pid.node !== this.nodeAtom || pid.creation !== this.creation) return undefined;
    const p = this.procs.get(pid.id * 8192 + pid.serial);
    return p && p.pid.id === pid.id && p.pid.serial === pid.serial ? p : undefined;
  }

  /** A new reference of this node (NEWER_REFERENCE_EXT, three words as OTP makes them). */
  makeRef(): Reference {
    const n = ++this.refCount;
    return new Reference(this.nodeAtom, this.creation, [n & 0x3ffff, Math.floor(n / 0x40000) >>> 0, this.refSalt]);
  }

  // ------------------------------------------------------------- connections

  /**
   * Connects to `peer` unless connected. Rejects with the `DistError` of the
   * failure (`ERR_BAD_COOKIE`, `ERR_NODE_NOT_FOUND` for pang,
   * `ERR_HANDSHAKE_REFUSED`, `ERR_UNREACHABLE`, ...), or `ERR_TIMEOUT` /
   * `ERR_ABORTED`.
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
   */
  waitWritable(peer: string, o: WaitOptions = {}): Promise<void> {
    const c = this.peers.live(peer);
    if (!c || !c.busy) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (e?: Error) => {
        c.off('drain', ok);
        c.off('close', ok);
        o.signal?.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
        if (e) reject(e);
        else resolve();
      };
      const ok = () => done();
      const onAbort = () => done(abortError(o.signal!, 'waitWritable'));
      if (o.signal?.aborted) return onAbort();
      if (o.timeoutMs !== undefined) timer = setTimeout(() => done(new NodeError('ERR_TIMEOUT', `${peer} stayed busy`)), o.timeoutMs);
      c.on('drain', ok);
      c.on('close', ok);
      o.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops the node: closes every connection (peers see their links and
   * monitors to us fire with `noconnection`, and our processes linked to
   * theirs die with `noconnection`), ends the other processes with
   * `shutdown`, stops listening, unregisters from EPMD and stops the embedded
   * EPMD if this node started it. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.peers.stop();
    for (const p of [...this.procs.values()]) p.exit(SHUTDOWN);
    const s = this.setup;
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
    await s.registration.close();
    if (s.embeddedEpmd) await s.embeddedEpmd.close();
  }

  // ---------------------------------------------------- ProcessHost (sending)

  /** @internal */
  sendFrom(from: LocalProcess, to: SendTarget, msg: Term): boolean {
    if (to instanceof Pid) {
      if (to.node === this.nodeAtom) {
        this.process(to)?.deliver(msg);
        return true;
      }
      const self = from.pid;
      return this.peers.send(to.node.name, (f) => (hasFlag(f, DFLAG.SEND_SENDER) ? ctrl.sendSender(self, to, msg) : ctrl.send(to, msg)));
    }
    if (to instanceof Reference) {
      if (to.node === this.nodeAtom) {
        if (to.creation === this.creation) this.aliasTable.get(refKey(to))?.deliver(msg);
        return true;
      }
      const self = from.pid;
      // Without DFLAG_ALIAS the peer cannot take an alias message: dropped, as OTP does.
      return this.peers.send(to.node.name, (f) => (hasFlag(f, DFLAG.ALIAS) ? ctrl.aliasSend(self, to, msg) : undefined));
    }
    if (typeof to === 'string' || to instanceof Atom) return this.sendLocalName(nameOf(to), msg);
    if (typeof to === 'object' && to !== null && 'name' in to && 'node' in to) {
      const node = nameOf(to.node);
      const name = atom(nameOf(to.name));
      if (node === this.name) return this.sendLocalName(name.name, msg);
      const self = from.pid;
      return this.peers.send(node, () => ctrl.regSend(self, name, msg));
    }
    throw new NodeError('ERR_BAD_TARGET', 'send target must be a Pid, a Reference, a name or { name, node }');
  }

  private sendLocalName(name: string, msg: Term): boolean {
    const p = this.names.get(name);
    // Erlang's `Name ! Msg` raises badarg for an unregistered local name.
    if (!p) throw new NodeError('ERR_BAD_TARGET', `no process is registered as ${name}`);
    p.deliver(msg);
    return true;
  }

  /** Sends a signal to `peer` if connected or connecting, never dialing for it. */
  private sendIfUp(peer: string, build: (flags: bigint) => OutgoingSignal | undefined): void {
    if (this.peers.live(peer) || this.peers.isPending(peer)) this.peers.send(peer, build);
  }

  /**
   * Replies to a gen_server-style caller: `{Tag, Reply}` to the caller's
   * alias by ALIAS_SEND when the tag carries one and the connection has
   * DFLAG_ALIAS, else to its pid.
   */
  replyTo(from: GenFrom, reply: Term, sender: LocalProcess): void {
    const { to, message } = genReply(from, reply);
    if (from.pid.node === this.nodeAtom) {
      if (to instanceof Reference) this.aliasTable.get(refKey(to))?.deliver(message);
      else this.process(to)?.deliver(message);
      return;
    }
    const self = sender.pid;
    this.peers.send(from.pid.node.name, (f) => {
      if (to instanceof Reference && hasFlag(f, DFLAG.ALIAS)) return ctrl.aliasSend(self, to, message);
      return hasFlag(f, DFLAG.SEND_SENDER) ? ctrl.sendSender(self, from.pid, message) : ctrl.send(from.pid, message);
    });
  }

  // ------------------------------------------- ProcessHost (links, monitors)

  /** @internal */
  monitorFrom(from: LocalProcess, target: MonitorTarget, ref: Reference): void {
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
      const t = wire instanceof Pid ? this.process(wire) : this.names.get(wire.name);
      from.monitors.set(k, { ref, object, target: t ? t.pid : wire, peer: undefined });
      if (!t || !t.alive) {
        from.down(ref, NOPROC);
        return;
      }
      t.monitoredBy.set(k, { ref, watcher: from.pid, name: wire instanceof Atom ? wire : undefined });
      return;
    }
    from.monitors.set(k, { ref, object, target: wire, peer });
    this.watch(peer, from);
    const self = from.pid;
    this.peers.send(peer, () => ctrl.monitor(self, wire, ref));
  }

  /** @internal */
  demonitorFrom(from: LocalProcess, m: OutgoingMonitor): void {
    if (m.peer === undefined) {
      if (m.target instanceof Pid) this.process(m.target)?.monitoredBy.delete(refKey(m.ref));
      return;
    }
    const self = from.pid;
    this.sendIfUp(m.peer, () => ctrl.demonitor(self, m.target, m.ref));
  }

  /** @internal */
  linkFrom(from: LocalProcess, to: Pid): void {
    if (to.node === this.nodeAtom) {
      const t = this.process(to);
      if (!t || !t.alive) from.exitSignal(to, NOPROC, true);
      else t.links.set(pidKey(from.pid), { pid: from.pid, unlinking: undefined });
      return;
    }
    this.watch(to.node.name, from);
    const self = from.pid;
    this.peers.send(to.node.name, () => ctrl.link(self, to));
  }

  /** @internal */
  unlinkFrom(from: LocalProcess, to: Pid, id: bigint): void {
    const peer = to.node.name;
    if (to.node === this.nodeAtom || !(this.peers.live(peer) || this.peers.isPending(peer))) {
      this.process(to)?.links.delete(pidKey(from.pid));
      from.links.delete(pidKey(to));
      return;
    }
    const self = from.pid;
    this.peers.send(peer, () => ctrl.unlinkId(id, self, to));
  }

  /** @internal */
  addAlias(p: LocalProcess, ref: Reference): void {
    this.aliasTable.set(refKey(ref), p);
  }

  /** @internal */
  removeAlias(ref: Reference): void {
    this.aliasTable.delete(refKey(ref));
  }

  /** @internal A process died: clean the tables and signal its links and monitors. */
  onExit(p: LocalProcess, reason: Term): void {
    const key = p.pid.id * 8192 + p.pid.serial;
    if (this.procs.get(key) === p) this.procs.delete(key);
    if (p.registeredName !== undefined && this.names.get(p.registeredName) === p) this.names.delete(p.registeredName);
    p.registeredName = undefined;
    for (const k of p.aliases.keys()) this.aliasTable.delete(k);
    p.aliases.clear();
    const self = p.pid;
    for (const l of p.links.values()) {
      if (l.unlinking !== undefined) continue;
      if (l.pid.node === this.nodeAtom) this.process(l.pid)?.exitSignal(self, reason, true);
      else {
        const to = l.pid;
        this.sendIfUp(to.node.name, (f) => (hasFlag(f, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadExit(self, to, reason) : ctrl.exit(self, to, reason)));
      }
    }
    p.links.clear();
    for (const m of p.monitoredBy.values()) {
      if (m.watcher.node === this.nodeAtom) this.process(m.watcher)?.down(m.ref, reason);
      else {
        const who = m.name ?? self;
        this.sendIfUp(m.watcher.node.name, (f) =>
          hasFlag(f, DFLAG.EXIT_PAYLOAD) ? ctrl.payloadMonitorExit(who, m.watcher, m.ref, reason) : ctrl.monitorExit(who, m.watcher, m.ref, reason),
        );
      }
    }
    p.monitoredBy.clear();
    for (const m of p.monitors.values()) this.demonitorFrom(p, m);
    p.monitors.clear();
    for (const [peer, set] of this.watchers) {
      set.delete(p);
      if (set.size === 0) this.watchers.delete(peer);
    }
  }

  // ----------------------------------------------------------- incoming side

  private onUp(c: DistConnection): void {
    c.on('message', (m: ControlMessage) => {
      try {
        dispatchControl(this, c, m);
      } catch (e) {
        // A message we cannot act on (e.g. a term that cannot be re-encoded in a reply) drops only this connection.
        c.close(new DistError('ERR_DIST_PROTOCOL', `${c.peer}: cannot handle ${m.kind}: ${(e as Error).message}`, { cause: e, peer: c.peer }));
      }
    });
    this.failures.delete(c.peer);
    this.emit('nodeup', c.peer);
  }

  private onDown(c: DistConnection, err: DistError | undefined): void {
    const reason = err ?? new DistError('ERR_CONNECTION_CLOSED', `disconnected from ${c.peer}`, { peer: c.peer });
    if (this.peers.live(c.peer) === undefined) this.peerGone(c.peer, reason);
    this.emit('nodedown', c.peer, reason);
  }

  /** The peer is unreachable: every link and monitor across it fires with noconnection, as OTP does. */
  private peerGone(peer: string, err: DistError): void {
    this.failures.set(peer, err);
    const set = this.watchers.get(peer);
    if (!set) return;
    this.watchers.delete(peer);
    for (const p of set) {
      for (const m of [...p.monitors.values()]) if (m.peer === peer) p.down(m.ref, NOCONNECTION);
      for (const m of [...p.monitoredBy.entries()]) if (m[1].watcher.node.name === peer) p.monitoredBy.delete(m[0]);
      for (const l of [...p.links.values()]) {
        if (l.pid.node.name !== peer) continue;
        l.unlinking = undefined;
        p.exitSignal(l.pid, NOCONNECTION, true);
      }
    }
  }

  /** @internal Records that `p` has links or monitors across `peer` (for nodedown). */
  watch(peer: string, p: LocalProcess): void {
    let s = this.watchers.get(peer);
    if (!s) this.watchers.set(peer, (s = new Set()));
    s.add(p);
  }

  /** @internal The live process registered as `name`. */
  byName(name: string): LocalProcess | undefined {
    return this.names.get(name);
  }

  /** @internal The live process an alias of this incarnation points to. */
  byAlias(alias: Reference): LocalProcess | undefined {
    if (alias.node !== this.nodeAtom || alias.creation !== this.creation) return undefined;
    return this.aliasTable.get(refKey(alias));
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

  // ------------------------------------------------------------------ helpers

  private newPid(): Pid {
    // 15-bit ids and 13-bit serials, as OTP's local pids; wrapping skips live ones.
    for (;;) {
      this.nextId++;
      if (this.nextId > 0x7fff) {
        this.nextId = 1;
        this.nextSerial = (this.nextSerial + 1) & 0x1fff;
      }
      if (!this.procs.has(this.nextId * 8192 + this.nextSerial)) {
        return new Pid(this.nodeAtom, this.nextId, this.nextSerial, this.creation);
      }
    }
  }

  private checkRunning(): void {
    if (this.stopping) throw new NodeError('ERR_NODE_STOPPED', `node ${this.name} is stopped`);
  }

  private checkName(name: string): void {
    if (typeof name !== 'string' || name === '' || [...name].length > 255 || name === 'undefined') {
      throw new NodeError('ERR_BAD_NAME', `invalid registered name ${JSON.stringify(name)}`);
    }
  }
}

function nameOf(x: string | Atom): string {
  return typeof x === 'string' ? x : x.name;
}

