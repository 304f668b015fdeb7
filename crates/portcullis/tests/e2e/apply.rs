//! `portcullis admin apply FILE` through the real binary on a data directory: the plan is shown
//! (secrets never), `--dry-run` changes nothing, a second apply changes nothing, `--prune` is the
//! only way to delete, and secrets come from the environment or files, never the file itself.

use super::support::{admin, stderr, stdout};

const DESIRED: &str = r#"
[[roles]]
name = "admin"
scopes = ["write"]
description = "operators"

[[clients]]
id = "billing"
grant_types = ["client_credentials"]
scopes = ["read"]
secret = { env = "BILLING_SECRET" }

[[clients]]
id = "reports"
grant_types = ["client_credentials"]
scopes = ["read"]

[[users]]
username = "alice"
roles = ["admin"]
email = "alice@example.com"
password = { file = "PASSWORD_FILE" }

[[users]]
username = "bob"
roles = ["user"]
"#;

const SECRET: &str = "billing-secret-from-the-environment";

#[tokio::test]
async fn apply_plans_applies_once_and_prunes_only_when_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let password_file = dir.path().join("alice-password");
    std::fs::write(&password_file, "correct horse battery staple\n").expect("password file");
    let file = dir.path().join("desired.toml");
    std::fs::write(
        &file,
        DESIRED.replace("PASSWORD_FILE", &password_file.display().to_string()),
    )
    .expect("desired file");
    let file_arg = file.display().to_string();
    let env = [("BILLING_SECRET", SECRET)];

    let dry = admin(&data, &["apply", &file_arg, "--dry-run"], "", &env).await;
    assert!(dry.status.success(), "{}", stderr(&dry));
    let planned = stdout(&dry);
    assert!(planned.contains("+ role admin\n"), "{planned}");
    assert!(planned.contains("+ client billing\n"), "{planned}");
    assert!(
        planned.contains("+ client reports (new secret, shown once)"),
        "{planned}"
    );
    assert!(
        planned.contains("+ user alice") && planned.contains("+ user bob"),
        "{planned}"
    );
    assert!(planned.contains("dry run: nothing changed"));
    assert!(!planned.contains(SECRET), "secrets are never printed");
    let users = stdout(&admin(&data, &["user", "list"], "", &[]).await);
    assert!(
        !users.contains("alice"),
        "a dry run changes nothing: {users}"
    );

    let applied = admin(&data, &["apply", &file_arg], "", &env).await;
    assert!(applied.status.success(), "{}", stderr(&applied));
    let output = stdout(&applied);
    assert!(output.contains("applied 5 change(s)"), "{output}");
    let roles = stdout(&admin(&data, &["role", "list"], "", &[]).await);
    assert!(
        roles.contains("admin") && roles.contains("write") && roles.contains("operators"),
        "{roles}"
    );
    assert!(
        output.contains("client_secret of reports: "),
        "the generated secret, once"
    );
    assert!(!output.contains(SECRET));

    let again = admin(&data, &["apply", &file_arg], "", &env).await;
    assert!(stdout(&again).contains("no changes"), "{}", stdout(&again));

    // Someone adds a user and a role by hand; apply leaves them unless pruning.
    let role = admin(&data, &["role", "set", "extra", "--scope", "a,b"], "", &[]).await;
    assert_eq!(stdout(&role).trim(), "role extra: a b", "{}", stderr(&role));
    let refused = admin(&data, &["role", "set", "Extra"], "", &[]).await;
    assert!(
        !refused.status.success() && stderr(&refused).contains("invalid role"),
        "{}",
        stderr(&refused)
    );
    let added = admin(
        &data,
        &["user", "add", "mallory", "--password-stdin"],
        "another long passphrase\n",
        &[],
    )
    .await;
    assert!(added.status.success());
    assert!(stdout(&admin(&data, &["apply", &file_arg], "", &env).await).contains("no changes"));
    let pruned = admin(&data, &["apply", &file_arg, "--prune"], "", &env).await;
    assert!(
        stdout(&pruned).contains("- role extra") && stdout(&pruned).contains("- user mallory"),
        "{}",
        stdout(&pruned)
    );
    let users = stdout(&admin(&data, &["user", "list"], "", &[]).await);
    assert!(
        !users.contains("mallory") && users.contains("alice"),
        "{users}"
    );

    // Every change is audited with the CLI actor.
    let audit = stdout(&admin(&data, &["audit", "--kind", "admin_action"], "", &[]).await);
    assert!(
        audit.contains(r#""action":"client.create","target":"billing""#),
        "{audit}"
    );
    assert!(
        audit.contains(r#""action":"user.delete","target":"mallory""#),
        "{audit}"
    );
}

#[tokio::test]
async fn secrets_must_come_from_the_environment_or_files() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let file = dir.path().join("desired.toml");
    let write = |text: &str| std::fs::write(&file, text).expect("write");
    let file_arg = file.display().to_string();

    write(
        "[[clients]]\nid = \"billing\"\ngrant_types = [\"client_credentials\"]\nsecret = \"inline-secret\"\n",
    );
    let inline = admin(&data, &["apply", &file_arg], "", &[]).await;
    assert!(!inline.status.success());
    assert!(
        stderr(&inline).contains("secrets never go in the file"),
        "{}",
        stderr(&inline)
    );
    assert!(!stderr(&inline).contains("inline-secret"));

    write(
        "[[clients]]\nid = \"billing\"\ngrant_types = [\"client_credentials\"]\nsecret = { env = \"UNSET_SECRET_VARIABLE\" }\n",
    );
    let unset = admin(&data, &["apply", &file_arg], "", &[]).await;
    assert!(!unset.status.success());
    assert!(
        stderr(&unset).contains("UNSET_SECRET_VARIABLE is not set"),
        "{}",
        stderr(&unset)
    );

    write("[[users]]\nusername = \"alice\"\nnickname = \"al\"\n");
    let unknown = admin(&data, &["apply", &file_arg], "", &[]).await;
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("nickname"),
        "{}",
        stderr(&unknown)
    );

    write("[[users]]\nusername = \"not valid\"\n");
    let invalid = admin(&data, &["apply", &file_arg], "", &[]).await;
    assert!(!invalid.status.success());
    assert!(
        stderr(&invalid).contains("invalid username"),
        "{}",
        stderr(&invalid)
    );
}

