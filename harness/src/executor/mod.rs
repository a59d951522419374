//! Runs a validated scenario step by step against a real network and
//! records what happened: step results, node deaths, timeouts. Deciding
//! the outcome is `outcome`'s job; rendering is `report`'s.
//!
//! The parts, each with one job:
//! - [`steps`]: what each step does to the network ([`steps::World`]),
//!   with `chain_steps` (close, channel ends, bitcoind, mempool) and
//!   `payments` (the pay/keysend requests, version-translated);
//! - [`expect`]: pure expectation checking;
//! - [`liveness`]: which nodes should be up, and who died anyway;
//! - [`record`]: step records, findings, progress events.
//!
//! This file only drives them: setup, the step loop, the final checks.

mod chain_steps;
pub mod expect;
pub mod liveness;
mod payments;
pub mod record;
pub mod setup_digest;
pub mod steps;
mod witness_steps;

pub use record::{Event, PhaseTime, StepRecord};

use crate::binaries::{BitcoinBins, Discovery, Lightningd};
use crate::network::{ChannelSpec, Network, RunDir};
use crate::options::NodeConfig;
use crate::outcome::{Finding, OutcomeKind, StepRef};
use crate::scenario::values::Bindings;
use crate::scenario::*;
use liveness::{Death, Liveness, DYING_GRACE};
use record::Recorder;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;
use steps::{net_step_error, secs, StepError, World};

/// What the caller hands the executor.
pub struct RunConfig {
    pub discovery: Discovery,
    pub bitcoin: BitcoinBins,
    pub keep: bool,
    /// `cln-harness record`: save the state after the steps as a fixture.
    pub record: Option<RecordSpec>,
    /// `--db`: the backend of nodes whose scenario does not choose one.
    pub db: Option<crate::options::DbBackend>,
    /// `--electrs`: the chain witness's exe (else $ELECTRS_EXE, else the cache).
    pub electrs: Option<std::path::PathBuf>,
}

impl RunConfig {
    /// The same machine with these roles pinned to labels or paths, as
    /// `--lightningd ROLE=...` would: one run of a bisect, a matrix cell or
    /// an explored program.
    pub fn pinned<'a>(&self, roles: impl IntoIterator<Item = (&'a str, &'a str)>) -> RunConfig {
        let mut discovery = self.discovery.clone();
        for (role, label) in roles {
            discovery
                .command_line
                .push((role.to_string(), std::path::PathBuf::from(label)));
        }
        RunConfig {
            discovery,
            bitcoin: self.bitcoin.clone(),
            keep: false,
            record: None,
            db: self.db,
            electrs: self.electrs.clone(),
        }
    }
}

/// Where and under which name `record` saves the fixture.
#[derive(Debug, Clone)]
pub struct RecordSpec {
    pub name: String,
    pub out: std::path::PathBuf,
    /// The scenario's step count that ran (for the metadata).
    pub after_step: usize,
    /// bitcoind's clock while recording (unix seconds), so the chain's
    /// blocks are dated in the past (`--chain-days-ago`).
    pub chain_mocktime: Option<u64>,
}

/// Everything a run leaves for evidence and reports. The network is kept
/// (stopped) so evidence can read each node's files after exit.
pub struct RunState {
    pub network: Option<Network>,
    /// None only when no run dir could be created (an `error` finding says why).
    pub run_dir: Option<RunDir>,
    pub roles: BTreeMap<String, Lightningd>,
    pub node_roles: BTreeMap<String, String>,
    pub steps: Vec<StepRecord>,
    pub findings: Vec<Finding>,
    pub started: Instant,
    /// Time per phase (`resolve`, `bitcoind`, `start_nodes`, `fund`, ...).
    pub phases: Vec<PhaseTime>,
    /// What the setup left behind, before the first step (`setup_digest`).
    pub setup: Option<serde_json::Value>,
}

fn env_finding(detail: String) -> Finding {
    Finding::new(OutcomeKind::Error, None, None, detail)
}

