%% @doc The Thrift listener: listening sockets and their acceptors.
%%
%% Binds `thrift_port' (0 = ephemeral) on the first address of `thrift_ips'
%% (127.0.0.1 by default) and then, best effort, the same port on the others
%% (::1), records the port in ?META, and runs one acceptor process per
%% listening socket. Each accepted socket gets its own chat_thrift_conn
%% process under chat_thrift_conn_sup; a bad connection can only end itself.
%%
%% Faults: refuse/1 closes the listening sockets for a while (connecting gets
%% ECONNREFUSED) and reopens them on the same port (called again while
%% refusing, it replaces the time left: refuse(0) reopens now); close_all/0
%% closes every connection.
-module(chat_thrift_listener).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0, port/0, refuse/1, close_all/0, connection_count/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(REOPEN_TRIES, 100).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc The bound Thrift port.
-spec port() -> inet:port_number().
port() ->
    ets:lookup_element(?META, thrift_port, 2).

%% @doc Refuses new connections for Ms milliseconds.
-spec refuse(non_neg_integer()) -> ok | {error, term()}.
refuse(Ms) ->
    gen_server:call(?MODULE, {refuse, Ms}).

%% @doc Closes every Thrift connection; returns how many there were.
-spec close_all() -> non_neg_integer().
close_all() ->
    Pids = [P || {_, P, _, _} <- supervisor:which_children(chat_thrift_conn_sup), is_pid(P)],
    [chat_thrift_conn:close(P) || P <- Pids],
    length(Pids).

%% @doc Number of open Thrift connections.
-spec connection_count() -> non_neg_integer().
connection_count() ->
    try proplists:get_value(active, supervisor:count_children(chat_thrift_conn_sup), 0)
    catch exit:_ -> 0
    end.

%%% ----------------------------------------------------------------- server

init([]) ->
    process_flag(trap_exit, true),
    Ips = [element(2, inet:parse_address(A)) || A <- chat_config:get(thrift_ips)],
    case open(Ips, chat_config:get(thrift_port)) of
        {ok, Port, Socks} ->
            ets:insert(?META, {thrift_port, Port}),
            S = #{ips => Ips, port => Port, socks => Socks, acceptors => #{}, refusing => false},
            {ok, start_acceptors(S)};
        {error, Why} ->
            {stop, {thrift_listen, Why}}
    end.

%% The first address must bind; the others follow its port, best effort.
open([First | Rest], Port) ->
    case listen(First, Port) of
        {ok, L} ->
            {ok, Bound} = inet:port(L),
            Others = [S || Ip <- Rest, {ok, S} <- [listen(Ip, Bound)]],
            {ok, Bound, [L | Others]};
        {error, _} = E ->
            E
    end.

listen(Ip, Port) ->
    Family = case tuple_size(Ip) of 8 -> [inet6, {ipv6_v6only, true}]; 4 -> [inet] end,
    gen_tcp:listen(Port, Family ++ [binary, {packet, raw}, {active, false}, {reuseaddr, true},
                                    {nodelay, true}, {backlog, 1024}, {ip, Ip}]).

start_acceptors(#{socks := Socks} = S) ->
    Me = self(),
    Acc = maps:from_list([{spawn_link(fun() -> accept_loop(L, Me) end), L} || L <- Socks]),
    S#{acceptors := Acc}.

handle_call({refuse, Ms}, _From, #{socks := Socks, refusing := false} = S) ->
    [gen_tcp:close(L) || L <- Socks],
    TRef = erlang:start_timer(Ms, self(), reopen),
    {reply, ok, S#{socks := [], refusing := TRef}};
handle_call({refuse, Ms}, _From, #{refusing := Old} = S) ->
    %% Already refusing: the new duration replaces what was left (0 = reopen now).
    erlang:cancel_timer(Old),
    {reply, ok, S#{refusing := erlang:start_timer(Ms, self(), reopen)}};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({timeout, TRef, reopen}, #{refusing := TRef} = S) ->
    reopen(?REOPEN_TRIES, S);
handle_info({reopen, Left}, S) ->
    reopen(Left, S);
handle_info({'EXIT', Pid, Reason}, #{acceptors := Acc} = S) ->
    case maps:take(Pid, Acc) of
        {L, Acc2} when Reason =/= normal ->
            %% An acceptor crashed on an open socket: replace it.
            Me = self(),
            {noreply, S#{acceptors := Acc2#{spawn_link(fun() -> accept_loop(L, Me) end) => L}}};
        {_, Acc2} ->
            {noreply, S#{acceptors := Acc2}};
        error ->
            {noreply, S}
    end;
handle_info(_Msg, S) ->
    {noreply, S}.

reopen(0, _S) ->
    erlang:error(cannot_reopen_thrift_port);
reopen(Left, #{ips := Ips, port := Port} = S) ->
    case open(Ips, Port) of
        {ok, Port, Socks} ->
            {noreply, start_acceptors(S#{socks := Socks, refusing := false})};
        _ ->
            erlang:send_after(50, self(), {reopen, Left - 1}),
            {noreply, S}
    end.

terminate(_Reason, #{socks := Socks}) ->
    [gen_tcp:close(L) || L <- Socks],
    ok.

%%% --------------------------------------------------------------- acceptor

accept_loop(L, Listener) ->
    case gen_tcp:accept(L) of
        {ok, Sock} ->
            hand_over(Sock),
            accept_loop(L, Listener);
        {error, closed} ->
            exit(normal);
        {error, _} ->
            %% e.g. emfile: back off instead of spinning.
            timer:sleep(50),
            accept_loop(L, Listener)
    end.

hand_over(Sock) ->
    case connection_count() < chat_config:get(max_connections) of
        false ->
            gen_tcp:close(Sock);
        true ->
            case supervisor:start_child(chat_thrift_conn_sup, [Sock]) of
                {ok, Pid} ->
                    case gen_tcp:controlling_process(Sock, Pid) of
                        ok -> chat_thrift_conn:go(Pid);
                        {error, _} -> gen_tcp:close(Sock), chat_thrift_conn:close(Pid)
                    end;
                _ ->
                    gen_tcp:close(Sock)
            end
    end.
