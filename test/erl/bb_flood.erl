%% The Erlang side of the flood tests (test/dist/wire-floods-erl.test.ts) and of
%% bench/floods.mjs: an authenticated peer sending what a careless or hostile
%% one could. Each function sends to To ({Name, Node} or a pid) and returns
%% what the receiver should check against.
-module(bb_flood).
-export([big_binary/2, list/3, bomb/3, atoms/3]).

%% One message {big, Bin} with a binary of Size bytes (a multiple of 16).
big_binary(To, Size) ->
    Bin = binary:copy(<<"0123456789abcdef">>, Size div 16),
    To ! {big, Bin},
    byte_size(Bin).

%% One message {Tag, List} with a list of N small integers.
list(To, N, Tag) ->
    To ! {Tag, lists:duplicate(N, 7)},
    N.

%% One message {Tag, Bytes}: term_to_binary of a list of N zeros, compressed
%% (a few kilobytes that inflate to 2 * N bytes and decode to N elements).
%% Distribution never compresses what it sends, so the bomb travels as a
%% binary for the receiver to decode. Returns the compressed size.
bomb(To, N, Tag) ->
    Bytes = term_to_binary(lists:duplicate(N, 0), [compressed]),
    To ! {Tag, Bytes},
    byte_size(Bytes).

%% N messages {flood, Atom}, each with a new atom Prefix ++ I, then {flood_done, N}.
atoms(To, Prefix, N) ->
    [To ! {flood, list_to_atom(Prefix ++ integer_to_list(I))} || I <- lists:seq(1, N)],
    To ! {flood_done, N},
    N.
