%% @doc Sends to users of another node: the relay between two nodes' shards.
%%
%% A shard (chat_shard) whose sender writes to a user owned by another node
%% sends `{relay, Ref, ShardPid, To, Event, 0}' to that node's chat_channel,
%% which hands it to the recipient's shard; that shard queues the event and
%% answers `{relay_result, Ref, ok | {error, _}}'. The sender's shard echoes,
%% logs and remembers the message once the answer is ok. These functions run
%% in the shards and work on the shard's state map (`relays', `inflight').
%%
%% When no answer comes within ?TIMEOUT_MS (or the other node's chat_channel
%% is down) the outcome is unknown: the event may have been queued there. The
%% callers get `{error, {unavailable, {relay_timeout | node_down, Node}}}' (the
%% documented "retry later" error, not not_online, which would be a lie), and
%% a message with a ClientMsgId is remembered as uncertain in the dedup table:
%% a retry with the same ClientMsgId sends the same message again (same id)
%% instead of a new one, and the recipient's node drops a message it already
%% queued (it remembers relayed ClientMsgIds too). A late answer still
%% completes the send (echo, log, dedup), without anyone left to reply to,
%% if it comes within dedup_ms of the timeout; then the entry and its monitor
%% are dropped (the remote shard may have died with the relay while the
%% remote chat_channel stays up, so no answer and no 'DOWN' would ever come).
-module(chat_relay).

-include("chat_stub.hrl").

-export([out/7, in/6, done/3]).

-define(TIMEOUT_MS, 5000).

%% @doc Relays Event (from F, for T owned by Node); the caller From is
%% answered by done/3.
-spec out(node(), integer(), integer(), term(), gen_server:from(), term(), map()) -> map().
out(Node, F, T, Event, From, Key, S) ->
    Ref = erlang:monitor(process, {chat_channel, Node}),
    erlang:send({chat_channel, Node}, {relay, Ref, self(), T, Event, 0}),
    erlang:send_after(timeout_ms(), self(), {relay_timeout, Ref}),
    Relays = (maps:get(relays, S))#{Ref => {[From], F, Event, Key, Node}},
    Inflight = case Key of
                   none -> maps:get(inflight, S);
                   _ -> (maps:get(inflight, S))#{Key => []}
               end,
    S#{relays := Relays, inflight := Inflight}.

timeout_ms() ->
    case application:get_env(chat_stub, relay_timeout_ms) of
        {ok, Ms} when is_integer(Ms), Ms > 0 -> Ms;
        _ -> ?TIMEOUT_MS
    end.

late_ms() ->
    try chat_config:get(dedup_ms) of
        Ms when is_integer(Ms), Ms > 0 -> Ms;
        _ -> 120000
    catch _:_ -> 120000
    end.

%% @doc Another node relays an event for a user this node owns. A message
%% with a ClientMsgId that was queued already (the sender's retry after a
%% timeout) is answered ok and not queued again.
-spec in(reference(), pid(), integer(), term(), non_neg_integer(), map()) -> map().
in(Ref, ReplyTo, To, Event, Try, S) ->
    Result = try
                 case chat_shard:owner(To, S) of
                     local -> ok;
                     _ -> throw({reply, {error, {not_online, To}}})
                 end,
                 Pid = chat_shard:online(To),
                 case seen(Event) of
                     true -> ok;
                     false -> queue_in(Pid, To, Event)
                 end,
                 ok
             catch
                 throw:{reply, Err} -> Err;
                 throw:{retry, _} when Try < ?MAX_TRIES ->
                     erlang:send_after(?RETRY_MS, self(), {relay, Ref, ReplyTo, To, Event, Try + 1}),
                     pending;
                 throw:{retry, Why} -> {error, {unavailable, Why}}
             end,
    case Result of
        pending -> ok;
        _ -> ReplyTo ! {relay_result, Ref, Result}
    end,
    S.

queue_in(Pid, To, {message, Msg} = Event) ->
    %% Logged first: a channel closed before Pid handles the event drops it,
    %% and the recipient's next login reads it from the history.
    chat_history:store(Msg),
    chat_user:deliver(Pid, To, Event),
    case relay_key(Msg) of
        none -> ok;
        Key -> ets:insert(?DEDUP, {Key, Msg, chat_presence:now_ms()})
    end;
queue_in(Pid, To, Event) ->
    chat_user:deliver(Pid, To, Event).

