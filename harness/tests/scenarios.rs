//! Every scenario file is its own test, and so is every (matrix case,
//! scenario) pair and every verdict case, so nextest's filtering, retries,
//! timeouts and JUnit work per scenario. Tests whose binaries are missing
//! are skipped at list time; the always-run `environment` test says why.

mod support;

use cln_harness::matrix::Entry;
use cln_harness::options::DbBackend;
use cln_harness::outcome::OutcomeKind;
use cln_harness::report::Report;
use cln_harness::runner::RunConfig;
use cln_harness::runner::{run_file, RunOptions, RunResult};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use support::Machine;

/// Snapshots of a matrix run go to `snapshots/`, per (scenario, roles,
/// node): the database's stable view (`<name>__<node>.snap`) and the log
/// digest (`<name>__<node>__log.snap`), so a change in what a node stored
/// or logged is a reviewable `cargo insta review --workspace` diff. The
/// CLI's `run --snapshots snapshots/` uses the same names and files.
fn assert_snapshots(name: &str, report: &Report) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(support::repo_root().join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (node, snap) in &report.db_snapshots {
            let snap_name = format!("{name}__{node}").replace(['@', ',', '='], "_");
            insta::assert_json_snapshot!(
                snap_name,
                cln_harness::evidence::snapshot::stable_view(snap)
            );
        }
        for (node, digest) in &report.log_snapshots {
            let snap_name = format!("{name}__{node}__log").replace(['@', ',', '='], "_");
            insta::assert_json_snapshot!(snap_name, digest);
        }
    });
}

/// One run with the machine's bitcoind, `--db` as given.
fn run_on(
    m: &Machine,
    file: &Path,
    discovery: cln_harness::binaries::Discovery,
    db: Option<cln_harness::options::DbBackend>,
) -> Result<Box<Report>, Failed> {
    let bitcoin = m.bitcoin.clone().map_err(Failed::from)?;
    let cfg = RunConfig {
        discovery,
        bitcoin,
        keep: false,
        record: None,
        db,
        electrs: None,
        setup_cache: true,
    };
    let opts = RunOptions {
        keep: false,
        verbose: true,
        snapshots: None,
    };
    match support::runtime().block_on(run_file(file, &cfg, &opts)) {
        RunResult::BadScenario(e) => Err(format!("bad scenario: {e}").into()),
        RunResult::Ran(r) => {
            eprintln!("{}", cln_harness::report::summary(&r));
            Ok(r)
        }
    }
}

/// A `parallel` whose second inner step fails (an unknown method) and
/// whose third does too (an expectation); the keysend beside them holds.
const PARALLEL_FAILS: &str = r#"steps = [
  { parallel = [
    { keysend = "alice", to = "bob", amount_msat = 1000, expect.fields = [{ path = "status", equals = "complete" }] },
    { rpc = "bob", method = "no-such-method" },
    { rpc = "alice", method = "getinfo", expect.fields = [{ path = "id", equals = "${bob.id}" }] },
  ] },
]
"#;

/// Requests racing a `kill` (bob's waits until its socket goes), then a
/// `start` beside a request: no crash, and bob is up afterwards; the last
/// step would be a crash if the start had left bob expected down and he
/// then died, and a fail if he were not up.
const PARALLEL_KILL: &str = r#"steps = [
  { parallel = [
    { rpc = "bob", method = "waitblockheight", params = { blockheight = 1000, timeout = 20 }, expect.ok = false },
    { rpc = "alice", method = "getinfo" },
    { kill = "bob" },
  ] },
  { assert_alive = "bob", alive = false },
  { parallel = [{ start = "bob" }, { rpc = "alice", method = "getinfo" }] },
  { assert_alive = "bob" },
  { rpc = "bob", method = "getinfo" },
  { parallel = [{ rpc = "bob", method = "getinfo", expect.ok = false }, { restart = "bob" }, { rpc = "alice", method = "getinfo" }] },
]
"#;

fn check(entry: &Entry, report: &Report) -> Result<(), Failed> {
    cln_harness::matrix::judge(entry, report).map_err(Failed::from)
}

fn scenario_path(root: &Path, name: &str) -> PathBuf {
    cln_harness::matrix::scenario_file(root, name)
}

