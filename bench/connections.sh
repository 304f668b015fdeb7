#!/usr/bin/env bash
# Many busy keep-alive clients at once (issue 23, item 4): wrk with CONNECTIONS connections (10,000
# by default), each always with a request in flight, on the gateway's warm ES256 route to one nginx
# upstream. Prints req/s, p50/p99, non-2xx answers and wrk's socket errors, the gateway's peak RSS
# (VmHWM of a fresh gateway) and how many connections it held to the upstream at the end of the run.
# Usage: bench/connections.sh [duration-seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10}
CONNECTIONS=${2:-10000}
WORK=$(mktemp -d)
PIDS=()
trap bench_cleanup EXIT INT TERM

install_bench_tools
cargo build --release -q -p portcullis
BIN=${PORTCULLIS_BIN:-target/release/portcullis} # another build to compare with
# wrk and the gateway each hold CONNECTIONS sockets.
ulimit -n "$(ulimit -Hn)"

UPSTREAM=18180; GATEWAY=18182; ISSUER=13101
start_nginx upstream "server { listen 127.0.0.1:$UPSTREAM; location / { return 200 \"ok\\n\"; } }" > /dev/null
start_issuer "$BIN" "$WORK/auth" "$ISSUER" ES256
bench_gateway_toml "$GATEWAY" 18183 100000 "$UPSTREAM" "http://127.0.0.1:$ISSUER" > "$WORK/gateway.toml"
# Room for every client connection (the benchmarks' gateway configuration allows 5,000).
sed -i "s/^max_connections = .*/max_connections = $((CONNECTIONS + 1000))/" "$WORK/gateway.toml"
"$BIN" --config "$WORK/gateway.toml" serve gateway > "$WORK/gateway.log" 2>&1 & GW_PID=$!; PIDS+=($GW_PID)
wait_ready "http://127.0.0.1:18183/readyz"
# The token's verification is cached by one request first: every measured request is a warm hit.
curl -sf -H "Authorization: Bearer $ISSUER_TOKEN" "http://127.0.0.1:$GATEWAY/api/" > /dev/null

OUT=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s --latency \
    -H "Authorization: Bearer $ISSUER_TOKEN" "http://127.0.0.1:$GATEWAY/api/")
UPSTREAM_CONNECTIONS=$(ss -Htn state established "( dport = :$UPSTREAM )" | wc -l)
PEAK_KB=$(awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status")
echo "$OUT" >&2

rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$OUT")
p50=$(awk '$1=="50%" {print $2}' <<<"$OUT")
p99=$(awk '$1=="99%" {print $2}' <<<"$OUT")
non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$OUT"); non2xx=${non2xx:-0}
errors=$(awk '/Socket errors/ {print $0}' <<<"$OUT" | sed 's/.*Socket errors: //'); errors=${errors:-none}
{
    echo "Command: \`bench/connections.sh $DURATION $CONNECTIONS\` — wrk -t1 -c$CONNECTIONS -d${DURATION}s through \`portcullis serve gateway\` (\`max_connections\` $((CONNECTIONS + 1000)) so every client is accepted, \`upstream_max_connections\` at its default, 1024) on its warm ES256 route to one nginx upstream (one worker, \`return 200\`); $(machine); load generator on the same cores."
    echo
    echo "| connections | req/s | p50 | p99 | non-2xx | socket errors | gateway peak RSS | upstream connections at the end |"
    echo "|---|---|---|---|---|---|---|---|"
    echo "| $CONNECTIONS | $rps | $p50 | $p99 | $non2xx | $errors | $(awk -v k="$PEAK_KB" 'BEGIN { printf "%.1f MB", k * 1024 / 1e6 }') | $UPSTREAM_CONNECTIONS |"
} | tee "$WORK/table.md"
write_benchmarks_section connections-bench "Gateway: 10,000 busy connections" "$WORK/table.md"
