//! Requests the auth server makes to URLs that clients registered (`jwks_uri`,
//! `backchannel_logout_uri`, `request_uris`) or name (a Client ID Metadata Document), and to
//! upstream providers added through the admin API (their HTTP client and URL checks), guarded
//! against server-side request forgery: https only, every address the name resolves to must be
//! public (checked at connection time, so a DNS answer that
//! changes between check and use cannot slip through), no redirects, short timeouts, and bounded
//! answers. `outbound_private_networks` lifts the address and scheme rules for a stack on one
//! machine.

use crate::media_type::media_type;
use portcullis_core::client_id_document::MAX_DOCUMENT_BYTES;
use portcullis_core::network_address::is_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long one outgoing request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long fetching a document a request names (a client metadata document, a request object
/// by reference) may take.
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why an outgoing request was not made or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The URL is refused (scheme, or an address that is not public).
    #[error("refused URL: {0}")]
    Refused(&'static str),
    /// The request failed (connection, timeout, status) or the answer was too large.
    #[error("{0}")]
    Failed(String),
}

/// An HTTP client for client-registered URLs.
#[derive(Debug, Clone)]
pub struct OutboundHttp {
    client: reqwest::Client,
    allow_private: bool,
}

/// Resolves names, keeping only public addresses.
#[derive(Debug)]
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("`{host}` has no public address").into());
            }
            let addresses: Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

/// An HTTP client builder with the guard: no proxy, no redirects, a connect timeout, and unless
/// `allow_private`, https only and names resolved to public addresses only. Addresses written
/// in URLs are never resolved: callers check each URL with [`check_url`] too.
pub(crate) fn guarded_client_builder(allow_private: bool) -> reqwest::ClientBuilder {
    // No proxy from the environment: a proxy would resolve names itself, past the guard.
    let builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT);
    if allow_private {
        builder
    } else {
        builder
            .https_only(true)
            .dns_resolver(Arc::new(PublicOnlyResolver))
    }
}

/// Refuses a URL a guarded request must not go to: another scheme than https (http too when
/// `allow_private`), or a non-public address written in it (names are checked when resolved).
///
/// # Errors
/// [`OutboundError::Refused`].
pub(crate) fn check_url(url: &reqwest::Url, allow_private: bool) -> Result<(), OutboundError> {
    if allow_private {
        return match url.scheme() {
            "https" | "http" => Ok(()),
            _ => Err(OutboundError::Refused("only http(s) URLs")),
        };
    }
    if url.scheme() != "https" {
        return Err(OutboundError::Refused("only https URLs"));
    }
    let host = url.host_str().ok_or(OutboundError::Refused("no host"))?;
    let literal = portcullis_core::network_address::literal_address(host);
    if literal.is_some_and(|address| !is_public(address)) {
        return Err(OutboundError::Refused("not a public address"));
    }
    Ok(())
}

/// [`check_url`] for a URL still in text: the parsed URL when it may be requested.
///
/// # Errors
/// [`OutboundError::Refused`], also for text that is not a URL.
pub(crate) fn check_url_text(
    url: &str,
    allow_private: bool,
) -> Result<reqwest::Url, OutboundError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| OutboundError::Refused("not a URL"))?;
    check_url(&parsed, allow_private)?;
    Ok(parsed)
}

