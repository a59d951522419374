//! `cln-harness check-db`: an offline doctor for a user's `lightningd.sqlite3`.
//!
//! Reads only (see [`super::dbread`]), then runs SQLite's own checks and the
//! invariants whose violation makes lightningd crash later.
//!
//! The central one is CLN's wait indexes. From some schema version on, a new
//! row's id in several tables is not SQLite's autoincrement but
//! `vars.last_<subsystem>_created_index + 1` (`lightningd/wait.c`,
//! `wait_index_increment`; `load_indexes` in `wallet/db.c` reads a missing
//! row as 0). So that var must be at least `MAX(id)` of its table, or the next
//! insert reuses an id and dies on `UNIQUE constraint failed`. CLN #8269/#8270
//! is exactly that for `channel_htlcs`: migration 266 of the master builds
//! between 186a9383d and 04ba55d88 initialised `last_forwards_created_index`
//! instead of `last_htlcs_created_index`.
//!
//! The schema version (`version` table) is the index of the last migration
//! applied (`db_migrate` in `wallet/db.c`; `wallet/migrations.c` from v25.09).
//! The migration indexes below were counted from CLN's `dbmigrations[]` at
//! every release tag from v22.11 to v26.06.6 and at 1cc64dd67 (see
//! `RELEASES`); entries are only ever appended, so an index means the same
//! everywhere.

pub use super::checkreport::{CheckReport, Finding, Severity};
use super::dbread::{self, open_lightningd_source, q, DbErrorKind, DbSource};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// A wait-index subsystem whose created index hands out a table's ids.
#[derive(Debug, Clone, Copy)]
pub struct CreatedIndex {
    /// As in `lightningd/wait.c` `subsystem_names[]`.
    pub subsystem: &'static str,
    pub table: &'static str,
    /// `rowid` for forwards, whose primary key is (in_channel_scid, in_htlc_id).
    pub id_column: &'static str,
    /// First schema version at which lightningd assigns ids from the var.
    pub since_version: i64,
    /// What a row is, for "the next <noun> insert".
    pub noun: &'static str,
}

pub const CREATED_INDEXES: &[CreatedIndex] = &[
    // 225 migrate_initialize_invoice_wait_indexes (wrote the typo'd last_invoice_created_index),
    // 229 migrate_invoice_created_index_var (renamed it). v23.08.
    CreatedIndex {
        subsystem: "invoices",
        table: "invoices",
        id_column: "id",
        since_version: 225,
        noun: "invoice",
    },
    // 244 migrate_initialize_payment_wait_indexes. v23.11.
    CreatedIndex {
        subsystem: "sendpays",
        table: "payments",
        id_column: "id",
        since_version: 244,
        noun: "sendpay (payment part)",
    },
    // 248 migrate_initialize_forwards_wait_indexes. v23.11.
    CreatedIndex {
        subsystem: "forwards",
        table: "forwards",
        id_column: "rowid",
        since_version: 248,
        noun: "forward",
    },
    // 266 migrate_initialize_channel_htlcs_wait_indexes (broken builds only; NULL in releases),
    // 268 migrate_initialize_channel_htlcs_wait_indexes_and_fixup_forwards. v25.05.
    CreatedIndex {
        subsystem: "htlcs",
        table: "channel_htlcs",
        id_column: "id",
        since_version: 266,
        noun: "HTLC",
    },
    // 273 CREATE TABLE chain_moves, 274 CREATE TABLE channel_moves. v25.09.
    CreatedIndex {
        subsystem: "chainmoves",
        table: "chain_moves",
        id_column: "id",
        since_version: 273,
        noun: "chain move",
    },
    CreatedIndex {
        subsystem: "channelmoves",
        table: "channel_moves",
        id_column: "id",
        since_version: 274,
        noun: "channel move",
    },
    // 278 CREATE TABLE network_events. v25.12.
    CreatedIndex {
        subsystem: "networkevents",
        table: "network_events",
        id_column: "id",
        since_version: 278,
        noun: "network event",
    },
];

