//! What the authorization endpoint does with a valid request (RFC 6749 §4.1.1, OpenID Connect
//! Core §3.1.2.3–§3.1.2.4): send the user to sign in, ask for consent, refuse, or issue a code.
//! A pure function of what the server knows, so every path is unit-tested without HTTP.

use super::{AuthorizationRequest, Prompt};
use crate::{Acr, Client, ScopeSet, Session, UnixSeconds, User};

/// What the endpoint knows about one request.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationState<'a> {
    /// The validated request.
    pub request: &'a AuthorizationRequest,
    /// Its client.
    pub client: &'a Client,
    /// The browser's session and its user, when both exist and the user is enabled.
    pub signed_in: Option<(&'a Session, &'a User)>,
    /// The consent form's answer, when this request is its submission.
    pub answer: Option<&'a str>,
    /// The scopes the user consented to for this client before, if any.
    pub remembered_consent: Option<&'a ScopeSet>,
    /// The class the session must have reached: from the MFA policy for the user, the client's
    /// `require_mfa` and the request's `acr_values`.
    pub required_acr: Acr,
    /// The current time.
    pub now: UnixSeconds,
}

/// The endpoint's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationDecision {
    /// Sign in first, then come back.
    SignIn,
    /// Show the consent page.
    AskConsent,
    /// Redirect an error to the client (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6).
    RedirectError {
        /// `error`.
        code: &'static str,
        /// `error_description`.
        description: &'static str,
    },
    /// Issue a code; `remember_consent` when the user has just allowed the request.
    IssueCode {
        /// Record the consent first.
        remember_consent: bool,
    },
}

/// Decides one request.
pub fn decide(state: &AuthorizationState<'_>) -> AuthorizationDecision {
    let request = state.request;
    let prompt_none = request.prompt == Some(Prompt::None);
    // OpenID Connect Core §3.1.2.1: `max_age` forces a fresh sign-in once the authentication is
    // older; `prompt=login` forces one unless this request is the consent form after it.
    let fresh_enough = |session: &Session| {
        request
            .max_age
            .is_none_or(|max_age| state.now - session.auth_time <= max_age)
    };
    // RFC 9470 §4 and OpenID Connect Core §3.1.2.1 (`acr_values`): a session that did not reach
    // the required class signs in again, this time with the factors it lacks (step-up).
    let strong_enough = |session: &Session| session.amr.acr() >= state.required_acr;
    let signed_in = state.signed_in.filter(|(session, _)| {
        fresh_enough(session)
            && strong_enough(session)
            && (request.prompt != Some(Prompt::Login) || state.answer.is_some())
    });
    if signed_in.is_none() {
        // OpenID Connect Core §3.1.2.1: with `prompt=none` the server MUST NOT show a page.
        return if prompt_none {
            AuthorizationDecision::RedirectError {
                code: "login_required",
                description: "the user is not signed in",
            }
        } else {
            AuthorizationDecision::SignIn
        };
    }
    match state.answer {
        Some("allow") => AuthorizationDecision::IssueCode {
            remember_consent: true,
        },
        Some(_) => AuthorizationDecision::RedirectError {
            code: "access_denied",
            description: "the user denied the request",
        },
        None if has_consent(state) => AuthorizationDecision::IssueCode {
            remember_consent: false,
        },
        None if prompt_none => AuthorizationDecision::RedirectError {
            code: "consent_required",
            description: "the user has not consented",
        },
        None => AuthorizationDecision::AskConsent,
    }
}

