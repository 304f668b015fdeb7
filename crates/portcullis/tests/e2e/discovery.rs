//! Discovery documents and the JWKS.

use super::support::{http, jwks, kids};
use portcullis_testkit::TestAuthServer;

#[tokio::test]
async fn both_metadata_documents_list_exactly_what_is_implemented() {
    let server = TestAuthServer::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let metadata: serde_json::Value = http()
            .get(server.url(path))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(metadata["issuer"], server.base_url, "{path}");
        assert_eq!(metadata["token_endpoint"], server.url("/token"));
        assert_eq!(metadata["jwks_uri"], server.url("/.well-known/jwks.json"));
        assert_eq!(
            metadata["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(
            metadata["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
        assert_eq!(metadata["backchannel_logout_supported"], true);
        assert_eq!(metadata["backchannel_logout_session_supported"], true);
        for (field, path) in [
            ("authorization_endpoint", "/authorize"),
            ("userinfo_endpoint", "/userinfo"),
            ("revocation_endpoint", "/revoke"),
            ("introspection_endpoint", "/introspect"),
            ("end_session_endpoint", "/logout"),
        ] {
            assert_eq!(metadata[field], server.url(path), "{field}");
        }
        assert_eq!(
            metadata["response_types_supported"],
            serde_json::json!(["code"])
        );
        assert_eq!(
            metadata["code_challenge_methods_supported"],
            serde_json::json!(["S256"]),
            "never plain"
        );
        assert_eq!(
            metadata["scopes_supported"],
            serde_json::json!(["openid", "profile", "email", "offline_access"])
        );
        assert_eq!(
            metadata["subject_types_supported"],
            serde_json::json!(["public"])
        );
        let id_token_algs = metadata["id_token_signing_alg_values_supported"]
            .as_array()
            .expect("algs");
        assert!(
            id_token_algs.contains(&serde_json::json!("RS256")),
            "OpenID Connect requires RS256"
        );
        assert_eq!(
            metadata["authorization_response_iss_parameter_supported"],
            true
        );
        // OpenID Connect Discovery §3: an absent request_uri_parameter_supported means true.
        assert_eq!(metadata["request_parameter_supported"], true);
        assert_eq!(metadata["request_uri_parameter_supported"], true);
        assert_eq!(metadata["require_request_uri_registration"], true);
        assert_eq!(
            metadata["access_token_signing_alg_values_supported"],
            serde_json::json!(["ES256"])
        );
    }
}

#[tokio::test]
async fn jwks_publishes_one_public_key_per_algorithm_with_cache_control() {
    let server = TestAuthServer::start().await;
    let response = http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=1")
    );
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/jwk-set+json")
    );
    let document: serde_json::Value = response.json().await.expect("json");
    let keys = document["keys"].as_array().expect("keys");
    let mut algs: Vec<&str> = keys
        .iter()
        .map(|key| key["alg"].as_str().expect("alg"))
        .collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|kid| kid.len() > 8));
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
        match key["alg"].as_str() {
            Some("ES256") => assert_eq!(
                (key["kty"].as_str(), key["crv"].as_str()),
                (Some("EC"), Some("P-256"))
            ),
            Some("EdDSA") => assert_eq!(
                (key["kty"].as_str(), key["crv"].as_str()),
                (Some("OKP"), Some("Ed25519"))
            ),
            _ => {
                assert_eq!(key["kty"], "RSA");
                let modulus = key["n"].as_str().expect("n");
                assert!(modulus.len() >= 342, "RSA modulus of at least 2048 bits");
            }
        }
    }
    assert_eq!(kids(&jwks(&server.base_url).await).len(), 3);
}
