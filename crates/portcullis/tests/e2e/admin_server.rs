//! `portcullis admin --server URL`: the same commands through the admin API of a running server,
//! with a client-credentials token or the token of `portcullis login`; changes are audited with
//! the token as the actor, and refusals come back as clear messages.

use super::browser::{PASSWORD, app_client};
use super::support::{admin, automation, stderr, stdout};
use portcullis_service::AuditQuery;
use portcullis_testkit::TestAuthServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_work_against_a_running_server_with_client_credentials() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server
        .add_client(automation("ops", "portcullis:admin", &server.base_url))
        .await;
    let secret = secret.expect("secret");
    let (_, auditor_secret) = server
        .add_client(automation("auditor", "portcullis:audit", &server.base_url))
        .await;
    let unused = tempfile::tempdir().expect("dir");
    let remote =
        |client: &'static str, secret: String, args: Vec<&'static str>, stdin: &'static str| {
            let server = &server;
            let unused = unused.path().to_owned();
            async move {
                let mut full = vec!["--server", server.admin_url.as_str(), "--client-id", client];
                full.extend(["--issuer", server.base_url.as_str()]);
                full.extend(args);
                admin(
                    &unused,
                    &full,
                    stdin,
                    &[("PORTCULLIS_ADMIN_CLIENT_SECRET", secret.as_str())],
                )
                .await
            }
        };

    let added = remote(
        "ops",
        secret.clone(),
        vec!["user", "add", "dora", "--role", "user", "--password-stdin"],
        "correct horse battery staple\n",
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(stdout(&added).starts_with("created user dora"));
    let listed = remote("ops", secret.clone(), vec!["user", "list"], "").await;
    assert!(stdout(&listed).contains("dora"), "{}", stdout(&listed));
    let disabled = remote("ops", secret.clone(), vec!["user", "disable", "dora"], "").await;
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    let client = remote(
        "ops",
        secret.clone(),
        vec![
            "client",
            "add",
            "billing",
            "--grant",
            "client_credentials",
            "--scope",
            "read",
        ],
        "",
    )
    .await;
    assert!(
        stdout(&client).contains("client_secret: "),
        "{}",
        stderr(&client)
    );
    let shown = remote("ops", secret.clone(), vec!["client", "show", "billing"], "").await;
    assert!(
        stdout(&shown).contains("type:           confidential"),
        "{}",
        stdout(&shown)
    );
    let keys = remote("ops", secret.clone(), vec!["keys", "list"], "").await;
    assert!(stdout(&keys).contains("active"), "{}", stdout(&keys));

    // Refusals name the cause; an auditor reads but cannot write.
    let duplicate = remote(
        "ops",
        secret.clone(),
        vec!["user", "add", "DORA", "--password-stdin"],
        "correct horse battery staple\n",
    )
    .await;
    assert!(!duplicate.status.success());
    assert!(
        stderr(&duplicate).contains("already exists"),
        "{}",
        stderr(&duplicate)
    );
    let auditor_secret = auditor_secret.expect("secret");
    let read = remote(
        "auditor",
        auditor_secret.clone(),
        vec!["client", "list"],
        "",
    )
    .await;
    assert!(stdout(&read).contains("billing"), "{}", stderr(&read));
    let write = remote(
        "auditor",
        auditor_secret,
        vec!["client", "remove", "billing"],
        "",
    )
    .await;
    assert!(!write.status.success());
    assert!(stderr(&write).contains("403"), "{}", stderr(&write));
    let wrong = remote("ops", "not-the-secret".into(), vec!["user", "list"], "").await;
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("invalid_client"),
        "{}",
        stderr(&wrong)
    );

    // Declarative apply through the server.
    let file = unused.path().join("desired.toml");
    std::fs::write(
        &file,
        "[[clients]]\nid = \"reports\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"read\"]\n",
    )
    .expect("file");
    let file_arg: &'static str = Box::leak(file.display().to_string().into_boxed_str());
    let applied = remote("ops", secret.clone(), vec!["apply", file_arg], "").await;
    assert!(
        stdout(&applied).contains("+ client reports"),
        "{}",
        stderr(&applied)
    );
    assert!(stdout(&applied).contains("client_secret of reports: "));
    let again = remote("ops", secret, vec!["apply", file_arg], "").await;
    assert!(stdout(&again).contains("no changes"), "{}", stdout(&again));

    server.state.audit.flush().await;
    let events = server
        .state
        .store
        .search_audit(&AuditQuery {
            kind: Some("admin_action".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    let details: Vec<&str> = events.iter().map(|event| event.detail.as_str()).collect();
    assert!(
        details.iter().any(|detail| detail
            .contains(r#""actor":"token:ops@ops","action":"user.create","target":"dora""#)),
        "{details:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_use_the_token_of_portcullis_login() {
    let server = TestAuthServer::start().await;
    let mut client = app_client();
    client.scopes.push("portcullis:admin".into());
    client.audiences.push(server.base_url.clone());
    server.add_client(client).await;
    server.add_user("alice", &["admin"], PASSWORD).await;
    server.add_user("bob", &["user"], PASSWORD).await;
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("tokens.json");
    super::login::sign_in_with_the_cli(
        &server,
        &token_file,
        "app",
        "openid portcullis:admin",
        "alice",
    )
    .await;
    let listed = admin(
        dir.path(),
        &["--server", &server.admin_url, "user", "list"],
        "",
        &[("PORTCULLIS_TOKEN_FILE", &token_file.display().to_string())],
    )
    .await;
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains("bob"), "{}", stdout(&listed));
    server.stop().await;
}

#[tokio::test]
async fn admin_tokens_never_go_in_clear_text_off_the_machine() {
    let dir = tempfile::tempdir().expect("dir");
    let refused = admin(
        dir.path(),
        &["--server", "http://192.0.2.1:3010", "user", "list"],
        "",
        &[],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("use https"),
        "{}",
        stderr(&refused)
    );
}
