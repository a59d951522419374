//! `cln-harness build [--repo PATH] REF...`: Core Lightning built from the
//! user's own checkout at REF and installed as `<cache>/lightningd/<label>/`,
//! where discovery finds it by that label.
//!
//! - The label is `git describe --tags` of the commit, passed to `make` as
//!   `VERSION` and confirmed by the installed `lightningd --version`.
//! - The user's checkout is only read: the commit is checked out in a private
//!   `git clone --shared` (with the checkout's sparse-checkout patterns, so a
//!   tree missing large test blobs builds too), its submodules at the pinned
//!   revisions, and the clone is deleted afterwards.
//! - One build at a time per cache (a lock); output goes to a log file whose
//!   path is printed; the install is published with one rename, so a failed
//!   build leaves nothing behind but its log.
//!
//! The prerequisite list and its check are pure (tested with a fake probe);
//! the rest is IO.

use super::git::Repo;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

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

const fn tool(what: &'static str, package: &'static str) -> Prerequisite {
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

fn python() -> String {
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

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Configure with Rust plugins (default: `--disable-rust`, which halves the build).
    pub rust: bool,
    /// `make -j`.
    pub jobs: usize,
    /// How prerequisites are checked ([`present_on_this_machine`]; tests
    /// that build a fake tree with only `sh` and `make` pass their own).
    pub probe: fn(&Check) -> bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            rust: false,
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            probe: present_on_this_machine,
        }
    }
}

/// What one `build REF` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    New {
        label: String,
        commit: String,
        dir: PathBuf,
        log: PathBuf,
        seconds: u64,
    },
    /// The cache already had a build of this commit that says it is `label`.
    Reused {
        label: String,
        commit: String,
        dir: PathBuf,
    },
}

