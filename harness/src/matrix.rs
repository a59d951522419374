//! The release-gate matrix (`ci/matrix.toml`): scenarios × role bindings ×
//! expected outcome. Parsing is pure; running a case is just a run with
//! the roles pinned.

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
}

impl Entry {
    /// `upgrade-keysend@base=v25.02.1,candidate=1cc64dd67`
    pub fn name(&self) -> String {
        let roles: Vec<String> = self.roles.iter().map(|(r, l)| format!("{r}={l}")).collect();
        format!("{}@{}", self.scenario, roles.join(","))
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
            });
        }
    }
    Ok(out)
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
}
