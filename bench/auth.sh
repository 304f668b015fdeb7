#!/usr/bin/env bash
# Auth server throughput on each backend: embedded SQLite, and PostgreSQL + Redis (the cluster
# configuration). Scenarios, each driven by portcullis-loadgen over real HTTP on loopback:
#   client-credentials  POST /token, grant_type=client_credentials (ES256 access tokens)
#   refresh             POST /token, grant_type=refresh_token, every worker rotating its own family
#   code-flow           a whole Authorization Code + PKCE flow in a fresh browser: authorize, sign-in
#                       form with the real Argon2id cost (OWASP parameters), code exchange
# Prints ops/s, p50/p99 and the auth server's CPU microseconds per operation (from /proc).
# Usage: bench/auth.sh [duration-seconds] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-8}
CONCURRENCY=${2:-32}
WORK=$(mktemp -d)
PIDS=()
DATABASE="portcullis_bench_$$"
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1 || true
    redis-cli -h 127.0.0.1 --scan --pattern "bench-$$:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

prepare_auth_bench
export PORTCULLIS_REDIS_PREFIX="bench-$$"

ROWS=()
measure() { # backend store-flags... -- serve-flags...
    local backend=$1; shift
    local store=() serve=()
    while [[ $1 != -- ]]; do store+=("$1"); shift; done; shift
    serve=("$@")
    local out secret port=13900
    out=$("$BIN" admin "${store[@]}" client add svc --grant client_credentials --scope read --audience api)
    secret=$(sed -n 's/^client_secret: //p' <<<"$out")
    "$BIN" admin "${store[@]}" client add app --public --first-party --grant authorization_code refresh_token \
        --redirect-uri http://127.0.0.1/callback --scope openid offline_access >/dev/null
    echo "bench password 1" | "$BIN" admin "${store[@]}" user add bench --password-stdin >/dev/null
    "$BIN" serve auth "${store[@]}" "${serve[@]}" --listen "127.0.0.1:$port" --admin-listen 127.0.0.1:0 >"$WORK/$backend.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_ready "http://127.0.0.1:$port/readyz"
    local url="http://127.0.0.1:$port"
    for scenario in client-credentials refresh code-flow; do
        local concurrency=$CONCURRENCY
        [[ $scenario == code-flow ]] && concurrency=4 # Argon2 bound: more only queues
        local line
        line=$("$LOADGEN" "$scenario" --url "$url" --client "$([[ $scenario == client-credentials ]] && echo svc || echo app)" \
            --secret="$secret" --concurrency "$concurrency" --duration-secs "$DURATION" --pid "$pid")
        IFS=$'\t' read -r _ ops rate p50 p99 cpu failures _refused _refused_p99 <<<"$line"
        ROWS+=("| $backend | $scenario | $concurrency | $rate | ${p50} ms | ${p99} ms | $cpu | $failures |")
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

measure "SQLite" --data-dir "$WORK/sqlite" --
psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $DATABASE" >/dev/null
measure "PostgreSQL + Redis" --database-url "postgres://postgres@127.0.0.1:5432/$DATABASE" -- --redis-url redis://127.0.0.1:6379

{
    echo "Command: \`bench/auth.sh $DURATION $CONCURRENCY\` — portcullis-loadgen (one thread) against \`portcullis serve auth\` on loopback; $(machine); load generator on the same cores. PostgreSQL 15 and Redis 7 are the machine's local services."
    echo "Server CPU µs/op counts the auth server process only (not PostgreSQL or Redis, which are separate processes), from /proc utime+stime."
    echo
    echo "| backend | scenario | workers | ops/s | p50 | p99 | auth server CPU µs/op | failures |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$WORK/table.md"
write_benchmarks_section auth-bench "Auth server by backend" "$WORK/table.md"
