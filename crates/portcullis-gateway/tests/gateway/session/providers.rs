//! Session mode behind nginx `auth_request` (forward-auth), and with a third-party OpenID
//! provider as the issuer.

use super::*;

/// nginx's `auth_request` in front of a decide-only session route, as in `docs/forward-auth.md`:
/// a page load without a session is sent (401 + `Location`, turned into a 302 by the recipe)
/// to the gateway's login endpoint, which nginx routes to the public listener.
fn nginx_session_site(
    forward_auth: SocketAddr,
    gateway: SocketAddr,
    upstream: SocketAddr,
) -> String {
    let subrequest = super::super::support::nginx_auth_subrequest(forward_auth);
    format!(
        r#"
    location / {{
      auth_request /_portcullis_auth;
      auth_request_set $portcullis_authorization $upstream_http_authorization;
      auth_request_set $portcullis_subject $upstream_http_x_portcullis_subject;
      auth_request_set $portcullis_login $upstream_http_location;
      error_page 401 = @portcullis_login;
      proxy_set_header Authorization $portcullis_authorization;
      proxy_set_header X-Portcullis-Subject $portcullis_subject;
      proxy_pass http://{upstream};
    }}
    location /_portcullis/ {{
      proxy_pass http://{gateway};
      proxy_set_header Host $http_host;
    }}
{subrequest}
    location @portcullis_login {{
      if ($portcullis_login = "") {{ return 401; }}
      return 302 $portcullis_login;
    }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_auth_request_a_browser_signs_in_and_the_upstream_gets_the_token() {
    let auth = TestAuthServer::start_with(TestOptions::default()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (_, secret) = auth.add_client(gateway_client(&base, 300)).await;
    let user = auth.add_user("ada", &[], PASSWORD).await;
    let upstream = echo_upstream().await;
    let mut config = session_config(&auth, &base, &secret.expect("secret"), upstream);
    config.forward_auth_listen = Some("127.0.0.1:0".parse().expect("addr"));
    // Decided here, forwarded by nginx.
    config.routes[0].upstreams = Vec::new();
    let (_stop, gateway) = start_gateway(&config, "127.0.0.1:0").await;
    let forward_auth = gateway.forward_auth_address.expect("forward-auth listener");
    // Asked directly: Traefik, Caddy and Envoy pass a 302 to the browser; nginx's recipe needs
    // a 401 with the location.
    let ask = |description: [(&'static str, &'static str); 2]| {
        let mut request = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(format!("http://{forward_auth}/_portcullis/auth"))
            .header("accept", HTML)
            .header("x-forwarded-host", "127.0.0.1");
        for (name, value) in description {
            request = request.header(name, value);
        }
        request.send()
    };
    let expected = format!("{base}/_portcullis/login?rd=%2Fapp%2Fx");
    for (description, status) in [
        (
            [("x-forwarded-uri", "/app/x"), ("x-forwarded-method", "GET")],
            302,
        ),
        (
            [("x-original-uri", "/app/x"), ("x-original-method", "GET")],
            401,
        ),
    ] {
        let answer = ask(description).await.expect("forward-auth");
        assert_eq!(answer.status(), status, "{description:?}");
        assert_eq!(answer.headers()["location"], expected.as_str());
    }
    let site = nginx_session_site(forward_auth, gateway.address, upstream);
    let Some(_nginx) =
        Nginx::start_at(format!("127.0.0.1:{port}").parse().expect("addr"), &site).await
    else {
        return;
    };
    let browser = Browser::new();
    let page = page_load(&browser, &format!("{base}/app/page?x=1")).await;
    assert_eq!(page.status(), 302, "nginx sends the browser to sign in");
    let login = page.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        login,
        format!("{base}/_portcullis/login?rd=%2Fapp%2Fpage%3Fx%3D1")
    );
    let start = browser.get(&login).await;
    let authorize = location(&start, &base);
    assert!(authorize.starts_with(&auth.base_url));
    let (status, page) = browser
        .open_signed_in(&auth.base_url, &authorize, ("ada", PASSWORD))
        .await;
    assert_eq!(status, 200, "{page}");
    let echo: Value = serde_json::from_str(&page).expect("the upstream's echo");
    assert_eq!(echo["path"], "/app/page");
    assert_eq!(echo["headers"]["x-portcullis-subject"], user.id.as_str());
    assert!(
        echo["headers"]["authorization"]
            .as_str()
            .is_some_and(|value| value.starts_with("Bearer ey")),
        "nginx hands the session's token upstream: {echo}"
    );
    // A script without a session is refused, not redirected.
    let call = Browser::new()
        .client()
        .get(format!("{base}/app/data"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("call");
    assert_eq!(call.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_openid_provider_signs_browsers_in_here_a_third_party_one_with_opaque_tokens() {
    use portcullis_gateway::config::IntrospectionConfig;
    use portcullis_testkit::oidc_provider::{TestOidcProvider, sign_in_client, sign_in_through};
    const SECRET: &str = "gateway-session-secret";
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = sign_in_client(
        "gw",
        SECRET,
        &format!("{base}/_portcullis/callback"),
        "read",
    );
    let Some(provider) =
        TestOidcProvider::start_with_sign_in(vec![client], "api", "read", 300).await
    else {
        return;
    };
    let upstream = echo_upstream().await;
    let config = GatewayConfig {
        listen: format!("127.0.0.1:{port}").parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        public_url: Some(base.clone()),
        issuers: vec![IssuerConfig {
            // Its access tokens are opaque: asked about by introspection (RFC 7662).
            jwt: false,
            introspection: Some(IntrospectionConfig {
                url: provider.url("/token/introspection"),
                client_id: "gw".into(),
                client_secret: SECRET.into(),
                token_prefix: None,
                cache_secs: 30,
                negative_cache_secs: 5,
            }),
            ..IssuerConfig::new(&provider.issuer, "api")
        }],
        routes: vec![portcullis_gateway::config::RouteConfig {
            session: true,
            ..route("app", "/app", upstream)
        }],
        session: Some(SessionConfig {
            scopes: ["openid", "read"].map(String::from).to_vec(),
            ..SessionConfig::new(&provider.issuer, "gw", SECRET)
        }),
        ..GatewayConfig::default()
    };
    let (_stop, _gateway) = start_gateway(&config, &format!("127.0.0.1:{port}")).await;

    // A browser follows the redirects and fills in the provider's own pages.
    let browser = Browser::new();
    let response = page_load(&browser, &format!("{base}/app/page")).await;
    let (_, echo) =
        sign_in_through(&browser, response, format!("{base}/app/page"), &base, "ada").await;
    let echo: Value = serde_json::from_str(&echo).expect("echo");
    assert_eq!(echo["path"], "/app/page");
    let headers = &echo["headers"];
    assert_eq!(headers["x-portcullis-subject"], "ada");
    assert_eq!(headers["x-portcullis-issuer"], provider.issuer.as_str());
    let token = headers["authorization"].as_str().expect("a bearer token");
    assert!(
        token.starts_with("Bearer ") && !token.starts_with("Bearer ey"),
        "the provider's opaque access token: {token}"
    );
}
