//! The step loop: each step under its guard, its expectations, who died
//! during it, and the finding it makes. Setup (starting the nodes, opening
//! the channels) and the end-of-run checks go through here too, so a death
//! anywhere is found the same way.

use super::expect;
use super::liveness::{Death, Liveness, DYING_GRACE};
use super::record::{Recorder, StepRecord};
use super::steps::{net_step_error, secs, StepError, World};
use crate::network::ChannelSpec;
use crate::outcome::{Finding, OutcomeKind, StepRef};
use crate::scenario::values::Bindings;
use crate::scenario::*;
use serde_json::{json, Value};
use std::time::Instant;

/// How much longer than its own deadline a wait step may take before it
/// counts as stuck (a `hang`).
const WAIT_GUARD: std::time::Duration = std::time::Duration::from_secs(5);
/// How much longer than its timeout any other step may take before the
/// guard calls it stuck: past its own call's timeout, never before it.
const CALL_GUARD: std::time::Duration = std::time::Duration::from_millis(500);

fn setup_ref() -> StepRef {
    StepRef {
        index: "0".into(),
        name: "setup".into(),
    }
}

pub(super) struct Driver<'a> {
    pub scenario: &'a Scenario,
    pub world: World<'a>,
    pub bindings: Bindings,
    pub liveness: Liveness,
    pub rec: Recorder<'a>,
}

