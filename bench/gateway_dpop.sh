#!/usr/bin/env bash
# Gateway cost of DPoP (RFC 9449): the authenticated route with a bearer token against the same
# route with a DPoP-bound token, both with a warm verified-token cache, so the difference is the
# proof checked on every request (signature, claims, `ath`, replay memory). The load generator
# signs its proofs before the clock starts. Prints req/s, p50/p99 latency and the gateway's CPU
# microseconds per request.
# Everything runs on loopback. Usage: bench/gateway_dpop.sh [duration-seconds] [connections] [rounds]
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
cargo build --release -q -p portcullis -p portcullis-loadgen
BIN=target/release/portcullis
LOADGEN=target/release/portcullis-loadgen

UPSTREAM=18180; GATEWAY=18182; ISSUER=13101
start_nginx upstream "server { listen 127.0.0.1:$UPSTREAM; location / { return 200 \"ok\\n\"; } }" > /dev/null
start_issuer "$BIN" "$WORK/auth" "$ISSUER" ES256
bench_gateway_toml $GATEWAY 18183 100000 "$UPSTREAM" "http://127.0.0.1:$ISSUER" > "$WORK/gateway.toml"
"$BIN" --config "$WORK/gateway.toml" serve gateway > /dev/null 2>&1 & GW_PID=$!; PIDS+=($GW_PID)
wait_ready "http://127.0.0.1:18183/readyz"

RESULTS=$WORK/results
mkdir -p "$RESULTS"
for _ in $(seq "$ROUNDS"); do
    for scenario in gateway-bearer gateway-dpop; do
        # Proofs for 20,000 requests/s, made just before the run (each is good for a minute).
        "$LOADGEN" "$scenario" --url "http://127.0.0.1:$ISSUER" --client bench --secret="$ISSUER_SECRET" \
            --gateway "http://127.0.0.1:$GATEWAY/api/x" --proofs $(( (DURATION + 1) * 20000 )) \
            --concurrency "$CONNECTIONS" --duration-secs "$DURATION" --pid "$GW_PID" \
            | awk -F'\t' '{ print $3 "\t" $4 "\t" $5 "\t" $6 }' >> "$RESULTS/$scenario"
    done
done

{
    echo "Command: \`bench/gateway_dpop.sh $DURATION $CONNECTIONS $ROUNDS\` — portcullis-loadgen (one thread, $CONNECTIONS connections) through \`portcullis serve gateway\` to an nginx upstream, ES256 tokens, warm verified-token cache; $(machine); median of $ROUNDS runs; load generator on the same cores."
    echo
    echo "| route | req/s | p50 ms | p99 ms | gateway CPU µs/req |"
    echo "|---|---|---|---|---|"
    for scenario in gateway-bearer gateway-dpop; do
        read -r rps p50 p99 _ < <(median < "$RESULTS/$scenario")
        cpu=$(awk -F'\t' '{ print $4 }' "$RESULTS/$scenario" | median)
        label=$([[ $scenario == gateway-bearer ]] && echo "bearer token" || echo "DPoP-bound token, proof checked per request")
        echo "| $label | $rps | $p50 | $p99 | $cpu |"
    done
} > "$WORK/table.md"
cat "$WORK/table.md"
write_benchmarks_section gateway-dpop "Gateway: DPoP-bound against bearer tokens" "$WORK/table.md"
