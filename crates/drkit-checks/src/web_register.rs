//! Registration of `checks.http` and `checks.tls` (called by [`crate::register`]).

use std::sync::Arc;

use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry, decode_params,
};

use crate::http_check::{self, HttpCheck, HttpCheckParams, url_problem};
use crate::tls_check::{self, TlsCheck, TlsCheckParams};

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

/// `checks.http`.
pub const HTTP: ActionDescriptor = ActionDescriptor {
    kind: http_check::KIND,
    summary: "GET an HTTP(S) endpoint: expected status (and body text) within a time-out, in a \
              few attempts",
    mutates: false,
    iam_actions: &[],
    params: &[
        ParamDoc::required(
            "url",
            "string",
            "http:// or https:// URL (no credentials in it)",
        ),
        ParamDoc::optional(
            "expect_status",
            "integer",
            "the status to answer (default 200)",
        ),
        ParamDoc::optional("body_contains", "string", "text the body must contain"),
        ParamDoc::optional(
            "timeout",
            "duration",
            "time-out of one attempt (default \"10s\")",
        ),
        ParamDoc::optional(
            "attempts",
            "integer",
            "attempts, 1 s apart (default 1, at most 20)",
        ),
    ],
    outputs: &[
        out("url", "the URL"),
        out("status", "the status answered"),
        out("body_bytes", "the body's length"),
        out("elapsed_ms", "the answering attempt's duration"),
        out("attempts_used", "how many attempts were made"),
    ],
};

/// `checks.tls`.
pub const TLS: ActionDescriptor = ActionDescriptor {
    kind: tls_check::KIND,
    summary: "Inspect a TLS server's certificate: trusted chain, names, days to expiry",
    mutates: false,
    iam_actions: &[],
    params: &[
        ParamDoc::required("host", "string", "the host to connect to (name or IP)"),
        ParamDoc::optional("port", "integer", "the port (default 443)"),
        ParamDoc::optional(
            "server_name",
            "string",
            "SNI and name to verify (default: host)",
        ),
        ParamDoc::optional(
            "expect_names",
            "list of strings",
            "names the certificate must cover",
        ),
        ParamDoc::required(
            "min_days_valid",
            "integer",
            "the fewest days it must still be valid",
        ),
        ParamDoc::optional(
            "ca_file",
            "path",
            "PEM file of extra trusted CAs (private CAs)",
        ),
        ParamDoc::optional(
            "timeout",
            "duration",
            "connect + handshake time-out (default \"10s\")",
        ),
    ],
    outputs: &[
        out(
            "days_left",
            "whole days until it expires (negative once expired)",
        ),
        out("host", "the host connected to"),
        out("port", "the port connected to"),
        out("server_name", "the name sent in SNI and checked"),
        out("not_after", "its expiry, RFC 3339"),
        out("not_before", "its start, RFC 3339"),
        out("names", "the names it covers (subject alternative names)"),
        out("subject", "its subject"),
        out("issuer", "its issuer"),
        out("chain_length", "certificates the server sent"),
        out(
            "trusted",
            "whether the chain is trusted for the server name",
        ),
        out("protocol", "the TLS version negotiated"),
    ],
};

/// Registers `checks.http` and `checks.tls` (already done by [`crate::register`]; for
/// embedders that use [`crate::register_with`] with mocks). They use the network directly,
/// with no port to mock: test them against local servers.
pub fn register_http_tls(registry: &mut Registry) -> Result<(), DuplicateKind> {
    registry.register_fn(HTTP, |spec| {
        let params: HttpCheckParams = decode_params(spec)?;
        if let Some(problem) = url_problem(&params.url) {
            return Err(BuildError::invalid(spec, Some("url"), problem));
        }
        if !(100..=599).contains(&params.expect_status) {
            return Err(BuildError::invalid(
                spec,
                Some("expect_status"),
                "must be 100 to 599",
            ));
        }
        if !(1..=20).contains(&params.attempts) {
            return Err(BuildError::invalid(
                spec,
                Some("attempts"),
                "must be 1 to 20",
            ));
        }
        if params.timeout.is_zero() {
            return Err(BuildError::invalid(
                spec,
                Some("timeout"),
                "must be more than 0",
            ));
        }
        let check = HttpCheck::new(spec.id.clone(), params)
            .map_err(|e| BuildError::invalid(spec, None, e.message()))?;
        Ok(Arc::new(check) as ActionRef)
    })?;
    registry.register_fn(TLS, |spec| {
        let params: TlsCheckParams = decode_params(spec)?;
        if params.host.is_empty()
            || params.host.contains('/')
            || params.host.contains(':')
                && !params.host.contains("::")
                && params.host.parse::<std::net::IpAddr>().is_err()
        {
            return Err(BuildError::invalid(
                spec,
                Some("host"),
                "give a host name or IP address (the port goes in `port`)",
            ));
        }
        if params.port == 0 {
            return Err(BuildError::invalid(
                spec,
                Some("port"),
                "must be 1 to 65535",
            ));
        }
        if params.min_days_valid < 0 {
            return Err(BuildError::invalid(
                spec,
                Some("min_days_valid"),
                "must be 0 or more",
            ));
        }
        if params.timeout.is_zero() {
            return Err(BuildError::invalid(
                spec,
                Some("timeout"),
                "must be more than 0",
            ));
        }
        Ok(Arc::new(TlsCheck::new(spec.id.clone(), params)) as ActionRef)
    })
}
