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

use super::checkreport::{CheckReport, Finding, Severity};
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
        rule: "no chain movement recorded twice: (account, utxo, spending_txid, primary tag) is unique in chain_moves, a channel's account counted once whether filed by its row or by its name",
        source: "wallet/wallet.c wallet_save_chain_mvt (find_duplicate_chain_move from v25.09.1): chain replay after a restart or reorg re-sends movements, which are de-duplicated on exactly these before insert; v25.09 compared only one account form, and v25.09.1's migration 277 deletes the copies that let through",
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
        rule: "every account's credits cover its debits over chain_moves and channel_moves together (a channel's rows filed by row and by name are one account, as the bookkeeper sees it)",
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
    // INVARIANTS lists the duplicate rules before the balance, so a
    // duplicate is reported (and named as the cause) before the debt it makes.
    let mut dups = Vec::new();
    for inv in INVARIANTS {
        if version < inv.since_version {
            continue;
        }
        let tables_there = match inv.id {
            // Every moves rule resolves accounts through channels and move_accounts.
            "moves/chain-once" => has("chain_moves")? && has("channels")? && has("move_accounts")?,
            "moves/payment-part-once" => {
                has("channel_moves")? && has("channels")? && has("move_accounts")?
            }
            "moves/balance" => {
                has("chain_moves")?
                    && has("channel_moves")?
                    && has("channels")?
                    && has("move_accounts")?
            }
            _ => has("payments")? && has("channel_htlcs")?,
        };
        if !tables_there {
            continue;
        }
        report.checks_run.push(format!("{}: {}", inv.id, inv.rule));
        match inv.id {
            "moves/chain-once" => dups.extend(chain_once(conn, report)?),
            "moves/payment-part-once" => dups.extend(payment_part_once(conn, report)?),
            "moves/balance" => balance(conn, &dups, report)?,
            "payments/complete-has-preimage" => complete_has_preimage(conn, report)?,
            _ => complete_not_all_failed(conn, report)?,
        }
    }
    Ok(())
}

/// Every movement of `table` with its account resolved once. lightningd
/// stores a move's account in one of two forms: `account_channel_id` (the
/// channel's row in `channels`) or `account_nonchannel_id` (a name in
/// `move_accounts`: `wallet`, `external`, or a channel's id in hex). One
/// channel can have rows in both: v25.09's bookkeeper migration
/// (`wallet/account_migration.c`, migration 276) files every imported move
/// by name, the moves recorded live while the channel exists go by row, and
/// `wallet_channel_close` renames a forgotten channel's rows to the name.
/// listchainmoves and the bookkeeper show both forms as the channel id in
/// hex, so every rule here keys an account the same way: `account` is that
/// name (the channel's `full_channel_id` in hex for a row), `filed_under`
/// says which form this row used.
fn resolved(table: &str) -> String {
    format!(
        "SELECT x.*, \
           CASE WHEN x.account_channel_id IS NOT NULL \
                THEN COALESCE(NULLIF(lower(hex(c.full_channel_id)), ''), 'channels.id = ' || x.account_channel_id) \
                ELSE COALESCE(a.name, 'move_accounts.id = ' || x.account_nonchannel_id, 'no account') END AS account, \
           CASE WHEN x.account_channel_id IS NOT NULL THEN 'channels.id = ' || x.account_channel_id \
                ELSE 'move_accounts.id = ' || COALESCE(x.account_nonchannel_id, 'NULL') END AS filed_under \
         FROM {table} x LEFT JOIN channels c ON c.id = x.account_channel_id \
         LEFT JOIN move_accounts a ON a.id = x.account_nonchannel_id"
    )
}

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

/// `common/coin_mvt.c` PRIMARY_TAG_BITS: every tag but opener (18), leased
/// (20), stealable (21), splice (23) and foreign (26). A move has exactly one
/// primary tag, and CLN de-duplicates on it, not on the whole bitmap.
const PRIMARY_TAG_BITS: i64 = ((1 << 28) - 1) & !(1 << 18 | 1 << 20 | 1 << 21 | 1 << 23 | 1 << 26);

