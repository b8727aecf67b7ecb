//! Unit tests of `route53.change_records` (and `route53.check_health`, `upsert_records`) with
//! the mocked port: what moto cannot show (it answers INSYNC at once, never throttles, and its
//! CREATE of an existing record appends instead of failing).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{CancellationToken, Check, Context, ErrorKind, RecoveryAction, WaitPolicy};

use super::*;
use crate::health::CheckHealth;
use crate::port::{ChangeInfo, CheckerReport, MockRoute53Api};
use crate::records::upsert_records;

const ZONE_ID: &str = "Z0000000000000000001";

/// A fake zone behind the mock: records live in `records`; submitted batches are recorded;
/// `get_change` answers `statuses` in order (repeating the last one).
#[derive(Clone, Default)]
struct Fake {
    records: Arc<Mutex<Vec<RecordSet>>>,
    submitted: Arc<Mutex<Vec<Vec<RecordChange>>>>,
    statuses: Arc<Mutex<VecDeque<Result<&'static str, ErrorKind>>>>,
    submit_errors: Arc<Mutex<VecDeque<ActionError>>>,
}

impl Fake {
    fn with(records: Vec<RecordSet>) -> Self {
        let fake = Self::default();
        *fake.records.lock().unwrap() = records;
        fake.statuses.lock().unwrap().push_back(Ok("INSYNC"));
        fake
    }

    fn mock(&self) -> MockRoute53Api {
        let mut api = MockRoute53Api::new();
        api.expect_find_zone().returning(|zone| {
            if zone == "example.com" || zone == ZONE_ID {
                Ok(HostedZone::new(ZONE_ID, "example.com"))
            } else {
                Err(ActionError::new(ErrorKind::NotFound, "no such zone"))
            }
        });
        let records = Arc::clone(&self.records);
        api.expect_list_records().returning(move |_, name, rtype| {
            Ok(records
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.name == name && r.rtype == rtype)
                .cloned()
                .collect())
        });
        let (records, submitted, errors) = (
            Arc::clone(&self.records),
            Arc::clone(&self.submitted),
            Arc::clone(&self.submit_errors),
        );
        api.expect_change_records().returning(move |_, changes, _| {
            if let Some(e) = errors.lock().unwrap().pop_front() {
                return Err(e);
            }
            let mut live = records.lock().unwrap();
            for c in &changes {
                live.retain(|r| !r.same_record(&c.record));
                if c.action != ChangeAction::Delete {
                    live.push(c.record.clone());
                }
            }
            let mut submitted = submitted.lock().unwrap();
            submitted.push(changes);
            Ok(ChangeInfo::new(format!("C{}", submitted.len()), "PENDING"))
        });
        let statuses = Arc::clone(&self.statuses);
        api.expect_get_change().returning(move |id| {
            let mut q = statuses.lock().unwrap();
            let s = if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                *q.front().unwrap()
            };
            match s {
                Ok(s) => Ok(ChangeInfo::new(id, s)),
                Err(kind) => Err(ActionError::new(kind, "GetChange failed")),
            }
        });
        api
    }

    fn submitted(&self) -> Vec<Vec<RecordChange>> {
        self.submitted.lock().unwrap().clone()
    }

    fn live(&self, name: &str) -> Vec<RecordSet> {
        let name = normalize_name(name);
        let mut out: Vec<_> = self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.name == name)
            .cloned()
            .collect();
        out.sort_by(|a, b| a.set_identifier.cmp(&b.set_identifier));
        out
    }
}

fn a(name: &str, value: &str) -> RecordSet {
    RecordSet::simple(name, "A", 60, vec![value.to_owned()])
}

#[allow(clippy::needless_pass_by_value)] // test helper: callers build the value inline
fn params(changes: serde_json::Value) -> ChangeRecordsParams {
    serde_json::from_value(serde_json::json!({"zone": "example.com", "changes": changes})).unwrap()
}

fn action(fake: &Fake, changes: serde_json::Value) -> ChangeRecords {
    ChangeRecords::new("dns-failover", params(changes), Arc::new(fake.mock()))
        .with_wait_policy(WaitPolicy::without_jitter())
}

