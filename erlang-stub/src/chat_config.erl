%% @doc Configuration of the chat stub.
%%
%% The configuration is the application environment of `chat_stub' (set by
%% `bin/chat-stub' from its flags, or by tests with application:set_env/3),
%% validated and frozen into a persistent term when the application starts.
%% Every key has a default; see defaults/0 and the table in README.md.
-module(chat_config).

-export([defaults/0, load/0, get/1, all/0, parse_args/1, parse_slots/1, usage/0]).

-include("chat_stub.hrl").

-define(PT, {chat_stub, config}).

%% @doc Every configuration key with its default value.
-spec defaults() -> #{atom() => term()}.
defaults() ->
    #{thrift_port => 9090,               % 0 = an ephemeral port
      thrift_ips => ["127.0.0.1", "::1"], % the first must bind; the others are best effort
      slots => [{0, 1023}],               % slot ranges this node owns
      users => 1000,                      % users 1..N have seeded friend lists
      friends => 50,                      % friends per seeded user
      seed => 1,                          % seed of the friend graph
      idle_ms => 60000,                   % no activity for this long: idle
      grace_ms => 30000,                  % no held poll for this long: offline (0 = never)
      window => 100,                      % events retained per channel
      history_max => 100000,              % messages kept by the chat logger, all pairs (~40 MB)
      dedup_ms => 120000,                 % how long a clientMsgId is remembered
      max_text => 65536,                  % bytes per message text
      cluster => [],                      % seed nodes of the cluster
      cluster_wait_ms => 30000,           % how long the CLI waits for the seeds
      control_port => 0,                  % text control port on 127.0.0.1 (0 = ephemeral)
      max_connections => 10000,           % Thrift connections
      max_frame => 16777216,              % Thrift frame / message bytes
      max_inflight => 4096,               % concurrent requests per Thrift connection
      shards => 0}.                       % front-door shards (0 = one per scheduler)

%% @doc Reads the application environment, validates it and freezes it.
-spec load() -> ok | {error, term()}.
load() ->
    Env = maps:from_list([{K, V} || {K, V} <- application:get_all_env(chat_stub),
                                    K =/= included_applications]),
    Cfg = maps:merge(defaults(), maps:with(maps:keys(defaults()), Env)),
    case validate(maps:to_list(Cfg)) of
        ok ->
            persistent_term:put(?PT, Cfg),
            ok;
        {error, _} = E ->
            E
    end.

%% @doc One configuration value (the application must have been loaded).
-spec get(atom()) -> term().
get(Key) ->
    maps:get(Key, persistent_term:get(?PT)).

%% @doc The whole frozen configuration.
-spec all() -> map().
all() ->
    persistent_term:get(?PT).

validate([]) -> ok;
validate([{K, V} | T]) ->
    case valid(K, V) of
        true -> validate(T);
        false -> {error, {bad_config, K, V}}
    end.

valid(thrift_port, V) -> is_integer(V) andalso V >= 0 andalso V =< 65535;
valid(control_port, V) -> is_integer(V) andalso V >= 0 andalso V =< 65535;
valid(thrift_ips, V) -> is_list(V) andalso V =/= [] andalso lists:all(fun valid_ip/1, V);
valid(slots, V) ->
    is_list(V) andalso
        lists:all(fun({F, L}) -> is_integer(F) andalso is_integer(L) andalso
                                     F >= 0 andalso F =< L andalso L =< 1023;
                     (_) -> false
                  end, V);
valid(cluster, V) -> is_list(V) andalso lists:all(fun is_atom/1, V);
valid(grace_ms, V) -> is_integer(V) andalso V >= 0;
valid(users, V) -> is_integer(V) andalso V >= 0;
valid(friends, V) -> is_integer(V) andalso V >= 0;
valid(seed, V) -> is_integer(V);
valid(cluster_wait_ms, V) -> is_integer(V) andalso V >= 0;
valid(shards, V) -> is_integer(V) andalso V >= 0 andalso V =< ?SLOTS;
valid(_, V) -> is_integer(V) andalso V > 0.

valid_ip(S) ->
    is_list(S) andalso element(1, inet:parse_address(S)) =:= ok.

