//! Bridge from the `check_db` step to evidence::checkdb.

/// check-db as (clean?, JSON report), for the `check_db` step.
/// Placeholder until checkdb lands: integrity_check only.
pub fn check_db_json(path: &std::path::Path) -> Result<(bool, serde_json::Value), String> {
    let uri = format!("file:{}?mode=ro&immutable=1", path.display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(uri, flags).map_err(|e| e.to_string())?;
    let r: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| e.to_string())?;
    Ok((r == "ok", serde_json::json!({"integrity_check": r, "findings": []})))
}

pub fn findings_summary(report: &serde_json::Value) -> String {
    report["findings"].to_string()
}
