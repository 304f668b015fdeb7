//! [`RegistrationStore`] on SQL (SQLite and PostgreSQL).

use super::outbox::enqueue_in;
use super::users::insert_user;
use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{Invitation, OutgoingEmail, UnixSeconds, VerificationLink};
use portcullis_service::{NewRegistration, RegistrationOutcome, RegistrationStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

const LINK_COLUMNS: &str = "token_hash, user_id, email, return_to, expires_at";

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

#[async_trait]
impl RegistrationStore for SqlStore {
    async fn register(
        &self,
        registration: &NewRegistration<'_>,
        now: UnixSeconds,
    ) -> Result<RegistrationOutcome, StoreError> {
        let user = registration.user;
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        if let Some(hash) = registration.invitation_hash {
            // Used up first, atomically: of two registrations with one invitation, one gets it.
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
        let taken = |sql: &'static str, key: String| sqlx::query(sql).bind(key);
        let username_taken = taken(
            "SELECT 1 AS one FROM users WHERE username_key = $1",
            user.username.key(),
        )
        .fetch_optional(&mut *transaction)
        .await
        .map_err(unavailable)?
        .is_some();
        if username_taken {
            transaction.rollback().await.map_err(unavailable)?;
            return Err(StoreError::Conflict(format!("user `{}`", user.username)));
        }
        let email_key = user.email.as_deref().unwrap_or_default().to_lowercase();
        // By the unique `lower(email)` index of migration 0009.
        let address_in_use = taken(
            "SELECT 1 AS one FROM users WHERE lower(email) = $1",
            email_key,
        )
        .fetch_optional(&mut *transaction)
        .await
        .map_err(unavailable)?
        .is_some();
        let outcome = if address_in_use {
            enqueue_in(&mut *transaction, registration.address_in_use_email, now).await?;
            RegistrationOutcome::AddressInUse
        } else {
            insert_user(&mut *transaction, user).await?;
            insert_link(&mut *transaction, registration.link, now).await?;
            enqueue_in(&mut *transaction, registration.verification_email, now).await?;
            RegistrationOutcome::Created
        };
        transaction.commit().await.map_err(unavailable)?;
        Ok(outcome)
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
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM email_verification_links \
             WHERE token_hash = $1 AND expires_at > $2"
        ))
        .bind(token_hash.to_vec())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
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
            .map_err(|error| {
                crate::error::from_sqlx(error, || "an account with this email address".into())
            })?;
        if let Some(notice) = notice {
            enqueue_in(&mut *transaction, notice, now).await?;
        }
        transaction.commit().await.map_err(unavailable)?;
        Ok(Some(link))
    }

    async fn purge_registration_links(&self, now: UnixSeconds) -> Result<u64, StoreError> {
        let mut purged = 0;
        for table in ["invitations", "email_verification_links"] {
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
