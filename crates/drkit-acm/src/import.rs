//! `acm.import_certificate`: a certificate and its private key (read through a [`SecretRef`])
//! into ACM, or re-imported into an existing ARN.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, SecretRef, StepSpec,
};
use serde::Deserialize;

use crate::port::AcmApi;
use crate::register::{acm_region, not_empty};

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
    /// Re-import into this imported certificate.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// The ACM region (default: the step's region; CloudFront needs us-east-1).
    #[serde(default)]
    pub region: Option<String>,
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

/// Imports a certificate into ACM (or re-imports it into `certificate_arn`).
///
/// - `check`: the certificate (and chain) can be read and the private key reference resolves;
///   with `certificate_arn`, that certificate exists and is `IMPORTED`. Ready, or blocked.
/// - `execute`: `ImportCertificate`; executed again, returns the ARN it already imported.
/// - The private key is resolved only when needed, handed to the port, and never appears in
///   progress, errors, outputs or `Debug`.
#[derive(Debug, HasBase)]
pub struct ImportCertificate {
    base: Base<Self>,
    imported: Mutex<Option<String>>,
}

impl ActionKind for ImportCertificate {
    const KIND: &'static str = "acm.import_certificate";
    const SUMMARY: &'static str = "Import a certificate and its private key (a secret reference) \
                                   into ACM, or re-import it into an ARN";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] =
        &["acm:ImportCertificate", "acm:DescribeCertificate"];
    const OUTPUTS: &'static [OutputDoc] = &[OutputDoc::new(
        "certificate_arn",
        "the imported certificate's ARN",
    )];
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
        let acm = ports.get(region.as_deref());
        Ok(Self::new(step.id, step.params, acm, region.as_deref()))
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
        let target = Resource::new("acm", "certificate", what).in_region(region);
        Self {
            base: Base::new(id, params, target, acm),
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
        if let Err(reason) = pem("certificate", &self.base.params.certificate) {
            return Ok(Some(reason));
        }
        if let Some(chain) = &self.base.params.chain
            && let Err(reason) = pem("chain", chain)
        {
            return Ok(Some(reason));
        }
        if let Err(e) = self.base.params.private_key.resolve() {
            return Ok(Some(format!("private key: {}", e.message())));
        }
        if let Some(arn) = &self.base.params.certificate_arn {
            match ctx.bounded(self.base.port.describe_certificate(arn)).await {
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
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    fn outputs(arn: &str) -> Outputs {
        Outputs::new().with("certificate_arn", arn.to_owned())
    }
}

#[async_trait]
impl Act for ImportCertificate {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        if let Some(arn) = self.imported() {
            return Ok(Check::Done {
                detail: format!("imported as {arn}"),
                outputs: Self::outputs(&arn),
            });
        }
        if let Some(reason) = self.blocker(ctx).await? {
            return Ok(Check::blocked(reason));
        }
        Ok(Check::ready(match &self.base.params.certificate_arn {
            Some(arn) => format!("re-import the certificate into {arn}"),
            None => "import the certificate into ACM".to_owned(),
        }))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if let Some(arn) = self.imported() {
            return Ok(Self::outputs(&arn));
        }
        let p = &self.base.params;
        let certificate = pem("certificate", &p.certificate).map_err(ActionError::precondition)?;
        let chain = match &p.chain {
            Some(c) => Some(pem("chain", c).map_err(ActionError::precondition)?),
            None => None,
        };
        let key = p.private_key.resolve()?;
        let arn = ctx
            .bounded(self.base.port.import_certificate(
                p.certificate_arn.clone(),
                certificate,
                key,
                chain,
            ))
            .await?;
        ctx.progress(format!("imported certificate {arn}"));
        *self.imported.lock().unwrap_or_else(PoisonError::into_inner) = Some(arn.clone());
        Ok(Self::outputs(&arn))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let Some(arn) = self.imported() else {
            return Err(ActionError::postcondition("nothing was imported"));
        };
        let info = ctx
            .bounded(self.base.port.describe_certificate(&arn))
            .await?;
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
            )))
        }
    }
}
