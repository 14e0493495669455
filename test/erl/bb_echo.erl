%% An echo for the atom cache tests (test/dist/atomcache-erl.test.ts): start/0
%% registers `echo', which answers {From, Term} with {echoed, Term}. Whatever
%% Erlang decoded from the message comes back as Erlang encodes it.
-module(bb_echo).
-export([start/0]).

start() ->
    register(echo, spawn(fun loop/0)),
    ok.

loop() ->
    receive
        {From, Term} when is_pid(From) -> From ! {echoed, Term}, loop();
        _ -> loop()
    end.
