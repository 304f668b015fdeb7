//! Dynamic client registration (RFC 7591 §2, RFC 7592): the metadata a client sends about
//! itself, and the server's policy that turns it into a [`ClientRegistration`] or refuses it.
//! Everything a client says about itself is untrusted: it gets only what the policy allows, is
//! never first-party, and its redirect URIs follow RFC 8252 and RFC 9700 §2.6.

use crate::client::is_loopback_http;
use crate::{ClientKeys, ClientKind, ClientRegistration};
use portcullis_types::GrantType;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest `client_name` kept, in characters.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;

/// Whether, and how, clients may register themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DynamicRegistrationMode {
    /// No registration endpoint (the default).
    #[default]
    Off,
    /// Anyone may register a client (rate limited per network).
    Open,
    /// Only with an initial access token (RFC 7591 §3): an access token of this issuer with
    /// scope `portcullis:register`, or an administrator's.
    Token,
}

/// What self-registered clients may be (RFC 7591 §2: "the authorization server MAY reject or
/// replace any of the client's requested metadata values").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicRegistrationPolicy {
    /// Off, open, or with an initial access token.
    pub mode: DynamicRegistrationMode,
    /// Grant types a registered client may ask for.
    pub grant_types: Vec<GrantType>,
    /// Scopes a registered client may ask for; its default scope when it names none.
    pub scopes: Vec<String>,
    /// Audiences every registered client gets (resource identifiers it may ask tokens for).
    pub audiences: Vec<String>,
    /// Most self-registered clients kept at once (metadata-document clients count too).
    pub max_clients: u64,
    /// Whether a `client_id` that is an https URL is resolved by fetching its Client ID
    /// Metadata Document (draft-ietf-oauth-client-id-metadata-document), within this policy.
    pub metadata_documents: bool,
    /// Hosts metadata documents are taken from (`app.example.com`, or `*.example.com` for its
    /// subdomains); empty: any.
    pub metadata_document_hosts: Vec<String>,
}

impl Default for DynamicRegistrationPolicy {
    fn default() -> Self {
        DynamicRegistrationPolicy {
            mode: DynamicRegistrationMode::Off,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ["openid", "profile", "email", "offline_access"]
                .map(str::to_owned)
                .to_vec(),
            audiences: Vec::new(),
            max_clients: 1000,
            metadata_documents: false,
            metadata_document_hosts: Vec::new(),
        }
    }
}

impl DynamicRegistrationPolicy {
    /// Whether the metadata document at `url` may be used: `metadata_document_hosts` is empty
    /// or names its host (ports aside), exactly or as `*.` and a parent domain.
    pub fn takes_documents_from(&self, url: &str) -> bool {
        let (host, _) =
            crate::client_id_document::split_host_port(crate::client_id_document::host_of(url));
        self.metadata_document_hosts.is_empty()
            || self
                .metadata_document_hosts
                .iter()
                .any(|allowed| match allowed.strip_prefix("*.") {
                    Some(parent) => host
                        .strip_suffix(parent)
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
                    None => host == allowed,
                })
    }
}

/// The client metadata of a registration or update request (RFC 7591 §2). Members not listed
/// here are ignored, as §2 requires of unknown ones.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientMetadata {
    /// `redirect_uris`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `token_endpoint_auth_method`: `none`, `client_secret_basic` (the default),
    /// `client_secret_post` or `private_key_jwt`.
    pub token_endpoint_auth_method: Option<String>,
    /// `grant_types`; `["authorization_code"]` when absent.
    pub grant_types: Option<Vec<String>>,
    /// `response_types`; only `code`.
    pub response_types: Option<Vec<String>>,
    /// `client_name`, shown on the consent page (as the client's claim, not a verified name).
    pub client_name: Option<String>,
    /// `scope`, space-separated; the policy's scopes when absent.
    pub scope: Option<String>,
    /// `jwks`, for `private_key_jwt` (by value only: the server fetches nothing a stranger names).
    pub jwks: Option<serde_json::Value>,
    /// `jwks_uri`: refused, for the same reason.
    pub jwks_uri: Option<String>,
    /// `software_statement`: refused (none is trusted here).
    pub software_statement: Option<String>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 7592 §2.2: an update names the client; it must be the one being updated. A
    /// metadata document names its own URL.
    pub client_id: Option<String>,
    /// `client_secret`: never in a metadata document (draft-ietf-oauth-client-id-metadata-document
    /// §4.1).
    pub client_secret: Option<serde_json::Value>,
    /// `client_secret_expires_at`: never in a metadata document either.
    pub client_secret_expires_at: Option<serde_json::Value>,
}

