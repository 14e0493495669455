%% @doc Owner of the shared ETS tables.
%%
%% The tables outlive crashes of the processes that use them (channels, the
%% front door, the subscription server), so that a restarted server finds the
%% state it needs. This process does nothing else and is started first.
%% The presence table is the exception: chat_presence owns it on purpose, so
%% that the "crash the presence server" fault really loses presence state.
%%
%% ?META rows: {msg_counter, N} (message ids), {history_seq, N} (history
%% eviction order), {delay_ms, N} (fault: delay every reply), {thrift_port, P},
%% {boot_version, V} (this node's partition entry version), {presence_starts, N}.
-module(chat_tables).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

init([]) ->
    Opts = [named_table, public, {read_concurrency, true}, {write_concurrency, true}],
    ets:new(?REGISTRY, [set | Opts]),
    ets:new(?HISTORY, [ordered_set | Opts]),
    ets:new(?HISTORY_IDX, [ordered_set | Opts]),
    ets:new(?DEDUP, [set | Opts]),
    ets:new(?SUBS, [bag | Opts]),
    ets:new(?SUBS_BY_PID, [bag | Opts]),
    ets:new(?META, [set | Opts]),
    ets:insert(?META, [{msg_counter, 0}, {history_seq, 0}, {delay_ms, 0}, {thrift_port, 0},
                       {presence_starts, 0},
                       {boot_version, erlang:system_time(microsecond)}]),
    {ok, #{}}.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(_Msg, S) ->
    {noreply, S}.
