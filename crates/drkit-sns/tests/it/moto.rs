//! `sns.publish` against moto server, which keeps every message a topic was sent (read back
//! through moto's own `/moto-api/data.json`: no AWS API reads a published message). moto
//! neither deduplicates FIFO messages nor answers a `SequenceNumber`: that is covered by the
//! unit tests with SNS's documented answers. The behaviour suite runs here too.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_sns::Client;
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, ActionRef, Check, Context, ErrorKind, PortFactory, async_trait};
use drkit_sns::{PublishRequest, Published, SdkSns, SnsApi};
use drkit_testkit::behaviour::{Case, World, mutating};
use drkit_testkit::{Moto, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

struct Topic {
    moto: Moto,
    arn: String,
    registry: Registry,
    port: Arc<Counted>,
}

/// The SDK adapter, counting the `Publish` calls that reach moto.
#[derive(Debug)]
struct Counted {
    inner: SdkSns,
    publishes: AtomicUsize,
}

#[async_trait]
impl SnsApi for Counted {
    async fn publish(&self, request: PublishRequest) -> Result<Published, ActionError> {
        self.publishes.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(request).await
    }
}

async fn topic(fifo: bool) -> Option<Topic> {
    let moto = drkit_testkit::moto()?;
    let client = Client::new(&moto.sdk_config(REGION).await);
    let mut create = client.create_topic();
    create = if fifo {
        create
            .name(format!("{}.fifo", unique("dr-team")))
            .attributes("FifoTopic", "true")
    } else {
        create.name(unique("dr-team"))
    };
    let arn = create.send().await.unwrap().topic_arn.unwrap();
    let port = Arc::new(Counted {
        inner: SdkSns::new(client),
        publishes: AtomicUsize::new(0),
    });
    let mut registry = Registry::new();
    let api: Arc<dyn SnsApi> = Arc::clone(&port) as _;
    drkit_sns::register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
    Some(Topic {
        moto,
        arn,
        registry,
        port,
    })
}

impl Topic {
    /// What moto says the topic was sent: `[message_id, message, subject, attributes, group]`.
    async fn sent(&self) -> Vec<Value> {
        self.moto
            .model_instances("sns", "Topic")
            .await
            .into_iter()
            .find(|t| t["arn"] == self.arn.as_str())
            .and_then(|t| t["sent_notifications"].as_array().cloned())
            .unwrap_or_default()
    }

    fn step(&self, id: &str, params: Value) -> ActionRef {
        self.registry
            .build(&ActionSpec::new(id, "sns.publish", params))
            .unwrap()
    }
}

#[async_trait]
impl World for Topic {
    async fn state(&self) -> Value {
        json!(self.sent().await)
    }

    fn mutations(&self) -> usize {
        self.port.publishes.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_notice_reaches_the_topic_once_with_its_subject() {
    let Some(topic) = topic(false).await else {
        return;
    };
    let step = topic.step(
        "notify-dr-team",
        json!({
            "topic": topic.arn,
            "subject": "[DR] Mint failover started",
            "message": "Mint is failing over to us-west-2. Next update in 30 minutes.",
        }),
    );
    let ctx = Context::new().with_step("notify-dr-team");
    assert!(matches!(
        step.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = step.execute(&ctx).await.unwrap();
    let id = out.get_str("message_id").unwrap().to_owned();
    let sent = topic.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0][0], id.as_str());
    assert_eq!(
        sent[0][1],
        "Mint is failing over to us-west-2. Next update in 30 minutes."
    );
    assert_eq!(sent[0][2], "[DR] Mint failover started");
    // Done on a re-check (a retry, a resume): nothing is published again.
    assert!(step.check(&ctx).await.unwrap().is_done());
    assert!(step.verify(&ctx).await.unwrap().contains(&id));
    assert_eq!(topic.sent().await.len(), 1);
}

#[tokio::test]
async fn a_fifo_topic_gets_the_group_and_a_deduplication_id() {
    let Some(topic) = topic(true).await else {
        return;
    };
    let step = topic.step(
        "notify-update",
        json!({"topic": topic.arn, "message": "Update 1: database promoted.", "group": "mint-dr"}),
    );
    let ctx = Context::new()
        .with_step("notify-update")
        .with_run("mint-failover-1", std::time::SystemTime::now());
    step.execute(&ctx).await.unwrap();
    let sent = topic.sent().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0][4], "mint-dr");
    // moto refuses a FIFO message without MessageDeduplicationId (the topic has no
    // content-based deduplication): accepted, so drkit sent one.
}

#[tokio::test]
async fn a_missing_topic_is_not_found_and_not_retryable() {
    let Some(topic) = topic(false).await else {
        return;
    };
    let missing = format!("{}-gone", topic.arn);
    let step = topic.step("notify", json!({"topic": missing, "message": "m"}));
    let ctx = Context::new();
    let e = step.execute(&ctx).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("no topic"), "{e}");
    assert!(ctx.intent().is_none(), "a refusal withdraws the intent");
    assert_eq!(topic.port.publishes.load(Ordering::SeqCst), 1, "sent once");
}

#[tokio::test]
async fn the_behaviour_suite() {
    let Some(topic) = topic(false).await else {
        return;
    };
    let case = Case::new(
        topic.registry.clone(),
        "sns.publish",
        json!({"topic": topic.arn, "subject": "[DR] drill", "message": "A drill notice."}),
    )
    .refuses(json!({"topic": "dr-team", "message": "m"}), "topic");
    mutating(&case, &topic).await;
}
