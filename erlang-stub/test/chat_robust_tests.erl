%% EUnit: robustness of the stub under faults and floods (in this VM):
%% polls caught in a crashing channel, a presence server that is gone,
%% bounded workers for remote presence queries, the chat log's default cap.
%% (The cross-node relay timeout is in chat_dist_tests: it needs two nodes.)
-module(chat_robust_tests).

-include_lib("eunit/include/eunit.hrl").

-import(chat_test_util, [call/1, async_call/1, await/1, eventually/2]).

robust_test_() ->
    [{setup, fun() -> chat_test_util:start(#{shards => Shards}) end, fun(_) -> chat_test_util:stop() end,
      {timeout, 60,
       [{"polls racing kill_channel are all answered", fun polls_across_kill_channel/0},
        {"login and logout do not wait for a presence server that is gone", fun presence_gone/0},
        {"remote presence queries run in bounded workers", fun bounded_presence_workers/0},
        {"queued presence queries past their deadline are answered unavailable", fun presence_query_deadline/0},
        {"the chat log keeps 100,000 messages by default, and its cap holds", fun history_cap/0}]}}
     || Shards <- [1, 2]] ++
    [{setup, fun() -> chat_test_util:start(#{dedup_ms => 200}) end, fun(_) -> chat_test_util:stop() end,
      [{"a late relay entry expires after dedup_ms", fun relay_late_expires/0}]}].

%% Channels live in their shard, so no poll can be left behind in a dead
%% channel's mailbox: polls racing kill_channel are all answered (continue
%% or refresh), and the channel works afterwards.
polls_across_kill_channel() ->
    U = 21,
    {ok, 0} = call({login, U}),
    {ok, _} = call({send, U, U, <<"one">>, <<>>}),
    Held = async_call({poll, U, 1, 30000}),
    eventually(fun() -> [{_, _, H}] = ets:lookup(chat_registry, U), H =/= none end, 5000),
    Racing = [async_call({poll, U, 1, 30000}), async_call({poll, U, 0, 30000})],
    ok = chat_fault:kill_channel(U),
    Last = async_call({poll, U, 0, 200}),
    [?assertMatch({ok, #{status := St}} when St =:= continue; St =:= refresh; St =:= events, await(R))
     || R <- [Held | Racing] ++ [Last]],
    ?assertEqual({ok, #{status => continue, seq => 0, events => []}}, call({poll, U, 0, 0})).

%% With the presence server stopped (not restarting), presence writes are
%% dropped at once instead of waiting ~5 s each; the restarted server
%% rebuilds presence from the channels, so nothing is wrong afterwards.
presence_gone() ->
    {ok, 0} = call({login, 31}),
    {ok, 0} = call({login, 32}),
    ok = supervisor:terminate_child(chat_core_sup, chat_presence),
    try
        {T, Replies} = timer:tc(fun() -> [call({login, 33}), call({logout, 32}), call({touch, 31})] end),
        ?assertEqual([{ok, 0}, ok, ok], Replies),
        ?assert(T < 1000000)                     % three calls; each used to wait 5 s
    after
        {ok, _} = supervisor:restart_child(chat_core_sup, chat_presence)
    end,
    ?assertEqual({ok, #{31 => online, 32 => offline, 33 => online}}, call({presence, [31, 32, 33]})).

%% Presence ids owned by another node are asked by worker processes: at most
%% 32 at once per shard, then a queue of at most 2000, then unavailable.
bounded_presence_workers() ->
    Owners = list_to_tuple(lists:duplicate(1024, 'elsewhere@nohost')),
    S0 = #{owners => Owners, all_local => false},
    N = 2100,
    S = lists:foldl(fun(I, Acc) ->
                            {noreply, Acc2} = chat_presence_query:run([I], {self(), {q, I}}, batch, Acc),
                            Acc2
                    end, S0, lists:seq(1, N)),
    {Running, Waiting} = maps:get(pq, S),
    ?assertEqual(32, map_size(Running)),
    ?assertEqual(2000, queue:len(Waiting)),
    Busy = [I || I <- lists:seq(1, N), receive {{q, I}, {error, {unavailable, presence_overloaded}}} -> true after 0 -> false end],
    ?assertEqual(N - 2032, length(Busy)),
    drain(S, 2032, 0).

%% Feeds the workers' 'DOWN' messages back, as the shard does, and counts
%% the answers: every queued query is answered, never more than 32 running.
drain(S, 0, _) ->
    ?assertEqual({#{}, 0}, begin {R, W} = maps:get(pq, S), {R, queue:len(W)} end);
drain(S, Left, Answered) ->
    receive
        {'DOWN', _, process, _, _} = Down ->
            S2 = chat_presence_query:down(Down, S),
            ?assert(map_size(element(1, maps:get(pq, S2))) =< 32),
            drain(S2, Left - 1, Answered);
        {{q, I}, {ok, Map}} ->
            ?assertEqual(#{I => offline}, Map),
            drain(S, Left, Answered + 1)
    after 10000 ->
            erlang:error({stalled, Left, Answered})
    end.

%% 40 queries for another node with a 1 ms deadline: 32 start (and ask, in
%% vain), 8 wait; when workers end, the waiting ones are past their deadline
%% and answered unavailable without a worker.
presence_query_deadline() ->
    ok = application:set_env(chat_stub, presence_query_deadline_ms, 1),
    try
        Owners = list_to_tuple(lists:duplicate(1024, 'elsewhere@nohost')),
        S = lists:foldl(fun(I, Acc) ->
                                {noreply, Acc2} = chat_presence_query:run([I], {self(), {q, I}}, batch, Acc),
                                Acc2
                        end, #{owners => Owners, all_local => false}, lists:seq(1, 40)),
        timer:sleep(5),
        ?assertEqual({32, 8}, begin {R, W} = maps:get(pq, S), {map_size(R), queue:len(W)} end),
        {Ok, Late} = collect(S, 32, 0, 0),
        ?assertEqual({32, 8}, {Ok, Late})
    after
        application:unset_env(chat_stub, presence_query_deadline_ms)
    end.

collect(S, 0, Ok, Late) ->
    ?assertEqual({#{}, 0}, begin {R, W} = maps:get(pq, S), {R, queue:len(W)} end),
    receive                                      % answers sent after the last 'DOWN' came
        {{q, _}, {ok, _}} -> collect(S, 0, Ok + 1, Late);
        {{q, _}, {error, {unavailable, presence_timeout}}} -> collect(S, 0, Ok, Late + 1)
    after 0 -> {Ok, Late}
    end;
collect(S, Downs, Ok, Late) ->
    receive
        {'DOWN', _, process, _, _} = Down -> collect(chat_presence_query:down(Down, S), Downs - 1, Ok, Late);
        {{q, _}, {ok, _}} -> collect(S, Downs, Ok + 1, Late);
        {{q, _}, {error, {unavailable, presence_timeout}}} -> collect(S, Downs, Ok, Late + 1)
    after 10000 ->
            erlang:error({stalled, Downs, Ok, Late})
    end.

%% A relay that timed out stays `late' (a late answer still completes the
%% send) only until a second timer, dedup_ms later; then the entry and its
%% monitor go, even if neither an answer nor a 'DOWN' ever comes.
relay_late_expires() ->
    Peer = spawn(fun() -> receive stop -> ok end end),
    Ref = erlang:monitor(process, Peer),
    S0 = #{relays => #{Ref => {[], 1, {typing, #{from => 1, to => 2, active => true}}, none, 'n@nohost'}},
           inflight => #{}},
    S1 = chat_relay:done(Ref, timeout, S0),
    ?assertMatch(#{Ref := {late, _, _, _, _}}, maps:get(relays, S1)),
    receive {relay_timeout, Ref} -> ok after 5000 -> erlang:error(no_second_timer) end,
    S2 = chat_relay:done(Ref, timeout, S1),
    ?assertEqual(#{}, maps:get(relays, S2)),
    ?assertNot(erlang:demonitor(Ref, [info])),   % already removed
    Peer ! stop.

history_cap() ->
    ?assertEqual(100000, maps:get(history_max, chat_config:defaults())),
    ?assertEqual(100000, chat_config:get(history_max)),
    {ok, _} = call({login, 41}),
    {ok, _} = call({login, 42}),
    Before = chat_history:size(),
    [{ok, _} = call({send, 41, 42, <<"m">>, <<>>}) || _ <- lists:seq(1, 50)],
    ?assertEqual(Before + 50, chat_history:size()).
