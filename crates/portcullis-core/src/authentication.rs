//! How a user authenticated: the methods used (`amr`, RFC 8176 values) and the assurance level
//! they reach (`acr`, OpenID Connect Core §2). Sessions, codes and refresh token families carry
//! the methods; tokens carry both, and `acr_values` on the authorization request (and a gateway
//! route) ask for a level.

use std::fmt;

/// One authentication method, written as its RFC 8176 §2 value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AuthMethod {
    /// `pwd`: a password.
    Password,
    /// `otp`: a one-time code (a TOTP app, or a single-use recovery code).
    OneTimeCode,
    /// `hwk`: proof of possession of a hardware-bound key (a security key, a device-bound passkey).
    HardwareKey,
    /// `swk`: proof of possession of a software key (a synced passkey).
    SoftwareKey,
    /// `user`: a user presence test (the authenticator checked a person was there).
    UserPresence,
    /// `pin`: the authenticator verified the user (PIN or biometric).
    UserVerification,
    /// `mfa`: more than one factor was used (RFC 8176 §2).
    MultiFactor,
    /// `fed`: an upstream identity provider authenticated the user (not in RFC 8176's registry;
    /// the value Microsoft Entra ID uses). It counts as one factor of its own, so a local second
    /// factor on top makes `mfa`.
    Federated,
}

impl AuthMethod {
    /// The RFC 8176 value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "pwd",
            AuthMethod::OneTimeCode => "otp",
            AuthMethod::HardwareKey => "hwk",
            AuthMethod::SoftwareKey => "swk",
            AuthMethod::UserPresence => "user",
            AuthMethod::UserVerification => "pin",
            AuthMethod::MultiFactor => "mfa",
            AuthMethod::Federated => "fed",
        }
    }

    /// The method an RFC 8176 value names, if Portcullis uses it.
    pub fn parse(value: &str) -> Option<AuthMethod> {
        [
            AuthMethod::Password,
            AuthMethod::OneTimeCode,
            AuthMethod::HardwareKey,
            AuthMethod::SoftwareKey,
            AuthMethod::UserPresence,
            AuthMethod::UserVerification,
            AuthMethod::MultiFactor,
            AuthMethod::Federated,
        ]
        .into_iter()
        .find(|method| method.as_str() == value)
    }

    /// The factor category the method proves (NIST SP 800-63B §5.1): something known, held or
    /// inherent; `None` for markers that prove nothing alone.
    fn factor(self) -> Option<Factor> {
        match self {
            AuthMethod::Password => Some(Factor::Knowledge),
            AuthMethod::OneTimeCode | AuthMethod::HardwareKey | AuthMethod::SoftwareKey => {
                Some(Factor::Possession)
            }
            // A verifying authenticator checked a PIN or biometric: knowledge or inherence, one
            // more factor beside the key.
            AuthMethod::UserVerification => Some(Factor::Verification),
            AuthMethod::Federated => Some(Factor::Upstream),
            AuthMethod::UserPresence | AuthMethod::MultiFactor => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Factor {
    Knowledge,
    Possession,
    Verification,
    Upstream,
}

/// The methods of one authentication, in a fixed order, with `mfa` added whenever they span more
/// than one factor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthMethods(Vec<AuthMethod>);

impl AuthMethods {
    /// The methods `methods` prove together.
    pub fn of(methods: &[AuthMethod]) -> AuthMethods {
        let mut proven: Vec<AuthMethod> = methods
            .iter()
            .copied()
            .filter(|method| *method != AuthMethod::MultiFactor)
            .collect();
        proven.sort();
        proven.dedup();
        let factors: Vec<Factor> = proven.iter().filter_map(|m| m.factor()).collect();
        let distinct = [
            Factor::Knowledge,
            Factor::Possession,
            Factor::Verification,
            Factor::Upstream,
        ]
        .into_iter()
        .filter(|factor| factors.contains(factor))
        .count();
        if distinct > 1 {
            proven.push(AuthMethod::MultiFactor);
        }
        AuthMethods(proven)
    }

    /// A sign-in at an upstream identity provider alone.
    pub fn federated() -> AuthMethods {
        AuthMethods::of(&[AuthMethod::Federated])
    }

    /// A password alone: what every session was before factors existed.
    pub fn password() -> AuthMethods {
        AuthMethods::of(&[AuthMethod::Password])
    }

    /// Adds `more` (a second factor after the first).
    pub fn with(&self, more: &[AuthMethod]) -> AuthMethods {
        let mut all = self.0.clone();
        all.extend_from_slice(more);
        AuthMethods::of(&all)
    }

    /// Reads a space-separated list as stored; unknown values are dropped, and an empty list
    /// reads as a password (rows written before this field existed).
    pub fn parse(stored: &str) -> AuthMethods {
        let methods: Vec<AuthMethod> = stored.split(' ').filter_map(AuthMethod::parse).collect();
        if methods.is_empty() {
            AuthMethods::password()
        } else {
            AuthMethods::of(&methods)
        }
    }

    /// The `amr` claim's values.
    pub fn values(&self) -> Vec<&'static str> {
        self.0.iter().map(|method| method.as_str()).collect()
    }

    /// Whether `method` was used (or, for `mfa`, reached).
    pub fn contains(&self, method: AuthMethod) -> bool {
        self.0.contains(&method)
    }

    /// The assurance level these methods reach.
    pub fn acr(&self) -> Acr {
        if self.contains(AuthMethod::MultiFactor) {
            Acr::MultiFactor
        } else {
            Acr::OneFactor
        }
    }
}

impl fmt::Display for AuthMethods {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.values().join(" "))
    }
}