/// Tables with an `updated_index` column, and when it came (`ALTER TABLE ... ADD updated_index`).
pub const UPDATED_INDEXES: &[(&str, &str, i64)] = &[
    ("invoices", "invoices", 226),
    ("sendpays", "payments", 242),
    ("forwards", "forwards", 246),
    ("htlcs", "channel_htlcs", 264),
];

/// Schema versions written only by the master builds carrying #8269's typo.
pub const BROKEN_HTLCS_MIGRATION_VERSIONS: std::ops::RangeInclusive<i64> = 266..=267;

/// The newest schema this doctor was written against (v26.04 .. v26.06.6).
pub const NEWEST_KNOWN_SCHEMA: i64 = 282;

/// Every schema version a release writes: (schema version, first release,
/// last release writing it). Counted from `dbmigrations[]` (`wallet/db.c`,
/// `wallet/migrations.c` from v25.12) at every release tag of CLN's
/// repository from v22.11 to v26.06.6, so a user's file is named by the
/// release that wrote it, not guessed between neighbours: a point release
/// can add a migration (v23.08.1's 234 `migrate_runes_idfix`, v25.09.1's 277
/// `migrate_remove_chain_moves_duplicates`), and the next major release
/// carries it at the same index. Only tags that are no release fall between:
/// release candidates (v23.02rc1 = 215, v23.11rc1 = 248, v26.04rc1 = 281) and
/// master builds.
const RELEASES: &[(i64, &str, &str)] = &[
    (212, "v22.11", "v22.11.1"),
    (216, "v23.02", "v23.02.2"),
    (219, "v23.05", "v23.05.2"),
    (233, "v23.08", "v23.08"),
    (234, "v23.08.1", "v23.08.1"),
    (249, "v23.11", "v23.11.2"),
    (256, "v24.02", "v24.08.2"),
    (261, "v24.11", "v25.02"),
    (263, "v25.02.1", "v25.02.2"),
    (268, "v25.05", "v25.05.1"),
    (276, "v25.09", "v25.09"),
    (277, "v25.09.1", "v25.09.3"),
    (280, "v25.12", "v25.12.1"),
    (282, "v26.04", "v26.06.6"),
];

/// "v25.09.1..v25.09.3" for a schema several releases write.
fn releases_label(&(_, first, last): &(i64, &str, &str)) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}..{last}")
    }
}

/// The first release whose schema includes migration `version`.
pub fn first_release_with(version: i64) -> String {
    match RELEASES.iter().find(|(v, _, _)| *v >= version) {
        Some((_, first, _)) if version > 219 => format!("from {first}"),
        Some(_) => "every supported release".to_string(),
        None => "newer than every known release".to_string(),
    }
}

