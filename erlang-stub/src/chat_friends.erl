%% @doc The seeded friend graph.
%%
%% Users 1..N (the `users' setting) each have the same number of friends (the
%% `friends' setting, at most N-1), and friendship is symmetric. The graph is a
%% circulant graph with pseudo-random offsets: K = min(F div 2, (N-1) div 2)
%% distinct offsets d in 1..(N-1) div 2 are drawn from splitmix64 seeded with
%% the `seed' setting (a partial Fisher-Yates shuffle of 1..(N-1) div 2, the
%% i-th step swapping position i with i + (draw rem (H - i + 1)), H = (N-1) div 2);
%% user u's friends are wrap(u + d) and wrap(u - d) for each d, where
%% wrap(x) = ((x - 1) mod N) + 1, plus u + N/2 when N is even and F needs an
%% odd degree. So every user has exactly min(F, N-1) friends when F is even or
%% N is even (F rounded down to even otherwise), spread over all slots.
%% README.md documents this for clients that want to reproduce it; they can
%% also ask the stub with the `{friends, User}' call.
-module(chat_friends).

-export([init/0, friends_of/1, unsorted/1, degree/0]).

-define(PT, {chat_stub, friend_graph}).
-define(M64, 16#FFFFFFFFFFFFFFFF).

%% @doc Computes the offsets from the configuration (at application start).
-spec init() -> ok.
init() ->
    N = chat_config:get(users),
    F = min(chat_config:get(friends), max(N - 1, 0)),
    H = max(N - 1, 0) div 2,
    K = min(F div 2, H),
    Offsets = draw(K, H, chat_config:get(seed)),
    Half = (N rem 2 =:= 0) andalso N > 0 andalso (2 * K < F),
    persistent_term:put(?PT, {N, Offsets, Half}),
    ok.

%% @doc The friends of a user, ascending; [] for users outside 1..N.
-spec friends_of(integer()) -> [pos_integer()].
friends_of(U) ->
    lists:sort(unsorted(U)).

%% @doc The friends of a user in no particular order (cheaper).
-spec unsorted(integer()) -> [pos_integer()].
unsorted(U) ->
    {N, Offsets, Half} = persistent_term:get(?PT),
    if
        is_integer(U), U >= 1, U =< N ->
            Tail = case Half of
                       true -> [wrap(U + N div 2, N)];
                       false -> []
                   end,
            ups(U, N, Offsets, downs(U, N, Offsets, Tail));
        true ->
            []
    end.

ups(_, _, [], Acc) -> Acc;
ups(U, N, [D | T], Acc) ->
    X = U + D,
    ups(U, N, T, [if X > N -> X - N; true -> X end | Acc]).

downs(_, _, [], Acc) -> Acc;
downs(U, N, [D | T], Acc) ->
    X = U - D,
    downs(U, N, T, [if X < 1 -> X + N; true -> X end | Acc]).

%% @doc Friends per seeded user.
-spec degree() -> non_neg_integer().
degree() ->
    {_, Offsets, Half} = persistent_term:get(?PT),
    2 * length(Offsets) + (case Half of true -> 1; false -> 0 end).

wrap(X, N) -> ((X - 1) rem N + N) rem N + 1.

%% Partial Fisher-Yates over 1..H: K distinct values.
draw(K, H, Seed) ->
    draw(1, K, H, Seed band ?M64, #{}, []).

draw(I, K, _, _, _, Acc) when I > K ->
    lists:reverse(Acc);
draw(I, K, H, State, Swaps, Acc) ->
    {R, State2} = splitmix(State),
    J = I + R rem (H - I + 1),
    VI = maps:get(I, Swaps, I),
    VJ = maps:get(J, Swaps, J),
    draw(I + 1, K, H, State2, Swaps#{J => VI}, [VJ | Acc]).

splitmix(State) ->
    S = (State + 16#9E3779B97F4A7C15) band ?M64,
    Z1 = ((S bxor (S bsr 30)) * 16#BF58476D1CE4E5B9) band ?M64,
    Z2 = ((Z1 bxor (Z1 bsr 27)) * 16#94D049BB133111EB) band ?M64,
    {Z2 bxor (Z2 bsr 31), S}.