impl OutboundHttp {
    /// A client; `allow_private` lets requests reach loopback and private addresses over plain
    /// http too.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (its TLS backend cannot be initialised).
    pub fn new(allow_private: bool) -> Result<Self, OutboundError> {
        Ok(OutboundHttp {
            client: guarded_client_builder(allow_private)
                .timeout(REQUEST_TIMEOUT)
                .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|error| OutboundError::Failed(error.to_string()))?,
            allow_private,
        })
    }

    /// `GET url`, expecting 200 and at most `max_bytes` of body.
    ///
    /// # Errors
    /// [`OutboundError`].
    pub async fn get(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, OutboundError> {
        let (body, _) = self
            .get_limited(url, "application/json", max_bytes, REQUEST_TIMEOUT)
            .await?;
        Ok(body)
    }

    /// RFC 9101 §5.2.3: the request object at `url`, served as `application/oauth-authz-req+jwt`
    /// (or `application/jwt`), at most [`portcullis_jose::MAX_TOKEN_LENGTH`] bytes.
    ///
    /// # Errors
    /// [`OutboundError`], also for another type or a body that is not text.
    pub async fn get_request_object(&self, url: &str) -> Result<String, OutboundError> {
        let (body, headers) = self
            .get_limited(
                url,
                "application/oauth-authz-req+jwt",
                portcullis_jose::MAX_TOKEN_LENGTH,
                DOCUMENT_TIMEOUT,
            )
            .await?;
        let media_type = media_type(&headers);
        if !matches!(
            media_type.as_str(),
            "application/oauth-authz-req+jwt" | "application/jwt"
        ) {
            return Err(OutboundError::Failed(
                "answered with a type other than application/oauth-authz-req+jwt".to_owned(),
            ));
        }
        String::from_utf8(body)
            .map(|text| text.trim().to_owned())
            .map_err(|_| OutboundError::Failed("answered with a body that is not text".to_owned()))
    }

    /// `GET url` accepting `accept` within `timeout`, expecting 200 and at most `max_bytes` of
    /// body; the body and the answer's headers.
    async fn get_limited(
        &self,
        url: &str,
        accept: &'static str,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap), OutboundError> {
        let url = check_url_text(url, self.allow_private)?;
        let response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, accept)
            .timeout(timeout)
            .send()
            .await
            .map_err(failed)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(OutboundError::Failed(format!(
                "answered {}",
                response.status()
            )));
        }
        let headers = response.headers().clone();
        let body = portcullis_sdk::client::read_limited(response, max_bytes)
            .await
            .map_err(OutboundError::Failed)?;
        Ok((body, headers))
    }

    /// `POST url` with a form body; the answer's status.
    ///
    /// # Errors
    /// [`OutboundError`].
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<reqwest::StatusCode, OutboundError> {
        let url = check_url_text(url, self.allow_private)?;
        let response = self
            .client
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(failed)?;
        Ok(response.status())
    }
}

#[async_trait::async_trait]
impl portcullis_service::LogoutSender for OutboundHttp {
    /// Back-Channel Logout 1.0 §2.5: `POST` with the form member `logout_token`; 200 (or any
    /// 2xx, as 204 is common) means the client took it.
    async fn send(&self, uri: &str, logout_token: &str) -> Result<(), String> {
        let status = self
            .post_form(uri, &[("logout_token", logout_token)])
            .await
            .map_err(|error| error.to_string())?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

#[async_trait::async_trait]
impl portcullis_service::client_directory::ClientDocumentFetcher for OutboundHttp {
    /// draft-ietf-oauth-client-id-metadata-document-02 §4, §5 and §8.7: 200 only, no
    /// redirects, JSON (`application/json` or `application/<name>+json`), at most 5 KB.
    async fn fetch(
        &self,
        url: &str,
    ) -> Result<portcullis_service::client_directory::FetchedDocument, String> {
        let (body, headers) = self
            .get_limited(
                url,
                "application/json",
                MAX_DOCUMENT_BYTES,
                DOCUMENT_TIMEOUT,
            )
            .await
            .map_err(|error| error.to_string())?;
        let header = |name: reqwest::header::HeaderName| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let media_type = media_type(&headers);
        let json = media_type == "application/json"
            || media_type
                .strip_prefix("application/")
                .is_some_and(|subtype| subtype.ends_with("+json"));
        if !json {
            return Err("answered with a type other than JSON".to_owned());
        }
        Ok(portcullis_service::client_directory::FetchedDocument {
            body,
            cache_control: header(reqwest::header::CACHE_CONTROL),
        })
    }
}

/// The error with its causes (the URL left out: it may carry a query the client registered).
fn failed(error: reqwest::Error) -> OutboundError {
    OutboundError::Failed(portcullis_sdk::client::transport_error(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_and_plain_http_urls_are_refused_unless_allowed() {
        let guarded = OutboundHttp::new(false).expect("client");
        for url in [
            "http://example.com/jwks",
            "https://127.0.0.1/jwks",
            "https://[::1]/jwks",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/jwks",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(guarded.get(url, 1024).await, Err(OutboundError::Refused(_))),
                "{url}"
            );
        }
        let error = guarded
            .get("https://localhost:1/jwks", 1024)
            .await
            .expect_err("localhost resolves to loopback only");
        assert!(
            matches!(&error, OutboundError::Failed(message) if message.contains("no public address")),
            "{error:?}"
        );
        let open = OutboundHttp::new(true).expect("client");
        assert!(matches!(
            open.get("file:///etc/passwd", 1024).await,
            Err(OutboundError::Refused(_))
        ));
    }
}
