//! Managing roles and the scopes they grant.

use super::{AdminError, Administration};
use portcullis_core::Role;

impl Administration<'_> {
    /// Every role, by name.
    ///
    /// # Errors
    /// Store failures.
    pub async fn roles(&self) -> Result<Vec<Role>, AdminError> {
        Ok(self.store.list_roles().await?)
    }

    /// Creates a role or replaces the one of its name; the next authorization, code exchange and
    /// refresh of its users get what it grants now.
    ///
    /// # Errors
    /// Store failures.
    pub async fn put_role(&self, role: &Role) -> Result<(), AdminError> {
        self.store.put_role(role, self.clock.now()).await?;
        self.record("role.put", &role.name);
        Ok(())
    }

    /// Deletes a role: its scopes are governed by the roles left (or by none). Users keep the
    /// name as a plain string.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], or store failures.
    pub async fn delete_role(&self, name: &str) -> Result<(), AdminError> {
        if !self.store.delete_role(name).await? {
            return Err(AdminError::not_found("role", name));
        }
        self.record("role.delete", name);
        Ok(())
    }
}
