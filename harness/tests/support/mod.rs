//! Shared by the binary-needing test harnesses: what this machine has,
//! decided once at list time, so missing binaries become skipped tests
//! (with the reason printed by the always-run `environment` test).

#![allow(dead_code)]

use cln_harness::binaries::{self, BitcoinBins, Discovery, Lightningd};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Machine {
    pub discovery: Discovery,
    pub bitcoin: Result<BitcoinBins, String>,
    resolved: std::sync::Mutex<BTreeMap<String, Result<Lightningd, String>>>,
}

impl Machine {
    pub fn detect() -> Machine {
        let discovery = Discovery::from_environment(vec![]).unwrap_or_default();
        Machine {
            discovery,
            bitcoin: binaries::resolve_bitcoind(None).map_err(|e| e.to_string()),
            resolved: Default::default(),
        }
    }

    pub fn lightningd(&self, request: &str) -> Result<Lightningd, String> {
        self.resolved
            .lock()
            .unwrap()
            .entry(request.to_string())
            .or_insert_with(|| self.discovery.resolve(request).map_err(|e| e.to_string()))
            .clone()
    }

    /// Why a test needing these roles/labels can't run here, if it can't.
    pub fn missing(&self, requests: &[String]) -> Option<String> {
        let mut why = Vec::new();
        if let Err(e) = &self.bitcoin {
            why.push(e.clone());
        }
        for r in requests {
            if let Err(e) = self.lightningd(r) {
                why.push(e);
            }
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// A discovery with these role → label bindings pinned.
    pub fn pinned(&self, roles: &BTreeMap<String, String>) -> Result<Discovery, String> {
        let mut d = self.discovery.clone();
        for (role, label) in roles {
            let b = self.lightningd(label)?;
            d.command_line.push((role.clone(), b.path.clone()));
        }
        Ok(d)
    }
}

pub fn repo_root() -> PathBuf {
    // Canonical: insta refuses snapshot paths with `..` in some modes.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

/// The report the always-run `environment` test prints: tests skipped for
/// want of binaries, and tests this machine cannot run at all (e.g. one
/// that switches users, when not root).
pub fn environment_text(
    m: &Machine,
    skipped: &[(String, String)],
    not_here: &[(String, String)],
) -> String {
    let mut s = String::from("cln-harness test environment\n");
    match &m.bitcoin {
        Ok(b) => s.push_str(&format!(
            "  bitcoind: {} ({})\n",
            b.bitcoind.display(),
            b.source
        )),
        Err(e) => s.push_str(&format!("  bitcoind: MISSING: {e}\n")),
    }
    for name in m.discovery.known_requests() {
        match m.lightningd(&name) {
            Ok(b) => s.push_str(&format!("  {name}: {} {}\n", b.version, b.path.display())),
            Err(e) => s.push_str(&format!("  {name}: MISSING: {e}\n")),
        }
    }
    if skipped.is_empty() {
        s.push_str("  no test skipped\n");
    } else {
        s.push_str(&format!("  {} test(s) SKIPPED (not passed) for want of binaries (CLN_HARNESS_REQUIRE_BINARIES=1 makes them fail):\n", skipped.len()));
        for (t, why) in skipped {
            s.push_str(&format!("    {t}: {why}\n"));
        }
    }
    if !not_here.is_empty() {
        s.push_str(&format!(
            "  {} test(s) SKIPPED (not passed), not possible on this machine:\n",
            not_here.len()
        ));
        for (t, why) in not_here {
            s.push_str(&format!("    {t}: {why}\n"));
        }
    }
    s
}

/// `CLN_HARNESS_REQUIRE_BINARIES=1`: missing binaries fail tests instead of skipping them.
pub fn require_binaries() -> bool {
    std::env::var("CLN_HARNESS_REQUIRE_BINARIES").is_ok_and(|v| v == "1")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The trials of one test binary, and which were skipped for want of
/// binaries (and why). `run` adds the always-run `environment` test.
pub struct Suite {
    trials: Vec<libtest_mimic::Trial>,
    skipped: Vec<(String, String)>,
    not_here: Vec<(String, String)>,
}

impl Suite {
    pub fn new() -> Suite {
        Suite {
            trials: Vec::new(),
            skipped: Vec::new(),
            not_here: Vec::new(),
        }
    }

    /// Skip a trial this machine cannot run whatever it installs (not
    /// root, no setpriv): skipped with the reason even under
    /// `CLN_HARNESS_REQUIRE_BINARIES=1`, which is about binaries.
    pub fn skip_here(&mut self, trial: libtest_mimic::Trial, why: String) {
        self.not_here.push((trial.name().to_string(), why));
        self.trials.push(trial.with_ignored_flag(true));
    }

    /// Add a trial; with `missing = Some(why)` it is skipped at list time,
    /// unless `CLN_HARNESS_REQUIRE_BINARIES=1` (a CI machine that is meant
    /// to have every build): then it is a test that fails, saying why.
    pub fn add(&mut self, trial: libtest_mimic::Trial, missing: Option<String>) {
        match missing {
            Some(why) if require_binaries() => {
                let name = trial.name().to_string();
                self.trials.push(libtest_mimic::Trial::test(name, move || {
                    Err(format!("CLN_HARNESS_REQUIRE_BINARIES=1, but this machine lacks what the test needs: {why}").into())
                }));
            }
            Some(why) => {
                self.skipped.push((trial.name().to_string(), why));
                self.trials.push(trial.with_ignored_flag(true));
            }
            None => self.trials.push(trial),
        }
    }

    pub fn run(mut self, machine: &Machine, args: &libtest_mimic::Arguments) -> ! {
        let text = environment_text(machine, &self.skipped, &self.not_here);
        self.trials
            .push(libtest_mimic::Trial::test("environment", move || {
                println!("{text}");
                Ok(())
            }));
        libtest_mimic::run(args, self.trials).exit()
    }
}

/// A child process's stdout then stderr, as one text for messages and matching.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
