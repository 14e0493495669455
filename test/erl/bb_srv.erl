%% An Erlang gen_server for test/otp/genserver-erl.test.ts (the client side:
%% node.call and node.cast against it).
-module(bb_srv).
-behaviour(gen_server).
-export([start/1, init/1, handle_call/3, handle_cast/2, handle_info/2]).
start(Name) -> {ok, P} = gen_server:start({local, Name}, bb_srv, [], []), unlink(P), P.
init([]) -> {ok, #{casts => []}}.
handle_call({echo, X}, _From, S) -> {reply, {echo, X}, S};
handle_call({sleep, Ms}, _From, S) -> timer:sleep(Ms), {reply, {slept, Ms}, S};
handle_call({later, Ms}, From, S) -> erlang:send_after(Ms, self(), {later, From}), {noreply, S};
handle_call({stop, R}, _From, S) -> {stop, R, S};
handle_call(casts, _From, #{casts := C} = S) -> {reply, lists:reverse(C), S}.
handle_cast(C, #{casts := Cs} = S) -> {noreply, S#{casts := [C | Cs]}}.
handle_info({later, From}, S) -> gen_server:reply(From, later), {noreply, S};
handle_info(_, S) -> {noreply, S}.