/// `common/coin_mvt.c` mvt_tags[], indexed by bit (the bit is the enum value).
const TAG_NAMES: [&str; 28] = [
    "deposit",
    "withdrawal",
    "penalty",
    "invoice",
    "routed",
    "pushed",
    "channel_open",
    "channel_close",
    "delayed_to_us",
    "htlc_timeout",
    "htlc_fulfill",
    "htlc_tx",
    "to_wallet",
    "anchor",
    "to_them",
    "penalized",
    "stolen",
    "to_miner",
    "opener",
    "lease_fee",
    "leased",
    "stealable",
    "channel_proposed",
    "splice",
    "penalty_adj",
    "journal_entry",
    "foreign",
    "ignored",
];

/// "channel_close", or the bits when they hold no single primary tag.
fn primary_tag(bitmap: i64) -> String {
    let primary = bitmap & PRIMARY_TAG_BITS;
    match TAG_NAMES.get(primary.trailing_zeros() as usize) {
        Some(name) if primary.count_ones() == 1 => (*name).to_string(),
        _ => format!("tag_bitmap {bitmap:#x}"),
    }
}

/// `db_bind_outpoint`: the txid's 32 bytes as hashed, then the output index
/// big-endian. Shown as listchainmoves does, `<txid>:<n>`.
fn outpoint(utxo: &[u8]) -> String {
    match (
        utxo.get(..32),
        utxo.get(32..).and_then(|n| <[u8; 4]>::try_from(n).ok()),
    ) {
        (Some(txid), Some(n)) => {
            let mut txid = txid.to_vec();
            txid.reverse();
            format!("{}:{}", hex::encode(txid), u32::from_be_bytes(n))
        }
        _ => format!("x'{}'", hex::encode(utxo)),
    }
}

/// One stored copy of a movement.
struct MoveCopy {
    id: i64,
    filed_under: String,
    amount: i64,
}

/// A movement stored more than once in one account, oldest copy first.
struct Duplicate {
    table: &'static str,
    account: String,
    copies: Vec<MoveCopy>,
}

impl Duplicate {
    /// What the copies after the first add to the account: CLN's own clean-up
    /// (migration 277) keeps the oldest and deletes the rest.
    fn extra(&self) -> i64 {
        self.copies.iter().skip(1).map(|c| c.amount).sum()
    }

    /// Filed under a channel's row and under its name: the v25.09 migration's copy.
    fn across_forms(&self) -> bool {
        let by_row = self
            .copies
            .iter()
            .any(|c| c.filed_under.starts_with("channels."));
        by_row
            && self
                .copies
                .iter()
                .any(|c| !c.filed_under.starts_with("channels."))
    }

