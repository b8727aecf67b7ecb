//! `docs_tests` of `register.rs`.

use super::DESCRIPTORS;

/// docs/actions/k8s.md names every registered kind and each of its parameters and outputs.
#[test]
fn the_actions_page_documents_every_action() {
    drkit_testkit::docs::documented(
        "docs/actions/k8s.md",
        include_str!("../../../docs/actions/k8s.md"),
        DESCRIPTORS,
    )
    .unwrap();
}
