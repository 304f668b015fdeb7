//! The admin API's OpenAPI 3.1 document: the committed copy (`docs/admin-api.openapi.json`) is
//! what the code generates, and every documented operation is routed on the admin listener.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use portcullis_testkit::TestAuthServer;
use tower::ServiceExt;

const COMMITTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/admin-api.openapi.json"
);

#[test]
fn the_committed_document_is_what_the_code_generates() {
    let generated = portcullis_auth::admin_api::openapi()
        .to_pretty_json()
        .expect("serializable")
        + "\n";
    if std::env::var_os("PORTCULLIS_BLESS").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write the document");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/admin-api.openapi.json is out of date; regenerate it with \
         PORTCULLIS_BLESS=1 cargo test -p portcullis-auth --test admin_openapi"
    );
    let document: serde_json::Value = serde_json::from_str(&generated).expect("JSON");
    assert_eq!(document["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_needs_a_token() {
    let server = TestAuthServer::start().await;
    let document = portcullis_auth::admin_api::openapi();
    let mut operations = 0;
    for (path, item) in &document.paths.paths {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, operation) in [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ] {
            if operation.is_none() {
                continue;
            }
            operations += 1;
            let request = Request::builder()
                .method(method.clone())
                .uri(&concrete)
                .body(Body::empty())
                .expect("request");
            let response = portcullis_auth::admin_api::router(server.state.clone())
                .oneshot(request)
                .await
                .expect("infallible");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {concrete} is documented, so it must be routed and need a token"
            );
        }
    }
    assert!(operations >= 17, "{operations} operations documented");
    let served = portcullis_auth::admin_api::router(server.state.clone())
        .oneshot(
            Request::get(portcullis_auth::admin_api::OPENAPI_PATH)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(served.status(), StatusCode::OK);
    server.stop().await;
}
