//! Steps that end channels on chain and check lightningd's claims against
//! the chain witness (electrs): `force_close`, `wait_swept`, `witness`, and
//! the end-of-run conservation check.

use super::steps::{env, net_step_error, StepError, World};
use crate::witness::chains::{closing_chains, spliced};
use crate::witness::compare::{self, ChannelClaim, Claim};
use crate::witness::Witness;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// States in which the funding output must still be unspent, and in which
/// lightningd has seen it spent in a block.
fn channel_open(state: &str) -> Option<bool> {
    match state {
        "CHANNELD_NORMAL" | "CHANNELD_AWAITING_LOCKIN" | "DUALOPEND_AWAITING_LOCKIN" => Some(true),
        "ONCHAIN" | "FUNDING_SPEND_SEEN" => Some(false),
        // Closing transaction broadcast, perhaps not mined: either may hold.
        _ => None,
    }
}

fn sat(v: &Value) -> u64 {
    crate::scenario::values::as_amount(v).unwrap_or(0) / 1000
}

impl World<'_> {
    fn witness(&self) -> Result<&Witness, StepError> {
        self.net.witness.as_ref().ok_or_else(|| {
            StepError::Env("no chain witness: the scenario must say `witness = true`".into())
        })
    }

    /// Disconnect (a live peer would otherwise agree to a mutual close),
    /// then close with a one-second unilateral timeout.
    pub(super) async fn force_close(
        &self,
        node: &str,
        peer: &str,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let peer_id = self
            .net
            .node(peer)
            .map_err(env)?
            .id
            .clone()
            .ok_or_else(|| StepError::Env(format!("{peer} has no id yet (never started)")))?;
        let n = self.net.node(node).map_err(env)?;
        // Not connected is fine: the peer may be dead.
        let _ = n
            .call("disconnect", json!({"id": peer_id, "force": true}), timeout)
            .await;
        self.close(node, peer, Some(1), timeout).await
    }

    /// Are all of `node`'s closed channels resolved on chain, its wallet confirmed?
    async fn swept(&self, node: &str, timeout: Duration) -> Result<(bool, String), StepError> {
        let chans = self
            .rpc(node, "listpeerchannels", json!({}), timeout)
            .await?;
        let funds = self.rpc(node, "listfunds", json!({}), timeout).await?;
        let mut waiting = Vec::new();
        for c in chans["channels"].as_array().into_iter().flatten() {
            let state = c["state"].as_str().unwrap_or_default();
            if channel_open(state) == Some(true) {
                continue;
            }
            let resolved = c["status"].as_array().into_iter().flatten().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.contains("All outputs resolved"))
            });
            if state != "ONCHAIN" || !resolved {
                waiting.push(format!(
                    "{} {state}",
                    c["short_channel_id"].as_str().unwrap_or("?")
                ));
            }
        }
        let unconfirmed = funds["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["status"].as_str() != Some("confirmed"))
            .count();
        if unconfirmed > 0 {
            waiting.push(format!("{unconfirmed} wallet output(s) not confirmed"));
        }
        Ok((waiting.is_empty(), waiting.join(", ")))
    }

    pub(super) async fn wait_swept(
        &mut self,
        node: &str,
        max_blocks: u64,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let mut mined = 0;
        loop {
            let (done, waiting) = self.swept(node, timeout).await?;
            if done {
                return Ok(json!({"blocks": mined}));
            }
            if mined >= max_blocks {
                return Err(StepError::Fail(format!(
                    "{node}: not swept after {mined} blocks: {waiting}"
                )));
            }
            // Give onchaind a moment to broadcast what the last block allows.
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.net.mine(1).await.map_err(net_step_error)?;
            mined += 1;
        }
    }

    async fn witness_synced(&self) -> Result<&Witness, StepError> {
        let w = self.witness()?;
        let height = self
            .net
            .bitcoind
            .block_count()
            .await
            .map_err(|e| StepError::Env(e.to_string()))?;
        w.sync(height, Duration::from_secs(30))
            .await
            .map_err(|e| StepError::Env(e.to_string()))?;
        Ok(w)
    }

    /// What `node`'s channels should have given it, in sat, from lightningd's
    /// own records: what it put in (its funds less what it pushed, or what
    /// was pushed to it), less what it paid (complete payments, fees
    /// included), plus what it was paid (paid invoices, keysends included)
    /// and its forwarding fees. Unlike `to_us_msat` at the close, this does
    /// not depend on which HTLCs were still in the closing commitment.
    async fn funded_plus_payments(
        &self,
        node: &str,
        chans: &Value,
        timeout: Duration,
    ) -> Result<u64, StepError> {
        let amount = |v: &Value| crate::scenario::values::as_amount(v).unwrap_or(0) as i128;
        let mut msat: i128 = 0;
        for c in chans["channels"].as_array().into_iter().flatten() {
            let local = amount(&c["funding"]["local_funds_msat"]);
            let pushed = amount(&c["funding"]["pushed_msat"]);
            msat += if c["opener"].as_str() == Some("local") {
                local - pushed
            } else {
                local + pushed
            };
        }
        let pays = self.rpc(node, "listsendpays", json!({}), timeout).await?;
        for p in pays["payments"].as_array().into_iter().flatten() {
            if p["status"].as_str() == Some("complete") {
                msat -= amount(&p["amount_sent_msat"]);
            }
        }
        let invoices = self.rpc(node, "listinvoices", json!({}), timeout).await?;
        for i in invoices["invoices"].as_array().into_iter().flatten() {
            if i["status"].as_str() == Some("paid") {
                msat += amount(&i["amount_received_msat"]);
            }
        }
        let forwards = self
            .rpc(node, "listforwards", json!({"status": "settled"}), timeout)
            .await?;
        for f in forwards["forwards"].as_array().into_iter().flatten() {
            msat += amount(&f["fee_msat"]);
        }
        Ok((msat.max(0) / 1000) as u64)
    }

    /// `node`'s listfunds against electrs: wallet outputs and funding outputs.
    pub(super) async fn witness_check(
        &self,
        node: &str,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let t0 = Instant::now();
        let w = self.witness_synced().await?;
        let synced_ms = t0.elapsed().as_millis();
        let funds = self.rpc(node, "listfunds", json!({}), timeout).await?;
        let claims = wallet_claims(&funds);
        let chain = unspent_by_script(w, claims.iter().map(|c| c.script.clone()))?;
        let mut diffs = compare::compare_wallet(&claims, &chain);
        let channels = channel_claims(&funds);
        for c in &channels {
            if let Some(open) = channel_open(&c.state) {
                let claim = ChannelClaim { open, ..c.clone() };
                let unspent = funding_unspent(w, &c.funding_txid, c.funding_vout)?;
                diffs.extend(compare::compare_channel(&claim, unspent));
            }
        }
        if !diffs.is_empty() {
            let lines: Vec<String> = diffs.iter().map(|d| format!("  {d}")).collect();
            return Err(StepError::Fail(format!(
                "{node}: lightningd and the chain disagree on {} output(s):\n{}",
                diffs.len(),
                lines.join("\n")
            )));
        }
        let total: u64 = claims.iter().filter(|c| c.confirmed).map(|c| c.sat).sum();
        Ok(json!({
            "outputs": claims.len(),
            "confirmed_sat": total,
            "channels": channels.len(),
            "electrs_sync_ms": synced_ms,
            "check_ms": t0.elapsed().as_millis(),
        }))
    }

    /// With every channel of every node closed and swept: the nodes'
    /// wallets, the chain's fees and stranded outputs add up to what the
    /// channels held (network), and each node holds what its channels
    /// closed with, less at most the fees of its chains (per node).
    /// `None` when some channel is still open or unswept (nothing to check).
    pub async fn conservation(&self, timeout: Duration) -> Result<Option<Value>, StepError> {
        if self.net.witness.is_none() {
            return Ok(None);
        }
        let names: Vec<String> = self.net.nodes.iter().map(|n| n.name.clone()).collect();
        let mut per_node = BTreeMap::new();
        for name in &names {
            if self.net.node(name).map_err(env)?.is_stopped() || !self.swept(name, timeout).await?.0
            {
                return Ok(None);
            }
            let funds = self.rpc(name, "listfunds", json!({}), timeout).await?;
            let chans = self
                .rpc(name, "listpeerchannels", json!({}), timeout)
                .await?;
            // Only once every channel is closed: an open one holds funds
            // off chain, which no witness can count.
            let still_open = chans["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| channel_open(c["state"].as_str().unwrap_or_default()) != Some(false));
            if still_open {
                return Ok(None);
            }
            per_node.insert(name.clone(), (funds, chans));
        }
        let w = self.witness_synced().await?;
        let scripts_of = |funds: &Value| -> BTreeSet<String> {
            wallet_claims(funds).into_iter().map(|c| c.script).collect()
        };
        let wallet_scripts: BTreeSet<String> =
            per_node.values().flat_map(|(f, _)| scripts_of(f)).collect();
        let mut funding: BTreeMap<(String, u32), u64> = BTreeMap::new();
        let mut node_chains: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
        let mut to_us: BTreeMap<String, u64> = BTreeMap::new();
        for (name, (funds, chans)) in &per_node {
            for c in channel_claims(funds) {
                let key = (c.funding_txid.clone(), c.funding_vout);
                funding.insert(key.clone(), c.capacity_sat);
                node_chains.entry(name.clone()).or_default().push(key);
            }
            let closed = self.funded_plus_payments(name, chans, timeout).await?;
            to_us.insert(name.clone(), closed);
        }
        if funding.is_empty() {
            return Ok(None);
        }
        let outpoints: BTreeSet<(String, u32)> = funding.keys().cloned().collect();
        let all = closing_chains(w, funding.keys()).map_err(werr)?;
        let all = compare::chain_sums(&all.txs, &all.prev, &all.spent, &wallet_scripts, &outpoints)
            .map_err(StepError::Fail)?;
        let held: BTreeMap<String, u64> = per_node
            .iter()
            .map(|(n, (f, _))| (n.clone(), all.held_on(&scripts_of(f))))
            .collect();
        let capacities: u64 = funding.values().sum();
        compare::conservation(&held, capacities, &all, funding.len()).map_err(StepError::Fail)?;
        // Conservation above covers every node; a node with a spliced
        // channel has no bound of its own (`chains::spliced`).
        let mut unbounded = vec![];
        for (name, points) in &node_chains {
            let mut has_splice = false;
            for p in points {
                has_splice |= spliced(w, &p.0).map_err(werr)?;
            }
            if has_splice {
                unbounded.push(name.clone());
                continue;
            }
            let c = closing_chains(w, points.iter()).map_err(werr)?;
            let mine: BTreeSet<(String, u32)> = points.iter().cloned().collect();
            let sums = compare::chain_sums(&c.txs, &c.prev, &c.spent, &wallet_scripts, &mine)
                .map_err(StepError::Fail)?;
            let own = sums.held_on(&scripts_of(&per_node[name].0));
            compare::node_within_bounds(name, own, to_us[name], &sums, points.len())
                .map_err(StepError::Fail)?;
        }
        let wallets = held;
        Ok(Some(json!({
            "wallets_sat": wallets,
            "capacities_sat": capacities,
            "fees_sat": all.fees_sat,
            "stranded_sat": all.stranded_sat,
            "spliced_unbounded": unbounded,
        })))
    }
}

