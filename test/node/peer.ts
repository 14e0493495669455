// The Erlang side of the node tests: an erl node started with PEER_EVAL
// registers `peer`, which echoes `{From, echo, Msg}` with `{echo, Msg}` and
// evaluates Erlang source sent as `{From, Ref, eval, Src, Bindings}` in a new
// process, answering `{eval, Ref, {ok, Value} | {Class, Reason}}`. The tests
// drive Erlang through it without rpc, so rpc is tested on its own.
// `{From, Ref, puppet, Trap}` spawns a puppet (see test/otp/puppet.ts): a
// process that evaluates source in itself (so that its links, monitors and
// exits are its own) and logs every other message it gets.
import { Tuple, atom, formatTerm, termEquals, tuple, type Term } from '../../src/etf/index.js';
import type { LocalProcess, NodeCore } from '../../src/node/index.js';

export const PEER_EVAL = [
  'Ev = fun(Src, Bs) ->',
  '  {ok, Toks, _} = erl_scan:string(unicode:characters_to_list(Src)),',
  '  {ok, Es} = erl_parse:parse_exprs(Toks),',
  '  B = lists:foldl(fun({K, V}, A) -> erl_eval:add_binding(K, V, A) end, erl_eval:new_bindings(), Bs),',
  '  {value, V, _} = erl_eval:exprs(Es, B),',
  '  V',
  'end,',
  'Puppet = fun PL(Log) ->',
  '  receive',
  '    {puppet_do, F, R, Src, Bs} ->',
  '      Res = try {ok, Ev(Src, [{\'Self\', self()} | Bs])} catch C:E -> {C, E} end, F ! {puppet, R, Res}, PL(Log);',
  '    {puppet_log, F, R} -> F ! {puppet, R, {ok, lists:reverse(Log)}}, PL([]);',
  '    M -> PL([M | Log])',
  '  end end,',
  'register(peer, spawn(fun Loop() ->',
  '  receive',
  '    {From, Ref, puppet, Trap} ->',
  '      From ! {puppet_pid, Ref, spawn(fun() -> process_flag(trap_exit, Trap), Puppet([]) end)}, Loop();',
  '    {From, echo, M} -> From ! {echo, M}, Loop();',
  '    {From, Ref, eval, Src, Bs} ->',
  '      spawn(fun() -> R = try {ok, Ev(Src, Bs)} catch C:E -> {C, E} end, From ! {eval, Ref, R} end),',
  '      Loop();',
  '    _ -> Loop()',
  '  end end))',
].join(' ');

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
