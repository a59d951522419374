//! What lightningd claims against what the chain holds, pure: fed with
//! `listfunds` and electrs's answers, tested with fake ones.

use super::ChainUtxo;
use std::collections::BTreeMap;

/// One output `listfunds` claims for the node's wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub txid: String,
    pub vout: u32,
    pub sat: u64,
    pub script: String,
    pub confirmed: bool,
}

/// A channel `listfunds` lists: its funding outpoint, and whether lightningd
/// still treats it as open (its funding output must then be unspent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelClaim {
    pub funding_txid: String,
    pub funding_vout: u32,
    pub capacity_sat: u64,
    pub open: bool,
    pub state: String,
}

/// A transaction as electrs gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTx {
    pub txid: String,
    pub inputs: Vec<(String, u32)>,
    /// (sat, script hex)
    pub outputs: Vec<(u64, String)>,
}

/// One disagreement, with both views.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub output: String,
    pub lightningd: String,
    pub electrs: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: lightningd: {}; electrs: {}",
            self.output, self.lightningd, self.electrs
        )
    }
}

/// The node's confirmed wallet outputs against electrs's unspent outputs on
/// the same scripts: each claimed output must be there with its value and
/// confirmed, and no confirmed output on those scripts may be unclaimed.
pub fn compare_wallet(
    claims: &[Claim],
    chain: &BTreeMap<String, Vec<ChainUtxo>>,
) -> Vec<Difference> {
    let mut out = Vec::new();
    for c in claims.iter().filter(|c| c.confirmed) {
        let seen = chain
            .get(&c.script)
            .and_then(|utxos| utxos.iter().find(|u| u.txid == c.txid && u.vout == c.vout));
        let electrs = match seen {
            None => "no such unspent output".to_string(),
            Some(u) if u.height == 0 => format!("{} sat, unconfirmed", u.sat),
            Some(u) if u.sat != c.sat => format!("{} sat", u.sat),
            Some(_) => continue,
        };
        out.push(Difference {
            output: format!("{}:{}", c.txid, c.vout),
            lightningd: format!("{} sat, confirmed", c.sat),
            electrs,
        });
    }
    for (script, utxos) in chain {
        for u in utxos.iter().filter(|u| u.height > 0) {
            let claimed = claims.iter().any(|c| c.txid == u.txid && c.vout == u.vout);
            if !claimed {
                out.push(Difference {
                    output: format!("{}:{}", u.txid, u.vout),
                    lightningd: "not in listfunds".into(),
                    electrs: format!("{} sat confirmed on its script {script}", u.sat),
                });
            }
        }
    }
    out
}

/// An open channel's funding output must be unspent; a closed one's spent.
pub fn compare_channel(c: &ChannelClaim, funding_unspent: bool) -> Option<Difference> {
    (c.open != funding_unspent).then(|| Difference {
        output: format!("funding {}:{}", c.funding_txid, c.funding_vout),
        lightningd: format!("channel {} ({} sat)", c.state, c.capacity_sat),
        electrs: if funding_unspent {
            "funding output unspent".into()
        } else {
            "funding output spent".into()
        },
    })
}

/// Money in the closing chains (every transaction descending from the
/// channels' funding outputs): what went to fees, what sits unspent in the
/// nodes' wallets (per script) or in outputs no wallet claims (anchors,
/// unswept), and what came in from outside (a wallet input bumping a fee).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainSums {
    pub fees_sat: u64,
    pub stranded_sat: u64,
    pub external_in_sat: u64,
    pub to_wallets: BTreeMap<String, u64>,
}

impl ChainSums {
    /// What the chains left unspent on these wallet scripts.
    pub fn held_on(&self, scripts: &std::collections::BTreeSet<String>) -> u64 {
        self.to_wallets
            .iter()
            .filter(|(s, _)| scripts.contains(*s))
            .map(|(_, v)| v)
            .sum()
    }
    pub fn held(&self) -> u64 {
        self.to_wallets.values().sum()
    }
}

