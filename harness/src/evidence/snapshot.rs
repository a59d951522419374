//! A semantic, deterministic JSON picture of a `lightningd.sqlite3`.
//!
//! Two runs of the same scenario give the same snapshot; a change in what a
//! node stored shows as a small JSON diff. What is kept: the schema version,
//! every `vars` row, and the rows that say what the node did (channels,
//! HTLCs, payments, invoices, forwards), ordered by id, with enum integers
//! named as CLN names them (`wallet/wallet.h` `*_in_db`, `common/htlc_state.h`,
//! `lightningd/channel_state.h`). What is redacted: every hash, txid and node
//! id (through the [`Redactor`], so known nodes read `<alice.id>`), every
//! timestamp column (`<time>` when set), and `vars.data_version`, a write
//! counter that depends on timing. Columns differ across schema versions, so
//! each table's columns are chosen from `PRAGMA table_info`.
//!
//! Opens the file exactly as check-db does (read-only, immutable; see
//! [`super::dbread`]).

use super::dbread::{self, open_lightningd_source, q, DbErrorKind, DbSource};
use super::redact::Redactor;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("db snapshot {}: {kind}", path.display())]
pub struct SnapshotError {
    pub path: PathBuf,
    #[source]
    pub kind: DbErrorKind,
}

/// The part of a DB snapshot that two runs of one scenario agree on, for
/// committed snapshots: the schema, the `*_created_index` counters the
/// scenario decides (the #8269 invariant), and which HTLCs, payments and
/// invoices exist. HTLC states and balances at stop time depend on how far
/// the last commitment dance got, so they stay out.
pub fn stable_view(snap: &Value) -> Value {
    let pick = |rows: &Value, keys: &[&str]| -> Value {
        rows.as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        keys.iter()
                            .map(|k| (k.to_string(), r[*k].clone()))
                            .collect::<Map<_, _>>()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let vars: Map<String, Value> = snap["vars"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| {
                    k.ends_with("_created_index") && !super::redact::is_volatile_var(k)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "schema_version": snap["schema_version"],
        "vars": vars,
        "channel_htlcs": pick(&snap["channel_htlcs"], &["id", "direction", "msatoshi"]),
        "payments": pick(&snap["payments"], &["id", "status", "msatoshi"]),
        "invoices": pick(&snap["invoices"], &["id", "label", "state", "msatoshi"]),
    })
}

pub fn db_snapshot(path: &Path, r: &Redactor) -> Result<Value, SnapshotError> {
    db_snapshot_source(&DbSource::Sqlite(path.to_path_buf()), r)
}

/// The snapshot over either backend.
pub fn db_snapshot_source(src: &DbSource, r: &Redactor) -> Result<Value, SnapshotError> {
    let err = |kind| SnapshotError {
        path: src.display(),
        kind,
    };
    let (db, version) = open_lightningd_source(src).map_err(err)?;
    snapshot_conn(&db.conn, version, r).map_err(err)
}

#[derive(Clone, Copy)]
enum Col {
    Int,
    Text,
    /// BLOBs (ids, hashes, txids) as lower-case hex, then redacted.
    Hex,
    /// A time: `<time>` when set.
    Time,
    /// Random per run (xpay's payment `groupid`): `<random>` when set.
    Random,
    /// An enum stored as an integer: its CLN name.
    Enum(fn(i64) -> Option<&'static str>),
    /// A short channel id stored as an integer: BLOCKxTXxOUT, then redacted.
    Scid,
}

struct Field {
    /// Key in the snapshot.
    name: &'static str,
    /// The column that must exist for the field to be selected.
    column: &'static str,
    /// SQL for it, when not just the column.
    expr: Option<&'static str>,
    kind: Col,
}

const fn f(name: &'static str, kind: Col) -> Field {
    Field {
        name,
        column: name,
        expr: None,
        kind,
    }
}

fn htlc_state(i: i64) -> Option<&'static str> {
    const NAMES: [&str; 20] = [
        "SENT_ADD_HTLC",
        "SENT_ADD_COMMIT",
        "RCVD_ADD_REVOCATION",
        "RCVD_ADD_ACK_COMMIT",
        "SENT_ADD_ACK_REVOCATION",
        "RCVD_REMOVE_HTLC",
        "RCVD_REMOVE_COMMIT",
        "SENT_REMOVE_REVOCATION",
        "SENT_REMOVE_ACK_COMMIT",
        "RCVD_REMOVE_ACK_REVOCATION",
        "RCVD_ADD_HTLC",
        "RCVD_ADD_COMMIT",
        "SENT_ADD_REVOCATION",
        "SENT_ADD_ACK_COMMIT",
        "RCVD_ADD_ACK_REVOCATION",
        "SENT_REMOVE_HTLC",
        "SENT_REMOVE_COMMIT",
        "RCVD_REMOVE_REVOCATION",
        "RCVD_REMOVE_ACK_COMMIT",
        "SENT_REMOVE_ACK_REVOCATION",
    ];
    usize::try_from(i).ok().and_then(|i| NAMES.get(i).copied())
}

fn channel_state(i: i64) -> Option<&'static str> {
    Some(match i {
        2 => "CHANNELD_AWAITING_LOCKIN",
        3 => "CHANNELD_NORMAL",
        4 => "CHANNELD_SHUTTING_DOWN",
        5 => "CLOSINGD_SIGEXCHANGE",
        6 => "CLOSINGD_COMPLETE",
        7 => "AWAITING_UNILATERAL",
        8 => "FUNDING_SPEND_SEEN",
        9 => "ONCHAIN",
        10 => "CLOSED",
        11 => "DUALOPEND_OPEN_COMMITTED",
        12 => "DUALOPEND_AWAITING_LOCKIN",
        13 => "CHANNELD_AWAITING_SPLICE",
        14 => "DUALOPEND_OPEN_COMMIT_READY",
        _ => return None,
    })
}

