//! Assume-role against a real STS API (moto server): the loaded configuration's credentials
//! are the role's temporary ones, obtained from the emulator's STS, not the base ones.

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use drkit_aws::{AssumeRole, AwsContext, AwsSettings};

#[tokio::test]
async fn assume_role_yields_the_roles_temporary_credentials() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let base = aws_config::defaults(BehaviorVersion::latest()).credentials_provider(
        Credentials::new("AKIDBASEBASEBASE", "base-secret", None, None, "test"),
    );
    let settings = AwsSettings::default()
        .region("us-east-1")
        .endpoint_url(moto.endpoint())
        .assume_role(AssumeRole::new(
            "arn:aws:iam::123456789012:role/mint-replica-dr-role",
        ));
    let aws = AwsContext::load_with(base, &settings).await;
    let provider = aws.sdk_config().credentials_provider().unwrap();
    let creds = provider.provide_credentials().await.unwrap();
    assert_ne!(creds.access_key_id(), "AKIDBASEBASEBASE");
    assert!(
        creds.session_token().is_some(),
        "assumed-role credentials carry a session token"
    );
    assert!(creds.expiry().is_some(), "assumed-role credentials expire");
}
