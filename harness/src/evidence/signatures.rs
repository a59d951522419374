//! Crash and trouble signatures: the normalised lines that name a failure.
//!
//! [`extract`] reads any of the three texts a lightningd leaves behind and
//! returns the same signature for the same bug from each of them:
//!
//! - its log file: `2026-11-26T01:06:50.358Z **BROKEN** lightningd: FATAL SIGNAL 6 (version ...)`;
//! - its `crash.log.<time>`: `+10.618666192 lightningdBROKEN: FATAL SIGNAL 6 (version ...)`;
//! - its stderr: `lightningd: FATAL SIGNAL 6 (version ...)`, with two-line backtrace frames.
//!
//! Wording comes from CLN's source: `lightningd/plugin.c` (`Killing plugin: %s`,
//! `exited %s`, `Plugin marked as important, shutting down lightningd!`),
//! `lightningd/subd.c` (`Owning subdaemon %s died (%i)`, `Subdaemon %s killed with
//! signal %i`, `%s failed (signal %u), exiting.`, `STATUS_FAIL_*`),
//! `common/status_levels.h` (`That's weird: `), `db/bindings.c`
//! (`Accessing a null column`), `common/memleak.c` (`MEMLEAK:`), and the checks
//! pyln-testing's teardown makes (`contrib/pyln-testing/pyln/testing/fixtures.py`).

mod crash_state;
mod sanitizer;

use super::redact::Redactor;
use crash_state::{OpenCrash, OwnFrames};
use regex::Regex;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    /// Any line logged at BROKEN level.
    Broken,
    /// `FATAL SIGNAL <n>`.
    FatalSignal,
    /// One backtrace frame, `<file>:<line> (<function>)`.
    Backtrace,
    /// `Error executing statement: ...` and `Accessing a null column`.
    SqlError,
    /// Exactly `UNIQUE constraint failed: <table>.<column>[, ...]`, SQLite's
    /// words, also for PostgreSQL's `duplicate key value violates unique
    /// constraint` (one bug, one signature, whatever the backend).
    UniqueConstraint,
    /// A plugin died or was killed (not: disabled itself, or stopped at shutdown).
    PluginDied,
    /// A subdaemon died, was killed, or reported `STATUS_FAIL_*`.
    SubdaemonDied,
    /// `That's weird: ` (CLN's CI_UNEXPECTED).
    Weird,
    /// `Bad reestablish`.
    BadReestablish,
    /// An assertion or panic message a process wrote to stderr: glibc's
    /// `prog: file:line: function: Assertion `expr' failed.` (lightningd,
    /// subdaemons, C plugins) or Rust's `thread '...' panicked at file:line:col:`.
    Assertion,
    /// `MEMLEAK:`.
    MemLeak,
    /// An AddressSanitizer or UndefinedBehaviorSanitizer report (a
    /// `build --sanitize` binary), with its top frames: a crash.
    Sanitizer,
    /// The reason a process wrote just before it exited on its own with a
    /// non-zero code: lightningd's `fatal()` before its log is up prints
    /// only to stderr and exits 1 (`lightningd/log.c` `fatal_vfmt`), e.g. a
    /// database migration it refuses. From [`exit_reason`].
    Fatal,
    /// A call that never answered, with the process that was busy and its
    /// top frames (`hangprobe`). The harness's own kill that ends a hung
    /// run is never a signature; this is.
    Hang,
    /// The process ended badly (non-zero exit, signal); from [`exit_signature`].
    Exit,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Signature {
    pub node: String,
    pub kind: SignatureKind,
    /// Redacted; no timestamp, level or log prefix.
    pub text: String,
}

/// Exit status 243 (`0x80 | WIRE_STATUS_PEER_CONNECTION_LOST & 0xff`, see
/// `common/status.c` `flush_and_exit`), as `waitpid` reports it: 243 << 8.
/// `Owning subdaemon channeld died (62208)` is a peer going away, not a bug.
pub const PEER_CONNECTION_LOST_STATUS: &str = "(62208)";

impl Signature {
    fn new(node: &str, kind: SignatureKind, text: String) -> Signature {
        Signature {
            node: node.to_string(),
            kind,
            text,
        }
    }

    /// Signatures that appear in healthy runs too, from shutdowns and
    /// restarts: a channeld that exited because its peer went away (exit
    /// 243), and every `Peer transient failure` (lightningd keeps the
    /// channel and reconnects: by its own account not a failure of the
    /// node). Benign signatures never appear in a report.
    pub fn is_benign(&self) -> bool {
        self.kind == SignatureKind::SubdaemonDied
            && (self.text.contains(PEER_CONNECTION_LOST_STATUS)
                || self.text.starts_with("Peer transient failure"))
    }

    /// A BROKEN line that only echoes a death another signature already
    /// names (`FATAL SIGNAL`, a backtrace frame, `Killing plugin`, a
    /// subdaemon's death), as opposed to a BROKEN line that says why.
    pub fn is_echo(&self) -> bool {
        const ECHOES: [&str; 7] = [
            "FATAL SIGNAL",
            "backtrace:",
            "Killing plugin",
            "Plugin marked as important",
            "Owning subdaemon",
            "killed with signal",
            "), exiting.",
        ];
        ECHOES.iter().any(|e| self.text.contains(e))
    }

    /// Lower is more telling; used by [`first_crash`]. A cause outranks the
    /// death it caused: the SQL error or assertion, then the BROKEN line
    /// lightningd logged on its way to `fatal()`, then the bare signal or
    /// the plugin's or subdaemon's death.
    fn rank(&self) -> u8 {
        use SignatureKind::*;
        match self.kind {
            UniqueConstraint => 0,
            SqlError | Assertion | Sanitizer | Fatal => 1,
            Broken if !self.is_echo() => 2,
            FatalSignal => 3,
            // What hung, and where: only a cause named above outranks it.
            Hang => 4,
            // A death is a death: the earliest one is the cause of the others.
            SubdaemonDied | PluginDied => 5,
            BadReestablish => 6,
            MemLeak => 7,
            Weird => 8,
            Broken => 9,
            Exit => 10,
            Backtrace => 11,
        }
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        write!(f, "{} [{kind}] {}", self.node, self.text)
    }
}

/// One line, split into the parts the three formats share.
#[derive(Debug, PartialEq)]
struct Line<'a> {
    /// `BROKEN`, `UNUSUAL`, `INFO`, `DEBUG`, `TRACE`, `IO_IN`, `IO_OUT`; None for stderr.
    level: Option<&'a str>,
    /// `lightningd`, `plugin-autoclean`, `<id>-channeld-chan#1`; may be empty.
    subsystem: &'a str,
    message: &'a str,
}

