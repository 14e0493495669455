%% EUnit: the core semantics through the chat_channel front door, in this VM,
%% with one front-door shard and with several.
%% Queueing, seq, every poll outcome, dedup, history, partition errors,
%% subscriptions and restart after injected crashes.
-module(chat_core_tests).

-include_lib("eunit/include/eunit.hrl").

-import(chat_test_util, [call/1, async_call/1, await/1, eventually/2]).

-define(A, 11).
-define(B, 12).
-define(C, 13).

%% The whole suite runs with one front-door shard and with three (so that
%% the users of one test are spread over different shards).
core_test_() ->
    [core_suite(1), core_suite(3)].

core_suite(Shards) ->
    {foreach,
     fun() -> chat_test_util:start(#{window => 5, shards => Shards}) end,
     fun(_) -> chat_test_util:stop() end,
     [{"login returns the current seq", fun login_seq/0},
      {"send queues on recipient and sender", fun send_queues_both/0},
      {"stored message has id, timestamp and clientMsgId", fun stored_message/0},
      {"not online recipient and sender", fun not_online/0},
      {"repeated clientMsgId is not queued twice", fun dedup/0},
      {"seq is per user and increasing", fun seq_per_user/0},
      {"poll: events at once", fun poll_events/0},
      {"poll: refresh when ahead", fun poll_ahead/0},
      {"poll: refresh when stale past the window", fun poll_stale/0},
      {"poll: hold then continue", fun poll_continue/0},
      {"poll: hold then events", fun poll_hold_events/0},
      {"poll: newer poll answers the older with continue", fun poll_newer/0},
      {"a held poll does not block other callers", fun held_poll_not_blocking/0},
      {"poll of an offline user opens the channel", fun poll_opens/0},
      {"logout answers the held poll and goes offline", fun logout/0},
      {"typing events", fun typing/0},
      {"history plays the chat logger", fun history/0},
      {"bad requests are answered, not crashed on", fun bad_requests/0},
      {"subscriptions: events, presence, removed when the subscriber dies", fun subscriptions/0},
      {"fault: killed channel comes back empty, held poll gets refresh", fun kill_channel/0},
      {"fault: crashed presence server is rebuilt", fun crash_presence/0},
      {"fault: delayed replies still arrive", fun delay/0},
      {"stats", fun stats/0}]}.

login_seq() ->
    ?assertEqual({ok, 0}, call({login, ?A})),
    ?assertEqual({ok, 0}, call({login, ?B})),
    {ok, _} = call({send, ?A, ?B, <<"hi">>, <<>>}),
    ?assertEqual({ok, 1}, call({login, ?B})).

send_queues_both() ->
    login([?A, ?B]),
    {ok, Msg} = call({send, ?A, ?B, <<"hello">>, <<"c1">>}),
    {ok, #{status := events, seq := 1, events := [EvB]}} = call({poll, ?B, 0, 1000}),
    {ok, #{status := events, seq := 1, events := [EvA]}} = call({poll, ?A, 0, 1000}),
    ?assertEqual(#{seq => 1, type => message, message => Msg}, EvB),
    ?assertEqual(EvB, EvA).

stored_message() ->
    login([?A, ?B]),
    Before = erlang:system_time(millisecond),
    {ok, M} = call({send, ?A, ?B, <<"héllo"/utf8>>, <<"cid-1">>}),
    After = erlang:system_time(millisecond),
    #{id := Id, from := ?A, to := ?B, text := <<"héllo"/utf8>>, sent_at_ms := At,
      client_msg_id := <<"cid-1">>} = M,
    ?assert(is_integer(Id) andalso Id > 0),
    ?assertEqual(chat_partition:slot(?A), Id rem 1024),
    ?assert(At >= Before andalso At =< After),
    {ok, M2} = call({send, ?A, ?B, "text as a string", undefined}),
    ?assertEqual(<<"text as a string">>, maps:get(text, M2)),
    ?assertEqual(undefined, maps:get(client_msg_id, M2)),
    ?assert(maps:get(id, M2) > Id).

not_online() ->
    login([?A]),
    ?assertEqual({error, {not_online, ?B}}, call({send, ?A, ?B, <<"x">>, <<>>})),
    ?assertEqual({error, {not_online, ?C}}, call({send, ?C, ?A, <<"x">>, <<>>})),
    ?assertEqual({error, {not_online, ?B}}, call({typing, ?A, ?B, true})).

dedup() ->
    login([?A, ?B, ?C]),
    {ok, M1} = call({send, ?A, ?B, <<"once">>, <<"same">>}),
    {ok, M2} = call({send, ?A, ?B, <<"once">>, <<"same">>}),
    ?assertEqual(M1, M2),
    %% Another sender may use the same id.
    {ok, M3} = call({send, ?C, ?B, <<"other">>, <<"same">>}),
    ?assertNotEqual(maps:get(id, M1), maps:get(id, M3)),
    %% No clientMsgId: never deduplicated.
    {ok, M4} = call({send, ?A, ?B, <<"a">>, <<>>}),
    {ok, M5} = call({send, ?A, ?B, <<"a">>, <<>>}),
    ?assertNotEqual(maps:get(id, M4), maps:get(id, M5)),
    {ok, #{status := events, seq := 4, events := Evs}} = call({poll, ?B, 0, 0}),
    ?assertEqual([1, 2, 3, 4], [S || #{seq := S} <- Evs]),
    ?assertEqual([maps:get(id, M) || M <- [M1, M3, M4, M5]],
                 [maps:get(id, maps:get(message, E)) || E <- Evs]),
    ?assertEqual(3, length(chat_history:get(?A, ?B, 100))).

seq_per_user() ->
    login([?A, ?B, ?C]),
    {ok, _} = call({send, ?A, ?B, <<"1">>, <<>>}),
    {ok, _} = call({send, ?A, ?B, <<"2">>, <<>>}),
    {ok, _} = call({send, ?C, ?A, <<"3">>, <<>>}),
    {ok, #{seq := 2}} = call({poll, ?B, 2, 0}),
    {ok, #{seq := 3, events := EvA}} = call({poll, ?A, 0, 0}),
    ?assertEqual([1, 2, 3], [S || #{seq := S} <- EvA]),
    {ok, #{seq := 1}} = call({poll, ?C, 1, 0}).

poll_events() ->
    login([?A, ?B]),
    [{ok, _} = call({send, ?A, ?B, integer_to_binary(I), <<>>}) || I <- [1, 2, 3]],
    {ok, #{status := events, seq := 3, events := Evs}} = call({poll, ?B, 1, 60000}),
    ?assertEqual([<<"2">>, <<"3">>], [maps:get(text, maps:get(message, E)) || E <- Evs]).

poll_ahead() ->
    login([?A, ?B]),
    {ok, _} = call({send, ?A, ?B, <<"x">>, <<>>}),
    ?assertEqual({ok, #{status => refresh, seq => 1, events => []}}, call({poll, ?B, 7, 60000})).

poll_stale() ->
    login([?A, ?B]),
    [{ok, _} = call({send, ?A, ?B, integer_to_binary(I), <<>>}) || I <- lists:seq(1, 8)],
    %% Window 5: events 4..8 are retained.
    ?assertEqual({ok, #{status => refresh, seq => 8, events => []}}, call({poll, ?B, 2, 60000})),
    ?assertEqual({ok, #{status => refresh, seq => 8, events => []}}, call({poll, ?B, -1, 60000})),
    {ok, #{status := events, seq := 8, events := Evs}} = call({poll, ?B, 3, 60000}),
    ?assertEqual([4, 5, 6, 7, 8], [S || #{seq := S} <- Evs]).

poll_continue() ->
    login([?A]),
    ?assertEqual({ok, #{status => continue, seq => 0, events => []}}, call({poll, ?A, 0, 50})),
    ?assertEqual({ok, #{status => continue, seq => 0, events => []}}, call({poll, ?A, 0, 0})).

poll_hold_events() ->
    login([?A, ?B]),
    Ref = async_call({poll, ?B, 0, 30000}),
    wait_held(?B),
    {ok, Msg} = call({send, ?A, ?B, <<"wake">>, <<>>}),
    ?assertEqual({ok, #{status => events, seq => 1, events => [#{seq => 1, type => message, message => Msg}]}},
                 await(Ref)).

poll_newer() ->
    login([?A]),
    Old = async_call({poll, ?A, 0, 30000}),
    wait_held(?A),
    New = async_call({poll, ?A, 0, 30000}),
    ?assertEqual({ok, #{status => continue, seq => 0, events => []}}, await(Old)),
    wait_held(?A),
    call({logout, ?A}),
    ?assertEqual({ok, #{status => continue, seq => 0, events => []}}, await(New)).

held_poll_not_blocking() ->
    login([?A, ?B, ?C]),
    Held = async_call({poll, ?A, 0, 30000}),
    wait_held(?A),
    %% Other callers are served while the poll is held.
    {ok, _} = call({send, ?B, ?C, <<"meanwhile">>, <<>>}),
    {ok, _} = call({friends_presence, ?B}),
    {ok, 1} = call({login, ?C}),
    receive {Held, _} -> erlang:error(poll_answered_early) after 0 -> ok end,
    {ok, _} = call({send, ?B, ?A, <<"now">>, <<>>}),
    {ok, #{status := events, seq := 1}} = await(Held).

poll_opens() ->
    {ok, #{status := refresh, seq := 0}} = call({poll, ?A, 3, 1000}),
    ?assertEqual({ok, #{?A => online}}, call({presence, [?A]})),
    login([?B]),
    {ok, _} = call({send, ?B, ?A, <<"x">>, <<>>}).

logout() ->
    login([?A, ?B]),
    Ref = async_call({poll, ?A, 0, 30000}),
    wait_held(?A),
    ?assertEqual(ok, call({logout, ?A})),
    ?assertEqual({ok, #{status => continue, seq => 0, events => []}}, await(Ref)),
    ?assertEqual({ok, #{?A => offline}}, call({presence, [?A]})),
    ?assertEqual({error, {not_online, ?A}}, call({send, ?B, ?A, <<"x">>, <<>>})),
    ?assertEqual(ok, call({logout, ?A})).

typing() ->
    login([?A, ?B]),
    ok = call({typing, ?A, ?B, true}),
    {ok, #{status := events, events := [E]}} = call({poll, ?B, 0, 0}),
    ?assertEqual(#{seq => 1, type => typing, typing => #{from => ?A, to => ?B, active => true}}, E),
    %% Typing is not echoed to the sender.
    {ok, #{status := continue, seq := 0}} = call({poll, ?A, 0, 0}).

history() ->
    login([?A, ?B, ?C]),
    {ok, M1} = call({send, ?A, ?B, <<"1">>, <<>>}),
    {ok, _} = call({send, ?A, ?C, <<"x">>, <<>>}),
    {ok, M2} = call({send, ?B, ?A, <<"2">>, <<>>}),
    {ok, M3} = call({send, ?A, ?B, <<"3">>, <<>>}),
    ?assertEqual({ok, [M1, M2, M3]}, call({history, ?A, ?B, 10})),
    ?assertEqual({ok, [M1, M2, M3]}, call({history, ?B, ?A, 10})),
    ?assertEqual({ok, [M2, M3]}, call({history, ?A, ?B, 2})),
    ?assertEqual({ok, []}, call({history, ?A, ?B, 0})),
    %% History outlives logout and the channel.
    ok = call({logout, ?B}),
    ?assertEqual({ok, [M1, M2, M3]}, call({history, ?A, ?B, 10})).

bad_requests() ->
    ?assertMatch({error, {bad_request, _}}, call({send, a, b, <<>>, <<>>})),
    ?assertMatch({error, {bad_request, _}}, call({login, <<"1">>})),
    ?assertMatch({error, {bad_request, _}}, call(what)),
    ?assertMatch({error, {bad_request, _}}, call({presence, [1, x]})),
    ?assertMatch({error, {bad_request, _}}, call({poll, 1, x, 10})),
    login([?A, ?B]),
    ?assertMatch({error, {bad_request, text_too_long}},
                 call({send, ?A, ?B, binary:copy(<<"x">>, 70000), <<>>})),
    ?assertMatch({error, {bad_request, text}}, call({send, ?A, ?B, 42, <<>>})),
    {ok, _} = call({send, ?A, ?B, <<"still fine">>, <<>>}).

subscriptions() ->
    Sub = self(),
    ?assertEqual(ok, call({subscribe, ?B, Sub})),
    ?assertEqual(ok, call({subscribe, ?B, Sub})),        % idempotent
    login([?A, ?B]),
    ?assertEqual({presence_event, ?B, online}, next_msg()),
    {ok, Msg} = call({send, ?A, ?B, <<"to b">>, <<>>}),
    ?assertEqual({chat_event, ?B, #{seq => 1, type => message, message => Msg}}, next_msg()),
    ok = call({logout, ?B}),
    ?assertEqual({presence_event, ?B, offline}, next_msg()),
    ok = call({unsubscribe, ?B, Sub}),
    login([?B]),
    ?assertEqual(timeout, chat_test_util:recv(50)),
    %% A subscriber that dies is removed.
    Pid = spawn(fun() -> receive stop -> ok end end),
    ok = call({subscribe, ?A, Pid}),
    ?assertEqual(1, chat_subs:count()),
    Pid ! stop,
    eventually(fun() -> chat_subs:count() =:= 0 end, 5000).

kill_channel() ->
    Sub = self(),
    login([?A, ?B]),
    {ok, _} = call({send, ?A, ?B, <<"before">>, <<>>}),
    ok = call({subscribe, ?B, Sub}),
    Ref = async_call({poll, ?B, 1, 30000}),
    wait_held(?B),
    [{_, Old, _}] = ets:lookup(chat_registry, ?B),
    ?assertEqual(ok, chat_fault:kill_channel(?B)),
    ?assertEqual({ok, #{status => refresh, seq => 0, events => []}}, await(Ref)),
    ?assertMatch({channel_reset, ?B, 0}, next_msg()),
    ?assertMatch([{_, Old, none}], ets:lookup(chat_registry, ?B)),   % the same shard hosts it
    %% Still online, the queue starts again; the client's old seq is ahead.
    ?assertEqual({ok, #{?B => online}}, call({presence, [?B]})),
    ?assertEqual({ok, #{status => refresh, seq => 0, events => []}}, call({poll, ?B, 1, 0})),
    {ok, _} = call({send, ?A, ?B, <<"after">>, <<>>}),
    {ok, #{status := events, seq := 1}} = call({poll, ?B, 0, 0}),
    %% History survived.
    {ok, [_, _]} = call({history, ?B, ?A, 10}),
    ?assertEqual({error, not_online}, chat_fault:kill_channel(999)).

crash_presence() ->
    login([?A, ?B]),
    Old = whereis(chat_presence),
    ?assertEqual(ok, chat_fault:crash_presence()),
    ?assertNotEqual(Old, whereis(chat_presence)),
    ?assertEqual({ok, #{?A => online, ?B => online, ?C => offline}}, call({presence, [?A, ?B, ?C]})),
    ?assertEqual(2, maps:get(rebuilt, gen_server:call(chat_presence, info))),
    ?assertEqual(ok, chat_fault:crash_presence()),
    ?assertEqual(2, maps:get(rebuilt, gen_server:call(chat_presence, info))),
    {ok, _} = call({send, ?A, ?B, <<"works">>, <<>>}).

delay() ->
    login([?A, ?B]),
    ok = chat_fault:delay(30),
    {ok, M} = call({send, ?A, ?B, <<"slow">>, <<>>}),
    ?assertEqual(<<"slow">>, maps:get(text, M)),
    {ok, #{status := events}} = call({poll, ?B, 0, 0}),
    ok = chat_fault:delay(0),
    {ok, #{delay_ms := 0}} = call(stats).

stats() ->
    login([?A, ?B]),
    {ok, _} = call({send, ?A, ?B, <<"x">>, <<>>}),
    {ok, St} = call(stats),
    ?assertMatch(#{online := 2, present := 2, messages := 1, history := 1, held_polls := 0}, St).

%%% helpers

login(Users) ->
    [{ok, _} = call({login, U}) || U <- Users],
    ok.

wait_held(U) ->
    eventually(fun() ->
                       case ets:lookup(chat_registry, U) of
                           [{_, _, Held}] -> Held =/= none;
                           [] -> false
                       end
               end, 5000).

next_msg() ->
    receive M -> M after 5000 -> timeout end.
