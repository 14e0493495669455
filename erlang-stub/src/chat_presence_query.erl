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
-module(chat_presence_query).

-export([run/4, down/2]).

-define(REMOTE_TIMEOUT_MS, 5000).
-define(MAX_WORKERS, 32).
-define(MAX_WAITING, 2000).

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
            {noreply, start({From, Kind, Found, Ids, Remote}, S)}
    end.

%% @doc A 'DOWN' message of the shard: a worker ended (other refs are ignored).
-spec down({'DOWN', reference(), process, term(), term()}, map()) -> map().
down({'DOWN', Ref, process, _, _}, S) ->
    {Running, Waiting} = workers(S),
    case maps:take(Ref, Running) of
        error ->
            S;
        {_, Running2} ->
            case queue:out(Waiting) of
                {{value, Job}, Waiting2} ->
                    S#{pq => {Running2#{spawn_job(Job) => true}, Waiting2}};
                {empty, _} ->
                    S#{pq => {Running2, Waiting}}
            end
    end.

workers(S) ->
    maps:get(pq, S, {#{}, queue:new()}).

start({From, _, _, _, _} = Job, S) ->
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

spawn_job({From, Kind, Found, Ids, Remote}) ->
    {_, Ref} = spawn_monitor(
                 fun() ->
                         More = lists:append([remote_lookup(Node, NIds) || {Node, NIds} <- maps:to_list(Remote)]),
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

remote_lookup(Node, Ids) ->
    try gen_server:call({chat_presence, Node}, {lookup, Ids}, ?REMOTE_TIMEOUT_MS) of
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
