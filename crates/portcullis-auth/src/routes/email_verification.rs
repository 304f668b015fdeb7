//! `GET /verify-email?token=...`: the link sent to an address. Following it verifies the
//! address (a registration's, or the new one of a change, which becomes the account's then);
//! the page continues to sign-in, back to the authorization request the user came from.

use super::sign_in::safe_return_to;
use super::{error_page, paths, unavailable_page};
use crate::pages::{self, Page, escape};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_service::{EmailVerification, VerificationError};
use serde::Deserialize;

/// The use case for one request.
pub(crate) fn verification(state: &AppState) -> EmailVerification<'_> {
    EmailVerification {
        store: state.store.as_ref(),
        clock: state.clock.as_ref(),
        audit: &state.audit,
        verify_page: &state.verify_page,
        product_name: &state.settings.sign_in.product_name,
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct VerifyQuery {
    token: Option<String>,
}

pub(super) async fn verify(
    State(state): State<AppState>,
    Query(query): Query<VerifyQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    match verification(&state).verify(&token).await {
        Ok(verified) => {
            let return_to = safe_return_to(verified.return_to.as_deref());
            let mut next = format!("{}?return_to=", paths::SIGN_IN);
            next.push_str(
                &percent_encoding::utf8_percent_encode(
                    &return_to,
                    percent_encoding::NON_ALPHANUMERIC,
                )
                .to_string(),
            );
            Page {
                status: StatusCode::OK,
                title: "Email address verified".to_owned(),
                body: format!(
                    "{}<p><a href=\"{}\">Continue to sign in</a></p>",
                    pages::message(&format!(
                        "Thank you: {} is verified for your account.",
                        verified.email
                    )),
                    escape(&next)
                ),
                cookies: Vec::new(),
            }
            .render(&state.settings.sign_in.product_name)
        }
        Err(VerificationError::InvalidLink) => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This link has expired, was already used, or a newer one was sent. If you verified \
             your address already, sign in.",
        ),
        Err(VerificationError::AddressTaken) => error_page(
            &state,
            StatusCode::CONFLICT,
            "Another account uses this address now, so it cannot be yours here.",
        ),
        Err(VerificationError::Store(error)) => unavailable_page(&state, &error),
    }
}
