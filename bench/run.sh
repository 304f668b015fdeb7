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
bash bench/sign_in.sh "$DURATION" 32 | tee "$WORK/sign_in.md"
bash bench/connections.sh "$DURATION" 10000 | tee "$WORK/connections.md"
# The raw costs of validating an ES256 access token (parse, signature, claims) and of signing one
# on this machine, in this run: the cold gateway path is judged against the first, the token
# endpoint's work beyond its signature against the second (measured alone: under load, signing
# may cost more, and that difference counts as work beyond the signature).
cargo bench -q -p portcullis-jose --bench jws -- '^(validate_access_token|sign)/ES256$' \
    --measurement-time 3 --warm-up-time 1 > /dev/null 2>&1
criterion_median() { python3 -c 'import json, sys; print(json.load(open(f"target/criterion/{sys.argv[1]}/new/estimates.json"))["median"]["point_estimate"])' "$1"; }
VERIFY_NS=$(criterion_median validate_access_token_ES256)
SIGN_NS=$(criterion_median sign_ES256)

python3 - "$WORK/gateway.md" "$WORK/auth.md" "$DURATION" "$(machine)" "$VERIFY_NS" "$WORK/sign_in.md" "$WORK/connections.md" "$SIGN_NS" > "$WORK/summary.md" <<'PY'
import re, sys
gateway, auth, duration, machine = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
VERIFY_ES256_US = round(float(sys.argv[5]) / 1000)  # criterion median, this run
sign_in = open(sys.argv[6]).read()
connections = open(sys.argv[7]).read()
SIGN_ES256_US = float(sys.argv[8]) / 1000  # criterion median, this run
# Issue 23's budget: 50 µs per token where one ES256 signature costs about 19 µs, so 31 µs for
# everything else (HTTP, client authentication, bookkeeping, the audit record).
BEYOND_SIGNATURE_US = 31

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
cc_cluster = auth_row("PostgreSQL + Redis", "client-credentials")
# The default cost and admission: the second data row of the sign-in table.
sign_in_rows = [line for line in sign_in.splitlines() if line.startswith("| ") and "MiB" in line]
sign_in_default = [cell.strip() for cell in sign_in_rows[1].strip("|").split("|")] if len(sign_in_rows) > 1 else None
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
for backend, cells in (("SQLite", cc), ("PostgreSQL + Redis", cc_cluster)):
    if cells:
        rate, cpu = number(cells[3]), number(cells[6])
        add(f"client credentials, tokens/s ({backend})", f"{rate:,.0f}", "≥ 25,000", f"{rate / 25000:.2f}×", rate >= 25000)
        add(f"client credentials, server CPU µs/token ({backend})", f"{cpu:.0f}", "≤ 50", f"{cpu / 50:.2f}×", cpu <= 50)
        beyond = cpu - SIGN_ES256_US
        add(f"client credentials, server CPU µs/token beyond one ES256 signature ({backend})", f"{beyond:.0f} (signature {SIGN_ES256_US:.1f}, criterion, this run)", f"≤ {BEYOND_SIGNATURE_US}", f"{beyond / BEYOND_SIGNATURE_US:.2f}×", beyond <= BEYOND_SIGNATURE_US)
if warm and nginx:
    ratio = number(warm[1]) / number(nginx[1])
    add("authenticated warm ES256 vs nginx proxy_pass, req/s", f"{number(warm[1]):,.0f} vs {number(nginx[1]):,.0f}", "≥ 0.95×", f"{ratio:.2f}×", ratio >= 0.95)
    cpu_ratio = number(warm[4]) / number(nginx[4])
    add("authenticated warm ES256 vs nginx proxy_pass, server CPU µs/req", f"{number(warm[4]):.1f} vs {number(nginx[4]):.1f}", "≤ 1.1×", f"{cpu_ratio:.2f}×", cpu_ratio <= 1.1)
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
busy = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in connections.splitlines() if line.startswith("| 10000 ")]
if busy:
    cells = busy[0]
    errors = number(cells[4]) if cells[4] != "0" else 0
    add("10,000 busy connections: non-2xx answers", f"{cells[4]} (socket errors: {cells[5]}; {cells[1]} req/s)", "0", "—", errors == 0 and cells[5] == "none")
    mb = number(cells[6])
    add("10,000 busy connections: gateway peak RSS, MB", f"{mb:.0f}", "≤ 100", f"{mb / 100:.2f}×", mb <= 100)
if sign_in_default:
    p99 = number(sign_in_default[5])
    add("sign-in p99 at saturation, default cost and admission, ms", f"{p99:.0f} ({sign_in_default[3]} sign-ins/s, {sign_in_default[7]} refused with 503, refused p99 {sign_in_default[8]})", "< 250", f"{p99 / 250:.2f}×", p99 < 250)
print("\n".join(lines))
PY
cat "$WORK/summary.md"
write_benchmarks_section e2e-bench "End to end: summary against the targets" "$WORK/summary.md"
