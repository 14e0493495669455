%% Paired A/B comparison of two ways of running the stub (bench/ab.sh), for
%% the scaling goal of bench/run.sh: four stub VMs holding the same data, A
%% (the baseline) and B (the variant), each once with +S 1:1 and once with
%% +S 2:2, loaded the same way as run.sh's in-VM scaling rounds (the clients
%% and one long-poller per user inside each stub's VM, the same warm-up to
%% steady state). Each round runs the same phase (sends, or friendsPresence,
%% back to back by a fixed set of clients) on the four VMs in turn, the
%% order reversed every other round; per round it prints each VM's rate and
%% CPU per request, the ratios A = A(+S 2:2) / A(+S 1:1) and B likewise, and
%% at the end the medians of both and of B / A. Figures from different runs
%% of this machine are not comparable; ratios within one round are.
%%
%% Keys: a1, a2, b1, b2 (the four nodes), users (10000), rounds (6),
%% round_seconds (4), kinds (send; fp; both), sat_senders (64), sat_fp (48),
%% toggle_b (none; offheap: B's shards get message_queue_data=off_heap at
%% run time, through sys:replace_state, before the warm-up), and the warm-up
%% keys of chat_bench_warmup; perf_dir (none; DIR: perf profiles of each VM during
%% the first round, the stubs started with AB_FLAGS_A/B="+JPperf true").
%%
%% Each phase also prints what other processes took and the steal time of
%% the machine's CPUs during it (/proc/stat), so a phase a neighbour or the
%% hypervisor disturbed shows.
-module(chat_bench_ab).

-export([main/0]).
%% For chat_bench_diag.
-export([main/2]).

-import(chat_bench, [call/2, out/2, median/1, pct/2]).
-import(chat_bench_os, [loadavg/0, proc_stat/0]).

main() ->
    main("A/B", fun run/1).

%% Runs Run(Opts), Opts the key=value arguments after -extra, and halts
%% with 0 when it returned true.
main(What, Run) ->
    Ok = try Run(chat_bench:opts(init:get_plain_arguments()))
         catch C:R:St -> io:format("~s failed: ~p:~p~n~p~n", [What, C, R, St]), false
         end,
    halt(case Ok of true -> 0; false -> 1 end).

run(Opts) ->
    Users = maps:get(users, Opts, 10000),
    [persistent_term:put({?MODULE, perf_dir}, atom_to_list(D)) || D <- [maps:get(perf_dir, Opts, none)], D =/= none],
    Vms = [a1, a2, b1, b2],
    Node = fun(V) -> maps:get(V, Opts) end,
    [pong = net_adm:ping(Node(V)) || V <- Vms],
    out("A/B: ~s; load average ~s~n", [string:join([io_lib:format("~s ~s (~b sched)", [V, Node(V), sched(Node(V))]) || V <- Vms], ", "),
                                       loadavg()]),
    [chat_bench:setup(Node(V), Users, false) || V <- Vms],
    [begin
         S = Node(V),
         [{module, M} = rpc:call(S, code, load_binary, [M, F, B])
          || M <- [chat_bench, ?MODULE], {_, B, F} <- [code:get_object_code(M)]],
         chat_bench:direct(S, S, true),
         ok = rpc:call(S, chat_bench, start_pollers, [S, Users])
     end || V <- Vms],
    toggle(maps:get(toggle_b, Opts, none), [Node(b1), Node(b2)]),
    timer:sleep(2000),
    true = chat_bench_warmup:all([Node(V) || V <- Vms], Users, Opts),
    Kinds = case maps:get(kinds, Opts, send) of both -> [send, fp]; K -> [K] end,
    Rounds = maps:get(rounds, Opts, 6),
    Secs = maps:get(round_seconds, Opts, 4),
    Clients = #{send => maps:get(sat_senders, Opts, 64), fp => maps:get(sat_fp, Opts, 48)},
    Res = [begin
               Order = case R rem 2 of 1 -> Vms; 0 -> lists:reverse(Vms) end,
               Ph = maps:from_list([{V, phase(R, Kind, V, Node(V), Users, Secs, maps:get(Kind, Clients))} || V <- Order]),
               RA = rate(Ph, a2) / rate(Ph, a1),
               RB = rate(Ph, b2) / rate(Ph, b1),
               out("  round ~b ~s: A x~.2f  B x~.2f  B/A ~.2f  (CPU per request +S 2:2 over +S 1:1: A x~.2f, B x~.2f)~n",
                   [R, Kind, RA, RB, RB / RA, cpu(Ph, a2) / cpu(Ph, a1), cpu(Ph, b2) / cpu(Ph, b1)]),
               {Kind, RA, RB, Ph}
           end || R <- lists:seq(1, Rounds), Kind <- Kinds],
    [begin
         L = [{A, B, Ph} || {K, A, B, Ph} <- Res, K =:= Kind],
         As = [A || {A, _, _} <- L],
         Bs = [B || {_, B, _} <- L],
         F = fun(Xs) -> string:join([io_lib:format("~.2f", [X]) || X <- Xs], " ") end,
         MedCpu = fun(V) -> median([cpu(Ph, V) || {_, _, Ph} <- L]) * 1000 end,
         Clean = [B / A || {A, B, Ph} <- L, lists:all(fun(V) -> maps:get(others, maps:get(V, Ph)) < 0.2 end, Vms)],
         out("~s: A x~.2f (~s)~n    B x~.2f (~s)~n    B/A per round ~s, median ~.2f~n"
             "    B/A in the rounds where other processes took < 0.2 cores in every phase: ~s, median ~s~n"
             "    CPU us per request, medians: A ~.1f / ~.1f, B ~.1f / ~.1f (+S 1:1 / +S 2:2)~n",
             [Kind, median(As), F(As), median(Bs), F(Bs), F([B / A || {A, B, _} <- L]),
              median([B / A || {A, B, _} <- L]), F(Clean),
              case Clean of [] -> "-"; _ -> io_lib:format("~.2f", [median(Clean)]) end,
              MedCpu(a1), MedCpu(a2), MedCpu(b1), MedCpu(b2)])
     end || Kind <- Kinds],
    out("load average at the end ~s~n", [loadavg()]),
    true.

