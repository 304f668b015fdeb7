//! Path normalization against a real normalizing upstream: Debian's nginx serves an admin path
//! that the gateway guards with the `admin` role, behind public routes. No spelling of a path
//! that nginx resolves to the admin path may reach it through a public route.

use super::support::{route, stack};
use portcullis_testkit::TestOptions;
use portcullis_testkit::nginx::Nginx;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NGINX_SITE: &str = r#"
    location /admin/ { return 200 "ADMIN SECRET\n"; }
    location /public/ { return 200 "public $request_uri\n"; }
    location /files/ { return 200 "files $request_uri\n"; }
    location / { return 404 "nothing at $request_uri\n"; }
"#;

/// Sends `target` as written (no client-side normalization) and returns status and body.
pub(super) async fn raw_get(
    address: SocketAddr,
    target: &str,
    token: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: site\r\n{authorization}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {target}: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Spellings of `/admin/secret` behind the public routes (`/` and `/public`).
pub(super) const ATTACKS: &[&str] = &[
    "/public/../admin/secret",
    "/public/%2e%2e/admin/secret",
    "/public/%2E%2E/admin/secret",
    "/public/.%2e/admin/secret",
    "/public/%2e./admin/secret",
    "/public/..%2fadmin/secret",
    "/public/..%2Fadmin/secret",
    "/public/..%5cadmin/secret",
    "/public/..\\admin/secret",
    "/public/..;/admin/secret",
    "/public/%252e%252e/admin/secret",
    "//admin/secret",
    "///admin//secret",
    "/./admin/secret",
    "/public/./../admin/secret",
    "/public/x/../../admin/secret",
    "/public/..//admin/secret",
    "/%61dmin/secret",
    "/%61%64%6d%69%6e/secret",
    "/admin;x/secret",
    "/;x/admin/secret",
    "http://site/public/../admin/secret",
];

#[tokio::test]
async fn no_spelling_of_a_guarded_path_reaches_it_through_a_public_route() {
    let Some(nginx) = Nginx::start(NGINX_SITE).await else {
        return;
    };
    let upstream = nginx.address;
    let stack = stack(TestOptions::default(), move |config, _| {
        let public = |name: &str, prefix: &str| {
            let mut public = route(name, prefix, upstream);
            public.auth = "public".into();
            public
        };
        let mut admin = route("admin", "/admin", upstream);
        admin.roles_all = vec!["admin".into()];
        let mut files = public("files", "/files");
        files.allow_encoded_slashes = true;
        config.routes = vec![
            public("site", "/"),
            public("public", "/public"),
            admin,
            files,
        ];
    })
    .await;
    let gateway = stack.gateway.as_ref().expect("gateway").address;

    // The attack is real: nginx itself resolves these spellings to its admin location.
    let mut resolved_by_nginx = 0;
    for target in ATTACKS {
        let (_, body) = raw_get(upstream, target, None).await;
        resolved_by_nginx += usize::from(body.contains("ADMIN SECRET"));
    }
    assert!(
        resolved_by_nginx >= 10,
        "nginx resolved {resolved_by_nginx}"
    );

    let token = stack.token(Some("read")).await;
    for target in ATTACKS {
        for token in [None, Some(token.as_str())] {
            let (status, body) = raw_get(gateway, target, token).await;
            assert!(
                !body.contains("ADMIN SECRET"),
                "{target} reached the admin path: {status} {body}"
            );
            assert!(
                matches!(status, 400 | 401 | 403),
                "{target}: refused or sent to the admin route's policy, not {status} {body}"
            );
        }
    }
    assert_eq!(raw_get(gateway, "/admin/secret", None).await.0, 401);
    assert_eq!(
        raw_get(gateway, "/admin/secret", Some(&token)).await.0,
        403,
        "a token without the admin role"
    );

    // What is forwarded is what was matched.
    for (target, forwarded) in [
        ("/public/a/../b", "public /public/b"),
        ("/public//a/./b", "public /public/a/b"),
        ("/public/%7euser/%41%3f", "public /public/~user/A%3F"),
        ("/public/x;v=1/y?q=%2e", "public /public/x;v=1/y?q=%2e"),
        ("/files/a%2fb", "files /files/a%2Fb"),
    ] {
        assert_eq!(
            raw_get(gateway, target, None).await,
            (200, format!("{forwarded}\n")),
            "{target}"
        );
    }
    // Case is significant, as it is to nginx.
    let (status, body) = raw_get(gateway, "/ADMIN/secret", None).await;
    assert_eq!(
        (status, body.contains("nothing at /ADMIN/secret")),
        (404, true)
    );
    // Encoded slashes only where the route opts in, and unsafe paths never.
    assert_eq!(raw_get(gateway, "/public/a%2fb", None).await.0, 400);
    assert_eq!(
        raw_get(gateway, "/files/%2e%2e/admin/secret", None).await.0,
        400
    );
    assert_eq!(raw_get(gateway, "/public/%00", None).await.0, 400);
    stack.stop().await;
}
