//! Unit tests of the PostgreSQL checks against the mocked port: failures a real server does not
//! produce on demand (refused connections, retries, hung calls, odd query errors) and the
//! verdict arithmetic (limits, boundaries, tolerances). `tests/it/postgres.rs` runs the same
//! checks against a real PostgreSQL.

use std::sync::{Arc, Mutex};

use drkit_core::kind::with_port;
use drkit_core::registry::BuildError;
use drkit_core::{ActionExt, ActionRef, Check, ErrorKind, RecoveryAction, RetryPolicy, SecretRef};

use super::*;
use crate::pg::{MockPgApi, Newest, RowCounts};
use crate::pg_client::TokioPg;

/// Kind `K` for step `id` reading through `api`.
fn build<K>(id: &str, params: K::Params, api: Arc<dyn PgApi>) -> K
where
    K: ActionKind<Port = dyn PgApi, Ports = PortFactory<dyn PgApi>>,
{
    with_port::<K>(StepSpec::new(id, params), api).unwrap()
}

fn db(name: &str) -> PgConnection {
    PgConnection::new("127.0.0.1", name, "mint_ro").password(SecretRef::Env("MINT_PW".into()))
}

fn tables(names: &[&str]) -> Vec<TableName> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn counts(exact: &[(&str, i64)]) -> RowCounts {
    let mut c = RowCounts::default();
    for (table, n) in exact {
        c.exact.insert((*table).to_owned(), *n);
        c.live_tuples.insert(format!("public.{table}"), *n);
    }
    c
}

fn refused() -> ActionError {
    ActionError::new(
        ErrorKind::Unavailable,
        "connecting to postgresql://mint_ro@127.0.0.1:5432/mint: error connecting to server: \
         Connection refused (os error 111)",
    )
}

/// 2026-11-28T23:00:00Z in µs since the epoch.
const INCIDENT: i64 = 1_795_906_800_000_000;
const INCIDENT_TEXT: &str = "2026-11-28T23:00:00Z";

fn data_loss(api: MockPgApi, max_loss: Duration, incident: Option<&str>) -> PgDataLoss {
    let mut params = PgDataLossParams::new(
        db("mint"),
        "transactions".parse().unwrap(),
        ColumnName::new("created_at").unwrap(),
        max_loss,
    );
    params.incident_time = incident.map(str::to_owned);
    build::<PgDataLoss>("measure-rpo", params, Arc::new(api))
}

fn newest_at(micros: i64) -> MockPgApi {
    let mut api = MockPgApi::new();
    api.expect_newest()
        .withf(|_, t, c| t.to_string() == "transactions" && c.name() == "created_at")
        .returning(move |_, _, _| Ok(Some(Newest::new(micros, "(as printed)"))));
    api
}

#[test]
fn the_incident_constant_is_right() {
    assert_eq!(
        micros_since_epoch(parse_time(INCIDENT_TEXT).unwrap()),
        i128::from(INCIDENT)
    );
}

// --- checks.pg_row_counts ----------------------------------------------------------------

