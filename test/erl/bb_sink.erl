%% Receivers for the backpressure tests, counting {seq, I, Payload} messages
%% and checking that I runs in order.
%%   sink/0 (test/dist/backpressure.test.ts) registers `sink`:
%%     {From, count} -> {count, N, Last}, Last the last I or `bad` once out of order
%%     (I must run 0, 1, 2, ...).
%%   counter/0 (test/otp/backpressure-erl.test.ts) registers `counter`:
%%     {get, From} -> {count, N, InOrder}; {reset, From} -> reset_done
%%     (I must run 1, 2, 3, ...).
%%   collector/0 (test/otp/recovery-erl.test.ts) registers `sink`, which keeps
%%     every message: {get, From} -> {sink, Messages} (oldest first), and forgets them.
-module(bb_sink).
-export([sink/0, counter/0, collector/0]).

sink() ->
    register(sink, spawn(fun() -> sink(0, -1) end)).

sink(N, Last) ->
    receive
        {seq, I, _} ->
            sink(N + 1, case Last of bad -> bad; _ when I =:= Last + 1 -> I; _ -> bad end);
        {From, count} ->
            From ! {count, N, Last},
            sink(N, Last)
    end.

counter() ->
    register(counter, spawn(fun() -> counter(0, true) end)).

counter(N, Ok) ->
    receive
        {get, F} -> F ! {count, N, Ok}, counter(N, Ok);
        {reset, F} -> F ! reset_done, counter(0, true);
        {seq, I, _} -> counter(N + 1, Ok andalso I =:= N + 1)
    end.

collector() ->
    register(sink, spawn(fun() -> collect([]) end)).

collect(L) ->
    receive
        {get, F} -> F ! {sink, lists:reverse(L)}, collect([]);
        M -> collect([M | L])
    end.
