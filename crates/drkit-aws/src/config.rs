//! Loading the SDK configuration the way AWS users expect.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use serde::Deserialize;

/// Default time to establish a connection (TCP and TLS) to an AWS endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time one attempt of an SDK call may take, from sending the request to the whole
/// answer (a hung endpoint ends the attempt here; the SDK then retries).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time one SDK call may take with all its retries.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(120);
/// Default number of attempts per SDK call (the SDK's standard retry mode: throttling, 5xx,
/// time-outs and I/O errors are retried with exponential backoff and jitter, 1 s up to 20 s).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Environment variable for [`AwsSettings::connect_timeout`] (`5s`, `500ms`, ...).
pub const CONNECT_TIMEOUT_ENV: &str = "DRKIT_AWS_CONNECT_TIMEOUT";
/// Environment variable for [`AwsSettings::attempt_timeout`].
pub const ATTEMPT_TIMEOUT_ENV: &str = "DRKIT_AWS_ATTEMPT_TIMEOUT";
/// Environment variable for [`AwsSettings::operation_timeout`].
pub const OPERATION_TIMEOUT_ENV: &str = "DRKIT_AWS_OPERATION_TIMEOUT";

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
/// - `connect_timeout`, `attempt_timeout`, `operation_timeout`: how long an SDK call may wait
///   to connect, per attempt, and in all (with its retries), so that an endpoint that stops
///   answering fails the call instead of hanging it. When not set: the environment variables
///   `DRKIT_AWS_CONNECT_TIMEOUT`, `DRKIT_AWS_ATTEMPT_TIMEOUT`, `DRKIT_AWS_OPERATION_TIMEOUT`
///   (`5s`, `1500ms`, `2m`...), else 5 s, 30 s and 2 min.
/// - `max_attempts`: attempts per SDK call in the SDK's standard retry mode. When not set, the
///   SDK's own sources (`AWS_MAX_ATTEMPTS`, `max_attempts` in the profile), else 3.
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
    /// Time to connect to an endpoint (default 5 s).
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// Time for one attempt of an SDK call (default 30 s).
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Option<Duration>,
    /// Time for one SDK call with all its retries (default 2 min).
    #[serde(with = "humantime_serde")]
    pub operation_timeout: Option<Duration>,
    /// Attempts per SDK call, standard retry mode (default 3).
    pub max_attempts: Option<u32>,
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

    /// Sets the connect time-out.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets the time-out of one attempt of an SDK call.
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Sets the time-out of one SDK call with all its retries.
    #[must_use]
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Sets the attempts per SDK call (standard retry mode; 1 disables the SDK's retries).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The SDK time-outs these settings give, reading the environment with `env` for what is
    /// not set (a parameter so the rule can be tested): field, else variable, else default.
    pub fn timeout_config_with(&self, env: impl Fn(&str) -> Option<String>) -> TimeoutConfig {
        let pick = |field: Option<Duration>, var: &str, default: Duration| {
            field.or_else(|| env_duration(var, &env)).unwrap_or(default)
        };
        TimeoutConfig::builder()
            .connect_timeout(pick(
                self.connect_timeout,
                CONNECT_TIMEOUT_ENV,
                DEFAULT_CONNECT_TIMEOUT,
            ))
            .operation_attempt_timeout(pick(
                self.attempt_timeout,
                ATTEMPT_TIMEOUT_ENV,
                DEFAULT_ATTEMPT_TIMEOUT,
            ))
            .operation_timeout(pick(
                self.operation_timeout,
                OPERATION_TIMEOUT_ENV,
                DEFAULT_OPERATION_TIMEOUT,
            ))
            .build()
    }

    /// [`timeout_config_with`](Self::timeout_config_with) the process environment.
    pub fn timeout_config(&self) -> TimeoutConfig {
        self.timeout_config_with(|name| std::env::var(name).ok())
    }
}

