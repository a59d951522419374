//! How a `FATAL SIGNAL` is named: the signal and the top frames of CLN's
//! own code below the crash handler, read from the frames that follow it.

/// How many of CLN's own frames a crash state names: enough to tell two
/// segfaults apart, few enough that a refactor far from the crash keeps
/// the signature (crash-triage systems dedupe on the top three).
pub(super) const CRASH_STATE_FRAMES: usize = 3;

/// Frames of the crash handler and of the helpers that only report a fatal
/// error, which every backtrace of such a death starts with:
/// `common/daemon.c` (`send_backtrace`, `crashdump`), `lightningd/log.c`
/// (`fatal`, `fatal_vfmt`, `log_backtrace_*`), `db/utils.c` and `wallet/db.c`
/// (`db_fatal`, `db_error`), `common/status.c` (`status_failed`). The crash
/// state starts at the code that called them.
const HANDLER_FRAMES: [&str; 9] = [
    "send_backtrace",
    "crashdump",
    "fatal",
    "fatal_vfmt",
    "log_backtrace_print",
    "log_backtrace_exit",
    "db_fatal",
    "db_error",
    "status_failed",
];

/// A frame a crash state names: CLN's own code only (no libc, whose paths
/// start with `.` or `/`, no `external/`, no unknown frames), the crash
/// handler left out.
pub(super) fn is_own_code(file: &str, function: &str) -> bool {
    !file.starts_with(['.', '/', '?', '('])
        && !file.starts_with("external/")
        && !HANDLER_FRAMES.contains(&function)
}

/// `FATAL SIGNAL 11 at common/json_filter.c (parse_filter) < ...`: the
/// signal and where it hit, innermost frame first.
fn crash_state(signal: &str, frames: &[String]) -> String {
    if frames.is_empty() {
        format!("FATAL SIGNAL {signal}")
    } else {
        format!("FATAL SIGNAL {signal} at {}", frames.join(" < "))
    }
}

/// A `FATAL SIGNAL` line while the backtrace frames right after it (in any
/// of the three formats) are read: its signature sits at `at` in the output
/// and names up to [`CRASH_STATE_FRAMES`] of them, as redacted
/// `file (function)`. The first line that is not a frame closes it.
pub(super) struct OpenCrash {
    pub at: usize,
    /// Which process died, unless it is lightningd itself (whose three
    /// texts name it differently: `lightningd`, or nothing). A subdaemon's
    /// log subsystem is `gossipd`, its stderr prefix `lightning_gossipd`:
    /// one name for both.
    pub process: String,
    pub signal: String,
    pub frames: Vec<String>,
}

impl OpenCrash {
    pub fn text(&self) -> String {
        let state = crash_state(&self.signal, &self.frames);
        match self.process.as_str() {
            "" | "lightningd" => state,
            other => format!("{other}: {state}"),
        }
    }
}
