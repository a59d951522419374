//! `cln-harness bisect`, from the checked request to the exit code: which
//! search runs (over installed labels or over commits), printing each
//! tested entry as it comes, the summary, the `--json` report. The CLI
//! only turns its arguments into a [`Request`].

use super::{commits::over_commits, over_labels, Question, RerunFlags, Tested};
use crate::builds::build::BuildOptions;
use crate::builds::git::Repo;
use crate::outcome::{exit_code, OutcomeKind};
use std::path::PathBuf;

/// What the bisect searches over.
#[derive(Debug, Clone)]
pub enum Over {
    /// Installed builds, oldest first.
    Labels(Vec<String>),
    /// Commits of a checkout between `good` and `bad`, each built.
    Commits {
        repo: Repo,
        good: String,
        bad: String,
        build: BuildOptions,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub scenario: PathBuf,
    pub over: Over,
    pub role: String,
    pub find_fix: bool,
    pub repeat: u32,
    pub json: Option<PathBuf>,
    /// The flags the rerun command must carry.
    pub rerun: RerunFlags,
}

/// Bad input, decided before anything starts: the scenario does not load,
/// fewer than two labels, a `--good`/`--bad` that is not a commit.
pub fn check(req: &Request) -> Result<(), String> {
    crate::scenario::load(&req.scenario).map_err(|e| e.to_string())?;
    match &req.over {
        Over::Labels(l) if l.len() < 2 => {
            Err("--labels needs at least two builds, oldest first".into())
        }
        Over::Labels(_) => Ok(()),
        Over::Commits {
            repo, good, bad, ..
        } => {
            for r in [good, bad] {
                repo.commit(r).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    }
}

/// Run the bisect [`check`]ed before; prints as it goes; the exit code.
pub async fn run(req: &Request, cfg: &crate::runner::RunConfig) -> i32 {
    let q = if req.find_fix {
        Question::FirstFixed
    } else {
        Question::FirstBad
    };
    let mut print = |t: &Tested| println!("{}", t.line());
    let mut report = match &req.over {
        Over::Commits {
            repo,
            good,
            bad,
            build,
        } => {
            // --find-fix: the older end fails (`--bad`) and the newer passes (`--good`).
            let ends = if req.find_fix {
                (bad.as_str(), good.as_str())
            } else {
                (good.as_str(), bad.as_str())
            };
            let mut progress = |l: &str| eprintln!("  {l}");
            match over_commits(
                &req.scenario,
                cfg,
                &req.role,
                repo,
                ends,
                q,
                req.repeat,
                build,
                &mut print,
                &mut progress,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => {
                    // The refs were checked: what git fails at now (the
                    // scratch clone, a bisect step) is this machine's.
                    eprintln!("error: {e}");
                    return exit_code(OutcomeKind::Error);
                }
            }
        }
        Over::Labels(labels) => {
            let test =
                |label| super::test_label(&req.scenario, cfg, &req.role, label, q, req.repeat);
            over_labels(&req.scenario, &req.role, labels, q, test, &mut print).await
        }
    };
    report.rerun = report
        .first
        .as_deref()
        .map(|first| super::rerun_command(&req.scenario, &req.role, first, &req.rerun));
    if let Some(path) = &req.json {
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&report).unwrap_or_default())
        {
            eprintln!("error: writing {}: {e}", path.display());
        }
    }
    let summary = super::render::summary(&report);
    if !summary.is_empty() {
        println!("{summary}");
    }
    if let Some(note) = &report.note {
        eprintln!("bisect: {note}");
    }
    exit_code(report.answer)
}
