//! `parallel`: every inner step started at once and awaited together, so
//! requests race each other and (at most) one step that changes the
//! network, e.g. keysends racing a `restart`.
//!
//! [`World::parallel`] does the steps: each request is built first (its
//! `${...}` resolved against the bindings as the `parallel` starts) into a
//! [`Request`] that owns its socket path and request, so the requests are
//! sent, each on its own connection, while the one network change runs
//! through [`World::execute`] on the borrowed world; all are polled
//! together. [`Driver::run_parallel`] then treats each answer as the
//! driver treats a step's (settled, its expectations checked, what it did
//! to liveness), and [`combine`] makes them one step's result: the inner
//! answers in order, or the failure that names the inner step.

use super::driver::{guard, step_title, Driver};
use super::rpc_steps::Request;
use super::steps::{secs, StepError, World};
use crate::scenario::values::Bindings;
use crate::scenario::{Action, Step};
use futures_util::future::join_all;
use serde_json::Value;
use std::time::Duration;

impl World<'_> {
    /// Each inner step's own result, in order, before expectations. An
    /// inner step's timeout is its own, else the `parallel`'s.
    pub(super) async fn parallel(
        &mut self,
        steps: &[Step],
        b: &Bindings,
        timeout: Duration,
    ) -> Vec<Result<Value, StepError>> {
        let mut requests: Vec<(usize, Result<Request, StepError>)> = Vec::new();
        let mut change: Option<(usize, &Action, Duration)> = None;
        for (i, s) in steps.iter().enumerate() {
            let timeout = s.timeout.unwrap_or(timeout);
            if s.action.changes_network() {
                change = Some((i, &s.action, timeout));
            } else {
                requests.push((i, self.request(&s.action, b, timeout)));
            }
        }
        let sent = join_all(requests.into_iter().map(|(i, request)| async move {
            match request {
                Ok(r) => (i, r.send(b).await),
                Err(e) => (i, Err(e)),
            }
        }));
        let changed = async {
            match change {
                Some((i, action, timeout)) => Some((i, self.execute(action, b, timeout).await)),
                None => None,
            }
        };
        let (sent, changed) = tokio::join!(sent, changed);
        let mut results: Vec<Option<Result<Value, StepError>>> =
            steps.iter().map(|_| None).collect();
        for (i, r) in sent.into_iter().chain(changed) {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(StepError::Env(
                        "internal: an inner step of a parallel was never run".into(),
                    ))
                })
            })
            .collect()
    }
}

impl Driver<'_> {
    /// A `parallel` step: its inner steps run at once (under one guard),
    /// then each answer is judged as a step's would be, in order.
    pub(super) async fn run_parallel(
        &mut self,
        steps: &[Step],
        timeout: Duration,
    ) -> Result<Value, StepError> {
        for s in steps {
            self.before_change(&s.action);
        }
        let is_wait = steps.iter().any(|s| s.action.is_wait());
        let results = match tokio::time::timeout(
            guard(is_wait, timeout),
            self.world.parallel(steps, &self.bindings, timeout),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => {
                return Err(StepError::Hang(format!(
                    "parallel: did not finish within {}",
                    secs(timeout)
                )))
            }
        };
        // A connection to the node this parallel restarts, stops or kills
        // broke because of that: no death to wait for.
        let cycled = steps
            .iter()
            .find(|s| s.action.starts_node() || s.action.stops_node())
            .and_then(|s| s.action.node());
        let mut answers = Vec::with_capacity(steps.len());
        for (s, result) in steps.iter().zip(results) {
            let result = match result {
                Err(StepError::ConnectionLost {
                    node, otherwise, ..
                }) if Some(node.as_str()) == cycled => Err(*otherwise),
                other => self.settled(s.action.node(), other).await,
            };
            self.after_change(&s.action, &result);
            self.await_expected_deaths(s).await;
            answers.push(self.check(s, result));
        }
        combine(steps, answers)
    }
}

