//! What each step does to the network: [`World::execute`] dispatches each
//! step kind to its family's file; no outcome decisions (a step returns its
//! value or a [`StepError`]).

use crate::binaries::{Discovery, Lightningd};
use crate::network::{ChannelSpec, Network, NetworkError};
use crate::node::StartErrorKind;
use crate::process::Exit;
use crate::rpc::{CallError, CallErrorKind};
use crate::scenario::values::{self, Bindings};
use crate::scenario::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// How a step can go wrong, before expectations are applied.
#[derive(Debug)]
pub enum StepError {
    /// lightningd answered with a JSON-RPC error (`{code, message, data}`):
    /// an expectation may accept it.
    Rpc(Value),
    /// The step could not do what it says (a wait that saw the wrong state,
    /// a value that is not an amount); an expectation may accept it too.
    Fail(String),
    /// Timed out (an RPC or the whole step).
    Hang(String),
    /// The connection to `node` broke without an answer: it is probably
    /// dying. The driver waits for its exit; if it lives on, `otherwise`
    /// is what the step ended in.
    ConnectionLost {
        node: String,
        detail: String,
        otherwise: Box<StepError>,
    },
    /// The node died while starting.
    Crash {
        node: String,
        exit: Exit,
        detail: String,
    },
    /// The environment: not a product failure.
    Env(String),
}

impl StepError {
    /// The error as the value `expect.error` and `expect.fields` look at,
    /// if an expectation may accept it.
    pub fn as_expectable(&self) -> Option<Value> {
        match self {
            StepError::Rpc(v) => Some(v.clone()),
            StepError::Fail(m) => Some(json!({"code": null, "message": m})),
            _ => None,
        }
    }
}

pub(super) fn env<E: std::fmt::Display>(e: E) -> StepError {
    StepError::Env(e.to_string())
}

/// A step's value with its `${...}` references resolved.
pub(super) fn resolve(v: &Value, b: &Bindings) -> Result<Value, StepError> {
    values::resolve(v, b).map_err(|e| StepError::Fail(format!("bad value: {e}")))
}

/// A step's `params` table with its `${...}` references resolved.
pub(super) fn resolve_map(
    m: &serde_json::Map<String, Value>,
    b: &Bindings,
) -> Result<serde_json::Map<String, Value>, StepError> {
    resolve(&Value::Object(m.clone()), b).map(|v| v.as_object().cloned().unwrap_or_default())
}

/// The network and the binaries a run drives, and the facts about them.
pub struct World<'a> {
    pub net: Network,
    pub discovery: &'a Discovery,
    /// role → binary, resolved before the run.
    pub roles: BTreeMap<String, Lightningd>,
    /// The role each node currently runs (an upgrade changes it).
    pub node_roles: BTreeMap<String, String>,
    /// Invoices made so far, for the next default label.
    pub(super) invoices: u64,
    /// Per node, where its next `wait_log` starts searching: past the last
    /// line a `wait_log` matched (`log_steps`).
    pub(super) log_cursors: BTreeMap<String, u64>,
}

