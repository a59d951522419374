//! Runs a validated scenario step by step against a real network and
//! records what happened: step results, node deaths, timeouts. Deciding
//! the outcome is `outcome`'s job; rendering is `report`'s.

use crate::binaries::{BitcoinBins, Discovery, Lightningd};
use crate::network::{ChannelSpec, Network, NetworkError, RunDir};
use crate::node::{StartError, StartErrorKind};
use crate::options::{NodeConfig, XpayMode};
use crate::outcome::{Finding, OutcomeKind, StepRef};
use crate::process::Exit;
use crate::rpc::{CallError, CallErrorKind, RawReply};
use crate::scenario::values::{self, Bindings};
use crate::scenario::*;
use crate::version::Features;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the caller hands the executor.
pub struct RunConfig {
    pub discovery: Discovery,
    pub bitcoin: BitcoinBins,
    pub keep: bool,
}

/// One step as it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRecord {
    pub step: StepRef,
    pub node: Option<String>,
    pub status: OutcomeKind,
    pub elapsed_ms: u128,
    pub detail: String,
    /// Wall-clock offset from the start of the run.
    pub at_ms: u128,
}

/// A line of progress for the human output.
pub enum Event<'a> {
    Phase(&'a str),
    StepEnded(&'a StepRecord),
}

/// Everything a run leaves for evidence and reports. The network is kept
/// (stopped) so evidence can read each node's files after exit.
pub struct RunState {
    pub network: Option<Network>,
    pub run_dir: RunDir,
    pub roles: BTreeMap<String, Lightningd>,
    pub node_roles: BTreeMap<String, String>,
    pub steps: Vec<StepRecord>,
    pub findings: Vec<Finding>,
    pub started: Instant,
}

enum StepError {
    /// Expectation failed.
    Fail(String),
    /// Timed out (an RPC or the whole step).
    Hang(String),
    /// The step's node died.
    Crash { node: String, exit: Option<Exit>, detail: String },
    /// Environment.
    Env(String),
}

impl StepError {
    /// The finding this error makes at `step`; `node` is the step's node,
    /// unless the error names the node that died.
    fn finding(&self, step: StepRef, node: Option<&str>) -> Finding {
        let node = node.map(String::from);
        let (kind, node, detail) = match self {
            StepError::Fail(d) => (OutcomeKind::Fail, node, d.clone()),
            StepError::Hang(d) => (OutcomeKind::Hang, node, d.clone()),
            StepError::Crash { node, exit, detail } => (
                OutcomeKind::Crash,
                Some(node.clone()),
                match exit {
                    Some(e) => format!("{node} died with {e} during the step; {detail}"),
                    None => format!("{detail} (the node did not exit within 10s)"),
                },
            ),
            StepError::Env(d) => (OutcomeKind::Error, node, d.clone()),
        };
        Finding { kind, step: Some(step), node, detail }
    }
}

/// Node liveness the scenario expects, so a stop is not mistaken for a crash.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expected {
    Up,
    Down,
}

struct Ctx<'a> {
    scenario: &'a Scenario,
    cfg: &'a RunConfig,
    net: Network,
    roles: BTreeMap<String, Lightningd>,
    bindings: Bindings,
    expected: BTreeMap<String, Expected>,
    steps: Vec<StepRecord>,
    findings: Vec<Finding>,
    started: Instant,
    on_event: &'a mut dyn FnMut(Event),
    labels: u64,
    /// The role each node currently runs (an upgrade changes it).
    node_roles: BTreeMap<String, String>,
}

