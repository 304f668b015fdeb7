#!/usr/bin/env bash
# Runs every cargo-fuzz target (corpus in fuzz/corpus, committed seeds in fuzz/seeds) for a bounded time (default 20 s each; CI's short run). A crash
# fails the script and leaves its input under fuzz/artifacts/<target>/. cargo-fuzz is installed
# here from crates.io if missing; the sanitizer flags it passes need RUSTC_BOOTSTRAP on the
# machine's stable toolchain. Portcullis forbids unsafe code, so the targets run without a memory
# sanitizer (`--sanitizer none`, faster); panics and failed assertions are the crashes looked for.
# Usage: fuzz/run.sh [seconds-per-target] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-20}
shift || true
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    mapfile -t TARGETS < <(cargo fuzz list --fuzz-dir fuzz)
fi
for target in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    echo "==> fuzzing $target for ${SECONDS_PER_TARGET}s"
    log="fuzz/artifacts/$target.log"
    mkdir -p fuzz/artifacts
    if ! cargo fuzz run --fuzz-dir fuzz --release --sanitizer none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=20000 -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log"
        echo "FAIL: $target crashed; the input is under fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log"
done
