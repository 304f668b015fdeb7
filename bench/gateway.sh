#!/usr/bin/env bash
# Gateway benchmark: upstream direct vs nginx proxy_pass vs the Portcullis gateway (public route,
# authenticated route per algorithm with a warm verified-token cache, and cold: cache disabled so
# every request verifies the signature). Prints req/s, p50/p99 latency, server CPU microseconds per
# request (from /proc), and the gateway's RSS with 1,000 open keep-alive connections (idle, and
# under load).
# Everything runs on loopback. Usage: bench/gateway.sh [duration-seconds] [connections] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-8}
CONNECTIONS=${2:-64}
ROUNDS=${3:-3}
WORK=$(mktemp -d)
PIDS=()
trap bench_cleanup EXIT INT TERM

install_bench_tools
cargo build --release -q -p portcullis
BIN=target/release/portcullis

UPSTREAM=18080; PROXY=18081; GATEWAY=18082; GATEWAY_COLD=18084; GATEWAY_RSS=18086
# The upstream and nginx's proxy are separate nginx instances (one worker each), so nginx's proxy
# reaches the upstream over loopback exactly as the gateway does, and each proxy's CPU is counted
# without the upstream's.
UPSTREAM_PIDS=$(start_nginx upstream "server { listen 127.0.0.1:$UPSTREAM; location / { return 200 \"ok\\n\"; } }")
PROXY_PIDS=$(start_nginx proxy "upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 256; }
    server { listen 127.0.0.1:$PROXY; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }")

# One auth server per access token algorithm, each with a client-credentials client.
declare -A TOKENS ISSUERS
port=13000
for alg in ES256 EdDSA RS256; do
    port=$((port + 1))
    start_issuer "$BIN" "$WORK/auth-$alg" "$port" "$alg"
    TOKENS[$alg]=$ISSUER_TOKEN
    ISSUERS[$alg]="http://127.0.0.1:$port"
done

gateway_config() { # listen admin cache-entries
    bench_gateway_toml "$1" "$2" "$3" "$UPSTREAM" "${ISSUERS[@]}"
}
gateway_config $GATEWAY 18083 100000 > "$WORK/gateway.toml"
gateway_config $GATEWAY_COLD 18085 0 > "$WORK/gateway-cold.toml"
"$BIN" --config "$WORK/gateway.toml" serve gateway > /dev/null 2>&1 & GW_PID=$!; PIDS+=($GW_PID)
"$BIN" --config "$WORK/gateway-cold.toml" serve gateway > /dev/null 2>&1 & GW_COLD_PID=$!; PIDS+=($GW_COLD_PID)
for port in 18083 18085; do wait_ready "http://127.0.0.1:$port/readyz"; done


# Each target is measured ROUNDS times, the rounds interleaved so that a slow spell of the shared
# cores hits every target alike; a row reports the run of median req/s, and the median CPU.
RESULTS=$WORK/results
mkdir -p "$RESULTS"
NAMES=()
every_target() {
    measure "upstream direct (nginx return 200)" "http://127.0.0.1:$UPSTREAM/" "$UPSTREAM_PIDS"
    measure "nginx proxy_pass, keep-alive, no auth" "http://127.0.0.1:$PROXY/" "$PROXY_PIDS"
    measure "gateway, public route" "http://127.0.0.1:$GATEWAY/public/" "$GW_PID"
    for alg in ES256 EdDSA RS256; do
        measure "gateway, authenticated $alg, warm cache" "http://127.0.0.1:$GATEWAY/api/" "$GW_PID" "${TOKENS[$alg]}"
    done
    for alg in ES256 EdDSA RS256; do
        measure "gateway, authenticated $alg, cold (verify every request)" "http://127.0.0.1:$GATEWAY_COLD/api/" "$GW_COLD_PID" "${TOKENS[$alg]}"
    done
}
every_target
for _ in $(seq 2 "$ROUNDS"); do RECORDING=0 every_target; done

ROWS=$(measured_rows)

# RSS with 1,000 open keep-alive connections: a fresh gateway, each connection having made one
# request through it and then idle, held open by bench/hold_connections.py.
gateway_config $GATEWAY_RSS 18087 100000 > "$WORK/gateway-rss.toml"
"$BIN" --config "$WORK/gateway-rss.toml" serve gateway > /dev/null 2>&1 & GW_RSS_PID=$!; PIDS+=($GW_RSS_PID)
wait_ready "http://127.0.0.1:18087/readyz"
exec {HOLD_IN}> >(python3 bench/hold_connections.py "$GATEWAY_RSS" 1000 /public/ > "$WORK/hold.out")
for _ in $(seq 300); do grep -q ready "$WORK/hold.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/hold.out" || { echo "could not open 1,000 connections" >&2; exit 1; }
sleep 1
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$GW_RSS_PID/status")
exec {HOLD_IN}>&-

# And under load: 1,000 connections each with a request always in flight (the upstream pool grows
# to match), on the gateway that served every run above.
wrk -t1 -c1000 -d4s "http://127.0.0.1:$GATEWAY/public/" >/dev/null 2>&1 &
WRK_PID=$!
sleep 3
BUSY_RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status")
wait "$WRK_PID"

{
    echo "Command: \`bench/gateway.sh $DURATION $CONNECTIONS $ROUNDS\` — wrk -t1 -c$CONNECTIONS -d${DURATION}s on loopback, $ROUNDS interleaved rounds (median shown); $(machine), load generator on the same cores."
    echo "Server CPU µs/request counts only the measured server's processes, from /proc utime+stime: the upstream nginx in the first row, nginx's proxy (a separate nginx instance, upstream not counted) in the second, the gateway in the others (auth servers and upstream not counted)."
    echo
    echo "| target | req/s | p50 | p99 | server CPU µs/req | non-2xx |"
    echo "|---|---|---|---|---|---|"
    echo "$ROWS"
    echo
    echo "Gateway RSS with 1,000 open keep-alive connections: $(awk -v k="$RSS_KB" 'BEGIN { printf "%.1f MB (%.1f MiB)", k * 1024 / 1e6, k / 1024 }') — a fresh gateway, each connection has made one request and stays open."
    echo "Gateway RSS under load from 1,000 concurrent connections: $(awk -v k="$BUSY_RSS_KB" 'BEGIN { printf "%.1f MB (%.1f MiB)", k * 1024 / 1e6, k / 1024 }') — every connection with a request in flight, so the upstream pool holds about as many connections again."
} | tee "$WORK/table.md"
write_benchmarks_section gateway-bench "Gateway, end to end" "$WORK/table.md"
