//! What the setup leaves behind, before the first step: every scenario's
//! starting world. A scenario that asserts on wallet movements or chain
//! moves depends on it, so it is pinned (a snapshot test per topology)
//! and shown in `--json` (`setup`): a harness change that alters it is a
//! reviewed diff, never a silent change of someone's verdict.
//!
//! Only what the scenario determines goes in: amounts, states, who opened,
//! counts of bookkeeping events by kind. Ids, txids and timestamps go
//! through the one `Redactor` or are left out; lists are sorted.

use crate::evidence::redact::Redactor;
use crate::network::Network;
use serde_json::{json, Value};
use std::time::Duration;

const CALL: Duration = Duration::from_secs(30);

/// Each node's wallet funds, channels and bookkeeping events, by name.
/// Every node is asked at once, each its three questions at once: the
/// digest sits between a resumed setup and the first step, on every run.
pub async fn digest(net: &Network, r: &Redactor) -> Value {
    let per_node = net.nodes.iter().map(|n| async move {
        let (funds, channels, events) = futures_util::join!(
            n.call("listfunds", json!({}), CALL),
            n.call("listpeerchannels", json!({}), CALL),
            n.call("bkpr-listaccountevents", json!({}), CALL),
        );
        let d = json!({
            "wallet": answer(funds, wallet),
            "channels": answer(channels, |v| peer_channels(v, r)),
            "bookkeeper_events": answer(events, bookkeeper_events),
        });
        (n.name.clone(), d)
    });
    let nodes = futures_util::future::join_all(per_node).await;
    Value::Object(nodes.into_iter().collect())
}

fn answer<E: std::fmt::Display>(res: Result<Value, E>, view: impl Fn(&Value) -> Value) -> Value {
    match res {
        Ok(v) => view(&v),
        // A version without the command says so, the same way every run.
        Err(e) => json!({ "error": e.to_string().lines().next().unwrap_or_default() }),
    }
}

fn msat(v: &Value) -> Value {
    // `amount_msat` is a number from v23 on; older strings end in "msat".
    match v {
        Value::String(s) => s
            .trim_end_matches("msat")
            .parse::<u64>()
            .map_or(v.clone(), Value::from),
        other => other.clone(),
    }
}

/// `listfunds` outputs: (amount, status, reserved), sorted.
pub fn wallet(v: &Value) -> Value {
    let mut outs: Vec<Value> = v["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| json!({"amount_msat": msat(&o["amount_msat"]), "status": o["status"], "reserved": o["reserved"]}))
        .collect();
    outs.sort_by_key(|o| o.to_string());
    json!({ "outputs": outs })
}

/// `listpeerchannels`: the peer (by name), state, opener, balances, privacy.
pub fn peer_channels(v: &Value, r: &Redactor) -> Value {
    let mut chans: Vec<Value> = v["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({
                "peer": r.redact(c["peer_id"].as_str().unwrap_or_default()),
                "state": c["state"],
                "opener": c["opener"],
                "private": c["private"],
                "total_msat": msat(&c["total_msat"]),
                "to_us_msat": msat(&c["to_us_msat"]),
            })
        })
        .collect();
    chans.sort_by_key(|c| c.to_string());
    Value::Array(chans)
}

/// `bkpr-listaccountevents`: how many events of each (account kind, type,
/// tag), and their credits and debits. Accounts are channel ids (one per
/// channel), `wallet` or `external`.
pub fn bookkeeper_events(v: &Value) -> Value {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(String, String, String), (u64, u64, u64)> = BTreeMap::new();
    for e in v["events"].as_array().into_iter().flatten() {
        let account = match e["account"].as_str().unwrap_or_default() {
            a @ ("wallet" | "external") => a.to_string(),
            _ => "channel".to_string(),
        };
        let key = (
            account,
            e["type"].as_str().unwrap_or_default().to_string(),
            e["tag"].as_str().unwrap_or_default().to_string(),
        );
        let g = groups.entry(key).or_default();
        g.0 += 1;
        g.1 += msat(&e["credit_msat"]).as_u64().unwrap_or(0);
        g.2 += msat(&e["debit_msat"]).as_u64().unwrap_or(0);
    }
    Value::Array(
        groups
            .into_iter()
            .map(|((account, kind, tag), (count, credit, debit))| {
                json!({"account": account, "type": kind, "tag": tag, "count": count, "credit_msat": credit, "debit_msat": debit})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_is_counted_by_kind_with_no_ids() {
        let v = json!({"events": [
            {"account": "wallet", "type": "chain", "tag": "deposit", "credit_msat": 5000, "debit_msat": 0, "txid": "ab"},
            {"account": "wallet", "type": "chain", "tag": "deposit", "credit_msat": 7000, "debit_msat": 0, "txid": "cd"},
            {"account": "50290d0d44", "type": "chain", "tag": "channel_open", "credit_msat": 0, "debit_msat": 0},
        ]});
        assert_eq!(
            bookkeeper_events(&v),
            json!([
                {"account": "channel", "type": "chain", "tag": "channel_open", "count": 1, "credit_msat": 0, "debit_msat": 0},
                {"account": "wallet", "type": "chain", "tag": "deposit", "count": 2, "credit_msat": 12000, "debit_msat": 0},
            ])
        );
    }

    #[test]
    fn wallet_outputs_are_sorted_and_keep_only_what_the_scenario_determines() {
        let v = json!({"outputs": [
            {"txid": "ff", "amount_msat": 2000, "status": "confirmed", "reserved": false, "blockheight": 103},
            {"txid": "aa", "amount_msat": "1000msat", "status": "confirmed", "reserved": false},
        ]});
        let w = wallet(&v);
        assert_eq!(w["outputs"][0]["amount_msat"], 1000);
        assert!(w.to_string().find("txid").is_none());
    }
}
