//! The adapters of the web ports: [`ReqwestHttp`] ([`HttpApi`] over `reqwest`, rustls) and
//! [`RustlsTls`] ([`TlsApi`] over `tokio-rustls`).

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, ErrorKind};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tls;
use crate::web_port::{HttpAnswer, HttpApi, TlsApi, TlsEndpoint, TlsHandshake};

/// [`HttpApi`] over `reqwest` (rustls, the Mozilla roots). Its HTTP client is made on first
/// use and kept: the registry makes one adapter per step, so a step's attempts share
/// connections and two steps never do.
#[derive(Debug, Default)]
pub struct ReqwestHttp {
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl ReqwestHttp {
    /// The adapter (its client is made on first use).
    pub fn new() -> Self {
        Self::default()
    }

    fn client(&self) -> Result<&reqwest::Client, ActionError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .user_agent("drkit-checks")
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))
            })
            .as_ref()
            .map_err(|e| ActionError::new(ErrorKind::Other, e.clone()))
    }
}

fn is_certificate_error(e: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("unknownissuer") {
            return true;
        }
        source = s.source();
    }
    false
}

fn classify(e: &reqwest::Error, url: &str, timeout: Duration) -> ActionError {
    let (kind, text) = if e.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("no answer within {}", humantime::format_duration(timeout)),
        )
    } else {
        (ErrorKind::Unavailable, format!("no answer: {e}"))
    };
    ActionError::new(kind, format!("GET {url}: {text}"))
}

#[async_trait]
impl HttpApi for ReqwestHttp {
    async fn get(&self, url: &str, timeout: Duration) -> Result<HttpAnswer, ActionError> {
        let response = match self.client()?.get(url).timeout(timeout).send().await {
            Ok(r) => r,
            Err(e) if is_certificate_error(&e) => {
                return Ok(HttpAnswer::CertificateRefused(e.to_string()));
            }
            Err(e) => return Err(classify(&e, url, timeout)),
        };
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| classify(&e, url, timeout))?;
        Ok(HttpAnswer::Answered { status, body })
    }
}

/// [`TlsApi`] over `tokio-rustls` (ring): trusts the Mozilla roots plus the endpoint's CA file,
/// and records whether the chain is trusted instead of failing the handshake.
#[derive(Clone, Copy, Debug, Default)]
pub struct RustlsTls;

impl RustlsTls {
    /// The adapter.
    pub fn new() -> Self {
        Self
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

/// The Mozilla roots, and the certificates of `ca_file` (a private CA) besides.
fn roots(ca_file: Option<&str>) -> Result<RootCertStore, ActionError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in tls::pem_certificates("ca_file", path)? {
            roots
                .add(cert)
                .map_err(|e| ActionError::invalid_input(format!("ca_file {path}: {e}")))?;
        }
    }
    Ok(roots)
}

#[async_trait]
impl TlsApi for RustlsTls {
    async fn handshake(&self, endpoint: &TlsEndpoint) -> Result<TlsHandshake, ActionError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots(endpoint.ca_file.as_deref())?),
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
        let name = ServerName::try_from(endpoint.server_name.clone()).map_err(|e| {
            ActionError::invalid_input(format!(
                "`{}` is not a server name: {e}",
                endpoint.server_name
            ))
        })?;
        let addr = endpoint.address();
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
        let stream = tokio::time::timeout(endpoint.timeout, connect)
            .await
            .map_err(|_| {
                ActionError::new(
                    ErrorKind::Timeout,
                    format!(
                        "no TLS handshake with {addr} within {}",
                        humantime::format_duration(endpoint.timeout)
                    ),
                )
            })??;
        let (_, conn) = stream.get_ref();
        let chain = conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_ref().to_vec())
            .collect();
        let protocol = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let trust = recording
            .verdict
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| Err("the server's certificate was not verified".into()));
        Ok(TlsHandshake::new(chain, trust, protocol))
    }
}
