%% EUnit: the hand-written Thrift binary and compact codecs.
-module(chat_thrift_codec_tests).

-include_lib("eunit/include/eunit.hrl").

-define(I64_MIN, -16#8000000000000000).
-define(I64_MAX, 16#7FFFFFFFFFFFFFFF).

all_types() ->
    [{1, bool, true}, {2, bool, false}, {3, byte, -128}, {4, i16, -32768}, {5, i32, 16#7FFFFFFF},
     {6, i64, ?I64_MIN}, {7, i64, ?I64_MAX}, {8, double, 1.5}, {9, string, <<"héllo"/utf8>>},
     {10, struct, [{1, i64, 1}, {2, struct, [{1, string, <<>>}]}]},
     {11, {list, i64}, [0, -1, 1 bsl 53 + 1, ?I64_MAX]},
     {12, {set, string}, [<<"a">>, <<"b">>]},
     {13, {map, i64, i32}, [{(1 bsl 53) + 1, 2}, {1 bsl 62, 0}, {-5, 1}]},
     {14, {list, struct}, [[{1, i32, I}] || I <- lists:seq(1, 20)]},
     {15, {list, {list, i32}}, [[1, 2], [], [3]]},
     {40, i32, 7},                          % field-id delta > 15 (compact long form)
     {-3, i32, 9},                          % negative field id
     {41, {list, bool}, [true, false, true]},
     {42, {map, string, struct}, [{<<"k">>, [{1, bool, true}]}]}].

%% The decoded form of a typed value, to compare with.
expect(struct, Fields) -> maps:from_list([{Id, {dtype(T), expect(T, V)}} || {Id, T, V} <- Fields]);
expect({K, T}, L) when K =:= list; K =:= set -> [expect(T, E) || E <- L];
expect({map, KT, VT}, Pairs) -> [{expect(KT, Kx), expect(VT, V)} || {Kx, V} <- Pairs];
expect(_, V) -> V.

dtype(T) -> T.

roundtrip_test_() ->
    [{atom_to_list(P), fun() -> roundtrip(P) end} || P <- [binary, compact]].

roundtrip(P) ->
    Fields = all_types(),
    Bin = iolist_to_binary(chat_thrift_codec:encode_message(P, <<"m">>, 1, -7, Fields)),
    {ok, {<<"m">>, 1, -7, Decoded}, <<>>} = chat_thrift_codec:decode_message(P, Bin),
    Want = expect(struct, Fields),
    ?assertEqual(lists:sort(maps:keys(Want)), lists:sort(maps:keys(Decoded))),
    [?assertEqual({Id, maps:get(Id, Want)}, {Id, maps:get(Id, Decoded)}) || Id <- maps:keys(Want)].

protocol_detection_test() ->
    ?assertEqual(compact, chat_thrift_codec:protocol_of(16#82)),
    ?assertEqual(binary, chat_thrift_codec:protocol_of(16#80)),
    ?assertEqual(binary, chat_thrift_codec:protocol_of(0)).

%% Reference bytes, from the protocol specifications.
binary_layout_test() ->
    Bin = iolist_to_binary(chat_thrift_codec:encode_message(binary, <<"login">>, 1, 1, [{1, i64, 42}])),
    ?assertEqual(<<16#80, 1, 0, 1, 0, 0, 0, 5, "login", 0, 0, 0, 1,
                   10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0>>, Bin).

compact_layout_test() ->
    Bin = iolist_to_binary(chat_thrift_codec:encode_message(compact, <<"login">>, 1, 1, [{1, i64, 42}])),
    %% 0x82, version 1 | CALL << 5, seqid varint 1, name, field delta 1 type i64 (6), zigzag 84, stop.
    ?assertEqual(<<16#82, 16#21, 1, 5, "login", 16#16, 84, 0>>, Bin),
    Neg = iolist_to_binary(chat_thrift_codec:encode_struct(compact, [{1, i64, -1}, {2, i32, 300}])),
    ?assertEqual(<<16#16, 1, 16#15, 16#d8, 4, 0>>, Neg).

non_strict_binary_header_test() ->
    Body = iolist_to_binary(chat_thrift_codec:encode_struct(binary, [{1, i64, 5}])),
    Old = <<0, 0, 0, 5, "login", 1, 0, 0, 0, 9, Body/binary>>,
    ?assertMatch({ok, {<<"login">>, 1, 9, #{1 := {i64, 5}}}, <<>>}, chat_thrift_codec:decode_message(binary, Old)).

negative_seqid_compact_test() ->
    Bin = iolist_to_binary(chat_thrift_codec:encode_message(compact, <<"x">>, 1, -2147483648, [])),
    ?assertMatch({ok, {<<"x">>, 1, -2147483648, #{}}, <<>>}, chat_thrift_codec:decode_message(compact, Bin)).

%% Every proper prefix is incomplete, and the hint of how many bytes are
%% missing is never more than are really missing (the unframed transport
%% waits for that many); no prefix crashes or decodes.
truncation_test_() ->
    Msgs = fun(P) -> [iolist_to_binary(chat_thrift_codec:encode_message(P, Name, 1, 3, F))
                      || {Name, F} <- [{<<"send">>, all_types()}, {<<"x">>, []}, {<<>>, [{1, i64, 1}]}]] end,
    [{atom_to_list(P), fun() ->
                               [begin
                                    {more, Hint} = chat_thrift_codec:decode_message(P, binary:part(Bin, 0, N)),
                                    ?assert(Hint >= 1 andalso N + Hint =< byte_size(Bin))
                                end || Bin <- Msgs(P), N <- lists:seq(0, byte_size(Bin) - 1)]
                       end} || P <- [binary, compact]].

%% Flipping bits anywhere gives ok, more or error, never an exception.
bitflip_test_() ->
    [{atom_to_list(P), fun() ->
                               Bin = iolist_to_binary(chat_thrift_codec:encode_message(P, <<"send">>, 1, 3, all_types())),
                               [check_total(P, flip(Bin, I, X)) || I <- lists:seq(0, byte_size(Bin) - 1),
                                                                   X <- [1, 2, 4, 8, 16, 32, 64, 128, 255]]
                       end} || P <- [binary, compact]].

flip(Bin, I, X) ->
    <<A:I/binary, B, C/binary>> = Bin,
    <<A/binary, (B bxor X), C/binary>>.

check_total(P, Bin) ->
    case chat_thrift_codec:decode_message(P, Bin) of
        {ok, _, _} -> ok;
        {more, _} -> ok;
        {error, _} -> ok
    end.

malformed_test_() ->
    Hdr = fun(P) -> iolist_to_binary(chat_thrift_codec:encode_message(P, <<"m">>, 1, 1, [])) end,
    BHead = binary:part(Hdr(binary), 0, byte_size(Hdr(binary)) - 1),
    CHead = binary:part(Hdr(compact), 0, byte_size(Hdr(compact)) - 1),
    [?_assertMatch({error, bad_version}, chat_thrift_codec:decode_message(binary, <<16#80, 2, 0, 1, 0, 0, 0, 0>>)),
     ?_assertMatch({error, bad_version}, chat_thrift_codec:decode_message(compact, <<16#82, 16#22, 0, 0>>)),
     ?_assertMatch({error, bad_protocol_id}, chat_thrift_codec:decode_message(compact, <<16#81, 16#21>>)),
     %% A list claiming 2^31-1 elements with 3 bytes left is refused before allocation.
     ?_assertMatch({more, _}, chat_thrift_codec:decode_message(binary, <<BHead/binary, 15, 0, 1, 10, 16#7f, 16#ff, 16#ff, 16#ff, 1, 2, 3>>)),
     ?_assertMatch({error, negative_length}, chat_thrift_codec:decode_message(binary, <<BHead/binary, 15, 0, 1, 10, 16#ff, 16#ff, 16#ff, 16#ff>>)),
     ?_assertMatch({error, negative_length}, chat_thrift_codec:decode_message(binary, <<BHead/binary, 11, 0, 1, 16#ff, 16#ff, 16#ff, 16#fe>>)),
     ?_assertMatch({error, {unknown_type, 99}}, chat_thrift_codec:decode_message(binary, <<BHead/binary, 99, 0, 1, 0>>)),
     ?_assertMatch({error, varint_too_long}, chat_thrift_codec:decode_message(compact, <<CHead/binary, 16#16, 16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 16#ff, 0>>)),
     ?_assertMatch({error, {int_out_of_range, 32}}, chat_thrift_codec:decode_message(compact, <<CHead/binary, 16#15, 16#ff, 16#ff, 16#ff, 16#ff, 16#7f, 0>>)),
     ?_assertMatch({error, too_deep}, chat_thrift_codec:decode_message(binary, <<BHead/binary, (binary:copy(<<12, 0, 1>>, 100))/binary, (binary:copy(<<0>>, 101))/binary>>))].

encode_range_test() ->
    ?assertError({int_out_of_range, 64, _}, chat_thrift_codec:encode_struct(binary, [{1, i64, 1 bsl 63}])),
    ?assertError({int_out_of_range, 32, _}, iolist_to_binary(chat_thrift_codec:encode_struct(compact, [{1, i32, 1 bsl 31}]))).
