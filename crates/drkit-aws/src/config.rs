//! Loading the SDK configuration the way AWS users expect.

use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use serde::Deserialize;

/// Where and as whom drkit talks to AWS. Every field is optional: what is not given comes from
/// the usual places (environment, `~/.aws/config`, instance metadata), exactly as the AWS CLI
/// finds it.
///
/// - `region`: the default region; a step can override it ([`AwsContext::for_region`]).
/// - `profile`: a named profile of `~/.aws/config` (else `AWS_PROFILE`, else `default`).
/// - `endpoint_url`: one endpoint for every service, e.g. a local emulator
///   (`http://127.0.0.1:5000`). `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` are read
///   by the SDK itself when this is not set.
/// - `assume_role`: a role to assume on top of the loaded credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AwsSettings {
    /// Default region.
    pub region: Option<String>,
    /// Named profile.
    pub profile: Option<String>,
    /// One endpoint for every service (emulators).
    pub endpoint_url: Option<String>,
    /// A role to assume.
    pub assume_role: Option<AssumeRole>,
}

impl AwsSettings {
    /// Sets the default region.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the profile.
    #[must_use]
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Sets the endpoint for every service.
    #[must_use]
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Sets the role to assume.
    #[must_use]
    pub fn assume_role(mut self, role: AssumeRole) -> Self {
        self.assume_role = Some(role);
        self
    }
}

/// A role to assume with STS.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AssumeRole {
    /// The role's ARN.
    pub role_arn: String,
    /// The session name, shown in CloudTrail (default `drkit`).
    #[serde(default = "default_session_name")]
    pub session_name: String,
    /// The external id, when the role's trust policy requires one.
    #[serde(default)]
    pub external_id: Option<String>,
}

fn default_session_name() -> String {
    "drkit".to_owned()
}

impl AssumeRole {
    /// Assume `role_arn` as session `drkit`.
    pub fn new(role_arn: impl Into<String>) -> Self {
        Self {
            role_arn: role_arn.into(),
            session_name: default_session_name(),
            external_id: None,
        }
    }
}

/// The loaded AWS configuration, shared by every provider. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AwsContext {
    base: SdkConfig,
}

impl AwsContext {
    /// Loads the configuration: default credential chain, then `settings` on top.
    pub async fn load(settings: &AwsSettings) -> Self {
        Self::load_with(aws_config::defaults(BehaviorVersion::latest()), settings).await
    }

    /// Like [`load`](Self::load), starting from the embedder's own `loader` (e.g. with its
    /// credentials provider or profile files); `settings` still apply on top.
    pub async fn load_with(loader: ConfigLoader, settings: &AwsSettings) -> Self {
        let mut loader = loader;
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let base = loader.load().await;
        let base = match &settings.assume_role {
            Some(role) => {
                let mut provider = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
                    .session_name(&role.session_name)
                    .configure(&base);
                if let Some(id) = &role.external_id {
                    provider = provider.external_id(id);
                }
                let provider = provider.build().await;
                base.into_builder()
                    .credentials_provider(SharedCredentialsProvider::new(provider))
                    .build()
            }
            None => base,
        };
        Self { base }
    }

    /// Wraps an already-built configuration (e.g. the embedder's own).
    pub fn from_sdk_config(base: SdkConfig) -> Self {
        Self { base }
    }

    /// The loaded configuration.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.base
    }

    /// The configuration for a step in `region` (or the default region when `None`).
    pub fn for_region(&self, region: Option<&str>) -> SdkConfig {
        match region {
            Some(region) => self
                .base
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build(),
            None => self.base.clone(),
        }
    }

    /// The default region, if one was found.
    pub fn region(&self) -> Option<&str> {
        self.base.region().map(Region::as_ref)
    }

    /// The endpoint every service uses, when one is set (an emulator).
    pub fn endpoint_url(&self) -> Option<&str> {
        self.base.endpoint_url()
    }

    /// Whether S3 must use path-style addressing: true when a custom endpoint is set, since
    /// `bucket.127.0.0.1` does not resolve.
    pub fn s3_force_path_style(&self) -> bool {
        self.endpoint_url().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_override_the_environment() {
        let ctx = AwsContext::load(
            &AwsSettings::default()
                .region("us-west-2")
                .endpoint_url("http://127.0.0.1:4566"),
        )
        .await;
        assert_eq!(ctx.region(), Some("us-west-2"));
        assert_eq!(ctx.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(ctx.s3_force_path_style());
        let east = ctx.for_region(Some("us-east-1"));
        assert_eq!(east.region().map(Region::as_ref), Some("us-east-1"));
        assert_eq!(east.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert_eq!(
            ctx.for_region(None).region().map(Region::as_ref),
            Some("us-west-2")
        );
    }

    #[tokio::test]
    async fn a_named_profile_gives_its_region() {
        use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

        let dir = std::env::temp_dir().join(format!("drkit-aws-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config");
        std::fs::write(
            &config,
            "[default]\nregion = us-east-1\n\n[profile dr]\nregion = us-west-2\n",
        )
        .unwrap();
        let files = EnvConfigFiles::builder()
            .with_file(EnvConfigFileKind::Config, &config)
            .build();
        let loader =
            || aws_config::defaults(BehaviorVersion::latest()).profile_files(files.clone());
        let dr = AwsContext::load_with(loader(), &AwsSettings::default().profile("dr")).await;
        assert_eq!(dr.region(), Some("us-west-2"));
        let default =
            AwsContext::load_with(loader(), &AwsSettings::default().profile("default")).await;
        assert_eq!(default.region(), Some("us-east-1"));
        // An explicit region wins over the profile's.
        let explicit = AwsContext::load_with(
            loader(),
            &AwsSettings::default().profile("dr").region("eu-west-1"),
        )
        .await;
        assert_eq!(explicit.region(), Some("eu-west-1"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn debug_output_never_shows_the_secret_key() {
        let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
        let loader = aws_config::defaults(BehaviorVersion::latest()).credentials_provider(
            aws_credential_types::Credentials::new(
                "AKIDEXAMPLE",
                secret,
                Some("session-token-xyz".into()),
                None,
                "test",
            ),
        );
        let ctx = AwsContext::load_with(loader, &AwsSettings::default().region("us-east-1")).await;
        let debug = format!("{ctx:?} {:?}", ctx.for_region(Some("us-west-2")));
        assert!(!debug.contains(secret), "secret key in Debug output");
        assert!(
            !debug.contains("session-token-xyz"),
            "session token in Debug output"
        );
    }

    #[test]
    fn settings_deserialize_and_refuse_unknown_fields() {
        let s: AwsSettings = serde_json::from_value(serde_json::json!({
            "region": "us-west-2",
            "assume_role": { "role_arn": "arn:aws:iam::123456789012:role/dr" }
        }))
        .unwrap();
        assert_eq!(s.region.as_deref(), Some("us-west-2"));
        assert_eq!(
            s.assume_role,
            Some(AssumeRole::new("arn:aws:iam::123456789012:role/dr"))
        );
        let err =
            serde_json::from_value::<AwsSettings>(serde_json::json!({"regoin": "x"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `regoin`"), "{err}");
    }
}
