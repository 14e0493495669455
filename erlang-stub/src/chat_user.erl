%% @doc One user's channel: the event queue and the long-poll.
%%
%% One process per online user, under chat_user_sup (transient: restarted if
%% it crashes or is killed, not when it stops normally). It keeps the events
%% queued for the user, each with the next `seq' (1, 2, 3, ...), at most
%% `window' of them (older ones are dropped), and at most one held poll.
%%
%% poll(AfterSeq, TimeoutMs), with Seq the current seq and Oldest the seq of
%% the oldest retained event (Seq + 1 when none is retained):
%%   AfterSeq > Seq, or AfterSeq < Oldest - 1     -> refresh, at once
%%   AfterSeq < Seq                               -> the events after AfterSeq, at once
%%   AfterSeq = Seq                               -> hold until an event arrives
%%                                                   (events) or TimeoutMs ends (continue)
%% A newer poll answers the held one with continue first.
%%
%% Grace: while no poll is held, a timer of `grace_ms' runs (from login and
%% from the end of every poll); when it fires the channel asks the front door
%% to expire it (the user goes offline). grace_ms = 0 disables this.
%%
%% The registry row `{User, Pid, Held}' records the held poll's `From', so
%% that a channel restarted after a crash answers its predecessor's held poll
%% with `refresh' (seq 0: the queue is gone) and subscribers get
%% `{channel_reset, User, 0}'. All replies go through chat_channel:reply/2
%% (the delay fault applies).
-module(chat_user).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/1, poll/4, login/2, deliver/2, stop/2, expire/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

-record(u, {user :: integer(),
            seq = 0 :: non_neg_integer(),
            events = queue:new() :: queue:queue(map()),
            len = 0 :: non_neg_integer(),
            window :: pos_integer(),
            grace_ms :: non_neg_integer(),
            held = none :: none | {gen_server:from(), reference()},
            grace = undefined :: undefined | reference(),
            expiring = false :: boolean()}).

start_link(User) ->
    gen_server:start_link(?MODULE, User, []).

%% @doc Forwards a poll; the channel replies to From itself.
poll(Pid, From, After, Timeout) ->
    gen_server:cast(Pid, {poll, From, After, Timeout}).

%% @doc Replies `{ok, Seq}' to From.
login(Pid, From) ->
    gen_server:cast(Pid, {login, From}).

%% @doc Queues an event: `{message, Msg}' or `{typing, Typing}'.
deliver(Pid, Event) ->
    gen_server:cast(Pid, {event, Event}).

%% @doc Stops the channel (logout or expiry); a held poll gets continue.
stop(Pid, Why) ->
    gen_server:cast(Pid, {stop, Why}).

%% @doc The result map of a poll.
-spec result(events | continue | refresh, integer(), [map()]) -> map().
result(Status, Seq, Events) ->
    #{status => Status, seq => Seq, events => Events}.

%%% ----------------------------------------------------------------- server

