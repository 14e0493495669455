%% What a second scheduler costs on this machine, apart from any stub: the
%% ceiling of bench:stub's sends ratio (2 cores over +S 1:1). Run by
%% bench/smp.sh:
%%
%%   erl -noshell -pa ebin-test -run chat_bench_smp main [rounds=5] [seconds=4] [work_us=40]
%%
%% Each probe runs in fresh VMs started by this controller, +S 1:1 and +S 2:2
%% in turn (the order alternates between rounds), with the VM flags in
%% SMP_VM_FLAGS (smp.sh passes the stub VMs' flags, common.sh's $base); each
%% prints its figures and halts. Per round the ratios,
%% at the end their medians:
%%
%%   pattern       the message pattern of a stub send and nothing else: 64
%%                 senders call the shard of a random user (one shard per
%%                 scheduler, as the stub), which queues the event on the
%%                 recipient's shard (a message when that is the other one)
%%                 and answers the recipient's and the sender's held
%%                 long-polls (10,000 pollers, each polling again at once),
%%                 then the sender. No ETS, no timers.
%%   pattern+work  the same, each send also doing work_us of arithmetic in its
%%                 shard (work that touches no shared memory and takes no lock).
%%   ets           the memory work of a shard, without sharing: one worker per
%%                 scheduler, each inserting into and deleting from its own
%%                 private tables (a 500,000-row set and an ordered_set), in
%%                 one VM; and, as a control, two +S 1:1 VMs doing it at once.
%%
%% The rate ratio of a pattern probe is what its 2-core VM does over the
%% 1-core one; the CPU ratio is CPU per operation, 2:2 over 1:1 (1.00: the
%% second scheduler adds nothing to each operation). For ets, the CPU per
%% operation of each worker, over that of one worker on +S 1:1.
-module(chat_bench_smp).

-export([main/0, child/1]).

-import(chat_bench, [median/1, opts/1, out/2]).

-compile({inline, [mix/1]}).

-define(USERS, 10000).
-define(SENDERS, 64).
-define(ROWS, 500000).
-define(CHILD_TIMEOUT_MS, 120000).

%%% ------------------------------------------------------------- controller

main() ->
    Opts = opts(init:get_plain_arguments()),
    Rounds = maps:get(rounds, Opts, 5),
    Secs = maps:get(seconds, Opts, 4),
    Iters = calibrate(maps:get(work_us, Opts, 40)),
    out("OTP ~s, ~b cores, load average ~s; ~b rounds of ~b s per VM; work ~b us a send (~b iterations); "
        "VM flags: ~s~n",
        [erlang:system_info(otp_release), chat_bench_os:ncpu(), chat_bench_os:loadavg(), Rounds, Secs,
         maps:get(work_us, Opts, 40), Iters, os:getenv("SMP_VM_FLAGS", "")]),
    Rows = [round(R, Secs, Iters) || R <- lists:seq(1, Rounds)],
    out("~nmedians over ~b rounds:~n", [Rounds]),
    [begin
         Col = [maps:get(K, Row) || Row <- Rows],
         out("  ~-50s ~.2f   (rounds ~s)~n", [label(K), median(Col), fmt(Col)])
     end || K <- [pattern_rate, pattern_cpu, work_rate, work_cpu, work_cores, ets_cpu, ets_two_vms]],
    out("load average now ~s~n", [chat_bench_os:loadavg()]),
    halt(0).

label(pattern_rate) -> "pattern: rate, 2:2 over 1:1";
label(pattern_cpu) -> "pattern: CPU per send, 2:2 over 1:1";
label(work_rate) -> "pattern+work: rate, 2:2 over 1:1";
label(work_cpu) -> "pattern+work: CPU per send, 2:2 over 1:1";
label(work_cores) -> "pattern+work: cores the 2:2 VM used";
label(ets_cpu) -> "ets: CPU per op, 2 workers on 2:2 over 1 on 1:1";
label(ets_two_vms) -> "ets: CPU per op, two 1:1 VMs at once over one".

fmt(L) -> lists:join(" ", [io_lib:format("~.2f", [X]) || X <- L]).

