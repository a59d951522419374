//! Getting lightningd trees into the harness cache. `binaries` keeps
//! discovery; this module only writes installs, each published atomically
//! (built or unpacked beside its final place, checked, then renamed), one
//! at a time per cache (a lock).
//!
//! - [`install`]: official release tarballs (or a mirror laid out like the
//!   release page), checked against the release's `SHA256SUMS`, whose
//!   signatures [`signatures`] checks with gpg where it can.
//! - [`build`]: a commit of the user's own checkout, built in a private
//!   clone and installed as `<cache>/lightningd/<git describe>/`.
//! - [`git`]: the few git questions both `build` and `bisect` ask.

pub mod build;
pub mod git;
pub mod install;
pub mod signatures;

use std::path::Path;

/// One install (or build) at a time per cache: an exclusive `flock` held while alive.
pub(crate) struct CacheLock(std::fs::File);

impl CacheLock {
    pub(crate) fn acquire(path: &Path) -> std::io::Result<CacheLock> {
        use std::os::unix::io::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: plain syscall on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
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
