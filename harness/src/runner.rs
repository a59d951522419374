//! One complete run of one scenario file: load, execute, classify, gather
//! evidence, report. The CLI and the nextest harness both call this, so
//! they can't drift apart.

use crate::executor::{self, Event, RunConfig};
use crate::outcome::{self, OutcomeKind};
use crate::report::{self, Report};
use crate::scenario::{self, ScenarioError};
use std::path::Path;

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
    let mut state = executor::run(scenario, cfg, &mut on_event).await;
    // Every lightningd has exited: read what they left.
    let evidence = crate::gather::gather(scenario, &state);
    for (node, text) in &evidence.unexpected_crashes {
        // A node whose death is already a finding needs no second one.
        let known = state
            .findings
            .iter()
            .any(|f| f.kind == OutcomeKind::Crash && f.node.as_deref() == Some(node));
        if !known {
            state
                .findings
                .push(outcome::Finding::process_crashed(node, text));
        }
    }
    for (node, text) in &evidence.unexpected_broken {
        state
            .findings
            .push(outcome::Finding::unexpected_broken(node, text));
    }
    let mut snapshot_changes = Vec::new();
    if let (Some(dir), true) = (&opts.snapshots, state.network.is_some()) {
        let (findings, changes) =
            compare_snapshots(dir, &snapshot_base(path, &state.roles), &evidence, verbose);
        state.findings.extend(findings);
        snapshot_changes = changes;
    }
    let outcome = outcome::classify(&state.findings);
    let mut report = report::build(scenario, &path.display().to_string(), &state, &outcome);
    report.signatures = evidence
        .signatures
        .iter()
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .collect();
    let quiet = matches!(outcome.kind, OutcomeKind::Pass | OutcomeKind::Error);
    report.first_signature = outcome.signature.clone().or_else(|| {
        crate::evidence::signatures::headline(&evidence.signatures, quiet, outcome.node.as_deref())
            .map(|s| s.text.clone())
    });
    report.db_snapshots = evidence.db_snapshots.clone();
    report.log_snapshots = evidence.log_snapshots.clone();
    report.snapshot_changes = snapshot_changes;
    // A run that did not pass leaves its bundle (within the process's
    // budget); `--keep` leaves the whole run dir. Nothing else stays.
    let bundle_wanted =
        opts.keep || (report.outcome != OutcomeKind::Pass && crate::gather::take_bundle_slot());
    if bundle_wanted {
        if let Some(dir) = state.run_dir.as_mut() {
            dir.keep();
            let dir = dir.path().to_path_buf();
            report.run_dir = Some(dir.clone());
            match crate::gather::write_bundle(path, &scenario, &state, &dir, &report, &evidence) {
                Ok(bundle) => report.bundle = Some(bundle),
                Err(e) => eprintln!("warning: could not write the artifact bundle: {e}"),
            }
        }
    } else if report.outcome != OutcomeKind::Pass {
        report.bundle_note = Some(format!(
            "no bundle: this process already kept {} (${})",
            crate::gather::max_bundles(),
            crate::gather::MAX_BUNDLES_ENV
        ));
    }
    // Release the ports, bitcoind and PostgreSQL; the dirs stay if kept.
    if let Some(net) = state.network.take() {
        net.release().await;
    }
    // Without --keep, a kept run dir is cut down to its bundle: the chain
    // (bitcoind preallocates 16 MB of block file) and the live node dirs
    // are what fills disks, and the bundle already holds their evidence.
    if let (false, Some(dir), Some(_)) = (opts.keep, &report.run_dir, &report.bundle) {
        crate::gather::prune_to_bundle(dir);
    }
    Box::new(report)
}
