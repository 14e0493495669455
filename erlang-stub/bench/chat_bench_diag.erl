%% Diagnosis of where a stub VM's schedulers idle under the bench's in-VM
%% send load at saturation (bench/diag.sh): not a benchmark. The load node
%% sets up each stub like chat_bench_ab (users logged in, one long-poller per
%% user inside the stub's VM, the clients calling the shards directly, the
%% warm-up of chat_bench_warmup), then runs rounds of phases on each stub in
%% turn, each phase the bench's saturation load (chat_bench:load/4, `max'
%% senders) with one kind of instrument beside it, run inside the stub:
%%   plain   nothing but the counters read before and after: the VM's CPU
%%           (user + system, chat_bench_os:vm_cpu_ms/1) and, per OS thread of the VM
%%           (/proc/self/task/*: schedstat and status), CPU, time runnable
%%           but not on a CPU (run delay: taken by another thread), and
%%           voluntary / involuntary context switches;
%%   senders the same with senders=N clients (default 4 x sat_senders):
%%           does more concurrency in the closed loop fill the idle share?
%%   msacc   microstate accounting of every thread (share of wall time per
%%           state per thread type) and scheduler_wall_time;
%%   sample  a high-priority process sampling every ms the active tasks
%%           per run queue (statistics(active_tasks): running + runnable),
%%           the shards' status and message queue lengths;
%%   trace   for trace_ms (1000) in the middle of the phase: the shards'
%%           scheduling (trace running + scheduler_id) and the schedulers'
%%           active/inactive transitions (system_profile scheduler); then
%%           per shard running share and migrations, how many schedulers
%%           were active, and what the shards did while one was inactive.
%%   perf    for perf_ms (1000) in the middle of the phase, the machine's
%%           scheduler events (perf record sched_switch, sched_wakeup) to
%%           perf_dir (/tmp), for bench/sched_idle.py.
%% A phase name prefixed with high (highplain, ...) runs that phase with the
%% shards at priority high (set inside them with sys:replace_state, normal
%% again after it). A phase name prefixed with nice (niceplain, nicemsacc, ...) runs that
%% phase with every thread of the stub's VM at niceness -20 (as root), so
%% that the machine's other processes take little of the cores it wants.
%% Keys: s1, s2 (stub nodes; either may be absent), users (10000), rounds (2),
%% round_seconds (4), sat_senders (64), senders (4 x sat_senders), phases
%% (all; or names above joined by +, e.g. plain+trace), trace_ms (1000), trace_max (300000
%% events), and chat_bench_warmup's keys.
-module(chat_bench_diag).

-export([main/0]).
%% Run on the stub (this module is loaded there).
-export([phase/6]).

-import(chat_bench, [out/2, median/1]).
-import(chat_bench_os, [loadavg/0]).

main() ->
    chat_bench_ab:main("diag", fun run/1).

run(Opts) ->
    Users = maps:get(users, Opts, 10000),
    Stubs = [maps:get(K, Opts) || K <- [s1, s2], maps:is_key(K, Opts)],
    [pong = net_adm:ping(S) || S <- Stubs],
    out("diag: ~s; load average ~s~n",
        [string:join([io_lib:format("~s (~b sched)", [S, chat_bench:schedulers(S)]) || S <- Stubs], ", "), loadavg()]),
    [chat_bench:setup(S, Users, false) || S <- Stubs],
    [begin
         [{module, M} = rpc:call(S, code, load_binary, [M, F, B])
          || M <- [chat_bench, chat_bench_os, ?MODULE], {_, B, F} <- [code:get_object_code(M)]],
         chat_bench:direct(S, S, true),
         ok = rpc:call(S, chat_bench, start_pollers, [S, Users])
     end || S <- Stubs],
    timer:sleep(2000),
    true = chat_bench_warmup:all(Stubs, Users, Opts),
    Phases = case maps:get(phases, Opts, all) of
                 all -> [plain, senders, msacc, sample, trace];
                 P -> [list_to_atom(X) || X <- string:split(atom_to_list(P), "+", all)]
             end,
    Sat = maps:get(sat_senders, Opts, 64),
    Secs = maps:get(round_seconds, Opts, 4),
    [[[begin
           timer:sleep(300),
           N = case Ph of senders -> maps:get(senders, Opts, 4 * Sat); _ -> Sat end,
           R = rpc:call(S, ?MODULE, phase, [Ph, S, Users, Secs, N, Opts], infinity),
           report(Round, Ph, S, N, R)
       end || S <- Stubs]
      || Ph <- Phases]
     || Round <- lists:seq(1, maps:get(rounds, Opts, 2))],
    out("load average at the end ~s~n", [loadavg()]),
    true.

%%% ------------------------------------------------------------ on the stub

phase(Ph0, Stub, Users, Secs, Senders, Opts) ->
    {Ph, Nice, High} = case atom_to_list(Ph0) of
                           "nice" ++ Rest -> {list_to_atom(Rest), true, false};
                           "high" ++ Rest -> {list_to_atom(Rest), false, true};
                           _ -> {Ph0, false, false}
                       end,
    Nice andalso renice(-20),
    High andalso shard_priority(high),
    try phase(Ph, Stub, Users, Secs, Senders, Opts, Nice)
    after
        Nice andalso renice(0),
        High andalso shard_priority(normal)
    end.

%% The shards' scheduling priority, set inside each (a run-time variant: the
%% stub's code is not changed).
shard_priority(P) ->
    [sys:replace_state(N, fun(St) -> process_flag(priority, P), St end) || N <- chat_channel:shard_names()],
    true.

%% Every OS thread of this VM to niceness N (as root): with -20 another
%% process on the machine gets a small share of a core the VM's threads want.
renice(N) ->
    {ok, Tids} = file:list_dir("/proc/self/task"),
    os:cmd("renice -n " ++ integer_to_list(N) ++ " -p " ++ lists:join(" ", Tids)),
    true.

phase(Ph, Stub, Users, Secs, Senders, Opts, _Nice) ->
    Shards = [whereis(N) || N <- chat_channel:shard_names()],
    Instr = start(Ph, Shards, Secs, Opts),
    Cpu0 = chat_bench_os:vm_cpu_ms(node()),
    Th0 = threads(),
    T0 = erlang:monotonic_time(microsecond),
    #{send := {Count, Errors, Lat, _}} = chat_bench:load(Stub, Users, Secs, [{send, max, Senders}]),
    T1 = erlang:monotonic_time(microsecond),
    Th1 = threads(),
    Cpu1 = chat_bench_os:vm_cpu_ms(node()),
    Extra = stop(Ph, Instr),
    Wall = T1 - T0,
    #{count => Count, errors => Errors, wall_us => Wall, cores => (Cpu1 - Cpu0) * 1000 / Wall,
      p99 => chat_bench:pct(Lat, 0.99), threads => thread_delta(Th0, Th1, Wall),
      loadavg => loadavg(), extra => Extra#{ns => erlang:system_info(schedulers_online)}}.

start(msacc, _, _, _) ->
    erlang:system_flag(microstate_accounting, reset),
    erlang:system_flag(microstate_accounting, true),
    erlang:system_flag(scheduler_wall_time, true),
    erlang:statistics(scheduler_wall_time_all);
start(sample, Shards, _, _) ->
    Me = self(),
    spawn_opt(fun() -> sampler(Me, Shards, []) end, [{priority, high}, link]);
start(trace, Shards, Secs, Opts) ->
    Ms = maps:get(trace_ms, Opts, 1000),
    Max = maps:get(trace_max, Opts, 300000),
    Me = self(),
    Tracer = spawn_opt(fun() -> tracer(Me, Max, 0, []) end, [{priority, max}, link, {message_queue_data, off_heap}]),
    spawn_link(fun() ->
                       timer:sleep(max(0, Secs * 1000 div 2 - Ms div 2)),
                       [erlang:trace(P, true, [running, scheduler_id, monotonic_timestamp, {tracer, Tracer}]) || P <- Shards],
                       erlang:system_profile(Tracer, [scheduler, monotonic_timestamp]),
                       T0 = erlang:monotonic_time(),
                       timer:sleep(Ms),
                       erlang:system_profile(undefined, []),
                       [erlang:trace(P, false, [all]) || P <- Shards],
                       T1 = erlang:monotonic_time(),
                       Me ! {traced, T0, T1}
               end),
    {Tracer, Shards};
start(perf, _, Secs, Opts) ->
    %% Linux scheduler events of the whole machine for perf_ms (1000) in
    %% the middle of the phase, for bench/sched_idle.py (which thread ran,
    %% slept or waited for a CPU when); the VM's threads' ids and names go
    %% to DIR/N.tids.
    Dir = atom_to_list(maps:get(perf_dir, Opts, '/tmp')),
    Ms = maps:get(perf_ms, Opts, 1000),
    File = filename:join(Dir, atom_to_list(node()) ++ "-" ++ integer_to_list(erlang:unique_integer([positive]))),
    {ok, Tids} = file:list_dir("/proc/self/task"),
    ok = file:write_file(File ++ ".tids",
                         [[T, " ", element(2, file:read_file("/proc/self/task/" ++ T ++ "/comm"))] || T <- Tids]),
    Me = self(),
    spawn_link(fun() ->
                       timer:sleep(max(0, Secs * 1000 div 2 - Ms div 2)),
                       Out = os:cmd(io_lib:format("perf record -q -e sched:sched_switch -e sched:sched_wakeup -a -o ~s.data -- sleep ~.3f 2>&1",
                                                  [File, Ms / 1000])),
                       Me ! {perf_done, File, Out}
               end),
    perf;
start(_, _, _, _) ->
    none.

stop(msacc, Swt0) ->
    Swt1 = erlang:statistics(scheduler_wall_time_all),
    erlang:system_flag(microstate_accounting, false),
    Msacc = erlang:statistics(microstate_accounting),
    erlang:system_flag(scheduler_wall_time, false),
    #{msacc => msacc_shares(Msacc), swt => swt(Swt0, Swt1)};
stop(sample, Sampler) ->
    Sampler ! {stop, self()},
    receive {samples, S} -> #{samples => S} end;
stop(trace, {Tracer, Shards}) ->
    {T0, T1} = receive {traced, A, B} -> {A, B} end,
    Tracer ! {stop, self()},
    Events = receive {events, Ev} -> Ev end,
    #{trace => analyse(Events, Shards, T0, T1)};
stop(perf, perf) ->
    receive {perf_done, File, Out} -> #{perf => {File, Out}} end;
stop(_, _) ->
    #{}.

%% Per OS thread: {Comm, CpuNs, RunDelayNs, Voluntary, Involuntary}.
threads() ->
    Dir = "/proc/self/task/",
    {ok, Tids} = file:list_dir(Dir),
    maps:from_list(
      [{T, {Comm, Cpu, Delay, Vol, Invol}}
       || T <- Tids,
          {ok, C} <- [file:read_file(Dir ++ T ++ "/comm")],
          {ok, SS} <- [file:read_file(Dir ++ T ++ "/schedstat")],
          {ok, St} <- [file:read_file(Dir ++ T ++ "/status")],
          Comm <- [string:trim(binary_to_list(C))],
          [Cpu, Delay | _] <- [[binary_to_integer(X) || X <- string:lexemes(string:trim(SS), " ")]],
          {Vol, Invol} <- [chat_bench_os:ctxt_switches(St)]]).

%% Per thread class: cores of CPU, cores of run delay, switches per second.
thread_delta(Th0, Th1, WallUs) ->
    D = [{class(Comm), C1 - C0, D1 - D0, V1 - V0, I1 - I0}
         || {T, {Comm, C1, D1, V1, I1}} <- maps:to_list(Th1), {_, C0, D0, V0, I0} <- [maps:get(T, Th0, {x, 0, 0, 0, 0})]],
    Classes = lists:usort([C || {C, _, _, _, _} <- D]),
    [{C, lists:sum([X || {K, X, _, _, _} <- D, K =:= C]) / (WallUs * 1000),
      lists:sum([X || {K, _, X, _, _} <- D, K =:= C]) / (WallUs * 1000),
      lists:sum([X || {K, _, _, X, _} <- D, K =:= C]) * 1.0e6 / WallUs,
      lists:sum([X || {K, _, _, _, X} <- D, K =:= C]) * 1.0e6 / WallUs} || C <- Classes].

class(Comm) ->
    case string:split(Comm, "_") of
        [N, "scheduler"] -> "sched " ++ N;
        [_, "dirty" ++ Rest] -> "dirty" ++ hd(string:split(Rest, "_sch"));
        _ -> "other"
    end.

%% Share of wall time per state, summed over the threads of each type.
msacc_shares(Threads) ->
    Types = lists:usort([maps:get(type, T) || T <- Threads]),
    [{Ty, N, [{St, V / Tot} || {St, V} <- lists:sort(maps:to_list(Sum)), V > 0]}
     || Ty <- Types,
        Ts <- [[maps:get(counters, T) || T <- Threads, maps:get(type, T) =:= Ty]],
        N <- [length(Ts)],
        Sum <- [lists:foldl(fun(C, Acc) -> maps:fold(fun(K, V, A) -> maps:update_with(K, fun(X) -> X + V end, V, A) end, Acc, C) end, #{}, Ts)],
        Tot <- [max(1, lists:sum(maps:values(Sum)))]].

swt(S0, S1) ->
    [{Id, (A1 - A0) / max(1, T1 - T0)} || {{Id, A0, T0}, {Id, A1, T1}} <- lists:zip(lists:sort(S0), lists:sort(S1)),
                                          Id =< erlang:system_info(schedulers) orelse A1 > A0].

%%% --------------------------------------------------------------- sampling

sampler(Parent, Shards, Acc) ->
    receive
        {stop, From} -> From ! {samples, lists:reverse(Acc)}
    after 1 ->
            Tasks = erlang:statistics(active_tasks),
            Sh = [case process_info(P, [status, message_queue_len]) of
                      [{status, S}, {message_queue_len, L}] -> {S, L};
                      _ -> {dead, 0}
                  end || P <- Shards],
            sampler(Parent, Shards, [{Tasks, Sh} | Acc])
    end.

%%% ---------------------------------------------------------------- tracing

tracer(Parent, Max, N, Acc) ->
    receive
        {stop, From} -> From ! {events, lists:reverse(Acc)};
        Ev when N < Max -> tracer(Parent, Max, N + 1, [Ev | Acc]);
        _ -> tracer(Parent, Max, N, Acc)
    end.

%% Walks the events in time order keeping each shard's state (running on
%% scheduler S, or out: waiting in receive or preempted) and the active
%% schedulers; accumulates the time spent in each combination.
analyse(Events0, Shards, T0, T1) ->
    Ts = fun({trace_ts, _, _, _, _, T}) -> T; ({profile, scheduler, _, _, _, T}) -> T; (_) -> T0 end,
    Events = lists:keysort(1, [{Ts(E), E} || E <- Events0]),
    NS = erlang:system_info(schedulers_online),
    Init = #{t => T0, sh => maps:from_list([{P, unknown} || P <- Shards]),
             act => maps:from_list([{I, true} || I <- lists:seq(1, NS)]),
             acc => #{}, mig => #{}, last => #{}, outmfa => #{}, ins => 0},
    St = lists:foldl(fun({T, E}, S) -> event(E, add(T, S)) end, Init, Events),
    #{acc := Acc, mig := Mig, outmfa := Out, ins := Ins} = add(T1, St),
    Total = max(1, lists:sum(maps:values(Acc))),
    #{events => length(Events), ms => erlang:convert_time_unit(T1 - T0, native, millisecond),
      shares => lists:reverse(lists:keysort(2, [{K, V / Total} || {K, V} <- maps:to_list(Acc)])),
      migrations => maps:to_list(Mig), ins => Ins,
      out_mfa => lists:sublist(lists:reverse(lists:keysort(2, maps:to_list(Out))), 6)}.

%% The time since the last event goes to the current combination:
%% {ActiveSchedulers, [state of each shard]}.
add(T, #{t := T0, sh := Sh, act := Act, acc := Acc} = S) ->
    Key = {length([x || {_, true} <- maps:to_list(Act)]), [maps:get(P, Sh) || P <- lists:sort(maps:keys(Sh))]},
    S#{t := max(T, T0), acc := maps:update_with(Key, fun(V) -> V + max(0, T - T0) end, max(0, T - T0), Acc)}.

event({trace_ts, P, in, _MFA, Sched, _}, #{sh := Sh, last := L, mig := M, ins := I} = S) ->
    M1 = case maps:get(P, L, Sched) of Sched -> M; _ -> maps:update_with(P, fun(X) -> X + 1 end, 1, M) end,
    S#{sh := Sh#{P => {run, Sched}}, last := L#{P => Sched}, mig := M1, ins := I + 1};
event({trace_ts, P, out, MFA, _Sched, _}, #{sh := Sh, outmfa := O} = S) ->
    State = case MFA of
                {_, 'receive', _} -> waiting;
                {gen_server, loop, _} -> waiting;
                {gen, do_call, _} -> waiting;
                _ -> preempted
            end,
    S#{sh := Sh#{P => State}, outmfa := maps:update_with(MFA, fun(X) -> X + 1 end, 1, O)};
event({profile, scheduler, Id, State, _, _}, #{act := A} = S) ->
    S#{act := A#{Id => State =:= active}};
event(_, S) ->
    S.

%%% -------------------------------------------------------------- reporting

report(Round, Ph, S, N, #{count := C, errors := E, wall_us := W, cores := Cores, p99 := P99, threads := Th,
                           loadavg := La, extra := X}) ->
    out("~nround ~b ~-7s ~s: ~b senders, ~b sends/s, p99 ~.2f ms, ~b errors; VM ~.2f cores, ~.1f us/send; load ~s~n",
        [Round, Ph, S, N, round(C * 1.0e6 / W), P99 / 1000, E, Cores, Cores * W / max(C, 1), La]),
    [out("    thread ~-10s cpu ~.3f cores, run delay ~.3f cores, switches/s voluntary ~b involuntary ~b~n",
         [Cl, Cpu, Dl, round(V), round(I)]) || {Cl, Cpu, Dl, V, I} <- Th, Cpu > 0.002 orelse Dl > 0.002],
    report_extra(X).

report_extra(#{msacc := M, swt := Swt}) ->
    [out("    msacc ~-10s (~b): ~s~n", [Ty, N, string:join([io_lib:format("~s ~.1f%", [St, 100 * V]) || {St, V} <- Sts, V >= 0.001], ", ")])
     || {Ty, N, Sts} <- M],
    out("    scheduler_wall_time active: ~s~n", [string:join([io_lib:format("~b: ~.3f", [I, A]) || {I, A} <- Swt], ", ")]);
report_extra(#{samples := Samples, ns := NS}) ->
    N = max(1, length(Samples)),
    Hist = fun(F) -> lists:sort(maps:to_list(lists:foldl(fun(S, A) -> maps:update_with(F(S), fun(X) -> X + 1 end, 1, A) end, #{}, Samples))) end,
    Pc = fun(L) -> string:join([io_lib:format("~w ~.1f%", [K, 100 * V / N]) || {K, V} <- L, V * 1000 >= N], ", ") end,
    Bucket = fun(0) -> 0; (1) -> 1; (X) when X < 10 -> '2-9'; (X) when X < 100 -> '10-99'; (_) -> '100+' end,
    out("    ~b samples; active tasks (running + runnable) per normal run queue, bucketed: ~s~n",
        [N, Pc(Hist(fun({T, _}) -> [Bucket(X) || X <- lists:sublist(T, NS)] end))]),
    out("    tasks on the dirty CPU run queue: ~s~n", [Pc(Hist(fun({T, _}) -> Bucket(lists:nth(NS + 1, T)) end))]),
    out("    normal run queues' tasks: median of each ~w, of the larger ~p, of the smaller ~p~n",
        [[median([lists:nth(I, T) || {T, _} <- Samples]) || I <- lists:seq(1, NS)],
         median([lists:max(lists:sublist(T, NS)) || {T, _} <- Samples]),
         median([lists:min(lists:sublist(T, NS)) || {T, _} <- Samples])]),
    out("    a normal run queue with no task: ~s~n",
        [Pc(Hist(fun({T, _}) -> length([x || 0 <- lists:sublist(T, NS)]) end))]),
    out("    when a normal run queue has no task, the busiest other one has (1 = only its running process: nothing to steal): ~s~n",
        [Pc(Hist(fun({T, _}) -> Q = lists:sublist(T, NS),
                                 case lists:member(0, Q) of true -> Bucket(lists:max(Q)); false -> none end end))]),
    out("    shard states: ~s~n", [Pc(Hist(fun({_, Sh}) -> [St || {St, _} <- Sh] end))]),
    out("    shard states when a run queue has no task: ~s~n",
        [Pc(Hist(fun({T, Sh}) -> case lists:member(0, lists:sublist(T, NS)) of
                                     true -> [St || {St, _} <- Sh]; false -> busy end end))]),
    Lens = [L || {_, Sh} <- Samples, {_, L} <- Sh],
    out("    shard queue lengths: median ~p, p90 ~p, max ~p; zero in ~.1f%~n",
        [median(Lens), lists:nth(max(1, round(0.9 * length(Lens))), lists:sort(Lens)), lists:max(Lens),
         100 * length([x || 0 <- Lens]) / max(1, length(Lens))]);
report_extra(#{trace := #{events := E, ms := Ms, shares := Sh, migrations := Mig, ins := Ins, out_mfa := Out}}) ->
    out("    trace: ~b events in ~b ms, ~b shard schedule-ins, migrations ~w~n", [E, Ms, Ins, [M || {_, M} <- Mig]]),
    out("    time by {active schedulers, [shard states]} (top): ~s~n",
        [string:join([io_lib:format("~w ~.1f%", [K, 100 * V]) || {K, V} <- lists:sublist(Sh, 12), V >= 0.002], "; ")]),
    Sum = fun(F) -> 100.0 * lists:sum([V || {K, V} <- Sh, F(K)]) end,
    out("    schedulers active: 2 ~.1f%, 1 ~.1f%, 0 ~.1f%; both shards running ~.1f%, on one scheduler "
        "while the other was inactive and the other shard preempted (queued) ~.1f%~n",
        [Sum(fun({A, _}) -> A =:= 2 end), Sum(fun({A, _}) -> A =:= 1 end), Sum(fun({A, _}) -> A =:= 0 end),
         Sum(fun({_, L}) -> length([x || {run, _} <- L]) =:= 2 end),
         Sum(fun({A, L}) -> A =:= 1 andalso lists:member(preempted, L) end)]),
    out("    shards scheduled out at: ~w~n", [Out]);
report_extra(#{perf := {File, Out}}) ->
    out("    perf sched events: ~s.data (~s)~n", [File, string:trim(Out)]);
report_extra(_) ->
    ok.
