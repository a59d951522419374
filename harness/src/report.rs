//! Rendering only: the JSON report and the human lines. Decides nothing.

use crate::executor::{RunState, StepRecord};
use crate::outcome::{Outcome, OutcomeKind};
use crate::process::Exit;
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// What the setup left behind, before the first step: each node's
    /// wallet, channels and bookkeeping (`executor::setup_digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup: Option<serde_json::Value>,
    /// Why a run that did not pass has no bundle (the budget ran out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_note: Option<String>,
    pub duration_ms: u128,
    /// Time per phase: `resolve`, `bitcoind`, `start_nodes`, `fund`, `open`,
    /// `confirm`, `channel_normal`, `gossip`, `steps`, `stop`.
    pub phases: Vec<crate::executor::PhaseTime>,
    /// Whether the setup came from the setup cache: `hit`, `recorded` (this
    /// run recorded the entry, then resumed from it) or `off` and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_cache: Option<crate::executor::setup_cache::CacheUse>,
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

/// What a run's evidence says, as the report shows it (`gather` reads it).
pub struct Gathered<'a> {
    /// Every node's signatures, in order, without benign ones.
    pub signatures: &'a [crate::evidence::signatures::Signature],
    pub db_snapshots: &'a BTreeMap<String, serde_json::Value>,
    pub log_snapshots: &'a BTreeMap<String, serde_json::Value>,
    /// `run --snapshots DIR`: the snapshots that differ from the accepted ones.
    pub snapshot_changes: &'a [String],
}

/// The run's bundle when one was written, or why a run that did not pass
/// has none (whether the run dir stays is the run state's `RunDir`).
#[derive(Debug, Clone, Default)]
pub struct Kept {
    pub bundle: Option<PathBuf>,
    pub bundle_note: Option<String>,
}

/// Everything a report is built from, gathered before it is built.
pub struct Inputs<'a> {
    pub scenario: &'a crate::scenario::Scenario,
    pub file: &'a str,
    /// The finished run (its run dir already kept or not).
    pub state: &'a RunState,
    pub outcome: &'a Outcome,
    pub evidence: Gathered<'a>,
    /// How long the run took, up to its classification.
    pub duration_ms: u128,
    pub kept: Kept,
}

/// The finished report: nothing is assigned to it afterwards.
pub fn build(inputs: &Inputs) -> Report {
    let Inputs {
        scenario,
        file,
        state,
        outcome,
        evidence,
        duration_ms,
        kept,
    } = inputs;
    let quiet = matches!(outcome.kind, OutcomeKind::Pass | OutcomeKind::Error);
    let first_signature = outcome.signature.clone().or_else(|| {
        crate::evidence::signatures::headline(evidence.signatures, quiet, outcome.node.as_deref())
            .map(|s| s.text.clone())
    });
    Report {
        scenario: scenario.name.clone(),
        file: file.to_string(),
        outcome: outcome.kind,
        step: outcome.step.clone(),
        node: outcome.node.clone(),
        detail: outcome.detail.clone(),
        nodes: node_reports(scenario, state),
        signatures: evidence
            .signatures
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect(),
        first_signature,
        db_snapshots: evidence.db_snapshots.clone(),
        log_snapshots: evidence.log_snapshots.clone(),
        snapshot_changes: evidence.snapshot_changes.to_vec(),
        steps: state.steps.clone(),
        findings: state.findings.clone(),
        binaries: binary_reports(state),
        run_dir: state
            .run_dir
            .as_ref()
            .filter(|d| d.is_kept())
            .map(|d| d.path().to_path_buf()),
        bundle: kept.bundle.clone(),
        bundle_note: kept.bundle_note.clone(),
        setup: state.setup.clone(),
        duration_ms: *duration_ms,
        phases: state.phases.clone(),
        setup_cache: state.setup_cache.clone(),
        exit_code: crate::outcome::exit_code(outcome.kind),
    }
}

/// Each node as it ended, or as declared when no network was made.
fn node_reports(scenario: &crate::scenario::Scenario, state: &RunState) -> Vec<NodeReport> {
    let Some(net) = state.network.as_ref() else {
        return scenario
            .nodes
            .iter()
            .map(|n| NodeReport {
                name: n.name.clone(),
                role: n.role.clone(),
                version: state.roles.get(&n.role).map(|b| b.version.raw.clone()),
                binary: state.roles.get(&n.role).map(|b| b.path.clone()),
                alive: false,
                exit: None,
                id: None,
                lightning_dir: None,
                starts: vec![],
            })
            .collect();
    };
    net.nodes
        .iter()
        .map(|n| NodeReport {
            name: n.name.clone(),
            role: state.node_roles.get(&n.name).cloned().unwrap_or_default(),
            version: Some(n.binary.version.raw.clone()),
            binary: Some(n.binary.path.clone()),
            alive: !n.is_stopped(),
            exit: n.starts.last().and_then(|s| s.exit),
            id: n.id.clone(),
            lightning_dir: Some(n.dir.clone()),
            starts: n.starts.clone(),
        })
        .collect()
}

