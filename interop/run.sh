#!/usr/bin/env bash
# Interoperability in CI: a third-party OpenID Connect client (Authlib, Python, installed here from
# PyPI into target/interop-venv) against `portcullis up` on free loopback ports.
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
echo "$PASSWORD" | "$BIN" admin --data-dir "$WORK/data" user add alice --password-stdin >/dev/null
start_up
"$VENV/bin/python" interop/oidc_client.py "http://127.0.0.1:$AUTH" interop-rp "$SECRET" alice "$PASSWORD"
