//! From what happened to exactly one outcome, and from the outcome to the
//! exit code. Pure.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    Pass,
    /// An expectation did not hold.
    Fail,
    /// A step did not finish within its timeout.
    Hang,
    /// A node died unexpectedly.
    Crash,
    /// The environment could not run the scenario (missing binary, bitcoind
    /// would not start, an option the binary lacks). Never a product failure.
    Error,
}

impl OutcomeKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OutcomeKind::Pass => "pass",
            OutcomeKind::Fail => "fail",
            OutcomeKind::Hang => "hang",
            OutcomeKind::Crash => "crash",
            OutcomeKind::Error => "error",
        }
    }
}

/// What a command concluded: a run's outcome, input it could not use
/// (a bad scenario file, bad arguments, an unreadable database), or a
/// bisect's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Outcome(OutcomeKind),
    BadInput,
    Bisect(crate::bisect::Answer),
}

impl From<crate::bisect::Answer> for Verdict {
    fn from(a: crate::bisect::Answer) -> Verdict {
        Verdict::Bisect(a)
    }
}

impl From<OutcomeKind> for Verdict {
    fn from(k: OutcomeKind) -> Verdict {
        Verdict::Outcome(k)
    }
}

/// The exit codes, named (as nextest's `exit_codes.rs`): a contract with
/// `git bisect run`, CI and scripts, so only this module writes the numbers
/// and everything else names them (`tests/tidy.rs` checks it).
pub struct ExitCode;

impl ExitCode {
    /// Everything held: a run passed, a gate's cells all met their
    /// expectations, a bisect found its build. CI goes green; `git bisect
    /// run` marks the commit good.
    pub const PASS: i32 = 0;
    /// Core Lightning misbehaved: a crash, hang or failed expectation, a
    /// finding of `explore` or `check-db`, a bisect whose ends are not as
    /// claimed. CI fails; `git bisect run` marks the commit bad.
    pub const FAIL: i32 = 1;
    /// The input cannot be used: a bad scenario file, bad arguments, an
    /// unreadable database. The user fixes it; never an answer about Core
    /// Lightning (so a bisect never exits with it for a product answer).
    pub const BAD_INPUT: i32 = 2;
    /// The environment could not test (a missing binary, bitcoind would not
    /// start, a build that failed): `git bisect run` skips the commit; CI
    /// looks at the machine, not the product.
    pub const COULD_NOT_TEST: i32 = 125;
}

/// The one place exit codes come from (`run`, `up`, `check-db`, `list`,
/// `binaries`, the gate, `explore` and the runner all call it): a `git
/// bisect run` predicate. [`ExitCode::PASS`] pass, [`ExitCode::FAIL`]
/// crash/hang/fail, [`ExitCode::BAD_INPUT`] bad input,
/// [`ExitCode::COULD_NOT_TEST`] environment error ("can't test this
/// commit": bisect skips it).
///
/// A bisect's answer keeps the same meanings: PASS it found the build, FAIL
/// the product does not behave as the ends claim (still failing at the newer
/// end of `--find-fix`, a good end that fails, a bad end that passes):
/// that is an answer about Core Lightning, never bad input; COULD_NOT_TEST
/// it could not test what the answer hangs on (an end, or the builds skips
/// left between the two behaviours).
pub fn exit_code(v: impl Into<Verdict>) -> i32 {
    use crate::bisect::Answer;
    match v.into() {
        Verdict::Outcome(OutcomeKind::Pass) => ExitCode::PASS,
        Verdict::Outcome(OutcomeKind::Fail | OutcomeKind::Hang | OutcomeKind::Crash) => {
            ExitCode::FAIL
        }
        Verdict::BadInput => ExitCode::BAD_INPUT,
        Verdict::Outcome(OutcomeKind::Error) => ExitCode::COULD_NOT_TEST,
        Verdict::Bisect(Answer::FirstBad | Answer::FirstFixed) => ExitCode::PASS,
        Verdict::Bisect(Answer::NotFixed | Answer::EndsWrong) => ExitCode::FAIL,
        Verdict::Bisect(Answer::AmongSkipped | Answer::CouldNotTest) => ExitCode::COULD_NOT_TEST,
    }
}

/// How much an exit code says when several are combined: any product
/// failure beats bad input, which beats an environment error, which beats
/// a pass.
fn severity(code: i32) -> u8 {
    match code {
        ExitCode::PASS => 0,
        ExitCode::COULD_NOT_TEST => 1,
        ExitCode::BAD_INPUT => 2,
        _ => 3,
    }
}

