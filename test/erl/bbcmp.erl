%% Random terms for test/etf/compare.test.ts: every kind the text syntax can
%% carry (run/2) or term_to_binary can (runbin/2: local funs, any creation),
%% printed with Erlang's comparison of pairs and its lists:sort order.
-module(bbcmp).
-export([run/2, runbin/2]).
pick(L) -> lists:nth(rand:uniform(length(L)), L).
atoms() -> ['', a, b, aa, ab, 'B', 'hello world', true, false, undefined, 'a\nb',
            list_to_atom([228]), list_to_atom([256]), list_to_atom([255]), list_to_atom([16#1F600]),
            list_to_atom([16#E000]), list_to_atom([16#FFFF]), list_to_atom([97, 16#10000])].
nodes_() -> ['a@h', 'b@h', 'nonode@nohost'].
negzero() -> <<F/float>> = <<128, 0:56>>, F.
bin() -> list_to_binary([pick([0, 1, 97, 255]) || _ <- lists:seq(1, rand:uniform(4) - 1)]).
leaf() ->
    case rand:uniform(case get(bin) of true -> 17; _ -> 15 end) of
        1 -> rand:uniform(21) - 11;
        2 -> (rand:uniform(2) * 2 - 3) * (1 bsl rand:uniform(100)) + rand:uniform(3) - 2;
        3 -> (1 bsl 53) + rand:uniform(5) - 3;
        4 -> float(rand:uniform(21) - 11);
        5 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(40) - 20);
        6 -> pick([0.0, negzero(), 9007199254740992.0, 1.0e300, -1.0e300, 0.5, 5.0e-324, trunc(1.0e300) + rand:uniform(3) - 2]);
        7 -> pick(atoms());
        8 -> pick([bin(), bin(), <<"h", 195, 169, "llo">>]);
        9 -> B = bin(), N = rand:uniform(7), <<B/binary, (rand:uniform(1 bsl N) - 1):N>>;
        10 -> N = atom_to_binary(pick(nodes_()), utf8),
              binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, (rand:uniform(4) - 1):32, (rand:uniform(3) - 1):32, 0:32>>);
        11 -> N = atom_to_binary(pick(nodes_()), utf8),
              binary_to_term(<<131, 89, 119, (byte_size(N)), N/binary, (rand:uniform(4) - 1):32, 0:32>>);
        12 -> N = atom_to_binary(pick(nodes_()), utf8), L = rand:uniform(3),
              Ids = << <<(rand:uniform(3) - 1):32>> || _ <- lists:seq(1, L) >>,
              binary_to_term(<<131, 90, L:16, 119, (byte_size(N)), N/binary, 0:32, Ids/binary>>);
        13 -> erlang:make_fun(pick([lists, maps, a]), pick([map, b]), rand:uniform(3) - 1);
        14 -> pick([[], {}, #{}, <<>>]);
        15 -> pick([[1, 2], [1 | 2], [[]], [1.0]]);
        _ -> binleaf()
    end.
%% Only in runbin (terms travel as term_to_binary): local funs, any creation.
binleaf() ->
    Cr = rand:uniform(3) - 1,
    N = atom_to_binary(pick(['a@h', 'b@h']), utf8),
    case rand:uniform(5) of
        1 -> pick([fun() -> ok end, fun(X) -> X end, fun() -> ok end]);
        2 -> F = fun(Y) -> fun() -> Y end end, F(leaf());
        3 -> {ok, Ts, _} = erl_scan:string("fun(X) -> {X, A} end."), {ok, [E]} = erl_parse:parse_exprs(Ts),
             {value, F, _} = erl_eval:expr(E, erl_eval:add_binding('A', leaf(), erl_eval:new_bindings())), F;
        4 -> binary_to_term(<<131, 88, 119, (byte_size(N)), N/binary, (rand:uniform(4) - 1):32, 0:32, Cr:32>>);
        5 -> binary_to_term(<<131, 90, 1:16, 119, (byte_size(N)), N/binary, Cr:32, (rand:uniform(3) - 1):32>>)
    end.
gen(0) -> leaf();
gen(D) ->
    Few = fun() -> [gen(D - 1) || _ <- lists:seq(1, rand:uniform(4) - 1)] end,
    case rand:uniform(11) of
        1 -> list_to_tuple(Few());
        2 -> Few();
        3 -> maps:from_list([{gen(D - 1), gen(D - 1)} || _ <- lists:seq(1, rand:uniform(4) - 1)]);
        4 -> Few() ++ [gen(D - 1) | leaf()];
        5 when D >= 2 ->
            maps:from_list([{pick([rand:uniform(50), float(rand:uniform(50)), pick(atoms())]), gen(0)}
                            || _ <- lists:seq(1, 32 + rand:uniform(8))]);
        _ -> leaf()
    end.
proper(L) when is_list(L) -> try length(L) of _ -> true catch _:_ -> false end.
mutate(T) -> case rand:uniform(5) of 1 -> T; _ -> mut(T) end.
mut(T) when is_integer(T) -> pick([float(T), T + 1, T - 1]);
mut(T) when is_float(T) -> pick([round(T), T * 2, -T]);
mut(T) when is_atom(T) -> pick(atoms());
mut(T) when is_tuple(T), tuple_size(T) > 0 -> I = rand:uniform(tuple_size(T)), setelement(I, T, mut(element(I, T)));
mut([_ | _] = T) -> case proper(T) of
        true -> I = rand:uniform(length(T)),
                pick([lists:sublist(T, I - 1) ++ [mut(lists:nth(I, T))] ++ lists:nthtail(I, T), T ++ [leaf()], lists:droplast(T)]);
        false -> [H | Tl] = T, [mut(H) | Tl]
    end;
mut(T) when is_map(T), map_size(T) > 0 ->
    K = pick(maps:keys(T)), V = maps:get(K, T),
    pick([maps:put(K, mut(V), T), maps:put(mut(K), V, maps:remove(K, T))]);
mut(T) when is_binary(T) -> pick([<<T/binary, 0>>, <<T/binary, 1:1>>]);
mut(_) -> gen(1).
atom_(<<119, L, N:L/binary, R/binary>>) -> {binary_to_atom(N, utf8), R};
atom_(<<118, L:16, N:L/binary, R/binary>>) -> {binary_to_atom(N, utf8), R};
atom_(<<100, L:16, N:L/binary, R/binary>>) -> {binary_to_atom(N, latin1), R}.
w(X) -> io_lib:format("~tw", [X]).
pr(T) when is_integer(T); is_float(T); is_atom(T); is_bitstring(T) -> w(T);
pr(T) when is_pid(T) ->
    <<131, 88, R/binary>> = term_to_binary(T), {N, <<Id:32, Ser:32, _:32>>} = atom_(R),
    ["<", w(N), ".", integer_to_list(Id), ".", integer_to_list(Ser), ">"];
pr(T) when is_port(T) ->
    {N, Id} = case term_to_binary(T) of
        <<131, 89, R/binary>> -> {Nd, <<I:32, _:32>>} = atom_(R), {Nd, I};
        <<131, 120, R/binary>> -> {Nd, <<I:64, _:32>>} = atom_(R), {Nd, I}
    end,
    ["#Port<", w(N), ".", integer_to_list(Id), ">"];
pr(T) when is_reference(T) ->
    <<131, 90, _:16, R/binary>> = term_to_binary(T), {N, <<_:32, IdsB/binary>>} = atom_(R),
    ["#Ref<", w(N), [[".", integer_to_list(I)] || I <- lists:reverse([I || <<I:32>> <= IdsB])], ">"];
pr(T) when is_function(T) ->
    {module, M} = erlang:fun_info(T, module), {name, F} = erlang:fun_info(T, name), {arity, A} = erlang:fun_info(T, arity),
    ["fun ", w(M), ":", w(F), "/", integer_to_list(A)];
pr(T) when is_tuple(T) -> ["{", lists:join(",", [pr(X) || X <- tuple_to_list(T)]), "}"];
pr(T) when is_map(T) -> ["#{", lists:join(",", [[pr(K), "=>", pr(V)] || {K, V} <- maps:to_list(T)]), "}"];
pr([]) -> "[]";
pr(T) when is_list(T) -> prl(T, []).
prl([H | T], Acc) -> prl(T, [pr(H) | Acc]);
prl([], Acc) -> ["[", lists:join(",", lists:reverse(Acc)), "]"];
prl(Tail, Acc) -> ["[", lists:join(",", lists:reverse(Acc)), "|", pr(Tail), "]"].
cmp(A, B) when A < B -> -1;
cmp(A, B) when A > B -> 1;
cmp(_, _) -> 0.
runbin(Seed, N) -> put(bin, true), run(Seed, N).
pt(T) -> case get(bin) of true -> binary:encode_hex(term_to_binary(T)); _ -> pr(T) end.
run(Seed, N) ->
    rand:seed(exsss, Seed),
    Terms = [gen(3) || _ <- lists:seq(1, N)],
    All = Terms ++ [mutate(T) || T <- Terms],
    Len = length(All),
    Tup = list_to_tuple(All),
    [io:format("T ~b ~ts~n", [I, pt(element(I + 1, Tup))]) || I <- lists:seq(0, Len - 1)],
    Pairs = [{I, I + N} || I <- lists:seq(0, N - 1)] ++ [{I, I + 1} || I <- lists:seq(0, Len - 2)]
            ++ [{rand:uniform(Len) - 1, rand:uniform(Len) - 1} || _ <- lists:seq(1, N)],
    [begin A = element(I + 1, Tup), B = element(J + 1, Tup),
           io:format("P ~b ~b ~b ~w ~w~n", [I, J, cmp(A, B), A =:= B, A == B]) end || {I, J} <- Pairs],
    Sorted = lists:sort(fun({A, _}, {B, _}) -> A =< B end, lists:zip(All, lists:seq(0, Len - 1))),
    io:format("S ~w~n", [[I || {_, I} <- Sorted]]),
    io:format("R ~s~n", [erlang:system_info(otp_release)]).
