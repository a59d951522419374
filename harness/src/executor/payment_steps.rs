//! Steps that make and pay invoices: `invoice`, `pay`, `keysend`, each
//! built as the [`Request`] the node's version understands (`payments`).

use super::payments;
use super::rpc_steps::Request;
use super::steps::{env, resolve, resolve_map, StepError, World};
use crate::options::XpayMode;
use crate::scenario::values::{self, Bindings};
use crate::version::Features;
use serde_json::{json, Value};
use std::time::Duration;

/// Where a step's amount is: a number or `"1000msat"`, after `${...}`.
fn amount(v: &Value, b: &Bindings) -> Result<u64, StepError> {
    let v = resolve(v, b)?;
    values::as_amount(&v).ok_or_else(|| StepError::Fail(format!("amount_msat: not an amount: {v}")))
}

/// What an `invoice` step asks for, as the scenario wrote it.
pub(super) struct InvoiceArgs<'s> {
    pub amount_msat: &'s Value,
    pub label: Option<&'s Value>,
    pub description: Option<&'s Value>,
}

impl World<'_> {
    pub(super) fn invoice(
        &mut self,
        node: &str,
        args: InvoiceArgs<'_>,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Request, StepError> {
        let amount = amount(args.amount_msat, b)?;
        self.invoices += 1;
        let label = match args.label {
            Some(l) => resolve(l, b)?,
            // Unique within the run, and the same on every run (snapshots show labels).
            None => json!(format!("cln-harness-{}", self.invoices)),
        };
        let description = match args.description {
            Some(d) => resolve(d, b)?,
            None => label.clone(),
        };
        self.call_to(
            node,
            "invoice",
            json!({"amount_msat": amount, "label": label, "description": description}),
            timeout,
        )
    }

    pub(super) fn pay(
        &self,
        node: &str,
        bolt11: &Value,
        xpay: Option<XpayMode>,
        params: &serde_json::Map<String, Value>,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Request, StepError> {
        self.require_pay_mode(node, xpay)?;
        let request = payments::pay_request(resolve(bolt11, b)?, &resolve_map(params, b)?);
        self.payment_to(node, "pay", request, timeout)
    }

    pub(super) fn keysend(
        &self,
        node: &str,
        to: &Value,
        amount_msat: &Value,
        params: &serde_json::Map<String, Value>,
        b: &Bindings,
        timeout: Duration,
    ) -> Result<Request, StepError> {
        let destination = self.node_id_of(&resolve(to, b)?)?;
        let amount = amount(amount_msat, b)?;
        let n = self.net.node(node).map_err(env)?;
        let xkeysend = payments::uses_xkeysend(&Features::of(&n.binary.version), n.config.xpay);
        let (method, request) =
            payments::keysend_request(xkeysend, &destination, amount, &resolve_map(params, b)?)
                .map_err(StepError::Env)?;
        self.payment_to(node, method, request, timeout)
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