pub async fn run(
    scenario: &Scenario,
    cfg: &RunConfig,
    on_event: &mut dyn FnMut(Event),
) -> RunState {
    let started = Instant::now();
    let mut state = RunState {
        network: None,
        run_dir: None,
        roles: BTreeMap::new(),
        node_roles: scenario
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.role.clone()))
            .collect(),
        steps: vec![],
        findings: vec![],
        started,
        phases: vec![],
        setup: None,
    };
    match RunDir::new(cfg.keep) {
        Ok(d) => state.run_dir = Some(d),
        Err(e) => {
            state.findings.push(env_finding(e.to_string()));
            return state;
        }
    }
    // Every role the scenario needs, resolved up front: a missing or
    // unusable binary is an environment error before anything starts.
    for role in scenario.roles() {
        match cfg.discovery.resolve(&role) {
            Ok(b) => {
                state.roles.insert(role, b);
            }
            Err(e) => state.findings.push(env_finding(e.to_string())),
        }
    }
    if !state.findings.is_empty() {
        return state;
    }
    let mut rec = Recorder::new(started, on_event);
    // Everything until now was resolving binaries.
    rec.phase_marks.push(("resolve", 0));
    rec.phase("starting bitcoind");
    let nodes = scenario
        .nodes
        .iter()
        .map(|n| (node_config(n), state.roles[&n.role].clone()))
        .collect();
    let run_dir = state
        .run_dir
        .as_ref()
        .map(|d| d.path().to_path_buf())
        .unwrap_or_default();
    let fixture = match scenario.from_fixture.as_ref().and_then(|f| f.dir.clone()) {
        Some(dir) => match crate::fixture::load_meta(&dir) {
            Ok(meta) => Some((dir, meta)),
            Err(e) => {
                state.findings.push(env_finding(e.to_string()));
                return state;
            }
        },
        None if scenario.from_fixture.is_some() => {
            state.findings.push(env_finding(
                "from_fixture was not resolved (load the scenario with scenario::load)".into(),
            ));
            return state;
        }
        None => None,
    };
    // From a fixture: refuse downgrades, then bitcoind's datadir before it starts.
    let mut node_files = Vec::new();
    if let Some((dir, meta)) = &fixture {
        rec.phase(&format!(
            "restoring fixture {} (height {})",
            meta.name, meta.block_height
        ));
        let binaries: Vec<(String, crate::version::ClnVersion)> = scenario
            .nodes
            .iter()
            .map(|n| (n.name.clone(), state.roles[&n.role].version.clone()))
            .collect();
        let restored = crate::fixture::check_versions(meta, &binaries)
            .and_then(|()| crate::fixture::restore_chain(dir, &run_dir.join("bitcoind")));
        match restored {
            Ok(files) => node_files = files,
            Err(e) => {
                state.findings.push(env_finding(e.to_string()));
                return state;
            }
        }
    }
    let created = Network::create_with(
        &run_dir,
        &cfg.bitcoin,
        nodes,
        fixture.is_none(),
        scenario.witness,
        cfg.record.as_ref().and_then(|r| r.chain_mocktime),
    )
    .await;
    let mut net = match created {
        Ok(n) => n,
        Err(e) => {
            state.findings.push(env_finding(e.to_string()));
            return state;
        }
    };
    // The chain witness, only where the scenario asks for it.
    if scenario.witness {
        rec.phase("starting electrs (the chain witness)");
        let started = crate::witness::find_electrs(cfg.electrs.as_deref())
            .map_err(crate::network::NetworkError::from)
            .and_then(|exe| net.attach_witness(&exe, &run_dir.join("electrs")));
        if let Err(e) = started {
            state.findings.push(env_finding(e.to_string()));
            state.network = Some(net);
            return state;
        }
    }
    // Nodes on PostgreSQL: one server for the run, a database per node.
    let on_postgres: Vec<String> = scenario
        .nodes
        .iter()
        .filter(|n| n.db.or(scenario.db).or(cfg.db).unwrap_or_default() == DbBackend::Postgres)
        .map(|n| n.name.clone())
        .collect();
    if !on_postgres.is_empty() {
        if fixture.is_some() {
            state.findings.push(env_finding(format!(
                "{} would run on PostgreSQL, but from_fixture restores recorded SQLite databases: run this scenario on sqlite (it can say `db = \"sqlite\"`)",
                on_postgres.join(", ")
            )));
            state.network = Some(net);
            return state;
        }
        rec.phase("starting PostgreSQL");
        if let Err(e) = net.attach_postgres(&on_postgres).await {
            state.findings.push(env_finding(e.to_string()));
            state.network = Some(net);
            return state;
        }
    }
    if let Some((_, meta)) = &fixture {
        if let Err(e) = crate::fixture::restore_nodes(&mut net, &node_files, meta) {
            state.findings.push(env_finding(e.to_string()));
            state.network = Some(net);
            return state;
        }
    }
    let mut driver = Driver {
        scenario,
        world: World::new(
            net,
            &cfg.discovery,
            state.roles.clone(),
            state.node_roles.clone(),
        ),
        bindings: Bindings::new(),
        liveness: Liveness::new(scenario.nodes.iter().map(|n| n.name.as_str())),
        rec,
    };
    let fixture_channels = fixture.as_ref().map(|(_, m)| m.channels.clone());
    if driver.setup(fixture_channels.as_deref()).await {
        let redactor = driver.world.net.redactor();
        state.setup = Some(setup_digest::digest(&driver.world.net, &redactor).await);
        driver.rec.phase("running steps");
        driver.run_steps(&scenario.steps, "", None).await;
    }
    driver.deaths_after_the_steps().await;
    if scenario.witness && driver.rec.findings.is_empty() {
        driver.conservation().await;
    }
    let recorded_channels = match (&cfg.record, driver.rec.findings.is_empty()) {
        (Some(_), true) => Some(driver.world.channels_by_opener().await),
        _ => None,
    };
    driver.rec.phase("stopping nodes");
    // Every node still running stops, so each DB is read only after its
    // lightningd has exited.
    driver.world.net.shutdown().await;
    if let (Some(spec), Some(channels)) = (&cfg.record, recorded_channels) {
        driver
            .rec
            .phase(&format!("recording fixture {}", spec.name));
        let meta = crate::fixture::FixtureMeta {
            format: 1,
            name: spec.name.clone(),
            scenario: scenario.name.clone(),
            recorded_after_step: spec.after_step,
            harness_version: env!("CARGO_PKG_VERSION").into(),
            block_height: 0,
            next_coinbase: 0,
            nodes: driver
                .world
                .net
                .nodes
                .iter()
                .map(|n| crate::fixture::FixtureNode {
                    name: n.name.clone(),
                    role: driver
                        .world
                        .node_roles
                        .get(&n.name)
                        .cloned()
                        .unwrap_or_default(),
                    version: n.binary.version.raw.clone(),
                    id: n.id.clone().unwrap_or_default(),
                })
                .collect(),
            channels,
        };
        if let Err(e) = crate::fixture::record(&mut driver.world.net, &spec.out, meta).await {
            driver.rec.finding(env_finding(e.to_string()));
        }
    }
    state.node_roles = driver.world.node_roles;
    state.steps = driver.rec.steps;
    state.findings = driver.rec.findings;
    state.phases = record::phase_times(&driver.rec.phase_marks, started.elapsed().as_millis());
    state.network = Some(driver.world.net);
    state
}

