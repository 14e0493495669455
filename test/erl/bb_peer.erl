%% The Erlang side of the node and OTP tests (test/node/peer.ts,
%% test/otp/puppet.ts). start/0 registers `peer`, which
%%   - answers {From, echo, Msg} with {echo, Msg};
%%   - evaluates Erlang source sent as {From, Ref, eval, Src, Bindings} in a new
%%     process and answers {eval, Ref, {ok, Value} | {Class, Reason}};
%%   - for {From, Ref, puppet, Trap} spawns a puppet and answers
%%     {puppet_pid, Ref, Pid}: a process that evaluates source in itself
%%     ({puppet_do, From, Ref, Src, Bindings}, with 'Self' bound to its pid, so
%%     its links, monitors and exits are its own) and logs every other message
%%     it gets ({puppet_log, From, Ref} answers {puppet, Ref, {ok, Log}}).
%% The tests drive Erlang through it without rpc, so rpc is tested on its own.
-module(bb_peer).
-export([start/0, eval/2]).

start() ->
    register(peer, spawn(fun loop/0)).

loop() ->
    receive
        {From, Ref, puppet, Trap} ->
            From ! {puppet_pid, Ref, spawn(fun() -> process_flag(trap_exit, Trap), puppet([]) end)};
        {From, echo, M} ->
            From ! {echo, M};
        {From, Ref, eval, Src, Bs} ->
            spawn(fun() -> From ! {eval, Ref, try_eval(Src, Bs)} end);
        _ ->
            ok
    end,
    loop().

puppet(Log) ->
    receive
        {puppet_do, F, R, Src, Bs} ->
            F ! {puppet, R, try_eval(Src, [{'Self', self()} | Bs])},
            puppet(Log);
        {puppet_log, F, R} ->
            F ! {puppet, R, {ok, lists:reverse(Log)}},
            puppet([]);
        M ->
            puppet([M | Log])
    end.

try_eval(Src, Bs) ->
    try {ok, eval(Src, Bs)} catch C:E -> {C, E} end.

%% Evaluates Erlang expressions (a binary or string ending with a dot) with
%% the bindings [{Name, Value}].
eval(Src, Bs) ->
    {ok, Toks, _} = erl_scan:string(unicode:characters_to_list(Src)),
    {ok, Es} = erl_parse:parse_exprs(Toks),
    B = lists:foldl(fun({K, V}, A) -> erl_eval:add_binding(K, V, A) end, erl_eval:new_bindings(), Bs),
    {value, V, _} = erl_eval:exprs(Es, B),
    V.
