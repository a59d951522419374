//! `cln-harness list` (the scenarios) and `binaries` (every lightningd and
//! bitcoind the harness can find).

use super::BinarySources;
use crate::binaries;
use crate::outcome::{exit_code, ExitCode, OutcomeKind, Verdict};
use std::path::PathBuf;

/// Every scenario file under `dirs` with its roles and description; an
/// invalid one is listed as such and makes the command exit with bad input.
pub fn list(dirs: &[PathBuf]) -> i32 {
    let mut code = ExitCode::PASS;
    for f in crate::scenario::scenario_files(dirs) {
        match crate::scenario::load(&f) {
            Ok(s) => println!(
                "{:<44} [{}] {}",
                f.display(),
                s.roles().join(", "),
                s.description
            ),
            Err(e) => {
                println!("{:<44} INVALID: {e}", f.display());
                code = exit_code(Verdict::BadInput);
            }
        }
    }
    code
}

/// Every role and label the harness can answer, with the same verdict a
/// run would reach: an explicitly given binary that cannot be used is
/// shown as such (and makes the command an environment error), never a
/// substitute.
pub fn binaries(bins: &BinarySources) -> i32 {
    let disc = match super::discovery(bins) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let mut found_any = false;
    let mut explicit_broken = false;
    for name in disc.known_requests() {
        match disc.resolve(&name) {
            Ok(b) => {
                found_any = true;
                let sha = b.sha256().unwrap_or_else(|e| format!("unreadable: {e}"));
                let pg = if crate::postgres::lightningd_has_postgres(&b.path) {
                    "sqlite, postgres"
                } else {
                    "sqlite only (built without libpq-dev)"
                };
                println!(
                    "{name:<12} {:<24} {}  (from {})\n{:<12} sha256 {sha}\n{:<12} databases: {pg}",
                    b.version.raw,
                    b.path.display(),
                    b.source,
                    "",
                    ""
                );
            }
            Err(e) => {
                explicit_broken |= e.explicit.is_some();
                let mark = if e.explicit.is_some() {
                    "UNUSABLE"
                } else {
                    "-"
                };
                println!("{name:<12} {mark}  {}", e.tried.join("; "));
            }
        }
    }
    let bitcoind_ok = match binaries::resolve_bitcoind(bins.bitcoind.as_deref()) {
        Ok(b) => {
            println!(
                "{:<12} {}  (from {})",
                "bitcoind",
                b.bitcoind.display(),
                b.source
            );
            true
        }
        Err(e) => {
            println!("{:<12} -  {e}", "bitcoind");
            false
        }
    };
    if found_any && bitcoind_ok && !explicit_broken {
        ExitCode::PASS
    } else {
        exit_code(OutcomeKind::Error)
    }
}
