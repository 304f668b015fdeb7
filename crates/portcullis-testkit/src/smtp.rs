//! A real SMTP server on loopback for email tests: Python's `aiosmtpd` from PyPI (installed by
//! the test setup into `target/test-tools/python` on first use), storing every message it
//! accepts in a Maildir the test reads. Without Python or PyPI a test is skipped on a laptop and
//! fails when `CI=true`. It can be stopped and started again on the same port and Maildir, to
//! play an outage.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A running (or stopped) SMTP server and its Maildir.
pub struct TestSmtp {
    /// Where it listens (or listened).
    pub address: SocketAddr,
    child: Option<Child>,
    dir: TempDir,
}

/// `aiosmtpd`'s installation directory, installed once per test process; `None` if it could
/// not be installed.
fn python_path() -> Option<&'static Path> {
    static INSTALLED: OnceLock<Option<PathBuf>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let target =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-tools/python");
            if target.join("aiosmtpd").is_dir() {
                return Some(target);
            }
            let installed = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--target"])
                .arg(&target)
                .arg("aiosmtpd==1.4.6")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            installed.then_some(target)
        })
        .as_deref()
}

impl TestSmtp {
    /// Starts a server on a free loopback port; `None` (skip) when aiosmtpd cannot be installed
    /// outside CI.
    pub async fn start() -> Option<Self> {
        let mut server = TestSmtp {
            address: crate::free_loopback_address(),
            child: None,
            dir: tempfile::tempdir().expect("maildir"),
        };
        if python_path().is_none() {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("aiosmtpd must be installable from PyPI when CI=true");
            }
            eprintln!("skipped: cannot install aiosmtpd (python3 -m pip install aiosmtpd)");
            return None;
        }
        server.resume().await;
        Some(server)
    }

    /// A server that is not running yet (an SMTP outage), on a port it will use when resumed.
    pub async fn stopped() -> Option<Self> {
        let mut server = Self::start().await?;
        server.stop();
        Some(server)
    }

    /// Starts it again on the same port and Maildir.
    ///
    /// # Panics
    /// When it does not listen within 20 s.
    pub async fn resume(&mut self) {
        let python = python_path().expect("aiosmtpd installed");
        let child = Command::new("python3")
            .env("PYTHONPATH", python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(self.address.to_string())
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(self.address).await.is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it (connections are refused until [`TestSmtp::resume`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The messages delivered so far, oldest first, each as its raw text.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir/new");
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&new)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|entry| {
                        let modified = entry.metadata().ok()?.modified().ok()?;
                        Some((modified, entry.path()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// Waits until at least `count` messages arrived (at most `timeout`); returns them all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        self.stop();
    }
}
