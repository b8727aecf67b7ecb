//! Unit tests of `cloudfront.switch_origin` against the mocked port: a config changed under the
//! switch (`PreconditionFailed`), a distribution `InProgress` before `Deployed`, refusals.

use std::sync::{Arc, Mutex};

use drkit_core::{Check, Context, RecoveryAction};

use super::*;
use crate::port::{Distribution, MockCloudFrontApi};

const DIST: &str = "E2QWRUHAPOMQZL";

fn action(api: MockCloudFrontApi, params: SwitchOriginParams) -> SwitchOrigin {
    SwitchOrigin::build(
        StepSpec::new("cdn-dr", params),
        &PortFactory::fixed(Arc::new(api) as Arc<dyn CloudFrontApi>),
    )
    .unwrap()
}

fn routing(etag: &str, default: &str) -> Routing {
    let mut r = Routing::new(etag, &["web", "web-dr"], default);
    r.behaviours = vec![("/api/*".into(), default.into())];
    r
}

#[tokio::test(start_paused = true)]
async fn a_config_changed_under_the_switch_is_read_again_then_deployed_is_awaited() {
    let mut api = MockCloudFrontApi::new();
    let reads = Arc::new(Mutex::new(vec![
        routing("E3", "web-dr"), // after the update
        routing("E2", "web"),    // read again after the conflict
        routing("E1", "web"),    // the switch's first read
        routing("E1", "web"),    // apply reads
    ]));
    let r = Arc::clone(&reads);
    api.expect_get_routing().returning(move |_| {
        Ok(r.lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| routing("E3", "web-dr")))
    });
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&calls);
    api.expect_set_routing()
        .times(2)
        .returning(move |_, etag, default, behaviours| {
            c.lock()
                .unwrap()
                .push((etag.to_owned(), default, behaviours));
            if etag == "E1" {
                Err(ActionError::new(ErrorKind::Conflict, "stale").with_code("PreconditionFailed"))
            } else {
                Ok(())
            }
        });
    let statuses = Arc::new(Mutex::new(vec!["Deployed", "InProgress"]));
    api.expect_get_distribution().returning(move |_| {
        let status = statuses.lock().unwrap().pop().unwrap_or("Deployed");
        Ok(Distribution::new(DIST, status, true))
    });
    let mut params = SwitchOriginParams::new(DIST, "web-dr");
    params.path_patterns = vec!["/api/*".into()];
    let switch = action(api, params);
    let ctx = Context::new();
    let out = switch.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("previous_default"), Some("web"));
    assert_eq!(out.get_str("previous_behaviours"), Some("/api/*=web"));
    assert_eq!(out.get_str("status"), Some("Deployed"));
    let calls = calls.lock().unwrap();
    assert_eq!(calls[0].0, "E1");
    assert_eq!(calls[1].0, "E2");
    assert_eq!(calls[1].1.as_deref(), Some("web-dr"));
    assert_eq!(calls[1].2, vec![("/api/*".to_owned(), "web-dr".to_owned())]);
    // The targets before were journalled first (the intent), for a rollback after a crash.
    assert_eq!(
        ctx.intent().unwrap().get_str("previous_default"),
        Some("web")
    );
}

#[tokio::test]
async fn an_unknown_origin_or_path_pattern_blocks_before_any_change() {
    for (origin, patterns, why) in [
        (
            "web-other",
            vec![],
            "has no origin or origin group `web-other`",
        ),
        (
            "web-dr",
            vec!["/img/*".to_owned()],
            "no cache behaviour for path pattern `/img/*`",
        ),
    ] {
        let mut api = MockCloudFrontApi::new();
        api.expect_get_routing()
            .returning(|_| Ok(routing("E1", "web")));
        api.expect_set_routing().never();
        let mut params = SwitchOriginParams::new(DIST, origin);
        params.path_patterns = patterns;
        match action(api, params).check(&Context::new()).await.unwrap() {
            Check::Blocked { reason } => assert!(reason.contains(why), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
