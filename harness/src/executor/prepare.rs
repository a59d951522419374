//! Everything before the first node starts: the run dir, the binaries,
//! a fixture's chain, bitcoind, and the daemons some scenarios need
//! (electrs, PostgreSQL). Any failure here is the environment's (an
//! `error` finding), never the product's.

use super::record::Recorder;
use super::{ExecConfig, RunState};
use crate::fixture::FixtureMeta;
use crate::network::{Network, RunDir};
use crate::options::DbBackend;
use crate::outcome::{Finding, OutcomeKind};
use crate::scenario::Scenario;
use std::path::{Path, PathBuf};

/// A network with bitcoind (and the daemons the scenario asks for) up and
/// no node started yet.
pub(super) struct Prepared {
    pub net: Network,
    /// The fixture the run resumes from (its dir and metadata).
    pub fixture: Option<(PathBuf, FixtureMeta)>,
}

/// Why the run stopped before its nodes started: the environment's
/// findings, and the network when one was made (its files are evidence).
pub(super) struct Unprepared {
    pub findings: Vec<Finding>,
    pub network: Option<Box<Network>>,
}

impl Unprepared {
    fn one(detail: impl ToString) -> Unprepared {
        Unprepared {
            findings: vec![env_finding(detail.to_string())],
            network: None,
        }
    }
}

/// A node's file in a fixture: (path in the archive, bytes).
type NodeFile = (String, Vec<u8>);

pub(super) fn env_finding(detail: String) -> Finding {
    Finding::new(OutcomeKind::Error, None, None, detail)
}

/// The run dir, the binaries, the fixture, bitcoind, then electrs and
/// PostgreSQL where asked for. Fills `state.run_dir` and `state.roles`.
/// `setup_entry`: a setup cache entry to resume from (the scenario has no
/// fixture of its own then).
pub(super) async fn prepare(
    scenario: &Scenario,
    cfg: &ExecConfig<'_>,
    setup_entry: Option<&Path>,
    state: &mut RunState,
    rec: &mut Recorder<'_>,
) -> Result<Prepared, Unprepared> {
    // The first prepare of a run starts at 0 (resolving binaries, the
    // setup cache's key); a second, after recording the setup, now.
    let resolving_since = match rec.phase_marks.last() {
        Some(_) => rec.elapsed_ms(),
        None => 0,
    };
    state.run_dir = Some(RunDir::new(cfg.keep).map_err(Unprepared::one)?);
    resolve_roles(scenario, cfg, state)?;
    // Everything until now was resolving binaries.
    rec.phase_marks.push(("resolve", resolving_since));
    let run_dir = state
        .run_dir
        .as_ref()
        .map(|d| d.path().to_path_buf())
        .unwrap_or_default();
    let fixture = match setup_entry {
        Some(dir) => Some((
            dir.to_path_buf(),
            crate::fixture::load_meta(dir).map_err(Unprepared::one)?,
        )),
        None => load_fixture(scenario)?,
    };
    // PostgreSQL boots while bitcoind starts: launched first, because
    // bitcoind's start holds the runtime's thread until it answers.
    let on_postgres = nodes_on_postgres(scenario, cfg);
    let postgres = if on_postgres.is_empty() {
        None
    } else if fixture.is_some() {
        return Err(Unprepared::one(format!(
            "{} would run on PostgreSQL, but from_fixture restores recorded SQLite databases: run this scenario on sqlite (it can say `db = \"sqlite\"`)",
            on_postgres.join(", ")
        )));
    } else {
        rec.phase("starting PostgreSQL");
        let server = crate::postgres::PgServer::launch()
            .await
            .map_err(Unprepared::one)?;
        Some((on_postgres, server))
    };
    rec.phase("starting bitcoind");
    let node_files = match &fixture {
        Some((dir, meta)) => restore_chain(scenario, state, rec, dir, meta, &run_dir)?,
        None => Vec::new(),
    };
    let nodes = scenario
        .nodes
        .iter()
        .map(|n| (super::node_config(n), state.roles[&n.role].clone()))
        .collect();
    let mut net = Network::create_with(
        &run_dir,
        cfg.bitcoin,
        nodes,
        fixture.is_none(),
        scenario.witness,
        cfg.record.and_then(|r| r.chain_mocktime),
    )
    .await
    .map_err(Unprepared::one)?;
    let attached = attach(
        scenario,
        cfg,
        rec,
        &mut net,
        (&fixture, &node_files),
        postgres,
        &run_dir,
    )
    .await;
    match attached {
        Ok(()) => Ok(Prepared { net, fixture }),
        Err(detail) => Err(Unprepared {
            findings: vec![env_finding(detail)],
            network: Some(Box::new(net)),
        }),
    }
}

