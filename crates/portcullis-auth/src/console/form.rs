//! What every console page needs: the signed-in session (or a redirect to sign in), forms checked
//! for the session's CSRF token, write access, and the error page.

use super::layout::{csrf_field, page};
use super::sessions::ConsoleSession;
use crate::admin_api::access::Capability;
use crate::cookies::read_cookie;
use crate::form::OAuthParams;
use crate::pages::escape;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::RevocationKind;
use portcullis_service::{AdminError, Administration};

/// The console's cookie.
pub const COOKIE: &str = "portcullis_console";

/// A signed-in console user.
pub struct Signed(pub ConsoleSession);

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let sign_in = || Redirect::to("/console/login").into_response();
        let secret =
            read_cookie(&parts.headers, COOKIE, state.console.secure()).ok_or_else(sign_in)?;
        let mut session = state
            .console
            .sessions
            .find(&secret, state.clock.now())
            .ok_or_else(sign_in)?;
        // Checked on every request, as the admin API checks every token: a user disabled,
        // deleted, demoted or signed out everywhere loses the console at once.
        match current_capability(state, &session).await {
            Some(capability) => {
                if capability != session.capability {
                    state.console.sessions.restrict(&secret, capability);
                    session.capability = capability;
                }
                Ok(Signed(session))
            }
            None => {
                state.console.sessions.end(&secret);
                Err(sign_in())
            }
        }
    }
}

/// What the session's user may do now: `None` once they are gone, disabled, no longer an admin
/// or auditor, or their sign-in session or subject is revoked (or the store cannot tell).
async fn current_capability(state: &AppState, session: &ConsoleSession) -> Option<Capability> {
    let now = state.clock.now();
    let store = state.store.as_ref();
    if store
        .is_revoked(RevocationKind::Session, &session.sid, now)
        .await
        .ok()?
        || store
            .is_revoked(RevocationKind::Subject, &session.user_id, now)
            .await
            .ok()?
    {
        return None;
    }
    let user = store.find_user_by_id(&session.user_id).await.ok()??;
    if user.disabled_at.is_some() {
        return None;
    }
    let has = |wanted: &str| user.roles.iter().any(|role| role == wanted);
    let capability = if has("admin") {
        Capability::Write
    } else if has("auditor") {
        Capability::Read
    } else {
        return None;
    };
    // Never more than the sign-in granted.
    Some(if session.capability == Capability::Read {
        Capability::Read
    } else {
        capability
    })
}

impl Signed {
    /// The service layer's administration, acting as this user.
    pub fn admin<'a>(&'a self, state: &'a AppState) -> Administration<'a> {
        crate::admin_api::administration(state, &self.0.actor)
    }

    /// The form of a POST, if it carries this session's CSRF token and the user may write.
    ///
    /// # Errors
    /// The error page to answer with.
    pub fn form(&self, headers: &HeaderMap, body: &[u8]) -> Result<OAuthParams, Box<Response>> {
        let form = OAuthParams::from_form_body(headers, body).map_err(|_| {
            Box::new(self.error(StatusCode::BAD_REQUEST, "The form could not be read."))
        })?;
        let presented = form.get("csrf").unwrap_or_default();
        if !portcullis_jose::constant_time_eq(presented.as_bytes(), self.0.csrf.as_bytes()) {
            return Err(Box::new(self.error(
                StatusCode::FORBIDDEN,
                "The form expired or came from another site. Go back and try again.",
            )));
        }
        if self.0.capability != Capability::Write {
            return Err(Box::new(self.error(
                StatusCode::FORBIDDEN,
                "Your access is read only: only administrators can change this.",
            )));
        }
        Ok(form)
    }

    /// A page of this session.
    pub fn page(&self, title: &str, body: &str) -> Response {
        page(StatusCode::OK, title, body, Some(&self.0), Vec::new())
    }

    /// An error page of this session.
    pub fn error(&self, status: StatusCode, message: &str) -> Response {
        page(
            status,
            "Not done",
            &format!(
                "<div class=\"card\"><p class=\"error\">{}</p></div>",
                escape(message)
            ),
            Some(&self.0),
            Vec::new(),
        )
    }

    /// The page for a refused or failed administrative action.
    pub fn refused(&self, error: &AdminError) -> Response {
        let status = match error {
            AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
            AdminError::Conflict(_) => StatusCode::CONFLICT,
            AdminError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AdminError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match error {
            AdminError::Store(_) | AdminError::Internal(_) => {
                tracing::error!(%error, "console action failed");
                "The server could not do this now; try again.".to_owned()
            }
            AdminError::Invalid { field, message } => format!("{field}: {message}"),
            other => other.to_string(),
        };
        self.error(status, &message)
    }

    /// Whether forms that change things are shown.
    pub fn writes(&self) -> bool {
        self.0.capability == Capability::Write
    }

    /// A one-button form posting to `action` (with `confirm=yes` when `confirmed`).
    pub fn button(&self, action: &str, label: &str, danger: bool) -> String {
        if !self.writes() {
            return String::new();
        }
        format!(
            "<form method=\"post\" action=\"{action}\">{csrf}\
             <button type=\"submit\"{class}>{label}</button></form>",
            action = escape(action),
            csrf = csrf_field(&self.0),
            class = if danger { " class=\"danger\"" } else { "" },
            label = escape(label),
        )
    }

    /// The confirmation step of a dangerous action: the same form again with `confirm=yes`.
    pub fn confirm(&self, action: &str, question: &str, back: &str) -> Response {
        self.page(
            "Are you sure?",
            &format!(
                "<div class=\"card\"><p>{question}</p>\
                 <form method=\"post\" action=\"{action}\">{csrf}\
                 <input type=\"hidden\" name=\"confirm\" value=\"yes\">\
                 <button type=\"submit\" class=\"danger\">Yes, do it</button></form>\
                 <p><a href=\"{back}\">No, go back</a></p></div>",
                question = escape(question),
                action = escape(action),
                back = escape(back),
                csrf = csrf_field(&self.0),
            ),
        )
    }
}

/// `prefix/segment` with the segment percent-encoded.
pub fn path(prefix: &str, segment: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC);
    format!("{prefix}/{encoded}")
}

/// `<a href>` to a path segment, escaped.
pub fn link(prefix: &str, segment: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", path(prefix, segment), escape(text))
}

/// A signed-in admin's POST: the session and its CSRF-checked form.
pub struct SignedForm(pub Signed, pub OAuthParams);

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = signed.form(&headers, &body).map_err(|refusal| *refusal)?;
        Ok(SignedForm(signed, form))
    }
}

/// The `Location` of a redirect after a POST (303 See Other: the browser then GETs it).
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_owned())],
    )
        .into_response()
}
