%% EUnit: the sharded front door. Routing, direct calls to a shard, and the
%% semantics that sharding must keep under concurrency: order per sender and
%% seq per channel, dedup, history eviction, partition changes, a shard crash.
-module(chat_shard_tests).

-include_lib("eunit/include/eunit.hrl").

-import(chat_test_util, [call/1, eventually/2]).

-define(SHARDS, 4).

shard_test_() ->
    {foreach,
     fun() -> chat_test_util:start(#{shards => ?SHARDS, window => 1000, users => 200, friends => 20}) end,
     fun(_) -> chat_test_util:stop() end,
     [{"shards are named, counted and route by slot", fun routing/0},
      {"a shard called directly serves its users; a wrong shard passes the call on", fun direct/0},
      {"many senders at once: order per sender, one seq per channel", {timeout, 60, fun order/0}},
      {"concurrent repeats of one clientMsgId store one message", fun dedup/0},
      {"history eviction with every shard writing", {timeout, 60, fun history_eviction/0}},
      {"history eviction with a cap below the shards writing at once", {timeout, 60, fun history_eviction_tiny/0}},
      {"a partition change reaches every shard", fun partition_change/0},
      {"a killed shard is restarted; calls meanwhile are served", {timeout, 60, fun shard_killed/0}},
      {"a send to a killed shard's user waits for its restart", {timeout, 60, fun recipient_shard_killed/0}},
      {"a send to another shard's user does not wait on that shard", fun recipient_shard_busy/0},
      {"a killed shard's event table goes to its heir, which deletes it", fun events_table_heir/0},
      {"a killed front door is restarted; shards keep their state", fun router_killed/0},
      {"an event reaching a closed channel is dropped; the next login finds it in history", fun closed_before_event/0}]}.

default_count_test() ->
    chat_test_util:start(#{}),
    try
        ?assertEqual(erlang:system_info(schedulers_online), chat_channel:shard_count())
    after
        chat_test_util:stop()
    end.

bad_count_test() ->
    chat_test_util:stop(),
    ?assertMatch({error, _}, chat_stub:start(#{shards => -1})),
    ?assertMatch({error, _}, chat_stub:start(#{shards => 1025})),
    ?assertEqual({ok, [{shards, 8}]}, chat_config:parse_args(["--shards", "8"])).

routing() ->
    Names = [chat_shard_0, chat_shard_1, chat_shard_2, chat_shard_3],
    ?assertEqual(Names, chat_channel:shard_names()),
    ?assert(lists:all(fun(N) -> is_pid(whereis(N)) end, Names)),
    ?assertEqual(chat_shard_1, chat_channel:shard_of(1)),
    ?assertEqual(chat_shard_1, chat_channel:shard_of(1025)),          % slot 1
    ?assertEqual(chat_shard_3, chat_channel:shard_of(-1)),            % slot 1023
    ?assertEqual(chat_shard_2, chat_channel:server({send, 6, 1, <<"x">>, <<>>})),  % by the sender
    ?assertEqual(chat_channel, chat_channel:server(stats)),
    {ok, #{shards := ?SHARDS}} = call(stats),
    %% Requests for no user are spread over the shards and answered alike.
    Maps = [call(partition_map) || _ <- lists:seq(1, 8)],
    ?assertEqual([hd(Maps)], lists:usort(Maps)).

direct() ->
    U = 6,                                      % shard 2
    ?assertEqual({ok, 0}, gen_server:call(chat_shard_2, {login, U})),
    ?assertEqual({ok, 0}, gen_server:call(chat_shard_1, {login, 5})),
    %% Addressed to the wrong shard: passed on, answered by the owner.
    {ok, M} = gen_server:call(chat_shard_0, {send, U, 5, <<"via the wrong shard">>, <<"c1">>}),
    ?assertEqual({ok, M}, gen_server:call(chat_shard_3, {send, U, 5, <<"via the wrong shard">>, <<"c1">>})),
    ?assertEqual({ok, M}, call({send, U, 5, <<"via the wrong shard">>, <<"c1">>})),
    {ok, #{status := events, events := [#{message := M}]}} = gen_server:call(chat_shard_0, {poll, 5, 0, 0}),
    %% Requests for no user work on any shard.
    ?assertMatch({ok, #{5 := online, 6 := online, 7 := offline}},
                 gen_server:call(chat_shard_3, {presence, [5, 6, 7]})),
    ?assertMatch({error, {bad_request, _}}, gen_server:call(chat_shard_1, nonsense)).

%% Eight senders spread over the shards each send 50 messages to one
%% recipient at the same time, and to themselves in between.
order() ->
    R = 100,
    Senders = lists:seq(1, 8),
    [{ok, _} = call({login, U}) || U <- [R | Senders]],
    Parent = self(),
    [spawn_link(fun() ->
                        Ids = [begin
                                   {ok, #{id := Id}} = call({send, F, R, integer_to_binary(I), <<>>}),
                                   Id
                               end || I <- lists:seq(1, 50)],
                        Parent ! {sent, F, Ids}
                end) || F <- Senders],
    Sent = maps:from_list([receive {sent, F, Ids} -> {F, Ids} after 30000 -> error(timeout) end
                           || F <- Senders]),
    {ok, #{status := events, seq := 400, events := Evs}} = call({poll, R, 0, 0}),
    %% One seq per channel: 1..400, no gap, no repeat.
    ?assertEqual(lists:seq(1, 400), [S || #{seq := S} <- Evs]),
    %% Order per sender: each sender's texts 1..50 in order, ids increasing.
    [begin
         Mine = [M || #{message := #{from := From} = M} <- Evs, From =:= F],
         ?assertEqual([integer_to_binary(I) || I <- lists:seq(1, 50)], [T || #{text := T} <- Mine]),
         ?assertEqual(maps:get(F, Sent), [Id || #{id := Id} <- Mine]),
         ?assertEqual(lists:sort(maps:get(F, Sent)), maps:get(F, Sent))
     end || F <- Senders],
    %% Each sender's own channel got the echo, in order.
    {ok, #{status := events, seq := 50, events := Echo}} = call({poll, 3, 0, 0}),
    ?assertEqual(maps:get(3, Sent), [Id || #{message := #{id := Id}} <- Echo]).

dedup() ->
    [{ok, _} = call({login, U}) || U <- [21, 22]],
    Parent = self(),
    [spawn_link(fun() -> Parent ! {got, call({send, 21, 22, <<"once">>, <<"dup">>})} end)
     || _ <- lists:seq(1, 20)],
    Replies = [receive {got, Rep} -> Rep after 10000 -> error(timeout) end || _ <- lists:seq(1, 20)],
    ?assertMatch([{ok, _}], lists:usort(Replies)),
    {ok, #{seq := 1}} = call({poll, 22, 0, 0}),
    ?assertEqual(1, length(chat_history:get(21, 22, 100))).

history_eviction() ->
    history_eviction(40).

%% Evictors claim numbers that storers have not indexed yet.
history_eviction_tiny() ->
    history_eviction(1).

history_eviction(Max) ->
    chat_test_util:start(#{shards => ?SHARDS, history_max => Max, users => 200, friends => 20}),
    Users = lists:seq(1, 16),
    [{ok, _} = call({login, U}) || U <- Users],
    Parent = self(),
    [spawn_link(fun() ->
                        [{ok, _} = call({send, F, F - 1 + 2 * (F rem 2), <<"x">>, <<>>}) || _ <- lists:seq(1, 100)],
                        Parent ! done
                end) || F <- Users],
    [receive done -> ok after 30000 -> error(timeout) end || _ <- Users],
    ?assertEqual(Max, chat_history:size()),
    ?assertEqual(Max, ets:info(chat_history_idx, size)),
    ?assertEqual([], ets:match(chat_history_idx, {'_', evicted})),
    {ok, _} = call({send, 1, 2, <<"still fine">>, <<>>}).

partition_change() ->
    %% Another node claims slots 0-7 (one of each shard's); its name sorts
    %% before nonode@nohost, so it owns them everywhere from now on.
    Other = 'a_other@127.0.0.1',
    gen_server:cast(chat_partition, {gossip, Other, #{Other => {1, [{0, 7}], 9999}}}),
    eventually(fun() -> lists:member(Other, chat_partition:known_nodes()) end, 5000),
    [begin
         U = 1024 + Slot,
         Expect = {error, {wrong_partition, U, Other, 9999}},
         eventually(fun() -> call({login, U}) =:= Expect end, 5000),
         ?assertEqual(Expect, gen_server:call(chat_channel:shard_of(U), {touch, U}))
     end || Slot <- lists:seq(0, 7)],
    ?assertEqual({ok, 0}, call({login, 1024 + 8})).

%% Sender 1's shard is dead, its restart held back: the front door retries
%% calls for the missing shard for about half a second, then answers
%% unavailable; the calls made meanwhile are served once it is back.
shard_killed() ->
    killed_shard_sends(1, 2, {shard_restarting, chat_shard_1}, 5).

%% Recipient 1's shard is dead, its restart held back: the registry row of
%% its user still names the dead shard, so the sender's shard retries the
%% send for about half a second, then answers unavailable. Once the shard is
%% back (the channel adopted, empty), the sends retried meanwhile reach it.
recipient_shard_killed() ->
    killed_shard_sends(2, 1, {channel_restarting, 1}, 3).

%% Kills chat_shard_1 (user 1's) with its supervisor suspended; a send from
%% F to T then gets {unavailable, Why}, and N sends made before the
%% supervisor resumes are delivered to T's channel afterwards.
killed_shard_sends(F, T, Why, N) ->
    [{ok, _} = call({login, U}) || U <- [1, 2]],
    Old = whereis(chat_shard_1),
    Parent = self(),
    Send = fun(Text) -> spawn_link(fun() -> Parent ! {got, Text, call({send, F, T, Text, <<>>})} end) end,
    ok = sys:suspend(chat_shard_sup),
    exit(Old, kill),
    eventually(fun() -> whereis(chat_shard_1) =:= undefined end, 5000),
    ?assertEqual([{1, Old, none}], ets:lookup(chat_registry, 1)),
    Send(<<"too late">>),
    ?assertEqual({got, <<"too late">>, {error, {unavailable, Why}}},
                 receive {got, _, _} = G -> G after 5000 -> timeout end),
    [Send(<<"during">>) || _ <- lists:seq(1, N)],
    timer:sleep(50),
    ok = sys:resume(chat_shard_sup),
    [?assertMatch({got, <<"during">>, {ok, #{text := <<"during">>}}},
                  receive {got, _, _} = G -> G after 5000 -> timeout end) || _ <- lists:seq(1, N)],
    New = whereis(chat_shard_1),
    ?assertNotEqual(Old, New),
    ?assertMatch([{1, New, _}], ets:lookup(chat_registry, 1)),
    ?assertMatch({ok, #{status := events, seq := N}}, call({poll, T, 0, 0})).

%% A send to another shard's user is one message to that shard: the sender's
%% shard neither waits for that shard nor asks it anything. The recipient's
%% shard is kept busy (a function run in it that spins until released) with a
%% message in its queue, as a loaded shard always has; the send is answered
%% meanwhile, and the event is there once the shard runs again. The sender's
%% shard is traced: no is_process_alive/1 call. That call, on a process with
%% signals queued, sends it a signal and waits for the answer (on OTP 27 and
%% 29 for queued messages too, on OTP 25 for other signals only). Only the
%% trace catches it: a spinning process still answers that signal at its next
%% reschedule, so the send would not time out on any release.
recipient_shard_busy() ->
    [{ok, _} = call({login, U}) || U <- [1, 2]],
    R = whereis(chat_shard_1),
    S2 = whereis(chat_shard_2),
    A = atomics:new(2, []),
    try
        spawn_link(fun() -> sys:replace_state(R, fun(St) -> atomics:put(A, 1, 1), spin(A), St end, infinity) end),
        eventually(fun() -> atomics:get(A, 1) =:= 1 end, 5000),
        R ! queued,
        erlang:trace_pattern({erlang, is_process_alive, 1}, true, [global]),
        erlang:trace(S2, true, [call]),
        Sent = (catch gen_server:call(S2, {send, 2, 1, <<"not held up">>, <<>>}, 2000)),
        erlang:trace(S2, false, [call]),
        ?assertMatch({ok, #{text := <<"not held up">>}}, Sent),
        ?assertEqual([], flush_traces())
    after
        atomics:put(A, 2, 1),
        erlang:trace_pattern({erlang, is_process_alive, 1}, false, [global])
    end,
    ?assertMatch({ok, #{status := events, seq := 1}}, call({poll, 1, 0, 0})).

spin(A) ->
    case atomics:get(A, 2) of
        0 -> spin(A);
        _ -> ok
    end.

flush_traces() ->
    receive {trace, _, call, MFA} -> [MFA | flush_traces()] after 0 -> [] end.

%% A killed shard hands its event table to chat_tables (its heir) instead of
%% freeing every row while it exits, and chat_tables deletes it: one event
%% table per shard again once the shard is back.
events_table_heir() ->
    Tables = whereis(chat_tables),
    Old = whereis(chat_shard_1),
    Count = fun() -> length([T || T <- ets:all(), ets:info(T, name) =:= chat_user_events]) end,
    ?assertEqual(?SHARDS, Count()),
    erlang:trace(Tables, true, ['receive']),
    exit(Old, kill),
    Got = receive
              {trace, Tables, 'receive', {'ETS-TRANSFER', _, Old, chat_user_events}} -> transferred
          after 3000 -> timeout
          end,
    erlang:trace(Tables, false, ['receive']),
    ?assertEqual(transferred, Got),
    eventually(fun() -> is_pid(whereis(chat_shard_1)) andalso whereis(chat_shard_1) =/= Old
                            andalso Count() =:= ?SHARDS end, 5000).

router_killed() ->
    [{ok, _} = call({login, U}) || U <- [1, 2]],
    {ok, M} = call({send, 1, 2, <<"before">>, <<"k1">>}),
    Old = whereis(chat_channel),
    exit(Old, kill),
    eventually(fun() -> is_pid(whereis(chat_channel)) andalso whereis(chat_channel) =/= Old end, 5000),
    ?assertEqual({ok, M}, call({send, 1, 2, <<"before">>, <<"k1">>})),
    {ok, #{status := events, seq := 1}} = call({poll, 2, 0, 0}).

%% The recipient's shard is suspended with its logout queued; the message
%% event from another shard is queued behind it, and a new login behind
%% that. The event finds no channel and is dropped (the user was offline),
%% but the message is in the history the new login reads.
closed_before_event() ->
    {F, T} = {1, 2},
    ?assertNotEqual(chat_channel:shard_of(F), chat_channel:shard_of(T)),
    {ok, _} = call({login, F}),
    {ok, _} = call({login, T}),
    R = whereis(chat_channel:shard_of(T)),
    Queued = fun(N) -> eventually(fun() -> element(2, process_info(R, message_queue_len)) >= N end, 5000) end,
    ok = sys:suspend(R),
    try
        Out = chat_test_util:async_call({logout, T}),
        Queued(1),
        {ok, Msg} = call({send, F, T, <<"late">>, <<>>}),
        Queued(2),
        In = chat_test_util:async_call({login, T}),
        Queued(3),
        ok = sys:resume(R),
        ?assertEqual(ok, chat_test_util:await(Out)),
        ?assertMatch({ok, _}, chat_test_util:await(In)),
        ?assertEqual({ok, #{status => continue, seq => 0, events => []}}, call({poll, T, 0, 0})),
        ?assertEqual({ok, [Msg]}, call({history, T, F, 10}))
    catch C:E:St ->
            catch sys:resume(R),
            erlang:raise(C, E, St)
    end.
