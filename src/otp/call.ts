// The client half of gen_server:call, with its semantics (stdlib gen.erl):
// monitor the server, send {'$gen_call', {Pid, Ref}, Request}, wait for
// {Ref, Reply} or the monitor's DOWN, and give up after the timeout. Each
// call runs in a temporary process whose pid is the From: once the call is
// over the process is gone, so a late reply is dropped by the node (as an
// OTP 24+ alias would drop it) and never reaches anyone's mailbox.
import { Atom, Pid, Reference, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { NodeError, callsTraced, genCallMessage, isDown, sameRef, traced, type MonitorTarget, type NodeCore } from '../node/index.js';
import { CallError, unreachableCode } from './errors.js';

const NOPROC = atom('noproc');
const NOCONNECTION = atom('noconnection');
const NODEDOWN = atom('nodedown');
const TIMEOUT = atom('timeout');

/** Options of a call. */
export interface GenCallOptions {
  /** Default 5000 ms, as gen_server:call; `Infinity` waits forever (a DOWN still ends the wait). */
  timeoutMs?: number;
  /** Rejects with NodeError `ERR_ABORTED`. */
  signal?: AbortSignal;
}

/** A gen_server: a pid, a name on this node, or `{ name, node }`. */
export type ServerRef = MonitorTarget;

function isReply(m: Term, ref: Reference): boolean {
  return m instanceof Tuple && m.elements.length === 2 && m.elements[0] instanceof Reference && sameRef(m.elements[0], ref);
}

function nameOf(x: string | Atom): string {
  return typeof x === 'string' ? x : x.name;
}

/** The node a server reference points at. */
export function serverNode(node: NodeCore, s: ServerRef): string {
  if (s instanceof Pid) return s.node.name;
  if (typeof s === 'string' || s instanceof Atom) return node.name;
  return nameOf(s.node);
}

/** A server reference in Erlang's notation, for messages. */
export function describeServer(s: ServerRef): string {
  if (s instanceof Pid) return s.toString();
  if (typeof s === 'string' || s instanceof Atom) return nameOf(s);
  return `{${nameOf(s.name)}, ${nameOf(s.node)}}`;
}

/**
 * `gen_server:call(Server, Request, Timeout)`. Resolves with the reply;
 * rejects with {@link CallError} (`ERR_NOPROC`, `ERR_CALL_EXIT`,
 * `ERR_NODEDOWN` or its root cause `ERR_BAD_COOKIE` / `ERR_TLS`,
 * `ERR_TIMEOUT`) or NodeError `ERR_ABORTED`. Seen by the `beambridge:call:*`
 * diagnostics channels as `kind` (default `call`).
 */
export function genCall(node: NodeCore, server: ServerRef, request: Term, o: GenCallOptions = {}, kind: 'call' | 'ping' = 'call'): Promise<Term> {
  if (!callsTraced()) return callOnce(node, server, request, o);
  return traced(
    () => ({ node: node.name, kind, peer: serverNode(node, server), target: describeServer(server), request }),
    () => callOnce(node, server, request, o),
  );
}

async function callOnce(node: NodeCore, server: ServerRef, request: Term, o: GenCallOptions): Promise<Term> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const p = node.spawn();
  try {
    const ref = p.monitor(server);
    try {
      p.send(server, genCallMessage(p.pid, ref, request));
    } catch (e) {
      // An unregistered local name: the monitor has already said noproc.
      if ((e as NodeError).code !== 'ERR_BAD_TARGET') throw e;
    }
    const match = (m: Term) => isReply(m, ref) || isDown(m, ref);
    let m: Term;
    try {
      m = await p.receive({ match, timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : undefined, signal: o.signal });
    } catch (e) {
      if ((e as NodeError).code !== 'ERR_TIMEOUT') throw e;
      // As gen.erl: a reply that raced the timeout still counts.
      p.demonitor(ref, { flush: true });
      const late = p.mailbox.take((x) => isReply(x, ref));
      if (typeof late === 'symbol') throw new CallError('ERR_TIMEOUT', TIMEOUT, `call to ${describeServer(server)} timed out after ${timeoutMs} ms`);
      m = late;
    }
    const t = m as Tuple;
    if (t.elements.length === 2) {
      p.demonitor(ref, { flush: true });
      return t.elements[1];
    }
    const reason = t.elements[4];
    if (reason === NOCONNECTION) {
      const peer = serverNode(node, server);
      const cause = node.lastError(peer);
      throw new CallError(unreachableCode(cause), tuple(NODEDOWN, atom(peer)), `call to ${describeServer(server)} failed`, { cause, detail: cause?.message });
    }
    if (reason === NOPROC) throw new CallError('ERR_NOPROC', NOPROC, `call to ${describeServer(server)} failed`);
    throw new CallError('ERR_CALL_EXIT', reason, `${describeServer(server)} exited during the call`);
  } finally {
    p.exit();
  }
}
