%% A minimal Thrift client for the tests: framed or unframed transport,
%% binary or compact protocol, requests pipelined on one socket and replies
%% matched by seqid. It reuses the stub's codec; the independent peer is the
%% python3-thrift client (test/stub/thrift_interop.py).
-module(chat_thrift_client).

-export([connect/3, close/1, call/3, send_request/4, recv_reply/2, recv_raw/2, args/2]).

-record(c, {sock, proto, transport, buf = <<>>}).

%% Argument field lists of every ChatChannel method, from plain values.
args(login, [U]) -> [{1, i64, U}];
args(logout, [U]) -> [{1, i64, U}];
args(send, [F, T, Text, C]) -> [{1, i64, F}, {2, i64, T}, {3, string, Text}, {4, string, C}];
args(typing, [F, T, A]) -> [{1, i64, F}, {2, i64, T}, {3, bool, A}];
args(poll, [U, A, T]) -> [{1, i64, U}, {2, i64, A}, {3, i32, T}];
args(touch, [U]) -> [{1, i64, U}];
args(friendsPresence, [U]) -> [{1, i64, U}];
args(presence, [Ids]) -> [{1, {list, i64}, Ids}];
args(history, [U, P, L]) -> [{1, i64, U}, {2, i64, P}, {3, i32, L}];
args(partitionMap, []) -> [];
args(friends, [U]) -> [{1, i64, U}].

connect(Port, Proto, Transport) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {nodelay, true}], 5000),
    #c{sock = S, proto = Proto, transport = Transport}.

close(#c{sock = S}) -> gen_tcp:close(S).

%% One call, waiting for its reply: {reply, ResultStruct} | {exception, AppExStruct}.
call(C, Method, Args) ->
    Seq = erlang:unique_integer([positive]) band 16#7FFFFFFF,
    ok = send_request(C, Method, Seq, args(Method, Args)),
    {{Seq, Reply}, C2} = recv_reply(C, 10000),
    {Reply, C2}.

send_request(#c{sock = S, proto = P, transport = T}, Method, Seq, Fields) ->
    Bin = iolist_to_binary(chat_thrift_codec:encode_message(P, atom_to_binary(Method, utf8), 1, Seq, Fields)),
    gen_tcp:send(S, case T of framed -> [<<(byte_size(Bin)):32>>, Bin]; unframed -> Bin end).

%% The next reply on the socket: {{Seq, {reply | exception, Struct}}, C}.
recv_reply(#c{} = C, Timeout) ->
    case try_decode(C) of
        {ok, Msg, C2} -> {Msg, C2};
        more ->
            case gen_tcp:recv(C#c.sock, 0, Timeout) of
                {ok, Data} -> recv_reply(C#c{buf = <<(C#c.buf)/binary, Data/binary>>}, Timeout);
                {error, Why} -> {{error, Why}, C}
            end
    end.

try_decode(#c{transport = framed, buf = <<Len:32, Frame:Len/binary, Rest/binary>>, proto = P} = C) ->
    {ok, decode(P, Frame), C#c{buf = Rest}};
try_decode(#c{transport = framed}) ->
    more;
try_decode(#c{transport = unframed, buf = Buf, proto = P} = C) ->
    case chat_thrift_codec:decode_message(P, Buf) of
        {ok, {_, Type, Seq, Struct}, Rest} -> {ok, {Seq, {kind(Type), Struct}}, C#c{buf = Rest}};
        {more, _} -> more
    end.

decode(P, Frame) ->
    {ok, {_, Type, Seq, Struct}, _} = chat_thrift_codec:decode_message(P, Frame),
    {Seq, {kind(Type), Struct}}.

kind(2) -> reply;
kind(3) -> exception.

%% Raw bytes until the peer closes or Timeout: {closed, Bytes} | {timeout, Bytes}.
recv_raw(#c{sock = S}, Timeout) ->
    recv_raw(S, Timeout, <<>>).

recv_raw(S, Timeout, Acc) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, D} -> recv_raw(S, Timeout, <<Acc/binary, D/binary>>);
        {error, closed} -> {closed, Acc};
        {error, timeout} -> {timeout, Acc};
        {error, _} -> {closed, Acc}
    end.
