%% etf_oracle: the Erlang side of beambridge's ETF verification tests.
%%
%% Runs in a plain (non-distributed) `erl -noshell`, compiled at test time by
%% test/helpers/etf-oracle.ts, and answers one request per stdin line with
%% stdout lines that start with the request id. All binaries and all text that
%% could contain non-ASCII travel hex-encoded, so the protocol is pure ASCII:
%%
%%   eval Id HexExpr          -> Id ok Hex | Id error HexText
%%       HexExpr is UTF-8 Erlang expressions (ending in a dot) that evaluate
%%       to an external-format binary; the oracle checks that
%%       binary_to_term/1 accepts it before answering.
%%   check Id HexOrig HexNew  -> Id same | Id differ HexText | Id inexact HexText
%%                               | Id bad HexText
%%       same:    binary_to_term(New) =:= binary_to_term(Orig), and floats are
%%                bit-identical too (so -0.0 vs 0.0 fails even on OTP 25,
%%                where 0.0 =:= -0.0).
%%       inexact: =:= but some float differs bitwise.
%%       differ:  not =:=.   bad: binary_to_term(New) raised.
%%   accept Id Hex            -> Id yes | Id trailing | Id no
%%       Does binary_to_term/1 accept it? (`trailing`: only with bytes left
%%       over, which binary_to_term/1 silently ignores.)
%%   gen Id Seed Count        -> Count lines `Id t Hex HexOpts`, then `Id done`
%%       Count random terms from rand seed Seed (exsss), each encoded with
%%       random term_to_binary options (HexOpts). The terms are kept (until the next
%%       gen) so that checkgen can compare with the term itself.
%%   checkgen Id N HexNew     -> as check, against the Nth term (0-based) of
%%                               the last gen
%%   quit                     -> halts
%%
%% Test helper only: copies nothing from OTP; uses public BIFs.
-module(etf_oracle).

-export([main/0]).
%% Helpers callable from `eval` expressions.
-export([mk_fun/1, mk_fun2/2, mk_fun0/0, local_fun_ref/0,
         remote_pid/4, old_pid/4, remote_port/3, v4_port/3, old_port/3,
         remote_ref/3, old_new_ref/3, old_ref/3, neg_zero/0, atom_ext/1,
         deep_list/1, deep_tuple/1, deep_map/1]).

%% ---------------------------------------------------------------- main loop

main() ->
    ok = io:setopts(standard_io, [binary]),
    %% Requests are read from fd 0 through a port in line mode: io:get_line
    %% takes ~0.7 s for a 2 MB line on OTP 26+ (about 13 ms on OTP 25), and
    %% hex-encoded vectors make lines that long. erl runs with -noinput, so
    %% nothing else reads stdin.
    In = open_port({fd, 0, 1}, [in, binary, {line, 1 bsl 20}, eof]),
    out([<<"ready ">>, erlang:system_info(otp_release)]),
    loop(In).

loop(In) ->
    case read_line(In, []) of
        eof ->
            halt(0);
        Line ->
            Words = binary:split(strip_nl(Line), <<" ">>, [global, trim_all]),
            try handle(Words) of
                stop -> halt(0);
                _ -> loop(In)
            catch
                C:E:St ->
                    Id = case Words of
                             [_, I | _] -> I;
                             _ -> <<"?">>
                         end,
                    out([Id, <<" error ">>, hex_text("~p:~p ~P", [C, E, St, 20])]),
                    loop(In)
            end
    end.

