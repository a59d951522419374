//! What a bisect prints once it has answered (pure: tested on fake reports).
//! Each tested entry's own line is [`super::Tested::line`], printed as it comes.

use super::BisectReport;

/// The summary after the per-entry lines: the answer, its commit and
/// subject, signature, what the builds cost, the rerun command.
pub fn summary(report: &BisectReport) -> String {
    let mut out = Vec::new();
    if let Some(first) = &report.first {
        match (&report.commit, &report.subject) {
            (Some(c), Some(subject)) => {
                out.push(format!("{}: {first} ({c})", report.question));
                out.push(format!("  subject: {subject}"));
            }
            _ => out.push(format!("{}: {first}", report.question)),
        }
        if let Some(sig) = &report.signature {
            out.push(format!("  signature: {sig}"));
        }
    }
    if let Some(builds) = builds_line(report) {
        out.push(format!("  {builds}"));
    }
    if let Some(cmd) = &report.rerun {
        out.push(format!("  rerun: {cmd}"));
    }
    out.join("\n")
}

/// `builds: 1 clean, 6 incremental, 2 reused; 812s building, 104s testing`
/// (commit bisects only).
fn builds_line(report: &BisectReport) -> Option<String> {
    let steps: Vec<_> = report
        .tested
        .iter()
        .filter_map(|t| t.build.as_ref())
        .collect();
    if report.builds.is_none() && steps.is_empty() {
        return None;
    }
    let mut counts = Vec::new();
    for (kind, word) in [
        ("clean", "clean"),
        ("incremental", "incremental"),
        ("reuse", "reused"),
        ("failed", "failed"),
    ] {
        let n = steps.iter().filter(|s| s.kind == kind).count();
        if n > 0 {
            counts.push(format!("{n} {word}"));
        }
    }
    let building: f64 = steps.iter().map(|s| s.seconds).sum();
    let testing: f64 = report.tested.iter().map(|t| t.seconds).sum();
    Some(format!(
        "builds: {}; {building:.0}s building, {testing:.0}s testing, {} tested",
        if counts.is_empty() {
            "none".to_string()
        } else {
            counts.join(", ")
        },
        report.tested.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bisect::{Answer, BuildStep, Mark, Tested};
    use crate::outcome::OutcomeKind;

    fn tested(label: &str, kind: &'static str, build: f64, run: f64) -> Tested {
        Tested {
            label: label.into(),
            commit: None,
            mark: Mark::Old,
            outcomes: vec![OutcomeKind::Pass],
            signature: None,
            reason: None,
            seconds: run,
            build: Some(BuildStep {
                kind,
                seconds: build,
                fallback: None,
            }),
        }
    }

    fn report(tested: Vec<Tested>) -> BisectReport {
        BisectReport {
            scenario: "s.toml".into(),
            role: "candidate".into(),
            question: "first bad",
            answer: Answer::FirstBad,
            tested,
            first: Some("v25.02-140-g186a9383d".into()),
            commit: Some("186a9383d".into()),
            subject: Some("wallet: a change".into()),
            builds: Some(2),
            note: None,
            signature: Some("UNIQUE constraint failed: channel_htlcs.id".into()),
            rerun: Some(
                "cln-harness run s.toml --lightningd candidate=v25.02-140-g186a9383d".into(),
            ),
        }
    }

    /// The issue: the bisect log shows per commit whether it was a reuse,
    /// an incremental or a clean build, and the seconds each took.
    #[test]
    fn each_commit_line_and_the_summary_say_how_it_was_built_and_in_how_long() {
        let r = report(vec![
            tested("v25.02.1", "reuse", 0.0, 12.0),
            tested("v25.02-160-gaaaa", "clean", 400.0, 11.0),
            tested("v25.02-80-gbbbb", "incremental", 70.0, 11.0),
        ]);
        assert!(
            r.tested[2].line().starts_with(
                "v25.02-80-gbbbb          old   pass                 incremental 70s     11.0s"
            ),
            "{}",
            r.tested[2].line()
        );
        assert_eq!(
            summary(&r),
            "first bad: v25.02-140-g186a9383d (186a9383d)\n  subject: wallet: a change\n  \
             signature: UNIQUE constraint failed: channel_htlcs.id\n  \
             builds: 1 clean, 1 incremental, 1 reused; 470s building, 34s testing, 3 tested\n  \
             rerun: cln-harness run s.toml --lightningd candidate=v25.02-140-g186a9383d"
        );
        let json = serde_json::to_value(&r.tested[1]).unwrap();
        assert_eq!(json["build"]["kind"], "clean");
        assert_eq!(json["build"]["seconds"], 400.0);
    }

    #[test]
    fn a_label_bisect_has_no_build_column_or_line() {
        let mut t = tested("v25.05", "reuse", 0.0, 1.0);
        t.build = None;
        let mut r = report(vec![t]);
        r.builds = None;
        assert!(!summary(&r).contains("builds:"));
        assert!(r.tested[0]
            .line()
            .starts_with("v25.05                   old   pass                    1.0s"));
    }
}
