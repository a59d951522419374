//! How a crash is named: what it was (`FATAL SIGNAL 11`, a sanitizer's
//! report) and the top frames of CLN's own code below the crash handler,
//! read from the frames that follow it.

use crate::evidence::redact::Redactor;

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

/// `FATAL SIGNAL 11 at common/json_filter.c (parse_filter) < ...`: what
/// happened and where it hit, innermost frame first.
pub(super) fn named_at(what: &str, frames: &[String]) -> String {
    if frames.is_empty() {
        what.to_string()
    } else {
        format!("{what} at {}", frames.join(" < "))
    }
}

/// The frames a crash state names, as redacted `file (function)`: CLN's
/// own only ([`is_own_code`]), innermost first, at most [`CRASH_STATE_FRAMES`].
#[derive(Default)]
pub(super) struct OwnFrames(pub Vec<String>);

impl OwnFrames {
    /// Takes the frame if it is CLN's own and there is room; true once full.
    pub fn add(&mut self, file: &str, function: &str, r: &Redactor) -> bool {
        if is_own_code(file, function) && self.0.len() < CRASH_STATE_FRAMES {
            self.0.push(r.crash_frame(file, function));
        }
        self.0.len() >= CRASH_STATE_FRAMES
    }
}

/// CLN's top-level source folders: where a frame's path starts once the
/// checkout's own location is cut off.
const SOURCE_DIRS: [&str; 19] = [
    "bitcoin",
    "ccan",
    "channeld",
    "cli",
    "closingd",
    "common",
    "connectd",
    "db",
    "devtools",
    "external",
    "gossipd",
    "hsmd",
    "lightningd",
    "onchaind",
    "openingd",
    "plugins",
    "tools",
    "wallet",
    "wire",
];

/// A frame's file relative to the checkout it was built in: clang prints
/// the absolute path (`/home/u/lightning/db/db_postgres.c`), gcc the path
/// as compiled (`db/db_postgres.c`). Signatures must not depend on where a
/// tree was built, so an absolute path is cut before the first of CLN's
/// top-level folders in it. A path with none (libc's, a system library's)
/// stays absolute and so is never one of CLN's own frames; one that climbs
/// (`csu/../sysdeps/...`, glibc's) is marked as not CLN's the same way.
pub(super) fn source_relative(file: &str) -> &str {
    if file.contains("../") {
        return "/";
    }
    if !file.starts_with('/') {
        return file;
    }
    SOURCE_DIRS
        .iter()
        .filter_map(|d| file.find(&format!("/{d}/")))
        .min()
        .map_or(file, |at| &file[at + 1..])
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
    pub frames: OwnFrames,
}

impl OpenCrash {
    pub fn text(&self) -> String {
        let state = named_at(&format!("FATAL SIGNAL {}", self.signal), &self.frames.0);
        match self.process.as_str() {
            "" | "lightningd" => state,
            other => format!("{other}: {state}"),
        }
    }
}