fn failover_to_dr() -> serde_json::Value {
    serde_json::json!([
        {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]},
        {"action": "CREATE", "name": "api-dr.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]},
        {"action": "DELETE", "name": "old.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.9"]},
    ])
}

#[tokio::test(start_paused = true)]
async fn check_says_ready_then_execute_changes_everything_in_one_batch_and_waits_for_insync() {
    let fake = Fake::with(vec![
        a("api.example.com", "192.0.2.1"),
        a("old.example.com", "192.0.2.9"),
    ]);
    {
        let mut s = fake.statuses.lock().unwrap();
        s.clear();
        s.extend([Ok("PENDING"), Ok("PENDING"), Ok("INSYNC")]);
    }
    let action = action(&fake, failover_to_dr());
    let ctx = Context::new();
    match action.check(&ctx).await.unwrap() {
        Check::Ready { change } => {
            assert!(change.contains("UPSERT api.example.com. A"), "{change}");
            assert!(change.contains("was ttl 60: 192.0.2.1"), "{change}");
            assert!(change.contains("DELETE old.example.com. A"), "{change}");
        }
        other => panic!("{other:?}"),
    }
    let started = tokio::time::Instant::now();
    let out = action.execute(&ctx).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited through PENDING"
    );
    assert_eq!(fake.submitted().len(), 1, "one request");
    assert_eq!(fake.submitted()[0].len(), 3);
    assert_eq!(out.get("change_ids").unwrap(), &serde_json::json!(["C1"]));
    assert_eq!(out.get("changes_submitted").unwrap(), 3);
    assert_eq!(out.get_str("zone_id"), Some(ZONE_ID));
    assert_eq!(
        fake.live("api.example.com"),
        [a("api.example.com", "198.51.100.7")]
    );
    assert!(fake.live("old.example.com").is_empty());
    assert!(action.check(&ctx).await.unwrap().is_done());
    action.verify(&ctx).await.unwrap();

    // Rollback puts back what was there: the old api value, old.example.com, and no api-dr.
    action.rollback(&ctx).await.unwrap();
    assert_eq!(
        fake.live("api.example.com"),
        [a("api.example.com", "192.0.2.1")]
    );
    assert_eq!(
        fake.live("old.example.com"),
        [a("old.example.com", "192.0.2.9")]
    );
    assert!(fake.live("api-dr.example.com").is_empty());
    assert_eq!(fake.submitted().len(), 2);
    let err = action.rollback(&ctx).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Unsupported,
        "nothing left to roll back"
    );
}

