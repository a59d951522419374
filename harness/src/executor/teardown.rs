//! pyln-testing's teardown, on every run: before the nodes stop, each
//! developer node still up is asked for `dev-memleak`, and a leak it reports
//! fails the run unless the scenario's `broken_log` allows it. The log-line
//! oracles (BROKEN, "That's weird", MEMLEAK, bad reestablish) are read after
//! the nodes exited, from one table (`signatures::TEARDOWN_ORACLES`).

use super::driver::Driver;
use crate::outcome::{Finding, OutcomeKind, StepRef};
use serde_json::{json, Value};
use std::time::Duration;

/// `dev-memleak` walks every daemon's allocations: generous, but bounded.
const MEMLEAK_TIMEOUT: Duration = Duration::from_secs(10);

/// The leaks a `dev-memleak` answer lists, each as one line a signature
/// and an allow-list can match: `MEMLEAK: <label> (<subdaemon>)`. Pure.
pub fn leaks(answer: &Value) -> Vec<String> {
    answer["leaks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let label = l["label"].as_str().unwrap_or("?");
            match l["subdaemon"].as_str() {
                Some(d) => format!("MEMLEAK: {label} ({d})"),
                None => format!("MEMLEAK: {label}"),
            }
        })
        .collect()
}

impl Driver<'_> {
    /// `dev-memleak` on each developer node still running. A node that is
    /// not a developer node (or a version without the command) answers with
    /// an error, which is no finding: the oracle only speaks where it can.
    ///
    /// Only on a run with no finding yet: a run that already failed keeps
    /// its cause as its headline, and a hung node would only make the call
    /// wait out its timeout (seen: a frozen lightningd's run took 30 s more).
    pub(super) async fn memleaks(&mut self) {
        if !self.rec.findings.is_empty() {
            return;
        }
        let allowed: Vec<regex::Regex> = self
            .scenario
            .broken_log
            .iter()
            .filter_map(|p| regex::Regex::new(p).ok())
            .collect();
        let at = StepRef {
            index: "end".into(),
            name: "dev-memleak".into(),
        };
        self.rec.phase("checking for leaks (dev-memleak)");
        let redactor = self.world.net.redactor();
        // All nodes at once: each scan walks its own daemons' allocations
        // (a few hundred ms a node), so one at a time added up on every run.
        let up: Vec<usize> = (self.world.net.nodes.iter_mut().enumerate())
            .filter_map(|(i, n)| (n.config.developer && n.is_running()).then_some(i))
            .collect();
        let nodes = &self.world.net.nodes;
        let asked = up.iter().map(|&i| &nodes[i]).map(|n| async move {
            let answer = n.call("dev-memleak", json!({}), MEMLEAK_TIMEOUT).await;
            (n.name.clone(), answer)
        });
        let mut found = vec![];
        for (node, answer) in futures_util::future::join_all(asked).await {
            let Ok(answer) = answer else { continue };
            for leak in leaks(&answer).iter().map(|l| redactor.redact(l)) {
                if !allowed.iter().any(|re| re.is_match(&leak)) {
                    found.push((node.clone(), leak));
                }
            }
        }
        for (node, leak) in found {
            let detail = format!(
                "{node} leaks memory (dev-memleak; no `broken_log` pattern allows it): {leak}"
            );
            let mut f = Finding::new(OutcomeKind::Fail, Some(at.clone()), Some(node), detail);
            f.signature = Some(leak);
            self.rec.finding(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dev_memleak_answer_lists_each_leak_with_its_daemon() {
        // The shape lightningd's dev-memleak returns (doc/lightning-dev-memleak).
        let answer = json!({"leaks": [
            {"value": "0x5581", "label": "lightningd/peer_htlcs.c:123:struct htlc_in", "backtrace": [], "parents": []},
            {"value": "0x5582", "label": "common/msg_queue.c:10:struct msg_queue", "subdaemon": "channeld", "backtrace": []}
        ]});
        assert_eq!(
            leaks(&answer),
            [
                "MEMLEAK: lightningd/peer_htlcs.c:123:struct htlc_in",
                "MEMLEAK: common/msg_queue.c:10:struct msg_queue (channeld)"
            ]
        );
        assert!(leaks(&json!({"leaks": []})).is_empty());
        assert!(leaks(&json!({})).is_empty());
    }
}
