%% EUnit over Erlang distribution, against a running cluster of stub nodes.
%% The nodes come from the CHAT_STUB_NODES environment variable
%% (comma-separated); run from a (preferably hidden) node with their cookie:
%%   make dist-test NODES=a@127.0.0.1,b@127.0.0.1,c@127.0.0.1 COOKIE=c
%% The tap test test/stub/cluster.test.ts does this for a cluster of three.
-module(chat_dist_tests).

-include_lib("eunit/include/eunit.hrl").

stub_nodes() ->
    [list_to_atom(N) || N <- string:lexemes(os:getenv("CHAT_STUB_NODES", ""), ",")].

dist_test_() ->
    {setup, fun setup/0, fun(_) -> ok end,
     fun(Nodes) ->
             {inorder,
              [{timeout, 60, {Name, fun() -> F(Nodes) end}}
               || {Name, F} <- [{"every node has the same partition map", fun same_map/1},
                                {"wrong_partition names the owner", fun wrong_partition/1},
                                {"send across nodes, echo and history on both sides", fun cross_send/1},
                                {"presence batch from any node", fun batch_presence/1},
                                {"friendsPresence spans the cluster", fun friends_presence/1},
                                {"a remote subscriber gets events and is removed when it dies", fun remote_subscriber/1},
                                {"a held poll over distribution blocks nobody", fun held_poll/1},
                                {"fault: kill a channel from another node", fun kill_channel/1},
                                {"a relay that times out is unavailable; the retry is deduplicated", fun relay_timeout/1},
                                {"fault: disconnect all peers, then recover", fun disconnect/1}]]}
     end}.

setup() ->
    Nodes = stub_nodes(),
    ?assert(length(Nodes) >= 1),
    [?assertEqual(pong, net_adm:ping(N)) || N <- Nodes],
    Nodes.

call(Node, Req) ->
    gen_server:call({chat_channel, Node}, Req, 10000).

pmap(Node) ->
    {ok, Map} = call(Node, partition_map),
    Map.

%% The owner of U in the partition map of Node (or in Map).
owner(Node, U) when is_atom(Node) ->
    owner_in(pmap(Node), U).