#[tokio::test(start_paused = true)]
async fn already_in_effect_is_done_and_execute_submits_nothing() {
    let fake = Fake::with(vec![
        a("api.example.com", "198.51.100.7"),
        a("api-dr.example.com", "198.51.100.7"),
    ]);
    let action = action(&fake, failover_to_dr());
    let ctx = Context::new();
    match action.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => assert_eq!(outputs.get_str("zone_id"), Some(ZONE_ID)),
        other => panic!("{other:?}"),
    }
    action.execute(&ctx).await.unwrap();
    assert!(fake.submitted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn weighted_records_are_told_apart_by_set_identifier() {
    let mut blue = a("api.example.com", "192.0.2.1");
    blue.set_identifier = Some("blue".into());
    blue.weight = Some(100);
    let fake = Fake::with(vec![blue.clone()]);
    let action = action(
        &fake,
        serde_json::json!([
            {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"], "set_identifier": "blue", "weight": 0},
            {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"], "set_identifier": "green", "weight": 100},
        ]),
    );
    let ctx = Context::new();
    action.execute(&ctx).await.unwrap();
    let live = fake.live("api.example.com");
    assert_eq!(live.len(), 2);
    assert_eq!(live[0].weight, Some(0));
    assert_eq!(live[1].set_identifier.as_deref(), Some("green"));
    action.rollback(&ctx).await.unwrap();
    assert_eq!(fake.live("api.example.com"), [blue]);
}

#[tokio::test(start_paused = true)]
async fn a_conflicting_create_or_inexact_delete_is_blocked() {
    let fake = Fake::with(vec![a("api.example.com", "192.0.2.1")]);
    let create = action(
        &fake,
        serde_json::json!([{"action": "CREATE", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]}]),
    );
    let ctx = Context::new();
    match create.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("use UPSERT"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let err = create.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    let delete = action(
        &fake,
        serde_json::json!([{"action": "DELETE", "name": "api.example.com", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}]),
    );
    match delete.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("must match"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(fake.submitted().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_missing_zone_or_a_record_outside_it_is_blocked() {
    let fake = Fake::with(vec![]);
    let missing = ChangeRecords::new(
        "dns",
        serde_json::from_value(serde_json::json!({"zone": "nowhere.example", "changes": [
            {"action": "UPSERT", "name": "a.nowhere.example", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}))
        .unwrap(),
        Arc::new(fake.mock()),
    );
    let ctx = Context::new();
    match missing.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("does not exist"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Zone given by id: names are validated once its name is known.
    let outside = ChangeRecords::new(
        "dns",
        serde_json::from_value(serde_json::json!({"zone": ZONE_ID, "changes": [
            {"action": "UPSERT", "name": "a.example.org", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}))
        .unwrap(),
        Arc::new(fake.mock()),
    );
    match outside.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(reason.contains("not in zone example.com."), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        outside.execute(&ctx).await.unwrap_err().kind(),
        ErrorKind::PreconditionFailed
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_is_backed_off_then_the_batch_goes_through() {
    let fake = Fake::with(vec![]);
    fake.submit_errors.lock().unwrap().extend([
        ActionError::new(ErrorKind::Throttled, "Rate exceeded").with_code("Throttling"),
        ActionError::new(ErrorKind::Throttled, "prior request")
            .with_code("PriorRequestNotComplete"),
    ]);
    let action = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]}]),
    );
    let started = tokio::time::Instant::now();
    action.execute(&Context::new()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(3), "1 s then 2 s");
    assert_eq!(fake.submitted().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_returned_at_once() {
    let fake = Fake::with(vec![]);
    fake.submit_errors.lock().unwrap().push_back(
        ActionError::new(ErrorKind::InvalidInput, "bad").with_code("InvalidChangeBatch"),
    );
    let action = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]}]),
    );
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.code(), Some("InvalidChangeBatch"));
    assert_eq!(err.operation(), Some("ChangeResourceRecordSets"));
    assert_eq!(err.action(), Some("route53.change_records"));
}

#[tokio::test(start_paused = true)]
async fn re_execute_after_a_failed_wait_does_not_resubmit_and_rollback_still_knows_the_before() {
    let fake = Fake::with(vec![a("api.example.com", "192.0.2.1")]);
    {
        let mut s = fake.statuses.lock().unwrap();
        s.clear();
        s.extend([Err(ErrorKind::AccessDenied), Ok("INSYNC")]);
    }
    let action = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]}]),
    );
    let ctx = Context::new();
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(fake.submitted().len(), 1, "not submitted twice");
    assert_eq!(out.get("change_ids").unwrap(), &serde_json::json!(["C1"]));
    action.rollback(&ctx).await.unwrap();
    assert_eq!(
        fake.live("api.example.com"),
        [a("api.example.com", "192.0.2.1")]
    );
}

