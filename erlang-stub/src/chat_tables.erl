%% @doc Owner of the shared ETS tables.
%%
%% The tables outlive crashes of the processes that use them (channels, the
%% front door, the subscription server), so that a restarted server finds the
%% state it needs. This process does nothing else and is started first.
%% The presence table is the exception: chat_presence owns it on purpose, so
%% that the "crash the presence server" fault really loses presence state.
%% It is also the heir of each shard's private event table, which it deletes
%% when the shard dies (chat_user:init/0).
%%
%% ?META rows: {thrift_port, P},
%% {boot_version, V} (this node's partition entry version), {presence_starts, N}.
%% The counters every send bumps, the message id counter and the history
%% eviction order (history_seq: messages indexed, history_evicted: how many of
%% them are gone), are an `atomics' array (next/1, value/1, claim/2): the
%% shards update them in parallel without taking an ETS lock. They start
%% again at 0 with the tables. Two values every reply and every queued event
%% read, the delay fault's delay (delay_ms) and the number of subscriptions
%% (subs: notifications skip the subscription table while it is 0), are in a
%% second array (flag/1, set_flag/2), off the cache line the shards keep
%% writing, so reading them costs no lock and no cache miss.
-module(chat_tables).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0, next/1, value/1, claim/2, flag/1, set_flag/2]).

-define(COUNTERS, {?MODULE, counters}).
-define(FLAGS, {?MODULE, flags}).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

init([]) ->
    Opts = [named_table, public, {read_concurrency, true}, {write_concurrency, true}],
    %% The tables every send writes (the registry's held poll four times a
    %% send, the history and its index, dedup) take no read_concurrency: it
    %% makes each write check every scheduler's reader group, for reads
    %% that are rare on them.
    Written = [named_table, public, {write_concurrency, true}],
    ets:new(?REGISTRY, [set | Written]),
    ok = chat_history:new_tables(Written),
    ets:new(?HISTORY_IDX, [set | Written]),
    ets:new(?DEDUP, [set | Written]),
    ets:new(?SUBS, [bag | Opts]),
    ets:new(?SUBS_BY_PID, [bag | Opts]),
    ets:new(?META, [set | Opts]),
    persistent_term:put(?COUNTERS, atomics:new(3, [{signed, false}])),
    persistent_term:put(?FLAGS, atomics:new(2, [{signed, false}])),
    ets:insert(?META, [{thrift_port, 0},
                       {presence_starts, 0},
                       {boot_version, erlang:system_time(microsecond)}]),
    {ok, #{}}.

-type counter() :: msg_counter | history_seq | history_evicted.

%% @doc Bumps a counter and returns its new value.
-spec next(counter()) -> pos_integer().
next(Counter) ->
    atomics:add_get(persistent_term:get(?COUNTERS), index(Counter), 1).

%% @doc A counter's current value.
-spec value(counter()) -> non_neg_integer().
value(Counter) ->
    atomics:get(persistent_term:get(?COUNTERS), index(Counter)).

%% @doc Bumps a counter from Seen to Seen + 1 if nobody changed it meanwhile.
-spec claim(counter(), non_neg_integer()) -> boolean().
claim(Counter, Seen) ->
    atomics:compare_exchange(persistent_term:get(?COUNTERS), index(Counter), Seen, Seen + 1) =:= ok.

-type flag() :: delay_ms | subs.

%% @doc A read-mostly value (0 until set).
-spec flag(flag()) -> non_neg_integer().
flag(Flag) ->
    atomics:get(persistent_term:get(?FLAGS), flag_index(Flag)).

%% @doc Sets a read-mostly value.
-spec set_flag(flag(), non_neg_integer()) -> ok.
set_flag(Flag, Value) ->
    atomics:put(persistent_term:get(?FLAGS), flag_index(Flag), Value).

flag_index(delay_ms) -> 1;
flag_index(subs) -> 2.

index(msg_counter) -> 1;
index(history_seq) -> 2;
index(history_evicted) -> 3.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast(_Msg, S) ->
    {noreply, S}.

%% A crashed shard's event table (chat_user:init/0 makes this process its
%% heir): the channels it held are gone with the shard, so is the table.
handle_info({'ETS-TRANSFER', Tab, _Shard, chat_user_events}, S) ->
    ets:delete(Tab),
    {noreply, S};
handle_info(_Msg, S) ->
    {noreply, S}.
