//! `acm.import_certificate`: a certificate and its private key (read through a [`SecretRef`])
//! into ACM, or re-imported into an existing ARN.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource, SecretRef,
};
use serde::Deserialize;

use crate::port::AcmApi;

/// The kind name.
pub(crate) const KIND: &str = "acm.import_certificate";

/// The IAM actions it needs.
pub(crate) const IAM_ACTIONS: &[&str] = &["acm:ImportCertificate", "acm:DescribeCertificate"];

/// The parameters of `acm.import_certificate`. The private key is a reference, never a value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ImportCertificateParams {
    /// The certificate: PEM text, or the path of a PEM file.
    pub certificate: String,
    /// Where the PEM private key is read from (`env:NAME`, `file:/path`).
    pub private_key: SecretRef,
    /// The chain: PEM text or a file path.
    #[serde(default)]
    pub chain: Option<String>,
    /// Re-import into this certificate (renewal in place).
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// The ACM region (default: the step's region).
    #[serde(default)]
    pub region: Option<String>,
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

/// Imports a certificate into ACM (or re-imports it into `certificate_arn`).
///
/// - `check`: the certificate (and chain) can be read and the private key reference resolves;
///   with `certificate_arn`, that certificate exists and is `IMPORTED`. Ready, or blocked.
/// - `execute`: `ImportCertificate`; executed again, returns the ARN it already imported.
/// - The private key is resolved only when needed, handed to the port, and never appears in
///   progress, errors, outputs or `Debug`.
pub struct ImportCertificate {
    id: String,
    params: ImportCertificateParams,
    target: Resource,
    acm: Arc<dyn AcmApi>,
    imported: Mutex<Option<String>>,
}

impl fmt::Debug for ImportCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportCertificate")
            .field("id", &self.id)
            .field("private_key", &self.params.private_key)
            .field("certificate_arn", &self.params.certificate_arn)
            .finish_non_exhaustive()
    }
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
        Self {
            id: id.into(),
            target: Resource::new("acm", "certificate", what).in_region(region),
            params,
            acm,
            imported: Mutex::new(None),
        }
    }

    fn imported(&self) -> Option<String> {
        self.imported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Why the step cannot run, if it cannot.
    async fn blocker(&self, ctx: &Context) -> Result<Option<String>, ActionError> {
        if let Err(reason) = pem("certificate", &self.params.certificate) {
            return Ok(Some(reason));
        }
        if let Some(chain) = &self.params.chain
            && let Err(reason) = pem("chain", chain)
        {
            return Ok(Some(reason));
        }
        if let Err(e) = self.params.private_key.resolve() {
            return Ok(Some(format!("private key: {}", e.message())));
        }
        if let Some(arn) = &self.params.certificate_arn {
            match ctx.bounded(self.acm.describe_certificate(arn)).await {
                Ok(info) if info.cert_type != "IMPORTED" => {
                    return Ok(Some(format!(
                        "certificate {arn} is {}, not IMPORTED: only an imported certificate \
                         can be re-imported",
                        info.cert_type
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    return Ok(Some(format!("certificate {arn} does not exist")));
                }
                Err(e) => return Err(e.in_action(self)),
            }
        }
        Ok(None)
    }

    fn outputs(arn: &str) -> Outputs {
        Outputs::new().with("certificate_arn", arn.to_owned())
    }
}

#[async_trait]
impl RecoveryAction for ImportCertificate {
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
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        IAM_ACTIONS
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        if let Some(arn) = self.imported() {
            return Ok(Check::Done {
                detail: format!("imported as {arn}"),
                outputs: Self::outputs(&arn),
            });
        }
        if let Some(reason) = self.blocker(ctx).await? {
            return Ok(Check::blocked(reason));
        }
        Ok(Check::ready(match &self.params.certificate_arn {
            Some(arn) => format!("re-import the certificate into {arn}"),
            None => "import the certificate into ACM".to_owned(),
        }))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        if let Some(arn) = self.imported() {
            return Ok(Self::outputs(&arn));
        }
        let certificate =
            pem("certificate", &self.params.certificate).map_err(|r| self.invalid(&r))?;
        let chain = match &self.params.chain {
            Some(c) => Some(pem("chain", c).map_err(|r| self.invalid(&r))?),
            None => None,
        };
        let key = self
            .params
            .private_key
            .resolve()
            .map_err(|e| e.in_action(self))?;
        let arn = ctx
            .bounded(self.acm.import_certificate(
                self.params.certificate_arn.clone(),
                certificate,
                key,
                chain,
            ))
            .await
            .map_err(|e| e.in_action(self))?;
        ctx.progress(format!("imported certificate {arn}"));
        *self.imported.lock().unwrap_or_else(PoisonError::into_inner) = Some(arn.clone());
        Ok(Self::outputs(&arn))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let Some(arn) = self.imported() else {
            return Err(ActionError::postcondition("nothing was imported").in_action(self));
        };
        let info = ctx
            .bounded(self.acm.describe_certificate(&arn))
            .await
            .map_err(|e| e.in_action(self))?;
        if info.cert_type == "IMPORTED" {
            Ok(format!(
                "certificate {arn} is IMPORTED ({}), status {}",
                info.names.join(", "),
                info.status
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "certificate {arn} is {}, not IMPORTED",
                info.cert_type
            ))
            .in_action(self))
        }
    }
}

impl ImportCertificate {
    fn invalid(&self, reason: &str) -> ActionError {
        ActionError::precondition(reason.to_owned()).in_action(self)
    }
}