pub async fn run(scenario: &Scenario, cfg: &RunConfig, on_event: &mut dyn FnMut(Event)) -> RunState {
    let started = Instant::now();
    let mut findings = Vec::new();
    let run_dir = match RunDir::new(cfg.keep) {
        Ok(d) => d,
        Err(e) => panic!("cannot create a run dir in {}: {e}", std::env::temp_dir().display()),
    };
    let mut state = RunState {
        network: None,
        run_dir,
        roles: BTreeMap::new(),
        node_roles: scenario.nodes.iter().map(|n| (n.name.clone(), n.role.clone())).collect(),
        steps: vec![],
        findings: vec![],
        started,
    };
    let env = |detail: String| Finding { kind: OutcomeKind::Error, step: None, node: None, detail };

    // Every role the scenario needs, resolved up front: a missing binary is
    // an environment error before anything starts.
    for role in scenario.roles() {
        match cfg.discovery.resolve(&role) {
            Ok(b) => {
                state.roles.insert(role, b);
            }
            Err(e) => findings.push(env(e.to_string())),
        }
    }
    if !findings.is_empty() {
        state.findings = findings;
        return state;
    }
    on_event(Event::Phase("starting bitcoind"));
    let nodes = scenario.nodes.iter().map(|n| (node_config(n), state.roles[&n.role].clone())).collect();
    let net = match Network::create(state.run_dir.path(), &cfg.bitcoin, nodes) {
        Ok(n) => n,
        Err(e) => {
            state.findings.push(env(e.to_string()));
            return state;
        }
    };
    let mut ctx = Ctx {
        scenario,
        cfg,
        net,
        roles: state.roles.clone(),
        bindings: Bindings::new(),
        expected: scenario.nodes.iter().map(|n| (n.name.clone(), Expected::Up)).collect(),
        steps: vec![],
        findings,
        started,
        on_event,
        labels: 0,
        node_roles: state.node_roles.clone(),
    };
    if ctx.setup().await {
        ctx.run_steps(&scenario.steps, "", None).await;
    }
    (ctx.on_event)(Event::Phase("stopping nodes"));
    // Graceful stop of whatever still runs, so each DB is read only after
    // its lightningd has exited.
    for name in scenario.nodes.iter().map(|n| n.name.clone()) {
        if let Ok(node) = ctx.net.node_mut(&name) {
            node.stop().await;
        }
    }
    state.node_roles = ctx.node_roles;
    state.steps = ctx.steps;
    state.findings = ctx.findings;
    state.network = Some(ctx.net);
    state
}

fn node_config(n: &NodeDecl) -> NodeConfig {
    NodeConfig {
        name: n.name.clone(),
        developer: n.developer,
        xpay: n.xpay,
        reconnect: n.reconnect,
        extra: n.options.clone(),
    }
}

fn start_error_kind(e: &StartError) -> OutcomeKind {
    match e.kind {
        // The binary died on its own while starting (e.g. a migration
        // crash, which only reaches stderr): a product crash.
        StartErrorKind::Exited { .. } => OutcomeKind::Crash,
        StartErrorKind::NotReady(_) => OutcomeKind::Hang,
        _ => OutcomeKind::Error,
    }
}

