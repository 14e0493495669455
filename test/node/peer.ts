// The Erlang side of the node tests: an erl node started with PEER_EVAL and
// PEER_MODULES registers `peer` (test/erl/bb_peer.erl), which echoes
// `{From, echo, Msg}` with `{echo, Msg}` and evaluates Erlang source sent as
// `{From, Ref, eval, Src, Bindings}` in a new process, answering
// `{eval, Ref, {ok, Value} | {Class, Reason}}`. The tests drive Erlang through
// it without rpc, so rpc is tested on its own. `{From, Ref, puppet, Trap}`
// spawns a puppet (see test/otp/puppet.ts): a process that evaluates source
// in itself (so that its links, monitors and exits are its own) and logs every
// other message it gets.
import { Tuple, atom, formatTerm, termEquals, tuple, type Term } from '../../src/etf/index.js';
import type { LocalProcess, NodeCore } from '../../src/node/index.js';
import { erlModule } from '../helpers/erl-modules.js';

/** Start an erl node with `eval: PEER_EVAL, modules: PEER_MODULES` to get `peer` (test/erl/bb_peer.erl). */
export const PEER_EVAL = 'bb_peer:start()';
/** The Erlang modules {@link PEER_EVAL} needs. */
export const PEER_MODULES = [erlModule('bb_peer')];

export function isTuple(m: Term, tag: string, size?: number): m is Tuple {
  return m instanceof Tuple && m.elements[0] === atom(tag) && (size === undefined || m.elements.length === size);
}

/**
 * Evaluates Erlang expressions (`src`, ending with a dot) on `erl` through its
 * `peer` process; `bindings` become variables. Resolves with the value;
 * rejects when the evaluation raised.
 */
export async function evalErl(
  node: NodeCore,
  p: LocalProcess,
  erl: string,
  src: string,
  bindings: Record<string, Term> = {},
  timeoutMs = 30_000,
): Promise<Term> {
  const ref = node.makeRef();
  const bs = Object.entries(bindings).map(([k, v]) => tuple(atom(k), v));
  p.send({ name: 'peer', node: erl }, tuple(p.pid, ref, atom('eval'), src, bs));
  const m = (await p.receive({ timeoutMs, match: (x) => isTuple(x, 'eval', 3) && termEquals(x.at(1), ref) })) as Tuple;
  const r = m.at(2) as Tuple;
  if (r.at(0) !== atom('ok')) throw new Error(`erl eval of ${src} failed: ${formatTerm(r)}`);
  return r.at(1);
}
