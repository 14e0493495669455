#!/usr/bin/env bash
# Benchmark of the chat stub (npm run bench:stub): one stub node holding
# 10,000 online users with 200 friends each, loaded over Erlang distribution
# by bench/chat_bench.erl on a second node. Prints the figures and PASS/FAIL.
# Starts its own epmd and stub on free ports and stops them by pid on exit.
# Bounded: each load phase lasts BENCH_SECONDS (default 10); the whole run is
# cut off after BENCH_TIMEOUT seconds (default 300).
#   BENCH_ARGS="send_rate=3000 pollers=false" bash erlang-stub/bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-10}
limit=${BENCH_TIMEOUT:-300}
users=${BENCH_USERS:-10000}
friends=${BENCH_FRIENDS:-200}

mkdir -p ebin ebin-test
flock ebin/.build.lock make -s all ebin-test/chat_bench.beam >&2

tmp=$(mktemp -d /tmp/chat-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
epmd -port "$port" -relaxed_command_check &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

stub="benchstub_$$@127.0.0.1"
cookie="bench_$$_$RANDOM"
bin/chat-stub --name "$stub" --cookie "$cookie" --epmd-port "$port" --thrift-port 0 \
  --users "$users" --friends "$friends" --grace-ms 0 --idle-ms 600000 --log-level error \
  >"$tmp/ready" 2>"$tmp/stub.err" &
pids+=($!)
for _ in $(seq 1 600); do [ -s "$tmp/ready" ] && break; sleep 0.1; done
[ -s "$tmp/ready" ] || { echo "stub did not start:" >&2; cat "$tmp/stub.err" >&2; exit 1; }
echo "stub ready: $(cat "$tmp/ready")"

ERL_EPMD_PORT=$port timeout "$limit" erl -noshell -noinput -start_epmd false -hidden \
  -name "benchload_$$@127.0.0.1" -setcookie "$cookie" -pa ebin -pa ebin-test \
  -eval 'chat_bench:main()' -extra "$stub" users="$users" seconds="$seconds" ${BENCH_ARGS:-}
