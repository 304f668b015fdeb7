//! A third-party OpenID provider on loopback for tests: panva's `oidc-provider` from npm
//! (installed by the test setup into `target/test-tools/oidc-provider` on first use) run by
//! Node.js with `oidc-provider/provider.mjs`. Its access tokens are opaque, for one audience, so
//! a resource server must introspect them (RFC 7662). Without Node.js or npm a test is skipped
//! on a laptop and fails when `CI=true`. It can be stopped and started again on the same port
//! (an outage; it keeps no state across restarts).

use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running (or stopped) provider.
pub struct TestOidcProvider {
    /// Where it listens (or listened).
    pub address: SocketAddr,
    /// Its issuer identifier (`http://127.0.0.1:<port>`).
    pub issuer: String,
    settings: String,
    child: Option<Child>,
    /// The provider's standard error, for a test that fails to start it.
    log: tempfile::NamedTempFile,
}

/// Where `oidc-provider` and the script are installed, once per test process, from the
/// committed lockfile (`npm ci --ignore-scripts`: exact versions, no install scripts); a stamp
/// holding the lockfile marks a finished install, so an interrupted or outdated one is redone.
/// `None` if it could not be installed.
fn installation() -> Option<&'static Path> {
    static INSTALLED: OnceLock<Option<PathBuf>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc-provider");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(
                    || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
                    PathBuf::from,
                )
                .join("test-tools/oidc-provider");
            std::fs::create_dir_all(&target).ok()?;
            for file in ["package.json", "package-lock.json", "provider.mjs"] {
                std::fs::copy(source.join(file), target.join(file)).ok()?;
            }
            let lock = std::fs::read(source.join("package-lock.json")).ok()?;
            let stamp = target.join("installed.stamp");
            if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
                return Some(target);
            }
            let installed = Command::new("npm")
                .args([
                    "ci",
                    "--ignore-scripts",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                ])
                .current_dir(&target)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            (installed && std::fs::write(&stamp, &lock).is_ok()).then_some(target)
        })
        .as_deref()
}

/// A client of the provider: `client_credentials` with `scope`, or (no grant types) one that
/// only authenticates, such as a resource server introspecting tokens.
pub fn provider_client(id: &str, secret: &str, grant_types: &[&str], scope: &str) -> Value {
    let mut client = json!({
        "client_id": id,
        "client_secret": secret,
        "grant_types": grant_types,
        "redirect_uris": [],
        "response_types": [],
    });
    // The provider refuses an empty `scope`.
    if !scope.is_empty() {
        client["scope"] = scope.into();
    }
    client
}

/// A confidential client of the provider that signs users in (Authorization Code) and comes
/// back to `redirect_uri`, asking for `scope` besides `openid`.
pub fn sign_in_client(id: &str, secret: &str, redirect_uri: &str, scope: &str) -> Value {
    json!({
        "client_id": id,
        "client_secret": secret,
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [redirect_uri],
        "response_types": ["code"],
        "scope": format!("openid offline_access {scope}"),
    })
}

/// The first form of `html`: its action and hidden fields.
fn first_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = &html[html.find("<form")?..];
    let action = form
        .split("action=\"")
        .nth(1)?
        .split('"')
        .next()?
        .replace("&amp;", "&");
    Some((action, crate::browser::hidden_fields(form)))
}

/// Follows `response` (to a request for `url`) in `browser` through redirects and the
/// provider's development pages, signing in as `login` and consenting, until a page whose URL
/// starts with `back_at`: that URL and the page's text.
///
/// # Panics
/// On a page with no form, or after a dozen steps.
pub async fn sign_in_through(
    browser: &crate::browser::Browser,
    mut response: reqwest::Response,
    mut url: String,
    back_at: &str,
    login: &str,
) -> (String, String) {
    let join = |current: &str, next: &str| {
        reqwest::Url::parse(current)
            .and_then(|current| current.join(next))
            .expect("a URL")
            .to_string()
    };
    for _ in 0..12 {
        if response.status().is_redirection() {
            let next = response.headers()["location"].to_str().expect("ascii");
            url = join(&url, next);
            response = browser.get(&url).await;
            continue;
        }
        let page = response.text().await.expect("page");
        if url.starts_with(back_at) {
            return (url, page);
        }
        let (action, mut fields) = first_form(&page).unwrap_or_else(|| panic!("no form: {page}"));
        if page.contains("name=\"login\"") {
            fields.push(("login".into(), login.into()));
            fields.push(("password".into(), "anything".into()));
        }
        url = join(&url, &action);
        response = browser.post(&url, &fields).await;
    }
    panic!("not back at {back_at} after a dozen steps");
}