impl Ctx<'_> {
    fn phase(&mut self, msg: &str) {
        (self.on_event)(Event::Phase(msg));
    }

    fn bind_node_facts(&mut self) {
        for n in &self.net.nodes {
            self.bindings.insert(
                n.name.clone(),
                json!({
                    "name": n.name, "id": n.id, "port": n.port(), "addr": n.address(),
                    "dir": n.dir.display().to_string(), "version": n.binary.version.raw,
                }),
            );
        }
    }

    /// Start every node and (with `setup = "auto"`) open the channels.
    async fn setup(&mut self) -> bool {
        let names: Vec<String> = self.scenario.nodes.iter().map(|n| n.name.clone()).collect();
        self.phase(&format!("starting {}", names.join(", ")));
        if let Err(e) = self.net.start_all().await {
            let (kind, node) = match &e {
                NetworkError::Start(se) => (start_error_kind(se), Some(se.node.clone())),
                _ => (OutcomeKind::Error, None),
            };
            self.findings.push(Finding { kind, step: Some(setup_ref()), node, detail: e.to_string() });
            return false;
        }
        self.bind_node_facts();
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
            let on_event = std::cell::RefCell::new(&mut *self.on_event);
            let progress = |m: &str| (on_event.borrow_mut())(Event::Phase(m));
            let r = self.net.open_channels(&specs, &progress).await;
            if let Err(e) = r {
                let detail = format!("setting up channels: {e}");
                let f = network_error(e, detail).finding(setup_ref(), None);
                self.findings.push(f);
                return false;
            }
        }
        true
    }

    /// Run steps; returns false once the run must stop.
    fn run_steps<'s>(
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
                if let Action::Repeat { times, var, steps: body } = &step.action {
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

    async fn run_one(&mut self, step: &Step, index: String) -> bool {
        let sref = StepRef { index, name: step_title(step) };
        let timeout = step.timeout.unwrap_or(self.scenario.step_timeout);
        let t0 = Instant::now();
        let at_ms = self.started.elapsed().as_millis();
        let result = match tokio::time::timeout(timeout, self.execute(&step.action, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(StepError::Hang(format!("did not finish within {}", secs(timeout)))),
        };
        let result = match result {
            Ok(value) => self.check_expectations(step, Ok(value)),
            // An RPC error, or a failure the scenario may have expected.
            Err(StepError::Fail(msg)) => match (msg.strip_prefix("rpc-error:"), &step.expect.result) {
                (Some(json_text), _) => {
                    let v: Value = serde_json::from_str(json_text).unwrap_or(json!({"code": null, "message": json_text}));
                    self.check_expectations(step, Err(v))
                }
                (None, ExpectResult::Ok) => Err(StepError::Fail(msg)),
                (None, _) => self.check_expectations(step, Err(json!({"code": null, "message": msg}))),
            },
            Err(e) => Err(e),
        };
        // A lost connection usually means the node is dying (a fatal() with
        // its backtrace and crash.log takes a moment): wait for its exit.
        let result = match result {
            Err(StepError::Crash { node, exit: None, detail }) => {
                let exit = self.wait_exit(&node, Duration::from_secs(10)).await;
                Err(StepError::Crash { node, exit, detail })
            }
            other => other,
        };
        // A node that died during the step, whatever the step said.
        let died = match &result {
            Err(StepError::Crash { node, .. }) => {
                self.expected.insert(node.clone(), Expected::Down);
                if let Ok(n) = self.net.node_mut(node) {
                    n.kill();
                }
                self.unexpected_deaths(step).await
            }
            _ => self.unexpected_deaths(step).await,
        };
        let (status, detail) = match (&result, died.first()) {
            (_, Some((node, exit))) => {
                let detail = format!("{node} died ({})", exit.map_or("unknown exit".into(), |e| e.to_string()));
                self.findings.push(Finding { kind: OutcomeKind::Crash, step: Some(sref.clone()), node: Some(node.clone()), detail: detail.clone() });
                (OutcomeKind::Crash, detail)
            }
            (Ok(v), None) => (OutcomeKind::Pass, summarize(v)),
            (Err(e), None) => {
                let f = e.finding(sref.clone(), step.action.node());
                let (kind, detail) = (f.kind, f.detail.clone());
                self.findings.push(f);
                (kind, detail)
            }
        };
        if let (Ok(v), Some(name)) = (&result, &step.save) {
            self.bindings.insert(name.clone(), v.clone());
        }
        let record = StepRecord {
            step: sref,
            node: step.action.node().map(String::from),
            status,
            elapsed_ms: t0.elapsed().as_millis(),
            detail,
            at_ms,
        };
        (self.on_event)(Event::StepEnded(&record));
        self.steps.push(record);
        status == OutcomeKind::Pass || (step.soft && status == OutcomeKind::Fail)
    }

    async fn wait_exit(&mut self, node: &str, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        let n = self.net.node_mut(node).ok()?;
        loop {
            if let Some(e) = n.exit() {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Nodes expected up that are not.
    async fn unexpected_deaths(&mut self, step: &Step) -> Vec<(String, Option<Exit>)> {
        if let Action::Kill { node } | Action::Stop { node } = &step.action {
            self.expected.insert(node.clone(), Expected::Down);
        }
        let mut dead = Vec::new();
        for n in &mut self.net.nodes {
            if self.expected.get(&n.name) != Some(&Expected::Up) {
                continue;
            }
            if let Some(exit) = n.exit() {
                // Reap the rest of its process group before evidence is read.
                n.kill();
                dead.push((n.name.clone(), Some(exit)));
                self.expected.insert(n.name.clone(), Expected::Down);
            }
        }
        dead
    }

    fn check_expectations(&mut self, step: &Step, result: Result<Value, Value>) -> Result<Value, StepError> {
        let value = match (&step.expect.result, result) {
            (ExpectResult::Ok, Ok(v)) => v,
            (ExpectResult::Ok, Err(e)) => return Err(StepError::Fail(format!("expected success, got error {}", e))),
            (ExpectResult::Any, Ok(v)) | (ExpectResult::Any, Err(v)) => v,
            (ExpectResult::Error { .. }, Ok(v)) => {
                return Err(StepError::Fail(format!("expected an error, got success: {}", summarize(&v))))
            }
            (ExpectResult::Error { code, message }, Err(e)) => {
                if let Some(c) = code {
                    if e["code"].as_i64() != Some(*c) {
                        return Err(StepError::Fail(format!("expected error code {c}, got {e}")));
                    }
                }
                if let Some(m) = message {
                    let text = e["message"].as_str().unwrap_or("");
                    if !regex::Regex::new(m).map(|r| r.is_match(text)).unwrap_or(false) {
                        return Err(StepError::Fail(format!("expected error message matching /{m}/, got {e}")));
                    }
                }
                e
            }
        };
        for fc in &step.expect.fields {
            check_field(fc, &value, &self.bindings).map_err(StepError::Fail)?;
        }
        for (names, want_alive) in [(&step.expect.alive, true), (&step.expect.dead, false)] {
            for name in names {
                let alive = self.net.node_mut(name).map(|n| n.is_running()).unwrap_or(false);
                if alive != want_alive {
                    return Err(StepError::Fail(format!(
                        "expected {name} to be {}, but it is {}",
                        if want_alive { "alive" } else { "dead" },
                        if alive { "alive" } else { "dead" }
                    )));
                }
            }
        }
        Ok(value)
    }

    fn resolve(&self, v: &Value) -> Result<Value, StepError> {
        values::resolve(v, &self.bindings).map_err(|e| StepError::Fail(format!("bad value: {e}")))
    }

    fn node_id_of(&self, to: &Value) -> Result<String, StepError> {
        let v = self.resolve(to)?;
        let s = v.as_str().ok_or_else(|| StepError::Fail(format!("expected a node name or id, got {v}")))?;
        match self.net.node(s) {
            Ok(n) => n.id.clone().ok_or_else(|| StepError::Env(format!("{s} has no id yet (never started)"))),
            Err(_) => Ok(s.to_string()),
        }
    }

    async fn rpc(&self, node: &str, method: &str, params: Value, timeout: Duration) -> Result<Value, StepError> {
        let n = self.net.node(node).map_err(|e| StepError::Env(e.to_string()))?;
        match n.call(method, params, timeout).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.call_failure(node, e).await),
        }
    }

    /// An RPC error becomes a `fail` (expectations may still accept it);
    /// a broken connection to a node that then exits becomes a crash.
    async fn call_failure(&self, node: &str, e: CallError) -> StepError {
        match &e.kind {
            CallErrorKind::Rpc { .. } => StepError::Fail(format!("rpc-error:{}", e.to_json())),
            CallErrorKind::Timeout(t) => StepError::Hang(format!("{node}: `{}` did not answer within {}", e.method, secs(*t))),
            CallErrorKind::Closed(_) | CallErrorKind::Connect { .. } => StepError::Crash {
                node: node.into(),
                exit: None,
                detail: format!("`{}` got no answer: {}", e.method, e.kind),
            },
        }
    }

    async fn execute(&mut self, action: &Action, timeout: Duration) -> Result<Value, StepError> {
        use Action::*;
        match action {
            Fund { node } => {
                self.net.fund(std::slice::from_ref(node)).await.map_err(|e| net_step_error(e))?;
                Ok(json!({}))
            }
            Connect { node, peer } => self.net.connect(node, peer).await.map_err(net_step_error),
            OpenChannel { node, peer, amount_sat, announce, push_msat } => {
                let spec = ChannelSpec { from: node.clone(), to: peer.clone(), amount_sat: *amount_sat, announce: *announce, push_msat: *push_msat };
                self.net.open_channel(&spec).await.map_err(net_step_error)
            }
            Mine { blocks } => {
                self.net.mine(*blocks).await.map_err(net_step_error)?;
                Ok(json!({"blocks": blocks, "height": self.net.bitcoind.block_count().unwrap_or(0)}))
            }
            WaitChannel { node, peer, state } => {
                self.net.wait_channel_state(node, peer, state, None, timeout).await.map_err(net_step_error)
            }
            Invoice { node, amount_msat, label, description } => {
                let amount = self.resolve(amount_msat)?;
                let amount = values::as_amount(&amount).ok_or_else(|| StepError::Fail(format!("amount_msat: not an amount: {amount}")))?;
                self.labels += 1;
                let label = match label {
                    Some(l) => self.resolve(l)?,
                    None => json!(format!("cln-harness-{}-{}", self.labels, self.started.elapsed().as_micros())),
                };
                let description = match description {
                    Some(d) => self.resolve(d)?,
                    None => label.clone(),
                };
                self.rpc(node, "invoice", json!({"amount_msat": amount, "label": label, "description": description}), timeout).await
            }
            Pay { node, bolt11, xpay } => {
                self.require_pay_mode(node, *xpay)?;
                let bolt11 = self.resolve(bolt11)?;
                let r = self.rpc(node, "pay", json!({"bolt11": bolt11}), timeout).await?;
                Ok(normalize_payment(r))
            }
            Keysend { node, to, amount_msat } => {
                let destination = self.node_id_of(to)?;
                let amount = self.resolve(amount_msat)?;
                let amount = values::as_amount(&amount).ok_or_else(|| StepError::Fail(format!("amount_msat: not an amount: {amount}")))?;
                let n = self.net.node(node).map_err(|e| StepError::Env(e.to_string()))?;
                // keysend is deprecated from v26.06; its replacement is xkeysend.
                let method = if Features::of(&n.binary.version).keysend_and_pay_deprecated { "xkeysend" } else { "keysend" };
                let r = self.rpc(node, method, json!({"destination": destination, "amount_msat": amount}), timeout).await?;
                Ok(normalize_payment(r))
            }
            Restart { node } => {
                let n = self.net.node_mut(node).map_err(|e| StepError::Env(e.to_string()))?;
                n.stop().await;
                self.start_node(node, None).await
            }
            Upgrade { node, role } => {
                let binary = match self.roles.get(role) {
                    Some(b) => b.clone(),
                    None => {
                        let b = self.cfg.discovery.resolve(role).map_err(|e| StepError::Env(e.to_string()))?;
                        self.roles.insert(role.clone(), b.clone());
                        b
                    }
                };
                let n = self.net.node_mut(node).map_err(|e| StepError::Env(e.to_string()))?;
                let from = n.binary.version.raw.clone();
                n.stop().await;
                self.node_roles.insert(node.clone(), role.clone());
                self.start_node(node, Some(binary)).await.map(|mut v| {
                    v["upgraded_from"] = json!(from);
                    v
                })
            }
            Kill { node } => {
                self.expected.insert(node.clone(), Expected::Down);
                let n = self.net.node_mut(node).map_err(|e| StepError::Env(e.to_string()))?;
                let exit = n.kill();
                Ok(json!({"exit": exit}))
            }
            Start { node } => self.start_node(node, None).await,
            Stop { node } => {
                self.expected.insert(node.clone(), Expected::Down);
                let n = self.net.node_mut(node).map_err(|e| StepError::Env(e.to_string()))?;
                let exit = n.stop().await;
                Ok(json!({"exit": exit}))
            }
            WaitLog { node, pattern } => {
                let re = regex::Regex::new(pattern).map_err(|e| StepError::Env(e.to_string()))?;
                let n = self.net.node(node).map_err(|e| StepError::Env(e.to_string()))?;
                let (path, since) = (n.log_file(), n.log_offset_at_start());
                let deadline = Instant::now() + timeout;
                loop {
                    // Only what the current process wrote: an earlier start's
                    // line must not satisfy a wait after a restart.
                    let bytes = std::fs::read(&path).unwrap_or_default();
                    let text = String::from_utf8_lossy(bytes.get(since as usize..).unwrap_or(&[])).into_owned();
                    if let Some(line) = text.lines().find(|l| re.is_match(l)) {
                        return Ok(json!({"line": line}));
                    }
                    if Instant::now() >= deadline {
                        return Err(StepError::Fail(format!("no line matching /{pattern}/ in {node}'s log within {}", secs(timeout))));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            AssertLog { node, pattern, present } => {
                let re = regex::Regex::new(pattern).map_err(|e| StepError::Env(e.to_string()))?;
                let path = self.net.node(node).map_err(|e| StepError::Env(e.to_string()))?.log_file();
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let hit = text.lines().find(|l| re.is_match(l));
                match (hit, present) {
                    (Some(l), true) => Ok(json!({"line": l})),
                    (None, false) => Ok(json!({})),
                    (None, true) => Err(StepError::Fail(format!("expected a line matching /{pattern}/ in {node}'s log; none found"))),
                    (Some(l), false) => Err(StepError::Fail(format!("expected no line matching /{pattern}/ in {node}'s log; found: {}", l.trim()))),
                }
            }
            AssertAlive { node, alive } => {
                let n = self.net.node_mut(node).map_err(|e| StepError::Env(e.to_string()))?;
                let running = n.is_running();
                if running == *alive {
                    Ok(json!({"alive": running}))
                } else {
                    Err(StepError::Fail(format!("expected {node} {}, but it is {}", if *alive { "alive" } else { "dead" }, if running { "alive" } else { "dead" })))
                }
            }
            Rpc { node, method, params } => {
                let params = self.resolve(params)?;
                self.rpc(node, method, params, timeout).await
            }
            Raw { node, request } => {
                let bytes = match request {
                    RawRequest::Json(v) => serde_json::to_vec(&self.resolve(v)?).unwrap_or_default(),
                    RawRequest::Text(t) => t.clone().into_bytes(),
                };
                let n = self.net.node(node).map_err(|e| StepError::Env(e.to_string()))?;
                match n.raw(&bytes, timeout).await {
                    Ok(RawReply::Json(v)) => match v.get("error") {
                        Some(err) => Err(StepError::Fail(format!("rpc-error:{err}"))),
                        None => Ok(v),
                    },
                    Ok(RawReply::Closed { partial }) => Err(StepError::Fail(format!(
                        "rpc-error:{}",
                        json!({"code": null, "message": "socket closed without a reply", "partial": partial})
                    ))),
                    Err(e) => Err(self.call_failure(node, e).await),
                }
            }
            WaitRpc { node, method, params, until } => {
                let params = self.resolve(params)?;
                let deadline = Instant::now() + timeout;
                loop {
                    let r = self.rpc(node, method, params.clone(), timeout).await;
                    let last = match &r {
                        Ok(v) => match check_field(until, v, &self.bindings) {
                            Ok(()) => return r,
                            Err(why) => why,
                        },
                        Err(StepError::Fail(m)) => m.clone(),
                        Err(_) => return r,
                    };
                    if Instant::now() >= deadline {
                        return Err(StepError::Fail(format!("`{method}` never satisfied the condition within {}; last: {last}", secs(timeout))));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            CheckDb { node } => {
                let n = self.net.node_mut(node).map_err(|e| StepError::Env(e.to_string()))?;
                if n.is_running() {
                    return Err(StepError::Env(format!("check_db needs {node} stopped: lightningd holds its database")));
                }
                let db = n.database();
                let (clean, report) = crate::dbcheck_adapter::check_db_json(&db).map_err(StepError::Env)?;
                if clean {
                    Ok(report)
                } else {
                    Err(StepError::Fail(format!("check-db found problems in {node}'s database: {}", crate::dbcheck_adapter::findings_summary(&report))))
                }
            }
            Sleep { seconds } => {
                tokio::time::sleep(Duration::from_secs_f64(*seconds)).await;
                Ok(json!({}))
            }
            Repeat { .. } => unreachable!("repeat is unrolled by run_steps"),
        }
    }

    fn require_pay_mode(&self, node: &str, want: Option<XpayMode>) -> Result<(), StepError> {
        let n = self.net.node(node).map_err(|e| StepError::Env(e.to_string()))?;
        let f = Features::of(&n.binary.version);
        match want.unwrap_or(n.config.xpay) {
            XpayMode::On if !f.xpay => Err(StepError::Env(format!("pay with xpay on needs v24.11+; {node} runs {}", n.binary.version))),
            XpayMode::Off if f.legacy_pay_removed => Err(StepError::Env(format!("legacy pay (xpay off) does not exist on {}", n.binary.version))),
            _ => Ok(()),
        }
    }

    async fn start_node(&mut self, name: &str, binary: Option<Lightningd>) -> Result<Value, StepError> {
        let n = self.net.node_mut(name).map_err(|e| StepError::Env(e.to_string()))?;
        if let Some(b) = binary {
            n.binary = b;
        }
        let r = n.start().await;
        let version = n.binary.version.raw.clone();
        match r {
            Ok(()) => {
                self.expected.insert(name.into(), Expected::Up);
                self.bind_node_facts();
                Ok(json!({"node": name, "version": version}))
            }
            Err(e) => match start_error_kind(&e) {
                OutcomeKind::Crash => {
                    let exit = match &e.kind {
                        StartErrorKind::Exited { exit, .. } => Some(*exit),
                        _ => None,
                    };
                    Err(StepError::Crash { node: name.into(), exit, detail: e.to_string() })
                }
                OutcomeKind::Hang => Err(StepError::Hang(e.to_string())),
                _ => Err(StepError::Env(e.to_string())),
            },
        }
    }
}

fn setup_ref() -> StepRef {
    StepRef { index: "0".into(), name: "setup".into() }
}

fn network_error(e: NetworkError, detail: String) -> StepError {
    match e {
        NetworkError::Timeout { .. } => StepError::Fail(detail),
        NetworkError::Rpc(ref c) if matches!(c.kind, CallErrorKind::Timeout(_)) => StepError::Hang(detail),
        NetworkError::Rpc(ref c) if matches!(c.kind, CallErrorKind::Closed(_) | CallErrorKind::Connect { .. }) => {
            StepError::Crash { node: c.node.clone(), exit: None, detail }
        }
        NetworkError::Rpc(_) => StepError::Fail(detail),
        _ => StepError::Env(detail),
    }
}

fn net_step_error(e: NetworkError) -> StepError {
    match &e {
        NetworkError::Rpc(c) if matches!(c.kind, CallErrorKind::Rpc { .. }) => StepError::Fail(format!("rpc-error:{}", c.to_json())),
        _ => {
            let d = e.to_string();
            network_error(e, d)
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

fn check_field(fc: &FieldCheck, value: &Value, b: &Bindings) -> Result<(), String> {
    let got = values::lookup(value, &fc.path);
    match &fc.check {
        Check::Exists(want) => {
            if got.is_some() != *want {
                return Err(format!("expected `{}` to {}exist; result: {}", fc.path, if *want { "" } else { "not " }, summarize(value)));
            }
        }
        Check::Equals(want) => {
            let want = values::resolve(want, b).map_err(|e| e.to_string())?;
            if got != Some(&want) {
                return Err(format!("expected `{}` == {want}, got {}", fc.path, got.map_or("nothing".into(), |g| g.to_string())));
            }
        }
        Check::Matches(re) => {
            let text = match got {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => return Err(format!("expected `{}` to match /{re}/, but it is absent", fc.path)),
            };
            if !regex::Regex::new(re).map(|r| r.is_match(&text)).unwrap_or(false) {
                return Err(format!("expected `{}` to match /{re}/, got {text:?}", fc.path));
            }
        }
        Check::Count(n) => {
            let len = match got {
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(o)) => o.len(),
                _ => return Err(format!("expected `{}` to be a list of {n}, got {}", fc.path, got.map_or("nothing".into(), |g| g.to_string()))),
            };
            if len as u64 != *n {
                return Err(format!("expected {n} entries in `{}`, got {len}", fc.path));
            }
        }
    }
    Ok(())
}

fn summarize(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        let mut end = 160;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `keysend alice → bob`, for step lines.
pub fn step_title(step: &Step) -> String {
    use Action::*;
    let to_text = |v: &Value| v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
    let detail = match &step.action {
        Keysend { node, to, .. } => format!("{node} → {}", to_text(to)),
        Pay { node, .. } => format!("{node}"),
        Connect { node, peer } | OpenChannel { node, peer, .. } | WaitChannel { node, peer, .. } => format!("{node} → {peer}"),
        Upgrade { node, role } => format!("{node} → {role}"),
        Rpc { node, method, .. } | WaitRpc { node, method, .. } => format!("{node} {method}"),
        Mine { blocks } => format!("{blocks}"),
        other => other.node().unwrap_or("").to_string(),
    };
    if step.label != step_kind(&step.action) {
        return step.label.clone();
    }
    format!("{} {detail}", step.label).trim().to_string()
}

fn step_kind(a: &Action) -> &'static str {
    use Action::*;
    match a {
        Fund { .. } => "fund",
        Connect { .. } => "connect",
        OpenChannel { .. } => "open_channel",
        Mine { .. } => "mine",
        WaitChannel { .. } => "wait_channel",
        Invoice { .. } => "invoice",
        Pay { .. } => "pay",
        Keysend { .. } => "keysend",
        Restart { .. } => "restart",
        Upgrade { .. } => "upgrade",
        Kill { .. } => "kill",
        Start { .. } => "start",
        Stop { .. } => "stop",
        WaitLog { .. } => "wait_log",
        AssertLog { .. } => "assert_log",
        AssertAlive { .. } => "assert_alive",
        Rpc { .. } => "rpc",
        Raw { .. } => "raw",
        WaitRpc { .. } => "wait_rpc",
        CheckDb { .. } => "check_db",
        Sleep { .. } => "sleep",
        Repeat { .. } => "repeat",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpay_and_classic_results_mean_the_same() {
        let classic = normalize_payment(json!({"status": "complete", "payment_preimage": "aa"}));
        let xpay = normalize_payment(json!({"payment_preimage": "aa", "amount_msat": 1000, "failed_parts": 0}));
        assert_eq!(classic["status"], xpay["status"]);
        assert_eq!(normalize_payment(json!({"status": "failed"}))["status"], "failed");
    }

    #[test]
    fn field_checks_explain_themselves() {
        let v = json!({"channels": [{"state": "CHANNELD_NORMAL"}]});
        let b = Bindings::new();
        let fc = |path: &str, check| FieldCheck { path: path.into(), check };
        assert!(check_field(&fc("channels", Check::Count(1)), &v, &b).is_ok());
        assert!(check_field(&fc("channels[0].state", Check::Matches("NORMAL".into())), &v, &b).is_ok());
        let e = check_field(&fc("channels[0].state", Check::Equals(json!("ONCHAIN"))), &v, &b).unwrap_err();
        assert!(e.contains("expected `channels[0].state` == \"ONCHAIN\", got \"CHANNELD_NORMAL\""), "{e}");
    }
}
