%% @doc Thrift binary and compact protocols, written by hand.
%%
%% Decoding is schema-less: a struct decodes to `#{FieldId => {Type, Value}}'
%% and the service layer checks the types it expects. Encoding is driven by
%% typed values. Types are the atoms `bool', `byte', `i16', `i32', `i64',
%% `double', `string', `struct' and the tuples `{list, T}', `{set, T}' and
%% `{map, KT, VT}'.
%%
%% Encoded values:
%%   struct      [{FieldId, Type, Value}]   (a field whose Value is undefined is omitted)
%%   list, set   [Value]
%%   map         [{Key, Value}]
%% Decoded values:
%%   struct      #{FieldId => {Type, Value}}
%%   list, set   [{Type, Value}] is not used: a list decodes to {ElemType, [Value]}
%%   map         {KeyType, ValueType, [{Key, Value}]}
%%
%% The decoder never crashes on bad input: every read checks its bounds, a
%% container size larger than the bytes left is refused before anything is
%% allocated, and nesting is capped. decode_message/2 answers
%% `{more, Hint}' when the input is a proper prefix of a message (the unframed
%% transport waits for more bytes; Hint never exceeds the bytes still missing)
%% and `{error, Why}' when it is malformed.
%%
%% Layouts follow the Apache Thrift protocol specifications
%% (doc/specs/thrift-binary-protocol.md and thrift-compact-protocol.md):
%% binary is big-endian with a strict header `0x8001 00 TT'; compact starts
%% with 0x82, uses ULEB128 varints, zigzag integers, field-id deltas and
%% little-endian doubles.
-module(chat_thrift_codec).

-export([decode_message/2, decode_header/2, decode_struct/2,
         encode_message/5, encode_struct/2, protocol_of/1]).

-export_type([protocol/0, type/0]).

-type protocol() :: binary | compact.
-type type() :: bool | byte | i16 | i32 | i64 | double | string | struct
              | {list, type()} | {set, type()} | {map, type(), type()}.

-define(MAX_DEPTH, 64).

%% Message types (Thrift TMessageType).
%% 1 CALL, 2 REPLY, 3 EXCEPTION, 4 ONEWAY.