fn binary_reports(state: &RunState) -> Vec<BinaryReport> {
    state
        .roles
        .iter()
        .map(|(role, b)| BinaryReport {
            role: role.clone(),
            path: b.path.clone(),
            version: b.version.raw.clone(),
            sha256: b.sha256().ok(),
            source: b.source.to_string(),
        })
        .collect()
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

/// How `run --repeat` names the way one run ended, so runs that ended the
/// same way fall in one group: `pass`; a crash by its first signature (the
/// cause), or else like the others; a fail, hang or error by the step it was
/// decided at and its detail. Run-varying values (ids, hashes, bolt11s,
/// times, ports) go through the one redactor, so they do not split a group;
/// the detail is put on one line.
pub fn headline(
    outcome: OutcomeKind,
    step: Option<&crate::outcome::StepRef>,
    detail: &str,
    first_signature: Option<&str>,
    redactor: &crate::evidence::redact::Redactor,
) -> String {
    let one_line = |t: &str| {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let text = match (outcome, first_signature) {
        (OutcomeKind::Pass, _) => return "pass".to_string(),
        (OutcomeKind::Crash, Some(sig)) => one_line(sig),
        (_, _) => match step {
            Some(st) => format!("step {} ({}) {}", st.index, st.name, one_line(detail)),
            None => one_line(detail),
        },
    };
    format!("{}: {}", outcome.as_str(), redactor.redact(&text))
}

/// Runs that ended the same way (see [`headline`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepeatGroup {
    pub outcome: OutcomeKind,
    pub headline: String,
    pub count: usize,
    /// Which runs, from 1.
    pub runs: Vec<usize>,
}

/// `run --repeat N` of one file: its pass rate and every outcome grouped by
/// headline (in `--json` too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepeatSummary {
    pub file: String,
    pub runs: usize,
    pub passed: usize,
    pub groups: Vec<RepeatGroup>,
}

/// `run --repeat N --json FILE`: each file's groups, then every run's report.
#[derive(Debug, Serialize)]
pub struct RepeatReport<'a> {
    pub repeats: &'a [RepeatSummary],
    pub runs: &'a [Report],
}

/// Pure: each run's (outcome, headline), in run order, into groups, the
/// most frequent first, ties in the order they first came.
pub fn group_by_headline(runs: &[(OutcomeKind, String)]) -> Vec<RepeatGroup> {
    let mut groups: Vec<RepeatGroup> = Vec::new();
    for (i, (outcome, headline)) in runs.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|g| g.outcome == *outcome && g.headline == *headline)
        {
            Some(g) => {
                g.count += 1;
                g.runs.push(i + 1);
            }
            None => groups.push(RepeatGroup {
                outcome: *outcome,
                headline: headline.clone(),
                count: 1,
                runs: vec![i + 1],
            }),
        }
    }
    // Stable: equal counts keep the order they first came in.
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    groups
}

/// One run's [`headline`], its node ids redacted by name.
pub fn run_headline(r: &Report) -> String {
    let names: Vec<(String, String)> = r
        .nodes
        .iter()
        .filter_map(|n| Some((n.name.clone(), n.id.clone()?)))
        .collect();
    let redactor = crate::evidence::redact::Redactor::with_names(&names);
    headline(
        r.outcome,
        r.step.as_ref(),
        &r.detail,
        r.first_signature.as_deref(),
        &redactor,
    )
}

/// `run --repeat N`: each run's headline, grouped.
pub fn repeat_summary(file: &str, runs: &[Report]) -> RepeatSummary {
    let named: Vec<(OutcomeKind, String)> =
        runs.iter().map(|r| (r.outcome, run_headline(r))).collect();
    RepeatSummary {
        file: file.to_string(),
        runs: runs.len(),
        passed: runs
            .iter()
            .filter(|r| r.outcome == OutcomeKind::Pass)
            .count(),
        groups: group_by_headline(&named),
    }
}

