%% What the stub benchmarks read of the operating system (Linux /proc): the CPU
%% a node's OS process has used, the machine's CPU counters, a thread's context
%% switches, the load average. Used by chat_bench, chat_bench_ab,
%% chat_bench_warmup and chat_bench_diag (loaded into the stub's VM by the last).
-module(chat_bench_os).

-export([vm_cpu_ms/1, proc_stat/0, busy_cores/2, ctxt_switches/1, ncpu/0, loadavg/0]).

%% @doc The CPU time a node of this machine has used, user and system, in ms:
%% its OS process's utime + stime from /proc/PID/stat (in USER_HZ ticks, 100 a
%% second on Linux). Not statistics(runtime), which counts user time only: the
%% kernel's share of a VM's work (scheduler sleeps and wake-ups, page faults,
%% allocator mappings) went uncounted, and showed up as "others". Where /proc
%% cannot be read, statistics(runtime), said once.
-spec vm_cpu_ms(node()) -> non_neg_integer().
vm_cpu_ms(Node) ->
    case os_pid(Node) of
        Pid when is_list(Pid) ->
            case file:read_file("/proc/" ++ Pid ++ "/stat") of
                %% The fields after the command name, which ends at the last ") ".
                {ok, B} -> ticks_ms(lists:last(string:split(B, ") ", trailing)));
                _ -> runtime_ms(Node)
            end;
        _ ->
            runtime_ms(Node)
    end.

ticks_ms(Fields) ->
    F = binary:split(Fields, <<" ">>, [global]),
    (binary_to_integer(lists:nth(12, F)) + binary_to_integer(lists:nth(13, F))) * 10.

runtime_ms(Node) ->
    persistent_term:get({?MODULE, said}, false) orelse
        begin
            io:format("note: /proc/PID/stat of ~s cannot be read: CPU figures are user time only~n", [Node]),
            persistent_term:put({?MODULE, said}, true)
        end,
    {Ms, _} = rpc:call(Node, erlang, statistics, [runtime]),
    Ms.

%% The node's OS pid, asked once (a failed ask is not kept).
os_pid(Node) when Node =:= node() ->
    os:getpid();
os_pid(Node) ->
    case persistent_term:get({?MODULE, os_pid, Node}, undefined) of
        undefined ->
            case rpc:call(Node, os, getpid, []) of
                Pid when is_list(Pid) -> persistent_term:put({?MODULE, os_pid, Node}, Pid), Pid;
                Bad -> Bad
            end;
        Pid ->
            Pid
    end.

%% @doc The machine's CPU counters (/proc/stat's first line): {Busy, Steal, Total}
%% in ticks, Busy counting everything but idle and iowait (steal included).
proc_stat() ->
    case file:read_file("/proc/stat") of
        {ok, B} ->
            [Line | _] = binary:split(B, <<"\n">>),
            [_ | Fields] = string:lexemes(binary_to_list(Line), " "),
            Ns = [list_to_integer(F) || F <- lists:sublist(Fields, 8)],
            Idle = lists:nth(4, Ns) + lists:nth(5, Ns),
            {lists:sum(Ns) - Idle, lists:nth(8, Ns), lists:sum(Ns)};
        _ ->
            {0, 0, 0}
    end.

%% @doc Cores busy between two proc_stat/0 readings.
busy_cores({B0, _, T0}, {B1, _, T1}) when T1 > T0 -> (B1 - B0) / (T1 - T0) * ncpu();
busy_cores(_, _) -> 0.0.

%% @doc A thread's voluntary and involuntary context switches, from its /proc status file.
-spec ctxt_switches(binary()) -> {non_neg_integer(), non_neg_integer()}.
ctxt_switches(Status) ->
    Kv = [{K, binary_to_integer(string:trim(V))} || L <- binary:split(Status, <<"\n">>, [global]),
                                                     [K, V] <- [binary:split(L, <<":">>)],
                                                     lists:member(K, [<<"voluntary_ctxt_switches">>, <<"nonvoluntary_ctxt_switches">>])],
    {proplists:get_value(<<"voluntary_ctxt_switches">>, Kv), proplists:get_value(<<"nonvoluntary_ctxt_switches">>, Kv)}.

%% @doc Logical processors available to this VM.
ncpu() ->
    erlang:system_info(logical_processors_available).

%% @doc The load average's three figures, as text.
loadavg() ->
    case file:read_file("/proc/loadavg") of
        {ok, B} -> string:join(lists:sublist(string:lexemes(binary_to_list(B), " "), 3), " ");
        _ -> "?"
    end.
