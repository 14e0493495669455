#!/usr/bin/env bash
# What a second scheduler costs on this machine, apart from any stub (npm run bench:stub:smp):
# the message pattern of a stub send alone and with lock-free work, and a shard's ETS work
# without sharing, each in fresh +S 1:1 and +S 2:2 VMs round by round. See chat_bench_smp.erl
# and bench/FIGURES.md. Arguments: key=value (rounds=5 seconds=4 work_us=40).
# Starts no server: the probe VMs are children of the controller, which ends each one that
# overruns by its pid.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v erl >/dev/null || bash ../scripts/ensure-erlang.sh
mkdir -p ebin ebin-test
flock ebin/.build.lock make -s all ebin-test/chat_bench.beam ebin-test/chat_bench_os.beam ebin-test/chat_bench_smp.beam >&2
# The probe VMs get the stub VMs' flags ($base).
. bench/common.sh
SMP_VM_FLAGS="$base" exec erl +S 1:1 -noshell -pa ebin-test -run chat_bench_smp main -extra "$@"
