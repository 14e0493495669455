%% @doc The chat logger: every message sent, by conversation.
%%
%% Clients recover with history after a `refresh'. Messages are kept per pair
%% of users, keyed `{A, B, SentAtMs, MsgId}' with A =< B, in an ordered table,
%% so the last N messages of a conversation are N steps back from the end of
%% its key range. The total is capped at `history_max' messages; the oldest
%% stored go first. The front door's shards write concurrently (each message
%% once, under its unique key); anyone reads.
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

-export([store/1, get/3, size/0]).

%% @doc Stores one message (a message map of chat_channel).
-spec store(map()) -> ok.
store(#{id := Id, from := F, to := T, sent_at_ms := At} = Msg) ->
    Key = {min(F, T), max(F, T), At, Id},
    case ets:insert_new(?HISTORY, {Key, Msg}) of
        true ->
            N = chat_tables:next(history_seq),
            case ets:insert_new(?HISTORY_IDX, {N, Key}) of
                true ->
                    ok;
                false ->                        % evicted before it was indexed
                    ets:delete(?HISTORY_IDX, N),
                    ets:delete(?HISTORY, Key)
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
        [{_, Key}] ->
            ets:delete(?HISTORY, Key);
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
    walk(ets:prev(?HISTORY, {A, B, infinity, infinity}), A, B, min(Limit, 10000), []).

walk(_, _, _, Left, Acc) when Left =< 0 ->
    Acc;
walk({A, B, _, _} = Key, A, B, Left, Acc) ->
    case ets:lookup(?HISTORY, Key) of
        [{_, Msg}] -> walk(ets:prev(?HISTORY, Key), A, B, Left - 1, [Msg | Acc]);
        [] -> walk(ets:prev(?HISTORY, Key), A, B, Left, Acc)
    end;
walk(_, _, _, _, Acc) ->
    Acc.

%% @doc Number of messages stored.
-spec size() -> non_neg_integer().
size() ->
    ets:info(?HISTORY, size).
