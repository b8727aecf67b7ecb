//! `checks.tls`: the seed's `openssl s_client` — is the certificate chain trusted, does it name
//! what it should, and how many days are left before it expires?

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, Resource, StepSpec,
};
use serde::Deserialize;
use x509_parser::extensions::GeneralName;

use crate::web_port::{TlsApi, TlsEndpoint};

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

fn https_port() -> u16 {
    443
}

/// The parameters of `checks.tls`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsCheckParams {
    /// the host to connect to (name or IP)
    pub host: String,
    /// the port (default 443)
    #[serde(default = "https_port")]
    pub port: u16,
    /// SNI and name to verify (default: host)
    #[serde(default)]
    pub server_name: Option<String>,
    /// names the certificate must cover
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub expect_names: Vec<String>,
    /// the fewest days it must still be valid
    pub min_days_valid: i64,
    /// PEM file of extra trusted CAs (private CAs)
    #[serde(default)]
    #[param(ty = "path")]
    pub ca_file: Option<String>,
    /// connect + handshake time-out (default "10s")
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub timeout: Duration,
}

impl TlsCheckParams {
    /// Expects the certificate of `host:443` to be valid for at least `min_days_valid` more
    /// days.
    pub fn new(host: impl Into<String>, min_days_valid: i64) -> Self {
        Self {
            host: host.into(),
            port: https_port(),
            server_name: None,
            expect_names: Vec::new(),
            min_days_valid,
            ca_file: None,
            timeout: ten_seconds(),
        }
    }

    fn server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }
}

/// Checks a server's TLS certificate: the chain is trusted for the server name (Mozilla roots
/// plus `ca_file`), it covers every `expect_names`, and it is valid for at least
/// `min_days_valid` more days. A [`Probe`]: `check` -> done (with what was seen) or blocked
/// (why); `execute` and `verify` fail with `PostconditionFailed`. A refused connection is
/// `Unavailable`, a time-out `Timeout` (errors, not verdicts).
#[derive(Debug, HasBase)]
pub struct TlsCheck {
    base: Base<Self>,
}

impl ActionKind for TlsCheck {
    const KIND: &'static str = "checks.tls";
    const SUMMARY: &'static str =
        "Inspect a TLS server's certificate: trusted chain, names, days to expiry";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "days_left",
            "whole days until it expires (negative once expired)",
        ),
        OutputDoc::new("host", "the host connected to"),
        OutputDoc::new("port", "the port connected to"),
        OutputDoc::new("server_name", "the name sent in SNI and checked"),
        OutputDoc::new("not_after", "its expiry, RFC 3339"),
        OutputDoc::new("not_before", "its start, RFC 3339"),
        OutputDoc::new("names", "the names it covers (subject alternative names)"),
        OutputDoc::new("subject", "its subject"),
        OutputDoc::new("issuer", "its issuer"),
        OutputDoc::new("chain_length", "certificates the server sent"),
        OutputDoc::new(
            "trusted",
            "whether the chain is trusted for the server name",
        ),
        OutputDoc::new("protocol", "the TLS version negotiated"),
    ];
    type Params = TlsCheckParams;
    type Port = dyn TlsApi;
    type Ports = PortFactory<dyn TlsApi>;

    fn validate(p: &TlsCheckParams) -> Result<(), ParamError> {
        if p.host.is_empty()
            || p.host.contains('/')
            || p.host.contains(':')
                && !p.host.contains("::")
                && p.host.parse::<std::net::IpAddr>().is_err()
        {
            return Err(ParamError::new(
                "host",
                "give a host name or IP address (the port goes in `port`)",
            ));
        }
        if p.port == 0 {
            return Err(ParamError::new("port", "must be 1 to 65535"));
        }
        if p.min_days_valid < 0 {
            return Err(ParamError::new("min_days_valid", "must be 0 or more"));
        }
        if p.timeout.is_zero() {
            return Err(ParamError::new("timeout", "must be more than 0"));
        }
        Ok(())
    }

    fn build(step: StepSpec<TlsCheckParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let p = &step.params;
        let target = Resource::new("tls", "endpoint", format!("{}:{}", p.host, p.port));
        Ok(Self {
            base: step.into_base(target, ports),
        })
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

#[async_trait]
impl Probe for TlsCheck {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let endpoint = TlsEndpoint {
            host: p.host.clone(),
            port: p.port,
            server_name: p.server_name().to_owned(),
            ca_file: p.ca_file.clone(),
            timeout: p.timeout,
        };
        let shake = ctx.bounded(self.base.port.handshake(&endpoint)).await?;
        let (chain, trust, protocol) = (shake.chain, shake.trust, shake.protocol);
        let leaf_der = chain
            .first()
            .ok_or_else(|| ActionError::new(ErrorKind::Other, "the server sent no certificate"))?;
        let leaf = parse_leaf(leaf_der)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let days_left = (leaf.not_after - now).div_euclid(86_400);
        let outputs = Outputs::new()
            .with("host", p.host.clone())
            .with("port", p.port)
            .with("server_name", p.server_name().to_owned())
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
        } else if days_left < p.min_days_valid {
            problems.push(format!(
                "the certificate expires in {days_left} day(s) ({}), fewer than {}",
                rfc3339(leaf.not_after),
                p.min_days_valid
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
                p.server_name()
            ));
        }
        let missing: Vec<&str> = p
            .expect_names
            .iter()
            .filter(|n| !leaf.names.iter().any(|pattern| covers(pattern, n)))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "the certificate does not cover {} (it names {})",
                missing.join(", "),
                leaf.names.join(", ")
            ));
        }
        let target = format!("{}:{}", p.host, p.port);
        Ok(if problems.is_empty() {
            Finding::pass(
                format!(
                    "{target}: trusted certificate for {}, {days_left} day(s) left (until {})",
                    leaf.names.join(", "),
                    rfc3339(leaf.not_after)
                ),
                outputs,
            )
        } else {
            Finding::fail(format!("{target}: {}", problems.join("; ")), outputs)
        })
    }
}

#[cfg(test)]
#[path = "web_tests.rs"]
mod web_tests;
