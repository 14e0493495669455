%% Helpers for the EUnit suites: start the application in this VM with test
%% settings, call the front door, wait for a condition (bounded).
-module(chat_test_util).

-export([start/0, start/1, stop/0, call/1, call/2, async_call/1, await/1, eventually/2,
         flush/0, recv/1]).

-define(DEFAULTS, #{thrift_port => 0, control_port => 0, thrift_ips => ["127.0.0.1"],
                    idle_ms => 60000, grace_ms => 0, window => 5, users => 100, friends => 10}).

start() -> start(#{}).

start(Overrides) ->
    _ = stop(),
    logger:set_primary_config(level, critical),
    ok = chat_stub:start(maps:merge(?DEFAULTS, Overrides)).

stop() ->
    application:stop(chat_stub).

call(Req) -> call(Req, 5000).

call(Req, Timeout) ->
    gen_server:call(chat_channel, Req, Timeout).

%% Makes a call from a helper process; await/1 gets its reply.
async_call(Req) ->
    Parent = self(),
    Ref = make_ref(),
    spawn_link(fun() -> Parent ! {Ref, call(Req, 30000)} end),
    Ref.

await(Ref) ->
    receive {Ref, R} -> R after 30000 -> erlang:error({no_reply, Ref}) end.

%% Waits until Fun() returns true, up to TimeoutMs (a bound, not a timing claim).
eventually(Fun, TimeoutMs) ->
    Deadline = erlang:monotonic_time(millisecond) + TimeoutMs,
    eventually_loop(Fun, Deadline).

eventually_loop(Fun, Deadline) ->
    case Fun() of
        true -> true;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> erlang:error(condition_never_held);
                false -> timer:sleep(10), eventually_loop(Fun, Deadline)
            end
    end.

flush() ->
    receive _ -> flush() after 0 -> ok end.

%% The next message matching nothing in particular, or timeout.
recv(Timeout) ->
    receive M -> M after Timeout -> timeout end.
