//! Managing OAuth clients. A confidential client's secret is generated here, returned once and
//! stored only as a hash.

use super::{AdminError, Administration, one_page};
use crate::ClientSearch;
use portcullis_core::secret::CLIENT_SECRET_BYTES;
use portcullis_core::{
    AuthenticationMethod, Client, ClientKind, ClientRegistration, SecretHash, generate_secret,
};

/// The most clients on one page.
pub const MAX_CLIENT_PAGE: u32 = 200;

/// One page of clients, by id, and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPage {
    /// The clients, in byte order of their ids.
    pub clients: Vec<Client>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A registered client, with its secret when it has one (shown once, never stored; its
/// `Debug` never shows it).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCreated {
    /// The client.
    pub client: Client,
    /// The new secret of a confidential client.
    pub secret: Option<String>,
}

/// A confidential client's new secret (the old one stops working at once; its `Debug` never
/// shows it).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRotated {
    /// The new secret.
    pub secret: String,
}

impl std::fmt::Debug for ClientCreated {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClientCreated")
            .field("client", &self.client.id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Debug for SecretRotated {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretRotated(<redacted>)")
    }
}

impl Administration<'_> {
    /// Registers a client; a confidential one gets a new secret.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming the field, [`AdminError::Conflict`] when the id is taken,
    /// or a store failure.
    pub async fn create_client(
        &self,
        registration: ClientRegistration,
    ) -> Result<ClientCreated, AdminError> {
        // A confidential client registered with keys authenticates with private_key_jwt.
        let secret = match (registration.kind, &registration.keys) {
            (ClientKind::Confidential, None) => Some(new_secret()?),
            _ => None,
        };
        self.register_client(registration, secret).await
    }

    /// Registers, or brings up to date, a client Portcullis needs for itself (`portcullis-*`,
    /// which administrators cannot create, change or delete): its registration, with the redirect
    /// URIs it already had kept (each server of a cluster adds its own), and its secret.
    ///
    /// # Errors
    /// Validation or store failures.
    pub async fn ensure_built_in_client(
        &self,
        mut registration: ClientRegistration,
        secret: Option<String>,
    ) -> Result<(), AdminError> {
        let Some(existing) = self.store.find_client(&registration.id).await? else {
            self.register(registration, secret).await?;
            return Ok(());
        };
        for uri in existing.redirect_uris.iter().rev() {
            if !registration.redirect_uris.contains(uri) {
                registration.redirect_uris.insert(0, uri.clone());
            }
        }
        let id = registration.id.clone();
        self.replace_registration(registration).await?;
        if let Some(secret) = secret
            && !existing.secret_is_valid(Some(&secret))
        {
            self.replace_secret(&id, &secret).await?;
        }
        Ok(())
    }

    /// Registers a client with `secret` (never for a public client; a confidential client
    /// without one needs keys).
    ///
    /// # Errors
    /// As [`Administration::create_client`].
    pub async fn register_client(
        &self,
        registration: ClientRegistration,
        secret: Option<String>,
    ) -> Result<ClientCreated, AdminError> {
        refuse_built_in(&registration.id)?;
        self.register(registration, secret).await
    }

    pub(super) async fn register(
        &self,
        registration: ClientRegistration,
        secret: Option<String>,
    ) -> Result<ClientCreated, AdminError> {
        if secret.is_some() && registration.kind == ClientKind::Public {
            return Err(AdminError::Invalid {
                field: "secret",
                message: "a public client has no secret".to_owned(),
            });
        }
        let client = registration.into_client(
            secret.as_deref().map(SecretHash::of),
            self.max_access_token_lifetime_secs,
            self.clock.now(),
        )?;
        self.store
            .create_client(&client)
            .await
            .map_err(|error| match AdminError::from(error) {
                AdminError::Conflict(_) => AdminError::Conflict(format!("client `{}`", client.id)),
                other => other,
            })?;
        self.record("client.create", &client.id);
        Ok(ClientCreated { client, secret })
    }

    /// Clients whose id starts with `prefix` (case-sensitive), in byte order, after the cursor
    /// `after`; at most `limit` (clamped to 1..=[`MAX_CLIENT_PAGE`]). One index range scan.
    ///
    /// # Errors
    /// A store failure.
    pub async fn client_page(
        &self,
        prefix: Option<String>,
        after: Option<String>,
        limit: u32,
    ) -> Result<ClientPage, AdminError> {
        let limit = limit.clamp(1, MAX_CLIENT_PAGE);
        let found = self
            .store
            .search_clients(&ClientSearch {
                prefix,
                after,
                limit: limit + 1,
            })
            .await?;
        let (clients, next) = one_page(found, limit, |client| client.id.clone());
        Ok(ClientPage { clients, next })
    }

