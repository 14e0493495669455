// `node.global`: kernel's `global` (global names and global locks) for a
// visible beambridge node, speaking the protocol of OTP's global_name_server
// so that Erlang nodes treat the node as one of their own.
//
// Design notes (from kernel global.erl of OTP 25, 27 and 29; protocol
// version 8 in all three, the same messages on the wire):
// - Every visible node runs a registered `global_name_server`. At nodeup each
//   side casts `{init_connect, {Vsn, MyTag}, Node, {locker, _, Known,
//   Locker}}` to the other (the Known map in it is ignored by receivers) and
//   answers the other's with `{init_connect_ack, Node, HisTag, MyTag}`; a
//   mismatch, or a second init_connect, means `{cancel_connect, Node, Tag}`
//   and a new session. Tags tell sessions apart; stale messages are dropped.
//   Without a name server on the new node, every Erlang peer's global:sync()
//   waits for this session to finish: the 58 s stall of issue 15.
// - Each side's locker then takes the lock `{global, lists:sort([LockerA,
//   LockerB])}` on its whole partition (the largest node name first, then
//   itself and the other node, then every known node) with gen_server calls
//   `{set_lock, Id}` / `{del_lock, Id}` to each global_name_server; both
//   lockers use the same id, so they never block each other. The lockers talk
//   through the servers: `{lock_set, Locker, IsSet, Known, HisTag}` casts.
// - With both partitions locked, each server casts `{exchange, Node, Names,
//   [], HisTag}` (Names: `[{Name, Pid, Method}]`). The node whose name sorts
//   first settles clashes, by `rpc:call(node(Pid2), global, resolve_it,
//   [Method2, Name, Pid, Pid2])`; each side then casts `{resolved, Node, Ops,
//   Known, unused, [], HisTag}` and applies its own and the other's insert and
//   delete operations. Each learns the other's known nodes, connects to them
//   and casts them `{in_sync, Node, true}`; the connecting node casts
//   `{new_nodes, Node, Ops, [], NewNodes, [{vsn, V}, {lock, LockId}]}` to its
//   own partition before its locker releases the lock. A name operation is
//   accepted only while the `global` lock of that registration or connect is
//   still set on the receiving node. global:sync() returns once every visible
//   node is synced (resolved, or in_sync received).
// - Registration (`{register, Name, Pid, Method}`, `{unregister, Name}`) is a
//   call to every known node under the lock `{global, Registrar}` taken boss
//   first. Each node monitors each registered pid and each lock holder
//   itself: a process exit or a nodedown removes names and locks everywhere
//   without any message. The default Method is a fun of module global
//   (random_exit_name/3); ours are `fun global:random_exit_name/3` and its two
//   siblings, which Erlang nodes can call, or `fun beambridge:js_resolver/3`
//   for a JS resolver, only ever called on this node (see GlobalResolve for
//   what happens to a name owned here). A clash settled on this node with an
//   Erlang fun is run by rpc on an Erlang node of the cluster.
// - OTP 25 made prevent_overlapping_partitions the default: a node that loses
//   a connection casts `{lost_connection, Node, XCreation, OpId, Lost}` to
//   every node it knows, each passes it on once, and the receivers drop Lost
//   (asking it with `{remove_connection, Node}` to disconnect). This node
//   does the same (option `preventOverlappingPartitions`, default true).
// - 25 to 29: the same version 8 messages. OTP 27 sends them with async_dist
//   and drops a node's names and locks when a connect session restarts; OTP
//   29 uses priority monitors (the wire is unchanged). gen_server:multi_call
//   tags changed (`{Ref, Node}` in 25, `[[alias | Alias] | Mon]` in 29), which
//   the reply path already echoes. Connection ids (net_kernel's monitor_nodes
//   info) are local to each node and never sent.
// - Not spoken: global groups (global_group), and C-node external names beyond
//   treating `register_ext` as a registration.
import { BeamBridgeError } from '../errors.js';
import { Atom, Pid, Tuple, atom, formatTerm, type Term } from '../etf/index.js';
import { LocalProcess, type WaitOptions } from '../node/index.js';
import type { Node } from './node.js';
import type { ExposedModules } from './exposed.js';
import { GLOBAL, deleteBossLock, multiCall, randomSleep, setLockOn, theBoss } from './global-locker.js';
import { methodFor, resolveIt, type GlobalResolve } from './global-resolve.js';
import { GlobalServer } from './global-server.js';
import { termKey } from './global-tables.js';

