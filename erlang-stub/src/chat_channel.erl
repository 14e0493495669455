%% @doc The front door: the registered `chat_channel' gen_server.
%%
%% Callers send every request of README.md to `chat_channel' on any stub
%% node. This process only routes: it hands each request, unchanged (the
%% caller's `From' included), to the shard that owns the user the request acts
%% for, and the shard replies to the caller directly. So the front door does a
%% few microseconds of work per request and the work itself runs in parallel
%% on every scheduler.
%%
%% Shards: `chat_shard_0' .. `chat_shard_{N-1}' (chat_shard), N = the `shards'
%% setting (default: one per scheduler). Shard K owns the users whose slot
%% satisfies `slot rem N = K': every request acting for a user (send and
%% typing by the sender, the others by their user) is handled by that user's
%% shard, one request at a time, which is what keeps ordering per sender,
%% dedup of a sender's clientMsgId, and login/logout/poll of one user
%% sequential, exactly as with one front-door process. Requests that act for
%% no user (presence batches, partition_map, friends, stats) go round robin.
%% Callers may also call a shard directly (README.md); a shard that gets a
%% request for another shard's user passes it on.
%%
%% Messages from the stub's own processes: `{relay, ...}' from another node's
%% shard goes to the recipient's shard; `{delayed_reply, From, Reply}' (the
%% delay fault) is answered here.
-module(chat_channel).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0, reply/2, delay_ms/0, pass_on/2, init_shards/0, shard_count/0, shard_names/0, shard_of/1,
         shard_alive/2, server/1, owns/2, cast_shards/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-define(SHARDS, {chat_stub, shard_names}).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Replies to a caller, after the injected delay if the delay fault is on.
-spec reply(gen_server:from(), term()) -> ok.
reply(From, Reply) ->
    case delay_ms() of
        0 -> gen_server:reply(From, Reply);
        D -> erlang:send_after(D, ?MODULE, {delayed_reply, From, Reply}), ok
    end.

%% @doc The delay fault's current delay (0: off).
-spec delay_ms() -> non_neg_integer().
delay_ms() ->
    try chat_tables:flag(delay_ms) catch error:badarg -> 0 end.

%%% ------------------------------------------------------------------ shards

%% @doc Names the shards (at application start, after chat_config:load/0).
-spec init_shards() -> ok.
init_shards() ->
    N = case chat_config:get(shards) of
            0 -> erlang:system_info(schedulers_online);
            S -> S
        end,
    Names = [list_to_atom("chat_shard_" ++ integer_to_list(K)) || K <- lists:seq(0, N - 1)],
    persistent_term:put(?SHARDS, list_to_tuple(Names)).

%% @doc Number of shards on this node.
-spec shard_count() -> pos_integer().
shard_count() ->
    tuple_size(persistent_term:get(?SHARDS)).

%% @doc The registered names of the shards, shard 0 first.
-spec shard_names() -> [atom()].
shard_names() ->
    tuple_to_list(persistent_term:get(?SHARDS)).

%% @doc The shard that owns a user: `chat_shard_K', K = slot(User) rem N.
-spec shard_of(integer()) -> atom().
shard_of(User) ->
    Names = persistent_term:get(?SHARDS),
    element(chat_partition:slot(User) rem tuple_size(Names) + 1, Names).

%% @doc Whether Pid, the shard a registry row of User names, still runs: whether
%% it is the process registered under User's shard name (a restarted shard has a
%% new pid and rewrites its rows). Not is_process_alive/1, which, when the process
%% has signals queued, sends it a signal and waits for its answer: on OTP 25 only
%% for non-message signals (monitors, links, exits), on OTP 27 and 29 for queued
%% messages too, which a busy shard always has. So one shard stood still until
%% the other reached its queue: at saturation the 2-core stub used 1.5 of its 2
%% cores and sends scaled x1.1 (bench:stub with BENCH_OTP_ROOT, 7 December 2026).
%% One difference: a shard that crashed keeps its name until it has exited, and
%% is alive here meanwhile (is_process_alive/1 waited for the exit), so an event
%% sent to it then is dropped like those queued at the crash; the message is in
%% the history, and the recipient's next poll gets refresh from the restarted
%% shard. Its event table goes to an heir (chat_user:init/0) so that the exit
%% takes milliseconds, not the half second freeing a million events took.
-spec shard_alive(integer(), pid()) -> boolean().
shard_alive(User, Pid) ->
    whereis(shard_of(User)) =:= Pid.

%% @doc The registered name that should handle Request: its user's shard,
%% or `chat_channel' (which spreads them) for requests that act for no user.
-spec server(term()) -> atom().
server(Req) ->
    case user(Req) of
        none -> ?MODULE;
        U -> shard_of(U)
    end.

