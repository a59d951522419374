//! Steps about channels and the chain: `fund`, `mine`, `close`,
//! `wait_channel` for a state other than normal (or `gone`), `bitcoin` (any
//! bitcoind RPC) and `wait_mempool`, so no scenario needs a `sleep` before
//! mining.

use super::steps::{call_failure, env, net_step_error, secs, StepError, World};
use crate::poll::{poll_until, Look, TimedOut};
use crate::rpc::CallErrorKind;
use serde_json::{json, Value};
use std::time::Duration;

/// `wait_channel`'s state that means "no channel with that peer is listed".
pub const GONE: &str = "gone";

impl World<'_> {
    pub(super) async fn fund(
        &mut self,
        node: &str,
        amount_sat: Option<u64>,
    ) -> Result<Value, StepError> {
        self.net
            .fund(&[node.to_string()], amount_sat)
            .await
            .map_err(net_step_error)?;
        Ok(json!({}))
    }

    pub(super) async fn mine(&mut self, blocks: u64) -> Result<Value, StepError> {
        self.net.mine(blocks).await.map_err(net_step_error)?;
        Ok(json!({"blocks": blocks, "height": self.net.bitcoind.block_count().await.unwrap_or(0)}))
    }

    pub(super) async fn close(
        &self,
        node: &str,
        peer: &str,
        unilateral_after: Option<u64>,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let peer_id = self.peer_id(peer)?;
        let mut params = json!({"id": peer_id});
        if let Some(s) = unilateral_after {
            params["unilateraltimeout"] = json!(s);
        }
        let n = self.net.node(node).map_err(env)?;
        let mut r = n
            .call("close", params, timeout)
            .await
            .map_err(|e| call_failure(node, e))?;
        // Older versions answer `txid`, newer ones `txids` as well: give both.
        if r.get("txid").is_none() {
            if let Some(first) = r["txids"].get(0).cloned() {
                r["txid"] = first;
            }
        }
        Ok(r)
    }

    /// Until `node`'s channel with `peer` is in `state`, or (`gone`) no
    /// channel with `peer` is listed at all.
    pub(super) async fn wait_channel(
        &self,
        node: &str,
        peer: &str,
        state: &str,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        if state != GONE {
            return self
                .net
                .wait_channel_state(node, peer, state, None, timeout)
                .await
                .map_err(net_step_error);
        }
        let peer_id = self.peer_id(peer)?;
        let n = self.net.node(node).map_err(env)?;
        let polled = poll_until(timeout, Duration::from_millis(100), || async {
            match n
                .call("listpeerchannels", json!({"id": peer_id}), timeout)
                .await
            {
                Ok(v) => match v["channels"].as_array().map_or(0, Vec::len) {
                    0 => Look::Ready(Ok(json!({"channels": []}))),
                    _ => Look::NotYet(crate::text::json_brief(&v)),
                },
                Err(e) if matches!(e.kind, CallErrorKind::Rpc { .. }) => {
                    Look::NotYet(e.to_json().to_string())
                }
                Err(e) => Look::Ready(Err(call_failure(node, e))),
            }
        })
        .await;
        match polled {
            Ok(r) => r,
            Err(TimedOut { after, last }) => Err(StepError::Fail(format!(
                "{node}'s channel with {peer} is still listed after {}: {}",
                secs(after),
                last.unwrap_or_default()
            ))),
        }
    }

    /// Any bitcoind RPC with positional params. An RPC error is expectable,
    /// like lightningd's.
    pub(super) async fn bitcoin(&self, method: &str, params: &Value) -> Result<Value, StepError> {
        let args = params.as_array().cloned().unwrap_or_default();
        self.net
            .bitcoind
            .call(method, &args)
            .await
            .map_err(|e| StepError::Rpc(json!({"code": null, "message": e.to_string()})))
    }

    /// Until the mempool holds `count` transactions, or `txid`.
    pub(super) async fn wait_mempool(
        &self,
        count: u64,
        txid: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let polled = poll_until(timeout, Duration::from_millis(50), || {
            let r = self.net.bitcoind.call("getrawmempool", &[]);
            async move {
                match r.await {
                    Ok(Value::Array(txids)) => {
                        let there = match txid {
                            Some(t) => txids.iter().any(|x| x == t),
                            None => txids.len() as u64 >= count,
                        };
                        if there {
                            Look::Ready(Ok(json!({"count": txids.len(), "txids": txids})))
                        } else {
                            Look::NotYet(format!(
                                "{} in the mempool: {}",
                                txids.len(),
                                Value::Array(txids)
                            ))
                        }
                    }
                    Ok(other) => Look::Ready(Err(StepError::Env(format!(
                        "getrawmempool answered {other}"
                    )))),
                    Err(e) => Look::Ready(Err(StepError::Env(e.to_string()))),
                }
            }
        })
        .await;
        match polled {
            Ok(r) => r,
            Err(TimedOut { after, last }) => {
                let want = txid.map_or_else(
                    || format!("{count} transaction(s)"),
                    |t| format!("transaction {t}"),
                );
                Err(StepError::Fail(format!(
                    "the mempool did not get {want} within {}; last seen {}",
                    secs(after),
                    last.unwrap_or_default()
                )))
            }
        }
    }

    /// Each running node's channels it opened, named by peer (for a fixture).
    pub(super) async fn channels_by_opener(&self) -> Vec<crate::fixture::FixtureChannel> {
        let mut out = Vec::new();
        for n in &self.net.nodes {
            // A node that is down has nothing to say; its channels show from the other end.
            let Ok(r) = n
                .call("listpeerchannels", json!({}), Duration::from_secs(30))
                .await
            else {
                continue;
            };
            for c in r["channels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["opener"] == "local")
            {
                let peer = self
                    .net
                    .nodes
                    .iter()
                    .find(|p| p.id.as_deref() == c["peer_id"].as_str())
                    .map(|p| p.name.clone());
                if let Some(to) = peer {
                    out.push(crate::fixture::FixtureChannel {
                        from: n.name.clone(),
                        to,
                        short_channel_id: c["short_channel_id"].as_str().map(String::from),
                        channel_id: c["channel_id"].as_str().unwrap_or_default().to_string(),
                    });
                }
            }
        }
        out
    }

    /// After a fixture's nodes started: connect each recorded channel's ends
    /// (the harness runs nodes with `dev-no-reconnect`) and wait until both
    /// sides are normal again.
    pub(super) async fn resume_channels(
        &mut self,
        channels: &[crate::fixture::FixtureChannel],
    ) -> Result<(), crate::network::NetworkError> {
        let present = |n: &str| self.net.node(n).is_ok();
        let channels: Vec<_> = channels
            .iter()
            .filter(|c| present(&c.from) && present(&c.to))
            .collect();
        for c in &channels {
            self.net.connect(&c.from, &c.to).await?;
        }
        for c in &channels {
            let timeout = crate::network::WAIT_TIMEOUT;
            self.net
                .wait_channel_state(
                    &c.from,
                    &c.to,
                    "CHANNELD_NORMAL",
                    Some(&c.channel_id),
                    timeout,
                )
                .await?;
            self.net
                .wait_channel_state(
                    &c.to,
                    &c.from,
                    "CHANNELD_NORMAL",
                    Some(&c.channel_id),
                    timeout,
                )
                .await?;
        }
        Ok(())
    }

    fn peer_id(&self, peer: &str) -> Result<String, StepError> {
        self.net
            .node(peer)
            .map_err(env)?
            .id
            .clone()
            .ok_or_else(|| StepError::Env(format!("{peer} has no id yet (never started)")))
    }
}
