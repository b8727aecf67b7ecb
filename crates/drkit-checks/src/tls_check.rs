//! `checks.tls`: the seed's `openssl s_client` — is the certificate chain trusted, does it name
//! what it should, and how many days are left before it expires?

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use x509_parser::extensions::GeneralName;

use crate::verdict::{Measurement, as_check, as_outputs, as_verified};

pub(crate) const KIND: &str = "checks.tls";

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

fn https_port() -> u16 {
    443
}

/// The parameters of `checks.tls`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsCheckParams {
    /// The host to connect to (name or IP).
    pub host: String,
    /// The port (default 443).
    #[serde(default = "https_port")]
    pub port: u16,
    /// The name sent as SNI and verified against the certificate (default: `host`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// Names the certificate must cover (wildcards honoured), e.g. `["api-dr.example.com"]`.
    #[serde(default)]
    pub expect_names: Vec<String>,
    /// The fewest days the certificate must still be valid.
    pub min_days_valid: i64,
    /// A PEM file of extra trusted CA certificates (private CAs); the Mozilla roots are always
    /// trusted.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Connect and handshake time-out (default `"10s"`).
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub timeout: Duration,
}

impl TlsCheckParams {
    fn server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }
}

/// Checks a server's TLS certificate: the chain is trusted for the server name (Mozilla roots
/// plus `ca_file`), it covers every `expect_names`, and it is valid for at least
/// `min_days_valid` more days. Read-only, with the checks' convention: `check` -> done (with
/// what was seen) or blocked (why); `execute` and `verify` fail with `PostconditionFailed`.
/// A refused connection is `Unavailable`, a time-out `Timeout` (errors, not verdicts).
pub struct TlsCheck {
    id: String,
    params: TlsCheckParams,
    target: Resource,
}

impl fmt::Debug for TlsCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCheck")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Verifies like rustls's WebPKI verifier but lets the handshake go on, remembering the
/// verdict, so an untrusted or expired chain can still be inspected and reported.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), String>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        *self.verdict.lock().unwrap_or_else(PoisonError::into_inner) = Some(verdict);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What the leaf certificate says.
struct Leaf {
    subject: String,
    issuer: String,
    names: Vec<String>,
    not_before: i64,
    not_after: i64,
}

