#!/usr/bin/env bash
# User-space instructions per request of the gateway, counted by callgrind: a figure that does not
# move with the load of this shared VM (CPU time does, by ±30% between runs), so it is what an A/B
# of a code change is judged by. Kernel time (the syscalls) is not counted. Measures the public
# route and the authenticated route (ES256, warm verified-token cache) against a local nginx, with
# a light load (wrk, 8 connections) while the gateway runs under valgrind.
# Usage: bench/instructions.sh [binary]   (default: the release build, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
install_bench_tools valgrind:valgrind
if [[ $# -ge 1 ]]; then
    BIN=$1
else
    cargo build --release -q -p portcullis
    BIN=target/release/portcullis
fi
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
PIDS=()
trap bench_cleanup EXIT INT TERM

UPSTREAM=18180; AUTH=13101; GATEWAY=18182; ADMIN=18183
start_nginx upstream "server { listen 127.0.0.1:$UPSTREAM; location / { return 200 \"ok\\n\"; } }" > /dev/null
start_issuer "$BIN" "$WORK/auth" "$AUTH" ES256
TOKEN=$ISSUER_TOKEN

bench_gateway_toml $GATEWAY $ADMIN 100000 $UPSTREAM "http://127.0.0.1:$AUTH" > "$WORK/gateway.toml"
valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.%p" \
    "$BIN" --config "$WORK/gateway.toml" serve gateway > "$WORK/gateway.log" 2>&1 &
GW=$!; PIDS+=($GW)
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.2; done

# Requests answered so far, from the gateway's own counter.
answered() {
    curl -sf "http://127.0.0.1:$ADMIN/metrics" |
        awk '/^portcullis_gateway_requests_total/ { sum += $2 } END { print sum + 0 }'
}
# Counters are zeroed after a warm-up, so start-up and first connections are not counted.
measure() { # name url [token]
    local header=()
    [[ -n ${3:-} ]] && header=(-H "Authorization: Bearer $3")
    wrk -t1 -c8 -d3s "${header[@]}" "$2" > /dev/null
    local before; before=$(answered)
    callgrind_control -z "$GW" > /dev/null 2>&1
    wrk -t1 -c8 -d8s "${header[@]}" "$2" > /dev/null
    callgrind_control -d "$GW" > /dev/null 2>&1
    local after; after=$(answered)
    local dump; dump=$(ls -t "$WORK"/callgrind."$GW".* | head -1)
    local total; total=$(awk '/^(summary|totals):/ { print $2; exit }' "$dump")
    printf '| %s | %d | %d |\n' "$1" $((after - before)) $((total / (after - before)))
}
echo "Command: \`bench/instructions.sh\` — user-space instructions per request (callgrind), wrk -t1 -c8 under valgrind."
echo
echo "| route | requests counted | instructions per request |"
echo "|---|---|---|"
measure "public" "http://127.0.0.1:$GATEWAY/public/"
measure "authenticated ES256, warm cache" "http://127.0.0.1:$GATEWAY/api/" "$TOKEN"
