//! The redirect back from the provider (RFC 6749 §4.1.2): the code, or the error it reports,
//! accepted only for the pending sign-in whose `state` it carries and from the expected issuer
//! (RFC 9207, the mix-up defence).

use super::{ClientError, PendingAuthorization};
use portcullis_jose::constant_time_eq;

/// The parameters of a redirect back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Callback {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl Callback {
    /// The parameters of the query `query` (without the `?`); of a repeated one, the first.
    pub fn parse(query: &str) -> Callback {
        let mut callback = Callback::default();
        for (name, value) in form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let slot = match name.as_ref() {
                "code" => &mut callback.code,
                "state" => &mut callback.state,
                "iss" => &mut callback.iss,
                "error" => &mut callback.error,
                "error_description" => &mut callback.error_description,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        callback
    }

    /// The code, if this redirect belongs to `pending` and came from `issuer`.
    /// `iss_required` (the provider's `authorization_response_iss_parameter_supported`) makes a
    /// missing `iss` a refusal too (RFC 9207 §2.4).
    ///
    /// # Errors
    /// [`ClientError::ForgedCallback`] first, then the provider's [`ClientError::Refused`].
    pub fn code_for(
        self,
        pending: &PendingAuthorization,
        issuer: &str,
        iss_required: bool,
    ) -> Result<String, ClientError> {
        // RFC 6749 §10.12: an unknown state is someone else's redirect (login CSRF).
        let state_matches = self
            .state
            .as_deref()
            .is_some_and(|state| constant_time_eq(state.as_bytes(), pending.state.as_bytes()));
        if !state_matches {
            return Err(ClientError::ForgedCallback("state does not match"));
        }
        // RFC 9207 §2.4: a present iss must be the issuer; when advertised, it must be present.
        match self.iss.as_deref() {
            Some(iss) if iss != issuer => {
                return Err(ClientError::ForgedCallback("iss names another issuer"));
            }
            None if iss_required => return Err(ClientError::ForgedCallback("iss is missing")),
            _ => {}
        }
        if let Some(code) = self.error {
            return Err(ClientError::Refused {
                code,
                description: self.error_description,
            });
        }
        self.code
            .filter(|code| !code.is_empty())
            .ok_or(ClientError::ForgedCallback("no code"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> PendingAuthorization {
        PendingAuthorization {
            state: "s-1".into(),
            nonce: "n".into(),
            code_verifier: "v".into(),
        }
    }

    const ISSUER: &str = "https://op.example";

    #[test]
    fn a_callback_counts_only_for_its_state_and_issuer() {
        let code =
            |query: &str, required| Callback::parse(query).code_for(&pending(), ISSUER, required);
        assert_eq!(
            code("code=c&state=s-1&iss=https%3A%2F%2Fop.example", true),
            Ok("c".into())
        );
        assert_eq!(code("?code=c&state=s-1", false), Ok("c".into()));
        for (query, required) in [
            ("code=c&state=other&iss=https%3A%2F%2Fop.example", true),
            ("code=c&iss=https%3A%2F%2Fop.example", true),
            ("code=c&state=s-1&iss=https%3A%2F%2Fevil.example", false),
            ("code=c&state=s-1", true),
            ("state=s-1&iss=https%3A%2F%2Fop.example", true),
        ] {
            assert!(
                matches!(code(query, required), Err(ClientError::ForgedCallback(_))),
                "{query}"
            );
        }
        assert_eq!(
            code(
                "error=access_denied&error_description=no&state=s-1&iss=https%3A%2F%2Fop.example",
                true
            ),
            Err(ClientError::Refused {
                code: "access_denied".into(),
                description: Some("no".into())
            }),
            "the provider's refusal is shown, not swallowed"
        );
        assert!(
            matches!(
                code("error=access_denied&state=other", false),
                Err(ClientError::ForgedCallback(_))
            ),
            "not even an error is taken from someone else's redirect"
        );
    }
}
