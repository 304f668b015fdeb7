//! Reading what another server answered: its body bounded, its failures described with their
//! causes. Shared by the key sets fetched here, the SDK's relying party, the gateway's
//! introspection and the auth server's outbound requests.

/// The body of `response`, refused beyond `max_bytes`: the other server cannot make this one hold
/// an answer of any size.
///
/// # Errors
/// A transport failure, or a body larger than `max_bytes`.
pub async fn read_limited(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(format!("the answer is larger than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed request, described with its causes (a refused name, a TLS failure), without the URL
/// (which may carry a query the caller did not mean to log).
pub fn transport_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    message
}