    fn ids(&self) -> String {
        self.copies
            .iter()
            .map(|c| c.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// "chain_moves.id = 2 under move_accounts.id = 3 (by name), chain_moves.id = 7 under channels.id = 1 (by channel row); -875000000 msat each".
    fn rows(&self) -> String {
        let each = self.copies.iter().map(|c| {
            let form = if c.filed_under.starts_with("channels.") {
                "the channel's row"
            } else {
                "the account's name"
            };
            format!(
                "{}.id = {} under {} ({form})",
                self.table, c.id, c.filed_under
            )
        });
        let each = each.collect::<Vec<_>>().join(", ");
        let first = self.copies[0].amount;
        if self.copies.iter().all(|c| c.amount == first) {
            format!("{each}; {first} msat each")
        } else {
            let amounts: Vec<String> = self
                .copies
                .iter()
                .map(|c| format!("{} msat", c.amount))
                .collect();
            format!("{each}; {} respectively", amounts.join(", "))
        }
    }
}

/// Rows of a duplicate-finding query, (id, account, filed_under, group key
/// columns..., amount) ordered by group then id, folded into duplicates.
fn fold_copies(
    rows: Vec<(i64, String, String, Vec<String>, i64)>,
    table: &'static str,
) -> Vec<(Duplicate, Vec<String>)> {
    let mut out: Vec<(Duplicate, Vec<String>)> = Vec::new();
    for (id, account, filed_under, key, amount) in rows {
        let copy = MoveCopy {
            id,
            filed_under,
            amount,
        };
        match out.last_mut() {
            Some((d, k)) if d.account == account && *k == key => d.copies.push(copy),
            _ => out.push((
                Duplicate {
                    table,
                    account,
                    copies: vec![copy],
                },
                key,
            )),
        }
    }
    out
}

/// The consequence and remedy shared by both duplicate rules.
fn duplicate_finding(
    d: &Duplicate,
    check: &str,
    what: String,
    counted: &str,
    version: i64,
) -> Finding {
    let (why, issues, remedy) = if d.across_forms() {
        (
            " This copy is v25.09's: its bookkeeper migration files the channel's moves by account name, the chain replay at the next start files the same move by the channel's row, and v25.09's de-duplication in wallet_save_chain_mvt compared only the row form (fixed in v25.09.1, 826d9b1d7).",
            vec!["ElementsProject/lightning#8549".to_string(), "ElementsProject/lightning#8582".to_string()],
            (version < 277).then(|| "start this node on v25.09.1 or later: its migration 277 (migrate_remove_chain_moves_duplicates, a4cbd0bfb) keeps the oldest copy and deletes the others".to_string()),
        )
    } else {
        ("", vec![], None)
    };
    Finding {
        check: check.into(),
        severity: Severity::Warning,
        table: Some(d.table.into()),
        row: Some(format!("{}.id IN ({})", d.table, d.ids())),
        what,
        consequence: format!("the bookkeeper counts {counted} more than once: balances, income and fee reports are off by it, and a doubled debit can underflow the account (then bkpr-listbalances kills the bookkeeper).{why}"),
        issues,
        remedy,
    }
}

fn chain_once(conn: &Connection, report: &mut CheckReport) -> Result<Vec<Duplicate>, DbErrorKind> {
    // Same account (either form), utxo, spending transaction (or none) and
    // primary tag: find_duplicate_chain_move's key in v25.09.1's wallet.c.
    let sql = format!(
        "WITH m AS ({}), \
         d AS (SELECT m.*, COUNT(*) OVER (PARTITION BY account, utxo, spending_txid, tag_bitmap & {PRIMARY_TAG_BITS}) AS copies FROM m) \
         SELECT id, account, filed_under, utxo, COALESCE(hex(spending_txid), ''), tag_bitmap, credit_or_debit FROM d \
         WHERE copies > 1 ORDER BY account, utxo, spending_txid, tag_bitmap & {PRIMARY_TAG_BITS}, id",
        resolved("chain_moves")
    );
    let mut stmt = q(sql.clone(), conn.prepare(&sql))?;
    let rows = stmt.query_map([], |r| {
        let utxo: Vec<u8> = r.get(3)?;
        let tags: i64 = r.get(5)?;
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            vec![outpoint(&utxo), r.get::<_, String>(4)?, primary_tag(tags)],
            r.get::<_, i64>(6)?,
        ))
    });
    let rows = q(
        sql.clone(),
        rows.and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
    )?;
    let mut dups = Vec::new();
    for (d, key) in fold_copies(rows, "chain_moves") {
        let what = format!(
            "{} movement of account '{}' on utxo {} recorded {} times with the same spending transaction: {}",
            key[2],
            d.account,
            key[0],
            d.copies.len(),
            d.rows()
        );
        report.findings.push(duplicate_finding(
            &d,
            "moves/chain-once",
            what,
            "the movement",
            report.schema_version,
        ));
        dups.push(d);
    }
    Ok(dups)
}

