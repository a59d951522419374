//! `cln-harness explore`: generated traffic across an upgrade, over
//! [`crate::explore`].

use super::BinarySources;
use crate::explore::ExploreConfig;
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
            exit_code(crate::explore::verdict(&summary))
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(OutcomeKind::Error)
        }
    }
}
