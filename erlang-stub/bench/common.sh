# Sourced by run.sh and ab.sh, in erlang-stub/: what both need before they start stubs.
# bench_setup PREFIX BEAM...: builds the stub and the given bench modules, makes the
# scratch directory $tmp, starts epmd on a free port ($port), and records every pid
# started into $pids, which bench_cleanup stops (by pid) on exit, removing $tmp.
bench_setup() {
  local prefix=$1
  shift
  mkdir -p ebin ebin-test
  flock ebin/.build.lock make -s all "$@" >&2
  tmp=$(mktemp -d "/tmp/$prefix.XXXXXX")
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
