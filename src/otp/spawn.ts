// SPAWN_REQUEST on a Node (which advertises DFLAG_SPAWN), for erpc and for
// spawns of exposed functions. erpc:call(Node, M, F, A) sends SPAWN_REQUEST
// {erpc, execute_call, 4} with the arguments [Res, M, F, A] and the option
// `monitor`; the new process runs the call and exits with {Res, return, V},
// {Res, throw, V}, {Res, exit, R} or {Res, error, R, Stack}, which reaches
// the caller as the DOWN of the monitor (the request id is its reference) and
// becomes erpc's result (kernel erpc.erl). erpc:cast runs {erpc,
// execute_cast, 3}; spawn(Node, M, F, A) runs M:F directly. Every request
// gets its SPAWN_REPLY with the new pid first; what is not exposed fails as
// on a node without the module (undef).
import { atom, tuple, type Term } from '../etf/types.js';
import type { DistConnection, SpawnRequestSignal } from '../dist/index.js';
import type { NodeCore } from '../node/index.js';
import { erpcExitReason, type ExposedModules, type Outcome } from './exposed.js';

const ERPC = atom('erpc');
const EXECUTE_CALL = atom('execute_call');
const EXECUTE_CAST = atom('execute_cast');
const NORMAL = atom('normal');
const NOCATCH = atom('nocatch');
const EXCEPTION = atom('exception');

/** Reports the failure of a call nobody waits for (erpc:cast, spawn). */
export type HandlerErrorReporter = (error: { module: Term; function: Term; outcome: Outcome }) => void;

/** The exit reason of a process that ran M:F(Args) directly, as an Erlang process ending that way. */
function processExitReason(o: Outcome): Term {
  switch (o.kind) {
    case 'return':
      return NORMAL;
    case 'exit':
      return o.reason;
    case 'throw':
      return tuple(tuple(NOCATCH, o.value), []);
    case 'error':
      return tuple(o.reason, o.stack);
  }
}

/** Serves one SPAWN_REQUEST that arrived on `c`. */
export function serveSpawn(node: NodeCore, exposed: ExposedModules, c: DistConnection, m: SpawnRequestSignal, report?: HandlerErrorReporter): void {
  const p = node.acceptSpawn(c, m);
  // The call's signal fires when its process dies before the call ends (killed, abandoned, nodedown).
  const ac = new AbortController();
  p.receive({ match: () => false }).catch(() => ac.abort());
  const ctx = { node, caller: m.from, signal: ac.signal };
  const args = m.args;
  /** Runs mod:fun(a) and ends the process with `done(outcome)`; `quiet` when the caller gets the outcome itself. */
  const run = (mod: Term, fun: Term, a: Term, done: (o: Outcome) => Term, quiet: boolean) => {
    void exposed.run(mod, fun, a, ctx).then((o) => {
      if (!quiet && report && (o.kind === 'error' || o.kind === 'exit')) report({ module: mod, function: fun, outcome: o });
      p.exit(done(o));
    });
  };
  if (m.module === ERPC && m.function === EXECUTE_CALL && args.length === 4) {
    const [res, mod, fun, a] = args;
    run(mod, fun, a, (o) => erpcExitReason(res, o), true);
  } else if (m.module === ERPC && m.function === EXECUTE_CAST && args.length === 3) {
    const [mod, fun, a] = args;
    // As execute_cast/3: an error ends the process with {exception, {Reason, Stack}}.
    run(mod, fun, a, (o) => (o.kind === 'error' ? tuple(tuple(EXCEPTION, tuple(o.reason, o.stack)), []) : processExitReason(o)), false);
  } else {
    run(m.module, m.function, args, processExitReason, false);
  }
}
