//! What each subcommand does, once `cli` has parsed its arguments: plain
//! functions over plain values, each returning its exit code (from
//! [`crate::outcome`]), so a test can call any of them without a shell.
//!
//! - [`up`]: bitcoind and N channeled nodes until Ctrl-C;
//! - [`run`]: `run` (files, `--repeat`, `--json`) and `record`;
//! - [`matrix`]: the release gate over [`crate::gate`];
//! - [`explore`]: generated traffic over [`crate::explore`];
//! - [`inventory`]: `list` (scenarios) and `binaries`;
//! - [`cache`]: `build` and `install`, into the harness cache;
//! - [`check_db`]: the offline database doctor.

pub mod cache;
pub mod check_db;
pub mod explore;
pub mod inventory;
pub mod matrix;
pub mod run;
pub mod up;

use crate::binaries::{self, Discovery};
use crate::outcome::{exit_code, OutcomeKind, Verdict};
use std::path::PathBuf;

/// Which binaries and backends a command runs with, as the user gave
/// them (`--lightningd`, `--bitcoind`, `--db`, `--electrs`).
#[derive(Debug, Clone, Default)]
pub struct BinarySources {
    /// ROLE=PATH (or LABEL=PATH) pairs.
    pub lightningd: Vec<(String, PathBuf)>,
    pub bitcoind: Option<PathBuf>,
    pub db: Option<crate::options::DbBackend>,
    pub electrs: Option<PathBuf>,
    /// `--no-setup-cache` (or `CLN_HARNESS_NO_SETUP_CACHE=1`): every setup from scratch.
    pub no_setup_cache: bool,
}

/// Discovery over the given binaries and the environment; a bad config
/// file is bad input (said on stderr, and the exit code to end with).
pub fn discovery(bins: &BinarySources) -> Result<Discovery, i32> {
    Discovery::from_environment(bins.lightningd.clone()).map_err(|e| {
        eprintln!("error: {e}");
        exit_code(Verdict::BadInput)
    })
}

/// Set (to anything) to turn the setup cache off, as `--no-setup-cache` does.
pub const NO_SETUP_CACHE_ENV: &str = "CLN_HARNESS_NO_SETUP_CACHE";

/// Discovery and bitcoind for runs; the exit code to end with if either
/// is unusable (a bad config file is bad input; no bitcoind is environment).
pub fn run_config(bins: &BinarySources, keep: bool) -> Result<crate::runner::RunConfig, i32> {
    let discovery = discovery(bins)?;
    let bitcoin = binaries::resolve_bitcoind(bins.bitcoind.as_deref()).map_err(|e| {
        eprintln!("error: {e}");
        exit_code(OutcomeKind::Error)
    })?;
    Ok(crate::runner::RunConfig {
        discovery,
        bitcoin,
        keep,
        record: None,
        db: bins.db,
        electrs: bins.electrs.clone(),
        setup_cache: !bins.no_setup_cache && std::env::var_os(NO_SETUP_CACHE_ENV).is_none(),
    })
}

/// Writes a command's JSON report where `--json` said; a write that fails
/// is said on stderr and does not change the exit code.
pub fn write_json(path: &std::path::Path, value: &impl serde::Serialize) {
    if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(value).unwrap_or_default()) {
        eprintln!("error: writing {}: {e}", path.display());
    }
}
