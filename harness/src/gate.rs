//! `cln-harness matrix`: the release gate as one command. Cells come from
//! the matrix file, or from `--versions` expanded by [`crate::matrix::expand`]
//! with the file's expectations; each runs with its roles pinned (the same
//! run the nextest matrix tests make) and is judged by
//! [`crate::matrix::judge`]. Output: a table, JUnit (`quick-junit`) and a
//! Markdown summary a release manager reads first.

use crate::matrix::{judge, scenario_file, Entry};
use crate::outcome::{OutcomeKind, Verdict};
use crate::report::Report;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};

/// One cell's result.
#[derive(Debug, Clone)]
pub struct Cell {
    pub entry: Entry,
    pub outcome: OutcomeKind,
    pub signature: Option<String>,
    pub seconds: f64,
    /// Why the cell missed its expectation; None when it met it.
    pub miss: Option<String>,
    pub bundle: Option<PathBuf>,
}

impl Cell {
    pub fn met(&self) -> bool {
        self.miss.is_none()
    }

    /// Pass when the cell met its expectation; an environment error when
    /// it missed because the environment could not run it; else a failure.
    pub fn verdict(&self) -> OutcomeKind {
        match (&self.miss, self.outcome) {
            (None, _) => OutcomeKind::Pass,
            (Some(_), OutcomeKind::Error) => OutcomeKind::Error,
            _ => OutcomeKind::Fail,
        }
    }

