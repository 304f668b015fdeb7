//! OAuth clients: registration rules and client authentication (RFC 6749 §2).

use crate::client_keys::{ClientKeys, ClientKeysError};
use crate::{ScopeSet, SecretHash, UnixSeconds};
use portcullis_jose::Algorithm;
use portcullis_types::GrantType;
use std::fmt;
use thiserror::Error;

/// RFC 6749 §2.1 client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Can keep a secret (a server-side app or service); authenticates with a client secret.
    Confidential,
    /// Cannot keep a secret (a native or browser app); never has a secret.
    Public,
}

impl ClientKind {
    /// `confidential` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Confidential => "confidential",
            ClientKind::Public => "public",
        }
    }
}

impl fmt::Display for ClientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticationMethod {
    /// Its secret, in a Basic header or the form (`client_secret_basic`, `client_secret_post`).
    ClientSecret,
    /// A JWT signed with one of its registered keys (RFC 7523 §2.2).
    PrivateKeyJwt,
    /// A public client: none.
    None,
}

impl AuthenticationMethod {
    /// The RFC 7591 name (`client_secret_basic` stands for both secret methods).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticationMethod::ClientSecret => "client_secret_basic",
            AuthenticationMethod::PrivateKeyJwt => "private_key_jwt",
            AuthenticationMethod::None => "none",
        }
    }
}