/// "v25.02.1..v25.02.2", or "between v25.02.2 and v25.05 (a development
/// build or release candidate)".
pub fn release_for_schema(version: i64) -> String {
    match RELEASES.iter().position(|(v, _, _)| *v >= version) {
        Some(i) if RELEASES[i].0 == version => releases_label(&RELEASES[i]),
        Some(0) => format!("older than {}", RELEASES[0].1),
        Some(i) => format!(
            "between {} and {} (a development build or release candidate)",
            RELEASES[i - 1].2,
            RELEASES[i].1
        ),
        None => format!("newer than {}", RELEASES[RELEASES.len() - 1].2),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("check-db {}: {kind}", path.display())]
pub struct CheckDbError {
    pub path: PathBuf,
    #[source]
    pub kind: DbErrorKind,
}

pub fn check_db(path: &Path) -> Result<CheckReport, CheckDbError> {
    check_db_source(&DbSource::Sqlite(path.to_path_buf()))
}

/// check-db over either backend: the same rules, one implementation.
pub fn check_db_source(src: &DbSource) -> Result<CheckReport, CheckDbError> {
    let path = src.display();
    let err = |kind| CheckDbError {
        path: path.clone(),
        kind,
    };
    let (db, version) = open_lightningd_source(src).map_err(err)?;
    let mut report = CheckReport {
        path: path.clone(),
        schema_version: version,
        schema_release: release_for_schema(version),
        checks_run: Vec::new(),
        findings: Vec::new(),
        notes: db.note.clone().into_iter().collect(),
    };
    run_checks(&db.conn, &mut report).map_err(err)?;
    Ok(report)
}

/// The checks on an open connection (pure over the DB; no file system).
pub fn run_checks(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    let version = report.schema_version;
    if version > NEWEST_KNOWN_SCHEMA {
        report.notes.push(format!(
            "schema version {version} is newer than the newest this doctor knows ({NEWEST_KNOWN_SCHEMA}, v26.06): ids assigned by subsystems added since are not checked"
        ));
    }
    if BROKEN_HTLCS_MIGRATION_VERSIONS.contains(&version) {
        report.notes.push(format!(
            "schema version {version} is only written by CLN master builds between 186a9383d and 04ba55d88 (e.g. v25.02-321-g1cc64dd67), whose migration 266 set last_forwards_created_index to MAX(channel_htlcs.id) instead of setting last_htlcs_created_index (ElementsProject/lightning#8269)"
        ));
    }

    integrity_check(conn, report)?;
    foreign_key_check(conn, report)?;
    for idx in CREATED_INDEXES {
        created_index_check(conn, idx, report)?;
    }
    for &(subsystem, table, since) in UPDATED_INDEXES {
        updated_index_check(conn, subsystem, table, since, report)?;
    }
    super::accounting::run(conn, report)
}

fn integrity_check(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    report.checks_run.push("integrity_check".into());
    let mut st = q(
        "PRAGMA integrity_check",
        conn.prepare("PRAGMA integrity_check"),
    )?;
    let rows = q(
        "PRAGMA integrity_check",
        st.query_map([], |r| r.get::<_, String>(0))
            .and_then(|m| m.collect::<Result<Vec<_>, _>>()),
    )?;
    let problems: Vec<String> = rows.into_iter().filter(|r| r != "ok").collect();
    if !problems.is_empty() {
        report.findings.push(Finding {
            check: "integrity_check".into(),
            severity: Severity::Corruption,
            table: None,
            row: None,
            what: format!(
                "PRAGMA integrity_check reports {} problem(s): {}",
                problems.len(),
                problems
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            consequence:
                "lightningd may read wrong data or fail on any statement touching the damaged pages"
                    .into(),
            issues: vec![],
            remedy: Some("restore from a backup; do not start lightningd on this file".into()),
        });
    }
    Ok(())
}

fn foreign_key_check(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    report.checks_run.push("foreign_key_check".into());
    let mut st = q(
        "PRAGMA foreign_key_check",
        conn.prepare("PRAGMA foreign_key_check"),
    )?;
    let rows = q(
        "PRAGMA foreign_key_check",
        st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .and_then(|m| m.collect::<Result<Vec<_>, _>>()),
    )?;
    let mut by_table: Vec<(String, String, Vec<Option<i64>>)> = Vec::new();
    for (table, rowid, parent) in rows {
        match by_table
            .iter_mut()
            .find(|(t, p, _)| *t == table && *p == parent)
        {
            Some(e) => e.2.push(rowid),
            None => by_table.push((table, parent, vec![rowid])),
        }
    }
    for (table, parent, rowids) in by_table {
        let shown: Vec<String> = rowids
            .iter()
            .take(10)
            .map(|r| r.map_or("?".into(), |r| r.to_string()))
            .collect();
        report.findings.push(Finding {
            check: "foreign_key_check".into(),
            severity: Severity::Corruption,
            table: Some(table.clone()),
            row: Some(format!("{table}.rowid in ({}{})", shown.join(", "), if rowids.len() > 10 { ", ..." } else { "" })),
            what: format!("{} row(s) of {table} reference a missing {parent} row", rowids.len()),
            consequence: format!(
                "lightningd runs with foreign_keys=ON: updating or deleting these {table} rows (or their {parent} parents) fails with FOREIGN KEY constraint failed, which is fatal"
            ),
            issues: vec![],
            remedy: None,
        });
    }
    Ok(())
}

fn max_id(conn: &Connection, table: &str, column: &str) -> Result<Option<i64>, DbErrorKind> {
    let sql = format!("SELECT MAX({column}) FROM {table}");
    q(
        sql.clone(),
        conn.query_row(&sql, [], |r| r.get::<_, Option<i64>>(0)),
    )
}

fn issues_for(subsystem: &str, version: i64) -> Vec<String> {
    let typo = BROKEN_HTLCS_MIGRATION_VERSIONS.contains(&version);
    match subsystem {
        "htlcs" => vec![
            "ElementsProject/lightning#8269".into(),
            "ElementsProject/lightning#8270".into(),
        ],
        "forwards" if typo => vec!["ElementsProject/lightning#8269".into()],
        _ => vec![],
    }
}

fn remedy_for(subsystem: &str, var: &str, table: &str, column: &str, version: i64) -> String {
    match subsystem {
        "htlcs" | "forwards" if BROKEN_HTLCS_MIGRATION_VERSIONS.contains(&version) => format!(
            "start this node on v25.05 or later (any build with 04ba55d88): its migration 268 sets {var} to MAX({column}) FROM {table}"
        ),
        "invoices" if version < 229 => format!("start this node on a build with migration 229 (v23.08 or later), which renames last_invoice_created_index to {var}"),
        _ => format!("with lightningd stopped and a backup taken: UPDATE vars SET intval = (SELECT MAX({column}) FROM {table}) WHERE name = '{var}' (INSERT the row if it is missing)"),
    }
}

fn created_index_check(
    conn: &Connection,
    idx: &CreatedIndex,
    report: &mut CheckReport,
) -> Result<(), DbErrorKind> {
    let version = report.schema_version;
    if version < idx.since_version
        || !q("looking for tables", dbread::table_exists(conn, idx.table))?
    {
        return Ok(());
    }
    let var = format!("last_{}_created_index", idx.subsystem);
    report.checks_run.push(format!(
        "created-index/{}: vars.{var} >= MAX({}.{})",
        idx.subsystem, idx.table, idx.id_column
    ));
    let Some(max) = max_id(conn, idx.table, idx.id_column)? else {
        return Ok(());
    };
    let value = q(format!("reading vars.{var}"), dbread::var_int(conn, &var))?;
    // Before migration 229 the invoices var went by a typo'd name; such builds never read it.
    let typo_invoice = if idx.subsystem == "invoices" {
        q(
            "reading vars",
            dbread::var_int(conn, "last_invoice_created_index"),
        )?
    } else {
        None
    };
    let current = value.unwrap_or(0);
    if current >= max {
        return Ok(());
    }
    // The first id lightningd will hand out that already exists.
    let clash_sql = format!(
        "SELECT MIN({c}) FROM {t} WHERE {c} > ?1",
        c = idx.id_column,
        t = idx.table
    );
    let clash: Option<i64> = q(
        clash_sql.clone(),
        conn.query_row(&clash_sql, [current], |r| r.get(0)),
    )?;
    let rows: i64 = q(
        "counting rows",
        conn.query_row(&format!("SELECT count(*) FROM {}", idx.table), [], |r| {
            r.get(0)
        }),
    )?;
    let unique = format!("UNIQUE constraint failed: {}.{}", idx.table, idx.id_column);
    let what = match value {
        None => format!(
            "vars has no {var} row, but {table} has {rows} row(s) with MAX({col}) = {max}; from schema {since} lightningd assigns new {table}.{col} values as {var} + 1, reading a missing row as 0",
            table = idx.table,
            col = idx.id_column,
            since = idx.since_version
        ),
        Some(v) => format!("vars.{var} = {v}, below MAX({}.{}) = {max}", idx.table, idx.id_column),
    };
    let what = match typo_invoice {
        Some(t) => format!("{what} (the typo'd row last_invoice_created_index = {t} is present but lightningd does not read it)"),
        None => what,
    };
    let consequence = match clash {
        Some(id) if id == current + 1 => format!(
            "the next {noun} insert gets {col} {id}, which exists, and fails with \"{unique}\"; lightningd treats that as fatal and aborts (FATAL SIGNAL 6)",
            noun = idx.noun,
            col = idx.id_column
        ),
        Some(id) => format!(
            "{n} more {noun} insert(s) succeed, then the one given {col} {id}, which exists, fails with \"{unique}\"; lightningd treats that as fatal and aborts (FATAL SIGNAL 6)",
            n = id - current - 1,
            noun = idx.noun,
            col = idx.id_column
        ),
        None => format!("new {} ids collide with existing ones (\"{unique}\")", idx.noun),
    };
    report.findings.push(Finding {
        check: format!("created-index/{}", idx.subsystem),
        severity: Severity::Crash,
        table: Some(idx.table.to_string()),
        row: Some(format!("vars.name = '{var}'")),
        what,
        consequence,
        issues: issues_for(idx.subsystem, version),
        remedy: Some(remedy_for(
            idx.subsystem,
            &var,
            idx.table,
            idx.id_column,
            version,
        )),
    });
    Ok(())
}

fn updated_index_check(
    conn: &Connection,
    subsystem: &str,
    table: &str,
    since: i64,
    report: &mut CheckReport,
) -> Result<(), DbErrorKind> {
    if report.schema_version < since || !q("looking for tables", dbread::table_exists(conn, table))?
    {
        return Ok(());
    }
    if !q("table_info", dbread::columns(conn, table))?
        .iter()
        .any(|c| c == "updated_index")
    {
        return Ok(());
    }
    let var = format!("last_{subsystem}_updated_index");
    report.checks_run.push(format!(
        "updated-index/{subsystem}: vars.{var} >= MAX({table}.updated_index)"
    ));
    let Some(max) = max_id(conn, table, "updated_index")? else {
        return Ok(());
    };
    let current = q(format!("reading vars.{var}"), dbread::var_int(conn, &var))?;
    if current.unwrap_or(0) >= max {
        return Ok(());
    }
    report.findings.push(Finding {
        check: format!("updated-index/{subsystem}"),
        severity: Severity::Warning,
        table: Some(table.to_string()),
        row: Some(format!("vars.name = '{var}'")),
        what: format!("vars.{var} = {}, below MAX({table}.updated_index) = {max}", current.map_or("missing".to_string(), |v| v.to_string())),
        consequence: format!(
            "the next updates reuse updated_index values that rows already carry, so `wait {subsystem} updated` and list calls paging by updated_index can miss or repeat changes (no crash)"
        ),
        issues: vec![],
        remedy: Some(format!(
            "with lightningd stopped and a backup taken: UPDATE vars SET intval = (SELECT MAX(updated_index) FROM {table}) WHERE name = '{var}'"
        )),
    });
    Ok(())
}

/// `check-db --explain`: every check this doctor runs, with the schema
/// versions it applies to.
pub fn explain() -> String {
    let range = |since: i64| format!("schema >= {since} ({})", first_release_with(since));
    let mut s = String::from("check-db runs, on a read-only copy of the database:\n\n");
    s.push_str("integrity                        every schema: PRAGMA integrity_check: SQLite's own consistency check\n");
    s.push_str("foreign-keys                     every schema: PRAGMA foreign_key_check: no row points at a missing one\n");
    for c in CREATED_INDEXES {
        s.push_str(&format!(
            "created-index/{:<14} {}\n    vars.last_{}_created_index >= MAX({}.{}): lightningd hands out new ids from it\n",
            c.subsystem,
            range(c.since_version),
            c.subsystem,
            c.table,
            c.id_column
        ));
    }
    for (sub, table, since) in UPDATED_INDEXES {
        s.push_str(&format!("updated-index/{sub:<14} {}\n    vars.last_{sub}_updated_index >= MAX({table}.updated_index)\n", range(*since)));
    }
    for inv in super::accounting::INVARIANTS {
        s.push_str(&format!(
            "{:<32} {}\n    {}\n    ({})\n",
            inv.id,
            range(inv.since_version),
            inv.rule,
            inv.source
        ));
    }
    s.push_str(&format!("\nSchemas newer than {NEWEST_KNOWN_SCHEMA} ({}) are checked with these rules and a note.\n", release_for_schema(NEWEST_KNOWN_SCHEMA)));
    s
}

/// The human report.
pub fn render_report(r: &CheckReport) -> String {
    let mut s = format!(
        "check-db {}\nschema version {} ({})\n",
        r.path.display(),
        r.schema_version,
        r.schema_release
    );
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push_str(&format!("checks run ({}):\n", r.checks_run.len()));
    for c in &r.checks_run {
        s.push_str(&format!("  {c}\n"));
    }
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Crash => "CRASH",
            Severity::Corruption => "CORRUPTION",
            Severity::Warning => "WARNING",
        };
        s.push_str(&format!("\n{sev} [{}]", f.check));
        if let Some(row) = &f.row {
            s.push_str(&format!(" {row}"));
        }
        s.push_str(&format!(
            "\n  what:   {}\n  then:   {}\n",
            f.what, f.consequence
        ));
        if !f.issues.is_empty() {
            s.push_str(&format!("  issue:  {}\n", f.issues.join(", ")));
        }
        if let Some(fix) = &f.remedy {
            s.push_str(&format!("  remedy: {fix}\n"));
        }
    }
    s.push_str(&match r.findings.len() {
        0 => "\nclean: no findings\n".to_string(),
        n => format!("\n{n} finding(s)\n"),
    });
    s
}