/// Several runs in one command: the most severe of their exit codes.
pub fn worst_exit_code(codes: impl IntoIterator<Item = i32>) -> i32 {
    codes
        .into_iter()
        .max_by_key(|c| severity(*c))
        .unwrap_or(ExitCode::PASS)
}

/// Several verdicts in one command (a gate's cells): the one whose exit
/// code is most severe, as [`worst_exit_code`] ranks them; a pass when there
/// are none.
pub fn worst<V: Into<Verdict>>(verdicts: impl IntoIterator<Item = V>) -> Verdict {
    verdicts
        .into_iter()
        .map(Into::into)
        .max_by_key(|v| severity(exit_code(*v)))
        .unwrap_or(Verdict::Outcome(OutcomeKind::Pass))
}

/// Where in the scenario something was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRef {
    /// `3`, or `2.1` inside a repeat (with the iteration: `2.1#3`).
    pub index: String,
    pub name: String,
}

/// One problem found during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: OutcomeKind,
    pub step: Option<StepRef>,
    pub node: Option<String>,
    /// What happened, for people: expected vs actual, exit status, timeout.
    pub detail: String,
    /// The log signature this finding is about, when it is about one (an
    /// unexpected BROKEN line): the report leads with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Finding {
    pub fn new(
        kind: OutcomeKind,
        step: Option<StepRef>,
        node: Option<String>,
        detail: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            step,
            node,
            detail: detail.into(),
            signature: None,
        }
    }

    /// A BROKEN (or "That's weird") line no `broken_log` regex allows:
    /// pyln-testing's teardown rule, a `fail`.
    /// One of the node's processes crashed (a subdaemon or plugin can die
    /// while lightningd lives on).
    pub fn process_crashed(node: &str, text: &str) -> Finding {
        Finding {
            kind: OutcomeKind::Crash,
            step: None,
            node: Some(node.to_string()),
            detail: format!("a process of {node} crashed: {text}"),
            signature: Some(text.to_string()),
        }
    }

    /// A teardown oracle's line (`what`: "a BROKEN line", "a bad
    /// reestablish", ...) that the scenario's `broken_log` does not allow.
    pub fn unexpected_broken(node: &str, what: &str, text: &str) -> Finding {
        Finding {
            kind: OutcomeKind::Fail,
            step: None,
            node: Some(node.to_string()),
            detail: format!("{node} logged {what} no `broken_log` pattern allows: {text}"),
            signature: Some(text.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub step: Option<StepRef>,
    pub node: Option<String>,
    pub detail: String,
    pub signature: Option<String>,
}

/// The run's outcome, decided here alone: the most severe finding,
/// earliest first among equals (crash over hang over fail). Findings from
/// the evidence (unexpected BROKEN lines) come after the steps' findings, so
/// a failed step is named before a BROKEN line, and a death before both.
/// An environment error wins only if it came before any product failure (a
/// node that crashed and then couldn't restart is a crash).
pub fn classify(findings: &[Finding]) -> Outcome {
    let first_product = findings.iter().position(|f| f.kind != OutcomeKind::Error);
    let first_error = findings.iter().position(|f| f.kind == OutcomeKind::Error);
    let pick = match (first_error, first_product) {
        (Some(e), Some(p)) if e < p => Some(&findings[e]),
        (Some(e), None) => Some(&findings[e]),
        _ => {
            let rank = |k: OutcomeKind| match k {
                OutcomeKind::Crash => 3,
                OutcomeKind::Hang => 2,
                OutcomeKind::Fail => 1,
                _ => 0,
            };
            let best = findings.iter().map(|f| rank(f.kind)).max().unwrap_or(0);
            findings.iter().find(|f| rank(f.kind) == best && best > 0)
        }
    };
    match pick {
        Some(f) => Outcome {
            kind: f.kind,
            step: f.step.clone(),
            node: f.node.clone(),
            detail: f.detail.clone(),
            signature: f.signature.clone(),
        },
        None => Outcome {
            kind: OutcomeKind::Pass,
            step: None,
            node: None,
            detail: "all expectations held".into(),
            signature: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: OutcomeKind, detail: &str) -> Finding {
        Finding::new(kind, None, Some("alice".into()), detail)
    }

    #[test]
    fn no_findings_is_a_pass() {
        assert_eq!(classify(&[]).kind, OutcomeKind::Pass);
        assert_eq!(exit_code(OutcomeKind::Pass), 0);
    }

    #[test]
    fn a_flagged_database_then_a_crash_is_a_crash() {
        // #8269: check-db flags alice's DB right after the upgrade (soft),
        // then the next keysend kills her.
        let o = classify(&[
            f(OutcomeKind::Fail, "check-db"),
            f(OutcomeKind::Crash, "SIGABRT"),
        ]);
        assert_eq!(o.kind, OutcomeKind::Crash);
        assert_eq!(exit_code(o.kind), 1);
    }

    /// The bug report: after a `soft` step failed, the headline named the
    /// soft failure instead of the node's death.
    #[test]
    fn a_death_after_a_soft_failure_is_the_headline() {
        let o = classify(&[
            f(OutcomeKind::Fail, "soft check_db"),
            f(OutcomeKind::Crash, "alice died (signal 11 (SIGSEGV))"),
        ]);
        assert_eq!(
            (o.kind, o.detail.as_str()),
            (OutcomeKind::Crash, "alice died (signal 11 (SIGSEGV))")
        );
    }

    #[test]
    fn an_unexpected_broken_line_fails_a_run_and_names_its_signature() {
        let o = classify(&[Finding::unexpected_broken(
            "bob",
            "a BROKEN line",
            "lightningd: oops",
        )]);
        assert_eq!(
            (o.kind, o.signature.as_deref()),
            (OutcomeKind::Fail, Some("lightningd: oops"))
        );
        // ...but a step that failed first is the headline.
        let o = classify(&[
            f(OutcomeKind::Fail, "step 3"),
            Finding::unexpected_broken("bob", "a BROKEN line", "lightningd: oops"),
        ]);
        assert_eq!(o.detail, "step 3");
    }

    #[test]
    fn exit_codes_are_the_bisect_contract() {
        // The numbers themselves are the contract: written once, here.
        assert_eq!(
            (
                ExitCode::PASS,
                ExitCode::FAIL,
                ExitCode::BAD_INPUT,
                ExitCode::COULD_NOT_TEST
            ),
            (0, 1, 2, 125)
        );
        assert_eq!(exit_code(OutcomeKind::Pass), 0);
        for k in [OutcomeKind::Fail, OutcomeKind::Hang, OutcomeKind::Crash] {
            assert_eq!(exit_code(k), 1);
        }
        assert_eq!(exit_code(Verdict::BadInput), 2);
        assert_eq!(exit_code(OutcomeKind::Error), 125);
        assert_eq!(worst_exit_code([0, 125, 2]), 2);
        assert_eq!(worst_exit_code([125, 1, 0]), 1);
        assert_eq!(worst_exit_code([0, 125]), 125);
        assert_eq!(worst_exit_code([]), 0);
        assert_eq!(
            worst([OutcomeKind::Pass, OutcomeKind::Error, OutcomeKind::Fail]),
            Verdict::Outcome(OutcomeKind::Fail)
        );
        assert_eq!(
            worst([OutcomeKind::Pass, OutcomeKind::Error]),
            Verdict::Outcome(OutcomeKind::Error)
        );
        assert_eq!(
            worst::<OutcomeKind>([]),
            Verdict::Outcome(OutcomeKind::Pass)
        );
    }

    /// The issue: "not fixed in any of these labels" exited 2, which the
    /// README reserves for bad input.
    #[test]
    fn bisect_answers_keep_the_contract_and_never_claim_bad_input() {
        use crate::bisect::Answer::*;
        assert_eq!(exit_code(FirstBad), 0);
        assert_eq!(exit_code(FirstFixed), 0);
        assert_eq!(exit_code(NotFixed), 1);
        assert_eq!(exit_code(EndsWrong), 1);
        assert_eq!(exit_code(AmongSkipped), 125);
        assert_eq!(exit_code(CouldNotTest), 125);
        for a in [
            FirstBad,
            FirstFixed,
            NotFixed,
            EndsWrong,
            AmongSkipped,
            CouldNotTest,
        ] {
            assert_ne!(exit_code(a), exit_code(Verdict::BadInput), "{a:?}");
        }
    }

    #[test]
    fn a_hang_outranks_a_failed_expectation() {
        assert_eq!(
            classify(&[f(OutcomeKind::Fail, "a"), f(OutcomeKind::Hang, "b")]).kind,
            OutcomeKind::Hang
        );
    }

    #[test]
    fn environment_errors_are_never_product_failures() {
        let o = classify(&[f(OutcomeKind::Error, "no base binary")]);
        assert_eq!((o.kind, exit_code(o.kind)), (OutcomeKind::Error, 125));
        // ...but a crash before the environment broke is still a crash.
        assert_eq!(
            classify(&[f(OutcomeKind::Crash, "x"), f(OutcomeKind::Error, "y")]).kind,
            OutcomeKind::Crash
        );
    }
}
