//! Where an admin command acts: directly on the database through the service layer, or through
//! the admin API of a running server (`--server`). Both answer with the admin API's views, so a
//! command prints the same either way.

use super::context::AdminContext;
use super::remote::{RemoteAdmin, segment};
use crate::commands::key_policy;
use crate::config::Config;
use crate::key_encryption;
use anyhow::Context;
use portcullis_auth::admin_api::apply::{ApplyBody, ApplyClient, ApplyResult, ApplyUser};
use portcullis_auth::admin_api::client_tokens::{CreatedTokenView, NewTokenBody, TokenView};
use portcullis_auth::admin_api::clients::{
    ClientCreatedView, ClientView, NewClientBody, SecretView,
};
use portcullis_auth::admin_api::invitations::{InvitationView, NewInvitationBody};
use portcullis_auth::admin_api::keys::{KeyView, RotateBody};
use portcullis_auth::admin_api::roles::{PutRoleBody, RoleBody};
use portcullis_auth::admin_api::sessions::SessionView;
use portcullis_auth::admin_api::users::{
    NewUserBody, PasswordBody, PasswordChanged, UserList, UserPatch, UserView,
};
use portcullis_core::personal_access_token::TokenOwner;
use portcullis_core::{ClientKeys, Clock, Role, SystemClock};
use portcullis_jose::Algorithm;
use portcullis_service::admin::{DesiredState, InitialPassword};
use portcullis_service::{AuditQuery, AuditStore, KeyManager, SigningKeyStore};
use portcullis_store::SqlStore;
use reqwest::Method;
use std::sync::Arc;

/// An audit event as listed: id, time, kind and the event's JSON.
pub(crate) struct AuditLine {
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

/// The database, or a server.
pub(crate) enum Backend<'a> {
    /// Directly on the store, as the operator at this terminal.
    Direct {
        context: &'a AdminContext,
        config: &'a Config,
        store: &'a SqlStore,
    },
    /// Through the admin API.
    Remote(&'a RemoteAdmin),
}

impl Backend<'_> {
    pub(crate) async fn create_user(&self, body: NewUserBody) -> anyhow::Result<UserView> {
        match self {
            Backend::Direct { context, .. } => {
                let user = context.administration().create_user(body.draft()).await?;
                Ok(user.into())
            }
            Backend::Remote(remote) => remote.call(Method::POST, "/admin/v1/users", &body).await,
        }
    }

    pub(crate) async fn create_invitation(
        &self,
        body: NewInvitationBody,
    ) -> anyhow::Result<InvitationView> {
        match self {
            Backend::Direct {
                context, config, ..
            } => {
                let register_page = format!("{}/register", config.issuer().trim_end_matches('/'));
                let created = context
                    .administration()
                    .create_invitation(body.email.as_deref(), body.expires_in_secs, &register_page)
                    .await?;
                Ok(created.into())
            }
            Backend::Remote(remote) => {
                remote
                    .call(Method::POST, "/admin/v1/invitations", &body)
                    .await
            }
        }
    }

    pub(crate) async fn users(&self) -> anyhow::Result<Vec<UserView>> {
        match self {
            Backend::Direct { store, .. } => {
                use portcullis_service::UserStore;
                Ok(store
                    .list_users()
                    .await?
                    .into_iter()
                    .map(UserView::from)
                    .collect())
            }
            Backend::Remote(remote) => {
                let mut users = Vec::new();
                let mut after: Option<String> = None;
                loop {
                    let mut path = "/admin/v1/users?limit=200".to_owned();
                    if let Some(after) = &after {
                        path.push_str(&format!("&after={}", segment(after)));
                    }
                    let page: UserList = remote.get(&path).await?;
                    users.extend(page.users);
                    match page.next {
                        Some(next) => after = Some(next),
                        None => return Ok(users),
                    }
                }
            }
        }
    }

    pub(crate) async fn update_user(
        &self,
        name: &str,
        patch: UserPatch,
    ) -> anyhow::Result<UserView> {
        match self {
            Backend::Direct { context, .. } => Ok(context
                .administration()
                .update_user(name, patch.changes())
                .await?
                .into()),
            Backend::Remote(remote) => {
                let path = format!("/admin/v1/users/{}", segment(name));
                remote.call(Method::PATCH, &path, &patch).await
            }
        }
    }