#[tokio::test(start_paused = true)]
async fn dry_run_deadline_and_cancellation() {
    let fake = Fake::with(vec![]);
    {
        let mut s = fake.statuses.lock().unwrap();
        s.clear();
        s.push_back(Ok("PENDING"));
    }
    let changes = serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]}]);
    let dry = action(&fake, changes.clone());
    let err = dry
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(fake.submitted().is_empty());

    let slow = action(&fake, changes.clone());
    let err = slow
        .execute(&Context::new().with_timeout(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.message().contains("INSYNC"), "{}", err.message());

    let token = CancellationToken::new();
    let fresh = Fake::with(vec![]);
    {
        let mut s = fresh.statuses.lock().unwrap();
        s.clear();
        s.push_back(Ok("PENDING"));
    }
    let cancelled = action(&fresh, changes);
    let ctx = Context::new().with_cancellation(token.clone());
    let handle = tokio::spawn(async move { cancelled.execute(&ctx).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    token.cancel();
    assert_eq!(
        handle.await.unwrap().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
}

#[tokio::test(start_paused = true)]
async fn upsert_records_validates_batches_and_waits() {
    let fake = Fake::with(vec![]);
    let api = fake.mock();
    let ctx = Context::new();
    let ids = upsert_records(
        &ctx,
        &api,
        ZONE_ID,
        vec![RecordSet::simple(
            "_x1.api.example.com",
            "CNAME",
            300,
            vec!["_y1.acm-validations.aws.".into()],
        )],
        &WaitPolicy::without_jitter(),
    )
    .await
    .unwrap();
    assert_eq!(ids, ["C1"]);
    assert_eq!(fake.live("_x1.api.example.com").len(), 1);
    let err = upsert_records(
        &ctx,
        &api,
        ZONE_ID,
        vec![a("api.example.org", "192.0.2.1")],
        &WaitPolicy::without_jitter(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(fake.submitted().len(), 1);
}

fn health(reports: Result<Vec<CheckerReport>, ErrorKind>) -> CheckHealth {
    let mut api = MockRoute53Api::new();
    api.expect_health_check_status()
        .returning(move |_| match &reports {
            Ok(r) => Ok(r.clone()),
            Err(kind) => Err(ActionError::new(*kind, "health check not found")),
        });
    CheckHealth::new(
        "health",
        serde_json::from_value(serde_json::json!({"health_check_id": "hc-1"})).unwrap(),
        Arc::new(api),
    )
}

#[tokio::test(start_paused = true)]
async fn check_health_follows_the_18_percent_rule() {
    let ok = CheckerReport::new("us-east-1", "Success: HTTP Status Code 200, OK");
    let bad = CheckerReport::new("eu-west-1", "Failure: Connection timed out");
    let ctx = Context::new();
    let healthy = health(Ok(vec![ok.clone(), bad.clone(), bad.clone(), bad.clone()]));
    match healthy.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get("healthy_checkers").unwrap(), 1);
            assert_eq!(outputs.get("checkers").unwrap(), 4);
        }
        other => panic!("{other:?}"),
    }
    let unhealthy = health(Ok(vec![
        ok,
        bad.clone(),
        bad.clone(),
        bad.clone(),
        bad.clone(),
        bad,
    ]));
    match unhealthy.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("1 of 6"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        unhealthy.execute(&ctx).await.unwrap_err().kind(),
        ErrorKind::PostconditionFailed
    );
    assert!(!health(Ok(vec![])).check(&ctx).await.unwrap().is_done());
    match health(Err(ErrorKind::NotFound)).check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("does not exist"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        health(Err(ErrorKind::Throttled))
            .check(&ctx)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Throttled
    );
}

/// After a resume the instance is new: execute records `undo` (each change with the record
/// before it), and a fresh instance rolls back from it alone: the upserted record put back,
/// the created one deleted, the deleted one restored.
#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_uses_the_recorded_undo() {
    let fake = Fake::with(vec![
        a("api.example.com", "192.0.2.1"),
        a("old.example.com", "192.0.2.9"),
    ]);
    let ran = action(&fake, failover_to_dr());
    let out = ran.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get("undo").and_then(|u| u.as_array()).map(Vec::len),
        Some(3)
    );
    let fresh = action(&fake, failover_to_dr());
    let ctx = Context::new().with_outputs(std::collections::BTreeMap::from([(
        "dns-failover".to_owned(),
        out,
    )]));
    fresh.rollback(&ctx).await.unwrap();
    assert_eq!(
        fake.live("api.example.com"),
        [a("api.example.com", "192.0.2.1")]
    );
    assert_eq!(fake.live("api-dr.example.com"), []);
    assert_eq!(
        fake.live("old.example.com"),
        [a("old.example.com", "192.0.2.9")]
    );
    // Nothing recorded, nothing remembered: nothing to roll back.
    let none = action(&fake, failover_to_dr());
    assert_eq!(
        none.rollback(&Context::new()).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}
