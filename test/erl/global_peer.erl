%% What the global tests (test/otp/global-erl.test.ts) run on the erl nodes,
%% called by rpc from a hidden beambridge node (hidden connections take no
%% part in global). Loaded into each erl node at start.
-module(global_peer).
-export([join/1, sync_time/0, sync_async/0, sync_result/2, holder/0, holder_call/2, holder_log/1,
         register_time/1, set_lock/4, del_lock/3, trans_time/2,
         register_for/3]).

%% Connects to Node and waits for global to sync with it: {Ping, Sync, Micros}.
join(Node) ->
    T0 = erlang:monotonic_time(microsecond),
    Ping = net_adm:ping(Node),
    Sync = global:sync(),
    {Ping, Sync, erlang:monotonic_time(microsecond) - T0}.

%% global:sync() on its own: {Result, Micros}.
sync_time() ->
    T0 = erlang:monotonic_time(microsecond),
    R = global:sync(),
    {R, erlang:monotonic_time(microsecond) - T0}.

%% global:sync() in a process of its own; sync_result/2 asks it for
%% {ok, Micros} within Wait ms, or says pending. It answers every request
%% (those made while it waited too) and ends two minutes after the last.
sync_async() ->
    spawn(fun() -> answer(sync_time()) end).

answer(R) ->
    receive {result, From, Ref} -> From ! {Ref, R}, answer(R)
    after 120000 -> ok
    end.

sync_result(Pid, Wait) ->
    Ref = make_ref(),
    Pid ! {result, self(), Ref},
    receive {Ref, R} -> R after Wait -> pending end.

%% A process that outlives the rpc that made it: it runs funs it is sent and
%% logs every other message (e.g. {global_name_conflict, Name}).
holder() ->
    spawn(fun() -> holder_loop([]) end).

holder_loop(Log) ->
    receive
        {holder_do, From, Ref, Fun} ->
            From ! {Ref, Fun()},
            holder_loop(Log);
        {holder_log, From, Ref} ->
            From ! {Ref, lists:reverse(Log)},
            holder_loop([]);
        stop ->
            ok;
        M ->
            holder_loop([M | Log])
    end.

%% Runs Fun in the holder (so locks and links are the holder's own).
holder_call(Pid, Fun) ->
    Ref = make_ref(),
    MRef = monitor(process, Pid),
    Pid ! {holder_do, self(), Ref, Fun},
    receive
        {Ref, R} -> demonitor(MRef, [flush]), R;
        {'DOWN', MRef, _, _, Why} -> {holder_down, Why}
    after 60000 -> holder_timeout
    end.

holder_log(Pid) ->
    case is_process_alive(Pid) of
        false -> dead;
        true -> holder_call_log(Pid)
    end.

holder_call_log(Pid) ->
    Ref = make_ref(),
    Pid ! {holder_log, self(), Ref},
    receive {Ref, L} -> L after 60000 -> holder_timeout end.

%% A new holder registered as Name: {Answer, Pid, Micros}.
register_time(Name) ->
    Pid = holder(),
    T0 = erlang:monotonic_time(microsecond),
    R = global:register_name(Name, Pid),
    {R, Pid, erlang:monotonic_time(microsecond) - T0}.

%% Registers Pid (any node's) as Name with a resolve method of module global.
register_for(Name, Pid, Method) ->
    global:register_name(Name, Pid, fun global:Method/3).

%% global:set_lock / del_lock made by the holder Pid: {Result, Micros}.
set_lock(Pid, Id, Nodes, Retries) ->
    holder_call(Pid, fun() ->
        T0 = erlang:monotonic_time(microsecond),
        R = global:set_lock(Id, Nodes, Retries),
        {R, erlang:monotonic_time(microsecond) - T0}
    end).

del_lock(Pid, Id, Nodes) ->
    holder_call(Pid, fun() -> global:del_lock(Id, Nodes) end).

%% global:trans on Nodes (retries 0): {Result, Micros}.
trans_time(Id, Nodes) ->
    T0 = erlang:monotonic_time(microsecond),
    R = global:trans(Id, fun() -> done end, Nodes, 0),
    {R, erlang:monotonic_time(microsecond) - T0}.