/// An authentication context class (the `acr` claim), ordered from weakest to strongest. The
/// values follow NIST SP 800-63B's authenticator assurance levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Acr {
    /// One factor (a password).
    OneFactor,
    /// Two factors (a password and a one-time code or a security key).
    MultiFactor,
}

impl Acr {
    /// Every class, weakest first: what discovery lists as `acr_values_supported`.
    pub const ALL: [Acr; 2] = [Acr::OneFactor, Acr::MultiFactor];

    /// The `acr` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Acr::OneFactor => "urn:portcullis:acr:aal1",
            Acr::MultiFactor => "urn:portcullis:acr:aal2",
        }
    }

    /// The class an `acr` value names, if Portcullis knows it.
    pub fn parse(value: &str) -> Option<Acr> {
        Acr::ALL.into_iter().find(|acr| acr.as_str() == value)
    }

    /// The weakest class a space-separated `acr_values` list accepts. OpenID Connect Core
    /// §3.1.2.1 lists acceptable values in order of preference, so any of them will do; values
    /// Portcullis does not know are skipped (the request is voluntary, §5.5.1.1), and a list of
    /// only unknown values asks for nothing.
    pub fn weakest_requested(acr_values: &str) -> Option<Acr> {
        acr_values.split(' ').filter_map(Acr::parse).min()
    }
}

/// When a second factor is required: for everyone, for users with given roles, by a client
/// (its `require_mfa`), or by the request (`acr_values`). Otherwise it is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    /// Every user must use a second factor.
    pub everyone: bool,
    /// Users with any of these roles must use a second factor.
    pub roles: Vec<String>,
}

