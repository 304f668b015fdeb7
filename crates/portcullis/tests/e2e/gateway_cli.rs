//! `portcullis serve gateway` as a process: configuration file (with its worker count), SIGHUP
//! reload, SIGTERM drain.

use super::support::{access_token, plain_upstream, service_client};
use portcullis_testkit::TestAuthServer;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_config(path: &Path, issuer: &str, upstream: &str, extra_route: bool) {
    let mut text = format!(
        "version = 1\n[gateway]\nadmin_listen = \"127.0.0.1:0\"\nworkers = 3\n\n[[gateway.issuers]]\nissuer = \"{issuer}\"\naudience = \"https://api.example\"\n\n\
         [[gateway.routes]]\nname = \"api\"\npath_prefix = \"/api\"\nupstreams = [\"{upstream}\"]\n"
    );
    if extra_route {
        text.push_str(&format!("\n[[gateway.routes]]\nname = \"new\"\npath_prefix = \"/new\"\nupstreams = [\"{upstream}\"]\nauth = \"public\"\n"));
    }
    std::fs::write(path, text).expect("write config");
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_gateway_reloads_on_sighup_and_drains_on_sigterm() {
    let auth = TestAuthServer::start().await;
    let (_, secret) = auth.add_client(service_client("svc")).await;
    let token = access_token(&auth, "svc", &secret.expect("secret")).await;
    let upstream = plain_upstream().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("portcullis.toml");
    let log = dir.path().join("gateway.log");
    write_config(&config, &auth.base_url, &upstream, false);
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("--config")
        .arg(&config)
        .args(["serve", "gateway", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("spawn gateway");
    let base = super::support::printed_url(&mut child, "http");
    let http = reqwest::Client::new();
    let api = http
        .get(format!("{base}/api/x"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("api");
    assert_eq!(api.status(), 200);
    assert_eq!(api.text().await.expect("text"), "upstream says hi");
    if cfg!(target_os = "linux") {
        // `workers = 3`: three threads serve the public listener, whatever the core count.
        let workers = std::fs::read_dir(format!("/proc/{}/task", child.id()))
            .expect("threads")
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("gateway-"))
            .count();
        assert_eq!(workers, 3);
    }
    assert_eq!(
        http.get(format!("{base}/new/x"))
            .send()
            .await
            .expect("new")
            .status(),
        404
    );

    write_config(&config, &auth.base_url, &upstream, true);
    signal(child.id(), "HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while http
        .get(format!("{base}/new/x"))
        .send()
        .await
        .expect("new")
        .status()
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "SIGHUP did not load the new route"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(&config, "version = 1\n[gateway]\nroutes = \"not a list\"\n").expect("write");
    signal(child.id(), "HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        http.get(format!("{base}/new/x"))
            .send()
            .await
            .expect("new")
            .status(),
        200,
        "a bad config is refused"
    );

    signal(child.id(), "TERM");
    let status = child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(logs.contains("configuration reloaded"));
    assert!(logs.contains("configuration reload refused"));
    assert!(!logs.contains(&token), "tokens never logged");
}
