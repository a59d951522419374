//! A lightningd PostgreSQL database, read in one read-only transaction and
//! mirrored into an in-memory SQLite connection, so that check-db's rules
//! and the DB snapshot have one implementation over both backends.
//!
//! Why a mirror rather than a second SQL dialect: every rule and snapshot
//! query is plain SQL over CLN's tables, which CLN itself keeps identical
//! on both backends (its PostgreSQL schema is the SQLite one with types
//! translated). Reading goes through `psql` (PostgreSQL's own client, which
//! the server package ships), so no second database driver is linked.
//!
//! Types come back as SQLite would hold them: integers as INTEGER, `bytea`
//! as BLOB, booleans as 0/1, text as TEXT. SQLite's `integrity_check` and
//! `foreign_key_check` run on the mirror and so say nothing about the
//! server's files; PostgreSQL enforces the declared foreign keys itself.

use rusqlite::{types::Value as Sql, Connection};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `psql` for `url`, every statement in one read-only transaction.
fn psql(psql: &Path, url: &str, statements: &[String]) -> Result<String, String> {
    let mut cmd = Command::new(psql);
    cmd.arg(url)
        .args(["-XAtq", "-1", "-v", "ON_ERROR_STOP=1", "-F", "\t"])
        .env("PGOPTIONS", "-c default_transaction_read_only=on");
    for s in statements {
        cmd.arg("-c").arg(s);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running {}: {e}", psql.display()))?;
    if !out.status.success() {
        return Err(format!(
            "psql: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sqlite_type(pg: &str) -> &'static str {
    match pg {
        "integer" | "bigint" | "smallint" | "boolean" => "INTEGER",
        "bytea" => "BLOB",
        "double precision" | "real" | "numeric" => "REAL",
        _ => "TEXT",
    }
}

/// One JSON value as SQLite would store it in a column of `pg_type`.
pub fn to_sql(v: &Value, pg_type: &str) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Sql::Integer(i),
            (None, Some(f)) => Sql::Real(f),
            _ => Sql::Text(n.to_string()),
        },
        Value::String(s) if pg_type == "bytea" => match s.strip_prefix("\\x").map(hex::decode) {
            Some(Ok(bytes)) => Sql::Blob(bytes),
            _ => Sql::Text(s.clone()),
        },
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// Every table of the `public` schema of `url`, copied into memory.
pub fn mirror(psql_exe: &Path, url: &str) -> Result<Connection, String> {
    let columns = psql(
        psql_exe,
        url,
        &[
            "SELECT table_name, column_name, data_type FROM information_schema.columns \
           WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
                .to_string(),
        ],
    )?;
    let mut tables: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in columns.lines() {
        let mut parts = line.split('\t');
        if let (Some(t), Some(c), Some(ty)) = (parts.next(), parts.next(), parts.next()) {
            tables
                .entry(t.to_string())
                .or_default()
                .push((c.to_string(), ty.to_string()));
        }
    }
    if tables.is_empty() {
        return Err("no tables in the public schema (not a lightningd database?)".into());
    }
    // One statement per table, one line of JSON each (jsonb's text has no
    // raw newlines), all in the same read-only transaction.
    let selects: Vec<String> = tables
        .keys()
        .map(|t| format!("SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM \"{t}\" t"))
        .collect();
    let rows_text = psql(psql_exe, url, &selects)?;
    let lines: Vec<&str> = rows_text.lines().collect();
    if lines.len() != tables.len() {
        return Err(format!(
            "psql returned {} results for {} tables",
            lines.len(),
            tables.len()
        ));
    }
    let conn = Connection::open_in_memory().map_err(|e| e.to_string())?;
    for ((table, cols), line) in tables.iter().zip(lines) {
        let defs: Vec<String> = cols
            .iter()
            .map(|(c, ty)| format!("\"{c}\" {}", sqlite_type(ty)))
            .collect();
        conn.execute(
            &format!("CREATE TABLE \"{table}\" ({})", defs.join(", ")),
            [],
        )
        .map_err(|e| format!("mirroring {table}: {e}"))?;
        let rows: Vec<Value> =
            serde_json::from_str(line).map_err(|e| format!("reading {table}: {e}"))?;
        let placeholders = vec!["?"; cols.len()].join(", ");
        let mut insert = conn
            .prepare(&format!("INSERT INTO \"{table}\" VALUES ({placeholders})"))
            .map_err(|e| format!("mirroring {table}: {e}"))?;
        for row in rows {
            let values: Vec<Sql> = cols
                .iter()
                .map(|(c, ty)| to_sql(row.get(c).unwrap_or(&Value::Null), ty))
                .collect();
            insert
                .execute(rusqlite::params_from_iter(values))
                .map_err(|e| format!("mirroring {table}: {e}"))?;
        }
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_come_back_as_sqlite_holds_them() {
        assert_eq!(
            to_sql(&json!("\\x0aff"), "bytea"),
            Sql::Blob(vec![0x0a, 0xff])
        );
        assert_eq!(
            to_sql(&json!("\\x0aff"), "text"),
            Sql::Text("\\x0aff".into())
        );
        assert_eq!(to_sql(&json!(true), "boolean"), Sql::Integer(1));
        assert_eq!(
            to_sql(&json!(9_007_199_254_740_993i64), "bigint"),
            Sql::Integer(9_007_199_254_740_993)
        );
        assert_eq!(to_sql(&Value::Null, "bytea"), Sql::Null);
        assert_eq!(sqlite_type("character varying"), "TEXT");
        assert_eq!(sqlite_type("bigint"), "INTEGER");
    }
}