impl MfaPolicy {
    /// The level a sign-in of a user with `roles` must reach, for a client that does or does
    /// not require a second factor, and a request asking for `requested` (its `acr_values`).
    pub fn required_acr(
        &self,
        roles: &[String],
        client_requires_mfa: bool,
        requested: Option<Acr>,
    ) -> Acr {
        let by_policy = self.everyone || roles.iter().any(|role| self.roles.contains(role));
        let floor = if by_policy || client_requires_mfa {
            Acr::MultiFactor
        } else {
            Acr::OneFactor
        };
        requested.map_or(floor, |requested| requested.max(floor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_sign_in_is_one_factor_and_a_local_second_factor_makes_mfa() {
        let federated = AuthMethods::federated();
        assert_eq!(federated.values(), ["fed"]);
        assert_eq!(federated.acr(), Acr::OneFactor);
        let stronger = federated.with(&[AuthMethod::OneTimeCode]);
        assert_eq!(stronger.values(), ["otp", "fed", "mfa"]);
        assert_eq!(stronger.acr(), Acr::MultiFactor);
        assert_eq!(AuthMethods::parse("fed"), federated, "stored and read back");
    }

    #[test]
    fn mfa_is_required_by_policy_role_client_or_request() {
        let roles = |names: &[&str]| -> Vec<String> {
            names.iter().map(|name| (*name).to_owned()).collect()
        };
        let optional = MfaPolicy::default();
        assert_eq!(
            optional.required_acr(&roles(&["admin"]), false, None),
            Acr::OneFactor
        );
        assert_eq!(optional.required_acr(&[], true, None), Acr::MultiFactor);
        assert_eq!(
            optional.required_acr(&[], false, Some(Acr::MultiFactor)),
            Acr::MultiFactor
        );
        let admins = MfaPolicy {
            everyone: false,
            roles: roles(&["admin"]),
        };
        assert_eq!(
            admins.required_acr(&roles(&["admin"]), false, None),
            Acr::MultiFactor
        );
        assert_eq!(
            admins.required_acr(&roles(&["viewer"]), false, None),
            Acr::OneFactor
        );
        // A request cannot lower what the policy requires.
        assert_eq!(
            admins.required_acr(&roles(&["admin"]), false, Some(Acr::OneFactor)),
            Acr::MultiFactor
        );
        let everyone = MfaPolicy {
            everyone: true,
            roles: vec![],
        };
        assert_eq!(everyone.required_acr(&[], false, None), Acr::MultiFactor);
    }

    #[test]
    fn mfa_needs_two_kinds_of_factor() {
        assert_eq!(AuthMethods::password().values(), ["pwd"]);
        let two = AuthMethods::password().with(&[AuthMethod::OneTimeCode]);
        assert_eq!(two.values(), ["pwd", "otp", "mfa"]);
        assert_eq!(two.acr(), Acr::MultiFactor);
        // Two things held are still one factor.
        let held = AuthMethods::of(&[AuthMethod::OneTimeCode, AuthMethod::HardwareKey]);
        assert!(!held.contains(AuthMethod::MultiFactor));
        assert_eq!(held.acr(), Acr::OneFactor);
        // A key whose authenticator verified the user is two factors.
        let passkey = AuthMethods::of(&[
            AuthMethod::HardwareKey,
            AuthMethod::UserPresence,
            AuthMethod::UserVerification,
        ]);
        assert_eq!(passkey.values(), ["hwk", "user", "pin", "mfa"]);
        // `mfa` cannot be claimed, only reached.
        assert_eq!(
            AuthMethods::of(&[AuthMethod::Password, AuthMethod::MultiFactor]).acr(),
            Acr::OneFactor
        );
    }

    #[test]
    fn stored_lists_round_trip_and_old_rows_read_as_a_password() {
        let two = AuthMethods::password().with(&[AuthMethod::OneTimeCode]);
        assert_eq!(AuthMethods::parse(&two.to_string()), two);
        assert_eq!(AuthMethods::parse(""), AuthMethods::password());
        assert_eq!(AuthMethods::parse("pwd bogus"), AuthMethods::password());
    }

    #[test]
    fn acr_values_accept_the_weakest_known_value() {
        let aal1 = Acr::OneFactor.as_str();
        let aal2 = Acr::MultiFactor.as_str();
        assert_eq!(
            Acr::weakest_requested(&format!("{aal2} {aal1}")),
            Some(Acr::OneFactor)
        );
        assert_eq!(
            Acr::weakest_requested(&format!("gold {aal2}")),
            Some(Acr::MultiFactor)
        );
        assert_eq!(Acr::weakest_requested("gold silver"), None);
        assert!(Acr::MultiFactor > Acr::OneFactor);
    }
}
