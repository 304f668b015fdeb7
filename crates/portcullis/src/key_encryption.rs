//! Resolving the key-encryption key: from the configuration (or `PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY`),
//! else from `<data_dir>/key-encryption-key`, generated with mode 0600 on first use.

use crate::config::Config;
use anyhow::Context;
use portcullis_jose::KeyEncryptionKey;
use std::io::Write;
use std::path::Path;

/// File name of the generated key inside the data directory.
pub const KEK_FILE: &str = "key-encryption-key";

/// The key-encryption key for this configuration.
///
/// # Errors
/// When the configured key is invalid or the key file cannot be read or created.
pub fn resolve(config: &Config) -> anyhow::Result<KeyEncryptionKey> {
    if let Some(secret) = &config.keys.key_encryption_key {
        return KeyEncryptionKey::from_base64url(secret.expose())
            .context("keys.key_encryption_key is invalid");
    }
    if config.database_url.is_some() {
        // Servers sharing one database must share the key that seals its signing keys; a key
        // generated into one server's data directory would lock the others out.
        anyhow::bail!(
            "keys.key_encryption_key (or PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY) must be set when database_url is"
        );
    }
    let path = config.data_dir.join(KEK_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return KeyEncryptionKey::from_base64url(&text)
            .with_context(|| format!("{} does not hold a valid key", path.display()));
    }
    let kek = KeyEncryptionKey::generate()?;
    write_private_file(&path, kek.to_base64url().as_bytes())?;
    tracing::warn!(
        path = %path.display(),
        "generated a key-encryption key in the data directory; set keys.key_encryption_key \
         (or PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY) from a secret store in production"
    );
    Ok(kek)
}

/// Creates `path` with mode 0600 (never overwriting) and writes `contents` durably.
fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}
