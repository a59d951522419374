//! `cln-harness run` (scenario files, each `--repeat` times) and `record`
//! (a scenario's first steps saved as a fixture).

use super::BinarySources;
use crate::outcome::{exit_code, worst_exit_code, ExitCode, Verdict};
use crate::runner::{run_file, run_scenario, RunOptions, RunResult};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RunRequest {
    pub files: Vec<PathBuf>,
    pub bins: BinarySources,
    /// Where the machine report goes (`--json`).
    pub json: Option<PathBuf>,
    pub keep: bool,
    /// Accepted snapshots to compare with (`--snapshots DIR`).
    pub snapshots: Option<PathBuf>,
    /// Also print the time spent per phase.
    pub verbose: bool,
    pub repeat: u32,
}

/// Bad scenarios are reported before anything starts; then every file runs
/// `repeat` times, and the exit code is the worst of all runs.
pub async fn run(req: &RunRequest) -> i32 {
    for f in &req.files {
        if let Err(e) = crate::scenario::load(f) {
            eprintln!("error: {e}");
            return exit_code(Verdict::BadInput);
        }
    }
    let cfg = match super::run_config(&req.bins, req.keep) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let opts = RunOptions {
        keep: req.keep,
        verbose: true,
        snapshots: req.snapshots.clone(),
    };
    let mut reports = Vec::new();
    let mut repeats = Vec::new();
    let mut worst = ExitCode::PASS;
    for f in &req.files {
        let mut runs = Vec::new();
        for _ in 0..req.repeat {
            match run_file(f, &cfg, &opts).await {
                RunResult::BadScenario(e) => {
                    eprintln!("error: {e}");
                    worst = worst_exit_code([worst, exit_code(Verdict::BadInput)]);
                    break;
                }
                RunResult::Ran(r) => {
                    println!("{}", crate::report::summary(&r));
                    if req.verbose {
                        println!("{}", crate::report::phases_line(&r));
                    }
                    worst = worst_exit_code([worst, r.exit_code]);
                    runs.push(*r);
                }
            }
        }
        if req.repeat > 1 {
            let summary = crate::report::repeat_summary(&f.display().to_string(), &runs);
            println!("{}", crate::report::repeat_lines(&summary));
            repeats.push(summary);
        }
        reports.extend(runs);
    }
    if let Some(path) = &req.json {
        let value = if req.repeat > 1 {
            serde_json::to_value(crate::report::RepeatReport {
                repeats: &repeats,
                runs: &reports,
            })
        } else if reports.len() == 1 {
            serde_json::to_value(&reports[0])
        } else {
            serde_json::to_value(&reports)
        };
        super::write_json(path, &value.unwrap_or_default());
    }
    worst
}

#[derive(Debug, Clone)]
pub struct RecordRequest {
    pub scenario: PathBuf,
    /// Record after this many top-level steps (0: right after setup).
    pub at: usize,
    pub name: String,
    /// Where the fixture dir goes (default: `fixtures/NAME`).
    pub out: Option<PathBuf>,
    /// Date the recorded chain this many days back.
    pub chain_days_ago: Option<u64>,
    pub bins: BinarySources,
}

/// Saved only when the run passes up to `at`; the run's own exit code
/// otherwise.
pub async fn record(req: &RecordRequest) -> i32 {
    let (file, at, name) = (req.scenario.as_path(), req.at, req.name.as_str());
    let mut scenario = match crate::scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code(Verdict::BadInput);
        }
    };
    if let Err(e) = check_record_request(file, scenario.steps.len(), at, name) {
        eprintln!("error: {e}");
        return exit_code(Verdict::BadInput);
    }
    scenario.steps.truncate(at);
    let mut cfg = match super::run_config(&req.bins, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let out = req
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("fixtures").join(name));
    cfg.record = Some(crate::runner::RecordSpec {
        name: name.to_string(),
        out: out.clone(),
        after_step: at,
        chain_mocktime: req.chain_days_ago.map(|days| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            now.saturating_sub(days.saturating_mul(86_400))
        }),
    });
    let opts = RunOptions {
        keep: false,
        verbose: true,
        snapshots: None,
    };
    let report = run_scenario(&scenario, file, &cfg, &opts).await;
    println!("{}", crate::report::summary(&report));
    if report.exit_code != ExitCode::PASS {
        eprintln!("error: the run did not pass up to step {at}: no fixture saved");
        return report.exit_code;
    }
    let size: u64 = std::fs::read_dir(&out)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("fixture {name}: {} ({} KiB)", out.display(), size / 1024);
    ExitCode::PASS
}

/// `--at` within the scenario's steps and `--name` one directory name:
/// what the user must fix, said before anything starts.
fn check_record_request(file: &Path, steps: usize, at: usize, name: &str) -> Result<(), String> {
    if at > steps {
        return Err(format!(
            "--at {at}: {} has steps 1 to {steps} (0: right after setup)",
            file.display()
        ));
    }
    if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
        return Err(format!(
            "--name {name:?}: a fixture name is one directory name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_request_must_stay_within_the_steps_and_one_directory() {
        let f = Path::new("s.toml");
        assert!(check_record_request(f, 3, 3, "x").is_ok());
        assert!(check_record_request(f, 3, 0, "x").is_ok());
        assert_eq!(
            check_record_request(f, 3, 4, "x").unwrap_err(),
            "--at 4: s.toml has steps 1 to 3 (0: right after setup)"
        );
        for bad in ["", "a/b", "..", "a\\b"] {
            assert!(check_record_request(f, 3, 1, bad).is_err(), "{bad:?}");
        }
    }
}
