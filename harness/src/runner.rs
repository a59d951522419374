//! One complete run of one scenario file: load, execute, classify, gather
//! evidence, report. The CLI and the nextest harness both call this, so
//! they can't drift apart.

use crate::binaries::{BitcoinBins, Discovery};
use crate::executor::{self, Event, ExecConfig};
use crate::outcome::{self, OutcomeKind};
use crate::report::{self, Kept, Report};
use crate::scenario::{self, ScenarioError};
use std::path::Path;

pub use crate::executor::RecordSpec;

/// The machine a run uses: which binaries, kept or not, recorded or not.
/// The CLI makes one; `matrix`, `bisect` and `explore` pin roles on it.
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
    /// Resume set-ups from the setup cache (`--no-setup-cache` turns it off).
    pub setup_cache: bool,
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
            setup_cache: self.setup_cache,
        }
    }

    /// What the executor needs of it.
    fn exec(&self) -> ExecConfig<'_> {
        ExecConfig {
            discovery: &self.discovery,
            bitcoin: &self.bitcoin,
            keep: self.keep,
            record: self.record.as_ref(),
            db: self.db,
            electrs: self.electrs.as_deref(),
            setup_cache: self.setup_cache,
        }
    }
}

pub struct RunOptions {
    pub keep: bool,
    /// Print step lines and phases to stderr.
    pub verbose: bool,
    /// Compare the run's DB and log snapshots with the accepted ones here
    /// (`run --snapshots DIR`); a difference fails the run.
    pub snapshots: Option<std::path::PathBuf>,
}

impl RunOptions {
    /// No output, no kept dirs, no snapshots: a run inside another command.
    pub fn quiet() -> RunOptions {
        RunOptions {
            keep: false,
            verbose: false,
            snapshots: None,
        }
    }
}

/// The name a run's snapshots go by, shared with the tests:
/// `<file stem>@<role>=<label>,...` over the roles the scenario used.
pub fn snapshot_base(
    path: &Path,
    roles: &std::collections::BTreeMap<String, crate::binaries::Lightningd>,
) -> String {
    let stem = path
        .file_stem()
        .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
    let roles: Vec<String> = roles
        .iter()
        .map(|(r, b)| format!("{r}={}", b.version.label()))
        .collect();
    format!("{stem}@{}", roles.join(","))
}

/// `run --snapshots DIR`: one finding per snapshot that is new or changed
/// (with its diff), a `.snap.new` beside each for `cargo insta review`.
fn compare_snapshots(
    dir: &Path,
    base: &str,
    evidence: &crate::gather::Evidence,
    verbose: bool,
) -> (Vec<outcome::Finding>, Vec<String>) {
    use crate::evidence::snapfile::{compare, Comparison};
    let mut wanted: Vec<(String, &str, serde_json::Value)> = Vec::new();
    for (node, snap) in &evidence.db_snapshots {
        wanted.push((
            format!("{base}__{node}"),
            "stable_view(snap)",
            crate::evidence::snapshot::stable_view(snap),
        ));
    }
    for (node, digest) in &evidence.log_snapshots {
        wanted.push((format!("{base}__{node}__log"), "log_digest", digest.clone()));
    }
    let (mut findings, mut changes) = (Vec::new(), Vec::new());
    for (name, expression, value) in wanted {
        let finding = match compare(dir, &name, expression, &value) {
            Ok(Comparison::Same) => continue,
            Ok(Comparison::New { pending }) => outcome::Finding::new(
                OutcomeKind::Fail,
                None,
                None,
                format!("no accepted snapshot `{name}` yet; wrote {} (accept it with `cargo insta review --workspace`)", pending.display()),
            ),
            Ok(Comparison::Changed { pending, diff }) => {
                if verbose {
                    eprintln!("snapshot `{name}` differs from the accepted one:\n{diff}");
                }
                outcome::Finding::new(
                    OutcomeKind::Fail,
                    None,
                    None,
                    format!("snapshot `{name}` differs from the accepted one; wrote {} (review it with `cargo insta review --workspace`)\n{diff}", pending.display()),
                )
            }
            Err(e) => outcome::Finding::new(OutcomeKind::Error, None, None, format!("snapshots in {}: {e}", dir.display())),
        };
        changes.push(name);
        findings.push(finding);
    }
    (findings, changes)
}

/// The findings the evidence adds: a process that crashed (unless its
/// node's death already is one), and BROKEN lines no `broken_log` allows.
fn evidence_findings(
    known: &[outcome::Finding],
    evidence: &crate::gather::Evidence,
) -> Vec<outcome::Finding> {
    let mut out = Vec::new();
    for (node, text) in &evidence.unexpected_crashes {
        // A node whose death is already a finding (or whose first crash
        // here is) needs no second one.
        let known = known
            .iter()
            .chain(&out)
            .any(|f| f.kind == OutcomeKind::Crash && f.node.as_deref() == Some(node));
        if !known {
            out.push(outcome::Finding::process_crashed(node, text));
        }
    }
    for (node, what, text) in &evidence.unexpected_broken {
        out.push(outcome::Finding::unexpected_broken(node, what, text));
    }
    out
}

