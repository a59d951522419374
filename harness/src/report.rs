//! Rendering only: the JSON report and the human lines. Decides nothing.

use crate::executor::{RunState, StepRecord};
use crate::outcome::{Outcome, OutcomeKind};
use crate::process::Exit;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub name: String,
    pub role: String,
    pub version: Option<String>,
    pub binary: Option<PathBuf>,
    pub alive: bool,
    pub exit: Option<Exit>,
    pub id: Option<String>,
    pub lightning_dir: Option<PathBuf>,
    /// Every start: binary, version, exact command line, how it ended.
    pub starts: Vec<crate::node::StartRecord>,
}

/// The machine report (`--json FILE`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub file: String,
    pub outcome: crate::outcome::OutcomeKind,
    /// Where the outcome was decided.
    pub step: Option<crate::outcome::StepRef>,
    pub node: Option<String>,
    pub detail: String,
    pub nodes: Vec<NodeReport>,
    pub signatures: Vec<serde_json::Value>,
    pub first_signature: Option<String>,
    /// Per node, the redacted semantic database snapshot after it exited.
    pub db_snapshots: std::collections::BTreeMap<String, serde_json::Value>,
    /// Per node, the digest of its log per start (see `evidence::logdigest`).
    pub log_snapshots: std::collections::BTreeMap<String, serde_json::Value>,
    /// `run --snapshots DIR`: snapshots that differ from the accepted ones.
    pub snapshot_changes: Vec<String>,
    pub steps: Vec<StepRecord>,
    pub findings: Vec<crate::outcome::Finding>,
    pub binaries: Vec<BinaryReport>,
    pub run_dir: Option<PathBuf>,
    pub bundle: Option<PathBuf>,
    /// Why a run that did not pass has no bundle (the budget ran out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_note: Option<String>,
    pub duration_ms: u128,
    /// Time per phase: `resolve`, `bitcoind`, `start_nodes`, `fund`, `open`,
    /// `confirm`, `channel_normal`, `gossip`, `steps`, `stop`.
    pub phases: Vec<crate::executor::PhaseTime>,
    pub exit_code: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct BinaryReport {
    pub role: String,
    pub path: PathBuf,
    pub version: String,
    pub sha256: Option<String>,
    pub source: String,
}

pub fn build(
    scenario: &crate::scenario::Scenario,
    file: &str,
    state: &RunState,
    outcome: &Outcome,
) -> Report {
    let mut nodes = Vec::new();
    if let Some(net) = state.network.as_ref() {
        for n in &net.nodes {
            let alive = !n.is_stopped();
            nodes.push(NodeReport {
                name: n.name.clone(),
                role: state.node_roles.get(&n.name).cloned().unwrap_or_default(),
                version: Some(n.binary.version.raw.clone()),
                binary: Some(n.binary.path.clone()),
                alive,
                exit: n.starts.last().and_then(|s| s.exit),
                id: n.id.clone(),
                lightning_dir: Some(n.dir.clone()),
                starts: n.starts.clone(),
            });
        }
    } else {
        for n in &scenario.nodes {
            nodes.push(NodeReport {
                name: n.name.clone(),
                role: n.role.clone(),
                version: state.roles.get(&n.role).map(|b| b.version.raw.clone()),
                binary: state.roles.get(&n.role).map(|b| b.path.clone()),
                alive: false,
                exit: None,
                id: None,
                lightning_dir: None,
                starts: vec![],
            });
        }
    }
    let binaries = state
        .roles
        .iter()
        .map(|(role, b)| BinaryReport {
            role: role.clone(),
            path: b.path.clone(),
            version: b.version.raw.clone(),
            sha256: b.sha256().ok(),
            source: b.source.to_string(),
        })
        .collect();
    Report {
        scenario: scenario.name.clone(),
        file: file.to_string(),
        outcome: outcome.kind,
        step: outcome.step.clone(),
        node: outcome.node.clone(),
        detail: outcome.detail.clone(),
        nodes,
        signatures: vec![],
        first_signature: None,
        db_snapshots: Default::default(),
        log_snapshots: Default::default(),
        snapshot_changes: vec![],
        steps: state.steps.clone(),
        findings: state.findings.clone(),
        binaries,
        run_dir: state
            .run_dir
            .as_ref()
            .filter(|d| d.is_kept())
            .map(|d| d.path().to_path_buf()),
        bundle: None,
        bundle_note: None,
        duration_ms: state.started.elapsed().as_millis(),
        phases: state.phases.clone(),
        exit_code: crate::outcome::exit_code(outcome.kind),
    }
}

