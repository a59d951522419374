//! Runs a validated scenario step by step against a real network and
//! records what happened: step results, node deaths, timeouts. Deciding
//! the outcome is `outcome`'s job; rendering is `report`'s.
//!
//! The parts, each with one job:
//! - `prepare`: everything before the first node starts (run dir,
//!   binaries, fixture, bitcoind, electrs, PostgreSQL);
//! - `driver`: the step loop, each step's guard, expectations and deaths;
//! - [`steps`]: what each step does to the network ([`steps::World`]), one
//!   file per step family (`chain_steps`, `node_steps`, `log_steps`,
//!   `payment_steps`, `rpc_steps`, `witness_steps`) and `payments` (the
//!   pay/keysend requests, version-translated);
//! - `parallel_steps`: a `parallel` step's inner steps started at once
//!   (requests built apart from the world, one network change through it)
//!   and judged each as a step, into one step's result;
//! - [`expect`]: pure expectation checking;
//! - [`liveness`]: which nodes should be up, and who died anyway;
//! - [`record`]: step records, findings, progress events.
//!
//! This file only drives them in order: prepare, set up, the steps, the
//! final checks, stop, record a fixture.

mod chain_steps;
mod driver;
pub mod expect;
pub mod liveness;
mod log_steps;
mod node_steps;
mod parallel_steps;
mod payment_steps;
mod payments;
mod prepare;
pub mod record;
mod rpc_steps;
pub mod setup_cache;
pub mod setup_digest;
pub mod steps;
pub mod teardown;
mod witness_steps;

pub use driver::step_title;
pub use record::{Event, PhaseTime, StepRecord};

use crate::binaries::{BitcoinBins, Discovery, Lightningd};
use crate::fixture::cache::SetupStore;
use crate::fixture::Keep;
use crate::network::{Network, RunDir};
use crate::options::{DbBackend, NodeConfig};
use crate::outcome::Finding;
use crate::scenario::values::Bindings;
use crate::scenario::*;
use driver::Driver;
use liveness::Liveness;
use prepare::{env_finding, prepare, Prepared, Unprepared};
use record::Recorder;
use setup_cache::{CacheUse, Plan};
use std::collections::BTreeMap;
use std::time::Instant;
use steps::World;

/// What the executor needs from its caller (`runner::RunConfig` lends it).
pub struct ExecConfig<'a> {
    pub discovery: &'a Discovery,
    pub bitcoin: &'a BitcoinBins,
    pub keep: bool,
    /// `cln-harness record`: save the state after the steps as a fixture.
    pub record: Option<&'a RecordSpec>,
    /// `--db`: the backend of nodes whose scenario does not choose one.
    pub db: Option<DbBackend>,
    /// `--electrs`: the chain witness's exe (else $ELECTRS_EXE, else the cache).
    pub electrs: Option<&'a std::path::Path>,
    /// Resume set-ups from the setup cache (off: `--no-setup-cache`).
    pub setup_cache: bool,
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
    /// Whether the setup came from the setup cache (`setup_cache`).
    pub setup_cache: Option<CacheUse>,
}

impl RunState {
    fn new(scenario: &Scenario, started: Instant) -> RunState {
        RunState {
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
            setup_cache: None,
        }
    }
}

pub async fn run(
    scenario: &Scenario,
    cfg: &ExecConfig<'_>,
    on_event: &mut dyn FnMut(Event),
) -> RunState {
    let started = Instant::now();
    let rec = Recorder::new(started, on_event);
    let (source, rec, cache) = match setup_cache::plan(scenario, cfg) {
        Plan::Off(why) => (Source::Scenario, rec, CacheUse::Off { why }),
        Plan::Hit { key, dir } => (Source::SetupEntry(dir), rec, CacheUse::Hit { key }),
        Plan::Miss { key, store } => {
            match drive(scenario, cfg, rec, Source::RecordSetup(&key, &store)).await {
                Driven::Ran(state) => {
                    let mut state = *state;
                    // The setup (or what precedes it) failed: that is the run's answer.
                    state.setup_cache = Some(CacheUse::Off {
                        why: "the setup did not complete".into(),
                    });
                    return state;
                }
                Driven::SetUp { entry, rec } => {
                    (Source::SetupEntry(entry), rec, CacheUse::Recorded { key })
                }
                Driven::NotCached { why, rec } => (Source::Scenario, rec, CacheUse::Off { why }),
            }
        }
    };
    let mut state = match drive(scenario, cfg, rec, source).await {
        Driven::Ran(state) => *state,
        // Only a RecordSetup source stops after the setup.
        Driven::SetUp { .. } | Driven::NotCached { .. } => RunState::new(scenario, started),
    };
    state.setup_cache = Some(cache);
    state
}

/// Where a run's network comes from.
enum Source<'s> {
    /// The scenario's own setup, or its `from_fixture`.
    Scenario,
    /// A setup cache entry.
    SetupEntry(std::path::PathBuf),
    /// The scenario's setup, recorded as the entry `key` of the store, and
    /// nothing after it.
    RecordSetup(&'s str, &'s SetupStore),
}

enum Driven<'a> {
    Ran(Box<RunState>),
    /// The setup was recorded as this entry (the network is gone).
    SetUp {
        entry: std::path::PathBuf,
        rec: Recorder<'a>,
    },
    /// The setup completed but is not cached: the run sets up again, cold.
    NotCached {
        why: String,
        rec: Recorder<'a>,
    },
}

