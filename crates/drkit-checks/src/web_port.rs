//! The ports of `checks.http` and `checks.tls`: one GET, one TLS handshake, in drkit's own
//! plain types. Implemented by [`crate::ReqwestHttp`] and [`crate::RustlsTls`], and by
//! `MockHttpApi` / `MockTlsApi` (feature `mock`) in tests.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::ActionError;

/// What one GET got back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpAnswer {
    /// The server answered: its status and its body.
    Answered {
        /// The HTTP status.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// The server's TLS certificate was not accepted (a failed check, not an error): why.
    CertificateRefused(String),
}

/// The HTTP operation `checks.http` uses.
///
/// No answer at all is an error, classified: no answer within the time-out -> `Timeout`, a
/// refused or dropped connection -> `Unavailable` (both retryable).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HttpApi: fmt::Debug + Send + Sync {
    /// `GET url`, the answer and its body within `timeout`. HTTPS certificates are verified
    /// against the Mozilla roots.
    async fn get(&self, url: &str, timeout: Duration) -> Result<HttpAnswer, ActionError>;
}

/// Where `checks.tls` connects and what it trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsEndpoint {
    /// The host to connect to (name or IP).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The name sent as SNI and verified against the certificate.
    pub server_name: String,
    /// A PEM file of extra trusted CA certificates (the Mozilla roots are always trusted).
    pub ca_file: Option<String>,
    /// Connect and handshake time-out.
    pub timeout: Duration,
}

impl TlsEndpoint {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What one TLS handshake showed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsHandshake {
    /// The certificates the server sent, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// Whether the chain is trusted for the server name, or why not.
    pub trust: Result<(), String>,
    /// The TLS version negotiated (e.g. `TLSv1_3`).
    pub protocol: String,
}

impl TlsHandshake {
    /// A handshake that showed `chain` (leaf first, DER), trusted or not, over `protocol`.
    pub fn new(
        chain: Vec<Vec<u8>>,
        trust: Result<(), String>,
        protocol: impl Into<String>,
    ) -> Self {
        Self {
            chain,
            trust,
            protocol: protocol.into(),
        }
    }
}

/// The TLS operation `checks.tls` uses.
///
/// An untrusted or expired chain is not an error (the handshake goes on, so it can be
/// inspected): [`TlsHandshake::trust`] says why it is not trusted. Errors: a refused
/// connection or failed handshake -> `Unavailable`, no handshake within the time-out ->
/// `Timeout`, an unreadable CA file or a bad server name -> `InvalidInput`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TlsApi: fmt::Debug + Send + Sync {
    /// Connects to `endpoint` and completes a TLS handshake with it.
    async fn handshake(&self, endpoint: &TlsEndpoint) -> Result<TlsHandshake, ActionError>;
}
