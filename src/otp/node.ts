// `Node`: the public node class. NodeCore (src/node) is the distribution and
// process machinery; this layer adds what OTP builds on top of it: ping
// (net_adm:ping), rpc (through rex), gen_server calls and casts, gen_servers
// written in JS, functions exposed to Erlang's rpc and erpc (rex and
// SPAWN_REQUEST), and a group leader for remote output.
import { Atom, atom, tuple, type Term } from '../etf/types.js';
import { formatTerm } from '../etf/index.js';
import type { BeamBridgeError } from '../errors.js';
import { DistError, type DistConnection, type SpawnRequestSignal } from '../dist/index.js';
import { NodeCore, NodeError, genCastMessage, type GenFrom, type LocalProcess, type NodeOptions, type WaitOptions } from '../node/index.js';
import type { NodeSetup } from '../node/setup.js';
import { genCall, type GenCallOptions, type ServerRef } from './call.js';
import { ExposedModules, type ExposedModule } from './exposed.js';
import { startIoServer, type OutputHandler } from './io.js';
import { startRex } from './rex.js';
import { rexCall, type RpcOptions } from './rpc.js';
import { GenServer, type ServeOptions, type ServerHandlers } from './server.js';
import { CallError } from './errors.js';
import { serveSpawn, type HandlerErrorReporter } from './spawn.js';
import { Global, GlobalError, type GlobalName, type GlobalOptions } from './global.js';

const IS_AUTH = atom('is_auth');
const YES = atom('yes');
const NOTSUP = atom('notsup');
const SYSTEM_LIMIT = atom('system_limit');

/** What {@link Node.pingDetail} found: pong, or pang and why. */
export type PingResult = { pong: true; ms: number } | { pong: false; ms: number; reason: BeamBridgeError };

/** Options of {@link Node.start}: the node's options plus the OTP layer's. */
export interface StartOptions extends NodeOptions {
  /** Receives the output (io:format...) of functions run by {@link Node.rpc}; by default it is discarded. */
  onOutput?: OutputHandler;
  /**
   * Told when an exposed function fails and nobody gets the outcome
   * (`erpc:cast`, `rpc:cast`, `spawn(Node, M, F, A)`); callers of rpc and
   * erpc calls get theirs.
   */
  onHandlerError?: HandlerErrorReporter;
  /**
   * Stack locations sent to Erlang with a JS error (`{file, F}, {line, N}` in
   * rpc and erpc exceptions) carry the file's full path; by default only its
   * name, so that peers do not learn this service's layout on disk.
   */
  stackFilePaths?: boolean;
  /**
   * kernel's `global` on a visible node (`hidden: false`): default on, as
   * on an Erlang node; `false` leaves it out (Erlang's `-connect_all
   * false`). Hidden nodes never take part. See {@link Node.global}.
   */
  global?: boolean | GlobalOptions;
}

/** A gen_server registered with global (Erlang's `{global, Name}`). */
export interface GlobalRef {
  global: GlobalName;
}

/**
 * A beambridge node: a member of an Erlang cluster, reachable in both
 * directions.
 *
 * ```ts
 * const node = await Node.start({ name: 'web1@127.0.0.1', cookie: 'secret' })
 * await node.ping('stub@127.0.0.1')                        // true | false
 * await node.rpc('stub@127.0.0.1', 'lists', 'reverse', [[1, 2, 3]], { timeoutMs: 5000 })
 * const p = node.spawn({ name: 'listener' })
 * node.expose('chat_js', { handler: (a, b) => ... })         // rpc:call / erpc:call from Erlang
 * node.serve('chat_srv', { call: (req, from) => ..., cast: (req) => ... })  // gen_server:call / cast
 * node.on('nodedown', (peer, reason) => ...)
 * await node.stop()
 * ```
 */
export class Node extends NodeCore {
  /** The group leader given to the functions this node runs by rpc (an io server). */
  readonly groupLeader: LocalProcess;
  /** This node's own rex server. */
  readonly rex: LocalProcess;
  /** Global names and locks (kernel's `global`), on a visible node; see {@link Global}. */
  readonly global: Global;
  private readonly exposedModules: ExposedModules;
  private readonly report: HandlerErrorReporter | undefined;

