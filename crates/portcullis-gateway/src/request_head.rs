//! A request's head moved out of the connection's read buffer (HTTP/1).
//!
//! hyper parses an HTTP/1 request without copying: its target and header values are slices of the
//! connection's 8 KB read buffer. While the request is in flight, those slices keep that buffer
//! alive, and the connection allocates a new one to read on; with 10,000 busy connections that is
//! 80 MB held twice. Copying the few hundred bytes of the head into one allocation of their own
//! lets the connection reuse its buffer.

use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, Request, Uri};
use bytes::BytesMut;

/// `request` with its target and header values copied into one allocation of their own, so it no
/// longer holds the buffer it was parsed from. A part that cannot be copied (never, for what
/// hyper parsed) keeps its original.
pub fn detach<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map(PathAndQuery::as_str);
    let values: usize = parts.headers.values().map(HeaderValue::len).sum();
    let mut copied = BytesMut::with_capacity(values + target.map_or(0, str::len));
    for value in parts.headers.values() {
        copied.extend_from_slice(value.as_bytes());
    }
    if let Some(target) = target {
        copied.extend_from_slice(target.as_bytes());
    }
    let copied = copied.freeze();
    let mut offset = 0;
    for value in parts.headers.values_mut() {
        let end = offset + value.len();
        if let Ok(mut copy) = HeaderValue::from_maybe_shared(copied.slice(offset..end)) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
        offset = end;
    }
    if target.is_some()
        && let Ok(path_and_query) = PathAndQuery::from_maybe_shared(copied.slice(offset..))
    {
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        uri.path_and_query = Some(path_and_query);
        // An absolute-form target's authority (a proxy's request) stays a slice: rare, and
        // never sent by browsers or API clients to an origin.
        if let Ok(rebuilt) = Uri::from_parts(uri) {
            parts.uri = rebuilt;
        }
    }
    Request::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn a_detached_head_is_the_same_and_holds_nothing_of_the_read_buffer() {
        // As hyper leaves them: the target and values are slices of the connection's buffer.
        let buffer = Bytes::from(b"/api/orders?page=2Bearer abc.def.ghiexample.com".to_vec());
        let mut request = Request::builder()
            .uri(Uri::from_maybe_shared(buffer.slice(0..18)).expect("uri"))
            .body(())
            .expect("request");
        let mut authorization =
            HeaderValue::from_maybe_shared(buffer.slice(18..36)).expect("value");
        authorization.set_sensitive(true);
        let headers = request.headers_mut();
        headers.insert("authorization", authorization);
        headers.append(
            "host",
            HeaderValue::from_maybe_shared(buffer.slice(36..)).expect("value"),
        );
        headers.append("x-many", HeaderValue::from_static("one"));
        headers.append("x-many", HeaderValue::from_static("two"));
        assert!(
            !buffer.is_unique(),
            "the request holds slices of the buffer"
        );

        let detached = detach(request);
        assert!(buffer.is_unique(), "nothing of the buffer is held any more");
        assert_eq!(detached.uri(), "/api/orders?page=2");
        assert_eq!(detached.uri().query(), Some("page=2"));
        let authorization = &detached.headers()["authorization"];
        assert_eq!(authorization, "Bearer abc.def.ghi");
        assert!(
            authorization.is_sensitive(),
            "sensitivity kept (never logged)"
        );
        assert_eq!(detached.headers()["host"], "example.com");
        let many: Vec<_> = detached.headers().get_all("x-many").iter().collect();
        assert_eq!(many, ["one", "two"]);
    }
}
