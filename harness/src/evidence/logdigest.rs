//! A log snapshot: what the nodes logged that matters for regressions,
//! redacted and order-stable, per node and per start ("phase": before and
//! after each restart or upgrade), so a new BROKEN line, a plugin that
//! stopped loading or a migration that no longer runs is a reviewable diff.
//!
//! Only what the scenario determines goes in: which plugins started, which
//! migrations ran, and the signatures (BROKEN lines, deaths, SQL errors,
//! assertions) and failure-naming UNUSUAL lines, each set sorted. Timing
//! (timestamps, pids, paths, peer reconnections) never does: every text goes
//! through the one [`Redactor`], and benign signatures are left out. Pure.

use super::redact::Redactor;
use super::signatures::{self, SignatureKind};
use regex::Regex;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// One start of a node: its label (`start 2 on v25.05`), what its log file
/// got during it, and what it wrote to stderr.
pub struct Phase<'a> {
    pub label: String,
    pub log: &'a str,
    pub stderr: &'a str,
}

struct Patterns {
    plugin_started: Regex,
    migration: Regex,
    unusual: Regex,
    failure_words: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        plugin_started: Regex::new(r"plugin-manager: started\(\d+\) (\S+)").expect("static regex"),
        migration: Regex::new(r"Updating database from version (\d+) to (\d+)")
            .expect("static regex"),
        unusual: Regex::new(r"^\S+ UNUSUAL (.*)$").expect("static regex"),
        failure_words: Regex::new(
            r"(?i)\b(fail(ed|ure)?|error|cannot|could not|unable|invalid|corrupt)\b",
        )
        .expect("static regex"),
    })
}

/// The digest of one node's phases.
pub fn digest(node: &str, phases: &[Phase], r: &Redactor) -> Value {
    Value::Array(phases.iter().map(|p| phase_digest(node, p, r)).collect())
}

fn phase_digest(node: &str, phase: &Phase, r: &Redactor) -> Value {
    let p = patterns();
    let mut plugins = BTreeSet::new();
    let mut migrations = Vec::new();
    let mut unusual = BTreeSet::new();
    for line in phase.log.lines() {
        if let Some(c) = p.plugin_started.captures(line) {
            // The plugin's name, not where this install keeps it.
            plugins.insert(c[1].rsplit('/').next().unwrap_or(&c[1]).to_string());
        }
        if let Some(c) = p.migration.captures(line) {
            migrations.push(format!("{} -> {}", &c[1], &c[2]));
        }
        if let Some(c) = p.unusual.captures(line) {
            let msg = &c[1];
            if p.failure_words.is_match(msg) && !msg.contains("Peer transient failure") {
                unusual.insert(r.redact(msg));
            }
        }
    }
    let mut sigs = BTreeSet::new();
    for text in [phase.log, phase.stderr] {
        for s in signatures::extract(node, text, r) {
            // Frames and exit statuses are in the run report; the digest keeps causes and deaths.
            let echo = s.kind == SignatureKind::Broken && s.is_echo();
            if !s.is_benign()
                && !echo
                && !matches!(s.kind, SignatureKind::Backtrace | SignatureKind::Exit)
            {
                sigs.insert(
                    s.to_string()
                        .trim_start_matches(&format!("{node} "))
                        .to_string(),
                );
            }
        }
    }
    json!({
        "phase": phase.label,
        "migrations": migrations,
        "plugins_started": plugins,
        "signatures": sigs,
        "unusual_failures": unusual,
    })
}

/// Split a node's stderr at the markers the harness writes before each
/// start (`=== cln-harness: start #N of NODE on VERSION ===`): one text per start.
pub fn split_stderr(stderr: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = None;
    let mut offset = 0;
    for line in stderr.split_inclusive('\n') {
        if line.starts_with("=== cln-harness: start #") {
            if let Some(s) = start {
                parts.push(&stderr[s..offset]);
            }
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    if let Some(s) = start {
        parts.push(&stderr[s..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../fixtures/evidence/{rel}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn an_upgrade_start_shows_its_migration_plugins_and_nothing_volatile() {
        let log = fixture("8269/alice-log-upgrade.txt");
        let d = digest(
            "alice",
            &[Phase {
                label: "start 2 on 1cc64dd67".into(),
                log: &log,
                stderr: "",
            }],
            &Redactor::new(),
        );
        let phase = &d[0];
        assert_eq!(phase["migrations"], json!(["263 -> 267"]));
        let plugins: Vec<&str> = phase["plugins_started"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(
            plugins.contains(&"cln-xpay")
                && plugins.contains(&"bookkeeper")
                && plugins.contains(&"wss-proxy"),
            "{plugins:?}"
        );
        // The wss-proxy that disables itself on a Python without `websockets` is no signature.
        assert_eq!(phase["signatures"], json!([]));
        let text = d.to_string();
        assert!(
            !text.contains("/root/") && !text.contains("2026-"),
            "{text}"
        );
    }

    #[test]
    fn the_8269_crash_is_in_the_digest_by_cause_and_death() {
        let log = fixture("8269/alice-log-tail.txt");
        let stderr = fixture("8269/alice-stderr.txt");
        let d = digest(
            "alice",
            &[Phase {
                label: "start 2".into(),
                log: &log,
                stderr: &stderr,
            }],
            &Redactor::new(),
        );
        let sigs: Vec<&str> = d[0]["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert!(
            sigs.contains(&"[unique_constraint] UNIQUE constraint failed: channel_htlcs.id"),
            "{sigs:#?}"
        );
        assert!(
            sigs.iter()
                .any(|s| s.starts_with("[fatal_signal] FATAL SIGNAL 6 at ")),
            "{sigs:#?}"
        );
        assert!(!sigs.iter().any(|s| s.contains("backtrace")), "{sigs:#?}");
        // The same input gives the same digest: sets, sorted.
        assert_eq!(
            d,
            digest(
                "alice",
                &[Phase {
                    label: "start 2".into(),
                    log: &log,
                    stderr: &stderr
                }],
                &Redactor::new()
            )
        );
    }

    #[test]
    fn stderr_splits_at_the_start_markers() {
        let s = "=== cln-harness: start #1 of alice on v25.02.1 ===\nfirst\n=== cln-harness: start #2 of alice on v25.05 ===\nsecond\n";
        assert_eq!(split_stderr(s), ["first\n", "second\n"]);
        assert!(split_stderr("").is_empty());
    }
}