struct Patterns {
    log_line: Regex,
    crash_line: Regex,
    bare_subsystem: Regex,
    fatal: Regex,
    backtrace: Regex,
    stderr_frame: Regex,
    stderr_frame_loc: Regex,
    sql: Regex,
    unique: Regex,
    pg_unique: Regex,
    subd: Regex,
    assertion: Regex,
    panic: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        // pyln adds a node prefix ("lightningd-1 ") before the timestamp; the harness does not.
        log_line: Regex::new(
            r"^(?:\S+ )?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z (\*\*BROKEN\*\*|UNUSUAL|INFO|DEBUG|TRACE|IO_IN|IO_OUT)\s+(?:(\S+?): )?(.*)$",
        )
        .unwrap(),
        crash_line: Regex::new(r"^\+\d+\.\d+ (.*?)(BROKEN|UNUSUAL|INFO|DEBUG|TRACE|IO_IN|IO_OUT): (.*)$").unwrap(),
        bare_subsystem: Regex::new(
            r"^(lightningd|lightning_\w+|hsmd|connectd|gossipd|channeld|closingd|onchaind|openingd|dualopend|plugin-[\w.-]+): (.*)$",
        )
        .unwrap(),
        // A plugin's own crash handler prints `cln-xpay: FATAL SIGNAL 11` to
        // lightningd's stderr, with no subsystem the log formats know.
        fatal: Regex::new(r"^(?:([\w.-]+): )?FATAL SIGNAL (\d+)").unwrap(),
        backtrace: Regex::new(r"^backtrace: (\S+):(\d+) \((.*)\) 0x[0-9a-fA-F]+\s*$").unwrap(),
        stderr_frame: Regex::new(r"^0x[0-9a-fA-F]+ (\S+)\s*$").unwrap(),
        stderr_frame_loc: Regex::new(r"^\s+(\S+):(\d+)\s*$").unwrap(),
        sql: Regex::new(r"(Error executing statement: .*|Accessing a null column.*)$").unwrap(),
        unique: Regex::new(r"UNIQUE constraint failed: (\w+\.\w+(?:, \w+\.\w+)*)").unwrap(),
        // lightningd logs PostgreSQL's newlines as `?`: `ERROR:  duplicate key
        // value violates unique constraint "channel_htlcs_pkey"?DETAIL:  Key (id)=(1) already exists.?`
        pg_unique: Regex::new(r#"duplicate key value violates unique constraint "(\w+)"\W+DETAIL:\s+Key \(([^)]*)\)="#).unwrap(),
        subd: Regex::new(
            r"Owning subdaemon \w+ died \(-?\d+\)|Subdaemon \w+ killed with signal \d+|^\w+ failed \((?:exit status|signal) \d+\), exiting\.|^STATUS_FAIL_\w+: ",
        )
        .unwrap(),
        // glibc's __assert_fail: "%s%s%s:%u: %s%sAssertion `%s' failed."
        assertion: Regex::new(r"^(?:(\S+): )?(\S+?):\d+: (?:(.+?): )?Assertion (.+) failed\.?\s*$").unwrap(),
        panic: Regex::new(r"^thread '([^']*)' panicked at (\S+?):\d+(?::\d+)?:?\s*(.*)$").unwrap(),
    })
}

/// PostgreSQL's unique violation in SQLite's words: the constraint
/// `channel_htlcs_pkey` with key `(id)` is `UNIQUE constraint failed:
/// channel_htlcs.id`. PostgreSQL names a primary key `<table>_pkey` and a
/// unique constraint `<table>_<col>[_<col>]_key`, either with a digit
/// suffix when the name was taken (#4887's `payments_pkey1`).
pub fn pg_unique_as_sqlite(constraint: &str, key_columns: &str) -> String {
    let cols: Vec<&str> = key_columns.split(',').map(str::trim).collect();
    let base = constraint.trim_end_matches(|c: char| c.is_ascii_digit());
    let table = base
        .strip_suffix("_pkey")
        .or_else(|| base.strip_suffix(&format!("_{}_key", cols.join("_"))))
        .unwrap_or(base);
    let qualified: Vec<String> = cols.iter().map(|c| format!("{table}.{c}")).collect();
    format!("UNIQUE constraint failed: {}", qualified.join(", "))
}

fn split_line(line: &str) -> Line<'_> {
    let p = patterns();
    if let Some(c) = p.log_line.captures(line) {
        let level = c.get(1).map(|m| m.as_str().trim_matches('*'));
        return Line {
            level,
            subsystem: c.get(2).map_or("", |m| m.as_str()),
            message: c.get(3).map_or("", |m| m.as_str()),
        };
    }
    if let Some(c) = p.crash_line.captures(line) {
        return Line {
            level: c.get(2).map(|m| m.as_str()),
            subsystem: c.get(1).map_or("", |m| m.as_str()),
            message: c.get(3).map_or("", |m| m.as_str()),
        };
    }
    if let Some(c) = p.bare_subsystem.captures(line) {
        return Line {
            level: None,
            subsystem: c.get(1).map_or("", |m| m.as_str()),
            message: c.get(2).map_or("", |m| m.as_str()),
        };
    }
    Line {
        level: None,
        subsystem: "",
        message: line,
    }
}

fn frame_text(file: &str, function: &str, r: &Redactor) -> Option<String> {
    if matches!(function, "(null)" | "???" | "")
        || file.starts_with("(null)")
        || file.starts_with("???")
    {
        return None;
    }
    // The line number is always dropped: frames name code, and lines move between builds.
    Some(r.frame(file, function))
}

/// One backtrace frame: its own signature, and one more frame of the crash
/// being read, if any (which is closed once it names enough).
fn on_frame(
    node: &str,
    (file, function): (&str, &str),
    r: &Redactor,
    out: &mut Vec<Signature>,
    crash: &mut Option<OpenCrash>,
) {
    let Some(text) = frame_text(file, function, r) else {
        return;
    };
    out.push(Signature::new(node, SignatureKind::Backtrace, text));
    if let Some(open) = crash {
        let full = open.frames.add(file, function, r);
        out[open.at].text = open.text();
        if full {
            *crash = None;
        }
    }
}

