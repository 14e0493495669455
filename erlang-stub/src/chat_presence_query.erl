%% @doc Presence queries of a shard: `friends_presence' and `presence'.
%%
%% friends: `[#{user_id, state, idle_seconds}]' of the online and idle
%% friends, ascending; batch: `#{Id => State}'. Ids this node owns are read in
%% the shard (chat_presence, lock-free for seeded users). Ids owned by other
%% nodes are asked of their chat_presence by a worker process, so the shard
%% never waits on the network. Workers are bounded per shard: at most
%% ?MAX_WORKERS run at once, further queries wait in a queue of at most
%% ?MAX_WAITING (started as workers end), and a query beyond that is answered
%% `{error, {unavailable, presence_overloaded}}' at once. So a flood of remote
%% queries costs a bounded number of processes and a bounded amount of
%% memory, and a slow node delays queries instead of piling up processes.
%% Each job carries a deadline (?DEADLINE_MS after the query arrived, the
%% longest a caller is expected to wait; application env
%% `presence_query_deadline_ms'): a job still queued at its deadline is
%% answered `{error, {unavailable, presence_timeout}}' without asking any
%% node, and a running worker bounds its remote calls by the time left, so
%% a slow node does not make the workers serve callers who gave up.
-module(chat_presence_query).

-export([run/4, down/2]).
-export([expired/2]).                           % for the tests

-define(REMOTE_TIMEOUT_MS, 5000).
-define(MAX_WORKERS, 32).
-define(MAX_WAITING, 2000).
-define(DEADLINE_MS, 10000).

%% @doc Answers a query (for the shard, whose state S holds the partition
%% owners); returns `{noreply, S2}'.
-spec run([integer()], gen_server:from(), friends | batch, map()) -> {noreply, map()}.
run(Ids, From, Kind, S) ->
    {Local, Remote} = split(Ids, S),
    Found = case Kind of
                friends -> chat_presence:present(Local);
                batch -> chat_presence:lookup(Local)
            end,
    case maps:size(Remote) of
        0 ->
            chat_shard:reply(From, {ok, result(Kind, Found, Ids)}),
            {noreply, S};
        _ ->
            Deadline = chat_presence:now_ms() + deadline_ms(),
            {noreply, start({From, Kind, Found, Ids, Remote, Deadline}, S)}
    end.

%% @doc A 'DOWN' message of the shard: a worker ended (other refs are ignored).
-spec down({'DOWN', reference(), process, term(), term()}, map()) -> map().
down({'DOWN', Ref, process, _, _}, S) ->
    {Running, Waiting} = workers(S),
    case maps:take(Ref, Running) of
        error ->
            S;
        {_, Running2} ->
            S#{pq => next(Running2, Waiting, chat_presence:now_ms())}
    end.

%% Starts the first queued job that is not past its deadline; the expired
%% ones before it are answered unavailable.
next(Running, Waiting, Now) ->
    case queue:out(Waiting) of
        {{value, Job}, Waiting2} ->
            case expired(Job, Now) of
                true ->
                    chat_shard:reply(element(1, Job), {error, {unavailable, presence_timeout}}),
                    next(Running, Waiting2, Now);
                false ->
                    {Running#{spawn_job(Job) => true}, Waiting2}
            end;
        {empty, _} ->
            {Running, Waiting}
    end.

%% @doc True when a job's caller has stopped waiting (its deadline passed).
-spec expired(tuple(), integer()) -> boolean().
expired({_, _, _, _, _, Deadline}, Now) ->
    Now >= Deadline.

deadline_ms() ->
    case application:get_env(chat_stub, presence_query_deadline_ms) of
        {ok, Ms} when is_integer(Ms), Ms > 0 -> Ms;
        _ -> ?DEADLINE_MS
    end.

workers(S) ->
    maps:get(pq, S, {#{}, queue:new()}).

start({From, _, _, _, _, _} = Job, S) ->
    {Running, Waiting} = workers(S),
    case map_size(Running) < ?MAX_WORKERS of
        true ->
            S#{pq => {Running#{spawn_job(Job) => true}, Waiting}};
        false ->
            case queue:len(Waiting) < ?MAX_WAITING of
                true ->
                    S#{pq => {Running, queue:in(Job, Waiting)}};
                false ->
                    chat_shard:reply(From, {error, {unavailable, presence_overloaded}}),
                    S
            end
    end.

spawn_job({From, Kind, Found, Ids, Remote, Deadline}) ->
    {_, Ref} = spawn_monitor(
                 fun() ->
                         More = lists:append([remote_lookup(Node, NIds, Deadline) || {Node, NIds} <- maps:to_list(Remote)]),
                         chat_shard:reply(From, {ok, result(Kind, Found ++ More, Ids)})
                 end),
    Ref.

split(Ids, #{owners := Owners, all_local := true}) when is_tuple(Owners) ->
    {Ids, #{}};
split(Ids, #{owners := Owners}) ->
    Me = node(),
    lists:foldl(fun(Id, {L, R}) ->
                        case element(chat_partition:slot(Id) + 1, Owners) of
                            Me -> {[Id | L], R};
                            undefined -> {L, R};
                            Node -> {L, maps:update_with(Node, fun(X) -> [Id | X] end, [Id], R)}
                        end
                end, {[], #{}}, Ids).

remote_lookup(Node, Ids, Deadline) ->
    Left = Deadline - chat_presence:now_ms(),
    try gen_server:call({chat_presence, Node}, {lookup, Ids}, max(1, min(?REMOTE_TIMEOUT_MS, Left))) of
        L when is_list(L) -> L;
        _ -> []
    catch exit:_ -> []
    end.

result(friends, Found, _Ids) ->
    [#{user_id => Id, state => St, idle_seconds => Sec}
     || {Id, St, Sec} <- lists:keysort(1, Found), St =/= offline];
result(batch, Found, Ids) ->
    Known = maps:from_list([{Id, St} || {Id, St, _} <- Found]),
    maps:from_list([{Id, maps:get(Id, Known, offline)} || Id <- Ids]).
