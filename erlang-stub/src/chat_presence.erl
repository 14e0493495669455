%% @doc Presence: who is online, idle or offline.
%%
%% A row `{UserId, LastActiveMonoMs, Notified}' exists while the user is
%% logged in (has a channel). The state is computed when asked, from the
%% last activity: idle once `idle_ms' have passed without activity (login,
%% send, typing, touch), online otherwise; no row means offline. Reads are
%% plain ETS lookups, so a 500-friend query costs 500 lookups in the caller.
%%
%% The server owns the table and sweeps it (every idle_ms/4, 10..1000 ms) to
%% notice online -> idle transitions for subscribers; `Notified' is the state
%% subscribers were last told. Login, logout and activity are written by the
%% user's shard with atomic row operations (insert_new, take, update_element,
%% and a compare-and-swap, ets:select_replace/2, for idle -> online), and the
%% sweeper's online -> idle is a compare-and-swap on the last activity, so the
%% sweeper and the shards never disagree about a transition.
%%
%% The mirror: for the seeded users 1..min(users, 2^20), the last activity is
%% also kept in an atomics array (0: offline), written right after the row by
%% the same process and read without locks. friendsPresence reads only seeded
%% users (friend lists hold nothing else), hundreds at a time from every
%% front-door shard at once: from the mirror, a friend costs a few
%% nanoseconds instead of an ETS lookup under a lock (a multi-scheduler VM
%% takes a read lock per lookup). Transitions and notifications still go
%% through the table's compare-and-swap; the mirror only answers "since when
%% active". Ids outside the mirror are read from the table.
%%
%% If the server crashes (the crash_presence fault), the table dies with it.
%% The supervisor restarts the server, which rebuilds the table from the
%% channel registry: every user with a live channel is online again with idle
%% time reset to zero. The new table is filled under another name and renamed
%% to its public name only once it and the mirror are complete (the mirror's
%% rebuilt users are overwritten, the others zeroed, before the rename), so no
%% reader ever sees a half-built table or a cleared mirror. While there is no
%% table, reads raise presence_unavailable (the shards retry) and logins,
%% logouts and activity wait for it (bounded), so none made during the rebuild
%% is lost or undone by it. The loss is reported in the log and each rebuilt
%% user's subscribers get `{presence_event, User, online}'.
-module(chat_presence).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0, init_mirror/0, login/1, logout/1, activity/1, state/2, lookup/1, present/1,
         online_count/0, now_ms/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(MIRROR, {chat_stub, presence_mirror}).
-define(MIRROR_MAX, 1 bsl 20).
%% The table's name while a (re)started server fills it.
-define(BUILDING, chat_presence_tab_building).
%% How long a write waits for the table to be published after a crash.
-define(WAIT_MS, 5000).

