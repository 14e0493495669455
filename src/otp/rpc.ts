// rpc through `rex`, the protocol OTP keeps for C nodes and hidden nodes
// (kernel rpc.erl, handle_info({From, {call, M, F, A, GroupLeader}}, _)):
// send {Caller, {call, M, F, A, GroupLeader}} to {rex, Node}; the answer is
// {rex, Result}, where Result is the value or {badrpc, Reason}. The caller is
// a temporary process that monitors rex, so a lost connection ends the wait
// at once and a late answer is dropped with the process.
import { Atom, Pid, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { NodeError, isDown, traced, type NodeCore } from '../node/index.js';
import { RpcError, unreachableCode } from './errors.js';

const REX = atom('rex');
const CALL = atom('call');
const BADRPC = atom('badrpc');
const EXIT = atom('EXIT');
const NODEDOWN = atom('nodedown');
const NOCONNECTION = atom('noconnection');
const TIMEOUT = atom('timeout');

/** Options of an rpc. */
export interface RpcOptions {
  /** Default: wait forever, as `rpc:call/4` (a lost connection still ends the wait). */
  timeoutMs?: number;
  /** Rejects with NodeError `ERR_ABORTED`. */
  signal?: AbortSignal;
}

/**
 * `rpc:call(Peer, M, F, Args)` through the peer's rex server. Resolves with
 * the function's value (or a thrown value, as rpc does); rejects with
 * {@link RpcError} (see its codes) or NodeError `ERR_ABORTED`. Seen by the
 * `beambridge:call:*` diagnostics channels as `kind: 'rpc'`.
 */
export function rexCall(
  node: NodeCore,
  groupLeader: Pid,
  peer: string,
  m: string | Atom,
  f: string | Atom,
  args: Term[],
  o: RpcOptions = {},
): Promise<Term> {
  const mod = typeof m === 'string' ? atom(m) : m;
  const fun = typeof f === 'string' ? atom(f) : f;
  const where = `${peer}: ${mod.name}:${fun.name}/${args.length}`;
  return traced(() => ({ node: node.name, kind: 'rpc', peer, target: `${mod.name}:${fun.name}/${args.length}`, request: args }), async () => {
    const p = node.spawn();
    try {
      const rex = { name: REX, node: peer };
      const ref = p.monitor(rex);
      p.send(rex, tuple(p.pid, tuple(CALL, mod, fun, args, groupLeader)));
      const isAnswer = (x: Term) => x instanceof Tuple && x.elements.length === 2 && x.elements[0] === REX;
      let msg: Term;
      try {
        msg = await p.receive({ match: (x) => isAnswer(x) || isDown(x, ref), timeoutMs: o.timeoutMs, signal: o.signal });
      } catch (e) {
        if ((e as NodeError).code === 'ERR_TIMEOUT') throw new RpcError('ERR_TIMEOUT', TIMEOUT, `rpc ${where} timed out after ${o.timeoutMs} ms`);
        throw e;
      }
      const t = msg as Tuple;
      if (t.elements.length === 5) {
        const reason = t.elements[4];
        if (reason === NOCONNECTION) {
          const cause = node.lastError(peer);
          throw new RpcError(unreachableCode(cause), NODEDOWN, `rpc ${where} failed`, { cause, detail: cause?.message });
        }
        throw new RpcError('ERR_BADRPC', reason, `rpc ${where}: rex is down`);
      }
      p.demonitor(ref, { flush: true });
      return rpcResult(t.elements[1], where);
    } finally {
      p.exit();
    }
  });
}

/** Turns rex's answer into the value or an {@link RpcError}. */
export function rpcResult(r: Term, where = 'rpc'): Term {
  if (!(r instanceof Tuple) || r.elements.length !== 2 || r.elements[0] !== BADRPC) return r;
  const reason = r.elements[1];
  if (reason instanceof Tuple && reason.elements.length === 2 && reason.elements[0] === EXIT) {
    const x = reason.elements[1];
    let stack: Term[] | undefined;
    if (x instanceof Tuple && x.elements.length === 2 && isStack(x.elements[1])) stack = x.elements[1] as Term[];
    return fail(new RpcError('ERR_RPC_EXCEPTION', reason, `rpc ${where} raised`, { exitReason: x, stack }));
  }
  return fail(new RpcError('ERR_BADRPC', reason, `rpc ${where} failed`));
}

function fail(e: Error): never {
  throw e;
}

/** A list of stack frames `{M, F, ArityOrArgs, Location}`. */
function isStack(t: Term): boolean {
  return Array.isArray(t) && t.every((e) => e instanceof Tuple && e.elements.length === 4 && e.elements[0] instanceof Atom);
}
