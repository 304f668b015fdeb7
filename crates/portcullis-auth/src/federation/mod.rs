//! Signing in through upstream identity providers ("Sign in with …"): the configured providers
//! ([`Upstreams`]), a round trip in progress ([`flow`]), and the callback's checks
//! ([`answer`]): the provider's answer becomes an upstream profile, which the service's
//! [`portcullis_service::federation::Federation`] resolves to a local account.

pub(crate) mod answer;
pub(crate) mod assertion;
pub(crate) mod flow;
pub(crate) mod logout;
pub mod settings;
mod upstreams;

pub use settings::FederationSettings;
pub use upstreams::{Upstream, Upstreams};

/// Where a sign-in at provider `id` starts.
pub fn start_path(id: &str) -> String {
    format!("/federation/{id}/start")
}

/// Where provider `id` sends the browser back after signing out there.
pub fn signed_out_path(id: &str) -> String {
    format!("/federation/{id}/signed-out")
}

/// Where provider `id` sends the browser back (one redirect URI per provider, so a callback
/// names the provider that issued it: RFC 9207 §3, the defence against mix-up).
pub fn callback_path(id: &str) -> String {
    format!("/federation/{id}/callback")
}
