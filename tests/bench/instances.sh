#!/usr/bin/env bash
# Refresh rotations on PostgreSQL with one and with two instances (loopback only):
#   GATEHOUSE_STORE_URL=postgres://... tests/bench/instances.sh
# builds release, runs the 32-chain refresh workload against one instance, then against two
# instances on the same database (each chain rotating on A and B in turn), every server
# pinned to SERVER_CPU, the load (and, if you pin it there, the database) on LOAD_CPU.
# Knobs: DURATION=8 CONNS=32 SERVER_CPU=0 LOAD_CPU=1. Needs curl, taskset.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-8}" CONNS="${CONNS:-32}" SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
: "${GATEHOUSE_STORE_URL:?set GATEHOUSE_STORE_URL to a PostgreSQL database (it is used, not emptied)}"
export GATEHOUSE_STORE_BACKEND=postgres GATEHOUSE_STORE_URL
export GATEHOUSE_LOGIN_PASSWORD_HASH_MEMORY_KIB="${GATEHOUSE_LOGIN_PASSWORD_HASH_MEMORY_KIB:-256}"
export GATEHOUSE_LOGIN_PASSWORD_HASH_ITERATIONS="${GATEHOUSE_LOGIN_PASSWORD_HASH_ITERATIONS:-1}"
A=http://127.0.0.1:3100 B=http://127.0.0.1:3101
for base in $A $B; do
  if curl -s -o /dev/null --max-time 1 "$base/ping"; then echo "instances.sh: $base is taken" >&2; exit 1; fi
done
cargo build --release --quiet -p gatehouse -p gatehouse-tests --manifest-path "$ROOT/Cargo.toml"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
start() { # bind
  GATEHOUSE_LOG=warn GATEHOUSE_SERVER_BIND="$1" taskset -c "$SERVER_CPU" "$ROOT/target/release/gatehouse" serve \
    --config "$HERE/bench.toml" >"${LOGDIR:-/dev/null}${LOGDIR:+/$1.log}" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://$1/ping" && return; sleep 0.1; done
  echo "instances.sh: the server on $1 did not start" >&2; exit 1
}
LOAD="taskset -c $LOAD_CPU $ROOT/target/release/browser-load"
line() { read -r _ rps p50 p99 err; printf '%-34s %10s %9s %9s %7s\n' "$1" "$rps" "$p50" "$p99" "$err"; }
echo "# gatehouse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') on PostgreSQL, servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU, ${DURATION}s"
printf '%-34s %10s %9s %9s %7s\n' workload "req/s" "p50 ms" "p99 ms" errors
start 127.0.0.1:3100
$LOAD refresh "$A" "$DURATION" "$CONNS" | line "refresh, one instance (x$CONNS)"
start 127.0.0.1:3101
$LOAD refresh "$A,$B" "$DURATION" "$CONNS" | line "refresh, two instances (x$CONNS)"
