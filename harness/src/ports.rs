//! Port leases that parallel runs never share.
//!
//! Ports come from below the kernel's ephemeral range (so an outgoing
//! connection can never be handed one of ours), and each lease holds an
//! `O_EXCL` lockfile naming its owner's pid, as pyln-testing's
//! `reserve_unused_port` does. nextest's dense `NEXTEST_TEST_GLOBAL_SLOT`
//! spreads concurrent tests over disjoint starting points.
//!
//! The locks live in a dir **per user** (`<state dir>/ports`, mode 0700;
//! see [`crate::userdirs::state_dir`]), not in one dir all users share.
//! Why, rather than a shared sticky (1777) dir with per-file locks:
//! - a shared dir is one name anyone can create first: with the wrong mode
//!   (root's first run made `/tmp/cln-harness-ports` 755 and locked every
//!   other user out), as a symlink, or full of lock files other users can
//!   neither remove (the sticky bit) nor judge (`/proc/<pid>` of another
//!   user is hidden under `hidepid`); a per-user dir has none of these,
//!   and its stale locks are always its owner's to reclaim;
//! - what the shared dir would add, two users never leasing the same free
//!   port, the bind probe mostly gives already: a port another user's node
//!   listens on fails the probe. What it cannot see is a port leased but
//!   not bound yet, the moment between lease and lightningd's start; each
//!   user's probing starts at a different point of the range (the uid is
//!   mixed into [`start_offset`]), so two users' runs rarely even look at
//!   the same ports.

use crate::userdirs::{self, Access, StateDirError};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub const RANGE: std::ops::Range<u16> = 20000..32000;