%% One round: every probe on both VMs, the order alternating between rounds.
round(R, Secs, Iters) ->
    Order = case R rem 2 of 1 -> [1, 2]; 0 -> [2, 1] end,
    P = pair(pattern, [0], Secs, Order),
    W = pair(pattern, [Iters], Secs, Order),
    E = pair(ets, [], Secs, Order),
    [E2a, E2b] = children([{1, ets, []}, {1, ets, []}], Secs),
    Two = (cpu_op(E2a) + cpu_op(E2b)) / 2 / cpu_op(maps:get(1, E)),
    Row = #{pattern_rate => rate(maps:get(2, P)) / rate(maps:get(1, P)),
            pattern_cpu => cpu_op(maps:get(2, P)) / cpu_op(maps:get(1, P)),
            work_rate => rate(maps:get(2, W)) / rate(maps:get(1, W)),
            work_cpu => cpu_op(maps:get(2, W)) / cpu_op(maps:get(1, W)),
            work_cores => cores(maps:get(2, W)),
            ets_cpu => cpu_op(maps:get(2, E)) / cpu_op(maps:get(1, E)),
            ets_two_vms => Two},
    out("round ~b (load ~s)~n", [R, chat_bench_os:loadavg()]),
    [out("  ~-13s ~s | ~s~n", [Name, line(maps:get(1, X)), line(maps:get(2, X))])
     || {Name, X} <- [{"pattern", P}, {"pattern+work", W}, {"ets", E}]],
    out("  ets, two +S 1:1 VMs at once: ~.2f / ~.2f us per op~n", [cpu_op(E2a), cpu_op(E2b)]),
    out("  ratios: pattern rate x~.2f, CPU x~.2f | pattern+work rate x~.2f, CPU x~.2f | ets CPU x~.2f, two VMs x~.2f~n",
        [maps:get(K, Row) || K <- [pattern_rate, pattern_cpu, work_rate, work_cpu, ets_cpu, ets_two_vms]]),
    Row.

