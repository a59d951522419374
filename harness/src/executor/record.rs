//! What a run records: one [`StepRecord`] per step, the findings, and the
//! progress events for people. Knows nothing of the network.

use crate::outcome::{Finding, OutcomeKind, StepRef};
use std::time::Instant;

/// One step as it ran.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepRecord {
    pub step: StepRef,
    pub node: Option<String>,
    pub status: OutcomeKind,
    pub elapsed_ms: u128,
    pub detail: String,
    /// Wall-clock offset from the start of the run.
    pub at_ms: u128,
}

/// A line of progress for the human output.
pub enum Event<'a> {
    Phase(&'a str),
    StepEnded(&'a StepRecord),
}

/// Time spent in one kind of phase over the whole run (several `opening`
/// phases add up), for `--json` and `ci/bench.sh`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PhaseTime {
    pub phase: &'static str,
    pub ms: u128,
}

/// The stable key of a progress message: `funding alice` → `fund`.
pub fn phase_key(msg: &str) -> &'static str {
    const KEYS: [(&str, &str); 17] = [
        ("recording the setup", "setup_record"),
        ("resolving", "resolve"),
        ("restoring fixture", "restore"),
        ("reconnecting the fixture", "channel_normal"),
        ("recording fixture", "record"),
        ("starting bitcoind", "bitcoind"),
        ("starting PostgreSQL", "postgres"),
        ("starting electrs", "electrs"),
        ("starting ", "start_nodes"),
        ("funding", "fund"),
        ("opening", "open"),
        ("confirming", "confirm"),
        ("waiting for gossip", "gossip"),
        ("waiting for", "channel_normal"),
        ("running steps", "steps"),
        ("checking for leaks", "memleak"),
        ("stopping", "stop"),
    ];
    KEYS.iter()
        .find(|(prefix, _)| msg.starts_with(prefix))
        .map_or("other", |(_, k)| k)
}

/// Sum the time between consecutive phase marks per key; the last phase
/// runs until `end_ms`.
pub fn phase_times(marks: &[(&'static str, u128)], end_ms: u128) -> Vec<PhaseTime> {
    let mut out: Vec<PhaseTime> = Vec::new();
    for (i, (key, at)) in marks.iter().enumerate() {
        let until = marks.get(i + 1).map_or(end_ms, |(_, next)| *next);
        let ms = until.saturating_sub(*at);
        match out.iter_mut().find(|p| p.phase == *key) {
            Some(p) => p.ms += ms,
            None => out.push(PhaseTime { phase: key, ms }),
        }
    }
    out
}

pub struct Recorder<'a> {
    pub steps: Vec<StepRecord>,
    pub findings: Vec<Finding>,
    pub started: Instant,
    /// (phase key, ms since start) of every progress mark.
    pub phase_marks: Vec<(&'static str, u128)>,
    on_event: &'a mut dyn FnMut(Event),
}

impl<'a> Recorder<'a> {
    pub fn new(started: Instant, on_event: &'a mut dyn FnMut(Event)) -> Recorder<'a> {
        Recorder {
            steps: vec![],
            findings: vec![],
            started,
            phase_marks: vec![],
            on_event,
        }
    }

    pub fn phase(&mut self, msg: &str) {
        self.phase_marks.push((phase_key(msg), self.elapsed_ms()));
        (self.on_event)(Event::Phase(msg));
    }

    pub fn finding(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub fn step(&mut self, record: StepRecord) {
        (self.on_event)(Event::StepEnded(&record));
        self.steps.push(record);
    }

    pub fn elapsed_ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up_per_key() {
        let marks = [
            ("bitcoind", 0),
            ("start_nodes", 200),
            ("open", 700),
            ("open", 800),
            ("stop", 1000),
        ];
        let t = phase_times(&marks, 1100);
        assert_eq!(
            t,
            [
                PhaseTime {
                    phase: "bitcoind",
                    ms: 200
                },
                PhaseTime {
                    phase: "start_nodes",
                    ms: 500
                },
                PhaseTime {
                    phase: "open",
                    ms: 300
                },
                PhaseTime {
                    phase: "stop",
                    ms: 100
                },
            ]
        );
        assert_eq!(phase_key("funding alice, carol"), "fund");
        assert_eq!(
            phase_key("waiting for alice ↔ bob to be CHANNELD_NORMAL"),
            "channel_normal"
        );
        assert_eq!(
            phase_key("waiting for gossip to reach every node"),
            "gossip"
        );
    }
}
