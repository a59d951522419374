//! Port leases that parallel runs never share.
//!
//! Ports come from below the kernel's ephemeral range (so an outgoing
//! connection can never be handed one of ours), and each lease holds an
//! `O_EXCL` lockfile naming its owner's pid, as pyln-testing's
//! `reserve_unused_port` does. nextest's dense `NEXTEST_TEST_GLOBAL_SLOT`
//! spreads concurrent tests over disjoint starting points.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub const RANGE: std::ops::Range<u16> = 20000..32000;

#[derive(Debug, thiserror::Error)]
#[error("no free port in {}..{} (locks in {dir})", RANGE.start, RANGE.end)]
pub struct PortsExhausted {
    pub dir: PathBuf,
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

pub fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("cln-harness-ports")
}

/// Where to start probing: nextest slot first, then pid, so concurrent
/// processes rarely even contend for the same lockfile.
pub fn start_offset(slot: Option<u32>, pid: u32) -> u16 {
    let span = (RANGE.end - RANGE.start) as u32;
    let base = match slot {
        Some(s) => s.wrapping_mul(97),
        None => pid.wrapping_mul(7919),
    };
    (base % span) as u16
}

pub fn lease() -> Result<PortLease, PortsExhausted> {
    let slot = std::env::var("NEXTEST_TEST_GLOBAL_SLOT")
        .ok()
        .and_then(|s| s.parse().ok());
    lease_in(&lock_dir(), start_offset(slot, std::process::id()))
}

pub fn lease_in(dir: &Path, offset: u16) -> Result<PortLease, PortsExhausted> {
    let _ = std::fs::create_dir_all(dir);
    let span = RANGE.end - RANGE.start;
    for i in 0..span {
        let port = RANGE.start + (offset + i) % span;
        let lock = dir.join(format!("{port}.lock"));
        if !try_lock(&lock) {
            continue;
        }
        if bind_probe(port) {
            return Ok(PortLease { port, lock });
        }
        let _ = std::fs::remove_file(&lock);
    }
    Err(PortsExhausted {
        dir: dir.to_path_buf(),
    })
}

/// Is `port` free? A bind without SO_REUSEADDR and without listen():
/// `TcpListener::bind` would listen, and a listening probe that lands
/// between another lightningd's bind and listen takes the port from it
/// ("Failed to listen on socket ... Address already in use"; its peer then
/// reaches the probe: "peer closed connection (wrong key?)"). Hand-written
/// with libc because std has no bind-without-listen.
fn bind_probe(port: u16) -> bool {
    // SAFETY: plain socket calls on a descriptor we own and close.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return false;
        }
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
            },
            sin_zero: [0; 8],
        };
        let ok = libc::bind(
            fd,
            &addr as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) == 0;
        libc::close(fd);
        ok
    }
}

fn try_lock(lock: &Path) -> bool {
    use std::io::Write;
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
        {
            Ok(mut f) => {
                let _ = write!(f, "{}", std::process::id());
                return true;
            }
            Err(_) => {
                // A lock whose owner is gone is stale: reclaim it once.
                let owner: Option<i32> = std::fs::read_to_string(lock)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                let alive = owner.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if alive || owner.is_none() {
                    return false;
                }
                let _ = std::fs::remove_file(lock);
            }
        }
    }
    false
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
        assert_ne!(start_offset(Some(0), 1), start_offset(Some(1), 1));
    }
}
