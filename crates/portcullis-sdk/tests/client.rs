//! The SDK's relying party against a real auth server over loopback: discovery, a PKCE sign-in
//! in the (test) browser with `state`, `nonce` and RFC 9207 `iss` checked, the code exchanged and
//! the id token validated, a refresh; a forged callback, a refused consent surfaced, and a
//! provider naming another issuer refused.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_sdk::client::{ClientConfig, ClientError, PendingAuthorization, RelyingParty};
use portcullis_testkit::TestAuthServer;
use portcullis_testkit::browser::{Browser, hidden_fields, location};
use portcullis_types::GrantType;

const CALLBACK: &str = "http://127.0.0.1:43190/callback";
const PASSWORD: &str = "correct horse battery staple";

async fn provider(kind: ClientKind) -> (TestAuthServer, ClientConfig) {
    let server = TestAuthServer::start().await;
    server.add_user("ada", &["user"], PASSWORD).await;
    let (_, secret) = server
        .add_client(ClientRegistration {
            redirect_uris: vec![CALLBACK.into()],
            scopes: vec!["openid".into(), "profile".into(), "offline_access".into()],
            ..ClientRegistration::new(
                "web",
                kind,
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            )
        })
        .await;
    let config = ClientConfig {
        client_id: "web".into(),
        client_secret: secret,
        redirect_uri: CALLBACK.into(),
    };
    (server, config)
}

/// The query of the redirect back to the application.
fn query_of(callback: &str) -> &str {
    callback.split_once('?').map_or("", |(_, query)| query)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_and_the_tokens_are_validated_and_refreshed() {
    for kind in [ClientKind::Confidential, ClientKind::Public] {
        let (server, config) = provider(kind).await;
        let rp = RelyingParty::discover(&server.base_url, config)
            .await
            .expect("discovery");
        let (pending, url) = rp.start("openid offline_access", &[]).expect("start");
        assert!(url.contains("code_challenge_method=S256") && url.contains("nonce="));
        let callback = Browser::new()
            .authorize(&server.base_url, &url, ("ada", PASSWORD), CALLBACK)
            .await;
        let code = rp
            .callback(&pending, query_of(&callback))
            .expect("the callback of this sign-in");
        let (tokens, claims) = rp.exchange(&pending, &code).await.expect("exchange");
        let claims = claims.expect("an id token for openid");
        assert!(!claims.subject.is_empty());
        assert_eq!(claims.claims["nonce"], pending.nonce.as_str());
        let refresh_token = tokens.refresh_token.clone().expect("offline_access");
        let (refreshed, refreshed_claims) = rp
            .refresh(&refresh_token, &claims.subject)
            .await
            .expect("refresh");
        assert_ne!(refreshed.access_token, tokens.access_token);
        assert_eq!(
            refreshed_claims.map(|claims| claims.subject),
            Some(claims.subject.clone()),
            "a new id token of the same user"
        );
        // OpenID Connect Core §12.2: an id token of another user is refused.
        let rotated = refreshed.refresh_token.clone().unwrap_or(refresh_token);
        assert!(matches!(
            rp.refresh(&rotated, "someone-else").await,
            Err(ClientError::InvalidIdToken(_))
        ));
        // The code is single-use: a second exchange is the provider's refusal, surfaced.
        assert!(matches!(
            rp.exchange(&pending, &code).await,
            Err(ClientError::Refused { code, .. }) if code == "invalid_grant"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_callbacks_refusals_and_impostor_providers_are_told_apart() {
    let (server, config) = provider(ClientKind::Public).await;
    let rp = RelyingParty::discover(&server.base_url, config.clone())
        .await
        .expect("discovery");
    assert!(
        rp.metadata().authorization_response_iss_parameter_supported,
        "Portcullis sends iss (RFC 9207): a callback without it is refused"
    );

    // A callback of another sign-in (login CSRF) is refused before anything else.
    let (pending, url) = rp.start("openid", &[]).expect("start");
    let callback = Browser::new()
        .authorize(&server.base_url, &url, ("ada", PASSWORD), CALLBACK)
        .await;
    let other = PendingAuthorization::new().expect("random");
    assert!(matches!(
        rp.callback(&other, query_of(&callback)),
        Err(ClientError::ForgedCallback(_))
    ));
    let without_iss: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(query_of(&callback).as_bytes())
                .filter(|(name, _)| name != "iss"),
        )
        .finish();
    assert!(matches!(
        rp.callback(&pending, &without_iss),
        Err(ClientError::ForgedCallback(_))
    ));

    // The user, asked again (prompt=consent), says no: the provider's access_denied reaches
    // the application.
    let (pending, url) = rp.start("openid", &[("prompt", "consent")]).expect("start");
    let browser = Browser::new();
    let (_, consent) = browser
        .open_signed_in(&server.base_url, &url, ("ada", PASSWORD))
        .await;
    let mut fields = hidden_fields(&consent);
    fields.push(("decision".into(), "deny".into()));
    let denied = browser.post(&server.url("/authorize"), &fields).await;
    let callback = location(&denied, &server.base_url);
    assert!(matches!(
        rp.callback(&pending, query_of(&callback)),
        Err(ClientError::Refused { code, .. }) if code == "access_denied"
    ));

    // A provider whose metadata names another issuer is refused (OpenID Connect Discovery §4.3).
    let impostor = RelyingParty::discover(&format!("{}/", server.base_url), config).await;
    assert!(matches!(impostor, Err(ClientError::IssuerMismatch(_))));
}
