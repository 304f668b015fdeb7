"""Interoperability check: a third-party OpenID Connect client (Authlib, Python) against a running
Portcullis. Discovery, Authorization Code + PKCE through the real sign-in and consent pages, id token
validation, access token verification by an independent JOSE library (Authlib's joserfc-based
`authlib.jose`) against the served JWKS, userinfo, refresh rotation with reuse detection,
introspection by a resource server (RFC 7662 §4: only for tokens meant for it) and revocation.
Exits non-zero with a message at the first deviation.

Usage: python3 oidc_client.py ISSUER CLIENT_ID CLIENT_SECRET USERNAME PASSWORD RS_ID RS_SECRET
"""

import html.parser
import secrets
import sys
import urllib.parse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

REDIRECT_URI = "http://127.0.0.1/callback"


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


class Forms(html.parser.HTMLParser):
    """Collects each form's action and inputs, as a browser would submit them."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "button" and self.forms and attrs.get("name") == "decision":
            self.forms[-1]["fields"].setdefault("decision", attrs.get("value", ""))


def sign_in(browser, issuer, url, username, password):
    """Follows the pages until the redirect to the client; returns that URL."""
    response = browser.get(url, allow_redirects=False)
    for _ in range(10):
        if response.status_code in (302, 303):
            location = urllib.parse.urljoin(issuer + "/", response.headers["Location"])
            if location.startswith(REDIRECT_URI):
                return location
            response = browser.get(location, allow_redirects=False)
            continue
        check(response.status_code == 200, f"page served ({response.status_code})")
        parser = Forms()
        parser.feed(response.text)
        form = parser.forms[0]
        fields = dict(form["fields"])
        if "password" in fields or form["action"].endswith("/signin"):
            fields.update(username=username, password=password)
        else:
            fields["decision"] = "allow"
        action = urllib.parse.urljoin(issuer + "/", form["action"])
        response = browser.post(action, data=fields, allow_redirects=False)
    check(False, "authorization finished")


def main():
    issuer, client_id, client_secret, username, password, rs_id, rs_secret = sys.argv[1:8]
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
    check(metadata["issuer"] == issuer, "discovery issuer matches (OIDC Discovery §4.3)")
    check("S256" in metadata["code_challenge_methods_supported"], "PKCE S256 advertised")
    jwks = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"], timeout=5).json())

    client = OAuth2Session(
        client_id,
        client_secret,
        scope="openid profile email offline_access",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = sign_in(requests.Session(), issuer, url, username, password)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)
    check(query.get("iss") == [issuer], "authorization response carries iss (RFC 9207)")
    tokens = client.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    check(tokens["token_type"].lower() == "bearer", "token response is a bearer token")

    id_claims = jwt.decode(
        tokens["id_token"],
        jwks,
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    id_claims.validate()
    check(id_claims["sub"], "id token validated by Authlib (signature, iss, aud, nonce, exp)")

    access = jwt.decode(tokens["access_token"], jwks)
    access.validate()
    check(access.header.get("typ") == "at+jwt", "access token is an RFC 9068 at+jwt")
    check(access["iss"] == issuer and access["sub"] == id_claims["sub"], "access token claims")

    userinfo = client.get(metadata["userinfo_endpoint"]).json()
    check(userinfo["sub"] == id_claims["sub"], "userinfo answers for the same subject")

    first_refresh = tokens["refresh_token"]
    rotated = client.refresh_token(metadata["token_endpoint"], refresh_token=first_refresh)
    check(rotated["refresh_token"] != first_refresh, "refresh token rotated")
    resource_server = OAuth2Session(rs_id, rs_secret)
    introspect = lambda token: resource_server.introspect_token(  # noqa: E731
        metadata["introspection_endpoint"], token=token
    )
    introspected = introspect(rotated["access_token"]).json()
    check(introspected["active"] is True, "introspection: a live token is active (RFC 7662)")
    nosy = client.introspect_token(metadata["introspection_endpoint"], token=tokens["access_token"])
    check(
        nosy.status_code == 400 and nosy.json()["error"] == "unauthorized_client",
        "introspection: a client not granted it may not introspect (RFC 7662 §4)",
    )
    revoked = client.revoke_token(metadata["revocation_endpoint"], token=rotated["access_token"])
    check(revoked.status_code == 200, "revocation accepted (RFC 7009)")
    introspected = introspect(rotated["access_token"]).json()
    check(introspected == {"active": False}, "introspection: a revoked token is inactive")
    replay = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": first_refresh},
        auth=(client_id, client_secret),
        timeout=5,
    )
    check(
        replay.status_code == 400 and replay.json()["error"] == "invalid_grant",
        "a replayed refresh token is invalid_grant (RFC 9700 §4.14.2)",
    )

    still = requests.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        auth=(client_id, client_secret),
        timeout=5,
    )
    check(still.status_code == 400, "the replay revoked the whole family, its newest token too")
    print("interop: all checks passed")


if __name__ == "__main__":
    main()
