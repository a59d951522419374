//! `cln-harness build [--repo PATH] REF...`: Core Lightning built from the
//! user's own checkout at REF and installed as `<cache>/lightningd/<label>/`,
//! where discovery finds it by that label.
//!
//! - The label is `git describe --tags` of the commit, passed to `make` as
//!   `VERSION` and confirmed by the installed `lightningd --version`.
//! - The build runs in the persistent tree of the checkout ([`super::tree`]:
//!   a git worktree under the cache, the checkout's sparse-checkout
//!   patterns copied), so the next commit rebuilds only what changed;
//!   ccache is used when on `PATH`. The user's working tree, index and
//!   HEAD are never touched (the worktree is registered in its git dir).
//! - A reuse of an installed label builds nothing; a failed incremental
//!   build, or one whose lightningd says another version, is followed by
//!   one clean build.
//! - One build at a time per cache (a lock), and per tree; output goes to a
//!   log file whose path is printed; the install is published with one
//!   rename, so a failed build leaves nothing behind but its log.
//!
//! The prerequisite list and its check ([`super::prereqs`]) are pure (tested
//! with a fake probe), as are the tree's decisions ([`TreeState`]); the rest
//! is IO.

use super::git::Repo;
use super::prereqs::python;
pub use super::prereqs::{
    describe_missing, missing, prerequisites, present_on_this_machine, Check, Prerequisite,
};
use super::tree::{configure_inputs, tree_dir, BuildTree, TreeState};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Configure with Rust plugins (default: `--disable-rust`, which halves the build).
    pub rust: bool,
    /// `make -j`.
    pub jobs: usize,
    /// Sanitizers to build in ([`super::sanitize`]): their own label and tree.
    pub sanitize: Vec<super::sanitize::Sanitizer>,
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
            sanitize: Vec::new(),
            probe: present_on_this_machine,
        }
    }
}

/// How a build came about, as the bisect log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildKind {
    /// Already installed under its label: nothing built.
    Reuse,
    /// `make` in the persistent tree, rebuilding what changed since its last build.
    Incremental,
    /// From a fresh tree (the first build, or after a stale or broken one).
    Clean,
}

