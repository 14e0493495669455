%% EUnit: presence transitions, friend lists, presence queries, partitioning.
-module(chat_presence_tests).

-include_lib("eunit/include/eunit.hrl").

-import(chat_test_util, [call/1, async_call/1, await/1, eventually/2]).

with(Settings, Fun) ->
    {setup, fun() -> chat_test_util:start(Settings) end, fun(_) -> chat_test_util:stop() end,
     {timeout, 60, Fun}}.

%%% ------------------------------------------------------------ friend graph

friends_test_() ->
    with(#{users => 1000, friends => 200, seed => 7},
         fun() ->
                 All = [{U, chat_friends:friends_of(U)} || U <- lists:seq(1, 1000)],
                 %% Exactly 200 distinct friends each, never oneself, all in 1..N.
                 [begin
                      ?assertEqual(200, length(Fs)),
                      ?assertEqual(Fs, lists:usort(Fs)),
                      ?assertNot(lists:member(U, Fs)),
                      ?assert(lists:all(fun(F) -> F >= 1 andalso F =< 1000 end, Fs))
                  end || {U, Fs} <- All],
                 %% Symmetric.
                 Set = sets:from_list([{U, F} || {U, Fs} <- All, F <- Fs]),
                 ?assert(lists:all(fun({U, F}) -> sets:is_element({F, U}, Set) end, sets:to_list(Set))),
                 %% Spread over many slots.
                 Slots = lists:usort([chat_partition:slot(F) || F <- chat_friends:friends_of(1)]),
                 ?assert(length(Slots) > 150),
                 ?assertEqual([], chat_friends:friends_of(0)),
                 ?assertEqual([], chat_friends:friends_of(1001)),
                 ?assertEqual({ok, chat_friends:friends_of(5)}, call({friends, 5})),
                 ?assertEqual(200, chat_friends:degree())
         end).

