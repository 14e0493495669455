%% The Erlang side of bench/dist.mjs (compiled with erlc into a temp dir).
%%
%% On the sink node: sink/0 registers `counter' (counts N small messages and
%% reports) and `bb_server' (a gen_server that answers every call with its
%% request). On the driver node: drive/4 runs the same two flows erl-to-erl
%% and prints their times, so both sides of the comparison hit the same sink.
-module(dist_bench).
-behaviour(gen_server).
-export([sink/0, drive/4]).
-export([init/1, handle_call/3, handle_cast/2]).

sink() ->
    register(counter, spawn(fun counter/0)),
    {ok, _} = gen_server:start({local, bb_server}, ?MODULE, [], []),
    ok.

counter() ->
    receive
        {start, From, N} ->
            From ! {ready, self()},
            count(N),
            From ! {done, N},
            counter()
    end.

count(0) -> ok;
count(K) -> receive {msg, _} -> count(K - 1) end.

init([]) -> {ok, nostate}.
handle_call(Req, _From, S) -> {reply, Req, S}.
handle_cast(_, S) -> {noreply, S}.

%% Prints "MSGS <microseconds>" for N one-way messages to the sink's counter,
%% and "CALLS <microseconds>" for Callers concurrent processes each making
%% PerCaller gen_server:call round trips to bb_server.
drive(Sink, N, Callers, PerCaller) ->
    pong = net_adm:ping(Sink),
    {counter, Sink} ! {start, self(), N},
    Pid = receive {ready, P} -> P after 10000 -> exit(no_counter) end,
    T0 = erlang:monotonic_time(microsecond),
    send_loop(Pid, N),
    receive {done, N} -> ok after 120000 -> exit(count_timeout) end,
    T1 = erlang:monotonic_time(microsecond),
    io:format("MSGS ~b~n", [T1 - T0]),
    Self = self(),
    C0 = erlang:monotonic_time(microsecond),
    Ps = [spawn_link(fun() -> call_loop({bb_server, Sink}, PerCaller), Self ! {caller_done, self()} end)
          || _ <- lists:seq(1, Callers)],
    [receive {caller_done, P2} -> ok after 120000 -> exit(call_timeout) end || P2 <- Ps],
    C1 = erlang:monotonic_time(microsecond),
    io:format("CALLS ~b~n", [C1 - C0]),
    ok.

send_loop(_, 0) -> ok;
send_loop(Pid, K) -> Pid ! {msg, K}, send_loop(Pid, K - 1).

call_loop(_, 0) -> ok;
call_loop(S, K) -> ping = gen_server:call(S, ping, 60000), call_loop(S, K - 1).
