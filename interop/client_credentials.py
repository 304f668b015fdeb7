"""Interoperability check: a standard OAuth 2.0 client (Authlib, Python) doing plain client
credentials (RFC 6749 §4.4) against a freshly started `portcullis serve auth`, with a client
registered without any audience. The token must come back and verify against the served JWKS,
with the server's default audience (RFC 9068 §2.2 requires `aud`).

Usage: python3 client_credentials.py ISSUER CLIENT_ID CLIENT_SECRET
"""

import sys

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


def main():
    issuer, client_id, client_secret = sys.argv[1:4]
    metadata = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=5).json()
    check(metadata["issuer"] == issuer, "authorization server metadata (RFC 8414)")
    client = OAuth2Session(client_id, client_secret)
    tokens = client.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    check(tokens["token_type"].lower() == "bearer", "client credentials token issued")
    jwks = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"], timeout=5).json())
    claims = jwt.decode(
        tokens["access_token"],
        jwks,
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": "api://default"},
        },
    )
    claims.validate()
    check(claims["sub"] == client_id, "it verifies: signature, iss, default aud, exp")
    print("interop (client credentials): all checks passed")


if __name__ == "__main__":
    main()