init(User) ->
    case ets:lookup(?REGISTRY, User) of
        [{_, Old, Held}] when Old =/= self() ->
            %% Restarted after a crash: the predecessor's state is gone.
            case Held of
                none -> ok;
                From -> chat_channel:reply(From, {ok, result(refresh, 0, [])})
            end,
            chat_subs:notify(User, {channel_reset, User, 0}),
            logger:notice("chat_stub: channel of user ~b restarted; queue reset", [User]);
        _ ->
            ok
    end,
    ets:insert(?REGISTRY, {User, self(), none}),
    S = #u{user = User, window = chat_config:get(window), grace_ms = chat_config:get(grace_ms)},
    {ok, arm_grace(S)}.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast({poll, From, After, Timeout}, S0) ->
    S1 = cancel_grace(release(continue, S0)),
    #u{seq = Seq, len = Len} = S1,
    if
        After > Seq; After < Seq - Len ->
            chat_channel:reply(From, {ok, result(refresh, Seq, [])}),
            {noreply, arm_grace(S1)};
        After < Seq ->
            chat_channel:reply(From, {ok, result(events, Seq, after_seq(After, S1))}),
            {noreply, arm_grace(S1)};
        Timeout =< 0 ->
            chat_channel:reply(From, {ok, result(continue, Seq, [])}),
            {noreply, arm_grace(S1)};
        true ->
            TRef = erlang:start_timer(min(Timeout, 16#7FFFFFFF), self(), poll_timeout),
            set_held(S1#u.user, From),
            {noreply, S1#u{held = {From, TRef}}}
    end;
handle_cast({event, Event}, #u{seq = Seq0, user = User} = S0) ->
    Seq = Seq0 + 1,
    E = event_map(Seq, Event),
    S1 = trim(S0#u{seq = Seq, events = queue:in(E, S0#u.events), len = S0#u.len + 1}),
    chat_subs:notify(User, {chat_event, User, E}),
    case S1#u.held of
        none ->
            {noreply, S1};
        {From, TRef} ->
            erlang:cancel_timer(TRef),
            chat_channel:reply(From, {ok, result(events, Seq, [E])}),
            {noreply, arm_grace(unhold(S1))}
    end;
handle_cast({login, From}, #u{seq = Seq} = S) ->
    chat_channel:reply(From, {ok, Seq}),
    {noreply, S};
handle_cast({stop, _Why}, S) ->
    S1 = release(continue, S),
    {stop, normal, S1};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({timeout, TRef, poll_timeout}, #u{held = {From, TRef}, seq = Seq} = S) ->
    chat_channel:reply(From, {ok, result(continue, Seq, [])}),
    {noreply, arm_grace(unhold(S))};
handle_info({timeout, TRef, grace}, #u{grace = TRef, held = none, user = User} = S) ->
    expire(User),
    {noreply, S#u{grace = undefined, expiring = true}};
handle_info(_Msg, S) ->
    {noreply, S}.

%% @doc Tells the user's front-door shard that this channel's grace period ran out.
expire(User) ->
    gen_server:cast(chat_channel:shard_of(User), {channel_expired, User, self()}).

%%% ---------------------------------------------------------------- helpers

%% Answers the held poll, if any, with Status.
release(_Status, #u{held = none} = S) ->
    S;
release(Status, #u{held = {From, TRef}, seq = Seq} = S) ->
    erlang:cancel_timer(TRef),
    chat_channel:reply(From, {ok, result(Status, Seq, [])}),
    unhold(S).

unhold(#u{user = User} = S) ->
    set_held(User, none),
    S#u{held = none}.

%% Records the held poll in this channel's registry row (and only in its own:
%% after a logout the row may already belong to the user's next channel).
set_held(User, Held) ->
    Self = self(),
    ets:select_replace(?REGISTRY, [{{User, Self, '_'}, [], [{{{const, User}, {const, Self}, {const, Held}}}]}]).

arm_grace(#u{grace_ms = 0} = S) -> S;
arm_grace(#u{expiring = true} = S) -> S;
arm_grace(#u{grace = undefined, grace_ms = G} = S) ->
    S#u{grace = erlang:start_timer(G, self(), grace)};
arm_grace(S) ->
    arm_grace(cancel_grace(S)).

cancel_grace(#u{grace = undefined} = S) -> S;
cancel_grace(#u{grace = TRef} = S) ->
    erlang:cancel_timer(TRef),
    S#u{grace = undefined}.

trim(#u{len = Len, window = W, events = Q} = S) when Len > W ->
    trim(S#u{len = Len - 1, events = queue:drop(Q)});
trim(S) ->
    S.

after_seq(After, #u{events = Q}) ->
    lists:dropwhile(fun(#{seq := Seq}) -> Seq =< After end, queue:to_list(Q)).

event_map(Seq, {message, Msg}) ->
    #{seq => Seq, type => message, message => Msg};
event_map(Seq, {typing, Typing}) ->
    #{seq => Seq, type => typing, typing => Typing}.