    pub(crate) async fn delete_user(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct { context, .. } => {
                context.administration().delete_user(name).await?;
                Ok(())
            }
            Backend::Remote(remote) => {
                remote
                    .delete(&format!("/admin/v1/users/{}", segment(name)))
                    .await
            }
        }
    }

    pub(crate) async fn set_password(&self, name: &str, password: String) -> anyhow::Result<usize> {
        match self {
            Backend::Direct { context, .. } => Ok(context
                .administration()
                .set_password(name, password)
                .await?),
            Backend::Remote(remote) => {
                let path = format!("/admin/v1/users/{}/password", segment(name));
                let changed: PasswordChanged = remote
                    .call(Method::PUT, &path, &PasswordBody { password })
                    .await?;
                Ok(changed.sessions_ended)
            }
        }
    }

    pub(crate) async fn revoke_consent(&self, name: &str, client: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct { context, .. } => Ok(context
                .administration()
                .revoke_consent(name, client)
                .await?),
            Backend::Remote(remote) => {
                remote
                    .delete(&format!(
                        "/admin/v1/users/{}/consents/{}",
                        segment(name),
                        segment(client)
                    ))
                    .await
            }
        }
    }

    pub(crate) async fn reset_factors(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct { context, .. } => {
                context.administration().reset_factors(name).await?;
                Ok(())
            }
            Backend::Remote(remote) => {
                remote
                    .delete(&format!("/admin/v1/users/{}/factors", segment(name)))
                    .await
            }
        }
    }

    pub(crate) async fn create_client(
        &self,
        body: NewClientBody,
    ) -> anyhow::Result<ClientCreatedView> {
        match self {
            Backend::Direct { context, .. } => {
                let created = context
                    .administration()
                    .create_client(body.registration()?)
                    .await?;
                Ok(ClientCreatedView {
                    client: created.client.into(),
                    client_secret: created.secret,
                })
            }
            Backend::Remote(remote) => remote.call(Method::POST, "/admin/v1/clients", &body).await,
        }
    }

    pub(crate) async fn clients(&self) -> anyhow::Result<Vec<ClientView>> {
        match self {
            Backend::Direct { store, .. } => {
                use portcullis_service::ClientStore;
                Ok(store
                    .list_clients()
                    .await?
                    .into_iter()
                    .map(ClientView::from)
                    .collect())
            }
            Backend::Remote(remote) => remote.get("/admin/v1/clients").await,
        }
    }

    pub(crate) async fn client(&self, id: &str) -> anyhow::Result<ClientView> {
        match self {
            Backend::Direct { context, .. } => {
                Ok(context.administration().client(id).await?.into())
            }
            Backend::Remote(remote) => {
                remote
                    .get(&format!("/admin/v1/clients/{}", segment(id)))
                    .await
            }
        }
    }

    pub(crate) async fn delete_client(&self, id: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct { context, .. } => {
                Ok(context.administration().delete_client(id).await?)
            }
            Backend::Remote(remote) => {
                remote
                    .delete(&format!("/admin/v1/clients/{}", segment(id)))
                    .await
            }
        }
    }

    pub(crate) async fn rotate_client_secret(&self, id: &str) -> anyhow::Result<String> {
        match self {
            Backend::Direct { context, .. } => Ok(context
                .administration()
                .rotate_client_secret(id)
                .await?
                .secret),
            Backend::Remote(remote) => {
                let path = format!("/admin/v1/clients/{}/secret", segment(id));
                let rotated: SecretView = remote.call(Method::POST, &path, &()).await?;
                Ok(rotated.client_secret)
            }
        }
    }

    pub(crate) async fn create_client_key(
        &self,
        id: &str,
        body: NewTokenBody,
    ) -> anyhow::Result<CreatedTokenView> {
        match self {
            Backend::Direct {
                context, config, ..
            } => {
                let policy = config.personal_access_tokens.policy()?;
                let request = body
                    .into_request()
                    .map_err(|_| anyhow::anyhow!("--scope: not a list of scope tokens"))?;
                let (record, token) = context
                    .personal_access_tokens(&policy)
                    .create(
                        TokenOwner::Client(id.to_owned()),
                        request,
                        &context.actor().to_string(),
                    )
                    .await?;
                Ok(CreatedTokenView {
                    token,
                    key: record.into(),
                })
            }
            Backend::Remote(remote) => {
                let path = format!("/admin/v1/clients/{}/tokens", segment(id));
                remote.call(Method::POST, &path, &body).await
            }
        }
    }

    pub(crate) async fn client_keys(&self, id: &str) -> anyhow::Result<Vec<TokenView>> {
        match self {
            Backend::Direct {
                context, config, ..
            } => {
                let policy = config.personal_access_tokens.policy()?;
                let keys = context
                    .personal_access_tokens(&policy)
                    .list(&TokenOwner::Client(id.to_owned()))
                    .await?;
                Ok(keys.into_iter().map(TokenView::from).collect())
            }
            Backend::Remote(remote) => {
                remote
                    .get(&format!("/admin/v1/clients/{}/tokens", segment(id)))
                    .await
            }
        }
    }

    pub(crate) async fn revoke_client_key(&self, id: &str, key_id: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct {
                context, config, ..
            } => {
                let policy = config.personal_access_tokens.policy()?;
                let revoked = context
                    .personal_access_tokens(&policy)
                    .revoke(
                        &TokenOwner::Client(id.to_owned()),
                        key_id,
                        &context.actor().to_string(),
                    )
                    .await?;
                anyhow::ensure!(revoked, "client {id} has no key {key_id}");
                Ok(())
            }
            Backend::Remote(remote) => {
                remote
                    .delete(&format!(
                        "/admin/v1/clients/{}/tokens/{}",
                        segment(id),
                        segment(key_id)
                    ))
                    .await
            }
        }
    }

    pub(crate) async fn sessions(&self) -> anyhow::Result<Vec<SessionView>> {
        match self {
            Backend::Direct { context, .. } => Ok(context
                .administration()
                .sessions(None)
                .await?
                .into_iter()
                .map(SessionView::from)
                .collect()),
            Backend::Remote(remote) => remote.get("/admin/v1/sessions").await,
        }
    }

    pub(crate) async fn roles(&self) -> anyhow::Result<Vec<RoleBody>> {
        match self {
            Backend::Direct { context, .. } => Ok(context
                .administration()
                .roles()
                .await?
                .into_iter()
                .map(RoleBody::from)
                .collect()),
            Backend::Remote(remote) => remote.get("/admin/v1/roles").await,
        }
    }

    pub(crate) async fn put_role(&self, body: RoleBody) -> anyhow::Result<RoleBody> {
        match self {
            Backend::Direct { context, .. } => {
                let role = Role::new(&body.name, body.scopes, body.description)?;
                context.administration().put_role(&role).await?;
                Ok(role.into())
            }
            Backend::Remote(remote) => {
                let path = format!("/admin/v1/roles/{}", segment(&body.name));
                let put = PutRoleBody {
                    scopes: body.scopes,
                    description: body.description,
                };
                remote.call(Method::PUT, &path, &put).await
            }
        }
    }

    pub(crate) async fn delete_role(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct { context, .. } => {
                Ok(context.administration().delete_role(name).await?)
            }
            Backend::Remote(remote) => {
                remote
                    .delete(&format!("/admin/v1/roles/{}", segment(name)))
                    .await
            }
        }
    }

    pub(crate) async fn revoke_session(&self, sid: &str) -> anyhow::Result<()> {
        match self {
            Backend::Direct { context, .. } => {
                Ok(context.administration().revoke_session(sid).await?)
            }
            Backend::Remote(remote) => {
                remote
                    .delete(&format!("/admin/v1/sessions/{}", segment(sid)))
                    .await
            }
        }
    }

    pub(crate) async fn keys(&self) -> anyhow::Result<Vec<KeyView>> {
        match self {
            Backend::Direct { config, store, .. } => {
                let metadata: Vec<_> = store
                    .list_signing_keys()
                    .await?
                    .into_iter()
                    .map(|record| record.metadata)
                    .collect();
                let statuses = key_policy(config).statuses(&metadata, SystemClock.now());
                Ok(metadata
                    .iter()
                    .zip(statuses)
                    .map(|(key, status)| KeyView::new(key, status))
                    .collect())
            }
            Backend::Remote(remote) => remote.get("/admin/v1/keys").await,
        }
    }

    pub(crate) async fn rotate_keys(
        &self,
        algorithms: Vec<String>,
    ) -> anyhow::Result<Vec<KeyView>> {
        match self {
            Backend::Direct {
                context,
                config,
                store,
            } => {
                let algorithms: Vec<Algorithm> = if algorithms.is_empty() {
                    Algorithm::ALL.to_vec()
                } else {
                    algorithms
                        .iter()
                        .map(|name| {
                            name.parse().map_err(|_| {
                                anyhow::anyhow!(
                                    "unknown algorithm `{name}` (use ES256, EdDSA or RS256)"
                                )
                            })
                        })
                        .collect::<anyhow::Result<_>>()?
                };
                let kek = key_encryption::resolve(config)?;
                // Loading decrypts every existing key, which proves this is the server's KEK.
                let manager = KeyManager::load(Arc::new((*store).clone()), kek, key_policy(config))
                    .await
                    .context("cannot load the existing keys")?;
                let created = context
                    .administration()
                    .rotate_keys(&manager, &algorithms)
                    .await?;
                let statuses = manager.statuses(SystemClock.now());
                Ok(statuses
                    .iter()
                    .filter(|(key, _)| created.iter().any(|new| new.kid == key.kid))
                    .map(|(key, status)| KeyView::new(key, *status))
                    .collect())
            }
            Backend::Remote(remote) => {
                remote
                    .call(
                        Method::POST,
                        "/admin/v1/keys/rotate",
                        &RotateBody { algorithms },
                    )
                    .await
            }
        }
    }

    pub(crate) async fn audit(
        &self,
        kind: Option<String>,
        limit: u32,
    ) -> anyhow::Result<Vec<AuditLine>> {
        match self {
            Backend::Direct { store, .. } => {
                let records = store
                    .search_audit(&AuditQuery {
                        kind,
                        limit,
                        ..AuditQuery::default()
                    })
                    .await?;
                Ok(records
                    .into_iter()
                    .map(|record| AuditLine {
                        at: record.at,
                        kind: record.kind,
                        detail: record.detail,
                    })
                    .collect())
            }
            Backend::Remote(remote) => {
                let mut path = format!("/admin/v1/audit?limit={}", limit.clamp(1, 500));
                if let Some(kind) = &kind {
                    path.push_str(&format!("&kind={}", segment(kind)));
                }
                let page: portcullis_auth::admin_api::audit::AuditPage = remote.get(&path).await?;
                Ok(page
                    .events
                    .into_iter()
                    .map(|event| AuditLine {
                        at: event.at,
                        kind: event.kind,
                        detail: event.detail.to_string(),
                    })
                    .collect())
            }
        }
    }

    pub(crate) async fn apply(
        &self,
        desired: DesiredState,
        prune: bool,
        dry_run: bool,
    ) -> anyhow::Result<ApplyResult> {
        match self {
            Backend::Direct { context, .. } => {
                let admin = context.administration();
                let (plan, generated) = if dry_run {
                    (admin.plan(&desired, prune).await?, Vec::new())
                } else {
                    let (plan, applied) = admin.apply(&desired, prune).await?;
                    (plan, applied.generated_secrets)
                };
                Ok(ApplyResult::new(&plan, !dry_run, generated))
            }
            Backend::Remote(remote) => {
                let body = apply_body(desired, prune, dry_run);
                remote.call(Method::POST, "/admin/v1/apply", &body).await
            }
        }
    }
}