%% @doc Parses the command-line flags of bin/chat-stub (the part after the
%% node name and cookie) into application environment pairs.
-spec parse_args([string()]) -> {ok, [{atom(), term()}]} | {error, string()}.
parse_args(Args) ->
    parse_args(Args, []).

parse_args([], Acc) ->
    {ok, lists:reverse(Acc)};
parse_args(["--" ++ Flag | T], Acc) ->
    case string:split(Flag, "=") of
        [Name, Value] -> flag(Name, Value, T, Acc);
        [Name] ->
            case T of
                [Value | T2] -> flag(Name, Value, T2, Acc);
                [] -> {error, "missing value for --" ++ Name}
            end
    end;
parse_args([Other | _], _) ->
    {error, "unexpected argument: " ++ Other}.

flag(Name, Value, T, Acc) ->
    case flag_key(Name) of
        undefined ->
            {error, "unknown flag --" ++ Name};
        {Key, Kind} ->
            case convert(Kind, Value) of
                {ok, V} -> parse_args(T, [{Key, V} | Acc]);
                error -> {error, "bad value for --" ++ Name ++ ": " ++ Value}
            end
    end.

flag_key("thrift-port") -> {thrift_port, int};
flag_key("thrift-ip") -> {thrift_ips, ips};
flag_key("slots") -> {slots, slots};
flag_key("users") -> {users, int};
flag_key("friends") -> {friends, int};
flag_key("seed") -> {seed, int};
flag_key("idle-ms") -> {idle_ms, int};
flag_key("grace-ms") -> {grace_ms, int};
flag_key("window") -> {window, int};
flag_key("history-max") -> {history_max, int};
flag_key("dedup-ms") -> {dedup_ms, int};
flag_key("max-text") -> {max_text, int};
flag_key("cluster") -> {cluster, nodes};
flag_key("cluster-wait-ms") -> {cluster_wait_ms, int};
flag_key("control-port") -> {control_port, int};
flag_key("max-connections") -> {max_connections, int};
flag_key("max-frame") -> {max_frame, int};
flag_key("max-inflight") -> {max_inflight, int};
flag_key("shards") -> {shards, int};
flag_key("log-level") -> {log_level, level};
flag_key(_) -> undefined.

convert(int, V) ->
    try list_to_integer(V) of I -> {ok, I} catch error:badarg -> error end;
convert(ips, V) ->
    {ok, [S || S <- string:lexemes(V, ","), S =/= ""]};
convert(slots, V) ->
    parse_slots(V);
convert(nodes, V) ->
    {ok, [list_to_atom(string:trim(S)) || S <- string:lexemes(V, ","), string:trim(S) =/= ""]};
convert(level, V) ->
    L = list_to_atom(V),
    case lists:member(L, [emergency, alert, critical, error, warning, notice, info, debug, none, all]) of
        true -> {ok, L};
        false -> error
    end.

%% @doc Parses slot ranges such as "0-511,600-700,1000".
-spec parse_slots(string()) -> {ok, [{0..1023, 0..1023}]} | error.
parse_slots(S) ->
    try
        Ranges = [range(R) || R <- string:lexemes(S, ","), R =/= ""],
        case Ranges =/= [] andalso lists:all(fun({F, L}) -> F >= 0 andalso F =< L andalso L =< 1023 end, Ranges) of
            true -> {ok, Ranges};
            false -> error
        end
    catch error:_ -> error
    end.

range(R) ->
    case string:split(string:trim(R), "-") of
        [A, B] -> {list_to_integer(A), list_to_integer(B)};
        [A] -> I = list_to_integer(A), {I, I}
    end.

%% @doc Help text for bin/chat-stub.
-spec usage() -> string().
usage() ->
    "usage: chat-stub --name NODE@HOST [--cookie C] [--epmd-port P]\n"
    "                 [--thrift-port N] [--thrift-ip A,B] [--slots 0-1023]\n"
    "                 [--users N] [--friends N] [--seed N] [--idle-ms MS]\n"
    "                 [--grace-ms MS] [--window N] [--history-max N] [--dedup-ms MS]\n"
    "                 [--max-text BYTES] [--cluster NODE,NODE] [--cluster-wait-ms MS]\n"
    "                 [--control-port N] [--max-connections N] [--max-frame BYTES]\n"
    "                 [--max-inflight N] [--shards N] [--log-level LEVEL]\n".
