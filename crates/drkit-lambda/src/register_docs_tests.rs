//! `docs_tests` of `register.rs`.

use super::DESCRIPTORS;

/// docs/actions/lambda.md names every registered kind and each of its parameters.
#[test]
fn the_actions_page_documents_every_action() {
    drkit_testkit::docs::documented(
        "docs/actions/lambda.md",
        include_str!("../../../docs/actions/lambda.md"),
        DESCRIPTORS,
    )
    .unwrap();
}
