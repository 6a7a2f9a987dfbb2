#!/usr/bin/env bash
# Admin API figures (loopback only, bounded in time): tests/bench/admin.sh
# Builds the server (release), starts it pinned to SERVER_CPU on a fresh sled store, and runs
# wrk on LOAD_CPU: user creation through POST /admin/users (each request a new username;
# without a password, then with one, which argon2id bounds), then GET /admin/users with a
# prefix filter and one user by id over the users made. Prints req/s, p50, p99, errors, the
# number of users in the store and the server's peak RSS. Knobs: DURATION=8 CONNS=8.
# Needs wrk, curl, jq, taskset.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-8}" CONNS="${CONNS:-8}" SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
BASE=http://127.0.0.1:3100 ADMIN=admin-bench-token-0123456789abcdef
for tool in wrk curl jq taskset; do
  command -v "$tool" >/dev/null || { echo "admin.sh: missing $tool" >&2; exit 2; }
done
if curl -s -o /dev/null --max-time 1 "$BASE/ping"; then echo "admin.sh: something listens on $BASE" >&2; exit 1; fi
cargo build --release --quiet -p gatehouse --manifest-path "$ROOT/Cargo.toml"
work="$(mktemp -d)"
cleanup() { kill "${server:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
{
  sed "s#\.\./\.\./target/bench-data#$work/data#" "$HERE/bench.toml"
  printf '\n[admin]\ntoken_sha256 = "%s"\n' "$(printf '%s' "$ADMIN" | sha256sum | cut -d' ' -f1)"
} >"$work/gatehouse.toml"
GATEHOUSE_LOG=warn taskset -c "$SERVER_CPU" "$ROOT/target/release/gatehouse" serve --config "$work/gatehouse.toml" >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -s -o /dev/null "$BASE/ping" && break; sleep 0.1; done
AUTH="Bearer $ADMIN"

line() { printf '%-34s %8s %9s %9s %7s\n' "$@"; }
report() { # name result-json
  line "$1" "$(jq -r .rps <<<"$2")" "$(jq -r .p50_ms <<<"$2")" "$(jq -r .p99_ms <<<"$2")" "$(jq -r .errors <<<"$2")"
}
create() { # name run-tag [password]
  local res
  res="$(WRK_AUTH="$AUTH" WRK_RUN="$2" WRK_PASSWORD="${3:-}" taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$HERE/admin_users.lua" "$BASE" | sed -n 's/^RESULT //p')"
  report "$1" "$res"
}
get() { # name path
  local res
  res="$(WRK_METHOD=GET WRK_AUTH="$AUTH" taskset -c "$LOAD_CPU" \
    wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$HERE/request.lua" "$BASE$2" | sed -n 's/^RESULT //p')"
  report "$1" "$res"
}

echo "# gatehouse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), server on CPU $SERVER_CPU, wrk -t1 -c$CONNS on CPU $LOAD_CPU, ${DURATION}s per workload"
line workload "req/s" "p50 ms" "p99 ms" errors
create "create user (no password)" plain
create "create user (argon2id password)" pw "a bench password 0123"
count="$(curl -s -H "Authorization: $AUTH" "$BASE/admin/users?limit=500" | jq '.users | length')"
one="$(curl -s -H "Authorization: $AUTH" "$BASE/admin/users?q=plain-1-1&limit=1" | jq -r '.users[0].id')"
get "list users (q prefix, limit 100)" "/admin/users?q=plain-1-2&limit=100"
get "read one user" "/admin/users/$one"
users="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $AUTH" "$BASE/admin/users/$one")"
[ "$users" = 200 ] || { echo "admin.sh: reading a user answered $users" >&2; exit 1; }
total=0 cursor=""
while :; do
  page="$(curl -s -H "Authorization: $AUTH" "$BASE/admin/users?limit=500${cursor:+&cursor=$cursor}")"
  total=$((total + $(jq '.users | length' <<<"$page")))
  cursor="$(jq -r '.next_cursor // empty' <<<"$page")"
  [ -n "$cursor" ] || break
done
echo "users in the store: $total (first page $count)"
echo "peak RSS: $(awk '/VmHWM/{printf "%.1f MB", $2/1024}' /proc/$server/status)"
