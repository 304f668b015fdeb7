//! The admin and token CLI: commands, outputs and one-line errors (never a panic).

use super::support::{
    access_token, admin, client_credentials_status, jwks, portcullis, printed_secret,
    service_client, stderr, stdout, token_with_basic,
};
use portcullis_testkit::TestAuthServer;
use std::process::Output;

fn assert_clean_failure(output: &Output, expected: &str) {
    assert!(!output.status.success(), "should fail: {}", stdout(output));
    let message = stderr(output);
    assert!(message.starts_with("error: "), "{message}");
    assert!(
        message.contains(expected),
        "expected `{expected}` in: {message}"
    );
    assert!(
        !message.contains("panicked") && !message.contains("backtrace"),
        "{message}"
    );
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
}

/// Admin arguments, standard input, and the text the one-line error must contain.
type Refusal<'a> = (&'a [&'a str], &'a str, &'a str);

/// Runs an admin command that must fail with one clean line containing `expected`.
async fn expect_admin_failure(data: &std::path::Path, args: &[&str], stdin: &str, expected: &str) {
    assert_clean_failure(&admin(data, args, stdin, &[]).await, expected);
}

#[tokio::test]
async fn user_lifecycle() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path();
    let add = admin(
        data,
        &[
            "user",
            "add",
            "Alice",
            "--role",
            "admin",
            "--role",
            "user",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        "correct horse battery\n",
        &[],
    )
    .await;
    assert!(add.status.success(), "{}", stderr(&add));
    assert!(stdout(&add).starts_with("created user Alice ("));
    let refusals: [Refusal; 8] = [
        (
            &["user", "add", "alice", "--role", "user", "--password-stdin"],
            "another quite long passphrase\n",
            "user `alice` already exists",
        ),
        (
            &["user", "add", "bob", "--password-stdin"],
            "short\n",
            "at least 12 characters",
        ),
        (
            &["user", "add", "bob", "--password-stdin"],
            "password1234\n",
            "password is too easy to guess",
        ),
        (
            &[
                "user",
                "add",
                "bob",
                "--email",
                "bob.marley@example.com",
                "--password-stdin",
            ],
            "bobmarley2024\n",
            "password is too easy to guess",
        ),
        (
            &["user", "add", "bad name", "--password-stdin"],
            "long enough\n",
            "invalid username",
        ),
        (
            &["user", "add", "bob", "--role", "Admin", "--password-stdin"],
            "long enough\n",
            "invalid role `Admin`",
        ),
        (
            &["user", "add", "bob", "--email", "nope", "--password-stdin"],
            "long enough\n",
            "invalid email",
        ),
        (
            &["user", "add", "bob", "--password-stdin"],
            "",
            "no password on standard input",
        ),
    ];
    for (args, stdin, expected) in refusals {
        expect_admin_failure(data, args, stdin, expected).await;
    }
    let without_flag = admin(data, &["user", "add", "bob"], "", &[]).await;
    assert!(!without_flag.status.success() && stderr(&without_flag).contains("--password-stdin"));

    let list = stdout(&admin(data, &["user", "list"], "", &[]).await);
    let row = list
        .lines()
        .find(|line| line.starts_with("Alice "))
        .expect("Alice listed");
    assert!(
        row.contains("admin,user") && row.contains("alice@example.com") && row.contains("active"),
        "{row}"
    );
    assert!(!list.contains("argon2"), "hashes are never printed");

    assert!(
        admin(
            data,
            &["user", "set-roles", "alice", "--role", "viewer"],
            "",
            &[]
        )
        .await
        .status
        .success()
    );
    assert!(
        admin(
            data,
            &["user", "set-password", "ALICE", "--password-stdin"],
            "an entirely new passphrase\n",
            &[]
        )
        .await
        .status
        .success()
    );
    assert!(
        admin(data, &["user", "disable", "alice"], "", &[])
            .await
            .status
            .success()
    );
    let list = stdout(&admin(data, &["user", "list"], "", &[]).await);
    assert!(
        list.contains("viewer") && list.contains("disabled"),
        "{list}"
    );
    expect_admin_failure(
        data,
        &["user", "set-password", "ghost", "--password-stdin"],
        "whatever12\n",
        "no user `ghost`",
    )
    .await;
    assert!(
        admin(data, &["user", "remove", "alice"], "", &[])
            .await
            .status
            .success()
    );
    expect_admin_failure(data, &["user", "remove", "alice"], "", "no user `alice`").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_lifecycle_and_secret_rotation() {
    let server = TestAuthServer::start().await;
    let data = server.data_dir();
    let add = admin(
        data,
        &[
            "client",
            "add",
            "svc",
            "--grant",
            "client_credentials",
            "--scope",
            "read",
            "write",
            "--audience",
            "orders",
        ],
        "",
        &[],
    )
    .await;
    assert!(add.status.success(), "{}", stderr(&add));
    let secret = printed_secret(&add);
    assert_eq!(secret.len(), 43, "256-bit secret, base64url");
    assert_eq!(stdout(&add).matches(&secret).count(), 1, "shown once");
    let ok = token_with_basic(
        &server,
        "svc",
        &secret,
        &[("grant_type", "client_credentials"), ("scope", "write")],
    )
    .await;
    assert_eq!(ok.status(), 200);

    let rotated = admin(data, &["client", "rotate-secret", "svc"], "", &[]).await;
    let rotated_at = std::time::Instant::now();
    assert!(rotated.status.success());
    let new_secret = printed_secret(&rotated);
    assert_ne!(new_secret, secret);
    // Changed in the database behind the running server's back: seen within its cache bound.
    super::support::client_credentials_status_within_bound(
        &server, "svc", &secret, 401, rotated_at,
    )
    .await;
    assert_eq!(
        client_credentials_status(&server, "svc", &new_secret).await,
        200
    );

    // API keys of the service account: printed once, listed without it, revoked by id; none
    // without an audience to be accepted by.
    let key_args = [
        "client", "add-key", "svc", "--name", "nightly", "--days", "5",
    ];
    let read_key = [&key_args[..], &["--scope", "read"]].concat();
    let nowhere = admin(data, &read_key, "", &[]).await;
    assert!(
        stderr(&nowhere).contains("audiences is empty"),
        "{}",
        stderr(&nowhere)
    );
    let config = data.join("keys.toml");
    std::fs::write(
        &config,
        "[personal_access_tokens]\naudiences = [\"orders\"]\n",
    )
    .expect("config");
    let config = config.display().to_string();
    let with_audience = [("PORTCULLIS_CONFIG", config.as_str())];
    let too_wide = admin(
        data,
        &[&key_args[..], &["--scope", "admin"]].concat(),
        "",
        &with_audience,
    )
    .await;
    assert!(!too_wide.status.success());
    assert!(
        stderr(&too_wide).contains("`admin`"),
        "{}",
        stderr(&too_wide)
    );
    let key = admin(data, &read_key, "", &with_audience).await;
    assert!(key.status.success(), "{}", stderr(&key));
    let printed = stdout(&key);
    let token = printed
        .lines()
        .find_map(|line| line.strip_prefix("token: "))
        .expect("token printed");
    assert!(token.starts_with("pcl_pat_"), "{printed}");
    let listed = stdout(&admin(data, &["client", "keys", "svc"], "", &[]).await);
    assert!(
        listed.contains("nightly") && !listed.contains(token),
        "{listed}"
    );
    let key_id = listed.split_whitespace().next().expect("key id").to_owned();
    let revoked = admin(
        data,
        &["client", "revoke-key", "svc", &key_id],
        "",
        &with_audience,
    )
    .await;
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert!(stdout(&admin(data, &["client", "keys", "svc"], "", &[]).await).is_empty());

    let public = admin(
        data,
        &[
            "client",
            "add",
            "cli-app",
            "--public",
            "--grant",
            "authorization_code",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
        "",
        &[],
    )
    .await;
    assert!(public.status.success());
    assert!(
        !stdout(&public).contains("client_secret"),
        "public clients have no secret"
    );
    let refusals: [Refusal; 6] = [
        (&["client", "rotate-secret", "cli-app"], "", "is public"),
        (
            &["client", "add", "svc", "--grant", "client_credentials"],
            "",
            "client `svc` already exists",
        ),
        (
            &[
                "client",
                "add",
                "x",
                "--public",
                "--grant",
                "client_credentials",
            ],
            "",
            "public client cannot use the client_credentials grant",
        ),
        (
            &[
                "client",
                "add",
                "x",
                "--public",
                "--grant",
                "authorization_code",
            ],
            "",
            "--redirect-uri",
        ),
        (
            &[
                "client",
                "add",
                "x",
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "http://evil.example/cb",
            ],
            "",
            "loopback",
        ),
        (
            &[
                "client",
                "add",
                "x",
                "--grant",
                "client_credentials",
                "--access-token-lifetime",
                "999999",
            ],
            "",
            "lifetime",
        ),
    ];
    for (args, stdin, expected) in refusals {
        expect_admin_failure(data, args, stdin, expected).await;
    }
    let unknown_grant = admin(
        data,
        &["client", "add", "x", "--grant", "password"],
        "",
        &[],
    )
    .await;
    assert!(
        !unknown_grant.status.success()
            && stderr(&unknown_grant).contains("unknown grant type `password`")
    );

    let list = stdout(&admin(data, &["client", "list"], "", &[]).await);
    assert!(list.contains("cli-app") && list.contains("public") && list.contains("confidential"));
    assert!(!list.contains(&new_secret));
    let show = stdout(&admin(data, &["client", "show", "cli-app"], "", &[]).await);
    assert!(show.contains("http://127.0.0.1/callback"));
    assert!(
        admin(data, &["client", "remove", "svc"], "", &[])
            .await
            .status
            .success()
    );
    let removed_at = std::time::Instant::now();
    super::support::client_credentials_status_within_bound(
        &server,
        "svc",
        &new_secret,
        401,
        removed_at,
    )
    .await;
    let refusals: [Refusal; 2] = [
        (&["client", "remove", "svc"], "", "no client `svc`"),
        (&["client", "show", "svc"], "", "no client `svc`"),
    ];
    for (args, stdin, expected) in refusals {
        expect_admin_failure(data, args, stdin, expected).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_decode_and_verify() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let token = access_token(&server, "svc", &secret.expect("secret")).await;
    let base = server.base_url.clone();
    let run = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            portcullis(&args, "", &[])
        })
    };
    let decoded = run(vec!["token".into(), "decode".into(), token.clone()])
        .await
        .expect("run");
    assert!(decoded.status.success());
    let text = stdout(&decoded);
    assert!(text.starts_with("NOT VERIFIED"));
    assert!(
        text.contains("\"typ\": \"at+jwt\"") && text.contains("\"client_id\": \"svc\""),
        "{text}"
    );

    let verified = run(vec![
        "token".into(),
        "verify".into(),
        token.clone(),
        "--issuer".into(),
        base.clone(),
        "--audience".into(),
        "orders".into(),
    ])
    .await
    .expect("run");
    assert!(verified.status.success(), "{}", stderr(&verified));
    assert!(stdout(&verified).starts_with("VERIFIED"));

    let wrong_audience = run(vec![
        "token".into(),
        "verify".into(),
        token.clone(),
        "--issuer".into(),
        base.clone(),
        "--audience".into(),
        "payments".into(),
    ])
    .await
    .expect("run");
    assert_clean_failure(&wrong_audience, "audience");
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let bad_signature = run(vec![
        "token".into(),
        "verify".into(),
        tampered,
        "--issuer".into(),
        base.clone(),
    ])
    .await
    .expect("run");
    assert_clean_failure(&bad_signature, "NOT valid");
    let wrong_issuer = run(vec![
        "token".into(),
        "verify".into(),
        token.clone(),
        "--issuer".into(),
        format!("{base}/other"),
    ])
    .await
    .expect("run");
    assert!(!wrong_issuer.status.success());
    let garbage = run(vec!["token".into(), "decode".into(), "not.a.jwt".into()])
        .await
        .expect("run");
    assert_clean_failure(&garbage, "not a JWT");
    let unreachable = run(vec![
        "token".into(),
        "verify".into(),
        token,
        "--issuer".into(),
        "http://127.0.0.1:9".into(),
    ])
    .await
    .expect("run");
    assert_clean_failure(&unreachable, "cannot reach");
    assert!(jwks(&server.base_url).await["keys"].is_array());
}

#[test]
fn configuration_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("portcullis.toml");
    std::fs::write(&config, "[auth]\nlisten_port = 3000\n").expect("write");
    let data = dir.path().display().to_string();
    let config_arg = config.display().to_string();
    let output = portcullis(
        &[
            "--config",
            &config_arg,
            "admin",
            "--data-dir",
            &data,
            "user",
            "list",
        ],
        "",
        &[],
    );
    assert_clean_failure(&output, "listen_port");
    let output = portcullis(
        &["admin", "--data-dir", &data, "user", "list"],
        "",
        &[("PORTCULLIS_TOKENS_LEEWAY_SECS", "lots")],
    );
    assert_clean_failure(&output, "PORTCULLIS_TOKENS_LEEWAY_SECS");
    let output = portcullis(
        &[
            "--config",
            "/nonexistent/portcullis.toml",
            "admin",
            "user",
            "list",
        ],
        "",
        &[],
    );
    assert_clean_failure(&output, "cannot read config file");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let fresh = dir.path().join("fresh");
    let fresh_arg = fresh.display().to_string();
    let output = portcullis(
        &[
            "serve",
            "auth",
            "--data-dir",
            &fresh_arg,
            "--listen",
            &address,
        ],
        "",
        &[],
    );
    assert!(!output.status.success());
    let last_line = stderr(&output)
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(
        last_line.starts_with(&format!("error: cannot listen on {address}")),
        "{last_line}"
    );
    assert!(!fresh.exists(), "nothing is created when the port is taken");
}

#[tokio::test]
async fn a_session_id_may_start_with_a_dash() {
    let dir = tempfile::tempdir().expect("dir");
    // base64url session ids can start with `-`: taken as the id, not as a flag.
    expect_admin_failure(
        &dir.path().join("data"),
        &["session", "revoke", "-zAbC"],
        "",
        "no session `-zAbC`",
    )
    .await;
}
