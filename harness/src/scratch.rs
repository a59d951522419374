//! Where a run's scratch dirs go: its run dir and its PostgreSQL server.
//!
//! lightningd commits its SQLite database with an `fdatasync` on every
//! HTLC state change; on a disk that wait was ~40% of a short run (the
//! keysend scenario's four payments: 320 ms on `/tmp` on ext4, 185 ms on
//! tmpfs). Nothing a run leaves must survive a power cut, so when the user
//! has not chosen a place (`$TMPDIR` unset) and `/dev/shm` is a tmpfs that
//! everyone may create in safely (mode 1777, as POSIX shared memory needs)
//! with room to spare, runs live there; otherwise in the system temp dir,
//! as before. The dirs are the same fresh 0700 [`private_tempdir_in`] dirs
//! either way.
//!
//! [`private_tempdir_in`]: crate::userdirs::private_tempdir_in

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The RAM-backed dir tried when `$TMPDIR` is unset.
pub const RAM_DIR: &str = "/dev/shm";

/// Free space a RAM dir must have to be used: a run takes ~30 MB (bitcoind
/// preallocates 16 MB of block file), explore runs four at once, and what
/// tmpfs holds is memory.
pub const MIN_RAM_FREE: u64 = 2 << 30;

/// What the harness learned about a RAM-backed dir candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct RamDir {
    pub path: PathBuf,
    /// It is a tmpfs (`statfs` says so).
    pub tmpfs: bool,
    /// Mode 1777: anyone may create in it and nobody may replace another
    /// user's entry (the sticky bit), as in `/tmp`.
    pub shared_sticky: bool,
    pub free_bytes: u64,
}

/// Where scratch dirs go (pure): `$TMPDIR` when the user set it (their
/// choice wins), else a usable RAM dir, else the system temp dir.
pub fn choose(tmpdir_set: bool, ram: Option<&RamDir>, temp: &Path) -> PathBuf {
    match ram {
        Some(r) if !tmpdir_set && r.tmpfs && r.shared_sticky && r.free_bytes >= MIN_RAM_FREE => {
            r.path.clone()
        }
        _ => temp.to_path_buf(),
    }
}

/// The scratch base for this process, decided once.
pub fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let tmpdir_set = std::env::var_os("TMPDIR").is_some_and(|v| !v.is_empty());
        let ram = (!tmpdir_set).then(|| probe(Path::new(RAM_DIR))).flatten();
        choose(tmpdir_set, ram.as_ref(), &std::env::temp_dir())
    })
}

/// A fresh private (0700) dir under [`base`].
pub fn private_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    crate::userdirs::private_tempdir_in(prefix, base())
}

/// What `path` is, or None when it is not a dir this user can see.
fn probe(path: &Path) -> Option<RamDir> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_dir())?;
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statfs fills the zeroed struct; `c` is a valid C string.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(RamDir {
        path: path.to_path_buf(),
        tmpfs: s.f_type == libc::TMPFS_MAGIC,
        shared_sticky: meta.mode() & 0o7777 == 0o1777,
        free_bytes: (s.f_bavail as u64).saturating_mul(s.f_bsize as u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shm(free_bytes: u64) -> RamDir {
        RamDir {
            path: PathBuf::from("/dev/shm"),
            tmpfs: true,
            shared_sticky: true,
            free_bytes,
        }
    }

    #[test]
    fn runs_go_to_ram_when_the_user_chose_nothing() {
        let tmp = Path::new("/tmp");
        assert_eq!(
            choose(false, Some(&shm(8 << 30)), tmp),
            Path::new("/dev/shm")
        );
        // The user's $TMPDIR wins.
        assert_eq!(choose(true, Some(&shm(8 << 30)), tmp), tmp);
        // No RAM dir, too little room, not a tmpfs, or not safely shared.
        assert_eq!(choose(false, None, tmp), tmp);
        assert_eq!(choose(false, Some(&shm(MIN_RAM_FREE - 1)), tmp), tmp);
        let disk = RamDir {
            tmpfs: false,
            ..shm(8 << 30)
        };
        assert_eq!(choose(false, Some(&disk), tmp), tmp);
        let private = RamDir {
            shared_sticky: false,
            ..shm(8 << 30)
        };
        assert_eq!(choose(false, Some(&private), tmp), tmp);
    }

    #[test]
    fn the_probe_sees_what_a_dir_is() {
        let d = tempfile::tempdir().unwrap();
        let r = probe(d.path()).unwrap();
        assert!(!r.shared_sticky, "a tempdir is not mode 1777");
        assert!(probe(&d.path().join("missing")).is_none());
    }
}
