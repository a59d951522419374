//! check-db's accounting and payment invariants: rules lightningd and its
//! plugins rely on that the schema does not enforce. From v25.09 the coin
//! movements live in lightningd's own tables (`chain_moves`,
//! `channel_moves`, `move_accounts`, migrations 272..276) and the
//! bookkeeper plugin replays them; a database that breaks these rules makes
//! it report wrong balances or die.
//!
//! Each rule names where it comes from in CLN's source, the schema version
//! it applies from, and what happens when it is broken. Pure over a
//! read-only connection.

use super::checkdb::{CheckReport, Finding, Severity};
use super::dbread::{self, q, DbErrorKind};
use rusqlite::Connection;

/// One invariant, as `check-db --explain` lists it.
#[derive(Debug, Clone, Copy)]
pub struct Invariant {
    pub id: &'static str,
    /// First schema version whose tables this applies to.
    pub since_version: i64,
    pub rule: &'static str,
    /// Where CLN relies on it.
    pub source: &'static str,
}

/// `chain_moves` and `channel_moves` come with migrations 273 and 274 (v25.09).
pub const MOVES_SINCE: i64 = 274;
/// `channel_htlcs.groupid` (migration 184) joins HTLCs to payment parts.
pub const HTLC_PARTS_SINCE: i64 = 184;

pub const INVARIANTS: &[Invariant] = &[
    Invariant {
        id: "moves/chain-once",
        since_version: MOVES_SINCE,
        rule: "no chain movement recorded twice: (account, utxo, spending_txid, tags) is unique in chain_moves",
        source: "wallet/wallet.c wallet_save_chain_mvt: chain replay after a restart or reorg re-sends movements, which are de-duplicated on exactly these columns before insert",
    },
    Invariant {
        id: "moves/payment-part-once",
        since_version: MOVES_SINCE,
        rule: "no payment part settled twice: (account, payment_hash, part id, group id, direction) is unique in channel_moves",
        source: "lightningd/coin_mvts.c new_channel_mvt_invoice_hout: one movement per settled outgoing HTLC of a payment part",
    },
    Invariant {
        id: "moves/balance",
        since_version: MOVES_SINCE,
        rule: "every account's credits cover its debits over chain_moves and channel_moves together",
        source: "plugins/bkpr/bookkeeper.c do_list_balances: plugin_err(\"Account balance underflow for account ...\")",
    },
    Invariant {
        id: "payments/complete-has-preimage",
        since_version: 31,
        rule: "a complete payment (payments.status = 1) has its payment_preimage",
        source: "wallet/wallet.c wallet_payment_set_status stores the preimage with PAYMENT_COMPLETE; listsendpays/listpays print it for every complete part",
    },
    Invariant {
        id: "payments/complete-not-all-failed",
        since_version: HTLC_PARTS_SINCE,
        rule: "a complete payment part is not one whose outgoing HTLCs (same payment_hash, partid, groupid) all failed",
        source: "lightningd/pay.c payment_succeeded is only reached from a fulfilled htlc_out; a failed one goes to payment_failed",
    },
];

/// Run every invariant whose tables this schema has.
pub fn run(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    let version = report.schema_version;
    let has = |t: &str| q("looking for tables", dbread::table_exists(conn, t));
    for inv in INVARIANTS {
        if version < inv.since_version {
            continue;
        }
        let tables_there = match inv.id {
            "moves/chain-once" => has("chain_moves")?,
            "moves/payment-part-once" => has("channel_moves")?,
            "moves/balance" => has("chain_moves")? && has("channel_moves")?,
            _ => has("payments")? && has("channel_htlcs")?,
        };
        if !tables_there {
            continue;
        }
        report.checks_run.push(format!("{}: {}", inv.id, inv.rule));
        match inv.id {
            "moves/chain-once" => chain_once(conn, report)?,
            "moves/payment-part-once" => payment_part_once(conn, report)?,
            "moves/balance" => balance(conn, report)?,
            "payments/complete-has-preimage" => complete_has_preimage(conn, report)?,
            _ => complete_not_all_failed(conn, report)?,
        }
    }
    Ok(())
}

