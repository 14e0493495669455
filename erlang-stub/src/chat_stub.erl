%% @doc Entry points: the command line (bin/chat-stub runs main/0) and
%% start/1 / stop/0 for Erlang code and tests.
-module(chat_stub).

-export([main/0, start/1, stop/0, ready_info/0]).

%% @doc Starts the application with the given settings (see chat_config:defaults/0).
-spec start(#{atom() => term()} | [{atom(), term()}]) -> ok | {error, term()}.
start(Settings) when is_map(Settings) ->
    start(maps:to_list(Settings));
start(Settings) ->
    _ = application:load(chat_stub),
    [application:unset_env(chat_stub, K) || K <- maps:keys(chat_config:defaults())],
    [application:set_env(chat_stub, K, V) || {K, V} <- Settings],
    case application:ensure_all_started(chat_stub) of
        {ok, _} -> ok;
        {error, _} = E -> E
    end.

%% @doc Stops the application.
-spec stop() -> ok | {error, term()}.
stop() ->
    application:stop(chat_stub).

%% @doc Run by bin/chat-stub: parses the flags after -extra, starts the
%% application, waits for the cluster seeds, prints the JSON ready line.
main() ->
    try main1()
    catch C:R:St -> fail(1, "failed: ~p:~p ~p~n", [C, R, St])
    end.

main1() ->
    case chat_config:parse_args(init:get_plain_arguments()) of
        {error, Msg} ->
            fail(2, "~s~n~s", [Msg, chat_config:usage()]);
        {ok, Pairs} ->
            Level = proplists:get_value(log_level, Pairs, warning),
            ok = logger:set_primary_config(level, Level),
            case start([P || {K, _} = P <- Pairs, K =/= log_level]) of
                ok -> ok;
                {error, Why} -> fail(1, "cannot start: ~p~n", [Why])
            end,
            Complete = case chat_partition:await_cluster(chat_config:get(cluster_wait_ms)) of
                           ok -> true;
                           {timeout, Missing} ->
                               io:format(standard_error, "chat-stub: cluster seeds not reached: ~p~n", [Missing]),
                               false
                       end,
            Info = (ready_info())#{cluster_complete => Complete},
            io:put_chars(standard_io, [chat_json:encode(Info), $\n])
    end.

fail(Code, Fmt, Args) ->
    io:format(standard_error, "chat-stub: " ++ Fmt, Args),
    erlang:halt(Code).

%% @doc What the ready line says about this node.
-spec ready_info() -> map().
ready_info() ->
    #{node => node(),
      thrift_port => chat_thrift_listener:port(),
      control_port => chat_control:port(),
      slots => [[F, L] || {F, L} <- chat_config:get(slots)],
      users => chat_config:get(users),
      friends => chat_friends:degree(),
      seed => chat_config:get(seed),
      idle_ms => chat_config:get(idle_ms),
      grace_ms => chat_config:get(grace_ms),
      window => chat_config:get(window),
      shards => chat_channel:shard_count(),
      cluster => chat_partition:known_nodes(),
      cookie => atom_to_binary(erlang:get_cookie(), utf8),
      otp_release => list_to_binary(erlang:system_info(otp_release)),
      os_pid => list_to_integer(os:getpid())}.
