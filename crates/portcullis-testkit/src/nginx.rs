//! Debian's nginx as a real upstream for gateway tests, started on a free loopback port with a
//! configuration of the test's own and stopped when dropped. Without an nginx binary a test is
//! skipped on a laptop and fails when `CI=true` (`.ci/run` installs Debian's `nginx-light`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A running nginx, killed when dropped.
pub struct Nginx {
    /// Its listener.
    pub address: SocketAddr,
    child: Child,
    _dir: TempDir,
}

/// The installed program `name`: on `PATH`, or in `/usr/sbin` (where Debian puts nginx).
pub(crate) fn installed(name: &str) -> Option<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")]);
    candidates
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Waits until something listens at `address` (at most 10 s).
///
/// # Panics
/// When nothing does.
pub(crate) async fn wait_listening(address: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Nginx {
    /// Starts nginx with `server_body` (the directives inside one `server { }` block, without
    /// `listen`) on a free loopback port; `None` when nginx is not installed outside CI.
    pub async fn start(server_body: &str) -> Option<Self> {
        let address = crate::free_loopback_address();
        Self::start_at(address, server_body).await
    }

    /// [`Nginx::start`] listening on `address` (known before nginx starts, for a configuration
    /// that names it).
    pub async fn start_at(address: SocketAddr, server_body: &str) -> Option<Self> {
        let Some(binary) = installed("nginx") else {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("nginx must be installed when CI=true; .ci/run installs nginx-light");
            }
            eprintln!("skipped: nginx is not installed (apt-get install nginx-light)");
            return None;
        };
        let dir = tempfile::tempdir().expect("nginx directory");
        let path = dir.path().display();
        let temp_paths: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
            .iter()
            .map(|kind| format!("  {kind}_temp_path {path}/{kind};\n"))
            .collect();
        let config = format!(
            "daemon off;\nmaster_process off;\nerror_log {path}/error.log;\npid {path}/nginx.pid;\n\
             events {{}}\nhttp {{\n  access_log off;\n{temp_paths}  server {{\n    listen {address};\n{server_body}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), config).expect("nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let nginx = Nginx {
            address,
            child,
            _dir: dir,
        };
        wait_listening(address, "nginx").await;
        Some(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
