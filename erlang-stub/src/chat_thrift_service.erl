%% @doc Service ChatChannel of idl/chat.thrift, mapped onto chat_channel calls.
%%
%% prepare/2 checks a request's arguments and turns it into a chat_channel
%% call; execute/1 makes the call and builds the result struct: field 0 is
%% the success value, fields 1.. the declared exceptions (NotOnline,
%% WrongPartition) in the order of the IDL. Anything else (a bad request, an
%% internal error, a timeout) becomes a TApplicationException.
-module(chat_thrift_service).

-export([prepare/2, execute/1, app_exception/2]).

%% TApplicationException types.
-define(UNKNOWN_METHOD, 1).
-define(INTERNAL_ERROR, 6).
-define(PROTOCOL_ERROR, 7).

-define(CALL_TIMEOUT, 60000).

-type job() :: {atom(), term(), timeout()}.

%% @doc Validates the arguments of method Name.
-spec prepare(binary(), map()) ->
          {ok, job()} | {error, {app, integer(), binary()}}.
prepare(Name, Args) ->
    case spec(Name) of
        undefined ->
            {error, {app, ?UNKNOWN_METHOD, <<"Unknown method ", Name/binary>>}};
        {Method, ArgSpec, Build} ->
            case args(ArgSpec, Args, []) of
                {ok, Vals} ->
                    {Req, Timeout} = Build(Vals),
                    {ok, {Method, Req, Timeout}};
                {error, Why} ->
                    {error, {app, ?PROTOCOL_ERROR, iolist_to_binary([Name, ": ", Why])}}
            end
    end.

spec(<<"login">>) -> {login, [{1, i64, "userId"}], fun([U]) -> {{login, U}, ?CALL_TIMEOUT} end};
spec(<<"logout">>) -> {logout, [{1, i64, "userId"}], fun([U]) -> {{logout, U}, ?CALL_TIMEOUT} end};
spec(<<"send">>) ->
    {send, [{1, i64, "fromId"}, {2, i64, "toId"}, {3, string, "text"}, {4, string, "clientMsgId"}],
     fun([F, T, Text, C]) -> {{send, F, T, Text, C}, ?CALL_TIMEOUT} end};
spec(<<"typing">>) ->
    {typing, [{1, i64, "fromId"}, {2, i64, "toId"}, {3, bool, "active"}],
     fun([F, T, A]) -> {{typing, F, T, A}, ?CALL_TIMEOUT} end};
spec(<<"poll">>) ->
    {poll, [{1, i64, "userId"}, {2, i64, "afterSeq"}, {3, i32, "timeoutMs"}],
     fun([U, A, T]) -> {{poll, U, A, T}, max(T, 0) + ?CALL_TIMEOUT} end};
spec(<<"touch">>) -> {touch, [{1, i64, "userId"}], fun([U]) -> {{touch, U}, ?CALL_TIMEOUT} end};
spec(<<"friendsPresence">>) ->
    {friends_presence, [{1, i64, "userId"}], fun([U]) -> {{friends_presence, U}, ?CALL_TIMEOUT} end};
spec(<<"presence">>) ->
    {presence, [{1, {list, i64}, "userIds"}], fun([Ids]) -> {{presence, Ids}, ?CALL_TIMEOUT} end};
spec(<<"history">>) ->
    {history, [{1, i64, "userId"}, {2, i64, "peerId"}, {3, i32, "limit"}],
     fun([U, P, L]) -> {{history, U, P, L}, ?CALL_TIMEOUT} end};
spec(<<"partitionMap">>) -> {partition_map, [], fun([]) -> {partition_map, ?CALL_TIMEOUT} end};
spec(<<"friends">>) -> {friends, [{1, i64, "userId"}], fun([U]) -> {{friends, U}, ?CALL_TIMEOUT} end};
spec(_) -> undefined.

args([], _, Acc) ->
    {ok, lists:reverse(Acc)};
args([{Id, Type, Name} | T], Args, Acc) ->
    case maps:find(Id, Args) of
        {ok, {Type, V}} -> args(T, Args, [V | Acc]);
        {ok, {{list, _}, []}} when element(1, Type) =:= list -> args(T, Args, [[] | Acc]);
        {ok, {Other, _}} -> {error, io_lib:format("argument ~b (~s) has type ~p, expected ~p", [Id, Name, Other, Type])};
        error -> {error, io_lib:format("missing argument ~b (~s)", [Id, Name])}
    end.

