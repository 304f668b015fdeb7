//! `PORTCULLIS_*` environment overrides. Each option `section.key` is set by
//! `PORTCULLIS_SECTION_KEY` (top-level `key` by `PORTCULLIS_KEY`); the value is typed by the option.

use anyhow::{Context, bail};
use toml::{Table, Value};

/// The type of an option, to turn an environment string into a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// Every option settable from the environment, by its path in the TOML document.
pub const ENV_OVERRIDES: &[(&[&str], Kind)] = &[
    (&["data_dir"], Kind::Text),
    (&["database_url"], Kind::Text),
    (&["database_max_connections"], Kind::Integer),
    (&["redis_url"], Kind::Text),
    (&["redis_prefix"], Kind::Text),
    (&["redis_cluster"], Kind::Boolean),
    (&["redis_codes"], Kind::Boolean),
    (&["redis_sessions"], Kind::Boolean),
    (&["auth", "listen"], Kind::Text),
    (&["auth", "admin_listen"], Kind::Text),
    (&["auth", "issuer"], Kind::Text),
    (&["auth", "product_name"], Kind::Text),
    (&["auth", "direct_login_client"], Kind::Text),
    (&["auth", "housekeeping_interval_secs"], Kind::Integer),
    (&["auth", "audit_retention_days"], Kind::Integer),
    (&["auth", "tls_cert_file"], Kind::Text),
    (&["auth", "tls_key_file"], Kind::Text),
    (&["auth", "outbound_private_networks"], Kind::Boolean),
    (&["auth", "dpop_nonce"], Kind::Boolean),
    (&["auth", "mfa_required"], Kind::Boolean),
    (&["auth", "passkey_user_verification"], Kind::Text),
    (&["auth", "sign_in_concurrency"], Kind::Integer),
    (&["auth", "sign_in_max_wait_ms"], Kind::Integer),
    (&["auth", "client_cache_max_age_ms"], Kind::Integer),
    (&["auth", "sign_in_max_waiting"], Kind::Integer),
    (
        &["auth", "require_pushed_authorization_requests"],
        Kind::Boolean,
    ),
    (&["client_registration", "mode"], Kind::Text),
    (&["personal_access_tokens", "enabled"], Kind::Boolean),
    (&["federation", "local_sign_in"], Kind::Boolean),
    (&["client_registration", "max_clients"], Kind::Integer),
    (
        &["client_registration", "metadata_documents"],
        Kind::Boolean,
    ),
    (&["tokens", "access_token_lifetime_secs"], Kind::Integer),
    (&["tokens", "max_access_token_lifetime_secs"], Kind::Integer),
    (&["tokens", "leeway_secs"], Kind::Integer),
    (&["tokens", "refresh_token_sliding_secs"], Kind::Integer),
    (&["tokens", "refresh_token_absolute_secs"], Kind::Integer),
    (&["tokens", "default_audience"], Kind::Text),
    (&["sessions", "idle_timeout_secs"], Kind::Integer),
    (&["sessions", "absolute_timeout_secs"], Kind::Integer),
    (&["keys", "access_token_algorithm"], Kind::Text),
    (&["keys", "rotation_interval_secs"], Kind::Integer),
    (&["keys", "prepublish_secs"], Kind::Integer),
    (&["keys", "jwks_max_age_secs"], Kind::Integer),
    (&["keys", "refresh_interval_secs"], Kind::Integer),
    (&["keys", "key_encryption_key"], Kind::Text),
    (&["passwords", "min_length"], Kind::Integer),
    (&["passwords", "argon2_memory_kib"], Kind::Integer),
    (&["passwords", "argon2_iterations"], Kind::Integer),
    (&["passwords", "argon2_parallelism"], Kind::Integer),
    (&["email", "smtp_host"], Kind::Text),
    (&["email", "smtp_port"], Kind::Integer),
    (&["email", "security"], Kind::Text),
    (&["email", "username"], Kind::Text),
    (&["email", "password"], Kind::Text),
    (&["email", "from"], Kind::Text),
    (&["email", "ca_file"], Kind::Text),
    (&["email", "stuck_after_secs"], Kind::Integer),
    (&["registration", "mode"], Kind::Text),
    (&["registration", "require_verified_email"], Kind::Boolean),
    (&["log", "format"], Kind::Text),
    (&["log", "level"], Kind::Text),
    (&["gateway", "listen"], Kind::Text),
    (&["gateway", "admin_listen"], Kind::Text),
    (&["gateway", "forward_auth_listen"], Kind::Text),
    (&["gateway", "dpop_nonce"], Kind::Boolean),
    (&["gateway", "dpop_nonce_secret"], Kind::Text),
    (&["gateway", "session", "client_secret"], Kind::Text),
];

/// The environment variable of an option path.
pub fn env_name(path: &[&str]) -> String {
    format!("PORTCULLIS_{}", path.join("_").to_ascii_uppercase())
}

/// Writes every matching environment variable into `table`.
///
/// # Errors
/// A value of the wrong type, naming the variable (never its value, which may be a secret).
pub fn apply_env_overrides(
    table: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    for (path, kind) in ENV_OVERRIDES {
        let name = env_name(path);
        let Some((_, raw)) = env.iter().find(|(key, _)| *key == name) else {
            continue;
        };
        let value = match kind {
            Kind::Text => Value::String(raw.clone()),
            Kind::Boolean => Value::Boolean(match raw.trim() {
                "true" => true,
                "false" => false,
                _ => bail!("{name} must be true or false"),
            }),
            Kind::Integer => Value::Integer(
                raw.trim()
                    .parse()
                    .with_context(|| format!("{name} must be an integer"))?,
            ),
        };
        set_path(table, path, value).with_context(|| format!("cannot apply {name}"))?;
    }
    Ok(())
}

fn set_path(table: &mut Table, path: &[&str], value: Value) -> anyhow::Result<()> {
    let Some((last, parents)) = path.split_last() else {
        bail!("empty option path");
    };
    let mut current = table;
    for section in parents {
        let entry = current
            .entry((*section).to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        let Value::Table(next) = entry else {
            bail!("`{section}` must be a table");
        };
        current = next;
    }
    current.insert((*last).to_owned(), value);
    Ok(())
}
