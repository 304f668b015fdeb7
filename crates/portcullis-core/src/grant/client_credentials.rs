//! The client credentials grant (RFC 6749 §4.4): a confidential client obtains a token for itself.

use super::{AccessGrant, GrantError, resolve_audiences, resolve_scope};
use crate::{Client, ClientKind, TokenPolicy};
use portcullis_types::GrantType;

/// The parameters of a client credentials token request.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentialsRequest {
    /// `scope`, if sent.
    pub scope: Option<String>,
    /// `resource` values (RFC 8707).
    pub resources: Vec<String>,
    /// `audience` values.
    pub audiences: Vec<String>,
}

/// Decides a client credentials request for an already authenticated client.
///
/// # Errors
/// `unauthorized_client` for public clients or clients without the grant; `invalid_scope` and
/// `invalid_target` from scope and audience resolution.
pub fn grant(
    client: &Client,
    request: &ClientCredentialsRequest,
    policy: &TokenPolicy,
) -> Result<AccessGrant, GrantError> {
    // RFC 6749 §4.4: the client credentials grant MUST only be used by confidential clients.
    if client.kind != ClientKind::Confidential {
        return Err(GrantError::UnauthorizedClient(
            "client_credentials is only for confidential clients".into(),
        ));
    }
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(GrantError::UnauthorizedClient(
            "client is not allowed to use client_credentials".into(),
        ));
    }
    let scope = resolve_scope(client, request.scope.as_deref())?;
    let audiences = resolve_audiences(client, &request.resources, &request.audiences, policy)?;
    Ok(AccessGrant {
        grant_type: GrantType::ClientCredentials,
        // RFC 9068 §2.2: with no resource owner, `sub` is the client's own identifier.
        subject: client.id.clone(),
        client_id: client.id.clone(),
        scope,
        audiences,
        lifetime_secs: policy.access_token_lifetime(client),
        user: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientRegistration, SecretHash};

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: "https://auth.example".into(),
            default_audience: crate::token::DEFAULT_AUDIENCE.into(),
            default_access_token_lifetime_secs: 900,
            max_access_token_lifetime_secs: 3600,
        }
    }

    fn client() -> Client {
        ClientRegistration {
            id: "svc".into(),
            kind: ClientKind::Confidential,
            grant_types: vec![GrantType::ClientCredentials],
            redirect_uris: vec![],
            scopes: vec!["read".into(), "write".into()],
            audiences: vec!["https://api.example".into(), "orders".into()],
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
        .into_client(Some(SecretHash::of("s")), 3600, 0)
        .expect("valid client")
    }

    fn request(
        scope: Option<&str>,
        resources: &[&str],
        audiences: &[&str],
    ) -> ClientCredentialsRequest {
        ClientCredentialsRequest {
            scope: scope.map(str::to_owned),
            resources: resources.iter().map(|r| (*r).to_owned()).collect(),
            audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn defaults_to_all_allowed_scope_and_audiences() {
        let granted = grant(&client(), &request(None, &[], &[]), &policy()).expect("granted");
        assert_eq!(granted.subject, "svc");
        assert_eq!(granted.scope.to_string(), "read write");
        assert_eq!(granted.audiences, ["https://api.example", "orders"]);
        assert_eq!(granted.lifetime_secs, 900);
    }

    #[test]
    fn a_client_without_audiences_gets_the_default_one() {
        let mut plain = client();
        plain.audiences.clear();
        for asked in [&[][..], &["api://default"][..]] {
            let granted = grant(&plain, &request(None, &[], asked), &policy()).expect("granted");
            assert_eq!(granted.audiences, ["api://default"]);
        }
    }

    #[test]
    fn narrows_to_what_was_asked() {
        let granted = grant(
            &client(),
            &request(Some("read"), &["https://api.example"], &[]),
            &policy(),
        )
        .expect("granted");
        assert_eq!(granted.scope.to_string(), "read");
        assert_eq!(granted.audiences, ["https://api.example"]);
    }

    #[test]
    fn refuses_what_the_client_may_not_have() {
        let refuse = |request: ClientCredentialsRequest| {
            grant(&client(), &request, &policy())
                .err()
                .map(|error| error.code().as_str())
        };
        assert_eq!(
            refuse(request(Some("admin"), &[], &[])),
            Some("invalid_scope")
        );
        assert_eq!(
            refuse(request(Some("read  write"), &[], &[])),
            Some("invalid_scope")
        );
        assert_eq!(
            refuse(request(None, &["https://other.example"], &[])),
            Some("invalid_target")
        );
        assert_eq!(
            refuse(request(None, &["not-a-uri"], &[])),
            Some("invalid_target")
        );
        assert_eq!(
            refuse(request(None, &["https://api.example#x"], &[])),
            Some("invalid_target")
        );
        assert_eq!(
            refuse(request(None, &[], &["payments"])),
            Some("invalid_target")
        );
        let mut no_audience = client();
        no_audience.audiences.clear();
        assert_eq!(
            grant(&no_audience, &request(None, &[], &["orders"]), &policy())
                .err()
                .map(|e| e.code().as_str()),
            Some("invalid_target"),
            "a client without audiences gets the default one only"
        );
        let mut no_grant = client();
        no_grant.grant_types = vec![GrantType::RefreshToken];
        assert_eq!(
            grant(&no_grant, &request(None, &[], &[]), &policy())
                .err()
                .map(|e| e.code().as_str()),
            Some("unauthorized_client")
        );
        let mut public = client();
        public.kind = ClientKind::Public;
        assert_eq!(
            grant(&public, &request(None, &[], &[]), &policy())
                .err()
                .map(|e| e.code().as_str()),
            Some("unauthorized_client")
        );
    }
}
