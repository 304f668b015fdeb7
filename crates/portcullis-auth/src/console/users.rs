//! Console pages for users: search and pages, creation, detail with sessions, disabling,
//! enabling, deletion (confirmed) and revoking a session.

use super::form::{Signed, SignedForm, link, path, see_other};
use super::layout::csrf_field;
use super::paging::{PAGE, Search, next_link, search_form};
use crate::pages::escape;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use portcullis_service::admin::{InitialPassword, UserChanges, UserDraft};

/// Users, searched by username prefix, a page at a time; the creation form for admins.
pub(super) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(search): Query<Search>,
) -> Response {
    let prefix = search.text();
    let page = match signed
        .admin(&state)
        .list_users(prefix.clone(), search.after, PAGE)
        .await
    {
        Ok(page) => page,
        Err(error) => return signed.refused(&error),
    };
    let rows: String = page
        .users
        .iter()
        .map(|user| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                link(
                    "/console/users",
                    user.username.as_str(),
                    user.username.as_str()
                ),
                escape(&user.roles.join(", ")),
                escape(user.email.as_deref().unwrap_or("")),
                if user.disabled_at.is_some() {
                    "disabled"
                } else {
                    "active"
                }
            )
        })
        .collect();
    let search = prefix.as_deref().unwrap_or_default();
    let next = page.next.map_or_else(String::new, |next| {
        next_link("/console/users", &[("search", search), ("after", &next)])
    });
    let create = if signed.writes() {
        format!(
            "<div class=\"card\"><h2>New user</h2><form method=\"post\" action=\"/console/users\">{csrf}\
             <label for=\"username\">Username</label><input type=\"text\" id=\"username\" name=\"username\" required autocomplete=\"off\">\
             <label for=\"email\">Email</label><input type=\"text\" id=\"email\" name=\"email\" autocomplete=\"off\">\
             <label for=\"roles\">Roles (comma-separated)</label><input type=\"text\" id=\"roles\" name=\"roles\" autocomplete=\"off\">\
             <label for=\"password\">Initial password</label><input type=\"password\" id=\"password\" name=\"password\" required autocomplete=\"new-password\">\
             <button type=\"submit\">Create user</button></form></div>",
            csrf = csrf_field(&signed.0)
        )
    } else {
        String::new()
    };
    signed.page(
        "Users",
        &format!(
            "{search}<div class=\"card\"><table><thead><tr><th>Username</th><th>Roles</th><th>Email</th><th>Status</th></tr></thead>\
             <tbody>{rows}</tbody></table>{next}</div>{create}",
            search = search_form("/console/users", "Username starts with", search),
        ),
    )
}

/// Creates a user from the form.
pub(super) async fn create(
    State(state): State<AppState>,
    SignedForm(signed, form): SignedForm,
) -> Response {
    let text = |name: &str| form.get(name).unwrap_or_default().trim().to_owned();
    let email = Some(text("email")).filter(|email| !email.is_empty());
    let draft = UserDraft {
        username: text("username"),
        roles: roles(&text("roles")),
        email,
        password: InitialPassword::Plain(form.get("password").unwrap_or_default().to_owned()),
    };
    match signed.admin(&state).create_user(draft).await {
        Ok(user) => see_other(&path("/console/users", user.username.as_str())),
        Err(error) => signed.refused(&error),
    }
}

