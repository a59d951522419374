//! Steps: the compact form rewritten into the long one, then each step's
//! kind, common keys (`name`, `save`, `timeout`, `soft`, `expect`) and the
//! keys of its action.

use super::checks::{parse_expect, parse_field_check};
use super::fields::{suggest, Fields, R};
use super::source::{tv_span_of_key, Entry, Source, Tv, TvKind};
use super::ScenarioError;
use crate::options::XpayMode;
use crate::scenario::model::*;
use serde_json::Value;
use std::time::Duration;

pub(super) fn parse_steps(src: &Source, tv: &Tv, prefix: &str) -> R<Vec<Step>> {
    let TvKind::Array(items) = &tv.kind else {
        return Err(src.error(
            &tv.span,
            Some("steps"),
            "expected an array of tables ([[steps]])",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, s)| parse_step(src, s, &format!("{prefix}{}", i + 1)))
        .collect()
}

/// What the value of a step's kind key names in the compact form
/// (`{ keysend = "alice", ... }`, `{ mine = 6 }`).
fn head_key(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Mine => "blocks",
        StepKind::Sleep => "seconds",
        StepKind::Repeat => "times",
        StepKind::Parallel => "steps",
        StepKind::Bitcoin => "method",
        StepKind::WaitMempool => "count",
        _ => "node",
    }
}

/// The compact form, one step a line: the step kind is a key whose value
/// is the step's head (its node, or blocks/seconds/times/method/count, or
/// a `parallel`'s inner steps).
/// Rewritten into the long form, with the spans of what was written, so
/// errors point at the same places in both forms.
fn expand_compact(src: &Source, tv: &Tv, number: &str) -> R<Tv> {
    let TvKind::Table(entries) = &tv.kind else {
        return Ok(tv.clone());
    };
    if entries.iter().any(|(k, _, _)| k == "do") {
        return Ok(tv.clone());
    }
    let kinds: Vec<(&Entry, StepKind)> = entries
        .iter()
        .filter_map(|e| Some((e, StepKind::from_name(&e.0)?)))
        .collect();
    match kinds.as_slice() {
        [] => Err(src.error(
            &tv.span,
            Some("do"),
            format!("step {number}: no step kind: write `do = \"KIND\"`, or the kind as a key (`{{ keysend = \"alice\", ... }}`); steps are: {}", STEP_KINDS.join(", ")),
        )),
        [((kind, kspan, head), step_kind)] => {
            let head_name = head_key(*step_kind);
            if let Some((_, span, _)) = entries.iter().find(|(k, _, _)| k == head_name) {
                return Err(src.error(span, Some(head_name), format!("step {number}: `{kind} = ...` already gives the {head_name}; drop `{head_name}`")));
            }
            let mut out = Vec::with_capacity(entries.len() + 1);
            for (k, ks, v) in entries {
                if k == kind {
                    out.push(("do".to_string(), kspan.clone(), Tv { span: kspan.clone(), kind: TvKind::Str(kind.clone()) }));
                    out.push((head_name.to_string(), head.span.clone(), head.clone()));
                } else {
                    out.push((k.clone(), ks.clone(), v.clone()));
                }
            }
            Ok(Tv { span: tv.span.clone(), kind: TvKind::Table(out) })
        }
        [((a, _, _), _), ((b, bspan, _), _), ..] => Err(src.error(bspan, Some(b), format!("step {number}: one step per table, found `{a}` and `{b}`"))),
    }
}

/// Parameters `pay` and `keysend` pass through to their RPCs (from CLN's
/// request schemas, v24.11 to v26.06); anything else is an unknown key.
pub const PAY_PARAMS: &[&str] = &[
    "amount_msat",
    "label",
    "riskfactor",
    "maxfeepercent",
    "retry_for",
    "maxdelay",
    "exemptfee",
    "localinvreqid",
    "exclude",
    "maxfee",
    "description",
    "partial_msat",
];
pub const KEYSEND_PARAMS: &[&str] = &[
    "label",
    "maxfeepercent",
    "retry_for",
    "maxdelay",
    "exemptfee",
    "routehints",
    "extratlvs",
    "maxfee",
];

fn passthrough(f: &mut Fields, keys: &[&'static str]) -> R<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for k in keys {
        if let Some(v) = f.opt_value(k)? {
            out.insert(k.to_string(), v);
        }
    }
    Ok(out)
}

