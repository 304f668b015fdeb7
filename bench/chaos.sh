#!/usr/bin/env bash
# Chaos under load: two auth servers (behind an nginx load balancer that is the issuer) and two
# gateways over PostgreSQL and Redis, under steady load from portcullis-chaos (client-credentials
# tokens, sign-ins followed by refresh rotations, users created through the admin API, proxied
# requests, revocations probed at every gateway). During the run, one phase each:
#   auth-killed     kill -9 one auth server, restart it after 3 s
#   postgres        restart PostgreSQL (fast shutdown: connections are cut)
#   redis           restart Redis (it keeps nothing on disk here, so it comes back empty)
#   gateway-killed  kill -9 one gateway, restart it after 3 s
# each followed by calm seconds. Prints requests failed per phase and when the last failure came
# (the time to recover), how long each component took to be ready again, then checks every
# acknowledged write against the cluster: users, tokens (introspected), each refresh family's
# newest token, revocations; and revoked tokens a gateway let through more than a second after the
# revocation was acknowledged. Exits 1 when anything was lost.
#
# With `drill`, two of the users it created are deleted from PostgreSQL behind the cluster's back
# before the check, which must then find exactly those two lost (a check that can fail); nothing is
# written to BENCHMARKS.md.
#
# It restarts the machine's PostgreSQL and Redis: run it on a bench machine, not beside other work.
# Usage: bench/chaos.sh [seconds-per-phase] [drill]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PHASE_SECS=${1:-15}
DRILL=${2:-}
WORK=$(mktemp -d)
PIDS=()
DATABASE="portcullis_chaos_$$"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DATABASE"
REDIS_URL="redis://127.0.0.1:6379"
ISSUER_PORT=13800 UPSTREAM_PORT=13840
AUTH_PORTS=(13801 13802) AUTH_ADMIN_PORTS=(13811 13812)
GATEWAY_PORTS=(13821 13822) GATEWAY_ADMIN_PORTS=(13831 13832)
ISSUER="http://127.0.0.1:$ISSUER_PORT"
PG_CLUSTER="$(ls /etc/postgresql | sort -n | tail -1) main"
AUTH_PIDS=("" "") GATEWAY_PIDS=("" "") DRIVER_PID=""

