//! The git questions `build` and `bisect` ask of the user's checkout, through
//! the `git` command (the user's git config, credentials and `insteadOf`
//! rules apply, which a library binding would not honour). Nothing here
//! writes to the user's repository or working tree.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
#[error("git {args} in {repo}: {message}")]
pub struct GitError {
    pub repo: String,
    pub args: String,
    pub message: String,
}

/// A repository (a checkout or a bare clone) that git commands run in.
#[derive(Debug, Clone)]
pub struct Repo {
    pub path: PathBuf,
}

impl Repo {
    pub fn new(path: &Path) -> Repo {
        Repo {
            path: path.to_path_buf(),
        }
    }

    /// Run `git -C <repo> ARGS`; stdout (trimmed) on success, stderr in the error.
    pub fn git(&self, args: &[&str]) -> Result<String, GitError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.path)
            .args(args)
            .output();
        let err = |message: String| GitError {
            repo: self.path.display().to_string(),
            args: args.join(" "),
            message,
        };
        let out = out.map_err(|e| err(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let text = if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            };
            return Err(err(crate::text::truncate(text.trim(), 600)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Like [`Repo::git`], but also the combined output when git fails: `git
    /// bisect` reports its conclusions through both streams and exit codes.
    pub fn git_output(&self, args: &[&str]) -> Result<(bool, String), GitError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.path)
            .args(args)
            .output()
            .map_err(|e| GitError {
                repo: self.path.display().to_string(),
                args: args.join(" "),
                message: format!("cannot run git: {e}"),
            })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), text))
    }

    /// The full commit id `reference` names.
    pub fn commit(&self, reference: &str) -> Result<String, GitError> {
        self.git(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ])
        .map_err(|mut e| {
            e.message = format!(
                "`{reference}` is not a commit here{}",
                if e.message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", e.message)
                }
            );
            e
        })
    }

    /// The label a build of `commit` gets: `git describe --tags` (a tag
    /// name on a tagged commit, `v25.02-321-g1cc64dd67` between tags),
    /// the abbreviated id when no tag precedes it.
    pub fn describe(&self, commit: &str) -> Result<String, GitError> {
        self.git(&["describe", "--tags", "--always", commit])
    }

    /// The repository's git dir shared by all its worktrees, absolute and
    /// canonical: what identifies a repository whichever worktree names it.
    pub fn common_dir(&self) -> Result<PathBuf, GitError> {
        let dir = self.git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
        Ok(std::fs::canonicalize(&dir).unwrap_or_else(|_| PathBuf::from(dir)))
    }

    pub fn subject(&self, commit: &str) -> Result<String, GitError> {
        self.git(&["log", "-1", "--format=%s", commit])
    }

    /// The checkout's sparse-checkout patterns, when it uses them (a clone
    /// that leaves out files it lacks must build the same way).
    pub fn sparse_patterns(&self) -> Option<String> {
        if self
            .git(&["config", "--bool", "core.sparseCheckout"])
            .ok()?
            .as_str()
            != "true"
        {
            return None;
        }
        let file = self
            .git(&["rev-parse", "--git-path", "info/sparse-checkout"])
            .ok()?;
        let file = if Path::new(&file).is_absolute() {
            PathBuf::from(file)
        } else {
            self.path.join(file)
        };
        std::fs::read_to_string(file)
            .ok()
            .filter(|s| !s.trim().is_empty())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A throwaway repository for tests of `build` and `bisect` (no CLN).
    use super::Repo;
    use std::path::Path;

    pub fn git_in(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "tag.gpgsign=false",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Commit `files` (path, content) with `message`; returns the commit id.
    pub fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
        for (p, c) in files {
            std::fs::write(dir.join(p), c).unwrap();
            git_in(dir, &["add", p]);
        }
        git_in(dir, &["commit", "-q", "--allow-empty", "-m", message]);
        git_in(dir, &["rev-parse", "HEAD"])
    }

    pub fn init(dir: &Path) -> Repo {
        // `--template=` (empty): no user's `init.templateDir` (which may
        // carry sparse-checkout patterns or hooks) reaches the test repo.
        git_in(dir, &["init", "-q", "-b", "master", "--template="]);
        Repo::new(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;

    #[test]
    fn labels_are_git_describe_and_bad_refs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(dir.path());
        let first = commit(dir.path(), &[("a", "1")], "first");
        git_in(dir.path(), &["tag", "v1.0"]);
        commit(dir.path(), &[("a", "2")], "second");
        let third = commit(dir.path(), &[("a", "3")], "third");
        assert_eq!(repo.describe(&first).unwrap(), "v1.0");
        let label = repo.describe(&third).unwrap();
        assert!(
            label.starts_with("v1.0-2-g") && third.starts_with(&label["v1.0-2-g".len()..]),
            "{label}"
        );
        assert_eq!(repo.commit("v1.0").unwrap(), first);
        assert_eq!(repo.subject(&third).unwrap(), "third");
        let e = repo.commit("no-such-ref").unwrap_err().to_string();
        assert!(e.contains("`no-such-ref` is not a commit"), "{e}");
        assert_eq!(repo.sparse_patterns(), None);
    }
}