/// Lines a process writes to stderr that never say why it exited.
fn is_noise(line: &str) -> bool {
    let p = patterns();
    line.is_empty()
        || line.starts_with("=== cln-harness:")
        || line.starts_with("Log dumped in ")
        || line.starts_with("Lost connection to the RPC socket")
        // A crash is its own signature (with its frames), not a reason.
        || line.contains("FATAL SIGNAL")
        || p.stderr_frame.is_match(line)
        || p.stderr_frame_loc.is_match(line)
}

/// The reason a process that exited on its own with a non-zero code gave:
/// the last line of what it wrote to stderr during that start that is not
/// noise, redacted (`lightningd/log.c` `fatal_vfmt` prints the message
/// and a newline, then exits 1, while the log is not yet up). None when it
/// said nothing, or when a sanitizer reported (that is the reason).
pub fn exit_reason(node: &str, stderr_of_start: &str, r: &Redactor) -> Option<Signature> {
    // A sanitizer's report is its own signature, and all of it is why.
    if sanitizer::has_report(stderr_of_start) {
        return None;
    }
    let line = stderr_of_start
        .lines()
        .rev()
        .find(|l| !is_noise(l) && !l.trim().is_empty())?
        .trim();
    Some(Signature::new(node, SignatureKind::Fatal, r.redact(line)))
}

/// A hung call, from what `hangprobe` saw: `what` (the call that never
/// answered) and the busy process with its top frames.
pub fn hang_signature(node: &str, what: &str, r: &Redactor) -> Signature {
    Signature::new(node, SignatureKind::Hang, r.redact(what))
}

fn with_subsystem(subsystem: &str, message: &str) -> String {
    if subsystem.is_empty() {
        message.to_string()
    } else {
        format!("{subsystem}: {message}")
    }
}

/// glibc's assertion or Rust's panic, from a line of stderr (Rust prints
/// the panic's message on the next line; older versions on the same one).
fn assertion_or_panic(
    node: &str,
    raw: &str,
    next: Option<&&str>,
    r: &Redactor,
) -> Option<Signature> {
    let p = patterns();
    let text = if let Some(c) = p.assertion.captures(raw) {
        let prog = c
            .get(1)
            .map_or(String::new(), |m| format!("{}: ", m.as_str()));
        let func = c
            .get(3)
            .map_or(String::new(), |m| format!("{}: ", m.as_str()));
        format!(
            "{prog}{}: {func}Assertion {} failed.",
            Redactor::code_location(&c[2]),
            &c[4]
        )
    } else {
        let c = p.panic.captures(raw)?;
        let msg = match c[3].trim() {
            "" => next.map_or("", |l| l.trim()),
            same => same,
        };
        format!("panicked at {}: {msg}", Redactor::code_location(&c[2]))
    };
    Some(Signature::new(
        node,
        SignatureKind::Assertion,
        r.redact(&text),
    ))
}

/// Signatures in one text (a log file, a crash.log, a stderr), in order of
/// first appearance, each (kind, text) once. One walk over the lines: a
/// `FATAL SIGNAL`'s crash state is filled in from the frames that follow it
/// as they are read.
pub fn extract(node: &str, text: &str, r: &Redactor) -> Vec<Signature> {
    let p = patterns();
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut crash: Option<OpenCrash> = None;
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i].trim_end_matches('\r');
        i += 1;
        // stderr's two-line backtrace frame: "0x55f2eeedc250 send_backtrace" / "\tcommon/daemon.c:33".
        if let Some(c) = p.stderr_frame.captures(raw) {
            if let Some(loc) = lines.get(i).and_then(|l| p.stderr_frame_loc.captures(l)) {
                i += 1;
                on_frame(node, (&loc[1], &c[1]), r, &mut out, &mut crash);
                continue;
            }
        }
        if let Some(s) = assertion_or_panic(node, raw, lines.get(i), r) {
            crash = None;
            out.push(s);
            continue;
        }
        let line = split_line(raw);
        let msg = line.message.trim_end();
        if let Some(c) = p.fatal.captures(msg) {
            let process = c.get(1).map_or(line.subsystem, |m| m.as_str());
            let open = OpenCrash {
                at: out.len(),
                process: process.strip_prefix("lightning_").unwrap_or(process).into(),
                signal: c[2].to_string(),
                frames: OwnFrames::default(),
            };
            out.push(Signature::new(
                node,
                SignatureKind::FatalSignal,
                open.text(),
            ));
            crash = Some(open);
        } else if let Some(c) = p.backtrace.captures(msg) {
            on_frame(node, (&c[1], &c[3]), r, &mut out, &mut crash);
        } else {
            crash = None;
        }
        message_signatures(node, &line, msg, r, &mut out);
    }
    out.extend(sanitizer::reports(node, text, r));
    dedup(out)
}

/// What one log message says beyond a crash and its frames: SQL errors
/// (and the UNIQUE constraint, in SQLite's words), deaths of plugins and
/// subdaemons, `That's weird`, bad reestablishes, leaks, BROKEN lines.
fn message_signatures(node: &str, line: &Line, msg: &str, r: &Redactor, out: &mut Vec<Signature>) {
    use SignatureKind::*;
    let p = patterns();
    if let Some(c) = p.sql.captures(msg) {
        out.push(Signature::new(node, SqlError, r.redact(&c[1])));
        if let Some(u) = p.unique.captures(msg) {
            out.push(Signature::new(
                node,
                UniqueConstraint,
                format!("UNIQUE constraint failed: {}", &u[1]),
            ));
        } else if let Some(u) = p.pg_unique.captures(msg) {
            out.push(Signature::new(
                node,
                UniqueConstraint,
                pg_unique_as_sqlite(&u[1], &u[2]),
            ));
        }
    }
    let quiet = matches!(line.level, Some("DEBUG" | "TRACE" | "IO_IN" | "IO_OUT"));
    if line.subsystem.starts_with("plugin-") && !quiet {
        let died = msg
            .strip_prefix("Killing plugin: ")
            .is_some_and(|reason| !reason.starts_with("disabled itself"))
            || msg.starts_with("Plugin marked as important");
        if died {
            out.push(Signature::new(
                node,
                PluginDied,
                r.redact(&with_subsystem(line.subsystem, msg)),
            ));
        }
    }
    if p.subd.is_match(msg) {
        let t = if msg.starts_with("STATUS_FAIL_") {
            with_subsystem(line.subsystem, msg)
        } else {
            msg.to_string()
        };
        out.push(Signature::new(node, SubdaemonDied, r.redact(&t)));
    }
    if let Some(pos) = msg.find("That's weird: ") {
        out.push(Signature::new(node, Weird, r.redact(&msg[pos..])));
    }
    // "Bad reestablish" before v23, "bad reestablish" since.
    if msg.contains("Bad reestablish") || msg.contains("bad reestablish") {
        out.push(Signature::new(node, BadReestablish, r.redact(msg)));
    }
    if msg.contains("MEMLEAK:") {
        out.push(Signature::new(node, MemLeak, r.redact(msg)));
    }
    if line.level == Some("BROKEN") || msg.contains("bad hsm request") {
        out.push(Signature::new(
            node,
            Broken,
            r.redact(&with_subsystem(line.subsystem, msg)),
        ));
    }
}

