%% Shared definitions of the chat_stub application.
%%
%% Tables (all named, public, owned by chat_tables unless noted, so that they
%% survive crashes of the processes that use them):
%%   ?REGISTRY     set      {UserId, ShardPid, HeldFrom | none}     one row per online user (the shard keeps its channel)
%%   ?PRESENCE     set      {UserId, LastActiveMonoMs, online | idle} (owned by chat_presence:
%%                          lost and rebuilt when the presence server crashes)
%%   ?HISTORY_K    ordered  {{A, B, SentAtMs, MsgId}, Msg}          A =< B, the chat-logger store,
%%                          one table per shard, named ?HISTORY ++ "_K" (chat_history:new_tables/1)
%%   ?HISTORY_IDX  set      {InsertCounter, {Table, HistoryKey} | evicted}   eviction order (chat_history)
%%   ?DEDUP        set      {{FromId, ClientMsgId}, Msg, InsertedMonoMs}
%%   ?SUBS         bag      {UserId, SubscriberPid}
%%   ?SUBS_BY_PID  bag      {SubscriberPid, UserId}
%%   ?META         set      counters and runtime switches (see chat_tables)
%% Not here: a shard's channels keep their retained events in the shard's own
%% private table, {{UserId, Seq}, Event} (chat_user), which dies with the shard.

-define(REGISTRY, chat_registry).
-define(PRESENCE, chat_presence_tab).
-define(HISTORY, chat_history_tab).
-define(HISTORY_IDX, chat_history_idx).
-define(DEDUP, chat_dedup).
-define(SUBS, chat_subs_tab).
-define(SUBS_BY_PID, chat_subs_by_pid).
-define(META, chat_meta).

%% Number of hash slots: slot = UserId mod ?SLOTS.
-define(SLOTS, 1024).

%% A user id is any Thrift i64.
-define(IS_ID(X), (is_integer(X) andalso X >= -16#8000000000000000 andalso X =< 16#7FFFFFFFFFFFFFFF)).

%% Waiting for a server being restarted by its supervisor (a channel, a shard,
%% the presence table): retry every RETRY_MS, at most MAX_TRIES times (~0.5 s).
-define(RETRY_MS, 2).
-define(MAX_TRIES, 250).