/// Every role the scenario needs, resolved up front: a missing or
/// unusable binary is an environment error before anything starts.
fn resolve_roles(
    scenario: &Scenario,
    cfg: &ExecConfig<'_>,
    state: &mut RunState,
) -> Result<(), Unprepared> {
    let mut findings = Vec::new();
    for role in scenario.roles() {
        match cfg.discovery.resolve(&role) {
            Ok(b) => {
                state.roles.insert(role, b);
            }
            Err(e) => findings.push(env_finding(e.to_string())),
        }
    }
    if findings.is_empty() {
        Ok(())
    } else {
        Err(Unprepared {
            findings,
            network: None,
        })
    }
}

fn load_fixture(scenario: &Scenario) -> Result<Option<(PathBuf, FixtureMeta)>, Unprepared> {
    match scenario.from_fixture.as_ref().and_then(|f| f.dir.clone()) {
        Some(dir) => match crate::fixture::load_meta(&dir) {
            Ok(meta) => Ok(Some((dir, meta))),
            Err(e) => Err(Unprepared::one(e)),
        },
        None if scenario.from_fixture.is_some() => Err(Unprepared::one(
            "from_fixture was not resolved (load the scenario with scenario::load)",
        )),
        None => Ok(None),
    }
}

/// From a fixture: refuse downgrades, then bitcoind's datadir before it
/// starts. Returns the nodes' recorded files, restored once they exist.
fn restore_chain(
    scenario: &Scenario,
    state: &RunState,
    rec: &mut Recorder<'_>,
    dir: &Path,
    meta: &FixtureMeta,
    run_dir: &Path,
) -> Result<Vec<NodeFile>, Unprepared> {
    rec.phase(&format!(
        "restoring fixture {} (height {})",
        meta.name, meta.block_height
    ));
    let binaries: Vec<(String, crate::version::ClnVersion)> = scenario
        .nodes
        .iter()
        .map(|n| (n.name.clone(), state.roles[&n.role].version.clone()))
        .collect();
    crate::fixture::check_versions(meta, &binaries)
        .and_then(|()| crate::fixture::restore_chain(dir, &run_dir.join("bitcoind")))
        .map_err(Unprepared::one)
}

/// Who keeps their database on PostgreSQL: the node's own `db`, else
/// the scenario's, else the command line's.
fn nodes_on_postgres(scenario: &Scenario, cfg: &ExecConfig<'_>) -> Vec<String> {
    scenario
        .nodes
        .iter()
        .filter(|n| n.db.or(scenario.db).or(cfg.db).unwrap_or_default() == DbBackend::Postgres)
        .map(|n| n.name.clone())
        .collect()
}

/// The chain witness where the scenario asks for it, the launched
/// PostgreSQL server with the nodes it serves, and a fixture's node files;
/// the error is an environment finding's detail.
async fn attach(
    scenario: &Scenario,
    cfg: &ExecConfig<'_>,
    rec: &mut Recorder<'_>,
    net: &mut Network,
    (fixture, node_files): (&Option<(PathBuf, FixtureMeta)>, &[NodeFile]),
    postgres: Option<(Vec<String>, crate::postgres::PgServer)>,
    run_dir: &Path,
) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    if scenario.witness {
        rec.phase("starting electrs (the chain witness)");
        crate::witness::find_electrs(cfg.electrs)
            .map_err(crate::network::NetworkError::from)
            .and_then(|exe| net.attach_witness(&exe, &run_dir.join("electrs")))
            .map_err(|e| fail(&e))?;
    }
    // Nodes on PostgreSQL: one server for the run, a database per node.
    if let Some((on_postgres, server)) = postgres {
        rec.phase("starting PostgreSQL: waiting until it answers");
        net.attach_postgres_server(&on_postgres, server)
            .await
            .map_err(|e| fail(&e))?;
    }
    if let Some((_, meta)) = fixture {
        crate::fixture::restore_nodes(net, node_files, meta).map_err(|e| fail(&e))?;
    }
    Ok(())
}
