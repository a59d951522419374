//! One time-ordered view of several logs: alice's, bob's, bitcoind's.
//!
//! lightningd writes `2026-11-26T01:06:50.241Z LEVEL ...` (milliseconds);
//! bitcoind's debug.log `2026-11-26T01:06:50Z ...` (or microseconds with
//! `-logtimemicros`). A line without a timestamp (a wrapped message, stderr
//! in between) keeps the time of the line before it, so it stays next to it.
//! Lines with equal times keep their input order: sources in the order given,
//! lines in file order.

use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Timestamp(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// None only for lines before a source's first timestamp; those sort first.
    pub time: Option<Timestamp>,
    /// The timestamp as written (or inherited from the line before), for rendering.
    pub time_text: String,
    pub source: String,
    /// The line without its leading timestamp.
    pub line: String,
    /// False when the time was inherited from the line before.
    pub own_time: bool,
}

fn ts_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z\s?").unwrap()
    })
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Parses a leading ISO-8601 UTC timestamp; returns it, its text, and the rest of the line.
pub fn parse_leading_timestamp(line: &str) -> Option<(Timestamp, &str, &str)> {
    let c = ts_re().captures(line)?;
    let n = |i: usize| c[i].parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (n(1)?, n(2)?, n(3)?, n(4)?, n(5)?, n(6)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let frac = c.get(7).map_or(0, |m| {
        let digits = m.as_str();
        digits.parse::<i64>().unwrap_or(0) * 10i64.pow(9 - digits.len() as u32)
    });
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    let whole = c.get(0).unwrap();
    let text = whole.as_str().trim_end();
    Some((
        Timestamp(secs * 1_000_000_000 + frac),
        text,
        &line[whole.end()..],
    ))
}

/// Splits one source into entries; blank lines are dropped.
pub fn entries(source: &str, text: &str) -> Vec<TimelineEntry> {
    let mut out = Vec::new();
    let mut last: Option<(Timestamp, String)> = None;
    for raw in text.lines() {
        let raw = raw.trim_end_matches('\r');
        if raw.trim().is_empty() {
            continue;
        }
        match parse_leading_timestamp(raw) {
            Some((t, tt, rest)) => {
                last = Some((t, tt.to_string()));
                out.push(TimelineEntry {
                    time: Some(t),
                    time_text: tt.to_string(),
                    source: source.to_string(),
                    line: rest.to_string(),
                    own_time: true,
                });
            }
            None => out.push(TimelineEntry {
                time: last.as_ref().map(|(t, _)| *t),
                time_text: last.as_ref().map_or_else(String::new, |(_, tt)| tt.clone()),
                source: source.to_string(),
                line: raw.to_string(),
                own_time: false,
            }),
        }
    }
    out
}

/// Merges named texts (`("alice", <her log>)`, `("bitcoind", <debug.log>)`)
/// into one list ordered by time; stable for ties.
pub fn merge(inputs: &[(String, String)]) -> Vec<TimelineEntry> {
    let mut all: Vec<TimelineEntry> = inputs
        .iter()
        .flat_map(|(name, text)| entries(name, text))
        .collect();
    all.sort_by_key(|e| e.time);
    all
}

/// `"<time> <name>: <line>"`, one per line. Entries without any time get a
/// `-` in place of it; inherited times are repeated so every line sorts.
pub fn render(entries: &[TimelineEntry]) -> String {
    let mut s = String::new();
    for e in entries {
        let t = if e.time_text.is_empty() {
            "-"
        } else {
            &e.time_text
        };
        s.push_str(&format!("{t} {}: {}\n", e.source, e.line));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> String {
        let path = format!("{}/../fixtures/evidence/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn timestamps_of_lightningd_and_bitcoind_compare_on_one_clock() {
        let (ms, _, rest) =
            parse_leading_timestamp("2026-11-26T01:06:50.241Z **BROKEN** lightningd: x").unwrap();
        let (s, _, _) =
            parse_leading_timestamp("2026-11-26T01:06:50Z [rpc] ThreadRPCServer").unwrap();
        let (us, _, _) = parse_leading_timestamp("2026-11-26T01:06:50.240999Z UpdateTip").unwrap();
        assert_eq!(rest, "**BROKEN** lightningd: x");
        assert!(s < us && us < ms);
        assert_eq!(ms.0 - s.0, 241_000_000);
        // 2025-05-20T00:00:00Z is 1747699200 (date -d @1747699200 -u).
        assert_eq!(
            parse_leading_timestamp("2025-05-20T00:00:00Z").unwrap().0,
            Timestamp(1_747_699_200_000_000_000)
        );
        assert_eq!(
            parse_leading_timestamp("+10.618666192 lightningdBROKEN: x"),
            None
        );
        assert_eq!(parse_leading_timestamp("2025-13-20T00:00:00Z x"), None);
    }

    #[test]
    fn issue_8269_alice_dies_while_bob_sees_the_htlc_then_loses_her() {
        let inputs = [
            ("alice".to_string(), fixture("8269/alice-log-tail.txt")),
            ("bob".to_string(), fixture("8269/bob-log-tail.txt")),
            (
                "bitcoind".to_string(),
                fixture("8269/bitcoind-debug-tail.txt"),
            ),
        ];
        let merged = merge(&inputs);
        assert_eq!(
            merged.len(),
            inputs
                .iter()
                .map(|(_, t)| t.lines().filter(|l| !l.trim().is_empty()).count())
                .sum::<usize>()
        );
        assert!(merged.windows(2).all(|w| w[0].time <= w[1].time));
        let pos = |source: &str, needle: &str| {
            merged
                .iter()
                .position(|e| e.source == source && e.line.contains(needle))
                .unwrap_or_else(|| panic!("{source}: {needle}"))
        };
        let offered = pos("bob", "peer_in WIRE_UPDATE_ADD_HTLC");
        let unique = pos("alice", "UNIQUE constraint failed: channel_htlcs.id");
        let fatal = pos("alice", "FATAL SIGNAL 6");
        let lost = pos("bob", "Peer connection lost");
        assert!(
            offered < unique && unique < fatal && fatal < lost,
            "{offered} {unique} {fatal} {lost}"
        );
        let text = render(&merged);
        assert!(
            text.contains("\n2026-11-26T01:06:50.367Z bob: INFO    "),
            "{text}"
        );
        assert!(text
            .contains("2026-11-26T01:06:50Z bitcoind: [rpc] ThreadRPCServer method=getblockhash"));
    }

    #[test]
    fn untimed_lines_stay_with_the_line_before_and_ties_keep_input_order() {
        let a = "junk before any time\n2025-05-20T12:00:01.000Z INFO a1\n  continued a1\n\n2025-05-20T12:00:03.000Z INFO a3\n";
        let b = "2025-05-20T12:00:01Z b1\n2025-05-20T12:00:02Z b2\nstderr noise\n";
        let merged = merge(&[("a".into(), a.into()), ("b".into(), b.into())]);
        let lines: Vec<String> = merged
            .iter()
            .map(|e| format!("{}:{}", e.source, e.line.trim()))
            .collect();
        // a1 and b1 share a time: a was given first, so a1 (and its continuation) come first.
        assert_eq!(
            lines,
            [
                "a:junk before any time",
                "a:INFO a1",
                "a:continued a1",
                "b:b1",
                "b:b2",
                "b:stderr noise",
                "a:INFO a3"
            ]
        );
        assert_eq!(
            render(&merged[..4]),
            "- a: junk before any time\n2025-05-20T12:00:01.000Z a: INFO a1\n2025-05-20T12:00:01.000Z a:   continued a1\n2025-05-20T12:00:01Z b: b1\n"
        );
        assert!(!merged[2].own_time);
    }
}