    /// The client with this id.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn client(&self, id: &str) -> Result<Client, AdminError> {
        self.store
            .find_client(id)
            .await?
            .ok_or_else(|| AdminError::not_found("client", id))
    }

    /// Replaces a client's registration (not its id, type or secret).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming the field (also for a change of type),
    /// [`AdminError::NotFound`], or a store failure.
    pub async fn update_client(
        &self,
        registration: ClientRegistration,
    ) -> Result<Client, AdminError> {
        refuse_built_in(&registration.id)?;
        self.replace_registration(registration).await
    }

    pub(super) async fn replace_registration(
        &self,
        registration: ClientRegistration,
    ) -> Result<Client, AdminError> {
        let existing = self.client(&registration.id).await?;
        if existing.kind != registration.kind {
            return Err(AdminError::Invalid {
                field: "kind",
                message: format!(
                    "client `{}` is {}; a client's type cannot change (remove it and register it again)",
                    existing.id, existing.kind
                ),
            });
        }
        let client = registration.into_client(
            existing.secret_hash.clone(),
            self.max_access_token_lifetime_secs,
            existing.created_at,
        )?;
        if !self.store.update_client(&client).await? {
            return Err(AdminError::not_found("client", &client.id));
        }
        self.revoker.announcer.client_changed(&client.id);
        self.record("client.update", &client.id);
        Ok(client)
    }

    /// Deletes a client.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn delete_client(&self, id: &str) -> Result<(), AdminError> {
        refuse_built_in(id)?;
        if !self.revoker.delete_client(id, self.clock.now()).await? {
            return Err(AdminError::not_found("client", id));
        }
        self.record("client.delete", id);
        Ok(())
    }

    /// Gives a confidential client a new secret; the old one stops working at once.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], [`AdminError::Invalid`] for a public client, or a store failure.
    pub async fn rotate_client_secret(&self, id: &str) -> Result<SecretRotated, AdminError> {
        refuse_built_in(id)?;
        match self.client(id).await?.authentication_method() {
            AuthenticationMethod::ClientSecret => {}
            AuthenticationMethod::PrivateKeyJwt => {
                return Err(AdminError::Invalid {
                    field: "id",
                    message: format!(
                        "client `{id}` authenticates with private_key_jwt; it has no secret"
                    ),
                });
            }
            AuthenticationMethod::None => {
                return Err(AdminError::Invalid {
                    field: "id",
                    message: format!("client `{id}` is public and has no secret"),
                });
            }
        }
        let secret = new_secret()?;
        self.replace_secret(id, &secret).await?;
        Ok(SecretRotated { secret })
    }

    /// Replaces a confidential client's secret with `secret`.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] when there is no such confidential client, or a store failure.
    pub async fn set_client_secret(&self, id: &str, secret: &str) -> Result<(), AdminError> {
        refuse_built_in(id)?;
        self.replace_secret(id, secret).await
    }

    pub(super) async fn replace_secret(&self, id: &str, secret: &str) -> Result<(), AdminError> {
        if !self
            .store
            .set_client_secret_hash(id, &SecretHash::of(secret))
            .await?
        {
            return Err(AdminError::not_found("confidential client", id));
        }
        self.revoker.announcer.client_changed(id);
        self.record("client.rotate_secret", id);
        Ok(())
    }
}

/// Clients Portcullis registers for itself (`portcullis-console`): administrators and `apply`
/// neither create, change, delete nor prune them.
pub const BUILT_IN_CLIENT_PREFIX: &str = "portcullis-";

/// Whether `id` names a built-in client.
pub(super) fn is_built_in(id: &str) -> bool {
    id.starts_with(BUILT_IN_CLIENT_PREFIX)
}

fn refuse_built_in(id: &str) -> Result<(), AdminError> {
    if is_built_in(id) {
        return Err(AdminError::Invalid {
            field: "id",
            message: format!(
                "`{id}`: clients named {BUILT_IN_CLIENT_PREFIX}* are built into Portcullis"
            ),
        });
    }
    Ok(())
}

fn new_secret() -> Result<String, AdminError> {
    generate_secret(CLIENT_SECRET_BYTES).map_err(|_| AdminError::Internal("random generator"))
}
