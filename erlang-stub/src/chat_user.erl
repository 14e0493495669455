%% @doc One user's channel: the event queue and the long-poll.
%%
%% A channel is not a process of its own: it lives in the front-door shard
%% that owns the user (chat_shard), as a record in that shard's process
%% dictionary, and every function below runs in that shard. So a send whose
%% sender and recipient belong to one shard queues both events without a
%% single message between processes, a poll is answered by the process that
%% took it, and only a waiting poller gets a message. A shard queues an event
%% for another shard's user by sending that shard `{'$chat_user', User, Msg}'
%% (deliver/3 does it), which the shard hands to handle/2.
%%
%% It keeps the events queued for the user, each with the next `seq' (1, 2,
%% 3, ...), at most `window' of them (older ones are dropped), and at most one
%% held poll. poll(AfterSeq, TimeoutMs), with Seq the current seq and Oldest
%% the seq of the oldest retained event (Seq + 1 when none is retained):
%%   AfterSeq > Seq, or AfterSeq < Oldest - 1     -> refresh, at once
%%   AfterSeq < Seq                               -> the events after AfterSeq, at once
%%   AfterSeq = Seq                               -> hold until an event arrives
%%                                                   (events) or TimeoutMs ends (continue)
%% A newer poll answers the held one with continue first.
%%
%% Grace: while no poll is held, a timer of `grace_ms' runs (from login and
%% from the end of every poll); when it fires the user goes offline.
%% grace_ms = 0 disables this.
%%
%% The registry row `{User, ShardPid, Held}' names the hosting shard and the
%% held poll's `From' (or none). A crash (the kill_channel fault, reset/2)
%% empties the channel: seq 0, the held poll answered `refresh', subscribers
%% told `{channel_reset, User, 0}'. A restarted shard does the same for every
%% channel its predecessor hosted (adopt/1), answering the held polls its
%% registry rows name. All replies go through chat_channel:reply/2 (the delay
%% fault applies).
%%
%% The retained events are not in the record but in the shard's own ETS table
%% (init/0, one row `{{User, Seq}, Event}' per event), so the shard's heap
%% holds only the small records: with 10,000 users and a window of 100 the
%% events are ~160 MB, which on the heap every major collection of the shard
%% copied (on a dirty scheduler, while the shard and every caller waiting for
%% it stood still). The table dies with the shard, as the channels it hosts do:
%% chat_tables is its heir and deletes it, so a crashing shard hands it over at
%% once instead of freeing up to a million rows while it exits (its name stays
%% registered until it has exited, and chat_channel:shard_alive/2 goes by the
%% name).
-module(chat_user).

-include("chat_stub.hrl").

-export([init/0, open/1, adopt/1, hosted/1, poll/4, login/2, deliver/3, stop/2, kill/2, handle/2, timeout/3]).

-record(u, {user :: integer(),
            seq = 0 :: non_neg_integer(),
            len = 0 :: non_neg_integer(),         % events retained: seqs Seq-Len+1..Seq
            window :: pos_integer(),
            grace_ms :: non_neg_integer(),
            held = none :: none | {gen_server:from(), reference()},
            grace = undefined :: undefined | reference()}).

-define(KEY(U), {?MODULE, U}).
-define(TAB, {?MODULE, events}).

%% @doc Creates the calling shard's event table (chat_shard:init/1, before
%% any channel is opened or adopted).
-spec init() -> ok.
init() ->
    Heir = case whereis(chat_tables) of
               undefined -> [];
               Tables -> [{heir, Tables, chat_user_events}]
           end,
    put(?TAB, ets:new(chat_user_events, [set, private | Heir])),
    ok.

%% @doc Opens a new, empty channel for User in this shard and registers it.
-spec open(integer()) -> pid().
open(User) ->
    ets:insert(?REGISTRY, {User, self(), none}),
    put(?KEY(User), arm_grace(fresh(User))),
    self().

%% @doc Run by a restarted shard for a registry row of its dead predecessor:
%% the channel comes back empty (as after kill_channel), the user stays online.
-spec adopt({integer(), pid(), term()}) -> ok.
adopt({User, _Dead, Held}) ->
    ets:insert(?REGISTRY, {User, self(), none}),
    case Held of
        none -> ok;
        From -> chat_channel:reply(From, {ok, result(refresh, 0, [])})
    end,
    chat_subs:notify(User, {channel_reset, User, 0}),
    put(?KEY(User), arm_grace(fresh(User))),
    ok.

fresh(User) ->
    #u{user = User, window = chat_config:get(window), grace_ms = chat_config:get(grace_ms)}.

%% @doc True when this shard hosts User's channel (its registry row names
%% this process: open/1 and adopt/1 write both, logout and expiry remove both).
-spec hosted(integer()) -> boolean().
hosted(User) ->
    get(?KEY(User)) =/= undefined.

%% @doc Takes a poll (in the user's shard); the reply goes to From.
poll(User, From, After, Timeout) ->
    handle(User, {poll, From, After, Timeout}).

%% @doc Replies `{ok, Seq}' to From (in the user's shard).
login(User, From) ->
    handle(User, {login, From}).

