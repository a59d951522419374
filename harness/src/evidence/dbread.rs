//! Opening someone's `lightningd.sqlite3` without ever writing to it.
//!
//! The normal path is SQLite's URI `file:<path>?mode=ro&immutable=1` with
//! `SQLITE_OPEN_READ_ONLY`: no lock, no journal, no `-shm`, nothing written.
//! `immutable` also means SQLite ignores a leftover `-journal`/`-wal`, which
//! would show a half-written transaction. So when one is there (a *hot*
//! rollback journal, or a non-empty WAL), the database and its sidecar are
//! copied to a private temp dir and opened there, where SQLite rolls back or
//! replays as lightningd itself would on its next start. The user's files are
//! never opened for writing either way.

use rusqlite::{Connection, OpenFlags};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The first 8 bytes of a rollback journal that still has to be played back
/// (`sqlite3.c`: `aJournalMagic`). A journal whose header is zeroed is not hot.
const JOURNAL_MAGIC: [u8; 8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

#[derive(Debug, thiserror::Error)]
pub enum OpenErrorKind {
    #[error("cannot read it: {0}")]
    Io(#[source] std::io::Error),
    #[error("not an SQLite database (no `SQLite format 3` header)")]
    NotSqlite,
    #[error("copying it and its {sidecar} to a private dir: {source}")]
    Copy {
        sidecar: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("reading PostgreSQL: {0}")]
    Postgres(String),
}

/// An open, read-only database; keeps the private copy (if any) alive.
pub struct ReadOnlyDb {
    pub conn: Connection,
    /// Set when a hot journal or a WAL made us read a private copy.
    pub note: Option<String>,
    _copy: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for ReadOnlyDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyDb")
            .field("note", &self.note)
            .finish()
    }
}

/// `file:` URI for a path: every byte outside RFC 3986's unreserved set and `/`
/// is percent-encoded, so `?`, `#` and `%` in a path cannot become URI syntax.
pub fn sqlite_uri(path: &Path, query: &str) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut s = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if !query.is_empty() {
        s.push('?');
        s.push_str(query);
    }
    s
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn starts_with(path: &Path, magic: &[u8]) -> std::io::Result<bool> {
    let mut buf = vec![0u8; magic.len()];
    let mut f = std::fs::File::open(path)?;
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => return Ok(false),
            n => got += n,
        }
    }
    Ok(buf == magic)
}

/// What a leftover sidecar file means for a reader.
fn pending_sidecar(path: &Path) -> Option<(&'static str, PathBuf)> {
    let journal = sidecar(path, "-journal");
    if starts_with(&journal, &JOURNAL_MAGIC).unwrap_or(false) {
        return Some(("-journal", journal));
    }
    let wal = sidecar(path, "-wal");
    if std::fs::metadata(&wal)
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        return Some(("-wal", wal));
    }
    None
}

/// Opens `path` for reading only; see the module docs.
pub fn open_read_only(path: &Path) -> Result<ReadOnlyDb, OpenErrorKind> {
    if !starts_with(path, SQLITE_HEADER).map_err(OpenErrorKind::Io)? {
        return Err(OpenErrorKind::NotSqlite);
    }
    let (conn, note, copy) = match pending_sidecar(path) {
        None => {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(sqlite_uri(path, "mode=ro&immutable=1"), flags)
                .map_err(OpenErrorKind::Sqlite)?;
            (conn, None, None)
        }
        Some((kind, side)) => {
            let copy_err = |source| OpenErrorKind::Copy {
                sidecar: kind,
                source,
            };
            // A copy of a node's database: private like the original.
            let dir = crate::userdirs::private_tempdir("cln-harness-dbcopy-").map_err(copy_err)?;
            let db = dir.path().join("lightningd.sqlite3");
            std::fs::copy(path, &db).map_err(copy_err)?;
            std::fs::copy(&side, sidecar(&db, kind)).map_err(copy_err)?;
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(&db, flags).map_err(OpenErrorKind::Sqlite)?;
            let note = format!(
                "{} has a leftover {kind} ({}): lightningd stopped mid-transaction. Read through a private copy where SQLite {} it, as lightningd's next start would; the original files were not touched.",
                path.display(),
                side.display(),
                if kind == "-wal" { "replayed" } else { "rolled back" }
            );
            (conn, Some(note), Some(dir))
        }
    };
    // Make the first read happen now, so "file is not a database" and a failed
    // rollback surface as open errors; and refuse writes on the copy too.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(OpenErrorKind::Sqlite)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(OpenErrorKind::Sqlite)?;
    Ok(ReadOnlyDb {
        conn,
        note,
        _copy: copy,
    })
}