%% One whole line (a line longer than the port's buffer comes in pieces).
read_line(In, Acc) ->
    receive
        {In, {data, {noeol, Part}}} -> read_line(In, [Part | Acc]);
        {In, {data, {eol, Part}}} -> iolist_to_binary(lists:reverse([Part | Acc]));
        {In, eof} when Acc =:= [] -> eof;
        {In, eof} -> iolist_to_binary(lists:reverse(Acc))
    end.

strip_nl(<<>>) ->
    <<>>;
strip_nl(B) ->
    case binary:last(B) of
        $\n -> strip_nl(binary:part(B, 0, byte_size(B) - 1));
        $\r -> strip_nl(binary:part(B, 0, byte_size(B) - 1));
        _ -> B
    end.

out(IoData) ->
    io:put_chars(standard_io, [IoData, $\n]).

hex(B) -> binary:encode_hex(B).
unhex(H) -> binary:decode_hex(H).

hex_text(Fmt, Args) ->
    hex(unicode:characters_to_binary(io_lib:format(Fmt, Args))).

handle([<<"quit">> | _]) ->
    stop;
handle([<<"eval">>, Id, HexExpr]) ->
    Text = unicode:characters_to_list(unhex(HexExpr)),
    Bin = eval_text(Text),
    true = is_binary(Bin) orelse error({not_a_binary, Bin}),
    _ = binary_to_term(Bin),
    out([Id, <<" ok ">>, hex(Bin)]);
handle([<<"check">>, Id, HexOrig, HexNew]) ->
    compare(Id, binary_to_term(unhex(HexOrig)), HexNew);
handle([<<"checkgen">>, Id, N, HexNew]) ->
    [{_, Orig}] = ets:lookup(etf_oracle_gen, binary_to_integer(N)),
    compare(Id, Orig, HexNew);
handle([<<"accept">>, Id, Hex]) ->
    Bin = unhex(Hex),
    Size = byte_size(Bin),
    %% Used > Size happens: OTP 25 to 29 count one id word for a
    %% NEWER_REFERENCE_EXT with none (<<131, 90, 0:16, ...>> reports 17 of 13
    %% bytes). All bytes were read, so that is a yes.
    case try binary_to_term(Bin, [used]) catch _:_ -> error end of
        {_, Used} when Used >= Size -> out([Id, <<" yes">>]);
        {_, _} -> out([Id, <<" trailing">>]);
        error -> out([Id, <<" no">>])
    end;
handle([<<"gen">>, Id, Seed, Count]) ->
    _ = rand:seed(exsss, binary_to_integer(Seed)),
    setup_pools(),
    case ets:info(etf_oracle_gen, size) of
        undefined -> ets:new(etf_oracle_gen, [named_table, public]);
        _ -> ets:delete_all_objects(etf_oracle_gen)
    end,
    gen_loop(Id, 0, binary_to_integer(Count)),
    out([Id, <<" done">>]);
handle(Other) ->
    error({bad_request, Other}).

compare(Id, Orig, HexNew) ->
    case try {ok, binary_to_term(unhex(HexNew))} catch C:E -> {C, E} end of
        {ok, New} when New =:= Orig ->
            case exact(Orig, New) of
                true -> out([Id, <<" same">>]);
                false -> out([Id, <<" inexact ">>, show(Orig, New)])
            end;
        {ok, New} ->
            out([Id, <<" differ ">>, show(Orig, New)]);
        Err ->
            out([Id, <<" bad ">>, hex_text("binary_to_term raised ~p", [Err])])
    end.

show(Orig, New) ->
    hex_text("expected ~tW~n     got ~tW", [Orig, 12, New, 12]).

eval_text(Text) ->
    {ok, Toks, _} = erl_scan:string(Text),
    {ok, Exprs} = erl_parse:parse_exprs(Toks),
    {value, V, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
    V.

%% Equality that also tells floats apart bit by bit (OTP 25: 0.0 =:= -0.0).
exact(A, B) when is_float(A), is_float(B) -> <<A/float>> =:= <<B/float>>;
exact(A, B) when is_tuple(A), is_tuple(B) ->
    tuple_size(A) =:= tuple_size(B) andalso exact(tuple_to_list(A), tuple_to_list(B));
exact([HA | TA], [HB | TB]) -> exact(HA, HB) andalso exact(TA, TB);
exact(A, B) when is_map(A), is_map(B) ->
    map_size(A) =:= map_size(B) andalso
        exact(lists:sort(maps:to_list(A)), lists:sort(maps:to_list(B)));
exact(A, B) when is_function(A), is_function(B) ->
    A =:= B andalso
        case erlang:fun_info(A, type) of
            {type, local} ->
                {env, EA} = erlang:fun_info(A, env),
                {env, EB} = erlang:fun_info(B, env),
                exact(EA, EB);
            _ ->
                true
        end;
exact(A, B) -> A =:= B.

%% ------------------------------------------------------ helpers for `eval`

%% Local funs created in this compiled module (NEW_FUN_EXT).
mk_fun(X) -> fun() -> X end.
mk_fun2(A, B) -> fun(C) -> {A, B, C} end.
mk_fun0() -> fun() -> ok end.
local_fun_ref() -> fun mk_fun/1.

atom_bytes(A) ->
    B = atom_to_binary(A, utf8),
    case byte_size(B) of
        N when N < 256 -> <<119, N, B/binary>>;
        N -> <<118, N:16, B/binary>>
    end.

%% Remote identifiers crafted from their documented layouts (erl_ext_dist).
remote_pid(Node, Id, Serial, Creation) ->
    binary_to_term(<<131, 88, (atom_bytes(Node))/binary, Id:32, Serial:32, Creation:32>>).
old_pid(Node, Id, Serial, Creation) ->
    binary_to_term(<<131, 103, (atom_bytes(Node))/binary, Id:32, Serial:32, Creation:8>>).
remote_port(Node, Id, Creation) ->
    binary_to_term(<<131, 89, (atom_bytes(Node))/binary, Id:32, Creation:32>>).
v4_port(Node, Id, Creation) ->
    binary_to_term(<<131, 120, (atom_bytes(Node))/binary, Id:64, Creation:32>>).
old_port(Node, Id, Creation) ->
    binary_to_term(<<131, 102, (atom_bytes(Node))/binary, Id:32, Creation:8>>).
remote_ref(Node, Creation, Ids) ->
    binary_to_term(<<131, 90, (length(Ids)):16, (atom_bytes(Node))/binary, Creation:32,
                     << <<W:32>> || W <- Ids >>/binary>>).
old_new_ref(Node, Creation, Ids) ->
    binary_to_term(<<131, 114, (length(Ids)):16, (atom_bytes(Node))/binary, Creation:8,
                     << <<W:32>> || W <- Ids >>/binary>>).
old_ref(Node, Id, Creation) ->
    binary_to_term(<<131, 101, (atom_bytes(Node))/binary, Id:32, Creation:8>>).

neg_zero() ->
    <<F/float>> = <<1:1, 0:63>>,
    F.

%% A latin-1 atom as ATOM_EXT bytes (the deprecated tag 100).
atom_ext(Latin1) when is_list(Latin1) ->
    <<131, 100, (length(Latin1)):16, (list_to_binary(Latin1))/binary>>.

deep_list(0) -> [];
deep_list(N) -> deep_list(N, []).
deep_list(0, Acc) -> Acc;
deep_list(N, Acc) -> deep_list(N - 1, [Acc]).

deep_tuple(N) -> deep_tuple(N, {}).
deep_tuple(0, Acc) -> Acc;
deep_tuple(N, Acc) -> deep_tuple(N - 1, {Acc}).

deep_map(N) -> deep_map(N, #{}).
deep_map(0, Acc) -> Acc;
deep_map(N, Acc) -> deep_map(N - 1, #{k => Acc}).

%% ------------------------------------------------------- random generation

gen_loop(_Id, Count, Count) ->
    ok;
gen_loop(Id, N, Count) ->
    %% The node budget bounds a term's size whatever the dice say.
    put(budget, pick([5, 20, 50, 100, 300])),
    T = gen_term(pick([1, 2, 3, 3, 4, 4, 5])),
    Opts = enc_opts(T),
    Bin = term_to_binary(T, Opts),
    T = binary_to_term(Bin),
    true = ets:insert(etf_oracle_gen, {N, T}),
    out([Id, <<" t ">>, hex(Bin), <<" ">>, hex_text("~w", [Opts])]),
    gen_loop(Id, N + 1, Count).

otp() -> list_to_integer(erlang:system_info(otp_release)).

%% [local] (OTP 26+) only for terms without funs: on OTP 27.3 and 29.1,
%% term_to_binary(fun M:F/A, [local]) aborts the VM ("beam/external.c:
%% buffer overflow") and binary_to_term/1 refuses a local fun encoded so.
enc_opts(T) ->
    Local = [[local] || otp() >= 26, not has_fun(T)],
    pick([[], [], [], [{minor_version, 0}], [{minor_version, 1}], [{minor_version, 2}],
          [compressed], [{compressed, rand:uniform(10) - 1}], [deterministic]] ++ Local).

pick(L) -> lists:nth(rand:uniform(length(L)), L).

has_fun(T) when is_function(T) -> true;
has_fun([H | T]) -> has_fun(H) orelse has_fun(T);
has_fun(T) when is_tuple(T) -> has_fun(tuple_to_list(T));
has_fun(T) when is_map(T) -> has_fun(maps:to_list(T));
has_fun(_) -> false.

%% Pools are rebuilt per `gen` from the seed, so a seed replays exactly
%% (except local pids/refs, which are new each run but structurally alike).
setup_pools() ->
    put(otp, otp()),
    Nodes = [list_to_atom(random_chars(rand:uniform(20))) || _ <- lists:seq(1, 6)],
    Atoms = [random_atom() || _ <- lists:seq(1, 200)],
    put(nodes, ['remote@host', 'чат@узел', 'n@127.0.0.1' | Nodes]),
    put(atoms, Atoms),
    case get(procs) of
        undefined ->
            Procs = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, 3)],
            put(procs, [self() | Procs]);
        _ ->
            ok
    end.

gen_term(0) -> leaf();
gen_term(D) ->
    case get(budget) of
        B when B =< 0 ->
            leaf();
        B ->
            put(budget, B - 1),
            case rand:uniform(10) of
                N when N =< 4 -> leaf();
                _ -> compound(D - 1)
            end
    end.

leaf() ->
    case rand:uniform(16) of
        1 -> rand:uniform(256) - 1;
        2 -> rand:uniform(1 bsl 32) - (1 bsl 31) - 1;
        3 -> gen_int();
        4 -> gen_int();
        5 -> gen_float();
        6 -> gen_float();
        7 -> gen_atom();
        8 -> gen_binary();
        9 -> gen_bitstring();
        10 -> gen_pid();
        11 -> gen_port();
        12 -> gen_ref();
        13 -> gen_string();
        14 -> pick([[], {}, #{}, <<>>, "", true, false, undefined, nil, '']);
        15 -> erlang:make_fun(gen_atom(), gen_atom(), rand:uniform(256) - 1);
        16 -> pick([fun lists:map/2, fun erlang:self/0, fun mk_fun/1, mk_fun0()])
    end.

compound(D) ->
    case rand:uniform(10) of
        1 -> [gen_term(D) || _ <- seq(len())];
        2 -> [gen_term(D) || _ <- seq(len())];
        3 -> improper(D);
        4 -> list_to_tuple([gen_term(D) || _ <- seq(len())]);
        5 -> list_to_tuple([leaf() || _ <- seq(pick([255, 256, 300]))]);
        6 -> maps:from_list([{gen_term(D), gen_term(D)} || _ <- seq(len())]);
        7 -> maps:from_list([{gen_term(min(D, 1)), leaf()} || _ <- seq(pick([31, 32, 33, 40, 70]))]);
        8 -> mk_fun(gen_term(D));
        9 -> mk_fun2(gen_term(D), gen_term(D));
        10 -> [gen_term(D) | gen_string()]
    end.

seq(0) -> [];
seq(N) -> lists:seq(1, N).

len() ->
    case rand:uniform(10) of
        10 -> rand:uniform(40);
        _ -> rand:uniform(6) - 1
    end.

improper(D) ->
    Tail = pick([gen_term(0), gen_atom(), <<"t">>, {gen_term(D)}, 1.5, #{}]),
    T = case is_list(Tail) of
            true -> {Tail};
            false -> Tail
        end,
    lists:foldl(fun(_, Acc) -> [gen_term(D) | Acc] end, T, seq(rand:uniform(4))).

-define(EDGE_INTS, [0, -1, 255, 256, -256, 1 bsl 27, -(1 bsl 27) - 1, (1 bsl 31) - 1,
                    1 bsl 31, -(1 bsl 31), -(1 bsl 31) - 1, (1 bsl 53) - 1, 1 bsl 53,
                    (1 bsl 53) + 1, -(1 bsl 53), -(1 bsl 53) - 1, 1 bsl 63, (1 bsl 64) - 1,
                    1 bsl 64, -(1 bsl 64), -(1 bsl 1000), 1 bsl 2040, -(1 bsl 2047)]).

gen_int() ->
    case rand:uniform(4) of
        1 -> pick(?EDGE_INTS);
        2 -> sign(rand:uniform(1 bsl 53));
        3 -> sign(binary:decode_unsigned(rand:bytes(rand:uniform(40))));
        4 -> sign(binary:decode_unsigned(rand:bytes(pick([254, 255, 256, 257, 400]))))
    end.

sign(N) -> case rand:uniform(2) of 1 -> N; 2 -> -N end.

gen_float() ->
    case rand:uniform(5) of
        1 ->
            pick([0.0, neg_zero(), 1.0, -1.0, 0.1, 1.5, 5.0e-324, 2.2250738585072014e-308,
                  1.7976931348623157e308, -1.7976931348623157e308, 9007199254740992.0,
                  9007199254740993.0, 1.0e300, -1.0e-300, 123456789.0]);
        2 ->
            float(sign(rand:uniform(1 bsl 60)));
        3 ->
            (rand:uniform() - 0.5) * math:pow(10, rand:uniform(40) - 20);
        _ ->
            random_bits_float()
    end.

random_bits_float() ->
    <<S:1, E:11, M:52>> = rand:bytes(8),
    case E of
        2047 -> random_bits_float();
        _ -> <<F/float>> = <<S:1, E:11, M:52>>, F
    end.

gen_atom() ->
    case rand:uniform(10) of
        1 -> random_atom();
        _ -> pick(get(atoms))
    end.

random_atom() ->
    N = case rand:uniform(20) of
            1 -> 0;
            2 -> 255;
            3 -> rand:uniform(255);
            _ -> rand:uniform(12)
        end,
    list_to_atom(random_chars(N)).

random_chars(N) -> [random_char(Class) || Class <- [rand:uniform(6) || _ <- seq(N)]].

random_char(1) -> $a + rand:uniform(26) - 1;
random_char(2) -> 127 + rand:uniform(129);               % 128..255 (latin-1)
random_char(3) -> 16#400 + rand:uniform(16#FF);          % Cyrillic
random_char(4) -> 16#4E00 + rand:uniform(16#51FF);       % CJK
random_char(5) -> 16#1F600 + rand:uniform(16#4F);        % emoji (4-byte UTF-8)
random_char(6) ->
    C = rand:uniform(16#10FFFF),
    case C >= 16#D800 andalso C =< 16#DFFF of
        true -> random_char(6);
        false -> C
    end.

gen_binary() ->
    case rand:uniform(20) of
        20 -> rand:bytes(rand:uniform(3000));
        _ -> rand:bytes(rand:uniform(33) - 1)
    end.

gen_bitstring() ->
    Bits = rand:uniform(7),
    <<X:Bits, _/bitstring>> = rand:bytes(1),
    <<(rand:bytes(rand:uniform(20) - 1))/binary, X:Bits>>.

gen_string() ->
    case rand:uniform(400) of
        1 -> [rand:uniform(256) - 1 || _ <- seq(pick([65535, 65536]))];  % STRING_EXT limit
        N when N =< 240 -> [rand:uniform(256) - 1 || _ <- seq(rand:uniform(30))];
        _ -> [random_char(pick([3, 4, 5])) || _ <- seq(rand:uniform(10))]
    end.

u32() -> rand:uniform(1 bsl 32) - 1.
node_() -> pick(get(nodes)).

gen_pid() ->
    case rand:uniform(5) of
        1 -> pick(get(procs));
        2 -> remote_pid(node_(), u32(), u32(), u32());
        3 -> remote_pid(node_(), rand:uniform(1 bsl 15) - 1, rand:uniform(1 bsl 13) - 1, rand:uniform(4) - 1);
        4 -> old_pid(node_(), rand:uniform(1 bsl 15) - 1, rand:uniform(1 bsl 13) - 1, rand:uniform(4) - 1);
        5 -> self()
    end.

gen_port() ->
    case rand:uniform(4) of
        1 -> pick(erlang:ports());
        2 -> remote_port(node_(), u32(), u32());
        3 -> v4_port(node_(), rand:uniform(1 bsl 64) - 1, u32());
        4 -> old_port(node_(), rand:uniform(1 bsl 28) - 1, rand:uniform(4) - 1)
    end.

gen_ref() ->
    case rand:uniform(6) of
        1 -> make_ref();
        2 -> R = erlang:monitor(process, self()), erlang:demonitor(R), R;
        3 -> A = alias(), unalias(A), A;
        4 -> remote_ref(node_(), u32(), [u32() || _ <- seq(ref_words(rand:uniform(5)))]);
        5 -> old_new_ref(node_(), rand:uniform(4) - 1, [rand:uniform(1 bsl 18) - 1, u32(), u32()]);
        6 ->
            case otp25_ref_bug() of
                true -> remote_ref(node_(), u32(), [u32(), u32()]);
                false -> old_ref(node_(), rand:uniform(1 bsl 18) - 1, rand:uniform(4) - 1)
            end
    end.

%% OTP 25 cannot find a one-word remote reference again as a key of a decoded
%% map over 32 keys (binary_to_term(term_to_binary(M)) =/= M; fixed by OTP 27),
%% so there the generator makes references of 2..5 words only.
ref_words(N) ->
    case N =:= 1 andalso otp25_ref_bug() of
        true -> 2;
        false -> N
    end.

otp25_ref_bug() -> get(otp) =:= 25.