impl Built {
    pub fn label(&self) -> &str {
        match self {
            Built::New { label, .. } | Built::Reused { label, .. } => label,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Git(#[from] super::git::GitError),
    #[error("{}", describe_missing(.0))]
    Prerequisites(Vec<Prerequisite>),
    #[error("{label}: {phase} failed (exit {code}); last lines of {log}:\n{tail}")]
    Phase {
        label: String,
        phase: &'static str,
        code: String,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "{label}: the built lightningd says `{says}`, not the label; nothing installed (log {log})"
    )]
    WrongVersion {
        label: String,
        says: String,
        log: PathBuf,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] super::CacheLockError),
}

/// `create_dir_all`, its error naming the dir and, for a permission, whose
/// it is and what this user lacks (a cache shared between users).
fn create_dir(dir: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dir).map_err(|source| BuildError::Io {
        context: format!(
            "creating {} ({})",
            dir.display(),
            crate::userdirs::explain_io(dir, &source, crate::userdirs::Access::Create)
        ),
        source,
    })
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

/// Where builds of `label` are installed, and whether one is usable there.
fn installed(cache_root: &Path, label: &str) -> Option<PathBuf> {
    let dir = cache_root.join("lightningd").join(label);
    let version = crate::binaries::probe(&dir.join("bin/lightningd")).ok()?;
    crate::binaries::label_matches(label, &version).then_some(dir)
}

/// Build `reference` of `repo` into the cache (or reuse the build there).
/// `progress` gets one line per phase.
pub fn build(
    repo: &Repo,
    reference: &str,
    cache_root: &Path,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Built, BuildError> {
    let commit = repo.commit(reference)?;
    let label = repo.describe(&commit)?;
    if let Some(dir) = installed(cache_root, &label) {
        return Ok(Built::Reused { label, commit, dir });
    }
    let missing_now = missing(&prerequisites(None), &opts.probe);
    if !missing_now.is_empty() {
        return Err(BuildError::Prerequisites(missing_now));
    }
    create_dir(&cache_root.join("lightningd"))?;
    let _lock = super::CacheLock::acquire(&cache_root.join(".build.lock"))?;
    // Another build may have published it while we waited for the lock.
    if let Some(dir) = installed(cache_root, &label) {
        return Ok(Built::Reused { label, commit, dir });
    }
    let logs = cache_root.join("build-logs");
    create_dir(&logs)?;
    let log = logs.join(format!("{label}.log"));
    progress(&format!(
        "{label}: building {commit} (log {})",
        log.display()
    ));
    let work_root = cache_root.join(".build-work");
    create_dir(&work_root)?;
    // Deleted on every path out, the source tree and the unpublished install with it.
    let work = crate::userdirs::private_tempdir_in(&format!("{label}-"), &work_root)
        .map_err(io("creating the build work dir"))?;
    let (src, staged) = (work.path().join("src"), work.path().join("install"));
    let dest = cache_root.join("lightningd").join(&label);
    let mut runner = PhaseRunner {
        label: &label,
        log: &log,
        started: Instant::now(),
        progress,
        logfile: File::create(&log).map_err(io(format!("creating {}", log.display())))?,
    };

    let src_s = src.display().to_string();
    runner.run(
        "clone",
        Command::new("git")
            .args(["clone", "--quiet", "--shared", "--no-checkout"])
            .arg(&repo.path)
            .arg(&src),
    )?;
    if let Some(patterns) = repo.sparse_patterns() {
        runner.run(
            "sparse-checkout",
            Command::new("git").args(["-C", &src_s, "sparse-checkout", "init", "--no-cone"]),
        )?;
        let file = Repo::new(&src).git(&["rev-parse", "--git-path", "info/sparse-checkout"])?;
        std::fs::write(src.join(file), patterns)
            .map_err(io("writing the clone's sparse-checkout patterns"))?;
    }
    runner.run(
        "checkout",
        Command::new("git").args(["-C", &src_s, "checkout", "--quiet", "--detach", &commit]),
    )?;
    runner.run(
        "submodules",
        Command::new("git").args(["-C", &src_s, "submodule", "update", "--init", "--recursive"]),
    )?;
    let tree_missing = missing(&prerequisites(Some(&src)), &opts.probe);
    if !tree_missing.is_empty() {
        return Err(BuildError::Prerequisites(tree_missing));
    }
    let mut configure = Command::new("./configure");
    configure
        .current_dir(&src)
        .arg(format!("--prefix={}", dest.display()))
        .arg("--disable-valgrind");
    if !opts.rust {
        configure.arg("--disable-rust");
    }
    // v26.x looks for Python through `uv` unless PYTHON is set.
    let python = python();
    runner.run("configure", configure.env("PYTHON", &python))?;
    let version = format!("VERSION={label}");
    runner.run(
        "make",
        Command::new("make")
            .current_dir(&src)
            .arg(format!("-j{}", opts.jobs.max(1)))
            .arg(&version)
            .env("PYTHON", &python),
    )?;
    runner.run(
        "install",
        Command::new("make")
            .current_dir(&src)
            .arg("install")
            .arg(format!("PREFIX={}", staged.display()))
            .arg(&version)
            .env("PYTHON", &python),
    )?;
    let says = crate::binaries::probe(&staged.join("bin/lightningd"))
        .map(|v| v.raw)
        .unwrap_or_else(|e| format!("unusable: {e}"));
    if says != label {
        return Err(BuildError::WrongVersion { label, says, log });
    }
    std::fs::rename(&staged, &dest).map_err(io(format!("publishing {}", dest.display())))?;
    let seconds = runner.started.elapsed().as_secs();
    (runner.progress)(&format!(
        "{label}: installed into {} in {seconds}s",
        dest.display()
    ));
    Ok(Built::New {
        label,
        commit,
        dir: dest,
        log,
        seconds,
    })
}

/// Runs one phase's command with its output in the log, and reports it.
struct PhaseRunner<'a> {
    label: &'a str,
    log: &'a Path,
    started: Instant,
    progress: &'a mut dyn FnMut(&str),
    logfile: File,
}

impl PhaseRunner<'_> {
    fn run(&mut self, phase: &'static str, cmd: &mut Command) -> Result<(), BuildError> {
        use std::io::Write;
        (self.progress)(&format!(
            "{}: {phase} ({}s)",
            self.label,
            self.started.elapsed().as_secs()
        ));
        let _ = writeln!(self.logfile, "### {phase}: {cmd:?}");
        let out = self
            .logfile
            .try_clone()
            .map_err(io("duplicating the log handle"))?;
        let err = self
            .logfile
            .try_clone()
            .map_err(io("duplicating the log handle"))?;
        let status = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(io(format!("running {phase}")))?;
        if status.success() {
            return Ok(());
        }
        let text = std::fs::read_to_string(self.log).unwrap_or_default();
        Err(BuildError::Phase {
            label: self.label.to_string(),
            phase,
            code: status
                .code()
                .map_or("by a signal".into(), |c| c.to_string()),
            log: self.log.to_path_buf(),
            tail: crate::text::tail(&text, 1200),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::git::testing;

    #[test]
    fn prerequisites_name_what_is_missing_and_the_package() {
        let reqs = prerequisites(None);
        let absent = missing(&reqs, &|c| {
            !matches!(c, Check::Header("zlib.h") | Check::PythonModule("mako"))
        });
        let msg = describe_missing(&absent);
        assert_eq!(msg, "missing build prerequisites: zlib.h (zlib1g-dev), Python mako (pip install mako (for the python3 on PATH))");
        assert!(missing(&reqs, &|_| true).is_empty());
    }

    #[test]
    fn newer_trees_need_lowdown_and_system_libsodium() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("configure"), "echo 'We need lowdown!'").unwrap();
        let whats: Vec<&str> = prerequisites(Some(tree.path()))
            .iter()
            .map(|p| p.what)
            .collect();
        assert!(
            whats.contains(&"lowdown") && whats.contains(&"sodium.h"),
            "{whats:?}"
        );
        // An older tree carries both as submodules.
        std::fs::create_dir_all(tree.path().join("external/lowdown")).unwrap();
        std::fs::write(tree.path().join("external/lowdown/Makefile"), "").unwrap();
        std::fs::create_dir_all(tree.path().join("external/libsodium")).unwrap();
        std::fs::write(tree.path().join("external/libsodium/configure.ac"), "").unwrap();
        let whats: Vec<&str> = prerequisites(Some(tree.path()))
            .iter()
            .map(|p| p.what)
            .collect();
        assert!(
            !whats.contains(&"lowdown") && !whats.contains(&"sodium.h"),
            "{whats:?}"
        );
    }

    /// A fake "Core Lightning" whose configure/make/install are shell
    /// scripts: the real pipeline (clone, checkout, phases, publish) runs
    /// end to end without a compiler's worth of time.
    fn fake_cln(dir: &Path, lightningd_says: &str) {
        testing::init(dir);
        let configure = "#!/bin/sh\necho configured \"$@\"\n";
        let makefile = format!(
            "all:\n\techo built $(VERSION)\ninstall:\n\tmkdir -p $(PREFIX)/bin\n\tprintf '#!/bin/sh\\necho {lightningd_says}\\n' > $(PREFIX)/bin/lightningd\n\tchmod +x $(PREFIX)/bin/lightningd\n"
        );
        // Executable before `git add`, so the clone checks it out executable.
        std::fs::write(dir.join("configure"), configure).unwrap();
        std::fs::set_permissions(
            dir.join("configure"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        testing::commit(
            dir,
            &[("configure", configure), ("Makefile", &makefile)],
            "fake cln",
        );
        testing::git_in(dir, &["tag", "v9.1"]);
    }

    /// The fake tree needs only git, sh and make, whatever else the machine lacks.
    fn fake_opts() -> BuildOptions {
        BuildOptions {
            probe: |_| true,
            ..BuildOptions::default()
        }
    }

    #[test]
    fn builds_a_tag_into_the_cache_then_reuses_it_and_leaves_the_checkout_alone() {
        let (repo_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_cln(repo_dir.path(), "v9.1");
        let repo = Repo::new(repo_dir.path());
        let status_before = repo.git(&["status", "--porcelain", "--ignored"]).unwrap();
        let mut lines = Vec::new();
        let built = build(&repo, "v9.1", cache.path(), &fake_opts(), &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
        let Built::New {
            label, dir, log, ..
        } = &built
        else {
            panic!("{built:?}")
        };
        assert_eq!(label, "v9.1");
        assert_eq!(dir, &cache.path().join("lightningd/v9.1"));
        assert!(dir.join("bin/lightningd").is_file());
        assert!(std::fs::read_to_string(log).unwrap().contains("built v9.1"));
        for phase in [
            "clone",
            "checkout",
            "submodules",
            "configure",
            "make",
            "install",
        ] {
            assert!(
                lines.iter().any(|l| l.contains(&format!(": {phase} ("))),
                "{phase}: {lines:?}"
            );
        }
        assert_eq!(
            std::fs::read_dir(cache.path().join(".build-work"))
                .unwrap()
                .count(),
            0,
            "work dir left behind"
        );
        assert_eq!(
            repo.git(&["status", "--porcelain", "--ignored"]).unwrap(),
            status_before
        );
        let again = build(&repo, "v9.1", cache.path(), &fake_opts(), &mut |_| {}).unwrap();
        assert!(matches!(again, Built::Reused { .. }), "{again:?}");
    }

    #[test]
    fn a_build_whose_lightningd_disagrees_installs_nothing() {
        let (repo_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_cln(repo_dir.path(), "v0.0-wrong");
        let repo = Repo::new(repo_dir.path());
        let e = build(&repo, "v9.1", cache.path(), &fake_opts(), &mut |_| {}).unwrap_err();
        assert!(matches!(e, BuildError::WrongVersion { .. }), "{e}");
        assert!(!cache.path().join("lightningd/v9.1").exists());
        let e = build(&repo, "nope", cache.path(), &fake_opts(), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("`nope` is not a commit"), "{e}");
    }
}
