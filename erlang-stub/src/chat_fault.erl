%% @doc Fault injection, for tests that prove clients recover.
%%
%% The registered `chat_fault' gen_server takes these calls (over distribution
%% too: gen_server:call({chat_fault, Node}, Cmd)); the functions below call it
%% on the local node. The control port (chat_control) exposes the same
%% commands as text. Replies of chat_fault itself are never delayed.
%%
%%   {kill_channel, User}       the user's channel is reset as by a crash: empty
%%                              (seq 0); a held poll gets refresh.
%%                              -> ok | {error, not_online}
%%   crash_presence             the presence server raises; the supervisor
%%                              restarts it and it rebuilds presence from the
%%                              channels (idle times lost). Replies once the new
%%                              server runs. -> ok
%%   disconnect_peers           replies {ok, Nodes}, then ~100 ms later
%%                              disconnects every connected node (visible and
%%                              hidden, including the caller's).
%%   {delay, Ms}                every reply of chat_channel (both front doors)
%%                              is sent Ms later; 0 turns it off. -> ok
%%   close_thrift               closes every Thrift connection. -> {ok, Count}
%%   {refuse_connections, Ms}   closes the Thrift listening sockets for Ms
%%                              (new connections are refused), then reopens
%%                              them on the same port; while refusing, a new
%%                              command replaces the time left (0 reopens
%%                              now). -> ok
-module(chat_fault).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0, kill_channel/1, crash_presence/0, disconnect_peers/0, delay/1,
         close_thrift/0, refuse_connections/1, command/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(CALL_TIMEOUT, 10000).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

kill_channel(User) -> command({kill_channel, User}).
crash_presence() -> command(crash_presence).
disconnect_peers() -> command(disconnect_peers).
delay(Ms) -> command({delay, Ms}).
close_thrift() -> command(close_thrift).
refuse_connections(Ms) -> command({refuse_connections, Ms}).

%% @doc Runs one fault command on the local node.
-spec command(term()) -> term().
command(Cmd) ->
    gen_server:call(?MODULE, Cmd, ?CALL_TIMEOUT).

init([]) ->
    {ok, #{}}.

handle_call({kill_channel, User}, _From, S) when ?IS_ID(User) ->
    case ets:lookup(?REGISTRY, User) of
        [{_, Pid, _}] ->
            chat_user:kill(Pid, User),
            {reply, ok, S};
        [] ->
            {reply, {error, not_online}, S}
    end;
handle_call(crash_presence, _From, S) ->
    Old = whereis(chat_presence),
    gen_server:cast(chat_presence, crash),
    {reply, wait_restart(chat_presence, Old, 200), S};
handle_call(disconnect_peers, _From, S) ->
    Nodes = nodes(connected),
    erlang:send_after(100, self(), disconnect),
    {reply, {ok, Nodes}, S};
handle_call({delay, Ms}, _From, S) when is_integer(Ms), Ms >= 0 ->
    chat_tables:set_flag(delay_ms, min(Ms, 16#FFFFFFFF)),   % erlang:send_after/3's limit
    {reply, ok, S};
handle_call(close_thrift, _From, S) ->
    {reply, {ok, chat_thrift_listener:close_all()}, S};
handle_call({refuse_connections, Ms}, _From, S) when is_integer(Ms), Ms >= 0 ->
    {reply, chat_thrift_listener:refuse(Ms), S};
handle_call(Other, _From, S) ->
    {reply, {error, {unknown_fault, Other}}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(disconnect, S) ->
    [erlang:disconnect_node(N) || N <- nodes(connected)],
    {noreply, S};
handle_info(_Msg, S) ->
    {noreply, S}.

wait_restart(_Name, _Old, 0) ->
    {error, not_restarted};
wait_restart(Name, Old, N) ->
    case whereis(Name) of
        Pid when is_pid(Pid), Pid =/= Old -> ok;
        _ -> timer:sleep(5), wait_restart(Name, Old, N - 1)
    end.
