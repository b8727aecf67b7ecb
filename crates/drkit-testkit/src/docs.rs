//! Docs-page checks for action kinds: every `docs/actions/*.md` page must document each kind
//! it covers (parameters, outputs, IAM actions, a runbook example). Test support: each
//! provider's docs test calls [`documented`].

use drkit_core::registry::ActionDescriptor;

/// What the Markdown `page` (a `docs/actions/*.md` page) fails to document about this
/// action. Its entry is its table row (a line starting with ``| `kind` |``) or its section
/// (from a heading ``## `kind` `` to the next heading); the entry must name each parameter;
/// each output must be named in the entry, else elsewhere on the page; each IAM action
/// on the page; and the page must show it in a runbook example (`action = "kind"`). Empty
/// when all is there. Each provider's tests assert it over its descriptors, so a new
/// parameter or output cannot go undocumented.
pub fn undocumented_in(descriptor: &ActionDescriptor, page: &str) -> Vec<String> {
    let d = descriptor;
    let kind = d.kind;
    let Some(row) = doc_entry(page, kind) else {
        return vec![format!("{kind}: no table row and no section")];
    };
    let mut missing = Vec::new();
    for p in d.params {
        if !row.contains(&format!("`{}", p.name)) {
            missing.push(format!("{kind}: parameter `{}`", p.name));
        }
    }
    for o in d.outputs {
        let name = format!("`{}`", o.name);
        if !row.contains(&name) && !page.contains(&name) {
            missing.push(format!("{kind}: output `{}`", o.name));
        }
    }
    for a in d.iam_actions {
        if !page.contains(a) {
            missing.push(format!("{kind}: IAM action {a}"));
        }
    }
    if !page.contains(&format!("action = \"{kind}\"")) {
        missing.push(format!(
            "{kind}: no runbook example (`action = \"{kind}\"`)"
        ));
    }
    missing
}

/// [`undocumented_in`] over every descriptor of a crate: `Err` lists what
/// the docs page `name` (its text `page`) lacks. Each provider's docs test is
/// `drkit_testkit::docs::documented("docs/actions/x.md", include_str!(..), &descriptors)`.
pub fn documented(name: &str, page: &str, descriptors: &[ActionDescriptor]) -> Result<(), String> {
    let missing: Vec<String> = descriptors
        .iter()
        .flat_map(|d| undocumented_in(d, page))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{name} lacks:\n  {}", missing.join("\n  ")))
    }
}

/// The table row or the section documenting `kind` on a docs page.
fn doc_entry<'a>(page: &'a str, kind: &str) -> Option<&'a str> {
    let row = format!("| `{kind}` |");
    if let Some(line) = page.lines().find(|l| l.starts_with(&row)) {
        return Some(line);
    }
    let mut offset = 0;
    for line in page.split_inclusive('\n') {
        let heading = line.trim_start_matches('#');
        if line.starts_with('#') && heading.trim() == format!("`{kind}`") {
            let body = &page[offset + line.len()..];
            let end = body
                .split_inclusive('\n')
                .scan(0, |pos, l| {
                    let at = *pos;
                    *pos += l.len();
                    Some((at, l))
                })
                .find(|(_, l)| l.starts_with('#'))
                .map_or(body.len(), |(at, _)| at);
            return Some(&body[..end]);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use drkit_core::registry::{OutputDoc, ParamDoc};

    use super::*;

    const DOCUMENTED: ActionDescriptor = ActionDescriptor {
        kind: "demo.scale",
        summary: "scale",
        mutates: true,
        iam_actions: &["demo:Scale"],
        params: &[ParamDoc {
            name: "replicas",
            ty: "integer",
            required: true,
            doc: "how many",
        }],
        outputs: &[OutputDoc {
            name: "previous",
            doc: "the count before",
        }],
    };

    /// A table row or a section both count as the entry; each missing piece is named.
    #[test]
    fn undocumented_in_names_what_a_docs_page_lacks() {
        let row = "| `demo.scale` | `replicas` | `previous` | `demo:Scale` |\n\n```toml\naction = \"demo.scale\"\n```\n";
        assert!(undocumented_in(&DOCUMENTED, row).is_empty());
        let section = "## `demo.scale`\n\n| `replicas` | integer |\n\nOutputs: `previous`. IAM: demo:Scale\n\n## `other`\n\naction = \"demo.scale\"\n";
        assert!(undocumented_in(&DOCUMENTED, section).is_empty());
        // The parameter named only in another action's section does not count.
        let elsewhere = "## `demo.scale`\n\nOutputs: `previous`.\n\n## `other`\n\n`replicas`\n";
        assert_eq!(
            undocumented_in(&DOCUMENTED, elsewhere),
            [
                "demo.scale: parameter `replicas`",
                "demo.scale: IAM action demo:Scale",
                "demo.scale: no runbook example (`action = \"demo.scale\"`)",
            ]
        );
        assert_eq!(
            undocumented_in(&DOCUMENTED, "nothing here"),
            ["demo.scale: no table row and no section"]
        );
    }
}