/// Drops repeated (node, kind, text), keeping the first.
pub fn dedup(sigs: Vec<Signature>) -> Vec<Signature> {
    let mut seen = HashSet::new();
    sigs.into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// A node that ended badly: `exit_description` as a report prints it, e.g.
/// `signal 6 (SIGABRT)` or `exit code 1`.
pub fn exit_signature(node: &str, exit_description: &str, r: &Redactor) -> Signature {
    Signature::new(node, SignatureKind::Exit, r.redact(exit_description.trim()))
}

/// The signature that best names what went wrong: a UNIQUE constraint over
/// any SQL error or assertion, over the BROKEN line that says why, over a
/// fatal signal, over a dead subdaemon or plugin, over a BROKEN line that
/// only echoes a death, over an exit status, over a lone backtrace frame.
/// A plugin's and a subdaemon's death rank the same: the earlier one caused
/// the later (an important plugin dies, lightningd kills channeld on its way out).
/// Ties go to the earliest. Benign signatures never count.
pub fn first_crash(sigs: &[Signature]) -> Option<&Signature> {
    sigs.iter()
        .enumerate()
        .filter(|(_, s)| !s.is_benign())
        .min_by_key(|(i, s)| (s.rank(), *i))
        .map(|(_, s)| s)
}

/// The signature a report leads with: none for a passing run; for a run
/// whose outcome names a node, the best of that node's signatures first
/// (the node that died is where the cause is), else the best of all.
pub fn headline<'a>(
    sigs: &'a [Signature],
    passed: bool,
    node: Option<&str>,
) -> Option<&'a Signature> {
    if passed {
        return None;
    }
    let own: Vec<Signature> = sigs
        .iter()
        .filter(|s| Some(s.node.as_str()) == node)
        .cloned()
        .collect();
    match first_crash(&own) {
        Some(best) => sigs.iter().find(|s| **s == *best),
        None => first_crash(sigs),
    }
}

/// A process that died of a signal, an assertion or a sanitizer report,
/// whichever process it was, unless a `broken_log` regex allows it (as pyln fails a test on any
/// crash.log).
pub fn crashes_not_whitelisted<'a>(
    sigs: &'a [Signature],
    whitelist: &[Regex],
) -> Vec<&'a Signature> {
    sigs.iter()
        .filter(|s| {
            matches!(
                s.kind,
                SignatureKind::FatalSignal | SignatureKind::Assertion | SignatureKind::Sanitizer
            )
        })
        .filter(|s| !whitelist.iter().any(|w| w.is_match(&s.text)))
        .collect()
}

/// pyln-testing's teardown oracles for log lines, in one table: each kind
/// of line that fails a run at its end unless the scenario's `broken_log`
/// allows it, and how a finding names it. (`dev-memleak` itself is asked
/// before the nodes stop: `executor::teardown`.)
pub const TEARDOWN_ORACLES: &[(SignatureKind, &str)] = &[
    (SignatureKind::Broken, "a BROKEN line"),
    // Since v26, lightningd's "That's weird: " lines.
    (SignatureKind::Weird, "a \"That's weird\" line"),
    (SignatureKind::MemLeak, "a memory leak (MEMLEAK)"),
    (SignatureKind::BadReestablish, "a bad reestablish"),
];

/// The teardown oracle a signature trips, if any.
pub fn teardown_oracle(kind: SignatureKind) -> Option<&'static str> {
    TEARDOWN_ORACLES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, what)| *what)
}

