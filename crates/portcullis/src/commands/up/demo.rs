//! The demo data of `portcullis up`, created on first start only.

use crate::commands::admin::context::AdminContext;
use crate::config::Config;
use anyhow::Context;
use portcullis_core::secret::CLIENT_SECRET_BYTES;
use portcullis_core::{ClientKind, ClientRegistration, Role, SecretHash, generate_secret};
use portcullis_service::Actor;
use portcullis_service::ClientStore;
use portcullis_service::admin::{DesiredClient, DesiredState, DesiredUser, InitialPassword};
use portcullis_store::SqlStore;
use portcullis_types::GrantType;

/// The public client of the walkthrough's browser and CLI sign-ins (PKCE, loopback redirect).
pub const CLI_CLIENT: &str = "demo-cli";
/// The confidential client of the client-credentials step.
pub const SERVICE_CLIENT: &str = "demo-service";
/// The first-party client that `POST /login` issues tokens to.
pub const WEB_CLIENT: &str = "demo-web";
/// The gateway's own client, for the revocation feed.
pub const GATEWAY_CLIENT: &str = "up-gateway";
/// The web-app example: a confidential client signing users in through the SDK's relying party.
pub const WEB_APP_CLIENT: &str = "demo-web-app";
/// The gateway's browser sessions (session-mode routes): a confidential client of its own.
pub const SESSION_CLIENT: &str = "up-gateway-session";
/// The loopback redirect URI of the demo clients (any port, RFC 8252).
pub const LOOPBACK_REDIRECT: &str = "http://127.0.0.1/callback";

/// What the first start created and must show once.
#[derive(Debug)]
pub struct Seeded {
    /// The demo password, if it was generated (not taken from `PORTCULLIS_DEMO_PASSWORD`).
    pub generated_password: Option<String>,
    /// The secret of `demo-service`.
    pub service_secret: String,
}

/// Only admins get `portcullis:admin` and only admins or auditors `portcullis:audit`, even from
/// a client allowed to ask for them; every other scope stays open.
fn demo_roles() -> anyhow::Result<Vec<Role>> {
    let role = |name: &str, scopes: &[&str], description: &str| {
        Role::new(
            name,
            scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            Some(description.to_owned()),
        )
    };
    Ok(vec![
        role(
            "admin",
            &["portcullis:admin", "portcullis:audit"],
            "administers Portcullis",
        )?,
        role("auditor", &["portcullis:audit"], "reads the admin API")?,
        role("user", &[], "a signed-in person")?,
    ])
}

