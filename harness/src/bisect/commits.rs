//! Bisect over commits of the user's checkout (`bisect --good REF --bad
//! REF`): `git bisect` does the search (it knows merge bases, so a point
//! release on its own branch works as the good end), each commit it picks
//! is built (or reused) by [`crate::builds::build`] and tested with the
//! scenario.
//!
//! `git bisect` runs with `--no-checkout` in a private bare `--shared`
//! clone, so the user's checkout, its HEAD and its own bisect state are
//! never touched. The driver is generic over the tester, so the search is
//! tested against a throwaway repository and fake builds.

use super::{BisectReport, BuildStep, Mark, Question, Tested};
use crate::builds::build::{build, BuildOptions, Built};
use crate::builds::git::{GitError, Repo};
use std::cell::RefCell;
use std::future::Future;
use std::path::Path;

/// Where a commit search ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitFound {
    /// The first commit with the new behaviour.
    First(String),
    /// Skipped commits leave the answer among these.
    AnyOf(Vec<String>),
    /// The endpoints do not show the two behaviours.
    BadEndpoints { old: Mark, new: Mark },
    /// git stopped the search (e.g. the merge base already shows the new behaviour).
    Stopped(String),
}

/// What one `git bisect` command said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GitSays {
    /// Test `BISECT_HEAD` next.
    Next,
    First(String),
    AnyOf(Vec<String>),
    Stopped(String),
}

fn is_commit_id(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn parse(ok: bool, text: &str) -> GitSays {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains(" is the first bad commit"))
    {
        return GitSays::First(
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        );
    }
    if text.contains("could be any of:") {
        return GitSays::AnyOf(
            text.lines()
                .map(str::trim)
                .filter(|l| is_commit_id(l))
                .map(String::from)
                .collect(),
        );
    }
    if ok && text.contains("Bisecting:") {
        return GitSays::Next;
    }
    GitSays::Stopped(crate::text::truncate(text.trim(), 600))
}

/// Search the commits between `old` (showing the old behaviour) and `new`
/// (showing the new one): both endpoints are tested first, then each commit
/// git picks. `test` gets a full commit id; its `Err` stops the search (a
/// machine that cannot build any commit must not skip its way through them all).
pub async fn search_commits<F, Fut>(
    repo: &Repo,
    old: &str,
    new: &str,
    mut test: F,
) -> Result<CommitFound, GitError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<Mark, String>>,
{
    let (old, new) = (repo.commit(old)?, repo.commit(new)?);
    let old_mark = match test(old.clone()).await {
        Ok(m) => m,
        Err(why) => return Ok(CommitFound::Stopped(why)),
    };
    let new_mark = match test(new.clone()).await {
        Ok(m) => m,
        Err(why) => return Ok(CommitFound::Stopped(why)),
    };
    if old_mark != Mark::Old || new_mark != Mark::New {
        return Ok(CommitFound::BadEndpoints {
            old: old_mark,
            new: new_mark,
        });
    }
    let scratch =
        crate::userdirs::private_tempdir("cln-harness-bisect-").map_err(|e| GitError {
            repo: repo.path.display().to_string(),
            args: "clone".into(),
            message: format!("cannot create a scratch dir: {e}"),
        })?;
    let bare = scratch.path().join("repo.git");
    Repo::new(scratch.path()).git(&[
        "clone",
        "--quiet",
        "--bare",
        "--shared",
        &repo.path.display().to_string(),
        &bare.display().to_string(),
    ])?;
    let bisect = Repo::new(&bare);
    // git's own terms: bad = the new behaviour, good = the old.
    let (ok, text) = bisect.git_output(&["bisect", "start", "--no-checkout", &new, &old])?;
    let mut says = parse(ok, &text);
    // Each step at least halves the range: 64 steps cover any history.
    for _ in 0..64 {
        match says {
            GitSays::Next => {}
            GitSays::First(c) => return Ok(CommitFound::First(c)),
            GitSays::AnyOf(cs) => return Ok(CommitFound::AnyOf(cs)),
            GitSays::Stopped(m) => return Ok(CommitFound::Stopped(m)),
        }
        let next = bisect.git(&["rev-parse", "BISECT_HEAD"])?;
        let term = match test(next).await {
            Ok(Mark::Old) => "good",
            Ok(Mark::New) => "bad",
            Ok(Mark::Skip) => "skip",
            Err(why) => return Ok(CommitFound::Stopped(why)),
        };
        let (ok, text) = bisect.git_output(&["bisect", term])?;
        says = parse(ok, &text);
    }
    Ok(CommitFound::Stopped(
        "git bisect did not converge in 64 steps".into(),
    ))
}