/// Why no port could be leased.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("the port lock dir: {0}")]
    StateDir(#[from] StateDirError),
    #[error("the port lock dir: {0}")]
    LockDir(#[from] userdirs::PrivateDirError),
    /// Not "busy": the lock could not be made at all (a permission, a full
    /// disk). Scanning on would only end in a misleading "no free port".
    #[error("cannot create the port lock {path}: {why}")]
    Lock {
        path: PathBuf,
        why: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no free port in {}..{} (locks in {dir})", RANGE.start, RANGE.end)]
    Exhausted { dir: PathBuf },
}

impl LeaseError {
    /// A permission or a missing dir, not a busy machine: an environment
    /// problem the user fixes, never a product failure.
    pub fn is_environment(&self) -> bool {
        !matches!(self, LeaseError::Exhausted { .. })
    }
}

/// A port held until drop.
#[derive(Debug)]
pub struct PortLease {
    pub port: u16,
    lock: PathBuf,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// This user's lock dir, made private (0700) if new.
pub fn lock_dir() -> Result<PathBuf, LeaseError> {
    let dir = userdirs::state_dir()?.join("ports");
    userdirs::ensure_private_dir(&dir)?;
    Ok(dir)
}

/// Where to start probing: nextest slot first, then pid, so concurrent
/// processes rarely even contend for the same lockfile; plus a per-uid
/// shift, because two users' nextest runs have the same slots but never
/// see each other's locks.
pub fn start_offset(slot: Option<u32>, pid: u32, uid: u32) -> u16 {
    let span = (RANGE.end - RANGE.start) as u32;
    let base = match slot {
        Some(s) => s.wrapping_mul(97),
        None => pid.wrapping_mul(7919),
    };
    (base.wrapping_add(uid.wrapping_mul(4099)) % span) as u16
}

pub fn lease() -> Result<PortLease, LeaseError> {
    let slot = std::env::var("NEXTEST_TEST_GLOBAL_SLOT")
        .ok()
        .and_then(|s| s.parse().ok());
    lease_in(
        &lock_dir()?,
        start_offset(slot, std::process::id(), userdirs::euid()),
    )
}

pub fn lease_in(dir: &Path, offset: u16) -> Result<PortLease, LeaseError> {
    let span = RANGE.end - RANGE.start;
    for i in 0..span {
        let port = RANGE.start + (offset + i) % span;
        let lock = dir.join(format!("{port}.lock"));
        if !try_lock(&lock).map_err(|source| LeaseError::Lock {
            why: userdirs::explain_io(&lock, &source, Access::Create),
            path: lock.clone(),
            source,
        })? {
            continue;
        }
        if bind_probe(port) {
            return Ok(PortLease { port, lock });
        }
        let _ = std::fs::remove_file(&lock);
    }
    Err(LeaseError::Exhausted {
        dir: dir.to_path_buf(),
    })
}

/// Is `port` free? A bind without SO_REUSEADDR and without listen():
/// `TcpListener::bind` would listen, and a listening probe that lands
/// between another lightningd's bind and listen takes the port from it
/// ("Failed to listen on socket ... Address already in use"; its peer then
/// reaches the probe: "peer closed connection (wrong key?)"). `socket2`,
/// because std has no bind-without-listen; the socket closes on drop.
fn bind_probe(port: u16) -> bool {
    use socket2::{Domain, SockAddr, Socket, Type};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    Socket::new(Domain::IPV4, Type::STREAM, None)
        .and_then(|s| s.bind(&SockAddr::from(addr)))
        .is_ok()
}

/// Ok(true): the lock is ours; Ok(false): a live owner holds it; Err: it
/// could not be made at all.
fn try_lock(lock: &Path) -> std::io::Result<bool> {
    use std::io::Write;
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
        {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                return Ok(true);
            }
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            Err(_) => {
                // A lock whose owner is gone is stale: reclaim it once.
                let owner: Option<i32> = std::fs::read_to_string(lock)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                let alive = owner.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if alive || owner.is_none() {
                    return Ok(false);
                }
                let _ = std::fs::remove_file(lock);
            }
        }
    }
    Ok(false)
}

/// Wait until nothing listens on `port` any more (connectd of a stopped
/// node can hold it a moment longer than lightningd lives).
pub async fn wait_port_free(port: u16, timeout: std::time::Duration) -> bool {
    use crate::poll::{poll_until, Look};
    poll_until(
        timeout,
        std::time::Duration::from_millis(20),
        || async move {
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                Look::Ready(())
            } else {
                Look::NotYet(())
            }
        },
    )
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leases_never_share_a_port() {
        let d = tempfile::tempdir().unwrap();
        let a = lease_in(d.path(), 5).unwrap();
        let b = lease_in(d.path(), 5).unwrap();
        assert_ne!(a.port, b.port);
        assert!(RANGE.contains(&a.port) && RANGE.contains(&b.port));
    }

    #[test]
    fn a_dropped_lease_frees_its_lock() {
        let d = tempfile::tempdir().unwrap();
        let a = lease_in(d.path(), 9).unwrap();
        let port = a.port;
        drop(a);
        assert_eq!(lease_in(d.path(), 9).unwrap().port, port);
    }

    #[test]
    fn stale_locks_of_dead_owners_are_reclaimed() {
        let d = tempfile::tempdir().unwrap();
        let first = lease_in(d.path(), 11).unwrap();
        let port = first.port;
        std::mem::forget(first);
        std::fs::write(d.path().join(format!("{port}.lock")), "999999999").unwrap();
        assert_eq!(lease_in(d.path(), 11).unwrap().port, port);
    }

    #[test]
    fn a_port_someone_listens_on_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind(("127.0.0.1", RANGE.start + 17));
        if let Ok(listener) = listener {
            let taken = listener.local_addr().unwrap().port();
            assert_ne!(lease_in(d.path(), 17).unwrap().port, taken);
        }
    }

    #[test]
    fn nextest_slots_start_apart() {
        assert_ne!(start_offset(Some(0), 1, 0), start_offset(Some(1), 1, 0));
    }

    /// Root's and nobody's nextest runs have the same slots and separate
    /// lock dirs: their probing starts far apart.
    #[test]
    fn two_users_with_the_same_slot_start_apart() {
        for slot in 0..8 {
            let (root, nobody) = (
                start_offset(Some(slot), 1, 0),
                start_offset(Some(slot), 1, 65534),
            );
            let gap = (root as i32 - nobody as i32).rem_euclid((RANGE.end - RANGE.start) as i32);
            assert!(gap > 500 && gap < 11500, "slot {slot}: {root} vs {nobody}");
        }
    }

    /// The issue: a lock dir this user cannot write ended in "no free port
    /// in 20000..32000", blaming the range. It names the dir and the
    /// permission instead, at the first port.
    #[test]
    fn an_unwritable_lock_dir_is_a_permission_error_not_an_exhausted_range() {
        let d = tempfile::tempdir().unwrap();
        // Any lock that cannot be made stops the scan at once (as root too).
        let file = d.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let e = lease_in(&file, 3).unwrap_err();
        assert!(
            matches!(e, LeaseError::Lock { .. }) && e.is_environment(),
            "{e}"
        );
        let ro = d.path().join("ports");
        std::fs::create_dir(&ro).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if crate::userdirs::euid() == 0 {
            return; // root writes anyway
        }
        let e = lease_in(&ro, 3).unwrap_err();
        assert!(e.is_environment());
        let text = e.to_string();
        assert!(text.contains(&ro.display().to_string()), "{text}");
        assert!(text.contains("dr-xr-xr-x"), "{text}");
        assert!(
            text.contains("needs write and search (wx) permission"),
            "{text}"
        );
    }
}
