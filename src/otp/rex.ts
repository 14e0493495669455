// The `rex` server of a beambridge node, so that Erlang's rpc machinery gets
// OTP's answers instead of silence (kernel rpc.erl): `{From, features_request}`
// is answered `{features_reply, Node, []}` (no erpc: we do not advertise
// DFLAG_SPAWN, so OTP's rpc:call fails fast with `{badrpc, notsup}` on its
// own side); a call, by the C-node form `{From, {call, M, F, A, GL}}` or by
// gen_server (`call` and `block_call`), is answered as a node without that
// module answers: `{badrpc, {'EXIT', {undef, [{M, F, A, []}]}}}`. Casts are
// ignored. (Issue 5 adds functions exposed from Node here.)
import { Atom, Pid, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { isAtom, parseGenCall, parseGenCast, type LocalProcess, type NodeCore } from '../node/index.js';

const REX = atom('rex');
const BADRPC = atom('badrpc');
const EXIT = atom('EXIT');
const UNDEF = atom('undef');
const FEATURES_REPLY = atom('features_reply');

/** `{badrpc, {'EXIT', {undef, [{M, F, A, []}]}}}`. */
function undef(m: Term, f: Term, a: Term): Term {
  return tuple(BADRPC, tuple(EXIT, tuple(UNDEF, [tuple(m, f, a, [])])));
}

/** Answers one rex request; undefined for what rex ignores. */
function answer(req: Term): Term | undefined {
  if (req instanceof Tuple && req.elements.length === 5 && (isAtom(req.elements[0], 'call') || isAtom(req.elements[0], 'block_call'))) {
    const [, m, f, a] = req.elements;
    return undef(m, f, a);
  }
  return undefined;
}

/** Spawns and registers `rex`. */
export function startRex(node: NodeCore): LocalProcess {
  const p = node.spawn({ name: 'rex' });
  void (async () => {
    for await (const m of p) {
      const call = parseGenCall(m);
      if (call) {
        const r = answer(call.request);
        if (r !== undefined) node.replyTo(call.from, r, p);
        continue;
      }
      if (parseGenCast(m)) continue;
      if (!(m instanceof Tuple) || m.elements.length !== 2 || !(m.elements[0] instanceof Pid)) continue;
      const [from, req] = m.elements as [Pid, Term];
      if (req instanceof Atom && req.name === 'features_request') {
        p.send(from, tuple(FEATURES_REPLY, node.nodeAtom, []));
        continue;
      }
      const r = answer(req);
      if (r !== undefined) p.send(from, tuple(REX, r));
    }
  })().catch(() => {});
  return p;
}