async fn drive<'a>(
    scenario: &'a Scenario,
    cfg: &'a ExecConfig<'a>,
    mut rec: Recorder<'a>,
    source: Source<'_>,
) -> Driven<'a> {
    let started = rec.started;
    let mut state = RunState::new(scenario, started);
    let entry = match &source {
        Source::SetupEntry(dir) => Some(dir.as_path()),
        _ => None,
    };
    let Prepared { net, fixture } = match prepare(scenario, cfg, entry, &mut state, &mut rec).await
    {
        Ok(p) => p,
        Err(Unprepared { findings, network }) => {
            state.findings.extend(rec.findings);
            state.findings.extend(findings);
            state.network = network.map(|n| *n);
            state.phases = record::phase_times(&rec.phase_marks, started.elapsed().as_millis());
            return Driven::Ran(Box::new(state));
        }
    };
    let world = World::new(
        net,
        cfg.discovery,
        state.roles.clone(),
        state.node_roles.clone(),
    );
    let mut driver = Driver {
        scenario,
        world,
        bindings: Bindings::new(),
        liveness: Liveness::new(scenario.nodes.iter().map(|n| n.name.as_str())),
        rec,
    };
    let fixture_channels = fixture.as_ref().map(|(_, m)| m.channels.clone());
    if driver.setup(fixture_channels.as_deref()).await {
        if let Source::RecordSetup(key, store) = source {
            return record_setup(driver, scenario, key, store).await;
        }
        let redactor = driver.world.net.redactor();
        state.setup = Some(setup_digest::digest(&driver.world.net, &redactor).await);
        driver.rec.phase("running steps");
        driver.run_steps(&scenario.steps, "", None).await;
    }
    driver.deaths_after_the_steps().await;
    driver.memleaks().await;
    if scenario.witness && driver.rec.findings.is_empty() {
        driver.conservation().await;
    }
    let recorded_channels = match (cfg.record, driver.rec.findings.is_empty()) {
        (Some(_), true) => Some(driver.world.channels_by_opener().await),
        _ => None,
    };
    driver.rec.phase("stopping nodes");
    // Every node still running stops, so each DB is read only after its
    // lightningd has exited.
    driver.world.net.shutdown().await;
    if let (Some(spec), Some(channels)) = (cfg.record, recorded_channels) {
        record_fixture(&mut driver, scenario, spec, channels).await;
    }
    state.node_roles = driver.world.node_roles;
    state.steps = driver.rec.steps;
    state.findings = driver.rec.findings;
    state.phases = record::phase_times(&driver.rec.phase_marks, started.elapsed().as_millis());
    state.network = Some(driver.world.net);
    Driven::Ran(Box::new(state))
}

/// A set-up network saved as the setup cache's entry `key`, unless the
/// setup logged something an oracle reads (a resumed run would not see it).
async fn record_setup<'a>(
    driver: Driver<'a>,
    scenario: &Scenario,
    key: &str,
    store: &SetupStore,
) -> Driven<'a> {
    let Driver {
        mut world, mut rec, ..
    } = driver;
    rec.phase("recording the setup in the setup cache");
    let logged = setup_cache::what_the_setup_logged(&world.net);
    let channels = world.channels_by_opener().await;
    world.net.shutdown().await;
    if let Some(why) = logged {
        return Driven::NotCached { why, rec };
    }
    let meta = fixture_meta(&world, scenario, format!("setup-{key}"), 0, channels);
    let recorded = match store.staging() {
        Ok(staging) => {
            match crate::fixture::write_state(&mut world.net, staging.path(), meta, Keep::Setup)
                .await
            {
                Ok(_) => store.publish(staging, key).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(format!("a staging dir in {}: {e}", store.dir.display())),
    };
    match recorded {
        Ok(entry) => Driven::SetUp { entry, rec },
        Err(e) => Driven::NotCached {
            why: format!("recording the setup failed: {e}"),
            rec,
        },
    }
}

fn fixture_meta(
    world: &World<'_>,
    scenario: &Scenario,
    name: String,
    after_step: usize,
    channels: Vec<crate::fixture::FixtureChannel>,
) -> crate::fixture::FixtureMeta {
    let nodes = world
        .net
        .nodes
        .iter()
        .map(|n| crate::fixture::FixtureNode {
            name: n.name.clone(),
            role: world.node_roles.get(&n.name).cloned().unwrap_or_default(),
            version: n.binary.version.raw.clone(),
            id: n.id.clone().unwrap_or_default(),
        })
        .collect();
    crate::fixture::FixtureMeta {
        format: 1,
        name,
        scenario: scenario.name.clone(),
        recorded_after_step: after_step,
        harness_version: env!("CARGO_PKG_VERSION").into(),
        block_height: 0,
        next_coinbase: 0,
        nodes,
        channels,
    }
}

/// `cln-harness record`: the stopped network saved as a fixture.
async fn record_fixture(
    driver: &mut Driver<'_>,
    scenario: &Scenario,
    spec: &RecordSpec,
    channels: Vec<crate::fixture::FixtureChannel>,
) {
    driver
        .rec
        .phase(&format!("recording fixture {}", spec.name));
    let meta = fixture_meta(
        &driver.world,
        scenario,
        spec.name.clone(),
        spec.after_step,
        channels,
    );
    if let Err(e) = crate::fixture::record(&mut driver.world.net, &spec.out, meta).await {
        driver.rec.finding(env_finding(e.to_string()));
    }
}

fn node_config(n: &NodeDecl) -> NodeConfig {
    NodeConfig {
        name: n.name.clone(),
        developer: n.developer,
        xpay: n.xpay,
        reconnect: n.reconnect,
        splicing: n.splicing,
        zero_conf: n.zero_conf,
        hold_htlcs_msat: n.hold_htlcs_msat,
        extra: n.options.clone(),
        wallet: None,
    }
}
