//! Getting lightningd trees into the harness cache. `binaries` keeps
//! discovery; this module only writes installs, each published atomically
//! (built or unpacked beside its final place, checked, then renamed), one
//! at a time per cache (a lock).
//!
//! - [`install`]: official release tarballs (or a mirror laid out like the
//!   release page), checked against the release's `SHA256SUMS`, whose
//!   signatures [`signatures`] checks with gpg where it can.
//! - [`build`]: a commit of the user's own checkout, built in the
//!   persistent [`tree`] of that checkout (incrementally when it can) and
//!   installed as `<cache>/lightningd/<git describe>/`.
//! - [`prereqs`]: what a build needs from the machine, checked first.
//! - [`sanitize`]: `build --sanitize`: CLN's ASan/UBSan switches, the
//!   label that says so, the check that configure kept them.
//! - [`git`]: the few git questions both `build` and `bisect` ask.

pub mod build;
pub mod git;
pub mod install;
pub mod prereqs;
pub mod sanitize;
pub mod signatures;
pub mod tree;

use std::path::Path;

/// One install (or build) at a time per cache: an exclusive `flock` held while alive.
pub(crate) struct CacheLock(std::fs::File);

/// The lock file could not be opened or locked.
#[derive(Debug, thiserror::Error)]
#[error("locking {path}: {why}")]
pub struct CacheLockError {
    pub path: std::path::PathBuf,
    pub why: String,
    #[source]
    pub source: std::io::Error,
}

impl CacheLock {
    /// The lock file is created readable by all (0644 under the usual
    /// umask) and, when it is not this user's to write (a cache shared
    /// between users, another user's lock file), opened read-only: `flock`
    /// takes an exclusive lock through a read-only descriptor too, so a
    /// lock file one user made never stops another user's install, build
    /// or PostgreSQL template.
    pub(crate) fn acquire(path: &Path) -> Result<CacheLock, CacheLockError> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::io::AsRawFd;
        let fail = |source: std::io::Error, access| CacheLockError {
            path: path.to_path_buf(),
            why: crate::userdirs::explain_io(path, &source, access),
            source,
        };
        let f = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => std::fs::File::open(path)
                .map_err(|e2| {
                    let access = if path.exists() {
                        crate::userdirs::Access::Read
                    } else {
                        crate::userdirs::Access::Create
                    };
                    fail(e2, access)
                })?,
            Err(e) => return Err(fail(e, crate::userdirs::Access::Create)),
        };
        // SAFETY: plain syscall on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(fail(
                std::io::Error::last_os_error(),
                crate::userdirs::Access::Read,
            ));
        }
        Ok(CacheLock(f))
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Another user's lock file (0644, not ours to write) still locks.
    #[test]
    fn a_lock_file_this_user_cannot_write_still_serves_as_a_lock() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(".install.lock");
        drop(CacheLock::acquire(&path).unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let held = CacheLock::acquire(&path).unwrap();
        // And it excludes: a second lock on the same file waits.
        let f = std::fs::File::open(&path).unwrap();
        use std::os::unix::io::AsRawFd;
        // SAFETY: a syscall on a descriptor this test owns.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_ne!(r, 0);
        drop(held);
    }

    #[test]
    fn a_lock_that_cannot_be_made_names_its_path() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("missing-dir/.build.lock");
        let e = CacheLock::acquire(&path).err().unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("locking {}", path.display())),
            "{e}"
        );
    }
}
