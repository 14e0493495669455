// The `rex` server of a beambridge node (kernel rpc.erl), for the rpc forms
// that do not go through erpc: the C-node form `{From, {call, M, F, A, GL}}`
// answered `{rex, Result}`, and the gen_server forms `call` and `block_call`
// (rpc:block_call) answered as gen_server replies, each with the value of an
// exposed function or `{badrpc, {'EXIT', ...}}` (an undef for what is not
// exposed, as a node without the module). Calls run concurrently, as rex
// runs each in its own process. `{cast, M, F, A, GL}` casts run the function
// and drop the result. `{From, features_request}` is answered
// `{features_reply, Node, [erpc]}` when the node serves SPAWN_REQUEST (OTP's
// rpc then uses erpc), else `[]`.
import { Atom, Pid, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { DFLAG, hasFlag } from '../dist/index.js';
import { isAtom, parseGenCall, parseGenCast, type GenFrom, type LocalProcess, type NodeCore } from '../node/index.js';
import { rpcValue, type ExposedModules } from './exposed.js';
import type { HandlerErrorReporter } from './spawn.js';

const REX = atom('rex');
const FEATURES_REPLY = atom('features_reply');
const ERPC = atom('erpc');

/** `{call | block_call, M, F, A, GL}` or `{cast, M, F, A, GL}`. */
function mfa(req: Term, kinds: string[]): [Term, Term, Term] | undefined {
  if (!(req instanceof Tuple) || req.elements.length !== 5 || !kinds.some((k) => isAtom(req.elements[0], k))) return undefined;
  const [, m, f, a] = req.elements;
  return [m, f, a];
}

/** Spawns and registers `rex`, serving the functions in `exposed`. */
export function startRex(node: NodeCore, exposed: ExposedModules, report?: HandlerErrorReporter): LocalProcess {
  const p = node.spawn({ name: 'rex' });
  const run = (call: [Term, Term, Term], caller: Pid, answer: ((r: Term) => void) | undefined) => {
    const [m, f, a] = call;
    const ac = new AbortController();
    void exposed.run(m, f, a, { node, caller, signal: ac.signal }).then((o) => {
      if (answer) answer(rpcValue(o));
      else if (report && (o.kind === 'error' || o.kind === 'exit')) report({ module: m, function: f, outcome: o });
    });
  };
  const reply = (from: GenFrom) => (r: Term) => node.replyTo(from, r, p);
  void (async () => {
    for await (const m of p) {
      const call = parseGenCall(m);
      if (call) {
        const c = mfa(call.request, ['call', 'block_call']);
        // Other calls are ignored, as rex ignores them.
        if (c) run(c, call.from.pid, reply(call.from));
        continue;
      }
      const cast = parseGenCast(m);
      if (cast) {
        const c = mfa(cast.request, ['cast']);
        if (c) run(c, p.pid, undefined);
        continue;
      }
      if (!(m instanceof Tuple) || m.elements.length !== 2 || !(m.elements[0] instanceof Pid)) continue;
      const [from, req] = m.elements as [Pid, Term];
      if (req instanceof Atom && req.name === 'features_request') {
        node.post(p, from, tuple(FEATURES_REPLY, node.nodeAtom, hasFlag(node.flags, DFLAG.SPAWN) ? [ERPC] : []));
        continue;
      }
      const c = mfa(req, ['call']);
      if (c) run(c, from, (r) => node.post(p, from, tuple(REX, r)));
    }
  })().catch(() => {});
  return p;
}