/// Why a scenario with `witness = true` cannot run here (None: it can, or
/// it has no witness).
fn witness_missing(file: &Path) -> Option<String> {
    let witness = cln_harness::scenario::load(file).is_ok_and(|s| s.witness);
    witness
        .then(|| {
            cln_harness::witness::find_electrs(None)
                .err()
                .map(|e| e.to_string())
        })
        .flatten()
}

/// Why PostgreSQL runs cannot happen here (None: they can).
fn postgres_missing() -> Option<String> {
    cln_harness::postgres::PgBins::find()
        .err()
        .map(|e| e.to_string())
}

/// One test per (case, scenario) of a cases file: `<prefix>::<scenario>@<roles>`.
fn add_cases(
    suite: &mut support::Suite,
    machine: &std::sync::Arc<Machine>,
    root: &Path,
    prefix: &str,
    cases_file: &str,
    snapshots: bool,
) {
    let text = std::fs::read_to_string(root.join(cases_file)).unwrap_or_default();
    let entries = match cln_harness::matrix::parse(&text) {
        Ok(e) => e,
        Err(e) => {
            let msg = format!("{cases_file}: {e}");
            suite.add(
                Trial::test(format!("{prefix}::parse"), move || Err(msg.into())),
                None,
            );
            return;
        }
    };
    for entry in entries {
        let labels: Vec<String> = entry.roles.values().cloned().collect();
        let file = scenario_path(root, &entry.scenario);
        let missing = machine
            .missing(&labels)
            .or_else(|| {
                entry
                    .db
                    .filter(|d| *d == DbBackend::Postgres)
                    .and_then(|_| postgres_missing())
            })
            .or_else(|| witness_missing(&file));
        let m = machine.clone();
        // The seed scenarios (top-level `scenarios/`) are snapshotted; the
        // language examples are not, nor the witness scenarios (electrs is
        // their evidence, and their logs hold block-by-block sweeping).
        let witnessed = cln_harness::scenario::load(&file).is_ok_and(|s| s.witness);
        let seed = !witnessed
            && !entry.scenario.contains('/')
            && root
                .join("scenarios")
                .join(format!("{}.toml", entry.scenario))
                .exists();
        let snap = (snapshots && seed).then(|| entry.name());
        let trial = Trial::test(format!("{prefix}::{}", entry.name()), move || {
            let d = m.pinned(&entry.roles).map_err(Failed::from)?;
            let report = run_on(&m, &file, d, entry.db)?;
            check(&entry, &report)?;
            if let (Some(name), OutcomeKind::Pass | OutcomeKind::Crash) = (&snap, report.outcome) {
                assert_snapshots(name, &report);
            }
            Ok(())
        });
        suite.add(trial, missing);
    }
}