/// Why a lightningd database could not be read; shared by check-db and snapshots.
#[derive(Debug, thiserror::Error)]
pub enum DbErrorKind {
    #[error("cannot open it read-only: {0}")]
    Open(#[source] OpenErrorKind),
    #[error("not a lightningd database: no `{missing}` table")]
    NotLightningd { missing: &'static str },
    #[error("query failed ({what}): {source}")]
    Query {
        what: String,
        source: rusqlite::Error,
    },
}

/// Tags a failed query with what it was for.
pub fn q<T>(what: impl Into<String>, r: rusqlite::Result<T>) -> Result<T, DbErrorKind> {
    r.map_err(|source| DbErrorKind::Query {
        what: what.into(),
        source,
    })
}

/// A lightningd database to read: a SQLite file, or a PostgreSQL
/// connection string (read through `psql` in a read-only transaction and
/// mirrored in memory, see [`super::pgmirror`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbSource {
    Sqlite(PathBuf),
    Postgres { url: String, psql: PathBuf },
}

impl DbSource {
    /// A `postgres://` or `postgresql://` string is a PostgreSQL database;
    /// anything else a file path.
    pub fn parse(arg: &str) -> DbSource {
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            let psql = crate::postgres::PgBins::find()
                .map(|b| b.bindir.join("psql"))
                .unwrap_or_else(|_| PathBuf::from("psql"));
            DbSource::Postgres {
                url: arg.to_string(),
                psql,
            }
        } else {
            DbSource::Sqlite(PathBuf::from(arg))
        }
    }

    /// For reports: the file, or the connection string.
    pub fn display(&self) -> PathBuf {
        match self {
            DbSource::Sqlite(p) => p.clone(),
            DbSource::Postgres { url, .. } => PathBuf::from(url),
        }
    }
}

/// As [`open_lightningd_db`], over either backend.
pub fn open_lightningd_source(src: &DbSource) -> Result<(ReadOnlyDb, i64), DbErrorKind> {
    match src {
        DbSource::Sqlite(path) => open_lightningd_db(path),
        DbSource::Postgres { url, psql } => {
            let conn = super::pgmirror::mirror(psql, url)
                .map_err(|e| DbErrorKind::Open(OpenErrorKind::Postgres(e)))?;
            check_lightningd(ReadOnlyDb {
                conn,
                note: Some("read from PostgreSQL in one read-only transaction; SQLite's integrity and foreign-key checks ran on that in-memory copy, not on the server's files".into()),
                _copy: None,
            })
        }
    }
}

/// Opens `path` read-only, checks it is a lightningd database (`version` and
/// `vars` tables), and returns it with its schema version.
pub fn open_lightningd_db(path: &Path) -> Result<(ReadOnlyDb, i64), DbErrorKind> {
    check_lightningd(open_read_only(path).map_err(DbErrorKind::Open)?)
}

fn check_lightningd(db: ReadOnlyDb) -> Result<(ReadOnlyDb, i64), DbErrorKind> {
    for table in ["version", "vars"] {
        if !q("looking for tables", table_exists(&db.conn, table))? {
            return Err(DbErrorKind::NotLightningd { missing: table });
        }
    }
    let version = q("SELECT version FROM version", schema_version(&db.conn))?
        .ok_or(DbErrorKind::NotLightningd { missing: "version" })?;
    Ok((db, version))
}

pub fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Column names of `table` (empty if there is no such table).
pub fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = st
        .query_map([table], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

/// CLN's `version` table: one row, the index of the last migration applied.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT version FROM version LIMIT 1", [], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
}

