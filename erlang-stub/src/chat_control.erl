%% @doc The control port: fault commands as text, for clients without Erlang
%% distribution (the TypeScript test helper uses it).
%%
%% TCP on 127.0.0.1, port `control_port' (0 = ephemeral; the ready line
%% says which). One command per line, one JSON object per reply line, always
%% with "ok": true or false (and "error" when false):
%%   ping                     {"ok":true,"node":"..."}
%%   stats                    {"ok":true,"stats":{...}}
%%   partition_map            {"ok":true,"ranges":[{"first":0,...}]}
%%   kill_channel USER        {"ok":true} or {"ok":false,"error":"not_online"}
%%   crash_presence           {"ok":true}
%%   disconnect_peers         {"ok":true,"nodes":[...]}
%%   delay MS                 {"ok":true}
%%   close_thrift             {"ok":true,"closed":N}
%%   refuse MS                {"ok":true}
-module(chat_control).
-behaviour(gen_server).

-export([start_link/0, port/0, run/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc The bound control port.
-spec port() -> inet:port_number().
port() ->
    gen_server:call(?MODULE, port).

init([]) ->
    process_flag(trap_exit, true),
    %% After a restart, listen on the port bound the first time.
    Want = case ets:lookup(chat_meta, control_port) of
               [{_, P0}] -> P0;
               [] -> chat_config:get(control_port)
           end,
    case gen_tcp:listen(Want,
                        [binary, {packet, line}, {active, false}, {reuseaddr, true},
                         {ip, {127, 0, 0, 1}}, {recbuf, 65536}]) of
        {ok, L} ->
            {ok, Port} = inet:port(L),
            ets:insert(chat_meta, {control_port, Port}),
            Me = self(),
            spawn_link(fun() -> accept_loop(L, Me) end),
            {ok, #{listen => L, port => Port}};
        {error, Why} ->
            {stop, {control_listen, Why}}
    end.

handle_call(port, _From, #{port := P} = S) ->
    {reply, P, S};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({'EXIT', _Pid, normal}, S) ->
    {noreply, S};
handle_info({'EXIT', _Pid, Reason}, S) ->
    {stop, Reason, S};
handle_info(_Msg, S) ->
    {noreply, S}.

accept_loop(L, Server) ->
    case gen_tcp:accept(L) of
        {ok, Sock} ->
            %% Handlers are not linked: a broken client ends only its handler.
            Pid = spawn(fun() -> receive go -> serve(Sock) end end),
            ok = gen_tcp:controlling_process(Sock, Pid),
            Pid ! go,
            accept_loop(L, Server);
        {error, closed} ->
            ok;
        {error, _} ->
            timer:sleep(50),
            accept_loop(L, Server)
    end.

serve(Sock) ->
    case gen_tcp:recv(Sock, 0) of
        {ok, Line} ->
            Reply = try run(string:trim(binary_to_list(Line)))
                    catch C:R -> #{ok => false, error => iolist_to_binary(io_lib:format("~p:~0p", [C, R]))}
                    end,
            case gen_tcp:send(Sock, [chat_json:encode(Reply), $\n]) of
                ok -> serve(Sock);
                {error, _} -> gen_tcp:close(Sock)
            end;
        {error, _} ->
            gen_tcp:close(Sock)
    end.

%% @doc Runs one control command line and returns the reply map.
-spec run(string()) -> map().
run(Line) ->
    case string:lexemes(Line, " ") of
        ["ping"] -> #{ok => true, node => node()};
        ["stats"] -> {ok, St} = gen_server:call(chat_channel, stats), #{ok => true, stats => St};
        ["partition_map"] -> #{ok => true, ranges => chat_partition:map()};
        ["kill_channel", U] -> result(chat_fault:kill_channel(list_to_integer(U)));
        ["crash_presence"] -> result(chat_fault:crash_presence());
        ["disconnect_peers"] -> {ok, Nodes} = chat_fault:disconnect_peers(), #{ok => true, nodes => Nodes};
        ["delay", Ms] -> result(chat_fault:delay(list_to_integer(Ms)));
        ["close_thrift"] -> {ok, N} = chat_fault:close_thrift(), #{ok => true, closed => N};
        ["refuse", Ms] -> result(chat_fault:refuse_connections(list_to_integer(Ms)));
        ["refuse_connections", Ms] -> result(chat_fault:refuse_connections(list_to_integer(Ms)));
        _ -> #{ok => false, error => <<"unknown command">>}
    end.

result(ok) -> #{ok => true};
result({error, Why}) -> #{ok => false, error => iolist_to_binary(io_lib:format("~0p", [Why]))}.
