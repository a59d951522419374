//! AddressSanitizer and UndefinedBehaviorSanitizer reports (a build made
//! with `cln-harness build --sanitize address,undefined`, i.e. CLN's
//! `--enable-address-sanitizer` / `--enable-ub-sanitizer`), as one
//! signature each: what the sanitizer found and the top frames of CLN's
//! own code where it found it, as a crash state names a `FATAL SIGNAL`.
//!
//! A sanitized process writes its report to stderr (a subdaemon's stderr
//! is lightningd's) and exits; CLN's crash handler never runs, so no
//! `FATAL SIGNAL` names it. The formats (gcc's libsanitizer):
//!
//! ```text
//! ==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020 at pc 0x55d5 bp 0x7ffd sp 0x7ffd
//! READ of size 8 at 0x6020 thread T0
//!     #0 0x55d5c8a4b2e0 in tal_parent ccan/ccan/tal/tal.c:512
//!     #1 0x55d5c8a4c1f2 in peer_got_shutdown lightningd/peer_control.c:456
//! ...
//! common/amount.c:123:45: runtime error: signed integer overflow: 1 + 2 cannot be represented in type 'int'
//!     #0 0x55d5c8a4b2e0 in amount_msat_add common/amount.c:123
//! ```

use super::crash_state::{is_own_code, CRASH_STATE_FRAMES};
use super::{Signature, SignatureKind};
use crate::evidence::redact::Redactor;
use regex::Regex;
use std::sync::OnceLock;

struct Patterns {
    asan: Regex,
    ubsan: Regex,
    frame: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns {
        // The bug class, without where it hit (`on address 0x...`, `on unknown address`, `on 0x...`).
        asan: Regex::new(
            r"^==\d+==ERROR: (AddressSanitizer|LeakSanitizer): (.+?)(?: on (?:unknown )?(?:address )?0x[0-9a-fA-F]+.*)?$",
        )
        .expect("static regex"),
        ubsan: Regex::new(r"^(\S+?):\d+(?::\d+)?: runtime error: (.*)$").expect("static regex"),
        // `    #1 0x55d5c8a4c1f2 in peer_got_shutdown lightningd/peer_control.c:456[:7]`;
        // a frame with no source (`(/lib/.../libasan.so.8+0xd7ab0)`) has no file.
        frame: Regex::new(r"^\s*#\d+ 0x[0-9a-fA-F]+ in (\S+) (\S+?):\d+(?::\d+)?\s*$")
            .expect("static regex"),
    })
}

/// Does `text` hold a sanitizer report?
pub(super) fn has_report(text: &str) -> bool {
    let p = patterns();
    text.lines().any(|l| {
        p.asan.is_match(l.trim_end_matches('\r')) || p.ubsan.is_match(l.trim_end_matches('\r'))
    })
}

/// One signature per sanitizer report in `text`, in order.
pub(super) fn reports(node: &str, text: &str, r: &Redactor) -> Vec<Signature> {
    let p = patterns();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let what = if let Some(c) = p.asan.captures(line) {
            format!("{}: {}", &c[1], c[2].trim())
        } else if let Some(c) = p.ubsan.captures(line) {
            format!(
                "UndefinedBehaviorSanitizer: {}: runtime error: {}",
                Redactor::code_location(&c[1]),
                c[2].trim()
            )
        } else {
            continue;
        };
        let frames = first_stack(&lines[i + 1..], r);
        let text = if frames.is_empty() {
            what
        } else {
            format!("{what} at {}", frames.join(" < "))
        };
        out.push(Signature::new(
            node,
            SignatureKind::Sanitizer,
            r.redact(&text),
        ));
    }
    out
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
fn source_relative(file: &str) -> &str {
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

/// CLN's own frames of the report's first stack (the access; not where
/// the memory was allocated or freed), innermost first: up to
/// [`CRASH_STATE_FRAMES`]. A line or two (`READ of size 8 ...`) may come
/// between the report's first line and its frames.
fn first_stack(after: &[&str], r: &Redactor) -> Vec<String> {
    let p = patterns();
    let mut frames = Vec::new();
    let mut in_stack = false;
    for line in after.iter().take(64) {
        match p.frame.captures(line) {
            Some(c) => {
                in_stack = true;
                let (function, file) = (&c[1], source_relative(&c[2]));
                if is_own_code(file, function) && frames.len() < CRASH_STATE_FRAMES {
                    frames.push(r.crash_frame(file, function));
                }
            }
            // A libc or libasan frame has no source: still the stack.
            None if in_stack && line.trim_start().starts_with('#') => {}
            None if in_stack => break,
            None => {}
        }
    }
    frames
}
