#!/usr/bin/env bash
# A real browser in CI: Debian's Chromium (installed here if missing) driven by playwright-core
# (installed here from npm into target/browser) signs in to `portcullis up`, consents and reaches
# a protected route through the gateway, then uses the admin console as testuser (and is refused
# as guest). Screenshots: target/browser/screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x /usr/bin/chromium ]]; then
    echo "installing Debian's chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
mkdir -p target/browser
cp browser/package.json target/browser/
(cd target/browser && npm install --silent --no-audit --no-fund)
source scripts/up-stack.sh
export PORTCULLIS_DEMO_PASSWORD="browser $(head -c 9 /dev/urandom | base64)"
start_up
# ESM resolves packages next to the script: run it from where playwright-core is installed.
cp browser/signin.mjs browser/console.mjs target/browser/
node target/browser/signin.mjs \
    "http://127.0.0.1:$AUTH" "http://127.0.0.1:$GATEWAY" "$PORTCULLIS_DEMO_PASSWORD" \
    target/browser/screenshots
node target/browser/console.mjs \
    "http://127.0.0.1:$AUTH_ADMIN" "$PORTCULLIS_DEMO_PASSWORD" target/browser/screenshots
