# Sourced by run.sh, ab.sh and diag.sh, in erlang-stub/: what they need before they start stubs.
# Sets the data's defaults ($users, $friends: BENCH_USERS, BENCH_FRIENDS) and $base, the
# stubs' VM flags (schedulers sleep at once when out of work: see run.sh).
# bench_setup PREFIX BEAM...: builds the stub and the given bench modules, makes the
# scratch directory $tmp, starts epmd on a free port ($port), picks a $cookie, and records
# every pid started into $pids, which bench_cleanup stops (by pid) on exit, removing $tmp.
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
