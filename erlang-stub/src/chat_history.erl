%% @doc The chat logger: every message sent, by conversation.
%%
%% Clients recover with history after a `refresh'. Messages are kept per pair
%% of users, keyed `{A, B, SentAtMs, MsgId}' with A =< B, in an ordered table,
%% so the last N messages of a conversation are N steps back from the end of
%% its key range. The total is capped at `history_max' messages, exactly.
%%
%% One log per front-door shard (chat_history_tab_K and its eviction index
%% chat_history_idx_K, owned by chat_tables so that they outlive a shard
%% crash): a shard stores the messages it logs in its own table and indexes
%% them in its own order (the shard's counter), and evicts from its own log,
%% so in the common case no table or counter row is written by two shards
%% (with one shared tree and one shared index, their locks, rows and memory
%% moved between the cores on every send: most of the extra CPU per send of
%% a 2-scheduler VM). A conversation is read from every table and merged by key.
%%
%% The cap stays exact across the shards: a counter of the messages kept
%% (all shards, atomics) is raised by each store, and a store that takes it
%% over history_max evicts until it is not: an evictor first takes one off
%% the counter with a compare-and-swap (so with every shard evicting at once
%% the total never ends below the cap or above it), then claims the next
%% index number of one log with a compare-and-swap on that log's evicted
%% counter and deletes that message. Should it come before the message's
%% index row (the storer was preempted between taking its number and writing
%% the row), it leaves a marker there and the storer, finding it, deletes its
%% own message. Which log gives the message: the evictor's own, holding its
%% oldest, unless another log's oldest is more than ?SLACK_MS older (or the
%% own log holds only the message just stored): then that log's. So the
%% oldest messages go first, in order within a shard's log and to within
%% ?SLACK_MS across the logs.
-module(chat_history).

-include("chat_stub.hrl").

-export([new_tables/1, bind/1, store/1, get/3, size/0, evicted/0, index_rows/0]).

-define(TABS, {?MODULE, tables}).
-define(COUNTERS, {?MODULE, counters}).
-define(OWN, {?MODULE, own}).
-define(SLACK_MS, 1000).
%% Counters: the messages kept (all logs) at ?LIVE; log K's at 8 (K + 1) + 1..3,
%% a cache line of its own (atomics are 8 bytes): numbers given, numbers
%% evicted, and the send time of the last message evicted (its oldest, about).
-define(LIVE, 1).
-define(SEQ(K), (8 * (K) + 9)).
-define(GONE(K), (8 * (K) + 10)).
-define(OLDEST(K), (8 * (K) + 11)).

%% @doc Creates the tables and counters, one log per shard (chat_tables, at start).
-spec new_tables([term()]) -> ok.
new_tables(Opts) ->
    N = chat_channel:shard_count(),
    Name = fun(Base, K) -> list_to_atom(atom_to_list(Base) ++ "_" ++ integer_to_list(K)) end,
    Logs = [{ets:new(Name(?HISTORY, K), [ordered_set | Opts]), ets:new(Name(?HISTORY_IDX, K), [set | Opts])}
            || K <- lists:seq(0, N - 1)],
    persistent_term:put(?TABS, list_to_tuple(Logs)),
    persistent_term:put(?COUNTERS, atomics:new(8 * (N + 1) + 8, [{signed, true}])),
    ok.

%% @doc Makes the calling shard K store into its own log.
-spec bind(non_neg_integer()) -> ok.
bind(K) ->
    put(?OWN, K),
    ok.

%% The calling shard's log (the first one for any other process).
own() ->
    case get(?OWN) of
        undefined -> 0;
        K -> K
    end.

log(K) ->
    element(K + 1, persistent_term:get(?TABS)).

%% @doc Stores one message (a message map of chat_channel).
-spec store(map()) -> ok.
store(#{id := Id, from := F, to := T, sent_at_ms := At} = Msg) ->
    Key = {min(F, T), max(F, T), At, Id},
    K = own(),
    {Tab, Idx} = log(K),
    case ets:insert_new(Tab, {Key, Msg}) of
        true ->
            C = persistent_term:get(?COUNTERS),
            N = atomics:add_get(C, ?SEQ(K), 1),
            N =:= 1 andalso atomics:put(C, ?OLDEST(K), At),
            case ets:insert_new(Idx, {N, Key}) of
                true ->
                    ok;
                false ->                        % evicted before it was indexed
                    ets:delete(Idx, N),
                    ets:delete(Tab, Key)
            end,
            trim(C, atomics:add_get(C, ?LIVE, 1), K, chat_config:get(history_max));
        false ->
            ok
    end.

trim(C, Live, K, Max) when Live > Max ->
    case atomics:compare_exchange(C, ?LIVE, Live, Live - 1) of
        ok -> evict(C, victim(C, K));
        Now -> trim(C, Now, K, Max)
    end;
trim(_, _, _, _) ->
    ok.

%% The log to evict from: the own one (K) unless another's oldest is older
%% by more than ?SLACK_MS, or the own log holds just the message stored.
victim(C, K) ->
    Logs = tuple_size(persistent_term:get(?TABS)),
    Held = fun(V) -> atomics:get(C, ?SEQ(V)) - atomics:get(C, ?GONE(V)) end,
    Others = [{atomics:get(C, ?OLDEST(V)), V} || V <- lists:seq(0, Logs - 1), V =/= K, Held(V) > 0],
    case {Held(K) >= 2, Others} of
        {_, []} -> K;
        {true, _} ->
            {Oldest, V} = lists:min(Others),
            case Oldest + ?SLACK_MS < atomics:get(C, ?OLDEST(K)) of
                true -> V;
                false -> K
            end;
        {false, _} -> element(2, lists:min(Others))
    end.

%% Claims the next number of log V (or, with none left there, of the first
%% log that has one: the counter said that a message is there to evict).
evict(C, V) ->
    Gone = atomics:get(C, ?GONE(V)),
    case Gone < atomics:get(C, ?SEQ(V)) of
        true ->
            case atomics:compare_exchange(C, ?GONE(V), Gone, Gone + 1) of
                ok -> delete(C, V, Gone + 1);
                _ -> evict(C, V)
            end;
        false ->
            Logs = tuple_size(persistent_term:get(?TABS)),
            evict(C, hd([W || W <- lists:seq(0, Logs - 1), atomics:get(C, ?GONE(W)) < atomics:get(C, ?SEQ(W))] ++ [V]))
    end.

delete(C, V, N) ->
    {Tab, Idx} = log(V),
    case ets:take(Idx, N) of
        [{_, {_, _, At, _} = Key}] ->
            atomics:put(C, ?OLDEST(V), At),
            ets:delete(Tab, Key);
        [] ->
            case ets:insert_new(Idx, {N, evicted}) of
                true -> ok;                     % its storer deletes it
                false -> delete(C, V, N)        % the row came in meanwhile
            end
    end.

%% @doc The last Limit messages between User and Peer, oldest first.
-spec get(integer(), integer(), integer()) -> [map()].
get(User, Peer, Limit) ->
    A = min(User, Peer),
    B = max(User, Peer),
    L = min(Limit, 10000),
    %% The last L of each table, merged by key (unique), the last L of those.
    All = lists:merge([walk(Tab, ets:prev(Tab, {A, B, infinity, infinity}), A, B, L, []) || Tab <- tables()]),
    [Msg || {_, Msg} <- lists:nthtail(max(0, length(All) - max(L, 0)), All)].

walk(_, _, _, _, Left, Acc) when Left =< 0 ->
    Acc;
walk(Tab, {A, B, _, _} = Key, A, B, Left, Acc) ->
    case ets:lookup(Tab, Key) of
        [Row] -> walk(Tab, ets:prev(Tab, Key), A, B, Left - 1, [Row | Acc]);
        [] -> walk(Tab, ets:prev(Tab, Key), A, B, Left, Acc)
    end;
walk(_, _, _, _, _, Acc) ->
    Acc.

tables() ->
    [Tab || {Tab, _} <- tuple_to_list(persistent_term:get(?TABS))].

%% @doc Number of messages stored.
-spec size() -> non_neg_integer().
size() ->
    lists:sum([ets:info(Tab, size) || Tab <- tables()]).

%% @doc Number of messages evicted since the start (all logs).
-spec evicted() -> non_neg_integer().
evicted() ->
    C = persistent_term:get(?COUNTERS),
    lists:sum([atomics:get(C, ?GONE(K)) || K <- lists:seq(0, tuple_size(persistent_term:get(?TABS)) - 1)]).

%% @doc The eviction index rows (all logs): `{Rows, Markers}', markers being
%% rows of messages evicted before they were indexed (none once stores end).
-spec index_rows() -> {non_neg_integer(), non_neg_integer()}.
index_rows() ->
    Idxs = [Idx || {_, Idx} <- tuple_to_list(persistent_term:get(?TABS))],
    {lists:sum([ets:info(I, size) || I <- Idxs]),
     lists:sum([length(ets:match(I, {'_', evicted})) || I <- Idxs])}.
