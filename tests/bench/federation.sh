#!/usr/bin/env bash
# Federated sign-in figures (loopback only, bounded in time): tests/bench/federation.sh
# Builds the server, the load tool and the plugins (release); runs a fake OpenID provider
# (browser-load provider) and the load on LOAD_CPU, the server on SERVER_CPU with the
# oidc-connector pointed at the provider; prints federated sign-in round trips per second
# (authorize → login page → provider → callback → code → token, each a fresh browser whose
# identity is already linked) and the server's own time per connector call (begin and
# complete, from gatehouse_plugin_call_duration_seconds). Knobs: DURATION=8 CONNS=4.
# Needs curl and taskset.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-8}" CONNS="${CONNS:-4}" SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
BASE=http://127.0.0.1:3100 PROVIDER_PORT=3101 ADMIN=federation-bench-admin-token-0123456789
for port in 3100 "$PROVIDER_PORT"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then echo "federation.sh: port $port is taken" >&2; exit 1; fi
done
cargo build --release --quiet -p gatehouse -p gatehouse-tests --manifest-path "$ROOT/Cargo.toml"
(cd "$ROOT/plugins" && cargo build --release --quiet --target wasm32-wasip2)
work="$(mktemp -d)"
cleanup() { kill "${server:-}" "${provider:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
P="http://127.0.0.1:$PROVIDER_PORT"
{
  sed "s#\.\./\.\./target/bench-data#$work/data#" "$HERE/bench.toml"
  printf '\n[admin]\ntoken_sha256 = "%s"\n' "$(printf '%s' "$ADMIN" | sha256sum | cut -d' ' -f1)"
  printf '\n[plugin_runtime]\nallow_loopback_http = true\n'
  printf '\n[[plugins]]\nname = "bench-sso"\nkind = "idp-connector"\npath = "%s"\n' "$ROOT/plugins/target/wasm32-wasip2/release/oidc_connector.wasm"
  printf 'allowed_hosts = ["127.0.0.1:%s"]\nsecrets = ["PATH"]\n[plugins.config]\nid = "partner"\n' "$PROVIDER_PORT"
  printf 'issuer = "%s"\nauthorization_endpoint = "%s/authorize"\ntoken_endpoint = "%s/token"\njwks_uri = "%s/jwks"\n' "$P" "$P" "$P" "$P"
  printf 'client_id = "gatehouse-at-provider"\nclient_secret = "PATH"\n'
} >"$work/gatehouse.toml"
taskset -c "$LOAD_CPU" "$ROOT/target/release/browser-load" provider "$PROVIDER_PORT" &
provider=$!
GATEHOUSE_LOG=warn taskset -c "$SERVER_CPU" "$ROOT/target/release/gatehouse" serve --config "$work/gatehouse.toml" >"$work/log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -s -o /dev/null "$BASE/ping" && break; sleep 0.1; done
LOAD="taskset -c $LOAD_CPU $ROOT/target/release/browser-load"
# The first sign-in makes and links the account; the measured ones find the link.
$LOAD federated "$BASE" 1 1 >/dev/null
echo "# gatehouse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), server on CPU $SERVER_CPU, provider and load on CPU $LOAD_CPU, ${DURATION}s"
printf '%-36s %10s %9s %9s %7s\n' workload "req/s" "p50 ms" "p99 ms" errors
read -r _ rps p50 p99 err < <($LOAD federated "$BASE" "$DURATION" "$CONNS")
printf '%-36s %10s %9s %9s %7s\n' "federated sign-in round trip (x$CONNS)" "$rps" "$p50" "$p99" "$err"
metrics="$(curl -s -H "Authorization: Bearer $ADMIN" "$BASE/metrics")"
sum="$(awk '/^gatehouse_plugin_call_duration_seconds_sum\{plugin="bench-sso"\}/ {print $2}' <<<"$metrics")"
count="$(awk '/^gatehouse_plugin_call_duration_seconds_count\{plugin="bench-sso"\}/ {print $2}' <<<"$metrics")"
awk -v s="$sum" -v c="$count" 'BEGIN { if (c > 0) printf "connector calls: %d (begin + complete per sign-in), mean %.2f ms each, %.2f ms per sign-in\n", c, s / c * 1000, 2 * s / c * 1000 }'