pub(super) fn registration(
    id: &str,
    kind: ClientKind,
    grants: Vec<GrantType>,
    scopes: &[&str],
    audiences: &[&str],
) -> ClientRegistration {
    let browser = grants.contains(&GrantType::AuthorizationCode);
    ClientRegistration {
        id: id.into(),
        kind,
        grant_types: grants,
        redirect_uris: if browser {
            vec![LOOPBACK_REDIRECT.into()]
        } else {
            vec![]
        },
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        audiences: audiences
            .iter()
            .map(|audience| (*audience).to_owned())
            .collect(),
        access_token_lifetime_secs: None,
        first_party: id == WEB_CLIENT,
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
}

/// Where the demo gateway sends a browser after `/_portcullis/logout`: its public route.
pub fn after_session_logout(gateway: &str) -> String {
    format!("{gateway}/public")
}

/// The resource identifier of the demo gateway's `/mcp` route (the MCP example server), at
/// `gateway`.
pub fn mcp_resource(gateway: &str) -> String {
    format!("{gateway}/mcp")
}

/// The resource identifier of the demo gateway's `/products` route, at `gateway`.
pub fn products_resource(gateway: &str) -> String {
    format!("{gateway}/products")
}

/// Creates the demo users and clients unless they exist, through the same declarative apply as
/// `portcullis admin apply`. Returns what to show once.
///
/// # Errors
/// Store or hashing failures.
pub async fn seed(
    store: &SqlStore,
    config: &Config,
    api_audience: &str,
) -> anyhow::Result<Option<Seeded>> {
    if store.find_client(CLI_CLIENT).await?.is_some() {
        return Ok(None);
    }
    let (password, generated_password) = match std::env::var("PORTCULLIS_DEMO_PASSWORD") {
        Ok(password) if !password.is_empty() => (password, None),
        _ => {
            let password = generate_secret(12)?;
            (password.clone(), Some(password))
        }
    };
    let service_secret = generate_secret(CLIENT_SECRET_BYTES)?;
    let users = [("testuser", vec!["admin", "user"]), ("guest", vec!["user"])]
        .into_iter()
        .map(|(name, roles)| DesiredUser {
            username: name.to_owned(),
            roles: roles.into_iter().map(str::to_owned).collect(),
            email: Some(format!("{name}@example.com")),
            email_verified: Some(true),
            password: InitialPassword::Plain(password.clone()),
        })
        .collect();
    let user_grants = || vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    // The gateway's audience, and the resource identifier of its `/products` route (RFC 9728).
    let products = products_resource(api_audience);
    let api = [api_audience, products.as_str()];
    let public = |registration| DesiredClient {
        registration,
        secret: None,
    };
    let clients = vec![
        public(registration(
            CLI_CLIENT,
            ClientKind::Public,
            // `portcullis login --device` too (RFC 8628).
            [user_grants(), vec![GrantType::DeviceCode]].concat(),
            &[
                "openid",
                "profile",
                "email",
                "offline_access",
                "products:read",
            ],
            &api,
        )),
        public(ClientRegistration {
            // demo-service may exchange these tokens (RFC 8693): they are meant for it too.
            audiences: vec![
                api_audience.to_owned(),
                products.clone(),
                SERVICE_CLIENT.to_owned(),
            ],
            ..registration(
                WEB_CLIENT,
                ClientKind::Public,
                user_grants(),
                &["openid", "profile", "products:read", "portcullis:admin"],
                &api,
            )
        }),
        DesiredClient {
            registration: registration(
                SERVICE_CLIENT,
                ClientKind::Confidential,
                vec![GrantType::ClientCredentials, GrantType::TokenExchange],
                &["products:read"],
                &api,
            ),
            secret: Some(service_secret.clone()),
        },
        DesiredClient {
            registration: gateway_registration(api_audience),
            secret: Some(generate_secret(CLIENT_SECRET_BYTES)?),
        },
    ];
    let context = AdminContext::new(config, store, Actor::command_line("portcullis-up"))?;
    let applied = context
        .administration()
        .apply(
            &DesiredState {
                roles: demo_roles()?,
                clients,
                users,
            },
            false,
        )
        .await
        .context("demo data (PORTCULLIS_DEMO_PASSWORD must satisfy the password policy)");
    context.finish().await;
    applied?;
    Ok(Some(Seeded {
        generated_password,
        service_secret,
    }))
}

/// Gives the in-process web-app example a fresh secret (never shown), registering it first in a
/// data directory made before it existed.
///
/// # Errors
/// Store failures.
pub async fn web_app_secret(store: &SqlStore, config: &Config) -> anyhow::Result<String> {
    let client = registration(
        WEB_APP_CLIENT,
        ClientKind::Confidential,
        vec![GrantType::AuthorizationCode],
        &["openid", "profile"],
        &[],
    );
    register_with_fresh_secret(store, config, client).await
}

/// Gives the in-process gateway's session client a fresh secret (never shown): it signs
/// browsers in for the session-mode routes of the gateway at `gateway`, with tokens for it.
///
/// # Errors
/// Store failures.
pub async fn session_client_secret(
    store: &SqlStore,
    config: &Config,
    gateway: &str,
) -> anyhow::Result<String> {
    let client = ClientRegistration {
        redirect_uris: vec![format!("{gateway}/_portcullis/callback")],
        post_logout_redirect_uris: vec![after_session_logout(gateway)],
        // Logout tokens to the gateway on loopback, when the auth server may reach it.
        backchannel_logout_uri: config
            .auth
            .outbound_private_networks
            .then(|| format!("{gateway}/_portcullis/backchannel-logout")),
        // The gateway is part of this deployment: no consent page.
        first_party: true,
        ..registration(
            SESSION_CLIENT,
            ClientKind::Confidential,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            &["openid", "profile", "offline_access"],
            &[gateway],
        )
    };
    register_with_fresh_secret(store, config, client).await
}

/// Registers the confidential client `client` as given (updated when it exists: a data
/// directory may predate a change) with a fresh secret, returned (never shown).
pub(super) async fn register_with_fresh_secret(
    store: &SqlStore,
    config: &Config,
    client: ClientRegistration,
) -> anyhow::Result<String> {
    use portcullis_core::Clock;
    let secret = generate_secret(CLIENT_SECRET_BYTES)?;
    let hash = SecretHash::of(&secret);
    let id = client.id.clone();
    let client = client.into_client(
        Some(hash.clone()),
        config.tokens.max_access_token_lifetime_secs,
        portcullis_core::SystemClock.now(),
    )?;
    if store.update_client(&client).await? && store.set_client_secret_hash(&id, &hash).await? {
        return Ok(secret);
    }
    store.create_client(&client).await?;
    Ok(secret)
}

/// The in-process gateway's client: it reads the revocation feed and introspects personal access
/// tokens meant for `api_audience` (the gateway).
fn gateway_registration(api_audience: &str) -> ClientRegistration {
    registration(
        GATEWAY_CLIENT,
        ClientKind::Confidential,
        vec![GrantType::ClientCredentials],
        &["portcullis:revocations", "portcullis:introspect"],
        &[api_audience],
    )
}

/// Gives the in-process gateway a fresh secret for reading the revocation feed and introspecting
/// (never shown), and the registration for both (a data directory may predate introspection).
///
/// # Errors
/// Store failures.
pub async fn rotate_gateway_secret(
    store: &SqlStore,
    config: &Config,
    api_audience: &str,
) -> anyhow::Result<String> {
    register_with_fresh_secret(store, config, gateway_registration(api_audience)).await
}
