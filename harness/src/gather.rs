//! Evidence gathering after every node has exited: logs, signatures,
//! check-db, and the artifact bundle. IO lives here; the rules live in
//! `evidence`.

use crate::evidence::signatures::{self, Signature};
use crate::executor::RunState;
use crate::report::Report;
use crate::scenario::Scenario;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct Evidence {
    /// Every node's signatures, in order, without benign ones.
    pub signatures: Vec<Signature>,
    /// (node, which teardown oracle, the line): BROKEN, weird, MEMLEAK and
    /// bad-reestablish lines no `broken_log` regex allows.
    pub unexpected_broken: Vec<(String, &'static str, String)>,
    /// (node, signature) a process of the node died of (a signal or an
    /// assertion), that no `broken_log` regex allows: a subdaemon or
    /// plugin can die while lightningd lives on and logs nothing above
    /// DEBUG (seen: a SIGSEGV in v25.05's gossipd, the run passed).
    pub unexpected_crashes: Vec<(String, String)>,
    /// Per node: check-db report of its database.
    pub check_db: Vec<(String, Value)>,
    /// Per node: the normalised, redacted semantic snapshot of its database.
    pub db_snapshots: std::collections::BTreeMap<String, Value>,
    /// Per node: the digest of its log, one entry per start.
    pub log_snapshots: std::collections::BTreeMap<String, Value>,
}

/// Texts a node left: log file, stderr, crash logs.
pub fn node_texts(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in ["log", "stderr.log"] {
        if let Ok(t) = std::fs::read(dir.join(f)) {
            out.push((f.to_string(), String::from_utf8_lossy(&t).into_owned()));
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("regtest")) {
        let mut crash: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("crash.log"))
            })
            .collect();
        crash.sort();
        for p in crash {
            if let Ok(t) = std::fs::read(&p) {
                let name = p
                    .file_name()
                    .map_or_else(|| "crash.log".into(), |n| n.to_string_lossy().into_owned());
                out.push((name, String::from_utf8_lossy(&t).into_owned()));
            }
        }
    }
    out
}

pub fn gather(scenario: &Scenario, state: &RunState) -> Evidence {
    let mut ev = Evidence {
        signatures: vec![],
        unexpected_broken: vec![],
        unexpected_crashes: vec![],
        check_db: vec![],
        db_snapshots: Default::default(),
        log_snapshots: Default::default(),
    };
    let Some(net) = state.network.as_ref() else {
        return ev;
    };
    let whitelist: Vec<regex::Regex> = scenario
        .broken_log
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect();
    let redactor = net.redactor();
    for n in &net.nodes {
        let mut sigs = Vec::new();
        for (_, text) in node_texts(&n.dir) {
            sigs.extend(signatures::extract(&n.name, &text, &redactor));
        }
        sigs.extend(start_signatures(n, &redactor));
        let sigs: Vec<Signature> = signatures::dedup(sigs)
            .into_iter()
            .filter(|s| !s.is_benign())
            .collect();
        for s in signatures::crashes_not_whitelisted(&sigs, &whitelist) {
            ev.unexpected_crashes.push((n.name.clone(), s.text.clone()));
        }
        for (what, s) in signatures::broken_lines_not_whitelisted(&sigs, &whitelist) {
            ev.unexpected_broken
                .push((n.name.clone(), what, s.text.clone()));
        }
        ev.signatures.extend(sigs);
        ev.log_snapshots
            .insert(n.name.clone(), log_digest(n, &redactor));
        // Only a database whose lightningd has exited is ever read.
        if let (true, Some(src)) = (n.is_stopped(), n.db_source()) {
            let report = match crate::evidence::checkdb::check_db_source(&src) {
                Ok(r) => serde_json::to_value(&r).unwrap_or(Value::Null),
                Err(e) => json!({"error": e.to_string()}),
            };
            ev.check_db.push((n.name.clone(), report));
            let snap = crate::evidence::snapshot::db_snapshot_source(&src, &redactor)
                .unwrap_or_else(|e| json!({"error": e.to_string()}));
            ev.db_snapshots.insert(n.name.clone(), snap);
        }
    }
    ev
}

