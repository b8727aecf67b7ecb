//! `docs_tests` of `register.rs`.

use super::DESCRIPTORS;

/// docs/actions/iam.md names every registered kind, each of its parameters and outputs.
#[test]
fn the_actions_page_documents_every_action() {
    drkit_testkit::docs::documented(
        "docs/actions/iam.md",
        include_str!("../../../docs/actions/iam.md"),
        DESCRIPTORS,
    )
    .unwrap();
}