/// `channels.id = 3` or `move_accounts 'wallet'`.
const ACCOUNT_NAME: &str = "CASE WHEN m.account_channel_id IS NOT NULL THEN 'channels.id = ' || m.account_channel_id \
     ELSE 'move_accounts ' || quote((SELECT name FROM move_accounts a WHERE a.id = m.account_nonchannel_id)) END";

fn rows(conn: &Connection, sql: &str, width: usize) -> Result<Vec<Vec<String>>, DbErrorKind> {
    let mut stmt = q(sql.to_string(), conn.prepare(sql))?;
    let out = stmt.query_map([], |r| {
        (0..width)
            .map(|i| {
                r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                    rusqlite::types::Value::Null => "NULL".to_string(),
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Real(f) => f.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Blob(b) => hex::encode(b),
                })
            })
            .collect::<rusqlite::Result<Vec<String>>>()
    });
    q(sql.to_string(), out.and_then(|it| it.collect()))
}

fn chain_once(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    let sql = format!(
        "SELECT {ACCOUNT_NAME}, hex(m.utxo), COUNT(*), group_concat(m.id), SUM(m.credit_or_debit) FROM chain_moves m \
         GROUP BY m.account_channel_id, m.account_nonchannel_id, m.utxo, m.spending_txid, m.tag_bitmap HAVING COUNT(*) > 1"
    );
    for r in rows(conn, &sql, 5)? {
        report.findings.push(Finding {
            check: "moves/chain-once".into(),
            severity: Severity::Warning,
            table: Some("chain_moves".into()),
            row: Some(format!("chain_moves.id IN ({})", r[3])),
            what: format!("{} movements of {} on utxo {} with the same spending transaction and tags, {} msat in all", r[2], r[0], r[1], r[4]),
            consequence: "the bookkeeper counts the movement more than once: balances, income and fee reports are off by it, and a doubled debit can underflow the account (then bkpr-listbalances kills the bookkeeper)".into(),
            issues: vec![],
            remedy: None,
        });
    }
    Ok(())
}

fn payment_part_once(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    let sql = format!(
        "SELECT {ACCOUNT_NAME}, hex(m.payment_hash), m.payment_part_id, m.payment_group_id, COUNT(*), group_concat(m.id) FROM channel_moves m \
         WHERE m.payment_hash IS NOT NULL AND m.payment_part_id IS NOT NULL \
         GROUP BY m.account_channel_id, m.account_nonchannel_id, m.payment_hash, m.payment_part_id, m.payment_group_id, m.credit_or_debit < 0 HAVING COUNT(*) > 1"
    );
    for r in rows(conn, &sql, 6)? {
        report.findings.push(Finding {
            check: "moves/payment-part-once".into(),
            severity: Severity::Warning,
            table: Some("channel_moves".into()),
            row: Some(format!("channel_moves.id IN ({})", r[5])),
            what: format!("part {} (group {}) of payment {} moved {} times on {}", r[2], r[3], r[1], r[4], r[0]),
            consequence: "the bookkeeper counts the payment part more than once: the account's balance and the payment's fees are wrong".into(),
            issues: vec![],
            remedy: None,
        });
    }
    Ok(())
}

fn balance(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    let sql = format!(
        "SELECT {ACCOUNT_NAME}, SUM(CASE WHEN m.credit_or_debit > 0 THEN m.credit_or_debit ELSE 0 END), \
         -SUM(CASE WHEN m.credit_or_debit < 0 THEN m.credit_or_debit ELSE 0 END), SUM(m.credit_or_debit) FROM \
         (SELECT account_channel_id, account_nonchannel_id, credit_or_debit FROM chain_moves \
          UNION ALL SELECT account_channel_id, account_nonchannel_id, credit_or_debit FROM channel_moves) m \
         GROUP BY m.account_channel_id, m.account_nonchannel_id HAVING SUM(m.credit_or_debit) < 0"
    );
    for r in rows(conn, &sql, 4)? {
        report.findings.push(Finding {
            check: "moves/balance".into(),
            severity: Severity::Crash,
            table: Some("chain_moves, channel_moves".into()),
            row: Some(r[0].clone()),
            what: format!("{}: credits {} msat, debits {} msat, balance {} msat", r[0], r[1], r[2], r[3]),
            consequence: "bkpr-listbalances fails with plugin_err \"Account balance underflow for account ...\", which kills the bookkeeper plugin (and lightningd with it where the plugin is important)".into(),
            issues: vec![],
            remedy: None,
        });
    }
    Ok(())
}