/// Where client metadata came from, which sets what it may say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetadataSource {
    /// A registration request (RFC 7591): no keys by reference, no software statements.
    Registration,
    /// A Client ID Metadata Document: no shared secrets; keys by value or by reference.
    Document,
}

/// Why the metadata was refused (RFC 7591 §3.2.2 error codes).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientMetadataError {
    /// `invalid_redirect_uri`.
    #[error("{0}")]
    InvalidRedirectUri(String),
    /// `invalid_client_metadata`.
    #[error("{0}")]
    InvalidMetadata(String),
    /// `unapproved_software_statement`.
    #[error("software statements are not accepted by this server")]
    SoftwareStatement,
}

impl ClientMetadataError {
    /// The RFC 7591 §3.2.2 error code.
    pub fn code(&self) -> &'static str {
        match self {
            ClientMetadataError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            ClientMetadataError::InvalidMetadata(_) => "invalid_client_metadata",
            ClientMetadataError::SoftwareStatement => "unapproved_software_statement",
        }
    }
}

impl ClientMetadata {
    /// The registration of client `id` that this metadata asks for, as far as `policy` allows.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn registration(
        &self,
        id: &str,
        policy: &DynamicRegistrationPolicy,
    ) -> Result<ClientRegistration, ClientMetadataError> {
        if self.software_statement.is_some() {
            return Err(ClientMetadataError::SoftwareStatement);
        }
        if self.jwks_uri.is_some() {
            return Err(ClientMetadataError::InvalidMetadata(
                "jwks_uri is not accepted: register public keys by value (jwks)".to_owned(),
            ));
        }
        self.described_client(id, policy, MetadataSource::Registration)
    }

    /// The client that the Client ID Metadata Document fetched from `url` describes, as far as
    /// `policy` allows: a public client (`none`, the default here) or one with its own keys
    /// (`private_key_jwt`, by `jwks` or `jwks_uri`), with grants that need a user.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn document_registration(
        &self,
        url: &str,
        policy: &DynamicRegistrationPolicy,
    ) -> Result<ClientRegistration, ClientMetadataError> {
        let invalid = |message: &str| Err(ClientMetadataError::InvalidMetadata(message.to_owned()));
        // draft-ietf-oauth-client-id-metadata-document §4: the document's client_id MUST match
        // the URL it was fetched from, by simple string comparison.
        if self.client_id.as_deref() != Some(url) {
            return invalid("the document's client_id is not the URL it was fetched from");
        }
        // §4.1: no shared secrets, so no secret-based authentication method either.
        if self.client_secret.is_some() || self.client_secret_expires_at.is_some() {
            return invalid("a metadata document must not hold client_secret");
        }
        if !matches!(
            self.token_endpoint_auth_method.as_deref(),
            None | Some("none" | "private_key_jwt")
        ) {
            return invalid(
                "a metadata document's token_endpoint_auth_method must be none or private_key_jwt",
            );
        }
        let needs_no_user = |grant: &str| {
            matches!(
                grant.parse::<GrantType>(),
                Ok(GrantType::ClientCredentials | GrantType::TokenExchange)
            )
        };
        if self
            .grant_types
            .iter()
            .flatten()
            .any(|grant| needs_no_user(grant))
        {
            return invalid("a metadata document's grants must act for a user");
        }
        self.described_client(url, policy, MetadataSource::Document)
    }

    fn described_client(
        &self,
        id: &str,
        policy: &DynamicRegistrationPolicy,
        source: MetadataSource,
    ) -> Result<ClientRegistration, ClientMetadataError> {
        let invalid = |message: String| ClientMetadataError::InvalidMetadata(message);
        let default_method = match source {
            MetadataSource::Registration => "client_secret_basic",
            MetadataSource::Document => "none",
        };
        let (kind, keys) = match self
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or(default_method)
        {
            "none" => (ClientKind::Public, None),
            "client_secret_basic" | "client_secret_post" => (ClientKind::Confidential, None),
            "private_key_jwt" => {
                let keys = match (&self.jwks, &self.jwks_uri, source) {
                    (Some(jwks), None, _) => ClientKeys::inline_from_json(&jwks.to_string())
                        .map_err(|error| invalid(format!("jwks: {error}")))?,
                    (None, Some(uri), MetadataSource::Document) => ClientKeys::remote(uri)
                        .map_err(|error| invalid(format!("jwks_uri: {error}")))?,
                    _ => {
                        return Err(invalid(
                            "private_key_jwt needs the client's public keys, in jwks or \
                             (in a metadata document) jwks_uri"
                                .to_owned(),
                        ));
                    }
                };
                (ClientKind::Confidential, Some(keys))
            }
            other => {
                return Err(invalid(format!(
                    "token_endpoint_auth_method `{}` is not supported",
                    other.chars().take(40).collect::<String>()
                )));
            }
        };
        let grant_types = self.grant_types(kind, policy)?;
        if let Some(response_types) = &self.response_types
            && response_types
                .iter()
                .any(|response_type| response_type != "code")
        {
            return Err(invalid(
                "only the response type `code` is supported".to_owned(),
            ));
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(ClientMetadataError::InvalidRedirectUri(format!(
                "at most {MAX_REDIRECT_URIS} redirect URIs"
            )));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri).map_err(|reason| {
                ClientMetadataError::InvalidRedirectUri(format!(
                    "`{}`: {reason}",
                    uri.chars().take(200).collect::<String>()
                ))
            })?;
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(ClientMetadataError::InvalidRedirectUri(
                "the authorization_code grant needs redirect_uris".to_owned(),
            ));
        }
        let scopes = match &self.scope {
            None => policy.scopes.clone(),
            Some(scope) => {
                let scopes: Vec<String> = scope.split(' ').map(str::to_owned).collect();
                if let Some(refused) = scopes.iter().find(|scope| !policy.scopes.contains(scope)) {
                    return Err(invalid(format!(
                        "scope `{}` is not open to registered clients",
                        refused.chars().take(64).collect::<String>()
                    )));
                }
                scopes
            }
        };
        let client_name = match &self.client_name {
            Some(name) if name.chars().count() > MAX_CLIENT_NAME_CHARS => {
                return Err(invalid(format!(
                    "client_name is longer than {MAX_CLIENT_NAME_CHARS} characters"
                )));
            }
            Some(name) if name.chars().any(is_hidden_or_control) => {
                return Err(invalid(
                    "client_name holds control, formatting or separator characters".to_owned(),
                ));
            }
            Some(name) if !name.trim().is_empty() => Some(name.trim().to_owned()),
            _ => None,
        };
        Ok(ClientRegistration {
            id: id.to_owned(),
            kind,
            grant_types,
            redirect_uris: self.redirect_uris.clone(),
            scopes,
            audiences: policy.audiences.clone(),
            access_token_lifetime_secs: None,
            first_party: false,
            post_logout_redirect_uris: Vec::new(),
            id_token_algorithm: None,
            keys,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            backchannel_logout_uri: None,
            require_mfa: false,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            client_name,
            // Neither is taken from strangers: the server fetches nothing they name, and
            // unsigned objects need a trust they have not earned.
            request_uris: Vec::new(),
            request_object_signing_alg: None,
        })
    }

    /// The grant types asked for (`authorization_code` when none), all allowed by `policy`.
    fn grant_types(
        &self,
        kind: ClientKind,
        policy: &DynamicRegistrationPolicy,
    ) -> Result<Vec<GrantType>, ClientMetadataError> {
        let names = self
            .grant_types
            .clone()
            .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
        let mut grant_types = Vec::new();
        for name in &names {
            let grant_type = name
                .parse::<GrantType>()
                .ok()
                .filter(|grant_type| policy.grant_types.contains(grant_type))
                .ok_or_else(|| {
                    ClientMetadataError::InvalidMetadata(format!(
                        "grant type `{}` is not open to registered clients",
                        name.chars().take(80).collect::<String>()
                    ))
                })?;
            if grant_type == GrantType::ClientCredentials && kind == ClientKind::Public {
                return Err(ClientMetadataError::InvalidMetadata(
                    "a client without credentials (none) cannot use client_credentials".to_owned(),
                ));
            }
            grant_types.push(grant_type);
        }
        Ok(grant_types)
    }
}

