//! `portcullis login`, `token` and `logout` against a real auth server, driven through the
//! sign-in pages by a cookie-jar client that completes the loopback redirect.

use super::browser::{Browser, PASSWORD, app_client, authorize_to, query_param};
use super::support::http;
use portcullis_testkit::TestAuthServer;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn cli(args: &[&str], token_file: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("PORTCULLIS_TOKEN_FILE", token_file)
        .env("PORTCULLIS_NO_BROWSER", "1")
        .output()
        .expect("portcullis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_refresh_and_logout() {
    let server = TestAuthServer::start().await;
    let mut client = app_client();
    client.access_token_lifetime_secs = Some(2);
    server.add_client(client).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("portcullis").join("tokens.json");

    sign_in_with_the_cli(
        &server,
        &token_file,
        "app",
        "openid offline_access",
        "alice",
    )
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("token file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "tokens are private");
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&token_file).expect("read")).expect("json");
    let first_refresh = stored["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    // The access token lives 2 s: `token` refreshes it (rotating the refresh token) and prints a valid one.
    let file = token_file.clone();
    let printed = tokio::task::spawn_blocking(move || cli(&["token"], &file))
        .await
        .expect("token");
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let token = String::from_utf8_lossy(&printed.stdout).trim().to_owned();
    assert_ne!(
        token,
        stored["access_token"].as_str().expect("access"),
        "refreshed"
    );
    let userinfo = http()
        .get(server.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), 200, "the printed token works");
    let rotated: Value =
        serde_json::from_str(&std::fs::read_to_string(&token_file).expect("read")).expect("json");
    let current_refresh = rotated["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(
        current_refresh, first_refresh,
        "refresh token rotated and stored"
    );

    let file = token_file.clone();
    let out = tokio::task::spawn_blocking(move || cli(&["logout"], &file))
        .await
        .expect("logout");
    assert!(out.status.success());
    assert!(!token_file.exists(), "tokens forgotten");
    let reuse = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", current_refresh.as_str()),
            ("client_id", "app"),
        ])
        .send()
        .await
        .expect("refresh");
    assert_eq!(reuse.status(), 400, "logout revoked the refresh token");
    let file = token_file.clone();
    let after = tokio::task::spawn_blocking(move || cli(&["token"], &file))
        .await
        .expect("token");
    assert!(
        !after.status.success()
            && String::from_utf8_lossy(&after.stderr).contains("portcullis login")
    );
}

/// Runs `portcullis login` as `client_id` for `scope` and completes its loopback redirect as
/// `user` through the sign-in pages; the tokens land in `token_file`.
pub async fn sign_in_with_the_cli(
    server: &TestAuthServer,
    token_file: &std::path::Path,
    client_id: &str,
    scope: &str,
    user: &str,
) {
    let mut login = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "login",
            "--issuer",
            &server.base_url,
            "--client-id",
            client_id,
            "--scope",
            scope,
        ])
        .env("PORTCULLIS_TOKEN_FILE", token_file)
        .env("PORTCULLIS_NO_BROWSER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn login");
    let stdout = login.stdout.take().expect("stdout");
    let url = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("line");
            if line.starts_with("http") {
                return (line.trim().to_owned(), reader);
            }
            assert!(!line.is_empty(), "login printed no URL");
        }
    })
    .await
    .expect("url");
    let (url, mut reader) = url;
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A")
    );

    let browser = Browser::new();
    let redirect_uri = query_param(&url, "redirect_uri").expect("redirect_uri");
    let callback = authorize_to(&browser, server, &url, user, &redirect_uri).await;
    let page = reqwest::get(&callback).await.expect("loopback callback");
    assert!(page.text().await.expect("html").contains("Signed in"));
    let status = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).expect("rest");
        (login.wait().expect("exit"), rest)
    })
    .await
    .expect("login finished");
    assert!(status.0.success(), "login failed: {}", status.1);
    assert!(status.1.contains("Signed in to"));
}

/// `portcullis login --device` prints the page and the code, polls while the user allows it in a
/// browser elsewhere, and stores the user's tokens; a denial ends it with an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_on_another_device() {
    let server = TestAuthServer::start().await;
    server.add_client(super::device::tv_client()).await;
    let dora = server.add_user("dora", &["user"], PASSWORD).await;
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("tokens.json");
    for (decision, succeeds) in [("deny", false), ("allow", true)] {
        let mut login = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args([
                "login",
                "--device",
                "--issuer",
                &server.base_url,
                "--client-id",
                "tv",
                "--scope",
                "openid offline_access",
            ])
            .env("PORTCULLIS_TOKEN_FILE", &token_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn login");
        let stdout = login.stdout.take().expect("stdout");
        let (first, code) = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            reader.read_line(&mut first).expect("line");
            let code = first.trim().rsplit(' ').next().expect("code").to_owned();
            // The rest is read too, so the command can print to the end.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            (first, code)
        })
        .await
        .expect("instructions");
        assert!(
            first.starts_with(&format!("To sign in, open {}/device ", server.base_url)),
            "{first}"
        );
        let (status, page) =
            super::device::decide(&server, &Browser::new(), "dora", &code, decision).await;
        assert_eq!(status, 200, "{page}");
        let output = tokio::task::spawn_blocking(move || login.wait_with_output())
            .await
            .expect("join")
            .expect("login");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.success(), succeeds, "{stderr}");
        if !succeeds {
            assert!(stderr.contains("the sign-in was denied"), "{stderr}");
            assert!(!token_file.exists());
        }
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(&token_file).expect("read")).expect("json");
    let claims = super::support::claims_of(stored["access_token"].as_str().expect("access token"));
    assert_eq!(
        (&claims["sub"], &claims["client_id"]),
        (&Value::from(dora.id), &Value::from("tv"))
    );
    assert!(stored["refresh_token"].is_string());
}