/// A duration from `var` (`5s`, `1500ms`, `2m`); a value that does not parse is ignored with a
/// warning.
fn env_duration(var: &str, env: &impl Fn(&str) -> Option<String>) -> Option<Duration> {
    let value = env(var).filter(|v| !v.trim().is_empty())?;
    match humantime::parse_duration(value.trim()) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            tracing::warn!("{var}={value:?} is zero; using the default");
            None
        }
        Err(err) => {
            tracing::warn!("{var}={value:?} is not a duration ({err}); using the default");
            None
        }
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
    /// credentials provider or profile files); `settings` still apply on top, including the
    /// time-outs (see [`AwsSettings::timeout_config`]).
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
        // Every client drkit builds from this configuration gets these time-outs: a hung
        // endpoint ends an attempt (which the SDK retries) and, at the latest, the call.
        loader = loader.timeout_config(settings.timeout_config());
        // The SDK's standard retry mode (3 attempts unless AWS_MAX_ATTEMPTS or the profile say
        // otherwise) is already the default; an explicit setting wins over both.
        if let Some(attempts) = settings.max_attempts {
            loader =
                loader.retry_config(RetryConfig::standard().with_max_attempts(attempts.max(1)));
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

    /// The time-outs every SDK client built from this configuration uses.
    pub fn timeout_config(&self) -> Option<&TimeoutConfig> {
        self.base.timeout_config()
    }

    /// The SDK retry configuration (mode, attempts per call).
    pub fn retry_config(&self) -> Option<&RetryConfig> {
        self.base.retry_config()
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
    fn timeouts_come_from_the_field_then_the_environment_then_the_default() {
        let none = |_: &str| None;
        let t = AwsSettings::default().timeout_config_with(none);
        assert_eq!(t.connect_timeout(), Some(DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(DEFAULT_ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(DEFAULT_OPERATION_TIMEOUT));

        let env = |name: &str| match name {
            CONNECT_TIMEOUT_ENV => Some("750ms".to_owned()),
            ATTEMPT_TIMEOUT_ENV => Some("3s".to_owned()),
            OPERATION_TIMEOUT_ENV => Some("not a duration".to_owned()),
            _ => None,
        };
        let t = AwsSettings::default().timeout_config_with(env);
        assert_eq!(t.connect_timeout(), Some(Duration::from_millis(750)));
        assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(3)));
        assert_eq!(t.operation_timeout(), Some(DEFAULT_OPERATION_TIMEOUT));

        let t = AwsSettings::default()
            .attempt_timeout(Duration::from_secs(7))
            .timeout_config_with(env);
        assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(7)));
        let zero = |_: &str| Some("0s".to_owned());
        let t = AwsSettings::default().timeout_config_with(zero);
        assert_eq!(t.connect_timeout(), Some(DEFAULT_CONNECT_TIMEOUT));
    }

    #[tokio::test]
    async fn every_loaded_config_has_timeouts_and_standard_retries() {
        let ctx = AwsContext::load(
            &AwsSettings::default()
                .region("us-west-2")
                .connect_timeout(Duration::from_secs(2))
                .attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(9)),
        )
        .await;
        for config in [ctx.sdk_config().clone(), ctx.for_region(Some("us-east-1"))] {
            let t = config.timeout_config().unwrap();
            assert_eq!(t.connect_timeout(), Some(Duration::from_secs(2)));
            assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(4)));
            assert_eq!(t.operation_timeout(), Some(Duration::from_secs(9)));
            let retry = config.retry_config().unwrap();
            assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
        }
        assert!(ctx.timeout_config().is_some());

        let ctx =
            AwsContext::load(&AwsSettings::default().region("us-west-2").max_attempts(5)).await;
        assert_eq!(ctx.retry_config().map(RetryConfig::max_attempts), Some(5));
        assert_eq!(
            ctx.retry_config().map(RetryConfig::mode),
            Some(aws_config::retry::RetryMode::Standard)
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
        let t: AwsSettings = serde_json::from_value(serde_json::json!({
            "connect_timeout": "3s", "attempt_timeout": "20s", "operation_timeout": "1m",
            "max_attempts": 4
        }))
        .unwrap();
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(t.attempt_timeout, Some(Duration::from_secs(20)));
        assert_eq!(t.operation_timeout, Some(Duration::from_secs(60)));
        assert_eq!(t.max_attempts, Some(4));
        assert_eq!(
            s.assume_role,
            Some(AssumeRole::new("arn:aws:iam::123456789012:role/dr"))
        );
        let err =
            serde_json::from_value::<AwsSettings>(serde_json::json!({"regoin": "x"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `regoin`"), "{err}");
    }
}