friends_deterministic_test() ->
    Get = fun(Seed) ->
                  chat_test_util:start(#{users => 500, friends => 20, seed => Seed}),
                  L = chat_friends:friends_of(42),
                  chat_test_util:stop(),
                  L
          end,
    ?assertEqual(Get(1), Get(1)),
    ?assertNotEqual(Get(1), Get(2)).

friends_degree_edges_test() ->
    Degree = fun(N, F) ->
                     chat_test_util:start(#{users => N, friends => F}),
                     D = chat_friends:degree(),
                     Ls = [length(chat_friends:friends_of(U)) || U <- lists:seq(1, N)],
                     chat_test_util:stop(),
                     ?assertEqual(lists:duplicate(N, D), Ls),
                     D
             end,
    ?assertEqual(3, Degree(4, 3)),
    ?assertEqual(2, Degree(5, 3)),       % odd N: rounded down to even
    ?assertEqual(4, Degree(5, 4)),
    ?assertEqual(9, Degree(10, 50)),     % capped at N - 1
    ?assertEqual(0, Degree(1, 5)).

%%% ------------------------------------------------------------- transitions

idle_test_() ->
    with(#{idle_ms => 150},
         fun() ->
                 ok = call({subscribe, 1, self()}),
                 {ok, 0} = call({login, 1}),
                 ?assertEqual({presence_event, 1, online}, next()),
                 %% No activity: idle, and subscribers are told.
                 ?assertEqual({presence_event, 1, idle}, next()),
                 ?assertEqual({ok, #{1 => idle}}, call({presence, [1]})),
                 %% Activity: online again.
                 ok = call({touch, 1}),
                 ?assertEqual({presence_event, 1, online}, next()),
                 %% A send is activity too; receiving and polling are not.
                 {ok, 0} = call({login, 2}),
                 ?assertEqual({presence_event, 1, idle}, next()),
                 {ok, _} = call({send, 1, 2, <<"x">>, <<>>}),
                 ?assertEqual({presence_event, 1, online}, next())
         end).

grace_test_() ->
    with(#{grace_ms => 150},
         fun() ->
                 ok = call({subscribe, 1, self()}),
                 {ok, 0} = call({login, 1}),
                 ?assertEqual({presence_event, 1, online}, next()),
                 %% No poll held for longer than the grace period: offline.
                 ?assertEqual({presence_event, 1, offline}, next()),
                 ?assertEqual({ok, #{1 => offline}}, call({presence, [1]})),
                 ?assertEqual([], ets:lookup(chat_registry, 1)),
                 %% While a poll is held the user stays online.
                 Ref = async_call({poll, 1, 0, 30000}),
                 ?assertEqual({presence_event, 1, online}, next()),
                 timer:sleep(500),
                 ?assertEqual({ok, #{1 => online}}, call({presence, [1]})),
                 {ok, 0} = call({login, 2}),
                 {ok, _} = call({send, 2, 1, <<"x">>, <<>>}),
                 {ok, #{status := events}} = await(Ref),
                 %% The poll ended: the grace period runs again.
                 ?assertEqual({presence_event, 1, offline}, next()),
                 %% Logout is immediate.
                 {ok, 0} = call({login, 3}),
                 ok = call({subscribe, 3, self()}),
                 ok = call({logout, 3}),
                 ?assertEqual({presence_event, 3, offline}, next())
         end).

%%% ----------------------------------------------------------------- queries

friends_presence_test_() ->
    with(#{users => 2000, friends => 500, idle_ms => 300},
         fun() ->
                 Friends = chat_friends:friends_of(1),
                 ?assertEqual(500, length(Friends)),
                 {Idle, Rest} = lists:split(100, Friends),
                 {Online, _Offline} = lists:split(200, Rest),
                 {ok, 0} = call({login, 1}),
                 [{ok, 0} = call({login, U}) || U <- Idle],
                 eventually(fun() -> {ok, M} = call({presence, Idle}),
                                     lists:all(fun(S) -> S =:= idle end, maps:values(M)) end, 10000),
                 [{ok, 0} = call({login, U}) || U <- Online],
                 {ok, List} = call({friends_presence, 1}),
                 Ids = [maps:get(user_id, P) || P <- List],
                 ?assertEqual(lists:sort(Idle ++ Online), Ids),
                 ?assert(lists:all(fun(#{user_id := U, state := S, idle_seconds := Sec}) ->
                                           case lists:member(U, Idle) of
                                               true -> S =:= idle andalso is_integer(Sec) andalso Sec >= 0;
                                               false -> (S =:= online orelse S =:= idle)
                                           end
                                   end, List)),
                 %% Batch presence, including ids far above 2^53.
                 Big = [(1 bsl 53) + 1, 1 bsl 62, 16#7FFFFFFFFFFFFFFF, -16#8000000000000000],
                 {ok, M} = call({presence, [1, hd(Idle) | Big]}),
                 ?assert(lists:member(maps:get(1, M), [online, idle])),
                 ?assertEqual(idle, maps:get(hd(Idle), M)),
                 [?assertEqual(offline, maps:get(B, M)) || B <- Big],
                 ?assertEqual({ok, #{}}, call({presence, []}))
         end).

%% Seeded users' last activity is mirrored in an atomics array read without
%% locks; ids above `users' are read from the table. Both must say the same
%% as the table, across logins, logouts, idling and a presence crash.
mirror_test_() ->
    with(#{users => 50, friends => 10, idle_ms => 200},
         fun() ->
                 Ids = lists:seq(1, 60) ++ [1 bsl 40, -3],
                 [{ok, 0} = call({login, U}) || U <- Ids],
                 [ok = call({logout, U}) || U <- [2, 40, 55, 1 bsl 40]],
                 timer:sleep(250),                                   % everyone idle
                 [ok = call({touch, U}) || U <- [3, 41, 56]],        % some active again
                 All = Ids ++ [61, 1 bsl 41],
                 FromTable = fun() ->
                                     Now = chat_presence:now_ms(),
                                     maps:from_list(
                                       [{U, case ets:lookup(chat_presence_tab, U) of
                                                [] -> offline;
                                                [{_, LA, _}] when Now - LA >= 200 -> idle;
                                                _ -> online
                                            end} || U <- All])
                             end,
                 {ok, M} = call({presence, All}),
                 ?assertEqual(FromTable(), M),
                 ?assertMatch(#{2 := offline, 3 := online, 4 := idle, 41 := online, 55 := offline,
                                56 := online, 57 := idle, 61 := offline}, M),
                 {ok, Fp} = call({friends_presence, 1}),
                 ?assertEqual([F || F <- chat_friends:friends_of(1), maps:get(F, M) =/= offline],
                              [F || #{user_id := F} <- Fp]),
                 %% A crash loses presence: the rebuilt users are online, idle time reset.
                 ok = chat_fault:crash_presence(),
                 {ok, M2} = call({presence, All}),
                 ?assertEqual(FromTable(), M2),
                 ?assertEqual(lists:sort([U || U <- All, maps:get(U, M) =/= offline]),
                              lists:sort([U || U <- All, maps:get(U, M2) =:= online])),
                 ?assert(lists:all(fun(#{state := online, idle_seconds := 0}) -> true; (_) -> false end,
                                   element(2, call({friends_presence, 1}))))
         end).

%% A presence crash while users are online: the restarted server rebuilds the
%% table and the mirror from the channels. A reader that sees the table during
%% the rebuild must not be told that a logged-in user is offline (it may be
%% told presence_unavailable, and the shards retry), and logins and logouts
%% made while the rebuild runs are kept. The rebuild is paused by a hook, so
%% the query runs inside it every time.
rebuild_race_test_() ->
    with(#{users => 50, friends => 10},
         fun() ->
                 Online = lists:seq(1, 12) ++ [1 bsl 40],
                 [{ok, 0} = call({login, U}) || U <- Online],
                 Me = self(),
                 ok = application:set_env(chat_stub, presence_rebuild_hook,
                                          fun() ->
                                                  Me ! {rebuilding, self()},
                                                  receive go -> ok after 8000 -> ok end
                                          end),
                 try
                     Crash = spawn_link(fun() -> Me ! {crashed, chat_fault:crash_presence()} end),
                     Server = receive {rebuilding, P} -> P after 8000 -> error(no_rebuild) end,
                     ok = application:unset_env(chat_stub, presence_rebuild_hook),
                     Query = fun(F) -> try F() catch throw:presence_unavailable -> unavailable end end,
                     %% Inside the rebuild: never "offline" for a logged-in user.
                     ?assertEqual(unavailable, Query(fun() -> chat_presence:lookup(Online) end)),
                     ?assertEqual(unavailable, Query(fun() -> chat_presence:present(Online) end)),
                     ?assertEqual(unavailable, Query(fun() -> chat_presence:state(1, chat_presence:now_ms()) end)),
                     %% A login and a logout while the rebuild runs.
                     In = async_call({login, 20}),
                     Out = async_call({logout, 5}),
                     timer:sleep(50),
                     Server ! go,
                     receive {crashed, R} -> ?assertEqual(ok, R) after 10000 -> error(no_restart) end,
                     ?assertEqual({ok, 0}, await(In)),
                     ?assertEqual(ok, await(Out)),
                     unlink(Crash),
                     Expect = maps:from_list([{U, online} || U <- Online ++ [20], U =/= 5] ++ [{5, offline}]),
                     ?assertEqual({ok, Expect}, call({presence, maps:keys(Expect)})),
                     ?assertEqual(lists:sort(maps:keys(Expect)) -- [5],
                                  lists:sort([U || {U, _, _} <- ets:tab2list(chat_presence_tab)]))
                 after
                     application:unset_env(chat_stub, presence_rebuild_hook)
                 end
         end).

%%% ------------------------------------------------------------ partitioning

partition_test_() ->
    with(#{slots => [{0, 511}, {700, 709}]},
         fun() ->
                 Port = chat_thrift_listener:port(),
                 Me = node(),
                 ?assertEqual({ok, [#{first => 0, last => 511, node => Me, thrift_port => Port},
                                    #{first => 700, last => 709, node => Me, thrift_port => Port}]},
                              call(partition_map)),
                 ?assertEqual(600, chat_partition:slot(600)),
                 ?assertEqual(600, chat_partition:slot(1024 * 5 + 600)),
                 ?assertEqual(1023, chat_partition:slot(-1)),
                 WP = fun(U) -> {error, {wrong_partition, U, undefined, 0}} end,
                 ?assertEqual(WP(600), call({login, 600})),
                 ?assertEqual(WP(1624), call({login, 1624})),
                 ?assertEqual(WP(-1), call({login, -1})),
                 ?assertEqual({ok, 0}, call({login, 705})),
                 ?assertEqual({ok, 0}, call({login, 5})),
                 ?assertEqual(WP(600), call({send, 600, 5, <<"x">>, <<>>})),
                 ?assertEqual(WP(600), call({poll, 600, 0, 10})),
                 ?assertEqual(WP(600), call({history, 600, 5, 10})),
                 ?assertEqual(WP(600), call({friends_presence, 600})),
                 ?assertEqual(WP(600), call({touch, 600})),
                 ?assertEqual(WP(600), call({logout, 600})),
                 ?assertEqual(WP(600), call({typing, 600, 5, true})),
                 ?assertEqual(WP(600), call({subscribe, 600, self()})),
                 %% A recipient no node owns cannot be online.
                 ?assertEqual({error, {not_online, 600}}, call({send, 5, 600, <<"x">>, <<>>})),
                 ?assertEqual({ok, #{5 => online, 600 => offline}}, call({presence, [5, 600]}))
         end).

%% The next presence event (chat events to the same subscriber are skipped).
next() ->
    receive {presence_event, _, _} = M -> M after 10000 -> timeout end.
