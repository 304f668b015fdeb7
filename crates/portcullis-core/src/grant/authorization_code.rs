//! The authorization code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6).

use super::{AccessGrant, GrantError, UserContext};
use crate::{AuthorizationCodeRecord, Client, ScopeSet, TokenPolicy, UnixSeconds, User, pkce};
use portcullis_types::GrantType;

/// The token request's parameters for this grant.
#[derive(Debug, Clone, Copy)]
pub struct CodeExchange<'a> {
    /// `redirect_uri`
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier`
    pub code_verifier: Option<&'a str>,
}

/// Checks a freshly redeemed code against the client and request, and builds the grant.
///
/// # Errors
/// `invalid_grant` for a code of another client, an expired code, a redirect URI mismatch or a
/// PKCE failure; `unauthorized_client` if the client may not use this grant.
pub fn grant(
    client: &Client,
    code: &AuthorizationCodeRecord,
    exchange: CodeExchange<'_>,
    user: &User,
    policy: &TokenPolicy,
    now: UnixSeconds,
) -> Result<AccessGrant, GrantError> {
    let invalid = |why: &str| GrantError::InvalidGrant(why.to_owned());
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(GrantError::UnauthorizedClient(
            "client is not allowed to use authorization_code".into(),
        ));
    }
    // RFC 6749 §4.1.3: the code must have been issued to the authenticated client.
    if code.client_id != client.id {
        return Err(invalid("code was issued to another client"));
    }
    if now >= code.expires_at {
        return Err(invalid("code has expired"));
    }
    // RFC 6749 §4.1.3: redirect_uri must be present and identical to the authorization request's.
    if exchange.redirect_uri != Some(code.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&code.code_challenge, exchange.code_verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (Some(_), _) => return Err(invalid("code_verifier does not match the code challenge")),
        // RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
        (None, Some(_)) => return Err(invalid("code_verifier sent but no challenge was made")),
        (None, None) => {}
    }
    if user.disabled_at.is_some() || user.id != code.user_id {
        return Err(invalid("user is no longer active"));
    }
    Ok(AccessGrant {
        grant_type: GrantType::AuthorizationCode,
        subject: user.id.clone(),
        client_id: client.id.clone(),
        scope: ScopeSet::parse(&code.scope).unwrap_or_default(),
        audiences: code.audiences.clone(),
        lifetime_secs: policy.access_token_lifetime(client),
        user: Some(UserContext {
            username: user.username.to_string(),
            roles: user.roles.clone(),
            sid: code.sid.clone(),
            auth_time: code.auth_time,
            amr: code.amr.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientKind, ClientRegistration, NewUser, Username};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn fixtures() -> (Client, AuthorizationCodeRecord, User, TokenPolicy) {
        let client = ClientRegistration {
            id: "app".into(),
            kind: ClientKind::Public,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            scopes: vec!["openid".into()],
            audiences: vec![],
            access_token_lifetime_secs: None,
            first_party: false,
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
        .expect("client");
        let user = NewUser {
            username: Username::parse("u").expect("name"),
            roles: vec!["user".into()],
            email: None,
            password_hash: String::new(),
        }
        .into_user(0);
        let code = AuthorizationCodeRecord {
            code_hash: vec![],
            client_id: "app".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: Some(CHALLENGE.into()),
            nonce: None,
            scope: "openid".into(),
            audiences: vec!["https://auth.example".into()],
            user_id: user.id.clone(),
            sid: "sid".into(),
            auth_time: 5,
            amr: crate::AuthMethods::password(),
            expires_at: 60,
        };
        let policy = TokenPolicy {
            issuer: "https://auth.example".into(),
            default_audience: crate::token::DEFAULT_AUDIENCE.into(),
            default_access_token_lifetime_secs: 900,
            max_access_token_lifetime_secs: 3600,
        };
        (client, code, user, policy)
    }

    fn exchange<'a>(redirect_uri: Option<&'a str>, verifier: Option<&'a str>) -> CodeExchange<'a> {
        CodeExchange {
            redirect_uri,
            code_verifier: verifier,
        }
    }

    #[test]
    fn a_matching_exchange_yields_a_user_grant() {
        let (client, code, user, policy) = fixtures();
        let grant = grant(
            &client,
            &code,
            exchange(Some("http://127.0.0.1/cb"), Some(VERIFIER)),
            &user,
            &policy,
            10,
        )
        .expect("granted");
        assert_eq!(grant.subject, user.id);
        assert_eq!(
            grant.user.map(|context| (context.sid, context.auth_time)),
            Some(("sid".into(), 5))
        );
    }

    #[test]
    fn every_mismatch_is_invalid_grant() {
        let (client, code, user, policy) = fixtures();
        let refuse = |code: &AuthorizationCodeRecord, exchange: CodeExchange<'_>, now| {
            grant(&client, code, exchange, &user, &policy, now)
                .err()
                .map(|error| error.code().as_str())
        };
        let good = exchange(Some("http://127.0.0.1/cb"), Some(VERIFIER));
        assert_eq!(refuse(&code, good, 60), Some("invalid_grant"), "expired");
        assert_eq!(
            refuse(&code, exchange(None, Some(VERIFIER)), 10),
            Some("invalid_grant")
        );
        assert_eq!(
            refuse(
                &code,
                exchange(Some("http://127.0.0.1:9/cb"), Some(VERIFIER)),
                10
            ),
            Some("invalid_grant")
        );
        assert_eq!(
            refuse(&code, exchange(Some("http://127.0.0.1/cb"), None), 10),
            Some("invalid_grant")
        );
        let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
        assert_eq!(
            refuse(
                &code,
                exchange(Some("http://127.0.0.1/cb"), Some(wrong)),
                10
            ),
            Some("invalid_grant")
        );
        let other_client = AuthorizationCodeRecord {
            client_id: "other".into(),
            ..code.clone()
        };
        assert_eq!(refuse(&other_client, good, 10), Some("invalid_grant"));
        let no_challenge = AuthorizationCodeRecord {
            code_challenge: None,
            ..code.clone()
        };
        assert_eq!(
            refuse(&no_challenge, good, 10),
            Some("invalid_grant"),
            "PKCE downgrade"
        );
    }
}
