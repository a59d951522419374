//! `cln-harness explore merge DIR...`: the findings of several explorations
//! (shards on several machines, several upgrade paths) as one report.
//!
//! Each DIR is an exploration's `--out`, holding its `summary.json` and its
//! shrunk reproducers. Findings are grouped per upgrade path by their key
//! (already one per bug: amounts, ids and counters are redacted out of it),
//! the shortest reproducer is kept, `run` checks it again, and a Markdown
//! summary says which findings are regressions and which pre-existing.
//!
//! Grouping and the Markdown are pure ([`merge`], [`markdown`]); reading the
//! dirs and rechecking are the command's (`commands::explore`).

use super::{Finding, Summary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name every exploration writes its summary under, in its `--out`.
pub const SUMMARY_FILE: &str = "summary.json";
/// The merge's Markdown report, in its `--out`.
pub const SUMMARY_MARKDOWN: &str = "summary.md";

/// One upgrade path's findings over every exploration of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergedPath {
    pub base: String,
    pub via: Vec<String>,
    pub candidate: String,
    /// Explorations (shards) merged.
    pub explorations: usize,
    pub runs: u64,
    pub errors: u64,
    pub seconds: f64,
    pub oracles: BTreeMap<String, u64>,
    pub findings: Vec<MergedFinding>,
}

