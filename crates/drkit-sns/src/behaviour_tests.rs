//! The behaviour suite (`drkit_testkit::behaviour`) for `sns.publish`, against an in-memory
//! SNS that keeps the messages each topic received (the same suite runs against moto in
//! `tests/it`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating};
use serde_json::{Value, json};

use crate::port::{PublishRequest, Published, SnsApi};
use crate::register_with;

pub(crate) const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:dr-team";

/// An SNS with one standard topic, `dr-team`.
#[derive(Debug, Default)]
struct FakeSns {
    messages: Mutex<Vec<PublishRequest>>,
}

impl FakeSns {
    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let api: Arc<dyn SnsApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeSns {
    async fn state(&self) -> Value {
        let messages = self.messages.lock().unwrap();
        json!(
            messages
                .iter()
                .map(|m| (&m.subject, &m.message))
                .collect::<Vec<_>>()
        )
    }

    fn mutations(&self) -> usize {
        self.messages.lock().unwrap().len()
    }
}

#[async_trait]
impl SnsApi for FakeSns {
    async fn publish(&self, request: PublishRequest) -> Result<Published, ActionError> {
        if request.topic != TOPIC {
            return Err(
                ActionError::new(ErrorKind::NotFound, "Topic does not exist").with_code("NotFound"),
            );
        }
        let mut messages = self.messages.lock().unwrap();
        messages.push(request);
        Ok(Published::new(format!("m-{}", messages.len())))
    }
}

#[tokio::test]
async fn publish() {
    let sns = Arc::new(FakeSns::default());
    let case = Case::new(
        sns.registry(),
        "sns.publish",
        json!({"topic": TOPIC, "subject": "[DR] Mint failover started", "message": "Failing over to us-west-2."}),
    )
    .refuses(json!({"topic": "dr-team", "message": "m"}), "topic")
    .refuses(
        json!({"topic": TOPIC, "subject": "line\nbreak", "message": "m"}),
        "subject",
    )
    .refuses(json!({"topic": TOPIC, "message": ""}), "message")
    .refuses(
        json!({"topic": "arn:aws:sns:us-east-1:123456789012:dr-team.fifo", "message": "m"}),
        "group",
    );
    mutating(&case, sns.as_ref()).await;
}