export type { GlobalResolve, GlobalResolver } from './global-resolve.js';

/**
 * Stable codes carried by {@link GlobalError}:
 * - `ERR_GLOBAL_DISABLED`: the node is hidden (the default) or was started
 *   with `global: false`; hidden nodes do not take part in global, as in OTP.
 * - `ERR_NOT_REGISTERED`: `send` to a name nobody registered (Erlang's
 *   global:send/2 exits with `{badarg, {Name, Msg}}`).
 * - `ERR_LOCK_NOT_SET`: `trans` could not set its lock within its retries
 *   (Erlang's global:trans returns `aborted`).
 * - `ERR_NODE_STOPPED`: the node stopped during the operation.
 */
export type GlobalErrorCode = 'ERR_GLOBAL_DISABLED' | 'ERR_NOT_REGISTERED' | 'ERR_LOCK_NOT_SET' | 'ERR_NODE_STOPPED';

/** A failed global operation. */
export class GlobalError extends BeamBridgeError {
  declare readonly code: GlobalErrorCode;
  constructor(code: GlobalErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Options of `Node.start({ global })`. */
export interface GlobalOptions {
  /**
   * As kernel's prevent_overlapping_partitions (default true, as in OTP 25+):
   * when this node loses a peer it tells the others, and when told that two
   * nodes lost each other it drops the one it is not.
   */
  preventOverlappingPartitions?: boolean;
}

/** A global name: a string is the atom of that name (as `global:register_name(chat_router, Pid)`); any other term is used as is. */
export type GlobalName = Term;

/** A lock id: `[ResourceId, LockRequesterId]`, Erlang's `{ResourceId, LockRequesterId}` (a string is an atom, as in names). */
export type GlobalLockId = [resource: Term, requester: Term];

/** Options of the lock operations. */
export interface GlobalLockOptions {
  /** The nodes to lock on; default this node and every node global knows (Erlang's `[node() | nodes()]`). */
  nodes?: string[];
  /** Attempts after the first (default: forever, as Erlang's `infinity`); each waits a random, doubling time. */
  retries?: number;
  /** The process that holds the lock (released if it exits); default one process of the node's global. */
  process?: LocalProcess;
  /** Stops retrying: `setLock` then resolves false. */
  signal?: AbortSignal;
}

/** What `node.global.info()` reports. */
export interface GlobalInfo {
  /** Nodes global is synced with (global's `known`). */
  known: string[];
  /** Nodes for which global:sync() has nothing left to wait. */
  synced: string[];
  names: number;
  locks: number;
}

function nameTerm(n: GlobalName): Term {
  return typeof n === 'string' ? atom(n) : n;
}

function lockTerm(id: GlobalLockId): Tuple {
  return new Tuple([nameTerm(id[0]), nameTerm(id[1])]);
}

/**
 * Kernel's `global` on a beambridge node: `node.global.register(name, pid)`
 * is `global:register_name/2,3`, `whereis` is `global:whereis_name/1`, and
 * so on. Names registered here are seen by `global:whereis_name` on every
 * Erlang node of the cluster and the other way round; clashes are settled
 * as global settles them. Only visible nodes (`hidden: false`) take part;
 * on a hidden node every method throws `ERR_GLOBAL_DISABLED`.
 */
export class Global {
  /** @internal */
  readonly server: GlobalServer | undefined;
  private readonly node: Node;
  /** Registrations go one at a time, as through global's registrar process. */
  private registrar: Promise<unknown> = Promise.resolve();
  private registrarProc: LocalProcess | undefined;
  private holder: LocalProcess | undefined;

  /** @internal Started by Node. */
  constructor(node: Node, exposed: ExposedModules, o: GlobalOptions | boolean | undefined) {
    this.node = node;
    if (node.hidden || o === false) return;
    const opts = typeof o === 'object' ? o : {};
    this.server = new GlobalServer(node, node.makeRef(), opts.preventOverlappingPartitions ?? true);
    const server = this.server;
    node.on('nodeup', (peer) => server.peerEvent(peer, true));
    node.on('nodedown', (peer) => server.peerEvent(peer, false));
    for (const peer of node.nodes()) server.peerEvent(peer, true);
    // What Erlang nodes call on ours by rpc.
    exposed.set('global', {
      resolve_it: (method, name, pid1, pid2) =>
        pid1 instanceof Pid && pid2 instanceof Pid ? resolveIt(server.ctx, method, name, pid1, pid2) : atom('none'),
      whereis_name: (name) => server.where(name) ?? atom('undefined'),
      registered_names: () => this.names(),
    });
  }

  /** True on a visible node started with global (the default for `hidden: false`). */
  get enabled(): boolean {
    return this.server !== undefined;
  }

  private on(): GlobalServer {
    if (!this.server) throw new GlobalError('ERR_GLOBAL_DISABLED', `${this.node.name} is a hidden node: start it with hidden: false to take part in global`);
    if (this.node.stopped) throw new GlobalError('ERR_NODE_STOPPED', `node ${this.node.name} is stopped`);
    return this.server;
  }

  /** `global:whereis_name(Name)`: the pid registered as `name`, as this node knows it. */
  whereis(name: GlobalName): Pid | undefined {
    return this.on().where(nameTerm(name));
  }

  /** `global:registered_names()`. */
  names(): Term[] {
    return this.on()
      .names.all()
      .map((e) => e.name);
  }

  /**
   * `global:register_name(Name, Pid, Resolve)`: registers `pid` (local or
   * remote) as `name` on every node global knows. Resolves true (`yes`), or
   * false (`no`) when the name is taken or the pid already has a name.
   * `resolve` says what happens when the name clashes with one registered in
   * another partition that joins later (see {@link GlobalResolve}); a JS
   * resolver needs a pid of this node.
   */
  async register(name: GlobalName, pid: Pid | LocalProcess, o: { resolve?: GlobalResolve } = {}): Promise<boolean> {
    return this.registration(name, pid, o.resolve, false);
  }

  /** `global:re_register_name(Name, Pid, Resolve)`: as {@link register}, replacing any earlier registration of `name`. */
  async reRegister(name: GlobalName, pid: Pid | LocalProcess, o: { resolve?: GlobalResolve } = {}): Promise<void> {
    await this.registration(name, pid, o.resolve, true);
  }

  private registration(name: GlobalName, p: Pid | LocalProcess, resolve: GlobalResolve | undefined, force: boolean): Promise<boolean> {
    const s = this.on();
    const pid = p instanceof LocalProcess ? p.pid : p;
    const n = nameTerm(name);
    const { method, fn } = methodFor(resolve);
    if (fn && pid.node !== this.node.nodeAtom) throw new TypeError('a JS resolver needs a pid of this node');
    return this.transAllKnown(async (proc, nodes) => {
      if (!force && (s.where(n) !== undefined || s.names.namesOf(pid).length > 0)) return false;
      if (fn) s.jsResolvers.set(termKey(n), { pid, fn });
      await multiCall(s, proc, nodes, new Tuple([atom('register'), n, pid, method]));
      return true;
    });
  }

  /** `global:unregister_name(Name)`, on every node global knows. */
  async unregister(name: GlobalName): Promise<void> {
    const s = this.on();
    const n = nameTerm(name);
    if (s.where(n) === undefined) return;
    await this.transAllKnown((proc, nodes) => multiCall(s, proc, nodes, new Tuple([atom('unregister'), n])));
  }

  /**
   * `global:send(Name, Msg)`: sends `msg` to the pid registered as `name`
   * (from `o.from`, or a process of the node) and returns that pid. Throws
   * `ERR_NOT_REGISTERED` when there is none.
   */
  send(name: GlobalName, msg: Term, o: { from?: LocalProcess } = {}): Pid {
    const pid = this.whereis(name);
    if (!pid) throw new GlobalError('ERR_NOT_REGISTERED', `no process is registered globally as ${formatTerm(nameTerm(name))}`);
    (o.from ?? this.ownProcess('holder')).send(pid, msg);
    return pid;
  }

  /**
   * `global:sync()`: resolves once global is in sync with every visible node
   * connected now (or that node went down). Rejects with NodeError
   * `ERR_TIMEOUT` / `ERR_ABORTED`.
   */
  async sync(o: WaitOptions = {}): Promise<void> {
    const s = this.on();
    const waiting = new Set(s.unsynced());
    if (waiting.size === 0) return;
    const p = this.node.spawn();
    s.syncers.add(p);
    const deadline = o.timeoutMs === undefined ? undefined : Date.now() + o.timeoutMs;
    try {
      for (const n of waiting) if (!s.unsynced().includes(n)) waiting.delete(n);
      while (waiting.size > 0) {
        const timeoutMs = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
        // {Ev, synced, [Node]} or {Ev, nodedown, Node} from the server.
        const arg = ((await p.receive({ timeoutMs, signal: o.signal })) as Tuple).elements[2];
        for (const n of Array.isArray(arg) ? arg : [arg]) if (n instanceof Atom) waiting.delete(n.name);
      }
    } finally {
      s.syncers.delete(p);
      p.exit();
    }
  }

  /**
   * `global:set_lock({ResourceId, LockRequesterId}, Nodes, Retries)`: sets
   * the lock on `nodes` for `o.process`. Resolves true when set, false when
   * `retries` ran out (or `signal` fired). Several processes may hold a lock
   * under the same requester id; another requester id waits.
   */
  async setLock(id: GlobalLockId, o: GlobalLockOptions = {}): Promise<boolean> {
    const s = this.on();
    const idTerm = lockTerm(id);
    const proc = o.process ?? this.ownProcess('holder');
    const nodes = o.nodes ?? [this.node.name, ...s.knownNodes()];
    for (let times = 1, left = o.retries ?? Infinity; ; times++, left--) {
      if (await setLockOn(s, proc, idTerm, nodes)) return true;
      if (left <= 0 || o.signal?.aborted || this.node.stopped) return false;
      await randomSleep(times, o.signal);
    }
  }

  /** `global:del_lock(Id, Nodes)`: releases the lock `o.process` holds. */
  async delLock(id: GlobalLockId, o: Omit<GlobalLockOptions, 'retries' | 'signal'> = {}): Promise<void> {
    const s = this.on();
    await multiCall(s, o.process ?? this.ownProcess('holder'), o.nodes ?? [this.node.name, ...s.knownNodes()], new Tuple([atom('del_lock'), lockTerm(id)]));
  }

  /**
   * `global:trans(Id, Fun, Nodes, Retries)`: runs `fn` holding the lock and
   * releases it after. Rejects with `ERR_LOCK_NOT_SET` when the lock could
   * not be set (Erlang returns `aborted`).
   */
  async trans<T>(id: GlobalLockId, fn: () => T | Promise<T>, o: GlobalLockOptions = {}): Promise<T> {
    const nodes = o.nodes ?? [this.node.name, ...this.on().knownNodes()];
    if (!(await this.setLock(id, { ...o, nodes }))) throw new GlobalError('ERR_LOCK_NOT_SET', `could not set the global lock on ${formatTerm(nameTerm(id[0]))}`);
    try {
      return await fn();
    } finally {
      await this.delLock(id, { nodes, process: o.process });
    }
  }

  /** What global knows: the nodes it is synced with, names and locks held here. */
  info(): GlobalInfo {
    const s = this.on();
    return { known: s.knownNodes(), synced: s.synced(), names: s.names.size, locks: s.locks.size };
  }

  private ownProcess(which: 'holder' | 'registrar'): LocalProcess {
    const cur = which === 'holder' ? this.holder : this.registrarProc;
    if (cur?.alive) return cur;
    const p = this.node.spawn();
    if (which === 'holder') this.holder = p;
    else this.registrarProc = p;
    return p;
  }

  /**
   * global.erl's trans_all_known: takes `{global, Registrar}` on the boss of
   * this node and the nodes it knows, then on all of them, and checks that
   * no node became known meanwhile; runs `fn` with the nodes, then releases.
   */
  private transAllKnown<T>(fn: (proc: LocalProcess, nodes: string[]) => Promise<T>): Promise<T> {
    const s = this.on();
    const run = async (): Promise<T> => {
      const proc = this.ownProcess('registrar');
      const id = new Tuple([GLOBAL, proc.pid]);
      for (let times = 1; ; times++) {
        this.on();
        const known = s.knownNodes();
        const nodes = [this.node.name, ...known];
        const boss = [theBoss(nodes)];
        if (await setLockOn(s, proc, id, boss)) {
          if ((await setLockOn(s, proc, id, nodes)) && s.knownNodes().every((n) => known.includes(n))) {
            try {
              return await fn(proc, nodes);
            } finally {
              await deleteBossLock(s, proc, id, nodes);
            }
          }
          await deleteBossLock(s, proc, id, boss);
        }
        await randomSleep(times);
      }
    };
    const next = this.registrar.then(run, run);
    this.registrar = next.catch(() => {});
    return next;
  }
}