impl TestOidcProvider {
    /// Starts a provider with these `clients` ([`provider_client`]) issuing opaque access tokens
    /// for `audience` with the scopes `scope` (space-separated), living `access_token_ttl`
    /// seconds; `None` (skip) when Node.js or the package is missing outside CI.
    pub async fn start(
        clients: Vec<Value>,
        audience: &str,
        scope: &str,
        access_token_ttl: u64,
    ) -> Option<Self> {
        Self::start_configured(clients, audience, scope, access_token_ttl, false).await
    }

    /// [`TestOidcProvider::start`] with its development sign-in pages on: any login and password
    /// sign in (the login is the `sub`), then a consent page ([`sign_in_client`]).
    pub async fn start_with_sign_in(
        clients: Vec<Value>,
        audience: &str,
        scope: &str,
        access_token_ttl: u64,
    ) -> Option<Self> {
        Self::start_configured(clients, audience, scope, access_token_ttl, true).await
    }

    async fn start_configured(
        clients: Vec<Value>,
        audience: &str,
        scope: &str,
        access_token_ttl: u64,
        sign_in: bool,
    ) -> Option<Self> {
        if installation().is_none() {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("node and npm must install oidc-provider when CI=true");
            }
            eprintln!("skipped: cannot install oidc-provider (needs node and npm)");
            return None;
        }
        let address = crate::free_loopback_address();
        let settings = json!({
            "port": address.port(),
            "clients": clients,
            "audience": audience,
            "scope": scope,
            "access_token_ttl": access_token_ttl,
            "sign_in": sign_in,
        })
        .to_string();
        let mut provider = TestOidcProvider {
            address,
            issuer: format!("http://{address}"),
            settings,
            child: None,
            log: tempfile::NamedTempFile::new().expect("log file"),
        };
        provider.resume().await;
        Some(provider)
    }

    /// Starts it again on the same port (with no memory of earlier tokens).
    ///
    /// # Panics
    /// When it exits or does not listen within 20 s (with what it wrote to standard error).
    pub async fn resume(&mut self) {
        let directory = installation().expect("oidc-provider installed");
        let child = Command::new("node")
            .arg("provider.mjs")
            .arg(&self.settings)
            .current_dir(directory)
            .stdout(Stdio::null())
            .stderr(self.log.reopen().expect("log file"))
            .spawn()
            .expect("start oidc-provider");
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(self.address).await.is_err() {
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
                panic!("oidc-provider did not start ({exited:?}): {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it (connections are refused until [`TestOidcProvider::resume`]).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `<issuer><path>`
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// A client-credentials access token for `client_id` with `scope`.
    ///
    /// # Panics
    /// When the provider does not issue one.
    pub async fn token(&self, client_id: &str, secret: &str, scope: &str) -> String {
        let answer: Value = reqwest::Client::new()
            .post(self.url("/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token answer");
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {answer}"))
            .to_owned()
    }

    /// Revokes `token` (RFC 7009) as `client_id`.
    ///
    /// # Panics
    /// When the provider refuses.
    pub async fn revoke(&self, client_id: &str, secret: &str, token: &str) {
        let status = reqwest::Client::new()
            .post(self.url("/token/revocation"))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("revocation request")
            .status();
        assert!(status.is_success(), "revocation answered {status}");
    }
}

impl Drop for TestOidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}
