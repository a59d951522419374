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

/// The one place exit codes come from: a `git bisect run` predicate.
/// 0 pass, 1 crash/hang/fail, 125 environment error ("can't test this
/// commit": bisect skips it). Bad scenarios and usage exit 2 in the CLI.
pub fn exit_code(kind: OutcomeKind) -> i32 {
    match kind {
        OutcomeKind::Pass => 0,
        OutcomeKind::Fail | OutcomeKind::Hang | OutcomeKind::Crash => 1,
        OutcomeKind::Error => 125,
    }
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub step: Option<StepRef>,
    pub node: Option<String>,
    pub detail: String,
}

/// The run's outcome: the most severe finding, earliest first among
/// equals. An environment error wins only if it came before any product
/// failure (a node that crashed and then couldn't restart is a crash).
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
        Some(f) => Outcome { kind: f.kind, step: f.step.clone(), node: f.node.clone(), detail: f.detail.clone() },
        None => Outcome { kind: OutcomeKind::Pass, step: None, node: None, detail: "all expectations held".into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(kind: OutcomeKind, detail: &str) -> Finding {
        Finding { kind, step: None, node: Some("alice".into()), detail: detail.into() }
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
        let o = classify(&[f(OutcomeKind::Fail, "check-db"), f(OutcomeKind::Crash, "SIGABRT")]);
        assert_eq!(o.kind, OutcomeKind::Crash);
        assert_eq!(exit_code(o.kind), 1);
    }

    #[test]
    fn a_hang_outranks_a_failed_expectation() {
        assert_eq!(classify(&[f(OutcomeKind::Fail, "a"), f(OutcomeKind::Hang, "b")]).kind, OutcomeKind::Hang);
    }

    #[test]
    fn environment_errors_are_never_product_failures() {
        let o = classify(&[f(OutcomeKind::Error, "no base binary")]);
        assert_eq!((o.kind, exit_code(o.kind)), (OutcomeKind::Error, 125));
        // ...but a crash before the environment broke is still a crash.
        assert_eq!(classify(&[f(OutcomeKind::Crash, "x"), f(OutcomeKind::Error, "y")]).kind, OutcomeKind::Crash);
    }
}
