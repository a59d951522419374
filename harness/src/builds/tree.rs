//! The persistent build tree behind `build` and `bisect`: one git worktree
//! of the user's checkout per (repository, configuration), under
//! `<cache>/build-trees/<name>-<hash>/src`, checked out to each commit that
//! is built, so `make` rebuilds only what changed since the last one.
//!
//! What is re-done before `make` is decided from [`TreeState`], saved beside
//! the tree: submodules only when their pins moved, configure only when its
//! inputs did (the configure script, the configurator, the options, the
//! compiler wrapper). A tree whose last build did not finish is never
//! reused: an interrupted `make` can leave objects newer than their sources.
//!
//! One writer per tree: [`BuildTree::open`] holds a lock on it while alive.

use super::git::Repo;
use super::CacheLock;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What the tree holds, as the last build left it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeState {
    /// The commit checked out.
    pub commit: String,
    /// [`configure_inputs`] of the last configure that ran to the end.
    pub configured: String,
    /// The submodule pins last updated to ([`BuildTree::submodule_pins`]).
    pub submodules: String,
    /// The last build finished and was published. False from the moment a
    /// build starts changing the tree.
    pub complete: bool,
}

impl TreeState {
    /// The tree can be built in incrementally.
    pub fn reusable(&self) -> bool {
        self.complete && !self.commit.is_empty()
    }

    pub fn needs_submodules(&self, pins: &str) -> bool {
        self.submodules != pins
    }

    /// `config_vars`: whether the tree has configure's output at all.
    pub fn needs_configure(&self, inputs: &str, config_vars: bool) -> bool {
        !config_vars || self.configured != inputs
    }
}

