// `Node`: the public node class. NodeCore (src/node) is the distribution and
// process machinery; this layer adds what OTP builds on top of it: ping
// (net_adm:ping), rpc (through rex), gen_server calls, a group leader for
// remote output, and a rex server of our own.
import { Atom, atom, tuple, type Term } from '../etf/types.js';
import { NodeCore, NodeError, type LocalProcess, type NodeOptions, type WaitOptions } from '../node/index.js';
import type { NodeSetup } from '../node/setup.js';
import { genCall, type GenCallOptions, type ServerRef } from './call.js';
import { startIoServer, type OutputHandler } from './io.js';
import { startRex } from './rex.js';
import { rexCall, type RpcOptions } from './rpc.js';

const IS_AUTH = atom('is_auth');
const YES = atom('yes');

/** Options of {@link Node.start}: the node's options plus the OTP layer's. */
export interface StartOptions extends NodeOptions {
  /** Receives the output (io:format...) of functions run by {@link Node.rpc}; by default it is discarded. */
  onOutput?: OutputHandler;
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
 * node.on('nodedown', (peer, reason) => ...)
 * await node.stop()
 * ```
 */
export class Node extends NodeCore {
  /** The group leader given to the functions this node runs by rpc (an io server). */
  readonly groupLeader: LocalProcess;
  /** This node's own rex server. */
  readonly rex: LocalProcess;

  protected constructor(s: NodeSetup, o: StartOptions) {
    super(s);
    this.groupLeader = startIoServer(this, o.onOutput);
    this.rex = startRex(this);
  }

  /** Starts a node: listens, registers with EPMD (or an embedded one), and answers Erlang's net_kernel and rex. */
  static override async start(o: StartOptions): Promise<Node> {
    return new Node(await NodeCore.prepare(o), o);
  }

  /**
   * `net_adm:ping(Peer)`: connects if needed and asks the peer's net_kernel
   * `{is_auth, Us}`. Resolves true (pong) or false (pang: unreachable,
   * bad cookie, no answer within `timeoutMs`, default 10 s). Only an abort
   * rejects (NodeError `ERR_ABORTED`).
   */
  async ping(peer: string, o: WaitOptions = {}): Promise<boolean> {
    if (peer === this.name) return true;
    const timeoutMs = o.timeoutMs ?? 10_000;
    try {
      const r = await genCall(this, { name: 'net_kernel', node: peer }, tuple(IS_AUTH, this.nodeAtom), { timeoutMs, signal: o.signal });
      return r === YES;
    } catch (e) {
      if ((e as NodeError).code === 'ERR_ABORTED') throw e;
      if ((e as NodeError).code === 'ERR_NODE_STOPPED') throw e;
      // As net_adm:ping: a failed ping drops whatever connection there is.
      this.disconnect(peer);
      return false;
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
   * name, or `{ name, node }`. Rejects with `CallError` (`ERR_NOPROC`,
   * `ERR_CALL_EXIT`, `ERR_NODEDOWN`, `ERR_TIMEOUT`) or NodeError
   * `ERR_ABORTED`. Default timeout 5000 ms.
   */
  call(server: ServerRef, request: Term, o: GenCallOptions = {}): Promise<Term> {
    return genCall(this, server, request, o);
  }
}
