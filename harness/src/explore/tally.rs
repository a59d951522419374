//! What an exploration's runs found so far, as they come in: counted, said
//! in progress lines, and filed under their one-bug key.

use super::program::Program;
use super::{Finding, Observed};
use crate::outcome::OutcomeKind;

/// What the runs so far found, as they come in.
#[derive(Default)]
pub(super) struct Tally {
    /// Each distinct finding, the program of its first hit and the step
    /// that program failed at.
    pub found: Vec<(Finding, Program, Option<usize>)>,
    pub runs: u64,
    pub errors: u64,
    pub first_finding: Option<f64>,
    pub oracles: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    /// One finished run: counted, said in one progress line (two when it
    /// found something or could not run), and filed under its key.
    pub fn add(&mut self, p: Program, v: Observed, elapsed: f64, progress: &mut dyn FnMut(&str)) {
        self.runs += 1;
        progress(&format!(
            "run {:>3}  {:>5.1} runs/min  seed {:<20} {:>2} steps  {:<5} {}",
            self.runs,
            self.runs as f64 / (elapsed / 60.0).max(1e-9),
            p.seed,
            p.steps(),
            v.outcome.as_str(),
            v.key
                .as_deref()
                .map(|k| crate::text::truncate(k, 90))
                .unwrap_or_default()
        ));
        if v.outcome == OutcomeKind::Error {
            self.errors += 1;
            progress(&format!(
                "         error: {}",
                crate::text::truncate(&v.detail, 300)
            ));
            return;
        }
        let Some(key) = v.key else { return };
        progress(&format!(
            "         {}",
            crate::text::truncate(v.detail.lines().next().unwrap_or_default(), 300)
        ));
        self.first_finding.get_or_insert(elapsed);
        let oracle = v.oracle.unwrap_or("step failed");
        *self.oracles.entry(oracle.into()).or_default() += 1;
        match self.found.iter_mut().find(|(f, _, _)| f.key == key) {
            Some((f, _, _)) => {
                f.hits += 1;
                f.seeds.push(p.seed);
                if f.ranges.len() == v.values.len() {
                    for ((lo, hi), x) in f.ranges.iter_mut().zip(&v.values) {
                        (*lo, *hi) = ((*lo).min(*x), (*hi).max(*x));
                    }
                }
            }
            None => self.found.push((
                Finding {
                    key,
                    outcome: v.outcome.as_str().into(),
                    seeds: vec![p.seed],
                    hits: 1,
                    ranges: v.values.iter().map(|x| (*x, *x)).collect(),
                    oracle: oracle.into(),
                    also_on_base: false,
                    file: None,
                    lines: 0,
                    reproduced: false,
                },
                p,
                v.failed_at,
            )),
        }
    }
}
