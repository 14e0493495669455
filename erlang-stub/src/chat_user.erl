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
%% The registry row `{User, Pid, Polls}' lists the `From' of every poll that
%% may still need an answer: the shard adds a poll's From before it hands the
%% poll over (mark_poll/3), and the channel removes it once answered and keeps
%% it while it holds the poll. A channel restarted after a crash answers every
%% poll of its predecessor's row with `refresh' (seq 0: the queue is gone),
%% the held one and those still in the dead channel's mailbox alike, and
%% subscribers get `{channel_reset, User, 0}'. Both sides change the row by
%% compare-and-swap (ets:select_replace/2 on the whole row). All replies go
%% through chat_channel:reply/2 (the delay fault applies).
-module(chat_user).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/1, poll/4, mark_poll/3, login/2, deliver/2, stop/2, expire/1]).
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
    case take_row(User, 100) of
        {ok, Polls} ->
            %% Restarted after a crash: the predecessor's state is gone.
            [chat_channel:reply(From, {ok, result(refresh, 0, [])}) || From <- Polls],
            chat_subs:notify(User, {channel_reset, User, 0}),
            logger:notice("chat_stub: channel of user ~b restarted; queue reset", [User]);
        none ->
            ok
    end,
    S = #u{user = User, window = chat_config:get(window), grace_ms = chat_config:get(grace_ms)},
    {ok, arm_grace(S)}.

%% Makes the registry row this channel's: {ok, Polls} with the predecessor's
%% polls when it had a row, none for a new channel.
take_row(User, 0) ->
    ets:insert(?REGISTRY, {User, self(), []}),
    none;
take_row(User, Tries) ->
    case ets:lookup(?REGISTRY, User) of
        [{_, Old, Polls} = Row] when Old =/= self() ->
            case ets:select_replace(?REGISTRY, [{Row, [], [{const, {User, self(), []}}]}]) of
                1 -> {ok, Polls};
                0 -> take_row(User, Tries - 1)
            end;
        _ ->
            case ets:insert_new(?REGISTRY, {User, self(), []}) of
                true -> none;
                false -> take_row(User, Tries - 1)
            end
    end.

%% @doc Called by the shard before poll/4: records From in the channel's
%% registry row, so that a poll still in the mailbox of a channel that
%% crashes is answered (refresh) by its successor. Throws `{retry, _}' when
%% the row is no longer Pid's (the channel is being restarted).
-spec mark_poll(integer(), pid(), gen_server:from()) -> ok.
mark_poll(User, Pid, From) ->
    mark_poll(User, Pid, From, 100).

mark_poll(User, Pid, From, Tries) ->
    case ets:lookup(?REGISTRY, User) of
        [{_, Pid, Polls} = Row] when Tries > 0 ->
            case ets:select_replace(?REGISTRY, [{Row, [], [{const, {User, Pid, [From | Polls]}}]}]) of
                1 -> ok;
                0 -> mark_poll(User, Pid, From, Tries - 1)
            end;
        _ ->
            throw({retry, {channel_restarting, User}})
    end.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast({poll, From, After, Timeout}, S0) ->
    %% The older held poll (answered continue) and this one leave the row,
    %% unless this one is held.
    Older = case S0#u.held of none -> []; {F0, _} -> [F0] end,
    S1 = cancel_grace(release(continue, S0#u{held = none}, S0#u.held)),
    #u{seq = Seq, len = Len, user = User} = S1,
    if
        After > Seq; After < Seq - Len ->
            chat_channel:reply(From, {ok, result(refresh, Seq, [])}),
            polls_done(User, [From | Older]),
            {noreply, arm_grace(S1)};
        After < Seq ->
            chat_channel:reply(From, {ok, result(events, Seq, after_seq(After, S1))}),
            polls_done(User, [From | Older]),
            {noreply, arm_grace(S1)};
        Timeout =< 0 ->
            chat_channel:reply(From, {ok, result(continue, Seq, [])}),
            polls_done(User, [From | Older]),
            {noreply, arm_grace(S1)};
        true ->
            TRef = erlang:start_timer(min(Timeout, 16#7FFFFFFF), self(), poll_timeout),
            polls_done(User, Older),
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
release(Status, #u{held = Held} = S) ->
    unhold(release(Status, S, Held)).

%% Answers Held (a held poll or none) without touching the registry row.
release(_Status, S, none) ->
    S;
release(Status, #u{seq = Seq} = S, {From, TRef}) ->
    erlang:cancel_timer(TRef),
    chat_channel:reply(From, {ok, result(Status, Seq, [])}),
    S.

unhold(#u{user = User, held = {From, _}} = S) ->
    polls_done(User, [From]),
    S#u{held = none};
unhold(S) ->
    S.

%% Removes answered polls from this channel's registry row (and only from
%% its own: after a logout the row may already belong to the next channel).
polls_done(_User, []) ->
    ok;
polls_done(User, Done) ->
    polls_done(User, Done, 100).

polls_done(User, Done, Tries) ->
    Self = self(),
    case ets:lookup(?REGISTRY, User) of
        [{_, Self, Polls} = Row] when Tries > 0 ->
            case ets:select_replace(?REGISTRY, [{Row, [], [{const, {User, Self, Polls -- Done}}]}]) of
                1 -> ok;
                0 -> polls_done(User, Done, Tries - 1)
            end;
        _ ->
            ok
    end.

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
