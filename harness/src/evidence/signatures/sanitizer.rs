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

use super::crash_state::{named_at, source_relative, OwnFrames};
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
    text.lines()
        .any(|l| report_header(l.trim_end_matches('\r')).is_some())
}

/// What a report's first line says it found, if `line` is one:
/// `AddressSanitizer: heap-use-after-free`, or UBSan's file and error.
fn report_header(line: &str) -> Option<String> {
    let p = patterns();
    if let Some(c) = p.asan.captures(line) {
        return Some(format!("{}: {}", &c[1], c[2].trim()));
    }
    p.ubsan.captures(line).map(|c| {
        format!(
            "UndefinedBehaviorSanitizer: {}: runtime error: {}",
            Redactor::code_location(&c[1]),
            c[2].trim()
        )
    })
}

/// One signature per sanitizer report in `text`, in order.
pub(super) fn reports(node: &str, text: &str, r: &Redactor) -> Vec<Signature> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(what) = report_header(line) else {
            continue;
        };
        let frames = first_stack(&lines[i + 1..], r);
        out.push(Signature::new(
            node,
            SignatureKind::Sanitizer,
            r.redact(&named_at(&what, &frames)),
        ));
    }
    out
}

/// CLN's own frames of the report's first stack (the access; not where
/// the memory was allocated or freed), innermost first, as many as a
/// crash state names ([`OwnFrames`]). A line or two (`READ of size 8 ...`) may come
/// between the report's first line and its frames.
fn first_stack(after: &[&str], r: &Redactor) -> Vec<String> {
    let p = patterns();
    let mut frames = OwnFrames::default();
    let mut in_stack = false;
    for line in after.iter().take(64) {
        match p.frame.captures(line) {
            Some(c) => {
                in_stack = true;
                frames.add(source_relative(&c[2]), &c[1], r);
            }
            // A libc or libasan frame has no source: still the stack.
            None if in_stack && line.trim_start().starts_with('#') => {}
            None if in_stack => break,
            None => {}
        }
    }
    frames.0
}