pub fn status_mark(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::Pass => "ok   ",
        OutcomeKind::Fail => "FAIL ",
        OutcomeKind::Hang => "HANG ",
        OutcomeKind::Crash => "CRASH",
        OutcomeKind::Error => "ERROR",
    }
}

/// One line per step, as it runs.
pub fn step_line(r: &StepRecord) -> String {
    let mut line = format!(
        "  {} {:<7} {:<40} {:>7.2}s",
        status_mark(r.status),
        r.step.index,
        r.step.name,
        r.elapsed_ms as f64 / 1000.0
    );
    if r.status != OutcomeKind::Pass {
        line.push_str(&format!("\n          {}", r.detail));
    }
    line
}

/// `run --repeat N`: pass rate, outcome histogram, and each distinct
/// headline signature with how often it came.
pub fn repeat_summary(file: &str, runs: &[Report]) -> String {
    let seen: Vec<(OutcomeKind, Option<&str>)> = runs
        .iter()
        .map(|r| (r.outcome, r.first_signature.as_deref()))
        .collect();
    tally(file, &seen)
}

fn tally(file: &str, runs: &[(OutcomeKind, Option<&str>)]) -> String {
    use std::collections::BTreeMap;
    let passed = runs.iter().filter(|r| r.0 == OutcomeKind::Pass).count();
    let mut outcomes: BTreeMap<OutcomeKind, usize> = BTreeMap::new();
    let mut signatures: BTreeMap<&str, usize> = BTreeMap::new();
    for (outcome, sig) in runs {
        *outcomes.entry(*outcome).or_default() += 1;
        if let Some(sig) = sig {
            *signatures.entry(sig).or_default() += 1;
        }
    }
    let hist: Vec<String> = outcomes
        .iter()
        .map(|(k, n)| format!("{} {n}", k.as_str()))
        .collect();
    let mut s = format!(
        "{file}: {passed}/{} passed ({})",
        runs.len(),
        hist.join(", ")
    );
    let mut sigs: Vec<(&str, usize)> = signatures.into_iter().collect();
    sigs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (sig, n) in sigs {
        s.push_str(&format!("\n  {n}× {sig}"));
    }
    s
}

/// One line: `phases: resolve 0.01s, bitcoind 0.20s, ...`.
pub fn phases_line(r: &Report) -> String {
    let parts: Vec<String> = r
        .phases
        .iter()
        .map(|p| format!("{} {:.2}s", p.phase, p.ms as f64 / 1000.0))
        .collect();
    format!("  phases: {}", parts.join(", "))
}

/// The closing summary: outcome, where, first crash signature, where the evidence is.
pub fn summary(r: &Report) -> String {
    let mut s = format!("{}: {}", r.scenario, r.outcome.as_str().to_uppercase());
    if let Some(step) = &r.step {
        s.push_str(&format!(" at step {} ({})", step.index, step.name));
    }
    if let Some(node) = &r.node {
        s.push_str(&format!(" on {node}"));
    }
    s.push_str(&format!(
        " after {:.1}s\n  {}",
        r.duration_ms as f64 / 1000.0,
        r.detail
    ));
    if let Some(sig) = &r.first_signature {
        s.push_str(&format!("\n  signature: {sig}"));
    }
    for n in &r.nodes {
        s.push_str(&format!(
            "\n  {:<8} {:<10} {:<24} {}",
            n.name,
            n.role,
            n.version.as_deref().unwrap_or("?"),
            if n.alive {
                "alive".to_string()
            } else {
                let by_harness = n.starts.last().is_some_and(|s| s.signalled_by_harness || s.killed_on_purpose);
                match n.exit {
                    None => "not running".into(),
                    Some(e) if by_harness && !e.is_clean() => format!("{e}, sent by the harness"),
                    Some(e) => e.to_string(),
                }
            }
        ));
    }
    if let Some(b) = &r.bundle {
        s.push_str(&format!("\n  evidence: {}", b.display()));
    } else if let Some(d) = &r.run_dir {
        s.push_str(&format!("\n  run dir: {}", d.display()));
    } else if let Some(note) = &r.bundle_note {
        s.push_str(&format!("\n  {note}"));
    }
    s
}

