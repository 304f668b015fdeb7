//! [`RegistrationStore`] on SQL (SQLite and PostgreSQL).

use super::outbox::enqueue_in;
use super::users::insert_user;
use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{
    Invitation, OutgoingEmail, PendingRegistration, UnixSeconds, User, Username, VerificationLink,
};
use portcullis_service::{
    ADDRESS_IN_USE, NewRegistration, RegistrationOutcome, RegistrationStore, StoreError,
};
use sqlx::Row;
use sqlx::any::AnyRow;

const LINK_COLUMNS: &str = "token_hash, user_id, email, return_to, expires_at";
const PENDING_COLUMNS: &str = "token_hash, username, email, password_hash, return_to, expires_at";

fn pending_from_row(row: &AnyRow) -> Result<PendingRegistration, StoreError> {
    let username: String = row.try_get("username").map_err(unavailable)?;
    Ok(PendingRegistration {
        token_hash: row.try_get("token_hash").map_err(unavailable)?,
        username: Username::parse(&username)
            .map_err(|_| StoreError::Corrupt(format!("username `{username}`")))?,
        email: row.try_get("email").map_err(unavailable)?,
        password_hash: row.try_get("password_hash").map_err(unavailable)?,
        return_to: row.try_get("return_to").map_err(unavailable)?,
        expires_at: row.try_get("expires_at").map_err(unavailable)?,
    })
}

/// Whether `sql` (binding `key`) finds a row, inside `transaction`.
async fn exists(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    sql: &str,
    key: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query(sql)
        .bind(key)
        .fetch_optional(&mut **transaction)
        .await
        .map_err(unavailable)?;
    Ok(row.is_some())
}

fn link_from_row(row: &AnyRow) -> Result<VerificationLink, StoreError> {
    Ok(VerificationLink {
        token_hash: row.try_get("token_hash").map_err(unavailable)?,
        user_id: row.try_get("user_id").map_err(unavailable)?,
        email: row.try_get("email").map_err(unavailable)?,
        return_to: row.try_get("return_to").map_err(unavailable)?,
        expires_at: row.try_get("expires_at").map_err(unavailable)?,
    })
}

/// Stores `link` through `executor` (a transaction that deleted the account's older links).
async fn insert_link<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    link: &VerificationLink,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO email_verification_links \
         (token_hash, user_id, email, return_to, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(link.token_hash.clone())
    .bind(&link.user_id)
    .bind(&link.email)
    .bind(&link.return_to)
    .bind(now)
    .bind(link.expires_at)
    .execute(executor)
    .await
    .map_err(unavailable)?;
    Ok(())
}

impl SqlStore {
    /// The `columns` of the row of `table` whose token hashes to `token_hash`, if it is live.
    async fn live_row(
        &self,
        table: &str,
        columns: &str,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<AnyRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {columns} FROM {table} WHERE token_hash = $1 AND expires_at > $2"
        ))
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)
    }
}