/// Characters that hide or reorder text on a page: controls, bidirectional and invisible
/// formatting characters (Unicode Cf), line and paragraph separators, blank-looking ones.
fn is_hidden_or_control(c: char) -> bool {
    // Blank-looking characters other than the plain space (no-break and wide spaces, Hangul
    // fillers, the Braille blank) could push what follows a name out of sight.
    (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}'
        )
        || c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}')
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{00AD}' | '\u{061C}'
        )
}

/// RFC 8252 §7 and RFC 9700 §2.6, for redirect URIs a stranger registers: `https`, plain `http`
/// only on a loopback IP address (§7.3), or a private-use scheme in reverse domain name form
/// (§7.1: it contains a period); never a fragment, never a user part.
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains('#') {
        return Err("must not contain a fragment");
    }
    if !uri.is_ascii() || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "must be ASCII (percent-encode the rest), without spaces or control characters",
        );
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("must be an absolute URI");
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "https" => {
            let authority = rest
                .strip_prefix("//")
                .ok_or("must be an absolute https URL")?
                .split(['/', '?'])
                .next()
                .unwrap_or_default();
            if authority.is_empty() || authority.contains('@') {
                return Err("must name a host, without a user part");
            }
            Ok(())
        }
        "http" if is_loopback_http(uri) && !uri.starts_with("http://localhost") => Ok(()),
        "http" => Err("plain http only for the loopback addresses 127.0.0.1 and [::1]"),
        _ if scheme.contains('.')
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty() =>
        {
            Ok(())
        }
        _ => Err(
            "use https, http on a loopback address, or a private-use scheme like com.example.app",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DynamicRegistrationPolicy {
        DynamicRegistrationPolicy {
            mode: DynamicRegistrationMode::Open,
            audiences: vec!["https://mcp.example/mcp".into()],
            ..DynamicRegistrationPolicy::default()
        }
    }

    fn public(redirect_uri: &str) -> ClientMetadata {
        ClientMetadata {
            redirect_uris: vec![redirect_uri.into()],
            token_endpoint_auth_method: Some("none".into()),
            ..ClientMetadata::default()
        }
    }

    #[test]
    fn a_public_client_gets_the_policy_and_nothing_more() {
        let registration = ClientMetadata {
            client_name: Some("  My Agent ".into()),
            grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
            ..public("http://127.0.0.1:33418/callback")
        }
        .registration("dyn-1", &policy())
        .expect("valid");
        assert_eq!(registration.kind, ClientKind::Public);
        assert_eq!(registration.client_name.as_deref(), Some("My Agent"));
        assert_eq!(registration.scopes, policy().scopes);
        assert_eq!(registration.audiences, vec!["https://mcp.example/mcp"]);
        assert!(!registration.first_party && !registration.require_mfa);
        let confidential = ClientMetadata {
            token_endpoint_auth_method: None,
            ..public("https://app.example/cb")
        }
        .registration("dyn-2", &policy())
        .expect("valid");
        assert_eq!(confidential.kind, ClientKind::Confidential);
    }

    #[test]
    fn redirect_uris_follow_rfc_8252() {
        for good in [
            "https://app.example/cb",
            "http://127.0.0.1/callback",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(public(good).registration("c", &policy()).is_ok(), "{good}");
        }
        for bad in [
            "http://app.example/cb",
            "http://localhost/cb",
            "https://app.example/cb#frag",
            "https://user@app.example/cb",
            "javascript:alert(1)",
            "myapp:/cb",
            "https:app.example",
            "https://app.example/a b",
            "https://app.exämple/cb",
        ] {
            assert!(
                matches!(
                    public(bad).registration("c", &policy()),
                    Err(ClientMetadataError::InvalidRedirectUri(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_policy_bounds_grants_scopes_and_methods() {
        let refused = |metadata: ClientMetadata| {
            metadata
                .registration("c", &policy())
                .err()
                .map(|error| error.code())
        };
        let base = || public("https://app.example/cb");
        assert_eq!(
            refused(ClientMetadata {
                grant_types: Some(vec!["client_credentials".into()]),
                ..base()
            }),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            refused(ClientMetadata {
                scope: Some("openid portcullis:admin".into()),
                ..base()
            }),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            refused(ClientMetadata {
                response_types: Some(vec!["token".into()]),
                ..base()
            }),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            refused(ClientMetadata {
                jwks_uri: Some("https://app.example/jwks".into()),
                ..base()
            }),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            refused(ClientMetadata {
                software_statement: Some("eyJ...".into()),
                ..base()
            }),
            Some("unapproved_software_statement")
        );
        assert_eq!(
            refused(ClientMetadata {
                redirect_uris: vec![],
                ..base()
            }),
            Some("invalid_redirect_uri")
        );
        assert_eq!(
            refused(ClientMetadata {
                client_name: Some("x".repeat(101)),
                ..base()
            }),
            Some("invalid_client_metadata")
        );
        assert_eq!(
            refused(ClientMetadata {
                client_name: Some("Bank\u{202E}fles".into()),
                ..base()
            }),
            Some("invalid_client_metadata"),
            "a bidirectional override"
        );
        for blank in ['\u{3164}', '\u{2800}', '\u{00A0}', '\u{3000}', '\t'] {
            assert_eq!(
                refused(ClientMetadata {
                    client_name: Some(format!("Claude{blank}{blank}{blank}")),
                    ..base()
                }),
                Some("invalid_client_metadata"),
                "a blank-looking character {:?}",
                blank
            );
        }
    }

    #[test]
    fn documents_come_only_from_the_allowed_hosts() {
        let mut policy = policy();
        assert!(policy.takes_documents_from("https://evil.example/client"));
        policy.metadata_document_hosts = vec!["app.example.com".into(), "*.agents.example".into()];
        for (url, taken) in [
            ("https://app.example.com/client", true),
            ("https://app.example.com:8443/client", true),
            ("https://x.app.example.com/client", false),
            ("https://a.agents.example/client", true),
            ("https://a.b.agents.example/client", true),
            ("https://agents.example/client", false),
            ("https://evilagents.example/client", false),
        ] {
            assert_eq!(policy.takes_documents_from(url), taken, "{url}");
        }
    }

    #[test]
    fn a_metadata_document_names_itself_and_holds_no_secret() {
        let url = "https://agent.example/client.json";
        let document = |extra: serde_json::Value| {
            let mut json = serde_json::json!({
                "client_id": url,
                "client_name": "Agent",
                "redirect_uris": ["http://127.0.0.1:33418/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
            });
            if let (Some(base), Some(extra)) = (json.as_object_mut(), extra.as_object()) {
                base.extend(extra.clone());
            }
            serde_json::from_value::<ClientMetadata>(json)
                .map_err(|error| error.to_string())
                .and_then(|metadata| {
                    metadata
                        .document_registration(url, &policy())
                        .map_err(|error| error.to_string())
                })
        };
        let registration = document(serde_json::json!({})).expect("a public client");
        assert_eq!(registration.kind, ClientKind::Public, "none is the default");
        assert_eq!(registration.audiences, policy().audiences);
        for (extra, why) in [
            (
                serde_json::json!({"client_id": "https://agent.example/other.json"}),
                "client_id",
            ),
            (
                serde_json::json!({"client_secret": "s3cret"}),
                "client_secret",
            ),
            (
                serde_json::json!({"token_endpoint_auth_method": "client_secret_basic"}),
                "method",
            ),
            (
                serde_json::json!({"grant_types": ["client_credentials"]}),
                "grant",
            ),
            (
                serde_json::json!({"token_endpoint_auth_method": "private_key_jwt"}),
                "no keys",
            ),
            (
                serde_json::json!({"redirect_uris": ["http://evil.example/cb"]}),
                "redirect",
            ),
        ] {
            assert!(document(extra).is_err(), "{why}");
        }
        let by_reference = document(serde_json::json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://agent.example/jwks.json",
        }))
        .expect("keys by reference");
        assert_eq!(by_reference.kind, ClientKind::Confidential);
        assert!(by_reference.keys.is_some_and(|keys| keys.uri().is_some()));
    }
}
