//! `docs_tests` of `register.rs`.

use super::DESCRIPTORS;

/// docs/actions/ec2.md names every registered kind, each of its parameters, outputs and IAM
/// actions, and shows it in a runbook example.
#[test]
fn the_actions_page_documents_every_action() {
    drkit_testkit::docs::documented(
        "docs/actions/ec2.md",
        include_str!("../../../docs/actions/ec2.md"),
        DESCRIPTORS,
    )
    .unwrap();
}