fn side(i: i64) -> Option<&'static str> {
    ["local", "remote", "none"]
        .get(usize::try_from(i).ok()?)
        .copied()
}

fn direction(i: i64) -> Option<&'static str> {
    // wallet/wallet.c: #define DIRECTION_INCOMING 0 (and outgoing 1).
    ["incoming", "outgoing"]
        .get(usize::try_from(i).ok()?)
        .copied()
}

fn payment_status(i: i64) -> Option<&'static str> {
    ["pending", "complete", "failed"]
        .get(usize::try_from(i).ok()?)
        .copied()
}

fn invoice_status(i: i64) -> Option<&'static str> {
    ["unpaid", "paid", "expired"]
        .get(usize::try_from(i).ok()?)
        .copied()
}

fn forward_status(i: i64) -> Option<&'static str> {
    ["offered", "settled", "failed", "local_failed"]
        .get(usize::try_from(i).ok()?)
        .copied()
}

struct Table {
    name: &'static str,
    order_by: &'static str,
    fields: &'static [Field],
}

const TABLES: &[Table] = &[
    Table {
        name: "channels",
        order_by: "id",
        fields: &[
            f("id", Col::Int),
            Field {
                name: "peer",
                column: "peer_id",
                expr: Some("(SELECT node_id FROM peers WHERE peers.id = channels.peer_id)"),
                kind: Col::Hex,
            },
            f("state", Col::Enum(channel_state)),
            f("funder", Col::Enum(side)),
            f("funding_satoshi", Col::Int),
            f("our_funding_satoshi", Col::Int),
            f("msatoshi_local", Col::Int),
            f("scid", Col::Scid),
            f("funding_tx_id", Col::Hex),
            f("funding_tx_outnum", Col::Int),
            f("closer", Col::Enum(side)),
        ],
    },
    Table {
        name: "channel_htlcs",
        order_by: "id",
        fields: &[
            f("id", Col::Int),
            f("channel_id", Col::Int),
            f("channel_htlc_id", Col::Int),
            f("direction", Col::Enum(direction)),
            f("hstate", Col::Enum(htlc_state)),
            f("msatoshi", Col::Int),
            f("fees_msat", Col::Int),
            f("payment_hash", Col::Hex),
            f("partid", Col::Int),
            f("groupid", Col::Random),
            f("origin_htlc", Col::Int),
            f("received_time", Col::Time),
            f("updated_index", Col::Int),
        ],
    },
    Table {
        name: "payments",
        order_by: "id",
        fields: &[
            f("id", Col::Int),
            f("status", Col::Enum(payment_status)),
            f("payment_hash", Col::Hex),
            f("destination", Col::Hex),
            f("msatoshi", Col::Int),
            f("msatoshi_sent", Col::Int),
            f("total_msat", Col::Int),
            f("partid", Col::Int),
            f("groupid", Col::Random),
            f("label", Col::Text),
            f("description", Col::Text),
            f("failcode", Col::Int),
            f("timestamp", Col::Time),
            f("completed_at", Col::Time),
            f("updated_index", Col::Int),
        ],
    },
    Table {
        name: "invoices",
        order_by: "id",
        fields: &[
            f("id", Col::Int),
            f("label", Col::Text),
            f("state", Col::Enum(invoice_status)),
            f("msatoshi", Col::Int),
            f("msatoshi_received", Col::Int),
            f("pay_index", Col::Int),
            f("payment_hash", Col::Hex),
            f("description", Col::Text),
            f("expiry_time", Col::Time),
            f("paid_timestamp", Col::Time),
            f("updated_index", Col::Int),
        ],
    },
    Table {
        name: "forwards",
        order_by: "rowid",
        fields: &[
            Field {
                name: "rowid",
                column: "in_htlc_id",
                expr: Some("rowid"),
                kind: Col::Int,
            },
            f("in_channel_scid", Col::Scid),
            f("in_htlc_id", Col::Int),
            f("out_channel_scid", Col::Scid),
            f("out_htlc_id", Col::Int),
            f("in_msatoshi", Col::Int),
            f("out_msatoshi", Col::Int),
            f("state", Col::Enum(forward_status)),
            f("failcode", Col::Int),
            f("forward_style", Col::Int),
            f("received_time", Col::Time),
            f("resolved_time", Col::Time),
            f("updated_index", Col::Int),
        ],
    },
];