pub fn chain_sums(
    txs: &[ChainTx],
    prev: &BTreeMap<(String, u32), u64>,
    spent: &std::collections::BTreeSet<(String, u32)>,
    wallet_scripts: &std::collections::BTreeSet<String>,
    funding: &std::collections::BTreeSet<(String, u32)>,
) -> Result<ChainSums, String> {
    let mut sums = ChainSums::default();
    let in_chain: std::collections::BTreeSet<&str> = txs.iter().map(|t| t.txid.as_str()).collect();
    for tx in txs {
        let mut inputs = 0;
        for o in &tx.inputs {
            let v = prev
                .get(o)
                .copied()
                .ok_or_else(|| format!("{}: input {}:{} unknown", tx.txid, o.0, o.1))?;
            inputs += v;
            if !in_chain.contains(o.0.as_str()) && !funding.contains(o) {
                sums.external_in_sat += v;
            }
        }
        let outputs: u64 = tx.outputs.iter().map(|(s, _)| s).sum();
        sums.fees_sat += inputs.saturating_sub(outputs);
        for (i, (sat, script)) in tx.outputs.iter().enumerate() {
            if spent.contains(&(tx.txid.clone(), i as u32)) {
                continue;
            }
            if wallet_scripts.contains(script) {
                *sums.to_wallets.entry(script.clone()).or_default() += sat;
            } else {
                sums.stranded_sat += sat;
            }
        }
    }
    Ok(sums)
}

/// Conservation across the network once every channel is closed and swept:
/// what the closing chains left in the nodes' wallets, plus their fees,
/// plus stranded outputs, equals what the channels held plus what came in
/// from outside (one sat of rounding per channel: balances are msat).
pub fn conservation(
    held_sat: &BTreeMap<String, u64>,
    capacities_sat: u64,
    chain: &ChainSums,
    channels: usize,
) -> Result<(), String> {
    let held: u64 = held_sat.values().sum();
    let accounted = held + chain.fees_sat + chain.stranded_sat;
    let expected = capacities_sat + chain.external_in_sat;
    if accounted.abs_diff(expected) <= channels as u64 {
        return Ok(());
    }
    let per_node: Vec<String> = held_sat.iter().map(|(n, s)| format!("{n} {s}")).collect();
    Err(format!(
        "funds not conserved: the channels held {capacities_sat} sat (+{} sat added from wallets); their closing transactions left {held} sat in the wallets ({}), {} sat in fees, {} sat stranded: {} sat {}",
        chain.external_in_sat,
        per_node.join(", "),
        chain.fees_sat,
        chain.stranded_sat,
        accounted.abs_diff(expected),
        if accounted < expected { "missing" } else { "too many" }
    ))
}

