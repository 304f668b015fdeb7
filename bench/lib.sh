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
        printf '[[gateway.issuers]]\nissuer = "%s"\n' "$issuer"
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