/// `listfunds` outputs as claims (amounts in sat).
fn wallet_claims(funds: &Value) -> Vec<Claim> {
    funds["outputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| Claim {
            txid: o["txid"].as_str().unwrap_or_default().to_string(),
            vout: o["output"].as_u64().unwrap_or(0) as u32,
            sat: sat(&o["amount_msat"]),
            script: o["scriptpubkey"].as_str().unwrap_or_default().to_string(),
            confirmed: o["status"].as_str() == Some("confirmed"),
        })
        .collect()
}

fn channel_claims(funds: &Value) -> Vec<ChannelClaim> {
    funds["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let state = c["state"].as_str().unwrap_or_default().to_string();
            ChannelClaim {
                funding_txid: c["funding_txid"].as_str().unwrap_or_default().to_string(),
                funding_vout: c["funding_output"].as_u64().unwrap_or(0) as u32,
                capacity_sat: sat(&c["amount_msat"]),
                open: channel_open(&state).unwrap_or(false),
                state,
            }
        })
        .collect()
}

fn werr(e: crate::witness::WitnessError) -> StepError {
    StepError::Env(e.to_string())
}

fn unspent_by_script(
    w: &Witness,
    scripts: impl Iterator<Item = String>,
) -> Result<BTreeMap<String, Vec<crate::witness::ChainUtxo>>, StepError> {
    let mut out = BTreeMap::new();
    for s in scripts.collect::<BTreeSet<_>>() {
        let u = w.unspent(&s).map_err(werr)?;
        out.insert(s, u);
    }
    Ok(out)
}

fn funding_unspent(w: &Witness, txid: &str, vout: u32) -> Result<bool, StepError> {
    let tx = w.transaction(txid).map_err(werr)?;
    let Some((_, script)) = tx.outputs.get(vout as usize) else {
        return Err(StepError::Fail(format!(
            "funding {txid}:{vout}: no such output on chain"
        )));
    };
    Ok(w.unspent(script)
        .map_err(werr)?
        .iter()
        .any(|u| u.txid == txid && u.vout == vout))
}
