%% The interop scenario, from Erlang: the same steps and the same normalised
%% transcript as test/stub/thrift_interop.py (see its docstring), printed as
%% one JSON line. The tap test compares the two.
%%
%%   erl -noshell -pa ebin -pa ebin-test -eval 'chat_interop_scenario:main()' \
%%       -extra PORT PROTOCOL TRANSPORT BASE
%% PROTOCOL binary | compact; TRANSPORT framed | buffered (= unframed).
-module(chat_interop_scenario).

-export([main/0, run/4]).

main() ->
    [Port, Proto, Transport, Base] = init:get_plain_arguments(),
    T = case Transport of "buffered" -> unframed; "framed" -> framed end,
    try run(list_to_integer(Port), list_to_atom(Proto), T, list_to_integer(Base)) of
        Steps -> io:put_chars([chat_json:encode(Steps), $\n]), halt(0)
    catch C:R:St -> io:format(standard_error, "scenario failed: ~p:~p~n~p~n", [C, R, St]), halt(1)
    end.

-spec run(inet:port_number(), binary | compact, framed | unframed, integer()) -> [map()].
run(Port, Proto, Transport, Base) ->
    put(conn, chat_thrift_client:connect(Port, Proto, Transport)),
    put(base, Base),
    put(start_ms, erlang:system_time(millisecond)),
    put(msgs, #{}),
    A = Base + 1, B = Base + 2, C = Base + 3,
    Unowned = Base + 921,
    Big = [(1 bsl 53) + 1, 1 bsl 62, (1 bsl 63) - 1, -(1 bsl 63)],
    Steps =
        [step(<<"login a">>, login, [A], fun i64/1),
         step(<<"login b">>, login, [B], fun i64/1),
         step(<<"send a->b">>, send, [A, B, <<"h\x{e9}llo \x{2713}"/utf8>>, <<"cid-1">>], fun message/1),
         step(<<"send a->b again">>, send, [A, B, <<"h\x{e9}llo \x{2713}"/utf8>>, <<"cid-1">>], fun message/1),
         step(<<"send a->b no id">>, send, [A, B, <<"second">>, <<>>], fun message/1),
         step(<<"send a->c offline">>, send, [A, C, <<"x">>, <<>>], fun message/1),
         step(<<"typing a->b">>, typing, [A, B, true], fun void/1),
         step(<<"poll b events">>, poll, [B, 0, 1000], fun poll_result/1),
         step(<<"poll b ahead">>, poll, [B, 99, 1000], fun poll_result/1),
         step(<<"poll b continue">>, poll, [B, 3, 20], fun poll_result/1),
         step(<<"poll a echo">>, poll, [A, 0, 1000], fun poll_result/1),
         step(<<"touch a">>, touch, [A], fun void/1),
         step(<<"history b a">>, history, [B, A, 10], fun messages/1),
         step(<<"history a b last">>, history, [A, B, 1], fun messages/1),
         step(<<"presence">>, presence, [[A, B, C | Big]],
              fun({_, Pairs}) -> maps:from_list([{uid(K), V} || {K, V} <- Pairs]) end),
         step(<<"friendsPresence a">>, friendsPresence, [A],
              fun({_, L}) -> [[uid(maps:get(1, P)), maps:get(2, P)] || P <- strip_all(L)] end),
         step(<<"friends a">>, friends, [A], fun({_, L}) -> [uid(F) || F <- L] end),
         step(<<"login unowned">>, login, [Unowned], fun i64/1),
         step(<<"send from unowned">>, send, [Unowned, A, <<"x">>, <<>>], fun message/1),
         step(<<"partitionMap">>, partitionMap, [],
              fun({_, L}) -> [[maps:get(I, R) || I <- [1, 2, 3, 4]] || R <- strip_all(L)] end),
         unknown(),
         step(<<"logout b">>, logout, [B], fun void/1),
         step(<<"send a->b after logout">>, send, [A, B, <<"x">>, <<>>], fun message/1)],
    chat_thrift_client:close(get(conn)),
    Steps.

step(Name, Method, Args, Fmt) ->
    {Reply, C2} = chat_thrift_client:call(get(conn), Method, Args),
    put(conn, C2),
    Result = case Reply of
                 {reply, #{0 := V}} -> #{ok => Fmt(V)};
                 {reply, #{} = R} when map_size(R) =:= 0 -> #{ok => null};
                 {reply, R} -> exception(Method, R);
                 {exception, #{2 := {i32, Type}}} -> #{'TApplicationException' => #{type => Type}}
             end,
    #{step => Name, result => Result}.

exception(Method, R) ->
    [{Id, {struct, S}}] = maps:to_list(R),
    case {Method, Id} of
        {M, 1} when M =:= send; M =:= typing ->
            #{'NotOnline' => #{userId => uid(val(S, 1))}};
        _ ->
            #{'WrongPartition' => #{userId => uid(val(S, 1)), owner => val(S, 2), thriftPort => val(S, 3)}}
    end.

unknown() ->
    C = get(conn),
    ok = chat_thrift_client:send_request(C, noSuchMethod, 4242, []),
    {{Seq, {exception, S}}, C2} = chat_thrift_client:recv_reply(C, 10000),
    put(conn, C2),
    #{step => <<"unknown method">>,
      result => #{ok => #{name => <<"noSuchMethod">>, messageType => 3, seqid => Seq, type => val(S, 2)}}}.

val(S, Id) -> element(2, maps:get(Id, S)).

strip_all(L) -> [maps:map(fun(_, {_, V}) -> V end, S) || S <- L].

i64({i64, V}) -> V.

void(_) -> null.

uid(U) ->
    Base = get(base),
    case U > Base andalso U =< Base + 1024 of
        true -> integer_to_binary(U - Base);
        false -> integer_to_binary(U)
    end.

ts(T) ->
    Start = get(start_ms),
    case T >= Start - 60000 andalso T =< erlang:system_time(millisecond) + 60000 of
        true -> <<"ts-ok">>;
        false -> <<"ts-bad">>
    end.

mid(Id) ->
    Msgs = get(msgs),
    case maps:find(Id, Msgs) of
        {ok, Name} -> Name;
        error ->
            Name = iolist_to_binary(["m", integer_to_list(maps:size(Msgs) + 1)]),
            put(msgs, Msgs#{Id => Name}),
            Name
    end.

message({struct, M}) -> message(M);
message(M) ->
    #{id => mid(val(M, 1)), fromId => uid(val(M, 2)), toId => uid(val(M, 3)), text => val(M, 4),
      sentAtMs => ts(val(M, 5)),
      clientMsgId => case maps:find(6, M) of {ok, {_, C}} -> C; error -> null end}.

messages({_, L}) -> [message(M) || M <- L].

poll_result({struct, R}) ->
    {_, Events} = maps:get(3, R),
    #{status => val(R, 1), seq => integer_to_binary(val(R, 2)), events => [event(E) || E <- Events]}.

event(E) ->
    Base = #{seq => integer_to_binary(val(E, 1))},
    B1 = case maps:find(2, E) of
             {ok, {struct, M}} -> Base#{message => message(M)};
             error -> Base
         end,
    case maps:find(3, E) of
        {ok, {struct, T}} -> B1#{typing => #{fromId => uid(val(T, 1)), toId => uid(val(T, 2)), active => val(T, 3)}};
        error -> B1
    end.
