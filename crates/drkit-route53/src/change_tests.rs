//! Unit tests of `route53.change_records` (and `route53.check_health`, `upsert_records`) with
//! the mocked port: what moto cannot show (it answers INSYNC at once, never throttles, and its
//! CREATE of an existing record appends instead of failing).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{CancellationToken, Check, Context, ErrorKind, RecoveryAction, WaitPolicy};

use super::*;
use crate::health::CheckHealth;
use crate::port::{ChangeInfo, CheckerReport, GeoLocation, MockRoute53Api};
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
        api.expect_list_records().returning(move |_, name| {
            Ok(records
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.name == name)
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
            // One transaction, applied in order: a change Route 53 refuses refuses the batch.
            let mut live = records.lock().unwrap();
            let mut next = live.clone();
            for c in &changes {
                next.retain(|r| !r.same_record(&c.record));
                if c.action != ChangeAction::Delete {
                    if let Some(refusal) = cname_refusal(&next, &c.record) {
                        return Err(
                            ActionError::invalid_input(refusal).with_code("InvalidChangeBatch")
                        );
                    }
                    next.push(c.record.clone());
                }
            }
            *live = next;
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

/// Route 53's answer to a record beside a CNAME of its name (or a CNAME beside a record), as it
/// words it.
fn cname_refusal(live: &[RecordSet], record: &RecordSet) -> Option<String> {
    let other = live
        .iter()
        .find(|r| r.name == record.name && (r.rtype == "CNAME") != (record.rtype == "CNAME"))?;
    Some(if record.rtype == "CNAME" {
        format!(
            "[RRSet of type CNAME with DNS name {} is not permitted as it conflicts with other \
             records with the same DNS name in zone example.com.]",
            record.name
        )
    } else {
        format!(
            "[RRSet of type {} with DNS name {} is not permitted because a conflicting RRSet of \
             type  CNAME with the same DNS name already exists in zone example.com.]",
            record.rtype, other.name
        )
    })
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

/// Route 53 refuses a CNAME where another record of the name lives (and a record where a CNAME
/// lives) with `InvalidChangeBatch`; moto accepts both. `check` blocks before any call, naming
/// the record set in the way.
#[tokio::test(start_paused = true)]
async fn a_cname_beside_other_records_of_its_name_is_blocked_before_any_call() {
    let fake = Fake::with(vec![a("api.example.com", "192.0.2.1")]);
    let cname = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "CNAME", "ttl": 60, "values": ["api-dr.example.com"]}]),
    );
    let ctx = Context::new();
    match cname.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(reason.contains("UPSERT api.example.com. CNAME"), "{reason}");
            assert!(
                reason.contains("api.example.com. A (ttl 60: 192.0.2.1)"),
                "{reason}"
            );
            assert!(reason.contains("InvalidChangeBatch"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let err = cname.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");

    // The reverse: an A record (an alias too) where a CNAME lives.
    let fake = Fake::with(vec![RecordSet::simple(
        "www.example.com",
        "CNAME",
        300,
        vec!["d1.cloudfront.net.".into()],
    )]);
    let alias = action(
        &fake,
        serde_json::json!([{"action": "CREATE", "name": "www.example.com", "type": "A",
            "alias": {"dns_name": "d111111abcdef8.cloudfront.net"}}]),
    );
    match alias.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(reason.contains("CREATE www.example.com. A"), "{reason}");
            assert!(
                reason.contains("www.example.com. CNAME (ttl 300: d1.cloudfront.net.) is a CNAME"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Weighted CNAMEs of one name live together: no conflict among them.
    let mut blue = RecordSet::simple(
        "app.example.com",
        "CNAME",
        60,
        vec!["blue.example.net".into()],
    );
    blue.set_identifier = Some("blue".into());
    blue.weight = Some(1);
    let fake = Fake::with(vec![blue]);
    let green = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "app.example.com", "type": "CNAME", "ttl": 60,
            "values": ["green.example.net"], "set_identifier": "green", "weight": 1}]),
    );
    assert!(matches!(
        green.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    green.execute(&ctx).await.unwrap();
    assert_eq!(fake.live("app.example.com").len(), 2);
}

/// A type change is a DELETE and a CREATE in one batch: submitted DELETE first whatever the
/// order given (Route 53 applies a batch in order, and would refuse the CNAME next to the A),
/// and rolled back DELETE first too.
#[tokio::test(start_paused = true)]
async fn a_type_change_is_submitted_and_rolled_back_deletes_first() {
    let fake = Fake::with(vec![a("api.example.com", "192.0.2.1")]);
    let change = action(
        &fake,
        serde_json::json!([
            {"action": "CREATE", "name": "api.example.com", "type": "CNAME", "ttl": 60, "values": ["api-dr.example.com"]},
            {"action": "DELETE", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
        ]),
    );
    let ctx = Context::new();
    match change.check(&ctx).await.unwrap() {
        Check::Ready { change } => {
            assert!(
                change.find("DELETE").unwrap() < change.find("CREATE").unwrap(),
                "{change}"
            );
        }
        other => panic!("{other:?}"),
    }
    change.execute(&ctx).await.unwrap();
    let submitted = fake.submitted();
    assert_eq!(submitted.len(), 1);
    let actions: Vec<_> = submitted[0].iter().map(|c| c.action).collect();
    assert_eq!(actions, [ChangeAction::Delete, ChangeAction::Create]);
    assert_eq!(fake.live("api.example.com")[0].rtype, "CNAME");

    change.rollback(&ctx).await.unwrap();
    let undo = &fake.submitted()[1];
    assert_eq!(
        undo.iter()
            .map(|c| (c.action, c.record.rtype.as_str()))
            .collect::<Vec<_>>(),
        [(ChangeAction::Delete, "CNAME"), (ChangeAction::Upsert, "A")]
    );
    assert_eq!(
        fake.live("api.example.com"),
        [a("api.example.com", "192.0.2.1")]
    );
}

fn latency(region: &str, value: &str) -> RecordSet {
    let mut r = a("api.example.com", value);
    r.set_identifier = Some(region.to_owned());
    r.region = Some(region.to_owned());
    r
}

/// Latency and geolocation records are written with their `Region` and `GeoLocation`, and a
/// rollback (also from the recorded `undo` after a resume) puts them back with both: without
/// them Route 53 refuses the UPSERT (a set identifier needs its routing policy).
#[tokio::test(start_paused = true)]
async fn latency_and_geolocation_records_roll_back_with_their_region_and_location() {
    let mut europe = a("www.example.com", "192.0.2.50");
    europe.set_identifier = Some("europe".into());
    europe.geo_location = Some(GeoLocation::continent("EU"));
    let fake = Fake::with(vec![
        latency("us-east-1", "192.0.2.1"),
        latency("us-west-2", "198.51.100.7"),
        europe.clone(),
    ]);
    let changes = serde_json::json!([
        {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"],
         "set_identifier": "us-east-1", "region": "us-east-1"},
        {"action": "UPSERT", "name": "www.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.50"],
         "set_identifier": "europe", "geo_location": {"continent_code": "eu"}},
        {"action": "CREATE", "name": "www.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.51"],
         "set_identifier": "default", "geo_location": {"country_code": "*"}},
    ]);
    let step = action(&fake, changes.clone());
    let ctx = Context::new();
    let out = step.execute(&ctx).await.unwrap();
    let api = fake.live("api.example.com");
    assert_eq!(api[0].region.as_deref(), Some("us-east-1"));
    assert_eq!(api[0].values, ["198.51.100.7"]);
    let www = fake.live("www.example.com");
    assert_eq!(www.len(), 2);
    assert_eq!(www[0].geo_location, Some(GeoLocation::country("*")));
    assert!(step.check(&ctx).await.unwrap().is_done());

    // A fresh instance (a resume) rolls back from the recorded `undo` alone.
    let fresh = action(&fake, changes);
    let ctx = Context::new().with_outputs(std::collections::BTreeMap::from([(
        "dns-failover".to_owned(),
        out,
    )]));
    fresh.rollback(&ctx).await.unwrap();
    let undo = fake.submitted().last().unwrap().clone();
    assert_eq!(
        undo[0].action,
        ChangeAction::Delete,
        "the created default location first"
    );
    let restored_api = undo
        .iter()
        .find(|c| c.record.name == "api.example.com.")
        .unwrap();
    assert_eq!(restored_api.record, latency("us-east-1", "192.0.2.1"));
    let restored_www = undo
        .iter()
        .find(|c| c.action == ChangeAction::Upsert && c.record.name == "www.example.com.")
        .unwrap();
    assert_eq!(restored_www.record, europe);
    assert_eq!(
        fake.live("api.example.com"),
        [
            latency("us-east-1", "192.0.2.1"),
            latency("us-west-2", "198.51.100.7")
        ]
    );
    assert_eq!(fake.live("www.example.com"), [europe]);
}