# Always brings PostgreSQL and Redis back, drops the run's database and keys, stops what it started;
# keeps the logs of a failed run.
cleanup() {
    local status=$?
    set +e
    local pid
    for pid in "${AUTH_PIDS[@]}" "${GATEWAY_PIDS[@]}" "$DRIVER_PID"; do
        [[ -n $pid ]] && kill "$pid" 2>/dev/null
    done
    start_services || echo "PostgreSQL or Redis is still down: start them by hand" >&2
    psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >/dev/null 2>&1
    redis-cli -h 127.0.0.1 --scan --pattern "chaos-$$:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1
    if [[ $status -ne 0 ]]; then
        mkdir -p "/tmp/chaos-logs-$$" && cp "$WORK"/*.log "$WORK"/driver.* "/tmp/chaos-logs-$$/" 2>/dev/null
        echo "logs of the failed run: /tmp/chaos-logs-$$" >&2
    fi
    bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts PostgreSQL and Redis when they are down, as .ci/run does, and waits for both.
start_services() {
    pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $PG_CLUSTER start || true
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 ||
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 300); do
        pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "PostgreSQL or Redis did not come back" >&2
    return 1
}

# Seconds (one decimal) from $1 (date +%s.%N) to now.
since() { awk -v start="$1" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - start }'; }

# Waits for URL to answer 2xx, at most 60 s; prints the seconds it took from START.
ready_after() { # url start
    for _ in $(seq 600); do curl -sf "$1" >/dev/null 2>&1 && { since "$2"; return 0; }; sleep 0.1; done
    echo "never"
}

install_bench_tools
prepare_auth_bench
CHAOS=target/release/portcullis-chaos
export PORTCULLIS_REDIS_PREFIX="chaos-$$"
start_services
psql -q -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE $DATABASE" >/dev/null

admin() { "$BIN" admin --database-url "$DATABASE_URL" "$@"; }
secret_of() { sed -n 's/^client_secret: //p'; }
SVC_SECRET=$(admin client add svc --grant client_credentials --scope read --audience api | secret_of)
INTROSPECTOR_SECRET=$(admin client add introspector --grant client_credentials --scope portcullis:introspect --audience api | secret_of)
OPS_SECRET=$(admin client add ops --grant client_credentials --scope portcullis:admin --audience "$ISSUER" | secret_of)
FEED_SECRET=$(admin client add gateway --grant client_credentials --scope portcullis:revocations | secret_of)
admin client add app --public --first-party --grant authorization_code refresh_token \
    --redirect-uri http://127.0.0.1/callback --scope openid offline_access >/dev/null
echo "chaos password 1" | admin user add chaos --password-stdin >/dev/null

start_nginx upstream "server { listen 127.0.0.1:$UPSTREAM_PORT; location / { return 200 \"ok\\n\"; } }" >/dev/null
# The issuer: a load balancer over both auth servers. A request whose server is down goes to the
# other only when it was never sent (connection refused): nginx does not repeat a POST.
start_nginx issuer "upstream auth { server 127.0.0.1:${AUTH_PORTS[0]} max_fails=0; server 127.0.0.1:${AUTH_PORTS[1]} max_fails=0; keepalive 64; }
    server { listen 127.0.0.1:$ISSUER_PORT; location / { proxy_pass http://auth; proxy_http_version 1.1;
        proxy_set_header Connection \"\"; proxy_set_header Host \$http_host; proxy_connect_timeout 1s; } }" >/dev/null

start_auth() { # index
    "$BIN" serve auth --database-url "$DATABASE_URL" --redis-url "$REDIS_URL" --issuer "$ISSUER" \
        --listen "127.0.0.1:${AUTH_PORTS[$1]}" --admin-listen "127.0.0.1:${AUTH_ADMIN_PORTS[$1]}" \
        >>"$WORK/auth-$1.log" 2>&1 &
    AUTH_PIDS[$1]=$!
}
start_gateway() { # index
    cat > "$WORK/gateway-$1.toml" <<TOML
version = 1
redis_url = "$REDIS_URL"
redis_prefix = "chaos-$$"
[log]
level = "warn"
[gateway]
listen = "127.0.0.1:${GATEWAY_PORTS[$1]}"
admin_listen = "127.0.0.1:${GATEWAY_ADMIN_PORTS[$1]}"
[[gateway.issuers]]
issuer = "$ISSUER"
audience = "api"
revocation_feed = { client_id = "gateway", client_secret = "$FEED_SECRET", poll_interval_ms = 500 }
[[gateway.routes]]
name = "api"
path_prefix = "/api"
upstreams = ["http://127.0.0.1:$UPSTREAM_PORT"]
auth = "authenticated"
scopes_all = ["read"]
TOML
    "$BIN" --config "$WORK/gateway-$1.toml" serve gateway >>"$WORK/gateway-$1.log" 2>&1 &
    GATEWAY_PIDS[$1]=$!
}
for index in 0 1; do start_auth "$index"; done
for index in 0 1; do wait_ready "http://127.0.0.1:${AUTH_PORTS[$index]}/readyz"; done
for index in 0 1; do start_gateway "$index"; done
for index in 0 1; do wait_ready "http://127.0.0.1:${GATEWAY_ADMIN_PORTS[$index]}/readyz"; done

PHASE_FILE="$WORK/phase"
echo steady > "$PHASE_FILE"
# Secrets as `--name=value`: one may start with `-`.
"$CHAOS" --issuer "$ISSUER" \
    --admin "http://127.0.0.1:${AUTH_ADMIN_PORTS[0]}" --admin "http://127.0.0.1:${AUTH_ADMIN_PORTS[1]}" \
    --gateway "http://127.0.0.1:${GATEWAY_PORTS[0]}/api/" --gateway "http://127.0.0.1:${GATEWAY_PORTS[1]}/api/" \
    --service svc --service-secret="$SVC_SECRET" --introspector introspector --introspector-secret="$INTROSPECTOR_SECRET" \
    --operator ops --operator-secret="$OPS_SECRET" --app app --username chaos --password="chaos password 1" \
    --phase-file "$PHASE_FILE" --revocation-bound-ms 1000 >"$WORK/driver.out" 2>"$WORK/driver.err" &
DRIVER_PID=$!

RECOVERY=()
# Names the next phase, then gives the driver (which reads the file every 50 ms) time to see it,
# so the disruption's failures are counted in its own phase.
phase() { echo "$1" > "$PHASE_FILE"; sleep 0.2; }
sleep "$PHASE_SECS"

# Kills a server with SIGKILL, starts it again after 3 s, and records when it was ready.
kill_and_restart() { # label pid start-command ready-url
    local start
    start=$(date +%s.%N)
    kill -9 "$2"; wait "$2" 2>/dev/null || true
    sleep 3
    $3
    RECOVERY+=("| $1 killed (kill -9), restarted after 3 s | ready $(ready_after "$4" "$start") s after the kill |")
}

phase auth-killed
kill_and_restart "auth server" "${AUTH_PIDS[0]}" "start_auth 0" "http://127.0.0.1:${AUTH_PORTS[0]}/readyz"
sleep "$PHASE_SECS"

phase postgres
start=$(date +%s.%N)
pg_ctlcluster --skip-systemctl-redirect -m fast $PG_CLUSTER restart
RECOVERY+=("| PostgreSQL restarted (fast: sessions cut) | both auth servers ready $(ready_after "http://127.0.0.1:${AUTH_PORTS[0]}/readyz" "$start") / $(ready_after "http://127.0.0.1:${AUTH_PORTS[1]}/readyz" "$start") s after the restart began |")
sleep "$PHASE_SECS"

phase redis
start=$(date +%s.%N)
redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true
sleep 1
start_services
connected() { curl -sf "http://127.0.0.1:$1/metrics" | grep -q '^portcullis_gateway_redis_connected 1'; }
subscribed="never"
for _ in $(seq 600); do
    if connected "${GATEWAY_ADMIN_PORTS[0]}" && connected "${GATEWAY_ADMIN_PORTS[1]}"; then subscribed="$(since "$start") s"; break; fi
    sleep 0.1
done
RECOVERY+=("| Redis stopped for 1 s and started empty | both gateways subscribed again: $subscribed after the stop |")
sleep "$PHASE_SECS"

phase gateway-killed
kill_and_restart gateway "${GATEWAY_PIDS[0]}" "start_gateway 0" "http://127.0.0.1:${GATEWAY_ADMIN_PORTS[0]}/readyz"
sleep "$PHASE_SECS"

phase calm
sleep "$PHASE_SECS"
if [[ $DRILL == drill ]]; then
    psql -q -h 127.0.0.1 -U postgres -d "$DATABASE" -c \
        "DELETE FROM users WHERE id IN (SELECT id FROM users WHERE username LIKE 'chaos-%' ORDER BY created_at LIMIT 2)"
fi
phase stop
status=0
wait "$DRIVER_PID" || status=$?
DRIVER_PID=""

{
    echo "Command: \`bench/chaos.sh $PHASE_SECS\` — $(machine); two auth servers behind an nginx load balancer (the issuer) and two gateways, over PostgreSQL 15 and Redis 7 (the machine's services, restarted by the script); portcullis-chaos on the same cores."
    echo
    echo '```'
    cat "$WORK/driver.out"
    echo '```'
    echo
    echo "| disruption | recovery |"
    echo "|---|---|"
    printf '%s\n' "${RECOVERY[@]}"
} | tee "$WORK/table.md"
if [[ -s "$WORK/driver.err" ]]; then
    echo "driver messages (first 20):"
    head -20 "$WORK/driver.err"
fi
if [[ $DRILL == drill ]]; then
    if [[ $status -ne 0 ]] && grep -q '^users created: [0-9]*, lost: 2$' "$WORK/driver.out"; then
        echo "drill passed: the check found the 2 users deleted behind the cluster's back"
        exit 0
    fi
    echo "drill FAILED: the check did not find exactly the 2 deleted users" >&2
    exit 1
fi
write_benchmarks_section chaos "Chaos under load" "$WORK/table.md"
exit "$status"
