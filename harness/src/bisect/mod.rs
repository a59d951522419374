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

pub mod command;
pub mod commits;
pub mod render;

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

/// What a bisect concluded. Each answer has one exit code
/// (`outcome::exit_code`): 0 found, 1 an answer about the product that is
/// not a build (never 2, which is bad input), 125 could not test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The first build that does not pass; the one before it passes.
    FirstBad,
    /// `--find-fix`: the first build that passes; the one before it fails.
    FirstFixed,
    /// `--find-fix`: the newer end still does not pass.
    NotFixed,
    /// The ends do not show the behaviours asked for: the older end does
    /// not show the old one, or (first bad) the newer end passes.
    EndsWrong,
    /// Skipped builds leave the answer among several.
    AmongSkipped,
    /// An end could not be tested, or the search could not go on (build
    /// prerequisites missing, git stopped).
    CouldNotTest,
}

impl Answer {
    pub fn found(q: Question) -> Answer {
        match q {
            Question::FirstBad => Answer::FirstBad,
            Question::FirstFixed => Answer::FirstFixed,
        }
    }

    /// Why a search could not start, from what its ends showed. What an
    /// end shows is a fact about the product even when the other end could
    /// not be tested, so a wrong end wins over a skipped one.
    pub fn from_ends(q: Question, oldest: Mark, newest: Mark) -> Answer {
        match (oldest, newest) {
            (Mark::New, _) => Answer::EndsWrong,
            (_, Mark::Old) if q == Question::FirstFixed => Answer::NotFixed,
            (_, Mark::Old) => Answer::EndsWrong,
            _ => Answer::CouldNotTest,
        }
    }
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
    /// Why a skipped entry could not be tested: its outcome and headline
    /// (`error: ...`), or why its build failed. None unless skipped.
    pub reason: Option<String>,
    /// Seconds the scenario's runs took (the build's are in `build`).
    pub seconds: f64,
    /// How the build was got (`bisect --good/--bad` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildStep>,
}

/// How a commit's build was got, and what it cost: the bisect log's
/// "reuse / incremental / clean" column.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BuildStep {
    /// `reuse`, `incremental`, `clean`, or `failed`.
    pub kind: &'static str,
    pub seconds: f64,
    /// Why an incremental build was given up for a clean one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl BuildStep {
    /// As the line shows it: `incremental 84s`, `clean 312s (incremental build failed: ...)`.
    pub fn text(&self) -> String {
        format!("{} {:.0}s", self.kind, self.seconds)
    }
}