impl Driver<'_> {
    /// Start every node and (with `setup = "auto"`) open the channels, or
    /// (from a fixture) reconnect its channels and wait until they are normal.
    pub(super) async fn setup(
        &mut self,
        fixture_channels: Option<&[crate::fixture::FixtureChannel]>,
    ) -> bool {
        let names: Vec<&str> = self
            .scenario
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect();
        self.rec.phase(&format!("starting {}", names.join(", ")));
        let started = self.world.net.start_all().await;
        // Only nodes that did start are expected up: one that refused its
        // options or died while starting is reported by the start's error.
        for n in &mut self.world.net.nodes {
            if n.is_running() {
                self.liveness.expect_up(&n.name);
            }
        }
        if let Err(e) = started {
            return self.setup_failed(net_step_error(e)).await;
        }
        self.world.node_facts(&mut self.bindings);
        if let Some(channels) = fixture_channels {
            self.rec.phase("reconnecting the fixture's channels");
            if let Err(e) = self.world.resume_channels(channels).await {
                return self.setup_failed(net_step_error(e)).await;
            }
            return true;
        }
        if self.scenario.setup == Setup::Auto && !self.scenario.channels.is_empty() {
            let specs: Vec<ChannelSpec> = self
                .scenario
                .channels
                .iter()
                .map(|c| ChannelSpec {
                    from: c.from.clone(),
                    to: c.to.clone(),
                    amount_sat: c.amount_sat,
                    announce: c.announce,
                    push_msat: c.push_msat,
                })
                .collect();
            let rec = std::cell::RefCell::new(&mut self.rec);
            let progress = |m: &str| rec.borrow_mut().phase(m);
            let opened = self.world.net.open_channels(&specs, &progress).await;
            if let Err(e) = opened {
                return self.setup_failed(net_step_error(e)).await;
            }
        }
        true
    }

    async fn setup_failed(&mut self, e: StepError) -> bool {
        let e = self.settle(e).await;
        let deaths = self.liveness.deaths(&mut self.world.net, true).await;
        if !self.record_deaths(&setup_ref(), &deaths, Some(&e)) {
            let f = finding_of(&e, setup_ref(), None, "setting up");
            self.rec.finding(f);
        }
        false
    }

    /// Run steps; returns false once the run must stop.
    pub(super) fn run_steps<'s>(
        &'s mut self,
        steps: &'s [Step],
        prefix: &'s str,
        iteration: Option<u64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + 's>> {
        Box::pin(async move {
            for (i, step) in steps.iter().enumerate() {
                let index = match iteration {
                    Some(it) => format!("{prefix}{}#{it}", i + 1),
                    None => format!("{prefix}{}", i + 1),
                };
                if let Action::Repeat {
                    times,
                    var,
                    steps: body,
                } = &step.action
                {
                    for it in 1..=*times {
                        self.bindings.insert(var.clone(), json!(it));
                        let inner_prefix = format!("{}{}.", prefix, i + 1);
                        if !self.run_steps(body, &inner_prefix, Some(it)).await {
                            return false;
                        }
                    }
                    self.bindings.remove(var);
                    continue;
                }
                if !self.run_one(step, index).await {
                    return false;
                }
            }
            true
        })
    }

    /// A broken connection: give the node time to finish dying, so the
    /// death (not the broken socket) is what gets reported. A node that
    /// lives on leaves the step's own error.
    async fn settle(&mut self, e: StepError) -> StepError {
        match e {
            StepError::ConnectionLost {
                node, otherwise, ..
            } => {
                if let Ok(n) = self.world.net.node_mut(&node) {
                    n.wait_exit(DYING_GRACE).await;
                }
                *otherwise
            }
            other => other,
        }
    }

    /// A call to `node` never answered: name what its processes were doing
    /// (before the deaths probe and teardown touch it) in the step's words.
    async fn probe_hang(&mut self, node: &str, what: String) -> String {
        let summary = match self.world.net.node_mut(node) {
            Ok(n) => n.probe_hang(&what).await,
            Err(_) => None,
        };
        match summary {
            Some(s) => format!("{what}; {s}"),
            None => what,
        }
    }

    async fn run_one(&mut self, step: &Step, index: String) -> bool {
        let sref = StepRef {
            index,
            name: step_title(step),
        };
        let node = step.action.node().map(String::from);
        let timeout = step.timeout.unwrap_or(self.scenario.step_timeout);
        let (t0, at_ms) = (Instant::now(), self.rec.elapsed_ms());
        let result = match &step.action {
            Action::Parallel { steps } => self.run_parallel(steps, timeout).await,
            action => self.run_action(action, timeout).await,
        };
        self.await_expected_deaths(step).await;
        let ended_in_error = result.is_err();
        let checked = self.check(step, result);
        // A node that died during the step, whatever the step said.
        let deaths = self
            .liveness
            .deaths(&mut self.world.net, ended_in_error)
            .await;
        let status = match &checked {
            _ if self.record_deaths(&sref, &deaths, checked.as_ref().err()) => OutcomeKind::Crash,
            Ok(v) => {
                if let Some(name) = &step.save {
                    self.bindings.insert(name.clone(), v.clone());
                }
                OutcomeKind::Pass
            }
            Err(e) => {
                if let StepError::Crash { node, .. } = e {
                    self.liveness.expect_down(node);
                    if let Ok(n) = self.world.net.node_mut(node) {
                        n.kill().await;
                    }
                }
                let f = finding_of(e, sref.clone(), node.as_deref(), "");
                let kind = f.kind;
                self.rec.finding(f);
                kind
            }
        };
        let detail = match (&checked, self.rec.findings.last()) {
            (Ok(v), _) if status == OutcomeKind::Pass => crate::text::truncate(&v.to_string(), 160),
            (_, Some(f)) => f.detail.clone(),
            _ => String::new(),
        };
        self.rec.step(StepRecord {
            step: sref,
            node,
            status,
            elapsed_ms: t0.elapsed().as_millis(),
            detail,
            at_ms,
        });
        status == OutcomeKind::Pass || (step.soft && status == OutcomeKind::Fail)
    }

    /// One step's action under its guard: the node it stops expected
    /// down first, a broken connection settled, a hang probed, and the
    /// node it starts expected up after.
    async fn run_action(
        &mut self,
        action: &Action,
        timeout: std::time::Duration,
    ) -> Result<serde_json::Value, StepError> {
        self.before_change(action);
        let result = match tokio::time::timeout(
            guard(action.is_wait(), timeout),
            self.world.execute(action, &self.bindings, timeout),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(StepError::Hang(format!(
                "did not finish within {}",
                secs(timeout)
            ))),
        };
        let result = self.settled(action.node(), result).await;
        self.after_change(action, &result);
        result
    }

    /// A step's error settled ([`Self::settle`]) and, when a call to `node`
    /// never answered, what its processes were doing.
    pub(super) async fn settled(
        &mut self,
        node: Option<&str>,
        result: Result<serde_json::Value, StepError>,
    ) -> Result<serde_json::Value, StepError> {
        let result = match result {
            Err(e) => Err(self.settle(e).await),
            ok => ok,
        };
        match (result, node) {
            (Err(StepError::Hang(what)), Some(n)) => {
                Err(StepError::Hang(self.probe_hang(n, what).await))
            }
            (other, _) => other,
        }
    }

    /// Before a step that stops its node: that node's exit is no death.
    pub(super) fn before_change(&mut self, action: &Action) {
        if let (true, Some(n)) = (action.stops_node(), action.node()) {
            self.liveness.expect_down(n);
        }
    }

    /// After a step that starts its node: up if it started (with its facts
    /// renewed: an upgrade changes `${node.version}`), down if the binary
    /// refused to start. A binary that refused (an option it does not
    /// know, a database from a newer version) never ran: its absence is
    /// the environment error the step reports, not a death.
    pub(super) fn after_change(
        &mut self,
        action: &Action,
        result: &Result<serde_json::Value, StepError>,
    ) {
        let (true, Some(n)) = (action.starts_node(), action.node()) else {
            return;
        };
        match result {
            Ok(_) => {
                self.liveness.expect_up(n);
                self.world.node_facts(&mut self.bindings);
            }
            Err(StepError::Env(_)) => self.liveness.expect_down(n),
            Err(_) => {}
        }
    }

    /// A node the step expects dead may be on its way down.
    pub(super) async fn await_expected_deaths(&mut self, step: &Step) {
        for n in &step.expect.dead {
            self.liveness.expect_down(n);
            if let Ok(node) = self.world.net.node_mut(n) {
                node.wait_exit(DYING_GRACE).await;
            }
        }
    }

    /// Apply the step's expectations to its result.
    pub(super) fn check(
        &mut self,
        step: &Step,
        result: Result<serde_json::Value, StepError>,
    ) -> Result<serde_json::Value, StepError> {
        let expectable = match result {
            Ok(v) => Ok(v),
            // A plain failure where success was expected keeps its own words.
            Err(StepError::Fail(m)) if step.expect.result == ExpectResult::Ok => {
                return Err(StepError::Fail(m))
            }
            Err(e) => match e.as_expectable() {
                Some(v) => Err(v),
                None => return Err(e),
            },
        };
        let value = expect::check_result(&step.expect, expectable, &self.bindings)
            .map_err(StepError::Fail)?;
        for (names, want_alive) in [(&step.expect.alive, true), (&step.expect.dead, false)] {
            for name in names {
                let alive = self
                    .world
                    .net
                    .node_mut(name)
                    .map(|n| n.is_running())
                    .unwrap_or(false);
                if alive != want_alive {
                    let word = |a: bool| if a { "alive" } else { "dead" };
                    return Err(StepError::Fail(format!(
                        "expected {name} to be {}, but it is {}",
                        word(want_alive),
                        word(alive)
                    )));
                }
            }
        }
        Ok(value)
    }

    /// Record each death as a crash at `at`; returns whether there was one.
    /// The step's own error, if any, is kept as context.
    fn record_deaths(
        &mut self,
        at: &StepRef,
        deaths: &[Death],
        step_error: Option<&StepError>,
    ) -> bool {
        let context = match step_error {
            Some(StepError::Rpc(v)) => format!("; the step got {}", crate::text::json_brief(v)),
            Some(StepError::Fail(m) | StepError::Hang(m) | StepError::Env(m)) => {
                format!("; the step: {m}")
            }
            _ => String::new(),
        };
        for d in deaths {
            let detail = format!("{} died ({}){context}", d.node, d.exit);
            self.rec.finding(Finding::new(
                OutcomeKind::Crash,
                Some(at.clone()),
                Some(d.node.clone()),
                detail,
            ));
        }
        !deaths.is_empty()
    }

    /// With the chain witness, once every channel is closed and swept:
    /// funds are conserved (a `fail` at "the end" otherwise).
    pub(super) async fn conservation(&mut self) {
        let at = StepRef {
            index: "end".into(),
            name: "funds conserved (chain witness)".into(),
        };
        match self.world.conservation(self.scenario.step_timeout).await {
            Ok(Some(v)) => {
                let unbounded = match v["spliced_unbounded"].as_array() {
                    Some(names) if !names.is_empty() => {
                        format!(
                            "; no per-node bound for {} (a spliced channel)",
                            Value::Array(names.clone())
                        )
                    }
                    _ => String::new(),
                };
                self.rec.phase(&format!(
                    "funds conserved (chain witness): wallets {} sat, fees {} sat, stranded {} sat of {} sat in channels{unbounded}",
                    v["wallets_sat"], v["fees_sat"], v["stranded_sat"], v["capacities_sat"]
                ))
            }
            Ok(None) => self
                .rec
                .phase("conservation not checked: a channel is still open or unswept"),
            Err(e) => self.rec.finding(finding_of(&e, at, None, "")),
        }
    }

    /// A node can die after the last step (an asynchronous crash): that is
    /// a crash too, not something teardown silently absorbs.
    pub(super) async fn deaths_after_the_steps(&mut self) {
        let deaths = self.liveness.deaths(&mut self.world.net, true).await;
        let at = StepRef {
            index: "end".into(),
            name: "after the last step".into(),
        };
        self.record_deaths(&at, &deaths, None);
    }
}