fn complete_has_preimage(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    let sql = "SELECT p.id, hex(p.payment_hash) FROM payments p WHERE p.status = 1 AND p.payment_preimage IS NULL";
    for r in rows(conn, sql, 2)? {
        report.findings.push(Finding {
            check: "payments/complete-has-preimage".into(),
            severity: Severity::Warning,
            table: Some("payments".into()),
            row: Some(format!("payments.id = {}", r[0])),
            what: format!("payment {} is complete but has no payment_preimage", r[1]),
            consequence: "listsendpays and listpays show a complete payment without its proof of payment; callers that read payment_preimage of every complete part get nothing".into(),
            issues: vec![],
            remedy: None,
        });
    }
    Ok(())
}

fn complete_not_all_failed(conn: &Connection, report: &mut CheckReport) -> Result<(), DbErrorKind> {
    let columns = q("table_info", dbread::columns(conn, "payments"))?;
    if !["partid", "groupid"]
        .iter()
        .all(|c| columns.iter().any(|x| x == c))
    {
        return Ok(());
    }
    // direction 1 is DIRECTION_OUTGOING (wallet/wallet.h); a failed HTLC
    // carries a failure onion, a local failure, or a malformed code.
    let part = "h.direction = 1 AND h.payment_hash = p.payment_hash AND h.partid = p.partid AND h.groupid = p.groupid";
    let failed = "(h.failuremsg IS NOT NULL OR h.localfailmsg IS NOT NULL OR COALESCE(h.malformed_onion, 0) != 0)";
    let sql = format!(
        "SELECT p.id, hex(p.payment_hash), p.partid, p.groupid, (SELECT group_concat(h.id) FROM channel_htlcs h WHERE {part}) FROM payments p \
         WHERE p.status = 1 AND EXISTS (SELECT 1 FROM channel_htlcs h WHERE {part}) \
         AND NOT EXISTS (SELECT 1 FROM channel_htlcs h WHERE {part} AND NOT {failed})"
    );
    for r in rows(conn, &sql, 5)? {
        report.findings.push(Finding {
            check: "payments/complete-not-all-failed".into(),
            severity: Severity::Warning,
            table: Some("payments, channel_htlcs".into()),
            row: Some(format!("payments.id = {}; channel_htlcs.id IN ({})", r[0], r[4])),
            what: format!("part {} (group {}) of payment {} is complete, but every outgoing HTLC for it failed", r[2], r[3], r[1]),
            consequence: "the payer reports a payment as made that never reached the payee: listpays shows it complete, and nothing retries it".into(),
            issues: vec![],
            remedy: None,
        });
    }
    Ok(())
}