%% @doc Which protocol a message starting with this byte uses: 0x82 is
%% compact; 0x80 (strict) and anything else (old non-strict) are binary.
-spec protocol_of(byte()) -> protocol().
protocol_of(16#82) -> compact;
protocol_of(_) -> binary.

%% @doc Decodes one whole message: header and argument struct.
-spec decode_message(protocol(), binary()) ->
          {ok, {Name :: binary(), Type :: 0..7, SeqId :: integer(), map()}, Rest :: binary()}
        | {more, non_neg_integer()}
        | {error, term()}.
decode_message(Proto, Bin) ->
    case decode_header(Proto, Bin) of
        {ok, {Name, Type, Seq}, R1} ->
            case decode_struct(Proto, R1) of
                {ok, Args, R2} -> {ok, {Name, Type, Seq, Args}, R2};
                Other -> Other
            end;
        Other ->
            Other
    end.

%% @doc Decodes only the message header.
-spec decode_header(protocol(), binary()) ->
          {ok, {binary(), 0..7, integer()}, binary()} | {more, non_neg_integer()} | {error, term()}.
decode_header(Proto, Bin) ->
    run(fun() -> header(Proto, Bin) end).

%% @doc Decodes one struct (for example the arguments after a header).
-spec decode_struct(protocol(), binary()) ->
          {ok, map(), binary()} | {more, non_neg_integer()} | {error, term()}.
decode_struct(Proto, Bin) ->
    run(fun() ->
                {S, R} = read_struct(Proto, Bin, 0),
                {ok, S, R}
        end).

run(F) ->
    try F()
    catch
        throw:{thrift_more, N} -> {more, N};
        throw:{thrift_bad, Why} -> {error, Why}
    end.

more(N) -> throw({thrift_more, N}).
bad(Why) -> throw({thrift_bad, Why}).

%%% ------------------------------------------------------------------ headers

header(binary, <<1:1, _/bitstring>> = Bin) ->
    case Bin of
        <<16#80, 16#01, _, Type, R0/binary>> ->
            {Name, R1} = b_string(R0),
            case R1 of
                <<Seq:32/signed, R2/binary>> -> {ok, {Name, Type band 7, Seq}, R2};
                _ -> more(4 - byte_size(R1))
            end;
        <<_, _, _, _, _/binary>> ->
            bad(bad_version);
        _ ->
            more(4 - byte_size(Bin))
    end;
header(binary, Bin) ->
    %% Old non-strict header: name, type byte, seqid.
    {Name, R1} = b_string(Bin),
    case R1 of
        <<Type, Seq:32/signed, R2/binary>> -> {ok, {Name, Type band 7, Seq}, R2};
        _ -> more(5 - byte_size(R1))
    end;
header(compact, <<16#82, VerType, R0/binary>>) ->
    case VerType band 16#1f of
        1 -> ok;
        _ -> bad(bad_version)
    end,
    {USeq, R1} = varint(R0, 5),
    Seq = if USeq > 16#7FFFFFFF -> USeq - 16#100000000; true -> USeq end,
    {Name, R2} = c_binary(R1),
    {ok, {Name, (VerType bsr 5) band 7, Seq}, R2};
header(compact, <<16#82>>) ->
    more(1);
header(compact, <<>>) ->
    more(2);
header(compact, _) ->
    bad(bad_protocol_id).

%%% ------------------------------------------------------------ binary reads

b_type(2) -> bool;
b_type(3) -> byte;
b_type(4) -> double;
b_type(6) -> i16;
b_type(8) -> i32;
b_type(10) -> i64;
b_type(11) -> string;
b_type(12) -> struct;
b_type(13) -> map;
b_type(14) -> set;
b_type(15) -> list;
b_type(T) -> bad({unknown_type, T}).

b_string(<<Len:32/signed, R/binary>>) when Len >= 0 ->
    case R of
        <<S:Len/binary, R2/binary>> -> {S, R2};
        _ -> more(Len - byte_size(R))
    end;
b_string(<<_:32/signed, _/binary>>) ->
    bad(negative_length);
b_string(B) ->
    more(4 - byte_size(B)).

%%% ----------------------------------------------------------- compact reads

c_type(1) -> bool;
c_type(2) -> bool;
c_type(3) -> byte;
c_type(4) -> i16;
c_type(5) -> i32;
c_type(6) -> i64;
c_type(7) -> double;
c_type(8) -> string;
c_type(9) -> list;
c_type(10) -> set;
c_type(11) -> map;
c_type(12) -> struct;
c_type(T) -> bad({unknown_type, T}).

%% Unsigned LEB128 of at most MaxBytes bytes.
varint(Bin, MaxBytes) ->
    varint(Bin, MaxBytes, 0, 0).

varint(_, 0, _, _) ->
    bad(varint_too_long);
varint(<<1:1, B:7, R/binary>>, Left, Shift, Acc) ->
    varint(R, Left - 1, Shift + 7, Acc bor (B bsl Shift));
varint(<<0:1, B:7, R/binary>>, _, Shift, Acc) ->
    {Acc bor (B bsl Shift), R};
varint(<<>>, _, _, _) ->
    more(1).

zigzag(N) -> (N bsr 1) bxor -(N band 1).

c_int(Bin, Bits) ->
    {U, R} = varint(Bin, (Bits + 6) div 7),
    V = zigzag(U),
    Lim = 1 bsl (Bits - 1),
    case V >= -Lim andalso V < Lim of
        true -> {V, R};
        false -> bad({int_out_of_range, Bits})
    end.

c_size(Bin) ->
    {N, R} = varint(Bin, 5),
    case N > 16#7FFFFFFF of
        true -> bad(negative_length);
        false -> {N, R}
    end.

c_binary(Bin) ->
    {Len, R} = c_size(Bin),
    case R of
        <<S:Len/binary, R2/binary>> -> {S, R2};
        _ -> more(Len - byte_size(R))
    end.

%%% ---------------------------------------------------------- generic reads

read_struct(_, _, Depth) when Depth > ?MAX_DEPTH ->
    bad(too_deep);
read_struct(binary, Bin, Depth) ->
    b_fields(Bin, Depth, #{});
read_struct(compact, Bin, Depth) ->
    c_fields(Bin, Depth, 0, #{}).

b_fields(<<0, R/binary>>, _, Acc) ->
    {Acc, R};
b_fields(<<T, Id:16/signed, R/binary>>, Depth, Acc) ->
    Type = b_type(T),
    {V, R2} = read_value(binary, Type, R, Depth),
    b_fields(R2, Depth, Acc#{Id => {wire_type(Type, V), strip(V)}});
b_fields(<<>>, _, _) ->
    more(1);                                     % the stop byte may be all that is left
b_fields(B, _, _) ->
    more(3 - byte_size(B)).

c_fields(<<H, R0/binary>>, Depth, Last, Acc) ->
    case H band 16#0f of
        0 ->
            {Acc, R0};
        CT ->
            {Id, R1} = case H bsr 4 of
                           0 -> c_int(R0, 16);
                           Delta -> {Last + Delta, R0}
                       end,
            case CT of
                1 -> c_fields(R1, Depth, Id, Acc#{Id => {bool, true}});
                2 -> c_fields(R1, Depth, Id, Acc#{Id => {bool, false}});
                _ ->
                    Type = c_type(CT),
                    {V, R2} = read_value(compact, Type, R1, Depth),
                    c_fields(R2, Depth, Id, Acc#{Id => {wire_type(Type, V), strip(V)}})
            end
    end;
c_fields(<<>>, _, _, _) ->
    more(1).

%% Containers come back as {typed, FullType, Value} so that fields record
%% their element types; scalars come back bare.
wire_type(_, {typed, T, _}) -> T;
wire_type(T, _) -> T.

strip({typed, _, V}) -> V;
strip(V) -> V.

read_value(binary, bool, <<B, R/binary>>, _) -> {B =/= 0, R};
read_value(binary, byte, <<B:8/signed, R/binary>>, _) -> {B, R};
read_value(binary, i16, <<V:16/signed, R/binary>>, _) -> {V, R};
read_value(binary, i32, <<V:32/signed, R/binary>>, _) -> {V, R};
read_value(binary, i64, <<V:64/signed, R/binary>>, _) -> {V, R};
read_value(binary, double, <<V:64/float, R/binary>>, _) -> {V, R};
read_value(binary, double, <<_:64, _/binary>>, _) -> bad(bad_double);
read_value(binary, string, Bin, _) -> b_string(Bin);
read_value(binary, list, <<ET, N:32/signed, R/binary>>, Depth) -> b_seq(list, ET, N, R, Depth);
read_value(binary, set, <<ET, N:32/signed, R/binary>>, Depth) -> b_seq(set, ET, N, R, Depth);
read_value(binary, map, <<KT, VT, N:32/signed, R/binary>>, Depth) ->
    check_size(N, R, 2),
    KType = b_type(KT),
    VType = b_type(VT),
    {Pairs, R2} = read_pairs(binary, KType, VType, N, R, Depth + 1, []),
    {{typed, {map, full(KType, Pairs, key), full(VType, Pairs, value)}, strip_pairs(Pairs)}, R2};
read_value(compact, bool, <<B, R/binary>>, _) -> {B =:= 1, R};
read_value(compact, byte, <<B:8/signed, R/binary>>, _) -> {B, R};
read_value(compact, i16, Bin, _) -> c_int(Bin, 16);
read_value(compact, i32, Bin, _) -> c_int(Bin, 32);
read_value(compact, i64, Bin, _) -> c_int(Bin, 64);
read_value(compact, double, <<V:64/float-little, R/binary>>, _) -> {V, R};
read_value(compact, double, <<_:64, _/binary>>, _) -> bad(bad_double);
read_value(compact, string, Bin, _) -> c_binary(Bin);
read_value(compact, Kind, <<H, R0/binary>>, Depth) when Kind =:= list; Kind =:= set ->
    {N, R1} = case H bsr 4 of
                  15 -> c_size(R0);
                  Small -> {Small, R0}
              end,
    ET = c_type(H band 16#0f),
    seq(compact, Kind, ET, N, R1, Depth);
read_value(compact, map, Bin, Depth) ->
    case c_size(Bin) of
        {0, R} ->
            {{typed, {map, i32, i32}, []}, R};
        {N, <<KV, R/binary>>} ->
            check_size(N, R, 2),
            KType = c_type(KV bsr 4),
            VType = c_type(KV band 16#0f),
            {Pairs, R2} = read_pairs(compact, KType, VType, N, R, Depth + 1, []),
            {{typed, {map, full(KType, Pairs, key), full(VType, Pairs, value)}, strip_pairs(Pairs)}, R2};
        {_, <<>>} ->
            more(1)
    end;
read_value(Proto, struct, Bin, Depth) ->
    read_struct(Proto, Bin, Depth + 1);
read_value(_, _, _, _) ->
    more(1).

b_seq(_, _, N, _, _) when N < 0 -> bad(negative_length);
b_seq(Kind, ET, N, R, Depth) -> seq(binary, Kind, b_type(ET), N, R, Depth).

seq(Proto, Kind, EType, N, R, Depth) ->
    check_size(N, R, 1),
    {Elems, R2} = read_elems(Proto, EType, N, R, Depth + 1, []),
    Full = case Elems of
               [{typed, T, _} | _] -> T;
               _ -> EType
           end,
    {{typed, {Kind, Full}, [strip(E) || E <- Elems]}, R2}.

%% Every element takes at least MinBytes: refuse sizes the input cannot hold
%% before allocating anything (more/1 when the input may still grow).
check_size(N, R, MinBytes) ->
    case N * MinBytes =< byte_size(R) of
        true -> ok;
        false when N > 16#7FFFFFFF -> bad(too_large);
        false -> more(N * MinBytes - byte_size(R))
    end.

read_elems(_, _, 0, R, _, Acc) ->
    {lists:reverse(Acc), R};
read_elems(Proto, T, N, R, Depth, Acc) ->
    {V, R2} = read_value(Proto, T, R, Depth),
    read_elems(Proto, T, N - 1, R2, Depth, [V | Acc]).

read_pairs(_, _, _, 0, R, _, Acc) ->
    {lists:reverse(Acc), R};
read_pairs(Proto, KT, VT, N, R, Depth, Acc) ->
    {K, R2} = read_value(Proto, KT, R, Depth),
    {V, R3} = read_value(Proto, VT, R2, Depth),
    read_pairs(Proto, KT, VT, N - 1, R3, Depth, [{K, V} | Acc]).

full(T, [{K, _} | _], key) -> wire_type(T, K);
full(T, [{_, V} | _], value) -> wire_type(T, V);
full(T, [], _) -> T.

strip_pairs(Pairs) -> [{strip(K), strip(V)} || {K, V} <- Pairs].

%%% ----------------------------------------------------------------- encoding

%% @doc Encodes a whole message: header plus one struct (arguments, result
%% or TApplicationException).
-spec encode_message(protocol(), binary(), 1..4, integer(), [{integer(), type(), term()}]) -> iodata().
encode_message(binary, Name, Type, Seq, Fields) ->
    [<<16#80, 16#01, 0, Type, (byte_size(Name)):32, Name/binary, Seq:32/signed>>,
     encode_struct(binary, Fields)];
encode_message(compact, Name, Type, Seq, Fields) ->
    USeq = Seq band 16#FFFFFFFF,
    [16#82, 1 bor (Type bsl 5), uvarint(USeq), uvarint(byte_size(Name)), Name,
     encode_struct(compact, Fields)].

%% @doc Encodes one struct.
-spec encode_struct(protocol(), [{integer(), type(), term()}]) -> iodata().
encode_struct(binary, Fields) ->
    [[[b_type_id(T), <<Id:16/signed>>, b_value(T, V)] || {Id, T, V} <- Fields, V =/= undefined], 0];
encode_struct(compact, Fields) ->
    c_struct(Fields, 0, []).

b_type_id(bool) -> 2;
b_type_id(byte) -> 3;
b_type_id(double) -> 4;
b_type_id(i16) -> 6;
b_type_id(i32) -> 8;
b_type_id(i64) -> 10;
b_type_id(string) -> 11;
b_type_id(struct) -> 12;
b_type_id({map, _, _}) -> 13;
b_type_id({set, _}) -> 14;
b_type_id({list, _}) -> 15.

b_value(bool, true) -> <<1>>;
b_value(bool, false) -> <<0>>;
b_value(byte, V) -> <<(check(V, 8)):8/signed>>;
b_value(i16, V) -> <<(check(V, 16)):16/signed>>;
b_value(i32, V) -> <<(check(V, 32)):32/signed>>;
b_value(i64, V) -> <<(check(V, 64)):64/signed>>;
b_value(double, V) -> <<(float(V)):64/float>>;
b_value(string, V) -> B = iolist_to_binary(V), [<<(byte_size(B)):32>>, B];
b_value(struct, Fields) -> encode_struct(binary, Fields);
b_value({Kind, ET}, L) when Kind =:= list; Kind =:= set ->
    [b_type_id(ET), <<(length(L)):32>>, [b_value(ET, E) || E <- L]];
b_value({map, KT, VT}, Pairs) ->
    [b_type_id(KT), b_type_id(VT), <<(length(Pairs)):32>>,
     [[b_value(KT, K), b_value(VT, V)] || {K, V} <- Pairs]].

c_type_id(bool) -> 1;
c_type_id(byte) -> 3;
c_type_id(i16) -> 4;
c_type_id(i32) -> 5;
c_type_id(i64) -> 6;
c_type_id(double) -> 7;
c_type_id(string) -> 8;
c_type_id({list, _}) -> 9;
c_type_id({set, _}) -> 10;
c_type_id({map, _, _}) -> 11;
c_type_id(struct) -> 12.

c_struct([], _, Acc) ->
    lists:reverse([0 | Acc]);
c_struct([{_, _, undefined} | T], Last, Acc) ->
    c_struct(T, Last, Acc);
c_struct([{Id, bool, V} | T], Last, Acc) ->
    CT = case V of true -> 1; false -> 2 end,
    c_struct(T, Id, [c_field_header(CT, Id, Last) | Acc]);
c_struct([{Id, Type, V} | T], Last, Acc) ->
    c_struct(T, Id, [[c_field_header(c_type_id(Type), Id, Last), c_value(Type, V)] | Acc]).

c_field_header(CT, Id, Last) when Id > Last, Id - Last =< 15 ->
    ((Id - Last) bsl 4) bor CT;
c_field_header(CT, Id, _) ->
    [CT, zz_varint(check(Id, 16))].

c_value(bool, true) -> 1;
c_value(bool, false) -> 2;
c_value(byte, V) -> <<(check(V, 8)):8/signed>>;
c_value(i16, V) -> zz_varint(check(V, 16));
c_value(i32, V) -> zz_varint(check(V, 32));
c_value(i64, V) -> zz_varint(check(V, 64));
c_value(double, V) -> <<(float(V)):64/float-little>>;
c_value(string, V) -> B = iolist_to_binary(V), [uvarint(byte_size(B)), B];
c_value(struct, Fields) -> encode_struct(compact, Fields);
c_value({Kind, ET}, L) when Kind =:= list; Kind =:= set ->
    N = length(L),
    Header = case N =< 14 of
                 true -> (N bsl 4) bor c_type_id(ET);
                 false -> [16#f0 bor c_type_id(ET), uvarint(N)]
             end,
    [Header, [c_value(ET, E) || E <- L]];
c_value({map, _, _}, []) ->
    0;
c_value({map, KT, VT}, Pairs) ->
    [uvarint(length(Pairs)), (c_type_id(KT) bsl 4) bor c_type_id(VT),
     [[c_value(KT, K), c_value(VT, V)] || {K, V} <- Pairs]].

zz_varint(N) when N >= 0 -> uvarint(N bsl 1);
zz_varint(N) -> uvarint((-N bsl 1) - 1).

uvarint(N) when N < 128 -> N;
uvarint(N) -> [(N band 127) bor 128 | uvarint_rest(N bsr 7)].

uvarint_rest(N) when N < 128 -> [N];
uvarint_rest(N) -> [(N band 127) bor 128 | uvarint_rest(N bsr 7)].

check(V, Bits) when is_integer(V) ->
    Lim = 1 bsl (Bits - 1),
    case V >= -Lim andalso V < Lim of
        true -> V;
        false -> erlang:error({int_out_of_range, Bits, V})
    end.
