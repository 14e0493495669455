%% @doc Subscriptions to a user's channel and presence changes.
%%
%% Any process may subscribe, local or remote (a beambridge process on a hidden
%% Node.js node included). The subscriber is monitored and all its
%% subscriptions are removed when it dies or its node disconnects. The
%% subscription tables belong to chat_tables, so a restarted chat_subs finds
%% them and monitors every subscriber again.
%%
%% Messages delivered (see README.md):
%%   {chat_event, UserId, Event}          every event queued on the user's channel
%%   {presence_event, UserId, State}      State :: online | idle | offline
%%   {channel_reset, UserId, Seq}         the channel restarted after a crash
-module(chat_subs).
-behaviour(gen_server).

-include("chat_stub.hrl").

-export([start_link/0, subscribe/3, unsubscribe/3, notify/2, count/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Subscribes Pid to User and replies `ok' to From (a gen_server from).
-spec subscribe(integer(), pid(), gen_server:from()) -> ok.
subscribe(User, Pid, From) ->
    gen_server:cast(?MODULE, {subscribe, User, Pid, From}).

%% @doc Removes one subscription and replies `ok' to From.
-spec unsubscribe(integer(), pid(), gen_server:from()) -> ok.
unsubscribe(User, Pid, From) ->
    gen_server:cast(?MODULE, {unsubscribe, User, Pid, From}).

%% @doc Sends Msg to every subscriber of User. Never blocks on connection
%% setup: a subscriber whose node is not connected is skipped (its monitor
%% fires and removes it).
%% While nobody subscribes to anyone (the count, kept by this server in
%% chat_tables, is 0) the table is not read: every queued event calls this.
-spec notify(integer(), term()) -> ok.
notify(User, Msg) ->
    case chat_tables:flag(subs) of
        0 -> ok;
        _ ->
            case ets:lookup(?SUBS, User) of
                [] -> ok;
                Subs -> lists:foreach(fun({_, Pid}) -> erlang:send(Pid, Msg, [noconnect]) end, Subs)
            end
    end.

%% Publishes the number of subscriptions after a change of the table (and
%% before the subscriber is answered, so an event queued after its `ok'
%% sees a count above 0 and finds its row).
counted() ->
    chat_tables:set_flag(subs, ets:info(?SUBS, size)).

%% @doc Number of subscriptions.
-spec count() -> non_neg_integer().
count() ->
    ets:info(?SUBS, size).

init([]) ->
    counted(),
    Pids = lists:usort([P || {P, _} <- ets:tab2list(?SUBS_BY_PID)]),
    {ok, #{monitors => maps:from_list([{P, erlang:monitor(process, P)} || P <- Pids])}}.

handle_call(_Req, _From, S) ->
    {reply, {error, unknown_call}, S}.

handle_cast({subscribe, User, Pid, From}, #{monitors := Mons} = S) ->
    Mons2 = case maps:is_key(Pid, Mons) of
                true -> Mons;
                false -> Mons#{Pid => erlang:monitor(process, Pid)}
            end,
    case ets:match_object(?SUBS_BY_PID, {Pid, User}) of
        [] ->
            ets:insert(?SUBS, {User, Pid}),
            ets:insert(?SUBS_BY_PID, {Pid, User}),
            counted();
        _ ->
            ok
    end,
    chat_channel:reply(From, ok),
    {noreply, S#{monitors := Mons2}};
handle_cast({unsubscribe, User, Pid, From}, #{monitors := Mons} = S) ->
    ets:delete_object(?SUBS, {User, Pid}),
    ets:delete_object(?SUBS_BY_PID, {Pid, User}),
    counted(),
    Mons2 = case ets:member(?SUBS_BY_PID, Pid) of
                true -> Mons;
                false ->
                    case maps:take(Pid, Mons) of
                        {Ref, M} -> erlang:demonitor(Ref, [flush]), M;
                        error -> Mons
                    end
            end,
    chat_channel:reply(From, ok),
    {noreply, S#{monitors := Mons2}};
handle_cast(_Msg, S) ->
    {noreply, S}.

handle_info({'DOWN', _Ref, process, Pid, _Reason}, #{monitors := Mons} = S) ->
    [ets:delete_object(?SUBS, {User, Pid}) || {_, User} <- ets:lookup(?SUBS_BY_PID, Pid)],
    ets:delete(?SUBS_BY_PID, Pid),
    counted(),
    {noreply, S#{monitors := maps:remove(Pid, Mons)}};
handle_info(_Msg, S) ->
    {noreply, S}.