%% True for a relayed message this node queued already.
seen({message, #{id := Id} = Msg}) ->
    case relay_key(Msg) of
        none -> false;
        Key ->
            case ets:lookup(?DEDUP, Key) of
                [{_, #{id := Id}, _}] -> true;
                _ -> false
            end
    end;
seen(_) ->
    false.

%% The dedup key a recipient's node keeps for a relayed message (the sender
%% is owned by another node, so it never meets the sender's own keys).
relay_key(#{from := F, client_msg_id := C}) when is_binary(C) -> {relayed, F, C};
relay_key(_) -> none.

%% @doc The relay Ref ended: the other node's answer, `timeout', or `down'.
-spec done(reference(), term(), map()) -> map().
done(Ref, Result, #{relays := Relays, inflight := In} = S) ->
    case maps:find(Ref, Relays) of
        error ->
            S;
        {ok, {late, F, Event, Key, _Node}} ->
            %% Timed out before: its callers were answered; only a late ok
            %% still counts (echo, log, dedup).
            case Result of
                timeout ->
                    %% The second timer (dedup_ms after the first): no late
                    %% answer is awaited any longer (the remote shard may have
                    %% died after taking the relay while its node stays up).
                    erlang:demonitor(Ref, [flush]),
                    S#{relays := maps:remove(Ref, Relays)};
                ok ->
                    erlang:demonitor(Ref, [flush]),
                    ok_done(F, Event, [], Key, S#{relays := maps:remove(Ref, Relays)});
                _ ->
                    erlang:demonitor(Ref, [flush]),
                    S#{relays := maps:remove(Ref, Relays)}
            end;
        {ok, {Callers0, F, Event, Key, Node}} ->
            {Waiting, In2} = case Key of
                                 none -> {[], In};
                                 _ -> {maps:get(Key, In, []), maps:remove(Key, In)}
                             end,
            Callers = Callers0 ++ Waiting,
            S2 = S#{inflight := In2},
            case Result of
                ok ->
                    erlang:demonitor(Ref, [flush]),
                    ok_done(F, Event, Callers, Key, S2#{relays := maps:remove(Ref, Relays)});
                {error, _} = Err ->
                    erlang:demonitor(Ref, [flush]),
                    [chat_shard:reply(C, Err) || C <- Callers],
                    S2#{relays := maps:remove(Ref, Relays)};
                timeout ->
                    %% Unknown outcome: keep the monitor and the entry, so a
                    %% late answer still completes the send.
                    uncertain(Event, Key),
                    [chat_shard:reply(C, {error, {unavailable, {relay_timeout, Node}}}) || C <- Callers],
                    %% ...for dedup_ms at most (as long as a retry is deduplicated).
                    erlang:send_after(late_ms(), self(), {relay_timeout, Ref}),
                    S2#{relays := Relays#{Ref := {late, F, Event, Key, Node}}};
                down ->
                    uncertain(Event, Key),
                    [chat_shard:reply(C, {error, {unavailable, {node_down, Node}}}) || C <- Callers],
                    S2#{relays := maps:remove(Ref, Relays)}
            end
    end.

uncertain({message, Msg}, Key) when Key =/= none ->
    %% insert_new: a message already confirmed (a late answer) stays confirmed.
    ets:insert_new(?DEDUP, {Key, {uncertain, Msg}, chat_presence:now_ms()}),
    ok;
uncertain(_, _) ->
    ok.

%% The other node queued the event: echo, log, remember and answer, once
%% per message (a late answer and a retry may both confirm it).
ok_done(F, {message, _} = Event, Callers, Key, S) when Key =/= none ->
    case ets:lookup(?DEDUP, Key) of
        [{_, #{id := _} = Done, _}] ->
            [chat_shard:reply(C, {ok, Done}) || C <- Callers],
            S;
        _ ->
            ok_done1(F, Event, Callers, Key, S)
    end;
ok_done(F, Event, Callers, Key, S) ->
    ok_done1(F, Event, Callers, Key, S).

ok_done1(F, Event, Callers, Key, S) ->
    case ets:lookup(?REGISTRY, F) of
        [{_, FromPid, _}] ->
            chat_shard:accepted(F, FromPid, undefined, Event, Callers, Key, S);
        [] ->
            %% The sender went offline meanwhile: still logged and answered.
            case Event of
                {message, Msg} ->
                    chat_history:store(Msg),
                    Key =:= none orelse ets:insert(?DEDUP, {Key, Msg, chat_presence:now_ms()}),
                    [chat_shard:reply(C, {ok, Msg}) || C <- Callers];
                {typing, _} ->
                    [chat_shard:reply(C, ok) || C <- Callers]
            end,
            S
    end.