sched(S) -> rpc:call(S, erlang, system_info, [schedulers_online]).

rate(Ph, V) -> maps:get(rate, maps:get(V, Ph)).
cpu(Ph, V) -> maps:get(cpu, maps:get(V, Ph)).

%% B's run-time variant, applied inside each shard process.
toggle(none, _) -> ok;
toggle(offheap, Stubs) ->
    [begin
         Names = rpc:call(S, chat_channel, shard_names, []),
         [sys:replace_state({N, S}, fun(St) -> process_flag(message_queue_data, off_heap), St end) || N <- Names],
         out("~s: ~p~n", [S, [rpc:call(S, erlang, process_info, [whereis_on(S, N), message_queue_data]) || N <- Names]])
     end || S <- Stubs],
    ok.

whereis_on(S, N) -> rpc:call(S, erlang, whereis, [N]).

phase(R, Kind, V, Stub, Users, Secs, Clients) ->
    timer:sleep(300),
    OsPid = rpc:call(Stub, os, getpid, []),
    Cpu0 = chat_bench_os:vm_cpu_ms(Stub),
    Cs0 = switches(OsPid),
    P0 = proc_stat(),
    T0 = erlang:monotonic_time(millisecond),
    Perf = perf(R, V, OsPid, Secs),
    #{Kind := {Count, Errors, Lat, _}} = rpc:call(Stub, chat_bench, load, [Stub, Users, Secs, [{Kind, max, Clients}]], infinity),
    T1 = erlang:monotonic_time(millisecond),
    [receive {perf, Out} -> out("  perf of ~s: ~s", [V, Out]) end || Perf],
    P1 = proc_stat(),
    Cs1 = switches(OsPid),
    Cpu1 = chat_bench_os:vm_cpu_ms(Stub),
    Wall = max(1, T1 - T0),
    Cores = (Cpu1 - Cpu0) / Wall,
    {Busy, Steal} = machine(P0, P1),
    out("  round ~b ~-4s ~s ~6b/s p99 ~5.2f ms | stub ~.2f cores, ~.1f us/req, ~.2f thread switches/req | "
        "others ~.2f cores, steal ~.1f%~s~n",
        [R, Kind, V, round(Count / Secs), pct(Lat, 0.99) / 1000, Cores, (Cpu1 - Cpu0) * 1000 / max(Count, 1),
         (Cs1 - Cs0) / max(Count, 1),
         max(0.0, Busy - Cores), Steal, case Errors of 0 -> ""; _ -> io_lib:format(" ~b ERRORS", [Errors]) end]),
    #{rate => Count / Secs, cpu => (Cpu1 - Cpu0) / max(Count, 1), others => max(0.0, Busy - Cores)}.

%% With perf_dir=DIR (stubs started with +JPperf true), a perf profile of
%% each VM during the first round's phase, to DIR/V.data.
perf(1, V, OsPid, Secs) ->
    case persistent_term:get({?MODULE, perf_dir}, none) of
        none -> false;
        Dir ->
            Me = self(),
            Cmd = io_lib:format("perf record -F 1999 -g -p ~s -o ~s/~s.data -- sleep ~b 2>&1 | tail -1",
                                [OsPid, Dir, V, max(1, Secs - 1)]),
            spawn(fun() -> Me ! {perf, os:cmd(lists:flatten(Cmd))} end),
            true
    end;
perf(_, _, _, _) -> false.

%% Context switches of all the OS threads of a VM (a scheduler that runs
%% out of work sleeps on a futex and is woken again: two per sleep).
switches(OsPid) ->
    Dir = "/proc/" ++ OsPid ++ "/task",
    {ok, Tids} = file:list_dir(Dir),
    lists:sum([begin
                   {ok, B} = file:read_file(Dir ++ "/" ++ T ++ "/status"),
                   {Vol, Invol} = chat_bench_os:ctxt_switches(B),
                   Vol + Invol
               end || T <- Tids]).

%% Between two proc_stat/0 readings: the cores busy other than stolen, and the steal time in %.
machine({_, S0, T0} = P0, {_, S1, T1} = P1) when T1 > T0 ->
    {chat_bench_os:busy_cores(P0, P1) - (S1 - S0) / (T1 - T0) * chat_bench_os:ncpu(),
     100 * (S1 - S0) / (T1 - T0)};
machine(_, _) -> {0.0, 0.0}.
