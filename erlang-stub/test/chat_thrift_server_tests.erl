%% EUnit: the Thrift front door over real TCP, every transport and protocol.
-module(chat_thrift_server_tests).

-include_lib("eunit/include/eunit.hrl").

-import(chat_thrift_client, [connect/3, call/3, send_request/4, recv_reply/2, args/2]).

-define(APP_UNKNOWN_METHOD, 1).
-define(APP_INVALID_MESSAGE_TYPE, 2).
-define(APP_PROTOCOL_ERROR, 7).

server_test_() ->
    {foreach,
     fun() -> chat_test_util:start(#{slots => [{0, 511}]}) end,
     fun(_) -> chat_test_util:stop() end,
     [{timeout, 60, {lists:flatten(io_lib:format("~p ~p ~p", [Name, P, T])), fun() -> F(P, T) end}}
      || {Name, F} <- [{calls, fun calls/2},
                       {concurrent_requests_on_one_connection, fun concurrent/2},
                       {application_exceptions, fun app_exceptions/2},
                       {big_i64_map_keys, fun big_keys/2}],
         P <- [binary, compact], T <- [framed, unframed]] ++
         [{"malformed frames close only their connection", fun malformed/0},
          {"fault: close all Thrift connections", fun close_thrift/0},
          {"fault: refuse new connections for a while", fun refuse/0},
          {"many connections", fun many_connections/0},
          {"messages split into single bytes", fun byte_by_byte/0}]}.

port() -> chat_thrift_listener:port().

%% Every method, its result and its declared exceptions.
calls(P, T) ->
    C0 = connect(port(), P, T),
    {{reply, #{0 := {i64, 0}}}, C1} = call(C0, login, [1]),
    {{reply, #{0 := {i64, 0}}}, C2} = call(C1, login, [2]),
    {{reply, #{0 := {struct, Msg}}}, C3} = call(C2, send, [1, 2, <<"héllo"/utf8>>, <<"c-1">>]),
    #{1 := {i64, Id}, 2 := {i64, 1}, 3 := {i64, 2}, 4 := {string, <<"héllo"/utf8>>},
      5 := {i64, At}, 6 := {string, <<"c-1">>}} = Msg,
    ?assert(Id > 0 andalso At > 0),
    %% Same clientMsgId: the same stored message.
    {{reply, #{0 := {struct, Msg}}}, C4} = call(C3, send, [1, 2, <<"héllo"/utf8>>, <<"c-1">>]),
    {{reply, #{}}, C5} = call(C4, typing, [1, 2, true]),
    {{reply, #{0 := {struct, PR}}}, C6} = call(C5, poll, [2, 0, 1000]),
    #{1 := {i32, 0}, 2 := {i64, 2}, 3 := {{list, struct}, [E1, E2]}} = PR,
    ?assertEqual(#{1 => {i64, 1}, 2 => {struct, Msg}}, E1),
    ?assertEqual(#{1 => {i64, 2}, 3 => {struct, #{1 => {i64, 1}, 2 => {i64, 2}, 3 => {bool, true}}}}, E2),
    {{reply, #{0 := {struct, #{1 := {i32, 2}, 2 := {i64, 2}}}}}, C7} = call(C6, poll, [2, 9, 1000]),
    {{reply, #{0 := {struct, #{1 := {i32, 1}, 2 := {i64, 2}}}}}, C8} = call(C7, poll, [2, 2, 10]),
    {{reply, #{}}, C9} = call(C8, touch, [1]),
    {{reply, #{0 := {{list, struct}, _}}}, C10} = call(C9, friendsPresence, [1]),
    {{reply, #{0 := {{map, i64, i32}, Pres}}}, C11} = call(C10, presence, [[1, 2, 3]]),
    ?assertEqual([{1, 2}, {2, 2}, {3, 0}], lists:sort(Pres)),
    {{reply, #{0 := {{list, struct}, [Msg]}}}, C12} = call(C11, history, [2, 1, 10]),
    {{reply, #{0 := {{list, struct}, [Range]}}}, C13} = call(C12, partitionMap, []),
    Node = atom_to_binary(node(), utf8),
    Port = port(),
    ?assertEqual(#{1 => {i32, 0}, 2 => {i32, 511}, 3 => {string, Node}, 4 => {i32, Port}}, Range),
    %% Declared exceptions.
    %% friends: the seeded list, from any node, as a list<i64>.
    {ok, Friends} = gen_server:call(chat_channel, {friends, 1}),
    ?assertNotEqual([], Friends),
    {{reply, #{0 := {{list, i64}, Friends}}}, C13b} = call(C13, friends, [1]),
    {{reply, #{0 := {{list, i64}, []}}}, C13c} = call(C13b, friends, [600]),
    {{reply, #{1 := {struct, #{1 := {i64, 3}}}}}, C14} = call(C13c, send, [1, 3, <<"x">>, <<>>]),
    {{reply, #{2 := {struct, #{1 := {i64, 600}, 2 := {string, <<>>}, 3 := {i32, 0}}}}}, C15} =
        call(C14, send, [600, 1, <<"x">>, <<>>]),
    {{reply, #{1 := {struct, #{1 := {i64, 600}}}}}, C16} = call(C15, login, [600]),
    {{reply, #{1 := {struct, #{1 := {i64, 600}}}}}, C17} = call(C16, poll, [600, 0, 0]),
    {{reply, #{1 := {struct, #{1 := {i64, 3}}}}}, C18} = call(C17, typing, [1, 3, false]),
    {{reply, #{}}, C19} = call(C18, logout, [2]),
    chat_thrift_client:close(C19).

%% A held poll does not block a send on the same connection: the send is
%% answered while the poll is still held, replies matched by seqid.
concurrent(P, T) ->
    C0 = connect(port(), P, T),
    {{reply, _}, C1} = call(C0, login, [1]),
    {{reply, _}, Ca} = call(C1, login, [2]),
    {{reply, _}, C2} = call(Ca, login, [3]),
    ok = send_request(C2, poll, 100, args(poll, [2, 0, 30000])),
    ok = send_request(C2, send, 101, args(send, [1, 3, <<"to someone else">>, <<>>])),
    {{101, {reply, #{0 := {struct, _}}}}, C3a} = recv_reply(C2, 10000),
    ok = send_request(C3a, send, 102, args(send, [1, 2, <<"wake up">>, <<>>])),
    {{SeqX, {reply, RX}}, C3} = recv_reply(C3a, 10000),
    {{SeqY, {reply, RY}}, C4} = recv_reply(C3, 10000),
    Replies = maps:from_list([{SeqX, RX}, {SeqY, RY}]),
    ?assertEqual([100, 102], lists:sort(maps:keys(Replies))),
    #{0 := {struct, #{4 := {string, <<"wake up">>}}}} = maps:get(102, Replies),
    #{0 := {struct, #{1 := {i32, 0}, 3 := {{list, struct}, [_]}}}} = maps:get(100, Replies),
    %% Many in flight at once.
    [ok = send_request(C4, presence, S, args(presence, [[S]])) || S <- lists:seq(1, 50)],
    {Seqs, C5} = lists:foldl(fun(_, {Acc, C}) ->
                                     {{S, {reply, _}}, Cn} = recv_reply(C, 10000),
                                     {[S | Acc], Cn}
                             end, {[], C4}, lists:seq(1, 50)),
    ?assertEqual(lists:seq(1, 50), lists:sort(Seqs)),
    chat_thrift_client:close(C5).

app_exceptions(P, T) ->
    C0 = connect(port(), P, T),
    ok = send_request(C0, nosuchMethod, 7, []),
    {{7, {exception, #{1 := {string, M1}, 2 := {i32, ?APP_UNKNOWN_METHOD}}}}, C1} = recv_reply(C0, 5000),
    ?assertMatch(<<"Unknown method nosuchMethod">>, M1),
    %% Missing argument.
    ok = send_request(C1, login, 8, []),
    {{8, {exception, #{2 := {i32, ?APP_PROTOCOL_ERROR}}}}, C2} = recv_reply(C1, 5000),
    %% Wrong argument type.
    ok = send_request(C2, login, 9, [{1, string, <<"1">>}]),
    {{9, {exception, #{2 := {i32, ?APP_PROTOCOL_ERROR}}}}, C3} = recv_reply(C2, 5000),
    %% A REPLY sent to the server.
    Bin = iolist_to_binary(chat_thrift_codec:encode_message(P, <<"login">>, 2, 10, [])),
    ok = gen_tcp:send(element(2, C3), case T of framed -> [<<(byte_size(Bin)):32>>, Bin]; unframed -> Bin end),
    {{10, {exception, #{2 := {i32, ?APP_INVALID_MESSAGE_TYPE}}}}, C4} = recv_reply(C3, 5000),
    %% The connection still works.
    {{reply, #{0 := {i64, 0}}}, C5} = call(C4, login, [5]),
    chat_thrift_client:close(C5).

big_keys(P, T) ->
    C0 = connect(port(), P, T),
    Ids = [(1 bsl 53) + 1, (1 bsl 53) + 2, 1 bsl 62, 16#7FFFFFFFFFFFFFFF, -16#8000000000000000, 3],
    {{reply, _}, C1} = call(C0, login, [3]),
    {{reply, #{0 := {{map, i64, i32}, Pairs}}}, C2} = call(C1, presence, [Ids]),
    ?assertEqual(lists:sort([{I, case I of 3 -> 2; _ -> 0 end} || I <- Ids]), lists:sort(Pairs)),
    chat_thrift_client:close(C2).

malformed() ->
    Port = port(),
    Bad = [<<0, 0, 0, 0>>,                             % empty frame
           <<16#7f, 16#ff, 16#ff, 16#ff>>,             % frame longer than max_frame
           <<0, 0, 0, 4, 16#80, 9, 0, 1>>,             % bad version in a frame
           <<0, 0, 0, 3, 16#82, 16#21, 1>>,            % truncated header in a frame
           <<16#82, 16#3f, 0, 0>>,                     % unframed, bad version
           <<16#80, 16#01, 0, 1, 16#ff, 16#ff, 16#ff, 16#ff>>], % unframed, negative name length
    [begin
         {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
         ok = gen_tcp:send(S, B),
         ?assertMatch({error, closed}, gen_tcp:recv(S, 0, 10000)),
         gen_tcp:close(S)
     end || B <- Bad],
    %% A frame whose header is fine but whose struct is not: exception, then usable.
    C0 = connect(Port, binary, framed),
    Frame = <<16#80, 1, 0, 1, 0, 0, 0, 5, "login", 0, 0, 0, 42, 10, 0, 1, 0, 0>>,
    ok = gen_tcp:send(element(2, C0), [<<(byte_size(Frame)):32>>, Frame]),
    {{42, {exception, #{2 := {i32, ?APP_PROTOCOL_ERROR}}}}, C1} = recv_reply(C0, 5000),
    {{reply, _}, C2} = call(C1, partitionMap, []),
    chat_thrift_client:close(C2),
    %% The listener is unharmed.
    C3 = connect(Port, compact, framed),
    {{reply, _}, C4} = call(C3, partitionMap, []),
    chat_thrift_client:close(C4).

close_thrift() ->
    Cs = [connect(port(), binary, framed) || _ <- lists:seq(1, 3)],
    Cs2 = [element(2, call(C, partitionMap, [])) || C <- Cs],
    {ok, 3} = chat_fault:close_thrift(),
    [?assertMatch({closed, _}, chat_thrift_client:recv_raw(C, 10000)) || C <- Cs2],
    C = connect(port(), binary, framed),
    {{reply, _}, C2} = call(C, partitionMap, []),
    chat_thrift_client:close(C2).

refuse() ->
    Port = port(),
    ok = chat_fault:refuse_connections(600000),
    ?assertEqual({error, econnrefused}, gen_tcp:connect({127, 0, 0, 1}, Port, [binary], 5000)),
    %% A second command replaces the time left: 0 reopens now.
    ok = chat_fault:refuse_connections(0),
    chat_test_util:eventually(
      fun() ->
              case gen_tcp:connect({127, 0, 0, 1}, Port, [binary], 5000) of
                  {ok, S} -> gen_tcp:close(S), true;
                  {error, econnrefused} -> false
              end
      end, 10000),
    C = connect(Port, compact, unframed),
    {{reply, _}, C2} = call(C, partitionMap, []),
    chat_thrift_client:close(C2),
    %% And a refusal ends by itself.
    ok = chat_fault:refuse_connections(50),
    chat_test_util:eventually(
      fun() ->
              case gen_tcp:connect({127, 0, 0, 1}, Port, [binary], 5000) of
                  {ok, S} -> gen_tcp:close(S), true;
                  {error, econnrefused} -> false
              end
      end, 10000).

many_connections() ->
    Cs = [connect(port(), lists:nth(1 + I rem 2, [binary, compact]), lists:nth(1 + (I div 2) rem 2, [framed, unframed]))
          || I <- lists:seq(1, 200)],
    Cs2 = [begin {{reply, #{0 := {i64, 0}}}, C2} = call(C, login, [I]), C2 end
           || {I, C} <- lists:zip(lists:seq(1, 200), Cs)],
    ?assertEqual(200, chat_thrift_listener:connection_count()),
    [chat_thrift_client:close(C) || C <- Cs2],
    chat_test_util:eventually(fun() -> chat_thrift_listener:connection_count() =:= 0 end, 10000).

%% Requests written one byte at a time, on every protocol and transport.
byte_by_byte() ->
    [begin
         C = connect(port(), P, T),
         Sock = element(2, C),
         Bin = iolist_to_binary(chat_thrift_codec:encode_message(P, <<"login">>, 1, 5, args(login, [77]))),
         Wire = case T of framed -> <<(byte_size(Bin)):32, Bin/binary>>; unframed -> Bin end,
         [begin ok = gen_tcp:send(Sock, <<Byte>>), timer:sleep(1) end || <<Byte>> <= Wire],
         {{5, {reply, #{0 := {i64, _}}}}, C2} = recv_reply(C, 10000),
         chat_thrift_client:close(C2)
     end || P <- [binary, compact], T <- [framed, unframed]].
