#!/usr/bin/env bash
# Where a proxy's CPU goes, split into user space and kernel: nginx's plain proxy_pass, the
# gateway's public route, and a minimal pass-through proxy on Pingora (Cloudflare's Rust proxy
# framework, built here from crates.io), each with one worker thread, in front of the same nginx
# upstream. It answers whether another well-kept Rust proxy foundation would close the gap to
# nginx that BENCHMARKS.md reports. Pingora needs cmake (zlib-ng), installed from Debian's packages.
# Usage: bench/foundations.sh [duration-seconds] [connections] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-5}
CONNECTIONS=${2:-64}
ROUNDS=${3:-3}
WORK=$(mktemp -d)
PIDS=()
trap bench_cleanup EXIT INT TERM

install_bench_tools cmake:cmake
cargo build --release -q -p portcullis
BIN=$(realpath target/release/portcullis)

# The Pingora proxy: every request to one upstream, nothing added or checked. Built in its own
# target directory (kept between runs), outside the workspace. Pingora 0.6 gives tokio's BufStream
# a zero capacity, which tokio releases after 1.45 refuse: tokio is pinned for it.
UPSTREAM=18380; NGINX=18381; GATEWAY=18382; ADMIN=18383; PINGORA=18384
mkdir -p "$WORK/pingora/src"
cat > "$WORK/pingora/Cargo.toml" <<'TOML'
[package]
name = "pingora-pass-through"
version = "0.0.0"
edition = "2021"
publish = false
[workspace]
[dependencies]
pingora = { version = "0.6", default-features = false, features = ["proxy"] }
async-trait = "0.1"
tokio = "=1.45.1"
TOML
cat > "$WORK/pingora/src/main.rs" <<RUST
use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::Opt;

struct PassThrough;

#[async_trait]
impl ProxyHttp for PassThrough {
    type CTX = ();
    fn new_ctx(&self) {}
    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(("127.0.0.1", $UPSTREAM), false, String::new())))
    }
}

fn main() {
    let mut server = Server::new(Some(Opt::default())).expect("server");
    server.bootstrap();
    let mut proxy = http_proxy_service(&server.configuration, PassThrough);
    proxy.add_tcp("127.0.0.1:$PINGORA");
    server.add_service(proxy);
    server.run_forever();
}
RUST
CARGO_TARGET_DIR="$PWD/target/bench-pingora" cargo build --release -q --manifest-path "$WORK/pingora/Cargo.toml"

start_nginx upstream "server { listen 127.0.0.1:$UPSTREAM; location / { return 200 \"ok\\n\"; } }" > /dev/null
NGINX_PIDS=$(start_nginx proxy "upstream backend { server 127.0.0.1:$UPSTREAM; keepalive 256; }
    server { listen 127.0.0.1:$NGINX; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }")
NGINX_WORKER=$(awk "{ print \$2 }" <<<"$NGINX_PIDS")
# The gateway's public route only (no issuer), on one worker thread like the others.
bench_gateway_toml $GATEWAY $ADMIN 0 $UPSTREAM | awk '/^\[\[gateway.routes/ { n++ } n < 2' > "$WORK/gateway.toml"
sed -i 's/^max_connections.*/&\nworkers = 1/' "$WORK/gateway.toml"
"$BIN" --config "$WORK/gateway.toml" serve gateway > "$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!; PIDS+=($GATEWAY_PID)
wait_ready "http://127.0.0.1:$ADMIN/readyz"
target/bench-pingora/release/pingora-pass-through > "$WORK/pingora.log" 2>&1 &
PINGORA_PID=$!; PIDS+=($PINGORA_PID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PINGORA/" > /dev/null && break; sleep 0.1; done

TICKS=$(getconf CLK_TCK)
RESULTS=$WORK/results
mkdir -p "$RESULTS"
run() { # name url pid
    wrk -t1 -c"$CONNECTIONS" -d1s "$2" > /dev/null
    local before after out requests
    before=$(awk '{ print $14, $15 }' "/proc/$3/stat")
    out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "$2")
    after=$(awk '{ print $14, $15 }' "/proc/$3/stat")
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    awk -v b="$before" -v a="$after" -v n="$requests" -v d="$DURATION" -v hz="$TICKS" 'BEGIN {
        split(b, x, " "); split(a, y, " ")
        user = (y[1] - x[1]) * 1e6 / hz / n; sys = (y[2] - x[2]) * 1e6 / hz / n
        printf "%.0f\t%.1f\t%.1f\t%.1f\n", n / d, user, sys, user + sys }' >> "$RESULTS/$1"
}
NAMES=("nginx proxy_pass (1 worker)" "gateway public route (workers = 1)" "Pingora pass-through (1 thread)")
for _ in $(seq "$ROUNDS"); do
    run "${NAMES[0]}" "http://127.0.0.1:$NGINX/" "$NGINX_WORKER"
    run "${NAMES[1]}" "http://127.0.0.1:$GATEWAY/public/" "$GATEWAY_PID"
    run "${NAMES[2]}" "http://127.0.0.1:$PINGORA/" "$PINGORA_PID"
done

{
    echo "Command: \`bench/foundations.sh $DURATION $CONNECTIONS $ROUNDS\` — wrk -t1 -c$CONNECTIONS -d${DURATION}s on loopback against each proxy in front of the same nginx upstream, $ROUNDS interleaved rounds, medians per column; $(machine), load generator on the same cores. CPU from /proc utime (user) and stime (kernel) of the proxy's process."
    echo
    echo "| proxy | req/s | user µs/req | kernel µs/req | total µs/req |"
    echo "|---|---|---|---|---|"
    for name in "${NAMES[@]}"; do
        printf '| %s | %s | %s | %s | %s |\n' "$name" \
            "$(cut -f1 "$RESULTS/$name" | median)" "$(cut -f2 "$RESULTS/$name" | median)" \
            "$(cut -f3 "$RESULTS/$name" | median)" "$(cut -f4 "$RESULTS/$name" | median)"
    done
} | tee "$WORK/table.md"
write_benchmarks_section proxy-foundations "HTTP/1 proxy foundations" "$WORK/table.md"
