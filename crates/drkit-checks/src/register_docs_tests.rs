//! `docs_tests` of `register.rs`.

/// docs/actions/checks.md documents the PostgreSQL and Redis checks (`checks.http` and
/// `checks.tls` are on storage-dns-cdn.md: see web_tests.rs): row, parameters, outputs, IAM
/// actions and a runbook example.
#[test]
fn the_actions_page_documents_every_action() {
    drkit_testkit::docs::documented(
        "docs/actions/checks.md",
        include_str!("../../../docs/actions/checks.md"),
        &super::DESCRIPTORS[..4],
    )
    .unwrap();
}