line(#{s := S, ops := Ops, cpu_ms := Cpu, wall_us := Wall}) ->
    io_lib:format("+S ~b:~b ~b/s, ~.2f us CPU per op, ~.2f cores", [S, S, round(Ops * 1.0e6 / Wall), Cpu * 1000 / Ops, Cpu * 1000 / Wall]).

rate(#{ops := Ops, wall_us := Wall}) -> Ops * 1.0e6 / Wall.
cpu_op(#{ops := Ops, cpu_ms := Cpu}) -> Cpu * 1000 / Ops.
cores(#{cpu_ms := Cpu, wall_us := Wall}) -> Cpu * 1000 / Wall.

%% A probe on +S 1:1 and on +S 2:2, one VM after the other.
pair(Kind, Args, Secs, Order) ->
    maps:from_list([{S, hd(children([{S, Kind, Args}], Secs))} || S <- Order]).

%% Starts one VM per spec at once and collects their results.
children(Specs, Secs) ->
    Erl = os:find_executable("erl"),
    Dir = filename:dirname(code:which(?MODULE)),
    Flags = string:lexemes(os:getenv("SMP_VM_FLAGS", ""), " "),
    Ports = [open_port({spawn_executable, Erl},
                       [{args, ["+S", io_lib:format("~b:~b", [S, S]) | Flags]
                               ++ ["-noshell", "-pa", Dir, "-run", ?MODULE, "child",
                                atom_to_list(Kind), integer_to_list(Secs) | [integer_to_list(A) || A <- Args]]},
                        {line, 4096}, exit_status, stderr_to_stdout])
             || {S, Kind, Args} <- Specs],
    Deadline = erlang:monotonic_time(millisecond) + ?CHILD_TIMEOUT_MS,
    [collect(Port, Deadline, none) || Port <- Ports].

%% A child prints `pid P' first and `result TERM' last; one that overruns is killed by its pid.
collect(Port, Deadline, OsPid) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {data, {eol, "pid " ++ P}}} -> collect(Port, Deadline, P);
        {Port, {data, {eol, "result " ++ T}}} ->
            {ok, Toks, _} = erl_scan:string(T),
            {ok, Term} = erl_parse:parse_term(Toks),
            receive {Port, {exit_status, _}} -> ok after 10000 -> ok end,
            Term;
        {Port, {data, {_, Line}}} -> out("  (child) ~s~n", [Line]), collect(Port, Deadline, OsPid);
        {Port, {exit_status, St}} -> error({child_exited, St})
    after Left ->
        OsPid =/= none andalso os:cmd("kill -9 " ++ OsPid),
        error(child_timeout)
    end.

%% Iterations of the work loop that take Us microseconds (best of 5 timings).
calibrate(Us) ->
    N = 20000,
    Best = lists:min([element(1, timer:tc(fun() -> work(N) end)) || _ <- lists:seq(1, 5)]),
    max(1, round(Us * N / max(1, Best))).

%%% ------------------------------------------------------------------ child

child([Kind, SecsS | Args]) ->
    io:format("pid ~s~n", [os:getpid()]),
    Secs = list_to_integer(SecsS),
    R = case Kind of
            "pattern" -> pattern(Secs, list_to_integer(hd(Args)));
            "ets" -> ets_probe(Secs)
        end,
    io:format("result ~w.~n", [R#{s => erlang:system_info(schedulers_online)}]),
    halt(0).

%% Measures Secs seconds after Setup returned, counting with Count (a counters ref).
measure(Secs, Count) ->
    C0 = counters:get(Count, 1), P0 = cpu_ms(), T0 = erlang:monotonic_time(microsecond),
    timer:sleep(Secs * 1000),
    C1 = counters:get(Count, 1), P1 = cpu_ms(), T1 = erlang:monotonic_time(microsecond),
    #{ops => C1 - C0, cpu_ms => P1 - P0, wall_us => T1 - T0}.

cpu_ms() ->
    chat_bench_os:vm_cpu_ms(node()).

%% The message pattern of a send (see the module doc), Iters of work a send.
pattern(Secs, Iters) ->
    N = erlang:system_info(schedulers_online),
    Shards = list_to_tuple([spawn(fun() -> shard(Iters, #{}) end) || _ <- lists:seq(1, N)]),
    persistent_term:put({?MODULE, shards}, Shards),
    [spawn(fun() -> poller(U) end) || U <- lists:seq(1, ?USERS)],
    timer:sleep(500),
    Count = counters:new(1, [write_concurrency]),
    [spawn(fun() -> rand:seed(exsss, {I, I, I}), sender(Count) end) || I <- lists:seq(1, ?SENDERS)],
    timer:sleep(1000),
    measure(Secs, Count).

shard_of(U) ->
    S = persistent_term:get({?MODULE, shards}),
    element(U rem tuple_size(S) + 1, S).

call(Pid, Req) ->
    Ref = make_ref(),
    Pid ! {call, {self(), Ref}, Req},
    receive {Ref, R} -> R end.

poller(U) ->
    _ = call(shard_of(U), {poll, U}),
    poller(U).

sender(Count) ->
    F = rand:uniform(?USERS),
    T = rand:uniform(?USERS),
    ok = call(shard_of(F), {send, F, T, <<"benchmark message">>}),
    counters:add(Count, 1, 1),
    sender(Count).

%% Held: user => the From of its held poll.
shard(Iters, Held) ->
    receive
        {call, From, {poll, U}} ->
            shard(Iters, Held#{U => From});
        {call, {Pid, Ref}, {send, F, T, Text}} ->
            work(Iters),
            Msg = #{from => F, to => T, text => Text, id => erlang:unique_integer()},
            H1 = case shard_of(T) of
                     Me when Me =:= self() -> event(T, Msg, Held);
                     Other -> Other ! {event, T, Msg}, Held
                 end,
            H2 = case F =:= T of true -> H1; false -> event(F, Msg, H1) end,
            Pid ! {Ref, ok},
            shard(Iters, H2);
        {event, T, Msg} ->
            shard(Iters, event(T, Msg, Held))
    end.

event(U, Msg, Held) ->
    case maps:take(U, Held) of
        {{Pid, Ref}, H} -> Pid ! {Ref, {events, [Msg]}}, H;
        error -> Held
    end.

%% Arithmetic on small integers: no allocation, no shared memory, about two
%% reductions an iteration (so a shard is scheduled out as often as a real one).
work(0) -> ok;
work(N) -> work(N - 1, N).

work(N, X0) ->
    X = mix(mix(mix(mix(mix(mix(mix(mix(X0)))))))),
    case X < 0 of
        true -> work(N);
        false -> work(N)
    end.

mix(X) -> (((X * 7 + 3) band 16#FFFFF) * 5 + 1) band 16#FFFFF.

%% One worker per scheduler on its own private tables.
ets_probe(Secs) ->
    N = erlang:system_info(schedulers_online),
    Count = counters:new(1, [write_concurrency]),
    Me = self(),
    [spawn(fun() -> ets_worker(Me, Count) end) || _ <- lists:seq(1, N)],
    [receive ready -> ok end || _ <- lists:seq(1, N)],
    measure(Secs, Count).

ets_worker(Parent, Count) ->
    Set = ets:new(set, [set, private]),
    Tree = ets:new(tree, [ordered_set, private]),
    [ets:insert(Set, {I, event(I)}) || I <- lists:seq(1, ?ROWS)],
    [ets:insert(Tree, {{I, I}, I}) || I <- lists:seq(1, ?ROWS div 5)],
    rand:seed(exsss, {1, 2, 3}),
    Parent ! ready,
    ets_loop(Set, Tree, Count, 1).

ets_loop(Set, Tree, Count, N) ->
    ets:insert(Set, {rand:uniform(?ROWS), event(N)}),
    Key = {rand:uniform(?ROWS div 5), N},
    ets:insert(Tree, {Key, N}),
    ets:delete(Tree, Key),
    counters:add(Count, 1, 1),
    ets_loop(Set, Tree, Count, N + 1).

event(N) ->
    #{seq => N, type => message, text => <<"benchmark message">>}.