/// The lines [`TEARDOWN_ORACLES`] fail a run on, with what each is, unless a
/// whitelist regex matches. The regexes are matched against the redacted
/// signature text (`lightningd: ...`), so write them without timestamps and
/// with placeholders where a value is volatile.
pub fn broken_lines_not_whitelisted<'a>(
    sigs: &'a [Signature],
    whitelist: &[Regex],
) -> Vec<(&'static str, &'a Signature)> {
    sigs.iter()
        .filter_map(|s| teardown_oracle(s.kind).map(|what| (what, s)))
        .filter(|(_, s)| !whitelist.iter().any(|w| w.is_match(&s.text)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::SignatureKind::*;
    use super::*;

    fn fixture(rel: &str) -> String {
        let path = format!("{}/../fixtures/evidence/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn of_kind(sigs: &[Signature], kind: SignatureKind) -> Vec<&str> {
        sigs.iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.text.as_str())
            .collect()
    }

    const UNIQUE_8269: &str = "UNIQUE constraint failed: channel_htlcs.id";

    /// The issue: "ASan and UBSan reports are classified as `crash`, with
    /// their frames as the headline". A channeld built with
    /// `--enable-address-sanitizer` writes its report to lightningd's
    /// stderr and exits; lightningd logs the death. The report names the
    /// bug class and CLN's frames of the access (not the free's stack).
    #[test]
    fn an_address_sanitizer_report_is_a_crash_named_by_its_class_and_frames() {
        let stderr = "\
=== cln-harness: start #1 of alice on v26.06.6-asan ===
=================================================================
==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000001230 at pc 0x55d5c8a4b2e1 bp 0x7ffd1 sp 0x7ffd2
READ of size 8 at 0x602000001230 thread T0
    #0 0x55d5c8a4b2e0 in tal_parent ccan/ccan/tal/tal.c:512
    #1 0x7f1e2d3c4b5a in __interceptor_free (/lib/x86_64-linux-gnu/libasan.so.8+0xd7ab0)
    #2 0x55d5c8a4c1f2 in handle_peer_shutdown channeld/channeld.c:1456
    #3 0x55d5c8a4c9f0 in peer_in channeld/channeld.c:2301
    #4 0x55d5c8a4caaa in main channeld/channeld.c:6001

0x602000001230 is located 0 bytes inside of 16-byte region [0x602000001230,0x602000001240)
freed by thread T0 here:
    #0 0x7f1e2d3c4b5a in free (/lib/x86_64-linux-gnu/libasan.so.8+0xd7ab0)
    #1 0x55d5c8a4b000 in tal_free ccan/ccan/tal/tal.c:530

SUMMARY: AddressSanitizer: heap-use-after-free ccan/ccan/tal/tal.c:512 in tal_parent
==4242==ABORTING
";
        let log = "2026-12-06T03:00:00.000Z **BROKEN** 02abcdef-chan#1: Owning subdaemon channeld died (256)\n";
        let r = Redactor::new();
        let mut sigs = extract("alice", stderr, &r);
        sigs.extend(extract("alice", log, &r));
        let want = "AddressSanitizer: heap-use-after-free at ccan/ccan/tal/tal.c (tal_parent) < channeld/channeld.c (handle_peer_shutdown) < channeld/channeld.c (peer_in)";
        assert_eq!(of_kind(&sigs, Sanitizer), [want]);
        assert_eq!(first_crash(&sigs).unwrap().text, want);
        let crashes = crashes_not_whitelisted(&sigs, &[]);
        assert_eq!(crashes.len(), 1, "{crashes:?}");
        // A scenario can still allow it, as any crash.
        let allow = [Regex::new("heap-use-after-free").unwrap()];
        assert!(crashes_not_whitelisted(&sigs, &allow).is_empty());
        // The report's own lines are not the reason a process exited.
        assert_eq!(exit_reason("alice", stderr, &r), None);
    }

    /// A real report (explore, v25.05 -> v26.06.6-asan-ubsan on PostgreSQL):
    /// clang prints absolute paths into the build tree; the signature names
    /// CLN's frames relative to the checkout, and none of glibc's.
    #[test]
    fn a_real_ubsan_report_from_a_clang_build_names_clns_frames_wherever_it_was_built() {
        let stderr = fixture("sanitizer/ubsan-postgres-vla-stderr.txt");
        let r = Redactor::new();
        let sigs = extract("bob", &stderr, &r);
        let want = "UndefinedBehaviorSanitizer: db/db_postgres.c:<line>: runtime error: variable length array bound evaluates to non-positive value 0 at db/db_postgres.c (db_postgres_do_exec) < db/db_postgres.c (db_postgres_query) < db/utils.c (db_query_prepared_canfail)";
        assert_eq!(of_kind(&sigs, Sanitizer), [want]);
        assert_eq!(first_crash(&sigs).unwrap().text, want);
        assert_eq!(crashes_not_whitelisted(&sigs, &[]).len(), 1);
        assert_eq!(exit_reason("bob", &stderr, &r), None);
        // Built elsewhere, the same signature.
        let moved = stderr.replace(
            "/root/.cache/cln-harness/build-trees/cln-src-norust-asan-ubsan-d5b496dc078f2434/src/",
            "/home/dev/src/lightning/",
        );
        assert_eq!(of_kind(&extract("bob", &moved, &r), Sanitizer), [want]);
    }

    #[test]
    fn an_undefined_behaviour_report_names_the_file_and_the_error_not_its_line() {
        let stderr = "\
common/amount.c:123:45: runtime error: signed integer overflow: 9223372036854775807 + 1 cannot be represented in type 'long int'
    #0 0x55d5c8a4b2e0 in amount_msat_add common/amount.c:123
    #1 0x55d5c8a4c1f2 in htlc_accepted lightningd/peer_htlcs.c:999
";
        let sigs = extract("bob", stderr, &Redactor::new());
        let got = of_kind(&sigs, Sanitizer);
        assert_eq!(got.len(), 1, "{sigs:?}");
        assert!(
            got[0].starts_with("UndefinedBehaviorSanitizer: common/amount.c:<line>: runtime error: signed integer overflow")
                && got[0].ends_with("at common/amount.c (amount_msat_add) < lightningd/peer_htlcs.c (htlc_accepted)"),
            "{}",
            got[0]
        );
        assert!(!got[0].contains(":123"));
    }

    #[test]
    fn issue_8269_on_postgresql_has_the_same_signature_as_on_sqlite() {
        // The same upgrade with alice's database on PostgreSQL 15.
        let r = Redactor::new();
        let pg = extract("alice", &fixture("8269/alice-postgres-log-tail.txt"), &r);
        let lite = extract("alice", &fixture("8269/alice-log-tail.txt"), &r);
        assert_eq!(of_kind(&pg, UniqueConstraint), [UNIQUE_8269]);
        assert_eq!(
            first_crash(&pg).unwrap().text,
            first_crash(&lite).unwrap().text
        );
        let sql = of_kind(&pg, SqlError);
        assert_eq!(
            sql,
            ["Error executing statement: ERROR:  duplicate key value violates unique constraint \"channel_htlcs_pkey\" DETAIL:  Key (id)=(<value>) already exists."]
        );
    }

    #[test]
    fn postgresql_constraint_names_map_to_sqlite_table_and_columns() {
        assert_eq!(pg_unique_as_sqlite("channel_htlcs_pkey", "id"), UNIQUE_8269);
        // CLN #4887 (PostgreSQL only): "payments_pkey1", Key (id)=(2).
        assert_eq!(
            pg_unique_as_sqlite("payments_pkey1", "id"),
            "UNIQUE constraint failed: payments.id"
        );
        assert_eq!(
            pg_unique_as_sqlite("invoices_payment_hash_key", "payment_hash"),
            "UNIQUE constraint failed: invoices.payment_hash"
        );
        assert_eq!(
            pg_unique_as_sqlite(
                "forwards_in_channel_in_htlc_id_key",
                "in_channel, in_htlc_id"
            ),
            "UNIQUE constraint failed: forwards.in_channel, forwards.in_htlc_id"
        );
    }

    #[test]
    fn issue_8269_keysend_after_upgrade_names_the_channel_htlcs_unique_constraint() {
        // alice: v25.02.1 -> 1cc64dd67 with --database-upgrade=true, then keysend.
        let sigs = extract(
            "alice",
            &fixture("8269/alice-log-tail.txt"),
            &Redactor::new(),
        );
        assert_eq!(of_kind(&sigs, UniqueConstraint), [UNIQUE_8269]);
        // The crash state: the signal, then CLN's frames from the code that
        // called fatal() (the crash handler and db_fatal are left out).
        assert_eq!(
            of_kind(&sigs, FatalSignal),
            ["FATAL SIGNAL 6 at db/utils.c (db_exec_prepared_v2) < wallet/wallet.c (wallet_htlc_save_out) < lightningd/peer_htlcs.c (update_out_htlc)"]
        );
        let sql = of_kind(&sigs, SqlError);
        assert_eq!(
            sql.len(),
            1,
            "the statement is logged twice but is one signature: {sql:?}"
        );
        assert!(
            sql[0].starts_with(
                "Error executing statement: wallet/wallet.c:<line>: INSERT INTO channel_htlcs ("
            ),
            "{}",
            sql[0]
        );
        assert!(sql[0].ends_with(UNIQUE_8269));
        let crash = first_crash(&sigs).unwrap();
        assert_eq!(
            (crash.node.as_str(), crash.kind, crash.text.as_str()),
            ("alice", UniqueConstraint, UNIQUE_8269)
        );
        assert!(
            of_kind(&sigs, Backtrace).contains(&"wallet/wallet.c:<line> (wallet_htlc_save_out)")
        );
    }

    #[test]
    fn the_same_crash_has_the_same_signatures_in_log_stderr_and_crash_log() {
        let r = Redactor::new();
        let log = extract("alice", &fixture("8269/alice-log-tail.txt"), &r);
        let stderr = extract("alice", &fixture("8269/alice-stderr.txt"), &r);
        let crash = extract("alice", &fixture("8269/alice-crash.log.tail.txt"), &r);
        for kind in [UniqueConstraint, SqlError, FatalSignal] {
            assert_eq!(
                of_kind(&log, kind),
                of_kind(&stderr, kind),
                "{kind:?} log vs stderr"
            );
        }
        // crash.log writes "lightningdBROKEN: ..." where the log writes "**BROKEN** lightningd: ...".
        assert_eq!(crash, log);
        // stderr prints frames as "0x... send_backtrace\n\tcommon/daemon.c:33"; the log
        // as "backtrace: common/daemon.c:41 (send_backtrace) 0x...". Same frames either way.
        assert_eq!(of_kind(&stderr, Backtrace), of_kind(&log, Backtrace));
        assert_eq!(first_crash(&stderr).unwrap().text, UNIQUE_8269);
        assert_eq!(first_crash(&crash).unwrap().text, UNIQUE_8269);
    }

    #[test]
    fn every_broken_line_fails_the_run_unless_whitelisted() {
        let sigs = extract(
            "alice",
            &fixture("8269/alice-log-tail.txt"),
            &Redactor::new(),
        );
        let all = broken_lines_not_whitelisted(&sigs, &[]);
        assert!(
            all.iter()
                .any(|(_, s)| s.text == "lightningd: FATAL SIGNAL 6 (version <version>)"),
            "{all:#?}"
        );
        let left =
            broken_lines_not_whitelisted(&sigs, &[Regex::new("backtrace: |FATAL SIGNAL").unwrap()]);
        assert_eq!(left.len(), 1, "{left:#?}");
        assert!(left[0]
            .1
            .text
            .starts_with("lightningd: Error executing statement: "));
        // The UNUSUAL lines in the same tail are not BROKEN.
        assert!(!sigs.iter().any(|s| s.text.contains("channel_hint_update")));
    }

    #[test]
    fn an_important_plugin_killed_takes_lightningd_down_and_shutdown_noise_is_ignored() {
        // v26.06.6: SIGKILL to alice's autoclean; the tail also has every other
        // plugin's "Killing plugin: exited during normal operation" at DEBUG (shutdown).
        let sigs = extract(
            "alice",
            &fixture("plugin-death/alice-log-tail.txt"),
            &Redactor::new(),
        );
        assert_eq!(
            of_kind(&sigs, PluginDied),
            [
                "plugin-autoclean: Killing plugin: exited during normal operation",
                "plugin-autoclean: Plugin marked as important, shutting down lightningd!"
            ]
        );
        assert_eq!(
            first_crash(&sigs).unwrap().text,
            "plugin-autoclean: Killing plugin: exited during normal operation"
        );
        // lightningd killing channeld on the way down is a transient failure with a signal status,
        // still a subdaemon death (not the benign peer-went-away exit).
        assert_eq!(of_kind(&sigs, SubdaemonDied), ["Peer transient failure in CHANNELD_NORMAL: channeld: Owning subdaemon channeld died (9)"]);
    }

    #[test]
    fn a_plugin_that_disables_itself_did_not_die() {
        let sigs = extract(
            "alice",
            &fixture("8269/alice-log-upgrade.txt"),
            &Redactor::new(),
        );
        assert!(of_kind(&sigs, PluginDied).is_empty(), "{sigs:#?}");
    }

    #[test]
    fn a_killed_channeld_under_dev_fail_on_subdaemon_fail() {
        // v26.06.6: SIGKILL to bob's channeld; bob exits 1.
        let sigs = extract(
            "bob",
            &fixture("subdaemon-death/bob-log-tail.txt"),
            &Redactor::new(),
        );
        assert_eq!(
            of_kind(&sigs, SubdaemonDied),
            ["Subdaemon channeld killed with signal 9"]
        );
        assert_eq!(
            of_kind(&sigs, Broken),
            ["<node-id>-channeld-chan#1: Subdaemon channeld killed with signal 9"]
        );
        assert_eq!(first_crash(&sigs).unwrap().kind, SubdaemonDied);
        let named = Redactor::with_names(&[(
            "alice".into(),
            "0352c1870d2401b12de0f94c24c8b30e1c213a1720b0337794cd0ef478e9d8a0a9".into(),
        )]);
        let sigs = extract("bob", &fixture("subdaemon-death/bob-log-tail.txt"), &named);
        assert_eq!(
            of_kind(&sigs, Broken),
            ["<alice.id>-channeld-chan#1: Subdaemon channeld killed with signal 9"]
        );
    }

    #[test]
    fn a_peer_going_away_is_recorded_but_is_not_a_crash() {
        // bob's view of alice crashing on #8269: his channeld exits 243 (peer connection lost).
        let sigs = extract("bob", &fixture("8269/bob-log-tail.txt"), &Redactor::new());
        let subd = of_kind(&sigs, SubdaemonDied);
        assert_eq!(subd, ["Peer transient failure in CHANNELD_NORMAL: channeld: Owning subdaemon channeld died (62208)"]);
        assert!(sigs.iter().all(Signature::is_benign));
        assert_eq!(first_crash(&sigs), None);
    }

    #[test]
    fn startup_failures_and_pyln_teardown_strings() {
        let r = Redactor::new();
        let text = "\
lightningd: connectd failed (signal 9), exiting.
2025-05-20T12:34:56.789Z UNUSUAL 02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-connectd: That's weird: Peer did not close, forcing close
2025-05-20T12:34:56.790Z **BROKEN** 02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-channeld-chan#3: STATUS_FAIL_INTERNAL_ERROR: Bad reestablish commitment_number: 5 vs 7
2025-05-20T12:34:56.791Z UNUSUAL lightningd: Accessing a null column 4/htlc_id in query SELECT ...
2025-05-20T12:34:56.792Z **BROKEN** lightningd: MEMLEAK: 0x55f2eeedc29d
2025-05-20T12:34:56.793Z **BROKEN** hsmd: bad hsm request
";
        let sigs = extract("carol", text, &r);
        assert_eq!(of_kind(&sigs, SubdaemonDied), ["connectd failed (signal 9), exiting.", "<node-id>-channeld-chan#3: STATUS_FAIL_INTERNAL_ERROR: Bad reestablish commitment_number: 5 vs 7"]);
        assert_eq!(
            of_kind(&sigs, Weird),
            ["That's weird: Peer did not close, forcing close"]
        );
        assert_eq!(
            of_kind(&sigs, BadReestablish),
            ["STATUS_FAIL_INTERNAL_ERROR: Bad reestablish commitment_number: 5 vs 7"]
        );
        assert_eq!(
            of_kind(&sigs, SqlError),
            ["Accessing a null column 4/htlc_id in query SELECT ..."]
        );
        assert_eq!(of_kind(&sigs, MemLeak), ["MEMLEAK: <addr>"]);
        assert!(of_kind(&sigs, Broken).contains(&"hsmd: bad hsm request"));
        let unlisted = broken_lines_not_whitelisted(
            &sigs,
            &[Regex::new("MEMLEAK|bad hsm|STATUS_FAIL").unwrap()],
        );
        assert_eq!(
            unlisted.iter().map(|(_, s)| s.kind).collect::<Vec<_>>(),
            [Weird]
        );
    }

    /// pyln-testing fails a test on a memleak or a bad reestablish, not
    /// only on BROKEN lines: so does every run here, allow-list aside.
    #[test]
    fn memleaks_and_bad_reestablishes_fail_a_run_unless_allowed() {
        let r = Redactor::new();
        let log = fixture("teardown/memleak-and-bad-reestablish.log");
        let sigs = extract("bob", &log, &r);
        let tripped: Vec<&str> = broken_lines_not_whitelisted(&sigs, &[])
            .iter()
            .map(|(what, _)| *what)
            .collect();
        assert!(tripped.contains(&"a memory leak (MEMLEAK)"), "{tripped:?}");
        assert!(tripped.contains(&"a bad reestablish"), "{tripped:?}");
        let allowed = broken_lines_not_whitelisted(
            &sigs,
            &[Regex::new("(?i)memleak|bad reestablish").unwrap()],
        );
        assert!(
            allowed.iter().all(|(what, _)| *what == "a BROKEN line"),
            "{allowed:?}"
        );
    }

    #[test]
    fn exit_signatures_and_json_shape() {
        let s = exit_signature("alice", "signal 6 (SIGABRT)", &Redactor::new());
        assert_eq!(s.kind, Exit);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"node": "alice", "kind": "exit", "text": "signal 6 (SIGABRT)"})
        );
        assert_eq!(
            serde_json::to_value(UniqueConstraint).unwrap(),
            "unique_constraint"
        );
        assert_eq!(first_crash(std::slice::from_ref(&s)), Some(&s));
        assert_eq!(s.to_string(), "alice [exit] signal 6 (SIGABRT)");
    }

    /// The bug report: a bare `FATAL SIGNAL 6` was preferred over the cause
    /// logged just before it. v25.02.1, `dev crash` (lightningd's fatal()).
    #[test]
    fn a_fatal_is_named_by_the_broken_line_that_says_why() {
        let sigs = extract(
            "alice",
            &fixture("fatal-cause/alice-log-tail.txt"),
            &Redactor::new(),
        );
        // This excerpt ends inside the crash handler: no frame of CLN's own.
        assert_eq!(of_kind(&sigs, FatalSignal), ["FATAL SIGNAL 6"]);
        assert_eq!(
            first_crash(&sigs).unwrap().text,
            "lightningd: Crash at user request"
        );
    }

    /// The bug report: assertion messages on stderr never became signatures,
    /// and `Killing plugin` was preferred over the cause. v25.02.1, an
    /// important plugin failing a C assertion (glibc's own message).
    #[test]
    fn a_plugin_assertion_on_stderr_is_the_signature_of_the_death_it_caused() {
        let r = Redactor::new();
        let mut sigs = extract("alice", &fixture("plugin-assertion/alice-stderr.txt"), &r);
        assert_eq!(
            of_kind(&sigs, Assertion),
            ["python3: plugins/crashy.c:<line>: crash_assert: Assertion `balance >= 0' failed."]
        );
        sigs.extend(extract(
            "alice",
            &fixture("plugin-assertion/alice-log-tail.txt"),
            &r,
        ));
        assert_eq!(of_kind(&sigs, PluginDied).len(), 2, "{sigs:#?}");
        assert_eq!(first_crash(&sigs).unwrap().kind, Assertion);
        // The log alone still names the death, not the "shutting down" echo.
        let log = extract("alice", &fixture("plugin-assertion/alice-log-tail.txt"), &r);
        assert_eq!(
            first_crash(&log).unwrap().text,
            "plugin-crashy-plugin.py: Killing plugin: exited during normal operation"
        );
    }

    #[test]
    fn subdaemon_asserts_and_rust_panics_are_assertions_too() {
        let r = Redactor::new();
        let text = "lightning_channeld: channeld/channeld.c:1234: peer_in: Assertion `!peer->shutdown_sent' failed.\n\
thread 'main' panicked at plugins/grpc-plugin/src/main.rs:52:10:\ncalled `Option::unwrap()` on a `None` value\n";
        let sigs = extract("bob", text, &r);
        assert_eq!(
            of_kind(&sigs, Assertion),
            [
                "lightning_channeld: channeld/channeld.c:<line>: peer_in: Assertion `!peer->shutdown_sent' failed.",
                "panicked at plugins/grpc-plugin/src/main.rs:<line>: called `Option::unwrap()` on a `None` value"
            ]
        );
    }

    #[test]
    fn a_process_that_exits_with_a_reason_is_named_by_it() {
        let r = Redactor::new();
        // lightningd's fatal() before its log is up: the message, a newline, exit 1.
        let stderr = "Refusing to irreversibly upgrade db from version 263 to 267 in non-final version v25.02-321-g1cc64dd67 (use --database-upgrade=true to override)\n";
        let s = exit_reason("alice", stderr, &r).unwrap();
        assert_eq!(s.kind, Fatal);
        assert!(
            s.text.starts_with("Refusing to irreversibly upgrade db"),
            "{}",
            s.text
        );
        // It outranks the bare exit status it explains.
        let sigs = [exit_signature("alice", "exit code 1", &r), s.clone()];
        assert_eq!(first_crash(&sigs), Some(&s));
        // Noise is not a reason; silence gives none.
        assert_eq!(
            exit_reason(
                "alice",
                "\nLog dumped in crash.log.1\nLost connection to the RPC socket.\n",
                &r
            ),
            None
        );
        // A backtrace frame (`0x... fn` / tab `file:line`) is no reason either.
        assert_eq!(
            exit_reason("alice", "0x55c30f48ff80 ???\n\t???:0\n", &r),
            None
        );
    }

    /// Recorded on v25.05: a database path lightningd cannot open. Before
    /// this, the headline was `exit code 1`.
    #[test]
    fn a_fatal_at_startup_is_named_by_what_lightningd_printed() {
        let stderr = fixture("fatal-startup/alice-stderr.txt");
        let part = crate::evidence::logdigest::split_stderr(&stderr)[0];
        let s = exit_reason("alice", part, &Redactor::new()).unwrap();
        assert_eq!(
            s.text,
            "failed to open database /nonexistent-cln-harness-dir/lightningd.sqlite3: unable to open database file"
        );
    }

    /// Recorded on v25.05: gossipd got SIGSEGV while lightningd lived on.
    /// Its log line says `gossipd:`, its stderr `lightning_gossipd:`: one
    /// crash state from both, naming the process.
    #[test]
    fn a_subdaemon_segfault_names_the_subdaemon_and_its_frames_in_log_and_stderr() {
        const STATE: &str = "gossipd: FATAL SIGNAL 11 at common/daemon.c (daemon_poll) < ccan/ccan/io/poll.c (io_loop) < gossipd/gossipd.c (main)";
        let r = Redactor::new();
        for file in [
            "subdaemon-segfault/alice-stderr.txt",
            "subdaemon-segfault/alice-log-excerpt.txt",
        ] {
            let sigs = extract("alice", &fixture(file), &r);
            assert_eq!(of_kind(&sigs, FatalSignal), [STATE], "{file}");
        }
        // Nothing on its stderr is a "reason" the way a fatal() message is.
        let stderr = fixture("subdaemon-segfault/alice-stderr.txt");
        assert_eq!(exit_reason("alice", &stderr, &r), None);
    }

    /// Recorded on v25.05: the C plugin cln-xpay got SIGSEGV; its crash
    /// handler wrote to lightningd's stderr with a `cln-xpay:` prefix.
    #[test]
    fn a_plugin_segfault_names_the_plugin_and_its_frames() {
        let sigs = extract(
            "alice",
            &fixture("plugin-segfault/alice-stderr.txt"),
            &Redactor::new(),
        );
        assert_eq!(
            first_crash(&sigs).unwrap().text,
            "cln-xpay: FATAL SIGNAL 11 at common/daemon.c (daemon_poll) < ccan/ccan/io/poll.c (io_loop) < plugins/libplugin.c (plugin_main)"
        );
    }

    #[test]
    fn a_segfault_is_named_by_its_signal_and_where_it_hit() {
        let sigs = extract(
            "alice",
            &fixture("segfault-raw/alice-log-tail.txt"),
            &Redactor::new(),
        );
        // Not a bare `FATAL SIGNAL 11`: the top three of CLN's own frames,
        // without the crash handler (send_backtrace, crashdump) or libc.
        const STATE: &str = "FATAL SIGNAL 11 at common/daemon.c (daemon_poll) < lightningd/lightningd.c (io_poll_lightningd) < ccan/ccan/io/poll.c (io_loop)";
        assert_eq!(first_crash(&sigs).unwrap().text, STATE);
        let stderr = extract(
            "alice",
            &fixture("segfault-raw/alice-stderr.txt"),
            &Redactor::new(),
        );
        assert_eq!(
            first_crash(&stderr).unwrap().text,
            STATE,
            "stderr names the same frames"
        );
    }

    /// The bug report: `Peer transient failure ... channeld died` from a
    /// restart showed up as the signature of passing runs. v25.02.1,
    /// `manual-setup-and-restarts` (bob killed and restarted, alice restarted).
    #[test]
    fn restart_noise_is_benign_and_never_a_headline() {
        for f in [
            "restart-noise/alice-log-excerpt.txt",
            "restart-noise/bob-log-excerpt.txt",
        ] {
            let sigs = extract("x", &fixture(f), &Redactor::new());
            assert!(
                !sigs.is_empty() && sigs.iter().all(Signature::is_benign),
                "{f}: {sigs:#?}"
            );
            assert_eq!(first_crash(&sigs), None);
            assert_eq!(headline(&sigs, false, Some("x")), None);
        }
        let crash = extract(
            "alice",
            &fixture("8269/alice-log-tail.txt"),
            &Redactor::new(),
        );
        assert_eq!(
            headline(&crash, true, Some("alice")),
            None,
            "a passing run has no headline"
        );
        assert_eq!(
            headline(&crash, false, Some("alice")).unwrap().text,
            UNIQUE_8269
        );
    }

    #[test]
    fn splitting_the_three_line_formats() {
        assert_eq!(
            split_line("2026-11-26T01:06:50.358Z **BROKEN** lightningd: FATAL SIGNAL 6"),
            Line {
                level: Some("BROKEN"),
                subsystem: "lightningd",
                message: "FATAL SIGNAL 6"
            }
        );
        assert_eq!(
            split_line("lightningd-1 2026-11-26T01:06:50.358Z INFO    plugin-pay: hi: there"),
            Line {
                level: Some("INFO"),
                subsystem: "plugin-pay",
                message: "hi: there"
            }
        );
        assert_eq!(
            split_line("+10.618666192 lightningdBROKEN: FATAL SIGNAL 6"),
            Line {
                level: Some("BROKEN"),
                subsystem: "lightningd",
                message: "FATAL SIGNAL 6"
            }
        );
        assert_eq!(
            split_line("lightningd: FATAL SIGNAL 6"),
            Line {
                level: None,
                subsystem: "lightningd",
                message: "FATAL SIGNAL 6"
            }
        );
        assert_eq!(
            split_line("Error executing statement: x"),
            Line {
                level: None,
                subsystem: "",
                message: "Error executing statement: x"
            }
        );
    }
}