owner_in(Map, U) ->
    Slot = ((U rem 1024) + 1024) rem 1024,
    [#{node := Owner}] = [R || #{first := F, last := L} = R <- Map, Slot >= F, Slot =< L],
    Owner.

%% The K-th user id (from Base) owned by Node.
user_on(Node, Base, K) ->
    Map = pmap(Node),
    Ids = [U || U <- lists:seq(Base, Base + 4096), owner_in(Map, U) =:= Node],
    lists:nth(K, Ids).

same_map([N1 | _] = Nodes) ->
    Map = pmap(N1),
    [?assertEqual(Map, pmap(N)) || N <- Nodes],
    ?assertEqual(lists:sort(Nodes), lists:usort([maps:get(node, R) || R <- Map])),
    Slots = lists:sort(lists:append([lists:seq(F, L) || #{first := F, last := L} <- Map])),
    ?assertEqual(lists:seq(0, 1023), Slots),
    [?assert(P > 0) || #{thrift_port := P} <- Map].

wrong_partition(Nodes) ->
    Map = pmap(hd(Nodes)),
    [begin
         U = user_on(Owner, 50000, 1),
         Port = hd([P || #{node := N, thrift_port := P} <- Map, N =:= Owner]),
         ?assertEqual({error, {wrong_partition, U, Owner, Port}}, call(Asked, {login, U})),
         ?assertEqual({error, {wrong_partition, U, Owner, Port}}, call(Asked, {poll, U, 0, 0}))
     end || Asked <- Nodes, Owner <- Nodes, Asked =/= Owner].

cross_send([N1 | _] = Nodes) ->
    N2 = lists:last(Nodes),
    A = user_on(N1, 60000, 1),
    B = user_on(N2, 60000, 1),
    C = user_on(N2, 60000, 2),
    {ok, _} = call(N1, {login, A}),
    {ok, _} = call(N2, {login, B}),
    {ok, M} = call(N1, {send, A, B, <<"across">>, <<"x-1">>}),
    ?assertMatch(#{from := A, to := B, text := <<"across">>}, M),
    ?assertEqual({ok, M}, call(N1, {send, A, B, <<"across">>, <<"x-1">>})),
    ?assertEqual({error, {not_online, C}}, call(N1, {send, A, C, <<"no">>, <<>>})),
    {ok, #{status := events, events := [#{message := M}]}} = call(N2, {poll, B, 0, 5000}),
    {ok, #{status := events, events := [#{message := M}]}} = call(N1, {poll, A, 0, 5000}),
    ?assertEqual({ok, [M]}, call(N1, {history, A, B, 10})),
    ?assertEqual({ok, [M]}, call(N2, {history, B, A, 10})),
    %% And back, with typing.
    ok = call(N2, {typing, B, A, true}),
    {ok, #{status := events, events := [#{type := typing}]}} = call(N1, {poll, A, 1, 5000}).

batch_presence(Nodes) ->
    Users = [user_on(N, 70000, 1) || N <- Nodes],
    Offline = [user_on(N, 70000, 2) || N <- Nodes],
    [{ok, _} = call(N, {login, U}) || {N, U} <- lists:zip(Nodes, Users)],
    Want = maps:from_list([{U, online} || U <- Users] ++ [{U, offline} || U <- Offline]),
    [?assertEqual({ok, Want}, call(N, {presence, Users ++ Offline})) || N <- Nodes].

friends_presence(Nodes) ->
    U = 1,
    Home = owner(hd(Nodes), U),
    {ok, Friends} = call(Home, {friends, U}),
    ?assert(length(Friends) > 0),
    Map = pmap(Home),
    Owners = lists:usort([owner_in(Map, F) || F <- Friends]),
    ?assertEqual(lists:sort(Nodes), Owners),
    Online = [F || {I, F} <- lists:enumerate(Friends), I rem 2 =:= 0],
    [{ok, _} = call(owner_in(Map, F), {login, F}) || F <- Online],
    {ok, List} = call(Home, {friends_presence, U}),
    ?assertEqual(lists:sort(Online), [I || #{user_id := I} <- List]).

remote_subscriber([N1 | _] = Nodes) ->
    N2 = lists:last(Nodes),
    A = user_on(N1, 80000, 1),
    B = user_on(N2, 80000, 1),
    ok = call(N2, {subscribe, B, self()}),
    {ok, _} = call(N1, {login, A}),
    {ok, _} = call(N2, {login, B}),
    ?assertEqual({presence_event, B, online}, next()),
    {ok, M} = call(N1, {send, A, B, <<"to a subscriber">>, <<>>}),
    ?assertMatch({chat_event, B, #{type := message, message := M}}, next()),
    ok = call(N2, {unsubscribe, B, self()}),
    {ok, #{subscriptions := Before}} = call(N2, stats),
    Pid = spawn(fun() -> receive stop -> ok end end),
    ok = call(N2, {subscribe, B, Pid}),
    {ok, #{subscriptions := During}} = call(N2, stats),
    ?assertEqual(Before + 1, During),
    Pid ! stop,
    eventually(fun() -> {ok, #{subscriptions := S}} = call(N2, stats), S =:= Before end).

held_poll([N1 | _]) ->
    A = user_on(N1, 90000, 1),
    B = user_on(N1, 90000, 2),
    {ok, _} = call(N1, {login, A}),
    {ok, _} = call(N1, {login, B}),
    Me = self(),
    Poller = spawn_link(fun() -> Me ! {polled, call(N1, {poll, A, 0, 30000})} end),
    eventually(fun() -> {ok, #{held_polls := H}} = call(N1, stats), H >= 1 end),
    {ok, _} = call(N1, {friends_presence, B}),
    {ok, _} = call(N1, {send, B, B, <<"to self">>, <<>>}),
    receive {polled, _} -> erlang:error(answered_early) after 0 -> ok end,
    {ok, M} = call(N1, {send, B, A, <<"wake">>, <<>>}),
    receive {polled, R} -> ?assertMatch({ok, #{status := events, events := [#{message := M}]}}, R)
    after 10000 -> erlang:error({no_poll_reply, Poller})
    end.

kill_channel([N1 | _]) ->
    A = user_on(N1, 100000, 1),
    {ok, _} = call(N1, {login, A}),
    ?assertEqual(ok, gen_server:call({chat_fault, N1}, {kill_channel, A})),
    eventually(fun() -> element(1, call(N1, {poll, A, 0, 0})) =:= ok end),
    ?assertEqual({ok, #{A => online}}, call(N1, {presence, [A]})).

%% The recipient's shard is suspended, so the relay of a cross-node send gets
%% no answer in time: the sender hears unavailable (not not_online), and
%% retries with the same clientMsgId get the one message, queued once.
relay_timeout([N1 | _] = Nodes) ->
    N2 = lists:last(Nodes),
    A = user_on(N1, 120000, 1),
    B = user_on(N2, 120000, 1),
    {ok, _} = call(N1, {login, A}),
    {ok, _} = call(N2, {login, B}),
    ok = rpc:call(N1, application, set_env, [chat_stub, relay_timeout_ms, 300]),
    Shard = rpc:call(N2, chat_channel, shard_of, [B]),
    ok = rpc:call(N2, sys, suspend, [Shard]),
    Slow = {send, A, B, <<"slow">>, <<"r-1">>},
    try
        ?assertEqual({error, {unavailable, {relay_timeout, N2}}}, call(N1, Slow)),
        %% A retry while the first relay is still unanswered: the same message again.
        ?assertEqual({error, {unavailable, {relay_timeout, N2}}}, call(N1, Slow))
    after
        rpc:call(N2, sys, resume, [Shard]),
        rpc:call(N1, application, unset_env, [chat_stub, relay_timeout_ms])
    end,
    {ok, M} = call(N1, Slow),
    ?assertEqual({ok, M}, call(N1, Slow)),
    ?assertMatch({ok, #{status := events, seq := 1, events := [#{message := M}]}}, call(N2, {poll, B, 0, 5000})),
    ?assertMatch({ok, #{status := continue, seq := 1}}, call(N2, {poll, B, 1, 300})),
    ?assertMatch({ok, #{status := events, seq := 1, events := [#{message := M}]}}, call(N1, {poll, A, 0, 5000})),
    ?assertMatch({ok, #{status := continue, seq := 1}}, call(N1, {poll, A, 1, 300})),
    ?assertEqual({ok, [M]}, call(N1, {history, A, B, 10})),
    ?assertEqual({ok, [M]}, call(N2, {history, B, A, 10})).

disconnect([N1 | _] = Nodes) ->
    net_kernel:monitor_nodes(true, [{node_type, all}]),
    {ok, Connected} = gen_server:call({chat_fault, N1}, disconnect_peers),
    ?assert(lists:member(node(), Connected)),
    receive {nodedown, N1, _} -> ok after 10000 -> erlang:error(no_nodedown) end,
    net_kernel:monitor_nodes(false, [{node_type, all}]),
    %% Reconnecting works, and so does the cluster.
    ?assertEqual(pong, net_adm:ping(N1)),
    eventually(fun() -> lists:all(fun(N) -> pmap(N) =:= pmap(N1) end, Nodes) end),
    N2 = lists:last(Nodes),
    A = user_on(N1, 110000, 1),
    B = user_on(N2, 110000, 1),
    {ok, _} = call(N1, {login, A}),
    {ok, _} = call(N2, {login, B}),
    {ok, _} = call(N1, {send, A, B, <<"after disconnect">>, <<>>}).

next() ->
    receive M -> M after 10000 -> timeout end.

eventually(F) ->
    eventually(F, 200).

eventually(_, 0) -> erlang:error(condition_never_held);
eventually(F, N) ->
    case F() of
        true -> ok;
        _ -> timer:sleep(50), eventually(F, N - 1)
    end.