%% @doc Queues an event, `{message, Msg}' or `{typing, Typing}', on User's
%% channel hosted by shard Pid (this shard, or a message to that one).
-spec deliver(pid(), integer(), term()) -> ok.
deliver(Pid, User, Event) when Pid =:= self() ->
    handle(User, {event, Event});
deliver(Pid, User, Event) ->
    Pid ! {'$chat_user', User, {event, Event}},
    ok.

%% @doc Closes the channel (logout or expiry, in the user's shard); a held
%% poll gets continue.
stop(User, _Why) ->
    handle(User, stop).

%% @doc The kill_channel fault: shard Pid empties User's channel.
-spec kill(pid(), integer()) -> ok.
kill(Pid, User) ->
    Pid ! {'$chat_user', User, kill},
    ok.

%% @doc The result map of a poll.
-spec result(events | continue | refresh, integer(), [map()]) -> map().
result(Status, Seq, Events) ->
    #{status => Status, seq => Seq, events => Events}.

%%% ---------------------------------------------------------------- the channel

%% @doc Runs one channel message in the hosting shard. A message for a
%% channel this shard no longer hosts (closed meanwhile) is dropped: the
%% user is offline, and a chat message event is already in the history
%% (the senders log it before handing it over), where the next login reads it.
-spec handle(integer(), term()) -> ok.
handle(User, Msg) ->
    case get(?KEY(User)) of
        undefined -> ok;
        S -> store(handle1(Msg, S))
    end.

store({closed, #u{user = User}}) ->
    erase(?KEY(User)),
    ok;
store(#u{user = User} = S) ->
    put(?KEY(User), S),
    ok.

handle1({poll, From, After, Timeout}, S0) ->
    S1 = cancel_grace(release(continue, S0)),
    #u{seq = Seq, len = Len} = S1,
    if
        After > Seq; After < Seq - Len ->
            chat_channel:reply(From, {ok, result(refresh, Seq, [])}),
            arm_grace(S1);
        After < Seq ->
            chat_channel:reply(From, {ok, result(events, Seq, after_seq(After, S1))}),
            arm_grace(S1);
        Timeout =< 0 ->
            chat_channel:reply(From, {ok, result(continue, Seq, [])}),
            arm_grace(S1);
        true ->
            TRef = erlang:start_timer(min(Timeout, 16#7FFFFFFF), self(), {'$chat_user', S1#u.user, poll_timeout}),
            set_held(S1#u.user, From),
            S1#u{held = {From, TRef}}
    end;
handle1({event, Event}, #u{seq = Seq0, user = User} = S0) ->
    Seq = Seq0 + 1,
    E = event_map(Seq, Event),
    ets:insert(get(?TAB), {{User, Seq}, E}),
    S1 = trim(S0#u{seq = Seq, len = S0#u.len + 1}),
    chat_subs:notify(User, {chat_event, User, E}),
    case S1#u.held of
        none ->
            S1;
        {From, TRef} ->
            cancel(TRef),
            chat_channel:reply(From, {ok, result(events, Seq, [E])}),
            arm_grace(unhold(S1))
    end;
handle1({login, From}, #u{seq = Seq} = S) ->
    chat_channel:reply(From, {ok, Seq}),
    S;
handle1(stop, S) ->
    {closed, drop_events(cancel_grace(release(continue, S)))};
handle1(kill, #u{user = User, held = Held} = S) ->
    %% As a crash would: the queue is gone, the held poll learns it.
    _ = cancel_grace(S),
    case Held of
        none -> ok;
        {From, TRef} ->
            cancel(TRef),
            chat_channel:reply(From, {ok, result(refresh, 0, [])}),
            set_held(User, none)
    end,
    chat_subs:notify(User, {channel_reset, User, 0}),
    logger:notice("chat_stub: channel of user ~b reset (kill_channel); queue reset", [User]),
    _ = drop_events(S),
    arm_grace(fresh(User)).

%% @doc A timer of User's channel fired (the shard got `{timeout, TRef, {'$chat_user', User, What}}').
-spec timeout(integer(), reference(), poll_timeout | grace) -> ok.
timeout(User, TRef, What) ->
    case {What, get(?KEY(User))} of
        {poll_timeout, #u{held = {From, TRef}, seq = Seq} = S} ->
            chat_channel:reply(From, {ok, result(continue, Seq, [])}),
            store(arm_grace(unhold(S)));
        {grace, #u{grace = TRef, held = none} = S} ->
            expire(S);
        _ ->
            ok                                  % a timer cancelled too late
    end.

%% The grace period ran out: the user goes offline.
expire(#u{user = User} = S) ->
    Self = self(),
    case ets:lookup(?REGISTRY, User) of
        [{_, Self, _}] ->
            ets:delete(?REGISTRY, User),
            chat_presence:logout(User);
        _ ->
            ok
    end,
    store({closed, drop_events(S#u{grace = undefined})}).

%%% ---------------------------------------------------------------- helpers

%% Answers the held poll, if any, with Status.
release(_Status, #u{held = none} = S) ->
    S;
release(Status, #u{held = {From, TRef}, seq = Seq} = S) ->
    cancel(TRef),
    chat_channel:reply(From, {ok, result(Status, Seq, [])}),
    unhold(S).

unhold(#u{user = User} = S) ->
    set_held(User, none),
    S#u{held = none}.

%% Records the held poll in the user's registry row. Only the hosting shard
%% (this process) writes the row, so a plain update will do (no row: the
%% user logged out meanwhile, nothing to record).
set_held(User, Held) ->
    ets:update_element(?REGISTRY, User, {3, Held}).

arm_grace(#u{grace_ms = 0} = S) -> S;
arm_grace(#u{grace = undefined, grace_ms = G, user = User} = S) ->
    S#u{grace = erlang:start_timer(G, self(), {'$chat_user', User, grace})};
arm_grace(S) ->
    arm_grace(cancel_grace(S)).

cancel_grace(#u{grace = undefined} = S) -> S;
cancel_grace(#u{grace = TRef} = S) ->
    cancel(TRef),
    S#u{grace = undefined}.

%% A channel's timers are cancelled without waiting for the answer: a timer
%% started while the shard ran on another scheduler lives in that scheduler's
%% wheel, and a synchronous cancel would suspend the shard (and every caller
%% queued behind it) until that scheduler answers. A timeout that fires anyway
%% carries a reference the channel no longer holds, and timeout/3 ignores it.
cancel(TRef) ->
    erlang:cancel_timer(TRef, [{async, true}, {info, false}]).

trim(#u{len = Len, window = W, seq = Seq, user = User} = S) when Len > W ->
    ets:delete(get(?TAB), {User, Seq - Len + 1}),
    trim(S#u{len = Len - 1});
trim(S) ->
    S.

%% The retained events after After (the caller checked Seq - Len =< After < Seq).
after_seq(After, #u{seq = Seq, user = User}) ->
    Tab = get(?TAB),
    [ets:lookup_element(Tab, {User, I}, 2) || I <- lists:seq(After + 1, Seq)].

%% Deletes a closing or reset channel's events (their keys would come back
%% with the next seqs).
drop_events(#u{len = Len, seq = Seq, user = User} = S) ->
    Tab = get(?TAB),
    [ets:delete(Tab, {User, I}) || I <- lists:seq(Seq - Len + 1, Seq)],
    S#u{len = 0}.

event_map(Seq, {message, Msg}) ->
    #{seq => Seq, type => message, message => Msg};
event_map(Seq, {typing, Typing}) ->
    #{seq => Seq, type => typing, typing => Typing}.
