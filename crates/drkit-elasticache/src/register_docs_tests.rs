//! `docs_tests` of `register.rs`.

/// docs/actions/eks-elasticache.md documents every action of this crate: row, parameters, outputs,
/// IAM actions and a runbook example.
#[test]
fn the_actions_page_documents_every_action() {
    drkit_testkit::docs::documented(
        "docs/actions/eks-elasticache.md",
        include_str!("../../../docs/actions/eks-elasticache.md"),
        super::DESCRIPTORS,
    )
    .unwrap();
}