#[cfg(test)]
mod tests {
    use super::super::dbread::test_support::*;
    use super::*;

    fn check(name: &str) -> CheckReport {
        check_db(&fixture_db(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn issue_8269_a_db_upgraded_by_1cc64dd67_predicts_the_keysend_crash() {
        // alice made 3 keysends and a pay on v25.02.1 (channel_htlcs ids 1..4), was upgraded
        // by 1cc64dd67 with --database-upgrade=true, and crashed on her next keysend.
        let r = check("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3");
        assert_eq!(r.schema_version, 267);
        assert_eq!(
            r.schema_release,
            "between v25.02.2 and v25.05 (a development build or release candidate)"
        );
        assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
        let f = &r.findings[0];
        assert_eq!(f.check, "created-index/htlcs");
        assert_eq!(f.severity, Severity::Crash);
        assert_eq!(f.table.as_deref(), Some("channel_htlcs"));
        assert_eq!(
            f.row.as_deref(),
            Some("vars.name = 'last_htlcs_created_index'")
        );
        assert!(f.what.starts_with("vars has no last_htlcs_created_index row, but channel_htlcs has 4 row(s) with MAX(id) = 4"), "{}", f.what);
        assert!(f.consequence.starts_with("the next HTLC insert gets id 1, which exists, and fails with \"UNIQUE constraint failed: channel_htlcs.id\""), "{}", f.consequence);
        assert_eq!(
            f.issues,
            [
                "ElementsProject/lightning#8269",
                "ElementsProject/lightning#8270"
            ]
        );
        assert!(f
            .remedy
            .as_deref()
            .unwrap()
            .starts_with("start this node on v25.05 or later"));
        assert!(r
            .notes
            .iter()
            .any(|n| n.contains("186a9383d and 04ba55d88")));
        assert!(r
            .checks_run
            .iter()
            .any(|c| c.starts_with("created-index/htlcs")));
    }

    #[test]
    fn the_same_db_upgraded_by_v25_05_is_clean() {
        let r = check("alice-v25.02.1-then-v25.05.sqlite3");
        assert_eq!(
            (r.schema_version, r.schema_release.as_str()),
            (268, "v25.05..v25.05.1")
        );
        assert!(r.is_clean(), "{}", render_report(&r));
        assert!(r.notes.is_empty());
    }

    #[test]
    fn v25_05_repairs_a_db_the_broken_build_left_behind() {
        // The crashed DB above, started on v25.05 (migration 268), then two more keysends.
        let r = check("alice-v25.02.1-then-1cc64dd67-then-v25.05.sqlite3");
        assert_eq!(r.schema_version, 268);
        assert!(r.is_clean(), "{}", render_report(&r));
    }

    #[test]
    fn schemas_before_and_after_the_htlcs_index_are_clean() {
        let old = check("alice-v25.02.1.sqlite3");
        assert_eq!(
            (old.schema_version, old.schema_release.as_str()),
            (263, "v25.02.1..v25.02.2")
        );
        assert!(old.is_clean(), "{}", render_report(&old));
        assert!(
            !old.checks_run
                .iter()
                .any(|c| c.starts_with("created-index/htlcs")),
            "ids came from autoincrement before 266"
        );
        let new = check("alice-v26.06.6.sqlite3");
        assert_eq!(new.schema_version, 282);
        assert!(new.is_clean(), "{}", render_report(&new));
        for sub in [
            "htlcs",
            "chainmoves",
            "channelmoves",
            "networkevents",
            "sendpays",
        ] {
            assert!(
                new.checks_run
                    .iter()
                    .any(|c| c.starts_with(&format!("created-index/{sub}:"))),
                "{sub}: {:?}",
                new.checks_run
            );
        }
    }

    /// Runs the checks over a private, writable copy of a fixture after `tamper`.
    fn tampered(name: &str, tamper: &str) -> CheckReport {
        let (_dir, db) = copy_fixture(name);
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(tamper)
            .unwrap();
        check_db(&db).unwrap()
    }

    #[test]
    fn a_lagging_index_says_how_many_inserts_are_left() {
        // After autoclean deleted payments 1..2 and the index was somehow set back to 1,
        // id 2 is free, so one more sendpay works and the next one (id 3) dies.
        let r = tampered(
            "alice-v25.02.1-then-v25.05.sqlite3",
            "DELETE FROM payments WHERE id = 2; UPDATE vars SET intval = 1 WHERE name = 'last_sendpays_created_index';",
        );
        assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
        let f = &r.findings[0];
        assert_eq!(f.check, "created-index/sendpays");
        assert_eq!(
            f.what,
            "vars.last_sendpays_created_index = 1, below MAX(payments.id) = 4"
        );
        assert!(f.consequence.starts_with("1 more sendpay (payment part) insert(s) succeed, then the one given id 3, which exists, fails with \"UNIQUE constraint failed: payments.id\""), "{}", f.consequence);
        assert!(f.issues.is_empty());
    }

    #[test]
    fn a_stale_updated_index_is_a_warning_and_a_dangling_reference_is_corruption() {
        let r = tampered(
            "alice-v25.02.1-then-v25.05.sqlite3",
            "UPDATE vars SET intval = 2 WHERE name = 'last_sendpays_updated_index';
             PRAGMA foreign_keys = OFF; DELETE FROM channels;",
        );
        let checks: Vec<(&str, Severity)> = r
            .findings
            .iter()
            .map(|f| (f.check.as_str(), f.severity))
            .collect();
        assert!(
            checks.contains(&("updated-index/sendpays", Severity::Warning)),
            "{checks:?}"
        );
        let fk: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.check == "foreign_key_check")
            .collect();
        assert!(!fk.is_empty(), "{checks:?}");
        assert!(
            fk.iter()
                .any(|f| f.table.as_deref() == Some("channel_htlcs")
                    && f.what == "4 row(s) of channel_htlcs reference a missing channels row"),
            "{fk:#?}"
        );
    }

    #[test]
    fn check_db_never_writes_the_users_file() {
        let (dir, db) = copy_fixture("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3");
        let before = dir_state(dir.path());
        assert!(!check_db(&db).unwrap().is_clean());
        assert!(!check_db(&db).unwrap().is_clean());
        assert_eq!(dir_state(dir.path()), before);
    }

    #[test]
    fn a_db_copied_mid_transaction_is_judged_by_what_was_committed() {
        // lightningd died inside a transaction that had deleted last_htlcs_created_index;
        // SQLite had already spilled that page into the file. Read naively (immutable,
        // ignoring the journal) it looks like #8269; rolled back, it is the clean v25.05 DB.
        let (dir, db) = copy_fixture("alice-v25.02.1-then-v25.05.sqlite3");
        let crashed = crash_mid_transaction(
            dir.path(),
            &db,
            "DELETE FROM vars WHERE name = 'last_htlcs_created_index';
             CREATE TABLE filler (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100)
             INSERT INTO filler SELECT zeroblob(4000) FROM n;",
        );
        let before = dir_state(crashed.parent().unwrap());
        let naive = Connection::open_with_flags(
            dbread::sqlite_uri(&crashed, "mode=ro&immutable=1"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        // A naive reader sees the torn file: here "malformed database schema (filler)", or the var gone.
        let naive_view = dbread::var_int(&naive, "last_htlcs_created_index");
        assert!(
            !matches!(naive_view, Ok(Some(_))),
            "the spill must be visible to a naive reader: {naive_view:?}"
        );
        drop(naive);
        let r = check_db(&crashed).unwrap();
        assert!(r.is_clean(), "{}", render_report(&r));
        assert!(
            r.notes[0].contains("leftover -journal") && r.notes[0].contains("rolled back"),
            "{:?}",
            r.notes
        );
        assert_eq!(dir_state(crashed.parent().unwrap()), before);
    }

    #[test]
    fn clean_and_unreadable_databases() {
        assert!(check_db(&fixture_db("alice-v25.02.1-then-v25.05.sqlite3"))
            .unwrap()
            .is_clean());
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a database, just words long enough for a header").unwrap();
        assert!(check_db(&text).is_err());
        let other = dir.path().join("other.sqlite3");
        rusqlite::Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE vars (name TEXT);")
            .unwrap();
        let e = check_db(&other).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "check-db {}: not a lightningd database: no `version` table",
                other.display()
            )
        );
    }

    #[test]
    fn every_release_is_named_by_the_schema_it_writes() {
        // Counted from dbmigrations[] at each release tag (v22.11 .. v26.06.6).
        // 277 was once called "between v25.09 and v25.12 (a development
        // build)": v25.09.1 writes it, with its duplicate-removing migration.
        let pinned = [
            (212, "v22.11..v22.11.1"),
            (216, "v23.02..v23.02.2"),
            (219, "v23.05..v23.05.2"),
            (233, "v23.08"),
            (234, "v23.08.1"),
            (249, "v23.11..v23.11.2"),
            (256, "v24.02..v24.08.2"),
            (261, "v24.11..v25.02"),
            (263, "v25.02.1..v25.02.2"),
            (268, "v25.05..v25.05.1"),
            (276, "v25.09"),
            (277, "v25.09.1..v25.09.3"),
            (280, "v25.12..v25.12.1"),
            (282, "v26.04..v26.06.6"),
        ];
        for (v, name) in pinned {
            assert_eq!(release_for_schema(v), name, "schema {v}");
        }
        assert_eq!(NEWEST_KNOWN_SCHEMA, pinned[pinned.len() - 1].0);
        // #8269's master builds and a release candidate no release shares.
        assert_eq!(
            release_for_schema(266),
            "between v25.02.2 and v25.05 (a development build or release candidate)"
        );
        assert_eq!(
            release_for_schema(281),
            "between v25.12.1 and v26.04 (a development build or release candidate)"
        );
        assert_eq!(release_for_schema(100), "older than v22.11");
        assert_eq!(release_for_schema(300), "newer than v26.06.6");
        assert_eq!(first_release_with(277), "from v25.09.1");
        assert_eq!(first_release_with(266), "from v25.05");
        assert_eq!(first_release_with(31), "every supported release");
    }

    #[test]
    fn json_report_shape() {
        let r = check("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["schema_version"], 267);
        assert_eq!(v["findings"][0]["severity"], "crash");
        assert_eq!(v["findings"][0]["check"], "created-index/htlcs");
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "path",
                "schema_version",
                "schema_release",
                "checks_run",
                "findings",
                "notes"
            ]
        );
    }
}
