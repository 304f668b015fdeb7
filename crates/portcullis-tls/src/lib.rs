//! TLS for Portcullis, with rustls on aws-lc-rs and its safe defaults (TLS 1.2 and 1.3).
//!
//! * [`acceptor`]: a server's certificate chain and key from PEM files, ALPN offering HTTP/2 and
//!   HTTP/1.1 (the gateway's public listener and the auth server).
//! * [`client_config`]: what an outbound connection trusts: the system's roots (through
//!   rustls-platform-verifier) or exactly the CAs of a PEM bundle, and the client certificate it
//!   presents, if any (the gateway's upstreams, JWKS and revocation-feed fetches).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tokio_rustls::TlsAcceptor;

/// A TLS setting that cannot be used.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate and key that do not belong together, or are of an unusable kind.
    #[error("certificate and key do not match or are unusable: {0}")]
    Identity(String),
    /// The trust anchors could not be set up.
    #[error("trust anchors: {0}")]
    Trust(String),
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The certificates of a PEM file, at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|error| file_error(path, error))?
        .collect::<Result<_, _>>()
        .map_err(|error| file_error(path, error))?;
    if certificates.is_empty() {
        return Err(file_error(path, "no certificate found"));
    }
    Ok(certificates)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| file_error(path, error))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server's TLS acceptor from its PEM certificate chain and key, offering HTTP/2 and HTTP/1.1.
///
/// # Errors
/// [`TlsError`] naming the file and what is wrong with it.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(cert_file)?;
    let key = private_key(key_file)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Trust(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| TlsError::Identity(error.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A client certificate and its key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    /// The certificate chain.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
}

/// What an outbound TLS connection trusts and presents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientTls {
    /// Trust exactly the CAs of this PEM bundle; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The client certificate to present (mutual TLS), if any.
    pub identity: Option<ClientIdentity>,
}

/// A client configuration for HTTP/1.1 over TLS: server certificates verified (chain, name,
/// validity period) against the roots `tls` names, with its client certificate if it has one.
///
/// # Errors
/// [`TlsError`].
pub fn client_config(tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Trust(error.to_string()))?;
    let builder = match &tls.ca_file {
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in certificates(ca_file)? {
                roots
                    .add(certificate)
                    .map_err(|error| file_error(ca_file, error))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider())
                .map_err(|error| TlsError::Trust(error.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    let mut config = match &tls.identity {
        Some(identity) => builder
            .with_client_auth_cert(
                certificates(&identity.cert_file)?,
                private_key(&identity.key_file)?,
            )
            .map_err(|error| TlsError::Identity(error.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn unusable_files_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let missing = dir.path().join("missing.pem");
        for error in [
            acceptor(&empty, &empty).err(),
            acceptor(&missing, &missing).err(),
            client_config(&ClientTls {
                ca_file: Some(empty.clone()),
                identity: None,
            })
            .err(),
        ] {
            let text = error.map(|error| error.to_string()).unwrap_or_default();
            assert!(text.contains(".pem:"), "{text}");
        }
        let one = rcgen::generate_simple_self_signed(vec!["a.example".to_owned()]).expect("cert");
        let other = rcgen::generate_simple_self_signed(vec!["b.example".to_owned()]).expect("cert");
        let (cert, key) = (dir.path().join("a.pem"), dir.path().join("b-key.pem"));
        std::fs::write(&cert, one.cert.pem()).expect("write");
        std::fs::write(&key, other.signing_key.serialize_pem()).expect("write");
        assert!(matches!(acceptor(&cert, &key), Err(TlsError::Identity(_))));
        assert!(
            client_config(&ClientTls {
                ca_file: Some(cert.clone()),
                identity: None
            })
            .is_ok()
        );
        assert!(client_config(&ClientTls::default()).is_ok(), "system roots");
    }
}
