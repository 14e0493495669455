%% @doc A small JSON encoder for the ready line and the control port (OTP 25
%% has no json module). Maps with atom or binary keys, lists, binaries
%% (UTF-8), integers, floats, true/false/null and other atoms (as strings).
-module(chat_json).

-export([encode/1]).

-spec encode(term()) -> binary().
encode(T) ->
    iolist_to_binary(enc(T)).

enc(true) -> <<"true">>;
enc(false) -> <<"false">>;
enc(null) -> <<"null">>;
enc(undefined) -> <<"null">>;
enc(A) when is_atom(A) -> str(atom_to_binary(A, utf8));
enc(I) when is_integer(I) -> integer_to_binary(I);
enc(F) when is_float(F) -> float_to_binary(F, [short]);
enc(B) when is_binary(B) -> str(B);
enc(L) when is_list(L) -> [$[, join([enc(E) || E <- L]), $]];
enc(T) when is_tuple(T) -> enc(tuple_to_list(T));
enc(M) when is_map(M) ->
    [${, join([[str(key(K)), $:, enc(V)] || {K, V} <- lists:sort(maps:to_list(M))]), $}];
enc(P) when is_pid(P) -> str(list_to_binary(pid_to_list(P))).

key(K) when is_atom(K) -> atom_to_binary(K, utf8);
key(K) when is_binary(K) -> K;
key(K) when is_integer(K) -> integer_to_binary(K).

join([]) -> [];
join([H | T]) -> [H | [[$, | E] || E <- T]].

str(B) -> [$", esc(B, <<>>), $"].

esc(<<>>, Acc) -> Acc;
esc(<<$", R/binary>>, Acc) -> esc(R, <<Acc/binary, "\\\"">>);
esc(<<$\\, R/binary>>, Acc) -> esc(R, <<Acc/binary, "\\\\">>);
esc(<<$\n, R/binary>>, Acc) -> esc(R, <<Acc/binary, "\\n">>);
esc(<<$\r, R/binary>>, Acc) -> esc(R, <<Acc/binary, "\\r">>);
esc(<<$\t, R/binary>>, Acc) -> esc(R, <<Acc/binary, "\\t">>);
esc(<<C, R/binary>>, Acc) when C < 32 ->
    esc(R, <<Acc/binary, (u(C))/binary>>);
esc(<<C, R/binary>>, Acc) when C < 128 ->
    esc(R, <<Acc/binary, C>>);
%% Non-ASCII as \u escapes (surrogate pairs above U+FFFF): the output is
%% plain ASCII whatever the encoding of the device it is written to.
esc(<<C/utf8, R/binary>>, Acc) when C > 16#FFFF ->
    V = C - 16#10000,
    esc(R, <<Acc/binary, (u(16#D800 bor (V bsr 10)))/binary, (u(16#DC00 bor (V band 16#3FF)))/binary>>);
esc(<<C/utf8, R/binary>>, Acc) ->
    esc(R, <<Acc/binary, (u(C))/binary>>);
esc(<<C, R/binary>>, Acc) ->
    %% Not UTF-8: the byte as a Latin-1 character.
    esc(R, <<Acc/binary, (u(C))/binary>>).

u(C) -> iolist_to_binary(io_lib:format("\\u~4.16.0b", [C])).