use crate::options::DbBackend;

fn node_config(n: &NodeDecl) -> NodeConfig {
    NodeConfig {
        name: n.name.clone(),
        developer: n.developer,
        xpay: n.xpay,
        reconnect: n.reconnect,
        extra: n.options.clone(),
        wallet: None,
    }
}

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

struct Driver<'a> {
    scenario: &'a Scenario,
    world: World<'a>,
    bindings: Bindings,
    liveness: Liveness,
    rec: Recorder<'a>,
}

impl Driver<'_> {
    /// Start every node and (with `setup = "auto"`) open the channels, or
    /// (from a fixture) reconnect its channels and wait until they are normal.
    async fn setup(&mut self, fixture_channels: Option<&[crate::fixture::FixtureChannel]>) -> bool {
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
        if let (true, Some(n)) = (step.action.stops_node(), &node) {
            self.liveness.expect_down(n);
        }
        // A wait's own deadline is the step's timeout, and its expiry a
        // `fail` that shows what it saw; the outer guard only catches a
        // wait that itself got stuck.
        // A call's own timeout is the step's too; the guard waits a moment
        // longer so the call's words ("`freeze` did not answer") win the
        // race over the guard's, and a hang's headline names the call.
        let guard = if step.action.is_wait() {
            timeout + WAIT_GUARD
        } else {
            timeout + CALL_GUARD
        };
        let result = match tokio::time::timeout(
            guard,
            self.world.execute(&step.action, &self.bindings, timeout),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(StepError::Hang(format!(
                "did not finish within {}",
                secs(timeout)
            ))),
        };
        let result = match result {
            Err(e) => Err(self.settle(e).await),
            ok => ok,
        };
        let result = match (result, &node) {
            (Err(StepError::Hang(what)), Some(n)) => {
                Err(StepError::Hang(self.probe_hang(n, what).await))
            }
            (other, _) => other,
        };
        if let (Ok(_), true, Some(n)) = (&result, step.action.starts_node(), &node) {
            self.liveness.expect_up(n);
            self.world.node_facts(&mut self.bindings);
        }
        // A binary that refused to start (an option it does not know, a
        // database from a newer version) never ran: its absence is the
        // environment error the step reports, not a death.
        if let (Err(StepError::Env(_)), true, Some(n)) = (&result, step.action.starts_node(), &node)
        {
            self.liveness.expect_down(n);
        }
        // A node the step expects dead may be on its way down.
        for n in &step.expect.dead {
            self.liveness.expect_down(n);
            if let Ok(node) = self.world.net.node_mut(n) {
                node.wait_exit(DYING_GRACE).await;
            }
        }
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

    /// Apply the step's expectations to its result.
    fn check(
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
    async fn conservation(&mut self) {
        let at = StepRef {
            index: "end".into(),
            name: "funds conserved (chain witness)".into(),
        };
        match self.world.conservation(self.scenario.step_timeout).await {
            Ok(Some(v)) => self.rec.phase(&format!(
                "funds conserved (chain witness): wallets {} sat, fees {} sat, stranded {} sat of {} sat in channels",
                v["wallets_sat"], v["fees_sat"], v["stranded_sat"], v["capacities_sat"]
            )),
            Ok(None) => self.rec.phase("conservation not checked: a channel is still open or unswept"),
            Err(e) => self.rec.finding(finding_of(&e, at, None, "")),
        }
    }

    /// A node can die after the last step (an asynchronous crash): that is
    /// a crash too, not something teardown silently absorbs.
    async fn deaths_after_the_steps(&mut self) {
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
fn finding_of(e: &StepError, step: StepRef, node: Option<&str>, context: &str) -> Finding {
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
        other => other.node().unwrap_or("").to_string(),
    };
    if step.label != step.action.kind() {
        return step.label.clone();
    }
    format!("{} {detail}", step.label).trim().to_string()
}
