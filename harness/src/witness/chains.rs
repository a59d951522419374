//! The closing chains of a set of channels, walked through electrs's
//! answers: every transaction descending from their funding outpoints
//! (closings, HTLC stages, sweeps). Pure over [`ChainLookup`], so a fake
//! chain tests the walk ([`Witness`](super::Witness) is the real one).

use super::compare::ChainTx;
use super::WitnessError;
use std::collections::{BTreeMap, BTreeSet};

/// What the walk asks of the chain.
pub trait ChainLookup {
    /// A transaction's outputs (sat, script hex) and the outpoints it spends.
    fn transaction(&self, txid: &str) -> Result<ChainTx, WitnessError>;
    /// Every transaction that touched a script (hex).
    fn history(&self, script_hex: &str) -> Result<Vec<String>, WitnessError>;
}

/// The walk's result.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Chains {
    /// Every descendant transaction, once each, in the order found.
    pub txs: Vec<ChainTx>,
    /// The outpoints among the chains (fundings included) that are spent.
    pub spent: BTreeSet<(String, u32)>,
    /// The value of every input the descendants spend.
    pub prev: BTreeMap<(String, u32), u64>,
}

/// Walks down from these funding outpoints.
pub fn closing_chains<'a>(
    w: &impl ChainLookup,
    funding: impl Iterator<Item = &'a (String, u32)>,
) -> Result<Chains, WitnessError> {
    let mut out = Chains::default();
    let mut todo: Vec<(String, u32)> = funding.cloned().collect();
    let mut seen_tx = BTreeSet::new();
    while let Some((txid, vout)) = todo.pop() {
        let parent = w.transaction(&txid)?;
        let Some((_, script)) = parent.outputs.get(vout as usize) else {
            continue;
        };
        for candidate in w.history(script)? {
            if candidate == txid {
                continue;
            }
            let tx = w.transaction(&candidate)?;
            if !tx.inputs.iter().any(|i| i.0 == txid && i.1 == vout) {
                continue;
            }
            out.spent.insert((txid.clone(), vout));
            // One sweep may spend several outputs of the chains (a
            // to_local and an HTLC's second stage, seen after an HTLC left
            // on chain): each is spent, the sweep counted once.
            if !seen_tx.insert(candidate.clone()) {
                continue;
            }
            for i in 0..tx.outputs.len() {
                todo.push((candidate.clone(), i as u32));
            }
            out.txs.push(tx);
        }
    }
    for tx in &out.txs {
        for (ptxid, pvout) in &tx.inputs {
            let p = w.transaction(ptxid)?;
            if let Some((v, _)) = p.outputs.get(*pvout as usize) {
                out.prev.insert((ptxid.clone(), *pvout), *v);
            }
        }
    }
    Ok(out)
}