-type state() :: online | idle | offline.
-export_type([state/0]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Monotonic milliseconds, the time base of presence.
-spec now_ms() -> integer().
now_ms() ->
    erlang:monotonic_time(millisecond).

%% @doc Creates the mirror for this start of the application (empty: all offline).
-spec init_mirror() -> ok.
init_mirror() ->
    Size = max(1, min(chat_config:get(users), ?MIRROR_MAX)),
    %% Values are LastActive - Base, at least 1: nothing is older than now.
    persistent_term:put(?MIRROR, {atomics:new(Size, [{signed, true}]), now_ms() - 1, Size}).

%% @doc The user logged in (a channel was created). Counts as activity.
-spec login(integer()) -> ok.
login(User) ->
    with_table(fun() ->
                       Now = now_ms(),
                       case ets:insert_new(?PRESENCE, {User, Now, online}) of
                           true ->
                               mirror_put(User, Now),
                               chat_subs:notify(User, {presence_event, User, online});
                           false ->
                               activity(User)
                       end
               end).

%% @doc The user logged out or timed out.
-spec logout(integer()) -> ok.
logout(User) ->
    with_table(fun() ->
                       case ets:take(?PRESENCE, User) of
                           [_] ->
                               mirror_put(User, offline),
                               chat_subs:notify(User, {presence_event, User, offline});
                           [] ->
                               ok
                       end
               end).

%% @doc The user did something: online again, idle time zero.
-spec activity(integer()) -> ok.
activity(User) ->
    with_table(fun() -> activity(User, now_ms()) end).

%% The user's shard is the only writer of the row besides the sweeper, whose
%% online -> idle swap is a compare-and-swap on the old LastActive: once
%% LastActive is updated here the sweeper cannot idle the row, and a row it
%% idled just before is set online again (and subscribers told) below. So the
%% common case is two plain row operations (no match specification to run).
activity(User, Now) ->
    case ets:update_element(?PRESENCE, User, {2, Now}) of
        false ->
            ok;                                % offline: activity does not log in
        true ->
            mirror_put(User, Now),
            case ets:lookup_element(?PRESENCE, User, 3) of
                online -> ok;
                idle ->
                    case ets:select_replace(?PRESENCE, [{{User, '_', idle}, [], [{{{const, User}, Now, online}}]}]) of
                        1 -> chat_subs:notify(User, {presence_event, User, online});
                        0 -> ok
                    end
            end
    end.

%% Runs a write once the table exists. After a presence crash there is no
%% table until the restarted server has rebuilt it. Only a write made while
%% the rebuild runs (the table exists under its building name) can be lost:
%% the rebuild may have read the channel registry before the caller changed
%% it. Such a write waits for the table (bounded by ?WAIT_MS) and is then
%% applied to the rebuilt one, so a logout is not undone and a login is kept.
%% With no table at all (the server is gone, or restarting and not yet
%% rebuilding) the write fails fast and is dropped: the next rebuild reads
%% the registry, which already has the caller's change. So a shard never
%% waits for a presence server that is not there.
with_table(Write) ->
    with_table(Write, undefined).

with_table(Write, Deadline) ->
    try Write()
    catch error:badarg ->
            %% BUILDING first: the table goes BUILDING -> PRESENCE (rename), so
            %% checking in that order cannot see neither while one exists.
            case ets:whereis(?BUILDING) of
                undefined ->
                    case ets:whereis(?PRESENCE) of
                        undefined ->
                            ok;
                        _ ->
                            %% Published meanwhile (or a bad id): one more try.
                            try Write() catch error:badarg -> ok end
                    end;
                _ ->
                    Now = now_ms(),
                    D = case Deadline of undefined -> Now + ?WAIT_MS; _ -> Deadline end,
                    case Now < D of
                        true ->
                            timer:sleep(1),
                            with_table(Write, D);
                        false ->
                            ok
                    end
            end
    end.

mirror_put(User, LastActive) ->
    case persistent_term:get(?MIRROR) of
        {A, Base, Size} when User >= 1, User =< Size ->
            atomics:put(A, User, case LastActive of offline -> 0; _ -> LastActive - Base end);
        _ ->
            ok
    end.

%% The last activity of a user: from the mirror for ids it covers, else
%% from the table; none when offline.
last_active(Id, {A, Base, Size}) when Id >= 1, Id =< Size ->
    case atomics:get(A, Id) of
        0 -> none;
        V -> V + Base
    end;
last_active(Id, _) ->
    case ets:lookup(?PRESENCE, Id) of
        [] -> none;
        [{_, LastActive, _}] -> LastActive
    end.

%% Reads go to the mirror, which has no "being rebuilt" state of its own:
%% a missing table (the server crashed, not restarted yet) says it.
reader() ->
    case ets:whereis(?PRESENCE) of
        undefined -> throw(presence_unavailable);
        _ -> persistent_term:get(?MIRROR)
    end.

%% @doc The state of one local user now, with idle seconds.
%% Raises `presence_unavailable' (a throw) while the table is being rebuilt.
-spec state(integer(), integer()) -> {state(), non_neg_integer()}.
state(User, Now) ->
    {_, St, Sec} = try one(User, Now, idle_ms(), reader())
                   catch error:badarg -> throw(presence_unavailable)
                   end,
    {St, Sec}.

%% @doc States of local users: `[{UserId, State, IdleSeconds}]' in input order.
%% Raises `presence_unavailable' (a throw) while the table is being rebuilt.
-spec lookup([integer()]) -> [{integer(), state(), non_neg_integer()}].
lookup(Ids) ->
    Now = now_ms(),
    IdleMs = idle_ms(),
    try
        M = reader(),
        [one(Id, Now, IdleMs, M) || Id <- Ids]
    catch error:badarg -> throw(presence_unavailable)
    end.

%% @doc Like lookup/1, but only the users who are online or idle.
-spec present([integer()]) -> [{integer(), online | idle, non_neg_integer()}].
present(Ids) ->
    Now = now_ms(),
    IdleMs = idle_ms(),
    try present(Ids, Now, IdleMs, reader(), [])
    catch error:badarg -> throw(presence_unavailable)
    end.

present([], _, _, _, Acc) ->
    Acc;
present([Id | T], Now, IdleMs, M, Acc) ->
    case last_active(Id, M) of
        none -> present(T, Now, IdleMs, M, Acc);
        LastActive when Now - LastActive >= IdleMs ->
            present(T, Now, IdleMs, M, [{Id, idle, (Now - LastActive) div 1000} | Acc]);
        _ -> present(T, Now, IdleMs, M, [{Id, online, 0} | Acc])
    end.

one(Id, Now, IdleMs, M) ->
    case last_active(Id, M) of
        none -> {Id, offline, 0};
        LastActive when Now - LastActive >= IdleMs -> {Id, idle, (Now - LastActive) div 1000};
        _ -> {Id, online, 0}
    end.

%% @doc Number of online or idle users on this node.
-spec online_count() -> non_neg_integer().
online_count() ->
    case ets:info(?PRESENCE, size) of
        undefined -> 0;
        N -> N
    end.

idle_ms() ->
    chat_config:get(idle_ms).

%%% ----------------------------------------------------------------- server

init([]) ->
    %% Read and written by every front-door shard at once (a friendsPresence
    %% is hundreds of lookups): per-scheduler read locks, fine-grained writes.
    %% The table is built under another name and published (renamed) only
    %% once it and the mirror are full: readers see no table (and raise
    %% presence_unavailable, which the shards retry) until then, never a
    %% half-built one, and writers wait for it (see with_table/1).
    Starts = ets:update_counter(?META, presence_starts, 1),
    Tab = ets:new(?BUILDING, [named_table, public, set, {read_concurrency, true}, {write_concurrency, true}]),
    Rebuilt = rebuild(Tab),
    Starts > 1 andalso clear_mirror(Tab),
    ?PRESENCE = ets:rename(Tab, ?PRESENCE),
    case Starts > 1 of
        true ->
            logger:warning("chat_stub: presence server restarted; presence state lost, "
                           "rebuilt ~b online users from channels (idle times reset)", [length(Rebuilt)]),
            [chat_subs:notify(U, {presence_event, U, online}) || U <- Rebuilt];
        false ->
            ok
    end,
    IdleMs = idle_ms(),
    Sweep = max(10, min(1000, IdleMs div 4)),
    erlang:send_after(Sweep, self(), sweep),
    {ok, #{sweep_ms => Sweep, rebuilt => length(Rebuilt)}}.

%% Zeroes the mirror's users that the rebuilt table does not hold. The
%% rebuilt ones were overwritten in place, never zeroed, so a reader that
%% checked for the old table just before the crash reads them online.
clear_mirror(Tab) ->
    {A, _, Size} = persistent_term:get(?MIRROR),
    lists:foreach(fun(I) ->
                          ets:member(Tab, I) orelse atomics:put(A, I, 0)
                  end, lists:seq(1, Size)).

rebuild(Tab) ->
    rebuild_hook(),
    Now = now_ms(),
    ets:foldl(fun({User, Pid, _}, Acc) ->
                      case is_pid(Pid) andalso chat_channel:shard_alive(User, Pid) of
                          true ->
                              ets:insert(Tab, {User, Now, online}),
                              mirror_put(User, Now),
                              [User | Acc];
                          false -> Acc
                      end
              end, [], ?REGISTRY).

%% Tests pause the rebuild here (application env `presence_rebuild_hook', a
%% fun of arity 0) to query presence while it runs.
rebuild_hook() ->
    case application:get_env(chat_stub, presence_rebuild_hook) of
        {ok, F} when is_function(F, 0) -> F();
        _ -> ok
    end.

%% Remote nodes of the cluster ask for the state of users this node owns.
handle_call({lookup, Ids}, _From, S) when is_list(Ids) ->
    {reply, lookup([I || I <- Ids, ?IS_ID(I)]), S};
handle_call(info, _From, S) ->
    {reply, S, S};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(crash, _S) ->
    erlang:error(injected_fault);
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(sweep, #{sweep_ms := Sweep} = S) ->
    Cut = now_ms() - idle_ms(),
    Candidates = ets:select(?PRESENCE, [{{'$1', '$2', online}, [{'=<', '$2', Cut}], [{{'$1', '$2'}}]}]),
    lists:foreach(
      fun({U, LA}) ->
              Spec = [{{U, LA, online}, [], [{{{const, U}, {const, LA}, idle}}]}],
              case ets:select_replace(?PRESENCE, Spec) of
                  1 -> chat_subs:notify(U, {presence_event, U, idle});
                  0 -> ok
              end
      end, Candidates),
    erlang:send_after(Sweep, self(), sweep),
    {noreply, S};
handle_info(_Msg, S) ->
    {noreply, S}.
