//! `acm.import_certificate`: a certificate and its private key (read through a [`SecretRef`])
//! into ACM, or re-imported into an existing ARN — never a second copy of a certificate ACM
//! already holds.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, SecretRef, StepSpec,
};
use serde::Deserialize;

use crate::port::AcmApi;
use crate::register::{acm_region, cloudfront_region, not_empty};

/// The parameters of `acm.import_certificate`. The private key is a reference, never a value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ImportCertificateParams {
    /// PEM text or the path of a PEM file.
    pub certificate: String,
    /// `env:NAME` or `file:/path` of the PEM private key.
    pub private_key: SecretRef,
    /// The chain: PEM text or a file path.
    #[serde(default)]
    pub chain: Option<String>,
    /// Re-import into this imported certificate (without it: into the imported certificate
    /// with the same leaf, if ACM has one, else a new import).
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// The ACM region (default: the step's region; CloudFront needs us-east-1).
    #[serde(default)]
    pub region: Option<String>,
    /// The certificate is for a CloudFront distribution: refused unless the ACM region is
    /// us-east-1.
    #[serde(default)]
    pub for_cloudfront: bool,
}

impl ImportCertificateParams {
    /// Import `certificate` (PEM text or a file path) with the private key read from
    /// `private_key`.
    pub fn new(certificate: impl Into<String>, private_key: SecretRef) -> Self {
        Self {
            certificate: certificate.into(),
            private_key,
            chain: None,
            certificate_arn: None,
            region: None,
            for_cloudfront: false,
        }
    }
}

/// PEM text as given, or the content of the file it names.
pub(crate) fn pem(what: &str, value: &str) -> Result<String, String> {
    let text = if value.contains("-----BEGIN") {
        value.to_owned()
    } else {
        std::fs::read_to_string(value).map_err(|e| format!("cannot read {what} {value}: {e}"))?
    };
    if text.contains("-----BEGIN CERTIFICATE-----") {
        Ok(text)
    } else {
        Err(format!("{what} is not a PEM certificate"))
    }
}

/// The DER bytes of every `CERTIFICATE` block of `pem`, in order.
pub(crate) fn certificates_der(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body
            .find(END)
            .ok_or_else(|| "a PEM certificate block has no END line".to_owned())?;
        out.push(base64_decode(&body[..end])?);
        rest = &body[end + END.len()..];
    }
    if out.is_empty() {
        return Err("no PEM certificate block".to_owned());
    }
    Ok(out)
}

