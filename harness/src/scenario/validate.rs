//! Static checks on a parsed scenario, pure: every node a step names
//! exists, every `${...}` refers to something bound by then, every regex
//! compiles, and xpay modes agree.

use super::model::*;
use super::parse::ScenarioError;
use super::values;
use crate::options::XpayMode;
use serde_json::Value;
use std::collections::BTreeSet;

/// The name under which the chain's facts are bound for every step
/// (`${chain.op_true_address}`: where the harness mines).
pub const CHAIN_FACTS: &str = "chain";

struct Checker<'a> {
    file: &'a str,
    scenario: &'a Scenario,
    nodes: BTreeSet<String>,
}

type R = Result<(), ScenarioError>;

impl Checker<'_> {
    fn err(&self, loc: Location, key: Option<&str>, msg: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.into(),
            line: loc.line.max(1),
            column: loc.column.max(1),
            key: key.map(String::from),
            message: msg.into(),
        }
    }

    fn node(&self, loc: Location, key: &str, name: &str, ctx: &str) -> R {
        if self.nodes.contains(name) {
            return Ok(());
        }
        Err(self.err(
            loc,
            Some(key),
            format!("{ctx}: no node named `{name}` (nodes: {})", self.names()),
        ))
    }

    fn names(&self) -> String {
        self.nodes.iter().cloned().collect::<Vec<_>>().join(", ")
    }

    fn regex(&self, loc: Location, key: &str, pattern: &str, ctx: &str) -> R {
        regex::Regex::new(pattern)
            .map(|_| ())
            .map_err(|e| self.err(loc, Some(key), format!("{ctx}: bad regex: {e}")))
    }

    fn templates(&self, loc: Location, v: &Value, bound: &BTreeSet<String>, ctx: &str) -> R {
        match v {
            Value::String(s) => {
                let refs = values::references(s)
                    .map_err(|e| self.err(loc, None, format!("{ctx}: {e}")))?;
                for r in refs {
                    let expr = values::check_reference(&r)
                        .map_err(|e| self.err(loc, None, format!("{ctx}: `${{{r}}}`: {e}")))?;
                    // Selector values may hold references of their own.
                    for inner in values::references(&r).unwrap_or_default() {
                        self.templates(loc, &Value::String(format!("${{{inner}}}")), bound, ctx)?;
                    }
                    if let Some(root) = expr.roots().into_iter().find(|root| !bound.contains(*root))
                    {
                        return Err(self.err(
                            loc,
                            None,
                            format!(
                                "{ctx}: `${{{r}}}` refers to `{root}`, which is not a node, a loop variable, or a result saved by an earlier step (bound here: {})",
                                bound.iter().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
                Ok(())
            }
            Value::Array(a) => a
                .iter()
                .try_for_each(|x| self.templates(loc, x, bound, ctx)),
            Value::Object(o) => o
                .values()
                .try_for_each(|x| self.templates(loc, x, bound, ctx)),
            _ => Ok(()),
        }
    }

    /// References in a field check's expected values and path selectors.
    fn field_check(
        &self,
        loc: Location,
        fc: &FieldCheck,
        bound: &BTreeSet<String>,
        ctx: &str,
    ) -> R {
        self.templates(loc, &Value::String(fc.path.to_string()), bound, ctx)?;
        if let Some(w) = &fc.filter {
            self.templates(loc, w, bound, ctx)?;
        }
        match &fc.check {
            Check::Equals(v) | Check::Contains(v) | Check::Any(v) | Check::All(v) => {
                self.templates(loc, v, bound, ctx)
            }
            _ => Ok(()),
        }
    }

    fn steps(&self, steps: &[Step], bound: &mut BTreeSet<String>, prefix: &str) -> R {
        for (i, step) in steps.iter().enumerate() {
            let ctx = format!("step {prefix}{} (`{}`)", i + 1, step.label);
            let loc = step.location;
            if let Some(n) = step.action.node() {
                self.node(loc, "node", n, &ctx)?;
            }
            for n in step.expect.alive.iter().chain(&step.expect.dead) {
                self.node(loc, "expect", n, &ctx)?;
            }
            for fc in &step.expect.fields {
                self.field_check(loc, fc, bound, &ctx)?;
            }
            if let Action::Repeat { var, steps, .. } = &step.action {
                let mut inner = bound.clone();
                inner.insert(var.clone());
                self.steps(steps, &mut inner, &format!("{prefix}{}.", i + 1))?;
                // Results saved inside the loop stay visible after it.
                bound.extend(inner.into_iter().filter(|n| n != var));
            } else if let Action::Parallel { steps } = &step.action {
                self.parallel(step, steps, bound, &format!("{prefix}{}.", i + 1))?;
            } else {
                self.action(loc, &step.action, bound, &ctx)?;
            }
            if let Some(name) = &step.save {
                if self.nodes.contains(name) {
                    return Err(self.err(
                        loc,
                        Some("save"),
                        format!("{ctx}: `{name}` is a node name; save under another name"),
                    ));
                }
                bound.insert(name.clone());
            }
        }
        Ok(())
    }

    /// What may race inside a `parallel`: requests to nodes, and at most
    /// one step that changes the network, each checked like any step
    /// against the names bound before the `parallel` (inner steps save
    /// nothing: the `parallel`'s own result lists their answers).
    fn parallel(&self, outer: &Step, inner: &[Step], bound: &BTreeSet<String>, prefix: &str) -> R {
        let limit = outer.timeout.unwrap_or(self.scenario.step_timeout);
        let mut change: Option<(usize, &Step)> = None;
        for (i, s) in inner.iter().enumerate() {
            let ctx = format!("step {prefix}{} (`{}`)", i + 1, s.label);
            if s.action.changes_network() {
                if let Some((first, other)) = change {
                    return Err(self.err(
                        s.location,
                        Some("do"),
                        format!(
                            "{ctx}: a parallel may hold one step that changes the network, and step {prefix}{} (`{}`) already does",
                            first + 1,
                            other.label
                        ),
                    ));
                }
                change = Some((i, s));
            } else if !s.action.is_request() {
                return Err(self.err(
                    s.location,
                    Some("do"),
                    format!(
                        "{ctx}: `{}` cannot run inside a parallel; it holds requests to nodes ({}) and at most one step that changes the network ({})",
                        s.action.kind(),
                        kinds_where(StepKind::is_request),
                        kinds_where(StepKind::changes_network)
                    ),
                ));
            }
            if s.save.is_some() {
                return Err(self.err(
                    s.location,
                    Some("save"),
                    format!("{ctx}: a step inside a parallel saves nothing; save the parallel, whose result lists the inner answers in order (`${{name[0]}}` is the first)"),
                ));
            }
            if s.soft {
                return Err(self.err(
                    s.location,
                    Some("soft"),
                    format!("{ctx}: `soft` applies to the parallel as a whole"),
                ));
            }
            if let Some(t) = s.timeout.filter(|t| *t > limit) {
                return Err(self.err(
                    s.location,
                    Some("timeout"),
                    format!(
                        "{ctx}: timeout {}s is longer than the parallel's {}s, which would cut it short",
                        t.as_secs_f64(),
                        limit.as_secs_f64()
                    ),
                ));
            }
        }
        self.steps(inner, &mut bound.clone(), prefix)
    }

    /// What each kind of step refers to: peers, templates, regexes.
    fn action(&self, loc: Location, action: &Action, bound: &BTreeSet<String>, ctx: &str) -> R {
        use Action::*;
        match action {
            Connect { peer, .. }
            | OpenChannel { peer, .. }
            | WaitChannel { peer, .. }
            | Close { peer, .. }
            | ForceClose { peer, .. } => self.node(loc, "peer", peer, ctx)?,
            Witness { .. } if !self.scenario.witness => {
                return Err(self.err(
                    loc,
                    Some("witness"),
                    format!("{ctx}: a `witness` step needs `witness = true` at the top of the file (it starts electrs)"),
                ))
            }
            Bitcoin { method, params } => {
                if method.is_empty() {
                    return Err(self.err(
                        loc,
                        Some("method"),
                        format!("{ctx}: method must not be empty"),
                    ));
                }
                self.templates(loc, params, bound, ctx)?
            }
            WaitMempool { txid: Some(t), .. } => self.templates(loc, t, bound, ctx)?,
            Invoice { .. } | Pay { .. } | Keysend { .. } => self.payment(loc, action, bound, ctx)?,
            Upgrade { role, .. } if role.is_empty() => {
                return Err(self.err(
                    loc,
                    Some("role"),
                    format!("{ctx}: a role name is required"),
                ))
            }
            WaitLog { pattern, .. } | AssertLog { pattern, .. } => {
                self.regex(loc, "pattern", pattern, ctx)?
            }
            Rpc { params, method, .. } => {
                if method.is_empty() {
                    return Err(self.err(
                        loc,
                        Some("method"),
                        format!("{ctx}: method must not be empty"),
                    ));
                }
                self.templates(loc, params, bound, ctx)?
            }
            WaitRpc { params, until, .. } => {
                self.templates(loc, params, bound, ctx)?;
                self.field_check(loc, until, bound, ctx)?;
            }
            Raw {
                request: RawRequest::Json(v),
                ..
            } => self.templates(loc, v, bound, ctx)?,
            _ => {}
        }
        Ok(())
    }

    /// A payment's templates, its recipient, and its xpay mode against the node's.
    fn payment(&self, loc: Location, action: &Action, bound: &BTreeSet<String>, ctx: &str) -> R {
        use Action::*;
        match action {
            Invoice {
                amount_msat,
                label,
                description,
                ..
            } => {
                self.templates(loc, amount_msat, bound, ctx)?;
                for v in [label, description].into_iter().flatten() {
                    self.templates(loc, v, bound, ctx)?;
                }
                if let Value::Number(n) = amount_msat {
                    if n.as_u64().is_none() {
                        return Err(self.err(
                            loc,
                            Some("amount_msat"),
                            format!("{ctx}: expected a positive integer"),
                        ));
                    }
                }
            }
            Pay {
                node,
                bolt11,
                xpay,
                params,
            } => {
                self.templates(loc, bolt11, bound, ctx)?;
                self.templates(loc, &Value::Object(params.clone()), bound, ctx)?;
                let declared = self.scenario.node(node).map(|n| n.xpay).unwrap_or_default();
                if let Some(want) = xpay {
                    if *want != declared {
                        return Err(self.err(
                        loc,
                        Some("xpay"),
                        format!(
                            "{ctx}: pay with xpay `{}` but node `{node}` is declared with xpay `{}`; set `xpay = \"{}\"` under [nodes.{node}]",
                            mode(*want),
                            mode(declared),
                            mode(*want)
                        ),
                    ));
                    }
                }
            }
            Keysend {
                to,
                amount_msat,
                params,
                ..
            } => {
                self.templates(loc, to, bound, ctx)?;
                self.templates(loc, &Value::Object(params.clone()), bound, ctx)?;
                self.templates(loc, amount_msat, bound, ctx)?;
                if let Value::String(s) = to {
                    let is_id = s.len() == 66 && s.chars().all(|c| c.is_ascii_hexdigit());
                    if !s.contains("${") && !is_id {
                        self.node(loc, "to", s, ctx)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The step kinds for which `pick` holds, for messages.
fn kinds_where(pick: fn(StepKind) -> bool) -> String {
    STEP_KINDS
        .iter()
        .filter(|name| StepKind::from_name(name).is_some_and(pick))
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

fn mode(m: XpayMode) -> &'static str {
    match m {
        XpayMode::Default => "default",
        XpayMode::On => "on",
        XpayMode::Off => "off",
    }
}

pub fn validate(file: &str, s: &Scenario) -> Result<(), ScenarioError> {
    let c = Checker {
        file,
        scenario: s,
        nodes: s.nodes.iter().map(|n| n.name.clone()).collect(),
    };
    let top = Location { line: 1, column: 1 };
    if s.nodes.is_empty() {
        return Err(c.err(top, Some("nodes"), "a scenario needs at least one node"));
    }
    for p in &s.broken_log {
        c.regex(top, "broken_log", p, "scenario")?;
    }
    for n in &s.nodes {
        for (key, value) in &n.options {
            let refs = value
                .as_deref()
                .map(values::references)
                .transpose()
                .map_err(|e| {
                    c.err(
                        top,
                        Some(key),
                        format!("node `{}` option `{key}`: {e}", n.name),
                    )
                })?;
            if let Some(bad) = refs
                .unwrap_or_default()
                .into_iter()
                .find(|r| r != "scenario.dir")
            {
                return Err(c.err(top, Some(key), format!("node `{}` option `{key}`: `${{{bad}}}`: an option may only refer to `${{scenario.dir}}` (the scenario file's directory)", n.name)));
            }
        }
    }
    for (i, ch) in s.channels.iter().enumerate() {
        let ctx = format!("channel {}", i + 1);
        c.node(ch.location, "from", &ch.from, &ctx)?;
        c.node(ch.location, "to", &ch.to, &ctx)?;
        if ch.from == ch.to {
            return Err(c.err(
                ch.location,
                Some("to"),
                format!("{ctx}: a channel needs two different nodes"),
            ));
        }
        if ch.amount_sat == 0 {
            return Err(c.err(
                ch.location,
                Some("amount_sat"),
                format!("{ctx}: amount must be positive"),
            ));
        }
    }
    let mut bound: BTreeSet<String> = c.nodes.clone();
    // The harness's own facts (`${chain.op_true_address}`), unless a node
    // has the name.
    bound.insert(CHAIN_FACTS.into());
    c.steps(&s.steps, &mut bound, "")
}