/// The CLI's commit bisect: build each commit git picks (reusing cached
/// builds), run `file` with `role` pinned to it, report like `--labels`.
#[allow(clippy::too_many_arguments)]
pub async fn over_commits(
    file: &Path,
    cfg: &crate::runner::RunConfig,
    role: &str,
    repo: &Repo,
    (old, new): (&str, &str),
    q: Question,
    repeat: u32,
    build_opts: &BuildOptions,
    on_tested: &mut dyn FnMut(&Tested),
    on_progress: &mut dyn FnMut(&str),
) -> Result<BisectReport, GitError> {
    let tested = RefCell::new(Vec::<Tested>::new());
    let hooks = RefCell::new((on_tested, on_progress, 0usize));
    let cache = crate::paths::cache_root();
    let found = search_commits(repo, old, new, |commit| {
        let (tested, hooks, cache) = (&tested, &hooks, &cache);
        async move {
            let started = std::time::Instant::now();
            let built = {
                let mut h = hooks.borrow_mut();
                build(repo, &commit, cache, build_opts, &mut *h.1)
            };
            let build_seconds = started.elapsed().as_secs_f64();
            let t = match built {
                Err(e @ crate::builds::build::BuildError::Prerequisites(_)) => {
                    return Err(e.to_string())
                }
                Ok(b) => {
                    if matches!(b, Built::New { .. }) {
                        hooks.borrow_mut().2 += 1;
                    }
                    let fallback = match &b {
                        Built::New { fallback, .. } => fallback.clone(),
                        Built::Reused { .. } => None,
                    };
                    let t =
                        super::test_label(file, cfg, role, b.label().to_string(), q, repeat).await;
                    Tested {
                        build: Some(BuildStep {
                            kind: b.kind().as_str(),
                            seconds: build_seconds,
                            fallback,
                        }),
                        ..t
                    }
                }
                Err(e) => Tested {
                    label: repo
                        .describe(&commit)
                        .unwrap_or_else(|_| commit[..9.min(commit.len())].to_string()),
                    commit: None,
                    mark: Mark::Skip,
                    outcomes: vec![],
                    signature: None,
                    reason: Some(format!(
                        "build failed: {}",
                        crate::text::truncate(&e.to_string(), 300)
                    )),
                    seconds: 0.0,
                    build: Some(BuildStep {
                        kind: "failed",
                        seconds: build_seconds,
                        fallback: None,
                    }),
                },
            };
            let t = Tested {
                commit: Some(commit),
                ..t
            };
            (hooks.borrow_mut().0)(&t);
            let m = t.mark;
            tested.borrow_mut().push(t);
            Ok(m)
        }
    })
    .await?;
    let builds = hooks.into_inner().2;
    let mut report = super::empty_report(file, role, q, tested.into_inner());
    report.builds = Some(builds);
    conclude(&mut report, found, repo, (old, new), q)?;
    Ok(report)
}

