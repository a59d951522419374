//! `cln-harness check-db`: a lightningd database checked offline, read-only.

use crate::evidence::checkdb;
use crate::outcome::{exit_code, OutcomeKind, Verdict};
use std::path::Path;

/// `check-db --explain`: every check with the schema versions it applies to.
pub fn explain() -> i32 {
    print!("{}", crate::evidence::checkdb::explain());
    exit_code(OutcomeKind::Pass)
}

/// `cln-harness check-db [--json] PATH`: a pass when clean, a failure with
/// findings, bad input when unreadable or not a lightningd database.
pub fn check_db(path: &Path, json: bool) -> i32 {
    let src = crate::evidence::dbread::DbSource::parse(&path.to_string_lossy());
    match checkdb::check_db_source(&src) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", checkdb::render_report(&report));
            }
            exit_code(if report.is_clean() {
                OutcomeKind::Pass
            } else {
                OutcomeKind::Fail
            })
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"path": path, "error": e.kind.to_string()})
                );
            }
            eprintln!("error: {e}");
            exit_code(Verdict::BadInput)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ExitCode;
    use std::path::PathBuf;

    fn fixture_db(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/evidence/db")
            .join(name)
    }

    #[test]
    fn check_db_exits_0_clean_1_findings_2_unreadable() {
        assert_eq!(
            check_db(&fixture_db("alice-v25.02.1-then-v25.05.sqlite3"), false),
            ExitCode::PASS
        );
        assert_eq!(
            check_db(
                &fixture_db("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3"),
                true
            ),
            ExitCode::FAIL
        );
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a database, just words long enough for a header").unwrap();
        assert_eq!(check_db(&text, false), ExitCode::BAD_INPUT);
    }
}
