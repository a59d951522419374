//! The release-gate matrix (`ci/matrix.toml`): scenarios × role bindings ×
//! expected outcome. Parsing, expanding `--versions` into cells and judging
//! a run against its cell are pure, and shared by the nextest matrix tests
//! and `cln-harness matrix` ([`crate::gate`]); running a cell is just a run
//! with the roles pinned.

use crate::outcome::OutcomeKind;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub scenarios: Vec<String>,
    /// role → label (or path).
    pub roles: BTreeMap<String, String>,
    /// Accepted outcomes: `pass`, `fail`, `hang`, `crash`, `error`.
    pub expect: Vec<String>,
    /// A signature the run must show (for crash expectations).
    #[serde(default)]
    pub signature: Option<String>,
    /// A regex the outcome's detail must match.
    #[serde(default)]
    pub detail: Option<String>,
    /// Text the report's headline (first) signature must contain.
    #[serde(default)]
    pub headline: Option<String>,
    /// The report must carry no signature at all (a clean passing run).
    #[serde(default)]
    pub no_signatures: bool,
    /// `sqlite` or `postgres`: run as `--db` would (scenarios that choose
    /// a backend themselves keep theirs).
    #[serde(default)]
    pub db: Option<String>,
}

/// One runnable (case, scenario) pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub scenario: String,
    pub roles: BTreeMap<String, String>,
    pub expect: Vec<OutcomeKind>,
    pub signature: Option<String>,
    pub detail: Option<String>,
    pub headline: Option<String>,
    pub no_signatures: bool,
    pub db: Option<crate::options::DbBackend>,
}

impl Entry {
    /// `upgrade-keysend@base=v25.02.1,candidate=1cc64dd67`, and
    /// `...,db=postgres` for a cell on PostgreSQL.
    pub fn name(&self) -> String {
        let mut parts: Vec<String> = self.roles.iter().map(|(r, l)| format!("{r}={l}")).collect();
        if let Some(db) = self.db {
            parts.push(format!("db={}", db.as_str()));
        }
        format!("{}@{}", self.scenario, parts.join(","))
    }
}

pub fn parse_outcome(s: &str) -> Option<OutcomeKind> {
    Some(match s {
        "pass" => OutcomeKind::Pass,
        "fail" => OutcomeKind::Fail,
        "hang" => OutcomeKind::Hang,
        "crash" => OutcomeKind::Crash,
        "error" => OutcomeKind::Error,
        _ => return None,
    })
}

pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let m: Matrix = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for c in m.cases {
        let expect = c
            .expect
            .iter()
            .map(|e| parse_outcome(e).ok_or_else(|| format!("unknown outcome `{e}`")))
            .collect::<Result<Vec<_>, _>>()?;
        let db = match c.db.as_deref() {
            None => None,
            Some(d) => Some(
                crate::options::DbBackend::parse(d)
                    .ok_or_else(|| format!("unknown db `{d}` (sqlite or postgres)"))?,
            ),
        };
        for s in &c.scenarios {
            if let Some(d) = &c.detail {
                regex::Regex::new(d).map_err(|e| format!("case {s}: detail: {e}"))?;
            }
            out.push(Entry {
                scenario: s.clone(),
                roles: c.roles.clone(),
                expect: expect.clone(),
                signature: c.signature.clone(),
                detail: c.detail.clone(),
                headline: c.headline.clone(),
                no_signatures: c.no_signatures,
                db,
            });
        }
    }
    Ok(out)
}

/// The file a matrix scenario name means: `twins/upgrade-keysend` is
/// `scenarios/twins/upgrade-keysend.toml`; language examples and verdict
/// scenarios are found by bare name too.
pub fn scenario_file(root: &std::path::Path, name: &str) -> std::path::PathBuf {
    ["scenarios", "scenarios/examples", "fixtures/verdicts"]
        .iter()
        .map(|d| root.join(d).join(format!("{name}.toml")))
        .find(|p| p.exists())
        .unwrap_or_else(|| root.join("scenarios").join(format!("{name}.toml")))
}

/// What a scenario needs, for `--versions`: its name (relative to the
/// scenarios dir, without `.toml`) and its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioRoles {
    pub name: String,
    pub roles: Vec<String>,
}

