//! What check-db reports: its findings and the report that holds them.
//! Below both rule sets (`checkdb`'s schema rules and `accounting`'s
//! invariants), so each fills a report without knowing the other.

use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// lightningd will crash (or has crashed) because of it.
    Crash,
    /// SQLite's own checks fail.
    Corruption,
    /// Wrong, but no crash follows (e.g. `wait ... updated` may skip changes).
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id of the check, e.g. `created-index/htlcs`.
    pub check: String,
    pub severity: Severity,
    pub table: Option<String>,
    /// The row at fault, e.g. `vars.name = 'last_htlcs_created_index'`.
    pub row: Option<String>,
    /// What is wrong.
    pub what: String,
    /// What will happen because of it.
    pub consequence: String,
    /// Matching CLN issues, e.g. `ElementsProject/lightning#8269`.
    pub issues: Vec<String>,
    /// How to get out of it, when known.
    pub remedy: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub path: PathBuf,
    pub schema_version: i64,
    /// Which release writes this schema version.
    pub schema_release: String,
    pub checks_run: Vec<String>,
    pub findings: Vec<Finding>,
    /// Context that is not a finding (a private copy was read, a newer schema).
    pub notes: Vec<String>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}
