//! The token endpoint's whole handler path for client credentials: form parsing, client lookup in
//! SQLite, secret check, grant decision, JWT signing, response serialization, through the real
//! router (no socket). Run: `cargo bench -p portcullis-auth --bench token_endpoint`
#![allow(clippy::expect_used)] // a benchmark whose setup fails should stop loudly

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_auth::{AppState, AuthSettings, router};
use portcullis_core::{
    ClientKind, ClientRegistration, KeyLifecyclePolicy, SecretHash, SystemClock, TokenPolicy,
};
use portcullis_jose::{Algorithm, KeyEncryptionKey};
use portcullis_service::ClientStore;
use portcullis_store::SqlStore;
use portcullis_types::GrantType;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const SECRET: &str = "bench-secret-with-plenty-of-entropy-0123456789";

async fn state(dir: &std::path::Path, algorithm: Algorithm) -> AppState {
    let store = Arc::new(
        SqlStore::open_sqlite(&dir.join("portcullis.db"))
            .await
            .expect("benchmark setup"),
    );
    let client = ClientRegistration {
        id: "svc".into(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![],
        scopes: vec!["read".into(), "write".into()],
        audiences: vec!["https://api.example".into()],
        access_token_lifetime_secs: None,
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_algorithm: None,
        keys: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        require_mfa: false,
        require_pushed_authorization_requests: false,
        client_name: None,
        request_uris: Vec::new(),
        request_object_signing_alg: None,
    }
    .into_client(Some(SecretHash::of(SECRET)), 3600, 0)
    .expect("benchmark setup");
    store.create_client(&client).await.expect("benchmark setup");
    let settings = AuthSettings {
        token_policy: TokenPolicy {
            issuer: "http://127.0.0.1:3000".into(),
            default_audience: portcullis_core::token::DEFAULT_AUDIENCE.into(),
            default_access_token_lifetime_secs: 900,
            max_access_token_lifetime_secs: 3600,
        },
        key_policy: KeyLifecyclePolicy {
            prepublish_secs: 3600,
            retention_secs: 3660,
            rotation_interval_secs: None,
        },
        access_token_algorithm: algorithm,
        jwks_max_age_secs: 300,
        key_refresh_interval: Duration::from_secs(10),
        sign_in: portcullis_auth::settings::SignInSettings::default(),
        registration: portcullis_core::RegistrationPolicy::default(),
        trusted_proxies: portcullis_core::TrustedProxies::default(),
        verifier_leeway_secs: 60,
        outbound_private_networks: true,
        dpop_nonce: false,
        require_pushed_authorization_requests: false,
        client_registration: Default::default(),
        federation: portcullis_auth::federation::FederationSettings::default(),
        client_cache_max_age: std::time::Duration::from_secs(1),
        personal_access_tokens: Default::default(),
    };
    let kek = KeyEncryptionKey::generate().expect("benchmark setup");
    AppState::build(
        store,
        kek,
        settings,
        portcullis_core::PasswordPolicy::default(),
        Arc::new(SystemClock),
    )
    .await
    .expect("benchmark setup")
}

fn token_request() -> Request<Body> {
    let mut request = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", base64_credentials()),
        )
        .body(Body::from("grant_type=client_credentials&scope=read"))
        .expect("benchmark setup");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    request
}

fn base64_credentials() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("svc:{SECRET}"))
}

fn token_endpoint(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("benchmark setup");
    for algorithm in Algorithm::ALL {
        let dir = tempfile::tempdir().expect("benchmark setup");
        let app = router(runtime.block_on(state(dir.path(), algorithm)));
        let status = runtime
            .block_on(app.clone().oneshot(token_request()))
            .map(|r| r.status());
        assert_eq!(status.ok().map(|s| s.as_u16()), Some(200));
        c.bench_function(
            &format!("token_endpoint/client_credentials/{algorithm}"),
            |b| {
                b.iter(|| runtime.block_on(app.clone().oneshot(token_request())));
            },
        );
    }
}

criterion_group!(benches, token_endpoint);
criterion_main!(benches);