fn payment_part_once(
    conn: &Connection,
    report: &mut CheckReport,
) -> Result<Vec<Duplicate>, DbErrorKind> {
    let sql = format!(
        "WITH m AS ({}), \
         d AS (SELECT m.*, COUNT(*) OVER (PARTITION BY account, payment_hash, payment_part_id, payment_group_id, credit_or_debit < 0) AS copies \
               FROM m WHERE payment_hash IS NOT NULL AND payment_part_id IS NOT NULL) \
         SELECT id, account, filed_under, hex(payment_hash), payment_part_id, COALESCE(payment_group_id, 'NULL'), credit_or_debit < 0, credit_or_debit FROM d \
         WHERE copies > 1 ORDER BY account, payment_hash, payment_part_id, payment_group_id, credit_or_debit < 0, id",
        resolved("channel_moves")
    );
    let mut stmt = q(sql.clone(), conn.prepare(&sql))?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            vec![
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?.to_string(),
                r.get::<_, rusqlite::types::Value>(5).map(|v| match v {
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    _ => "NULL".to_string(),
                })?,
                r.get::<_, i64>(6)?.to_string(),
            ],
            r.get::<_, i64>(7)?,
        ))
    });
    let rows = q(
        sql.clone(),
        rows.and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
    )?;
    let mut dups = Vec::new();
    for (d, key) in fold_copies(rows, "channel_moves") {
        let what = format!(
            "part {} (group {}) of payment {} moved {} times on account '{}': {}",
            key[1],
            key[2],
            key[0],
            d.copies.len(),
            d.account,
            d.rows()
        );
        report.findings.push(duplicate_finding(
            &d,
            "moves/payment-part-once",
            what,
            "the payment part",
            report.schema_version,
        ));
        dups.push(d);
    }
    Ok(dups)
}

