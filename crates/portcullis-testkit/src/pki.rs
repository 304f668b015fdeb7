//! A certificate authority of the test's own (rcgen): server certificates for `localhost` and
//! `127.0.0.1`, valid or expired, and client certificates, written as PEM files into a temporary
//! directory that goes with the value.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::PathBuf;
use tempfile::TempDir;

/// A CA and the files it issued.
pub struct TestPki {
    dir: TempDir,
    name: String,
    ca: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate, PEM: what a client trusting this CA is given.
    pub ca_file: PathBuf,
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate.
    pub cert_file: PathBuf,
    /// Its private key.
    pub key_file: PathBuf,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The issuing CA's certificate, PEM.
    pub ca_pem: String,
}

impl TestPki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("pki directory");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key"))
            .expect("CA certificate");
        let ca_file = dir.path().join(format!("{name}-ca.pem"));
        std::fs::write(&ca_file, ca.pem()).expect("write CA");
        TestPki {
            dir,
            name: name.to_owned(),
            ca,
            ca_file,
        }
    }

    fn issue(&self, file: &str, mut params: CertificateParams) -> IssuedCertificate {
        params
            .distinguished_name
            .push(DnType::OrganizationName, &self.name);
        let key = KeyPair::generate().expect("key");
        let certificate = params.signed_by(&key, &self.ca).expect("certificate");
        let cert_file = self.dir.path().join(format!("{file}.pem"));
        let key_file = self.dir.path().join(format!("{file}-key.pem"));
        let cert_pem = certificate.pem();
        std::fs::write(&cert_file, &cert_pem).expect("write certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        IssuedCertificate {
            cert_file,
            key_file,
            cert_pem,
            ca_pem: self.ca.pem(),
        }
    }

    fn server_params() -> CertificateParams {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params
    }

    /// A server certificate for `localhost` and `127.0.0.1`, valid now.
    pub fn server(&self, file: &str) -> IssuedCertificate {
        self.issue(file, Self::server_params())
    }

    /// A server certificate for `localhost` and `127.0.0.1` that expired in 2021.
    pub fn expired_server(&self, file: &str) -> IssuedCertificate {
        let mut params = Self::server_params();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.issue(file, params)
    }

    /// A client certificate with common name `common_name`.
    pub fn client(&self, common_name: &str) -> IssuedCertificate {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(common_name, params)
    }
}
