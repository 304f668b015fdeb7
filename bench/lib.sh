# Shared helpers of the bench/ scripts (sourced, not run).

# Server CPU ticks (utime + stime) of the space-separated pids.
cpu_ticks() {
    local total=0
    for pid in $1; do
        read -r -a stat < "/proc/$pid/stat"
        total=$((total + stat[13] + stat[14]))
    done
    echo $total
}

# The middle line of the input, lines sorted numerically by their first field: the median of a
# column, or the row of the median run.
median() {
    sort -n | awk '{ lines[NR] = $0 } END { print lines[int((NR + 1) / 2)] }'
}

# Waits until a URL answers 2xx (a server's /readyz), at most 10 s.
wait_ready() {
    for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
    echo "not ready: $1" >&2
    return 1
}

# Replaces the block between <!-- NAME:start --> and <!-- NAME:end --> in BENCHMARKS.md with the
# contents of FILE, or appends it under a "## TITLE" heading. Skipped when WRITE_BENCHMARKS=0.
write_benchmarks_section() { # name title file
    [[ "${WRITE_BENCHMARKS:-1}" == 1 ]] || return 0
    python3 - "$1" "$2" "$3" <<'PY'
import re, sys
name, title, table_path = sys.argv[1:4]
table = open(table_path).read()
path = "BENCHMARKS.md"
text = open(path).read()
start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
block = f"{start}\n{table}{end}"
if start in text:
    text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text += f"\n## {title}\n\n{block}\n"
open(path, "w").write(text)
PY
}

# Builds the server and the load generator, sets BIN and LOADGEN, and exports what every auth
# server of a benchmark needs: warn-level logs and a fresh key-encryption key.
prepare_auth_bench() {
    cargo build --release -q -p portcullis -p portcullis-loadgen
    BIN=target/release/portcullis
    LOADGEN=target/release/portcullis-loadgen
    export PORTCULLIS_LOG_LEVEL=warn
    PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY=$(head -c32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    export PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY
}

# One line describing the machine, for the tables.
machine() {
    echo "$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
}

# The benchmarks' gateway configuration: a public route (/public) and an authenticated one (/api,
# scope `read`) to one upstream port, trusting the given issuers.
bench_gateway_toml() { # listen-port admin-port token-cache-entries upstream-port issuer...
    local listen=$1 admin=$2 cache=$3 upstream=$4
    shift 4
    cat <<TOML
version = 1
[log]
level = "warn"
[gateway]
listen = "127.0.0.1:$listen"
admin_listen = "127.0.0.1:$admin"
token_cache_entries = $cache
max_connections = 5000
TOML
    for issuer in "$@"; do
        printf '[[gateway.issuers]]\nissuer = "%s"\naudience = "api"\n' "$issuer"
    done
    cat <<TOML
[[gateway.routes]]
name = "public"
path_prefix = "/public"
upstreams = ["http://127.0.0.1:$upstream"]
auth = "public"
[[gateway.routes]]
name = "api"
path_prefix = "/api"
upstreams = ["http://127.0.0.1:$upstream"]
auth = "authenticated"
scopes_all = ["read"]
TOML
}

# Installs what the benchmarks run (wrk, nginx, and each further command:package given) from
# Debian's packages, when missing.
install_bench_tools() { # [command:package ...]
    local pair missing=()
    for pair in wrk:wrk nginx:nginx-light "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "installing ${missing[*]} from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Stops what a benchmark started (the pids in PIDS, the nginx instances under WORK) and removes
# WORK; set as the EXIT trap.
bench_cleanup() {
    local pid pidfile
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pidfile in "$WORK"/*/nginx.pid; do [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true; done
    sleep 0.2
    rm -rf "$WORK"
}

# An nginx instance with one worker under WORK/NAME, serving the given `http` block body; prints
# the pids of its master and worker.
start_nginx() { # name config-body
    mkdir -p "$WORK/$1"
    cat > "$WORK/$1/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    $2
}
NGINX
    nginx -p "$WORK/$1" -c "$WORK/$1/nginx.conf" > /dev/null || return 1
    for _ in $(seq 50); do [[ -s "$WORK/$1/nginx.pid" ]] && break; sleep 0.1; done
    [[ -s "$WORK/$1/nginx.pid" ]] || return 1
    echo "$(cat "$WORK/$1/nginx.pid") $(pgrep -P "$(cat "$WORK/$1/nginx.pid")" | tr '\n' ' ')"
}

# An auth server on loopback PORT issuing ALG access tokens, with a client-credentials client
# `bench` (scope `read`, audience `api`); adds its pid to PIDS, sets ISSUER_TOKEN to a token and
# ISSUER_SECRET to the client's secret.
start_issuer() { # binary data-dir port alg
    local out secret
    out=$("$1" admin --data-dir "$2" client add bench --grant client_credentials --scope read --audience api)
    secret=$(sed -n 's/^client_secret: //p' <<<"$out")
    ISSUER_SECRET=$secret
    PORTCULLIS_KEYS_ACCESS_TOKEN_ALGORITHM=$4 PORTCULLIS_LOG_LEVEL=warn \
        "$1" serve auth --data-dir "$2" --listen "127.0.0.1:$3" --admin-listen 127.0.0.1:0 > /dev/null 2>&1 &
    PIDS+=($!)
    wait_ready "http://127.0.0.1:$3/readyz"
    ISSUER_TOKEN=$(curl -sf -u "bench:$secret" -d grant_type=client_credentials "http://127.0.0.1:$3/token" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
}

# Measures URL with wrk (a second of warm-up, then DURATION seconds over CONNECTIONS connections,
# with a bearer TOKEN if given) and the CPU the server PIDS spend meanwhile; appends
# "req/s p50 p99 cpu-µs/req non-2xx" to RESULTS/NAME and, unless RECORDING=0, NAME to NAMES.
measure() { # name url server-pids [token]
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
    local cpu_us; cpu_us=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN { printf "%.1f", t * 1000000 / hz / n }')
    [[ ${RECORDING:-1} == 1 ]] && NAMES+=("$name")
    printf '%s\t%s\t%s\t%s\t%s\n' "$rps" "$p50" "$p99" "$cpu_us" "$non2xx" >> "$RESULTS/$name"
}

# One table row per measured NAMES: the run of median req/s, with the median CPU.
measured_rows() {
    local name middle cpu rps p50 p99 non2xx
    for name in "${NAMES[@]}"; do
        middle=$(median < "$RESULTS/$name")
        cpu=$(cut -f4 "$RESULTS/$name" | median)
        IFS=$'\t' read -r rps p50 p99 _ non2xx <<<"$middle"
        echo "| $name | $rps | $p50 | $p99 | $cpu | $non2xx |"
    done
}
