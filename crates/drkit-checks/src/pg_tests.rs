//! Tests of `pg.rs`.

use super::*;

#[test]
fn names_are_always_quoted() {
    let t: TableName = "transactions".parse().unwrap();
    assert_eq!(t.quoted(), "\"transactions\"");
    let t: TableName = "ledger.Transactions".parse().unwrap();
    assert_eq!(t.quoted(), "\"ledger\".\"Transactions\"");
    assert_eq!(t.to_string(), "ledger.Transactions");
    let evil: TableName = "x\"; DROP TABLE transactions; --".parse().unwrap();
    assert_eq!(evil.quoted(), "\"x\"\"; DROP TABLE transactions; --\"");
    let c = ColumnName::new("created\"at").unwrap();
    assert_eq!(c.quoted(), "\"created\"\"at\"");
}

#[test]
fn bad_names_are_refused() {
    for bad in ["", "a.b.c", ".t", "s.", "a\0b", &"x".repeat(64)] {
        assert!(bad.parse::<TableName>().is_err(), "{bad:?}");
    }
    assert!(ColumnName::new("").is_err());
}

#[test]
fn connection_display_and_debug_never_show_a_password() {
    let db: PgConnection = serde_json::from_value(serde_json::json!({
        "host": "db", "port": 5433, "dbname": "mint", "user": "ro",
        "password": {"secret": "env:MINT_PW"}, "connect_timeout": "3s",
        "statement_timeout": "2m"
    }))
    .unwrap();
    assert_eq!(db.to_string(), "postgresql://ro@db:5433/mint");
    assert_eq!(db.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(db.statement_timeout, Some(Duration::from_secs(120)));
    assert!(format!("{db:?}").contains("SecretRef(env:MINT_PW)"));
    assert_eq!(db.resource().to_string(), "postgres:database/db:5433/mint");
    assert!(db.problem().is_none());
    let literal = serde_json::from_value::<PgConnection>(serde_json::json!({
        "host": "db", "dbname": "mint", "user": "ro", "password": "hunter2"
    }))
    .unwrap_err();
    assert!(!literal.to_string().contains("hunter2"), "{literal}");
}

#[test]
fn tls_is_verify_full_by_default_and_never_falls_back() {
    let db = PgConnection::new("db", "mint", "ro");
    assert_eq!(db.sslmode, SslMode::VerifyFull);
    let parsed: PgConnection = serde_json::from_value(serde_json::json!({
        "host": "db", "dbname": "mint", "user": "ro"
    }))
    .unwrap();
    assert_eq!(parsed.sslmode, SslMode::VerifyFull);
    assert_eq!(parsed.problem(), None);
    for mode in [
        SslMode::VerifyFull,
        SslMode::VerifyCa,
        SslMode::Require,
        SslMode::Disable,
    ] {
        assert_eq!(db.clone().sslmode(mode).problem(), None, "{mode}");
    }
    let (param, why) = db.clone().sslmode(SslMode::Prefer).problem().unwrap();
    assert_eq!(param, "sslmode");
    assert!(why.contains("falls back to plaintext"), "{why}");
    let (param, _) = db
        .clone()
        .sslmode(SslMode::Disable)
        .sslrootcert("/etc/rds/global-bundle.pem")
        .problem()
        .unwrap();
    assert_eq!(param, "sslrootcert");
    assert_eq!(
        db.sslrootcert(" ").problem().map(|p| p.0),
        Some("sslrootcert")
    );
}

#[test]
fn time_outs_of_zero_are_refused() {
    let mut db = PgConnection::new("db", "mint", "ro");
    db.statement_timeout = Some(Duration::ZERO);
    assert_eq!(db.problem().map(|p| p.0), Some("statement_timeout"));
    db.statement_timeout = Some(Duration::from_secs(40 * 24 * 3600));
    assert_eq!(db.problem().map(|p| p.0), Some("statement_timeout"));
    db.statement_timeout = None;
    db.connect_timeout = Some(Duration::ZERO);
    assert_eq!(db.problem().map(|p| p.0), Some("connect_timeout"));
}
