//! The behaviour suite (`drkit_testkit::behaviour`) for `lambda.invoke`, against an in-memory
//! Lambda: a fake of the port that keeps every event its one function received (moto runs a
//! function only with a container engine).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating};
use serde_json::{Value, json};

use crate::port::{Invocation, InvokeRequest, LambdaApi};
use crate::register_with;

/// A Lambda with one function, `mint-drain`, that answers `{"drained": <n>}`.
#[derive(Debug, Default)]
struct FakeLambda {
    events: Mutex<Vec<Value>>,
}

impl FakeLambda {
    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let api: Arc<dyn LambdaApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeLambda {
    async fn state(&self) -> Value {
        json!(*self.events.lock().unwrap())
    }

    fn mutations(&self) -> usize {
        self.events.lock().unwrap().len()
    }
}

#[async_trait]
impl LambdaApi for FakeLambda {
    async fn invoke(&self, request: InvokeRequest) -> Result<Invocation, ActionError> {
        if request.function != "mint-drain" {
            return Err(ActionError::new(ErrorKind::NotFound, "Function not found")
                .with_code("ResourceNotFoundException"));
        }
        let event = request
            .payload
            .map_or(json!({}), |p| serde_json::from_slice(&p).unwrap());
        let mut events = self.events.lock().unwrap();
        events.push(event);
        let answer = json!({"drained": events.len()}).to_string();
        Ok(Invocation::ok(answer, "$LATEST"))
    }
}

#[tokio::test]
async fn invoke() {
    let lambda = Arc::new(FakeLambda::default());
    let case = Case::new(
        lambda.registry(),
        "lambda.invoke",
        json!({"function": "mint-drain", "payload": {"queue": "jobs"}}),
    )
    .in_region("us-west-2")
    .refuses(json!({"function": "mint drain"}), "function")
    .refuses(
        json!({"function": "mint-drain:live", "qualifier": "blue"}),
        "qualifier",
    )
    .refuses(
        json!({"function": "arn:aws:lambda:us-east-1:123456789012:function:f", "region": "us-west-2"}),
        "region",
    )
    .refuses(
        json!({"function": "mint-drain", "outputs": {"n": "drained"}}),
        "outputs",
    )
    .refuses(
        json!({"function": "mint-drain", "payload": {"blob": "x".repeat(crate::MAX_PAYLOAD)}}),
        "payload",
    );
    mutating(&case, lambda.as_ref()).await;
}
