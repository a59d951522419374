//! The `check_db` step's view of evidence::checkdb: clean or not, plus the
//! report as JSON.

use crate::evidence::checkdb;

pub fn check_db_json(
    src: &crate::evidence::dbread::DbSource,
) -> Result<(bool, serde_json::Value), String> {
    let report = checkdb::check_db_source(src).map_err(|e| e.to_string())?;
    Ok((
        report.is_clean(),
        serde_json::to_value(&report).unwrap_or_default(),
    ))
}

/// One line per finding: what is wrong, and what will happen.
pub fn findings_summary(report: &serde_json::Value) -> String {
    report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    let what = f["what"].as_str().unwrap_or("").trim_end_matches('.');
                    match f["consequence"].as_str().unwrap_or("").trim() {
                        "" => what.to_string(),
                        then => format!("{what}: {then}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}