/// Standard base64 (RFC 4648, with padding; whitespace ignored), as PEM bodies are.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let chars: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let data = chars
        .strip_suffix(b"==")
        .or_else(|| chars.strip_suffix(b"="))
        .unwrap_or(&chars);
    if !chars.len().is_multiple_of(4) || data.contains(&b'=') {
        return Err("a PEM certificate block is not valid base64".to_owned());
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        let mut n: u32 = 0;
        for (i, c) in chunk.iter().enumerate() {
            let v = value(*c).ok_or("a PEM certificate block is not valid base64")?;
            n |= v << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Ok(out)
}

/// The leaf certificate (the first block) of PEM text, as DER.
fn leaf(pem: &str) -> Result<Vec<u8>, String> {
    certificates_der(pem)?
        .into_iter()
        .next()
        .ok_or_else(|| "no PEM certificate block".to_owned())
}

/// What this step did, or found done.
#[derive(Clone, Debug)]
struct Done {
    arn: String,
    /// Whether this step called `ImportCertificate` (false: ACM already held this certificate).
    imported: bool,
}

/// Imports a certificate into ACM (or re-imports it into `certificate_arn`), never a second
/// copy of one ACM already holds.
///
/// - `check`: the certificate (and chain) can be read and the private key reference resolves;
///   with `certificate_arn`, that certificate exists and is `IMPORTED`. The leaf is compared
///   (DER) with ACM's (`GetCertificate`): with `certificate_arn`, that certificate's; without,
///   every `IMPORTED` certificate's of the region (`ListCertificates`, every key type and
///   page). The same leaf already there -> done (`imported = false`); else ready, or blocked.
/// - `execute`: re-imports into `certificate_arn`, else `ImportCertificate` of a new one; the
///   same leaf found -> nothing imported (`imported = false`). Executed again, returns the
///   ARN it already imported; an import whose answer was lost is found by its leaf.
/// - The private key is resolved only when needed, handed to the port, and never appears in
///   progress, errors, outputs or `Debug`.
#[derive(Debug, HasBase)]
pub struct ImportCertificate {
    base: Base<Self>,
    done: Memo<Done>,
}

impl ActionKind for ImportCertificate {
    const KIND: &'static str = "acm.import_certificate";
    const SUMMARY: &'static str = "Import a certificate and its private key (a secret reference) \
                                   into ACM, or re-import it into an ARN; never a second copy";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "acm:ImportCertificate",
        "acm:DescribeCertificate",
        "acm:ListCertificates",
        "acm:GetCertificate",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("certificate_arn", "the imported certificate's ARN"),
        OutputDoc::new(
            "imported",
            "whether this step imported it (false: ACM already held this certificate)",
        ),
    ];
    type Params = ImportCertificateParams;
    type Port = dyn AcmApi;
    type Ports = PortFactory<dyn AcmApi>;

    fn validate(params: &ImportCertificateParams) -> Result<(), ParamError> {
        not_empty("certificate", &params.certificate)?;
        if let Some(arn) = &params.certificate_arn
            && !arn.starts_with("arn:")
        {
            return Err(ParamError::new(
                "certificate_arn",
                "must be an ARN (arn:aws:acm:...)",
            ));
        }
        Ok(())
    }

    fn build(
        step: StepSpec<ImportCertificateParams>,
        ports: &Self::Ports,
    ) -> Result<Self, ParamError> {
        let region = acm_region(&step, step.params.region.as_deref());
        cloudfront_region(step.params.for_cloudfront, region.as_deref())?;
        let acm = ports.get(region.as_deref());
        Ok(Self::new(step.id, step.params, acm, region.as_deref()))
    }
}

/// Where the certificate goes.
enum Target {
    /// ACM holds this very certificate (same leaf) at this ARN: nothing to import.
    Held(String),
    /// Re-import into this ARN.
    Into(String),
    /// A new import.
    New,
}

impl ImportCertificate {
    /// A step `id` with `params`, ACM through `acm` (already for the right region).
    pub fn new(
        id: impl Into<String>,
        params: ImportCertificateParams,
        acm: Arc<dyn AcmApi>,
        region: Option<&str>,
    ) -> Self {
        let region = params.region.clone().or(region.map(str::to_owned));
        let what = params
            .certificate_arn
            .clone()
            .unwrap_or_else(|| "(new import)".to_owned());
        let target = Resource::new("acm", "certificate", what).in_region(region);
        Self {
            base: Base::new(id, params, target, acm),
            done: Memo::default(),
        }
    }

    /// The certificate and chain PEM, or why they cannot be read.
    fn read(&self) -> Result<(String, Option<String>), String> {
        let p = &self.base.params;
        let certificate = pem("certificate", &p.certificate)?;
        certificates_der(&certificate).map_err(|e| format!("certificate: {e}"))?;
        let chain = match &p.chain {
            Some(c) => {
                let chain = pem("chain", c)?;
                certificates_der(&chain).map_err(|e| format!("chain: {e}"))?;
                Some(chain)
            }
            None => None,
        };
        Ok((certificate, chain))
    }

    /// Whether the certificate at `arn` has this leaf (`GetCertificate`).
    async fn holds(&self, ctx: &Context, arn: &str, leaf: &[u8]) -> Result<bool, ActionError> {
        let body = ctx.bounded(self.base.port.get_certificate(arn)).await?;
        Ok(certificates_der(&body)
            .ok()
            .and_then(|blocks| blocks.into_iter().next())
            .is_some_and(|held| held == leaf))
    }

