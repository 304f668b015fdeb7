#!/usr/bin/env bash
# Sign-in at saturation: many browsers post the sign-in form at once (portcullis-loadgen
# `sign-in`: a fresh browser's authorization request and its sign-in page, untimed, then the form
# with the real password, timed), against `portcullis serve auth` on SQLite, for each Argon2id
# cost OWASP lists as equivalent, and for the default cost with fewer checks at once and shorter
# admission waits. Prints sign-ins/s, p50/p99 of those signed in, how many were refused with 503
# (admission control) and how fast, and the server's CPU per sign-in.
# Usage: bench/sign_in.sh [duration-seconds] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-8}
CONCURRENCY=${2:-32}
WORK=$(mktemp -d)
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

prepare_auth_bench
PORT=13960

ROWS=()
measure() { # memory-kib iterations concurrency max-wait-ms
    local data="$WORK/$1-$2-$3-$4"
    export PORTCULLIS_PASSWORDS_ARGON2_MEMORY_KIB=$1 PORTCULLIS_PASSWORDS_ARGON2_ITERATIONS=$2
    export PORTCULLIS_AUTH_SIGN_IN_CONCURRENCY=$3 PORTCULLIS_AUTH_SIGN_IN_MAX_WAIT_MS=$4
    "$BIN" admin --data-dir "$data" client add app --public --first-party --grant authorization_code \
        --redirect-uri http://127.0.0.1/callback --scope openid >/dev/null
    echo "bench password 1" | "$BIN" admin --data-dir "$data" user add bench --password-stdin >/dev/null
    "$BIN" serve auth --data-dir "$data" --listen "127.0.0.1:$PORT" --admin-listen 127.0.0.1:0 >"$data.log" 2>&1 &
    PID=$!
    wait_ready "http://127.0.0.1:$PORT/readyz"
    local line
    line=$("$LOADGEN" sign-in --url "http://127.0.0.1:$PORT" --client app \
        --concurrency "$CONCURRENCY" --duration-secs "$DURATION" --pid "$PID")
    IFS=$'\t' read -r _ ops rate p50 p99 cpu failures refused refused_p99 <<<"$line"
    local met=no
    awk -v p99="$p99" 'BEGIN { exit !(p99 < 250) }' && met=yes
    local checks=$3
    [[ $checks == 0 ]] && checks="$(nproc) (one per CPU)"
    ROWS+=("| $(( $1 / 1024 )) MiB, t = $2 | $checks | $4 ms | $rate | $p50 ms | $p99 ms | $met | $refused | $refused_p99 ms | $cpu | $failures |")
    kill "$PID"; wait "$PID" 2>/dev/null || true
    PID=
}

# OWASP's equivalent Argon2id settings (m, t; p = 1) with the default admission (one check per
# CPU, 100 ms wait; the default cost is the second row, which bench/run.sh reads), then the
# default cost with other waits, and with one check at a time.
for cost in "47104 1" "19456 2" "12288 3" "9216 4" "7168 5"; do
    measure $cost 0 100
done
for wait in 250 150; do
    measure 19456 2 0 "$wait"
done
for wait in 150 100; do
    measure 19456 2 1 "$wait"
done

{
    echo "Command: \`bench/sign_in.sh $DURATION $CONCURRENCY\` — portcullis-loadgen \`sign-in\` ($CONCURRENCY browsers at once, one thread) against \`portcullis serve auth\` on SQLite; $(machine); load generator on the same cores."
    echo "Each operation posts the sign-in form of a fresh browser's authorization request with the real password (the request and the page are fetched untimed before it); latency is from the post to its answer; signed in = the redirect onwards. Server CPU counts the auth server only."
    echo
    echo "| Argon2id cost | checks at once | admission wait | sign-ins/s | p50 | p99 | p99 < 250 ms | refused (503) | refused p99 | server CPU µs/sign-in | failures |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$WORK/table.md"
write_benchmarks_section sign-in-bench "Sign-in at saturation" "$WORK/table.md"
