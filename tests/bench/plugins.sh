#!/usr/bin/env bash
# Policy plugin cost (loopback only, bounded in time):
#   tests/bench/plugins.sh   builds the server and the plugins (release), then runs
#     1. cargo bench --bench plugins: per-call overhead (fresh pooled instance + evaluate),
#     2. wrk on POST /token (client_credentials) without plugins, with one policy plugin
#        (allow-email-domain) and with one notifier (webhook-notifier, which follows the audit
#        log), server pinned to CPU 0 and wrk to CPU 1, printing the rates, their ratios, and
#        the per-call times the server recorded in its audit log under load.
# Knobs: DURATION=10 WARMUP=2 CONNS=32 SERVER_CPU=0 LOAD_CPU=1
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-10}" WARMUP="${WARMUP:-2}" CONNS="${CONNS:-32}"
SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
BASE=http://127.0.0.1:3100
ID=bench-service SECRET=bench-secret-0123456789abcdef
for tool in wrk curl jq taskset; do
  command -v "$tool" >/dev/null || { echo "plugins.sh: missing $tool (apt-get install -y wrk curl jq)" >&2; exit 2; }
done

cargo build --release --quiet -p gatehouse --manifest-path "$ROOT/Cargo.toml"
(cd "$ROOT/plugins" && cargo build --release --quiet --target wasm32-wasip2)
echo "## per-call overhead (cargo bench --bench plugins)"
cargo bench --quiet -p gatehouse --bench plugins --manifest-path "$ROOT/Cargo.toml" 2>/dev/null | grep -E "policy call|load"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$HERE/bench.toml" "$work/plain.toml"
sed -i "s#\.\./\.\./target/bench-data#$work/data#" "$work/plain.toml"
cp "$work/plain.toml" "$work/policy.toml"
cat >>"$work/policy.toml" <<TOML

[[plugins]]
name = "email-domain"
kind = "policy"
path = "$ROOT/plugins/target/wasm32-wasip2/release/allow_email_domain.wasm"
[plugins.config]
allowed_email_domain = "example.com"
TOML

# A notifier following the audit log (every event; none of the token workload's is
# notifiable, so this measures only the queue keeping up with the log).
cp "$work/plain.toml" "$work/notifier.toml"
cat >>"$work/notifier.toml" <<TOML

[[plugins]]
name = "hook"
kind = "notifier"
path = "$ROOT/plugins/target/wasm32-wasip2/release/webhook_notifier.wasm"
events = ["*"]
channel = "webhook"
recipient = "https://hooks.invalid/bench"
allowed_hosts = ["hooks.invalid"]
TOML

AUTH="Basic $(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)"
rate() { # config -> req/s p50 p99 of the cc token workload
  local config="$1" log pid res
  rm -rf "$work/data"
  log="$work/server.log"
  GATEHOUSE_LOG=warn taskset -c "$SERVER_CPU" "$ROOT/target/release/gatehouse" serve --config "$config" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$BASE/ping" && break; sleep 0.1; done
  local env=(WRK_METHOD=POST WRK_BODY=grant_type=client_credentials WRK_CTYPE=application/x-www-form-urlencoded WRK_AUTH="$AUTH")
  env "${env[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$HERE/request.lua" "$BASE/token" >/dev/null
  res="$(env "${env[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$HERE/request.lua" "$BASE/token" | sed -n 's/^RESULT //p')"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$res"
}

echo "## POST /token client_credentials, wrk -t1 -c$CONNS ${DURATION}s, server on CPU $SERVER_CPU"
plain="$(rate "$work/plain.toml")"
# The notifier run first: each run starts from an empty store, and the last one's audit log
# is read below.
notifier="$(rate "$work/notifier.toml")"
policy="$(rate "$work/policy.toml")"
printf '%-22s %10s %9s %9s %7s\n' config "req/s" "p50 ms" "p99 ms" errors
printf '%-22s %10s %9s %9s %7s\n' "no plugin" "$(jq -r .rps <<<"$plain")" "$(jq -r .p50_ms <<<"$plain")" "$(jq -r .p99_ms <<<"$plain")" "$(jq -r .errors <<<"$plain")"
printf '%-22s %10s %9s %9s %7s\n' "one policy plugin" "$(jq -r .rps <<<"$policy")" "$(jq -r .p50_ms <<<"$policy")" "$(jq -r .p99_ms <<<"$policy")" "$(jq -r .errors <<<"$policy")"
printf '%-22s %10s %9s %9s %7s\n' "one notifier plugin" "$(jq -r .rps <<<"$notifier")" "$(jq -r .p50_ms <<<"$notifier")" "$(jq -r .p99_ms <<<"$notifier")" "$(jq -r .errors <<<"$notifier")"
echo "ratio notifier/none: $(jq -n --argjson a "$(jq .rps <<<"$notifier")" --argjson b "$(jq .rps <<<"$plain")" '$a / $b * 100 | round / 100')"
echo "ratio with/without: $(jq -n --argjson a "$(jq .rps <<<"$policy")" --argjson b "$(jq .rps <<<"$plain")" '$a / $b * 100 | round / 100') (target >= 0.5)"

echo "## plugin call time in the server under that load (audit log: policy_decision micros)"
"$ROOT/target/release/gatehouse" audit export --config "$work/policy.toml" |
  jq -r 'select(.event.type == "policy_decision") | .event.micros' | sort -n |
  awk '{ v[NR] = $1 } END { if (NR == 0) { print "no records"; exit } printf "%d calls: p50 %d µs  p90 %d µs  p99 %d µs  max %d µs\n", NR, v[int(NR*0.5)+1], v[int(NR*0.9)+1], v[int(NR*0.99)+1], v[NR] }'
