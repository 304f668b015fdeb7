//! [`ClientStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, join_list, split_list, unavailable};
use async_trait::async_trait;
use portcullis_core::{Client, ClientKeys, ClientKind, ScopeSet, SecretHash, UnixSeconds};
use portcullis_service::{ClientSearch, ClientStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

const CLIENT_COLUMNS: &str = "id, kind, secret_hash, grant_types, redirect_uris, scopes, audiences, \
                              access_token_lifetime_secs, created_at, first_party, \
                              post_logout_redirect_uris, id_token_algorithm, jwks, jwks_uri, \
                              dpop_bound_access_tokens, backchannel_logout_uri, require_mfa, \
                              require_pushed_authorization_requests, client_name, \
                              registration_token_hash, metadata_document_expires_at, request_uris, \
                              request_object_signing_alg";

fn client_from_row(row: &AnyRow) -> Result<Client, StoreError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("client `{id}`: {what}"));
    let kind = match row
        .try_get::<String, _>("kind")
        .map_err(unavailable)?
        .as_str()
    {
        "confidential" => ClientKind::Confidential,
        "public" => ClientKind::Public,
        _ => return Err(corrupt("kind")),
    };
    let secret_hash = row
        .try_get::<Option<Vec<u8>>, _>("secret_hash")
        .map_err(unavailable)?
        .map(|bytes| SecretHash::from_bytes(&bytes).ok_or_else(|| corrupt("secret hash")))
        .transpose()?;
    let grant_types = split_list(row.try_get("grant_types").map_err(unavailable)?)
        .iter()
        .map(|name| name.parse().map_err(|_| corrupt("grant type")))
        .collect::<Result<_, _>>()?;
    let scopes = ScopeSet::try_from(split_list(row.try_get("scopes").map_err(unavailable)?))
        .map_err(|_| corrupt("scope"))?;
    Ok(Client {
        kind,
        secret_hash,
        grant_types,
        redirect_uris: split_list(row.try_get("redirect_uris").map_err(unavailable)?),
        scopes,
        audiences: split_list(row.try_get("audiences").map_err(unavailable)?),
        access_token_lifetime_secs: row
            .try_get("access_token_lifetime_secs")
            .map_err(unavailable)?,
        created_at: row.try_get("created_at").map_err(unavailable)?,
        first_party: row.try_get::<i64, _>("first_party").map_err(unavailable)? != 0,
        post_logout_redirect_uris: split_list(
            row.try_get("post_logout_redirect_uris")
                .map_err(unavailable)?,
        ),
        id_token_algorithm: row
            .try_get::<Option<String>, _>("id_token_algorithm")
            .map_err(unavailable)?
            .map(|name| name.parse().map_err(|_| corrupt("id token algorithm")))
            .transpose()?,
        keys: stored_keys(row).map_err(corrupt)?,
        dpop_bound_access_tokens: row
            .try_get::<i64, _>("dpop_bound_access_tokens")
            .map_err(unavailable)?
            != 0,
        backchannel_logout_uri: row.try_get("backchannel_logout_uri").map_err(unavailable)?,
        require_mfa: row.try_get::<i64, _>("require_mfa").map_err(unavailable)? != 0,
        require_pushed_authorization_requests: row
            .try_get::<i64, _>("require_pushed_authorization_requests")
            .map_err(unavailable)?
            != 0,
        client_name: row.try_get("client_name").map_err(unavailable)?,
        request_uris: split_list(row.try_get("request_uris").map_err(unavailable)?),
        request_object_signing_alg: row
            .try_get::<Option<String>, _>("request_object_signing_alg")
            .map_err(unavailable)?
            .map(|name| {
                name.parse()
                    .map_err(|_| corrupt("request object signing alg"))
            })
            .transpose()?,
        registration_token_hash: row
            .try_get::<Option<Vec<u8>>, _>("registration_token_hash")
            .map_err(unavailable)?
            .map(|bytes| {
                SecretHash::from_bytes(&bytes).ok_or_else(|| corrupt("registration token hash"))
            })
            .transpose()?,
        metadata_document_expires_at: row
            .try_get("metadata_document_expires_at")
            .map_err(unavailable)?,
        id,
    })
}

/// The keys of a stored client: its `jwks` (JSON) or its `jwks_uri`.
fn stored_keys(row: &AnyRow) -> Result<Option<ClientKeys>, &'static str> {
    let jwks: Option<String> = row.try_get("jwks").map_err(|_| "jwks")?;
    let jwks_uri: Option<String> = row.try_get("jwks_uri").map_err(|_| "jwks_uri")?;
    match (jwks, jwks_uri) {
        (Some(json), None) => ClientKeys::from_stored_json(&json)
            .map(Some)
            .map_err(|_| "jwks"),
        (None, Some(uri)) => Ok(Some(ClientKeys::Remote(uri))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err("both jwks and jwks_uri"),
    }
}