fn main() {
    let args = Arguments::from_args();
    let machine = std::sync::Arc::new(Machine::detect());
    let root = support::repo_root();
    let mut suite = support::Suite::new();

    // 1. Every scenario file, on the roles the CLI would resolve.
    for file in cln_harness::scenario::scenario_files(&[root.join("scenarios")]) {
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let name = format!(
            "scenario::{}",
            rel.trim_start_matches("scenarios/")
                .trim_end_matches(".toml")
        );
        let scenario = match cln_harness::scenario::load(&file) {
            Ok(s) => s,
            Err(e) => {
                suite.add(
                    Trial::test(name, move || Err(format!("invalid scenario: {e}").into())),
                    None,
                );
                continue;
            }
        };
        // Every scenario on both backends (`--db postgres` leaves a file's own `db` alone).
        for db in [None, Some(DbBackend::Postgres)] {
            let missing = machine
                .missing(&scenario.roles())
                .or_else(|| db.and_then(|_| postgres_missing()))
                .or_else(|| witness_missing(&file));
            let m = machine.clone();
            let file = file.clone();
            let scenario_name = scenario.name.clone();
            let name = match db {
                Some(d) => format!("{name}@db={}", d.as_str()),
                None => name.clone(),
            };
            let trial = Trial::test(name, move || {
                let report = run_on(&m, &file, m.discovery.clone(), db)?;
                let entry = Entry {
                    scenario: scenario_name,
                    roles: Default::default(),
                    expect: vec![OutcomeKind::Pass],
                    signature: None,
                    detail: None,
                    headline: None,
                    no_signatures: false,
                    db,
                };
                check(&entry, &report)
            });
            suite.add(trial, missing);
        }
    }

    // 2. The release-gate matrix, with DB snapshots of the upgrade paths.
    add_cases(
        &mut suite,
        &machine,
        &root,
        "matrix",
        "ci/matrix.toml",
        true,
    );

    // 3. Verdicts: each line of "an exit code is a contract", on real binaries.
    add_cases(
        &mut suite,
        &machine,
        &root,
        "verdict",
        "fixtures/verdicts/cases.toml",
        false,
    );

    // 4. `run --snapshots DIR` compares with the accepted files the tests write.
    let roles: std::collections::BTreeMap<String, String> =
        [("candidate".to_string(), "v25.05".to_string())].into();
    let missing = machine.missing(&["v25.05".to_string()]);
    let m = machine.clone();
    let root2 = root.clone();
    suite.add(
        Trial::test(
            "snapshots::run_with_snapshots_fails_on_a_changed_log_and_leaves_a_snap_new",
            move || {
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                for node in ["alice", "bob"] {
                    for suffix in ["", "__log"] {
                        let name = format!("keysend_candidate_v25.05__{node}{suffix}.snap");
                        std::fs::copy(root2.join("snapshots").join(&name), dir.path().join(&name))
                            .map_err(|e| format!("{name}: {e}"))?;
                    }
                }
                let changed = dir.path().join("keysend_candidate_v25.05__bob__log.snap");
                let text = std::fs::read_to_string(&changed)
                    .map_err(|e| e.to_string())?
                    .replace("\"cln-xpay\",", "\"cln-xpay-gone\",");
                std::fs::write(&changed, text).map_err(|e| e.to_string())?;
                let bitcoin = m.bitcoin.clone().map_err(Failed::from)?;
                let cfg = RunConfig {
                    discovery: m.pinned(&roles).map_err(Failed::from)?,
                    bitcoin,
                    keep: false,
                    record: None,
                    db: None,
                    electrs: None,
                    setup_cache: true,
                };
                let opts = RunOptions {
                    keep: false,
                    verbose: false,
                    snapshots: Some(dir.path().to_path_buf()),
                };
                let file = root2.join("scenarios/keysend.toml");
                let RunResult::Ran(report) =
                    support::runtime().block_on(run_file(&file, &cfg, &opts))
                else {
                    return Err("bad scenario".into());
                };
                if report.outcome != OutcomeKind::Fail
                    || report.snapshot_changes != ["keysend@candidate=v25.05__bob__log"]
                {
                    return Err(format!(
                        "expected one changed snapshot and `fail`, got {} {:?}: {}",
                        report.outcome.as_str(),
                        report.snapshot_changes,
                        report.detail
                    )
                    .into());
                }
                if !report.detail.contains("+      \"cln-xpay\"")
                    || !changed.with_extension("snap.new").exists()
                {
                    return Err(
                        format!("expected the diff and a .snap.new: {}", report.detail).into(),
                    );
                }
                Ok(())
            },
        ),
        missing,
    );

    // 4b. What the setup leaves behind, per topology (issue "Durable
    //     verdicts": a harness change left fewer chain moves after setup,
    //     and a user's `count = 7` failed on a good build). Pinned per
    //     version, since wallets and bookkeeping differ between releases.
    for topology in ["two-nodes", "line", "triangle", "star"] {
        for label in ["v25.05", "v26.06.6"] {
            let roles: std::collections::BTreeMap<String, String> =
                [("candidate".to_string(), label.to_string())].into();
            let m = machine.clone();
            let file = root.join("fixtures/setup").join(format!("{topology}.toml"));
            let trial = Trial::test(format!("setup::{topology}@{label}"), move || {
                let discovery = m.pinned(&roles).map_err(Failed::from)?;
                let report = run_on(&m, &file, discovery, None)?;
                if report.outcome != OutcomeKind::Pass {
                    return Err(format!("setup did not pass: {}", report.detail).into());
                }
                let mut settings = insta::Settings::clone_current();
                settings.set_snapshot_path(support::repo_root().join("snapshots"));
                settings.set_prepend_module_to_snapshot(false);
                settings.bind(|| {
                    insta::assert_json_snapshot!(format!("setup_{topology}@{label}"), report.setup);
                });
                Ok(())
            });
            suite.add(trial, machine.missing(&[label.to_string()]));
        }
    }

    // 5. Fixture twins with nothing to discover: an empty HOME, no cache,
    //    only the candidate and bitcoind given by path. The broken build
    //    crashes (exit 1) with #8269's signature; the fix passes (exit 0).
    for (label, want_exit, want_text) in [
        ("1cc64dd67", 1, "UNIQUE constraint failed: channel_htlcs.id"),
        ("v25.05", 0, "PASS"),
    ] {
        let missing = machine.missing(&[label.to_string()]);
        let m = machine.clone();
        let root3 = root.clone();
        suite.add(
            Trial::test(format!("twins::only-the-candidate@{label}"), move || {
                let lightningd = m.lightningd(label).map_err(Failed::from)?;
                let bitcoin = m.bitcoin.clone().map_err(Failed::from)?;
                let home = tempfile::tempdir().map_err(|e| e.to_string())?;
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
                    .current_dir(&root3)
                    .env_clear()
                    .env("HOME", home.path())
                    .env("PATH", "/usr/bin:/bin")
                    .args([
                        "run",
                        "scenarios/twins/upgrade-keysend.toml",
                        "--lightningd",
                    ])
                    .arg(format!("candidate={}", lightningd.path.display()))
                    .arg("--bitcoind")
                    .arg(&bitcoin.bitcoind)
                    .output()
                    .map_err(|e| e.to_string())?;
                let text = support::output_text(&out);
                if out.status.code() != Some(want_exit) || !text.contains(want_text) {
                    return Err(format!(
                        "expected exit {want_exit} and {want_text:?}, got {:?}:\n{}",
                        out.status.code(),
                        text
                    )
                    .into());
                }
                Ok(())
            }),
            missing,
        );
    }

    // 6. `cln-harness matrix --versions v25.02.1 1cc64dd67 v25.05` (the gate's
    //    default expectations: everything passes) over one seed upgrade and
    //    its twin: exit 1, the broken cells exactly the paths to 1cc64dd67,
    //    and JUnit that parses.
    let labels: Vec<String> = ["v25.02.1", "1cc64dd67", "v25.05"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let missing = machine.missing(&labels);
    let root4 = root.clone();
    let m4 = machine.clone();
    suite.add(
        Trial::test("gate::versions_show_broken_cells_only_on_paths_to_the_broken_build", move || {
            let t = tempfile::tempdir().map_err(|e| e.to_string())?;
            let copy = |from: &str, to: &str| -> Result<(), String> {
                let to = t.path().join(to);
                std::fs::create_dir_all(to.parent().unwrap()).map_err(|e| e.to_string())?;
                std::fs::copy(root4.join(from), &to).map(|_| ()).map_err(|e| format!("{from}: {e}"))
            };
            copy("scenarios/upgrade-keysend.toml", "scenarios/upgrade-keysend.toml")?;
            copy("scenarios/twins/upgrade-keysend.toml", "scenarios/twins/upgrade-keysend.toml")?;
            for f in ["fixture.json", "state.tar.xz"] {
                copy(&format!("fixtures/upgrade-keysend@v25.02.1/{f}"), &format!("fixtures/upgrade-keysend@v25.02.1/{f}"))?;
            }
            let bitcoin = m4.bitcoin.clone().map_err(Failed::from)?;
            let junit = t.path().join("gate.xml");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
                .current_dir(t.path())
                .args(["matrix", &root4.join("ci/gate.toml").display().to_string(), "--scenarios", "scenarios", "--jobs", "2", "--junit", "gate.xml", "--bitcoind"])
                .arg(&bitcoin.bitcoind)
                .arg("--versions")
                .args(&labels)
                .output()
                .map_err(|e| e.to_string())?;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let missed: Vec<&str> = stdout.lines().filter(|l| l.contains(" NO ")).collect();
            let broken_paths = missed.iter().all(|l| l.contains("candidate=1cc64dd67") && l.contains("UNIQUE constraint failed: channel_htlcs.id"));
            if out.status.code() != Some(1) || missed.len() != 2 || !broken_paths {
                return Err(format!("expected exit 1 and two broken cells on paths to 1cc64dd67, got {:?}:\n{stdout}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr)).into());
            }
            let xml = std::fs::read_to_string(&junit).map_err(|e| e.to_string())?;
            let report = quick_junit::Report::deserialize_from_str(&xml).map_err(|e| e.to_string())?;
            let suite = &report.test_suites[0];
            if (suite.tests, suite.failures) != (6, 2) {
                return Err(format!("JUnit: {} tests, {} failures:\n{xml}", suite.tests, suite.failures).into());
            }
            Ok(())
        }),
        missing,
    );

    // 7. `cln-harness explore` finds #8269 across v25.02.1 → 1cc64dd67 on
    //    its first program and writes a short scenario `run` reproduces.
    let labels7: Vec<String> = ["v25.02.1", "1cc64dd67"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let missing = machine.missing(&labels7);
    let m7 = machine.clone();
    suite.add(
        Trial::test(
            "explore::finds_8269_and_writes_a_scenario_that_reproduces_it",
            move || {
                let t = tempfile::tempdir().map_err(|e| e.to_string())?;
                let bitcoin = m7.bitcoin.clone().map_err(Failed::from)?;
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
                    .args([
                        "explore",
                        "--base",
                        "v25.02.1",
                        "--candidate",
                        "1cc64dd67",
                        "--nodes",
                        "2",
                        "--seed",
                        "1",
                        // Two runs: on the broken build the first program's
                        // `close` sometimes hangs before #8269 shows (seen 1
                        // in 3 here, a finding on 1cc64dd67 only, never on a
                        // good build); the second program finds it then.
                        "--runs",
                        "2",
                        "--shrink-reruns",
                        "0",
                        "--out",
                    ])
                    .arg(t.path())
                    .arg("--bitcoind")
                    .arg(&bitcoin.bitcoind)
                    .output()
                    .map_err(|e| e.to_string())?;
                let text = support::output_text(&out);
                // #8269 shows as the crash on the next HTLC, or (when the
                // program's traffic after the upgrade adds none) as check-db's
                // finding on the wait index the migration left wrong.
                let file = [
                    "unique-constraint-failed-channel-htlcs-id.toml",
                    "fail-at-check-db.toml",
                ]
                .iter()
                .map(|f| t.path().join(f))
                .find(|f| f.is_file());
                let names_8269 = text.contains("UNIQUE constraint failed: channel_htlcs.id")
                    || text.contains("no last_htlcs_created_index row");
                let Some(file) = file.filter(|_| {
                    out.status.code() == Some(1)
                        && names_8269
                        && text.contains("`run` reproduces it")
                }) else {
                    return Err(format!(
                        "expected exit 1 and a reproducing scenario of #8269: {:?}\n{text}",
                        out.status.code()
                    )
                    .into());
                };
                cln_harness::scenario::load(&file).map_err(|e| e.to_string())?;
                Ok(())
            },
        ),
        missing,
    );

    // 8. A campaign across machines, locally: two `explore --shard K/2`
    //    runs over v25.02.1 → 1cc64dd67, then `explore merge` of their
    //    --out dirs: one report, each finding once (#8269 with whichever
    //    shards hit it), rechecked by `run`, and the merge's exit code.
    let missing = machine.missing(&labels7);
    let m8 = machine.clone();
    suite.add(
        Trial::test("explore::two_shards_and_a_merge_give_one_deduplicated_report", move || {
            let t = tempfile::tempdir().map_err(|e| e.to_string())?;
            let bitcoin = m8.bitcoin.clone().map_err(Failed::from)?;
            let mut found_any = false;
            let mut dirs = vec![];
            for shard in ["1/2", "2/2"] {
                let dir = t.path().join(format!("shard-{}", &shard[..1]));
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
                    .args(["explore", "--base", "v25.02.1", "--candidate", "1cc64dd67", "--nodes", "2", "--seed", "1", "--runs", "1", "--shrink-reruns", "0", "--shard", shard, "--out"])
                    .arg(&dir)
                    .arg("--bitcoind")
                    .arg(&bitcoin.bitcoind)
                    .output()
                    .map_err(|e| e.to_string())?;
                let text = support::output_text(&out);
                match out.status.code() {
                    Some(0) => {}
                    Some(1) => found_any = true,
                    c => return Err(format!("shard {shard}: exit {c:?}\n{text}").into()),
                }
                if !text.contains(&format!("(shard {shard})")) || !dir.join("summary.json").is_file() {
                    return Err(format!("shard {shard}: no shard line or summary.json\n{text}").into());
                }
                dirs.push(dir);
            }
            let merged = t.path().join("merged");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
                .args(["explore", "merge"])
                .args(&dirs)
                .arg("--out")
                .arg(&merged)
                .arg("--bitcoind")
                .arg(&bitcoin.bitcoind)
                .output()
                .map_err(|e| e.to_string())?;
            let text = support::output_text(&out);
            let md = std::fs::read_to_string(merged.join("summary.md")).map_err(|e| format!("{e}\n{text}"))?;
            let expected = if found_any { Some(1) } else { Some(0) };
            // #8269's row, if a shard hit it: once, and `run` reproduces it
            // (a `close` hang the broken build sometimes shows may not).
            let rows: Vec<&str> = md.lines().filter(|l| l.contains("channel_htlcs.id")).collect();
            let rows_ok = rows.len() <= 1 && rows.iter().all(|r| r.contains("| reproduces |"));
            if out.status.code() != expected
                || !md.contains("## v25.02.1 → 1cc64dd67")
                || !md.contains("2 exploration(s), 2 runs")
                || !rows_ok
            {
                return Err(format!("merge: exit {:?} (expected {expected:?}), #8269 rows {rows:?}:\n{md}\n{text}", out.status.code()).into());
            }
            Ok(())
        }),
        missing,
    );

    // 9. `matrix --jobs 2`: one cell's PostgreSQL start is slow (the
    //    test-only knob makes its blocking preparation take 40 s more), and
    //    the other cell's step timeout still fires on time. Three cells, two
    //    at a time: `a-frozen-long` (lightningd frozen, a 10 s timeout) runs
    //    beside `b-frozen-short` (2 s); the slow PostgreSQL cell starts when
    //    the short one ends, while the long one waits out its timeout. When
    //    the runtime is blocked (as `wait_ready` and the template copy once
    //    blocked it), the long cell can't see its timeout until the slow
    //    start is over: 40 s and more instead of about 15.
    let labels9: Vec<String> = vec!["v25.05".into()];
    let missing = machine.missing(&labels9).or_else(postgres_missing);
    let root9 = root.clone();
    let m9 = machine.clone();
    suite.add(
        Trial::test("gate::a_slow_postgres_start_does_not_delay_another_cells_timeouts", move || {
            const TIMEOUT: f64 = 10.0;
            const PG_DELAY: f64 = 40.0;
            let t = tempfile::tempdir().map_err(|e| e.to_string())?;
            let dir = t.path().join("scenarios");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::copy(root9.join("fixtures/verdicts/crashy-plugin.py"), dir.join("crashy-plugin.py")).map_err(|e| e.to_string())?;
            let frozen = std::fs::read_to_string(root9.join("fixtures/verdicts/lightningd-frozen.toml")).map_err(|e| e.to_string())?;
            for (name, secs) in [("a-frozen-long", TIMEOUT), ("b-frozen-short", 2.0)] {
                let text = frozen.replace("timeout = 3", &format!("timeout = {secs}"));
                std::fs::write(dir.join(format!("{name}.toml")), text).map_err(|e| e.to_string())?;
            }
            std::fs::write(dir.join("c-slow-postgres.toml"), "description = \"one node on PostgreSQL\"\n\n[nodes.alice]\n\n[[steps]]\ndo = \"rpc\"\nnode = \"alice\"\nmethod = \"getinfo\"\n").map_err(|e| e.to_string())?;
            let cases = "[[case]]\nscenarios = [\"a-frozen-long\", \"b-frozen-short\"]\nroles = { candidate = \"v25.05\" }\nexpect = [\"hang\"]\n\n[[case]]\nscenarios = [\"c-slow-postgres\"]\nroles = { candidate = \"v25.05\" }\ndb = \"postgres\"\nexpect = [\"pass\"]\n";
            std::fs::write(t.path().join("cases.toml"), cases).map_err(|e| e.to_string())?;
            let bitcoin = m9.bitcoin.clone().map_err(Failed::from)?;
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_cln-harness"))
                .current_dir(t.path())
                .env(cln_harness::postgres::START_DELAY_ENV, PG_DELAY.to_string())
                .args(["matrix", "cases.toml", "--scenarios", "scenarios", "--jobs", "2", "--bitcoind"])
                .arg(&bitcoin.bitcoind)
                .output()
                .map_err(|e| e.to_string())?;
            let text = support::output_text(&out);
            // "  ok a-frozen-long@candidate=v25.05 hang (14.2s)"
            let seconds = |cell: &str| -> Option<f64> {
                let line = text.lines().find(|l| l.contains(&format!(" {cell}@")))?;
                line.rsplit_once('(')?.1.strip_suffix("s)")?.parse().ok()
            };
            let (long, slow) = (seconds("a-frozen-long"), seconds("c-slow-postgres"));
            let on_time = long.is_some_and(|s| s < TIMEOUT + 12.0);
            let was_slow = slow.is_some_and(|s| s >= PG_DELAY);
            if out.status.code() != Some(0) || !on_time || !was_slow {
                return Err(format!(
                    "expected every cell met, a-frozen-long within {TIMEOUT} s + 12 s (got {long:?}) while c-slow-postgres took {PG_DELAY} s or more (got {slow:?}); exit {:?}:\n{text}",
                    out.status.code()
                )
                .into());
            }
            Ok(())
        }),
        missing,
    );

    // 10. `parallel` on real nodes, on legacy keysend (v25.05) and xkeysend
    //     (v26.06.6): keysends at once and racing a restart (the example),
    //     one step record per `parallel` whose value lists the answers; a
    //     failing inner step named by its index; requests racing a `kill`,
    //     then a `start`, with no crash and the node known to be up after.
    for label in ["v25.05", "v26.06.6"] {
        let roles: std::collections::BTreeMap<String, String> =
            [("candidate".to_string(), label.to_string())].into();
        let (m, example) = (
            machine.clone(),
            root.join("scenarios/examples/parallel-requests.toml"),
        );
        let pinned = roles.clone();
        suite.add(
            Trial::test(format!("parallel::keysends_at_once_and_racing_a_restart@{label}"), move || {
                let report = run_on(&m, &example, m.pinned(&pinned).map_err(Failed::from)?, None)?;
                let parallels: Vec<&cln_harness::executor::StepRecord> =
                    report.steps.iter().filter(|s| s.step.name.starts_with("parallel ")).collect();
                let lists = parallels.iter().all(|s| s.detail.starts_with("[{"));
                if report.outcome != OutcomeKind::Pass || parallels.len() != 2 || !lists || report.steps.len() != 6 {
                    return Err(format!("expected a pass with two parallel records listing their answers: {} {:?}", report.detail, report.steps).into());
                }
                Ok(())
            }),
            machine.missing(&[label.to_string()]),
        );
        let m = machine.clone();
        suite.add(
            Trial::test(format!("parallel::a_failing_inner_step_is_named_and_a_racing_kill_is_no_crash@{label}"), move || {
                let t = tempfile::tempdir().map_err(|e| e.to_string())?;
                let fails = t.path().join("fails.toml");
                std::fs::write(&fails, PARALLEL_FAILS).map_err(|e| e.to_string())?;
                let report = run_on(&m, &fails, m.pinned(&roles).map_err(Failed::from)?, None)?;
                let named = "parallel[1] (rpc bob no-such-method): expected success, got error code -32601";
                if report.outcome != OutcomeKind::Fail
                    || !report.detail.starts_with(named)
                    || !report.detail.ends_with("(1 other inner step failed too: parallel[2])")
                {
                    return Err(format!("expected a fail naming parallel[1]: {} {}", report.outcome.as_str(), report.detail).into());
                }
                let kill = t.path().join("kill.toml");
                std::fs::write(&kill, PARALLEL_KILL).map_err(|e| e.to_string())?;
                let report = run_on(&m, &kill, m.pinned(&roles).map_err(Failed::from)?, None)?;
                if report.outcome != OutcomeKind::Pass || report.steps.len() != 6 {
                    return Err(format!("expected a racing kill and start to pass: {} {}", report.outcome.as_str(), report.detail).into());
                }
                Ok(())
            }),
            machine.missing(&[label.to_string()]),
        );
    }

    // 8. Always runs: what this machine has, and what was skipped for it.
    suite.run(&machine, &args)
}
