//! Console pages for sessions (list, revoke after confirmation), signing keys (list, rotate after
//! confirmation) and the audit log (filtered, newest first).

use super::form::{Signed, SignedForm, see_other};
use super::paging::{PAGE, Search, next_link, search_form};
use crate::pages::escape;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use portcullis_jose::Algorithm;
use portcullis_service::AuditQuery;
use serde::Deserialize;

/// A Unix time as RFC 3339 UTC, escaped for HTML.
pub(super) fn time(seconds: i64) -> String {
    escape(&crate::pages::format_time(seconds))
}

/// Live sessions, newest first, all or one user's, a page at a time.
pub(super) async fn sessions(
    State(state): State<AppState>,
    signed: Signed,
    Query(search): Query<Search>,
) -> Response {
    let username = search.text();
    let before = search.before.zip(search.before_sid);
    let page = match signed
        .admin(&state)
        .session_page(username.as_deref(), before, PAGE)
        .await
    {
        Ok(page) => page,
        Err(error) => return signed.refused(&error),
    };
    let search = username.as_deref().unwrap_or_default();
    let next = page.next.map_or_else(String::new, |(created_at, sid)| {
        next_link(
            "/console/sessions",
            &[
                ("search", search),
                ("before", &created_at.to_string()),
                ("before_sid", &sid),
            ],
        )
    });
    let rows: String = page
        .sessions
        .iter()
        .map(|(session, username)| {
            format!(
                "<tr><td><code>{sid}</code></td><td>{user}</td><td>{signed_in}</td><td>{seen}</td><td>{revoke}</td></tr>",
                sid = escape(&session.sid),
                user = escape(username.as_deref().unwrap_or(&session.user_id)),
                signed_in = time(session.auth_time),
                seen = time(session.last_seen_at),
                revoke = signed.button(&format!("{}/revoke", super::form::path("/console/sessions", &session.sid)), "Revoke", true),
            )
        })
        .collect();
    signed.page(
        "Sessions",
        &format!(
            "{search}<div class=\"card\"><table><thead><tr><th>Session</th><th>User</th><th>Signed in</th>\
             <th>Last seen</th><th></th></tr></thead><tbody>{rows}</tbody></table>{next}</div>",
            search = search_form("/console/sessions", "Username", search),
        ),
    )
}

/// Ends a session and revokes its tokens, after confirmation.
pub(super) async fn revoke_session(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    SignedForm(signed, form): SignedForm,
) -> Response {
    if form.get("confirm") != Some("yes") {
        return signed.confirm(
            &format!("{}/revoke", super::form::path("/console/sessions", &sid)),
            "End this session? Every token issued in it is revoked.",
            "/console/sessions",
        );
    }
    match signed.admin(&state).revoke_session(&sid).await {
        Ok(()) => see_other("/console/sessions"),
        Err(error) => signed.refused(&error),
    }
}

/// Signing keys with their status.
pub(super) async fn keys(State(state): State<AppState>, signed: Signed) -> Response {
    let rows: String = state
        .keys
        .statuses(state.clock.now())
        .iter()
        .map(|(key, status)| {
            format!(
                "<tr><td><code>{kid}</code></td><td>{alg}</td><td>{status}</td><td>{created}</td></tr>",
                kid = escape(&key.kid),
                alg = key.alg.as_str(),
                status = status.name(),
                created = time(key.created_at),
            )
        })
        .collect();
    signed.page(
        "Signing keys",
        &format!(
            "<div class=\"card\"><table><thead><tr><th>Key id</th><th>Algorithm</th><th>Status</th>\
             <th>Created</th></tr></thead><tbody>{rows}</tbody></table>{rotate}</div>",
            rotate = signed.button("/console/keys", "Rotate every key", true),
        ),
    )
}

/// Rotates every algorithm's key, after confirmation.
pub(super) async fn rotate_keys(
    State(state): State<AppState>,
    SignedForm(signed, form): SignedForm,
) -> Response {
    if form.get("confirm") != Some("yes") {
        return signed.confirm(
            "/console/keys",
            "Create a new key for every algorithm? They are published now and sign after the pre-publication delay.",
            "/console/keys",
        );
    }
    match signed
        .admin(&state)
        .rotate_keys(&state.keys, &Algorithm::ALL)
        .await
    {
        Ok(_) => {
            state.announcer.keys_changed();
            see_other("/console/keys")
        }
        Err(error) => signed.refused(&error),
    }
}

#[derive(Deserialize)]
pub(super) struct AuditFilter {
    kind: Option<String>,
    subject: Option<String>,
    before: Option<i64>,
}

/// Events per page of the audit log.
const AUDIT_PAGE: u32 = 100;

/// The newest audit events, filtered by kind and subject, a page at a time.
pub(super) async fn audit(
    State(state): State<AppState>,
    signed: Signed,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let kind = filter.kind.filter(|kind| !kind.is_empty());
    let subject = filter.subject.filter(|subject| !subject.is_empty());
    let query = AuditQuery {
        kind: kind.clone(),
        subject: subject.clone(),
        before_id: filter.before,
        limit: AUDIT_PAGE,
        ..AuditQuery::default()
    };
    let page = match signed.admin(&state).audit_page(query).await {
        Ok(page) => page,
        Err(error) => return signed.refused(&error),
    };
    let older = page.next.map_or_else(String::new, |before| {
        next_link(
            "/console/audit",
            &[
                ("kind", kind.as_deref().unwrap_or_default()),
                ("subject", subject.as_deref().unwrap_or_default()),
                ("before", &before.to_string()),
            ],
        )
    });
    let rows: String = page
        .records
        .iter()
        .map(|record| {
            format!(
                "<tr><td>{at}</td><td>{kind}</td><td><code>{detail}</code></td></tr>",
                at = time(record.at),
                kind = escape(&record.kind),
                detail = escape(&record.detail),
            )
        })
        .collect();
    signed.page(
        "Audit log",
        &format!(
            "<div class=\"card\"><form method=\"get\" action=\"/console/audit\" role=\"search\">\
             <label for=\"kind\">Kind</label><input type=\"text\" id=\"kind\" name=\"kind\" value=\"{kind}\">\
             <label for=\"subject\">Subject</label><input type=\"text\" id=\"subject\" name=\"subject\" value=\"{subject}\">\
             <button type=\"submit\">Filter</button></form></div>\
             <div class=\"card\"><table><thead><tr><th>When</th><th>Kind</th><th>Event</th></tr></thead>\
             <tbody>{rows}</tbody></table>{older}</div>",
            kind = escape(kind.as_deref().unwrap_or_default()),
            subject = escape(subject.as_deref().unwrap_or_default()),
        ),
    )
}
