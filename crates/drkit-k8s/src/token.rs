//! The EKS bearer token, made the way `aws eks get-token` makes it.
//!
//! A presigned STS `GetCallerIdentity` GET request (SigV4 in the query string, valid 60 s, with
//! the header `x-k8s-aws-id: <cluster name>` signed), encoded as
//! `k8s-aws-v1.` + base64url-without-padding(URL). The EKS authenticator sends the URL to STS
//! to learn who signed it. The token (and the URL inside it) is a credential: it lives in a
//! [`SecretString`] and never appears in `Debug`, errors or logs.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use drkit_core::{ActionError, ErrorKind};
use secrecy::SecretString;

/// The prefix of every EKS token.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// The header naming the cluster, signed into the presigned URL.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// How long the presigned URL is valid, as `aws eks get-token` sets it.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);

/// The regional STS endpoint, `https://sts.<region>.amazonaws.com` (what the AWS CLI uses).
pub fn sts_endpoint(region: &str) -> String {
    format!("https://sts.{region}.amazonaws.com")
}

fn token_error(message: impl Into<String>) -> ActionError {
    ActionError::new(ErrorKind::InvalidInput, message).with_operation("presign GetCallerIdentity")
}

/// The presigned `GetCallerIdentity` URL for `cluster`, signed with `credentials` for `region`
/// at `now`, against `endpoint` (e.g. [`sts_endpoint`]). A secret: it can be replayed for 60 s.
pub fn presigned_url(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    endpoint: &str,
    now: SystemTime,
) -> Result<SecretString, ActionError> {
    let base = endpoint.trim_end_matches('/');
    let uri = format!("{base}/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let identity = Identity::from(credentials.clone());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| token_error(format!("cannot sign for EKS cluster {cluster}: {e}")))?
        .into();
    let host = uri
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.as_str().to_owned()))
        .ok_or_else(|| token_error(format!("`{endpoint}` is not a valid STS endpoint URL")))?;
    let headers = [("host", host.as_str()), (CLUSTER_ID_HEADER, cluster)];
    let request = SignableRequest::new(
        "GET",
        uri.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| token_error(format!("cannot sign for EKS cluster {cluster}: {e}")))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| token_error(format!("cannot sign for EKS cluster {cluster}: {e}")))?
        .into_parts();
    let mut url = uri;
    for (name, value) in instructions.params() {
        url.push('&');
        url.push_str(name);
        url.push('=');
        url.push_str(&encode_query_value(value));
    }
    Ok(SecretString::from(url))
}

/// Percent-encodes a query value as SigV4 expects (RFC 3986 unreserved characters kept).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The EKS bearer token for `cluster`: `k8s-aws-v1.` + base64url-no-pad(presigned URL).
pub fn eks_token(
    credentials: &Credentials,
    region: &str,
    cluster: &str,
    endpoint: &str,
    now: SystemTime,
) -> Result<SecretString, ActionError> {
    use secrecy::ExposeSecret;
    let url = presigned_url(credentials, region, cluster, endpoint, now)?;
    let encoded = URL_SAFE_NO_PAD.encode(url.expose_secret().as_bytes());
    Ok(SecretString::from(format!("{TOKEN_PREFIX}{encoded}")))
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