/// `check-db --explain`: every check this doctor runs, with the schema
/// versions it applies to.
pub fn explain() -> String {
    use super::checkdb::{
        first_release_with, release_for_schema, CREATED_INDEXES, NEWEST_KNOWN_SCHEMA,
        UPDATED_INDEXES,
    };
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
    for inv in INVARIANTS {
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

#[cfg(test)]
mod tests {
    use super::super::checkdb::check_db;
    use super::super::dbread::test_support::*;

    /// Real databases: alice paid bob twice through a channel still open
    /// (v25.09.1), bob forwarded both (v25.09.1), alice closed a channel on
    /// v25.09 and was upgraded to v26.06.6 (fixtures/evidence/README.md).
    const REAL: &[&str] = &[
        "alice-v25.09.1-payer.sqlite3",
        "bob-v25.09.1-forwarder.sqlite3",
        "alice-v25.09-closed-then-v26.06.6.sqlite3",
    ];

    fn ids(name: &str, tamper: &str) -> Vec<(String, String)> {
        let (_dir, db) = copy_fixture(name);
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(tamper)
            .unwrap();
        check_db(&db)
            .unwrap()
            .findings
            .into_iter()
            .map(|f| (f.check, f.what))
            .collect()
    }

    #[test]
    fn real_databases_with_moves_are_clean_and_every_invariant_ran() {
        for name in REAL {
            let r = check_db(&fixture_db(name)).unwrap();
            assert!(r.is_clean(), "{name}: {:#?}", r.findings);
            for inv in super::INVARIANTS {
                assert!(
                    r.checks_run.iter().any(|c| c.starts_with(inv.id)),
                    "{name}: {} did not run",
                    inv.id
                );
            }
        }
    }

    #[test]
    fn a_chain_movement_recorded_twice_is_found() {
        let cols = "account_channel_id, account_nonchannel_id, tag_bitmap, credit_or_debit, timestamp, utxo, spending_txid, peer_id, payment_hash, block_height, output_sat, originating_channel_id, originating_nonchannel_id, output_count";
        let f = ids(REAL[2], &format!(
            "INSERT INTO chain_moves (id, {cols}) SELECT (SELECT MAX(id) + 1 FROM chain_moves), {cols} FROM chain_moves WHERE id = 1;\
             UPDATE vars SET intval = intval + 1 WHERE name = 'last_chainmoves_created_index';"
        ));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].0, "moves/chain-once");
        assert!(
            f[0].1
                .starts_with("2 movements of move_accounts 'wallet' on utxo "),
            "{}",
            f[0].1
        );
    }

    #[test]
    fn a_payment_part_moved_twice_is_found() {
        let cols = "account_channel_id, account_nonchannel_id, tag_bitmap, credit_or_debit, timestamp, payment_hash, payment_part_id, payment_group_id, fees";
        let f = ids(REAL[0], &format!(
            "INSERT INTO channel_moves (id, {cols}) SELECT (SELECT MAX(id) + 1 FROM channel_moves), {cols} FROM channel_moves WHERE id = 2;\
             UPDATE vars SET intval = intval + 1 WHERE name = 'last_channelmoves_created_index';"
        ));
        // Doubling a debit also drives the account's balance: only the duplicate is flagged here.
        assert!(
            f.iter().any(|(c, w)| c == "moves/payment-part-once"
                && w.contains("moved 2 times on channels.id = ")),
            "{f:?}"
        );
    }

    #[test]
    fn an_account_in_debt_kills_the_bookkeeper() {
        let (_dir, db) = copy_fixture(REAL[2]);
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(
                "UPDATE chain_moves SET credit_or_debit = -credit_or_debit WHERE id = 1;",
            )
            .unwrap();
        let r = check_db(&db).unwrap();
        let f = r
            .findings
            .iter()
            .find(|f| f.check == "moves/balance")
            .expect("a balance finding");
        assert_eq!(f.severity, super::Severity::Crash);
        assert_eq!(f.row.as_deref(), Some("move_accounts 'wallet'"));
        assert!(
            f.what.contains("balance -") && f.consequence.contains("Account balance underflow"),
            "{f:?}"
        );
    }

    #[test]
    fn payments_that_cannot_be_complete_are_found() {
        let f = ids(
            REAL[0],
            "UPDATE payments SET payment_preimage = NULL WHERE id = 1;",
        );
        assert_eq!(
            f.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            ["payments/complete-has-preimage"]
        );
        let f = ids(REAL[0], "UPDATE channel_htlcs SET payment_key = NULL, localfailmsg = x'2002' WHERE direction = 1 AND id = (SELECT MIN(id) FROM channel_htlcs WHERE direction = 1);");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].0, "payments/complete-not-all-failed");
        assert!(
            f[0].1
                .contains("is complete, but every outgoing HTLC for it failed"),
            "{}",
            f[0].1
        );
    }

    #[test]
    fn older_schemas_skip_the_moves_rules_and_explain_says_from_when() {
        let r = check_db(&fixture_db("alice-v25.05-run1.sqlite3")).unwrap();
        assert!(
            !r.checks_run.iter().any(|c| c.starts_with("moves/")),
            "{:?}",
            r.checks_run
        );
        assert!(r
            .checks_run
            .iter()
            .any(|c| c.starts_with("payments/complete-has-preimage")));
        let e = super::explain();
        assert!(
            e.contains("moves/balance                    schema >= 274 (from v25.09)"),
            "{e}"
        );
        assert!(
            e.contains("created-index/htlcs          schema >= 266 (from v25.05)"),
            "{e}"
        );
    }
}
