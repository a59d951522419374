//! Every scenario file is its own test, and so is every (matrix case,
//! scenario) pair, so nextest's filtering, retries, timeouts and JUnit work
//! per scenario. Tests whose binaries are missing are skipped at list
//! time; the always-run `environment` test says why.

mod support;

use cln_harness::executor::RunConfig;
use cln_harness::outcome::OutcomeKind;
use cln_harness::runner::{run_file, RunOptions, RunResult};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use support::Machine;

/// Database snapshots of a matrix run go to `snapshots/`, one per
/// (scenario, roles, node), so a change in DB shape or content after an
/// upgrade is a reviewable `cargo insta review` diff.
fn assert_db_snapshots(name: &str, report: &cln_harness::report::Report) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(support::repo_root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (node, snap) in &report.db_snapshots {
            let snap_name = format!("{name}__{node}").replace(['@', ',', '='], "_");
            insta::assert_json_snapshot!(snap_name, stable_view(snap));
        }
    });
}

/// The part of a DB snapshot that two runs of one scenario agree on: the
/// schema, the `last_*_created_index` rows (the #8269 invariant), and which
/// HTLCs, payments and invoices exist. HTLC states and balances at stop
/// time depend on how far the last commitment dance got, so they stay out.
fn stable_view(snap: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    let pick = |rows: &serde_json::Value, keys: &[&str]| -> serde_json::Value {
        rows.as_array()
            .map(|rs| rs.iter().map(|r| keys.iter().map(|k| (k.to_string(), r[*k].clone())).collect::<serde_json::Map<_, _>>()).collect())
            .unwrap_or_default()
    };
    let vars: serde_json::Map<String, serde_json::Value> = snap["vars"]
        .as_object()
        .map(|o| o.iter().filter(|(k, _)| k.ends_with("_created_index")).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    json!({
        "schema_version": snap["schema_version"],
        "vars": vars,
        "channel_htlcs": pick(&snap["channel_htlcs"], &["id", "direction", "msatoshi"]),
        "payments": pick(&snap["payments"], &["id", "status", "msatoshi"]),
        "invoices": pick(&snap["invoices"], &["id", "label", "state", "msatoshi"]),
    })
}

fn run_scenario(m: &Machine, file: &Path, discovery: cln_harness::binaries::Discovery, expect: &[OutcomeKind], signature: Option<&str>) -> Result<(), Failed> {
    run_scenario_snap(m, file, discovery, expect, signature, None)
}

fn run_scenario_snap(m: &Machine, file: &Path, discovery: cln_harness::binaries::Discovery, expect: &[OutcomeKind], signature: Option<&str>, snapshot: Option<&str>) -> Result<(), Failed> {
    let bitcoin = m.bitcoin.clone().map_err(Failed::from)?;
    let cfg = RunConfig { discovery, bitcoin, keep: false };
    let opts = RunOptions { keep: false, verbose: true };
    let result = support::runtime().block_on(run_file(file, &cfg, &opts));
    let report = match result {
        RunResult::BadScenario(e) => return Err(format!("bad scenario: {e}").into()),
        RunResult::Ran(r) => r,
    };
    let summary = cln_harness::report::summary(&report);
    eprintln!("{summary}");
    if !expect.contains(&report.outcome) {
        let want: Vec<&str> = expect.iter().map(|k| k.as_str()).collect();
        return Err(format!("expected {}, got {}\n{summary}", want.join(" or "), report.outcome.as_str()).into());
    }
    if let Some(name) = snapshot {
        if report.outcome == OutcomeKind::Pass || report.outcome == OutcomeKind::Crash {
            assert_db_snapshots(name, &report);
        }
    }
    if let Some(sig) = signature {
        let seen = report.signatures.iter().any(|s| s["text"].as_str().is_some_and(|t| t.contains(sig)));
        if !seen {
            return Err(format!("expected signature `{sig}`; signatures: {:?}\n{summary}", report.signatures).into());
        }
    }
    Ok(())
}

fn scenario_path(root: &Path, name: &str) -> PathBuf {
    let top = root.join("scenarios").join(format!("{name}.toml"));
    if top.exists() {
        top
    } else {
        root.join("scenarios/examples").join(format!("{name}.toml"))
    }
}

fn main() {
    let args = Arguments::from_args();
    let machine = std::sync::Arc::new(Machine::detect());
    let root = support::repo_root();
    let mut suite = support::Suite::new();

    // 1. Every scenario file, on the roles the CLI would resolve.
    for file in cln_harness::scenario::scenario_files(&[root.join("scenarios")]) {
        let rel = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
        let name = format!("scenario::{}", rel.trim_start_matches("scenarios/").trim_end_matches(".toml"));
        let scenario = match cln_harness::scenario::load(&file) {
            Ok(s) => s,
            Err(e) => {
                suite.add(Trial::test(name, move || Err(format!("invalid scenario: {e}").into())), None);
                continue;
            }
        };
        let missing = machine.missing(&scenario.roles());
        let m = machine.clone();
        let trial = Trial::test(name, move || {
            let d = m.discovery.clone();
            run_scenario(&m, &file, d, &[OutcomeKind::Pass], None)
        });
        suite.add(trial, missing);
    }

    // 2. The release-gate matrix.
    let matrix_text = std::fs::read_to_string(root.join("ci/matrix.toml")).unwrap_or_default();
    match cln_harness::matrix::parse(&matrix_text) {
        Err(e) => suite.add(Trial::test("matrix::parse", move || Err(format!("ci/matrix.toml: {e}").into())), None),
        Ok(entries) => {
            for entry in entries {
                let name = format!("matrix::{}", entry.name());
                let labels: Vec<String> = entry.roles.values().cloned().collect();
                let missing = machine.missing(&labels);
                let m = machine.clone();
                let file = scenario_path(&root, &entry.scenario);
                let snap = entry.scenario.starts_with("upgrade-").then(|| entry.name());
                let trial = Trial::test(name, move || {
                    let d = m.pinned(&entry.roles).map_err(Failed::from)?;
                    run_scenario_snap(&m, &file, d, &entry.expect, entry.signature.as_deref(), snap.as_deref())
                });
                suite.add(trial, missing);
            }
        }
    }

    // 3. Always runs: what this machine has, and what was skipped for it.
    suite.run(&machine, &args)
}
