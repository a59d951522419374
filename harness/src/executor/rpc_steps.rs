//! Steps that talk to a node directly: `rpc`, `raw` (exact bytes on its
//! socket), `wait_rpc` (poll until a field check holds) and `check_db`
//! (the doctor over a stopped node's database).

use super::steps::{call_failure, env, resolve, secs, StepError, World};
use crate::poll::{poll_until, Look, TimedOut};
use crate::rpc::{CallErrorKind, RawReply};
use crate::scenario::values::Bindings;
use crate::scenario::{FieldCheck, RawRequest};
use serde_json::{json, Value};
use std::time::Duration;

impl World<'_> {
    pub(super) async fn raw(
        &self,
        node: &str,
        request: &RawRequest,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let bytes = match request {
            RawRequest::Json(v) => serde_json::to_vec(&resolve(v, b)?).map_err(env)?,
            RawRequest::Text(t) => t.clone().into_bytes(),
        };
        let n = self.net.node(node).map_err(env)?;
        match n.raw(&bytes, timeout).await {
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

    pub(super) async fn wait_rpc(
        &self,
        node: &str,
        method: &str,
        params: &Value,
        until: &FieldCheck,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let params = resolve(params, b)?;
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
