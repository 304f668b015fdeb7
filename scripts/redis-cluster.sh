#!/usr/bin/env bash
# Starts (if not already running) a three-master Redis Cluster on loopback, for the tests of
# Portcullis on Redis Cluster, and prints the seed list to export as
# PORTCULLIS_TEST_REDIS_CLUSTER_URL. Nothing is kept on disk but the nodes' cluster files.
#   scripts/redis-cluster.sh [first-port]   (default 7101: ports 7101, 7102, 7103)
set -euo pipefail

first=${1:-7101}
ports=("$first" "$((first + 1))" "$((first + 2))")
dir=${TMPDIR:-/tmp}/portcullis-redis-cluster-$first
mkdir -p "$dir"

cluster_ok() {
    redis-cli -h 127.0.0.1 -p "$first" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

if ! cluster_ok; then
    for port in "${ports[@]}"; do
        if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
            rm -f "$dir/nodes-$port.conf"
            redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" \
                --appendonly no --cluster-enabled yes --cluster-config-file "$dir/nodes-$port.conf" \
                --dir "$dir" --logfile "$dir/redis-$port.log" >/dev/null
        fi
    done
    for port in "${ports[@]}"; do
        for _ in $(seq 1 50); do
            redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
    done
    # A node that already knows others (a half-made earlier attempt) is reset first.
    for port in "${ports[@]}"; do
        redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
        redis-cli -h 127.0.0.1 -p "$port" cluster reset hard >/dev/null
    done
    redis-cli --cluster create "${ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
    for _ in $(seq 1 100); do
        cluster_ok && break
        sleep 0.1
    done
    cluster_ok || { echo "Redis Cluster on 127.0.0.1:$first did not become ready" >&2; exit 1; }
fi

printf 'redis://127.0.0.1:%s,redis://127.0.0.1:%s,redis://127.0.0.1:%s\n' "${ports[@]}"
