//! Tests of `manifest.rs`.

use super::*;

const MULTI: &str = r"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: mint-replica
spec: {}
---
# a comment-only document
---
apiVersion: v1
kind: Namespace
metadata:
  name: mint-replica
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: cfg}
  - apiVersion: example.com/v1
    kind: Widget
    metadata: {name: w}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget}
";

#[test]
fn multi_document_files_are_split_and_ordered() {
    let mut objects = parse_documents("all.yaml", MULTI).unwrap();
    let sources: Vec<_> = objects.iter().map(|o| o.source.as_str()).collect();
    assert_eq!(
        sources,
        [
            "all.yaml#1",
            "all.yaml#2",
            "all.yaml#3.items[0]",
            "all.yaml#3.items[1]",
            "all.yaml#4"
        ]
    );
    sort_for_apply(&mut objects);
    let ids: Vec<_> = objects.iter().map(ManifestObject::id).collect();
    assert_eq!(
        ids,
        [
            "Namespace mint-replica",
            "CustomResourceDefinition widgets.example.com",
            "ConfigMap cfg",
            "Deployment mint-replica/api",
            "Widget w"
        ]
    );
    assert_eq!(objects[3].api_version(), "apps/v1");
    assert_eq!(objects[0].api_version(), "v1");
    assert!(objects[1].defines("example.com", "Widget"));
}

#[test]
fn same_rank_keeps_file_order() {
    let text = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: b}\n---\n\
                kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n";
    let mut objects = parse_documents("x.yaml", text).unwrap();
    sort_for_apply(&mut objects);
    assert_eq!(objects[0].name, "b");
    assert_eq!(objects[1].name, "a");
}

#[test]
fn bad_documents_name_the_file_and_document() {
    let err =
        parse_documents("x.yaml", "kind: ConfigMap\napiVersion: v1\nmetadata: {}\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("x.yaml#1: ConfigMap has no `metadata.name`"),
        "{err}"
    );
    let err = parse_documents("y.yaml", "apiVersion: v1\nmetadata: {name: a}\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("y.yaml#1: the document has no `kind`"),
        "{err}"
    );
    let err = parse_documents("z.yaml", "a: [unclosed\n").unwrap_err();
    assert!(err.to_string().contains("z.yaml: not valid YAML"), "{err}");
    assert!(!err.is_retryable());
}

#[test]
fn a_folder_gives_its_manifest_files_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("20-app.yaml"),
        "kind: ConfigMap\napiVersion: v1\nmetadata: {name: b}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("10-ns.yml"),
        "kind: Namespace\napiVersion: v1\nmetadata: {name: ns}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
    let files = manifest_files(dir.path()).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["10-ns.yml", "20-app.yaml"]);
    let objects = load(dir.path()).unwrap();
    assert_eq!(objects.len(), 2);
    let empty = tempfile::tempdir().unwrap();
    assert!(load(empty.path()).is_err());
    assert!(load(&dir.path().join("missing")).is_err());
}

#[test]
fn the_example_manifests_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/k8s/dr-manifests");
    let objects = load(&dir).unwrap();
    let ids: Vec<_> = objects.iter().map(ManifestObject::id).collect();
    assert_eq!(
        ids,
        [
            "Namespace mint-replica",
            "Service mint-replica/api",
            "Deployment mint-replica/api"
        ]
    );
}
