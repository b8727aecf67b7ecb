//! Unit tests of the helpers: selectors, query decoding, apply's merge, template hashes.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::http::{decode, parse_query};
use super::json::{merge_apply, prune, template_hash};
use super::selectors::parse_selector;

#[test]
fn selectors_parse_and_match() {
    let pod = json!({"metadata": {"labels": {"app": "api", "tier": "web"}}});
    let m = |s: &str| parse_selector(s).unwrap().iter().all(|r| r.matches(&pod));
    assert!(m(""));
    assert!(m("app=api"));
    assert!(m("app==api,tier"));
    assert!(!m("app=api,tier=db"));
    assert!(m("app!=db"));
    assert!(m("!missing"));
    assert!(!m("missing"));
    assert!(m("tier in (web, db)"));
    assert!(!m("tier notin (web,db)"));
    assert!(parse_selector("a=b=c").is_err());
    assert!(parse_selector("a in b").is_err());
}

#[test]
fn queries_are_percent_decoded() {
    assert_eq!(
        parse_query("labelSelector=app%3Dapi%2Ctier&dryRun=All&x"),
        vec![
            ("labelSelector".to_owned(), "app=api,tier".to_owned()),
            ("dryRun".to_owned(), "All".to_owned()),
            ("x".to_owned(), String::new()),
        ]
    );
    assert_eq!(decode("a+b%2"), "a b%2");
}

#[test]
fn apply_merge_and_prune() {
    let mut live =
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1, "y": [1]}});
    let previous = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}});
    let current = json!({"spec": {"y": [2]}});
    prune(&mut live, &previous, &current);
    merge_apply(&mut live, &current);
    assert_eq!(
        live,
        json!({"metadata": {"labels": {"b": "2"}}, "spec": {"y": [2]}})
    );
}

#[test]
fn template_hashes_are_stable_and_safe() {
    let a = template_hash(&json!({"spec": {"containers": [{"name": "a"}]}}));
    assert_eq!(a.len(), 10);
    assert_eq!(
        a,
        template_hash(&json!({"spec": {"containers": [{"name": "a"}]}}))
    );
    assert_ne!(
        a,
        template_hash(&json!({"spec": {"containers": [{"name": "b"}]}}))
    );
    assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
}
