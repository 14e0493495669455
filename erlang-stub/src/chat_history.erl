%% @doc The chat logger: every message sent, by conversation.
%%
%% Clients recover with history after a `refresh'. Messages are kept per pair
%% of users, keyed `{A, B, SentAtMs, MsgId}' with A =< B, in an ordered table,
%% so the last N messages of a conversation are N steps back from the end of
%% its key range. The total is capped at `history_max' messages; the oldest
%% stored go first. The front door's shards write concurrently (each message
%% once, under its unique key; eviction tolerates a concurrent evictor);
%% anyone reads.
-module(chat_history).

-include("chat_stub.hrl").

-export([store/1, get/3, size/0]).

%% @doc Stores one message (a message map of chat_channel).
-spec store(map()) -> ok.
store(#{id := Id, from := F, to := T, sent_at_ms := At} = Msg) ->
    Key = {min(F, T), max(F, T), At, Id},
    case ets:insert_new(?HISTORY, {Key, Msg}) of
        true ->
            N = ets:update_counter(?META, history_seq, 1),
            ets:insert(?HISTORY_IDX, {N, Key}),
            trim(chat_config:get(history_max));
        false ->
            ok
    end.

trim(Max) ->
    case ets:info(?HISTORY_IDX, size) > Max of
        true ->
            case ets:first(?HISTORY_IDX) of
                '$end_of_table' -> ok;
                First ->
                    case ets:take(?HISTORY_IDX, First) of
                        [{_, Key}] -> ets:delete(?HISTORY, Key);
                        [] -> ok                  % another shard evicted it
                    end,
                    trim(Max)
            end;
        false ->
            ok
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