fn scid_text(v: i64) -> String {
    format!("{}x{}x{}", v >> 40, (v >> 16) & 0xFF_FFFF, v & 0xFFFF)
}

fn json_value(v: ValueRef<'_>, kind: Col, r: &Redactor) -> Value {
    match (v, kind) {
        (ValueRef::Null, _) => Value::Null,
        (_, Col::Time) => Value::String(super::redact::placeholder::TIME.into()),
        (_, Col::Random) => Value::String(super::redact::placeholder::RANDOM.into()),
        (ValueRef::Integer(i), Col::Enum(name)) => {
            Value::String(name(i).map_or_else(|| format!("UNKNOWN({i})"), str::to_string))
        }
        (ValueRef::Integer(i), Col::Scid) => Value::String(r.redact(&scid_text(i))),
        (ValueRef::Integer(i), _) => Value::from(i),
        (ValueRef::Real(x), _) => Value::from(x),
        (ValueRef::Blob(b), Col::Hex) => Value::String(r.redact(&hex::encode(b))),
        (ValueRef::Blob(b), _) => match std::str::from_utf8(b) {
            Ok(s) => Value::String(r.redact(s)),
            Err(_) => Value::String(r.redact(&hex::encode(b))),
        },
        (ValueRef::Text(t), _) => Value::String(r.redact(&String::from_utf8_lossy(t))),
    }
}

fn table_rows(conn: &Connection, t: &Table, r: &Redactor) -> Result<Option<Value>, DbErrorKind> {
    if !q("looking for tables", dbread::table_exists(conn, t.name))? {
        return Ok(None);
    }
    let present = q(
        format!("table_info({})", t.name),
        dbread::columns(conn, t.name),
    )?;
    let fields: Vec<&Field> = t
        .fields
        .iter()
        .filter(|f| present.iter().any(|c| c == f.column))
        .collect();
    if fields.is_empty() {
        return Ok(Some(Value::Array(vec![])));
    }
    let select: Vec<String> = fields
        .iter()
        .map(|f| f.expr.unwrap_or(f.column).to_string())
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        select.join(", "),
        t.name,
        t.order_by
    );
    let mut st = q(sql.clone(), conn.prepare(&sql))?;
    let mut rows = q(sql.clone(), st.query([]))?;
    let mut out = Vec::new();
    while let Some(row) = q(sql.clone(), rows.next())? {
        let mut obj = Map::new();
        for (i, f) in fields.iter().enumerate() {
            let v = q(sql.clone(), row.get_ref(i))?;
            obj.insert(f.name.to_string(), json_value(v, f.kind, r));
        }
        out.push(Value::Object(obj));
    }
    Ok(Some(Value::Array(out)))
}