/// A `vars` row as an integer: `intval`, else `val` parsed (old schemas kept ints in `val`).
pub fn var_int(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    let has_intval = columns(conn, "vars")?.iter().any(|c| c == "intval");
    let sql = if has_intval {
        "SELECT intval, val FROM vars WHERE name = ?1"
    } else {
        "SELECT NULL, val FROM vars WHERE name = ?1"
    };
    let row = conn
        .query_row(sql, [name], |r| {
            Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .optional()?;
    Ok(row.and_then(|(i, v)| i.or_else(|| v.and_then(|v| v.trim().parse().ok()))))
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};
    use std::time::SystemTime;

    pub fn fixture_db(name: &str) -> PathBuf {
        PathBuf::from(format!(
            "{}/../fixtures/evidence/db/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    /// A private copy of a fixture DB, so a test may look at mtimes and sidecars.
    pub fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("lightningd.sqlite3");
        std::fs::copy(fixture_db(name), &to).unwrap();
        (dir, to)
    }

    /// Every file in a dir with its bytes and mtime.
    pub fn dir_state(dir: &Path) -> Vec<(String, Vec<u8>, SystemTime)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                    m.modified().unwrap(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Runs `uncommitted` inside a transaction on `db` with a tiny page cache
    /// (so SQLite spills changed pages into the DB file before commit), copies
    /// the DB and its now *hot* journal to `<dir>/crashed/` as a crash would
    /// leave them, then rolls back. Returns the crashed copy's path.
    pub fn crash_mid_transaction(dir: &Path, db: &Path, uncommitted: &str) -> PathBuf {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("PRAGMA journal_mode=DELETE; PRAGMA cache_size=2; BEGIN;")
            .unwrap();
        conn.execute_batch(uncommitted).unwrap();
        let crashed = dir.join("crashed");
        std::fs::create_dir(&crashed).unwrap();
        let to = crashed.join("lightningd.sqlite3");
        std::fs::copy(db, &to).unwrap();
        let mut journal = db.as_os_str().to_owned();
        journal.push("-journal");
        std::fs::copy(&journal, crashed.join("lightningd.sqlite3-journal")).unwrap();
        conn.execute_batch("ROLLBACK").unwrap();
        to
    }

    /// A small DB whose table t has rows 1..=200 with v = id committed, and an
    /// uncommitted UPDATE setting every v to -1 caught mid-transaction.
    pub fn hot_journal_db(dir: &Path) -> PathBuf {
        let db = dir.join("lightningd.sqlite3");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, pad BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 200)
                 INSERT INTO t SELECT i, i, zeroblob(2000) FROM n;",
            )
            .unwrap();
        crash_mid_transaction(dir, &db, "UPDATE t SET v = -1;")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn uris_cannot_be_confused_by_odd_paths() {
        assert_eq!(
            sqlite_uri(Path::new("/tmp/a b/x?y#z%.sqlite3"), "mode=ro"),
            "file:/tmp/a%20b/x%3Fy%23z%25.sqlite3?mode=ro"
        );
    }

    #[test]
    fn a_real_lightningd_db_opens_and_stays_byte_identical() {
        let (dir, db) = copy_fixture("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3");
        let before = dir_state(dir.path());
        let ro = open_read_only(&db).unwrap();
        assert_eq!(schema_version(&ro.conn).unwrap(), Some(267));
        assert_eq!(
            var_int(&ro.conn, "last_forwards_created_index").unwrap(),
            Some(4)
        );
        assert_eq!(var_int(&ro.conn, "last_htlcs_created_index").unwrap(), None);
        assert!(
            ro.conn.execute("DELETE FROM vars", []).is_err(),
            "read-only"
        );
        drop(ro);
        assert_eq!(
            dir_state(dir.path()),
            before,
            "no byte, no mtime, no new sidecar"
        );
    }

    #[test]
    fn a_hot_journal_is_rolled_back_in_a_private_copy_not_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let db = hot_journal_db(dir.path());
        let crashed_dir = db.parent().unwrap();
        let before = dir_state(crashed_dir);
        // What a naive immutable reader would see: the torn, uncommitted state.
        let naive = Connection::open_with_flags(
            sqlite_uri(&db, "mode=ro&immutable=1"),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .unwrap();
        let torn: i64 = naive
            .query_row("SELECT count(*) FROM t WHERE v = -1", [], |r| r.get(0))
            .unwrap();
        assert!(
            torn > 0,
            "the test DB must really have spilled uncommitted pages"
        );
        let ro = open_read_only(&db).unwrap();
        let committed: i64 = ro
            .conn
            .query_row("SELECT count(*) FROM t WHERE v = -1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(committed, 0);
        assert!(
            ro.note.as_deref().unwrap().contains("rolled back"),
            "{:?}",
            ro.note
        );
        drop(ro);
        assert_eq!(dir_state(crashed_dir), before);
    }

    #[test]
    fn not_a_database_and_missing_files_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.sqlite3");
        std::fs::write(&p, "hello, this is a text file and not SQLite").unwrap();
        assert!(matches!(open_read_only(&p), Err(OpenErrorKind::NotSqlite)));
        assert!(matches!(
            open_read_only(&dir.path().join("missing")),
            Err(OpenErrorKind::Io(_))
        ));
    }
}
