%% @doc The supervision tree.
%%
%%   chat_stub_sup            rest_for_one
%%     chat_tables            owner of the shared ETS tables
%%     chat_thrift_sup        rest_for_one
%%       chat_thrift_conn_sup simple_one_for_one, temporary: one chat_thrift_conn per socket
%%       chat_thrift_listener listening sockets and acceptors
%%     chat_core_sup          one_for_one
%%       chat_subs            subscriptions and their monitors
%%       chat_partition       slot owners, cluster gossip
%%       chat_presence        presence table and idle sweeper
%%       chat_shard_sup       one_for_one
%%         chat_shard_0..N-1  the front door's shards: the requests and the channels
%%                            (chat_user) of the users they own
%%       chat_channel         the front door: routes each request to its user's shard
%%       chat_fault           fault injection
%%     chat_control           the text control port
%%
%% The core is one_for_one so that a crash of one server (say the presence
%% server, on purpose) restarts that server alone; the servers that depend on
%% each other cope with a restart (see chat_channel and chat_presence). The
%% Thrift listener starts before the core so that the partition entry knows
%% the bound port.
-module(chat_stub_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, top).

init(top) ->
    {ok, {#{strategy => rest_for_one, intensity => 5, period => 10},
          [worker(chat_tables),
           sup(chat_thrift_sup, thrift),
           sup(chat_core_sup, core),
           worker(chat_control)]}};
init(thrift) ->
    {ok, {#{strategy => rest_for_one, intensity => 10, period => 10},
          [sup(chat_thrift_conn_sup, conns),
           worker(chat_thrift_listener)]}};
init(conns) ->
    {ok, {#{strategy => simple_one_for_one, intensity => 100, period => 1},
          [#{id => chat_thrift_conn, start => {chat_thrift_conn, start_link, []},
             restart => temporary, shutdown => 1000}]}};
init(core) ->
    {ok, {#{strategy => one_for_one, intensity => 50, period => 10},
          [worker(chat_subs),
           worker(chat_partition),
           worker(chat_presence),
           sup(chat_shard_sup, shards),
           worker(chat_channel),
           worker(chat_fault)]}};
init(shards) ->
    {ok, {#{strategy => one_for_one, intensity => 50, period => 10},
          [#{id => {chat_shard, K}, start => {chat_shard, start_link, [K]},
             restart => permanent, shutdown => 5000}
           || K <- lists:seq(0, chat_channel:shard_count() - 1)]}}.

worker(M) ->
    #{id => M, start => {M, start_link, []}, restart => permanent, shutdown => 5000}.

sup(Name, Kind) ->
    #{id => Name, start => {supervisor, start_link, [{local, Name}, ?MODULE, Kind]},
      restart => permanent, shutdown => infinity, type => supervisor}.
