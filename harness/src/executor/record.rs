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

pub struct Recorder<'a> {
    pub steps: Vec<StepRecord>,
    pub findings: Vec<Finding>,
    pub started: Instant,
    on_event: &'a mut dyn FnMut(Event),
}

impl<'a> Recorder<'a> {
    pub fn new(started: Instant, on_event: &'a mut dyn FnMut(Event)) -> Recorder<'a> {
        Recorder { steps: vec![], findings: vec![], started, on_event }
    }

    pub fn phase(&mut self, msg: &str) {
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