fn parse_leaf(der: &[u8]) -> Result<Leaf, ActionError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        ActionError::new(
            ErrorKind::Other,
            format!("cannot parse the certificate: {e}"),
        )
    })?;
    let mut names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    GeneralName::DNSName(n) => Some((*n).to_owned()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => <[u8; 4]>::try_from(*b)
                            .ok()
                            .map(|a| IpAddr::from(a).to_string()),
                        16 => <[u8; 16]>::try_from(*b)
                            .ok()
                            .map(|a| IpAddr::from(a).to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty()
        && let Some(cn) = cert.subject().iter_common_name().next()
        && let Ok(cn) = cn.as_str()
    {
        names.push(cn.to_owned());
    }
    Ok(Leaf {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Whether certificate name `pattern` (maybe `*.example.com`) covers `name`.
pub(crate) fn covers(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.to_ascii_lowercase(), name.to_ascii_lowercase());
    let (pattern, name) = (pattern.trim_end_matches('.'), name.trim_end_matches('.'));
    match pattern.strip_prefix("*.") {
        Some(suffix) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == name,
    }
}

fn rfc3339(unix: i64) -> String {
    u64::try_from(unix).map_or_else(
        |_| unix.to_string(),
        |s| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(s)).to_string(),
    )
}

impl TlsCheck {
    /// A check step `id`.
    pub fn new(id: impl Into<String>, params: TlsCheckParams) -> Self {
        let target = Resource::new(
            "tls",
            "endpoint",
            format!("{}:{}", params.host, params.port),
        );
        Self {
            id: id.into(),
            params,
            target,
        }
    }

    fn roots(&self) -> Result<RootCertStore, ActionError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &self.params.ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| ActionError::invalid_input(format!("ca_file {path}: {e}")))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| ActionError::invalid_input(format!("ca_file {path}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ActionError::invalid_input(format!("ca_file {path}: {e}")))?;
            }
        }
        Ok(roots)
    }

    async fn handshake(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, Result<(), String>, String), ActionError> {
        let p = &self.params;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(self.roots()?),
            Arc::clone(&provider),
        )
        .build()
        .map_err(|e| ActionError::invalid_input(format!("trust roots: {e}")))?;
        let recording = Arc::new(Recording {
            inner,
            verdict: Mutex::new(None),
        });
        let config = ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
            .with_safe_default_protocol_versions()
            .map_err(|e| ActionError::new(ErrorKind::Other, format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&recording) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        let name = ServerName::try_from(p.server_name().to_owned()).map_err(|e| {
            ActionError::invalid_input(format!("`{}` is not a server name: {e}", p.server_name()))
        })?;
        let addr = format!("{}:{}", p.host, p.port);
        let connect = async {
            let tcp = TcpStream::connect(&addr).await.map_err(|e| {
                ActionError::new(
                    ErrorKind::Unavailable,
                    format!("cannot connect to {addr}: {e}"),
                )
                .with_source(e)
            })?;
            TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| {
                    ActionError::new(
                        ErrorKind::Unavailable,
                        format!("TLS handshake with {addr} failed: {e}"),
                    )
                    .with_source(e)
                })
        };
        let stream = tokio::time::timeout(p.timeout, connect)
            .await
            .map_err(|_| {
                ActionError::new(
                    ErrorKind::Timeout,
                    format!(
                        "no TLS handshake with {addr} within {}",
                        humantime::format_duration(p.timeout)
                    ),
                )
            })??;
        let (_, conn) = stream.get_ref();
        let chain: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.clone().into_owned())
            .collect();
        let protocol = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let verdict = recording
            .verdict
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| Err("the server's certificate was not verified".into()));
        Ok((chain, verdict, protocol))
    }

    async fn measure(&self, ctx: &Context) -> Result<Measurement, ActionError> {
        let (chain, trust, protocol) = ctx
            .bounded(self.handshake())
            .await
            .map_err(|e| e.in_action(self))?;
        let leaf_der = chain.first().ok_or_else(|| {
            ActionError::new(ErrorKind::Other, "the server sent no certificate").in_action(self)
        })?;
        let leaf = parse_leaf(leaf_der).map_err(|e| e.in_action(self))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let days_left = (leaf.not_after - now).div_euclid(86_400);
        let outputs = Outputs::new()
            .with("host", self.params.host.clone())
            .with("port", self.params.port)
            .with("server_name", self.params.server_name().to_owned())
            .with("days_left", days_left)
            .with("not_before", rfc3339(leaf.not_before))
            .with("not_after", rfc3339(leaf.not_after))
            .with("names", leaf.names.clone())
            .with("subject", leaf.subject.clone())
            .with("issuer", leaf.issuer.clone())
            .with("chain_length", chain.len())
            .with("trusted", trust.is_ok())
            .with("protocol", protocol);
        let mut problems = Vec::new();
        if leaf.not_after < now {
            problems.push(format!(
                "the certificate expired at {} ({} day(s) ago)",
                rfc3339(leaf.not_after),
                -days_left
            ));
        } else if days_left < self.params.min_days_valid {
            problems.push(format!(
                "the certificate expires in {days_left} day(s) ({}), fewer than {}",
                rfc3339(leaf.not_after),
                self.params.min_days_valid
            ));
        }
        if leaf.not_before > now {
            problems.push(format!(
                "the certificate is not valid before {}",
                rfc3339(leaf.not_before)
            ));
        }
        if let Err(why) = &trust {
            problems.push(format!(
                "the chain is not trusted for {}: {why}",
                self.params.server_name()
            ));
        }
        let missing: Vec<&str> = self
            .params
            .expect_names
            .iter()
            .filter(|n| !leaf.names.iter().any(|p| covers(p, n)))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "the certificate does not cover {} (it names {})",
                missing.join(", "),
                leaf.names.join(", ")
            ));
        }
        let target = format!("{}:{}", self.params.host, self.params.port);
        Ok(if problems.is_empty() {
            Measurement::pass(
                outputs,
                format!(
                    "{target}: trusted certificate for {}, {days_left} day(s) left (until {})",
                    leaf.names.join(", "),
                    rfc3339(leaf.not_after)
                ),
            )
        } else {
            Measurement::fail(outputs, format!("{target}: {}", problems.join("; ")))
        })
    }
}

#[async_trait]
impl RecoveryAction for TlsCheck {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        as_check(self.measure(ctx).await)
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        as_outputs(self.measure(ctx).await, self)
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        as_verified(self.measure(ctx).await, self)
    }
}

#[cfg(test)]
#[path = "web_tests.rs"]
mod web_tests;
