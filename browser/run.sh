#!/usr/bin/env bash
# A real browser in CI: Debian's Chromium (installed here if missing) driven by playwright-core
# (installed here from npm into target/browser) signs in to `portcullis up`, consents and reaches
# a protected route through the gateway, then uses the admin console as testuser (and is refused
# as guest), then registers a new account, verifying it by the link that a real SMTP server
# (aiosmtpd from PyPI, installed here, on loopback) received, and last sets up two-step
# verification for guest and signs in with its code, and runs the official MCP SDK client against
# the MCP example server (registration, sign-in, tools, reuse and refresh), and, on a second stack on localhost, adds a
# passkey with a virtual authenticator and signs in with it, and, on a third stack that only
# prefers user verification, uses a security key without a PIN as the second factor, and on a
# fourth signs in through the gateway's session mode (an HttpOnly cookie only, the token refreshed,
# a cross-origin POST refused, logout, back-channel logout); on the first stack it also signs in
# through Example Corp SSO, the second identity provider `up` runs. Screenshots:
# target/browser/screenshots/*.png.
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
# The same aiosmtpd the Rust tests use, receiving the stack's mail into a Maildir.
PYTHON_TOOLS=target/test-tools/python
[[ -d $PYTHON_TOOLS/aiosmtpd ]] ||
    python3 -m pip install --quiet --disable-pip-version-check --target "$PYTHON_TOOLS" aiosmtpd==1.4.6
SMTP=$(free_port)
PYTHONPATH=$PYTHON_TOOLS python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP" \
    -c aiosmtpd.handlers.Mailbox "$WORK/maildir" >/dev/null 2>&1 &
SMTP_PID=$!
trap 'kill $SMTP_PID 2>/dev/null; cleanup_up' EXIT INT TERM
export PORTCULLIS_EMAIL_SMTP_HOST=127.0.0.1 PORTCULLIS_EMAIL_SMTP_PORT=$SMTP \
    PORTCULLIS_EMAIL_SECURITY=none PORTCULLIS_EMAIL_FROM="Portcullis <no-reply@portcullis.test>" \
    PORTCULLIS_REGISTRATION_MODE=open
start_up
# ESM resolves packages next to the script: run it from where playwright-core is installed.
cp browser/support.mjs browser/signin.mjs browser/console.mjs browser/register.mjs browser/two_step.mjs \
    browser/passkeys.mjs browser/security_key.mjs browser/mcp.mjs browser/session.mjs \
    browser/federation.mjs target/browser/
node target/browser/signin.mjs \
    "http://127.0.0.1:$AUTH" "http://127.0.0.1:$GATEWAY" "$PORTCULLIS_DEMO_PASSWORD" \
    target/browser/screenshots
node target/browser/console.mjs \
    "http://127.0.0.1:$AUTH_ADMIN" "$PORTCULLIS_DEMO_PASSWORD" target/browser/screenshots
node target/browser/register.mjs \
    "http://127.0.0.1:$AUTH" "$WORK/maildir" target/browser/screenshots
node target/browser/two_step.mjs \
    "http://127.0.0.1:$AUTH" "$PORTCULLIS_DEMO_PASSWORD" target/browser/screenshots
# "Sign in with Example Corp SSO": the second identity provider `up` runs on localhost.
node target/browser/federation.mjs \
    "http://127.0.0.1:$AUTH" "http://127.0.0.1:$WEB_APP" "$PORTCULLIS_DEMO_PASSWORD" \
    target/browser/screenshots
# The official MCP SDK client, unmodified, against the MCP example server behind the gateway: it
# registers itself and signs testuser in through Chromium, then calls tools; a second run reuses
# its stored tokens, a third refreshes them (rotated), neither opening a browser.
for run in first again refresh; do
    node target/browser/mcp.mjs "http://127.0.0.1:$GATEWAY" "$PORTCULLIS_DEMO_PASSWORD" \
        target/browser/screenshots "$WORK/mcp-client.json" "$run"
done
# Passkeys need an issuer on a domain name (WebAuthn refuses IP addresses): a second stack whose
# issuer is http://localhost:<port>, a secure context even over http.
stop_up
UP_ISSUER_HOST=localhost start_up
node target/browser/passkeys.mjs \
    "http://localhost:$AUTH" "$PORTCULLIS_DEMO_PASSWORD" target/browser/screenshots
# A third, fresh stack whose passkeys only prefer user verification: a security key without a PIN.
stop_up
rm -rf "$WORK/data"
PORTCULLIS_AUTH_PASSKEY_USER_VERIFICATION=preferred UP_ISSUER_HOST=localhost start_up
node target/browser/security_key.mjs \
    "http://localhost:$AUTH" "$PORTCULLIS_DEMO_PASSWORD" target/browser/screenshots
# A fourth stack for the gateway's session mode: access tokens living 35 s (the gateway refreshes
# them 30 s before they expire, so within seconds) and back-channel logout to the gateway on
# loopback; the run reads the gateway's metrics to see the refresh and the logout token.
stop_up
PORTCULLIS_TOKENS_ACCESS_TOKEN_LIFETIME_SECS=35 PORTCULLIS_AUTH_OUTBOUND_PRIVATE_NETWORKS=true start_up
GATEWAY_METRICS=$(grep -o 'admin: http://[^)]*/metrics' "$WORK/up.log" | head -1 | sed 's/^admin: //')
node target/browser/session.mjs \
    "http://127.0.0.1:$AUTH" "http://127.0.0.1:$GATEWAY" "$PORTCULLIS_DEMO_PASSWORD" \
    target/browser/screenshots "$GATEWAY_METRICS"
