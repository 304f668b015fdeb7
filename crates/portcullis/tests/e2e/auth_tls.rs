//! `portcullis serve auth` terminating TLS itself: the issuer is https, discovery and sign-in are
//! served over TLS, and the cookies are `Secure` with the `__Host-` prefix.

use super::support::admin;
use portcullis_testkit::pki::TestPki;
use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_auth_speaks_tls_with_an_https_issuer_and_host_only_secure_cookies() {
    let pki = TestPki::new("auth");
    let certificate = pki.server("auth");
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[auth]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            certificate.cert_file.display(),
            certificate.key_file.display()
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let added = admin(
        &data,
        &["user", "add", "alice", "--password-stdin"],
        "correct horse battery\n",
        &[("PORTCULLIS_PASSWORDS_ARGON2_MEMORY_KIB", "1024")],
    )
    .await;
    assert!(added.status.success(), "{added:?}");
    // A fixed port: the default issuer is derived from the listen address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("free port")
        .port();
    let admin_listen = format!("127.0.0.1:{admin_port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("--config")
        .arg(&config)
        .args([
            "serve",
            "auth",
            "--listen",
            &listen,
            "--admin-listen",
            &admin_listen,
        ])
        .arg("--data-dir")
        .arg(&data)
        .env("PORTCULLIS_PASSWORDS_ARGON2_MEMORY_KIB", "1024")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let base = super::support::printed_url(&mut child, "https");
    let client = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(certificate.ca_pem.as_bytes()).expect("CA"),
        ])
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let metadata: serde_json::Value = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery over TLS")
        .json()
        .await
        .expect("json");
    assert_eq!(metadata["issuer"], base.as_str());
    assert!(
        metadata["token_endpoint"]
            .as_str()
            .is_some_and(|url| url.starts_with("https://"))
    );
    let page = client
        .get(format!("{base}/signin"))
        .send()
        .await
        .expect("sign-in page");
    let csrf_cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        csrf_cookie.starts_with("__Host-portcullis_csrf=") && csrf_cookie.contains("Secure"),
        "{csrf_cookie}"
    );
    let fields = portcullis_testkit::browser::hidden_fields(&page.text().await.expect("html"));
    let mut form = fields.clone();
    form.push(("username".into(), "alice".into()));
    form.push(("password".into(), "correct horse battery".into()));
    let signed_in = client
        .post(format!("{base}/signin"))
        .form(&form)
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 200);
    let session_cookie = signed_in.headers()["set-cookie"].to_str().expect("cookie");
    assert!(
        session_cookie.starts_with("__Host-portcullis_session=")
            && session_cookie.contains("Secure")
            && session_cookie.contains("Path=/")
            && !session_cookie.contains("Domain"),
        "{session_cookie}"
    );
    let plain = reqwest::get(base.replacen("https://", "http://", 1)).await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()),
        "no plain HTTP"
    );
    // The admin listener (admin API, metrics) speaks TLS with the same certificate.
    let health = client
        .get(format!("https://{admin_listen}/healthz"))
        .send()
        .await
        .expect("admin listener over TLS");
    assert_eq!(health.status(), 200);
    let plain_admin = reqwest::get(format!("http://{admin_listen}/healthz")).await;
    assert!(
        plain_admin.is_err() || plain_admin.is_ok_and(|r| !r.status().is_success()),
        "no plain HTTP on the admin listener either"
    );
    // `portcullis admin --server https://...` trusts the given CA for the server and the issuer.
    let registered = admin(
        &data,
        &[
            "client",
            "add",
            "ops",
            "--grant",
            "client_credentials",
            "--scope",
            "portcullis:admin",
            "--audience",
            &base,
        ],
        "",
        &[],
    )
    .await;
    assert!(
        registered.status.success(),
        "{}",
        super::support::stderr(&registered)
    );
    let ops_secret = super::support::printed_secret(&registered);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &certificate.ca_pem).expect("CA file");
    let server_url = format!("https://{admin_listen}");
    let ca_arg = ca_file.display().to_string();
    let listed = admin(
        &data,
        &[
            "--server",
            &server_url,
            "--ca-file",
            &ca_arg,
            "--client-id",
            "ops",
            "--issuer",
            &base,
            "user",
            "list",
        ],
        "",
        &[("PORTCULLIS_ADMIN_CLIENT_SECRET", &ops_secret)],
    )
    .await;
    assert!(
        listed.status.success(),
        "{}",
        super::support::stderr(&listed)
    );
    assert!(super::support::stdout(&listed).contains("alice"));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
