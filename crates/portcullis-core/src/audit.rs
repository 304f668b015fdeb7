//! Audit events: the security-relevant facts an operator must be able to reconstruct later.
//! They never carry secrets or whole tokens, only identifiers such as `jti`.

use serde::Serialize;

/// One audit event. Serialized as a JSON object with an `event` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    /// An access token was issued.
    TokenIssued {
        /// The grant type used.
        grant_type: String,
        /// The client the token was issued to.
        client_id: String,
        /// The token's subject.
        subject: String,
        /// The token's id.
        jti: String,
        /// The granted scope.
        scope: String,
        /// The token's audiences.
        audience: Vec<String>,
    },
    /// A client failed to authenticate at the token endpoint.
    ClientAuthenticationFailed {
        /// The client id presented, if any (it may not exist).
        client_id: Option<String>,
        /// Why authentication failed, in words safe to log.
        reason: String,
        /// The peer address of the request.
        remote_addr: Option<String>,
    },
    /// A token request was refused after the client authenticated.
    TokenRequestRefused {
        /// The authenticated client.
        client_id: String,
        /// The OAuth error code returned.
        error: String,
    },
    /// A pushed authorization request (RFC 9126) was refused after the client authenticated.
    PushedRequestRefused {
        /// The authenticated client.
        client_id: String,
        /// The OAuth error code returned.
        error: String,
    },
    /// A sign-in attempt through the page or `POST /login`.
    SignIn {
        /// The username presented.
        username: String,
        /// Whether it succeeded.
        success: bool,
        /// Why it failed (`unknown user`, `wrong password`, `user disabled`, `locked`).
        reason: Option<String>,
        /// The peer address.
        remote_addr: Option<String>,
    },
    /// A user consented to a client's scopes.
    ConsentGranted {
        /// The user.
        user_id: String,
        /// The client.
        client_id: String,
        /// The scope.
        scope: String,
    },
    /// A client registered itself (RFC 7591).
    ClientSelfRegistered {
        /// The new client.
        client_id: String,
        /// The peer address.
        remote_addr: String,
    },
    /// A self-registration (RFC 7591) or its management (RFC 7592) was refused.
    ClientRegistrationRefused {
        /// The client, for management requests.
        client_id: Option<String>,
        /// The error code returned.
        error: String,
        /// The peer address.
        remote_addr: String,
    },
    /// A self-registered client changed or deleted its registration (RFC 7592).
    ClientRegistrationManaged {
        /// The client.
        client_id: String,
        /// `update` or `delete`.
        action: String,
    },
    /// A client's metadata document was fetched and its copy stored (new or refreshed).
    ClientMetadataDocumentFetched {
        /// The client (the document's URL).
        client_id: String,
    },
    /// A client's metadata document could not be fetched or was refused.
    ClientMetadataDocumentRefused {
        /// The client (the document's URL).
        client_id: String,
        /// Why.
        reason: String,
    },
    /// A device authorization request (RFC 8628 §3.1) was refused after the client
    /// authenticated.
    DeviceAuthorizationRefused {
        /// The authenticated client.
        client_id: String,
        /// The OAuth error code returned.
        error: String,
    },
    /// A user approved or denied a device on the verification page (RFC 8628 §3.3).
    DeviceDecided {
        /// The user.
        user_id: String,
        /// The device's client.
        client_id: String,
        /// Approved (with this scope) or denied.
        approved: bool,
        /// The scope granted, when approved.
        scope: Option<String>,
    },
    /// A user code typed on the verification page matched no device waiting for one.
    DeviceCodeUnknown {
        /// The signed-in user who typed it.
        user_id: String,
        /// The peer address.
        remote_addr: String,
    },
    /// An authorization code was issued.
    CodeIssued {
        /// The client.
        client_id: String,
        /// The user.
        user_id: String,
        /// The session.
        sid: String,
    },
    /// A replayed authorization code or refresh token revoked what was issued from it.
    ReplayDetected {
        /// `authorization_code` or `refresh_token`.
        grant_type: String,
        /// The client presenting it.
        client_id: String,
        /// The user of the grant.
        user_id: String,
    },
    /// A token was revoked (RFC 7009).
    TokenRevoked {
        /// The client asking.
        client_id: String,
        /// `access_token` or `refresh_token`.
        token_type: String,
    },
    /// A client was told of a session's end (OpenID Connect Back-Channel Logout 1.0).
    BackchannelLogoutDelivered {
        /// The client told.
        client_id: String,
        /// The user.
        user_id: String,
        /// The session that ended.
        sid: String,
    },
    /// Telling a client of a session's end failed for good (refused, or every retry failed).
    BackchannelLogoutFailed {
        /// The client.
        client_id: String,
        /// The user.
        user_id: String,
        /// The session that ended.
        sid: String,
        /// The last failure.
        reason: String,
    },
    /// A session ended by logout.
    Logout {
        /// The user.
        user_id: String,
        /// The session.
        sid: String,
    },
    /// Someone asked for a password reset link for an account (sent to its email address).
    PasswordResetRequested {
        /// The account.
        user_id: String,
    },
    /// An account's password was reset through a link; its sessions and tokens ended.
    PasswordReset {
        /// The account.
        user_id: String,
        /// The peer address.
        remote_addr: Option<String>,
    },
    /// A signed-in user changed their own password (current one checked); everything of theirs ended.
    PasswordChanged {
        /// The account.
        user_id: String,
    },
    /// A user's second factors changed: an app set up or removed, recovery codes made anew.
    SecondFactorChanged {
        /// The account.
        user_id: String,
        /// `totp_enrolled`, `totp_removed` or `recovery_codes_regenerated`.
        change: String,
    },
    /// A recovery code was used to sign in (the user is told by email when there is one).
    RecoveryCodeUsed {
        /// The account.
        user_id: String,
        /// Codes left unused.
        remaining: u64,
    },
    /// A personal access token (or a service account's API key) was made or revoked.
    PersonalAccessTokenChanged {
        /// The owner: a user id or a client id.
        owner: String,
        /// The token's id (never the token).
        token_id: String,
        /// `created` or `revoked`.
        change: String,
        /// Its scope, when made.
        scope: Option<String>,
        /// Who did it: `owner`, or the administrator (as the admin log names them).
        by: String,
    },
    /// A user ended one of their own sessions from the account page.
    SessionEndedByUser {
        /// The account.
        user_id: String,
        /// The session ended.
        sid: String,
    },
    /// A sign-in through an upstream identity provider, or a change of a link to one: `action`
    /// is `signed_in`, `created` (a new account), `linked`, `unlinked` or `refused`.
    Federation {
        /// The provider's id.
        provider: String,
        /// The local account, when one was found.
        user_id: Option<String>,
        /// What happened.
        action: String,
        /// Why it was refused, or what proved a new link.
        reason: Option<String>,
        /// The peer address of the request.
        remote_addr: Option<String>,
    },
    /// A user withdrew an application's access from the account page.
    ConsentRevoked {
        /// The account.
        user_id: String,
        /// The application.
        client_id: String,
    },
    /// Someone asked to register through `/register`; the account exists once the address is
    /// confirmed (`user_registered`).
    RegistrationRequested {
        /// The username asked for.
        username: String,
        /// Whether an invitation was used.
        invited: bool,
        /// Whether an account already uses the address (its owner was told instead).
        address_in_use: bool,
        /// The peer address.
        remote_addr: Option<String>,
    },
    /// A registration's address was confirmed with its password: the account now exists.
    UserRegistered {
        /// The new account.
        user_id: String,
        /// Its username.
        username: String,
        /// The peer address.
        remote_addr: Option<String>,
    },
    /// A link to verify an address was sent (registration, a changed address, a refused sign-in).
    EmailVerificationSent {
        /// The account.
        user_id: String,
        /// Whether the address is a new one the account asked to change to.
        change: bool,
    },
    /// An account's address was verified through its link.
    EmailVerified {
        /// The account.
        user_id: String,
    },
    /// An account's address changed (verified through a link sent to the new address; the old
    /// address was told).
    EmailChanged {
        /// The account.
        user_id: String,
    },
    /// An administrator changed something (a user, client, key or session).
    AdminAction {
        /// Who: `cli:<operating-system user>`, or the subject and client of an admin token.
        actor: String,
        /// What, such as `user.create` or `client.rotate_secret`.
        action: String,
        /// The object: a username, client id, `sid` or `kid`.
        target: String,
    },
}