impl Tested {
    /// The line printed as each entry is tested: label, old/new/skip,
    /// outcomes, how it was built and in how long (commits only), the
    /// runs' seconds, then the signature, or for a skip why.
    pub fn line(&self) -> String {
        let outcomes: Vec<&str> = self.outcomes.iter().map(|o| o.as_str()).collect();
        let why = match self.mark {
            Mark::Skip => self.reason.as_deref(),
            _ => self.signature.as_deref(),
        };
        let build = self
            .build
            .as_ref()
            .map_or(String::new(), |b| format!("{:<17} ", b.text()));
        format!(
            "{:<24} {:<5} {:<20} {build}{:>6.1}s  {}",
            self.label,
            format!("{:?}", self.mark).to_lowercase(),
            outcomes.join(","),
            self.seconds,
            why.unwrap_or("")
        )
        .trim_end()
        .to_string()
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BisectReport {
    pub scenario: String,
    pub role: String,
    pub question: &'static str,
    /// What the bisect concluded; it decides the exit code.
    pub answer: Answer,
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

/// One run of a tested entry: its outcome, first signature and headline.
pub type RunSays = (OutcomeKind, Option<String>, String);

/// An entry from its runs: any run with the new behaviour makes it new (so
/// a flaky crash is not missed), else any with the old makes it old, else
/// it is skipped, with the first run's headline as the reason.
pub fn judge_runs(label: String, runs: &[RunSays], q: Question, seconds: f64) -> Tested {
    let marks: Vec<Mark> = runs.iter().map(|(o, _, _)| mark(*o, q)).collect();
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
        outcomes: runs.iter().map(|(o, _, _)| *o).collect(),
        signature: runs.iter().find_map(|(_, s, _)| s.clone()),
        reason: match m {
            Mark::Skip => Some(
                runs.first()
                    .map_or("not run".to_string(), |(_, _, h)| h.clone()),
            ),
            _ => None,
        },
        seconds,
        build: None,
    }
}

/// Run `file` with `role` pinned to the installed build `label`, `repeat`
/// times, judged by [`judge_runs`].
pub async fn test_label(
    file: &std::path::Path,
    cfg: &crate::runner::RunConfig,
    role: &str,
    label: String,
    q: Question,
    repeat: u32,
) -> Tested {
    use crate::runner::{run_file, RunOptions, RunResult};
    let opts = RunOptions::quiet();
    let run_cfg = cfg.pinned([(role, label.as_str())]);
    let started = std::time::Instant::now();
    let mut runs = Vec::new();
    for _ in 0..repeat.max(1) {
        runs.push(match run_file(file, &run_cfg, &opts).await {
            RunResult::Ran(r) => (
                r.outcome,
                r.first_signature.clone(),
                crate::report::run_headline(&r),
            ),
            RunResult::BadScenario(e) => (OutcomeKind::Error, None, format!("error: {e}")),
        });
    }
    judge_runs(label, &runs, q, started.elapsed().as_secs_f64())
}

/// Bisect over installed builds (`--labels`, oldest first): `test` runs
/// one label (the CLI's runs the scenario with the role pinned to it, see
/// [`test_label`]); `on_tested` sees each result as it comes.
pub async fn over_labels<F, Fut>(
    file: &std::path::Path,
    role: &str,
    labels: &[String],
    q: Question,
    mut test: F,
    on_tested: &mut dyn FnMut(&Tested),
) -> BisectReport
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Tested>,
{
    let tested = std::cell::RefCell::new(Vec::<Tested>::new());
    let on_tested = std::cell::RefCell::new(on_tested);
    let (found, _) = search(labels.len(), |i| {
        let run = test(labels[i].clone());
        let (tested, on_tested) = (&tested, &on_tested);
        async move {
            let t = run.await;
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
            report.answer = Answer::found(q);
            report.signature = report
                .tested
                .iter()
                .find(|t| t.label == label)
                .and_then(|t| t.signature.clone());
            report.first = Some(label);
        }
        Found::Between { from, to } => {
            report.answer = Answer::AmongSkipped;
            report.note = Some(format!(
                "skipped builds leave the {} among: {}",
                report.question,
                labels[from..=to].join(", ")
            ));
        }
        Found::BadEndpoints { oldest, newest } => {
            let label = |l: Option<&String>| l.map_or("-", |s| s.as_str()).to_string();
            let (first, last) = (label(labels.first()), label(labels.last()));
            report.answer = Answer::from_ends(q, oldest, newest);
            report.note = Some(ends_note(
                q,
                report.answer,
                &end(&report.tested, &first, oldest),
                &end(&report.tested, &last, newest),
            ));
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
        // Until an answer is found, nothing could be tested.
        answer: Answer::CouldNotTest,
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

/// Every flag of the bisect's command line that changes what a run does,
/// for the rerun command: a rerun without them tests something else.
#[derive(Debug, Clone, Default)]
pub struct RerunFlags {
    /// `--lightningd ROLE=PATH|LABEL` as given (the bisected role's own pin
    /// is replaced by the build found).
    pub lightningd: Vec<(String, std::path::PathBuf)>,
    pub bitcoind: Option<std::path::PathBuf>,
    pub db: Option<crate::options::DbBackend>,
    pub electrs: Option<std::path::PathBuf>,
    /// `--repeat`: a flaky bug needs as many runs to show again.
    pub repeat: u32,
}

/// The command that runs the scenario on the build the bisect ended at.
pub fn rerun_command(file: &std::path::Path, role: &str, label: &str, f: &RerunFlags) -> String {
    let mut args = vec![
        "cln-harness".to_string(),
        "run".into(),
        file.display().to_string(),
        "--lightningd".into(),
        format!("{role}={label}"),
    ];
    for (r, p) in f.lightningd.iter().filter(|(r, _)| r != role) {
        args.extend(["--lightningd".into(), format!("{r}={}", p.display())]);
    }
    if let Some(p) = &f.bitcoind {
        args.extend(["--bitcoind".into(), p.display().to_string()]);
    }
    if let Some(db) = f.db {
        args.extend(["--db".into(), db.as_str().to_string()]);
    }
    if let Some(p) = &f.electrs {
        args.extend(["--electrs".into(), p.display().to_string()]);
    }
    if f.repeat > 1 {
        args.extend(["--repeat".into(), f.repeat.to_string()]);
    }
    crate::text::shell_words(&args)
}

/// What one end showed, for the note on a search that could not start.
pub(crate) struct End {
    label: String,
    mark: Mark,
    outcomes: Vec<OutcomeKind>,
    reason: Option<String>,
}

/// The end `label` as tested (ends are tested first, older then newer).
pub(crate) fn end(tested: &[Tested], label: &str, mark: Mark) -> End {
    let t = tested
        .iter()
        .find(|t| t.label == label || t.commit.as_deref() == Some(label));
    End {
        label: label.to_string(),
        mark,
        outcomes: t.map_or(vec![], |t| t.outcomes.clone()),
        reason: match (mark, t) {
            (Mark::Skip, None) => Some("not tested".into()),
            (_, t) => t.and_then(|t| t.reason.clone()),
        },
    }
}

/// Why a search could not start: what each end showed, and for each
/// whether that is what it should show, so an older end that fails in
/// `--find-fix` reads as what it is: right.
pub(crate) fn ends_note(q: Question, answer: Answer, old: &End, new: &End) -> String {
    let header = match answer {
        Answer::NotFixed => "not fixed in this range",
        Answer::EndsWrong => "nothing to search",
        _ => "cannot search",
    };
    format!(
        "{header}: {}; {}",
        end_says(q, true, old),
        end_says(q, false, new)
    )
}

fn end_says(q: Question, older: bool, e: &End) -> String {
    let which = if older { "older" } else { "newer" };
    let passes = match (q, e.mark) {
        (_, Mark::Skip) => {
            return format!(
                "{} could not be tested ({})",
                e.label,
                e.reason.as_deref().unwrap_or("no reason given")
            )
        }
        (Question::FirstBad, m) => m == Mark::Old,
        (Question::FirstFixed, m) => m == Mark::New,
    };
    let shows = if passes {
        "passes".to_string()
    } else {
        let mut kinds: Vec<&str> = e
            .outcomes
            .iter()
            .filter(|o| !matches!(o, OutcomeKind::Pass | OutcomeKind::Error))
            .map(|o| o.as_str())
            .collect();
        kinds.dedup();
        match kinds.as_slice() {
            [] | ["fail"] => "fails".to_string(),
            _ => format!("fails ({})", kinds.join(", ")),
        }
    };
    let should_pass = matches!(
        (q, older),
        (Question::FirstBad, true) | (Question::FirstFixed, false)
    );
    match (passes == should_pass, should_pass) {
        (true, _) => format!("{} {shows}, as the {which} end should", e.label),
        (false, true) if !older => format!("{} still {shows}", e.label),
        (false, true) => format!("{} {shows}, but the {which} end must pass", e.label),
        (false, false) => format!("{} {shows}, but the {which} end must not pass", e.label),
    }
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

    /// A fake oracle over labels: each label's one run, as (outcome, headline).
    fn over(labels: &[&str], runs: &[(OutcomeKind, &str)], q: Question) -> BisectReport {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let test = |label: String| {
            let i = labels.iter().position(|l| *l == label).unwrap();
            let (o, h) = runs[i];
            let sig = (o == OutcomeKind::Crash).then(|| h.to_string());
            async move { judge_runs(label, &[(o, sig, h.to_string())], q, 1.0) }
        };
        rt.block_on(over_labels(
            std::path::Path::new("s.toml"),
            "candidate",
            &labels,
            q,
            test,
            &mut |_| {},
        ))
    }

    const UNTESTABLE: (OutcomeKind, &str) = (
        OutcomeKind::Error,
        "error: bitcoind would not start: port in use",
    );
    const FAILS: (OutcomeKind, &str) = (
        OutcomeKind::Fail,
        "fail: step 3 (keysend) expected `status` == \"complete\"",
    );
    const CRASHES: (OutcomeKind, &str) = (OutcomeKind::Crash, "crash: FATAL SIGNAL 11");
    const PASSES: (OutcomeKind, &str) = (OutcomeKind::Pass, "pass");

    /// The issue: "A label that could not be tested shows as `skip error`,
    /// with no reason, in the text and in `--json`."
    #[test]
    fn a_label_that_could_not_be_tested_says_why_in_the_text_and_in_json() {
        let r = over(
            &["v24.11", "v25.05", "v26.06.6"],
            &[PASSES, UNTESTABLE, CRASHES],
            Question::FirstBad,
        );
        let skipped = r.tested.iter().find(|t| t.label == "v25.05").unwrap();
        assert_eq!(skipped.mark, Skip);
        assert!(
            skipped
                .line()
                .ends_with("error: bitcoind would not start: port in use"),
            "{}",
            skipped.line()
        );
        let json = serde_json::to_value(skipped).unwrap();
        assert_eq!(
            json["reason"],
            "error: bitcoind would not start: port in use"
        );
        // A tested label shows its signature, and no reason.
        let crashed = r.tested.iter().find(|t| t.label == "v26.06.6").unwrap();
        assert!(crashed.line().ends_with("crash: FATAL SIGNAL 11"));
        assert_eq!(
            serde_json::to_value(crashed).unwrap()["reason"],
            serde_json::Value::Null
        );
        assert_eq!(
            (r.answer, r.note.as_deref()),
            (
                Answer::AmongSkipped,
                Some("skipped builds leave the first bad among: v25.05, v26.06.6")
            )
        );
    }

    /// The issue: "In find-fix mode, the summary says 'v24.11 does not pass
    /// and v26.06.6 could not be tested', although failing is exactly what
    /// the older end should do."
    #[test]
    fn find_fix_says_a_failing_older_end_is_right_and_why_the_newer_was_not_tested() {
        let r = over(
            &["v24.11", "v26.06.6"],
            &[FAILS, UNTESTABLE],
            Question::FirstFixed,
        );
        assert_eq!(
            r.note.as_deref(),
            Some(
                "cannot search: v24.11 fails, as the older end should; \
                 v26.06.6 could not be tested (error: bitcoind would not start: port in use)"
            )
        );
        assert_eq!(r.answer, Answer::CouldNotTest);
        assert_eq!(crate::outcome::exit_code(r.answer), 125);
    }

    /// The issue: "'Not fixed in any of these labels' exits 2, which the
    /// README reserves for bad input."
    #[test]
    fn not_fixed_in_any_of_these_labels_is_an_answer_about_the_product() {
        let r = over(
            &["v24.11", "v26.06.6"],
            &[FAILS, CRASHES],
            Question::FirstFixed,
        );
        assert_eq!(
            r.note.as_deref(),
            Some(
                "not fixed in this range: v24.11 fails, as the older end should; \
                 v26.06.6 still fails (crash)"
            )
        );
        assert_eq!(r.answer, Answer::NotFixed);
        assert_eq!(crate::outcome::exit_code(r.answer), 1);
    }

    #[test]
    fn ends_that_do_not_show_the_behaviours_asked_for_say_which_and_exit_1() {
        let r = over(
            &["v24.11", "v26.06.6"],
            &[FAILS, CRASHES],
            Question::FirstBad,
        );
        assert_eq!(
            r.note.as_deref(),
            Some(
                "nothing to search: v24.11 fails, but the older end must pass; \
                 v26.06.6 fails (crash), as the newer end should"
            )
        );
        assert_eq!(
            (r.answer, crate::outcome::exit_code(r.answer)),
            (Answer::EndsWrong, 1)
        );
        let r = over(
            &["v24.11", "v26.06.6"],
            &[PASSES, PASSES],
            Question::FirstFixed,
        );
        assert_eq!(
            r.note.as_deref(),
            Some(
                "nothing to search: v24.11 passes, but the older end must not pass; \
                 v26.06.6 passes, as the newer end should"
            )
        );
        assert_eq!(r.answer, Answer::EndsWrong);
    }

    #[test]
    fn a_wrong_end_is_an_answer_even_when_the_other_could_not_be_tested() {
        use Question::*;
        assert_eq!(Answer::from_ends(FirstBad, New, Skip), Answer::EndsWrong);
        assert_eq!(Answer::from_ends(FirstBad, Skip, Old), Answer::EndsWrong);
        assert_eq!(Answer::from_ends(FirstFixed, Skip, Old), Answer::NotFixed);
        assert_eq!(Answer::from_ends(FirstFixed, New, Old), Answer::EndsWrong);
        assert_eq!(Answer::from_ends(FirstBad, Old, Skip), Answer::CouldNotTest);
        assert_eq!(
            Answer::from_ends(FirstFixed, Skip, Skip),
            Answer::CouldNotTest
        );
    }

    #[test]
    fn a_found_build_is_answered_with_its_signature() {
        let r = over(
            &["v24.11", "v25.02", "v25.05", "v26.06.6"],
            &[PASSES, PASSES, CRASHES, CRASHES],
            Question::FirstBad,
        );
        assert_eq!(r.answer, Answer::FirstBad);
        assert_eq!(r.first.as_deref(), Some("v25.05"));
        assert_eq!(r.signature.as_deref(), Some("crash: FATAL SIGNAL 11"));
        assert_eq!(crate::outcome::exit_code(r.answer), 0);
        let r = over(
            &["v24.11", "v26.06.6"],
            &[CRASHES, PASSES],
            Question::FirstFixed,
        );
        assert_eq!(
            (r.answer, r.first.as_deref()),
            (Answer::FirstFixed, Some("v26.06.6"))
        );
    }

    #[test]
    fn with_repeats_any_new_run_decides_and_all_errors_skip_with_the_first_reason() {
        let run = |o: OutcomeKind, h: &str| (o, None, h.to_string());
        let t = judge_runs(
            "v1".into(),
            &[
                run(OutcomeKind::Pass, "pass"),
                run(OutcomeKind::Hang, "hang: x"),
            ],
            Question::FirstBad,
            0.0,
        );
        assert_eq!((t.mark, t.reason), (New, None));
        let t = judge_runs(
            "v1".into(),
            &[
                run(OutcomeKind::Error, "error: a"),
                run(OutcomeKind::Error, "error: b"),
            ],
            Question::FirstBad,
            0.0,
        );
        assert_eq!((t.mark, t.reason.as_deref()), (Skip, Some("error: a")));
    }

    /// Every answer, by a match that stops compiling when one is added.
    fn every_answer() -> Vec<Answer> {
        let all = [
            Answer::FirstBad,
            Answer::FirstFixed,
            Answer::NotFixed,
            Answer::EndsWrong,
            Answer::AmongSkipped,
            Answer::CouldNotTest,
        ];
        for a in all {
            match a {
                Answer::FirstBad
                | Answer::FirstFixed
                | Answer::NotFixed
                | Answer::EndsWrong
                | Answer::AmongSkipped
                | Answer::CouldNotTest => {}
            }
        }
        all.to_vec()
    }

    /// The issue: "Every bisect answer has an exit code within the
    /// documented contract (2 stays 'bad input'), documented in the
    /// README's table."
    #[test]
    fn the_readme_table_gives_every_answer_its_exit_code_and_none_is_2() {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
        )
        .unwrap();
        for a in every_answer() {
            let name = serde_json::to_value(a).unwrap();
            let name = name.as_str().unwrap();
            let code = crate::outcome::exit_code(a);
            assert!([0, 1, 125].contains(&code), "{name} exits {code}");
            let row = readme
                .lines()
                .find(|l| l.starts_with("| ") && l.contains(&format!("`{name}`")))
                .unwrap_or_else(|| panic!("README's bisect table has no row for `{name}`"));
            assert!(
                row.starts_with(&format!("| {code} |")),
                "README says `{row}`, but {name} exits {code}"
            );
        }
    }

    /// The issue: "The printed `rerun:` command drops the `--bitcoind`
    /// given on the command line."
    #[test]
    fn the_rerun_command_carries_every_flag_that_changes_the_run() {
        let flags = RerunFlags {
            lightningd: vec![
                ("base".into(), "v25.02.1".into()),
                ("candidate".into(), "/ignored/the/bisected/role".into()),
            ],
            bitcoind: Some("/opt/bitcoin 28/bin/bitcoind".into()),
            db: Some(crate::options::DbBackend::Postgres),
            electrs: Some("/opt/electrs".into()),
            repeat: 5,
        };
        assert_eq!(
            rerun_command(
                std::path::Path::new("scenarios/upgrade-keysend.toml"),
                "candidate",
                "v25.05",
                &flags
            ),
            "cln-harness run scenarios/upgrade-keysend.toml --lightningd candidate=v25.05 \
             --lightningd base=v25.02.1 --bitcoind '/opt/bitcoin 28/bin/bitcoind' \
             --db postgres --electrs /opt/electrs --repeat 5"
        );
        // Nothing given, nothing added.
        assert_eq!(
            rerun_command(
                std::path::Path::new("s.toml"),
                "candidate",
                "v25.05",
                &RerunFlags::default()
            ),
            "cln-harness run s.toml --lightningd candidate=v25.05"
        );
    }
}