/// Why a client registration was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The client id breaks the rules.
    #[error("invalid client id: use 1-128 characters from letters, digits and . _ - :")]
    InvalidId,
    /// No grant type was given.
    #[error("a client needs at least one grant type")]
    NoGrantTypes,
    /// RFC 6749 §4.4: client credentials are only for confidential clients.
    #[error("a public client cannot use the client_credentials grant")]
    PublicClientCredentials,
    /// The authorization code grant needs a registered redirect URI (RFC 6749 §3.1.2.2).
    #[error("the authorization_code grant needs at least one --redirect-uri")]
    MissingRedirectUri,
    /// A redirect URI is not acceptable.
    #[error("invalid redirect URI `{0}`: {1}")]
    InvalidRedirectUri(String, &'static str),
    /// A scope is not a valid scope token.
    #[error(transparent)]
    InvalidScope(#[from] crate::scope::InvalidScope),
    /// An audience is empty or contains spaces or control characters.
    #[error("invalid audience `{0}`")]
    InvalidAudience(String),
    /// A confidential client needs a secret or registered keys to authenticate with.
    #[error("a confidential client needs a secret or keys (jwks or jwks_uri)")]
    NoCredentials,
    /// The registered keys are refused.
    #[error(transparent)]
    InvalidKeys(#[from] ClientKeysError),
    /// The back-channel logout URI is not acceptable.
    #[error("invalid backchannel_logout_uri `{0}`: {1}")]
    InvalidBackchannelLogoutUri(String, &'static str),
    /// The name is too long or holds control characters.
    #[error("client_name: at most 100 characters, no control characters")]
    InvalidName,
    /// A registered `request_uri` is not acceptable.
    #[error("invalid request_uris entry `{0}`: {1}")]
    InvalidRequestUri(String, &'static str),
    /// Too many `request_uris`.
    #[error("at most {MAX_REQUEST_URIS} request_uris")]
    TooManyRequestUris,
    /// Unsigned request objects (`request_object_signing_alg` `none`) need nothing else; signed
    /// ones need the client's keys.
    #[error(
        "request_object_signing_alg other than none needs the client's keys (jwks or jwks_uri)"
    )]
    RequestObjectsWithoutKeys,
    /// The token lifetime is outside 1 second .. the server's maximum.
    #[error("access token lifetime must be between 1 and {0} seconds")]
    InvalidLifetime(i64),
}

impl ClientError {
    /// The registration field at fault, as the admin API names it.
    pub fn field(&self) -> &'static str {
        match self {
            ClientError::InvalidId => "id",
            ClientError::NoGrantTypes | ClientError::PublicClientCredentials => "grant_types",
            ClientError::MissingRedirectUri | ClientError::InvalidRedirectUri(..) => {
                "redirect_uris"
            }
            ClientError::InvalidScope(_) => "scopes",
            ClientError::InvalidAudience(_) => "audiences",
            ClientError::InvalidLifetime(_) => "access_token_lifetime_secs",
            ClientError::NoCredentials | ClientError::InvalidKeys(ClientKeysError::InvalidUri) => {
                "jwks_uri"
            }
            ClientError::InvalidKeys(_) => "jwks",
            ClientError::InvalidBackchannelLogoutUri(..) => "backchannel_logout_uri",
            ClientError::InvalidName => "client_name",
            ClientError::InvalidRequestUri(..) | ClientError::TooManyRequestUris => "request_uris",
            ClientError::RequestObjectsWithoutKeys => "request_object_signing_alg",
        }
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client identifier (RFC 6749 §2.2).
    pub id: String,
    /// Confidential or public.
    pub kind: ClientKind,
    /// Hash of the secret; `Some` exactly for confidential clients.
    pub secret_hash: Option<SecretHash>,
    /// Grant types the client may use, sorted.
    pub grant_types: Vec<GrantType>,
    /// Registered redirect URIs, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may request.
    pub scopes: ScopeSet,
    /// Audiences (resource identifiers) the client may request tokens for.
    pub audiences: Vec<String>,
    /// Access token lifetime for this client; `None` uses the server default.
    pub access_token_lifetime_secs: Option<i64>,
    /// A first-party client skips the consent page.
    pub first_party: bool,
    /// Registered post-logout redirect URIs (OpenID Connect RP-Initiated Logout), exact match.
    pub post_logout_redirect_uris: Vec<String>,
    /// Id token algorithm; `None` is RS256 (OpenID Connect Core §15.1 makes RS256 mandatory).
    pub id_token_algorithm: Option<Algorithm>,
    /// Its public keys. A confidential client with keys and no secret authenticates with
    /// `private_key_jwt`.
    pub keys: Option<ClientKeys>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are delivered.
    pub backchannel_logout_uri: Option<String>,
    /// Users must sign in with a second factor to authorize this client.
    pub require_mfa: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`: this client's authorization requests
    /// are taken only when pushed first.
    pub require_pushed_authorization_requests: bool,
    /// A name to show users (RFC 7591 §2 `client_name`); for a self-registered client, its own
    /// unverified claim.
    pub client_name: Option<String>,
    /// Where its request objects may be fetched from by reference (RFC 9101 §5.2; OpenID
    /// Connect Dynamic Client Registration §2 `request_uris`), compared exactly.
    pub request_uris: Vec<String>,
    /// How its request objects must be signed (`request_object_signing_alg`); `None`: with any
    /// of its keys' algorithms, never unsigned.
    pub request_object_signing_alg: Option<RequestObjectAlg>,
    /// For a client that registered itself (RFC 7591), the hash of its registration access
    /// token (RFC 7592 §3); `None` for clients an administrator registered.
    pub registration_token_hash: Option<SecretHash>,
    /// For a client described by its Client ID Metadata Document (its id is the document's
    /// URL), when the copy kept here must be fetched again; `None` for every other client.
    pub metadata_document_expires_at: Option<UnixSeconds>,
    /// Creation time.
    pub created_at: UnixSeconds,
}

impl Client {
    /// Checks a presented secret (RFC 6749 §2.3.1). A confidential client must present its secret;
    /// a public client must present none, since it has none to present.
    pub fn secret_is_valid(&self, presented: Option<&str>) -> bool {
        match (&self.secret_hash, presented) {
            (Some(hash), Some(secret)) => hash.matches(secret),
            (None, None) => self.kind == ClientKind::Public,
            _ => false,
        }
    }

    /// The algorithm of this client's id tokens.
    pub fn id_token_algorithm(&self) -> Algorithm {
        self.id_token_algorithm.unwrap_or(Algorithm::Rs256)
    }

    /// How the client authenticates at the token endpoint: with its secret when it has one, else
    /// a confidential client with keys uses `private_key_jwt`, else (public) none.
    pub fn authentication_method(&self) -> AuthenticationMethod {
        match (&self.secret_hash, &self.keys, self.kind) {
            (Some(_), _, _) => AuthenticationMethod::ClientSecret,
            (None, Some(_), ClientKind::Confidential) => AuthenticationMethod::PrivateKeyJwt,
            _ => AuthenticationMethod::None,
        }
    }

    /// How pages name the client to users: its name, else its id; a self-registered client's
    /// name is its own claim, and said to be; a client described by a metadata document is
    /// named with the host serving it (draft-ietf-oauth-client-id-metadata-document §8.5).
    pub fn label(&self) -> String {
        if self.is_described_by_document() {
            // The host first: a name cannot push it out of sight.
            let host = crate::client_id_document::host_of(&self.id);
            return match &self.client_name {
                Some(name) => format!("{host} (an application calling itself “{name}”)"),
                None => format!("{host} (an application)"),
            };
        }
        let name = self.client_name.as_deref().unwrap_or(&self.id);
        if self.is_self_registered() {
            format!("{name} (a name the application gave itself)")
        } else {
            name.to_owned()
        }
    }

    /// Whether the client's id is the URL of its metadata document, which describes it.
    pub fn is_described_by_document(&self) -> bool {
        self.metadata_document_expires_at.is_some()
    }

    /// Whether the client described itself (dynamic registration or a metadata document)
    /// rather than being registered by an administrator: nothing it says is vouched for.
    pub fn is_self_described(&self) -> bool {
        self.is_self_registered() || self.is_described_by_document()
    }

    /// Whether the client registered itself (RFC 7591).
    pub fn is_self_registered(&self) -> bool {
        self.registration_token_hash.is_some()
    }

    /// The URL to fetch a request object from for the `request_uri` a request presented
    /// (RFC 9101 §5.2), if the client registered it: its fragment (OpenID Connect Core §6.2:
    /// a hash of the contents, for caches) aside, the same as one of its `request_uris`, or one
    /// more plain path segment under a registered one ending in `/` (a URL per request).
    pub fn registered_request_uri<'u>(&self, presented: &'u str) -> Option<&'u str> {
        let url = presented.split('#').next().unwrap_or_default();
        let registered = self.request_uris.iter().any(|registered| {
            registered == url
                || (registered.ends_with('/')
                    && url
                        .strip_prefix(registered.as_str())
                        .is_some_and(|segment| {
                            !segment.is_empty()
                                && !segment.starts_with('.')
                                && segment
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                        }))
        });
        registered.then_some(url)
    }

    /// Whether the client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// What an administrator asks for when registering a client.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    /// Client id.
    pub id: String,
    /// Confidential or public.
    pub kind: ClientKind,
    /// Allowed grant types.
    pub grant_types: Vec<GrantType>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Allowed audiences.
    pub audiences: Vec<String>,
    /// Per-client access token lifetime.
    pub access_token_lifetime_secs: Option<i64>,
    /// Skip consent for this client.
    pub first_party: bool,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Id token algorithm.
    pub id_token_algorithm: Option<Algorithm>,
    /// Public keys (`jwks` or `jwks_uri`).
    pub keys: Option<ClientKeys>,
    /// Every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Users must sign in with a second factor to authorize this client.
    pub require_mfa: bool,
    /// Authorization requests only when pushed (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// A name to show users.
    pub client_name: Option<String>,
    /// Where request objects may be fetched from by reference (RFC 9101 §5.2).
    pub request_uris: Vec<String>,
    /// How request objects must be signed; `None`: any of its keys, never unsigned.
    pub request_object_signing_alg: Option<RequestObjectAlg>,
}

/// Most `request_uris` one client may register.
pub const MAX_REQUEST_URIS: usize = 10;

/// How a client's request objects must be signed (OpenID Connect Dynamic Client Registration
/// §2 `request_object_signing_alg`: the algorithm that MUST be used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestObjectAlg {
    /// Unsigned (`none`): the client is trusted to send its requests over channels nobody
    /// can change, as by reference from its own https URL.
    Unsigned,
    /// Signed with this algorithm, by one of the client's keys.
    Signed(Algorithm),
}

impl RequestObjectAlg {
    /// The registration value: `none`, or the algorithm's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            RequestObjectAlg::Unsigned => "none",
            RequestObjectAlg::Signed(algorithm) => algorithm.as_str(),
        }
    }
}

impl std::str::FromStr for RequestObjectAlg {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "none" => Ok(RequestObjectAlg::Unsigned),
            other => other
                .parse::<Algorithm>()
                .map(RequestObjectAlg::Signed)
                .map_err(|_| format!("`{other}` is neither none nor a supported algorithm")),
        }
    }
}

impl ClientRegistration {
    /// A registration of client `id` of `kind` using `grant_types` and nothing else: no
    /// redirect URIs, scopes or audiences, no keys, no requirements (fill in the rest with
    /// struct update syntax).
    pub fn new(id: &str, kind: ClientKind, grant_types: Vec<GrantType>) -> Self {
        ClientRegistration {
            id: id.to_owned(),
            kind,
            grant_types,
            redirect_uris: Vec::new(),
            scopes: Vec::new(),
            audiences: Vec::new(),
            access_token_lifetime_secs: None,
            first_party: false,
            post_logout_redirect_uris: Vec::new(),
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
    }

    /// Validates the registration and builds the client. `secret_hash` must be `Some` exactly for a
    /// confidential client; `max_lifetime_secs` is the server's ceiling for token lifetimes.
    ///
    /// # Errors
    /// The first rule broken, as a [`ClientError`].
    pub fn into_client(
        self,
        secret_hash: Option<SecretHash>,
        max_lifetime_secs: i64,
        now: UnixSeconds,
    ) -> Result<Client, ClientError> {
        validate_client_id(&self.id)?;
        self.into_checked_client(secret_hash, max_lifetime_secs, now)
    }

    /// The client a Client ID Metadata Document describes, whose id is the document's URL
    /// (`allow_plain_http` as for [`crate::client_id_document::is_document_url`]), kept until
    /// `expires_at`. It has no secret (draft-ietf-oauth-client-id-metadata-document §4.1).
    ///
    /// # Errors
    /// The first [`ClientError`] found.
    pub fn into_document_client(
        self,
        allow_plain_http: bool,
        max_lifetime_secs: i64,
        now: UnixSeconds,
        expires_at: UnixSeconds,
    ) -> Result<Client, ClientError> {
        if !crate::client_id_document::is_document_url(&self.id, allow_plain_http) {
            return Err(ClientError::InvalidId);
        }
        let mut client = self.into_checked_client(None, max_lifetime_secs, now)?;
        client.metadata_document_expires_at = Some(expires_at);
        Ok(client)
    }

    fn into_checked_client(
        self,
        secret_hash: Option<SecretHash>,
        max_lifetime_secs: i64,
        now: UnixSeconds,
    ) -> Result<Client, ClientError> {
        let mut grant_types = self.grant_types;
        grant_types.sort();
        grant_types.dedup();
        if grant_types.is_empty() {
            return Err(ClientError::NoGrantTypes);
        }
        if self.kind == ClientKind::Public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(ClientError::PublicClientCredentials);
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(ClientError::MissingRedirectUri);
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            validate_redirect_uri(uri)
                .map_err(|reason| ClientError::InvalidRedirectUri(uri.clone(), reason))?;
        }
        for audience in &self.audiences {
            if audience.is_empty()
                || audience
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ClientError::InvalidAudience(audience.clone()));
            }
        }
        if self.kind == ClientKind::Confidential && secret_hash.is_none() && self.keys.is_none() {
            return Err(ClientError::NoCredentials);
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            validate_backchannel_logout_uri(uri)
                .map_err(|reason| ClientError::InvalidBackchannelLogoutUri(uri.clone(), reason))?;
        }
        if let Some(name) = &self.client_name
            && (name.chars().count() > crate::client_metadata::MAX_CLIENT_NAME_CHARS
                || name.chars().any(char::is_control))
        {
            return Err(ClientError::InvalidName);
        }
        if self.request_uris.len() > MAX_REQUEST_URIS {
            return Err(ClientError::TooManyRequestUris);
        }
        for uri in &self.request_uris {
            validate_request_uri(uri)
                .map_err(|reason| ClientError::InvalidRequestUri(uri.clone(), reason))?;
        }
        let takes_request_objects = matches!(
            self.request_object_signing_alg,
            Some(RequestObjectAlg::Signed(_))
        ) || !self.request_uris.is_empty();
        if takes_request_objects
            && self.keys.is_none()
            && self.request_object_signing_alg != Some(RequestObjectAlg::Unsigned)
        {
            return Err(ClientError::RequestObjectsWithoutKeys);
        }
        if let Some(lifetime) = self.access_token_lifetime_secs
            && !(1..=max_lifetime_secs).contains(&lifetime)
        {
            return Err(ClientError::InvalidLifetime(max_lifetime_secs));
        }
        let mut audiences = self.audiences;
        audiences.sort();
        audiences.dedup();
        let mut redirect_uris = self.redirect_uris;
        redirect_uris.dedup();
        Ok(Client {
            id: self.id,
            kind: self.kind,
            secret_hash,
            grant_types,
            redirect_uris,
            scopes: ScopeSet::try_from(self.scopes)?,
            audiences,
            access_token_lifetime_secs: self.access_token_lifetime_secs,
            first_party: self.first_party,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            id_token_algorithm: self.id_token_algorithm,
            keys: self.keys,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            backchannel_logout_uri: self.backchannel_logout_uri,
            require_mfa: self.require_mfa,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            client_name: self.client_name,
            request_uris: self.request_uris,
            request_object_signing_alg: self.request_object_signing_alg,
            registration_token_hash: None,
            metadata_document_expires_at: None,
            created_at: now,
        })
    }
}

fn validate_client_id(id: &str) -> Result<(), ClientError> {
    let valid = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-:".contains(&byte));
    if valid {
        Ok(())
    } else {
        Err(ClientError::InvalidId)
    }
}

/// RFC 9101 §5.2: a URL the server fetches a request object from: https (plain http only on
/// loopback, for development), at most 512 characters, no fragment (it is compared exactly).
fn validate_request_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > 512 {
        return Err("at most 512 characters");
    }
    validate_backchannel_logout_uri(uri)
}

/// OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute URL, which MAY have a query but MUST
/// NOT have a fragment; https, or plain http on loopback for development.
fn validate_backchannel_logout_uri(uri: &str) -> Result<(), &'static str> {
    if !is_absolute_uri(uri) {
        return Err("must be an absolute URL");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment");
    }
    if !(uri.starts_with("https://") || is_loopback_http(uri)) {
        return Err("must be https (plain http only for loopback addresses)");
    }
    Ok(())
}

/// Whether `uri` is an absolute URI (RFC 3986 §4.3): a scheme, a colon, and more.
pub fn is_absolute_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.chars();
    scheme_chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// RFC 6749 §3.1.2: absolute, without fragment. RFC 9700 §2.6 and RFC 8252 §8.3: plain `http` only
/// for loopback hosts; private-use schemes of native apps are allowed.
fn validate_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if !is_absolute_uri(uri) {
        return Err("must be an absolute URI");
    }
    if uri.contains('#') {
        return Err("must not contain a fragment");
    }
    if uri.starts_with("http://") && !is_loopback_http(uri) {
        return Err("plain http is only allowed for loopback addresses");
    }
    Ok(())
}

/// Whether `uri` is a plain `http` URL whose host is a loopback address (RFC 8252 §7.3).
pub(crate) fn is_loopback_http(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(host, _)| host);
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> ClientRegistration {
        ClientRegistration {
            id: "svc".into(),
            kind: ClientKind::Confidential,
            grant_types: vec![GrantType::ClientCredentials],
            redirect_uris: vec![],
            scopes: vec!["read".into()],
            audiences: vec!["api".into()],
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
    }

    #[test]
    fn request_uris_match_exactly_or_one_segment_under_a_directory() {
        let client = ClientRegistration {
            request_uris: vec![
                "https://app.example/request.jwt".into(),
                "https://app.example/requests/".into(),
            ],
            request_object_signing_alg: Some(RequestObjectAlg::Unsigned),
            ..registration()
        }
        .into_client(Some(SecretHash::of("s")), 3600, 0)
        .expect("valid");
        for (presented, fetched) in [
            (
                "https://app.example/request.jwt",
                Some("https://app.example/request.jwt"),
            ),
            (
                "https://app.example/request.jwt#h4sh",
                Some("https://app.example/request.jwt"),
            ),
            (
                "https://app.example/requests/r-123.jwt",
                Some("https://app.example/requests/r-123.jwt"),
            ),
            (
                "https://app.example/requests/",
                Some("https://app.example/requests/"),
            ),
            ("https://app.example/requests/../admin", None),
            ("https://app.example/requests/a/b", None),
            ("https://app.example/requests/a?x=1", None),
            ("https://app.example/requests/%2e%2e", None),
            ("https://app.example/request.jwt?x", None),
            ("https://app.example/REQUEST.jwt", None),
        ] {
            assert_eq!(
                client.registered_request_uri(presented),
                fetched,
                "{presented}"
            );
        }
        let without_keys = ClientRegistration {
            request_uris: vec!["https://app.example/request.jwt".into()],
            ..registration()
        }
        .into_client(Some(SecretHash::of("s")), 3600, 0);
        assert_eq!(
            without_keys.err(),
            Some(ClientError::RequestObjectsWithoutKeys),
            "nothing could verify the objects"
        );
    }

    #[test]
    fn confidential_secret_must_match_and_public_must_have_none() {
        let hash = SecretHash::of("s3cret");
        let client = registration()
            .into_client(Some(hash), 3600, 0)
            .expect("valid");
        assert!(client.secret_is_valid(Some("s3cret")));
        assert!(!client.secret_is_valid(Some("wrong")));
        assert!(!client.secret_is_valid(None));
        let public = ClientRegistration {
            kind: ClientKind::Public,
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            ..registration()
        }
        .into_client(None, 3600, 0)
        .expect("valid");
        assert!(public.secret_is_valid(None));
        assert!(!public.secret_is_valid(Some("anything")));
    }

    #[test]
    fn registration_rules() {
        let refuse = |registration: ClientRegistration| {
            let secret =
                (registration.kind == ClientKind::Confidential).then(|| SecretHash::of("s"));
            registration.into_client(secret, 3600, 0).err()
        };
        assert_eq!(
            registration().into_client(None, 3600, 0).err(),
            Some(ClientError::NoCredentials),
            "a confidential client without a secret needs keys"
        );
        for (uri, reason) in [
            ("https://rp.example/logout#x", "must not contain a fragment"),
            (
                "http://rp.example/logout",
                "must be https (plain http only for loopback addresses)",
            ),
            ("logout", "must be an absolute URL"),
        ] {
            assert_eq!(
                refuse(ClientRegistration {
                    backchannel_logout_uri: Some(uri.into()),
                    ..registration()
                }),
                Some(ClientError::InvalidBackchannelLogoutUri(uri.into(), reason))
            );
        }
        assert_eq!(
            refuse(ClientRegistration {
                id: "a b".into(),
                ..registration()
            }),
            Some(ClientError::InvalidId)
        );
        assert_eq!(
            refuse(ClientRegistration {
                grant_types: vec![],
                ..registration()
            }),
            Some(ClientError::NoGrantTypes)
        );
        assert_eq!(
            refuse(ClientRegistration {
                kind: ClientKind::Public,
                ..registration()
            }),
            Some(ClientError::PublicClientCredentials)
        );
        assert_eq!(
            refuse(ClientRegistration {
                grant_types: vec![GrantType::AuthorizationCode],
                ..registration()
            }),
            Some(ClientError::MissingRedirectUri)
        );
        assert_eq!(
            refuse(ClientRegistration {
                access_token_lifetime_secs: Some(3601),
                ..registration()
            }),
            Some(ClientError::InvalidLifetime(3600))
        );
        assert!(matches!(
            refuse(ClientRegistration {
                scopes: vec!["a b".into()],
                ..registration()
            }),
            Some(ClientError::InvalidScope(_))
        ));
        assert!(matches!(
            refuse(ClientRegistration {
                audiences: vec!["".into()],
                ..registration()
            }),
            Some(ClientError::InvalidAudience(_))
        ));
    }

    #[test]
    fn redirect_uris() {
        for good in [
            "https://app.example/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "com.example.app:/cb",
        ] {
            assert_eq!(validate_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "/relative",
            "https://app.example/cb#frag",
            "http://app.example/cb",
            "http://127.0.0.1.evil/cb",
            "",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
