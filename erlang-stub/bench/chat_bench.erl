%% Load benchmark of one stub node, run from another Erlang node (over
%% distribution), bounded in time. bench/run.sh starts epmd, the stub and this
%% load node, and stops them by pid.
%%
%%   erl -name load@127.0.0.1 -setcookie C -pa ebin -pa ebin-test \
%%       -eval 'chat_bench:main()' -extra STUB_NODE [key=value ...]
%%
%% Keys: users (10000), seconds (10, per load phase), send_rate (2000),
%% fp_rate (500), pollers (true: every user holds a long-poll and polls again
%% as soon as it is answered), workers (50 senders, 25 presence clients),
%% saturation (false: also run the clients back to back for `seconds').
%%
%% Phases:
%%   1. log in every user (20 parallel clients);
%%   2. optionally start one long-polling process per user;
%%   3. target load: sends and friendsPresence at fixed rates at once, each
%%      client on a fixed schedule; latency is measured from the scheduled
%%      start (so a stalled server cannot hide its queueing delay);
%%   4. saturation (opt-in): the same clients back to back, for headroom;
%%   5. the cost of one 500-id presence lookup inside the stub.
%% Prints the figures and PASS/FAIL against the targets (p99 < 50 ms).
-module(chat_bench).

-export([main/0, run/2]).

main() ->
    [Node | KVs] = init:get_plain_arguments(),
    Opts = maps:from_list([begin [K, V] = string:split(KV, "="), {list_to_atom(K), parse(V)} end || KV <- KVs]),
    Ok = try run(list_to_atom(Node), Opts)
         catch C:R:St -> io:format("benchmark failed: ~p:~p~n~p~n", [C, R, St]), false
         end,
    halt(case Ok of true -> 0; false -> 1 end).

parse("true") -> true;
parse("false") -> false;
parse(V) -> list_to_integer(V).

run(Stub, Opts) ->
    Users = maps:get(users, Opts, 10000),
    Seconds = maps:get(seconds, Opts, 10),
    SendRate = maps:get(send_rate, Opts, 2000),
    FpRate = maps:get(fp_rate, Opts, 500),
    Pollers = maps:get(pollers, Opts, true),
    SendWorkers = maps:get(workers, Opts, 50),
    FpWorkers = max(1, SendWorkers div 2),
    pong = net_adm:ping(Stub),
    {ok, #{node := Stub}} = call(Stub, stats),
    {ok, Friends} = call(Stub, {friends, 1}),
    out("stub ~s: ~b users, ~b friends each, OTP ~s, ~b schedulers here, load average ~s~n",
        [Stub, Users, length(Friends), erlang:system_info(otp_release), erlang:system_info(schedulers_online), loadavg()]),
    case string:to_float(loadavg()) of
        {Load, _} when is_float(Load), Load > 2.5 ->
            out("WARNING: the machine is busy (load average above 2.5 on 2 cores): latencies are not representative~n", []);
        _ -> ok
    end,

    %% 1. Log in.
    {LoginUs, _} = timer:tc(fun() -> pforeach(fun(U) -> {ok, _} = call(Stub, {login, U}) end, lists:seq(1, Users), 20) end),
    {ok, #{online := Online}} = call(Stub, stats),
    out("login: ~b users in ~.2f s (~b/s); online now ~b~n",
        [Users, LoginUs / 1.0e6, round(Users / (LoginUs / 1.0e6)), Online]),

    %% 2. Long-polls.
    Polls = counters:new(1, [write_concurrency]),
    PollerPids = case Pollers of
                     true -> [spawn(fun() -> poller(Stub, U, 0, Polls) end) || U <- lists:seq(1, Users)];
                     false -> []
                 end,
    wait_held(Stub, length(PollerPids), 60),
    {ok, #{held_polls := Held}} = call(Stub, stats),
    out("held long-polls: ~b~n", [Held]),

    %% 3. Target load.
    counters:put(Polls, 1, 0),
    Cpu0 = cpu(Stub),
    {SendR, FpR} = load(Stub, Users, Seconds, {rate, SendRate}, {rate, FpRate}, SendWorkers, FpWorkers),
    Cpu1 = cpu(Stub),
    PollsDone = counters:get(Polls, 1),
    SendOk = report("send (target)", SendR, Seconds, SendRate),
    FpOk = report("friendsPresence (target)", FpR, Seconds, FpRate),
    out("poll answers during the target phase: ~b (~b/s)~n", [PollsDone, PollsDone div Seconds]),
    cpu_report("target", Cpu0, Cpu1, Seconds, element(1, SendR) + element(1, FpR) + PollsDone),

    %% 4. Saturation (opt-in: it keeps both cores busy for the whole phase).
    case maps:get(saturation, Opts, false) of
        true ->
            counters:put(Polls, 1, 0),
            Cpu2 = cpu(Stub),
            {SendS, FpS} = load(Stub, Users, Seconds, max, max, SendWorkers, FpWorkers),
            Cpu3 = cpu(Stub),
            cpu_report("saturation", Cpu2, Cpu3, Seconds, element(1, SendS) + element(1, FpS) + counters:get(Polls, 1)),
            _ = report("send (saturation)", SendS, Seconds, SendRate),
            _ = report("friendsPresence (saturation)", FpS, Seconds, FpRate);
        false ->
            ok
    end,

    %% 5. One 500-id presence lookup inside the stub.
    Ids = lists:seq(1, 500),
    Times = lists:sort([element(1, rpc:call(Stub, timer, tc, [chat_presence, lookup, [Ids]])) || _ <- lists:seq(1, 201)]),
    Us = lists:nth(101, Times),
    out("presence lookup of 500 ids inside the stub: median ~b us (~.2f us per id)~n", [Us, Us / 500]),
    Mem = rpc:call(Stub, erlang, memory, [total]),
    Procs = rpc:call(Stub, erlang, system_info, [process_count]),
    out("stub memory ~.1f MB, ~b processes (~.1f KB per online user)~n",
        [Mem / 1048576, Procs, Mem / 1024 / max(Online, 1)]),

    [exit(P, kill) || P <- PollerPids],
    Pass = SendOk andalso FpOk,
    out("RESULT ~s: >= ~b sends/s and >= ~b friendsPresence/s with p99 < 50 ms~n",
        [case Pass of true -> "PASS"; false -> "FAIL" end, SendRate, FpRate]),
    Pass.

%% CPU milliseconds used so far by the stub node and by this node, and the
%% machine's load average (the machine is shared: figures are relative).
cpu(Stub) ->
    {StubMs, _} = rpc:call(Stub, erlang, statistics, [runtime]),
    {MyMs, _} = erlang:statistics(runtime),
    {StubMs, MyMs, erlang:monotonic_time(millisecond)}.

cpu_report(Phase, {S0, M0, T0}, {S1, M1, T1}, _Seconds, Ops) ->
    Wall = max(1, T1 - T0),
    out("cpu (~s): stub ~.2f cores, load node ~.2f cores, stub ~.1f us CPU per request (~b requests incl. poll answers); load average ~s~n",
        [Phase, (S1 - S0) / Wall, (M1 - M0) / Wall, (S1 - S0) * 1000 / max(Ops, 1), Ops, loadavg()]).

loadavg() ->
    case file:read_file("/proc/loadavg") of
        {ok, B} -> hd(string:lexemes(binary_to_list(B), " "));
        _ -> "?"
    end.

call(Node, Req) ->
    gen_server:call({chat_channel, Node}, Req, 60000).

%% Runs both kinds of clients for Seconds; returns {SendResults, FpResults},
%% each {Count, Errors, SortedLatenciesUs}.
load(Stub, Users, Seconds, SendMode, FpMode, SendWorkers, FpWorkers) ->
    Me = self(),
    End = erlang:monotonic_time(microsecond) + Seconds * 1000000,
    Send = fun(Rng) ->
                   F = 1 + Rng rem Users,
                   T = 1 + (Rng div Users) rem Users,
                   case call(Stub, {send, F, T, <<"benchmark message">>, <<>>}) of
                       {ok, _} -> ok;
                       Other -> Other
                   end
           end,
    Fp = fun(Rng) ->
                 case call(Stub, {friends_presence, 1 + Rng rem Users}) of
                     {ok, L} when is_list(L) -> ok;
                     Other -> Other
                 end
         end,
    Spawn = fun(Kind, Op, Mode, N) ->
                    [spawn_link(fun() -> Me ! {Kind, client(Op, interval(Mode, N), End, I)} end)
                     || I <- lists:seq(1, N)]
            end,
    Spawn(send, Send, SendMode, SendWorkers),
    Spawn(fp, Fp, FpMode, FpWorkers),
    {collect(send, SendWorkers), collect(fp, FpWorkers)}.

interval(max, _) -> 0;
interval({rate, Rate}, N) -> N * 1000000 / Rate.        % microseconds between calls of one client

%% {Count, Errors, ServiceLatencies, ScheduleLatencies}, latencies sorted.
collect(Kind, N) ->
    Rs = [receive {Kind, R} -> R end || _ <- lists:seq(1, N)],
    All = lists:append([L || {_, _, L} <- Rs]),
    {lists:sum([C || {C, _, _} <- Rs]), lists:sum([E || {_, E, _} <- Rs]),
     lists:sort([S || {S, _} <- All]), lists:sort([D || {_, D} <- All])}.

%% One client: calls on a fixed schedule (Interval us apart, staggered) until
%% End; latency counts from the scheduled time.
client(Op, Interval, End, I) ->
    rand:seed(exsss, {I, erlang:unique_integer(), 7}),
    Start = erlang:monotonic_time(microsecond) + round(Interval * rand:uniform()),
    client_loop(Op, Interval, End, Start, 0, 0, 0, []).

client_loop(Op, Interval, End, Start, K, Count, Errors, Lat) ->
    Sched = case Interval of
                0 -> erlang:monotonic_time(microsecond);     % back to back
                _ -> Start + round(K * Interval)
            end,
    case Sched >= End of
        true -> {Count, Errors, Lat};
        false ->
            Now = erlang:monotonic_time(microsecond),
            case Sched > Now of
                true -> timer:sleep((Sched - Now) div 1000);
                false -> ok
            end,
            Issued = erlang:monotonic_time(microsecond),
            Begin = case Interval of 0 -> Issued; _ -> min(Sched, Issued) end,
            R = Op(rand:uniform(1 bsl 40)),
            Done = erlang:monotonic_time(microsecond),
            L = {Done - Issued, Done - Begin},
            case R of
                ok -> client_loop(Op, Interval, End, Start, K + 1, Count + 1, Errors, [L | Lat]);
                _ -> client_loop(Op, Interval, End, Start, K + 1, Count, Errors + 1, [L | Lat])
            end
    end.

%% Service latency: from the moment the call is made. Schedule latency: from
%% the moment it was due, so it also counts time a client spent behind
%% schedule (coordinated omission); on a busy machine it is the larger.
report(Name, {Count, Errors, Lat, Sched}, Seconds, Target) ->
    Rate = Count / Seconds,
    P99 = pct(Lat, 0.99),
    out("~s: ~b ok, ~b errors, ~b/s (x~.2f of ~b/s)~n"
        "    service latency  p50 ~.2f ms, p99 ~.2f ms, max ~.2f ms~n"
        "    schedule latency p50 ~.2f ms, p99 ~.2f ms, max ~.2f ms~n",
        [Name, Count, Errors, round(Rate), Rate / Target, Target,
         pct(Lat, 0.5) / 1000, P99 / 1000, last(Lat) / 1000,
         pct(Sched, 0.5) / 1000, pct(Sched, 0.99) / 1000, last(Sched) / 1000]),
    Errors =:= 0 andalso Rate >= Target * 0.98 andalso P99 < 50000.

last([]) -> 0;
last(L) -> lists:last(L).

pct([], _) -> 0;
pct(L, P) -> lists:nth(max(1, min(length(L), round(P * length(L)))), L).

poller(Stub, U, After, Polls) ->
    case catch gen_server:call({chat_channel, Stub}, {poll, U, After, 30000}, 60000) of
        {ok, #{seq := Seq}} ->
            counters:add(Polls, 1, 1),
            poller(Stub, U, Seq, Polls);
        _ ->
            timer:sleep(100),
            poller(Stub, U, After, Polls)
    end.

wait_held(_Stub, 0, _) -> ok;
wait_held(_Stub, _, 0) -> ok;
wait_held(Stub, N, Tries) ->
    case call(Stub, stats) of
        {ok, #{held_polls := H}} when H >= N -> ok;
        _ -> timer:sleep(500), wait_held(Stub, N, Tries - 1)
    end.

%% Sequential map over Items with Par workers.
pforeach(F, Items, Par) ->
    Chunks = chunk(Items, Par),
    Me = self(),
    Pids = [spawn_link(fun() -> lists:foreach(F, C), Me ! {done, self()} end) || C <- Chunks],
    [receive {done, P} -> ok end || P <- Pids],
    ok.

chunk(Items, N) ->
    Len = max(1, (length(Items) + N - 1) div N),
    chunk_loop(Items, Len).

chunk_loop([], _) -> [];
chunk_loop(Items, Len) when length(Items) =< Len -> [Items];
chunk_loop(Items, Len) ->
    {A, B} = lists:split(Len, Items),
    [A | chunk_loop(B, Len)].

out(Fmt, Args) ->
    io:format(Fmt, Args).