/// What each start's end says beyond the texts: a hang with the busy
/// process, the reason a process gave on stderr before it exited with a
/// non-zero code, and last the bare exit status. The harness's own
/// signals (a `kill` step, ending a hung or stuck node) are never one.
fn start_signatures(
    n: &crate::node::Node,
    redactor: &crate::evidence::redact::Redactor,
) -> Vec<Signature> {
    let stderr = std::fs::read(n.stderr_file())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let parts = crate::evidence::logdigest::split_stderr(&stderr);
    let mut sigs = Vec::new();
    for (i, s) in n.starts.iter().enumerate() {
        if let Some((what, probe)) = &s.hang {
            let text = crate::hangprobe::describe(what, probe);
            sigs.push(signatures::hang_signature(&n.name, &text, redactor));
        }
        let Some(exit) = s.exit.filter(|e| !e.is_clean()) else {
            continue;
        };
        if s.killed_on_purpose || s.signalled_by_harness {
            continue;
        }
        if let (crate::process::Exit::Code { .. }, Some(part)) = (exit, parts.get(i)) {
            sigs.extend(signatures::exit_reason(&n.name, part, redactor));
        }
        sigs.push(signatures::exit_signature(
            &n.name,
            &exit.to_string(),
            redactor,
        ));
    }
    sigs
}

/// A node's log digest: its log file cut at each start's offset, its
/// stderr cut at the start markers, each phase labelled with the binary.
fn log_digest(n: &crate::node::Node, redactor: &crate::evidence::redact::Redactor) -> Value {
    use crate::evidence::logdigest::{self, Phase};
    let log = std::fs::read(n.log_file())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let stderr = std::fs::read(n.stderr_file())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let stderr_parts = logdigest::split_stderr(&stderr);
    let phases: Vec<Phase> = n
        .starts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let from = (s.log_offset as usize).min(log.len());
            let to = n.starts.get(i + 1).map_or(log.len(), |next| {
                (next.log_offset as usize).clamp(from, log.len())
            });
            let version = crate::version::ClnVersion::parse(&s.version)
                .map_or(s.version.clone(), |v| v.label());
            Phase {
                label: format!("start {} on {version}", i + 1),
                log: log.get(from..to).unwrap_or(""),
                stderr: stderr_parts.get(i).copied().unwrap_or(""),
            }
        })
        .collect();
    logdigest::digest(&n.name, &phases, redactor)
}

/// How many bundles of runs that did not pass one process keeps (a
/// `matrix`, `explore` or `run --repeat` campaign), unless
/// `$CLN_HARNESS_MAX_BUNDLES` says otherwise. A bundle is at most a few MB
/// (logs, databases, no chain), so the default caps a campaign near 200 MB.
pub const DEFAULT_MAX_BUNDLES: usize = 100;
pub const MAX_BUNDLES_ENV: &str = "CLN_HARNESS_MAX_BUNDLES";

pub fn max_bundles() -> usize {
    std::env::var(MAX_BUNDLES_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BUNDLES)
}

/// Takes one of the process's bundle slots; false once they are used up.
pub fn take_bundle_slot() -> bool {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static USED: AtomicUsize = AtomicUsize::new(0);
    USED.fetch_add(1, Ordering::SeqCst) < max_bundles()
}