/// One user with their sessions and the actions on them.
pub(super) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(username): Path<String>,
) -> Response {
    let admin = signed.admin(&state);
    let user = match admin.user(&username).await {
        Ok(user) => user,
        Err(error) => return signed.refused(&error),
    };
    let sessions = match admin.sessions(Some(&user.id)).await {
        Ok(sessions) => sessions,
        Err(error) => return signed.refused(&error),
    };
    let session_rows: String = sessions
        .iter()
        .map(|(session, _)| {
            format!(
                "<tr><td><code>{sid}</code></td><td>{seen}</td><td>{revoke}</td></tr>",
                sid = escape(&session.sid),
                seen = crate::console::others::time(session.last_seen_at),
                revoke = signed.button(
                    &format!(
                        "{}/revoke",
                        super::form::path("/console/sessions", &session.sid)
                    ),
                    "Revoke",
                    true
                ),
            )
        })
        .collect();
    let base = path("/console/users", user.username.as_str());
    let toggle = if user.disabled_at.is_some() {
        signed.button(&format!("{base}/enable"), "Enable", false)
    } else {
        signed.button(
            &format!("{base}/disable"),
            "Disable (revokes their tokens)",
            true,
        )
    };
    signed.page(
        &format!("User {}", user.username),
        &format!(
            "<div class=\"card\"><table>\
             <tr><th>Id</th><td><code>{id}</code></td></tr><tr><th>Roles</th><td>{roles}</td></tr>\
             <tr><th>Email</th><td>{email}</td></tr><tr><th>Status</th><td>{status}</td></tr>\
             <tr><th>Created</th><td>{created}</td></tr></table>{toggle}{delete}</div>{edit}\
             <div class=\"card\"><h2>Sessions</h2><table><thead><tr><th>Session</th><th>Last seen</th><th></th></tr></thead>\
             <tbody>{session_rows}</tbody></table></div>",
            id = escape(&user.id),
            roles = escape(&user.roles.join(", ")),
            email = escape(user.email.as_deref().unwrap_or("")),
            status = if user.disabled_at.is_some() { "disabled" } else { "active" },
            created = crate::console::others::time(user.created_at),
            delete = signed.button(&format!("{base}/delete"), "Delete user", true),
            edit = edit_form(&signed, &base, &user),
        ),
    )
}

/// The form that changes a user's roles and email (for admins).
fn edit_form(signed: &Signed, base: &str, user: &portcullis_core::User) -> String {
    if !signed.writes() {
        return String::new();
    }
    format!(
        "<div class=\"card\"><h2>Edit</h2><form method=\"post\" action=\"{action}\">{csrf}\
         <label for=\"roles\">Roles (comma-separated)</label>\
         <input type=\"text\" id=\"roles\" name=\"roles\" value=\"{roles}\" autocomplete=\"off\">\
         <label for=\"email\">Email</label>\
         <input type=\"text\" id=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"off\">\
         <button type=\"submit\">Save</button></form></div>",
        action = escape(&format!("{base}/edit")),
        csrf = csrf_field(&signed.0),
        roles = escape(&user.roles.join(", ")),
        email = escape(user.email.as_deref().unwrap_or("")),
    )
}

/// The comma-separated roles of a form field.
fn roles(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|role| !role.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Edits, disables, enables or (confirmed) deletes a user.
pub(super) async fn act(
    State(state): State<AppState>,
    Path((username, action)): Path<(String, String)>,
    SignedForm(signed, form): SignedForm,
) -> Response {
    let admin = signed.admin(&state);
    let back = path("/console/users", &username);
    let disabled = |disabled| UserChanges {
        disabled: Some(disabled),
        ..UserChanges::default()
    };
    let result = match action.as_str() {
        "edit" => {
            let email = form.get("email").unwrap_or_default().trim();
            let changes = UserChanges {
                roles: Some(roles(form.get("roles").unwrap_or_default())),
                email: Some((!email.is_empty()).then(|| email.to_owned())),
                email_verified: None,
                disabled: None,
            };
            admin.update_user(&username, changes).await.map(drop)
        }
        "disable" => admin.update_user(&username, disabled(true)).await.map(drop),
        "enable" => admin
            .update_user(&username, disabled(false))
            .await
            .map(drop),
        "delete" if form.get("confirm") != Some("yes") => {
            return signed.confirm(
                &format!("{back}/delete"),
                &format!("Delete {username}? Their tokens are revoked at once."),
                &back,
            );
        }
        "delete" => {
            return match admin.delete_user(&username).await {
                Ok(_) => see_other("/console/users"),
                Err(error) => signed.refused(&error),
            };
        }
        _ => return signed.error(axum::http::StatusCode::NOT_FOUND, "No such action."),
    };
    match result {
        Ok(()) => see_other(&back),
        Err(error) => signed.refused(&error),
    }
}