impl BuildKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BuildKind::Reuse => "reuse",
            BuildKind::Incremental => "incremental",
            BuildKind::Clean => "clean",
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
        /// Incremental, or clean (first build in the tree, or the fallback).
        kind: BuildKind,
        /// Why an incremental build was abandoned for a clean one.
        fallback: Option<String>,
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

    pub fn kind(&self) -> BuildKind {
        match self {
            Built::New { kind, .. } => *kind,
            Built::Reused { .. } => BuildKind::Reuse,
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
    #[error("{label}: configure did not keep {dropped:?} (its compiler test for it failed; see {log}); nothing installed")]
    SanitizerDropped {
        label: String,
        dropped: Vec<super::sanitize::Sanitizer>,
        log: PathBuf,
    },
}

impl BuildError {
    /// One line for the bisect log and the fallback message.
    pub fn headline(&self) -> String {
        match self {
            BuildError::Phase { phase, code, .. } => format!("{phase} failed (exit {code})"),
            BuildError::WrongVersion { says, .. } => format!("lightningd says `{says}`"),
            e => crate::text::truncate(&e.to_string(), 200),
        }
    }
}

/// `create_dir_all`, its error naming the dir and, for a permission, whose
/// it is and what this user lacks (a cache shared between users).
pub(crate) fn create_dir(dir: &Path) -> Result<(), BuildError> {
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

/// The prefix the tree is configured with. Constant, so configure's output
/// and every object's flags (`-DBINDIR=...`) are the same whatever label
/// is built (ccache hits, no reconfigure); installs go to
/// `DESTDIR=<staging>` and are published from `<staging>/<PREFIX>`.
/// lightningd finds its subdaemons relative to its own binary, so the
/// prefix compiled in does not matter where the tree ends up.
const PREFIX: &str = "/usr/local";

/// The configuration a tree is kept per (with Rust or not, its
/// sanitizers): switching between them never rebuilds a tree from scratch.
fn config_name(opts: &BuildOptions) -> String {
    let rust = if opts.rust { "rust" } else { "norust" };
    format!("{rust}{}", super::sanitize::suffix(&opts.sanitize))
}

/// Build `reference` of `repo` into the cache (or reuse the build there).
/// `progress` gets one line per phase.
///
/// The build runs in the persistent tree of `repo` ([`super::tree`]):
/// incrementally when its last build finished, else clean. An incremental
/// build that fails, or whose lightningd does not say the label, is
/// followed by one clean build: a stale tree costs time, never a wrong
/// binary.
pub fn build(
    repo: &Repo,
    reference: &str,
    cache_root: &Path,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Built, BuildError> {
    let commit = repo.commit(reference)?;
    let label = repo.describe(&commit)? + &super::sanitize::suffix(&opts.sanitize);
    if let Some(dir) = installed(cache_root, &label) {
        return Ok(Built::Reused { label, commit, dir });
    }
    let mut needed = prerequisites(None);
    needed.extend(super::sanitize::prerequisites(&opts.sanitize));
    let missing_now = missing(&needed, &opts.probe);
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
    let tree = BuildTree::open(tree_dir(cache_root, repo, &config_name(opts))?)?;
    let work_root = cache_root.join(".build-work");
    create_dir(&work_root)?;
    let dest = cache_root.join("lightningd").join(&label);
    let mut runner = PhaseRunner {
        label: &label,
        log: &log,
        started: Instant::now(),
        progress,
        logfile: File::create(&log).map_err(io(format!("creating {}", log.display())))?,
    };
    let first = match tree.state(repo) {
        Some(s) if s.reusable() => BuildKind::Incremental,
        _ => BuildKind::Clean,
    };
    (runner.progress)(&format!(
        "{label}: building {commit} ({} in {}; log {})",
        first.as_str(),
        tree.src().display(),
        log.display()
    ));
    let attempt = |runner: &mut PhaseRunner, kind| {
        // Deleted on every path out, with the unpublished install in it.
        let staging = crate::userdirs::private_tempdir_in(&format!("{label}-"), &work_root)
            .map_err(io("creating the staging dir"))?;
        build_in_tree(repo, &tree, &commit, kind, opts, staging.path(), runner)?;
        let staged = staging.path().join(PREFIX.trim_start_matches('/'));
        let says = crate::binaries::probe(&staged.join("bin/lightningd"))
            .map(|v| v.raw)
            .unwrap_or_else(|e| format!("unusable: {e}"));
        if says != label {
            // The tree built something else: not a tree to build on.
            let _ = tree.wipe(repo);
            return Err(BuildError::WrongVersion {
                label: label.clone(),
                says,
                log: log.clone(),
            });
        }
        std::fs::rename(&staged, &dest).map_err(io(format!("publishing {}", dest.display())))
    };
    let (kind, fallback) = match attempt(&mut runner, first) {
        Ok(()) => (first, None),
        Err(e @ BuildError::Prerequisites(_)) => return Err(e),
        Err(e) if first == BuildKind::Incremental => {
            let why = format!("incremental build failed: {}", e.headline());
            (runner.progress)(&format!("{label}: {why}; one clean build"));
            attempt(&mut runner, BuildKind::Clean)?;
            (BuildKind::Clean, Some(why))
        }
        Err(e) => return Err(e),
    };
    let seconds = runner.started.elapsed().as_secs();
    (runner.progress)(&format!(
        "{label}: installed into {} ({} build, {seconds}s)",
        dest.display(),
        kind.as_str()
    ));
    Ok(Built::New {
        label,
        commit,
        dir: dest,
        log,
        seconds,
        kind,
        fallback,
    })
}

/// A new worktree of the user's checkout in place of the tree, at
/// `commit` but not checked out yet, with the checkout's sparse-checkout
/// patterns (a mirror without some large blobs needs them).
fn fresh_worktree(
    repo: &Repo,
    tree: &BuildTree,
    commit: &str,
    runner: &mut PhaseRunner,
) -> Result<(), BuildError> {
    let src = tree.src();
    tree.wipe(repo)
        .map_err(io(format!("removing {}", src.display())))?;
    runner.run(
        "worktree",
        Command::new("git")
            .arg("-C")
            .arg(&repo.path)
            .args(["worktree", "add", "--force", "--detach", "--no-checkout"])
            .arg(&src)
            .arg(commit),
    )?;
    if let Some(patterns) = repo.sparse_patterns() {
        // The user's sparse-checkout setting is shared by its
        // worktrees; the patterns file is per worktree.
        let file = Repo::new(&src).git(&["rev-parse", "--git-path", "info/sparse-checkout"])?;
        let file = if Path::new(&file).is_absolute() {
            PathBuf::from(file)
        } else {
            src.join(file)
        };
        if let Some(dir) = file.parent() {
            create_dir(dir)?;
        }
        std::fs::write(&file, patterns)
            .map_err(io("writing the tree's sparse-checkout patterns"))?;
    }
    Ok(())
}

/// Bring the tree to `commit` and install its build under `staging`
/// (`DESTDIR`). The state is marked incomplete first and complete only at
/// the end, so an interruption anywhere leaves a tree the next build
/// will not trust.
fn build_in_tree(
    repo: &Repo,
    tree: &BuildTree,
    commit: &str,
    kind: BuildKind,
    opts: &BuildOptions,
    staging: &Path,
    runner: &mut PhaseRunner,
) -> Result<(), BuildError> {
    let src = tree.src();
    let src_s = src.display().to_string();
    let mut state = match kind {
        BuildKind::Incremental => tree.state(repo).unwrap_or_default(),
        _ => {
            fresh_worktree(repo, tree, commit, runner)?;
            TreeState::default()
        }
    };
    let save = |s: &TreeState| tree.save(s).map_err(io("saving the build tree's state"));
    state.complete = false;
    state.commit = commit.to_string();
    save(&state)?;
    runner.run(
        "checkout",
        Command::new("git").args([
            "-C", &src_s, "checkout", "--quiet", "--force", "--detach", commit,
        ]),
    )?;
    let pins = tree.submodule_pins()?;
    let fresh = kind == BuildKind::Clean;
    if fresh || state.needs_submodules(&pins) {
        if !fresh {
            // The submodules' own builds (libwally, libbacktrace, ...) only
            // follow their headers: new pins get a fresh external build.
            remove_external_builds(&src)?;
        }
        runner.run(
            "submodules",
            Command::new("git").args([
                "-C",
                &src_s,
                "submodule",
                "update",
                "--init",
                "--recursive",
                "--force",
            ]),
        )?;
        state.submodules = pins;
        save(&state)?;
    }
    let tree_missing = missing(&prerequisites(Some(&src)), &opts.probe);
    if !tree_missing.is_empty() {
        return Err(BuildError::Prerequisites(tree_missing));
    }
    let mut args = vec![
        format!("--prefix={PREFIX}"),
        "--disable-valgrind".to_string(),
    ];
    if !opts.rust {
        args.push("--disable-rust".into());
    }
    args.extend(super::sanitize::configure_args(&opts.sanitize));
    // v26.x looks for Python through `uv` unless PYTHON is set.
    let python = python();
    let path = match super::tree::ccache_dir(&tree.dir) {
        Some(dir) => format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        None => std::env::var("PATH").unwrap_or_default(),
    };
    let inputs = configure_inputs(
        &src,
        &args,
        &[("PYTHON", python.clone()), ("PATH", path.clone())],
    );
    if state.needs_configure(&inputs, src.join("config.vars").is_file()) {
        runner.run(
            "configure",
            Command::new("./configure")
                .current_dir(&src)
                .args(&args)
                .env("PYTHON", &python)
                .env("PATH", &path),
        )?;
        state.configured = inputs;
        save(&state)?;
    }
    let vars = std::fs::read_to_string(src.join("config.vars")).unwrap_or_default();
    let dropped = super::sanitize::dropped(&opts.sanitize, &vars);
    if !dropped.is_empty() {
        return Err(BuildError::SanitizerDropped {
            label: runner.label.to_string(),
            dropped,
            log: runner.log.to_path_buf(),
        });
    }
    let label = runner.label.to_string();
    // Only what `install-program` needs (lightningd, its subdaemons and
    // plugins): not the unit tests and man pages the default target adds.
    runner.run(
        "make",
        Command::new("make")
            .current_dir(&src)
            .arg(format!("-j{}", opts.jobs.max(1)))
            .arg(format!("VERSION={label}"))
            .arg(format!("DESTDIR={}", staging.display()))
            .arg("install-program")
            .env("PYTHON", &python)
            .env("PATH", &path),
    )?;
    state.complete = true;
    save(&state)
}

/// `external/build-*`: where CLN's Makefile builds the submodules.
fn remove_external_builds(src: &Path) -> Result<(), BuildError> {
    let Ok(entries) = std::fs::read_dir(src.join("external")) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with("build-") {
            std::fs::remove_dir_all(e.path())
                .map_err(io(format!("removing {}", e.path().display())))?;
        }
    }
    Ok(())
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

    /// A fake "Core Lightning" whose configure and make are shell: the real
    /// pipeline (worktree, checkout, phases, publish) runs end to end
    /// without a compiler's worth of time. Its lightningd says `says`, or
    /// the `VERSION` make was given. `make` fails in a tree holding a file
    /// named `poison` (a stale artefact a clean tree does not have), and
    /// counts its runs in the untracked `made` (which an incremental
    /// build keeps).
    fn fake_cln(dir: &Path, says: Option<&str>) {
        testing::init(dir);
        let configure = "#!/bin/sh\necho configured \"$@\"\necho \"$@\" > config.vars\n";
        let says = says.unwrap_or("$(VERSION)");
        let makefile = format!(
            "install-program:\n\t@if [ -f poison ]; then echo stale tree; exit 1; fi\n\techo x >> made\n\techo built $(VERSION)\n\tmkdir -p $(DESTDIR)/usr/local/bin\n\tprintf '#!/bin/sh\\necho {says}\\n' > $(DESTDIR)/usr/local/bin/lightningd\n\tchmod +x $(DESTDIR)/usr/local/bin/lightningd\n"
        );
        // Executable before `git add`, so the worktree checks it out executable.
        std::fs::write(dir.join("configure"), configure).unwrap();
        std::fs::set_permissions(
            dir.join("configure"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(dir.join(".gitignore"), "made\nconfig.vars\npoison\n").unwrap();
        testing::commit(
            dir,
            &[
                ("configure", configure),
                ("Makefile", &makefile),
                (".gitignore", "made\nconfig.vars\npoison\n"),
            ],
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

    /// Build `reference`; the build and the phases it ran (`configure`, `make`, ...).
    fn build_ref(repo: &Repo, reference: &str, cache: &Path) -> (Built, Vec<String>) {
        let mut lines = Vec::new();
        let built = build(repo, reference, cache, &fake_opts(), &mut |l| {
            lines.push(l.to_string())
        })
        .unwrap();
        let phases = lines
            .iter()
            .filter_map(|l| {
                let (_, rest) = l.split_once(": ")?;
                let (phase, time) = rest.split_once(" (")?;
                (time.ends_with("s)") && !phase.contains(' ')).then(|| phase.to_string())
            })
            .collect();
        (built, phases)
    }

    fn src_of(repo: &Repo, cache: &Path) -> PathBuf {
        tree_dir(cache, repo, "norust").unwrap().join("src")
    }

    #[test]
    fn builds_a_tag_into_the_cache_then_reuses_it_and_leaves_the_checkout_alone() {
        let (repo_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_cln(repo_dir.path(), None);
        let repo = Repo::new(repo_dir.path());
        let head_before = repo.git(&["rev-parse", "HEAD"]).unwrap();
        let status_before = repo.git(&["status", "--porcelain", "--ignored"]).unwrap();
        let (built, phases) = build_ref(&repo, "v9.1", cache.path());
        let Built::New {
            label,
            dir,
            log,
            kind,
            ..
        } = &built
        else {
            panic!("{built:?}")
        };
        assert_eq!((label.as_str(), *kind), ("v9.1", BuildKind::Clean));
        assert_eq!(dir, &cache.path().join("lightningd/v9.1"));
        assert!(dir.join("bin/lightningd").is_file());
        assert!(std::fs::read_to_string(log).unwrap().contains("built v9.1"));
        assert_eq!(
            phases,
            ["worktree", "checkout", "submodules", "configure", "make"]
        );
        assert_eq!(
            std::fs::read_dir(cache.path().join(".build-work"))
                .unwrap()
                .count(),
            0,
            "staging dir left behind"
        );
        assert_eq!(
            repo.git(&["status", "--porcelain", "--ignored"]).unwrap(),
            status_before
        );
        assert_eq!(repo.git(&["rev-parse", "HEAD"]).unwrap(), head_before);
        let (again, phases) = build_ref(&repo, "v9.1", cache.path());
        assert_eq!(again.kind(), BuildKind::Reuse, "{again:?}");
        assert!(phases.is_empty(), "a reuse runs nothing: {phases:?}");
    }

    /// The issue: every picked commit was a fresh clone, configure and a
    /// full build. The next commit is built in the same tree, with neither
    /// submodules nor configure re-run when their inputs did not move.
    #[test]
    fn the_next_commit_is_built_incrementally_in_the_same_tree() {
        let (repo_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_cln(repo_dir.path(), None);
        let repo = Repo::new(repo_dir.path());
        build_ref(&repo, "v9.1", cache.path());
        testing::commit(repo_dir.path(), &[("lightningd.c", "v2")], "a change");
        let (built, phases) = build_ref(&repo, "HEAD", cache.path());
        assert_eq!(built.kind(), BuildKind::Incremental, "{built:?}");
        assert!(built.label().starts_with("v9.1-1-g"), "{built:?}");
        assert_eq!(phases, ["checkout", "make"]);
        let src = src_of(&repo, cache.path());
        assert_eq!(
            std::fs::read_to_string(src.join("made")).unwrap(),
            "x\nx\n",
            "the first build's artefacts are still there"
        );
        assert!(src.join("lightningd.c").is_file());
        // A commit that changes configure re-runs it.
        let configure = "#!/bin/sh\necho configured v2 \"$@\"\necho \"$@\" > config.vars\n";
        testing::commit(
            repo_dir.path(),
            &[("configure", configure)],
            "configure changed",
        );
        let (built, phases) = build_ref(&repo, "HEAD", cache.path());
        assert_eq!(built.kind(), BuildKind::Incremental);
        assert_eq!(phases, ["checkout", "configure", "make"]);
    }

    /// A stale tree costs one clean build, never a wrong binary.
    #[test]
    fn a_failed_incremental_build_falls_back_to_one_clean_build() {
        let (repo_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_cln(repo_dir.path(), None);
        let repo = Repo::new(repo_dir.path());
        build_ref(&repo, "v9.1", cache.path());
        std::fs::write(src_of(&repo, cache.path()).join("poison"), "").unwrap();
        testing::commit(repo_dir.path(), &[("lightningd.c", "v2")], "a change");
        let (built, phases) = build_ref(&repo, "HEAD", cache.path());
        let Built::New { kind, fallback, .. } = &built else {
            panic!("{built:?}")
        };
        assert_eq!(*kind, BuildKind::Clean);
        assert_eq!(
            fallback.as_deref(),
            Some("incremental build failed: make failed (exit 2)")
        );
        assert_eq!(
            phases,
            [
                "checkout",
                "make",
                "worktree",
                "checkout",
                "submodules",
                "configure",
                "make"
            ]
        );
        assert!(!src_of(&repo, cache.path()).join("poison").exists());
    }

    /// A build that was interrupted (its state never marked complete) is
    /// not built on: its objects may be half written.
    #[test]
    fn an_interrupted_build_leaves_a_tree_the_next_build_starts_clean() {
        let (repo_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_cln(repo_dir.path(), None);
        let repo = Repo::new(repo_dir.path());
        build_ref(&repo, "v9.1", cache.path());
        let tree = BuildTree::open(tree_dir(cache.path(), &repo, "norust").unwrap()).unwrap();
        let mut state = tree.state(&repo).unwrap();
        state.complete = false;
        tree.save(&state).unwrap();
        drop(tree);
        testing::commit(repo_dir.path(), &[("lightningd.c", "v2")], "a change");
        let (built, phases) = build_ref(&repo, "HEAD", cache.path());
        assert_eq!(built.kind(), BuildKind::Clean);
        assert_eq!(phases[0], "worktree");
    }

    #[test]
    fn a_build_whose_lightningd_disagrees_installs_nothing() {
        let (repo_dir, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fake_cln(repo_dir.path(), Some("v0.0-wrong"));
        let repo = Repo::new(repo_dir.path());
        let e = build(&repo, "v9.1", cache.path(), &fake_opts(), &mut |_| {}).unwrap_err();
        assert!(matches!(e, BuildError::WrongVersion { .. }), "{e}");
        assert!(!cache.path().join("lightningd/v9.1").exists());
        let e = build(&repo, "nope", cache.path(), &fake_opts(), &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("`nope` is not a commit"), "{e}");
    }
}
