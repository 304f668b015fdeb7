//! Sign-in through upstream identity providers, against real providers on loopback: a second
//! Portcullis (as an OpenID provider, and as a plain OAuth 2.0 provider read through its
//! userinfo endpoint) and panva's oidc-provider from npm.

mod accounts;
mod failures;
mod hostile;
mod managed;
mod third_party;

use super::browser::{Browser, CALLBACK, PASSWORD, app_client, authorize_url, pkce_pair};
use portcullis_auth::federation::FederationSettings;
use portcullis_core::federation::{
    AccountPolicy, ClaimMapping, Provider, ProviderProtocol, RoleRule,
};
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_testkit::browser::location;
use portcullis_testkit::{TestAuthServer, TestOptions};
use portcullis_types::GrantType;

/// The provider id of the upstream Portcullis.
pub const CORP: &str = "corp";

/// The client the downstream server is at the upstream.
const DOWNSTREAM_CLIENT: &str = "downstream";

/// A downstream server signing in through an upstream Portcullis (and its own app client).
pub struct Federated {
    pub upstream: TestAuthServer,
    pub downstream: TestAuthServer,
}

/// The upstream's settings as the downstream knows them, with `secret`.
pub fn corp(upstream: &TestAuthServer, secret: &str) -> Provider {
    Provider {
        id: CORP.into(),
        display_name: "Corp SSO".into(),
        protocol: ProviderProtocol::OpenIdConnect {
            issuer: upstream.base_url.clone(),
        },
        client_id: DOWNSTREAM_CLIENT.into(),
        client_secret: Some(secret.into()),
        private_key_jwt: false,
        scopes: "openid profile email".into(),
        claims: ClaimMapping::default(),
        role_rules: vec![RoleRule {
            claim: "preferred_username".into(),
            value: "alice".into(),
            role: "reviewer".into(),
        }],
        accounts: AccountPolicy::Create,
        link_by_verified_email: false,
        upstream_logout: false,
        domains: Vec::new(),
    }
}

impl Federated {
    /// Starts both; `adjust` changes the downstream's provider settings.
    pub async fn start(adjust: impl FnOnce(&mut Provider)) -> Federated {
        Self::start_with(adjust, TestOptions::default()).await
    }

    /// As [`Federated::start`], with the downstream's other options.
    pub async fn start_with(adjust: impl FnOnce(&mut Provider), options: TestOptions) -> Federated {
        let upstream = TestAuthServer::start().await;
        let secret = "upstream-client-secret-0123456789abcdef";
        let mut provider = corp(&upstream, secret);
        adjust(&mut provider);
        let downstream = TestAuthServer::start_with(TestOptions {
            federation: FederationSettings {
                providers: vec![provider],
                local_sign_in: true,
            },
            ..options
        })
        .await;
        downstream.add_client(app_client()).await;
        // The upstream knows the downstream as a confidential client with this secret.
        let (client, _) = upstream
            .add_client(downstream_registration(&downstream))
            .await;
        upstream
            .state
            .store
            .set_client_secret_hash(&client.id, &portcullis_core::SecretHash::of(secret))
            .await
            .expect("secret");
        Federated {
            upstream,
            downstream,
        }
    }

    /// Follows the start of a sign-in at `start` (a downstream URL) through the upstream's
    /// pages as `username` back to the downstream's callback, and opens it: the downstream's
    /// answer. `up` and `down` are one browser's cookies for each server (both on 127.0.0.1,
    /// where cookies do not tell ports apart).
    pub async fn through_upstream(
        &self,
        up: &Browser,
        down: &Browser,
        start: &str,
        username: &str,
    ) -> reqwest::Response {
        let to_upstream = down.get(start).await;
        let authorize = location(&to_upstream, &self.downstream.base_url);
        assert!(
            authorize.starts_with(&self.upstream.url("/authorize?")),
            "sent to the upstream: {authorize}"
        );
        let callback = up
            .authorize(
                &self.upstream.base_url,
                &authorize,
                (username, PASSWORD),
                &self.downstream.url("/federation/corp/callback"),
            )
            .await;
        down.get(&callback).await
    }

    /// A new upstream user `username` signing in for the first time, in a new browser, to the
    /// downstream's account page: the browser's cookies at each server and the answer.
    pub async fn first_sign_in(&self, username: &str) -> (Browser, Browser, reqwest::Response) {
        self.upstream.add_user(username, &[], PASSWORD).await;
        let (up, down) = (Browser::new(), Browser::new());
        let answer = self
            .through_upstream(
                &up,
                &down,
                &start_url(&self.downstream, "/account"),
                username,
            )
            .await;
        (up, down, answer)
    }

    /// An authorization request of the downstream's app, and its PKCE verifier.
    pub fn app_request(&self) -> (String, String) {
        let (verifier, challenge) = pkce_pair();
        (
            authorize_url(&self.downstream, "openid profile email", &challenge, &[]),
            verifier,
        )
    }
}

/// The downstream as a client of the upstream.
fn downstream_registration(downstream: &TestAuthServer) -> ClientRegistration {
    ClientRegistration {
        id: DOWNSTREAM_CLIENT.into(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec![downstream.url("/federation/corp/callback")],
        post_logout_redirect_uris: vec![downstream.url("/federation/corp/signed-out")],
        scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
        first_party: true,
        ..app_client()
    }
}

/// The start of a sign-in at the corp provider returning to `return_to`.
pub fn start_url(server: &TestAuthServer, return_to: &str) -> String {
    server.url(&format!(
        "/federation/corp/start?return_to={}",
        form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    ))
}

/// The app's redirect URI.
pub const APP_CALLBACK: &str = CALLBACK;
