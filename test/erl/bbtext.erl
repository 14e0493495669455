%% Random terms for test/etf/text.test.ts: gen_all/2 prints them with ~w and
%% ~tp; check/3 parses our text back and compares; floats/2 and atoms/2 print
%% only floats or atoms.
-module(bbtext).
-export([gen_all/2, check/3, floats/2, atoms/2]).
pick(L) -> lists:nth(rand:uniform(length(L)), L).
negzero() -> <<F/float>> = <<128, 0:56>>, F.
chr() -> pick([rand:uniform(95) + 31, rand:uniform(95) + 31, $\n, $", $\\, $', 228, 256 + rand:uniform(500), 16#1F600, rand:uniform(31)]).
str() -> [chr() || _ <- lists:seq(1, rand:uniform(6) - 1)].
atm() -> list_to_atom(pick([str(), "ok", "a_B@1", "end", "hello world", ""])).
float_() ->
    case rand:uniform(4) of
        1 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(60) - 30);
        2 -> float(rand:uniform(2000) - 1000);
        3 -> pick([0.0, negzero(), 1.0e300, 5.0e-324, 0.1, 1.0e15, 9007199254740992.0]);
        4 -> try <<F:64/float>> = <<(rand:uniform(1 bsl 64) - 1):64>>, F catch _:_ -> 1.5 end
    end.
leaf() ->
    case rand:uniform(10) of
        1 -> rand:uniform(2001) - 1001;
        2 -> (rand:uniform(2) * 2 - 3) * (rand:uniform(1 bsl 120));
        3 -> float_();
        4 -> atm();
        5 -> unicode:characters_to_binary([C || C <- str(), C > 31]);
        6 -> list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(5) - 1)]);
        7 -> B = list_to_binary([C || C <- str(), C < 256]), N = rand:uniform(7), <<B/binary, (rand:uniform(1 bsl N) - 1):N>>;
        8 -> [C || C <- str(), C > 31];
        9 -> pick([[], {}, #{}, <<>>, true, false]);
        10 -> list_to_binary([rand:uniform(95) + 31 || _ <- lists:seq(1, rand:uniform(5))])
    end.
gen(0) -> leaf();
gen(D) ->
    Few = fun() -> [gen(D - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)] end,
    case rand:uniform(8) of
        1 -> list_to_tuple(Few());
        2 -> Few();
        3 -> maps:from_list([{gen(D - 1), gen(D - 1)} || _ <- lists:seq(1, rand:uniform(4) - 1)]);
        4 -> Few() ++ [gen(D - 1) | pick([a, 1, <<>>, {}])];
        5 when D >= 2 -> maps:from_list([{rand:uniform(100), gen(0)} || _ <- lists:seq(1, 32 + rand:uniform(8))]);
        _ -> leaf()
    end.
one_line(S) -> [case C of $\n -> $\s; _ -> C end || C <- lists:flatten(S)].
gen_all(Seed, N) ->
    rand:seed(exsss, Seed),
    [io:format("~ts~n~ts~n", [io_lib:format("~w", [T]), one_line(io_lib:format("~tp", [T]))]) || T <- [gen(3) || _ <- lists:seq(1, N)]],
    io:format("R ~s~n", [erlang:system_info(otp_release)]).
check(Seed, N, Data) ->
    rand:seed(exsss, Seed),
    Terms = [gen(3) || _ <- lists:seq(1, N)],
    [Text, Hex] = string:split(Data, "%%HEX%%\n"),
    Lines = string:split(Text, "\n", all),
    Bad = [I || {I, T, L} <- lists:zip3(lists:seq(1, N), Terms, lists:sublist(Lines, N)),
                not (begin {ok, Ts, _} = erl_scan:string(L ++ "."), {ok, P} = erl_parse:parse_term(Ts), P end =:= T)],
    io:format("BAD ~w~n", [Bad]),
    Bins = [binary_to_term(binary:decode_hex(list_to_binary(H))) || H <- lists:sublist(string:split(Hex, "\n", all), N)],
    io:format("BADBIN ~w~n", [[I || {I, T, B} <- lists:zip3(lists:seq(1, N), Terms, Bins), B =/= T]]).
floats(Seed, N) -> rand:seed(exsss, Seed), [io:format("~w~n", [float_()]) || _ <- lists:seq(1, N)], ok.
atoms(Seed, N) -> rand:seed(exsss, Seed), [io:format("~tw~n", [atm()]) || _ <- lists:seq(1, N)], ok.