pub(super) fn parse_step(src: &Source, tv: &Tv, number: &str) -> R<Step> {
    let tv = &expand_compact(src, tv, number)?;
    let mut f = Fields::new(src, tv, format!("step {number}"))?;
    let name = f.string("do")?;
    let Some(kind) = StepKind::from_name(&name) else {
        let hint = suggest(&name, STEP_KINDS)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let span = tv_span_of_key(tv, "do").unwrap_or(tv.span.clone());
        return Err(src.error(
            &span,
            Some("do"),
            format!(
                "step {number}: unknown step `{name}`{hint}; steps are: {}",
                STEP_KINDS.join(", ")
            ),
        ));
    };
    f.context = format!("step {number} (`{name}`)");
    let label = f.opt_string("name")?.unwrap_or_else(|| name.clone());
    let save = f.opt_string("save")?;
    let timeout = f.opt_seconds("timeout")?.map(Duration::from_secs_f64);
    let soft = f.opt_bool("soft")?.unwrap_or(false);
    let expect = match f.take("expect") {
        Some(e) => parse_expect(src, &e, number)?,
        None => Expect::default(),
    };
    let action = action(src, &mut f, kind, number)?;
    f.finish()?;
    Ok(Step {
        label,
        location: src.location(tv.span.start),
        action,
        save,
        expect,
        timeout,
        soft,
    })
}

/// The action's own keys, read by the family of steps the kind belongs to.
fn action(src: &Source, f: &mut Fields, kind: StepKind, number: &str) -> R<Action> {
    use StepKind as K;
    match kind {
        K::Fund | K::Witness | K::Restart | K::Kill | K::Start | K::Stop | K::CheckDb => {
            node_step(f, kind)
        }
        K::Upgrade | K::WaitLog | K::AssertLog | K::AssertAlive => node_state_step(f, kind),
        K::Connect | K::OpenChannel | K::WaitChannel | K::Close | K::ForceClose => {
            channel_step(f, kind)
        }
        K::Invoice | K::Pay | K::Keysend => payment_step(f, kind),
        K::Mine | K::WaitSwept | K::Bitcoin | K::WaitMempool | K::Sleep => chain_step(f, kind),
        K::Rpc | K::Raw | K::WaitRpc => rpc_step(src, f, kind, number),
        K::Repeat => repeat_step(src, f, number),
        K::Parallel => parallel_step(src, f, number),
    }
}

/// A family handed a kind that is not its own: a mistake in [`action`],
/// reported like any other error rather than a panic.
fn not_in_family(f: &Fields, kind: StepKind) -> ScenarioError {
    f.src.error(
        &f.span,
        Some("do"),
        format!(
            "{}: `{}` is listed as a step kind but has no parser",
            f.context,
            kind.name()
        ),
    )
}

fn node(f: &mut Fields) -> R<String> {
    f.string("node")
}

/// Steps whose one key is the node they act on.
fn node_step(f: &mut Fields, kind: StepKind) -> R<Action> {
    let node = node(f)?;
    Ok(match kind {
        StepKind::Fund => Action::Fund {
            node,
            amount_sat: f.opt_u64("amount_sat")?,
        },
        StepKind::Witness => Action::Witness { node },
        StepKind::Restart => Action::Restart { node },
        StepKind::Kill => Action::Kill { node },
        StepKind::Start => Action::Start { node },
        StepKind::Stop => Action::Stop { node },
        StepKind::CheckDb => Action::CheckDb { node },
        other => return Err(not_in_family(f, other)),
    })
}

/// Steps on one node's binary, process or log.
fn node_state_step(f: &mut Fields, kind: StepKind) -> R<Action> {
    Ok(match kind {
        StepKind::Upgrade => Action::Upgrade {
            node: node(f)?,
            role: f.string("role")?,
        },
        StepKind::WaitLog => Action::WaitLog {
            node: node(f)?,
            pattern: f.string("pattern")?,
        },
        StepKind::AssertLog => Action::AssertLog {
            node: node(f)?,
            pattern: f.string("pattern")?,
            present: f.opt_bool("present")?.unwrap_or(true),
        },
        StepKind::AssertAlive => Action::AssertAlive {
            node: node(f)?,
            alive: f.opt_bool("alive")?.unwrap_or(true),
        },
        other => return Err(not_in_family(f, other)),
    })
}

/// Steps between a node and its peer.
fn channel_step(f: &mut Fields, kind: StepKind) -> R<Action> {
    Ok(match kind {
        StepKind::Connect => Action::Connect {
            node: node(f)?,
            peer: f.string("peer")?,
        },
        StepKind::OpenChannel => Action::OpenChannel {
            node: node(f)?,
            peer: f.string("peer")?,
            amount_sat: f.opt_u64("amount_sat")?.unwrap_or(1_000_000),
            announce: f.opt_bool("announce")?.unwrap_or(true),
            push_msat: f.opt_u64("push_msat")?.unwrap_or(0),
        },
        StepKind::WaitChannel => Action::WaitChannel {
            node: node(f)?,
            peer: f.string("peer")?,
            state: f
                .opt_string("state")?
                .unwrap_or_else(|| "CHANNELD_NORMAL".into()),
        },
        StepKind::Close => Action::Close {
            node: node(f)?,
            peer: f.string("peer")?,
            unilateral_after: f.opt_u64("unilateral_after")?,
        },
        StepKind::ForceClose => Action::ForceClose {
            node: node(f)?,
            peer: f.string("peer")?,
        },
        other => return Err(not_in_family(f, other)),
    })
}

