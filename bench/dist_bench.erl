%% The Erlang side of bench/dist.mjs (compiled with erlc into a temp dir).
%%
%% Three kinds of node run this module:
%% - the sink (sink/0): registers `counter' (counts the messages it gets and
%%   reports the count on request) and `bb_server' (a gen_server that
%%   answers every call with its request). It is the Erlang peer of every
%%   flow, in both the erl-to-erl baseline and the Node-to-Erlang flows.
%% - the driver: the erl side of every flow that starts in Erlang. bench/dist.mjs
%%   calls its functions with rpc; each flow runs against a target given as a
%%   node name, so the same code drives the erl-to-erl baseline (target: the
%%   sink) and the Erlang-to-Node flow (target: the beambridge node, which
%%   registers the same names).
%% - peers (peer/2): hidden nodes that only connect, for the memory row.
%%
%% Every flow is bounded by a duration and returns what it counted; the
%% caller computes rates and ratios.
-module(dist_bench).
-behaviour(gen_server).
-export([sink/0, chat_msg/0, memory/0]).
-export([oneway/2, oneway_busy/2, calls/3, seq/2]).
-export([peer/1, peers/3]).
-export([probe_start/1, probe_stop/1]).
-export([init/1, handle_call/3, handle_cast/2]).

%% The 58-byte chat message of the issue (term_to_binary size, version
%% byte included): {chat_msg, 1001, <<"hello">>, [alice, bob], #{seq => 7}}.
chat_msg() -> {chat_msg, 1001, <<"hello">>, [alice, bob], #{seq => 7}}.

%% ------------------------------------------------------------------ sink

sink() ->
    register(counter, spawn(fun() -> counter(0) end)),
    {ok, _} = gen_server:start({local, bb_server}, ?MODULE, [], []),
    ok.

counter(N) ->
    receive
        {report, From} -> From ! {count, N}, counter(0);
        _ -> counter(N + 1)
    end.

init([]) -> {ok, nostate}.
handle_call(Req, _From, S) -> {reply, Req, S}.
handle_cast(_, S) -> {noreply, S}.

%% erlang:memory(total) after a garbage collection of every process.
memory() ->
    [erlang:garbage_collect(P) || P <- processes()],
    erlang:memory(total).

%% --------------------------------------------------------------- driver

%% One-way: sends the chat message to {counter, Target} for Ms milliseconds,
%% then asks the counter for its count (messages are ordered per pair, so the
%% report comes after the last message). Returns {Sent, Counted, Micros}, the
%% time running from the first send to the count's arrival. The counter is
%% reset first.
oneway(Target, Ms) ->
    Dest = {counter, Target},
    Msg = chat_msg(),
    Dest ! {report, self()},
    receive {count, _} -> ok after 60000 -> exit(reset_timeout) end,
    T0 = now_us(),
    Sent = send_for(Dest, Msg, T0 + Ms * 1000, 0),
    Dest ! {report, self()},
    Counted = receive {count, C} -> C after 120000 -> exit(count_timeout) end,
    {Sent, Counted, now_us() - T0}.

%% oneway/2, also counting how often the sender was suspended on a busy
%% distribution port (erlang:system_monitor busy_dist_port): {Sent, Counted, Micros, Busy}.
oneway_busy(Target, Ms) ->
    Self = self(),
    Mon = spawn(fun() -> busy_counter(0) end),
    Old = erlang:system_monitor(Mon, [busy_dist_port]),
    try oneway(Target, Ms) of
        {Sent, Counted, Us} ->
            Mon ! {total, Self},
            N = receive {busy, C} -> C after 5000 -> -1 end,
            {Sent, Counted, Us, N}
    after
        restore_monitor(Old)
    end.

restore_monitor(undefined) -> erlang:system_monitor(undefined);
restore_monitor({P, Opts}) -> erlang:system_monitor(P, Opts).

busy_counter(N) ->
    receive
        {monitor, _, busy_dist_port, _} -> busy_counter(N + 1);
        {total, From} -> From ! {busy, N}
    end.

send_for(Dest, Msg, End, Sent) ->
    send_n(Dest, Msg, 1000),
    case now_us() >= End of
        true -> Sent + 1000;
        false -> send_for(Dest, Msg, End, Sent + 1000)
    end.

send_n(_, _, 0) -> ok;
send_n(Dest, Msg, K) -> Dest ! Msg, send_n(Dest, Msg, K - 1).

%% Callers concurrent processes each calling {bb_server, Target} with the
%% chat message for Ms milliseconds. Returns {Calls, Micros}.
calls(Target, Callers, Ms) ->
    Server = {bb_server, Target},
    Self = self(),
    T0 = now_us(),
    End = T0 + Ms * 1000,
    Ps = [spawn_link(fun() -> Self ! {calls, self(), call_for(Server, End, 0)} end) || _ <- lists:seq(1, Callers)],
    Total = lists:sum([receive {calls, P, N} -> N after 120000 -> exit(call_timeout) end || P <- Ps]),
    {Total, now_us() - T0}.

call_for(Server, End, N) ->
    Msg = chat_msg(),
    Msg = gen_server:call(Server, Msg, 60000),
    case now_us() >= End of
        true -> N + 1;
        false -> call_for(Server, End, N + 1)
    end.

%% One caller, sequential calls for Ms milliseconds. Returns
%% {Calls, Micros, Latencies} with each call's latency in microseconds.
seq(Target, Ms) ->
    Server = {bb_server, Target},
    Msg = chat_msg(),
    T0 = now_us(),
    Lat = seq_for(Server, Msg, T0 + Ms * 1000, []),
    {length(Lat), now_us() - T0, Lat}.

seq_for(Server, Msg, End, Acc) ->
    A = now_us(),
    Msg = gen_server:call(Server, Msg, 60000),
    B = now_us(),
    case B >= End of
        true -> [B - A | Acc];
        false -> seq_for(Server, Msg, End, [B - A | Acc])
    end.

now_us() -> erlang:monotonic_time(microsecond).

%% ----------------------------------------------------------------- probe

%% BENCH_PROBE=1 in bench/dist.mjs: where this node's time goes during a flow
%% to or from Peer. probe_start/1 resets microstate accounting and returns the
%% OS pid, the distribution port's counters (since the connection opened: the
%% caller subtracts them from probe_stop's) and its local port; probe_stop/1 returns
%% {OsPid, PortStats, Msacc}: the port's [{recv_cnt, N}, {recv_oct, N},
%% {send_cnt, N}, {send_oct, N}] (reads and writes of the socket) and the
%% scheduler threads' time per state in microseconds (msacc).
probe_start(Peer) ->
    erlang:system_flag(microstate_accounting, reset),
    erlang:system_flag(microstate_accounting, true),
    {os:getpid(), port_stats(Peer), local_port(Peer)}.

probe_stop(Peer) ->
    Stats = port_stats(Peer),
    Threads = erlang:statistics(microstate_accounting),
    erlang:system_flag(microstate_accounting, false),
    Ms = lists:foldl(fun(#{type := T, counters := C}, Acc) when T =:= scheduler; T =:= dirty_cpu_scheduler ->
                             maps:fold(fun(K, V, A) -> maps:update_with(K, fun(X) -> X + V end, V, A) end, Acc, C);
                        (_, Acc) -> Acc
                     end, #{}, Threads),
    {os:getpid(), Stats, [{K, erlang:convert_time_unit(V, perf_counter, microsecond)} || {K, V} <- maps:to_list(Ms), V > 0]}.

local_port(Peer) ->
    case dist_port(Peer) of
        none -> 0;
        Port -> {ok, {_, P}} = inet:sockname(Port), P
    end.

port_stats(Peer) ->
    case dist_port(Peer) of
        none -> [];
        Port -> {ok, S} = inet:getstat(Port, [recv_cnt, recv_oct, send_cnt, send_oct]), S
    end.

%% The socket port of the distribution connection to Peer (none if it is not a port).
dist_port(Peer) ->
    case lists:keyfind(Peer, 1, erlang:system_info(dist_ctrl)) of
        {_, Port} when is_port(Port) -> Port;
        _ -> none
    end.

%% ----------------------------------------------------------------- peers

%% Starts Count hidden peer nodes (with OTP's `peer' module, from this node,
%% so that the benchmark's own process holds nothing for them), each running
%% peer/1 against Targets; returns when every one of them has connected.
%% They stop with this node.
peers(Prefix, Count, Targets) ->
    Self = self(),
    Ebin = filename:dirname(code:which(?MODULE)),
    Cookie = atom_to_list(erlang:get_cookie()),
    Holder = spawn(fun() ->
        Started = [begin
                       Name = Prefix ++ integer_to_list(K),
                       {ok, _, Node} = peer:start(#{name => Name, host => "127.0.0.1", longnames => true,
                                                    args => ["-hidden", "-setcookie", Cookie, "-pa", Ebin]}),
                       Node
                   end || K <- lists:seq(1, Count)],
        Self ! {started, self()},
        [ok = erpc:call(N, ?MODULE, peer, [Targets], 60000) || N <- Started],
        Self ! {connected, self()},
        receive stop -> ok end
    end),
    receive {started, Holder} -> ok after 120000 -> exit(peers_start_timeout) end,
    receive {connected, Holder} -> ok after 120000 -> exit(peers_connect_timeout) end,
    ok.

%% A hidden peer for the memory row: connects to each of Targets and
%% exchanges some traffic with each as a connected peer does (100 chat
%% messages to its `counter', 10 calls to its `bb_server').
peer(Targets) ->
    Msg = chat_msg(),
    [begin
         true = net_kernel:connect_node(T),
         send_n({counter, T}, Msg, 100),
         [Msg = gen_server:call({bb_server, T}, Msg) || _ <- lists:seq(1, 10)]
     end || T <- Targets],
    ok.
