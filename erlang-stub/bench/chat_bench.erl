%% Load benchmark of the stub, run from another Erlang node over distribution,
%% bounded in time. bench/run.sh starts epmd, two stub nodes (one with one
%% scheduler, one with two) and this load node, and stops them by pid.
%%
%%   erl -name load@127.0.0.1 -setcookie C -pa ebin -pa ebin-test \
%%       -eval 'chat_bench:main()' -extra STUB_NODE [single=STUB1_NODE] [key=value ...]
%%
%% Keys: users (10000), seconds (10: the target phase), send_rate (2000),
%% fp_rate (500), workers (50 senders and 25 presence clients in the target
%% phase), pollers (true: every user holds a long-poll and polls again as soon
%% as it is answered), single (a second stub node, run with +S 1:1: enables
%% the scaling rounds; STUB_NODE then needs two schedulers), rounds (5),
%% round_seconds (4), sat_senders (64), sat_fp (48), scaling (vm: the rounds
%% with the clients inside each stub's VM; dist: with the clients on this
%% node; both: dist then vm), direct (true: call the shard that owns the
%% request's user, chat_shard_K with K = slot rem N; false: chat_channel),
%% warmup (true), warmup_seconds (120, per stub VM), warmup_fill (0.99),
%% warmup_min (0), warmup_chunk (2): see chat_bench_warmup.
%%
%% The load generator of the scaling rounds runs inside the stub's VM by
%% default: its processes share the stub's schedulers, one core or two, so
%% the ratio is that of the stub with a load costing the same per request in
%% every configuration (bench/run.sh explains why that is the fair measure on
%% a 2-core machine; a generator on this node would need a core of its own).
%%
%% Phases:
%%   1. on every stub: log in every user, start one long-polling process per user;
%%   2. target load on STUB_NODE: sends and friendsPresence at fixed rates at
%%      once, each client on a fixed schedule; latency also from the scheduled
%%      start (so a stalled server cannot hide its queueing delay);
%%   3. warm-up of every stub VM to steady state (history at its cap and
%%      evicting, event windows full and trimming), checked on the stub's
%%      stats, bounded in time; then the scaling rounds, with the clients
%%      on this node and then inside each stub's VM: in each round, sends alone and then friendsPresence
%%      alone, back to back by a fixed set of clients, against three
%%      configurations in turn (the order alternates between rounds): the
%%      +S 1:1 stub, the +S 2:2 stub with one scheduler online, and with
%%      both; per phase the rate, p50/p99, the CPU of the stub, of this node
%%      and of the whole machine, and what limited it; per round the ratios;
%%      at the end their medians;
%%   4. the cost of one 500-id presence lookup inside the stub, memory.
%%
%% Every call is the documented protocol written out: `{'$gen_call', {Pid,
%% Tag}, Request}' to the registered chat_channel, then wait for `{Tag,
%% Reply}' (no monitor per call, as a Node.js client does it), so this node
%% spends as little CPU per request as it can.
-module(chat_bench).

-export([main/0, run/2]).
%% For chat_bench_warmup, chat_bench_ab and chat_bench_diag.
-export([call/2, out/2, schedulers/1, set_online/2, setup/3, direct/3, median/1, pct/2,
         opts/1]).
%% Called on a stub node (the in-VM scaling rounds load this module there).
-export([load/4, start_pollers/2, polls/0, events/0, warm_chunk/4]).

-import(chat_bench_os, [vm_cpu_ms/1, proc_stat/0, busy_cores/2, ncpu/0, loadavg/0]).

-define(CALL_TIMEOUT, 60000).

main() ->
    [Node | KVs] = init:get_plain_arguments(),
    Opts = opts(KVs),
    Ok = try run(list_to_atom(Node), Opts)
         catch C:R:St -> io:format("benchmark failed: ~p:~p~n~p~n", [C, R, St]), false
         end,
    halt(case Ok of true -> 0; false -> 1 end).

%% The key=value arguments as a map: integers, else atoms (true, false, names).
-spec opts([string()]) -> #{atom() => integer() | atom()}.
opts(KVs) ->
    maps:from_list([begin [K, V] = string:split(KV, "="), {list_to_atom(K), parse(V)} end || KV <- KVs]).

parse(V) ->
    try list_to_integer(V) catch error:badarg -> list_to_atom(V) end.

run(Stub, Opts) ->
    Users = maps:get(users, Opts, 10000),
    Seconds = maps:get(seconds, Opts, 10),
    Single = maps:get(single, Opts, none),
    Load0 = loadavg(),
    Stubs = [Stub | [Single || Single =/= none]],
    [pong = net_adm:ping(S) || S <- Stubs],
    {ok, Friends} = call(Stub, {friends, 1}),
    out("load node: OTP ~s, ~b schedulers, niceness ~s; load average ~s (~b cores)~n",
        [erlang:system_info(otp_release), erlang:system_info(schedulers_online),
         string:trim(os:cmd("ps -o ni= -p " ++ os:getpid())), Load0, ncpu()]),
    [out("stub ~s: ~b scheduler(s), ~b front-door shard(s), ~b users, ~b friends each~n",
         [S, schedulers(S), shards(S), Users, length(Friends)]) || S <- Stubs],
    busy_warning(Load0),
    Direct = maps:get(direct, Opts, true),
    [direct(node(), S, Direct) || S <- Stubs],
    Direct andalso out("clients call the shards directly (direct=true), not chat_channel~n", []),

    %% 1. Log in and hold a long-poll for every user, on every stub.
    Polls = maps:from_list([{S, setup(S, Users, maps:get(pollers, Opts, true))} || S <- Stubs]),

    %% 2. Target load.
    TargetOk = target(Stub, Users, Seconds, maps:get(Stub, Polls), Opts),

    %% 3. Scaling rounds: the clients on this node (over distribution), then
    %% the clients inside each stub's VM.
    ScaleOk = case Single of
                  none -> true;
                  _ -> scaling_all(Single, Stub, Users, Polls, Opts)
              end,

    %% 4. One 500-id presence lookup inside the stub, memory.
    Ids = lists:seq(1, 500),
    Times = lists:sort([element(1, rpc:call(Stub, timer, tc, [chat_presence, lookup, [Ids]])) || _ <- lists:seq(1, 201)]),
    Us = lists:nth(101, Times),
    out("presence lookup of 500 ids inside the stub: median ~b us (~.2f us per id)~n", [Us, Us / 500]),
    {ok, #{online := Online}} = call(Stub, stats),
    Mem = rpc:call(Stub, erlang, memory, [total]),
    Procs = rpc:call(Stub, erlang, system_info, [process_count]),
    out("stub memory ~.1f MB, ~b processes (~.1f KB per online user); load average now ~s~n",
        [Mem / 1048576, Procs, Mem / 1024 / max(Online, 1), loadavg()]),
    TargetOk andalso ScaleOk.

busy_warning(Load) ->
    case string:to_float(Load) of
        {L, _} when is_float(L), L > 2.5 ->
            out("WARNING: the machine is busy (load average above 2.5 on 2 cores): "
                "latencies and ratios are not representative~n", []);
        _ -> ok
    end.

%% Logs in every user (20 parallel clients) and starts the pollers; returns
%% where the poll answers are counted.
setup(Stub, Users, Pollers) ->
    {LoginUs, _} = timer:tc(fun() -> pforeach(fun(U) -> {ok, _} = call(Stub, {login, U}) end, lists:seq(1, Users), 20) end),
    {ok, #{online := Online}} = call(Stub, stats),
    Polls = counters:new(1, [write_concurrency]),
    N = case Pollers of
            true ->
                counters:add(alive(), 1, Users),
                [spawn(fun() -> poller(Stub, U, 0, Polls) end) || U <- lists:seq(1, Users)],
                Users;
            false -> 0
        end,
    wait_held(Stub, N, 120),
    {ok, #{held_polls := Held}} = call(Stub, stats),
    out("~s: ~b users logged in in ~.2f s (~b/s); online ~b; held long-polls ~b~n",
        [Stub, Users, LoginUs / 1.0e6, round(Users / (LoginUs / 1.0e6)), Online, Held]),
    {local, Polls}.

%%% --------------------------------------------------------------- target

target(Stub, Users, Seconds, Polls, Opts) ->
    SendRate = maps:get(send_rate, Opts, 2000),
    FpRate = maps:get(fp_rate, Opts, 500),
    Workers = maps:get(workers, Opts, 50),
    out("~ntarget load on ~s for ~b s: ~b sends/s and ~b friendsPresence/s at once~n",
        [Stub, Seconds, SendRate, FpRate]),
    {#{send := SendR, fp := FpR}, Cpu} =
        measure(Stub, Polls, fun() ->
                                     load(Stub, Users, Seconds, [{send, {rate, SendRate}, Workers},
                                                                 {fp, {rate, FpRate}, max(1, Workers div 2)}])
                             end),
    SendOk = report("send", SendR, Seconds, SendRate),
    FpOk = report("friendsPresence", FpR, Seconds, FpRate),
    #{polls := PollsDone, stub_cores := SC, load_cores := LC, stub_ms := SMs} = Cpu,
    Ops = element(1, SendR) + element(1, FpR) + PollsDone,
    out("poll answers: ~b (~b/s); cpu: stub ~.2f cores, load node ~.2f cores, stub ~.1f us per request "
        "(~b requests incl. poll answers); load average ~s~n",
        [PollsDone, PollsDone div Seconds, SC, LC, SMs * 1000 / max(Ops, 1), Ops, loadavg()]),
    Pass = SendOk andalso FpOk,
    out("RESULT target ~s: >= ~b sends/s and >= ~b friendsPresence/s with p99 < 50 ms~n",
        [pass(Pass), SendRate, FpRate]),
    Pass.

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

%%% -------------------------------------------------------------- scaling

%% The configurations of a round, all loaded by the same clients:
%%   vm1  the +S 1:1 stub: a one-scheduler VM, whose ETS tables take no locks
%%        (OTP skips them when there is one scheduler), the literal baseline;
%%   on1  the +S 2:2 stub with one scheduler online (erlang:system_flag/2):
%%        the same VM as on2, so on2/on1 is the stub's own scaling;
%%   on2  the +S 2:2 stub with both schedulers online.
configs() -> [vm1, on1, on2].

%% The order of a round's phases: the 2-core phase in the middle, next to
%% both phases its ratios divide by, the other two swapped every other round
%% (odd: vm1 on2 on1; even: on1 on2 vm1). The machine's speed drifts over
%% seconds (an A/A run of erlang-stub/bench/ab.sh: two identical stubs' ratios
%% 0.77 to 1.54 apart round by round), so the two phases of a ratio are best
%% measured back to back; the swap keeps a drift from favouring either side.
run_order(R) when R rem 2 =:= 1 -> [vm1, on2, on1];
run_order(_) -> [on1, on2, vm1].

label(vm1) -> "1 core, +S 1:1";
label(on1) -> "1 core, +S 2:2 1 online";
label(on2) -> "2 cores, +S 2:2".

%% Rounds of: sends alone, then friendsPresence alone, against each
%% configuration in turn (run_order/1: the 2-core phase between the other
%% two, which swap from round to round, so a drift in the machine's load
%% favours none of them).
%% scaling=vm (default), dist or both: which of the two sets of rounds run.
scaling_all(One, Two, Users, Polls, Opts) ->
    Which = maps:get(scaling, Opts, vm),
    [direct(S, S, maps:get(direct, Opts, true)) || S <- [One, Two]],
    %% The warm-up runs once, before the first set of rounds, with the
    %% pollers where those rounds have them.
    DistOk = case Which =/= vm of
                 true ->
                     WarmDist = chat_bench_warmup:all([One, Two], Users, Opts),
                     WarmDist andalso scaling(dist, One, Two, Users, maps:get(One, Polls), maps:get(Two, Polls), Opts);
                 false -> true
             end,
    VmOk = case Which =/= dist of
               true ->
                   [VmOne, VmTwo] = inside([One, Two], Users, maps:get(pollers, Opts, true)),
                   WarmVm = Which =/= vm orelse chat_bench_warmup:all([One, Two], Users, Opts),
                   WarmVm andalso scaling(vm, One, Two, Users, VmOne, VmTwo, Opts);
               false -> true
           end,
    DistOk andalso VmOk.

%%% ------------------------------------------- on the stub, for the warm-up

%% On the stub: events retained, all shards.
events() ->
    lists:sum([case ets:info(T, name) of
                   chat_user_events -> case ets:info(T, size) of N when is_integer(N) -> N; _ -> 0 end;
                   _ -> 0
               end || T <- ets:all()]).

%% On the stub: Secs seconds of back-to-back sends by Clients clients;
%% returns {Sends, Errors} (not the latencies: the warm-up measures nothing).
warm_chunk(Stub, Users, Secs, Clients) ->
    #{send := {Count, Errors, _, _}} = load(Stub, Users, Secs, [{send, max, Clients}]),
    {Count, Errors}.

%% Moves the load into the stubs' VMs: loads this module there, stops this
%% node's pollers and starts one poller per user inside each stub (each one's
%% first poll answers the remote one's with `continue', which ends it).
%% Returns where each stub's poll answers are counted.
inside(Stubs, Users, Pollers) ->
    {Mod, Bin, File} = code:get_object_code(?MODULE),
    persistent_term:put({?MODULE, stop_pollers}, true),
    [begin
         {module, Mod} = rpc:call(S, code, load_binary, [Mod, File, Bin]),
         ok = rpc:call(S, ?MODULE, start_pollers, [S, case Pollers of true -> Users; false -> 0 end])
     end || S <- Stubs],
    wait_pollers_gone(600),
    [{remote, S} || S <- Stubs].

%% This node's pollers still running (they stop after their next answer).
alive() ->
    case persistent_term:get({?MODULE, pollers_alive}, undefined) of
        undefined ->
            C = counters:new(1, []),
            persistent_term:put({?MODULE, pollers_alive}, C),
            C;
        C -> C
    end.

wait_pollers_gone(0) -> out("WARNING: ~b pollers of this node did not stop~n", [counters:get(alive(), 1)]);
wait_pollers_gone(Tries) ->
    case counters:get(alive(), 1) of
        0 -> ok;
        _ -> timer:sleep(100), wait_pollers_gone(Tries - 1)
    end.

%% On the stub: one poller per user, their answers counted in a counter
%% that polls/0 reads.
start_pollers(Stub, Users) ->
    C = counters:new(1, [write_concurrency]),
    persistent_term:put({?MODULE, polls}, C),
    _ = [spawn(fun() -> poller(Stub, U, 0, C) end) || U <- lists:seq(1, Users)],
    ok.

polls() ->
    persistent_term:get({?MODULE, polls}).

polls_reset({local, C}) -> counters:put(C, 1, 0);
polls_reset({remote, Stub}) -> rpc:call(Stub, counters, put, [polls_ref(Stub), 1, 0]).

polls_get({local, C}) -> counters:get(C, 1);
polls_get({remote, Stub}) -> rpc:call(Stub, counters, get, [polls_ref(Stub), 1]).

polls_ref(Stub) -> rpc:call(Stub, ?MODULE, polls, []).

where(dist) -> "clients on the load node, over distribution";
where(vm) -> "clients inside the stub's VM".

scaling(Where, One, Two, Users, PollsOne, PollsTwo, Opts) ->
    Rounds = maps:get(rounds, Opts, 5),
    Secs = maps:get(round_seconds, Opts, 4),
    Clients = #{send => maps:get(sat_senders, Opts, 64), fp => maps:get(sat_fp, Opts, 48)},
    out("~nscaling, ~s: ~b rounds; in each, sends alone then friendsPresence alone, back to back "
        "(~b senders, ~b friendsPresence clients), ~b s against each of: ~s~n",
        [where(Where), Rounds, maps:get(send, Clients), maps:get(fp, Clients), Secs,
         string:join([label(C) || C <- configs()], "; ")]),
    Target = #{vm1 => {One, PollsOne, 1}, on1 => {Two, PollsTwo, 1}, on2 => {Two, PollsTwo, 2}},
    Results = [begin
                   Order = run_order(R),
                   [begin
                        Ph = maps:from_list([{C, sat_phase(Where, R, Kind, C, maps:get(C, Target), Users, Secs,
                                                           maps:get(Kind, Clients))} || C <- Order]),
                        round_ratio(R, Kind, Ph),
                        {Kind, Ph}
                    end || Kind <- [send, fp]]
               end || R <- lists:seq(1, Rounds)],
    set_online(Two, 2),
    summary(Where, lists:append(Results)).

set_online(Stub, N) ->
    case rpc:call(Stub, erlang, system_info, [schedulers]) of
        Max when is_integer(Max), Max >= N -> _ = rpc:call(Stub, erlang, system_flag, [schedulers_online, N]), ok;
        _ -> ok
    end.

sat_phase(Where, R, Kind, C, {Stub, Polls, Online}, Users, Secs, Clients) ->
    set_online(Stub, Online),
    timer:sleep(300),                           % let the previous phase drain
    Run = case Where of
              dist -> fun() -> load(Stub, Users, Secs, [{Kind, max, Clients}]) end;
              vm -> fun() -> rpc:call(Stub, ?MODULE, load, [Stub, Users, Secs, [{Kind, max, Clients}]], infinity) end
          end,
    {#{Kind := {Count, Errors, Lat, _}}, Cpu} = measure(Stub, Polls, Run),
    #{stub_cores := SC, load_cores := LC, machine := M, stub_ms := SMs, load_ms := LMs, polls := P} = Cpu,
    Rate = Count / Secs,
    Limit = if
                SC >= 0.85 * Online -> "the stub (its schedulers are busy)";
                M >= 0.92 * 2 -> "the machine (every core busy)";
                true -> "neither: the clients (too few, or waiting)"
            end,
    out("  round ~b ~-15s ~-23s ~6b/s  p50 ~6.2f ms  p99 ~6.2f ms ~s| stub ~.2f cores, ~.1f us/req | "
        "load node ~.2f cores, ~.1f us/req | machine ~.2f of ~b cores busy (others ~.2f) | limit: ~s~s~n",
        [R, kind_name(Kind), label(C), round(Rate), pct(Lat, 0.5) / 1000, pct(Lat, 0.99) / 1000,
         case Errors of 0 -> ""; _ -> io_lib:format("~b ERRORS ", [Errors]) end,
         SC, SMs * 1000 / max(Count, 1), LC, LMs * 1000 / max(Count, 1), M, ncpu(), max(0.0, M - SC - LC), Limit,
         case Kind of
             send -> io_lib:format(" (~.2f poll answers per send, counted in its CPU)", [P / max(Count, 1)]);
             fp -> ""
         end]),
    #{rate => Rate, p99 => pct(Lat, 0.99), errors => Errors, stub_cores => SC, load_cores => LC,
      machine => M, cpu_per_req => SMs / max(Count, 1)}.

round_ratio(R, Kind, #{vm1 := V1, on1 := O1, on2 := O2}) ->
    out("  round ~b ~-15s ratios: 2 cores / +S 1:1 x~.2f; 2 cores / 1 online x~.2f "
        "(of these two, stub cores x~.2f, stub CPU per request x~.2f)~n",
        [R, kind_name(Kind), ratio(O2, V1, rate), ratio(O2, O1, rate),
         ratio(O2, O1, stub_cores), ratio(O2, O1, cpu_per_req)]).

summary(Where, Results) ->
    out("~nscaling summary, ~s (medians of the rounds; goal: 2 cores >= x1.8 of 1 core, p99 < 50 ms):~n",
        [where(Where)]),
    Ok = [begin
              Phs = [Ph || {K, Ph} <- Results, K =:= Kind],
              Med = fun(Key, C) -> median([maps:get(Key, maps:get(C, Ph)) || Ph <- Phs]) end,
              Goal = [ratio(O2, V1, rate) || #{vm1 := V1, on2 := O2} <- Phs],
              Same = [ratio(O2, O1, rate) || #{on1 := O1, on2 := O2} <- Phs],
              Eff = median([ratio(O2, O1, rate) / ratio(O2, O1, stub_cores) || #{on1 := O1, on2 := O2} <- Phs]),
              Worst = [lists:max([maps:get(p99, maps:get(C, Ph)) / 1000 || Ph <- Phs]) || C <- configs()],
              Errors = lists:sum([maps:get(errors, maps:get(C, Ph)) || Ph <- Phs, C <- configs()]),
              Rounds = fun(L) -> string:join([io_lib:format("x~.2f", [X]) || X <- L], " ") end,
              Per = fun(Key, Fmt) -> string:join([io_lib:format(Fmt, [Med(Key, C)]) || C <- configs()], " / ") end,
              Rates = string:join([integer_to_list(round(Med(rate, C))) || C <- configs()], " / "),
              out("  ~s:~n"
                  "    2 cores over +S 1:1      x~.2f (rounds ~s)~n"
                  "    2 cores over 1 online    x~.2f (rounds ~s); throughput per stub core x~.2f~n"
                  "    per configuration (~s):~n"
                  "      rate/s ~s; p99 worst ~s ms~n"
                  "      stub cores ~s; stub CPU us/request ~s~n"
                  "      load node cores ~s; machine busy ~s of ~b~s~n",
                  [kind_name(Kind), median(Goal), Rounds(Goal), median(Same), Rounds(Same), Eff,
                   string:join([label(C) || C <- configs()], " / "),
                   Rates, string:join([io_lib:format("~.2f", [W]) || W <- Worst], " / "),
                   Per(stub_cores, "~.2f"), string:join([io_lib:format("~.1f", [Med(cpu_per_req, C) * 1000]) || C <- configs()], " / "),
                   Per(load_cores, "~.2f"), Per(machine, "~.2f"), ncpu(),
                   case Errors of 0 -> ""; _ -> io_lib:format("~n    ~b ERRORS", [Errors]) end]),
              {median(Goal), median(Same), lists:max(Worst) < 50.0 andalso Errors =:= 0}
          end || Kind <- [send, fp]],
    [{GS, SS, OkS}, {GF, SF, OkF}] = Ok,
    Pass = OkS andalso OkF andalso GS >= 1.8 andalso GF >= 1.8,
    out("RESULT scaling ~s (~s): 2 cores over 1 core (+S 1:1): sends x~.2f, friendsPresence x~.2f "
        "(over 1 online: x~.2f, x~.2f); goal >= x1.8 with p99 < 50 ms; load average ~s~n",
        [pass(Pass), where(Where), GS, GF, SS, SF, loadavg()]),
    Pass.

ratio(A, B, Key) ->
    maps:get(Key, A) / max(maps:get(Key, B), 1.0e-9).

kind_name(send) -> "sends";
kind_name(fp) -> "friendsPresence".

pass(true) -> "PASS";
pass(false) -> "FAIL".

median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

%%% ------------------------------------------------------------ measuring

%% Runs Fun and measures around it: the CPU used by the stub node (all its
%% threads), by this node and by the whole machine, and the poll answers.
measure(Stub, Polls, Fun) ->
    polls_reset(Polls),
    {S0, M0, T0, Mach0} = cpu(Stub),
    R = Fun(),
    {S1, M1, T1, Mach1} = cpu(Stub),
    Wall = max(1, T1 - T0),
    {R, #{stub_ms => S1 - S0, load_ms => M1 - M0, stub_cores => (S1 - S0) / Wall,
          load_cores => (M1 - M0) / Wall, machine => busy_cores(Mach0, Mach1),
          polls => polls_get(Polls)}}.

cpu(Stub) ->
    {vm_cpu_ms(Stub), vm_cpu_ms(node()), erlang:monotonic_time(millisecond), proc_stat()}.

schedulers(Stub) -> rpc:call(Stub, erlang, system_info, [schedulers_online]).

shards(Stub) ->
    {ok, St} = call(Stub, stats),
    maps:get(shards, St, 1).

%%% -------------------------------------------------------------- clients

%% A call, written out: the request to the registered name, the reply by tag.
call(Node, Req) ->
    Ref = make_ref(),
    erlang:send({dest(Node, Req), Node}, {'$gen_call', {self(), Ref}, Req}),
    receive {Ref, Reply} -> Reply after ?CALL_TIMEOUT -> {error, timeout} end.

%% chat_channel, or with direct=true the shard that owns the request's user
%% (README.md, "Shards: calling a shard directly"): chat_shard_K, K = slot rem N.
dest(Node, Req) ->
    case persistent_term:get({?MODULE, shards, Node}, none) of
        none -> chat_channel;
        Names ->
            case req_user(Req) of
                none -> chat_channel;
                U -> element(((U rem 1024) + 1024) rem 1024 rem tuple_size(Names) + 1, Names)
            end
    end.

req_user({send, F, _, _, _}) -> F;
req_user({friends_presence, U}) -> U;
req_user({poll, U, _, _}) -> U;
req_user({login, U}) -> U;
req_user(_) -> none.

%% With direct=true, makes call/2 on Where (this node or a stub) address
%% Stub's shards directly.
direct(Where, Stub, true) ->
    Names = list_to_tuple([list_to_atom("chat_shard_" ++ integer_to_list(K)) || K <- lists:seq(0, shards(Stub) - 1)]),
    ok = rpc:call(Where, persistent_term, put, [{?MODULE, shards, Stub}, Names]);
direct(_, _, _) ->
    ok.

%% Runs the given clients for Seconds: [{Kind, Mode, N}], Kind send or fp,
%% Mode {rate, PerSecond} (fixed schedule) or max (back to back). Returns
%% #{Kind => {Count, Errors, SortedServiceLatencyUs, SortedScheduleLatencyUs}}.
load(Stub, Users, Seconds, Specs) ->
    Me = self(),
    End = erlang:monotonic_time(microsecond) + Seconds * 1000000,
    Ops = #{send => fun(Rng) ->
                            F = 1 + Rng rem Users,
                            T = 1 + (Rng div Users) rem Users,
                            case call(Stub, {send, F, T, <<"benchmark message">>, <<>>}) of
                                {ok, _} -> ok;
                                Other -> Other
                            end
                    end,
            fp => fun(Rng) ->
                          case call(Stub, {friends_presence, 1 + Rng rem Users}) of
                              {ok, L} when is_list(L) -> ok;
                              Other -> Other
                          end
                  end},
    [[spawn_link(fun() -> Me ! {Kind, client(maps:get(Kind, Ops), interval(Mode, N), End, I)} end)
      || I <- lists:seq(1, N)] || {Kind, Mode, N} <- Specs],
    maps:from_list([{Kind, collect(Kind, N)} || {Kind, _, N} <- Specs]).

interval(max, _) -> 0;
interval({rate, Rate}, N) -> N * 1000000 / Rate.        % microseconds between calls of one client

collect(Kind, N) ->
    Rs = [receive {Kind, R} -> R end || _ <- lists:seq(1, N)],
    All = lists:append([L || {_, _, L} <- Rs]),
    {lists:sum([C || {C, _, _} <- Rs]), lists:sum([E || {_, E, _} <- Rs]),
     lists:sort([S || {S, _} <- All]), lists:sort([D || {_, D} <- All])}.

%% One client: calls on a fixed schedule (Interval us apart, staggered), or
%% back to back when Interval is 0, until End.
client(Op, Interval, End, I) ->
    rand:seed(exsss, {I, erlang:unique_integer(), 7}),
    Start = erlang:monotonic_time(microsecond) + round(Interval * rand:uniform()),
    client_loop(Op, Interval, End, Start, 0, 0, 0, []).

client_loop(Op, Interval, End, Start, K, Count, Errors, Lat) ->
    Sched = case Interval of
                0 -> erlang:monotonic_time(microsecond);
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

last([]) -> 0;
last(L) -> lists:last(L).

pct([], _) -> 0;
pct(L, P) -> lists:nth(max(1, min(length(L), round(P * length(L)))), L).

%% One user's long-poll, renewed as soon as it is answered, until this
%% node's pollers are told to stop (the in-VM rounds start their own).
poller(Stub, U, After, Polls) ->
    Next = case call(Stub, {poll, U, After, 30000}) of
               {ok, #{seq := Seq}} ->
                   counters:add(Polls, 1, 1),
                   Seq;
               _ ->
                   timer:sleep(100),
                   After
           end,
    case persistent_term:get({?MODULE, stop_pollers}, false) of
        true -> counters:sub(alive(), 1, 1);
        false -> poller(Stub, U, Next, Polls)
    end.

wait_held(_Stub, 0, _) -> ok;
wait_held(_Stub, _, 0) -> ok;
wait_held(Stub, N, Tries) ->
    case call(Stub, stats) of
        {ok, #{held_polls := H}} when H >= N -> ok;
        _ -> timer:sleep(500), wait_held(Stub, N, Tries - 1)
    end.

%% Runs F over Items with Par workers.
pforeach(F, Items, Par) ->
    Me = self(),
    Pids = [spawn_link(fun() -> lists:foreach(F, C), Me ! {done, self()} end) || C <- chunk(Items, Par)],
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