/// The finding a step error makes at `step`; `node` is the step's node,
/// unless the error names the node that died.
pub(super) fn finding_of(
    e: &StepError,
    step: StepRef,
    node: Option<&str>,
    context: &str,
) -> Finding {
    let node = node.map(String::from);
    let prefix = if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    };
    let (kind, node, detail) = match e {
        StepError::Rpc(v) => (
            OutcomeKind::Fail,
            node,
            format!("error {}", crate::text::json_brief(v)),
        ),
        StepError::Fail(d) => (OutcomeKind::Fail, node, d.clone()),
        StepError::Hang(d) => (OutcomeKind::Hang, node, d.clone()),
        StepError::ConnectionLost {
            node: n, detail, ..
        } => (OutcomeKind::Fail, Some(n.clone()), detail.clone()),
        StepError::Crash {
            node: n,
            exit,
            detail,
        } => (
            OutcomeKind::Crash,
            Some(n.clone()),
            format!("{n} died with {exit} while starting; {detail}"),
        ),
        StepError::Env(d) => (OutcomeKind::Error, node, d.clone()),
    };
    Finding::new(kind, Some(step), node, format!("{prefix}{detail}"))
}

/// How long a step may take before the guard calls it stuck.
/// A wait's own deadline is the step's timeout, and its expiry a `fail`
/// that shows what it saw; the guard only catches a wait that itself got
/// stuck. A call's own timeout is the step's too; the guard waits a moment
/// longer so the call's words ("`freeze` did not answer") win the race
/// over the guard's, and a hang's headline names the call.
pub(super) fn guard(is_wait: bool, timeout: std::time::Duration) -> std::time::Duration {
    if is_wait {
        timeout + WAIT_GUARD
    } else {
        timeout + CALL_GUARD
    }
}

/// `keysend alice → bob`, for step lines.
pub fn step_title(step: &Step) -> String {
    use Action::*;
    let to_text = |v: &serde_json::Value| {
        v.as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string())
    };
    let detail = match &step.action {
        Keysend { node, to, .. } => format!("{node} → {}", to_text(to)),
        Connect { node, peer }
        | OpenChannel { node, peer, .. }
        | WaitChannel { node, peer, .. } => format!("{node} → {peer}"),
        Upgrade { node, role } => format!("{node} → {role}"),
        Rpc { node, method, .. } | WaitRpc { node, method, .. } => format!("{node} {method}"),
        Mine { blocks } => format!("{blocks}"),
        Parallel { steps } => steps.iter().map(step_title).collect::<Vec<_>>().join(" ‖ "),
        other => other.node().unwrap_or("").to_string(),
    };
    if step.label != step.action.kind() {
        return step.label.clone();
    }
    format!("{} {detail}", step.label).trim().to_string()
}
