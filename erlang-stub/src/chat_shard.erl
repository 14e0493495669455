%% @doc One shard of the front door: the requests of the users it owns.
%%
%% `chat_channel' (the registered front door) hands every request to the
%% shard that owns the user it acts for: shard K of N owns the users whose
%% `slot rem N = K' (see chat_channel). README.md documents every call term,
%% reply and error. A shard handles its users' requests one at a time, so
%% everything that needs a sequence per user (a sender's messages in order,
%% its clientMsgId dedup, login/logout/poll) is sequential as with a single
%% front door, while the shards run in parallel. The shared state (channel
%% registry, presence, history, dedup) is in public ETS tables written with
%% per-user keys or atomic updates (chat_presence, chat_history).
%%
%% The users' channels (chat_user) live in their shard: a poll is answered,
%% or held and answered later with gen_server:reply/2, by the shard itself, and
%% an event for another shard's user is one message to that shard. The
%% server never blocks on a request;
%% sends to users owned by another node are relayed to that node's
%% chat_channel (which hands them to the recipient's shard there) and
%% answered when it confirms; queries that need other nodes run in a
%% short-lived worker.
%%
%% A user owned by another node gets
%% `{error, {wrong_partition, User, OwnerNode, OwnerThriftPort}}'.
-module(chat_shard).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).
-export([accepted/7, owner/2, online/1, reply/2]).

-define(RELAY_TIMEOUT_MS, 5000).
-define(DEDUP_PURGE_MS, 5000).
-define(MAX_BATCH, 100000).

%% @doc Starts shard K (registered as the K-th name of chat_channel:shard_names/0).
start_link(K) ->
    Name = lists:nth(K + 1, chat_channel:shard_names()),
    gen_server:start_link({local, Name}, ?MODULE, {K, Name}, []).

reply(From, Reply) ->
    chat_channel:reply(From, Reply).

%%% ----------------------------------------------------------------- server

init({K, Name}) ->
    chat_user:init(),
    chat_history:bind(K),
    prune_registry(Name),
    {Owners, Ports} = chat_partition:owners(),
    K =:= 0 andalso erlang:send_after(?DEDUP_PURGE_MS, self(), purge_dedup),
    {ok, #{name => Name, owners => Owners, ports => Ports, all_local => all_local(Owners),
           relays => #{},      % relay monitor ref => {Callers, From, Event, DedupKey, Node} (chat_relay)
           inflight => #{}}}.  % {From, ClientMsgId} => [waiting callers]

%% A restarted shard takes over the channels its crashed predecessor hosted:
%% each comes back empty (seq 0, the held poll answered refresh), its user
%% still online, as after kill_channel.
prune_registry(Name) ->
    [chat_user:adopt(Row)
     || {U, Pid, _} = Row <- ets:tab2list(?REGISTRY), chat_channel:shard_of(U) =:= Name,
        not is_process_alive(Pid)],
    ok.

%% A request for another shard's user (a caller that addressed the wrong
%% shard) is passed on, so each user is still served by one shard only.
handle_call(Req, From, #{name := Name} = S) ->
    case chat_channel:owns(Name, Req) of
        true -> dispatch(Req, From, 0, S);
        false -> chat_channel:pass_on(From, Req), {noreply, S}
    end.

handle_cast({partition_changed, Owners, Ports}, S) ->
    {noreply, S#{owners := Owners, ports := Ports, all_local := all_local(Owners)}};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({'$chat_user', User, Msg}, S) ->
    chat_user:handle(User, Msg),
    {noreply, S};
handle_info({timeout, TRef, {'$chat_user', User, What}}, S) ->
    chat_user:timeout(User, TRef, What),
    {noreply, S};
handle_info({retry, Req, From, Try}, S) ->
    dispatch(Req, From, Try, S);
handle_info({relay, Ref, ReplyTo, To, Event, Try}, S) ->
    {noreply, chat_relay:in(Ref, ReplyTo, To, Event, Try, S)};
handle_info({relay_result, Ref, Result}, S) ->
    {noreply, chat_relay:done(Ref, Result, S)};
handle_info({relay_timeout, Ref}, S) ->
    {noreply, chat_relay:done(Ref, timeout, S)};
handle_info({'DOWN', Ref, process, _, _} = Down, S) ->
    {noreply, chat_presence_query:down(Down, chat_relay:done(Ref, down, S))};
handle_info(purge_dedup, S) ->
    Cut = chat_presence:now_ms() - chat_config:get(dedup_ms),
    ets:select_delete(?DEDUP, [{{'_', '_', '$1'}, [{'<', '$1', Cut}], [true]}]),
    erlang:send_after(?DEDUP_PURGE_MS, self(), purge_dedup),
    {noreply, S};
handle_info(_Msg, S) ->
    {noreply, S}.

%% Runs one request. Try counts the retries of a request waiting for a
%% crashed channel to be restarted or for the presence table to be rebuilt.
dispatch(Req, From, Try, S) ->
    try
        request(Req, From, Try, S)
    catch
        throw:{retry, _} when Try < ?MAX_TRIES ->
            erlang:send_after(?RETRY_MS, self(), {retry, Req, From, Try + 1}),
            {noreply, S};
        throw:{retry, Why} ->
            reply(From, {error, {unavailable, Why}}),
            {noreply, S};
        throw:presence_unavailable when Try < ?MAX_TRIES ->
            erlang:send_after(?RETRY_MS, self(), {retry, Req, From, Try + 1}),
            {noreply, S};
        throw:presence_unavailable ->
            reply(From, {error, {unavailable, presence_restarting}}),
            {noreply, S};
        throw:{reply, Reply} ->
            reply(From, Reply),
            {noreply, S};
        Class:Reason:Stack ->
            logger:error("chat_stub: ~p failed: ~p:~p ~p", [Req, Class, Reason, Stack]),
            reply(From, {error, {internal, Reason}}),
            {noreply, S}
    end.

%%% --------------------------------------------------------------- requests

request({login, U}, From, _Try, S) when ?IS_ID(U) ->
    local(U, S),
    case channel(U) of
        {ok, _} ->
            chat_presence:activity(U),
            chat_user:login(U, From);
        none ->
            _ = start_channel(U),
            reply(From, {ok, 0})
    end,
    {noreply, S};
request({logout, U}, From, _Try, S) when ?IS_ID(U) ->
    local(U, S),
    case channel(U) of
        {ok, _} ->
            ets:delete(?REGISTRY, U),
            chat_presence:logout(U),
            chat_user:stop(U, logout);
        none ->
            ok
    end,
    reply(From, ok),
    {noreply, S};
request({touch, U}, From, _Try, S) when ?IS_ID(U) ->
    local(U, S),
    chat_presence:activity(U),
    reply(From, ok),
    {noreply, S};
request({poll, U, After, Timeout}, From, _Try, S)
  when ?IS_ID(U), is_integer(After), is_integer(Timeout) ->
    local(U, S),
    case channel(U) of
        {ok, _} -> ok;
        none -> start_channel(U)                 % a poll opens the channel
    end,
    chat_user:poll(U, From, After, min(Timeout, 16#7FFFFFFF)),
    {noreply, S};
request({send, F, T, Text, CMId}, From, _Try, S) when ?IS_ID(F), ?IS_ID(T) ->
    local(F, S),
    Bin = text(Text),
    Key = dedup_key(F, CMId),
    FromPid = online(F),
    case dedup_find(Key, S) of
        {done, Msg} ->
            reply(From, {ok, Msg}),
            {noreply, S};
        {inflight, Waiting} ->
            {noreply, S#{inflight := (maps:get(inflight, S))#{Key => [From | Waiting]}}};
        {uncertain, #{to := T0} = Msg} ->
            %% An earlier relay of this message timed out: send the same
            %% message again (the recipient's node drops a repeat).
            deliver(F, FromPid, T0, {message, Msg}, From, Key, S);
        new ->
            Msg = new_message(F, T, Bin, Key),
            deliver(F, FromPid, T, {message, Msg}, From, Key, S)
    end;
request({typing, F, T, Active}, From, _Try, S) when ?IS_ID(F), ?IS_ID(T), is_boolean(Active) ->
    local(F, S),
    FromPid = online(F),
    deliver(F, FromPid, T, {typing, #{from => F, to => T, active => Active}}, From, none, S);
request({friends_presence, U}, From, _Try, S) when ?IS_ID(U) ->
    local(U, S),
    chat_presence_query:run(chat_friends:unsorted(U), From, friends, S);
request({presence, Ids}, From, _Try, S) when is_list(Ids) ->
    case length(Ids) =< ?MAX_BATCH andalso lists:all(fun(I) -> ?IS_ID(I) end, Ids) of
        true -> chat_presence_query:run(Ids, From, batch, S);
        false -> throw({reply, {error, {bad_request, presence_ids}}})
    end;
request({history, U, Peer, Limit}, From, _Try, S) when ?IS_ID(U), ?IS_ID(Peer), is_integer(Limit) ->
    local(U, S),
    reply(From, {ok, chat_history:get(U, Peer, Limit)}),
    {noreply, S};
request(partition_map, From, _Try, S) ->
    reply(From, {ok, chat_partition:map()}),
    {noreply, S};
request({subscribe, U, Pid}, From, _Try, S) when ?IS_ID(U), is_pid(Pid) ->
    local(U, S),
    chat_subs:subscribe(U, Pid, From),
    {noreply, S};
request({unsubscribe, U, Pid}, From, _Try, S) when ?IS_ID(U), is_pid(Pid) ->
    local(U, S),
    chat_subs:unsubscribe(U, Pid, From),
    {noreply, S};
request({friends, U}, From, _Try, S) when ?IS_ID(U) ->
    reply(From, {ok, chat_friends:friends_of(U)}),
    {noreply, S};
request(stats, From, _Try, S) ->
    reply(From, {ok, stats()}),
    {noreply, S};
request(Req, From, _Try, S) ->
    reply(From, {error, {bad_request, Req}}),
    {noreply, S}.

%% Throws the wrong_partition reply unless this node owns U.
local(U, #{owners := Owners, ports := Ports}) ->
    case element(chat_partition:slot(U) + 1, Owners) of
        Me when Me =:= node() -> ok;
        undefined -> throw({reply, {error, {wrong_partition, U, undefined, 0}}});
        Node -> throw({reply, {error, {wrong_partition, U, Node, maps:get(Node, Ports, 0)}}})
    end.

%% True when this node owns every slot (a cluster of one).
all_local(Owners) ->
    Me = node(),
    lists:all(fun(N) -> N =:= Me end, tuple_to_list(Owners)).

owner(U, #{owners := Owners}) ->
    case element(chat_partition:slot(U) + 1, Owners) of
        Me when Me =:= node() -> local;
        Node -> Node
    end.

%% The channel of a local user: {ok, Pid} or none. A registered channel that
%% is dead is being restarted by its supervisor: the request is retried.
%% A channel this shard hosts is found in the shard itself, without reading
%% the shared registry (every request of a user reads its own channel).
channel(U) ->
    case chat_user:hosted(U) of
        true -> {ok, self()};
        false -> registered(U)
    end.

registered(U) ->
    case ets:lookup(?REGISTRY, U) of
        [{_, Pid, _}] ->
            case chat_channel:shard_alive(U, Pid) of
                true -> {ok, Pid};
                false -> throw({retry, {channel_restarting, U}})
            end;
        [] ->
            none
    end.

online(U) ->
    case channel(U) of
        {ok, Pid} -> Pid;
        none -> throw({reply, {error, {not_online, U}}})
    end.

start_channel(U) ->
    Pid = chat_user:open(U),
    chat_presence:login(U),
    Pid.

text(T) when is_binary(T) ->
    check_text(T);
text(T) when is_list(T) ->
    case unicode:characters_to_binary(T) of
        B when is_binary(B) -> check_text(B);
        _ -> throw({reply, {error, {bad_request, text}}})
    end;
text(_) ->
    throw({reply, {error, {bad_request, text}}}).

check_text(B) ->
    case byte_size(B) =< chat_config:get(max_text) of
        true -> B;
        false -> throw({reply, {error, {bad_request, text_too_long}}})
    end.

dedup_key(_, undefined) -> none;
dedup_key(_, <<>>) -> none;
dedup_key(_, []) -> none;
dedup_key(F, C) when is_binary(C) -> {F, C};
dedup_key(F, C) when is_list(C) ->
    case unicode:characters_to_binary(C) of
        B when is_binary(B) -> {F, B};
        _ -> throw({reply, {error, {bad_request, client_msg_id}}})
    end;
dedup_key(_, _) ->
    throw({reply, {error, {bad_request, client_msg_id}}}).

dedup_find(none, _) ->
    new;
dedup_find(Key, #{inflight := In}) ->
    case ets:lookup(?DEDUP, Key) of
        [{_, {uncertain, Msg}, _}] ->
            case maps:find(Key, In) of
                {ok, W} -> {inflight, W};
                error -> {uncertain, Msg}
            end;
        [{_, Msg, _}] -> {done, Msg};
        [] ->
            case maps:find(Key, In) of
                {ok, W} -> {inflight, W};
                error -> new
            end
    end.

%% Message ids: a per-node counter times 1024 plus the sender's slot, unique
%% in the cluster because only the owner of that slot makes ids for it.
new_message(F, T, Text, Key) ->
    N = chat_tables:next(msg_counter),
    #{id => N * ?SLOTS + chat_partition:slot(F), from => F, to => T, text => Text,
      sent_at_ms => erlang:system_time(millisecond),
      client_msg_id => case Key of {_, C} -> C; none -> undefined end}.

%% Queues Event for T (here or on T's node) and, for messages, echoes it to
%% the sender's own channel once T's side accepted it.
deliver(F, FromPid, T, Event, From, Key, S) ->
    case owner(T, S) of
        local ->
            ToPid = case channel(T) of
                        {ok, P} -> P;
                        none -> throw({reply, {error, {not_online, T}}})
                    end,
            %% Another shard handles the event later, and drops it if the
            %% channel closed meanwhile: log the message first, so a login
            %% after that finds it in the history.
            log_first(Event),
            chat_user:deliver(ToPid, T, Event),
            {noreply, logged(F, FromPid, T, Event, [From], Key, S)};
        undefined ->
            throw({reply, {error, {not_online, T}}});
        Node ->
            {noreply, chat_relay:out(Node, F, T, Event, From, Key, S)}
    end.

log_first({message, Msg}) -> chat_history:store(Msg);
log_first(_) -> ok.

%% The recipient's side has the event: echo (unless the sender wrote to
%% itself), log, remember, answer. T is undefined for a relayed event.
-spec accepted(integer(), pid(), integer() | undefined, term(), [gen_server:from()], term(), map()) -> map().
accepted(F, FromPid, T, Event, Callers, Key, S) ->
    log_first(Event),
    logged(F, FromPid, T, Event, Callers, Key, S).

%% accepted/7 once the message is in the history.
logged(F, FromPid, T, {message, Msg}, Callers, Key, S) ->
    case F =:= T of
        true -> ok;
        false -> chat_user:deliver(FromPid, F, {message, Msg})
    end,
    case Key of
        none -> ok;
        _ -> ets:insert(?DEDUP, {Key, Msg, chat_presence:now_ms()})
    end,
    chat_presence:activity(F),
    [reply(C, {ok, Msg}) || C <- Callers],
    S;
logged(F, _FromPid, _T, {typing, _}, Callers, _Key, S) ->
    chat_presence:activity(F),
    [reply(C, ok) || C <- Callers],
    S.

%%% ------------------------------------------------------------------ stats

stats() ->
    Held = ets:select_count(?REGISTRY, [{{'_', '_', '$1'}, [{'=/=', '$1', none}], [true]}]),
    #{node => node(),
      online => ets:info(?REGISTRY, size),
      present => chat_presence:online_count(),
      held_polls => Held,
      messages => chat_tables:value(msg_counter),
      history => chat_history:size(),
      dedup => ets:info(?DEDUP, size),
      subscriptions => chat_subs:count(),
      thrift_connections => chat_thrift_listener:connection_count(),
      delay_ms => chat_channel:delay_ms(),
      shards => chat_channel:shard_count(),
      processes => erlang:system_info(process_count)}.