#[tokio::test]
async fn row_counts_are_done_with_the_counts_as_outputs() {
    let mut api = MockPgApi::new();
    api.expect_row_counts()
        .withf(|d, t| d.dbname == "mint" && t.len() == 2)
        .times(3)
        .returning(|_, _| Ok(counts(&[("transactions", 1000), ("accounts", 20)])));
    let action = build::<PgRowCounts>(
        "count",
        PgRowCountsParams::new(db("mint"), tables(&["transactions", "accounts"])),
        Arc::new(api),
    );
    let ctx = Context::new();
    let Check::Done { detail, outputs } = action.check(&ctx).await.unwrap() else {
        panic!("not done");
    };
    assert_eq!(
        detail,
        "postgresql://mint_ro@127.0.0.1:5432/mint: accounts=20, transactions=1000; 2 user tables \
         in pg_stat_user_tables"
    );
    assert_eq!(
        outputs.get("counts"),
        Some(&json!({"transactions": 1000, "accounts": 20}))
    );
    assert_eq!(
        outputs.get("live_tuples"),
        Some(&json!({"public.transactions": 1000, "public.accounts": 20}))
    );
    assert_eq!(outputs.get("user_tables"), Some(&json!(2)));
    assert_eq!(action.execute(&ctx).await.unwrap(), outputs);
    assert_eq!(action.verify(&ctx).await.unwrap(), detail);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_error_not_a_verdict() {
    let mut api = MockPgApi::new();
    api.expect_row_counts().returning(|_, _| Err(refused()));
    let action = build::<PgRowCounts>(
        "count",
        PgRowCountsParams::new(db("mint"), vec![]),
        Arc::new(api),
    );
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert_eq!(err.action(), Some("checks.pg_row_counts"));
    assert_eq!(
        err.resource(),
        Some("postgres:database/127.0.0.1:5432/mint")
    );
    assert!(
        err.to_string().ends_with("(unavailable, a retry can help)"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_retry_layer_gets_past_a_database_that_is_still_starting() {
    let mut api = MockPgApi::new();
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    api.expect_row_counts().returning(move |_, _| {
        let mut n = c.lock().unwrap();
        *n += 1;
        if *n <= 2 {
            Err(
                ActionError::new(ErrorKind::Unavailable, "the database system is starting up")
                    .with_code("57P03"),
            )
        } else {
            Ok(counts(&[("transactions", 7)]))
        }
    });
    let action: ActionRef = Arc::new(build::<PgRowCounts>(
        "count",
        PgRowCountsParams::new(db("mint"), tables(&["transactions"])),
        Arc::new(api),
    ));
    let action = action.with_retry(RetryPolicy::attempts(5).jitter(false));
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("counts"), Some(&json!({"transactions": 7})));
    assert!(*calls.lock().unwrap() >= 3);
}

#[tokio::test]
async fn a_missing_table_blocks_the_check_and_fails_execute() {
    let mut api = MockPgApi::new();
    api.expect_row_counts().returning(|_, _| {
        Err(ActionError::new(
            ErrorKind::NotFound,
            "counting the rows of transactions: relation \"transactions\" does not exist",
        )
        .with_code("42P01"))
    });
    let action = build::<PgRowCounts>(
        "count",
        PgRowCountsParams::new(db("mint"), tables(&["transactions"])),
        Arc::new(api),
    );
    assert_eq!(
        action.check(&Context::new()).await.unwrap(),
        Check::blocked(
            "counting the rows of transactions: relation \"transactions\" does not exist"
        )
    );
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.code(), Some("42P01"));
}

#[tokio::test(start_paused = true)]
async fn a_hung_database_cannot_hold_the_step_past_its_deadline() {
    // A port whose calls never finish (a mockall expectation cannot await).
    #[derive(Debug)]
    struct Hung;
    #[async_trait]
    impl PgApi for Hung {
        async fn row_counts(
            &self,
            _: &PgConnection,
            _: &[TableName],
        ) -> Result<RowCounts, ActionError> {
            std::future::pending().await
        }
        async fn newest(
            &self,
            _: &PgConnection,
            _: &TableName,
            _: &ColumnName,
        ) -> Result<Option<Newest>, ActionError> {
            std::future::pending().await
        }
    }
    let action = build::<PgRowCounts>(
        "count",
        PgRowCountsParams::new(db("mint"), vec![]),
        Arc::new(Hung),
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let err = action.check(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
}

// --- checks.pg_data_loss -----------------------------------------------------------------

#[tokio::test]
async fn the_measured_window_is_exact_and_reported_as_the_rpo() {
    // Newest row 2 min 30.25 s before the incident.
    let api = newest_at(INCIDENT - 150_250_000);
    let action = data_loss(api, Duration::from_secs(300), Some(INCIDENT_TEXT));
    let Check::Done { detail, outputs } = action.check(&Context::new()).await.unwrap() else {
        panic!("not done");
    };
    assert_eq!(outputs.get("data_loss_seconds"), Some(&json!(150.25)));
    assert_eq!(outputs.get("rpo_seconds"), Some(&json!(150.25)));
    assert_eq!(outputs.get_str("rpo_class"), Some("database"));
    assert_eq!(
        outputs.get_str("newest"),
        Some("2026-11-28T22:57:29.750000Z")
    );
    assert_eq!(
        outputs.get_str("incident_time"),
        Some("2026-11-28T23:00:00.000000Z")
    );
    assert_eq!(outputs.get("max_loss_seconds"), Some(&json!(300.0)));
    assert_eq!(outputs.get_str("table"), Some("transactions"));
    assert_eq!(outputs.get_str("column"), Some("created_at"));
    assert!(
        detail.starts_with("data loss 150.25 s within 5m"),
        "{detail}"
    );
    assert_eq!(action.execute(&Context::new()).await.unwrap(), outputs);
}

#[tokio::test]
async fn a_window_over_max_loss_fails_with_the_measurement() {
    let api = newest_at(INCIDENT - 301_000_000);
    let action = data_loss(api, Duration::from_secs(300), Some(INCIDENT_TEXT));
    // The check fails carrying what it measured, so the report's RPO verdict can say
    // "breached by 1 s" instead of losing the number.
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    let measured = err.outputs().unwrap();
    assert_eq!(measured.get("rpo_seconds"), Some(&json!(301.0)));
    assert_eq!(measured.get_str("rpo_class"), Some("database"));
    let reason = err.message();
    assert!(reason.starts_with("data loss over the limit: "), "{reason}");
    assert!(reason.contains("301 s before the incident"), "{reason}");
    assert!(reason.contains("max_loss is 5m (300 s)"), "{reason}");
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(!err.is_retryable());
    assert_eq!(err.step(), Some("measure-rpo"));
    let err = action.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}

#[tokio::test]
async fn exactly_max_loss_passes() {
    let api = newest_at(INCIDENT - 300_000_000);
    let action = data_loss(api, Duration::from_secs(300), Some(INCIDENT_TEXT));
    assert!(action.check(&Context::new()).await.unwrap().is_done());
}

#[tokio::test]
async fn rows_newer_than_the_incident_mean_no_loss() {
    let api = newest_at(INCIDENT + 5_000_000);
    let action = data_loss(api, Duration::from_secs(60), Some(INCIDENT_TEXT));
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("data_loss_seconds"), Some(&json!(0.0)));
}

#[tokio::test]
async fn an_empty_table_cannot_be_measured() {
    let mut api = MockPgApi::new();
    api.expect_newest().returning(|_, _, _| Ok(None));
    let action = data_loss(api, Duration::from_secs(300), None);
    let Check::Blocked { reason } = action.check(&Context::new()).await.unwrap() else {
        panic!("not blocked");
    };
    assert!(
        reason.contains("transactions.created_at has no value"),
        "{reason}"
    );
}

#[tokio::test]
async fn without_an_incident_time_now_is_used() {
    let now = micros_since_epoch(SystemTime::now());
    let api = newest_at(i64::try_from(now).unwrap() - 10_000_000);
    let action = data_loss(api, Duration::from_secs(300), None);
    let out = action.execute(&Context::new()).await.unwrap();
    let loss = out.get("data_loss_seconds").unwrap().as_f64().unwrap();
    assert!((10.0..15.0).contains(&loss), "{loss}");
}

#[tokio::test]
async fn a_column_that_is_not_a_timestamp_is_an_input_error() {
    let mut api = MockPgApi::new();
    api.expect_newest().returning(|_, _, _| {
        Err(ActionError::new(
            ErrorKind::InvalidInput,
            "reading max(amount) of transactions: function pg_catalog.extract(unknown, numeric) \
             does not exist",
        )
        .with_code("42883"))
    });
    let action = data_loss(api, Duration::from_secs(300), None);
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.code(), Some("42883"));
    assert!(!err.is_retryable());
}

#[test]
fn a_bad_incident_time_is_refused() {
    let mut params = PgDataLossParams::new(
        db("mint"),
        "t".parse().unwrap(),
        ColumnName::new("c").unwrap(),
        Duration::from_secs(1),
    );
    params.incident_time = Some("2026-11-28 23:00 CET".into());
    let err = with_port::<PgDataLoss>(StepSpec::new("x", params), Arc::new(MockPgApi::new()))
        .unwrap_err();
    assert!(
        matches!(&err, BuildError::InvalidParams { param: Some(p), .. } if p == "incident_time"),
        "{err}"
    );
}

// --- checks.pg_compare_counts ------------------------------------------------------------

fn compare(
    left: RowCounts,
    right: Result<RowCounts, ActionError>,
    tolerance: Tolerance,
) -> PgCompareCounts {
    let right = Mutex::new(Some(right));
    let mut api = MockPgApi::new();
    api.expect_row_counts()
        .withf(|d, _| d.dbname == "primary")
        .returning(move |_, _| Ok(left.clone()));
    api.expect_row_counts()
        .withf(|d, _| d.dbname == "restored")
        .returning(move |_, _| right.lock().unwrap().take().unwrap());
    build::<PgCompareCounts>(
        "compare",
        PgCompareCountsParams::new(
            db("primary"),
            db("restored"),
            tables(&["transactions", "accounts"]),
        )
        .tolerance(tolerance),
        Arc::new(api),
    )
}

#[tokio::test]
async fn counts_within_the_tolerance_pass() {
    let action = compare(
        counts(&[("transactions", 1000), ("accounts", 20)]),
        Ok(counts(&[("transactions", 996), ("accounts", 20)])),
        Tolerance::Rows(5),
    );
    let Check::Done { detail, outputs } = action.check(&Context::new()).await.unwrap() else {
        panic!("not done");
    };
    assert!(
        detail.starts_with("2 tables match within 5 rows"),
        "{detail}"
    );
    assert_eq!(
        outputs.get("tables"),
        Some(&json!({
            "transactions": {"left": 1000, "right": 996, "difference": 4, "allowed": 5},
            "accounts": {"left": 20, "right": 20, "difference": 0, "allowed": 5},
        }))
    );
    assert_eq!(outputs.get("mismatched"), Some(&json!([])));
    assert_eq!(
        outputs.get_str("right"),
        Some("postgresql://mint_ro@127.0.0.1:5432/restored")
    );
}

#[tokio::test]
async fn counts_beyond_the_tolerance_block_and_name_the_tables() {
    let action = compare(
        counts(&[("transactions", 1000), ("accounts", 20)]),
        Ok(counts(&[("transactions", 990), ("accounts", 20)])),
        Tolerance::Percent(0.5),
    );
    let Check::Blocked { reason } = action.check(&Context::new()).await.unwrap() else {
        panic!("not blocked");
    };
    assert!(
        reason.contains("transactions: left 1000, right 990 (difference 10, allowed 5)"),
        "{reason}"
    );
    assert!(!reason.contains("accounts:"), "{reason}");
}

#[tokio::test]
async fn an_execute_beyond_the_tolerance_fails_as_a_postcondition() {
    let action = compare(
        counts(&[("transactions", 3), ("accounts", 1)]),
        Ok(counts(&[("transactions", 4), ("accounts", 1)])),
        Tolerance::default(),
    );
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.message().contains("beyond 0 rows"), "{err}");
}

#[tokio::test]
async fn an_unreachable_side_is_named_in_a_retryable_error() {
    let action = compare(
        counts(&[("transactions", 3)]),
        Err(refused()),
        Tolerance::default(),
    );
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(
        err.message()
            .starts_with("right database postgresql://mint_ro@127.0.0.1:5432/restored: "),
        "{err}"
    );
}

#[test]
fn tolerances_parse_and_apply() {
    assert_eq!("5".parse::<Tolerance>().unwrap(), Tolerance::Rows(5));
    assert_eq!(
        "0.5%".parse::<Tolerance>().unwrap(),
        Tolerance::Percent(0.5)
    );
    assert!("-1".parse::<Tolerance>().is_err());
    assert!("101%".parse::<Tolerance>().is_err());
    assert_eq!(Tolerance::Percent(0.5).allowed(999, 990), 4);
    assert_eq!(Tolerance::Percent(1.0).allowed(0, 1000), 10);
    assert_eq!(Tolerance::Rows(3).allowed(0, 0), 3);
    let t: Tolerance = serde_json::from_value(json!(7)).unwrap();
    assert_eq!(t, Tolerance::Rows(7));
    let t: Tolerance = serde_json::from_value(json!("2%")).unwrap();
    assert_eq!(serde_json::to_value(t).unwrap(), json!("2%"));
}

// --- secrets -----------------------------------------------------------------------------

/// The real adapter, a known password, a server that refuses the connection: the password is
/// read (the connection is attempted with it), yet appears in no error, Debug, Display, check
/// answer or serialized parameter. The authentication failure itself is covered against a real
/// PostgreSQL in `tests/it/postgres.rs`.
#[tokio::test]
async fn a_known_password_never_shows() {
    const PASSWORD: &str = "s3cr3t-Unit-pa55word";
    // A file secret: edition 2024 makes `std::env::set_var` unsafe (and racy across tests).
    let dir = std::env::temp_dir().join(format!("drkit-checks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    // A closed port on 127.0.0.1 (bound, then released).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let database = PgConnection::new("127.0.0.1", "mint", "mint_ro")
        .port(port)
        .password(SecretRef::File(file.clone()));
    let params = PgDataLossParams::new(
        database.clone(),
        "transactions".parse().unwrap(),
        ColumnName::new("created_at").unwrap(),
        Duration::from_secs(300),
    );
    let action: PgDataLoss = build("measure-rpo", params.clone(), Arc::new(TokioPg::new()));
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    let mut texts = vec![
        err.to_string(),
        format!("{err:?}"),
        format!("{action:?}"),
        format!("{database}"),
        format!("{database:?}"),
        serde_json::to_string(&params).unwrap(),
    ];
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        texts.push(format!("{s} {s:?}"));
        source = s.source();
    }
    let err = action.execute(&Context::new()).await.unwrap_err();
    texts.push(format!("{err} {err:?}"));
    for text in &texts {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
    assert!(texts[4].contains(&format!("SecretRef(file:{})", file.display())));
    std::fs::remove_dir_all(&dir).ok();
}