    fn roles(&self) -> String {
        self.entry
            .roles
            .iter()
            .map(|(r, l)| format!("{r}={l}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn expected(&self) -> String {
        self.entry
            .expect
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// What a `matrix` command runs: its cells, where their scenario paths
/// are relative to, and the title of its summary.
#[derive(Debug)]
pub struct Selection {
    pub root: PathBuf,
    pub cells: Vec<Entry>,
    pub title: String,
}

/// Why no cells could be chosen: all the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("{}: {why}", file.display())]
    File { file: PathBuf, why: String },
    #[error("{0}")]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error("no cells to run")]
    NoCells,
}

/// The cells of the matrix file (default `ci/gate.toml`), or with
/// `versions` every scenario under `scenarios_dir` but its `examples/`,
/// expanded over them with the file's expectations.
pub fn select(
    file: Option<&Path>,
    versions: &[String],
    scenarios_dir: &Path,
) -> Result<Selection, SelectError> {
    use crate::matrix::{expand, parse, ScenarioRoles};
    let file = file.map_or_else(|| PathBuf::from("ci/gate.toml"), PathBuf::from);
    let entries = std::fs::read_to_string(&file)
        .map_err(|e| e.to_string())
        .and_then(|t| parse(&t))
        .map_err(|why| SelectError::File {
            file: file.clone(),
            why,
        })?;
    let root = scenarios_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let cells = if versions.is_empty() {
        entries
    } else {
        let mut found = Vec::new();
        for f in crate::scenario::scenario_files(&[scenarios_dir.to_path_buf()]) {
            let rel = f
                .strip_prefix(scenarios_dir)
                .unwrap_or(&f)
                .with_extension("");
            if rel.components().any(|c| c.as_os_str() == "examples") {
                continue;
            }
            let s = crate::scenario::load(&f)?;
            found.push(ScenarioRoles {
                name: rel.display().to_string(),
                roles: s.roles(),
            });
        }
        expand(versions, &found, &entries)
    };
    if cells.is_empty() {
        return Err(SelectError::NoCells);
    }
    let title = if versions.is_empty() {
        format!("cln-harness matrix ({})", file.display())
    } else {
        format!("cln-harness matrix: {}", versions.join(" → "))
    };
    Ok(Selection { root, cells, title })
}

/// The progress line of a finished cell: met or not, where, how, how long.
pub fn progress_line(c: &Cell) -> String {
    format!(
        "  {} {}@{} {} ({:.1}s)",
        if c.met() { "ok" } else { "NO" },
        c.entry.scenario,
        c.roles(),
        c.outcome.as_str(),
        c.seconds
    )
}

/// Run every cell, `jobs` at a time (each run has its own dir and ports).
pub async fn run_cells(
    root: &Path,
    cells: Vec<Entry>,
    cfg: &crate::runner::RunConfig,
    jobs: usize,
    on_cell: &mut dyn FnMut(&Cell),
) -> Vec<Cell> {
    let runs = futures_util::stream::iter(cells.into_iter().map(|entry| async move {
        let started = std::time::Instant::now();
        let mut run_cfg = cfg.pinned(entry.roles.iter().map(|(r, l)| (r.as_str(), l.as_str())));
        if entry.db.is_some() {
            run_cfg.db = entry.db;
        }
        let opts = crate::runner::RunOptions::quiet();
        let file = scenario_file(root, &entry.scenario);
        let result = crate::runner::run_file(&file, &run_cfg, &opts).await;
        cell_of(entry, result, started.elapsed().as_secs_f64())
    }))
    .buffer_unordered(jobs.max(1));
    futures_util::pin_mut!(runs);
    let mut out = Vec::new();
    while let Some(cell) = runs.next().await {
        on_cell(&cell);
        out.push(cell);
    }
    // The table reads in the matrix's order, not the order cells finished in.
    out.sort_by_key(|c| (c.entry.scenario.clone(), c.roles()));
    out
}

fn cell_of(entry: Entry, result: crate::runner::RunResult, seconds: f64) -> Cell {
    match result {
        crate::runner::RunResult::BadScenario(e) => Cell {
            miss: Some(format!("bad scenario: {e}")),
            entry,
            outcome: OutcomeKind::Error,
            signature: None,
            seconds,
            bundle: None,
        },
        crate::runner::RunResult::Ran(report) => {
            let r: &Report = &report;
            Cell {
                miss: judge(&entry, r).err(),
                outcome: r.outcome,
                signature: r.first_signature.clone(),
                seconds,
                bundle: r.bundle.clone(),
                entry,
            }
        }
    }
}

/// The whole gate's verdict (`outcome::exit_code` makes it the exit code):
/// a pass only if every cell met its expectation, an environment error if
/// only the environment failed.
pub fn verdict(cells: &[Cell]) -> Verdict {
    crate::outcome::worst(cells.iter().map(Cell::verdict))
}

pub fn table(cells: &[Cell]) -> String {
    let mut s = format!(
        "{:<34} {:<40} {:<6} {:<12} {:<3} {}\n",
        "scenario", "roles", "got", "expected", "ok", "first signature"
    );
    for c in cells {
        s.push_str(&format!(
            "{:<34} {:<40} {:<6} {:<12} {:<3} {}\n",
            c.entry.scenario,
            c.roles(),
            c.outcome.as_str(),
            c.expected(),
            if c.met() { "ok" } else { "NO" },
            c.signature
                .as_deref()
                .map(|s| crate::text::truncate(s, 80))
                .unwrap_or_default()
        ));
    }
    let missed = cells.iter().filter(|c| !c.met()).count();
    s.push_str(&format!(
        "{} cells, {} met their expectation, {missed} did not\n",
        cells.len(),
        cells.len() - missed
    ));
    s
}

/// For the release manager: the verdict first, the cells that missed with
/// their signature and bundle, then every cell.
pub fn markdown(cells: &[Cell], title: &str) -> String {
    let missed: Vec<&Cell> = cells.iter().filter(|c| !c.met()).collect();
    let mut s = format!("# {title}\n\n");
    s.push_str(&if missed.is_empty() {
        format!(
            "**Every cell met its expectation** ({} cells).\n\n",
            cells.len()
        )
    } else {
        format!(
            "**{} of {} cells did not meet their expectation.**\n\n",
            missed.len(),
            cells.len()
        )
    });
    let row = |c: &Cell| {
        format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            c.entry.scenario,
            c.roles(),
            c.outcome.as_str(),
            c.expected(),
            if c.met() { "✅" } else { "❌" },
            c.signature
                .as_deref()
                .map(|s| format!("`{}`", crate::text::truncate(s, 100).replace('|', "\\|")))
                .unwrap_or_default()
        )
    };
    let header = "| scenario | roles | got | expected | met | first signature |\n|---|---|---|---|---|---|\n";
    if !missed.is_empty() {
        s.push_str("## Missed\n\n");
        s.push_str(header);
        for c in &missed {
            s.push_str(&row(c));
        }
        for c in &missed {
            if let Some(b) = &c.bundle {
                s.push_str(&format!(
                    "\n- `{}@{}`: evidence in `{}`",
                    c.entry.scenario,
                    c.roles(),
                    b.display()
                ));
            }
        }
        s.push_str("\n\n");
    }
    s.push_str("## All cells\n\n");
    s.push_str(header);
    for c in cells {
        s.push_str(&row(c));
    }
    s
}

pub fn junit(cells: &[Cell], name: &str) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report as JReport, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new(name);
    for c in cells {
        let status = match &c.miss {
            None => TestCaseStatus::success(),
            Some(why) => {
                let kind = if c.outcome == OutcomeKind::Error {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                };
                let mut st = TestCaseStatus::non_success(kind);
                st.set_message(format!(
                    "expected {}, got {}",
                    c.expected(),
                    c.outcome.as_str()
                ));
                st.set_description(why.clone());
                st
            }
        };
        let mut case = TestCase::new(format!("{}@{}", c.entry.scenario, c.roles()), status);
        case.set_classname("matrix");
        case.set_time(std::time::Duration::from_secs_f64(c.seconds));
        suite.add_test_case(case);
    }
    let mut report = JReport::new("cln-harness");
    report.add_test_suite(suite);
    report.to_string().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{exit_code, ExitCode};

    fn cell(
        scenario: &str,
        candidate: &str,
        outcome: OutcomeKind,
        expect: OutcomeKind,
        sig: Option<&str>,
    ) -> Cell {
        let entry = Entry {
            scenario: scenario.into(),
            roles: [("candidate".to_string(), candidate.to_string())].into(),
            expect: vec![expect],
            signature: None,
            detail: None,
            headline: None,
            no_signatures: false,
            db: None,
        };
        let miss = (outcome != expect)
            .then(|| format!("expected {}, got {}", expect.as_str(), outcome.as_str()));
        Cell {
            entry,
            outcome,
            signature: sig.map(String::from),
            seconds: 1.5,
            miss,
            bundle: None,
        }
    }

    #[test]
    fn the_gate_passes_only_when_every_cell_met_its_expectation() {
        let good = vec![
            cell(
                "keysend",
                "v25.05",
                OutcomeKind::Pass,
                OutcomeKind::Pass,
                None,
            ),
            cell(
                "twins/upgrade-keysend",
                "1cc64dd67",
                OutcomeKind::Crash,
                OutcomeKind::Crash,
                Some("UNIQUE constraint failed: channel_htlcs.id"),
            ),
        ];
        assert_eq!(exit_code(verdict(&good)), ExitCode::PASS);
        let mut bad = good.clone();
        bad.push(cell(
            "upgrade-keysend",
            "v26.06.6",
            OutcomeKind::Crash,
            OutcomeKind::Pass,
            Some("UNIQUE constraint failed: channel_htlcs.id"),
        ));
        assert_eq!(exit_code(verdict(&bad)), ExitCode::FAIL);
        let mut env = good.clone();
        env.push(cell(
            "keysend",
            "v99.1",
            OutcomeKind::Error,
            OutcomeKind::Pass,
            None,
        ));
        assert_eq!(
            exit_code(verdict(&env)),
            ExitCode::COULD_NOT_TEST,
            "an environment problem is not a product failure"
        );
        let md = markdown(&bad, "gate");
        assert!(
            md.contains("**1 of 3 cells did not meet their expectation.**")
                && md.contains("## Missed"),
            "{md}"
        );
        assert!(table(&bad).contains("3 cells, 2 met their expectation, 1 did not"));
    }

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn versions_select_every_scenario_but_the_examples() {
        let sel = select(
            Some(&repo().join("ci/gate.toml")),
            &["v25.05".into(), "v26.06.6".into()],
            &repo().join("scenarios"),
        )
        .unwrap();
        assert_eq!(sel.root, repo());
        assert_eq!(sel.title, "cln-harness matrix: v25.05 → v26.06.6");
        assert!(sel.cells.iter().any(|c| c.scenario == "keysend"));
        assert!(
            sel.cells
                .iter()
                .all(|c| !c.scenario.starts_with("examples/")),
            "{:?}",
            sel.cells.iter().map(|c| &c.scenario).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_missing_matrix_file_or_an_empty_selection_is_the_users_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        let e = select(Some(&missing), &[], Path::new("scenarios")).unwrap_err();
        assert!(
            matches!(e, SelectError::File { .. })
                && e.to_string()
                    .starts_with(&format!("{}: ", missing.display())),
            "{e}"
        );
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let e = select(Some(&empty), &[], Path::new("scenarios")).unwrap_err();
        assert_eq!(e.to_string(), "no cells to run");
    }

    #[test]
    fn junit_is_valid_xml_with_one_case_per_cell() {
        let cells = vec![
            cell(
                "keysend",
                "v25.05",
                OutcomeKind::Pass,
                OutcomeKind::Pass,
                None,
            ),
            cell(
                "upgrade-keysend",
                "v26.06.6",
                OutcomeKind::Crash,
                OutcomeKind::Pass,
                Some("x < y & z"),
            ),
        ];
        let xml = junit(&cells, "matrix").unwrap();
        let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("valid JUnit");
        let suite = &parsed.test_suites[0];
        assert_eq!((suite.tests, suite.failures), (2, 1));
        assert!(
            xml.contains("name=\"upgrade-keysend@candidate=v26.06.6\""),
            "{xml}"
        );
    }
}