impl<'a> World<'a> {
    pub fn new(
        net: Network,
        discovery: &'a Discovery,
        roles: BTreeMap<String, Lightningd>,
        node_roles: BTreeMap<String, String>,
    ) -> World<'a> {
        World {
            net,
            discovery,
            roles,
            node_roles,
            invoices: 0,
            log_cursors: BTreeMap::new(),
        }
    }

    /// `${alice.id}` and friends, for every node.
    pub fn node_facts(&self, b: &mut Bindings) {
        // First: a node named like it wins.
        b.insert(
            crate::scenario::validate::CHAIN_FACTS.into(),
            json!({"op_true_address": self.net.bitcoind.op_true_address()}),
        );
        for n in &self.net.nodes {
            b.insert(
                n.name.clone(),
                json!({
                    "name": n.name, "id": n.id, "port": n.port(), "addr": n.address(),
                    "dir": n.dir.display().to_string(), "version": n.binary.version.raw,
                }),
            );
        }
    }

    /// Does one step: a dispatch to the step's family (`node_steps`,
    /// `log_steps`, `payment_steps`, `rpc_steps`, `chain_steps`,
    /// `witness_steps`).
    pub async fn execute(
        &mut self,
        action: &Action,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        use Action::*;
        match action {
            Fund { node, amount_sat } => self.fund(node, *amount_sat).await,
            Connect { node, peer } => self.net.connect(node, peer).await.map_err(net_step_error),
            OpenChannel {
                node,
                peer,
                amount_sat,
                announce,
                push_msat,
            } => {
                let spec = ChannelSpec {
                    from: node.clone(),
                    to: peer.clone(),
                    amount_sat: *amount_sat,
                    announce: *announce,
                    push_msat: *push_msat,
                };
                self.net.open_channel(&spec).await.map_err(net_step_error)
            }
            Mine { blocks } => self.mine(*blocks).await,
            WaitChannel { node, peer, state } => {
                self.wait_channel(node, peer, state, timeout).await
            }
            Close {
                node,
                peer,
                unilateral_after,
            } => self.close(node, peer, *unilateral_after, timeout).await,
            ForceClose { node, peer } => self.force_close(node, peer, timeout).await,
            WaitSwept { node, max_blocks } => self.wait_swept(node, *max_blocks, timeout).await,
            Witness { node } => self.witness_check(node, timeout).await,
            Bitcoin { method, params } => self.bitcoin(method, &resolve(params, b)?).await,
            WaitMempool { count, txid } => {
                let txid = match txid {
                    Some(t) => {
                        Some(resolve(t, b)?.as_str().map(String::from).ok_or_else(|| {
                            StepError::Fail("txid: expected a transaction id".into())
                        })?)
                    }
                    None => None,
                };
                self.wait_mempool(*count, txid.as_deref(), timeout).await
            }
            Rpc { .. }
            | Raw { .. }
            | WaitRpc { .. }
            | Invoice { .. }
            | Pay { .. }
            | Keysend { .. } => self.request(action, b, timeout)?.send(b).await,
            Restart { node } => self.restart(node).await,
            Upgrade { node, role } => self.upgrade(node, role).await,
            Kill { node } => self.kill(node).await,
            Start { node } => self.start_node(node, None).await,
            Stop { node } => self.stop(node).await,
            WaitLog { node, pattern } => self.wait_log(node, pattern, timeout).await,
            AssertLog {
                node,
                pattern,
                present,
            } => self.assert_log(node, pattern, *present),
            AssertAlive { node, alive } => self.assert_alive(node, *alive),
            CheckDb { node } => self.check_db(node),
            Sleep { seconds } => {
                tokio::time::sleep(Duration::from_secs_f64(*seconds)).await;
                Ok(json!({}))
            }
            Repeat { .. } => Err(StepError::Env(
                "internal: a repeat reached execute (the driver unrolls it)".into(),
            )),
            Parallel { .. } => Err(StepError::Env(
                "internal: a parallel reached execute (the driver runs it: `parallel_steps`)"
                    .into(),
            )),
        }
    }

    pub(super) async fn rpc(
        &self,
        node: &str,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let n = self.net.node(node).map_err(env)?;
        n.call(method, params, timeout)
            .await
            .map_err(|e| call_failure(node, e))
    }
}

pub use super::payment_steps::normalize_payment;

/// An RPC error becomes [`StepError::Rpc`]; a broken connection means the
/// node may be dying.
pub(super) fn call_failure(node: &str, e: CallError) -> StepError {
    match &e.kind {
        CallErrorKind::Rpc { .. } => StepError::Rpc(e.to_json()),
        CallErrorKind::Timeout(t) => StepError::Hang(format!(
            "{node}: `{}` did not answer within {}",
            e.method,
            secs(*t)
        )),
        CallErrorKind::Closed(_) | CallErrorKind::Connect { .. } => {
            let detail = format!("`{}` got no answer: {}", e.method, e.kind);
            StepError::ConnectionLost {
                node: node.into(),
                detail: detail.clone(),
                otherwise: Box::new(StepError::Fail(detail)),
            }
        }
    }
}

/// Errors from the network's composite operations (fund, connect, open,
/// wait for a channel), shared by the setup phase and steps.
pub fn net_step_error(e: NetworkError) -> StepError {
    match e {
        NetworkError::Rpc(c) => call_failure(&c.node.clone(), c),
        NetworkError::Timeout { .. } => StepError::Fail(e.to_string()),
        NetworkError::Start(ref se) => match &se.kind {
            StartErrorKind::Exited { exit, .. } => StepError::Crash {
                node: se.node.clone(),
                exit: *exit,
                detail: e.to_string(),
            },
            StartErrorKind::NotReady(_) => StepError::Hang(e.to_string()),
            _ => StepError::Env(e.to_string()),
        },
        other => StepError::Env(other.to_string()),
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
