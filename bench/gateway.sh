#!/usr/bin/env bash
# Gateway benchmark: upstream direct vs nginx proxy_pass vs the Portcullis gateway (public route,
# authenticated route per algorithm with a warm verified-token cache, and cold: cache disabled so
# every request verifies the signature). Prints req/s, p50/p99 latency, server CPU microseconds per
# request (from /proc), and the gateway's RSS with 1,000 open keep-alive connections.
# Everything runs on loopback. Usage: bench/gateway.sh [duration-seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-8}
CONNECTIONS=${2:-64}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -f "$WORK/nginx.pid" ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    sleep 0.2
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need nginx; then
    echo "installing wrk and nginx from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
cargo build --release -q -p portcullis
BIN=target/release/portcullis
TICKS=$(getconf CLK_TCK)

UPSTREAM=18080; PROXY=18081; GATEWAY=18082; GATEWAY_COLD=18084
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 256; }
    server { listen 127.0.0.1:$UPSTREAM; location / { return 200 "ok\n"; } }
    server { listen 127.0.0.1:$PROXY; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGINX
nginx -p "$WORK" -c "$WORK/nginx.conf"
for _ in $(seq 50); do [[ -s "$WORK/nginx.pid" ]] && break; sleep 0.1; done
NGINX_PIDS="$(cat "$WORK/nginx.pid") $(pgrep -P "$(cat "$WORK/nginx.pid")" | tr '\n' ' ')"

# One auth server per access token algorithm, each with a client-credentials client.
declare -A TOKENS ISSUERS
port=13000
for alg in ES256 EdDSA RS256; do
    port=$((port + 1))
    dir="$WORK/auth-$alg"
    out=$("$BIN" admin --data-dir "$dir" client add bench --grant client_credentials --scope read --audience api)
    secret=$(sed -n 's/^client_secret: //p' <<<"$out")
    PORTCULLIS_KEYS_ACCESS_TOKEN_ALGORITHM=$alg PORTCULLIS_LOG_LEVEL=warn \
        "$BIN" serve auth --data-dir "$dir" --listen "127.0.0.1:$port" > /dev/null 2>&1 &
    PIDS+=($!)
    wait_ready "http://127.0.0.1:$port/readyz"
    TOKENS[$alg]=$(curl -sf -u "bench:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
    ISSUERS[$alg]="http://127.0.0.1:$port"
done

gateway_config() { # listen admin cache-entries
    cat <<TOML
version = 1
[log]
level = "warn"
[gateway]
listen = "127.0.0.1:$1"
admin_listen = "127.0.0.1:$2"
token_cache_entries = $3
max_connections = 5000
TOML
    for alg in ES256 EdDSA RS256; do
        printf '[[gateway.issuers]]\nissuer = "%s"\n' "${ISSUERS[$alg]}"
    done
    cat <<TOML
[[gateway.routes]]
name = "public"
path_prefix = "/public"
upstreams = ["http://127.0.0.1:$UPSTREAM"]
auth = "public"
[[gateway.routes]]
name = "api"
path_prefix = "/api"
upstreams = ["http://127.0.0.1:$UPSTREAM"]
auth = "authenticated"
scopes_all = ["read"]
TOML
}
gateway_config $GATEWAY 18083 100000 > "$WORK/gateway.toml"
gateway_config $GATEWAY_COLD 18085 0 > "$WORK/gateway-cold.toml"
"$BIN" --config "$WORK/gateway.toml" serve gateway > /dev/null 2>&1 & GW_PID=$!; PIDS+=($GW_PID)
"$BIN" --config "$WORK/gateway-cold.toml" serve gateway > /dev/null 2>&1 & GW_COLD_PID=$!; PIDS+=($GW_COLD_PID)
for port in 18083 18085; do wait_ready "http://127.0.0.1:$port/readyz"; done


ROWS=()
run() { # name url server-pids [token]
    local name=$1 url=$2 pids=$3 token=${4:-}
    local header=()
    [[ -n $token ]] && header=(-H "Authorization: Bearer $token")
    wrk -t1 -c"$CONNECTIONS" -d1s "${header[@]}" "$url" >/dev/null 2>&1   # warm-up
    local before; before=$(cpu_ticks "$pids")
    local out; out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${header[@]}" "$url")
    local after; after=$(cpu_ticks "$pids")
    local requests; requests=$(awk '/requests in/ {print $1}' <<<"$out")
    local rps; rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
    local p50; p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    local p99; p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    local non2xx; non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out"); non2xx=${non2xx:-0}
    local cpu_us; cpu_us=$(awk -v t=$((after - before)) -v hz="$TICKS" -v n="$requests" 'BEGIN { printf "%.1f", t * 1000000 / hz / n }')
    ROWS+=("| $name | $rps | $p50 | $p99 | $cpu_us | $non2xx |")
}

run "upstream direct (nginx return 200)" "http://127.0.0.1:$UPSTREAM/" "$NGINX_PIDS"
run "nginx proxy_pass, keep-alive, no auth" "http://127.0.0.1:$PROXY/" "$NGINX_PIDS"
run "gateway, public route" "http://127.0.0.1:$GATEWAY/public/" "$GW_PID"
for alg in ES256 EdDSA RS256; do
    run "gateway, authenticated $alg, warm cache" "http://127.0.0.1:$GATEWAY/api/" "$GW_PID" "${TOKENS[$alg]}"
done
for alg in ES256 EdDSA RS256; do
    run "gateway, authenticated $alg, cold (verify every request)" "http://127.0.0.1:$GATEWAY_COLD/api/" "$GW_COLD_PID" "${TOKENS[$alg]}"
done

# RSS with 1,000 open keep-alive connections.
wrk -t1 -c1000 -d4s "http://127.0.0.1:$GATEWAY/public/" >/dev/null 2>&1 &
WRK_PID=$!
sleep 3
RSS_KB=$(awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status")
wait "$WRK_PID"

{
    echo "Command: \`bench/gateway.sh $DURATION $CONNECTIONS\` — wrk -t1 -c$CONNECTIONS -d${DURATION}s on loopback; $(machine), load generator on the same cores."
    echo "Server CPU µs/request counts only the server processes (nginx workers, or the gateway), from /proc utime+stime; the auth servers and upstream are not counted for the gateway rows (the upstream is counted in the first two rows, being the server there)."
    echo
    echo "| target | req/s | p50 | p99 | server CPU µs/req | non-2xx |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Gateway RSS with 1,000 open keep-alive connections: $((RSS_KB / 1024)) MiB ($RSS_KB KiB)."
} | tee "$WORK/table.md"
write_benchmarks_section gateway-bench "Gateway, end to end" "$WORK/table.md"
