//! Snapshot files in insta's format (`---` header, then the value as
//! pretty JSON), so `cargo insta review` accepts what `run --snapshots`
//! writes exactly as it accepts what the tests write.
//!
//! Hand-written rather than through insta's macros: those panic on a
//! mismatch (right for a test, wrong for a CLI that must end in `fail`),
//! and insta exposes no non-panicking comparison. Values are compared as
//! JSON, so a formatting difference between insta's and serde_json's
//! pretty printers can never count as a change.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// How one snapshot compared with the accepted file.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    Same,
    /// No accepted snapshot yet; a `.snap.new` was written.
    New {
        pending: PathBuf,
    },
    /// Differs from the accepted snapshot; a `.snap.new` was written.
    Changed {
        pending: PathBuf,
        diff: String,
    },
}

/// `<dir>/<name>.snap`, with the characters tests replace in names replaced.
pub fn snap_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.snap", name.replace(['@', ',', '='], "_")))
}

/// The value stored in a snapshot file (after insta's header).
pub fn parse(text: &str) -> Option<Value> {
    let body = match text.strip_prefix("---\n") {
        Some(rest) => rest.split_once("\n---\n").map_or(rest, |(_, b)| b),
        None => text,
    };
    serde_json::from_str(body.trim()).ok()
}

pub fn render(expression: &str, value: &Value) -> String {
    let body = serde_json::to_string_pretty(value).unwrap_or_default();
    format!("---\nsource: cln-harness run --snapshots\nexpression: {expression}\n---\n{body}\n")
}

/// A unified diff of two values' pretty JSON (accepted → new).
pub fn diff(old: &Value, new: &Value) -> String {
    let (a, b) = (
        serde_json::to_string_pretty(old).unwrap_or_default(),
        serde_json::to_string_pretty(new).unwrap_or_default(),
    );
    similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header("accepted", "this run")
        .to_string()
}

/// Compare `value` with the accepted `<dir>/<name>.snap`; on a difference
/// (or none accepted yet) write `<name>.snap.new` beside it for review.
pub fn compare(
    dir: &Path,
    name: &str,
    expression: &str,
    value: &Value,
) -> std::io::Result<Comparison> {
    let path = snap_path(dir, name);
    let pending = path.with_extension("snap.new");
    let accepted = match std::fs::read_to_string(&path) {
        Ok(t) => parse(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    match accepted {
        Some(old) if old == *value => {
            let _ = std::fs::remove_file(&pending);
            Ok(Comparison::Same)
        }
        Some(old) => {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&pending, render(expression, value))?;
            Ok(Comparison::Changed {
                pending,
                diff: diff(&old, value),
            })
        }
        None => {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&pending, render(expression, value))?;
            Ok(Comparison::New { pending })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_insta_files_and_compares_values_not_formatting() {
        let d = tempfile::tempdir().unwrap();
        let accepted = "---\nsource: harness/tests/scenarios.rs\nexpression: stable_view(snap)\n---\n{\n  \"a\": [1, 2],\n  \"b\": \"x\"\n}\n";
        std::fs::write(snap_path(d.path(), "s@base=v1"), accepted).unwrap();
        assert_eq!(
            compare(d.path(), "s@base=v1", "e", &json!({"b": "x", "a": [1, 2]})).unwrap(),
            Comparison::Same
        );
        match compare(d.path(), "s@base=v1", "e", &json!({"a": [1, 3], "b": "x"})).unwrap() {
            Comparison::Changed { pending, diff } => {
                assert!(pending.ends_with("s_base_v1.snap.new"));
                assert!(diff.contains("-    2") && diff.contains("+    3"), "{diff}");
                assert_eq!(
                    parse(&std::fs::read_to_string(pending).unwrap()),
                    Some(json!({"a": [1, 3], "b": "x"}))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            compare(d.path(), "other", "e", &json!(1)).unwrap(),
            Comparison::New { .. }
        ));
    }
}