/// The record sets of one name and type share one routing policy; one latency record per
/// region, one geolocation record per location (Route 53 refuses the others).
#[tokio::test(start_paused = true)]
async fn mixed_routing_policies_and_duplicate_regions_are_blocked() {
    let fake = Fake::with(vec![latency("us-east-1", "192.0.2.1")]);
    let ctx = Context::new();
    let simple = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]}]),
    );
    match simple.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains("api.example.com. A [us-east-1] is a latency record"),
                "{reason}"
            );
            assert!(reason.contains("not latency and simple"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let twice = action(
        &fake,
        serde_json::json!([{"action": "CREATE", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"],
            "set_identifier": "east-again", "region": "us-east-1"}]),
    );
    match twice.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(
            reason.contains("already answers for region us-east-1"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(fake.submitted().is_empty());
}

/// An alias to another record of the zone: its `hosted_zone_id` defaults to the zone's id; its
/// target must exist with its type once the batch is applied (Route 53 refuses an alias to a
/// missing record) — created in the same batch will do.
#[tokio::test(start_paused = true)]
async fn an_alias_to_a_record_of_the_zone_needs_its_target() {
    let fake = Fake::with(vec![]);
    let ctx = Context::new();
    let dangling = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "A",
            "alias": {"dns_name": "api-dr.example.com", "evaluate_target_health": true}}]),
    );
    match dangling.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains("alias target api-dr.example.com. A does not exist"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let with_target = action(
        &fake,
        serde_json::json!([
            {"action": "UPSERT", "name": "api.example.com", "type": "A",
             "alias": {"dns_name": "api-dr.example.com", "evaluate_target_health": true}},
            {"action": "CREATE", "name": "api-dr.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]},
        ]),
    );
    with_target.execute(&ctx).await.unwrap();
    let api = fake.live("api.example.com");
    let alias = api[0].alias.as_ref().unwrap();
    assert_eq!(alias.hosted_zone_id, ZONE_ID);
    assert!(alias.evaluate_target_health);
    assert!(with_target.check(&ctx).await.unwrap().is_done());
    // Naming this zone's id for a target outside it: refused before any call.
    let outside = action(
        &fake,
        serde_json::json!([{"action": "UPSERT", "name": "x.example.com", "type": "A",
            "alias": {"hosted_zone_id": ZONE_ID, "dns_name": "lb.example.net"}}]),
    );
    match outside.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(reason.contains("does not lie within zone"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

/// Route 53 changes are usually INSYNC within 60 seconds (GetChange). With the default wait
/// policy (exponential with jitter, the gap bounded by 10 % of the time waited), a change that
/// turns INSYNC after 60 s is seen within 7 s of it, in about one GetChange call every two
/// seconds (Route 53 allows 5 requests a second per account).
#[tokio::test(start_paused = true)]
async fn insync_after_a_minute_is_seen_within_seconds_without_hammering_get_change() {
    let fake = Fake::with(vec![]);
    let started = tokio::time::Instant::now();
    let calls = Arc::new(Mutex::new(0usize));
    let mut api = MockRoute53Api::new();
    let records = Arc::clone(&fake.records);
    api.expect_find_zone()
        .returning(|_| Ok(HostedZone::new(ZONE_ID, "example.com")));
    api.expect_list_records().returning(move |_, name| {
        Ok(records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.name == name)
            .cloned()
            .collect())
    });
    let records = Arc::clone(&fake.records);
    api.expect_change_records().returning(move |_, changes, _| {
        records
            .lock()
            .unwrap()
            .extend(changes.into_iter().map(|c| c.record));
        Ok(ChangeInfo::new("C1", "PENDING"))
    });
    let n = Arc::clone(&calls);
    api.expect_get_change().returning(move |id| {
        *n.lock().unwrap() += 1;
        let status = if started.elapsed() >= Duration::from_secs(60) {
            "INSYNC"
        } else {
            "PENDING"
        };
        Ok(ChangeInfo::new(id, status))
    });
    let step = ChangeRecords::new(
        "dns",
        params(serde_json::json!([{"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60, "values": ["198.51.100.7"]}])),
        Arc::new(api),
    )
    .with_wait_policy(WaitPolicy::default());
    step.execute(&Context::new()).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(60) && took <= Duration::from_secs(67),
        "{took:?}"
    );
    let calls = *calls.lock().unwrap();
    assert!((5..=40).contains(&calls), "{calls} GetChange calls");
}
