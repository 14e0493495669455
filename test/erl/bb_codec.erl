%% The Erlang side of test/etf/codec-erl.test.ts. run/0 reads cases from
%% stdin, one "HEX<TAB>EXPR" line each (our encoding of a term, and the Erlang
%% expression that makes it; an -eval argument would be too long), and prints
%% one line per case: term_to_binary(E) in hex, the same with
%% {minor_version, 2}, and whether binary_to_term of our bytes is =:= E.
-module(bb_codec).
-export([run/0]).

run() ->
    io:setopts(standard_io, [{encoding, unicode}]),
    lists:foreach(fun({Ours, E}) ->
                          Back = try binary_to_term(Ours) catch _:_ -> bad end,
                          io:format("~s ~s ~s~n", [binary:encode_hex(term_to_binary(E)),
                                                   binary:encode_hex(term_to_binary(E, [{minor_version, 2}])),
                                                   Back =:= E])
                  end, read([])).

read(Acc) ->
    case io:get_line('') of
        eof ->
            lists:reverse(Acc);
        Line ->
            [Hex, Src] = string:split(string:trim(Line, trailing, "\n"), "\t"),
            {ok, Toks, _} = erl_scan:string(unicode:characters_to_list(Src) ++ "."),
            {ok, Exprs} = erl_parse:parse_exprs(Toks),
            {value, E, _} = erl_eval:exprs(Exprs, []),
            read([{binary:decode_hex(unicode:characters_to_binary(Hex)), E} | Acc])
    end.
