#!/usr/bin/env bash
# Load figures for Gatehouse (loopback only, bounded in time):
#   tests/bench/load.sh            build release, start the server pinned to CPU 0, run wrk
#                                  pinned to CPU 1 on each workload, print req/s, p50, p99,
#                                  and the server's peak RSS.
# Knobs: DURATION=10 (s per workload) WARMUP=2 CONNS=32 SERVER_CPU=0 LOAD_CPU=1
# Needs wrk, curl, jq (apt-get install -y wrk curl jq). For ratios against the HTTP ceiling
# of the machine, use ../shared/bench/compare.sh (README: Performance).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-10}" WARMUP="${WARMUP:-2}" CONNS="${CONNS:-32}"
SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
BASE=http://127.0.0.1:3100
ID=bench-service SECRET=bench-secret-0123456789abcdef

for tool in wrk curl jq taskset; do
  command -v "$tool" >/dev/null || { echo "load.sh: missing $tool (apt-get install -y wrk curl jq)" >&2; exit 2; }
done
if curl -s -o /dev/null --max-time 1 "$BASE/ping"; then
  echo "load.sh: something already listens on $BASE; stop it first" >&2; exit 1
fi

cargo build --release --quiet -p gatehouse --manifest-path "$ROOT/Cargo.toml"
rm -rf "$ROOT/target/bench-data"
log="$(mktemp)"
GATEHOUSE_LOG=warn taskset -c "$SERVER_CPU" "$ROOT/target/release/gatehouse" serve --config "$HERE/bench.toml" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "$BASE/ping" && break; sleep 0.1; done

AUTH="Basic $(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)"
TOKEN="$(curl -s -H "Authorization: $AUTH" -d grant_type=client_credentials "$BASE/token" | jq -r .access_token)"
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || { echo "load.sh: could not mint a token" >&2; cat "$log"; exit 1; }
REVOKED="$(curl -s -H "Authorization: $AUTH" -d grant_type=client_credentials "$BASE/token" | jq -r .access_token)"
curl -sf -o /dev/null -H "Authorization: $AUTH" -d "token=$REVOKED" "$BASE/revoke" || { echo "load.sh: could not revoke a token" >&2; exit 1; }

run() { # name method path [body] [ctype] [auth]
  local name="$1" method="$2" path="$3" body="${4:-}" ctype="${5:-}" auth="${6:-}"
  local env=(WRK_METHOD="$method" WRK_BODY="$body" WRK_CTYPE="$ctype" WRK_AUTH="$auth")
  if [ "$WARMUP" -gt 0 ]; then
    env "${env[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$HERE/request.lua" "$BASE$path" >/dev/null
  fi
  local res
  res="$(env "${env[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$HERE/request.lua" "$BASE$path" | sed -n 's/^RESULT //p')"
  printf '%-22s %10s %9s %9s %9s\n' "$name" "$(jq -r .rps <<<"$res")" "$(jq -r .p50_ms <<<"$res")" \
    "$(jq -r .p99_ms <<<"$res")" "$(jq -r .errors <<<"$res")"
}

echo "# gatehouse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), server on CPU $SERVER_CPU, wrk -t1 -c$CONNS on CPU $LOAD_CPU, ${DURATION}s per workload"
printf '%-22s %10s %9s %9s %9s\n' workload "req/s" "p50 ms" "p99 ms" errors
run "ping GET" GET /ping
run "discovery GET" GET /.well-known/openid-configuration
run "jwks GET" GET /jwks
run "token POST (cc)" POST /token "grant_type=client_credentials" application/x-www-form-urlencoded "$AUTH"
run "introspect POST" POST /introspect "token=$TOKEN" application/x-www-form-urlencoded "$AUTH"
run "introspect (revoked)" POST /introspect "token=$REVOKED" application/x-www-form-urlencoded "$AUTH"
run "verify POST" POST /verify "{\"token\":\"$TOKEN\"}" application/json
echo "peak RSS: $(awk '/VmHWM/{printf "%.1f MB", $2/1024}' /proc/$pid/status)"
