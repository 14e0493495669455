%% @doc The chat logger: every message sent, by conversation.
%%
%% Clients recover with history after a `refresh'. Messages are kept per pair
%% of users, keyed `{A, B, SentAtMs, MsgId}' with A =< B, in an ordered table,
%% so the last N messages of a conversation are N steps back from the end of
%% its key range. The total is capped at `history_max' messages; the oldest
%% stored go first. The front door's shards write concurrently (each message
%% once, under its unique key); anyone reads.
%%
%% One such table per shard (chat_history_tab_K, owned by chat_tables so that it
%% outlives a shard crash): a shard stores the messages it logs in its own
%% table, so the shards' inserts never touch the same tree (with one shared
%% ordered_set, the tree's locks and nodes bounced between the cores on every
%% send: the history was most of the extra CPU per send of a 2-scheduler VM).
%% A conversation is read from every table and merged by key; eviction order
%% stays global (below), so an evictor may delete from another shard's table.
%%
%% Eviction order without a shared lock: each stored message takes the next
%% number of the history_seq counter (chat_tables, atomics) and is indexed
%% under it in a hash table; the evicted counter says how many of them are
%% gone. An evictor claims the next number with a compare-and-swap (so the
%% cap is exact with every shard evicting at once) and deletes that message.
%% Should it come before the message's index row (the storer was preempted
%% between taking its number and writing the row), it leaves a marker there
%% and the storer, finding it, deletes its own message.
-module(chat_history).

-include("chat_stub.hrl").

-export([new_tables/1, bind/1, store/1, get/3, size/0]).

-define(TABS, {?MODULE, tables}).

%% @doc Creates the tables, one per shard (chat_tables, at start).
-spec new_tables([term()]) -> ok.
new_tables(Opts) ->
    Names = [list_to_atom(atom_to_list(?HISTORY) ++ "_" ++ integer_to_list(K))
             || K <- lists:seq(0, chat_channel:shard_count() - 1)],
    [ets:new(Name, [ordered_set | Opts]) || Name <- Names],
    persistent_term:put(?TABS, list_to_tuple(Names)),
    ok.

%% @doc Makes the calling shard K store into its own table.
-spec bind(non_neg_integer()) -> ok.
bind(K) ->
    put(?TABS, element(K + 1, persistent_term:get(?TABS))),
    ok.

tables() ->
    tuple_to_list(persistent_term:get(?TABS)).

%% The calling shard's table (the first one for any other process).
own() ->
    case get(?TABS) of
        undefined -> element(1, persistent_term:get(?TABS));
        Tab -> Tab
    end.

%% @doc Stores one message (a message map of chat_channel).
-spec store(map()) -> ok.
store(#{id := Id, from := F, to := T, sent_at_ms := At} = Msg) ->
    Key = {min(F, T), max(F, T), At, Id},
    Tab = own(),
    case ets:insert_new(Tab, {Key, Msg}) of
        true ->
            N = chat_tables:next(history_seq),
            case ets:insert_new(?HISTORY_IDX, {N, {Tab, Key}}) of
                true ->
                    ok;
                false ->                        % evicted before it was indexed
                    ets:delete(?HISTORY_IDX, N),
                    ets:delete(Tab, Key)
            end,
            trim(chat_config:get(history_max));
        false ->
            ok
    end.

trim(Max) ->
    Gone = chat_tables:value(history_evicted),
    case chat_tables:value(history_seq) - Gone > Max of
        true ->
            case chat_tables:claim(history_evicted, Gone) of
                true -> evict(Gone + 1);
                false -> ok                     % another shard evicted it
            end,
            trim(Max);
        false ->
            ok
    end.

evict(N) ->
    case ets:take(?HISTORY_IDX, N) of
        [{_, {Tab, Key}}] ->
            ets:delete(Tab, Key);
        [] ->
            case ets:insert_new(?HISTORY_IDX, {N, evicted}) of
                true -> ok;                     % its storer deletes it
                false -> evict(N)               % the row came in meanwhile
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

%% @doc Number of messages stored.
-spec size() -> non_neg_integer().
size() ->
    lists:sum([ets:info(Tab, size) || Tab <- tables()]).
