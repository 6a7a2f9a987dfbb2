#!/usr/bin/env bash
# Browser workload figures (loopback only, bounded in time):
#   tests/bench/browser.sh   build release, start the server pinned to CPU 0, drive it from
#                            CPU 1, print req/s, p50, p99 for full sign-ins (password; password
#                            + TOTP code, and the code step alone; passwordless with a software
#                            passkey, and the passkey step alone), refresh rotations and userinfo.
# Knobs: DURATION=8 CONNS=32 LOGIN_CONNS=4 SERVER_CPU=0 LOAD_CPU=1, and the argon2 cost through
# GATEHOUSE_LOGIN_PASSWORD_HASH_MEMORY_KIB / _ITERATIONS (default: OWASP, 19 MiB, t=2).
# Needs wrk, curl, jq, taskset.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-8}" CONNS="${CONNS:-32}" LOGIN_CONNS="${LOGIN_CONNS:-4}" MFA_USERS="${MFA_USERS:-400}"
SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
BASE=http://127.0.0.1:3100

for tool in wrk curl jq taskset; do
  command -v "$tool" >/dev/null || { echo "browser.sh: missing $tool" >&2; exit 2; }
done
if curl -s -o /dev/null --max-time 1 "$BASE/ping"; then
  echo "browser.sh: something already listens on $BASE; stop it first" >&2; exit 1
fi
cargo build --release --quiet -p gatehouse -p gatehouse-tests --manifest-path "$ROOT/Cargo.toml"
rm -rf "$ROOT/target/bench-data"
log="$(mktemp)"
# The bench config plus users for the TOTP workload (each signs in once: a code's time step
# is accepted once per user), next to bench.toml so its relative store path holds.
config="$HERE/.browser-bench.toml"
# The issuer is a host name: WebAuthn refuses IP addresses (the passkey workload).
{ sed 's#^issuer = .*#issuer = "http://localhost:3100"#' "$HERE/bench.toml"; "$ROOT/target/release/browser-load" mfa-users "$MFA_USERS"; } >"$config"
GATEHOUSE_LOG=warn taskset -c "$SERVER_CPU" "$ROOT/target/release/gatehouse" serve --config "$config" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log" "$config"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "$BASE/ping" && break; sleep 0.1; done
LOAD="env ISSUER=http://localhost:3100 taskset -c $LOAD_CPU $ROOT/target/release/browser-load"

echo "# gatehouse $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), server on CPU $SERVER_CPU, load on CPU $LOAD_CPU, ${DURATION}s per workload"
printf '%-30s %10s %9s %9s %7s\n' workload "req/s" "p50 ms" "p99 ms" errors
line() { read -r _ rps p50 p99 err; printf '%-30s %10s %9s %9s %7s\n' "$1" "$rps" "$p50" "$p99" "$err"; }
$LOAD login "$BASE" "$DURATION" "$LOGIN_CONNS" | line "sign-in round trip (x$LOGIN_CONNS)"
$LOAD totp "$BASE" "$DURATION" "$LOGIN_CONNS" "$MFA_USERS" | {
  line "sign-in + TOTP (x$LOGIN_CONNS)"; line "  of which the code step"; }
$LOAD passkey "$BASE" "$DURATION" "$LOGIN_CONNS" | {
  line "passkey sign-in (x$LOGIN_CONNS)"; line "  of which the passkey step"; }
$LOAD refresh "$BASE" "$DURATION" "$CONNS" | line "refresh rotation (x$CONNS)"
TOKEN="$($LOAD token "$BASE")"
res="$(WRK_METHOD=GET WRK_AUTH="Bearer $TOKEN" taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$HERE/request.lua" "$BASE/userinfo" | sed -n 's/^RESULT //p')"
printf '%-30s %10s %9s %9s %7s\n' "userinfo GET (wrk -c$CONNS)" "$(jq -r .rps <<<"$res")" "$(jq -r .p50_ms <<<"$res")" "$(jq -r .p99_ms <<<"$res")" "$(jq -r .errors <<<"$res")"
echo "peak RSS: $(awk '/VmHWM/{printf "%.1f MB", $2/1024}' /proc/$pid/status)"
