%% Random terms for test/etf/msgpack.test.ts: gen_all/2 prints term_to_binary
%% of random terms as hex; check/2 compares each original with what came back
%% through ETF -> MessagePack -> ETF.
-module(bbmp).
-export([gen_all/2, check/2]).
pick(L) -> lists:nth(rand:uniform(length(L)), L).
negzero() -> <<F/float>> = <<128, 0:56>>, F.
node_() -> atom_to_binary(pick(['a@h', 'b@h', list_to_atom([16#1F600, $@, $h])]), utf8).
leaf() ->
    N = node_(), Cr = rand:uniform(1 bsl 32) - 1,
    case rand:uniform(16) of
        1 -> rand:uniform(2001) - 1001;
        2 -> (rand:uniform(2) * 2 - 3) * rand:uniform(1 bsl rand:uniform(300));
        3 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(600) - 300);
        4 -> pick([0.0, 1.0, -3.0, 1.0e300, 5.0e-324, negzero()]);
        5 -> list_to_atom(pick(["ok", "", [228, 16#1F600], "a b"]));
        6 -> list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(6) - 1)]);
        7 -> B = list_to_binary([rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(3) - 1)]), S = rand:uniform(7),
             <<B/binary, (rand:uniform(1 bsl S) - 1):S>>;
        8 -> binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, (rand:uniform(1 bsl 15) - 1):32, (rand:uniform(1 bsl 13) - 1):32, Cr:32>>);
        9 -> binary_to_term(<<131, 120, 119, (byte_size(N)), N/binary, (rand:uniform(1 bsl 64) - 1):64, Cr:32>>);
        10 -> L = rand:uniform(3) + 2,
              binary_to_term(<<131, 90, L:16, 119, (byte_size(N)), N/binary, Cr:32, (<< <<(rand:uniform(1 bsl 32) - 1):32>> || _ <- lists:seq(1, L) >>)/binary>>);
        11 -> pick([self(), make_ref(), hd(erlang:ports())]);
        12 -> erlang:make_fun(pick([lists, 'm od']), pick([map, f]), rand:uniform(256) - 1);
        13 -> Y = leaf(), pick([fun() -> Y end, fun(A, B) -> {A, B, Y} end, fun() -> ok end]);
        14 -> pick([[], {}, #{}, <<>>, true, false, undefined]);
        15 -> [leaf() | leaf()];
        16 -> (1 bsl 64) - rand:uniform(3) + 1
    end.
gen(0) -> leaf();
gen(D) ->
    Few = fun() -> [gen(D - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)] end,
    case rand:uniform(7) of
        1 -> list_to_tuple(Few());
        2 -> Few();
        3 -> maps:from_list([{gen(D - 1), gen(D - 1)} || _ <- lists:seq(1, rand:uniform(4) - 1)]);
        4 -> Few() ++ [gen(D - 1) | leaf()];
        5 when D >= 2 -> maps:from_list([{gen(1), gen(0)} || _ <- lists:seq(1, 32 + rand:uniform(8))]);
        _ -> leaf()
    end.
gen_all(Seed, N) ->
    rand:seed(exsss, Seed),
    [io:format("~s~n", [binary:encode_hex(term_to_binary(gen(3)))]) || _ <- lists:seq(1, N)],
    io:format("R ~s~n", [erlang:system_info(otp_release)]).
check(N, Data) ->
    T = fun(H) -> binary_to_term(binary:decode_hex(list_to_binary(H))) end,
    Pairs = [string:split(L, " ") || L <- lists:sublist(string:split(Data, "\n", all), N)],
    io:format("BAD ~w~n", [[I || {I, [Orig, Back]} <- lists:zip(lists:seq(0, N - 1), Pairs), T(Orig) =/= T(Back)]]).
