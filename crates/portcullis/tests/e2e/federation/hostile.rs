//! A provider that misbehaves on purpose, which no real package does: a small provider with
//! real keys and real signatures whose id tokens name another client or another sign-in's
//! nonce. The downstream refuses both, audits and shows them, and accepts the same provider's
//! honest answer.

use super::super::browser::Browser;
use super::super::support::audit_details;
use super::{CORP, corp};
use portcullis_auth::federation::FederationSettings;
use portcullis_core::federation::ProviderProtocol;
use portcullis_jose::{Algorithm, SigningKey, sign_compact};
use portcullis_testkit::browser::{location, query_param};
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// What the provider's next id token says.
#[derive(Clone, Default)]
struct NextToken {
    audience: String,
    nonce: String,
}

/// Starts the provider: its issuer, and what its next id token says.
async fn hostile_provider() -> (String, Arc<Mutex<NextToken>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("address"));
    let key = Arc::new(SigningKey::generate(Algorithm::Es256, "k1".into()).expect("key"));
    let next = Arc::new(Mutex::new(NextToken::default()));
    let metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    let jwks = json!({ "keys": [key.public_jwk()] });
    let (token_issuer, token_next) = (issuer.clone(), next.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(metadata) }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        )
        .route(
            "/token",
            axum::routing::post(move || {
                let next = token_next.lock().expect("lock").clone();
                let now = portcullis_core::Clock::now(&portcullis_core::SystemClock);
                let claims = json!({
                    "iss": token_issuer, "sub": "mallory", "aud": next.audience,
                    "iat": now, "exp": now + 300, "nonce": next.nonce,
                    "preferred_username": "mallory",
                });
                let id_token =
                    sign_compact(&serde_json::to_vec(&claims).expect("claims"), "JWT", &key)
                        .expect("sign");
                async move {
                    axum::Json(json!({
                        "access_token": "opaque", "token_type": "Bearer", "id_token": id_token,
                    }))
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (issuer, next)
}

#[tokio::test]
async fn id_tokens_for_another_client_or_sign_in_are_refused() {
    let (issuer, next) = hostile_provider().await;
    let placeholder = TestAuthServer::start().await;
    let mut provider = corp(&placeholder, "secret");
    provider.protocol = ProviderProtocol::OpenIdConnect { issuer };
    let server = TestAuthServer::start_with(TestOptions {
        federation: FederationSettings {
            providers: vec![provider],
            local_sign_in: true,
        },
        ..TestOptions::default()
    })
    .await;
    // Each round: a flow started in a browser, the provider's id token for `audience` with this
    // sign-in's nonce or another's.
    let round = |audience: &'static str, nonce_of_this_sign_in: bool| {
        let server = &server;
        let next = next.clone();
        async move {
            let browser = Browser::new();
            let to_provider = browser
                .get(&server.url(&format!("/federation/{CORP}/start?return_to=%2Faccount")))
                .await;
            let authorize = location(&to_provider, &server.base_url);
            let nonce = query_param(&authorize, "nonce").expect("nonce");
            let state = query_param(&authorize, "state").expect("state");
            *next.lock().expect("lock") = NextToken {
                audience: audience.to_owned(),
                nonce: if nonce_of_this_sign_in {
                    nonce
                } else {
                    "another-sign-in".to_owned()
                },
            };
            let callback = server.url(&format!("/federation/{CORP}/callback?code=c&state={state}"));
            browser.get(&callback).await
        }
    };
    let foreign = round("someone-else", true).await;
    assert_eq!(foreign.status(), 502);
    let replayed_nonce = round("downstream", false).await;
    assert_eq!(replayed_nonce.status(), 502);
    let honest = round("downstream", true).await;
    assert_eq!(
        honest.status(),
        303,
        "the same provider's honest answer signs in"
    );

    let audit = audit_details(&server, "federation").await;
    let refusals: Vec<&String> = audit
        .iter()
        .filter(|event| event.contains("\"action\":\"refused\""))
        .collect();
    assert_eq!(refusals.len(), 2, "{audit:?}");
    assert!(
        refusals.iter().any(|event| event.contains("aud")),
        "{refusals:?}"
    );
    assert!(
        refusals.iter().any(|event| event.contains("nonce")),
        "{refusals:?}"
    );
}
