//! Restarts and crashes: users, clients and keys survive a graceful restart and `kill -9`.

use super::support::{
    access_token, admin, jwks, kid_of, kids, printed_secret, service_client, stdout,
    token_with_basic, verify_independently,
};
use portcullis_testkit::{TestAuthServer, TestOptions};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_users_clients_and_keys() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let added = admin(
        server.data_dir(),
        &["user", "add", "erin", "--role", "user", "--password-stdin"],
        "correct horse battery\n",
        &[],
    )
    .await;
    assert!(added.status.success());
    let before = jwks(&server.base_url).await;
    let token = access_token(&server, "svc", &secret).await;
    let dir = server.stop().await.expect("owned directory");

    let restarted = TestAuthServer::start_in_dir(dir.path(), TestOptions::default()).await;
    let after = jwks(&restarted.base_url).await;
    assert_eq!(kids(&before), kids(&after), "same keys after restart");
    let response = token_with_basic(
        &restarted,
        "svc",
        &secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200, "client and secret survived");
    let new_token = response.json::<serde_json::Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(kid_of(&new_token), kid_of(&token));
    let users = admin(restarted.data_dir(), &["user", "list"], "", &[]).await;
    assert!(String::from_utf8_lossy(&users.stdout).contains("erin"));
    restarted.stop().await;
}

/// A fixed issuer, so tokens from before a restart (on another port) carry the same `iss`.
const ISSUER: &str = "http://auth.portcullis.test";

/// Starts `portcullis serve auth` as a child process; returns it with its base URL.
fn spawn_server(dir: &Path, log: &Path) -> (Child, String) {
    spawn_server_with(dir, log, &[])
}

/// As [`spawn_server`], with extra environment variables.
fn spawn_server_with(dir: &Path, log: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "auth", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(["--issuer", ISSUER])
        .env("PORTCULLIS_LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("listening line");
    let url = line
        .trim()
        .strip_prefix("portcullis auth server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    (child, url)
}

async fn client_credentials(base_url: &str, secret: &str) -> reqwest::Response {
    super::support::http()
        .post(format!("{base_url}/token"))
        .basic_auth("svc", Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged_and_logs_hold_no_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let (mut child, url) = spawn_server(&data, &log);
    let published = jwks(&url).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&data), 0o700, "data directory is private");
        assert_eq!(
            mode(&data.join("key-encryption-key")),
            0o600,
            "generated KEK is private"
        );
    }
    let added = admin(
        &data,
        &[
            "client",
            "add",
            "svc",
            "--grant",
            "client_credentials",
            "--audience",
            "orders",
        ],
        "",
        &[],
    )
    .await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let secret = printed_secret(&added);
    let response = client_credentials(&url, &secret).await;
    assert_eq!(response.status(), 200);
    let token = response.json::<serde_json::Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        client_credentials(&url, "not-the-secret").await.status(),
        401
    );

    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let (mut child, url) = spawn_server(&data, &log);
    let republished = jwks(&url).await;
    assert_eq!(
        kids(&published),
        kids(&republished),
        "keys survived kill -9"
    );
    let claims =
        verify_independently(&token, &republished, ISSUER, "orders").expect("old token verifies");
    assert_eq!(claims["sub"], "svc");
    assert_eq!(
        client_credentials(&url, &secret).await.status(),
        200,
        "client survived kill -9"
    );
    // SIGTERM drains and exits cleanly.
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(terminated.success());
    let status = child.wait().expect("reaped");
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );

    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(
        logs.contains(r#"\"event\":\"token_issued\""#),
        "audit of issued tokens"
    );
    assert!(
        logs.contains(r#"\"event\":\"client_authentication_failed\""#),
        "audit of failed client auth"
    );
    assert!(logs.contains("request_id"), "request ids in logs");
    assert!(
        logs.contains("auth server stopped"),
        "graceful shutdown logged: {}",
        logs.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
    assert!(!logs.contains(&secret), "client secret leaked into logs");
    assert!(!logs.contains(&token), "access token leaked into logs");
    assert!(
        !logs.contains("not-the-secret"),
        "presented secret leaked into logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_are_audited_without_passwords() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("server.log");
    let data = dir.path().join("data");
    let env = [
        ("PORTCULLIS_AUTH_DIRECT_LOGIN_CLIENT", "web"),
        ("PORTCULLIS_PASSWORDS_ARGON2_MEMORY_KIB", "1024"),
        ("PORTCULLIS_PASSWORDS_ARGON2_ITERATIONS", "1"),
    ];
    let added = admin(
        &data,
        &[
            "client",
            "add",
            "web",
            "--public",
            "--first-party",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--audience",
            "api",
        ],
        "",
        &[],
    )
    .await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let user = admin(
        &data,
        &["user", "add", "carol", "--role", "user", "--password-stdin"],
        "the-real-password\n",
        &[&env[..], &[("USER", "ops-on-call")]].concat(),
    )
    .await;
    assert!(user.status.success());
    let (mut child, url) = spawn_server_with(&data, &log, &env);
    let login = |password: &'static str| {
        super::support::http()
            .post(format!("{url}/login"))
            .json(&serde_json::json!({"username": "carol", "password": password}))
            .send()
    };
    assert_eq!(login("a-wrong-guess").await.expect("login").status(), 401);
    assert_eq!(
        login("the-real-password").await.expect("login").status(),
        200
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    child.wait().expect("reaped");
    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(logs.contains(r#"\"event\":\"sign_in\",\"username\":\"carol\",\"success\":false,\"reason\":\"wrong password\""#), "{logs}");
    assert!(logs.contains(r#"\"event\":\"sign_in\",\"username\":\"carol\",\"success\":true"#));
    assert!(
        logs.contains(r#"\"event\":\"token_issued\",\"grant_type\":\"direct_login\""#),
        "POST /login tokens are audited as direct_login"
    );
    assert!(
        !logs.contains("the-real-password") && !logs.contains("a-wrong-guess"),
        "passwords never logged"
    );
    // The same events are in the database, flushed before the server exited.
    let audit = admin(&data, &["audit", "--kind", "sign_in"], "", &[]).await;
    assert!(audit.status.success());
    let listed = String::from_utf8_lossy(&audit.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(lines[0].contains(r#""success":false"#) && lines[1].contains(r#""success":true"#));
    let issued = admin(&data, &["audit", "--kind", "token_issued"], "", &[]).await;
    assert!(String::from_utf8_lossy(&issued.stdout).contains(r#""grant_type":"direct_login""#));
    assert!(
        !listed.contains("the-real-password"),
        "passwords never stored"
    );
    // The admin command's own change is audited with its actor, the operating-system user.
    let actions = stdout(&admin(&data, &["audit", "--kind", "admin_action"], "", &[]).await);
    assert!(
        actions.contains(
            r#""event":"admin_action","actor":"cli:ops-on-call","action":"user.create","target":"carol""#
        ),
        "{actions}"
    );
}
