#!/usr/bin/env bash
# A real browser in CI: Debian's Chromium (installed here if missing) driven by playwright-core
# (installed here from npm into target/browser) signs in to `portcullis up`, consents and reaches
# a protected route through the gateway. Screenshots: target/browser/screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x /usr/bin/chromium ]]; then
    echo "installing Debian's chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
mkdir -p target/browser
cp browser/package.json target/browser/
(cd target/browser && npm install --silent --no-audit --no-fund)
cargo build -q -p portcullis
BIN=target/debug/portcullis
WORK=$(mktemp -d)
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AUTH=$(free_port); GATEWAY=$(free_port); USERS=$(free_port); PRODUCTS=$(free_port)
export PORTCULLIS_DEMO_PASSWORD="browser $(head -c 9 /dev/urandom | base64)"
"$BIN" up --data-dir "$WORK/data" --auth-port "$AUTH" --gateway-port "$GATEWAY" \
    --users-port "$USERS" --products-port "$PRODUCTS" > "$WORK/up.log" 2>&1 &
PID=$!
for port in "$AUTH" "$GATEWAY"; do
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
# ESM resolves packages next to the script: run it from where playwright-core is installed.
cp browser/signin.mjs target/browser/
node target/browser/signin.mjs \
    "http://127.0.0.1:$AUTH" "http://127.0.0.1:$GATEWAY" "$PORTCULLIS_DEMO_PASSWORD" \
    target/browser/screenshots