/// A client's grant types and scopes as stored: space-separated lists.
fn stored_lists(client: &Client) -> (String, String) {
    let grant_types: Vec<&str> = client
        .grant_types
        .iter()
        .map(|grant| grant.as_str())
        .collect();
    let scopes: Vec<&str> = client.scopes.iter().collect();
    (join_list(&grant_types), join_list(&scopes))
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
        let (grant_types, scopes) = stored_lists(client);
        let result = sqlx::query(
            "UPDATE clients SET grant_types = $1, redirect_uris = $2, scopes = $3, audiences = $4, \
             access_token_lifetime_secs = $5, first_party = $6, post_logout_redirect_uris = $7, \
             id_token_algorithm = $8, jwks = $9, jwks_uri = $10, dpop_bound_access_tokens = $11, \
             backchannel_logout_uri = $12, require_mfa = $13, \
             require_pushed_authorization_requests = $14, client_name = $15, \
             metadata_document_expires_at = $16, request_uris = $17, \
             request_object_signing_alg = $18 WHERE id = $19",
        )
        .bind(grant_types)
        .bind(join_list(&client.redirect_uris))
        .bind(scopes)
        .bind(join_list(&client.audiences))
        .bind(client.access_token_lifetime_secs)
        .bind(i64::from(client.first_party))
        .bind(join_list(&client.post_logout_redirect_uris))
        .bind(client.id_token_algorithm.map(|alg| alg.as_str()))
        .bind(client.keys.as_ref().and_then(ClientKeys::inline_json))
        .bind(
            client
                .keys
                .as_ref()
                .and_then(ClientKeys::uri)
                .map(str::to_owned),
        )
        .bind(i64::from(client.dpop_bound_access_tokens))
        .bind(client.backchannel_logout_uri.clone())
        .bind(i64::from(client.require_mfa))
        .bind(i64::from(client.require_pushed_authorization_requests))
        .bind(client.client_name.clone())
        .bind(client.metadata_document_expires_at)
        .bind(join_list(&client.request_uris))
        .bind(client.request_object_signing_alg.map(|alg| alg.as_str()))
        .bind(&client.id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let (grant_types, scopes) = stored_lists(client);
        sqlx::query(&format!(
            "INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        ))
        .bind(&client.id)
        .bind(client.kind.as_str())
        .bind(
            client
                .secret_hash
                .as_ref()
                .map(|hash| hash.as_bytes().to_vec()),
        )
        .bind(grant_types)
        .bind(join_list(&client.redirect_uris))
        .bind(scopes)
        .bind(join_list(&client.audiences))
        .bind(client.access_token_lifetime_secs)
        .bind(client.created_at)
        .bind(i64::from(client.first_party))
        .bind(join_list(&client.post_logout_redirect_uris))
        .bind(client.id_token_algorithm.map(|alg| alg.as_str()))
        .bind(client.keys.as_ref().and_then(ClientKeys::inline_json))
        .bind(client.keys.as_ref().and_then(ClientKeys::uri).map(str::to_owned))
        .bind(i64::from(client.dpop_bound_access_tokens))
        .bind(client.backchannel_logout_uri.clone())
        .bind(i64::from(client.require_mfa))
        .bind(i64::from(client.require_pushed_authorization_requests))
        .bind(client.client_name.clone())
        .bind(
            client
                .registration_token_hash
                .as_ref()
                .map(|hash| hash.as_bytes().to_vec()),
        )
        .bind(client.metadata_document_expires_at)
        .bind(join_list(&client.request_uris))
        .bind(client.request_object_signing_alg.map(|alg| alg.as_str()))
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || format!("client `{}`", client.id)))?;
        Ok(())
    }

    async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn search_clients(&self, search: &ClientSearch) -> Result<Vec<Client>, StoreError> {
        let rows = self
            .prefix_page(
                ("clients", CLIENT_COLUMNS, "id"),
                search.prefix.clone().unwrap_or_default(),
                search.after.clone(),
                search.limit,
            )
            .await?;
        rows.iter().map(client_from_row).collect()
    }

    async fn count_self_described_clients(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) AS registered FROM clients WHERE registration_token_hash IS NOT NULL \
             OR metadata_document_expires_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?
        .try_get("registered")
        .map_err(unavailable)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        // Its refresh tokens go with it (consents and session rows by their foreign keys): a
        // client registered again under the same id, as a metadata document's is when used
        // again, must not find the old grants alive.
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM refresh_token_families WHERE client_id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let result = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_stale_document_clients(
        &self,
        expired_before: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM clients WHERE metadata_document_expires_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM refresh_token_families f WHERE f.client_id = clients.id \
             AND f.revoked_at IS NULL AND f.expires_at > $2)",
        )
        .bind(expired_before)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn set_client_secret_hash(
        &self,
        id: &str,
        hash: &SecretHash,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE clients SET secret_hash = $1 WHERE id = $2 AND kind = 'confidential'",
        )
        .bind(hash.as_bytes().to_vec())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}
