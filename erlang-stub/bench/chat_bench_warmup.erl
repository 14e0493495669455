%% The warm-up of chat_bench (bench/run.sh): brings every stub VM to steady
%% state before the scaling rounds, from the load node. The sends run on the
%% stub (chat_bench:warm_chunk/4, chat_bench:events/0, loaded there).
-module(chat_bench_warmup).

-export([all/3]).

-import(chat_bench, [call/2, out/2, schedulers/1, set_online/2]).
-import(chat_bench_os, [loadavg/0]).

%% Brings every stub VM to the state the rounds keep it in, the same way for
%% each, one after the other with all its schedulers online: sends by
%% sat_senders clients inside the stub's VM, back to back, in chunks of
%% warmup_chunk seconds (2), until the stub's stats say the history holds
%% history_max messages and eviction has run (history_evicted > 0), and the
%% users' event windows hold at least warmup_fill (0.99) of users x window
%% events (each send queues two: the recipient's and the sender's echo; a
%% window past `window' is trimmed on every event), and for at least
%% warmup_min seconds (0). It prints the stub's CPU per send of each chunk,
%% so a drift left after the criteria shows. Bounded by
%% warmup_seconds (120) per VM; warmup=false skips it. Returns false (and
%% the rounds do not run) when a stub did not get there in time.
all(Stubs, Users, Opts) ->
    case maps:get(warmup, Opts, true) of
        false ->
            out("~nno warm-up (warmup=false): the rounds start on the stubs as the setup left them~n", []),
            true;
        true ->
            out("~nwarm-up, every stub VM in turn: sends inside the stub's VM until the history is at its cap "
                "with eviction running and the event windows are >= ~b% full (at most ~b s per VM)~n",
                [round(100 * maps:get(warmup_fill, Opts, 0.99)), maps:get(warmup_seconds, Opts, 120)]),
            lists:all(fun(Ok) -> Ok end, [warmup(S, Users, Opts) || S <- Stubs])
    end.

warmup(Stub, Users, Opts) ->
    ensure_loaded(Stub),
    Max = rpc:call(Stub, chat_config, get, [history_max]),
    Window = rpc:call(Stub, chat_config, get, [window]),
    Fill = maps:get(warmup_fill, Opts, 0.99),
    Bound = maps:get(warmup_seconds, Opts, 120) * 1000,
    Chunk = maps:get(warmup_chunk, Opts, 2),
    Clients = maps:get(sat_senders, Opts, 64),
    set_online(Stub, rpc:call(Stub, erlang, system_info, [schedulers])),
    Cpu0 = chat_bench_os:vm_cpu_ms(Stub),
    T0 = erlang:monotonic_time(millisecond),
    Before = steady_state(Stub),
    Want = round(Fill * Users * Window),
    Steady = fun(#{history := H, evicted := Ev, events := E}) -> H >= Max andalso Ev > 0 andalso E >= Want end,
    Min = maps:get(warmup_min, Opts, 0) * 1000,
    Loop = fun Loop(Sends, Errors, PerChunk) ->
                   St = steady_state(Stub),
                   Elapsed = erlang:monotonic_time(millisecond) - T0,
                   case (Steady(St) andalso Elapsed >= Min) orelse Elapsed >= Bound of
                       true -> {Sends, Errors, St, Elapsed, lists:reverse(PerChunk)};
                       false ->
                           C0 = chat_bench_os:vm_cpu_ms(Stub),
                           {C, E} = rpc:call(Stub, chat_bench, warm_chunk, [Stub, Users, Chunk, Clients], infinity),
                           C1 = chat_bench_os:vm_cpu_ms(Stub),
                           Loop(Sends + C, Errors + E, [(C1 - C0) * 1000 / max(C, 1) | PerChunk])
                   end
           end,
    {Sends, Errors, After, Ms, PerChunk} = Loop(0, 0, []),
    Cpu1 = chat_bench_os:vm_cpu_ms(Stub),
    Ok = Steady(After),
    #{history := H0, events := E0} = Before,
    #{history := H, evicted := Ev, events := E} = After,
    out("  ~s (~b scheduler(s)): ~b sends (~b errors) in ~.1f s (~b/s, stub ~.1f us CPU per send); "
        "history ~b -> ~b of ~b, ~b evicted; events retained ~b -> ~b of ~b (~.1f%)~s; load average ~s~n",
        [Stub, schedulers(Stub), Sends, Errors, Ms / 1000, round(Sends / max(Ms / 1000, 0.001)),
         (Cpu1 - Cpu0) * 1000 / max(Sends, 1), H0, H, Max, Ev, E0, E, Users * Window, 100 * E / max(Users * Window, 1),
         case Ok of true -> ""; false -> " -- WARNING: not steady within the bound, no rounds" end, loadavg()]),
    out("    stub CPU us per send, chunk by chunk: ~s~n",
        [string:join([io_lib:format("~.1f", [X]) || X <- PerChunk], " ")]),
    Ok.

%% What the warm-up watches, from the stub's stats (history: messages
%% stored) and its counters and tables: messages evicted, and the events
%% retained in every shard's event table (chat_user_events, one row per event).
steady_state(Stub) ->
    {ok, #{history := H}} = call(Stub, stats),
    #{history => H,
      evicted => rpc:call(Stub, chat_tables, value, [history_evicted]),
      events => rpc:call(Stub, chat_bench, events, [])}.

ensure_loaded(Stub) ->
    case rpc:call(Stub, code, is_loaded, [chat_bench]) of
        {file, _} -> ok;
        false ->
            {Mod, Bin, File} = code:get_object_code(chat_bench),
            {module, Mod} = rpc:call(Stub, code, load_binary, [Mod, File, Bin]),
            ok
    end.
