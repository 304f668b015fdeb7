//! Protected resource metadata (RFC 9728) and resource indicators (RFC 8707) at the edge: a route
//! naming its resource identifier serves its metadata document, points to it from every 401, and
//! takes only tokens issued for that resource; a token for the resource passes no other route.

use super::support::{challenge, route, service_client, stack};
use portcullis_gateway::config::GatewayConfig;
use portcullis_testkit::TestOptions;
use serde_json::Value;

const RESOURCE: &str = "https://api.example.com/mcp";
const METADATA: &str = "/.well-known/oauth-protected-resource/mcp";

#[tokio::test]
async fn a_resource_route_serves_its_metadata_and_takes_only_tokens_for_it() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut mcp = route("mcp", "/mcp", upstream);
        mcp.resource = Some(RESOURCE.into());
        mcp.scopes_any = vec!["read".into()];
        mcp.resource_scopes = vec!["offline_access".into(), "read".into()];
        // A group: another route under the same identifier shares its document.
        let mut tools = route("mcp-admin", "/mcp/admin", upstream);
        tools.resource = Some(RESOURCE.into());
        tools.scopes_all = vec!["read".into(), "write".into()];
        config.routes.extend([mcp, tools]);
    })
    .await;

    // The document (RFC 9728 §2, §3.2), its resource the very identifier (§3.3).
    let response = stack.get(METADATA, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let metadata: Value = response.json().await.expect("json");
    assert_eq!(metadata["resource"], RESOURCE);
    assert_eq!(
        metadata["authorization_servers"],
        serde_json::json!([stack.auth.base_url])
    );
    assert_eq!(
        metadata["scopes_supported"],
        serde_json::json!(["read", "offline_access", "write"]),
        "required and offered scopes, each once"
    );
    assert_eq!(
        metadata["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert!(metadata.get("dpop_bound_access_tokens_required").is_none());
    let post = reqwest::Client::new()
        .post(format!("{}{METADATA}", stack.base))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD, OPTIONS");
    // A browser-based client's preflight is answered (the document is public).
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}{METADATA}", stack.base),
        )
        .header("origin", "https://client.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    // No document for a path no resource names.
    assert_eq!(
        stack
            .get("/.well-known/oauth-protected-resource/api", None)
            .await
            .status(),
        404
    );

    // §5.1: the 401 names the document.
    let pointer =
        "resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\"";
    for path in ["/mcp/tools", "/mcp/admin/x"] {
        let anonymous = stack.get(path, None).await;
        assert_eq!(anonymous.status(), 401);
        assert_eq!(
            challenge(&anonymous),
            format!("Bearer realm=\"portcullis\", {pointer}")
        );
    }
    // A token for the gateway's own audience is not one for the resource.
    let for_api = stack.token(Some("read")).await;
    let refused = stack.get("/mcp/tools", Some(&for_api)).await;
    assert_eq!(refused.status(), 401);
    let refused_challenge = challenge(&refused);
    assert!(
        refused_challenge.contains("error=\"invalid_token\"")
            && refused_challenge.ends_with(pointer),
        "{refused_challenge}"
    );
    assert_eq!(stack.get("/api/x", Some(&for_api)).await.status(), 200);
    // Other routes' challenges do not name the resource's document.
    assert!(!challenge(&stack.get("/api/x", None).await).contains("resource_metadata"));

    // A client allowed the resource asks for it (RFC 8707 §2.2): its token has that audience
    // alone, passes the resource's route, and no other.
    let mut agent = service_client("agent", &["read"]);
    agent.audiences = vec!["api".into(), RESOURCE.into()];
    let (_, secret) = stack.auth.add_client(agent).await;
    let issued: Value = stack
        .http
        .post(stack.auth.url("/token"))
        .basic_auth("agent", secret.as_deref())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("resource", RESOURCE),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let for_mcp = issued["access_token"].as_str().expect("token");
    assert_eq!(stack.get("/mcp/tools", Some(for_mcp)).await.status(), 200);
    let elsewhere = stack.get("/api/x", Some(for_mcp)).await;
    assert_eq!(elsewhere.status(), 401);
    assert!(challenge(&elsewhere).contains("error=\"invalid_token\""));
    stack.stop().await;
}

#[tokio::test]
async fn bad_resource_routes_refuse_to_start() {
    let upstream: std::net::SocketAddr = "127.0.0.1:9".parse().expect("address");
    let with = |resource: &str| {
        let mut mcp = route("mcp", "/mcp", upstream);
        mcp.resource = Some(resource.into());
        mcp
    };
    let mut other_audience = with(RESOURCE);
    other_audience.audience = Some("api".into());
    let mut on_another_host = with(RESOURCE);
    on_another_host.host = Some("other.example.com".into());
    // Two hosts' routes whose resources share a path: their metadata would share one.
    let mut twin = with("https://other.example.com/mcp");
    twin.name = "twin".into();
    twin.host = Some("other.example.com".into());
    let cases = [
        (vec![with("urn:example:mcp")], "must be an http(s) URL"),
        (
            vec![with("https://api.example.com/mcp?x=1")],
            "must be an http(s) URL",
        ),
        (vec![with(RESOURCE).public()], "a public route cannot"),
        (vec![other_audience], "audience or resource, not both"),
        (
            vec![with("https://api.example.com/other")],
            "a parent of it",
        ),
        (
            vec![with("https://api.example.com/mcp/v1")],
            "a parent of it",
        ),
        (vec![on_another_host], "on the route's host"),
        (vec![with(RESOURCE), twin], "has its metadata where"),
    ];
    for (routes, expected) in cases {
        let config = GatewayConfig {
            routes,
            ..Default::default()
        };
        let error = portcullis_gateway::start(&config, async {})
            .await
            .err()
            .expect("refused");
        assert!(error.to_string().contains(expected), "{expected}: {error}");
    }
}
