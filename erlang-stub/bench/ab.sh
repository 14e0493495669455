#!/usr/bin/env bash
# Paired A/B of two ways of running the stub, for the scaling goal of
# bench/run.sh (see bench/chat_bench_ab.erl for what it measures and prints).
# Starts epmd and four stub nodes holding the same data (run.sh's defaults):
# A with +S 1:1 and +S 2:2 and AB_FLAGS_A, B likewise with AB_FLAGS_B (both
# after run.sh's "+sbwt none" flags, so they can override them), A from
# AB_DIR_A and B from AB_DIR_B (erlang-stub directories, e.g. main's code and
# a variant's; default this one for both). Then a load node runs chat_bench_ab; AB_ARGS passes its keys
# (rounds, round_seconds, kinds, toggle_b, ...). AB_STUB_A1, AB_STUB_A2,
# AB_STUB_B1, AB_STUB_B2 add chat-stub arguments to one VM each (e.g.
# AB_STUB_B2="--shards 4"). AB_NICE_A / AB_NICE_B run A's / B's VMs at that
# niceness (as root; e.g. -20: the machine's other processes then take
# little of the cores a VM wants). Stops everything by pid.
#   AB_FLAGS_B="+sbt db" bash erlang-stub/bench/ab.sh
#   AB_ARGS="toggle_b=offheap" bash erlang-stub/bench/ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir_a=${AB_DIR_A:-$PWD}
dir_b=${AB_DIR_B:-$PWD}
if [ -n "${BENCH_OTP_ROOT:-}" ] && [ "$dir_a" != "$dir_b" ]; then
  echo "ab.sh: with BENCH_OTP_ROOT both sides run one build (this directory's); AB_DIR_A and AB_DIR_B cannot differ" >&2
  exit 2
fi
. bench/common.sh
bench_setup chat-ab ebin-test/chat_bench.beam ebin-test/chat_bench_os.beam ebin-test/chat_bench_warmup.beam ebin-test/chat_bench_ab.beam
args=()
for v in a1 a2 b1 b2; do
  case $v in a*) d=$dir_a f=${AB_FLAGS_A:-} n=${AB_NICE_A:-0} ;; b*) d=$dir_b f=${AB_FLAGS_B:-} n=${AB_NICE_B:-0} ;; esac
  x=AB_STUB_${v^^}
  start_stub "ab${v}_$$" "$d" "${v#?}" "$base $f" "$n" "${!x:-}"
  args+=("$v=ab${v}_$$@127.0.0.1")
done
for v in a1 a2 b1 b2; do wait_ready "ab${v}_$$"; done
echo "A flags: +S N:N $base ${AB_FLAGS_A:-}; B flags: +S N:N $base ${AB_FLAGS_B:-}; A code: $dir_a; B code: $dir_b"
echo "stub arguments added: a1 '${AB_STUB_A1:-}' a2 '${AB_STUB_A2:-}' b1 '${AB_STUB_B1:-}' b2 '${AB_STUB_B2:-}'; niceness A ${AB_NICE_A:-0}, B ${AB_NICE_B:-0}"
ERL_EPMD_PORT=$port timeout "${AB_TIMEOUT:-600}" erl +S 1:1 $base -noshell -noinput -start_epmd false -hidden \
  -name "abload_$$@127.0.0.1" -setcookie "$cookie" -pa ebin -pa ebin-test \
  -eval 'chat_bench_ab:main()' -extra "${args[@]}" users="$users" ${AB_ARGS:-}
