//! Forward-auth behind Debian's nginx and its `auth_request` module: nginx asks the gateway's
//! forward-auth listener about every request and hands the identity headers to the echo
//! upstream, as in the recipe of `docs/forward-auth.md`.

use super::normalization::{ATTACKS, raw_get};
use super::support::{Stack, challenge, nginx_auth_subrequest, rate_limit, revoke, route, stack};
use portcullis_testkit::TestOptions;
use portcullis_testkit::caddy::Caddy;
use portcullis_testkit::nginx::Nginx;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Every identity header the gateway may answer with; nginx sets each on the request to the
/// upstream, so a client's own spelling of one never passes (an empty value removes it).
const IDENTITY_HEADERS: &[&str] = &[
    "issuer",
    "subject",
    "username",
    "client",
    "scopes",
    "roles",
    "acr",
    "amr",
    "auth_time",
];

/// The recipe's nginx site: `location /` guarded by `auth_request`, proxied to `upstream`.
fn nginx_site(forward_auth: SocketAddr, upstream: SocketAddr) -> String {
    let identity: String = IDENTITY_HEADERS
        .iter()
        .map(|name| {
            let header = format!("X-Portcullis-{}", name.replace('_', "-"));
            format!(
                "      auth_request_set $portcullis_{name} $upstream_http_x_portcullis_{name};\n\
                 \x20     proxy_set_header {header} $portcullis_{name};\n"
            )
        })
        .collect();
    let subrequest = nginx_auth_subrequest(forward_auth);
    format!(
        r#"
    location / {{
      auth_request /_portcullis_auth;
{identity}      proxy_pass http://{upstream};
    }}
{subrequest}"#
    )
}

/// `GET http://<nginx><path>` with a token and extra headers.
async fn through_nginx(
    nginx: &Nginx,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", nginx.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("nginx request")
}

/// The stack's forward-auth listener.
fn listener(stack: &Stack) -> SocketAddr {
    stack
        .gateway
        .as_ref()
        .and_then(|gateway| gateway.forward_auth_address)
        .expect("forward-auth listener")
}

/// Asks the forward-auth listener directly.
async fn ask(
    stack: &Stack,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", listener(stack)));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("forward-auth request")
}

async fn forward_auth_stack() -> Stack {
    stack(TestOptions::default(), |config, upstream| {
        config.forward_auth_listen = Some("127.0.0.1:0".parse().expect("addr"));
        let decide_only = |name: &str, prefix: &str| {
            let mut decided = route(name, prefix, upstream);
            decided.upstreams = Vec::new();
            decided
        };
        let mut api = decide_only("api", "/api");
        api.scopes_all = vec!["read".into()];
        let mut admin = decide_only("admin", "/admin");
        admin.roles_all = vec!["admin".into()];
        let mut metered = decide_only("metered", "/metered");
        metered.rate_limit = Some(rate_limit(1, "client"));
        config.routes = vec![
            decide_only("public", "/public").public(),
            api,
            admin,
            metered,
            // Proxied by the gateway itself as before.
            route("proxied", "/proxied", upstream),
        ];
    })
    .await
}