  protected constructor(s: NodeSetup, o: StartOptions) {
    super(s);
    this.exposedModules = new ExposedModules({ filePaths: o.stackFilePaths });
    const log = this.logger;
    this.report = (err) => {
      log.error(`${String(err.module)}:${String(err.function)} failed and nobody waits for its outcome (${err.outcome.kind})`, {
        module: String(err.module),
        function: String(err.function),
      });
      o.onHandlerError?.(err);
    };
    this.groupLeader = startIoServer(this, o.onOutput);
    this.rex = startRex(this, this.exposedModules, this.report);
    this.global = new Global(this, this.exposedModules, o.global);
  }

  /**
   * Starts a node: listens, registers with EPMD (or an embedded one), and
   * answers Erlang's net_kernel, rex and erpc (it advertises DFLAG_SPAWN).
   */
  static override async start(o: StartOptions): Promise<Node> {
    return new Node(await NodeCore.prepare(o, true), o);
  }

  /**
   * `net_adm:ping(Peer)`: connects if needed and asks the peer's net_kernel
   * `{is_auth, Us}`. Resolves true (pong) or false (pang: unreachable,
   * bad cookie, no answer within `timeoutMs`, default 10 s; see
   * {@link pingDetail} for why). Only an abort rejects (NodeError
   * `ERR_ABORTED`). A peer known to be down a moment ago answers pang at once.
   */
  async ping(peer: string, o: WaitOptions = {}): Promise<boolean> {
    return (await this.pingDetail(peer, o)).pong;
  }

  /**
   * {@link ping}, with the time it took and, for pang, why: the root cause
   * when the connection failed (the DistError: `ERR_NODE_NOT_FOUND` naming
   * the EPMD asked, `ERR_BAD_COOKIE`, `ERR_UNREACHABLE`, `ERR_TLS`...), else
   * the CallError (`ERR_TIMEOUT`, `ERR_NODEDOWN` for a connection lost
   * during the ping).
   */
  async pingDetail(peer: string, o: WaitOptions = {}): Promise<PingResult> {
    const t0 = performance.now();
    if (peer === this.name) return { pong: true, ms: 0 };
    const timeoutMs = o.timeoutMs ?? 10_000;
    try {
      const r = await genCall(this, { name: 'net_kernel', node: peer }, tuple(IS_AUTH, this.nodeAtom), { timeoutMs, signal: o.signal }, 'ping');
      const ms = performance.now() - t0;
      if (r === YES) return { pong: true, ms };
      return { pong: false, ms, reason: new NodeError('ERR_NODEDOWN', `${peer} answered is_auth with ${String(r)}`) };
    } catch (e) {
      if ((e as NodeError).code === 'ERR_ABORTED') throw e;
      if ((e as NodeError).code === 'ERR_NODE_STOPPED') throw e;
      // As net_adm:ping: a failed ping drops whatever connection there is.
      this.disconnect(peer);
      const cause = (e as Error).cause;
      return { pong: false, ms: performance.now() - t0, reason: cause instanceof DistError ? cause : (e as BeamBridgeError) };
    }
  }

  /**
   * `rpc:call(Peer, M, F, Args)`. Resolves with the value; rejects with
   * `RpcError`: `ERR_RPC_EXCEPTION` (the function raised), `ERR_BADRPC`
   * (another `{badrpc, Reason}`), `ERR_NODEDOWN`, `ERR_TIMEOUT`; or
   * NodeError `ERR_ABORTED`. Waits forever unless `timeoutMs` is given, as
   * rpc:call/4 does.
   */
  rpc(peer: string, m: string | Atom, f: string | Atom, args: Term[], o: RpcOptions = {}): Promise<Term> {
    return rexCall(this, this.groupLeader.pid, peer, m, f, args, o);
  }

  /**
   * `gen_server:call(Server, Request, Timeout)`: `server` is a pid, a local
   * name, `{ name, node }`, or `{ global: name }` (rejects with `ERR_NOPROC`
   * when nobody has that global name). As gen_server: the server is monitored for the
   * call, a reply arriving after the timeout is dropped (the call's process
   * is gone). Rejects with `CallError` (`ERR_NOPROC`, `ERR_CALL_EXIT` with
   * the server's exit reason, `ERR_NODEDOWN`, `ERR_TIMEOUT`) or NodeError
   * `ERR_ABORTED`. Default timeout 5000 ms.
   */
  call(server: ServerRef | GlobalRef, request: Term, o: GenCallOptions = {}): Promise<Term> {
    if (!isGlobalRef(server)) return genCall(this, server, request, o);
    const pid = this.global.whereis(server.global);
    return pid ? genCall(this, pid, request, o) : Promise.reject(new CallError('ERR_NOPROC', atom('noproc'), `no process is registered globally as ${typeof server.global === 'string' ? server.global : formatTerm(server.global)}`));
  }

