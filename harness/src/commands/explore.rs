//! `cln-harness explore`: generated traffic across an upgrade, over
//! [`crate::explore`].

use super::BinarySources;
use crate::explore::{merge, ExploreConfig};
use crate::outcome::{exit_code, ExitCode, OutcomeKind};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ExploreRequest {
    pub config: ExploreConfig,
    /// Where the summary goes (`--json`).
    pub json: Option<PathBuf>,
    /// Print this run's scenario and exit (`--show-program`).
    pub show_program: Option<u64>,
    pub bins: BinarySources,
}

/// The environment when either version cannot be found or nothing could
/// run; else the exploration's verdict.
pub async fn explore(req: &ExploreRequest) -> i32 {
    let c = &req.config;
    let cfg = match super::run_config(&req.bins, false) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    let can = match crate::explore::abilities(&cfg, c, req.bins.electrs.as_deref()) {
        Ok(can) => can,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code(OutcomeKind::Error);
        }
    };
    if let Some(seed) = req.show_program {
        use crate::explore::{program::generate, render::render};
        print!("{}", render(&generate(seed, c.nodes, &can), None));
        return ExitCode::PASS;
    }
    let mut progress = |l: &str| eprintln!("{l}");
    match crate::explore::explore(c, &cfg, &can, &mut progress).await {
        Ok(summary) => {
            print!("{}", crate::explore::table(&summary));
            if let Some(path) = &req.json {
                super::write_json(path, &summary);
            }
            // Always beside the findings, for `explore merge`.
            match std::fs::create_dir_all(&c.out) {
                Ok(()) => super::write_json(&c.out.join(merge::SUMMARY_FILE), &summary),
                Err(e) => eprintln!("error: {}: {e}", c.out.display()),
            }
            exit_code(crate::explore::verdict(&summary))
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(OutcomeKind::Error)
        }
    }
}

/// `explore merge DIR...`: what several explorations found, as one report.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    pub dirs: Vec<PathBuf>,
    /// The kept reproducers and the Markdown report go here.
    pub out: PathBuf,
    /// Run each kept reproducer again (`--no-recheck` turns it off).
    pub recheck: bool,
    pub json: Option<PathBuf>,
    pub bins: BinarySources,
}

/// Bad input (2) when a dir is not an exploration's; else a failure when
/// anything was found, an environment error when nothing could run or a
/// recheck could not, a pass otherwise.
pub async fn merge(req: &MergeRequest) -> i32 {
    let mut summaries = vec![];
    for dir in &req.dirs {
        match merge::read(dir) {
            Ok(s) => summaries.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::BAD_INPUT;
            }
        }
    }
    let mut paths = merge::merge(&summaries);
    if let Err(e) = std::fs::create_dir_all(&req.out) {
        eprintln!("error: {}: {e}", req.out.display());
        return exit_code(OutcomeKind::Error);
    }
    let cfg = if req.recheck && paths.iter().any(|p| !p.findings.is_empty()) {
        match super::run_config(&req.bins, false) {
            Ok(cfg) => Some(cfg),
            Err(code) => return code,
        }
    } else {
        None
    };
    for p in &mut paths {
        let roles = p.roles();
        for m in &mut p.findings {
            let Some(file) = m.finding.file.clone() else {
                continue;
            };
            let kept = req.out.join(file.file_name().unwrap_or_default());
            if let Err(e) = std::fs::copy(&file, &kept) {
                eprintln!("error: copying {}: {e}", file.display());
                return exit_code(OutcomeKind::Error);
            }
            m.finding.file = Some(kept.clone());
            if let Some(cfg) = &cfg {
                let run_cfg = cfg.pinned(roles.iter().map(|(r, l)| (r.as_str(), l.as_str())));
                let opts = crate::runner::RunOptions::quiet();
                m.rechecked = Some(
                    match crate::runner::run_file(&kept, &run_cfg, &opts).await {
                        crate::runner::RunResult::Ran(r) => {
                            crate::explore::observe(&r).key.as_deref()
                                == Some(m.finding.key.as_str())
                        }
                        crate::runner::RunResult::BadScenario(_) => false,
                    },
                );
            }
        }
    }
    let md = merge::markdown(&paths);
    print!("{md}");
    let md_path = req.out.join(merge::SUMMARY_MARKDOWN);
    if let Err(e) = std::fs::write(&md_path, &md) {
        eprintln!("error: {}: {e}", md_path.display());
    }
    if let Some(path) = &req.json {
        super::write_json(path, &paths);
    }
    exit_code(merge::verdict(&paths))
}
