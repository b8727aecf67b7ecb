//! Tests of `check.rs`.

use super::covers;

#[test]
fn wildcards_cover_one_label() {
    assert!(covers("api.example.com", "API.example.com"));
    assert!(covers("*.example.com", "api.example.com"));
    assert!(!covers("*.example.com", "a.b.example.com"));
    assert!(!covers("*.example.com", "example.com"));
}
