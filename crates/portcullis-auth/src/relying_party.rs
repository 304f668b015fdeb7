//! The WebAuthn relying party of this server: its id is the issuer's host and its origin the
//! issuer's (W3C WebAuthn §5.1.3, §13.4.9). WebAuthn accepts only domain names as relying party
//! ids, so an issuer on an IP address (`http://127.0.0.1:3000`) has no passkeys; `localhost` is a
//! domain, and a secure context even over http.

use crate::settings::AuthSettings;
use portcullis_service::RelyingParty;
use url::Url;

/// The relying party for `settings`' issuer, if its host is a domain name.
pub fn relying_party(settings: &AuthSettings) -> Option<RelyingParty> {
    let issuer = Url::parse(settings.issuer()).ok()?;
    let host = match issuer.host()? {
        url::Host::Domain(domain) => domain.to_owned(),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
    };
    let origin = Url::parse(&issuer.origin().ascii_serialization()).ok()?;
    RelyingParty::new(
        &host,
        &origin,
        &settings.sign_in.product_name,
        settings.sign_in.passkey_user_verification,
    )
}
