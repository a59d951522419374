//! The `check_db` step's view of evidence::checkdb: the typed report, the
//! JSON the step returns, and the line its failure shows.

use crate::evidence::checkdb::{self, CheckReport};
use crate::evidence::dbread::DbSource;

/// check-db over a stopped node's database; the error as the step shows it.
pub fn check_db(src: &DbSource) -> Result<CheckReport, String> {
    checkdb::check_db_source(src).map_err(|e| e.to_string())
}

/// The report as a clean `check_db` step returns it (and `save` keeps it).
pub fn report_json(report: &CheckReport) -> serde_json::Value {
    serde_json::to_value(report).unwrap_or_default()
}

/// One part per finding, `; `-separated: what is wrong, and what will happen.
pub fn findings_summary(report: &CheckReport) -> String {
    report
        .findings
        .iter()
        .map(|f| {
            let what = f.what.trim_end_matches('.');
            match f.consequence.trim() {
                "" => what.to_string(),
                then => format!("{what}: {then}"),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::checkdb::{Finding, Severity};

    fn finding(what: &str, consequence: &str) -> Finding {
        Finding {
            check: "created-index/htlcs".into(),
            severity: Severity::Crash,
            table: None,
            row: None,
            what: what.into(),
            consequence: consequence.into(),
            issues: vec![],
            remedy: None,
        }
    }

    #[test]
    fn each_finding_says_what_is_wrong_then_what_will_happen() {
        let report = CheckReport {
            path: "db".into(),
            schema_version: 267,
            schema_release: String::new(),
            checks_run: vec![],
            findings: vec![
                finding(
                    "last_htlcs_created_index is 0.",
                    " the next HTLC insert fails ",
                ),
                finding("a note without consequence.", ""),
            ],
            notes: vec![],
        };
        assert_eq!(
            findings_summary(&report),
            "last_htlcs_created_index is 0: the next HTLC insert fails; a note without consequence"
        );
        assert_eq!(report_json(&report)["findings"][0]["severity"], "crash");
    }
}
