//! The scope a user may be given: what was asked for, without the governed scopes none of the
//! user's roles grants (see [`portcullis_core::role`]). Read from the store on each decision, so a
//! role's change applies to the next authorization, code exchange and refresh on every server.

use crate::{RoleStore, StoreError};
use portcullis_core::role::permitted_scope;
use portcullis_core::{ScopeSet, User};

/// `requested`, narrowed to what `user`'s roles allow now.
///
/// # Errors
/// Store failures.
pub async fn scope_for_user(
    roles: &dyn RoleStore,
    user: &User,
    requested: &ScopeSet,
) -> Result<ScopeSet, StoreError> {
    let defined = roles.list_roles().await?;
    Ok(permitted_scope(&defined, &user.roles, requested))
}
