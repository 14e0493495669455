%% @doc One Thrift connection.
%%
%% Transports: framed (each message preceded by its length, a 4-byte
%% big-endian integer) or unframed ("buffered": messages back to back). The
%% first byte of the connection decides: 0x80 (binary strict) or 0x82
%% (compact) start an unframed message; anything else is the high byte of a
%% frame length. Protocols: each message's first byte decides, 0x82 compact,
%% otherwise binary (strict, or the old non-strict header). Replies use the
%% transport and protocol of their request.
%%
%% Every request runs in its own worker process, so requests on one
%% connection are answered concurrently and matched by seqid: a held poll
%% does not block a send. This process is the only writer to the socket.
%%
%% Errors: an unknown method, a wrong message type or bad arguments get a
%% TApplicationException with the request's seqid. A frame that cannot be
%% read (bad length, bad header, truncated), or unframed bytes that cannot be
%% a message, close this connection. Nothing here can stop the listener.
-module(chat_thrift_conn).
-behaviour(gen_server).

-export([start_link/1, go/1, close/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

%% TApplicationException types.
-define(INVALID_MESSAGE_TYPE, 2).
-define(INTERNAL_ERROR, 6).
-define(PROTOCOL_ERROR, 7).

-define(CALL, 1).
-define(REPLY, 2).
-define(EXCEPTION, 3).
-define(ONEWAY, 4).

start_link(Sock) ->
    gen_server:start_link(?MODULE, Sock, []).

%% @doc The socket now belongs to the connection: start reading.
go(Pid) -> gen_server:cast(Pid, go).

%% @doc Closes the connection.
close(Pid) -> gen_server:cast(Pid, close).

init(Sock) ->
    {ok, #{sock => Sock, buf => <<>>, mode => undefined, workers => #{}, need => 0,
           max_frame => chat_config:get(max_frame), max_inflight => chat_config:get(max_inflight)}}.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(go, S) ->
    rearm(S);
handle_cast(close, S) ->
    {stop, normal, S};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({tcp, Sock, Data}, #{sock := Sock, buf := Buf} = S) ->
    case parse(S#{buf := <<Buf/binary, Data/binary>>}) of
        {ok, S2} -> rearm(S2);
        {close, S2} -> {stop, normal, S2}
    end;
handle_info({tcp_closed, Sock}, #{sock := Sock} = S) ->
    {stop, normal, S};
handle_info({tcp_error, Sock, _}, #{sock := Sock} = S) ->
    {stop, normal, S};
handle_info({reply, Pid, Out}, #{workers := W} = S) ->
    S2 = S#{workers := maps:remove(Pid, W)},
    case write(Out, S2) of
        ok -> {noreply, S2};
        error -> {stop, normal, S2}
    end;
handle_info({done, Pid}, #{workers := W} = S) ->
    {noreply, S#{workers := maps:remove(Pid, W)}};
handle_info(_Msg, S) ->
    {noreply, S}.

%% Asks for the next chunk; a socket closed meanwhile ends the connection.
rearm(#{sock := Sock} = S) ->
    case inet:setopts(Sock, [{active, once}]) of
        ok -> {noreply, S};
        {error, _} -> {stop, normal, S}
    end.

terminate(_Reason, #{sock := Sock, workers := W}) ->
    [exit(P, kill) || P <- maps:keys(W)],
    gen_tcp:close(Sock),
    ok.

%%% ---------------------------------------------------------------- reading

parse(#{mode := undefined, buf := <<>>} = S) ->
    {ok, S};
parse(#{mode := undefined, buf := <<B, _/binary>>} = S) ->
    Mode = case B of
               16#80 -> unframed;
               16#82 -> unframed;
               _ -> framed
           end,
    parse(S#{mode := Mode});
parse(#{mode := framed, buf := <<Len:32/signed, Rest/binary>>, max_frame := Max} = S) ->
    if
        Len =< 0; Len > Max ->
            {close, S};
        byte_size(Rest) >= Len ->
            <<Frame:Len/binary, Rest2/binary>> = Rest,
            case frame(Frame, S#{buf := Rest2}) of
                {ok, S2} -> parse(S2);
                Close -> Close
            end;
        true ->
            {ok, S}
    end;
parse(#{mode := framed} = S) ->
    {ok, S};
parse(#{mode := unframed, buf := <<>>} = S) ->
    {ok, S};
parse(#{mode := unframed, buf := Buf, need := Need} = S) when byte_size(Buf) < Need ->
    %% The last attempt said at least this much is missing: do not re-decode
    %% on every small chunk (a message trickling in byte by byte stays linear).
    {ok, S};
parse(#{mode := unframed, buf := <<B, _/binary>> = Buf, max_frame := Max} = S0) ->
    S = S0#{need := 0},
    Proto = chat_thrift_codec:protocol_of(B),
    case B =:= 16#80 orelse B =:= 16#82 of
        false ->
            {close, S};
        true ->
            case chat_thrift_codec:decode_header(Proto, Buf) of
                {ok, {Name, Type, Seq}, Rest} ->
                    case chat_thrift_codec:decode_struct(Proto, Rest) of
                        {ok, Args, Rest2} ->
                            case request(Proto, Name, Type, Seq, Args, S#{buf := Rest2}) of
                                {ok, S2} -> parse(S2);
                                Close -> Close
                            end;
                        {more, N} when byte_size(Buf) =< Max ->
                            {ok, S#{need := byte_size(Buf) + max(N, 1)}};
                        {more, _} ->
                            {close, S};
                        {error, Why} ->
                            %% The stream cannot be resynchronised: answer, then close.
                            _ = app_error(Proto, Name, Seq, ?PROTOCOL_ERROR, describe(Why), S),
                            {close, S}
                    end;
                {more, N} when byte_size(Buf) =< Max ->
                    {ok, S#{need := byte_size(Buf) + max(N, 1)}};
                _ ->
                    {close, S}
            end
    end.

frame(<<B, _/binary>> = Frame, S) ->
    Proto = chat_thrift_codec:protocol_of(B),
    case chat_thrift_codec:decode_header(Proto, Frame) of
        {ok, {Name, Type, Seq}, Rest} ->
            case chat_thrift_codec:decode_struct(Proto, Rest) of
                {ok, Args, _} ->
                    request(Proto, Name, Type, Seq, Args, S);
                {more, _} ->
                    app_error(Proto, Name, Seq, ?PROTOCOL_ERROR, <<"truncated message">>, S);
                {error, Why} ->
                    app_error(Proto, Name, Seq, ?PROTOCOL_ERROR, describe(Why), S)
            end;
        _ ->
            {close, S}
    end.

describe(Why) ->
    iolist_to_binary(io_lib:format("malformed message: ~0p", [Why])).

%%% --------------------------------------------------------------- requests

request(Proto, Name, Type, Seq, Args, #{workers := W, max_inflight := MaxIn} = S)
  when Type =:= ?CALL; Type =:= ?ONEWAY ->
    case chat_thrift_service:prepare(Name, Args) of
        {error, {app, AType, Msg}} when Type =:= ?CALL ->
            app_error(Proto, Name, Seq, AType, Msg, S);
        {error, _} ->
            {ok, S};
        {ok, _} when map_size(W) >= MaxIn, Type =:= ?CALL ->
            app_error(Proto, Name, Seq, ?INTERNAL_ERROR, <<"too many concurrent requests">>, S);
        {ok, _} when map_size(W) >= MaxIn ->
            {ok, S};
        {ok, Job} ->
            Conn = self(),
            Mode = maps:get(mode, S),
            Pid = spawn_link(fun() -> worker(Conn, Job, Proto, Mode, Name, Seq, Type) end),
            {ok, S#{workers := W#{Pid => Seq}}}
    end;
request(Proto, Name, _Type, Seq, _Args, S) ->
    app_error(Proto, Name, Seq, ?INVALID_MESSAGE_TYPE, <<"expected CALL or ONEWAY">>, S).

%% Runs one request and hands the encoded reply to the connection. Never
%% raises: a crash here would close the connection.
worker(Conn, Job, Proto, Mode, Name, Seq, Type) ->
    Result = try chat_thrift_service:execute(Job)
             catch C:R -> {app, ?INTERNAL_ERROR, iolist_to_binary(io_lib:format("~p:~0p", [C, R]))}
             end,
    case Type of
        ?ONEWAY ->
            Conn ! {done, self()};
        _ ->
            Out = try encode(Proto, Name, Seq, Result)
                  catch C2:R2 ->
                          encode(Proto, Name, Seq, {app, ?INTERNAL_ERROR,
                                                   iolist_to_binary(io_lib:format("encode ~p:~0p", [C2, R2]))})
                  end,
            Conn ! {reply, self(), transport(Mode, Out)}
    end.

encode(Proto, Name, Seq, {reply, Fields}) ->
    iolist_to_binary(chat_thrift_codec:encode_message(Proto, Name, ?REPLY, Seq, Fields));
encode(Proto, Name, Seq, {app, Type, Msg}) ->
    iolist_to_binary(chat_thrift_codec:encode_message(Proto, Name, ?EXCEPTION, Seq,
                                                      chat_thrift_service:app_exception(Type, Msg))).

transport(framed, Bin) -> [<<(byte_size(Bin)):32>>, Bin];
transport(unframed, Bin) -> Bin.

app_error(Proto, Name, Seq, Type, Msg, #{mode := Mode} = S) ->
    case write(transport(Mode, encode(Proto, Name, Seq, {app, Type, Msg})), S) of
        ok -> {ok, S};
        error -> {close, S}
    end.

write(Out, #{sock := Sock}) ->
    case gen_tcp:send(Sock, Out) of
        ok -> ok;
        {error, _} -> error
    end.