/// Consent is skipped for first-party clients and when remembered consent covers the scope;
/// `prompt=consent` asks again.
fn has_consent(state: &AuthorizationState<'_>) -> bool {
    state.client.first_party
        || (state.request.prompt != Some(Prompt::Consent)
            && state
                .remembered_consent
                .is_some_and(|granted| state.request.scope.is_subset(granted)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientKind, ClientRegistration, Username};
    use portcullis_types::GrantType;

    const NOW: UnixSeconds = 10_000;

    fn client(first_party: bool) -> Client {
        ClientRegistration {
            id: "app".into(),
            kind: ClientKind::Public,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["openid".into(), "profile".into()],
            audiences: vec![],
            access_token_lifetime_secs: None,
            first_party,
            post_logout_redirect_uris: vec![],
            id_token_algorithm: None,
            keys: None,
            dpop_bound_access_tokens: false,
            backchannel_logout_uri: None,
            require_mfa: false,
            require_pushed_authorization_requests: false,
            client_name: None,
            request_uris: Vec::new(),
            request_object_signing_alg: None,
        }
        .into_client(None, 3600, 0)
        .expect("client")
    }

    fn request(prompt: Option<Prompt>, max_age: Option<i64>) -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "app".into(),
            redirect_uri: "https://app.example/cb".into(),
            scope: ScopeSet::parse("openid profile").expect("scope"),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt,
            max_age,
            login_hint: None,
            acr: None,
            audiences: vec![],
        }
    }

    fn session(auth_time: UnixSeconds) -> Session {
        Session {
            secret_hash: vec![1],
            sid: "sid".into(),
            user_id: "u1".into(),
            auth_time,
            amr: crate::AuthMethods::password(),
            identity_provider: None,
            created_at: auth_time,
            last_seen_at: auth_time,
            expires_at: NOW + 3600,
        }
    }

    fn user() -> User {
        User {
            id: "u1".into(),
            username: Username::parse("alice").expect("username"),
            roles: vec![],
            email: None,
            email_verified_at: None,
            password_hash: String::new(),
            created_at: 0,
            disabled_at: None,
        }
    }

    /// Decides with a session authenticated `age` seconds ago (or none), the form's `answer`
    /// and remembered consent to `consented`.
    fn decide_with(
        request: &AuthorizationRequest,
        client: &Client,
        age: Option<i64>,
        answer: Option<&str>,
        consented: Option<&str>,
    ) -> AuthorizationDecision {
        let session = age.map(|age| session(NOW - age));
        let user = user();
        let consent = consented.map(|scope| ScopeSet::parse(scope).expect("scope"));
        decide(&AuthorizationState {
            request,
            client,
            signed_in: session.as_ref().map(|session| (session, &user)),
            answer,
            remembered_consent: consent.as_ref(),
            required_acr: Acr::OneFactor,
            now: NOW,
        })
    }

    #[test]
    fn a_session_below_the_required_class_steps_up() {
        let first_party = client(true);
        let plain = request(None, None);
        let password_only = session(NOW);
        let two_factors = Session {
            amr: crate::AuthMethods::password().with(&[crate::AuthMethod::OneTimeCode]),
            ..session(NOW)
        };
        let user = user();
        let decide_for = |session: &Session, prompt: Option<Prompt>| {
            let request = AuthorizationRequest {
                prompt,
                ..plain.clone()
            };
            decide(&AuthorizationState {
                request: &request,
                client: &first_party,
                signed_in: Some((session, &user)),
                answer: None,
                remembered_consent: None,
                required_acr: Acr::MultiFactor,
                now: NOW,
            })
        };
        assert_eq!(
            decide_for(&password_only, None),
            AuthorizationDecision::SignIn
        );
        assert_eq!(
            decide_for(&password_only, Some(Prompt::None)),
            AuthorizationDecision::RedirectError {
                code: "login_required",
                description: "the user is not signed in",
            }
        );
        assert_eq!(decide_for(&two_factors, None), ISSUE);
    }

    const ISSUE: AuthorizationDecision = AuthorizationDecision::IssueCode {
        remember_consent: false,
    };

    #[test]
    fn without_a_session_the_user_signs_in_or_prompt_none_fails() {
        let third_party = client(false);
        assert_eq!(
            decide_with(&request(None, None), &third_party, None, None, None),
            AuthorizationDecision::SignIn
        );
        assert_eq!(
            decide_with(
                &request(Some(Prompt::None), None),
                &third_party,
                None,
                None,
                None
            ),
            AuthorizationDecision::RedirectError {
                code: "login_required",
                description: "the user is not signed in",
            }
        );
    }

    #[test]
    fn max_age_and_prompt_login_force_a_fresh_sign_in() {
        let first_party = client(true);
        let old = Some(600);
        assert_eq!(
            decide_with(&request(None, Some(300)), &first_party, old, None, None),
            AuthorizationDecision::SignIn
        );
        assert_eq!(
            decide_with(&request(None, Some(600)), &first_party, old, None, None),
            ISSUE
        );
        let login = request(Some(Prompt::Login), None);
        assert_eq!(
            decide_with(&login, &first_party, Some(0), None, None),
            AuthorizationDecision::SignIn
        );
        // The consent form after that sign-in does not loop back to sign-in.
        assert_eq!(
            decide_with(&login, &first_party, Some(0), Some("allow"), None),
            AuthorizationDecision::IssueCode {
                remember_consent: true
            }
        );
    }

    #[test]
    fn third_parties_need_consent_covering_the_scope() {
        let third_party = client(false);
        let plain = request(None, None);
        assert_eq!(
            decide_with(&plain, &third_party, Some(0), None, None),
            AuthorizationDecision::AskConsent
        );
        assert_eq!(
            decide_with(&plain, &third_party, Some(0), None, Some("openid")),
            AuthorizationDecision::AskConsent,
            "consent to less than the scope is not consent"
        );
        assert_eq!(
            decide_with(
                &plain,
                &third_party,
                Some(0),
                None,
                Some("openid profile email")
            ),
            ISSUE
        );
        assert_eq!(
            decide_with(
                &request(Some(Prompt::Consent), None),
                &third_party,
                Some(0),
                None,
                Some("openid profile")
            ),
            AuthorizationDecision::AskConsent
        );
        assert_eq!(
            decide_with(
                &request(Some(Prompt::None), None),
                &third_party,
                Some(0),
                None,
                None
            ),
            AuthorizationDecision::RedirectError {
                code: "consent_required",
                description: "the user has not consented",
            }
        );
        assert_eq!(
            decide_with(&plain, &client(true), Some(0), None, None),
            ISSUE,
            "first-party clients skip consent"
        );
    }

    #[test]
    fn the_consent_answer_issues_or_denies() {
        let third_party = client(false);
        let plain = request(None, None);
        assert_eq!(
            decide_with(&plain, &third_party, Some(0), Some("allow"), None),
            AuthorizationDecision::IssueCode {
                remember_consent: true
            }
        );
        assert_eq!(
            decide_with(&plain, &third_party, Some(0), Some("deny"), None),
            AuthorizationDecision::RedirectError {
                code: "access_denied",
                description: "the user denied the request",
            }
        );
    }
}
