//! Steps about channels' ends and the chain: `close`, `wait_channel` for a
//! state other than normal (or `gone`), `bitcoin` (any bitcoind RPC) and
//! `wait_mempool`, so no scenario needs a `sleep` before mining.

use super::steps::{call_failure, env, net_step_error, secs, StepError, World};
use crate::poll::{poll_until, Look, TimedOut};
use crate::rpc::CallErrorKind;
use serde_json::{json, Value};
use std::time::Duration;

/// `wait_channel`'s state that means "no channel with that peer is listed".
pub const GONE: &str = "gone";

impl World<'_> {
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
    pub(super) fn bitcoin(&self, method: &str, params: &Value) -> Result<Value, StepError> {
        let args = params.as_array().cloned().unwrap_or_default();
        self.net
            .bitcoind
            .call(method, &args)
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
                match r {
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

    fn peer_id(&self, peer: &str) -> Result<String, StepError> {
        self.net
            .node(peer)
            .map_err(env)?
            .id
            .clone()
            .ok_or_else(|| StepError::Env(format!("{peer} has no id yet (never started)")))
    }
}