pub enum RunResult {
    /// The scenario file itself is bad (exit 2).
    BadScenario(ScenarioError),
    Ran(Box<Report>),
}

impl RunResult {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunResult::BadScenario(_) => outcome::exit_code(outcome::Verdict::BadInput),
            RunResult::Ran(r) => r.exit_code,
        }
    }
}

pub async fn run_file(path: &Path, cfg: &RunConfig, opts: &RunOptions) -> RunResult {
    match scenario::load(path) {
        Ok(s) => RunResult::Ran(run_scenario(&s, path, cfg, opts).await),
        Err(e) => RunResult::BadScenario(e),
    }
}

/// Run a loaded scenario (`record` runs a prefix of a file's steps).
pub async fn run_scenario(
    scenario: &scenario::Scenario,
    path: &Path,
    cfg: &RunConfig,
    opts: &RunOptions,
) -> Box<Report> {
    let t0 = std::time::Instant::now();
    let verbose = opts.verbose;
    let mut on_event = |e: Event| {
        if !verbose {
            return;
        }
        match e {
            Event::Phase(p) => eprintln!("[{:>6.2}s] {p}", t0.elapsed().as_secs_f64()),
            Event::StepEnded(r) => eprintln!("{}", report::step_line(r)),
        }
    };
    if verbose {
        eprintln!("== {} ({})", scenario.name, path.display());
    }
    let mut state = executor::run(scenario, &cfg.exec(), &mut on_event).await;
    // Every lightningd has exited: read what they left.
    let evidence = crate::gather::gather(scenario, &state);
    state
        .findings
        .extend(evidence_findings(&state.findings, &evidence));
    let mut snapshot_changes = Vec::new();
    if let (Some(dir), true) = (&opts.snapshots, state.network.is_some()) {
        let (findings, changes) =
            compare_snapshots(dir, &snapshot_base(path, &state.roles), &evidence, verbose);
        state.findings.extend(findings);
        snapshot_changes = changes;
    }
    let outcome = outcome::classify(&state.findings);
    let duration_ms = state.started.elapsed().as_millis();
    // A run that did not pass leaves its bundle (within the process's
    // budget); `--keep` leaves the whole run dir. Nothing else stays.
    let bundle_wanted =
        opts.keep || (outcome.kind != OutcomeKind::Pass && crate::gather::take_bundle_slot());
    let bundle_dir = match (bundle_wanted, state.run_dir.as_mut()) {
        (true, Some(dir)) => {
            dir.keep();
            Some(dir.path().to_path_buf())
        }
        _ => None,
    };
    let file = path.display().to_string();
    let inputs = |kept: Kept| report::Inputs {
        scenario,
        file: &file,
        state: &state,
        outcome: &outcome,
        evidence: report::Gathered {
            signatures: &evidence.signatures,
            db_snapshots: &evidence.db_snapshots,
            log_snapshots: &evidence.log_snapshots,
            snapshot_changes: &snapshot_changes,
        },
        duration_ms,
        kept,
    };
    let mut kept = Kept::default();
    if let Some(dir) = bundle_dir {
        // The bundle holds the report as it stood before the bundle
        // existed: the same report, naming no bundle.
        let before = report::build(&inputs(Kept::default()));
        match crate::gather::write_bundle(path, scenario, &state, &dir, &before, &evidence) {
            Ok(bundle) => kept.bundle = Some(bundle),
            Err(e) => eprintln!("warning: could not write the artifact bundle: {e}"),
        }
    } else if !bundle_wanted && outcome.kind != OutcomeKind::Pass {
        kept.bundle_note = Some(format!(
            "no bundle: this process already kept {} (${})",
            crate::gather::max_bundles(),
            crate::gather::MAX_BUNDLES_ENV
        ));
    }
    let report = report::build(&inputs(kept));
    // Release the ports and bitcoind; the dirs stay if kept. The chain
    // stays only in a kept run dir that is not cut down to its bundle.
    let pruned = !opts.keep && report.run_dir.is_some() && report.bundle.is_some();
    let chain_kept = state.run_dir.as_ref().is_some_and(|d| d.is_kept()) && !pruned;
    if let Some(net) = state.network.take() {
        net.release(chain_kept).await;
    }
    // Without --keep, a kept run dir is cut down to its bundle: the chain
    // (bitcoind preallocates 16 MB of block file) and the live node dirs
    // are what fills disks, and the bundle already holds their evidence.
    if let (false, Some(dir), Some(_)) = (opts.keep, &report.run_dir, &report.bundle) {
        crate::gather::prune_to_bundle(dir);
    }
    Box::new(report)
}
