//! Debian's Caddy as a real proxy in front of the gateway's forward-auth listener, started on a
//! free loopback port with a Caddyfile site of the test's own and stopped when dropped. Without a
//! caddy binary a test is skipped on a laptop and fails when `CI=true` (`.ci/run` installs
//! Debian's `caddy`).

use crate::nginx::{installed, wait_listening};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use tempfile::TempDir;

/// A running Caddy, killed when dropped.
pub struct Caddy {
    /// Its listener.
    pub address: SocketAddr,
    child: Child,
    _dir: TempDir,
}

impl Caddy {
    /// Starts Caddy serving one plain-http site whose directives are `site_body`; `None` when
    /// Caddy is not installed outside CI.
    pub async fn start(site_body: &str) -> Option<Self> {
        let Some(binary) = installed("caddy") else {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("caddy must be installed when CI=true; .ci/run installs it");
            }
            eprintln!("skipped: caddy is not installed (apt-get install caddy)");
            return None;
        };
        let dir = tempfile::tempdir().expect("caddy directory");
        let address = crate::free_loopback_address();
        let caddyfile = dir.path().join("Caddyfile");
        std::fs::write(
            &caddyfile,
            format!(
                "{{\n\tadmin off\n\tauto_https off\n}}\n\
                 http://{address} {{\n{site_body}\n}}\n"
            ),
        )
        .expect("Caddyfile");
        let child = Command::new(binary)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&caddyfile)
            // Caddy keeps its state under $HOME and $XDG_*: the test's own directory.
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start caddy");
        let caddy = Caddy {
            address,
            child,
            _dir: dir,
        };
        wait_listening(address, "caddy").await;
        Some(caddy)
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