/// A client registered with its public keys, by `apply` (a TOML table) and by `client add
/// --jwks-file`, authenticates with private_key_jwt and gets no secret; applying the same file
/// again changes nothing.
#[tokio::test]
async fn keyed_clients_from_a_file_or_the_command_line_have_no_secret() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let key = portcullis_testkit::client_key::ClientKey::new("k1");
    let jwk = &key.jwks()["keys"][0];
    let desired = format!(
        "[[clients]]\nid = \"signer\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"read\"]\n\
         dpop_bound_access_tokens = true\n\
         require_mfa = true\n\
         require_pushed_authorization_requests = true\n\
         backchannel_logout_uri = \"https://signer.example/logout\"\n\
         [[clients.jwks.keys]]\nkty = \"EC\"\ncrv = \"P-256\"\nkid = \"k1\"\nx = {}\ny = {}\n",
        jwk["x"], jwk["y"]
    );
    let file = dir.path().join("desired.toml");
    std::fs::write(&file, desired).expect("desired file");
    let file_arg = file.display().to_string();
    let applied = admin(&data, &["apply", &file_arg], "", &[]).await;
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(
        stdout(&applied).contains("+ client signer\n"),
        "no secret is generated: {}",
        stdout(&applied)
    );
    let again = admin(&data, &["apply", &file_arg], "", &[]).await;
    assert!(stdout(&again).contains("no changes"), "{}", stdout(&again));
    let shown = admin(&data, &["client", "show", "signer"], "", &[]).await;
    let shown = stdout(&shown);
    assert!(shown.contains("authenticates:  private_key_jwt"), "{shown}");
    assert!(shown.contains("keys:           k1"), "{shown}");
    assert!(shown.contains("DPoP:           required"), "{shown}");
    assert!(shown.contains("second factor:  required"), "{shown}");
    assert!(shown.contains("PAR:            required"), "{shown}");
    // Dropping the requirement from the file is a change apply makes.
    let relaxed = std::fs::read_to_string(&file)
        .expect("desired file")
        .replace("require_mfa = true\n", "");
    std::fs::write(&file, relaxed).expect("desired file");
    let changed = admin(&data, &["apply", &file_arg], "", &[]).await;
    assert!(
        stdout(&changed).contains("require_mfa"),
        "{}",
        stdout(&changed)
    );
    let shown = stdout(&admin(&data, &["client", "show", "signer"], "", &[]).await);
    assert!(!shown.contains("second factor"), "{shown}");

    let jwks_file = dir.path().join("jwks.json");
    std::fs::write(&jwks_file, key.jwks().to_string()).expect("jwks file");
    let added = admin(
        &data,
        &[
            "client",
            "add",
            "cli-signer",
            "--grant",
            "client_credentials",
            "--jwks-file",
            &jwks_file.display().to_string(),
            "--require-mfa",
            "--require-par",
        ],
        "",
        &[],
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    let cli_shown = stdout(&admin(&data, &["client", "show", "cli-signer"], "", &[]).await);
    assert!(
        cli_shown.contains("second factor:  required")
            && cli_shown.contains("PAR:            required"),
        "{cli_shown}"
    );
    assert!(
        !stdout(&added).contains("client_secret"),
        "{}",
        stdout(&added)
    );
    let refused = admin(
        &data,
        &[
            "client",
            "add",
            "bad",
            "--grant",
            "client_credentials",
            "--jwks-uri",
            "http://x.example/jwks",
        ],
        "",
        &[],
    )
    .await;
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("jwks_uri"),
        "{}",
        stderr(&refused)
    );
}
