%% @doc The chat_stub application: validates the configuration, seeds the
%% friend graph, names the front door's shards, creates the presence mirror
%% and starts the supervision tree (chat_stub_sup).
-module(chat_stub_app).
-behaviour(application).

-export([start/2, stop/1]).

start(_Type, _Args) ->
    case chat_config:load() of
        ok ->
            chat_friends:init(),
            chat_channel:init_shards(),
            chat_presence:init_mirror(),
            chat_stub_sup:start_link();
        {error, _} = E ->
            E
    end.

stop(_State) ->
    ok.