fn vars(conn: &Connection, r: &Redactor) -> Result<Value, DbErrorKind> {
    let cols = q("table_info(vars)", dbread::columns(conn, "vars"))?;
    let has = |c: &str| cols.iter().any(|x| x == c);
    let sql = format!(
        "SELECT name, val, {}, {} FROM vars ORDER BY name",
        if has("intval") { "intval" } else { "NULL" },
        if has("blobval") { "blobval" } else { "NULL" }
    );
    let mut st = q(sql.clone(), conn.prepare(&sql))?;
    let mut rows = q(sql.clone(), st.query([]))?;
    let mut out = Map::new();
    while let Some(row) = q(sql.clone(), rows.next())? {
        let name: String = q(sql.clone(), row.get(0))?;
        let val = q(sql.clone(), row.get_ref(1))?;
        let intval = q(sql.clone(), row.get_ref(2))?;
        let blobval = q(sql.clone(), row.get_ref(3))?;
        let v = if super::redact::is_volatile_var(&name) {
            Value::String(super::redact::placeholder::COUNT.into())
        } else if super::redact::is_time_var(&name) {
            json_value(
                if matches!(intval, ValueRef::Null) {
                    val
                } else {
                    intval
                },
                Col::Time,
                r,
            )
        } else if !matches!(intval, ValueRef::Null) {
            json_value(intval, Col::Int, r)
        } else if !matches!(blobval, ValueRef::Null) {
            json_value(blobval, Col::Hex, r)
        } else {
            match val {
                ValueRef::Text(t) => match String::from_utf8_lossy(t).trim().parse::<i64>() {
                    Ok(i) => Value::from(i),
                    Err(_) => json_value(val, Col::Text, r),
                },
                other => json_value(other, Col::Text, r),
            }
        };
        out.insert(name, v);
    }
    Ok(Value::Object(out))
}

/// The snapshot of an open connection (pure over the DB; no file system).
pub fn snapshot_conn(
    conn: &Connection,
    schema_version: i64,
    r: &Redactor,
) -> Result<Value, DbErrorKind> {
    let mut top = Map::new();
    top.insert("schema_version".into(), Value::from(schema_version));
    top.insert("vars".into(), vars(conn, r)?);
    for t in TABLES {
        if let Some(rows) = table_rows(conn, t, r)? {
            top.insert(t.name.into(), rows);
        }
    }
    Ok(Value::Object(top))
}

#[cfg(test)]
mod tests {
    use super::super::dbread::test_support::*;
    use super::*;

    const ALICE_25: &str = "03b3c02ede6192118ff2151032ff94f10c9473a289bbca17d054d2a7356163d6b0";
    const BOB_25: &str = "03cc84513415829782736fbc0be95c157e55335322dd511eda9d176166425f664b";

    fn names() -> Redactor {
        Redactor::with_names(&[
            ("alice".into(), ALICE_25.into()),
            ("bob".into(), BOB_25.into()),
        ])
    }

