//! TLS for the data checks: the trust roots, the libpq `sslmode` verifiers for PostgreSQL, and
//! the one place the `redis` crate's rustls quirk is handled.
//!
//! Every TLS configuration here is built on rustls with *ring* (as the rest of drkit's own TLS
//! is), never OpenSSL, and never falls back to plaintext.

use std::sync::Arc;

use drkit_core::{ActionError, ErrorKind};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::pg::{PgConnection, SslMode};

/// Where Amazon RDS's CA bundle is published: RDS server certificates are signed by RDS's own
/// CAs, which no public root store holds, so a check of an RDS database needs this file as its
/// `sslrootcert`.
pub(crate) const RDS_CA_BUNDLE: &str =
    "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

/// The certificates of the PEM file at `path` (a CA bundle), for the parameter `param`.
pub(crate) fn pem_certificates(
    param: &str,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, ActionError> {
    let bad =
        |e: &dyn std::fmt::Display| ActionError::invalid_input(format!("{param} {path}: {e}"));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"holds no PEM certificate"));
    }
    Ok(certs)
}

/// The trust roots: the certificates of the PEM bundle `ca_file` alone when given (as libpq's
/// `sslrootcert` and redis-cli's `--cacert`), else the Mozilla root set built into drkit
/// (`webpki-roots`).
pub(crate) fn roots(param: &str, ca_file: Option<&str>) -> Result<RootCertStore, ActionError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in pem_certificates(param, path)? {
                roots
                    .add(cert)
                    .map_err(|e| ActionError::invalid_input(format!("{param} {path}: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

pub(crate) fn ring() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for a PostgreSQL connection with this `sslmode`, as libpq
/// defines the modes:
/// - `verify-full`: the chain must lead to a root of `sslrootcert` (or the built-in roots) and
///   the certificate must name the host;
/// - `verify-ca`: the chain is verified, the host name is not;
/// - `require`: encrypted; with `sslrootcert` the chain is verified as for `verify-ca`, without
///   it the certificate is not verified (libpq's behaviour: this protects against eavesdropping,
///   not against an impostor).
///
/// `None` for `disable`. `prefer` is refused before this is called (it may fall back to
/// plaintext, and drkit never does).
pub(crate) fn pg_client_config(db: &PgConnection) -> Result<Option<ClientConfig>, ActionError> {
    let provider = ring();
    let Some(verifier) = pg_verifier(db, &provider)? else {
        return Ok(None);
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ActionError::new(ErrorKind::Other, format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(config))
}

/// Which server certificates `db`'s `sslmode` accepts (see [`pg_client_config`]).
pub(crate) fn pg_verifier(
    db: &PgConnection,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ServerCertVerifier>>, ActionError> {
    let root = db.sslrootcert.as_deref();
    let (chain, check_name) = match (db.sslmode, root) {
        (SslMode::Disable, _) => return Ok(None),
        (SslMode::Require, None) => (None, false),
        (mode, _) => {
            let chain = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots("sslrootcert", root)?),
                Arc::clone(provider),
            )
            .build()
            .map_err(|e| ActionError::invalid_input(format!("sslrootcert: {e}")))?;
            (Some(chain), mode == SslMode::VerifyFull)
        }
    };
    Ok(Some(Arc::new(PgVerifier {
        chain,
        check_name,
        provider: Arc::clone(provider),
    })))
}

/// What an `sslmode` accepts: with `chain`, a certificate that chains to its roots (naming the
/// host when `check_name`: `verify-full`; any name: `verify-ca`, `require` with a CA); without
/// it, any certificate (`require` without a CA). The handshake's signatures are always checked,
/// so the session key belongs to whoever holds the certificate.
#[derive(Debug)]
struct PgVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PgVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls error somewhere in `err`'s source chain, if the failure was TLS's.
pub(crate) fn rustls_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // tokio-rustls reports a rustls error as an io::Error that holds it.
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// What to do about a TLS failure, for an error message: the fix, when the failure says it.
pub(crate) fn tls_advice(err: &rustls::Error, ca_param: &str) -> String {
    match err {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "the server's certificate is not signed by a trusted CA: `{ca_param}` must name the \
             PEM bundle of the CA that signed it (for Amazon RDS, AWS's bundle {RDS_CA_BUNDLE})"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "the server's certificate does not name this host: connect by a name the \
              certificate holds (for RDS, the cluster or instance endpoint, not an IP address \
              or a CNAME of it)"
            .to_owned(),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired".to_owned(),
        _ => "the TLS handshake failed".to_owned(),
    }
}

/// The `redis` crate builds its rustls configuration with `ClientConfig::builder()`, which uses
/// the process's default crypto provider, and panics when none is installed and rustls was
/// compiled with more than one provider (drkit's build has *ring*, and the AWS SDK's aws-lc-rs).
/// Installs *ring* as the process default unless a default is already installed (by the
/// program embedding drkit, say, whose choice is then kept).
pub(crate) fn ensure_default_crypto_provider() {
    if CryptoProvider::get_default().is_none() {
        // Another thread may install one between the two calls: either way one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