/// Accounts in debt, over both tables with every account resolved once (a
/// channel's rows by name and by row are one account, as the bookkeeper
/// sees it). `dups` are the duplicates found above: when they are what puts
/// an account in debt, the finding says so, so the cause is named first.
fn balance(
    conn: &Connection,
    dups: &[Duplicate],
    report: &mut CheckReport,
) -> Result<(), DbErrorKind> {
    let cols = "account, filed_under, credit_or_debit";
    let sql = format!(
        "WITH m AS (SELECT {cols} FROM ({}) UNION ALL SELECT {cols} FROM ({})) \
         SELECT account, group_concat(DISTINCT filed_under), SUM(CASE WHEN credit_or_debit > 0 THEN credit_or_debit ELSE 0 END), \
         -SUM(CASE WHEN credit_or_debit < 0 THEN credit_or_debit ELSE 0 END), SUM(credit_or_debit) FROM m \
         GROUP BY account HAVING SUM(credit_or_debit) < 0 ORDER BY account",
        resolved("chain_moves"),
        resolved("channel_moves")
    );
    for r in rows(conn, &sql, 5)? {
        let mut forms: Vec<&str> = r[1].split(',').collect();
        forms.sort();
        let balance: i64 = r[4].parse().unwrap_or(0);
        let mine: Vec<&Duplicate> = dups.iter().filter(|d| d.account == r[0]).collect();
        let extra: i64 = mine.iter().map(|d| d.extra()).sum();
        let cause = if mine.is_empty() {
            String::new()
        } else {
            let copies: Vec<String> = mine
                .iter()
                .map(|d| format!("{}.id IN ({})", d.table, d.ids()))
                .collect();
            let without = balance - extra;
            if without >= 0 {
                format!(" This follows from the duplicate movement(s) above ({}): without the later copies the balance is {without} msat.", copies.join("; "))
            } else {
                format!(" The duplicate movement(s) above ({}) add to it: without the later copies the balance is still {without} msat.", copies.join("; "))
            }
        };
        report.findings.push(Finding {
            check: "moves/balance".into(),
            severity: Severity::Crash,
            table: Some("chain_moves, channel_moves".into()),
            row: Some(format!("account '{}'", r[0])),
            what: format!("account '{}' (filed under {}): credits {} msat, debits {} msat, balance {} msat", r[0], forms.join(" and "), r[2], r[3], r[4]),
            consequence: format!("bkpr-listbalances fails with plugin_err \"Account balance underflow for account ...\", which kills the bookkeeper plugin (and lightningd with it where the plugin is important).{cause}"),
            issues: if mine.iter().any(|d| d.across_forms()) {
                vec!["ElementsProject/lightning#8549".to_string(), "ElementsProject/lightning#8582".to_string()]
            } else {
                vec![]
            },
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

/// These run the whole doctor (`checkdb::check_db`) over real databases,
/// the way a user meets these rules; only the tests look up at `checkdb`.
#[cfg(test)]
mod tests {
    use super::super::checkdb::check_db;
    use super::super::dbread::test_support::*;

    /// Real databases: alice paid bob twice through a channel still open
    /// (v25.09.1), bob forwarded both (v25.09.1), alice closed a channel on
    /// v25.09 and was upgraded to v26.06.6; alice closed a channel on v25.05
    /// and was upgraded to v25.09.1, or to v25.09 and then v25.09.1
    /// (fixtures/evidence/README.md).
    const REAL: &[&str] = &[
        "alice-v25.09.1-payer.sqlite3",
        "bob-v25.09.1-forwarder.sqlite3",
        "alice-v25.09-closed-then-v26.06.6.sqlite3",
        "alice-v25.05-closed-then-v25.09.1.sqlite3",
        "alice-v25.05-closed-then-v25.09-then-v25.09.1.sqlite3",
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
        // The utxo as listchainmoves shows it: the txid byte-reversed, then the output.
        assert_eq!(
            f[0].1,
            "deposit movement of account 'wallet' on utxo 787d5030386f2b4b43c391e38692f3f2822fa47e77e56793c90708440d0d2950:1 \
             recorded 2 times with the same spending transaction: chain_moves.id = 1 under move_accounts.id = 1 (the account's name), \
             chain_moves.id = 6 under move_accounts.id = 1 (the account's name); 4998990000000 msat each"
        );
    }

    /// The v25.05 -> v25.09 upgrade after a close: the bookkeeper migration
    /// files the channel's channel_close under its account name (the channel
    /// id), the chain replay at the next start files it again under the
    /// channel's row, and v25.09 only compared the row. check-db used to miss
    /// the pair and report only the row's half of the account:
    /// `channels.id = 1: credits 0 msat, debits ...`. Here the fixture's own
    /// close (chain_moves.id = 4, by name) is replayed by row, as v25.09 does.
    fn close_replayed_by_row(schema: i64) -> super::CheckReport {
        let cols = "tag_bitmap, credit_or_debit, timestamp, utxo, spending_txid, peer_id, payment_hash, block_height, output_sat, originating_channel_id, originating_nonchannel_id, output_count";
        let (_dir, db) = copy_fixture(REAL[2]);
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(&format!(
                "INSERT INTO chain_moves (id, account_channel_id, account_nonchannel_id, {cols}) \
                 SELECT (SELECT MAX(id) + 1 FROM chain_moves), 1, NULL, {cols} FROM chain_moves WHERE id = 4;\
                 UPDATE vars SET intval = intval + 1 WHERE name = 'last_chainmoves_created_index';\
                 UPDATE version SET version = {schema};"
            ))
            .unwrap();
        check_db(&db).unwrap()
    }

    const CHANNEL: &str = "50290d0d440807c99367e5777ea42f82f2f39286e391c3434b2b6f3830507d78";

    #[test]
    fn a_close_filed_by_name_and_by_row_is_one_duplicate_named_before_the_debt() {
        let r = close_replayed_by_row(276);
        let checks: Vec<&str> = r.findings.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(
            checks,
            ["moves/chain-once", "moves/balance"],
            "{:#?}",
            r.findings
        );

        let dup = &r.findings[0];
        assert_eq!(dup.row.as_deref(), Some("chain_moves.id IN (4, 6)"));
        assert!(
            dup.what.starts_with(&format!(
                "channel_close movement of account '{CHANNEL}' on utxo "
            )),
            "{}",
            dup.what
        );
        assert!(
            dup.what.ends_with(
                "recorded 2 times with the same spending transaction: chain_moves.id = 4 under move_accounts.id = 3 (the account's name), \
                 chain_moves.id = 6 under channels.id = 1 (the channel's row); -875000000 msat each"
            ),
            "{}",
            dup.what
        );
        assert!(
            dup.consequence.contains("v25.09's de-duplication"),
            "{}",
            dup.consequence
        );
        assert!(dup
            .issues
            .contains(&"ElementsProject/lightning#8582".to_string()));
        assert!(
            dup.remedy
                .as_deref()
                .unwrap()
                .starts_with("start this node on v25.09.1 or later: its migration 277"),
            "{:?}",
            dup.remedy
        );

        // One account, both forms: the debt is the doubled close, and says so.
        let debt = &r.findings[1];
        assert_eq!(debt.severity, super::Severity::Crash);
        assert_eq!(debt.row.as_deref(), Some(&*format!("account '{CHANNEL}'")));
        assert_eq!(
            debt.what,
            format!("account '{CHANNEL}' (filed under channels.id = 1 and move_accounts.id = 3): credits 1000000000 msat, debits 1875000000 msat, balance -875000000 msat")
        );
        assert!(
            debt.consequence.ends_with(
                "This follows from the duplicate movement(s) above (chain_moves.id IN (4, 6)): without the later copies the balance is 0 msat."
            ),
            "{}",
            debt.consequence
        );
    }

    /// The real thing (fixtures/evidence/README.md): alice closed her
    /// channel on v25.05 and was upgraded to v25.09, whose bookkeeper then
    /// died on `Account balance underflow for account 203d62... (credit
    /// 1800000000msat, debit 3150000000msat)`. check-db names the doubled
    /// close first, then the same debt the bookkeeper saw.
    #[test]
    fn v25_09_doubles_a_close_made_on_v25_05_and_check_db_names_it_before_the_debt() {
        let r = check_db(&fixture_db("alice-v25.05-closed-then-v25.09.sqlite3")).unwrap();
        assert_eq!(
            (r.schema_version, r.schema_release.as_str()),
            (276, "v25.09")
        );
        let checks: Vec<&str> = r.findings.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(
            checks,
            ["moves/chain-once", "moves/balance"],
            "{:#?}",
            r.findings
        );
        let account = "203d623bb757bece3d3657310e4b108d5f0b9fd7979f952d9cb93eac362711a6";
        assert_eq!(
            r.findings[0].row.as_deref(),
            Some("chain_moves.id IN (4, 6)")
        );
        assert_eq!(
            r.findings[0].what,
            format!(
                "channel_close movement of account '{account}' on utxo a6112736ac3eb99c2d959f97d79f0b5f8d104b0e3157363dcebe57b73b623d20:0 \
                 recorded 2 times with the same spending transaction: chain_moves.id = 4 under move_accounts.id = 2 (the account's name), \
                 chain_moves.id = 6 under channels.id = 1 (the channel's row); -1350000000 msat each"
            )
        );
        assert!(r.findings[0]
            .remedy
            .as_deref()
            .unwrap()
            .contains("v25.09.1"));
        assert_eq!(
            r.findings[1].what,
            format!("account '{account}' (filed under channels.id = 1 and move_accounts.id = 2): credits 1800000000 msat, debits 3150000000 msat, balance -1350000000 msat")
        );
        assert!(
            r.findings[1].consequence.contains(
                "follows from the duplicate movement(s) above (chain_moves.id IN (4, 6))"
            ),
            "{}",
            r.findings[1].consequence
        );
    }

    #[test]
    fn v25_09_1_never_doubles_the_close_and_removes_the_copy_v25_09_left() {
        // Straight from v25.05: the close once, by name (the replay found it).
        let direct = check_db(&fixture_db(REAL[3])).unwrap();
        assert_eq!(
            (direct.schema_version, direct.schema_release.as_str()),
            (277, "v25.09.1..v25.09.3")
        );
        assert!(direct.is_clean(), "{:#?}", direct.findings);
        // Through v25.09: migration 277 logged "Deleting redundant chain_moves 6",
        // the later copy check-db named, and the bookkeeper answered again.
        let repaired = check_db(&fixture_db(REAL[4])).unwrap();
        assert_eq!(repaired.schema_version, 277);
        assert!(repaired.is_clean(), "{:#?}", repaired.findings);
    }

    #[test]
    fn the_same_duplicate_under_v25_09_1_needs_no_upgrade_to_remove_it() {
        // Migration 277 already ran on such a file: naming it is all that is left.
        let r = close_replayed_by_row(277);
        assert_eq!(r.findings[0].check, "moves/chain-once");
        assert_eq!(r.findings[0].remedy, None);
    }

    #[test]
    fn a_replay_with_other_secondary_tags_is_still_the_same_movement() {
        // CLN matches on the primary tag only (find_duplicate_chain_move):
        // `opener` (bit 18) on one copy does not make it another movement.
        let cols = "account_channel_id, account_nonchannel_id, credit_or_debit, timestamp, utxo, spending_txid, peer_id, payment_hash, block_height, output_sat, originating_channel_id, originating_nonchannel_id, output_count";
        let f = ids(REAL[2], &format!(
            "INSERT INTO chain_moves (id, tag_bitmap, {cols}) SELECT (SELECT MAX(id) + 1 FROM chain_moves), tag_bitmap | (1 << 18), {cols} FROM chain_moves WHERE id = 2;\
             UPDATE vars SET intval = intval + 1 WHERE name = 'last_chainmoves_created_index';"
        ));
        assert_eq!(f[0].0, "moves/chain-once", "{f:?}");
        assert!(
            f[0].1.starts_with("channel_open movement of account "),
            "{}",
            f[0].1
        );
    }

    #[test]
    fn tags_and_outpoints_read_as_listchainmoves_prints_them() {
        assert_eq!(super::primary_tag(1 << 7), "channel_close");
        assert_eq!(super::primary_tag(1 << 6 | 1 << 18), "channel_open");
        assert_eq!(super::primary_tag(1 << 18), "tag_bitmap 0x40000");
        assert_eq!(super::primary_tag(0b11), "tag_bitmap 0x3");
        assert_eq!(super::primary_tag(-1), "tag_bitmap 0xffffffffffffffff");
        let mut utxo = vec![0u8; 32];
        utxo[0] = 0xab;
        utxo.extend(7u32.to_be_bytes());
        assert_eq!(super::outpoint(&utxo), format!("{}ab:7", "00".repeat(31)));
        assert_eq!(super::outpoint(&[1, 2]), "x'0102'");
    }

    #[test]
    fn a_payment_part_moved_twice_is_found() {
        let cols = "account_channel_id, account_nonchannel_id, tag_bitmap, credit_or_debit, timestamp, payment_hash, payment_part_id, payment_group_id, fees";
        let f = ids(REAL[0], &format!(
            "INSERT INTO channel_moves (id, {cols}) SELECT (SELECT MAX(id) + 1 FROM channel_moves), {cols} FROM channel_moves WHERE id = 2;\
             UPDATE vars SET intval = intval + 1 WHERE name = 'last_channelmoves_created_index';"
        ));
        assert!(
            f.iter().any(|(c, w)| c == "moves/payment-part-once"
                && w.contains(&format!("moved 2 times on account '{CHANNEL}': channel_moves.id = 2 under channels.id = 1 (the channel's row), channel_moves.id = 3 under channels.id = 1"))),
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
        assert_eq!(f.row.as_deref(), Some("account 'wallet'"));
        assert!(
            f.what
                .starts_with("account 'wallet' (filed under move_accounts.id = 1): ")
                && f.what.contains("balance -")
                && f.consequence.contains("Account balance underflow")
                && !f.consequence.contains("duplicate"),
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
        let e = super::super::checkdb::explain();
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