/// An audit event as stored: when, which kind, and the event as its JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the audit log; assigned by the store (0 before).
    pub id: i64,
    /// When it happened.
    pub at: crate::UnixSeconds,
    /// The `event` tag, such as `token_issued`.
    pub kind: String,
    /// The user (or, for a client's own token, the client) the event is about, if any.
    pub subject: Option<String>,
    /// The client involved, if any.
    pub client_id: Option<String>,
    /// The whole event as a JSON object.
    pub detail: String,
}

impl AuditEvent {
    /// The event as a record at `at`.
    ///
    /// # Errors
    /// Never in practice: every field serializes.
    pub fn to_record(&self, at: crate::UnixSeconds) -> Result<AuditRecord, serde_json::Error> {
        let detail = serde_json::to_string(self)?;
        // The tag is serialized first: `{"event":"<kind>",...`.
        let kind = detail
            .strip_prefix(r#"{"event":""#)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("unknown")
            .to_owned();
        Ok(AuditRecord {
            id: 0,
            at,
            kind,
            subject: self.subject().map(str::to_owned),
            client_id: self.client_id().map(str::to_owned),
            detail,
        })
    }

    /// The user (or token subject) the event is about, for searching the log.
    pub fn subject(&self) -> Option<&str> {
        match self {
            AuditEvent::TokenIssued { subject, .. } => Some(subject),
            AuditEvent::SignIn { username, .. }
            | AuditEvent::RegistrationRequested { username, .. } => Some(username),
            AuditEvent::ConsentGranted { user_id, .. }
            | AuditEvent::DeviceDecided { user_id, .. }
            | AuditEvent::DeviceCodeUnknown { user_id, .. }
            | AuditEvent::CodeIssued { user_id, .. }
            | AuditEvent::ReplayDetected { user_id, .. }
            | AuditEvent::Logout { user_id, .. }
            | AuditEvent::BackchannelLogoutDelivered { user_id, .. }
            | AuditEvent::BackchannelLogoutFailed { user_id, .. }
            | AuditEvent::PasswordResetRequested { user_id }
            | AuditEvent::PasswordReset { user_id, .. }
            | AuditEvent::PasswordChanged { user_id }
            | AuditEvent::UserRegistered { user_id, .. }
            | AuditEvent::EmailVerificationSent { user_id, .. }
            | AuditEvent::EmailVerified { user_id }
            | AuditEvent::EmailChanged { user_id }
            | AuditEvent::SessionEndedByUser { user_id, .. }
            | AuditEvent::SecondFactorChanged { user_id, .. }
            | AuditEvent::RecoveryCodeUsed { user_id, .. }
            | AuditEvent::ConsentRevoked { user_id, .. } => Some(user_id),
            AuditEvent::AdminAction { target, .. } => Some(target),
            AuditEvent::Federation { user_id, .. } => user_id.as_deref(),
            AuditEvent::PersonalAccessTokenChanged { owner, .. } => Some(owner),
            AuditEvent::ClientAuthenticationFailed { .. }
            | AuditEvent::TokenRequestRefused { .. }
            | AuditEvent::PushedRequestRefused { .. }
            | AuditEvent::DeviceAuthorizationRefused { .. }
            | AuditEvent::ClientSelfRegistered { .. }
            | AuditEvent::ClientRegistrationRefused { .. }
            | AuditEvent::ClientRegistrationManaged { .. }
            | AuditEvent::ClientMetadataDocumentFetched { .. }
            | AuditEvent::ClientMetadataDocumentRefused { .. }
            | AuditEvent::TokenRevoked { .. } => None,
        }
    }

    /// The client involved, for searching the log.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            AuditEvent::TokenIssued { client_id, .. }
            | AuditEvent::TokenRequestRefused { client_id, .. }
            | AuditEvent::PushedRequestRefused { client_id, .. }
            | AuditEvent::DeviceAuthorizationRefused { client_id, .. }
            | AuditEvent::ClientSelfRegistered { client_id, .. }
            | AuditEvent::ClientRegistrationManaged { client_id, .. }
            | AuditEvent::ClientMetadataDocumentFetched { client_id }
            | AuditEvent::ClientMetadataDocumentRefused { client_id, .. }
            | AuditEvent::ConsentGranted { client_id, .. }
            | AuditEvent::DeviceDecided { client_id, .. }
            | AuditEvent::CodeIssued { client_id, .. }
            | AuditEvent::ReplayDetected { client_id, .. }
            | AuditEvent::ConsentRevoked { client_id, .. }
            | AuditEvent::TokenRevoked { client_id, .. }
            | AuditEvent::BackchannelLogoutDelivered { client_id, .. }
            | AuditEvent::BackchannelLogoutFailed { client_id, .. } => Some(client_id),
            AuditEvent::ClientAuthenticationFailed { client_id, .. }
            | AuditEvent::ClientRegistrationRefused { client_id, .. } => client_id.as_deref(),
            AuditEvent::SignIn { .. }
            | AuditEvent::DeviceCodeUnknown { .. }
            | AuditEvent::Logout { .. }
            | AuditEvent::PasswordResetRequested { .. }
            | AuditEvent::PasswordReset { .. }
            | AuditEvent::PasswordChanged { .. }
            | AuditEvent::RegistrationRequested { .. }
            | AuditEvent::UserRegistered { .. }
            | AuditEvent::EmailVerificationSent { .. }
            | AuditEvent::EmailVerified { .. }
            | AuditEvent::EmailChanged { .. }
            | AuditEvent::SessionEndedByUser { .. }
            | AuditEvent::SecondFactorChanged { .. }
            | AuditEvent::RecoveryCodeUsed { .. }
            | AuditEvent::PersonalAccessTokenChanged { .. }
            | AuditEvent::Federation { .. }
            | AuditEvent::AdminAction { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuditEvent;

    #[test]
    fn records_keep_the_tag_first_and_name_the_kind() {
        let event = AuditEvent::Logout {
            user_id: "u1".into(),
            sid: "s1".into(),
        };
        let record = event.to_record(42).expect("record");
        assert_eq!(record.kind, "logout");
        assert_eq!(record.at, 42);
        assert!(
            record.detail.starts_with(r#"{"event":"logout","#),
            "{}",
            record.detail
        );
    }
}
