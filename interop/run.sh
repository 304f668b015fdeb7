#!/usr/bin/env bash
# Interoperability in CI: a third-party OpenID Connect client (Authlib, Python, installed here from
# PyPI into target/interop-venv) against `portcullis up` on free loopback ports, then a plain
# client-credentials client against a fresh `portcullis serve auth`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/interop-venv
if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "authlib==1.6.*" "requests==2.*"
source scripts/up-stack.sh
PASSWORD="interop $(head -c 9 /dev/urandom | base64)"
export PORTCULLIS_PASSWORDS_ARGON2_MEMORY_KIB=8192
out=$("$BIN" admin --data-dir "$WORK/data" client add interop-rp \
    --grant authorization_code refresh_token --redirect-uri http://127.0.0.1/callback \
    --scope openid profile email offline_access)
SECRET=$(sed -n 's/^client_secret: //p' <<<"$out")
# A resource server for the RP's tokens (their default audience), allowed to introspect them.
out=$("$BIN" admin --data-dir "$WORK/data" client add interop-rs --grant client_credentials \
    --scope portcullis:introspect --audience api://default)
RS_SECRET=$(sed -n 's/^client_secret: //p' <<<"$out")
echo "$PASSWORD" | "$BIN" admin --data-dir "$WORK/data" user add alice --password-stdin >/dev/null
start_up
"$VENV/bin/python" interop/oidc_client.py "http://127.0.0.1:$AUTH" interop-rp "$SECRET" alice \
    "$PASSWORD" interop-rs "$RS_SECRET"

# A fresh `serve auth` and a client registered with no audience: plain client credentials work.
PLAIN=$(free_port)
out=$("$BIN" admin --data-dir "$WORK/plain" client add plain-svc --grant client_credentials)
PLAIN_SECRET=$(sed -n 's/^client_secret: //p' <<<"$out")
"$BIN" serve auth --data-dir "$WORK/plain" --listen "127.0.0.1:$PLAIN" --admin-listen 127.0.0.1:0 > "$WORK/plain.log" 2>&1 &
PLAIN_PID=$!
trap 'kill $PLAIN_PID 2>/dev/null; cleanup_up' EXIT INT TERM
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PLAIN/readyz" && break; sleep 0.1; done
"$VENV/bin/python" interop/client_credentials.py "http://127.0.0.1:$PLAIN" plain-svc "$PLAIN_SECRET"
