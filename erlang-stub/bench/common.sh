# Sourced by run.sh, ab.sh and diag.sh, in erlang-stub/: what they need before they start stubs.
# Sets the data's defaults ($users, $friends: BENCH_USERS, BENCH_FRIENDS) and $base, the
# stubs' VM flags (schedulers sleep at once when out of work: see run.sh).
# bench_setup PREFIX BEAM...: builds the stub and the given bench modules, makes the
# scratch directory $tmp, starts epmd on a free port ($port), picks a $cookie, and records
# every pid started into $pids, which bench_cleanup stops (by pid) on exit, removing $tmp.
# start_stub and wait_ready then start the stub nodes.
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
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  epmd -port "$port" -relaxed_command_check &
  pids+=($!)
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}

bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}

# start_stub NAME DIR SCHEDULERS VM_FLAGS NICENESS STUB_ARGS: one stub node of the bench's
# data from DIR (an erlang-stub directory), with +S N:N and VM_FLAGS, at NICENESS, with
# STUB_ARGS added to its arguments; its ready line goes to $tmp/NAME.ready, its log to
# $tmp/NAME.err, its pid to $pids.
start_stub() {
  # shellcheck disable=SC2086 # STUB_ARGS is a list of arguments
  ERL_FLAGS="+S $3:$3 $4" nice -n "$5" "$2/bin/chat-stub" --name "$1@127.0.0.1" --cookie "$cookie" --epmd-port "$port" \
    --thrift-port 0 --users "$users" --friends "$friends" --grace-ms 0 --idle-ms 600000 --log-level error $6 \
    >"$tmp/$1.ready" 2>"$tmp/$1.err" &
  pids+=($!)
}

# wait_ready NAME: waits (up to 60 s) for stub NAME's ready line; exits showing its log if none came.
wait_ready() {
  for _ in $(seq 1 600); do [ -s "$tmp/$1.ready" ] && break; sleep 0.1; done
  [ -s "$tmp/$1.ready" ] || { echo "stub $1 did not start:" >&2; cat "$tmp/$1.err" >&2; exit 1; }
}
