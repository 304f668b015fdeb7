#!/usr/bin/env bash
# The end-to-end benchmark harness: one run of every measurement on loopback with real load
# generators (wrk for the gateway, portcullis-loadgen for the auth server), release binaries built
# here, then one summary table with the ratios against the project's targets. Each part also
# writes its own detailed section of BENCHMARKS.md.
# Usage: bench/run.sh [seconds-per-measurement]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-8}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

bash bench/gateway.sh "$DURATION" 64 | tee "$WORK/gateway.md"
bash bench/gateway_dpop.sh "$DURATION" 32 | tee "$WORK/gateway_dpop.md"
bash bench/forward_auth.sh "$DURATION" 32 | tee "$WORK/forward_auth.md"
bash bench/auth.sh "$DURATION" 32 | tee "$WORK/auth.md"
# The raw cost of validating an ES256 access token (parse, signature, claims) on this machine, in
# this run: the cold gateway path is judged against it.
cargo bench -q -p portcullis-jose --bench jws -- validate_access_token/ES256 \
    --measurement-time 3 --warm-up-time 1 > /dev/null 2>&1
VERIFY_NS=$(python3 -c 'import json; print(json.load(open("target/criterion/validate_access_token_ES256/new/estimates.json"))["median"]["point_estimate"])')

python3 - "$WORK/gateway.md" "$WORK/auth.md" "$DURATION" "$(machine)" "$VERIFY_NS" > "$WORK/summary.md" <<'PY'
import re, sys
gateway, auth, duration, machine = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
VERIFY_ES256_US = round(float(sys.argv[5]) / 1000)  # criterion median, this run

def row(text, label):
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] == label:
            return cells
    return None

def auth_row(backend, scenario):
    for line in auth.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) > 6 and cells[0] == backend and cells[1] == scenario:
            return cells
    return None

number = lambda text: float(re.sub(r"[^0-9.]", "", text))
nginx = row(gateway, "nginx proxy_pass, keep-alive, no auth")
public = row(gateway, "gateway, public route")
warm = row(gateway, "gateway, authenticated ES256, warm cache")
cold = row(gateway, "gateway, authenticated ES256, cold (verify every request)")
rss = re.search(r"RSS with 1,000 open keep-alive connections: ([0-9.]+) MB", gateway)
cc = auth_row("SQLite", "client-credentials")
refresh = auth_row("SQLite", "refresh")
flow = auth_row("SQLite", "code-flow")
lines = [
    f"Command: `bench/run.sh {duration}` — {machine}; load generators on the same cores.",
    "",
    "| measure | figure | target | ratio | met |",
    "|---|---|---|---|---|",
]
def add(measure, figure, target, ratio, met):
    lines.append(f"| {measure} | {figure} | {target} | {ratio} | {'yes' if met else 'no'} |")
if cc:
    rate, cpu = number(cc[3]), number(cc[6])
    add("client credentials, tokens/s (SQLite)", f"{rate:,.0f}", "≥ 10,000", f"{rate / 10000:.2f}×", rate >= 10000)
    add("client credentials, server CPU µs/token", f"{cpu:.0f}", "≤ 100", f"{cpu / 100:.2f}×", cpu <= 100)
if warm and nginx:
    add("authenticated warm ES256 vs nginx proxy_pass, req/s", f"{number(warm[1]):,.0f} vs {number(nginx[1]):,.0f}", "≥ 1.0×", f"{number(warm[1]) / number(nginx[1]):.2f}×", number(warm[1]) >= number(nginx[1]))
if warm and public:
    add("authenticated warm ES256 vs gateway public route, req/s", f"{number(warm[1]):,.0f} vs {number(public[1]):,.0f}", "≥ 0.95×", f"{number(warm[1]) / number(public[1]):.2f}×", number(warm[1]) >= 0.95 * number(public[1]))
if cold and public:
    extra = number(cold[4]) - number(public[4])
    add("cold ES256 CPU above the public route, µs/req", f"{extra:.0f} (raw validation {VERIFY_ES256_US}, criterion, this run)", f"≤ {VERIFY_ES256_US} + 30", f"{extra / (VERIFY_ES256_US + 30):.2f}×", extra <= VERIFY_ES256_US + 30)
if rss:
    mb = float(rss.group(1))
    add("gateway RSS with 1,000 open keep-alive connections, MB", f"{mb:.1f}", "≤ 30", f"{mb / 30:.2f}×", mb <= 30)
if refresh:
    add("refresh rotations/s (SQLite)", f"{number(refresh[3]):,.0f}", "—", "—", True)
if flow:
    add("full Authorization Code + PKCE flows/s (real Argon2id)", f"{number(flow[3]):,.0f}", "—", "—", True)
print("\n".join(lines))
PY
cat "$WORK/summary.md"
write_benchmarks_section e2e-bench "End to end: summary against the targets" "$WORK/summary.md"