#[async_trait]
impl RegistrationStore for SqlStore {
    async fn register(
        &self,
        registration: &NewRegistration<'_>,
        now: UnixSeconds,
    ) -> Result<RegistrationOutcome, StoreError> {
        let pending = registration.pending;
        let username_key = pending.username.key();
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        // A write first, so SQLite takes its write lock now rather than failing to upgrade a
        // read snapshot later: an expired registration of the same name gives it up.
        sqlx::query(
            "DELETE FROM pending_registrations WHERE username_key = $1 AND expires_at <= $2",
        )
        .bind(&username_key)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        if let Some(hash) = registration.invitation_hash {
            // Used up atomically: of two registrations with one invitation, one gets it.
            let used =
                sqlx::query("DELETE FROM invitations WHERE token_hash = $1 AND expires_at > $2")
                    .bind(hash.to_vec())
                    .bind(now)
                    .execute(&mut *transaction)
                    .await
                    .map_err(unavailable)?;
            if used.rows_affected() == 0 {
                transaction.rollback().await.map_err(unavailable)?;
                return Ok(RegistrationOutcome::InvitationGone);
            }
        }
        let account_has_name = exists(
            &mut transaction,
            "SELECT 1 AS one FROM users WHERE username_key = $1",
            &username_key,
        )
        .await?;
        if account_has_name {
            transaction.rollback().await.map_err(unavailable)?;
            return Err(StoreError::Conflict(format!("user `{}`", pending.username)));
        }
        // A live registration of the same name conflicts on the unique username_key.
        sqlx::query(
            "INSERT INTO pending_registrations (token_hash, username, username_key, email, \
             password_hash, return_to, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(pending.token_hash.clone())
        .bind(pending.username.as_str())
        .bind(&username_key)
        .bind(&pending.email)
        .bind(&pending.password_hash)
        .bind(&pending.return_to)
        .bind(now)
        .bind(pending.expires_at)
        .execute(&mut *transaction)
        .await
        .map_err(|error| {
            crate::error::from_sqlx(error, || format!("user `{}`", pending.username))
        })?;
        // By the unique `lower(email)` index of migration 0009.
        let address_in_use = exists(
            &mut transaction,
            "SELECT 1 AS one FROM users WHERE lower(email) = $1",
            &pending.email.to_ascii_lowercase(),
        )
        .await?;
        let (email, outcome) = if address_in_use {
            (
                registration.address_in_use_email,
                RegistrationOutcome::AddressInUse,
            )
        } else {
            (
                registration.confirmation_email,
                RegistrationOutcome::Pending,
            )
        };
        enqueue_in(&mut *transaction, email, now).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(outcome)
    }

    async fn find_pending_registration(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<PendingRegistration>, StoreError> {
        let row = self
            .live_row("pending_registrations", PENDING_COLUMNS, token_hash, now)
            .await?;
        row.as_ref().map(pending_from_row).transpose()
    }

    async fn complete_registration(
        &self,
        token_hash: &[u8],
        user: &User,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        // One statement, and a write first: of two concurrent completions, one gets the row.
        let taken = sqlx::query(
            "DELETE FROM pending_registrations WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        if taken.rows_affected() == 0 {
            transaction.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        insert_user(&mut *transaction, user).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO invitations (token_hash, email_key, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(invitation.token_hash.clone())
        .bind(&invitation.email_key)
        .bind(&invitation.created_by)
        .bind(invitation.created_at)
        .bind(invitation.expires_at)
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || "invitation".into()))?;
        Ok(())
    }

    async fn find_invitation(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<Invitation>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, email_key, created_by, created_at, expires_at FROM invitations \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|row| {
            Ok(Invitation {
                token_hash: row.try_get("token_hash").map_err(unavailable)?,
                email_key: row.try_get("email_key").map_err(unavailable)?,
                created_by: row.try_get("created_by").map_err(unavailable)?,
                created_at: row.try_get("created_at").map_err(unavailable)?,
                expires_at: row.try_get("expires_at").map_err(unavailable)?,
            })
        })
        .transpose()
    }

    async fn send_verification_link(
        &self,
        link: &VerificationLink,
        email: &OutgoingEmail,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        // A newer link supersedes the older ones.
        sqlx::query("DELETE FROM email_verification_links WHERE user_id = $1")
            .bind(&link.user_id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        insert_link(&mut *transaction, link, now).await?;
        enqueue_in(&mut *transaction, email, now).await?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn find_verification_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<VerificationLink>, StoreError> {
        let row = self
            .live_row("email_verification_links", LINK_COLUMNS, token_hash, now)
            .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn use_verification_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
        notice: Option<&OutgoingEmail>,
    ) -> Result<Option<VerificationLink>, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        // One statement: of two concurrent uses, one deletes the row and gets the link.
        let row = sqlx::query(&format!(
            "DELETE FROM email_verification_links WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING {LINK_COLUMNS}"
        ))
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(unavailable)?;
        let Some(link) = row.as_ref().map(link_from_row).transpose()? else {
            transaction.rollback().await.map_err(unavailable)?;
            return Ok(None);
        };
        sqlx::query("UPDATE users SET email = $1, email_verified_at = $2 WHERE id = $3")
            .bind(&link.email)
            .bind(now)
            .bind(&link.user_id)
            .execute(&mut *transaction)
            .await
            .map_err(|error| crate::error::from_sqlx(error, || ADDRESS_IN_USE.into()))?;
        if let Some(notice) = notice {
            enqueue_in(&mut *transaction, notice, now).await?;
        }
        transaction.commit().await.map_err(unavailable)?;
        Ok(Some(link))
    }

    async fn delete_verification_links(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM email_verification_links WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn purge_registration_links(&self, now: UnixSeconds) -> Result<u64, StoreError> {
        let mut purged = 0;
        for table in [
            "invitations",
            "pending_registrations",
            "email_verification_links",
        ] {
            purged += sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?
                .rows_affected();
        }
        Ok(purged)
    }
}
