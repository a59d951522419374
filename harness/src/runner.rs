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
}

pub enum RunResult {
    /// The scenario file itself is bad (exit 2).
    BadScenario(ScenarioError),
    Ran(Box<Report>),
}

impl RunResult {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunResult::BadScenario(_) => crate::cli::exit::USAGE,
            RunResult::Ran(r) => r.exit_code,
        }
    }
}

pub async fn run_file(path: &Path, cfg: &RunConfig, opts: &RunOptions) -> RunResult {
    let scenario = match scenario::load(path) {
        Ok(s) => s,
        Err(e) => return RunResult::BadScenario(e),
    };
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
    let mut state = executor::run(&scenario, cfg, &mut on_event).await;
    let outcome = outcome::classify(&state.findings);
    let evidence = crate::gather::gather(&scenario, &mut state);
    let mut outcome = outcome;
    // BROKEN lines nobody whitelisted fail an otherwise passing run.
    if outcome.kind == OutcomeKind::Pass {
        if let Some(f) = evidence.unexpected_broken.first() {
            outcome = outcome::Outcome { kind: OutcomeKind::Fail, step: None, node: Some(f.0.clone()), detail: format!("{} logged a BROKEN line: {}", f.0, f.1) };
        }
    }
    let mut report = report::build(&scenario, &path.display().to_string(), &mut state, &outcome);
    report.signatures = evidence.signatures.clone();
    report.first_signature = evidence.first_signature.clone();
    report.db_snapshots = evidence.db_snapshots.clone();
    if report.outcome != OutcomeKind::Pass || opts.keep {
        state.run_dir.keep();
        report.run_dir = Some(state.run_dir.path().to_path_buf());
        match crate::gather::write_bundle(path, &scenario, &mut state, &report, &evidence) {
            Ok(dir) => report.bundle = Some(dir),
            Err(e) => eprintln!("warning: could not write the artifact bundle: {e}"),
        }
    }
    // Release the ports and bitcoind; the dirs stay if kept.
    if let Some(net) = state.network.take() {
        net.bitcoind.stop();
        drop(net.nodes);
    }
    RunResult::Ran(Box::new(report))
}