#[tokio::test]
async fn nginx_auth_request_lets_through_only_what_the_routes_allow() {
    let stack = forward_auth_stack().await;
    let forward_auth = listener(&stack);
    let Some(nginx) = Nginx::start(&nginx_site(forward_auth, stack.upstream)).await else {
        return;
    };
    let read = stack.token(Some("read")).await;

    // A valid token: 200, and the identity reaches the upstream in place of the client's own.
    let forged = [
        ("x-portcullis-subject", "forged"),
        ("x-portcullis-roles", "admin"),
        ("x-portcullis-username", "root"),
    ];
    let response = through_nginx(&nginx, "/api/orders?id=7", Some(&read), &forged).await;
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.expect("echo");
    assert_eq!(echoed["path"], "/api/orders");
    assert_eq!(echoed["query"], "id=7");
    let headers = &echoed["headers"];
    assert_eq!(headers["x-portcullis-client"], "svc");
    assert_eq!(headers["x-portcullis-scopes"], "read");
    assert_ne!(headers["x-portcullis-subject"], "forged");
    assert!(headers["x-portcullis-subject"].is_string());
    assert!(headers.get("x-portcullis-roles").is_none(), "{headers}");
    assert!(headers.get("x-portcullis-username").is_none(), "{headers}");

    // None: 401 with the gateway's RFC 6750 challenge, passed on by nginx.
    let response = through_nginx(&nginx, "/api/orders", None, &forged).await;
    assert_eq!(response.status(), 401);
    assert!(
        challenge(&response).starts_with("Bearer"),
        "{}",
        challenge(&response)
    );
    let garbage = through_nginx(&nginx, "/api/orders", Some("not-a-token"), &[]).await;
    assert_eq!(garbage.status(), 401);
    assert!(challenge(&garbage).contains("invalid_token"));

    // The wrong scope or role: 403.
    let write = stack.token(Some("write")).await;
    assert_eq!(
        through_nginx(&nginx, "/api/orders", Some(&write), &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        through_nginx(&nginx, "/admin/users", Some(&read), &[])
            .await
            .status(),
        403
    );

    // A public route passes without a token, and without any identity header.
    let response = through_nginx(&nginx, "/public/page", None, &forged).await;
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.expect("echo");
    assert!(
        echoed["headers"]
            .as_object()
            .expect("headers")
            .keys()
            .all(|name| !name.starts_with("x-portcullis-")),
        "{echoed}"
    );

    // No spelling of an admin path passes as a public one: nginx asks with the raw target (and
    // forwards it raw), and the gateway decides on the path it normalizes as nginx does. Only a
    // double-encoded spelling, which neither decodes to the admin path, may pass as public.
    for target in ATTACKS {
        let (status, body) = raw_get(nginx.address, target, None).await;
        let refused = matches!(status, 400 | 401 | 403 | 500);
        assert!(
            refused || (status == 200 && target.contains("%25")),
            "{target} passed: {status} {body}"
        );
    }
    // Revoked: refused within two seconds (the feed), like a proxied request.
    revoke(&stack.auth, "svc", &stack.secret, &read).await;
    let started = Instant::now();
    loop {
        let response = through_nginx(&nginx, "/api/orders", Some(&read), &[]).await;
        if response.status() == 401 {
            assert!(challenge(&response).contains("invalid_token"));
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "revocation not applied within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = stack.metrics().await;
    assert!(
        metrics.contains("portcullis_gateway_auth_failures_total{reason=\"revoked_token\"}"),
        "{metrics}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_forward_auth_listener_reads_each_proxys_description_and_refuses_doubt() {
    let stack = forward_auth_stack().await;
    let read = stack.token(Some("read")).await;
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().expect("ascii").to_owned())
    };

    // Traefik and Caddy: X-Forwarded-Method and -Uri.
    let traefik = [
        ("x-forwarded-method", "POST"),
        ("x-forwarded-uri", "/api/orders"),
        ("x-forwarded-host", "shop.example"),
    ];
    let response = ask(&stack, "/_portcullis/auth", Some(&read), &traefik).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-portcullis-client").as_deref(),
        Some("svc")
    );
    assert_eq!(
        header(&response, "x-portcullis-scopes").as_deref(),
        Some("read")
    );
    assert!(header(&response, "x-request-id").is_some());
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
    // A client's own description beside the proxy's (Traefik passes client headers on).
    let injected = [
        traefik.as_slice(),
        &[
            ("x-original-uri", "/public/x"),
            ("x-original-method", "GET"),
        ],
    ]
    .concat();
    assert_eq!(
        ask(&stack, "/_portcullis/auth", None, &injected)
            .await
            .status(),
        400
    );

    // A public route: every identity header, empty, so a proxy copying them overwrites the
    // client's own.
    let public = [
        ("x-original-uri", "/public/x"),
        ("x-original-method", "GET"),
        ("x-forwarded-host", "shop.example"),
    ];
    let response = ask(&stack, "/_portcullis/auth", None, &public).await;
    assert_eq!(response.status(), 200);
    for name in IDENTITY_HEADERS {
        let name = format!("x-portcullis-{}", name.replace('_', "-"));
        assert_eq!(header(&response, &name).as_deref(), Some(""), "{name}");
    }

    // Envoy: the original path after the endpoint's, the original method.
    let response = ask(
        &stack,
        "/_portcullis/auth/api/orders?id=1",
        Some(&read),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-portcullis-client").as_deref(),
        Some("svc")
    );
    let response = ask(&stack, "/_portcullis/auth/api/orders", None, &[]).await;
    assert_eq!(response.status(), 401);

    // A path no route covers is not allowed; nor is an undescribed or half-described request.
    let nowhere = [
        ("x-original-uri", "/elsewhere"),
        ("x-original-method", "GET"),
        ("x-forwarded-host", "shop.example"),
    ];
    let unrouted = ask(&stack, "/_portcullis/auth", Some(&read), &nowhere).await;
    assert_eq!(unrouted.status(), 403);
    assert_eq!(
        ask(&stack, "/_portcullis/auth", Some(&read), &[])
            .await
            .status(),
        400
    );
    let half = [("x-original-uri", "/api/orders")];
    assert_eq!(
        ask(&stack, "/_portcullis/auth", Some(&read), &half)
            .await
            .status(),
        400
    );
    assert_eq!(
        ask(&stack, "/elsewhere", Some(&read), &traefik)
            .await
            .status(),
        404
    );

    // The same rate limits as proxying: one decision per client per minute on /metered.
    let metered = [
        ("x-original-uri", "/metered/x"),
        ("x-original-method", "GET"),
        ("x-forwarded-host", "shop.example"),
    ];
    let first = ask(&stack, "/_portcullis/auth", Some(&read), &metered).await;
    assert_eq!(first.status(), 200);
    assert!(header(&first, "ratelimit").is_some());
    let second = ask(&stack, "/_portcullis/auth", Some(&read), &metered).await;
    assert_eq!(second.status(), 429);
    assert!(header(&second, "retry-after").is_some());

    // The public listener forwards only routes with upstreams.
    assert_eq!(stack.get("/api/orders", Some(&read)).await.status(), 404);
    assert_eq!(stack.get("/proxied/x", Some(&read)).await.status(), 200);
    stack.stop().await;
}

/// The Caddy recipe of `docs/forward-auth.md`: in a `route` block, the client's identity and
/// description headers deleted, then `forward_auth` copying the answer's.
fn caddy_site(forward_auth: SocketAddr, upstream: SocketAddr) -> String {
    let copied: Vec<String> = IDENTITY_HEADERS
        .iter()
        .map(|name| format!("X-Portcullis-{}", name.replace('_', "-")))
        .collect();
    format!(
        "\troute {{\n\
         \t\trequest_header -X-Portcullis-*\n\
         \t\trequest_header -X-Original-*\n\
         \t\tforward_auth {forward_auth} {{\n\
         \t\t\turi /_portcullis/auth\n\
         \t\t\tcopy_headers {}\n\
         \t\t}}\n\
         \t\treverse_proxy {upstream}\n\
         \t}}",
        copied.join(" ")
    )
}

#[tokio::test]
async fn caddy_forward_auth_lets_through_only_what_the_routes_allow() {
    let stack = forward_auth_stack().await;
    let forward_auth = listener(&stack);
    let Some(caddy) = Caddy::start(&caddy_site(forward_auth, stack.upstream)).await else {
        return;
    };
    let get = |path: &str, token: Option<&str>, headers: &[(&str, &str)]| {
        let mut request = reqwest::Client::new().get(format!("http://{}{path}", caddy.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let read = stack.token(Some("read")).await;
    let forged = [
        ("x-portcullis-subject", "forged"),
        ("x-portcullis-roles", "admin"),
        // A description of a public request, beside Caddy's of the real one.
        ("x-original-uri", "/public/x"),
        ("x-original-method", "GET"),
    ];
    let response = get("/api/orders?id=7", Some(&read), &forged)
        .await
        .expect("caddy");
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.expect("echo");
    assert_eq!(echoed["path"], "/api/orders");
    let headers = &echoed["headers"];
    assert_eq!(headers["x-portcullis-client"], "svc");
    assert_eq!(headers["x-portcullis-scopes"], "read");
    assert_ne!(headers["x-portcullis-subject"], "forged");
    assert!(
        headers
            .get("x-portcullis-roles")
            .is_none_or(|roles| roles == ""),
        "{headers}"
    );

    let none = get("/api/orders", None, &forged).await.expect("caddy");
    assert_eq!(none.status(), 401);
    assert!(challenge(&none).starts_with("Bearer"));
    let write = stack.token(Some("write")).await;
    assert_eq!(
        get("/api/orders", Some(&write), &[])
            .await
            .expect("caddy")
            .status(),
        403
    );
    assert_eq!(
        get("/elsewhere", Some(&read), &[])
            .await
            .expect("caddy")
            .status(),
        403,
        "no route covers it"
    );
    // Caddy passes a rate-limit refusal on as it is.
    assert_eq!(
        get("/metered/a", Some(&read), &[])
            .await
            .expect("caddy")
            .status(),
        200
    );
    let limited = get("/metered/a", Some(&read), &[]).await.expect("caddy");
    assert_eq!(limited.status(), 429);
    stack.stop().await;
}
