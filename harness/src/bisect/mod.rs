//! Bisect: the first build on which a scenario changes behaviour, as a
//! search whose oracle is one run's outcome. The search is pure (tested
//! against fake oracles); the CLI supplies an oracle that runs the scenario
//! with the role pinned to each candidate build.
//!
//! Like `git bisect`: the list is ordered oldest first, its first entry
//! must show the old behaviour and its last the new one (checked before
//! searching); an `error` outcome (cannot test) is skipped, trying the
//! nearest untested entry instead, and a search boxed in by skips reports
//! the range it could not narrow.

pub mod commits;

use crate::outcome::OutcomeKind;
use std::future::Future;

/// What one tested entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    /// Behaves as the oldest entry does.
    Old,
    /// Behaves as the newest entry does.
    New,
    /// Could not be tested (environment error, failed build).
    Skip,
}

/// The question a bisect asks of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Which entry broke it: old = pass, new = crash/hang/fail.
    FirstBad,
    /// Which entry fixed it (`--find-fix`): old = crash/hang/fail, new = pass.
    FirstFixed,
}

/// pass → good, crash/hang/fail → bad, error → skip; `--find-fix` swaps old and new.
pub fn mark(outcome: OutcomeKind, q: Question) -> Mark {
    let passed = match outcome {
        OutcomeKind::Error => return Mark::Skip,
        OutcomeKind::Pass => true,
        OutcomeKind::Fail | OutcomeKind::Hang | OutcomeKind::Crash => false,
    };
    match (q, passed) {
        (Question::FirstBad, true) | (Question::FirstFixed, false) => Mark::Old,
        _ => Mark::New,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The first entry with the new behaviour (its predecessor has the old).
    First(usize),
    /// Skips left a range: the first new entry is one of `from..=to`.
    Between { from: usize, to: usize },
    /// The endpoints do not show the two behaviours: nothing to search.
    BadEndpoints { oldest: Mark, newest: Mark },
}

/// Search `n` entries (oldest first); `test(i)` runs entry `i`. Returns what
/// was found and every (entry, mark) tested, in order.
pub async fn search<F, Fut>(n: usize, mut test: F) -> (Found, Vec<(usize, Mark)>)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Mark>,
{
    let mut tested = Vec::new();
    if n < 2 {
        return (
            Found::BadEndpoints {
                oldest: Mark::Skip,
                newest: Mark::Skip,
            },
            tested,
        );
    }
    let oldest = test(0).await;
    tested.push((0, oldest));
    let newest = test(n - 1).await;
    tested.push((n - 1, newest));
    if oldest != Mark::Old || newest != Mark::New {
        return (Found::BadEndpoints { oldest, newest }, tested);
    }
    // Invariant: `lo` is known old, `hi` known new; entries in `skipped` are untestable.
    let (mut lo, mut hi) = (0, n - 1);
    let mut skipped = vec![false; n];
    while hi - lo > 1 {
        // The untested, unskipped entry nearest the middle of (lo, hi).
        let mid = lo + (hi - lo) / 2;
        let candidates = (1..hi - lo)
            .flat_map(|d| [mid.checked_sub(d / 2), Some(mid + d / 2)])
            .flatten();
        let Some(pick) = std::iter::once(mid)
            .chain(candidates)
            .find(|&i| i > lo && i < hi && !skipped[i])
        else {
            return (
                Found::Between {
                    from: lo + 1,
                    to: hi,
                },
                tested,
            );
        };
        let m = test(pick).await;
        tested.push((pick, m));
        match m {
            Mark::Old => lo = pick,
            Mark::New => hi = pick,
            Mark::Skip => skipped[pick] = true,
        }
    }
    (Found::First(hi), tested)
}

/// One tested entry, as printed and in `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tested {
    pub label: String,
    /// The commit it was built from (`bisect --good/--bad`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub mark: Mark,
    /// Outcome of each run (several with `--repeat`).
    pub outcomes: Vec<OutcomeKind>,
    pub signature: Option<String>,
    pub seconds: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BisectReport {
    pub scenario: String,
    pub role: String,
    pub question: &'static str,
    pub tested: Vec<Tested>,
    /// The first label with the new behaviour, if the search narrowed to one.
    pub first: Option<String>,
    /// Its commit and subject (`bisect --good/--bad`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Builds made (not reused) during the bisect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builds: Option<usize>,
    /// Where skips left the answer, or why the search could not start.
    pub note: Option<String>,
    /// The signature on `first` (what changed), when it has one.
    pub signature: Option<String>,
    /// A command that runs the scenario on `first`.
    pub rerun: Option<String>,
}

/// Run `file` with `role` pinned to the installed build `label`, `repeat`
/// times; any run with the new behaviour makes the entry new (so a flaky
/// crash is not missed), all runs skipped make it a skip.
pub async fn test_label(
    file: &std::path::Path,
    cfg: &crate::executor::RunConfig,
    role: &str,
    label: String,
    q: Question,
    repeat: u32,
) -> Tested {
    use crate::runner::{run_file, RunOptions, RunResult};
    let opts = RunOptions::quiet();
    let run_cfg = cfg.pinned([(role, label.as_str())]);
    let started = std::time::Instant::now();
    let (mut outcomes, mut signature, mut marks) = (Vec::new(), None, Vec::new());
    for _ in 0..repeat.max(1) {
        let (outcome, sig) = match run_file(file, &run_cfg, &opts).await {
            RunResult::Ran(r) => (r.outcome, r.first_signature.clone()),
            RunResult::BadScenario(_) => (OutcomeKind::Error, None),
        };
        outcomes.push(outcome);
        marks.push(mark(outcome, q));
        signature = signature.or(sig);
    }
    let m = if marks.contains(&Mark::New) {
        Mark::New
    } else if marks.contains(&Mark::Old) {
        Mark::Old
    } else {
        Mark::Skip
    };
    Tested {
        label,
        commit: None,
        mark: m,
        outcomes,
        signature,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Bisect over installed builds (`--labels`): run `file` with `role`
/// pinned to each label (`repeat` times; with the new behaviour on any run
/// the entry counts as new, so a flaky crash is not missed).
pub async fn over_labels(
    file: &std::path::Path,
    cfg: &crate::executor::RunConfig,
    role: &str,
    labels: &[String],
    q: Question,
    repeat: u32,
    on_tested: &mut dyn FnMut(&Tested),
) -> BisectReport {
    let tested = std::cell::RefCell::new(Vec::<Tested>::new());
    let on_tested = std::cell::RefCell::new(on_tested);
    let (found, _) = search(labels.len(), |i| {
        let label = labels[i].clone();
        let (tested, on_tested) = (&tested, &on_tested);
        async move {
            let t = test_label(file, cfg, role, label, q, repeat).await;
            (on_tested.borrow_mut())(&t);
            let m = t.mark;
            tested.borrow_mut().push(t);
            m
        }
    })
    .await;
    let mut report = empty_report(file, role, q, tested.into_inner());
    match found {
        Found::First(i) => {
            let label = labels[i].clone();
            report.signature = report
                .tested
                .iter()
                .find(|t| t.label == label)
                .and_then(|t| t.signature.clone());
            report.rerun = Some(rerun_command(file, cfg, role, &label));
            report.first = Some(label);
        }
        Found::Between { from, to } => {
            report.note = Some(format!(
                "skipped builds leave the {} among: {}",
                report.question,
                labels[from..=to].join(", ")
            ));
        }
        Found::BadEndpoints { oldest, newest } => {
            let (first, last) = (
                labels.first().map_or("-", |s| s.as_str()),
                labels.last().map_or("-", |s| s.as_str()),
            );
            report.note = Some(bad_endpoints_note(q, (first, oldest), (last, newest)));
        }
    }
    report
}

fn empty_report(
    file: &std::path::Path,
    role: &str,
    q: Question,
    tested: Vec<Tested>,
) -> BisectReport {
    let question = match q {
        Question::FirstBad => "first bad",
        Question::FirstFixed => "first fixed",
    };
    BisectReport {
        scenario: file.display().to_string(),
        role: role.to_string(),
        question,
        tested,
        first: None,
        commit: None,
        subject: None,
        builds: None,
        note: None,
        signature: None,
        rerun: None,
    }
}

/// The command that runs the scenario on the build the bisect ended at.
fn rerun_command(
    file: &std::path::Path,
    cfg: &crate::executor::RunConfig,
    role: &str,
    label: &str,
) -> String {
    let others: String = cfg
        .discovery
        .command_line
        .iter()
        .map(|(r, p)| format!(" --lightningd {r}={}", p.display()))
        .collect();
    format!(
        "cln-harness run {} --lightningd {role}={label}{others}",
        file.display()
    )
}

/// Why a bisect could not start: what each end had to show and what it showed.
fn bad_endpoints_note(
    q: Question,
    (old, old_mark): (&str, Mark),
    (new, new_mark): (&str, Mark),
) -> String {
    let want = match q {
        Question::FirstBad => "must pass, and the newer must not",
        Question::FirstFixed => "must fail, and the newer must pass",
    };
    let show = |m: Mark| match (q, m) {
        (_, Mark::Skip) => "could not be tested",
        (Question::FirstBad, Mark::Old) | (Question::FirstFixed, Mark::New) => "passes",
        _ => "does not pass",
    };
    format!(
        "nothing to search: the older end {want}; {old} {} and {new} {}",
        show(old_mark),
        show(new_mark)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(marks: &[Mark]) -> (Found, Vec<(usize, Mark)>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(search(marks.len(), |i| {
            let m = marks[i];
            async move { m }
        }))
    }

    use Mark::*;

    #[test]
    fn outcomes_map_to_good_bad_and_skip() {
        assert_eq!(mark(OutcomeKind::Pass, Question::FirstBad), Old);
        for k in [OutcomeKind::Crash, OutcomeKind::Hang, OutcomeKind::Fail] {
            assert_eq!(mark(k, Question::FirstBad), New);
            assert_eq!(mark(k, Question::FirstFixed), Old);
        }
        assert_eq!(mark(OutcomeKind::Pass, Question::FirstFixed), New);
        assert_eq!(mark(OutcomeKind::Error, Question::FirstBad), Skip);
    }

    #[test]
    fn finds_the_first_new_entry_in_log_steps() {
        for first in 1..20 {
            let marks: Vec<Mark> = (0..20).map(|i| if i < first { Old } else { New }).collect();
            let (found, tested) = run(&marks);
            assert_eq!(found, Found::First(first));
            assert!(tested.len() <= 2 + 5, "{first}: {tested:?}");
        }
    }

    #[test]
    fn skips_are_stepped_around_and_can_leave_a_range() {
        // 0 1 2 3 4 5 6: old old skip skip new new new
        let (found, tested) = run(&[Old, Old, Skip, Skip, New, New, New]);
        assert_eq!(found, Found::Between { from: 2, to: 4 });
        assert!(tested.iter().any(|(_, m)| *m == Skip));
        // A skip next to the answer that other entries can decide around.
        assert_eq!(run(&[Old, Skip, Old, New, New]).0, Found::First(3));
    }

    #[test]
    fn endpoints_must_show_both_behaviours() {
        assert_eq!(
            run(&[Old, Old, Old]).0,
            Found::BadEndpoints {
                oldest: Old,
                newest: Old
            }
        );
        assert_eq!(
            run(&[New, New]).0,
            Found::BadEndpoints {
                oldest: New,
                newest: New
            }
        );
        assert_eq!(
            run(&[Skip, New]).0,
            Found::BadEndpoints {
                oldest: Skip,
                newest: New
            }
        );
        assert_eq!(
            run(&[Old]).0,
            Found::BadEndpoints {
                oldest: Skip,
                newest: Skip
            }
        );
    }
}
