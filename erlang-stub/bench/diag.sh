#!/usr/bin/env bash
# Diagnosis, not a benchmark: where a stub VM's schedulers idle under the
# bench's in-VM send load at saturation (bench/chat_bench_diag.erl says what
# each phase measures and prints). Starts epmd and the stubs the way ab.sh
# does (run.sh's "+sbwt none" flags, the same data): DIAG_VMS lists their
# scheduler counts (default "2": one +S 2:2 stub; "1 2" adds a +S 1:1 one),
# DIAG_FLAGS adds VM flags to every stub, DIAG_STUB chat-stub arguments;
# DIAG_ARGS passes chat_bench_diag's keys (rounds, round_seconds, phases,
# senders, trace_ms, warmup_seconds, ...). Stops everything by pid.
#   DIAG_VMS="1 2" DIAG_ARGS="rounds=2 warmup_seconds=40" bash erlang-stub/bench/diag.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
bench_setup chat-diag ebin-test/chat_bench.beam ebin-test/chat_bench_os.beam ebin-test/chat_bench_warmup.beam ebin-test/chat_bench_ab.beam ebin-test/chat_bench_diag.beam
args=()
for n in ${DIAG_VMS:-2}; do
  start_stub "diag${n}_$$" . "$n" "$base ${DIAG_FLAGS:-}" 0 "${DIAG_STUB:-}"
  args+=("s$n=diag${n}_$$@127.0.0.1")
done
for n in ${DIAG_VMS:-2}; do wait_ready "diag${n}_$$"; done
echo "stubs: ${args[*]}; flags +S N:N $base ${DIAG_FLAGS:-}; stub arguments '${DIAG_STUB:-}'"
ERL_EPMD_PORT=$port timeout "${DIAG_TIMEOUT:-600}" erl +S 1:1 $base -noshell -noinput -start_epmd false -hidden \
  -name "diagload_$$@127.0.0.1" -setcookie "$cookie" -pa ebin -pa ebin-test \
  -eval 'chat_bench_diag:main()' -extra "${args[@]}" users="$users" ${DIAG_ARGS:-}
