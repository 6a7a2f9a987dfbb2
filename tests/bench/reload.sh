#!/usr/bin/env bash
# client_credentials issuance with one policy plugin while the plugin set is reloaded
# (loopback only, bounded in time): tests/bench/reload.sh
# Three runs of DURATION seconds each, server pinned to SERVER_CPU, wrk on LOAD_CPU:
#   no reload; RELOADS SIGHUP reloads of an unchanged file (the compiled component is reused);
#   RELOADS reloads that alternate between two different files (each one compiled);
#   RELOADS reloads of which every other one is of a broken config (refused, the set stays).
# Prints req/s, p50, p99 and errors per run. Knobs: DURATION=20 RELOADS=16 CONNS=32.
# Needs wrk, curl, jq, taskset.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-20}" RELOADS="${RELOADS:-16}" CONNS="${CONNS:-32}"
SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
BASE=http://127.0.0.1:3100 ID=bench-service SECRET=bench-secret-0123456789abcdef
if curl -s -o /dev/null --max-time 1 "$BASE/ping"; then echo "reload.sh: $BASE is taken" >&2; exit 1; fi
cargo build --release --quiet -p gatehouse --manifest-path "$ROOT/Cargo.toml"
(cd "$ROOT/plugins" && cargo build --release --quiet --target wasm32-wasip2)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
wasm="$ROOT/plugins/target/wasm32-wasip2/release/allow_email_domain.wasm"
# The same component with an extra custom section: other bytes, another sha256, same behaviour.
cp "$wasm" "$work/a.wasm"
{ cat "$wasm"; printf '\x00\x05\x04benc'; } >"$work/b.wasm"
config() { # component path [pinned sha256]
  sed "s#\.\./\.\./target/bench-data#$work/data#" "$HERE/bench.toml"
  printf '\n[[plugins]]\nname = "email-domain"\nkind = "policy"\npath = "%s"\n' "$1"
  if [ -n "${2:-}" ]; then printf 'sha256 = "%s"\n' "$2"; fi
  printf '[plugins.config]\nallowed_email_domain = "example.com"\n'
}
AUTH="Basic $(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)"
run() { # mode: none|same|changed|failing
  local mode="$1" pid res wrk_pid
  rm -rf "$work/data"
  config "$work/a.wasm" >"$work/gatehouse.toml"
  GATEHOUSE_LOG=warn taskset -c "$SERVER_CPU" "$ROOT/target/release/gatehouse" serve --config "$work/gatehouse.toml" >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$BASE/ping" && break; sleep 0.1; done
  local env=(WRK_METHOD=POST WRK_BODY=grant_type=client_credentials WRK_CTYPE=application/x-www-form-urlencoded WRK_AUTH="$AUTH")
  env "${env[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d2s -s "$HERE/request.lua" "$BASE/token" >/dev/null
  env "${env[@]}" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$HERE/request.lua" "$BASE/token" >"$work/wrk" &
  wrk_pid=$!
  if [ "$mode" != none ]; then
    local gap i
    gap="$(awk -v d="$DURATION" -v n="$RELOADS" 'BEGIN { printf "%.3f", d / (n + 1) }')"
    for i in $(seq "$RELOADS"); do
      sleep "$gap"
      if [ "$mode" = changed ]; then
        if [ $((i % 2)) = 1 ]; then config "$work/b.wasm"; else config "$work/a.wasm"; fi >"$work/gatehouse.toml"
      elif [ "$mode" = failing ]; then
        # A pin that does not match: the reload is refused and the running set stays.
        if [ $((i % 2)) = 1 ]; then config "$work/b.wasm" "$(printf '0%.0s' $(seq 64))"; else config "$work/b.wasm"; fi >"$work/gatehouse.toml"
      fi
      kill -HUP "$pid"
    done
  fi
  wait "$wrk_pid"
  res="$(sed -n 's/^RESULT //p' "$work/wrk")"
  if [ "$mode" = failing ]; then
    echo "reload.sh: $(grep -c 'reload failed' "$work/log" || true) reloads refused as intended" >&2
  elif grep -q 'reload failed' "$work/log"; then echo "reload.sh: a reload failed:" >&2; cat "$work/log" >&2; fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-34s %10s %9s %9s %7s\n' "$2" "$(jq -r .rps <<<"$res")" "$(jq -r .p50_ms <<<"$res")" "$(jq -r .p99_ms <<<"$res")" "$(jq -r .errors <<<"$res")"
}
echo "# gatehouse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), one policy plugin, server on CPU $SERVER_CPU, wrk -t1 -c$CONNS on CPU $LOAD_CPU, ${DURATION}s per run"
printf '%-34s %10s %9s %9s %7s\n' run "req/s" "p50 ms" "p99 ms" errors
run none "no reload"
run same "$RELOADS reloads, file unchanged"
run changed "$RELOADS reloads, file changed each"
run failing "$RELOADS reloads, every other refused"
