%% Erlang peers for the CLI tests (test/cli/*.test.ts).
%%   peer/0: registers `sink` (prints "GOT Msg" for each message) and `echo`
%%     ({From, M} -> {echo, M}).
%%   tap_b/0: registers `tapreg`, which answers {hello, From, N} with {reply, N + 1}.
%%   tap_a/1: talks to tap_b's node B: a REG_SEND to `tapreg` and its SEND back,
%%     an rpc, a gen_server call to rex and a 300 KB binary (fragmented on the
%%     wire); prints "A_DONE Reply RpcResult CallResult".
%%   observed/0: registers `obsreg`, which answers {ping, From} with
%%     {pong, [1..300], a 200 KB binary}.
-module(bb_cli).
-export([peer/0, tap_b/0, tap_a/1, observed/0]).

peer() ->
    register(sink, spawn(fun Sink() -> receive M -> io:format("GOT ~p~n", [M]), Sink() end end)),
    register(echo, spawn(fun Echo() -> receive {From, M} -> From ! {echo, M}, Echo() end end)).

tap_b() ->
    register(tapreg, spawn(fun L() -> receive {hello, From, N} -> From ! {reply, N + 1}, L() end end)).

tap_a(B) ->
    P = self(),
    {tapreg, B} ! {hello, P, 42},
    R = receive {reply, X} -> X after 10000 -> timeout end,
    R2 = rpc:call(B, lists, reverse, [[1, 2, 3]]),
    R3 = gen_server:call({rex, B}, {call, erlang, atom_to_list, [tapped], group_leader()}),
    {tapreg, B} ! {big, binary:copy(<<7>>, 300000)},
    io:format("A_DONE ~p ~p ~p~n", [R, R2, R3]).

observed() ->
    register(obsreg, spawn(fun L() -> receive {ping, F} -> F ! {pong, lists:seq(1, 300), binary:copy(<<1>>, 200000)}, L() end end)).
