%% The Erlang side of the fault and flood tests (test/otp/faults-erl.test.ts,
%% test/otp/floods-erl.test.ts), compiled with erlc by the OTP under test.
%%
%% - failfast/2 times what OTP itself does against a node that is down:
%%   rpc:call, gen_server:call, a monitor's DOWN, net_adm:ping.
%% - sink_boot/1 starts the peer that is killed and restarted: `sink' is
%%   registered before distribution starts (so nothing is dropped for a
%%   missing name), and SINK_READY <Name> <Ms> is printed once the node is
%%   registered in EPMD (Ms: system time in milliseconds).
%% - start_sender/3 sends {Tag, Seq, SentMs} to {sink, Node} every few ms,
%%   as the Node side does, until it gets `stop'.
%% - flood_watch/3 links to and monitors a process, floods it, and says how
%%   the process ended.
-module(bb_faults).
-export([failfast/2, sink_boot/1, start_sender/3, flood_watch/3, flood/2]).

%% Microseconds (and the result) of each of Rounds attempts of each
%% operation against Dead, 100 ms apart.
failfast(Dead, Rounds) ->
    Seq = lists:seq(1, Rounds),
    Ops = [{rpc, fun() -> rpc:call(Dead, erlang, node, [], 5000) end},
           {call, fun() -> catch gen_server:call({sink, Dead}, x, 1000) end},
           {monitor, fun() -> R = erlang:monitor(process, {sink, Dead}),
                              receive {'DOWN', R, process, _, Why} -> Why after 10000 -> timeout end end},
           {ping, fun() -> net_adm:ping(Dead) end}],
    [{Op, [timed(F) || _ <- Seq]} || {Op, F} <- Ops].

timed(F) ->
    timer:sleep(100),
    T0 = erlang:monotonic_time(microsecond),
    R = F(),
    {erlang:monotonic_time(microsecond) - T0, R}.

sink_boot(Name) ->
    register(sink, spawn(fun() -> sink([]) end)),
    {ok, _} = net_kernel:start([Name, longnames]),
    io:format("SINK_READY ~s ~b~n", [Name, erlang:system_time(millisecond)]).

%% Keeps {Tag, Seq, SentMs, ArrivedMs} for every {Tag, Seq, SentMs}; hands them
%% over (and forgets them) on {get, From}.
sink(L) ->
    receive
        {get, From} -> From ! {sink, lists:reverse(L)}, sink([]);
        {Tag, Seq, Sent} -> sink([{Tag, Seq, Sent, erlang:system_time(millisecond)} | L]);
        _ -> sink(L)
    end.

start_sender(Node, Tag, IntervalMs) ->
    spawn(fun() -> send_loop(Node, Tag, IntervalMs, 1) end).

send_loop(Node, Tag, Ms, Seq) ->
    {sink, Node} ! {Tag, Seq, erlang:system_time(millisecond)},
    receive stop -> ok after Ms -> send_loop(Node, Tag, Ms, Seq + 1) end.

%% Links to Target (trapping exits) and monitors it, and floods it (from a
%% process of its own) with up to N messages until it goes down. Returns
%% {Down, Exit, Ms, Sent}: the DOWN reason, the exit signal's reason, the time
%% from the first message to the DOWN, and how many messages were sent.
flood_watch(Target, N, TimeoutMs) ->
    process_flag(trap_exit, true),
    link(Target),
    M = erlang:monitor(process, Target),
    Self = self(),
    T0 = erlang:monotonic_time(millisecond),
    F = spawn(fun() -> Self ! {sent, flood(Target, N, 0)} end),
    Down = receive {'DOWN', M, process, _, Why} -> Why after TimeoutMs -> timeout end,
    Ms = erlang:monotonic_time(millisecond) - T0,
    F ! stop,
    Sent = receive {sent, S} -> S end,
    Exit = receive {'EXIT', Target, W} -> W after 1000 -> none end,
    {Down, Exit, Ms, Sent}.

%% Sends up to N small messages (a tuple with a 10-element list) to Target,
%% stopping early on `stop'; returns how many it sent.
flood(_, N, N) -> N;
flood(Target, N, I) when I rem 1000 =:= 0 ->
    receive stop -> I after 0 -> send_one(Target, N, I) end;
flood(Target, N, I) -> send_one(Target, N, I).

send_one(Target, N, I) ->
    Target ! {flood, I, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]},
    flood(Target, N, I + 1).

%% N messages to Target, from the caller.
flood(Target, N) -> flood(Target, N, 0).
