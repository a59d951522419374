//! The requests `pay` and `keysend` steps send, pure: the step's own
//! parameters plus any the scenario passes through, and the version
//! translation the harness owns (keysend → xkeysend from v26.06).

use serde_json::{json, Map, Value};

/// `xkeysend`'s parameters (CLN v26.06 `doc/schemas/xkeysend.json`).
const XKEYSEND_PARAMS: &[&str] = &[
    "destination",
    "amount_msat",
    "label",
    "maxfee",
    "layers",
    "retry_for",
    "maxdelay",
    "extratlvs",
];

/// keysend is deprecated from v26.06 and its replacement is cln-xpay's
/// `xkeysend`; a node with xpay off has no cln-xpay (it is disabled), but
/// runs with `allow-deprecated-apis`, so legacy keysend is what it has.
pub fn uses_xkeysend(f: &crate::version::Features, xpay: crate::options::XpayMode) -> bool {
    f.keysend_and_pay_deprecated && xpay != crate::options::XpayMode::Off
}

/// `(method, params)` for a keysend of `amount` to `destination`. Where
/// keysend is deprecated (v26.06+) the request goes to `xkeysend`, which
/// carries `extratlvs`, `maxfee`, `maxdelay`, `retry_for` and `label` too;
/// a parameter only legacy keysend knows is refused with the reason
/// rather than dropped.
pub fn keysend_request(
    use_xkeysend: bool,
    destination: &str,
    amount_msat: u64,
    extra: &Map<String, Value>,
) -> Result<(&'static str, Value), String> {
    let mut params = json!({"destination": destination, "amount_msat": amount_msat});
    for (k, v) in extra {
        if use_xkeysend && !XKEYSEND_PARAMS.contains(&k.as_str()) {
            return Err(format!(
                "keysend `{k}`: this version replaces keysend with xkeysend, which has no `{k}` (it takes {}); {}",
                XKEYSEND_PARAMS[2..].join(", "),
                match k.as_str() {
                    "maxfeepercent" | "exemptfee" => "use `maxfee` (an amount) instead",
                    _ => "drop it for this version",
                }
            ));
        }
        params[k] = v.clone();
    }
    Ok((if use_xkeysend { "xkeysend" } else { "keysend" }, params))
}

/// `pay`'s params: the bolt11 plus what the scenario passes through.
pub fn pay_request(bolt11: Value, extra: &Map<String, Value>) -> Value {
    let mut params = json!({"bolt11": bolt11});
    for (k, v) in extra {
        params[k] = v.clone();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extra(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keysend_passes_its_parameters_through_on_both_versions() {
        let tlvs = extra(json!({"extratlvs": {"133773310": "6869"}, "maxdelay": 100}));
        let (m, p) = keysend_request(false, "02ab", 1000, &tlvs).unwrap();
        assert_eq!(
            (m, p),
            (
                "keysend",
                json!({"destination": "02ab", "amount_msat": 1000, "extratlvs": {"133773310": "6869"}, "maxdelay": 100})
            )
        );
        let (m, p) = keysend_request(true, "02ab", 1000, &tlvs).unwrap();
        assert_eq!(m, "xkeysend");
        assert_eq!(p["extratlvs"], json!({"133773310": "6869"}));
    }

    #[test]
    fn xkeysend_refuses_what_it_cannot_carry_and_says_what_to_use() {
        let e =
            keysend_request(true, "02ab", 1000, &extra(json!({"maxfeepercent": 0.5}))).unwrap_err();
        assert!(
            e.contains("xkeysend, which has no `maxfeepercent`") && e.contains("use `maxfee`"),
            "{e}"
        );
        assert!(
            keysend_request(false, "02ab", 1000, &extra(json!({"maxfeepercent": 0.5}))).is_ok()
        );
    }

    /// Found by `explore` (v25.05 → v26.06.6): alice with xpay off, upgraded
    /// to v26.06.6, got "Unknown command 'xkeysend'" (cln-xpay disabled).
    #[test]
    fn xkeysend_only_where_cln_xpay_runs() {
        use crate::options::XpayMode;
        let v26 =
            crate::version::Features::of(&crate::version::ClnVersion::parse("v26.06.6").unwrap());
        let v25 =
            crate::version::Features::of(&crate::version::ClnVersion::parse("v25.05").unwrap());
        assert!(uses_xkeysend(&v26, XpayMode::Default) && uses_xkeysend(&v26, XpayMode::On));
        assert!(!uses_xkeysend(&v26, XpayMode::Off));
        assert!(!uses_xkeysend(&v25, XpayMode::Default));
    }

    #[test]
    fn pay_passes_its_parameters_through() {
        assert_eq!(
            pay_request(json!("lnbcrt1"), &extra(json!({"maxfee": 10}))),
            json!({"bolt11": "lnbcrt1", "maxfee": 10})
        );
    }
}