    /// Where the certificate `pem` goes, or why it cannot.
    async fn target(
        &self,
        ctx: &Context,
        pem: &str,
    ) -> Result<Result<Target, String>, ActionError> {
        let leaf = match leaf(pem) {
            Ok(leaf) => leaf,
            Err(reason) => return Ok(Err(format!("certificate: {reason}"))),
        };
        if let Some(arn) = &self.base.params.certificate_arn {
            match ctx.bounded(self.base.port.describe_certificate(arn)).await {
                Ok(info) if info.cert_type != "IMPORTED" => {
                    return Ok(Err(format!(
                        "certificate {arn} is {}, not IMPORTED: only an imported certificate \
                         can be re-imported",
                        info.cert_type
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Ok(Err(format!("certificate {arn} does not exist")));
                }
                Err(e) => return Err(e),
            }
            return Ok(Ok(if self.holds(ctx, arn, &leaf).await? {
                Target::Held(arn.clone())
            } else {
                Target::Into(arn.clone())
            }));
        }
        let list = ctx
            .bounded(self.base.port.list_certificates(Vec::new()))
            .await?;
        for summary in list {
            let imported = if summary.cert_type.is_empty() {
                match ctx
                    .bounded(self.base.port.describe_certificate(&summary.arn))
                    .await
                {
                    Ok(info) => info.cert_type == "IMPORTED",
                    Err(e) if e.kind() == ErrorKind::NotFound => false,
                    Err(e) => return Err(e),
                }
            } else {
                summary.cert_type == "IMPORTED"
            };
            if !imported {
                continue;
            }
            match self.holds(ctx, &summary.arn, &leaf).await {
                Ok(true) => return Ok(Ok(Target::Held(summary.arn))),
                Ok(false) => {}
                // Deleted since the list.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Ok(Target::New))
    }

    fn outputs(done: &Done) -> Outputs {
        Outputs::new()
            .with("certificate_arn", done.arn.clone())
            .with("imported", done.imported)
    }

    fn remember(&self, done: Done) -> Outputs {
        let out = Self::outputs(&done);
        self.done.set(done);
        out
    }
}

#[async_trait]
impl Act for ImportCertificate {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        if let Some(done) = self.done.get() {
            return Ok(Check::Done {
                detail: format!("imported as {}", done.arn),
                outputs: Self::outputs(&done),
            });
        }
        let (certificate, _) = match self.read() {
            Ok(read) => read,
            Err(reason) => return Ok(Check::blocked(reason)),
        };
        if let Err(e) = self.base.params.private_key.resolve() {
            return Ok(Check::blocked(format!("private key: {}", e.message())));
        }
        Ok(match self.target(ctx, &certificate).await? {
            Err(reason) => Check::blocked(reason),
            Ok(Target::Held(arn)) => Check::Done {
                detail: format!("ACM already holds this certificate as {arn}"),
                outputs: Self::outputs(&Done {
                    arn,
                    imported: false,
                }),
            },
            Ok(Target::Into(arn)) => Check::ready(format!("re-import the certificate into {arn}")),
            Ok(Target::New) => Check::ready(
                "import the certificate into ACM (no imported certificate has this leaf)",
            ),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if let Some(done) = self.done.get() {
            return Ok(Self::outputs(&done));
        }
        let (certificate, chain) = self.read().map_err(ActionError::precondition)?;
        let arn = match self
            .target(ctx, &certificate)
            .await?
            .map_err(ActionError::precondition)?
        {
            Target::Held(arn) => {
                ctx.progress(format!("ACM already holds this certificate as {arn}"));
                return Ok(self.remember(Done {
                    arn,
                    imported: false,
                }));
            }
            Target::Into(arn) => Some(arn),
            Target::New => None,
        };
        let key = self.base.params.private_key.resolve()?;
        let arn = ctx
            .bounded(
                self.base
                    .port
                    .import_certificate(arn, certificate, key, chain),
            )
            .await?;
        ctx.progress(format!("imported certificate {arn}"));
        Ok(self.remember(Done {
            arn,
            imported: true,
        }))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let Some(done) = self.done.get() else {
            return Err(ActionError::postcondition("nothing was imported"));
        };
        let info = ctx
            .bounded(self.base.port.describe_certificate(&done.arn))
            .await?;
        if info.cert_type == "IMPORTED" {
            Ok(format!(
                "certificate {} is IMPORTED ({}), status {}",
                done.arn,
                info.names.join(", "),
                info.status
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "certificate {} is {}, not IMPORTED",
                done.arn, info.cert_type
            )))
        }
    }
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
