use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::*;

/// A CA (its PEM written to a file) and a leaf it signs for `name`.
struct Pki {
    ca_file: std::path::PathBuf,
    leaf: CertificateDer<'static>,
}

fn pki(ca_name: &str, name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .unwrap();
    let ca_file = std::env::temp_dir().join(drkit_testkit::unique("drkit-unit-ca"));
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    Pki {
        ca_file,
        leaf: leaf.der().clone(),
    }
}

fn db(mode: SslMode, ca: Option<&std::path::Path>) -> PgConnection {
    let db = PgConnection::new("127.0.0.1", "mint", "ro").sslmode(mode);
    match ca {
        Some(ca) => db.sslrootcert(ca.display().to_string()),
        None => db,
    }
}

/// What `mode` says of `cert` presented by a server reached as `host`.
fn verdict(
    mode: SslMode,
    ca: Option<&std::path::Path>,
    cert: &CertificateDer<'_>,
    host: &str,
) -> Result<(), rustls::Error> {
    let verifier = pg_verifier(&db(mode, ca), &ring()).unwrap().unwrap();
    verifier
        .verify_server_cert(
            cert,
            &[],
            &ServerName::try_from(host.to_owned()).unwrap(),
            &[],
            UnixTime::since_unix_epoch(Duration::from_secs(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs(),
            )),
        )
        .map(drop)
}

/// libpq's modes: verify-full checks the chain and the name, verify-ca the chain only, require
/// the chain only when a CA is given and nothing otherwise; disable has no TLS at all.
#[test]
fn each_sslmode_accepts_what_libpq_accepts() {
    let ours = pki("drkit unit CA", "db.mint.internal");
    let foreign = pki("another unit CA", "db.mint.internal");
    let ca = Some(ours.ca_file.as_path());
    let other_ca = Some(foreign.ca_file.as_path());
    // Right CA, right name.
    for mode in [SslMode::VerifyFull, SslMode::VerifyCa, SslMode::Require] {
        verdict(mode, ca, &ours.leaf, "db.mint.internal").unwrap_or_else(|e| panic!("{mode}: {e}"));
    }
    // Right CA, a name the certificate does not hold.
    assert!(matches!(
        verdict(SslMode::VerifyFull, ca, &ours.leaf, "10.0.0.7"),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ))
    ));
    verdict(SslMode::VerifyCa, ca, &ours.leaf, "10.0.0.7").unwrap();
    verdict(SslMode::Require, ca, &ours.leaf, "10.0.0.7").unwrap();
    // A CA that did not sign it.
    for mode in [SslMode::VerifyFull, SslMode::VerifyCa, SslMode::Require] {
        assert!(
            matches!(
                verdict(mode, other_ca, &ours.leaf, "db.mint.internal"),
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{mode}"
        );
    }
    // No CA given: verify-full uses the public roots (which did not sign it); require
    // verifies nothing.
    assert!(verdict(SslMode::VerifyFull, None, &ours.leaf, "db.mint.internal").is_err());
    verdict(SslMode::Require, None, &ours.leaf, "anything").unwrap();
    // No TLS.
    assert!(
        pg_verifier(&db(SslMode::Disable, None), &ring())
            .unwrap()
            .is_none()
    );
    assert!(
        pg_client_config(&db(SslMode::Disable, None))
            .unwrap()
            .is_none()
    );
    assert!(
        pg_client_config(&db(SslMode::VerifyFull, ca))
            .unwrap()
            .is_some()
    );
    for f in [ours.ca_file, foreign.ca_file] {
        std::fs::remove_file(f).ok();
    }
}

#[test]
fn a_missing_or_empty_sslrootcert_is_named() {
    let missing = db(
        SslMode::VerifyFull,
        Some(std::path::Path::new("/nonexistent/ca.pem")),
    );
    let err = pg_client_config(&missing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .starts_with("sslrootcert /nonexistent/ca.pem"),
        "{err}"
    );

    let empty = std::env::temp_dir().join(drkit_testkit::unique("drkit-empty-ca"));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = pg_client_config(&db(SslMode::VerifyCa, Some(&empty))).unwrap_err();
    assert!(
        err.to_string().contains("holds no PEM certificate"),
        "{err}"
    );
    std::fs::remove_file(empty).ok();
}

#[test]
fn the_advice_names_the_fix() {
    let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
    let text = tls_advice(&unknown, "sslrootcert");
    assert!(
        text.contains("`sslrootcert`") && text.contains(RDS_CA_BUNDLE),
        "{text}"
    );
    let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
    assert!(tls_advice(&name, "tls_ca").contains("does not name this host"));
    let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
    assert!(tls_advice(&expired, "tls_ca").contains("expired"));
}

/// The rustls error is found through tokio-rustls's io::Error wrapping.
#[test]
fn the_rustls_error_is_found_in_the_source_chain() {
    let inner = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
    let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
    assert!(matches!(
        rustls_error(&io),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))
    ));
    let plain = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
    assert!(rustls_error(&plain).is_none());
}

/// The quirk: the `redis` crate needs a process-default provider. After this, one exists.
#[test]
fn a_default_crypto_provider_is_installed_once() {
    ensure_default_crypto_provider();
    assert!(CryptoProvider::get_default().is_some());
    ensure_default_crypto_provider();
    assert!(CryptoProvider::get_default().is_some());
}
