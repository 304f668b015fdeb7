//! Step-up at the edge (RFC 9470): a route that requires how the user authenticated refuses a
//! token that falls short with 401 `insufficient_user_authentication` and the `acr_values` and
//! `max_age` to ask for, and passes a strong enough token with its `acr`, `amr` and `auth_time`
//! asserted to the upstream (never taken from the client).

use super::support::{Stack, challenge, route, stack};
use portcullis_jose::Algorithm;
use portcullis_testkit::TestOptions;
use portcullis_testkit::hostile::TokenForge;
use serde_json::{Value, json};

const AAL2: &str = "urn:portcullis:acr:aal2";

/// A genuine token (the issuer's real key) with these authentication claims.
fn user_token(stack: &Stack, authentication: &Value) -> String {
    let now = stack.auth.state.clock.now();
    let mut claims = json!({"iss": stack.auth.base_url, "sub": "u1", "aud": "api",
        "exp": now + 300, "iat": now, "jti": "j-1", "client_id": "app", "scope": "read",
        "sid": "s1"});
    for (name, value) in authentication.as_object().expect("object") {
        claims[name] = value.clone();
    }
    let key = stack
        .auth
        .state
        .keys
        .signer(Algorithm::Es256, now)
        .expect("active key");
    TokenForge::new(key, claims, stack.auth.state.keys.jwks(now), now).valid()
}

#[tokio::test]
async fn a_route_requiring_mfa_refuses_a_password_token_with_the_rfc_9470_challenge() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut admin = route("admin", "/admin", upstream);
        admin.require_acr = vec![AAL2.into()];
        admin.require_amr = vec!["mfa".into()];
        admin.max_auth_age_secs = Some(600);
        config.routes.insert(0, admin);
    })
    .await;
    let now = stack.auth.state.clock.now();
    let password = user_token(
        &stack,
        &json!({"acr": "urn:portcullis:acr:aal1", "amr": ["pwd"], "auth_time": now}),
    );
    let response = stack.get("/admin/users", Some(&password)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response),
        format!(
            "Bearer realm=\"portcullis\", error=\"insufficient_user_authentication\", \
             error_description=\"a stronger or more recent sign-in is required\", \
             acr_values=\"{AAL2}\", max_age=\"600\""
        )
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "insufficient_user_authentication");
    // The other routes take the same token.
    assert_eq!(stack.get("/api/x", Some(&password)).await.status(), 200);

    // Two factors, but too long ago: refused too.
    let stale = user_token(
        &stack,
        &json!({"acr": AAL2, "amr": ["pwd", "otp", "mfa"], "auth_time": now - 601}),
    );
    assert_eq!(stack.get("/admin/users", Some(&stale)).await.status(), 401);
    // `mfa` in `amr` without the class is not enough either, nor the class without `mfa`.
    for half in [
        json!({"acr": "urn:portcullis:acr:aal1", "amr": ["pwd", "otp", "mfa"], "auth_time": now}),
        json!({"acr": AAL2, "amr": ["pwd"], "auth_time": now}),
    ] {
        let token = user_token(&stack, &half);
        assert_eq!(
            stack.get("/admin/users", Some(&token)).await.status(),
            401,
            "{half}"
        );
    }

    let strong = user_token(
        &stack,
        &json!({"acr": AAL2, "amr": ["pwd", "otp", "mfa"], "auth_time": now - 10}),
    );
    let response = reqwest::Client::new()
        .get(format!("{}/admin/users", stack.base))
        .bearer_auth(&strong)
        // A client cannot assert its own authentication to the upstream.
        .header("x-portcullis-acr", "forged")
        .header("x-portcullis-auth-time", "1")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.expect("json");
    assert_eq!(echoed["headers"]["x-portcullis-acr"], AAL2);
    assert_eq!(echoed["headers"]["x-portcullis-amr"], "pwd otp mfa");
    assert_eq!(
        echoed["headers"]["x-portcullis-auth-time"],
        (now - 10).to_string()
    );
    // A token without a user asserts no authentication.
    let service = stack.token(Some("read")).await;
    let echoed: Value = stack
        .get("/api/x", Some(&service))
        .await
        .json()
        .await
        .expect("json");
    assert!(echoed["headers"].get("x-portcullis-acr").is_none());
    assert!(echoed["headers"].get("x-portcullis-amr").is_none());
}

#[tokio::test]
async fn a_public_route_cannot_require_an_authentication() {
    let upstream: std::net::SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut open = route("open", "/open", upstream).public();
    open.require_amr = vec!["mfa".into()];
    let config = portcullis_gateway::config::GatewayConfig {
        routes: vec![open],
        ..Default::default()
    };
    let error = portcullis_gateway::start(&config, async {})
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("how the user authenticated"),
        "{error}"
    );
}
