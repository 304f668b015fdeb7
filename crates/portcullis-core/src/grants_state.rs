//! The stored state of the Authorization Code and Refresh Token grants, and the revocation list.

use crate::{AuthMethods, UnixSeconds};

/// An issued authorization code. Only the hash of the code is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRecord {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The client it was issued to.
    pub client_id: String,
    /// The exact redirect URI of the request (RFC 6749 §4.1.3).
    pub redirect_uri: String,
    /// The S256 PKCE challenge, if the request had one.
    pub code_challenge: Option<String>,
    /// The OpenID Connect nonce, if any.
    pub nonce: Option<String>,
    /// Granted scope, space-delimited.
    pub scope: String,
    /// Audiences of the access token.
    pub audiences: Vec<String>,
    /// The user.
    pub user_id: String,
    /// The session the code was issued in.
    pub sid: String,
    /// When the user authenticated.
    pub auth_time: UnixSeconds,
    /// How the user authenticated.
    pub amr: AuthMethods,
    /// Expiry (at most 60 s after issue).
    pub expires_at: UnixSeconds,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First use: the code is now marked redeemed.
    Fresh(AuthorizationCodeRecord),
    /// Already redeemed before; the tokens issued from it must be revoked (RFC 6749 §4.1.2).
    Replayed {
        /// The code.
        record: AuthorizationCodeRecord,
        /// The refresh token family issued from it, if any.
        family_id: Option<String>,
        /// The access token issued from it.
        access_token: Option<IssuedAccessToken>,
    },
    /// No such code.
    Unknown,
}

/// A refresh token family: every token rotated from one grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenFamily {
    /// Family id.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// User.
    pub user_id: String,
    /// Session the grant came from.
    pub sid: String,
    /// Granted scope.
    pub scope: String,
    /// Access token audiences.
    pub audiences: Vec<String>,
    /// When the user authenticated.
    pub auth_time: UnixSeconds,
    /// How the user authenticated.
    pub amr: AuthMethods,
    /// Creation.
    pub created_at: UnixSeconds,
    /// Absolute end of the family.
    pub expires_at: UnixSeconds,
    /// When revoked, if it was.
    pub revoked_at: Option<UnixSeconds>,
    /// The DPoP key (its JWK thumbprint) every refresh must prove: set for a public client that
    /// proved one when the family began (RFC 9449 §5.0, §5.8).
    pub dpop_jkt: Option<String>,
}

/// An access token issued from a grant, by `jti`, with its expiry: what revoking the grant puts
/// on the revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccessToken {
    /// `jti`.
    pub jti: String,
    /// `exp`.
    pub expires_at: UnixSeconds,
}

/// A refresh token family as it was revoked, with every access token ever issued from it (each
/// rotation's, not only the newest), so all of them can be revoked with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedFamily {
    /// The family.
    pub family: RefreshTokenFamily,
    /// Its access tokens.
    pub access_tokens: Vec<IssuedAccessToken>,
}

/// One refresh token of a family. Only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Family.
    pub family_id: String,
    /// Creation.
    pub created_at: UnixSeconds,
    /// Sliding expiry, never past the family's.
    pub expires_at: UnixSeconds,
}

/// A stored refresh token with its state and family, for introspection and revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenLookup {
    /// The token.
    pub record: RefreshTokenRecord,
    /// When it was rotated away, if it was.
    pub used_at: Option<UnixSeconds>,
    /// Its family.
    pub family: RefreshTokenFamily,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current; it is now used and the new token stored.
    Rotated(RefreshTokenFamily),
    /// The token had been used already: the family is now revoked (RFC 9700 §4.14.2).
    Reused(RevokedFamily),
    /// Unknown, expired, or of a revoked family (also one revoked while this rotation waited).
    Invalid,
}

/// What a revocation entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationKind {
    /// One access token, by `jti`.
    TokenId,
    /// Every token of a session, by `sid`.
    Session,
    /// Every token of a subject, by `sub`.
    Subject,
}

impl RevocationKind {
    /// The wire name: `jti`, `sid` or `sub`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationKind::TokenId => "jti",
            RevocationKind::Session => "sid",
            RevocationKind::Subject => "sub",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "jti" => Some(RevocationKind::TokenId),
            "sid" => Some(RevocationKind::Session),
            "sub" => Some(RevocationKind::Subject),
            _ => None,
        }
    }
}

/// An entry of the revocation list, kept until tokens it matches would have expired anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationEntry {
    /// What is revoked.
    pub kind: RevocationKind,
    /// The jti, sid or sub.
    pub value: String,
    /// When the entry can be forgotten: the expiry of the last token it matches, plus the
    /// leeway verifiers allow past `exp`.
    pub expires_at: UnixSeconds,
}

/// A page of the revocation feed: entries in feed order, and the position to read after next; a
/// reader that resumes there misses nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationFeedPage {
    /// The entries.
    pub entries: Vec<RevocationEntry>,
    /// The position of the last entry, or the one asked after when there is none.
    pub next: i64,
}