/// `matrix --versions V1 V2 ...` (oldest first): every scenario that needs
/// only `candidate` on each version (twins included), and every scenario
/// with `base` and `candidate` over each older → newer pair. Each cell takes
/// the expectations of the matching entry of the matrix file, else `pass`.
pub fn expand(
    versions: &[String],
    scenarios: &[ScenarioRoles],
    file_entries: &[Entry],
) -> Vec<Entry> {
    let mut cells = Vec::new();
    let mut cell = |scenario: &str, roles: BTreeMap<String, String>| {
        let known = file_entries
            .iter()
            .find(|e| e.scenario == scenario && e.roles == roles);
        // A cell runs on the run's `--db`; a crash is expected on either backend.
        cells.push(match known {
            Some(e) => Entry {
                db: None,
                ..e.clone()
            },
            None => Entry {
                scenario: scenario.to_string(),
                roles,
                expect: vec![OutcomeKind::Pass],
                signature: None,
                detail: None,
                headline: None,
                no_signatures: false,
                db: None,
            },
        });
    };
    for sc in scenarios {
        let needs = |r: &str| sc.roles.iter().any(|x| x == r);
        if sc.roles == ["candidate"] {
            for v in versions {
                cell(&sc.name, [("candidate".to_string(), v.clone())].into());
            }
        } else if needs("base") && needs("candidate") && sc.roles.len() == 2 {
            for (i, old) in versions.iter().enumerate() {
                for new in &versions[i + 1..] {
                    cell(
                        &sc.name,
                        [
                            ("base".to_string(), old.clone()),
                            ("candidate".to_string(), new.clone()),
                        ]
                        .into(),
                    );
                }
            }
        }
    }
    cells
}

/// Does the report say what the entry expects? Every check names what it
/// saw, so a failing cell reads like the bug report it guards.
pub fn judge(entry: &Entry, report: &crate::report::Report) -> Result<(), String> {
    let summary = crate::report::summary(report);
    if !entry.expect.contains(&report.outcome) {
        let want: Vec<&str> = entry.expect.iter().map(|k| k.as_str()).collect();
        return Err(format!(
            "expected {}, got {}\n{summary}",
            want.join(" or "),
            report.outcome.as_str()
        ));
    }
    if report.exit_code != crate::outcome::exit_code(report.outcome) {
        return Err(format!(
            "outcome {} but exit code {}",
            report.outcome.as_str(),
            report.exit_code
        ));
    }
    if let Some(sig) = &entry.signature {
        if !report
            .signatures
            .iter()
            .any(|s| s["text"].as_str().is_some_and(|t| t.contains(sig.as_str())))
        {
            return Err(format!(
                "expected signature `{sig}`; signatures: {:?}\n{summary}",
                report.signatures
            ));
        }
    }
    if let Some(d) = &entry.detail {
        if !regex::Regex::new(d)
            .map(|r| r.is_match(&report.detail))
            .unwrap_or(false)
        {
            return Err(format!(
                "expected the detail to match /{d}/, got: {}\n{summary}",
                report.detail
            ));
        }
    }
    if let Some(h) = &entry.headline {
        if !report
            .first_signature
            .as_deref()
            .is_some_and(|f| f.contains(h.as_str()))
        {
            return Err(format!(
                "expected the headline signature to contain `{h}`, got {:?}\nsignatures: {:?}",
                report.first_signature, report.signatures
            ));
        }
    }
    // A passing run never leads with a signature; with `no_signatures`, it has none.
    if report.outcome == OutcomeKind::Pass && report.first_signature.is_some() {
        return Err(format!(
            "a passing run reported the signature {:?}",
            report.first_signature
        ));
    }
    if entry.no_signatures && !report.signatures.is_empty() {
        return Err(format!(
            "expected no signatures on this run, got {:?}",
            report.signatures
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_matrix_parses_and_names_are_unique() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/matrix.toml"))
                .unwrap();
        let entries = parse(&text).unwrap();
        let mut names: Vec<String> = entries.iter().map(Entry::name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(names.contains(&"upgrade-keysend@base=v25.02.1,candidate=1cc64dd67".to_string()));
    }

    #[test]
    fn versions_expand_into_cells_with_the_files_expectations() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/matrix.toml"))
                .unwrap();
        let file = parse(&text).unwrap();
        let sc = |name: &str, roles: &[&str]| ScenarioRoles {
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        let scenarios = [
            sc("keysend", &["candidate"]),
            sc("upgrade-keysend", &["base", "candidate"]),
            sc("twins/upgrade-keysend", &["candidate"]),
        ];
        let versions: Vec<String> = ["v25.02.1", "1cc64dd67", "v25.05"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cells = expand(&versions, &scenarios, &file);
        let names: Vec<String> = cells.iter().map(Entry::name).collect();
        assert_eq!(cells.len(), 3 + 3 + 3, "{names:?}");
        // The paths onto the broken build carry the file's crash expectation ...
        let broken = cells
            .iter()
            .find(|c| c.name() == "upgrade-keysend@base=v25.02.1,candidate=1cc64dd67")
            .unwrap();
        assert!(
            broken.expect.contains(&OutcomeKind::Crash)
                && broken.signature.as_deref()
                    == Some("UNIQUE constraint failed: channel_htlcs.id")
        );
        let twin = cells
            .iter()
            .find(|c| c.name() == "twins/upgrade-keysend@candidate=1cc64dd67")
            .unwrap();
        assert!(twin.expect.contains(&OutcomeKind::Crash));
        // ... and a path the file does not list is expected to pass.
        let unlisted = cells
            .iter()
            .find(|c| c.name() == "upgrade-keysend@base=1cc64dd67,candidate=v25.05")
            .unwrap();
        assert_eq!(unlisted.expect, [OutcomeKind::Pass]);
    }
}
