//! Steps over a node's log: `wait_log` (consumes the line it matched, like
//! pyln's `wait_for_logs`) and `assert_log` (the whole log, consumes
//! nothing).
//!
//! lightningd appends every start's lines to one `log` file. A `wait_log`
//! searches only lines written by the node's current process (from the
//! offset its start began at) and after the last line an earlier
//! `wait_log` on that node matched (its cursor): two `wait_log`s for a line
//! printed once do not both pass. A restart's lines begin past any
//! earlier cursor, so after a restart a `wait_log` sees exactly the new
//! process's lines, as it always did.

use super::steps::{env, secs, StepError, World};
use crate::poll::{poll_until, Look, TimedOut};
use regex::Regex;
use serde_json::{json, Value};
use std::time::Duration;

/// A line of the log and where the next search begins: the byte after
/// its newline.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Matched {
    pub line: String,
    pub next: u64,
}

/// The first line of `log` starting at or after byte `from` that `re`
/// matches. Lines are cut at `\n` (a trailing `\r` dropped), each read as
/// UTF-8 with invalid bytes replaced, as `str::lines` would show them.
pub(super) fn next_match(log: &[u8], from: u64, re: &Regex) -> Option<Matched> {
    let from = usize::try_from(from).ok()?;
    let mut start = from;
    for raw in log.get(from..)?.split(|&c| c == b'\n') {
        let next = start + raw.len() + 1;
        // `split` yields an empty piece after a final newline: no line.
        if raw.is_empty() && next > log.len() {
            break;
        }
        let text = String::from_utf8_lossy(raw);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if re.is_match(text) {
            return Some(Matched {
                line: text.to_string(),
                next: next as u64,
            });
        }
        start = next;
    }
    None
}

/// The log's last line from byte `from` on, for a timeout's message.
fn last_line(log: &[u8], from: u64) -> Option<String> {
    let tail = log.get(usize::try_from(from).ok()?..)?;
    String::from_utf8_lossy(tail)
        .lines()
        .last()
        .map(String::from)
}

impl World<'_> {
    pub(super) async fn wait_log(
        &mut self,
        node: &str,
        pattern: &str,
        timeout: Duration,
    ) -> Result<Value, StepError> {
        let re = Regex::new(pattern).map_err(env)?;
        let n = self.net.node(node).map_err(env)?;
        let path = n.log_file();
        // Only what the current process wrote (an earlier start's line
        // must not satisfy a wait after a restart), and nothing an earlier
        // wait_log already matched.
        let cursor = self.log_cursors.get(node).copied().unwrap_or(0);
        let from = n.log_offset_at_start().max(cursor);
        let found = poll_until(timeout, Duration::from_millis(50), || {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let look = match next_match(&bytes, from, &re) {
                Some(m) => Look::Ready(m),
                None => Look::NotYet(last_line(&bytes, from)),
            };
            async move { look }
        })
        .await;
        match found {
            Ok(Matched { line, next }) => {
                self.log_cursors.insert(node.to_string(), next);
                Ok(json!({"line": line}))
            }
            Err(TimedOut { after, last }) => Err(StepError::Fail(format!(
                "no line matching /{pattern}/ in {node}'s log within {}; its last line: {}",
                secs(after),
                last.flatten()
                    .map_or("(none)".into(), |l| crate::text::truncate(l.trim(), 300))
            ))),
        }
    }

    pub(super) fn assert_log(
        &self,
        node: &str,
        pattern: &str,
        present: bool,
    ) -> Result<Value, StepError> {
        let re = Regex::new(pattern).map_err(env)?;
        let path = self.net.node(node).map_err(env)?.log_file();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        match (text.lines().find(|l| re.is_match(l)), present) {
            (Some(l), true) => Ok(json!({"line": l})),
            (None, false) => Ok(json!({})),
            (None, true) => Err(StepError::Fail(format!(
                "expected a line matching /{pattern}/ in {node}'s log; none found"
            ))),
            (Some(l), false) => Err(StepError::Fail(format!(
                "expected no line matching /{pattern}/ in {node}'s log; found: {}",
                l.trim()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] = b"INFO lightningd: Server started\r\nDEBUG x: tick\nINFO lightningd: Server started\nDEBUG x: tock";

    fn re(p: &str) -> Regex {
        Regex::new(p).unwrap()
    }

    #[test]
    fn a_second_wait_for_a_line_printed_once_does_not_match_it_again() {
        let log = b"INFO lightningd: Server started\nDEBUG x: tick\n";
        let first = next_match(log, 0, &re("Server started")).unwrap();
        assert_eq!(first.line, "INFO lightningd: Server started");
        assert_eq!(next_match(log, first.next, &re("Server started")), None);
    }

    #[test]
    fn each_wait_takes_the_next_matching_line_in_order() {
        let first = next_match(LOG, 0, &re("Server started")).unwrap();
        assert_eq!(first.line, "INFO lightningd: Server started");
        let second = next_match(LOG, first.next, &re("Server started")).unwrap();
        assert_eq!(second.line, "INFO lightningd: Server started");
        assert!(second.next > first.next);
        assert_eq!(next_match(LOG, second.next, &re("Server started")), None);
        // A line without its newline yet still counts; nothing lies past it.
        let tock = next_match(LOG, second.next, &re("tock")).unwrap();
        assert_eq!(tock.line, "DEBUG x: tock");
        assert_eq!(next_match(LOG, tock.next, &re("")), None);
    }

    #[test]
    fn the_search_starts_at_the_given_offset_and_past_the_end_finds_nothing() {
        let start = LOG.len() as u64 - "DEBUG x: tock".len() as u64;
        assert_eq!(next_match(LOG, start, &re("Server")), None);
        assert_eq!(next_match(LOG, LOG.len() as u64 + 5, &re("")), None);
        assert_eq!(last_line(LOG, start).as_deref(), Some("DEBUG x: tock"));
        assert_eq!(last_line(LOG, LOG.len() as u64 + 5), None);
    }
}
