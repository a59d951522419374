//! Steps that talk to a node directly: `rpc`, `raw` (exact bytes on its
//! socket), `wait_rpc` (poll until a field check holds) and `check_db`
//! (the doctor over a stopped node's database); and [`Request`], what
//! every request step (these and the payments) sends, built apart from
//! sending so a `parallel` can send several at once.

use super::payment_steps::{normalize_payment, InvoiceArgs};
use super::steps::{call_failure, env, resolve, secs, StepError, World};
use crate::poll::{poll_until, Look, TimedOut};
use crate::rpc::{CallErrorKind, RawReply};
use crate::scenario::values::Bindings;
use crate::scenario::{Action, FieldCheck, RawRequest};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// A request to one node, built from a step (its `${...}` resolved, its
/// version translation done) and owning all it needs to be sent: the
/// socket to connect to, the request, the timeout. So sending it borrows
/// nothing of the [`World`], and a `parallel` can have several in flight
/// beside a step that restarts a node.
pub(super) struct Request {
    node: String,
    socket: PathBuf,
    timeout: Duration,
    call: Call,
}

enum Call {
    /// One JSON-RPC call on its own connection; a payment's answer is
    /// compared by meaning ([`normalize_payment`]).
    Method {
        method: String,
        params: Value,
        payment: bool,
    },
    /// Exact bytes on the socket (`raw`).
    Raw(Vec<u8>),
    /// Called until the check holds (`wait_rpc`).
    Until {
        method: String,
        params: Value,
        until: Box<FieldCheck>,
    },
}

impl Request {
    /// Sends it; `b` is what `wait_rpc`'s check resolves its `${...}` in.
    pub(super) async fn send(self, b: &Bindings) -> Result<Value, StepError> {
        let Request {
            node,
            socket,
            timeout,
            call,
        } = self;
        match call {
            Call::Method {
                method,
                params,
                payment,
            } => {
                let r = crate::rpc::call(&node, &socket, &method, &params, timeout)
                    .await
                    .map_err(|e| call_failure(&node, e))?;
                Ok(if payment { normalize_payment(r) } else { r })
            }
            Call::Raw(bytes) => raw(&node, &socket, &bytes, timeout).await,
            Call::Until {
                method,
                params,
                until,
            } => wait_rpc(&node, &socket, &method, &params, &until, b, timeout).await,
        }
    }
}

async fn raw(
    node: &str,
    socket: &std::path::Path,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Value, StepError> {
    match crate::rpc::raw(node, socket, bytes, timeout).await {
        Ok(RawReply::Json(v)) => match v.get("error") {
            Some(err) => Err(StepError::Rpc(err.clone())),
            None => Ok(v),
        },
        Ok(RawReply::Closed { partial }) => Err(StepError::ConnectionLost {
            node: node.to_string(),
            detail: "the raw request's socket closed without a reply".into(),
            otherwise: Box::new(StepError::Rpc(
                json!({"code": null, "message": "socket closed without a reply", "partial": partial}),
            )),
        }),
        Err(e) => Err(call_failure(node, e)),
    }
}

async fn wait_rpc(
    node: &str,
    socket: &std::path::Path,
    method: &str,
    params: &Value,
    until: &FieldCheck,
    b: &Bindings,
    timeout: Duration,
) -> Result<Value, StepError> {
    let polled = poll_until(timeout, Duration::from_millis(100), || {
        let call = crate::rpc::call(node, socket, method, params, timeout);
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

impl World<'_> {
    /// The request a request step ([`Action::is_request`]) sends, built
    /// now; `&mut` only for `invoice`'s default label.
    pub(super) fn request(
        &mut self,
        action: &Action,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Request, StepError> {
        use Action::*;
        match action {
            Rpc {
                node,
                method,
                params,
            } => self.call_to(node, method, resolve(params, b)?, timeout),
            Raw { node, request } => {
                let bytes = match request {
                    RawRequest::Json(v) => serde_json::to_vec(&resolve(v, b)?).map_err(env)?,
                    RawRequest::Text(t) => t.clone().into_bytes(),
                };
                self.request_to(node, timeout, Call::Raw(bytes))
            }
            WaitRpc {
                node,
                method,
                params,
                until,
            } => {
                let call = Call::Until {
                    method: method.clone(),
                    params: resolve(params, b)?,
                    until: Box::new(until.clone()),
                };
                self.request_to(node, timeout, call)
            }
            Invoice {
                node,
                amount_msat,
                label,
                description,
            } => {
                let args = InvoiceArgs {
                    amount_msat,
                    label: label.as_ref(),
                    description: description.as_ref(),
                };
                self.invoice(node, args, b, timeout)
            }
            Pay {
                node,
                bolt11,
                xpay,
                params,
            } => self.pay(node, bolt11, *xpay, params, b, timeout),
            Keysend {
                node,
                to,
                amount_msat,
                params,
            } => self.keysend(node, to, amount_msat, params, b, timeout),
            other => Err(StepError::Env(format!(
                "internal: `{}` is not a request to a node",
                other.kind()
            ))),
        }
    }

    /// One call of `method` on `node`.
    pub(super) fn call_to(
        &self,
        node: &str,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Request, StepError> {
        let call = Call::Method {
            method: method.into(),
            params,
            payment: false,
        };
        self.request_to(node, timeout, call)
    }

    /// A payment's call: its answer is compared by meaning.
    pub(super) fn payment_to(
        &self,
        node: &str,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Request, StepError> {
        let call = Call::Method {
            method: method.into(),
            params,
            payment: true,
        };
        self.request_to(node, timeout, call)
    }

    fn request_to(&self, node: &str, timeout: Duration, call: Call) -> Result<Request, StepError> {
        let n = self.net.node(node).map_err(env)?;
        Ok(Request {
            node: node.into(),
            socket: n.rpc_connect_path().to_path_buf(),
            timeout,
            call,
        })
    }

    pub(super) fn check_db(&mut self, node: &str) -> Result<Value, StepError> {
        use crate::dbcheck_adapter::{check_db, findings_summary, report_json};
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
        let report = check_db(&src).map_err(StepError::Env)?;
        if report.is_clean() {
            Ok(report_json(&report))
        } else {
            Err(StepError::Fail(format!(
                "check-db found problems in {node}'s database: {}",
                findings_summary(&report)
            )))
        }
    }
}
