# Sourced by run.sh, ab.sh and diag.sh, in erlang-stub/: what they need before they start stubs.
# Sets the data's defaults ($users, $friends: BENCH_USERS, BENCH_FRIENDS) and $base, the
# stubs' VM flags (schedulers sleep at once when out of work: see run.sh).
# bench_setup PREFIX BEAM...: builds the stub and the given bench modules, makes the
# scratch directory $tmp, starts epmd on a free port ($port), picks a $cookie, and records
# every pid started into $pids, which bench_cleanup stops (by pid) on exit, removing $tmp.
# start_stub and wait_ready then start the stub nodes.
# BENCH_OTP_ROOT=ROOT (a Debian root made by scripts/otp-roots.sh, e.g. /opt/otp-sid):
# the stub nodes run that root's OTP (chroot ROOT erl), from a build by its own erlc in
# a scratch directory inside the root; the load node stays on this machine's erl (it
# loads the bench modules it compiled into the stubs, which OTP 27 and 29 accept).
# shellcheck disable=SC2034 # used by the scripts that source this one
users=${BENCH_USERS:-10000}
# shellcheck disable=SC2034
friends=${BENCH_FRIENDS:-200}
# shellcheck disable=SC2034
base="+sbwt none +sbwtdcpu none +sbwtdio none"
bench_setup() {
  local prefix=$1
  shift
  mkdir -p ebin ebin-test
  flock ebin/.build.lock make -s all "$@" >&2
  tmp=$(mktemp -d "/tmp/$prefix.XXXXXX")
  cookie="${prefix}_$$_$RANDOM"
  pids=()
  trap bench_cleanup EXIT
  stub_root=${BENCH_OTP_ROOT:-}
  if [ -n "$stub_root" ]; then build_in_root "$stub_root"; fi
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  epmd -port "$port" -relaxed_command_check &
  pids+=($!)
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
  if [ -n "${stub_rel:-}" ]; then rm -rf "${stub_root:?}$stub_rel"; fi
}

# build_in_root ROOT: a copy of the stub (bin, src, include) in a scratch directory
# $stub_rel as seen inside ROOT (removed by bench_cleanup), compiled by ROOT's erlc into
# its ebin, which bin/chat-stub then finds up to date.
build_in_root() {
  [ -x "$1/usr/bin/erl" ] || { echo "BENCH_OTP_ROOT=$1 has no usr/bin/erl: make it with scripts/otp-roots.sh" >&2; exit 1; }
  stub_rel=$(chroot "$1" mktemp -d /tmp/chat-bench-stub.XXXXXX)
  cp -r bin src include "$1$stub_rel/"
  mkdir "$1$stub_rel/ebin"
  local srcs=()
  for f in src/*.erl; do srcs+=("$stub_rel/$f"); done
  chroot "$1" erlc -I "$stub_rel/include" -o "$stub_rel/ebin" "${srcs[@]}"
  cp ebin/chat_stub.app "$1$stub_rel/ebin/"   # last: newer than the sources
  echo "stub nodes: OTP $(chroot "$1" erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().') from $1; load node: OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')" >&2
}

# start_stub NAME DIR SCHEDULERS VM_FLAGS NICENESS STUB_ARGS: one stub node of the bench's
# data from DIR (an erlang-stub directory), with +S N:N and VM_FLAGS, at NICENESS, with
# STUB_ARGS added to its arguments; its ready line goes to $tmp/NAME.ready, its log to
# $tmp/NAME.err, its pid to $pids. With BENCH_OTP_ROOT, DIR is ignored: the root's copy
# of bin/chat-stub runs the build of build_in_root, and a crash dump goes to its scratch
# directory.
start_stub() {
  local run=("$2/bin/chat-stub")
  if [ -n "${stub_rel:-}" ]; then
    run=(env CHAT_STUB_EBIN="$stub_rel/ebin" ERL_CRASH_DUMP="$stub_rel/$1.dump" chroot "$stub_root" bash "$stub_rel/bin/chat-stub")
  fi
  # shellcheck disable=SC2086 # STUB_ARGS is a list of arguments
  ERL_FLAGS="+S $3:$3 $4" nice -n "$5" "${run[@]}" --name "$1@127.0.0.1" --cookie "$cookie" --epmd-port "$port" \
    --thrift-port 0 --users "$users" --friends "$friends" --grace-ms 0 --idle-ms 600000 --log-level error $6 \
    >"$tmp/$1.ready" 2>"$tmp/$1.err" &
  pids+=($!)
}

# wait_ready NAME: waits (up to 60 s) for stub NAME's ready line; exits showing its log if none came.
wait_ready() {
  for _ in $(seq 1 600); do [ -s "$tmp/$1.ready" ] && break; sleep 0.1; done
  [ -s "$tmp/$1.ready" ] || { echo "stub $1 did not start:" >&2; cat "$tmp/$1.err" >&2; exit 1; }
}