%% @doc Runs a prepared job: the result struct fields, or a TApplicationException.
-spec execute(job()) -> {reply, [{integer(), term(), term()}]} | {app, integer(), binary()}.
execute({Method, Req, Timeout}) ->
    try gen_server:call(chat_channel:server(Req), Req, Timeout) of
        Reply -> result(Method, Reply)
    catch
        exit:{timeout, _} -> {app, ?INTERNAL_ERROR, <<"timeout">>};
        exit:{noproc, _} -> {app, ?INTERNAL_ERROR, <<"chat_channel is not running">>};
        exit:Why -> {app, ?INTERNAL_ERROR, iolist_to_binary(io_lib:format("~0p", [Why]))}
    end.

%% @doc The fields of a TApplicationException struct.
-spec app_exception(integer(), binary()) -> [{integer(), term(), term()}].
app_exception(Type, Message) ->
    [{1, string, Message}, {2, i32, Type}].

result(Method, {error, {wrong_partition, U, Owner, Port}}) ->
    case wp_field(Method) of
        undefined -> internal({wrong_partition, U});
        Id -> {reply, [{Id, struct, [{1, i64, U}, {2, string, owner(Owner)}, {3, i32, Port}]}]}
    end;
result(Method, {error, {not_online, U}}) when Method =:= send; Method =:= typing ->
    {reply, [{1, struct, [{1, i64, U}]}]};
result(login, {ok, Seq}) ->
    {reply, [{0, i64, Seq}]};
result(Method, ok) when Method =:= logout; Method =:= typing; Method =:= touch ->
    {reply, []};
result(send, {ok, Msg}) ->
    {reply, [{0, struct, message(Msg)}]};
result(poll, {ok, #{status := St, seq := Seq, events := Events}}) ->
    {reply, [{0, struct, [{1, i32, poll_status(St)}, {2, i64, Seq},
                          {3, {list, struct}, [event(E) || E <- Events]}]}]};
result(friends_presence, {ok, List}) ->
    {reply, [{0, {list, struct},
              [[{1, i64, Id}, {2, i32, presence_state(St)}, {3, i32, min(Sec, 16#7FFFFFFF)}]
               || #{user_id := Id, state := St, idle_seconds := Sec} <- List]}]};
result(presence, {ok, Map}) ->
    {reply, [{0, {map, i64, i32}, [{Id, presence_state(St)} || {Id, St} <- lists:sort(maps:to_list(Map))]}]};
result(history, {ok, Msgs}) ->
    {reply, [{0, {list, struct}, [message(M) || M <- Msgs]}]};
result(partition_map, {ok, Ranges}) ->
    {reply, [{0, {list, struct},
              [[{1, i32, F}, {2, i32, L}, {3, string, atom_to_binary(N, utf8)}, {4, i32, P}]
               || #{first := F, last := L, node := N, thrift_port := P} <- Ranges]}]};
result(friends, {ok, Ids}) ->
    {reply, [{0, {list, i64}, Ids}]};
result(_Method, {error, Why}) ->
    internal(Why);
result(_Method, Other) ->
    internal({unexpected_reply, Other}).

internal(Why) ->
    {app, ?INTERNAL_ERROR, iolist_to_binary(io_lib:format("~0p", [Why]))}.

wp_field(send) -> 2;
wp_field(typing) -> 2;
wp_field(Method) when Method =:= presence; Method =:= partition_map; Method =:= friends -> undefined;
wp_field(_) -> 1.

owner(undefined) -> <<>>;
owner(Node) -> atom_to_binary(Node, utf8).

message(#{id := Id, from := F, to := T, text := Text, sent_at_ms := At} = M) ->
    [{1, i64, Id}, {2, i64, F}, {3, i64, T}, {4, string, Text}, {5, i64, At},
     {6, string, maps:get(client_msg_id, M, undefined)}].

event(#{seq := Seq, type := message, message := M}) ->
    [{1, i64, Seq}, {2, struct, message(M)}];
event(#{seq := Seq, type := typing, typing := #{from := F, to := T, active := A}}) ->
    [{1, i64, Seq}, {3, struct, [{1, i64, F}, {2, i64, T}, {3, bool, A}]}].

poll_status(events) -> 0;
poll_status(continue) -> 1;
poll_status(refresh) -> 2.

presence_state(offline) -> 0;
presence_state(idle) -> 1;
presence_state(online) -> 2.