/// A self-contained Markdown report: outcome, a timeline of steps and node
/// events with the crash marked, nodes and binaries.
pub fn markdown(scenario: &crate::scenario::Scenario, r: &Report) -> String {
    let mut s = format!(
        "# {} — {}\n\n{}\n\n",
        r.scenario,
        r.outcome.as_str().to_uppercase(),
        scenario.description
    );
    if let Some(step) = &r.step {
        s.push_str(&format!(
            "**Decided at step {} ({})**",
            step.index, step.name
        ));
        if let Some(n) = &r.node {
            s.push_str(&format!(" on **{n}**"));
        }
        s.push_str("\n\n");
    }
    s.push_str(&format!("> {}\n\n", r.detail.replace('\n', "\n> ")));
    if let Some(sig) = &r.first_signature {
        s.push_str(&format!("First crash signature: `{sig}`\n\n"));
    }
    s.push_str("## Timeline\n\n| t (s) | step | node | result | took | detail |\n|---:|---|---|---|---:|---|\n");
    for st in &r.steps {
        let mark = if st.status == OutcomeKind::Pass {
            "ok".to_string()
        } else {
            format!("**{}** ⟵", st.status.as_str().to_uppercase())
        };
        s.push_str(&format!(
            "| {:.2} | {} {} | {} | {} | {:.2}s | {} |\n",
            st.at_ms as f64 / 1000.0,
            st.step.index,
            st.step.name,
            st.node.as_deref().unwrap_or(""),
            mark,
            st.elapsed_ms as f64 / 1000.0,
            if st.status == OutcomeKind::Pass {
                String::new()
            } else {
                st.detail.replace('|', "\\|").replace('\n', " ")
            }
        ));
    }
    s.push_str("\n## Nodes\n\n| node | role | version | state | starts |\n|---|---|---|---|---|\n");
    for n in &r.nodes {
        let starts: Vec<String> = n
            .starts
            .iter()
            .map(|st| {
                format!(
                    "{} ({})",
                    st.version,
                    st.exit.map_or("running/stopped".into(), |e| e.to_string())
                )
            })
            .collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            n.name,
            n.role,
            n.version.as_deref().unwrap_or("?"),
            if n.alive {
                "alive".into()
            } else {
                n.exit.map_or("stopped".into(), |e| e.to_string())
            },
            starts.join(" → ")
        ));
    }
    s.push_str("\n## Signatures\n\n");
    if r.signatures.is_empty() {
        s.push_str("none\n");
    }
    for sig in &r.signatures {
        s.push_str(&format!(
            "- `{}` {}: `{}`\n",
            sig["node"].as_str().unwrap_or("?"),
            sig["kind"].as_str().unwrap_or("?"),
            sig["text"].as_str().unwrap_or("")
        ));
    }
    s.push_str("\n## Binaries\n\n");
    for b in &r.binaries {
        s.push_str(&format!(
            "- {}: {} `{}` sha256 `{}`\n",
            b.role,
            b.version,
            b.path.display(),
            b.sha256.as_deref().unwrap_or("?")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_runs_tally_outcomes_and_signatures() {
        let sig = Some("UNIQUE constraint failed: channel_htlcs.id");
        let runs = [
            (OutcomeKind::Pass, None),
            (OutcomeKind::Crash, sig),
            (OutcomeKind::Crash, sig),
            (OutcomeKind::Hang, Some("x")),
        ];
        assert_eq!(
            tally("s.toml", &runs),
            "s.toml: 1/4 passed (pass 1, hang 1, crash 2)\n  2× UNIQUE constraint failed: channel_htlcs.id\n  1× x"
        );
    }
}
