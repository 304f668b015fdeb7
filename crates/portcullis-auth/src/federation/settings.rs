//! The upstream identity providers of the configuration file, and whether the local password
//! form stays. Providers added through the admin API join them at run time ([`super::Upstreams`]).

use portcullis_core::federation::Provider;

/// Sign-in through upstream providers.
#[derive(Debug, Clone)]
pub struct FederationSettings {
    /// The providers of the configuration file, in the order of their buttons.
    pub providers: Vec<Provider>,
    /// Whether the sign-in page offers the local username and password form too.
    pub local_sign_in: bool,
}

impl Default for FederationSettings {
    fn default() -> Self {
        FederationSettings {
            providers: Vec::new(),
            local_sign_in: true,
        }
    }
}