/// Deletes everything in `run_dir` but its `bundle/`. Errors are ignored:
/// a leftover file costs disk, never a verdict.
pub fn prune_to_bundle(run_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(run_dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name() == "bundle" {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() && !p.is_symlink() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

/// The artifact bundle: everything a person needs without the run dir's
/// layout in their head. Returns its path.
pub fn write_bundle(
    file: &Path,
    scenario: &Scenario,
    state: &RunState,
    run_dir: &Path,
    report: &Report,
    ev: &Evidence,
) -> std::io::Result<PathBuf> {
    let dir = run_dir.join("bundle");
    std::fs::create_dir_all(&dir)?;
    let _ = std::fs::copy(file, dir.join("scenario.toml"));
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_vec_pretty(report).unwrap_or_default(),
    )?;
    let mut commands = String::new();
    let mut timeline_inputs: Vec<(String, String)> = Vec::new();
    if let Some(net) = state.network.as_ref() {
        // The chain itself stays out (its block file alone is 16 MB
        // preallocated); where it ended is enough to tell two runs apart.
        let tip = net.bitcoind.call_blocking("getbestblockhash", &[]).ok();
        let height = net.bitcoind.block_count_blocking().ok();
        std::fs::write(
            dir.join("chain.txt"),
            format!(
                "height {}\ntip {}\n",
                height.map_or("?".into(), |h| h.to_string()),
                tip.as_ref().and_then(|t| t.as_str()).unwrap_or("?")
            ),
        )?;
        let btc_log = net.bitcoind.debug_log();
        if let Ok(t) = std::fs::read(&btc_log) {
            timeline_inputs.push(("bitcoind".into(), String::from_utf8_lossy(&t).into_owned()));
        }
        for n in &net.nodes {
            let nd = dir.join(&n.name);
            std::fs::create_dir_all(&nd)?;
            for (name, text) in node_texts(&n.dir) {
                std::fs::write(nd.join(&name), &text)?;
                if name == "log" {
                    timeline_inputs.push((n.name.clone(), text));
                }
            }
            let _ = std::fs::copy(n.dir.join("stdout.log"), nd.join("stdout.log"));
            let _ = std::fs::copy(n.dir.join("hang-probe.txt"), nd.join("hang-probe.txt"));
            if n.database().exists() {
                let _ = std::fs::copy(n.database(), nd.join("lightningd.sqlite3"));
            }
            // A PostgreSQL database goes in as pg_dump's plain SQL.
            if let (Some(pg), crate::options::DbBackend::Postgres) = (&net.postgres, n.db_backend())
            {
                if let Err(e) = pg.dump(&n.name, &nd.join("lightningd.pg.sql")) {
                    let _ = std::fs::write(nd.join("lightningd.pg.sql.error"), e.to_string());
                }
            }
            for s in &n.starts {
                commands.push_str(&format!(
                    "# {} on {}\n{}\n",
                    n.name,
                    s.version,
                    crate::text::shell_words(&s.command_line)
                ));
            }
        }
    }
    std::fs::write(dir.join("commands.txt"), commands)?;
    let check_db: serde_json::Map<String, Value> = ev.check_db.iter().cloned().collect();
    std::fs::write(
        dir.join("check-db.json"),
        serde_json::to_vec_pretty(&check_db).unwrap_or_default(),
    )?;
    let timeline = crate::evidence::timeline::merge(&timeline_inputs);
    std::fs::write(
        dir.join("timeline.txt"),
        crate::evidence::timeline::render(&timeline),
    )?;
    let mut bins = String::new();
    for b in &report.binaries {
        bins.push_str(&format!(
            "{} {} {} sha256={}\n",
            b.role,
            b.version,
            b.path.display(),
            b.sha256.as_deref().unwrap_or("?")
        ));
    }
    std::fs::write(dir.join("binaries.txt"), bins)?;
    // Quoted like every printed command: a path with a space still runs.
    let mut rerun = vec!["cln-harness".to_string(), "run".into()];
    for b in &report.binaries {
        rerun.push("--lightningd".into());
        rerun.push(format!("{}={}", b.role, b.path.display()));
    }
    let file = std::fs::canonicalize(file).unwrap_or(file.to_path_buf());
    rerun.push(file.display().to_string());
    let rerun = crate::text::shell_words(&rerun) + "\n";
    std::fs::write(dir.join("rerun.sh"), format!("#!/bin/sh\n{rerun}"))?;
    std::fs::write(
        dir.join("report.md"),
        crate::report::markdown(scenario, report),
    )?;
    Ok(dir)
}
