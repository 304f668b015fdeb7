#!/usr/bin/env bash
# Forward-auth cost: nginx in front with auth_request asking the gateway's forward-auth listener
# about every request (then proxying to the upstream itself), against the gateway proxying the
# same authenticated route directly. Both with an ES256 token and a warm verified-token cache.
# Prints req/s, p50/p99 latency and server CPU microseconds per request: for auth_request, nginx's
# and the gateway's together (both work for each request); for the direct path, the gateway's.
# Everything runs on loopback. Usage: bench/forward_auth.sh [duration-seconds] [connections] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-8}
CONNECTIONS=${2:-32}
ROUNDS=${3:-3}
WORK=$(mktemp -d)
PIDS=()
trap bench_cleanup EXIT INT TERM

install_bench_tools
cargo build --release -q -p portcullis
BIN=target/release/portcullis

UPSTREAM=18280; FRONT=18281; GATEWAY=18282; FORWARD_AUTH=18284; ISSUER=13201
start_nginx upstream "server { listen 127.0.0.1:$UPSTREAM; location / { return 200 \"ok\\n\"; } }" > /dev/null
start_issuer "$BIN" "$WORK/auth" "$ISSUER" ES256
TOKEN=$ISSUER_TOKEN
# The gateway's configuration, plus its forward-auth listener.
bench_gateway_toml $GATEWAY 18283 100000 "$UPSTREAM" "http://127.0.0.1:$ISSUER" \
    | sed "s|^\\[gateway\\]\$|[gateway]\\nforward_auth_listen = \"127.0.0.1:$FORWARD_AUTH\"|" > "$WORK/gateway.toml"
"$BIN" --config "$WORK/gateway.toml" serve gateway > /dev/null 2>&1 & GW_PID=$!; PIDS+=($GW_PID)
wait_ready "http://127.0.0.1:18283/readyz"
# The recipe of docs/forward-auth.md (identity headers copied), with keep-alive to both.
FRONT_PIDS=$(start_nginx front "upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 256; }
    upstream portcullis { server 127.0.0.1:$FORWARD_AUTH; keepalive 256; }
    server { listen 127.0.0.1:$FRONT;
      location /api/ { auth_request /_portcullis_auth;
        auth_request_set \$portcullis_subject \$upstream_http_x_portcullis_subject;
        auth_request_set \$portcullis_scopes \$upstream_http_x_portcullis_scopes;
        proxy_set_header X-Portcullis-Subject \$portcullis_subject;
        proxy_set_header X-Portcullis-Scopes \$portcullis_scopes;
        proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_pass http://backend; }
      location = /_portcullis_auth { internal;
        proxy_pass http://portcullis/_portcullis/auth; proxy_pass_request_body off;
        proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header Content-Length \"\";
        proxy_set_header X-Original-URI \$request_uri; proxy_set_header X-Original-Method \$request_method;
        proxy_set_header X-Forwarded-Host \$host; } }")
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$FRONT/api/")
[[ $status == 200 ]] || { echo "nginx auth_request answered $status" >&2; exit 1; }

RESULTS=$WORK/results
mkdir -p "$RESULTS"
NAMES=()
every_target() {
    measure "gateway proxying directly, ES256, warm cache" "http://127.0.0.1:$GATEWAY/api/" "$GW_PID" "$TOKEN"
    measure "nginx auth_request → gateway forward-auth, ES256, warm cache" "http://127.0.0.1:$FRONT/api/" "$FRONT_PIDS $GW_PID" "$TOKEN"
}
every_target
for _ in $(seq 2 "$ROUNDS"); do RECORDING=0 every_target; done

{
    echo "Command: \`bench/forward_auth.sh $DURATION $CONNECTIONS $ROUNDS\` — wrk -t1 -c$CONNECTIONS -d${DURATION}s on loopback, $ROUNDS interleaved rounds (median shown); $(machine), load generator on the same cores."
    echo "Server CPU µs/request: the gateway's alone when it proxies; nginx's (front, one worker) and the gateway's together for auth_request, since both serve every request (the upstream nginx is not counted)."
    echo
    echo "| path | req/s | p50 | p99 | server CPU µs/req | non-2xx |"
    echo "|---|---|---|---|---|---|"
    measured_rows
} | tee "$WORK/table.md"
write_benchmarks_section forward-auth-bench "Forward-auth: nginx auth_request vs the gateway proxying" "$WORK/table.md"