/// Per node: what its closing chains left in its wallet may not exceed
/// what its channels should have given it (funded, pushed and paid, from
/// lightningd's records) plus what it added from its wallet, nor fall below
/// that minus the fees and stranded outputs of those chains.
pub fn node_within_bounds(
    node: &str,
    held_sat: u64,
    to_us_at_close_sat: u64,
    chain: &ChainSums,
    channels: usize,
) -> Result<(), String> {
    let most = to_us_at_close_sat + chain.external_in_sat + channels as u64;
    let least =
        to_us_at_close_sat.saturating_sub(chain.fees_sat + chain.stranded_sat + channels as u64);
    if (least..=most).contains(&held_sat) {
        return Ok(());
    }
    Err(format!(
        "{node}'s closing transactions left it {held_sat} sat on chain; what it funded, was pushed and was paid, less what it paid, is {to_us_at_close_sat} sat, so between {least} and {most} sat (fees and stranded outputs of those transactions: {} sat)",
        chain.fees_sat + chain.stranded_sat
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utxo(txid: &str, vout: u32, sat: u64, height: u64) -> ChainUtxo {
        ChainUtxo {
            txid: txid.into(),
            vout,
            sat,
            height,
        }
    }

    fn claim(txid: &str, vout: u32, sat: u64, script: &str) -> Claim {
        Claim {
            txid: txid.into(),
            vout,
            sat,
            script: script.into(),
            confirmed: true,
        }
    }

    #[test]
    fn a_claimed_output_the_chain_lacks_or_values_differently_is_a_difference() {
        let chain = BTreeMap::from([(
            "s1".to_string(),
            vec![utxo("a", 0, 1000, 7), utxo("c", 1, 50, 9)],
        )]);
        let claims = [
            claim("a", 0, 1000, "s1"),
            claim("b", 0, 500, "s2"),
            claim("c", 1, 60, "s1"),
        ];
        let d = compare_wallet(&claims, &chain);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].output, "b:0");
        assert_eq!(d[0].electrs, "no such unspent output");
        assert_eq!(
            (d[1].lightningd.as_str(), d[1].electrs.as_str()),
            ("60 sat, confirmed", "50 sat")
        );
    }

    #[test]
    fn confirmed_funds_on_its_scripts_that_lightningd_forgot_are_a_difference() {
        let chain = BTreeMap::from([(
            "s1".to_string(),
            vec![
                utxo("a", 0, 1000, 7),
                utxo("z", 3, 42, 8),
                utxo("m", 0, 5, 0),
            ],
        )]);
        let d = compare_wallet(&[claim("a", 0, 1000, "s1")], &chain);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].output, "z:3");
        assert_eq!(d[0].lightningd, "not in listfunds");
    }

    #[test]
    fn an_open_channel_needs_its_funding_output_unspent() {
        let c = ChannelClaim {
            funding_txid: "f".into(),
            funding_vout: 0,
            capacity_sat: 10,
            open: true,
            state: "CHANNELD_NORMAL".into(),
        };
        assert!(compare_channel(&c, true).is_none());
        assert!(compare_channel(&c, false).is_some());
        let closed = ChannelClaim {
            open: false,
            state: "ONCHAIN".into(),
            ..c
        };
        assert!(compare_channel(&closed, false).is_none());
    }

    #[test]
    fn conservation_counts_fees_and_stranded_outputs() {
        // funding f:0 (1000) -> close c: 600 to alice (w1), 390 to bob (w2), fee 10.
        let txs = [ChainTx {
            txid: "c".into(),
            inputs: vec![("f".into(), 0)],
            outputs: vec![(600, "w1".into()), (390, "w2".into())],
        }];
        let prev = BTreeMap::from([(("f".to_string(), 0), 1000)]);
        let wallets = std::collections::BTreeSet::from(["w1".to_string(), "w2".to_string()]);
        let funding = std::collections::BTreeSet::from([("f".to_string(), 0)]);
        let sums = chain_sums(&txs, &prev, &Default::default(), &wallets, &funding).unwrap();
        assert_eq!(
            (
                sums.fees_sat,
                sums.stranded_sat,
                sums.external_in_sat,
                sums.held()
            ),
            (10, 0, 0, 990)
        );
        let held = BTreeMap::from([("alice".to_string(), 600), ("bob".to_string(), 390)]);
        assert!(conservation(&held, 1000, &sums, 1).is_ok());
        let lost = BTreeMap::from([("alice".to_string(), 500), ("bob".to_string(), 390)]);
        let e = conservation(&lost, 1000, &sums, 1).unwrap_err();
        assert!(e.contains("100 sat missing"), "{e}");
        // An anchor no wallet claims is stranded, not lost.
        let anchored = [ChainTx {
            outputs: vec![
                (600, "w1".into()),
                (330, "anchor".into()),
                (60, "w2".into()),
            ],
            ..txs[0].clone()
        }];
        let sums = chain_sums(&anchored, &prev, &Default::default(), &wallets, &funding).unwrap();
        assert_eq!(sums.stranded_sat, 330);
        assert!(node_within_bounds("alice", 600, 600, &sums, 1).is_ok());
        assert!(node_within_bounds("alice", 700, 600, &sums, 1).is_err());
        assert!(chain_sums(
            &txs,
            &BTreeMap::new(),
            &Default::default(),
            &wallets,
            &funding
        )
        .is_err());
    }

    #[test]
    fn a_wallet_input_that_bumps_a_fee_comes_from_outside_the_channel() {
        // commitment k spends f:0 (1000): 900 to_local (d), 330 anchor... simplified:
        // k: f:0 -> 670 (d) + 330 (anchor a); cpfp p: a + wallet u:0 (5000) -> 5200 to w1, fee 130.
        let txs = [
            ChainTx {
                txid: "k".into(),
                inputs: vec![("f".into(), 0)],
                outputs: vec![(670, "d".into()), (330, "a".into())],
            },
            ChainTx {
                txid: "p".into(),
                inputs: vec![("k".into(), 1), ("u".into(), 0)],
                outputs: vec![(5200, "w1".into())],
            },
        ];
        let prev = BTreeMap::from([
            (("f".to_string(), 0), 1000),
            (("k".to_string(), 1), 330),
            (("u".to_string(), 0), 5000),
        ]);
        let spent = std::collections::BTreeSet::from([("k".to_string(), 1)]);
        let wallets = std::collections::BTreeSet::from(["w1".to_string()]);
        let funding = std::collections::BTreeSet::from([("f".to_string(), 0)]);
        let sums = chain_sums(&txs, &prev, &spent, &wallets, &funding).unwrap();
        assert_eq!(sums.external_in_sat, 5000);
        assert_eq!(sums.fees_sat, 130);
        assert_eq!(sums.stranded_sat, 670, "to_local not yet swept");
        let held = BTreeMap::from([("alice".to_string(), 5200)]);
        assert!(conservation(&held, 1000, &sums, 1).is_ok());
    }
}