fn payment_step(f: &mut Fields, kind: StepKind) -> R<Action> {
    Ok(match kind {
        StepKind::Invoice => Action::Invoice {
            node: node(f)?,
            amount_msat: f.value("amount_msat")?,
            label: f.opt_value("label")?,
            description: f.opt_value("description")?,
        },
        StepKind::Pay => {
            let node = node(f)?;
            let bolt11 = f.value("bolt11")?;
            let xpay = match f.take("xpay") {
                None => None,
                Some(v) => Some(match &v.kind {
                    TvKind::Str(s) => XpayMode::parse(s).ok_or_else(|| {
                        f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\"")
                    })?,
                    _ => return Err(f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\"")),
                }),
            };
            let params = passthrough(f, PAY_PARAMS)?;
            Action::Pay {
                node,
                bolt11,
                xpay,
                params,
            }
        }
        StepKind::Keysend => Action::Keysend {
            node: node(f)?,
            to: f.value("to")?,
            amount_msat: f.value("amount_msat")?,
            params: passthrough(f, KEYSEND_PARAMS)?,
        },
        other => return Err(not_in_family(f, other)),
    })
}

/// Steps on bitcoind and the chain, and waiting.
fn chain_step(f: &mut Fields, kind: StepKind) -> R<Action> {
    Ok(match kind {
        StepKind::Mine => Action::Mine {
            blocks: f.opt_u64("blocks")?.unwrap_or(1),
        },
        StepKind::WaitSwept => Action::WaitSwept {
            node: node(f)?,
            max_blocks: f.opt_u64("max_blocks")?.unwrap_or(30),
        },
        StepKind::Bitcoin => Action::Bitcoin {
            method: f.string("method")?,
            params: f
                .optional("params", |s, tv| match &tv.kind {
                    TvKind::Array(_) => Ok(tv.to_json()),
                    _ => Err(s.err(
                        tv,
                        "params",
                        "expected a list of positional arguments, e.g. [\"${close.txid}\"]",
                    )),
                })?
                .unwrap_or(Value::Array(vec![])),
        },
        StepKind::WaitMempool => Action::WaitMempool {
            count: f.opt_u64("count")?.unwrap_or(1),
            txid: f.opt_value("txid")?,
        },
        StepKind::Sleep => Action::Sleep {
            seconds: f.opt_seconds("seconds")?.unwrap_or(1.0),
        },
        other => return Err(not_in_family(f, other)),
    })
}

/// Requests to a node's RPC: plain, raw bytes, or polled until a check holds.
fn rpc_step(src: &Source, f: &mut Fields, kind: StepKind, number: &str) -> R<Action> {
    let empty_object = || Value::Object(Default::default());
    Ok(match kind {
        StepKind::Rpc => Action::Rpc {
            node: node(f)?,
            method: f.string("method")?,
            params: f.opt_value("params")?.unwrap_or_else(empty_object),
        },
        StepKind::Raw => {
            let node = node(f)?;
            let request = f.required("request", |s, tv| match &tv.kind {
                TvKind::Table(_) => Ok(RawRequest::Json(tv.to_json())),
                TvKind::Str(text) => Ok(RawRequest::Text(text.clone())),
                _ => Err(s.err(
                    tv,
                    "request",
                    "expected a table (a JSON object) or a string (exact bytes)",
                )),
            })?;
            Action::Raw { node, request }
        }
        StepKind::WaitRpc => {
            let node = node(f)?;
            let method = f.string("method")?;
            let params = f.opt_value("params")?.unwrap_or_else(empty_object);
            let until = f.required("until", |_, tv| {
                parse_field_check(src, tv, &format!("step {number} `until`"))
            })?;
            Action::WaitRpc {
                node,
                method,
                params,
                until,
            }
        }
        other => return Err(not_in_family(f, other)),
    })
}

fn repeat_step(src: &Source, f: &mut Fields, number: &str) -> R<Action> {
    let times = f.required("times", |s, tv| match tv.kind {
        TvKind::Int(i) if (1..=100_000).contains(&i) => Ok(i as u64),
        _ => Err(s.err(tv, "times", "expected an integer from 1 to 100000")),
    })?;
    let var = f.opt_string("var")?.unwrap_or_else(|| "i".into());
    let steps = f.required("steps", |_, tv| parse_steps(src, tv, &format!("{number}.")))?;
    Ok(Action::Repeat { times, var, steps })
}

/// The inner steps, parsed like any others; which kinds may race is
/// `validate`'s business. Fewer than two would race nothing.
fn parallel_step(src: &Source, f: &mut Fields, number: &str) -> R<Action> {
    let steps = f.required("steps", |s, tv| {
        let steps = parse_steps(src, tv, &format!("{number}."))?;
        if steps.len() < 2 {
            return Err(s.err(
                tv,
                "steps",
                format!(
                    "a parallel needs at least two inner steps to start at once, found {}",
                    steps.len()
                ),
            ));
        }
        Ok(steps)
    })?;
    Ok(Action::Parallel { steps })
}
