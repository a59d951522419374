//! What each step does to the network. One `match` over the step kinds;
//! no outcome decisions (a step returns its value or a [`StepError`]).

use crate::binaries::{Discovery, Lightningd};
use crate::network::{ChannelSpec, Network, NetworkError};
use crate::node::StartErrorKind;
use crate::options::XpayMode;
use crate::poll::{poll_until, Look, TimedOut};
use crate::process::Exit;
use crate::rpc::{CallError, CallErrorKind, RawReply};
use crate::scenario::values::{self, Bindings};
use crate::scenario::*;
use crate::version::Features;
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

/// The network and the binaries a run drives, and the facts about them.
pub struct World<'a> {
    pub net: Network,
    pub discovery: &'a Discovery,
    /// role → binary, resolved before the run.
    pub roles: BTreeMap<String, Lightningd>,
    /// The role each node currently runs (an upgrade changes it).
    pub node_roles: BTreeMap<String, String>,
    invoices: u64,
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
        }
    }

    /// `${alice.id}` and friends, for every node.
    pub fn node_facts(&self, b: &mut Bindings) {
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

    pub async fn execute(
        &mut self,
        action: &Action,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        use Action::*;
        let resolve = |v: &Value| {
            values::resolve(v, b).map_err(|e| StepError::Fail(format!("bad value: {e}")))
        };
        let resolve_map = |m: &serde_json::Map<String, Value>| {
            resolve(&Value::Object(m.clone())).map(|v| v.as_object().cloned().unwrap_or_default())
        };
        let amount = |v: &Value| {
            let v = resolve(v)?;
            values::as_amount(&v)
                .ok_or_else(|| StepError::Fail(format!("amount_msat: not an amount: {v}")))
        };
        match action {
            Fund { node } => {
                self.net
                    .fund(std::slice::from_ref(node))
                    .await
                    .map_err(net_step_error)?;
                Ok(json!({}))
            }
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
            Mine { blocks } => {
                self.net.mine(*blocks).await.map_err(net_step_error)?;
                Ok(
                    json!({"blocks": blocks, "height": self.net.bitcoind.block_count().await.unwrap_or(0)}),
                )
            }
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
            Bitcoin { method, params } => self.bitcoin(method, &resolve(params)?).await,
            WaitMempool { count, txid } => {
                let txid = match txid {
                    Some(t) => Some(resolve(t)?.as_str().map(String::from).ok_or_else(|| {
                        StepError::Fail("txid: expected a transaction id".into())
                    })?),
                    None => None,
                };
                self.wait_mempool(*count, txid.as_deref(), timeout).await
            }
            Invoice {
                node,
                amount_msat,
                label,
                description,
            } => {
                let amount = amount(amount_msat)?;
                self.invoices += 1;
                let label = match label {
                    Some(l) => resolve(l)?,
                    // Unique within the run, and the same on every run (snapshots show labels).
                    None => json!(format!("cln-harness-{}", self.invoices)),
                };
                let description = match description {
                    Some(d) => resolve(d)?,
                    None => label.clone(),
                };
                self.rpc(
                    node,
                    "invoice",
                    json!({"amount_msat": amount, "label": label, "description": description}),
                    timeout,
                )
                .await
            }
            Pay {
                node,
                bolt11,
                xpay,
                params,
            } => {
                self.require_pay_mode(node, *xpay)?;
                let request = super::payments::pay_request(resolve(bolt11)?, &resolve_map(params)?);
                let r = self.rpc(node, "pay", request, timeout).await?;
                Ok(normalize_payment(r))
            }
            Keysend {
                node,
                to,
                amount_msat,
                params,
            } => {
                let destination = self.node_id_of(&resolve(to)?)?;
                let amount = amount(amount_msat)?;
                let n = self.net.node(node).map_err(env)?;
                let xkeysend =
                    super::payments::uses_xkeysend(&Features::of(&n.binary.version), n.config.xpay);
                let (method, request) = super::payments::keysend_request(
                    xkeysend,
                    &destination,
                    amount,
                    &resolve_map(params)?,
                )
                .map_err(StepError::Env)?;
                let r = self.rpc(node, method, request, timeout).await?;
                Ok(normalize_payment(r))
            }
            Restart { node } => {
                self.net.node_mut(node).map_err(env)?.stop().await;
                self.start_node(node, None).await
            }
            Upgrade { node, role } => {
                let binary = match self.roles.get(role) {
                    Some(b) => b.clone(),
                    None => {
                        let b = self.discovery.resolve(role).map_err(env)?;
                        self.roles.insert(role.clone(), b.clone());
                        b
                    }
                };
                let n = self.net.node_mut(node).map_err(env)?;
                let from = n.binary.version.raw.clone();
                n.stop().await;
                self.node_roles.insert(node.clone(), role.clone());
                let mut v = self.start_node(node, Some(binary)).await?;
                v["upgraded_from"] = json!(from);
                Ok(v)
            }
            Kill { node } => {
                let exit = self.net.node_mut(node).map_err(env)?.kill().await;
                Ok(json!({"exit": exit}))
            }
            Start { node } => self.start_node(node, None).await,
            Stop { node } => {
                let exit = self.net.node_mut(node).map_err(env)?.stop().await;
                Ok(json!({"exit": exit}))
            }
            WaitLog { node, pattern } => {
                let re = regex::Regex::new(pattern).map_err(env)?;
                let n = self.net.node(node).map_err(env)?;
                let (path, since) = (n.log_file(), n.log_offset_at_start());
                // Only what the current process wrote: an earlier start's
                // line must not satisfy a wait after a restart.
                let found = poll_until(timeout, Duration::from_millis(50), || {
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    let text = String::from_utf8_lossy(bytes.get(since as usize..).unwrap_or(&[]))
                        .into_owned();
                    let hit = text.lines().find(|l| re.is_match(l)).map(String::from);
                    let last = text.lines().last().map(String::from);
                    async move { hit.map_or(Look::NotYet(last), Look::Ready) }
                })
                .await;
                match found {
                    Ok(line) => Ok(json!({"line": line})),
                    Err(TimedOut { after, last }) => Err(StepError::Fail(format!(
                        "no line matching /{pattern}/ in {node}'s log within {}; its last line: {}",
                        secs(after),
                        last.flatten()
                            .map_or("(none)".into(), |l| crate::text::truncate(l.trim(), 300))
                    ))),
                }
            }
            AssertLog {
                node,
                pattern,
                present,
            } => {
                let re = regex::Regex::new(pattern).map_err(env)?;
                let path = self.net.node(node).map_err(env)?.log_file();
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                match (text.lines().find(|l| re.is_match(l)), present) {
                    (Some(l), true) => Ok(json!({"line": l})),
                    (None, false) => Ok(json!({})),
                    (None, true) => Err(StepError::Fail(format!(
                        "expected a line matching /{pattern}/ in {node}'s log; none found"
                    ))),
                    (Some(l), false) => Err(StepError::Fail(format!(
                        "expected no line matching /{pattern}/ in {node}'s log; found: {}",
                        l.trim()
                    ))),
                }
            }
            AssertAlive { node, alive } => {
                let running = self.net.node_mut(node).map_err(env)?.is_running();
                if running == *alive {
                    Ok(json!({"alive": running}))
                } else {
                    Err(StepError::Fail(format!(
                        "expected {node} {}, but it is {}",
                        alive_word(*alive),
                        alive_word(running)
                    )))
                }
            }
            Rpc {
                node,
                method,
                params,
            } => {
                let params = resolve(params)?;
                self.rpc(node, method, params, timeout).await
            }
            Raw { node, request } => {
                let bytes = match request {
                    RawRequest::Json(v) => serde_json::to_vec(&resolve(v)?).map_err(env)?,
                    RawRequest::Text(t) => t.clone().into_bytes(),
                };
                let n = self.net.node(node).map_err(env)?;
                match n.raw(&bytes, timeout).await {
                    Ok(RawReply::Json(v)) => match v.get("error") {
                        Some(err) => Err(StepError::Rpc(err.clone())),
                        None => Ok(v),
                    },
                    Ok(RawReply::Closed { partial }) => Err(StepError::ConnectionLost {
                        node: node.clone(),
                        detail: "the raw request's socket closed without a reply".into(),
                        otherwise: Box::new(StepError::Rpc(
                            json!({"code": null, "message": "socket closed without a reply", "partial": partial}),
                        )),
                    }),
                    Err(e) => Err(call_failure(node, e)),
                }
            }
            WaitRpc {
                node,
                method,
                params,
                until,
            } => {
                let params = resolve(params)?;
                let n = self.net.node(node).map_err(env)?;
                let polled = poll_until(timeout, Duration::from_millis(100), || {
                    let call = n.call(method, params.clone(), timeout);
                    async move {
                        match call.await {
                            Ok(v) => match super::expect::check_field(until, &v, b) {
                                Ok(()) => Look::Ready(Ok(v)),
                                Err(why) => Look::NotYet(why),
                            },
                            Err(e) if matches!(e.kind, CallErrorKind::Rpc { .. }) => {
                                Look::NotYet(format!("error {}", e.to_json()))
                            }
                            Err(e) => Look::Ready(Err(call_failure(node, e))),
                        }
                    }
                })
                .await;
                match polled {
                    Ok(r) => r,
                    Err(TimedOut { after, last }) => Err(StepError::Fail(format!(
                        "`{method}` never satisfied the condition within {}; last seen: {}",
                        secs(after),
                        last.unwrap_or_else(|| "no answer".into())
                    ))),
                }
            }
            CheckDb { node } => {
                let n = self.net.node_mut(node).map_err(env)?;
                if n.is_running() {
                    return Err(StepError::Env(format!(
                        "check_db needs {node} stopped: lightningd holds its database"
                    )));
                }
                let src = n.db_source().ok_or_else(|| {
                    StepError::Env(format!(
                        "check_db: {node} has no database yet (never started)"
                    ))
                })?;
                let (clean, report) =
                    crate::dbcheck_adapter::check_db_json(&src).map_err(StepError::Env)?;
                if clean {
                    Ok(report)
                } else {
                    Err(StepError::Fail(format!(
                        "check-db found problems in {node}'s database: {}",
                        crate::dbcheck_adapter::findings_summary(&report)
                    )))
                }
            }
            Sleep { seconds } => {
                tokio::time::sleep(Duration::from_secs_f64(*seconds)).await;
                Ok(json!({}))
            }
            Repeat { .. } => Err(StepError::Env(
                "internal: a repeat reached execute (the driver unrolls it)".into(),
            )),
        }
    }

    fn require_pay_mode(&self, node: &str, want: Option<XpayMode>) -> Result<(), StepError> {
        let n = self.net.node(node).map_err(env)?;
        let f = Features::of(&n.binary.version);
        match want.unwrap_or(n.config.xpay) {
            XpayMode::On if !f.xpay => Err(StepError::Env(format!(
                "pay with xpay on needs v24.11+; {node} runs {}",
                n.binary.version
            ))),
            XpayMode::Off if f.legacy_pay_removed => Err(StepError::Env(format!(
                "legacy pay (xpay off) does not exist on {}",
                n.binary.version
            ))),
            _ => Ok(()),
        }
    }

    fn node_id_of(&self, to: &Value) -> Result<String, StepError> {
        let s = to
            .as_str()
            .ok_or_else(|| StepError::Fail(format!("expected a node name or id, got {to}")))?;
        match self.net.node(s) {
            Ok(n) => {
                n.id.clone()
                    .ok_or_else(|| StepError::Env(format!("{s} has no id yet (never started)")))
            }
            Err(_) => Ok(s.to_string()),
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

    async fn start_node(
        &mut self,
        name: &str,
        binary: Option<Lightningd>,
    ) -> Result<Value, StepError> {
        let n = self.net.node_mut(name).map_err(env)?;
        if let Some(b) = binary {
            n.binary = b;
        }
        let r = n.start().await;
        let version = n.binary.version.raw.clone();
        match r {
            Ok(()) => Ok(json!({"node": name, "version": version})),
            Err(e) => Err(match &e.kind {
                // The binary died on its own while starting (e.g. a
                // migration crash, which only reaches stderr).
                StartErrorKind::Exited { exit, .. } => StepError::Crash {
                    node: name.into(),
                    exit: *exit,
                    detail: e.to_string(),
                },
                StartErrorKind::NotReady(_) => StepError::Hang(e.to_string()),
                _ => StepError::Env(e.to_string()),
            }),
        }
    }
}

fn alive_word(alive: bool) -> &'static str {
    if alive {
        "alive"
    } else {
        "dead"
    }
}

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

/// Payment results differ by version and plugin: classic `pay` answers
/// `status: "complete"`, xpay (and `pay` redirected to it) and `xkeysend`
/// answer with a preimage and no status. Compare by meaning: a preimage
/// means complete.
pub fn normalize_payment(mut v: Value) -> Value {
    if v.get("status").is_none() && v.get("payment_preimage").is_some() {
        v["status"] = json!("complete");
    }
    v
}

pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpay_and_classic_results_mean_the_same() {
        let classic = normalize_payment(json!({"status": "complete", "payment_preimage": "aa"}));
        let xpay = normalize_payment(
            json!({"payment_preimage": "aa", "amount_msat": 1000, "failed_parts": 0}),
        );
        assert_eq!(classic["status"], xpay["status"]);
        assert_eq!(
            normalize_payment(json!({"status": "failed"}))["status"],
            "failed"
        );
    }
}