%% @doc True when shard Name handles Request itself (rather than passing it on).
-spec owns(atom(), term()) -> boolean().
owns(Name, Req) ->
    case user(Req) of
        none -> true;
        U -> shard_of(U) =:= Name
    end.

%% @doc Casts Msg to every shard (those restarting get it from their init).
-spec cast_shards(term()) -> ok.
cast_shards(Msg) ->
    lists:foreach(fun(Name) -> gen_server:cast(Name, Msg) end, shard_names()).

%% @doc Hands a call to the front door, which routes it to its shard.
-spec pass_on(gen_server:from(), term()) -> ok.
pass_on(From, Req) ->
    try erlang:send(?MODULE, {'$gen_call', From, Req}), ok
    catch error:badarg -> reply(From, {error, {unavailable, {not_running, ?MODULE}}})
    end.

%% The user a request acts for (it routes the request), or none.
user({login, U}) when ?IS_ID(U) -> U;
user({logout, U}) when ?IS_ID(U) -> U;
user({touch, U}) when ?IS_ID(U) -> U;
user({poll, U, _, _}) when ?IS_ID(U) -> U;
user({send, F, _, _, _}) when ?IS_ID(F) -> F;
user({typing, F, _, _}) when ?IS_ID(F) -> F;
user({friends_presence, U}) when ?IS_ID(U) -> U;
user({history, U, _, _}) when ?IS_ID(U) -> U;
user({subscribe, U, _}) when ?IS_ID(U) -> U;
user({unsubscribe, U, _}) when ?IS_ID(U) -> U;
user(_) -> none.

%%% ------------------------------------------------------------------ server

init([]) ->
    {ok, #{next => 0}}.

handle_call(Req, From, S) ->
    {Name, S2} = target(user(Req), S),
    {noreply, forward(Name, {'$gen_call', From, Req}, 0, S2)}.

handle_cast({partition_changed, _, _} = Msg, S) ->
    cast_shards(Msg),
    {noreply, S};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({relay, _Ref, _ReplyTo, To, _Event, _Try} = Msg, S) when ?IS_ID(To) ->
    {noreply, forward(shard_of(To), Msg, 0, S)};
handle_info({delayed_reply, From, Reply}, S) ->
    gen_server:reply(From, Reply),
    {noreply, S};
handle_info({forward, Name, Msg, Try}, S) ->
    {noreply, forward(Name, Msg, Try, S)};
handle_info(_Msg, S) ->
    {noreply, S}.

target(none, #{next := Next} = S) ->
    Names = persistent_term:get(?SHARDS),
    {element(Next rem tuple_size(Names) + 1, Names), S#{next := Next + 1}};
target(U, S) ->
    {shard_of(U), S}.

%% Hands Msg to a shard. A shard being restarted by its supervisor is not
%% registered for a moment: the message is retried (bounded, about half a
%% second), then a call is answered `{error, {unavailable, ...}}'.
forward(Name, Msg, Try, S) ->
    try
        erlang:send(Name, Msg)
    catch
        error:badarg when Try < ?MAX_TRIES ->
            erlang:send_after(?RETRY_MS, self(), {forward, Name, Msg, Try + 1});
        error:badarg ->
            case Msg of
                {'$gen_call', From, _} -> reply(From, {error, {unavailable, {shard_restarting, Name}}});
                _ -> ok
            end
    end,
    S.
