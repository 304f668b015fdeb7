//! `https://` upstreams: certificates verified against the configured CAs (a wrong CA and an
//! expired certificate fail with 502), a client certificate per route (mutual TLS) so a service
//! can tell the gateway from anyone else, and the issuer's keys fetched over TLS with the same
//! trust.

use super::support::{route, stack, tls_upstream};
use portcullis_gateway::config::RouteConfig;
use portcullis_testkit::TestOptions;
use portcullis_testkit::pki::TestPki;
use serde_json::Value;
use std::net::SocketAddr;

fn https_route(name: &str, upstream: SocketAddr) -> RouteConfig {
    let mut route = route(name, &format!("/{name}"), upstream);
    route.upstreams = vec![format!("https://127.0.0.1:{}", upstream.port())];
    route.auth = "public".into();
    route
}

#[tokio::test]
async fn https_upstreams_are_verified_and_can_tell_the_gateway_by_its_certificate() {
    let pki = TestPki::new("upstreams");
    let foreign_pki = TestPki::new("foreign");
    let clients = TestPki::new("gateway-clients");
    let gateway_identity = clients.client("portcullis-gateway");
    let valid = pki.server("upstream");
    let optional = tls_upstream(&valid, Some(&clients.ca_file), false).await;
    let mutual = tls_upstream(&valid, Some(&clients.ca_file), true).await;
    let expired = tls_upstream(&pki.expired_server("expired"), None, false).await;
    let foreign = tls_upstream(&foreign_pki.server("foreign"), None, false).await;
    let (ca_file, foreign_ca) = (pki.ca_file.clone(), foreign_pki.ca_file.clone());
    let options = TestOptions {
        tls: Some(pki.server("auth")),
        ..TestOptions::default()
    };
    let stack = stack(options, move |config, _| {
        config.ca_file = Some(ca_file);
        let mut by_name = https_route("by-name", optional);
        by_name.upstreams = vec![format!("https://localhost:{}", optional.port())];
        let mut identified = https_route("identified", mutual);
        identified.client_cert_file = Some(gateway_identity.cert_file.clone());
        identified.client_key_file = Some(gateway_identity.key_file.clone());
        let mut other_trust = https_route("other-trust", optional);
        other_trust.ca_file = Some(foreign_ca);
        config.routes.extend([
            https_route("optional", optional),
            by_name,
            identified,
            https_route("anonymous", mutual),
            https_route("expired", expired),
            https_route("foreign", foreign),
            other_trust,
        ]);
    })
    .await;
    assert!(stack.auth.base_url.starts_with("https://"));
    let echoed = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.expect("json")
    };
    let seen = echoed(stack.get("/optional/x", None).await).await;
    assert_eq!(
        (seen["path"].as_str(), seen["client_certificate"].as_bool()),
        (Some("/optional/x"), Some(false))
    );
    let seen = echoed(stack.get("/by-name/x", None).await).await;
    assert_eq!(seen["path"], "/by-name/x", "the name is verified too");
    let seen = echoed(stack.get("/identified/x", None).await).await;
    assert_eq!(
        seen["client_certificate"], true,
        "the gateway presented its certificate"
    );
    // Pooled connections are reused without a new handshake, and still verified ones.
    let seen = echoed(stack.get("/identified/y", None).await).await;
    assert_eq!(seen["path"], "/identified/y");
    for (path, why) in [
        ("/anonymous/x", "the upstream requires a client certificate"),
        ("/expired/x", "the upstream's certificate expired"),
        (
            "/foreign/x",
            "the upstream's certificate is from an untrusted CA",
        ),
        (
            "/other-trust/x",
            "the route trusts another CA than the upstream's",
        ),
    ] {
        let response = stack.get(path, None).await;
        assert_eq!(response.status(), 502, "{why}");
    }
    // The issuer's keys came over TLS with the gateway's CA: its tokens verify.
    let token = stack.token(None).await;
    assert_eq!(stack.get("/api/x", Some(&token)).await.status(), 200);

    // A gateway that does not trust the issuer's CA never loads its keys.
    let issuer = stack.auth.base_url.clone();
    let untrusting = portcullis_gateway::GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        issuers: vec![portcullis_gateway::config::IssuerConfig {
            issuer,
            jwt: true,
            introspection: None,
            jwks_url: None,
            jwks_file: None,
            audience: Some("api".into()),
            revocation_feed: None,
        }],
        routes: vec![route("api", "/api", stack.upstream)],
        ..portcullis_gateway::GatewayConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = portcullis_gateway::start(&untrusting, async move {
        let _ = stopped.await;
    })
    .await
    .expect("starts");
    let response = reqwest::Client::new()
        .get(format!("http://{}/api/x", gateway.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        503,
        "keys never loaded over an untrusted certificate"
    );
    let _ = stop.send(());
    gateway.finished().await.expect("stops");
    stack.stop().await;
}
