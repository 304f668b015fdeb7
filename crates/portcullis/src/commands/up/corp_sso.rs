//! "Example Corp SSO": a second Portcullis in the `up` process, standing for the identity
//! provider a company already has, so the sign-in page shows "Sign in with Example Corp SSO"
//! (docs/federation.md). Its own SQLite in `<data dir>/corp-sso`; its issuer on the other loopback
//! name than the stack's (`localhost` or `127.0.0.1`), so the two servers' cookies stay apart.

use super::demo::{register_with_fresh_secret, registration};
use crate::config::{Config, FlagOverrides};
use crate::key_encryption;
use anyhow::Context;
use portcullis_auth::AppState;
use portcullis_core::federation::{ProviderSpec, RoleRuleSpec};
use portcullis_core::{ClientKind, ClientRegistration, NewUser, SystemClock, Username};
use portcullis_service::UserStore;
use portcullis_store::SqlStore;
use portcullis_types::GrantType;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The provider's id at the stack's auth server.
const PROVIDER_ID: &str = "corp";
/// Its name on the button.
const PROVIDER_NAME: &str = "Example Corp SSO";
/// The stack's client there.
const CLIENT_ID: &str = "portcullis-up";
/// Its user.
const CORP_USER: &str = "ada";

/// The running provider.
pub struct CorpSso {
    /// Its issuer.
    pub issuer: String,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: Arc<SqlStore>,
}

/// The other loopback name than the stack's issuer's.
fn host_beside(stack_issuer: &str) -> &'static str {
    if stack_issuer.starts_with("http://localhost") {
        "127.0.0.1"
    } else {
        "localhost"
    }
}

impl CorpSso {
    /// Starts it on `listener` for the stack at `stack_issuer` whose data lives in `config`'s
    /// directory; `password` (the demo password, when known) for its user on first start; and
    /// adds it to `config` as a provider.
    ///
    /// # Errors
    /// Storage, key or configuration failures.
    pub async fn start(
        listener: TcpListener,
        config: &mut Config,
        password: Option<&str>,
        stopped: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<CorpSso> {
        let stack_issuer = config.issuer();
        let address = listener.local_addr()?;
        let issuer = format!("http://{}:{}", host_beside(&stack_issuer), address.port());
        let flags = FlagOverrides {
            data_dir: Some(config.data_dir.join("corp-sso")),
            listen: Some(address),
            issuer: Some(issuer.clone()),
            ..FlagOverrides::default()
        };
        // Its own defaults, whatever the stack's environment says.
        let own = Config::from_sources("", std::iter::empty(), &flags)?;
        let store = Arc::new(super::super::open_store(&own).await?);
        if let Some(password) = password {
            seed_user(&store, &own, password).await?;
        }
        let client = ClientRegistration {
            redirect_uris: vec![format!(
                "{}{}",
                stack_issuer.trim_end_matches('/'),
                portcullis_auth::federation::callback_path(PROVIDER_ID)
            )],
            post_logout_redirect_uris: vec![format!(
                "{}{}",
                stack_issuer.trim_end_matches('/'),
                portcullis_auth::federation::signed_out_path(PROVIDER_ID)
            )],
            // The stack is this company's own application: no consent page.
            first_party: true,
            ..registration(
                CLIENT_ID,
                ClientKind::Confidential,
                vec![GrantType::AuthorizationCode],
                &["openid", "profile", "email"],
                &[],
            )
        };
        let secret = register_with_fresh_secret(&store, &own, client).await?;
        let state = AppState::build(
            store.clone(),
            key_encryption::resolve(&own)?,
            super::super::auth_settings(&own)?,
            own.password_policy(),
            Arc::new(SystemClock),
        )
        .await
        .context("cannot start Example Corp SSO")?;
        let mut stop = stopped;
        let listeners = portcullis_auth::Listeners {
            public: listener,
            tls: None,
            admin: None,
        };
        let task = tokio::spawn(portcullis_auth::serve(listeners, state, async move {
            let _ = stop.changed().await;
        }));
        config.federation.providers.push(ProviderSpec {
            client_secret: Some(secret),
            roles: vec![RoleRuleSpec {
                claim: "preferred_username".into(),
                value: CORP_USER.into(),
                role: "user".into(),
            }],
            ..provider(&issuer)
        });
        Ok(CorpSso {
            issuer,
            task,
            store,
        })
    }

    /// Closes its store once its server stopped.
    pub async fn close(self) {
        let _ = self.task.await;
        self.store.close().await;
    }
}

/// The provider's entry in the stack's configuration.
fn provider(issuer: &str) -> ProviderSpec {
    ProviderSpec {
        upstream_logout: true,
        domains: vec!["corp.example".into()],
        ..ProviderSpec::oidc(PROVIDER_ID, PROVIDER_NAME, issuer, CLIENT_ID)
    }
}

/// Its user `ada` (a verified address at the company), unless there.
async fn seed_user(store: &SqlStore, config: &Config, password: &str) -> anyhow::Result<()> {
    if store.find_user_by_username(CORP_USER).await?.is_some() {
        return Ok(());
    }
    let hasher = portcullis_core::PasswordHasher::new(config.password_policy())?;
    let mut user = NewUser {
        username: Username::parse(CORP_USER)?,
        roles: Vec::new(),
        email: Some(format!("{CORP_USER}@corp.example")),
        password_hash: hasher.hash(password)?,
    }
    .into_user(portcullis_core::Clock::now(&SystemClock));
    user.email_verified_at = Some(user.created_at);
    store.create_user(&user).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_lives_on_the_other_loopback_name() {
        assert_eq!(host_beside("http://127.0.0.1:3000"), "localhost");
        assert_eq!(host_beside("http://localhost:3000"), "127.0.0.1");
        let entry = provider("http://localhost:3005");
        assert_eq!(entry.issuer.as_deref(), Some("http://localhost:3005"));
    }
}