/// The admin API's form of a desired state.
fn apply_body(desired: DesiredState, prune: bool, dry_run: bool) -> ApplyBody {
    ApplyBody {
        roles: desired.roles.into_iter().map(RoleBody::from).collect(),
        clients: desired
            .clients
            .into_iter()
            .map(|client| {
                let registration = client.registration;
                ApplyClient {
                    registration: NewClientBody {
                        id: registration.id,
                        kind: registration.kind.as_str().to_owned(),
                        grant_types: registration
                            .grant_types
                            .iter()
                            .map(|grant| grant.as_str().to_owned())
                            .collect(),
                        redirect_uris: registration.redirect_uris,
                        scopes: registration.scopes,
                        audiences: registration.audiences,
                        access_token_lifetime_secs: registration.access_token_lifetime_secs,
                        first_party: registration.first_party,
                        post_logout_redirect_uris: registration.post_logout_redirect_uris,
                        id_token_algorithm: registration
                            .id_token_algorithm
                            .map(|alg| alg.as_str().to_owned()),
                        jwks: registration
                            .keys
                            .as_ref()
                            .and_then(ClientKeys::inline_set)
                            .and_then(|set| serde_json::to_value(set).ok()),
                        jwks_uri: registration
                            .keys
                            .as_ref()
                            .and_then(ClientKeys::uri)
                            .map(str::to_owned),
                        dpop_bound_access_tokens: registration.dpop_bound_access_tokens,
                        backchannel_logout_uri: registration.backchannel_logout_uri,
                        require_mfa: registration.require_mfa,
                        require_pushed_authorization_requests: registration
                            .require_pushed_authorization_requests,
                        client_name: registration.client_name,
                        request_uris: registration.request_uris,
                        request_object_signing_alg: registration
                            .request_object_signing_alg
                            .map(|alg| alg.as_str().to_owned()),
                    },
                    secret: client.secret,
                }
            })
            .collect(),
        users: desired
            .users
            .into_iter()
            .map(|user| {
                let (password, password_hash) = match user.password {
                    InitialPassword::Plain(password) => (Some(password), None),
                    InitialPassword::Hash(hash) => (None, Some(hash)),
                    InitialPassword::Unusable => (None, None),
                };
                ApplyUser {
                    username: user.username,
                    roles: user.roles,
                    email: user.email,
                    email_verified: user.email_verified,
                    password,
                    password_hash,
                }
            })
            .collect(),
        prune,
        dry_run,
    }
}
