//! What a Core Lightning build needs from the machine: the list (pure, per
//! version: a tree's `configure` says whether it wants `lowdown`), the check
//! against a probe (pure; [`present_on_this_machine`] is the real probe) and
//! the message naming each missing piece with its Debian package.

use std::path::Path;
use std::process::{Command, Stdio};

/// One thing a CLN build needs from the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    /// What is missing, as the user would search for it.
    pub what: &'static str,
    /// The Debian/Ubuntu package that provides it.
    pub package: &'static str,
    pub check: Check,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A program on `PATH`.
    Tool(&'static str),
    /// A C header the compiler finds.
    Header(&'static str),
    /// A module `$PYTHON` (or `python3`) imports.
    PythonModule(&'static str),
}

pub(super) const fn tool(what: &'static str, package: &'static str) -> Prerequisite {
    Prerequisite {
        what,
        package,
        check: Check::Tool(what),
    }
}

/// What building the tree at `tree` needs. Versions differ: from v26.x
/// `lowdown` is no longer a submodule (configure stops with "We need
/// lowdown!"), and older trees carry their own libsodium.
pub fn prerequisites(tree: Option<&Path>) -> Vec<Prerequisite> {
    let mut v = vec![
        tool("git", "git"),
        tool("cc", "build-essential"),
        tool("make", "build-essential"),
        tool("autoconf", "autoconf"),
        tool("automake", "automake"),
        // Debian's libtool package installs `libtoolize`; `libtool` itself is generated per tree.
        tool("libtoolize", "libtool"),
        tool("gettext", "gettext"),
        Prerequisite {
            what: "sqlite3.h",
            package: "libsqlite3-dev",
            check: Check::Header("sqlite3.h"),
        },
        Prerequisite {
            what: "zlib.h",
            package: "zlib1g-dev",
            check: Check::Header("zlib.h"),
        },
        Prerequisite {
            what: "ffi.h",
            package: "libffi-dev",
            check: Check::Header("ffi.h"),
        },
        Prerequisite {
            what: "Python mako",
            package: "pip install mako (for the python3 on PATH)",
            check: Check::PythonModule("mako"),
        },
    ];
    if let Some(tree) = tree {
        let configure = std::fs::read_to_string(tree.join("configure")).unwrap_or_default();
        if configure.contains("We need lowdown") && !tree.join("external/lowdown/Makefile").exists()
        {
            v.push(tool("lowdown", "lowdown"));
        }
        if !tree
            .join("external/libsodium")
            .join("configure.ac")
            .exists()
        {
            v.push(Prerequisite {
                what: "sodium.h",
                package: "libsodium-dev",
                check: Check::Header("sodium.h"),
            });
        }
    }
    v
}

/// The prerequisites `present` says are absent.
pub fn missing(reqs: &[Prerequisite], present: &dyn Fn(&Check) -> bool) -> Vec<Prerequisite> {
    reqs.iter()
        .filter(|r| !present(&r.check))
        .cloned()
        .collect()
}

/// `missing`'s message: every absent thing and the packages that bring them.
pub fn describe_missing(missing: &[Prerequisite]) -> String {
    let what: Vec<String> = missing
        .iter()
        .map(|p| format!("{} ({})", p.what, p.package))
        .collect();
    format!("missing build prerequisites: {}", what.join(", "))
}

/// The probe the real build uses.
pub fn present_on_this_machine(check: &Check) -> bool {
    match check {
        Check::Tool(name) => crate::paths::path_dirs()
            .iter()
            .any(|d| is_executable(&d.join(name))),
        Check::Header(h) => run_quietly(
            Command::new("cc").args(["-E", "-x", "c", "-o", "/dev/null", "-"]),
            Some(&format!("#include <{h}>\n")),
        ),
        Check::PythonModule(m) => run_quietly(
            Command::new(python()).args(["-c", &format!("import {m}")]),
            None,
        ),
    }
}

pub(super) fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn run_quietly(cmd: &mut Command, stdin: Option<&str>) -> bool {
    use std::io::Write;
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    child.wait().map(|s| s.success()).unwrap_or(false)
}