  /**
   * `gen_server:cast(Server, Request)`: sends `{'$gen_cast', Request}` and
   * returns at once. Like gen_server:cast it never fails for a server that
   * does not exist; only the busy policy (`onBusy: 'error'`) can throw.
   */
  cast(server: ServerRef | GlobalRef, request: Term): void {
    try {
      if (isGlobalRef(server)) this.global.send(server.global, genCastMessage(request), { from: this.systemProcess() });
      else this.systemProcess().send(server, genCastMessage(request));
    } catch (e) {
      if ((e as NodeError).code !== 'ERR_BAD_TARGET' && !(e instanceof GlobalError && e.code === 'ERR_NOT_REGISTERED')) throw e;
    }
  }

  /**
   * Starts a gen_server written in JS, registered as `name` (or anonymous
   * with `undefined`), that Erlang's `gen_server:call/cast` and this node's
   * {@link call}/{@link cast} can use:
   *
   * ```ts
   * const srv = node.serve('counter', {
   *   call: async (req, from) => ...reply,          // or return noReply and later from.reply(v)
   *   cast: (req) => { ... },
   *   info: (msg) => { ... },
   * })
   * // Erlang: gen_server:call({counter, 'web1@127.0.0.1'}, get)
   * await srv.stop()
   * ```
   *
   * Messages are handled one at a time in arrival order (async handlers are
   * awaited). OTP 24+ callers' `[alias | Ref]` tags are answered through the
   * alias. A handler that throws ends the server (exit reason
   * `{js_error, <<"message">>}`, or what an `ErlangException` carries), and
   * the callers waiting in gen_server:call exit with that reason; with
   * `{ restart: 'permanent' }` (or `'transient'`) it is then restarted under
   * the same name, within `intensity` restarts per `periodMs`, as a
   * supervisor would. Throws `ERR_NAME_TAKEN` / `ERR_BAD_NAME` for the name,
   * `ERR_OVERLOADED` while the memory guard refuses new work.
   */
  serve(name: string | undefined, handlers: ServerHandlers, o: ServeOptions = {}): GenServer {
    return new GenServer(this, name, handlers, o);
  }

  /** `gen_server:reply(From, Reply)`: answers a call whose handler returned `noReply`. */
  reply(from: GenFrom, value: Term): void {
    this.replyTo(from, value, this.systemProcess());
  }

  /**
   * Exposes JS functions to Erlang as module `module`:
   * `rpc:call(ThisNode, module, fn, Args)` and `erpc:call(...)` run
   * `functions[fn](...Args)` (sync or async) and return its value.
   * Exceptions come back as Erlang's do: a JS error is
   * `error:{js_error, <<"message">>}` (rpc: `{badrpc, {'EXIT',
   * {{js_error, Msg}, Stack}}}`; erpc: `error:{exception, {js_error, Msg},
   * Stack}`), and an `ErlangException` raises the class and reason it
   * carries. Functions not exposed fail with `undef`, as on a node without
   * the module. Each call runs concurrently with the others; `this` is its
   * `RpcContext` (the caller's pid, an AbortSignal that fires when the
   * caller gives up). Replaces an earlier module of the same name.
   */
  expose(module: string, functions: ExposedModule): void {
    this.exposedModules.set(module, functions);
  }

  /** Stops exposing `module`; true if it was exposed. */
  unexpose(module: string): boolean {
    return this.exposedModules.delete(module);
  }

  /** The exposed module names. */
  exposed(): string[] {
    return this.exposedModules.names();
  }

  /** @internal erpc and spawns of exposed functions. */
  override onSpawnRequest(c: DistConnection, m: SpawnRequestSignal): void {
    if (this.stopped) {
      this.refuseSpawn(c, m, NOTSUP);
      return;
    }
    if (this.overloaded) {
      this.refuseSpawn(c, m, SYSTEM_LIMIT);
      return;
    }
    serveSpawn(this, this.exposedModules, c, m, this.report);
  }
}

function isGlobalRef(s: ServerRef | GlobalRef): s is GlobalRef {
  return typeof s === 'object' && s !== null && 'global' in s;
}
