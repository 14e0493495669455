%% @doc Slot ownership and cluster membership.
%%
%% User ids map to 1024 slots, `slot = UserId mod 1024' (floored, so the slot
%% of a negative id is still 0..1023). Each stub node owns the slot ranges of
%% its `slots' setting. The nodes of a cluster find each other through seeds:
%% every node is started with `--cluster' listing some of the others, and
%% gossips its entry `{Node, Version, Ranges, ThriftPort}' and everything it
%% knows to the seeds and to every node it has heard of (every 500 ms until all
%% seeds are known, then every 5 s), so any node learns the whole cluster from
%% any seed. A node that restarts gossips a newer Version, which replaces its
%% old entry. Entries are never dropped when a node goes down: its slots still
%% belong to it and requests for them are answered with wrong_partition naming
%% it, like Redis Cluster's MOVED.
%%
%% If two nodes claim one slot, the smaller node name (atom order) owns it, on
%% every node alike, and a warning is logged.
-module(chat_partition).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0, slot/1, owners/0, map/0, known_nodes/0, await_cluster/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(FAST_GOSSIP_MS, 500).
-define(SLOW_GOSSIP_MS, 5000).

-type entry() :: {Version :: integer(), [{0..1023, 0..1023}], ThriftPort :: non_neg_integer()}.

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc The slot of a user id.
-spec slot(integer()) -> 0..1023.
slot(User) ->
    ((User rem ?SLOTS) + ?SLOTS) rem ?SLOTS.

%% @doc The owner of every slot (a 1024-tuple of node names or undefined,
%% element Slot+1) and the Thrift port of every known node.
-spec owners() -> {tuple(), #{node() => non_neg_integer()}}.
owners() ->
    gen_server:call(?MODULE, owners).

%% @doc The partition map: one entry per owned range, ascending.
-spec map() -> [#{first := 0..1023, last := 0..1023, node := node(), thrift_port := non_neg_integer()}].
map() ->
    gen_server:call(?MODULE, map).

%% @doc Every node in the map, this one included.
-spec known_nodes() -> [node()].
known_nodes() ->
    gen_server:call(?MODULE, known_nodes).

%% @doc Waits until every seed of the `cluster' setting is in the map.
-spec await_cluster(non_neg_integer()) -> ok | {timeout, [node()]}.
await_cluster(TimeoutMs) ->
    Deadline = erlang:monotonic_time(millisecond) + TimeoutMs,
    await_loop(Deadline).

await_loop(Deadline) ->
    Missing = chat_config:get(cluster) -- known_nodes(),
    case Missing of
        [] -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) >= Deadline of
                true -> {timeout, Missing};
                false -> timer:sleep(50), await_loop(Deadline)
            end
    end.

%%% ----------------------------------------------------------------- server

init([]) ->
    Self = {ets:lookup_element(?META, boot_version, 2), chat_config:get(slots),
            ets:lookup_element(?META, thrift_port, 2)},
    S = #{entries => #{node() => Self}, seeds => chat_config:get(cluster) -- [node()]},
    self() ! gossip,
    {ok, publish(S)}.

handle_call(owners, _From, S) ->
    {reply, {maps:get(owners, S), maps:get(ports, S)}, S};
handle_call(map, _From, S) ->
    {reply, range_list(maps:get(entries, S)), S};
handle_call(known_nodes, _From, S) ->
    {reply, maps:keys(maps:get(entries, S)), S};
handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast({gossip, From, Entries}, S) when is_atom(From), is_map(Entries) ->
    S2 = merge(Entries, S),
    case maps:get(entries, S2) =:= Entries of
        true -> ok;
        false -> send_gossip(From, S2)
    end,
    {noreply, S2};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info(gossip, S) ->
    Known = maps:keys(maps:get(entries, S)),
    Targets = lists:usort(maps:get(seeds, S) ++ Known) -- [node()],
    [send_gossip(N, S) || node() =/= nonode@nohost, N <- Targets],
    Next = case maps:get(seeds, S) -- Known of
               [] -> ?SLOW_GOSSIP_MS;
               _ -> ?FAST_GOSSIP_MS
           end,
    erlang:send_after(Next, self(), gossip),
    {noreply, S};
handle_info(_Msg, S) ->
    {noreply, S}.

%% Never blocks on connection setup: when the node is not connected yet, a
%% short-lived process connects in the background and the next round delivers.
send_gossip(Node, S) ->
    Msg = {'$gen_cast', {gossip, node(), maps:get(entries, S)}},
    case erlang:send({?MODULE, Node}, Msg, [noconnect]) of
        noconnect -> spawn(fun() -> net_kernel:connect_node(Node) end), ok;
        _ -> ok
    end.

-spec merge(#{node() => entry()}, map()) -> map().
merge(Incoming, S) ->
    Old = maps:get(entries, S),
    New = maps:fold(
            fun(Node, {V, R, P} = E, Acc) when is_atom(Node), is_integer(V), is_list(R), is_integer(P) ->
                    case maps:find(Node, Acc) of
                        {ok, {V0, _, _}} when V0 >= V -> Acc;
                        _ when Node =:= node() -> Acc;
                        _ -> Acc#{Node => E}
                    end;
               (_, _, Acc) ->
                    Acc
            end, Old, Incoming),
    case New =:= Old of
        true -> S;
        false -> publish(S#{entries := New})
    end.

%% Recomputes the slot owners and tells the front door's shards.
publish(S) ->
    Entries = maps:get(entries, S),
    Claims = lists:sort([{Slot, Node} || {Node, {_, Ranges, _}} <- maps:to_list(Entries),
                                         {F, L} <- Ranges, Slot <- lists:seq(F, L)]),
    Owners = owners_tuple(Claims),
    Ports = maps:map(fun(_, {_, _, P}) -> P end, Entries),
    S2 = S#{owners => Owners, ports => Ports},
    chat_channel:cast_shards({partition_changed, Owners, Ports}),
    S2.

owners_tuple(Claims) ->
    Arr = lists:foldl(
            fun({Slot, Node}, A) ->
                    case array:get(Slot, A) of
                        undefined -> array:set(Slot, Node, A);
                        Prev ->
                            logger:warning("chat_stub: slot ~b claimed by ~p and ~p; ~p owns it",
                                           [Slot, Prev, Node, min(Prev, Node)]),
                            array:set(Slot, min(Prev, Node), A)
                    end
            end, array:new(?SLOTS, {default, undefined}), Claims),
    list_to_tuple(array:to_list(Arr)).

range_list(Entries) ->
    lists:sort(
      fun(A, B) -> maps:get(first, A) =< maps:get(first, B) end,
      [#{first => F, last => L, node => Node, thrift_port => P}
       || {Node, {_, Ranges, P}} <- maps:to_list(Entries), {F, L} <- Ranges]).