/// A hash of everything configure's output depends on that the harness
/// controls or that the commit changes: the script, the configurator it
/// compiles, the arguments and environment it runs with.
pub fn configure_inputs(src: &Path, args: &[String], env: &[(&str, String)]) -> String {
    let mut h = Sha256::new();
    for f in ["configure", "ccan/tools/configurator/configurator.c"] {
        h.update(f.as_bytes());
        h.update(std::fs::read(src.join(f)).unwrap_or_default());
        h.update([0]);
    }
    for a in args {
        h.update(a.as_bytes());
        h.update([0]);
    }
    for (k, v) in env {
        h.update(format!("{k}={v}").as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The persistent tree for one repository and configuration, locked.
pub struct BuildTree {
    pub dir: PathBuf,
    _lock: CacheLock,
}

/// Where the tree of `repo` built with `config` lives: the checkout's name
/// (for the reader of the cache) and a hash of its git dir and the
/// configuration (so two checkouts, or two configurations, never share one).
pub fn tree_dir(
    cache_root: &Path,
    repo: &Repo,
    config: &str,
) -> Result<PathBuf, super::git::GitError> {
    let common = repo.common_dir()?;
    let name: String = common
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut h = Sha256::new();
    h.update(common.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(config.as_bytes());
    let hash = hex::encode(&h.finalize()[..8]);
    Ok(cache_root
        .join("build-trees")
        .join(format!("{name}-{config}-{hash}")))
}

impl BuildTree {
    /// The tree's dir (created) and its lock, held until dropped.
    pub fn open(dir: PathBuf) -> Result<BuildTree, super::build::BuildError> {
        super::build::create_dir(&dir)?;
        let lock = CacheLock::acquire(&dir.join(".lock"))?;
        Ok(BuildTree { dir, _lock: lock })
    }

    /// The worktree itself.
    pub fn src(&self) -> PathBuf {
        self.dir.join("src")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// The saved state, if the tree is still the worktree of `repo` it was
    /// made as (a checkout moved or deleted, a cache copied elsewhere: none).
    pub fn state(&self, repo: &Repo) -> Option<TreeState> {
        let state: TreeState =
            serde_json::from_slice(&std::fs::read(self.state_path()).ok()?).ok()?;
        let ours = Repo::new(&self.src()).common_dir().ok()?;
        (ours == repo.common_dir().ok()?).then_some(state)
    }

    /// Saved by a rename, so a crash leaves the old state or the new.
    pub fn save(&self, state: &TreeState) -> std::io::Result<()> {
        let tmp = self.dir.join("state.json.new");
        std::fs::write(&tmp, serde_json::to_vec_pretty(state).unwrap_or_default())?;
        std::fs::rename(tmp, self.state_path())
    }

    /// Remove the worktree (its registration in `repo` too) and the state,
    /// for a clean build.
    pub fn wipe(&self, repo: &Repo) -> std::io::Result<()> {
        let _ = std::fs::remove_file(self.state_path());
        let src = self.src();
        if src.exists() {
            // Unregisters it from the user's repository; the directory
            // goes either way.
            let _ = repo.git(&["worktree", "remove", "--force", &src.display().to_string()]);
            if src.exists() {
                std::fs::remove_dir_all(&src)?;
            }
        }
        Ok(())
    }

    /// The submodule pins of the checked-out commit: every gitlink in the index.
    pub fn submodule_pins(&self) -> Result<String, super::git::GitError> {
        let staged = Repo::new(&self.src()).git(&["ls-files", "--stage"])?;
        Ok(staged
            .lines()
            .filter(|l| l.starts_with("160000 "))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// A dir whose `cc` and `gcc` are `ccache`, to put first on `PATH` (how
/// ccache is meant to be used "masqueraded": configure, the submodules'
/// own autotools builds and make all find it, and configure's output does
/// not change). None when `ccache` is not on `PATH`.
pub fn ccache_dir(tree: &Path) -> Option<PathBuf> {
    let ccache = crate::paths::path_dirs()
        .into_iter()
        .map(|d| d.join("ccache"))
        .find(|p| p.is_file())?;
    let dir = tree.join("ccache-bin");
    std::fs::create_dir_all(&dir).ok()?;
    for name in ["cc", "gcc", "c++", "g++"] {
        let link = dir.join(name);
        if std::fs::read_link(&link).ok().as_deref() != Some(ccache.as_path()) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&ccache, &link).ok()?;
        }
    }
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_finished_build_leaves_a_tree_to_build_on() {
        assert!(!TreeState::default().reusable());
        let mut s = TreeState {
            commit: "abc".into(),
            configured: "h".into(),
            submodules: "160000 x 0\texternal/jsmn".into(),
            complete: true,
        };
        assert!(s.reusable());
        s.complete = false;
        assert!(
            !s.reusable(),
            "an interrupted make may have left half-written objects"
        );
    }

    #[test]
    fn submodules_and_configure_rerun_only_when_their_inputs_moved() {
        let s = TreeState {
            commit: "abc".into(),
            configured: "h1".into(),
            submodules: "pins1".into(),
            complete: true,
        };
        assert!(!s.needs_submodules("pins1"));
        assert!(s.needs_submodules("pins2"));
        assert!(!s.needs_configure("h1", true));
        assert!(s.needs_configure("h2", true));
        assert!(s.needs_configure("h1", false), "config.vars deleted");
    }

    #[test]
    fn configure_inputs_follow_the_script_the_configurator_and_the_options() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("ccan/tools/configurator")).unwrap();
        std::fs::write(d.path().join("configure"), "v1").unwrap();
        let args = vec!["--disable-rust".to_string()];
        let env = [("PYTHON", "python3".to_string())];
        let h = configure_inputs(d.path(), &args, &env);
        assert_eq!(h, configure_inputs(d.path(), &args, &env));
        assert_ne!(h, configure_inputs(d.path(), &[], &env));
        assert_ne!(h, configure_inputs(d.path(), &args, &[]));
        std::fs::write(d.path().join("ccan/tools/configurator/configurator.c"), "x").unwrap();
        let h2 = configure_inputs(d.path(), &args, &env);
        assert_ne!(h, h2);
        std::fs::write(d.path().join("configure"), "v2").unwrap();
        assert_ne!(h2, configure_inputs(d.path(), &args, &env));
    }

    #[test]
    fn two_checkouts_or_two_configurations_never_share_a_tree() {
        let (a, b, cache) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let (ra, rb) = (
            super::super::git::testing::init(a.path()),
            super::super::git::testing::init(b.path()),
        );
        let ta = tree_dir(cache.path(), &ra, "norust").unwrap();
        assert_eq!(ta, tree_dir(cache.path(), &ra, "norust").unwrap());
        assert_ne!(ta, tree_dir(cache.path(), &rb, "norust").unwrap());
        assert_ne!(ta, tree_dir(cache.path(), &ra, "rust").unwrap());
        assert!(ta.starts_with(cache.path().join("build-trees")));
    }
}