/// What git's answer means for the report: the first commit (its label,
/// signature and subject), the skipped commits it is among, ends that did
/// not behave, or why the search stopped.
fn conclude(
    report: &mut BisectReport,
    found: CommitFound,
    repo: &Repo,
    (old, new): (&str, &str),
    q: Question,
) -> Result<(), GitError> {
    match found {
        CommitFound::First(c) => {
            let label = report
                .tested
                .iter()
                .find(|t| t.commit.as_deref() == Some(&c))
                .map(|t| t.label.clone());
            let label = label.map_or_else(|| repo.describe(&c), Ok)?;
            report.signature = report
                .tested
                .iter()
                .find(|t| t.commit.as_deref() == Some(&c))
                .and_then(|t| t.signature.clone());
            report.subject = repo.subject(&c).ok();
            report.answer = super::Answer::found(q);
            report.first = Some(label);
            report.commit = Some(c);
        }
        CommitFound::AnyOf(cs) => {
            let labels: Vec<String> = cs
                .iter()
                .map(|c| repo.describe(c).unwrap_or_else(|_| c.clone()))
                .collect();
            report.answer = super::Answer::AmongSkipped;
            report.note = Some(format!(
                "skipped commits leave the {} among: {}",
                report.question,
                labels.join(", ")
            ));
        }
        CommitFound::BadEndpoints { old: o, new: n } => {
            // Both ends were tested, older first: name them as built
            // (`git describe`), which the lines above showed.
            let label = |i: usize, r: &str| {
                report
                    .tested
                    .get(i)
                    .map_or(r.to_string(), |t| t.label.clone())
            };
            let (old_label, new_label) = (label(0, old), label(1, new));
            report.answer = super::Answer::from_ends(q, o, n);
            report.note = Some(super::ends_note(
                q,
                report.answer,
                &super::end(&report.tested, &old_label, o),
                &super::end(&report.tested, &new_label, n),
            ));
        }
        CommitFound::Stopped(m) => {
            report.answer = super::Answer::CouldNotTest;
            report.note = Some(format!("bisect stopped: {m}"))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::git::testing::{commit, git_in, init};
    use crate::outcome::OutcomeKind;

    /// master: c0 (v1.0) .. c9, a point release v1.0.1 branched at c2.
    /// `state` says how a build of each commit behaves.
    fn history(states: [&str; 10]) -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        init(dir.path());
        let mut ids = Vec::new();
        for (i, s) in states.iter().enumerate() {
            ids.push(commit(dir.path(), &[("state", s)], &format!("c{i}")));
            if i == 0 {
                git_in(dir.path(), &["tag", "v1.0"]);
            }
        }
        git_in(dir.path(), &["checkout", "-q", "-b", "release", &ids[2]]);
        commit(
            dir.path(),
            &[("state", "pass"), ("notes", "point release")],
            "v1.0.1",
        );
        git_in(dir.path(), &["tag", "v1.0.1"]);
        git_in(dir.path(), &["checkout", "-q", "master"]);
        (dir, ids)
    }

    /// A fake build and run: `pass`, `crash`, or `broken` (the build fails).
    fn run(dir: &Path, old: &str, new: &str, q: Question) -> (CommitFound, Vec<String>) {
        let repo = Repo::new(dir);
        let tested = RefCell::new(Vec::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let found = rt
            .block_on(search_commits(&repo, old, new, |c| {
                let state = repo.git(&["show", &format!("{c}:state")]).unwrap();
                tested.borrow_mut().push(c);
                let m = match state.as_str() {
                    "pass" => super::super::mark(OutcomeKind::Pass, q),
                    "crash" => super::super::mark(OutcomeKind::Crash, q),
                    _ => Mark::Skip,
                };
                async move { Ok(m) }
            }))
            .unwrap();
        (found, tested.into_inner())
    }

    const BROKE_AT_6: [&str; 10] = [
        "pass", "pass", "pass", "pass", "pass", "pass", "crash", "crash", "crash", "crash",
    ];

    #[test]
    fn finds_the_commit_that_broke_it_on_a_line_of_history() {
        let (dir, ids) = history(BROKE_AT_6);
        let (found, tested) = run(dir.path(), "v1.0", "master", Question::FirstBad);
        assert_eq!(found, CommitFound::First(ids[6].clone()));
        assert!(tested.len() <= 2 + 4, "{tested:?}");
    }

    #[test]
    fn a_point_release_on_its_own_branch_is_a_good_end_through_the_merge_base() {
        let (dir, ids) = history(BROKE_AT_6);
        let repo = Repo::new(dir.path());
        let head_before = repo.git(&["rev-parse", "HEAD"]).unwrap();
        let (found, tested) = run(dir.path(), "v1.0.1", "master", Question::FirstBad);
        assert_eq!(found, CommitFound::First(ids[6].clone()));
        assert!(
            tested.contains(&ids[2]),
            "the merge base is tested: {tested:?}"
        );
        // The user's checkout is where it was, with no bisect of its own started.
        assert_eq!(repo.git(&["rev-parse", "HEAD"]).unwrap(), head_before);
        assert!(repo.git(&["bisect", "log"]).is_err());
    }

    #[test]
    fn builds_that_fail_are_skipped_and_can_leave_a_range() {
        let (dir, ids) = history([
            "pass", "pass", "pass", "pass", "pass", "broken", "broken", "crash", "crash", "crash",
        ]);
        let (found, _) = run(dir.path(), "v1.0", "master", Question::FirstBad);
        let CommitFound::AnyOf(mut any) = found else {
            panic!("{found:?}")
        };
        any.sort();
        let mut want = ids[5..=7].to_vec();
        want.sort();
        assert_eq!(any, want);
    }

    #[test]
    fn endpoints_are_confirmed_first() {
        let (dir, _) = history(BROKE_AT_6);
        let (found, tested) = run(dir.path(), "HEAD~2", "master", Question::FirstBad);
        assert_eq!(
            found,
            CommitFound::BadEndpoints {
                old: Mark::New,
                new: Mark::New
            }
        );
        assert_eq!(tested.len(), 2);
    }

    #[test]
    fn find_fix_finds_the_commit_that_made_it_pass() {
        let (dir, ids) = history([
            "crash", "crash", "crash", "pass", "pass", "pass", "pass", "pass", "pass", "pass",
        ]);
        let (found, _) = run(dir.path(), "v1.0", "master", Question::FirstFixed);
        assert_eq!(found, CommitFound::First(ids[3].clone()));
    }

    #[test]
    fn a_tester_that_cannot_go_on_stops_the_search() {
        let (dir, _) = history(BROKE_AT_6);
        let repo = Repo::new(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let found = rt.block_on(search_commits(&repo, "v1.0", "master", |_| async {
            Err("missing build prerequisites: lowdown (lowdown)".to_string())
        }));
        assert_eq!(
            found.unwrap(),
            CommitFound::Stopped("missing build prerequisites: lowdown (lowdown)".into())
        );
    }

    #[test]
    fn git_bisect_output_is_read_for_its_conclusion() {
        let id = "a".repeat(40);
        assert_eq!(
            parse(
                true,
                &format!("{id} is the first bad commit\ncommit {id}\n")
            ),
            GitSays::First(id.clone())
        );
        assert_eq!(
            parse(
                true,
                "Bisecting: 3 revisions left to test after this (roughly 2 steps)\n[abc] c5"
            ),
            GitSays::Next
        );
        assert_eq!(parse(false, &format!("There are only 'skip'ped commits left to test.\nThe first bad commit could be any of:\n{id}\nWe cannot bisect more!\n")), GitSays::AnyOf(vec![id]));
        assert!(
            matches!(parse(false, "The merge base abc is bad.\nThis means the bug has been fixed between abc and [def]."), GitSays::Stopped(m) if m.contains("merge base"))
        );
    }
}
