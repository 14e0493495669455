%% The Erlang side of the distribution tests (test/dist/*erl.test.ts).
%% start/0 registers `echo` and calls monitor_nodes/0. `echo` handles:
%%   {From, size, Bin}          -> {size, byte_size(Bin), erlang:md5(Bin)}
%%   {From, blob, N}            -> {blob, B, erlang:md5(B)} with N random bytes
%%   {_, to_name, Name, Node, M} sends {from_erl, M} to {Name, Node}
%%   {From, connect, Node}      -> {connected, Node, net_kernel:connect_node(Node)}
%%   {From, Msg}                -> {echo, Msg} (and prints "GOT Msg")
%% monitor_nodes/0 prints every node event as "EV Event".
-module(bb_dist_peer).
-export([start/0, monitor_nodes/0]).

start() ->
    register(echo, spawn(fun echo/0)),
    monitor_nodes().

echo() ->
    receive
        {From, size, Bin} when is_binary(Bin) ->
            From ! {size, byte_size(Bin), erlang:md5(Bin)};
        {From, blob, N} ->
            B = binary:copy(rand:bytes(4096), N div 4096),
            From ! {blob, B, erlang:md5(B)};
        {_, to_name, Name, Node, Msg} ->
            {Name, Node} ! {from_erl, Msg};
        {From, connect, Node} ->
            From ! {connected, Node, net_kernel:connect_node(Node)};
        {From, Msg} ->
            io:format("GOT ~p~n", [Msg]),
            From ! {echo, Msg}
    end,
    echo().

monitor_nodes() ->
    spawn(fun() ->
                  net_kernel:monitor_nodes(true, [{node_type, all}]),
                  print_events()
          end).

print_events() ->
    receive M -> io:format("EV ~p~n", [M]) end,
    print_events().