/// The printed form: the pass rate and outcomes, then one line per group,
/// `3× fail: step 2 (rpc listinvoices) expected ...`.
pub fn repeat_lines(s: &RepeatSummary) -> String {
    let mut outcomes: std::collections::BTreeMap<OutcomeKind, usize> = Default::default();
    for g in &s.groups {
        *outcomes.entry(g.outcome).or_default() += g.count;
    }
    let hist: Vec<String> = outcomes
        .iter()
        .map(|(k, n)| format!("{} {n}", k.as_str()))
        .collect();
    let mut out = format!(
        "{}: {}/{} passed ({})",
        s.file,
        s.passed,
        s.runs,
        hist.join(", ")
    );
    for g in &s.groups {
        out.push_str(&format!(
            "\n  {}× {}",
            g.count,
            crate::text::truncate(&g.headline, 400)
        ));
    }
    out
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
                let by_harness = n
                    .starts
                    .last()
                    .is_some_and(|s| s.signalled_by_harness || s.killed_on_purpose);
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

    use crate::evidence::redact::Redactor;
    use crate::outcome::StepRef;

    fn step(index: &str, name: &str) -> StepRef {
        StepRef {
            index: index.into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_headline_is_the_signature_of_a_crash_and_the_step_and_detail_of_the_rest() {
        let r = Redactor::new();
        let sig = "UNIQUE constraint failed: channel_htlcs.id";
        let at = step("4", "keysend alice → bob");
        assert_eq!(
            headline(
                OutcomeKind::Crash,
                Some(&at),
                "alice died (signal 6)",
                Some(sig),
                &r
            ),
            "crash: UNIQUE constraint failed: channel_htlcs.id"
        );
        assert_eq!(
            headline(
                OutcomeKind::Crash,
                Some(&at),
                "alice died (signal 6)",
                None,
                &r
            ),
            "crash: step 4 (keysend alice → bob) alice died (signal 6)"
        );
        assert_eq!(
            headline(
                OutcomeKind::Fail,
                Some(&at),
                "expected 1 entries in `x`, got 0: []",
                Some("x"),
                &r
            ),
            "fail: step 4 (keysend alice → bob) expected 1 entries in `x`, got 0: []"
        );
        assert_eq!(
            headline(
                OutcomeKind::Hang,
                Some(&at),
                "did not finish\nwithin 30s",
                None,
                &r
            ),
            "hang: step 4 (keysend alice → bob) did not finish / within 30s"
        );
        assert_eq!(
            headline(
                OutcomeKind::Error,
                None,
                "no lightningd for role `base`",
                None,
                &r
            ),
            "error: no lightningd for role `base`"
        );
        assert_eq!(headline(OutcomeKind::Pass, None, "", None, &r), "pass");
    }

    /// The bug report: ten fails printed as `fail 10`, which did not show
    /// whether they were one failure or several. Fails that differ only in
    /// run-varying values (a payment hash, a bolt11) are one group; a
    /// different failure is another.
    #[test]
    fn repeated_fails_are_grouped_by_what_failed_not_by_their_run_varying_values() {
        let r = Redactor::new();
        let at = step("4", "rpc listinvoices");
        let fail = |hash: &str, status: &str| {
            let detail = format!(
                "expected 0 entries in `invoices` where {{\"status\":\"{status}\"}}, got 1: [0].status = \"{status}\" (payment_hash \"{hash}\")"
            );
            (
                OutcomeKind::Fail,
                headline(OutcomeKind::Fail, Some(&at), &detail, None, &r),
            )
        };
        let runs = [
            fail(&"ab".repeat(32), "unpaid"),
            fail(&"cd".repeat(32), "unpaid"),
            fail(&"ef".repeat(32), "paid"),
            fail(&"01".repeat(32), "unpaid"),
        ];
        let groups = group_by_headline(&runs);
        assert_eq!(groups.len(), 2, "{groups:#?}");
        assert_eq!(
            (groups[0].count, groups[0].runs.clone()),
            (3, vec![1, 2, 4])
        );
        assert_eq!(
            groups[0].headline,
            "fail: step 4 (rpc listinvoices) expected 0 entries in `invoices` where {\"status\":\"unpaid\"}, got 1: [0].status = \"unpaid\" (payment_hash \"<hash>\")"
        );
        assert_eq!((groups[1].count, groups[1].runs.clone()), (1, vec![3]));
    }

    #[test]
    fn every_outcome_is_grouped_and_printed_with_its_count() {
        let sig = "crash: UNIQUE constraint failed: channel_htlcs.id".to_string();
        let runs = [
            (OutcomeKind::Pass, "pass".to_string()),
            (OutcomeKind::Crash, sig.clone()),
            (
                OutcomeKind::Hang,
                "hang: step 3 (pay) did not finish".to_string(),
            ),
            (OutcomeKind::Crash, sig.clone()),
            (OutcomeKind::Error, "error: no bitcoind".to_string()),
            (OutcomeKind::Pass, "pass".to_string()),
            (OutcomeKind::Crash, sig),
        ];
        let summary = RepeatSummary {
            file: "s.toml".into(),
            runs: runs.len(),
            passed: 2,
            groups: group_by_headline(&runs),
        };
        assert_eq!(
            repeat_lines(&summary),
            "s.toml: 2/7 passed (pass 2, hang 1, crash 3, error 1)\n  \
             3× crash: UNIQUE constraint failed: channel_htlcs.id\n  \
             2× pass\n  \
             1× hang: step 3 (pay) did not finish\n  \
             1× error: no bitcoind"
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["groups"][0]["outcome"], "crash");
        assert_eq!(json["groups"][0]["runs"], serde_json::json!([2, 4, 7]));
    }
}