    fn snap(name: &str) -> Value {
        db_snapshot(&fixture_db(name), &names()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn insta_settings() -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.set_prepend_module_to_snapshot(false);
        s.set_snapshot_path("snapshots");
        s
    }

    #[test]
    fn issue_8269_the_crashed_db_shows_the_missing_htlcs_index_next_to_four_htlcs() {
        let v = snap("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3");
        assert_eq!(v["schema_version"], 267);
        assert_eq!(
            v["vars"]["last_forwards_created_index"], 4,
            "the typo'd migration wrote MAX(channel_htlcs.id) here"
        );
        assert!(v["vars"].get("last_htlcs_created_index").is_none());
        let ids: Vec<i64> = v["channel_htlcs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(v["forwards"], serde_json::json!([]));
        insta_settings().bind(|| insta::assert_json_snapshot!("alice-8269-crashed", v));
    }

    #[test]
    fn the_repaired_db_has_the_index_and_the_two_later_keysends() {
        let v = snap("alice-v25.02.1-then-1cc64dd67-then-v25.05.sqlite3");
        assert_eq!(v["vars"]["last_htlcs_created_index"], 6);
        let h = &v["channel_htlcs"][4];
        assert_eq!(h["direction"], "outgoing");
        assert_eq!(h["hstate"], "RCVD_REMOVE_ACK_REVOCATION");
        assert_eq!(h["msatoshi"], 10000);
        assert_eq!(h["payment_hash"], "<hash>");
        assert_eq!(v["channels"][0]["peer"], "<bob.id>");
        assert_eq!(v["channels"][0]["state"], "CHANNELD_NORMAL");
        assert_eq!(v["channels"][0]["scid"], "<scid>");
        assert_eq!(v["vars"]["node_id"], "<alice.id>");
        assert_eq!(v["vars"]["data_version"], "<n>");
        assert_eq!(v["payments"][0]["timestamp"], "<time>");
        insta_settings().bind(|| insta::assert_json_snapshot!("alice-8269-repaired-by-v25.05", v));
    }

    #[test]
    fn two_runs_of_the_same_scenario_give_the_same_snapshot() {
        // Two separate `up` runs on v25.05: 3 keysends alice->bob, alice pays bob's invoice,
        // alice makes an unpaid invoice. Different txids, times, payment hashes, data_version.
        let a = db_snapshot(&fixture_db("alice-v25.05-run1.sqlite3"), &Redactor::new()).unwrap();
        let b = db_snapshot(&fixture_db("alice-v25.05-run2.sqlite3"), &Redactor::new()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["invoices"][0]["label"], "alice-unpaid");
        assert_eq!(a["payments"].as_array().unwrap().len(), 4);
        // The raw rows did differ.
        let raw = |n: &str| {
            let db = dbread::open_read_only(&fixture_db(n)).unwrap();
            db.conn
                .query_row(
                    "SELECT hex(payment_hash) FROM payments WHERE id = 1",
                    [],
                    |r| r.get::<_, String>(0),
                )
                .unwrap()
        };
        assert_ne!(
            raw("alice-v25.05-run1.sqlite3"),
            raw("alice-v25.05-run2.sqlite3")
        );
    }

    #[test]
    fn old_and_new_schemas_snapshot_with_the_columns_they_have() {
        let old = snap("alice-v25.02.1.sqlite3");
        assert_eq!(old["schema_version"], 263);
        assert!(
            old["channel_htlcs"][0].get("updated_index").is_none(),
            "no such column before schema 264"
        );
        let new = db_snapshot(&fixture_db("alice-v26.06.6.sqlite3"), &Redactor::new()).unwrap();
        assert_eq!(new["schema_version"], 282);
        assert_eq!(
            new["vars"]["last_networkevents_created_index"], "<n>",
            "timing decides it: redacted"
        );
        assert_eq!(new["channel_htlcs"][0]["updated_index"], 9);
    }

    #[test]
    fn snapshots_never_write_and_refuse_non_lightningd_files() {
        let (dir, db) = copy_fixture("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3");
        let before = dir_state(dir.path());
        db_snapshot(&db, &Redactor::new()).unwrap();
        assert_eq!(dir_state(dir.path()), before);
        let other = dir.path().join("other.sqlite3");
        rusqlite::Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE version (version INTEGER);")
            .unwrap();
        let e = db_snapshot(&other, &Redactor::new()).unwrap_err();
        assert!(
            matches!(e.kind, DbErrorKind::NotLightningd { missing: "vars" }),
            "{e}"
        );
    }

    #[test]
    fn integer_scids_and_enums() {
        assert_eq!(scid_text(112150186098688), "102x1x0");
        assert_eq!(htlc_state(9), Some("RCVD_REMOVE_ACK_REVOCATION"));
        assert_eq!(htlc_state(20), None);
        assert_eq!(channel_state(3), Some("CHANNELD_NORMAL"));
        assert_eq!(
            json_value(
                ValueRef::Integer(99),
                Col::Enum(channel_state),
                &Redactor::new()
            ),
            Value::from("UNKNOWN(99)")
        );
    }
}