/// Is this funding a splice's: does its transaction spend a P2WSH output
/// (a channel's previous funding) other than the harness's OP_TRUE coins?
/// After a splice lightningd's `funding` record no longer says what the
/// node first put in (v24.11 and v25.02 keep the funds plus the splice and
/// drop the push; v25.05+ take the balance at the splice), so a node's own
/// bound cannot be computed from it.
pub fn spliced(w: &impl ChainLookup, funding_txid: &str) -> Result<bool, WitnessError> {
    let op_true = op_true_p2wsh();
    for (ptxid, pvout) in w.transaction(funding_txid)?.inputs {
        if ptxid.bytes().all(|b| b == b'0') {
            continue; // a coinbase's null input
        }
        let prev = w.transaction(&ptxid)?;
        if let Some((_, script)) = prev.outputs.get(pvout as usize) {
            if script.starts_with("0020") && script.len() == 68 && *script != op_true {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// P2WSH(OP_TRUE), hex: where the harness mines and funds from.
fn op_true_p2wsh() -> String {
    let op_true = [bitcoin::opcodes::OP_TRUE.to_u8()];
    let script = bitcoin::Script::from_bytes(&op_true);
    bitcoin::ScriptBuf::new_p2wsh(&script.wscript_hash()).to_hex_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain as electrs would answer for it: transactions by id, and
    /// each script's history (every transaction paying to or spending it).
    struct FakeChain(Vec<ChainTx>);

    impl ChainLookup for FakeChain {
        fn transaction(&self, txid: &str) -> Result<ChainTx, WitnessError> {
            self.0
                .iter()
                .find(|t| t.txid == txid)
                .cloned()
                .ok_or_else(|| WitnessError::Query(format!("no transaction {txid}")))
        }
        fn history(&self, script: &str) -> Result<Vec<String>, WitnessError> {
            let pays = |t: &ChainTx| t.outputs.iter().any(|o| o.1 == script);
            let spends = |t: &ChainTx| {
                t.inputs.iter().any(|(p, v)| {
                    self.transaction(p)
                        .is_ok_and(|p| p.outputs.get(*v as usize).is_some_and(|o| o.1 == script))
                })
            };
            Ok(self
                .0
                .iter()
                .filter(|t| pays(t) || spends(t))
                .map(|t| t.txid.clone())
                .collect())
        }
    }

    fn tx(txid: &str, inputs: &[(&str, u32)], outputs: &[(u64, &str)]) -> ChainTx {
        ChainTx {
            txid: txid.into(),
            inputs: inputs.iter().map(|(t, v)| (t.to_string(), *v)).collect(),
            outputs: outputs.iter().map(|(s, k)| (*s, k.to_string())).collect(),
        }
    }

    /// "20030 sat too many" on v25.02.1 -> v25.05: one sweep spent the
    /// to_local and the HTLC's second stage, and only one was marked
    /// spent, so the other was counted as still held on chain too.
    #[test]
    fn a_sweep_of_two_outputs_marks_both_spent_and_is_walked_once() {
        let chain = FakeChain(vec![
            tx("fund", &[("coinbase", 0)], &[(1_000_000, "funding")]),
            tx(
                "close",
                &[("fund", 0)],
                &[
                    (700_000, "to_local"),
                    (20_000, "htlc"),
                    (279_000, "to_remote"),
                ],
            ),
            tx("timeout", &[("close", 1)], &[(19_000, "second_stage")]),
            tx(
                "sweep",
                &[("close", 0), ("timeout", 0)],
                &[(718_000, "wallet")],
            ),
        ]);
        let funding = [("fund".to_string(), 0)];
        let c = closing_chains(&chain, funding.iter()).unwrap();
        let ids: Vec<&str> = c.txs.iter().map(|t| t.txid.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ["close", "sweep", "timeout"], "each once: {ids:?}");
        let spent: Vec<(&str, u32)> = c.spent.iter().map(|(t, v)| (t.as_str(), *v)).collect();
        assert_eq!(
            spent,
            [("close", 0), ("close", 1), ("fund", 0), ("timeout", 0)]
        );
        // to_remote is unspent: still on chain, not spent.
        assert!(!c.spent.contains(&("close".into(), 2)));
        assert_eq!(c.prev[&("timeout".into(), 0)], 19_000);
        assert_eq!(c.prev[&("close".into(), 0)], 700_000);
        assert_eq!(c.prev[&("fund".into(), 0)], 1_000_000);
    }

    /// Explore, v24.11 -> v25.02.1: bob spliced 110 000 sat out of his
    /// channel to carol; v25.02.1 then reported his funds as 1 390 000 sat
    /// with no push, and the witness expected 450 000 sat more than bob
    /// rightly got. A funding that spends a previous funding is a splice's;
    /// one from the harness's coins or a wallet is not.
    #[test]
    fn a_funding_that_spends_a_previous_funding_is_a_splice() {
        let p2wsh = |c: char| format!("0020{}", c.to_string().repeat(64));
        let op_true = op_true_p2wsh();
        let chain = FakeChain(vec![
            tx(
                "cb",
                &[(&"0".repeat(64), u32::MAX)],
                &[(5_000_000_000, &op_true)],
            ),
            tx(
                "fund",
                &[("cb", 0)],
                &[(1_500_000, &p2wsh('a')), (10, &op_true)],
            ),
            tx("wallet", &[("cb", 0)], &[(2_000_000, "0014aa")]),
            tx("dual", &[("wallet", 0)], &[(1_000_000, &p2wsh('b'))]),
            tx(
                "splice",
                &[("fund", 0)],
                &[(1_390_000, &p2wsh('c')), (100_000, "0014bb")],
            ),
        ]);
        assert!(spliced(&chain, "splice").unwrap());
        for not in ["fund", "dual"] {
            assert!(!spliced(&chain, not).unwrap(), "{not}");
        }
    }

    #[test]
    fn an_unspent_funding_has_no_chain() {
        let chain = FakeChain(vec![tx(
            "fund",
            &[("coinbase", 0)],
            &[(1_000_000, "funding")],
        )]);
        let funding = [("fund".to_string(), 0)];
        assert_eq!(
            closing_chains(&chain, funding.iter()).unwrap(),
            Chains::default()
        );
    }
}