/// The `parallel`'s result from its inner steps' judged answers: every
/// answer in order, or the failure of the inner step it names. When
/// several fail, the most serious names it (a crash, then a hang, then
/// the environment, then a failed expectation; the first by index among
/// equals), so a start that crashed is never reported as a keysend that
/// failed beside it; the others are counted and listed.
pub(super) fn combine(
    steps: &[Step],
    answers: Vec<Result<Value, StepError>>,
) -> Result<Value, StepError> {
    let failed: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| a.is_err())
        .map(|(i, _)| i)
        .collect();
    let Some(&lead) = failed
        .iter()
        .min_by_key(|&&i| (answers[i].as_ref().err().map_or(u8::MAX, severity), i))
    else {
        return Ok(Value::Array(
            answers.into_iter().filter_map(Result::ok).collect(),
        ));
    };
    let others: Vec<String> = failed
        .iter()
        .filter(|&&i| i != lead)
        .map(|i| format!("parallel[{i}]"))
        .collect();
    let also = match others.len() {
        0 => String::new(),
        n => format!(
            " ({n} other inner step{} failed too: {})",
            if n == 1 { "" } else { "s" },
            others.join(", ")
        ),
    };
    let prefix = format!("parallel[{lead}] ({})", step_title(&steps[lead]));
    let error = answers
        .into_iter()
        .nth(lead)
        .and_then(Result::err)
        .unwrap_or_else(|| StepError::Env("internal: the failed inner step is gone".into()));
    Err(located(error, &prefix, &also))
}

/// How serious an inner step's failure is: lower is more.
fn severity(e: &StepError) -> u8 {
    match e {
        StepError::Crash { .. } => 0,
        StepError::Hang(_) => 1,
        StepError::Env(_) => 2,
        StepError::ConnectionLost { .. } => 3,
        StepError::Rpc(_) | StepError::Fail(_) => 4,
    }
}

/// The inner step's error, of the same kind, its words preceded by which
/// inner step it is and followed by who else failed.
fn located(e: StepError, prefix: &str, also: &str) -> StepError {
    let words = |m: &str| format!("{prefix}: {m}{also}");
    match e {
        StepError::Fail(m) => StepError::Fail(words(&m)),
        StepError::Hang(m) => StepError::Hang(words(&m)),
        StepError::Env(m) => StepError::Env(words(&m)),
        StepError::Rpc(v) => {
            StepError::Fail(words(&format!("error {}", crate::text::json_brief(&v))))
        }
        StepError::Crash { node, exit, detail } => StepError::Crash {
            node,
            exit,
            detail: words(&detail),
        },
        StepError::ConnectionLost {
            node,
            detail,
            otherwise,
        } => StepError::ConnectionLost {
            node,
            detail: words(&detail),
            otherwise: Box::new(located(*otherwise, prefix, also)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn three() -> Vec<Step> {
        crate::scenario::from_str(
            "t.toml",
            r#"steps = [{ parallel = [
                { keysend = "alice", to = "bob", amount_msat = 1000 },
                { rpc = "bob", method = "listinvoices" },
                { restart = "bob" },
            ] }]"#,
        )
        .map(|s| match &s.steps[0].action {
            Action::Parallel { steps } => steps.clone(),
            other => panic!("{other:?}"),
        })
        .unwrap()
    }

    #[test]
    fn a_parallel_that_holds_answers_every_inner_answer_in_order() {
        let answers = vec![
            Ok(json!({"status": "complete"})),
            Ok(json!({"invoices": []})),
            Ok(json!({"node": "bob"})),
        ];
        assert_eq!(
            combine(&three(), answers).unwrap(),
            json!([{"status": "complete"}, {"invoices": []}, {"node": "bob"}])
        );
    }

    #[test]
    fn a_parallel_failure_names_the_inner_step_and_counts_the_others() {
        let answers = vec![
            Ok(json!({})),
            Err(StepError::Fail("expected success, got error -1".into())),
            Err(StepError::Fail("restart went wrong".into())),
        ];
        let Err(StepError::Fail(m)) = combine(&three(), answers) else {
            panic!()
        };
        assert_eq!(
            m,
            "parallel[1] (rpc bob listinvoices): expected success, got error -1 (1 other inner step failed too: parallel[2])"
        );
        let one = vec![
            Err(StepError::Fail("no route".into())),
            Ok(json!({})),
            Ok(json!({})),
        ];
        let Err(StepError::Fail(m)) = combine(&three(), one) else {
            panic!()
        };
        assert_eq!(m, "parallel[0] (keysend alice → bob): no route");
    }

    /// A crash is never hidden behind a failed request beside it.
    #[test]
    fn a_parallel_crash_outranks_an_earlier_inner_failure() {
        let answers = vec![
            Err(StepError::Fail("no route".into())),
            Ok(json!({})),
            Err(StepError::Crash {
                node: "bob".into(),
                exit: crate::process::Exit::Signal { signal: 6 },
                detail: "exited during startup".into(),
            }),
        ];
        let Err(StepError::Crash { node, detail, .. }) = combine(&three(), answers) else {
            panic!()
        };
        assert_eq!(node, "bob");
        assert_eq!(
            detail,
            "parallel[2] (restart bob): exited during startup (1 other inner step failed too: parallel[0])"
        );
    }
}