impl MergedPath {
    /// The roles a reproducer names and the labels they run, as the
    /// exploration pinned them.
    pub fn roles(&self) -> Vec<(String, String)> {
        super::ExploreConfig::path_roles(&self.base, &self.via, &self.candidate, false)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergedFinding {
    /// The merged numbers: hits and seeds summed over explorations, value
    /// ranges widened, `also_on_base` if any exploration saw it on base,
    /// and the shortest reproducer (`file`, `lines`).
    pub finding: Finding,
    /// Explorations that saw it.
    pub seen_in: usize,
    /// The merge's own `run` of the kept reproducer (None: not rechecked).
    pub rechecked: Option<bool>,
}

/// Why a DIR could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: no {SUMMARY_FILE} (is it an `explore --out` dir?): {source}", dir.display())]
    Missing {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not an explore summary: {source}", path.display())]
    Bad {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// An exploration's summary, its reproducer paths made relative to `dir`
/// when they were written there (so dirs copied from CI machines merge).
pub fn read(dir: &Path) -> Result<Summary, ReadError> {
    let path = dir.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| ReadError::Missing {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut s: Summary =
        serde_json::from_str(&text).map_err(|source| ReadError::Bad { path, source })?;
    for f in &mut s.findings {
        if let Some(file) = &f.file {
            let name = file.file_name().map(PathBuf::from).unwrap_or_default();
            f.file = Some(dir.join(name));
        }
    }
    Ok(s)
}

/// Groups summaries per (base, candidate) and findings per key. The kept
/// reproducer is the shortest that its exploration reproduced (else the
/// shortest at all); paths come out in the order first seen.
pub fn merge(summaries: &[Summary]) -> Vec<MergedPath> {
    let mut paths: Vec<MergedPath> = Vec::new();
    for s in summaries {
        let i = match paths
            .iter()
            .position(|p| p.base == s.base && p.via == s.via && p.candidate == s.candidate)
        {
            Some(i) => i,
            None => {
                paths.push(MergedPath {
                    base: s.base.clone(),
                    via: s.via.clone(),
                    candidate: s.candidate.clone(),
                    explorations: 0,
                    runs: 0,
                    errors: 0,
                    seconds: 0.0,
                    oracles: BTreeMap::new(),
                    findings: vec![],
                });
                paths.len() - 1
            }
        };
        let p = &mut paths[i];
        p.explorations += 1;
        p.runs += s.runs;
        p.errors += s.errors;
        p.seconds += s.seconds;
        for (o, n) in &s.oracles {
            *p.oracles.entry(o.clone()).or_default() += n;
        }
        for f in &s.findings {
            match p.findings.iter_mut().find(|m| m.finding.key == f.key) {
                Some(m) => fold(m, f),
                None => p.findings.push(MergedFinding {
                    finding: f.clone(),
                    seen_in: 1,
                    rechecked: None,
                }),
            }
        }
    }
    paths
}

/// One more exploration's sighting of a finding already merged.
fn fold(m: &mut MergedFinding, f: &Finding) {
    let into = &mut m.finding;
    m.seen_in += 1;
    into.hits += f.hits;
    into.seeds.extend(&f.seeds);
    into.also_on_base |= f.also_on_base;
    if into.ranges.len() == f.ranges.len() {
        for ((lo, hi), (l, h)) in into.ranges.iter_mut().zip(&f.ranges) {
            (*lo, *hi) = ((*lo).min(*l), (*hi).max(*h));
        }
    }
    // Reproduced beats not; then fewer lines.
    let better = (f.file.is_some() && into.file.is_none())
        || (f.file.is_some() && (!f.reproduced, f.lines) < (!into.reproduced, into.lines));
    if better {
        into.file = f.file.clone();
        into.lines = f.lines;
        into.reproduced = f.reproduced;
    }
}

/// A failure when anything was found, an environment error when nothing
/// could run, else a pass (as one exploration's [`super::verdict`]).
pub fn verdict(paths: &[MergedPath]) -> crate::outcome::OutcomeKind {
    use crate::outcome::OutcomeKind;
    let (runs, errors) = paths
        .iter()
        .fold((0, 0), |(r, e), p| (r + p.runs, e + p.errors));
    if paths.iter().any(|p| !p.findings.is_empty()) {
        OutcomeKind::Fail
    } else if runs == 0 || errors == runs {
        OutcomeKind::Error
    } else {
        OutcomeKind::Pass
    }
}

/// The merged report as Markdown (a CI job summary).
pub fn markdown(paths: &[MergedPath]) -> String {
    let mut md = String::from("# cln-harness explore: merged findings\n");
    for p in paths {
        md.push_str(&format!(
            "\n## {}{} → {}\n\n{} exploration(s), {} runs, {} error(s), {} distinct finding(s)\n",
            p.base,
            p.via.iter().map(|v| format!(" → {v}")).collect::<String>(),
            p.candidate,
            p.explorations,
            p.runs,
            p.errors,
            p.findings.len()
        ));
        if p.findings.is_empty() {
            continue;
        }
        md.push_str(
            "\n| finding | kind | oracle | hits | seen in | regression? | reproducer | rechecked |\n|---|---|---|---:|---:|---|---|---|\n",
        );
        for m in &p.findings {
            let f = &m.finding;
            md.push_str(&format!(
                "| `{}` | {} | {} | {} | {} | {} | {} | {} |\n",
                f.shown().replace('|', "\\|").replace('`', "'"),
                f.outcome,
                f.oracle,
                f.hits,
                m.seen_in,
                if f.also_on_base {
                    "no (pre-existing: also with candidate = base)"
                } else {
                    "**yes**"
                },
                f.file.as_deref().map_or("-".into(), |p| format!(
                    "`{}` ({} lines)",
                    p.file_name().unwrap_or_default().to_string_lossy(),
                    f.lines
                )),
                match m.rechecked {
                    Some(true) => "reproduces",
                    Some(false) => "**does not reproduce**",
                    None => "-",
                }
            ));
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(key: &str, lines: usize, ranges: Vec<(u64, u64)>, on_base: bool) -> Finding {
        Finding {
            key: key.into(),
            outcome: "crash".into(),
            seeds: vec![lines as u64],
            hits: 1,
            ranges,
            oracle: "crash".into(),
            also_on_base: on_base,
            file: Some(PathBuf::from(format!("/shard/{lines}.toml"))),
            lines,
            reproduced: true,
        }
    }

    fn summary(base: &str, findings: Vec<Finding>) -> Summary {
        Summary {
            base: base.into(),
            via: vec![],
            candidate: "v25.09".into(),
            seed: 1,
            runs: 10,
            errors: 1,
            seconds: 60.0,
            run_seconds: 60.0,
            first_finding_after_s: None,
            shard: None,
            oracles: [("crash".to_string(), findings.len() as u64)].into(),
            findings,
        }
    }

    /// The bookkeeper underflow, seen by two shards with different amounts
    /// and reproducers of different lengths: one finding, the shorter file.
    #[test]
    fn two_shards_of_one_bug_merge_into_one_finding_with_the_shortest_reproducer() {
        let key = "Account balance underflow (credit <amount>msat)";
        let merged = merge(&[
            summary("v25.05", vec![finding(key, 19, vec![(1800, 1800)], false)]),
            summary(
                "v25.05",
                vec![
                    finding(key, 12, vec![(11000, 11000)], false),
                    finding("FATAL SIGNAL 6 at lightningd", 9, vec![], true),
                ],
            ),
            summary("v24.11", vec![]),
        ]);
        assert_eq!(merged.len(), 2, "one section per upgrade path");
        let p = &merged[0];
        assert_eq!((p.explorations, p.runs, p.errors), (2, 20, 2));
        assert_eq!(p.findings.len(), 2);
        let f = &p.findings[0];
        assert_eq!((f.seen_in, f.finding.hits, f.finding.lines), (2, 2, 12));
        assert_eq!(f.finding.ranges, vec![(1800, 11000)]);
        assert_eq!(f.finding.file.as_deref(), Some(Path::new("/shard/12.toml")));
        let md = markdown(&merged);
        assert!(md.contains("credit 1800..11000msat"), "{md}");
        assert!(
            md.contains("**yes**") && md.contains("pre-existing"),
            "{md}"
        );
        assert!(md.contains("## v24.11 → v25.09"), "{md}");
    }

    #[test]
    fn a_dir_without_a_summary_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("summary.json") && e.contains("explore --out"),
            "{e}"
        );
        std::fs::write(dir.path().join(SUMMARY_FILE), "{}").unwrap();
        assert!(read(dir.path())
            .unwrap_err()
            .to_string()
            .contains("not an explore summary"));
    }
}
