//! Paths the harness shares between runs, and so, on a machine with
//! several users (self-hosted CI runners, build boxes, a developer who once
//! ran it with `sudo`), between users.
//!
//! Two rules, both from one bug: root's first run created the shared
//! `/tmp/cln-harness-ports` with mode 755, and every other user's run then
//! ended in `error` ("no free port").
//!
//! - **No file one user writes may stop another user's run.** What runs of
//!   one user share (port locks, a fallback PostgreSQL template) lives in
//!   that user's own [`state_dir`], mode 0700, checked to be a real dir the
//!   user owns; a dir another user planted under that name is passed over,
//!   never obeyed. Everything per run is a fresh [`private_tempdir`].
//! - **Nothing private is readable by others**: run dirs hold `hsm_secret`,
//!   databases and bundles, the PostgreSQL dir holds a trust-auth socket.
//!   tempfile makes *directories* with the default mode (0777 & ~umask,
//!   usually 0755: checked in tempfile 3.27), so every temp dir the harness
//!   makes goes through [`private_tempdir`], which asks for 0700.
//!
//! And when a permission does stop a run, [`explain_denied`] says which
//! path, whose it is, its mode, and which permission this user lacks.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The effective uid: whose files the harness creates.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

fn egid() -> u32 {
    // SAFETY: getegid cannot fail.
    unsafe { libc::getegid() }
}

fn groups() -> Vec<u32> {
    // SAFETY: first call asks for the count; the second fills a buffer of that size.
    unsafe {
        let n = libc::getgroups(0, std::ptr::null_mut());
        if n <= 0 {
            return vec![egid()];
        }
        let mut gs = vec![0 as libc::gid_t; n as usize];
        let n = libc::getgroups(n, gs.as_mut_ptr());
        gs.truncate(n.max(0) as usize);
        gs.push(egid());
        gs
    }
}

/// `root (uid 0)`, or `uid 1234` for a uid without a passwd entry.
pub fn user_name(uid: u32) -> String {
    // SAFETY: getpwuid's result is read at once, before any other passwd call.
    let name = unsafe {
        let pw = libc::getpwuid(uid);
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(
                std::ffi::CStr::from_ptr((*pw).pw_name)
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    };
    match name {
        Some(n) => format!("{n} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// A fresh temp dir only its owner can enter, in `$TMPDIR`.
///
/// tempfile creates it with `mkdir` under a random name (an existing name,
/// a planted symlink included, makes it pick another, never follow it);
/// the explicit 0700 is what tempfile leaves out for directories.
pub fn private_tempdir(prefix: &str) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

/// As [`private_tempdir`], inside `dir`.
pub fn private_tempdir_in(prefix: &str, dir: &Path) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(dir)
}

/// Why a path cannot be this user's private dir.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDirError {
    #[error("{path} is a symlink; a path in a shared dir is never followed through a link someone may have planted")]
    Symlink { path: PathBuf },
    #[error("{path} exists and is not a directory")]
    NotADir { path: PathBuf },
    #[error("{path} belongs to {owner}, not to {me}: another user made it, so it cannot be {me}'s private dir")]
    NotOurs {
        path: PathBuf,
        owner: String,
        me: String,
    },
    #[error("cannot create {path}: {why}")]
    Create {
        path: PathBuf,
        why: String,
        #[source]
        source: io::Error,
    },
    /// Others may write in the parent and it lacks the sticky bit: they
    /// could rename the checked dir away and put a symlink in its place.
    #[error("{parent} is {mode}: others may replace entries in it (no sticky bit), so no private dir is kept there")]
    UnsafeParent { parent: PathBuf, mode: String },
    #[error("cannot make {path} private (mode 0700): {source}")]
    Chmod {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Make `path` a dir only this user can enter, or say why it cannot be.
///
/// Created 0700 when missing. When it exists it must be a real directory
/// (opened with `O_NOFOLLOW`, so a symlink planted at the name is refused,
/// and the checks and the chmod act on what was opened, not on whatever
/// the name points to a moment later) owned by this user; if its mode is
/// wider (an older harness, a umask) it is narrowed to 0700.
pub fn ensure_private_dir(path: &Path) -> Result<(), PrivateDirError> {
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(PrivateDirError::Create {
                path: path.to_path_buf(),
                why: explain_io(path, &source, Access::Create),
                source,
            })
        }
    }
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    let dir = match dir {
        Ok(d) => d,
        Err(source) => {
            // ELOOP: the last component is a symlink; ENOTDIR: a file.
            let meta = std::fs::symlink_metadata(path).ok();
            return Err(match meta {
                Some(m) if m.file_type().is_symlink() => PrivateDirError::Symlink {
                    path: path.to_path_buf(),
                },
                Some(m) if !m.is_dir() => PrivateDirError::NotADir {
                    path: path.to_path_buf(),
                },
                _ => PrivateDirError::Create {
                    path: path.to_path_buf(),
                    why: explain_io(path, &source, Access::Read),
                    source,
                },
            });
        }
    };
    let meta = dir.metadata().map_err(|source| PrivateDirError::Create {
        path: path.to_path_buf(),
        why: source.to_string(),
        source,
    })?;
    if meta.uid() != euid() {
        return Err(PrivateDirError::NotOurs {
            path: path.to_path_buf(),
            owner: user_name(meta.uid()),
            me: user_name(euid()),
        });
    }
    if meta.mode() & 0o777 != 0o700 {
        dir.set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(|source| PrivateDirError::Chmod {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

/// No candidate could be this user's state dir.
#[derive(Debug, thiserror::Error)]
#[error("no private state dir for {user}; tried: {}", .tried.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct StateDirError {
    pub user: String,
    pub tried: Vec<PrivateDirError>,
}

/// Where this user's state dir may be, best first (pure).
///
/// `$TMPDIR/cln-harness-uid-<uid>` first: the same for every run of the
/// user that sees the same `$TMPDIR` (as the old shared dir was), whether
/// from a login shell or cron, and on local disk. `$XDG_RUNTIME_DIR` (a
/// 0700 dir the system makes per login; nobody else can plant anything in
/// it) only when the first is taken: it exists only in login sessions,
/// and it is removed at logout, under a run that may outlive it. The cache
/// last (per host, since a home dir may be shared between machines), but
/// for `/tmp` itself when `$TMPDIR` is elsewhere (root under `sudo -E`
/// with a user's `$TMPDIR` and `$HOME` has no other place it may use).
pub fn state_dir_candidates(
    tmp: &Path,
    runtime: Option<&Path>,
    cache: &Path,
    uid: u32,
    host: &str,
) -> Vec<PathBuf> {
    let name = format!("cln-harness-uid-{uid}");
    let mut out = vec![tmp.join(&name)];
    if let Some(r) = runtime.filter(|r| r.is_absolute()) {
        out.push(r.join("cln-harness"));
    }
    out.push(cache.join(format!("state-{host}")));
    if tmp != Path::new("/tmp") {
        out.push(Path::new("/tmp").join(&name));
    }
    out
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) } == 0;
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..len]).replace('/', "_");
    if ok && !name.is_empty() {
        name
    } else {
        "localhost".into()
    }
}

/// Names this user's state dir outright, before every candidate.
pub const STATE_DIR_VAR: &str = "CLN_HARNESS_STATE_DIR";

/// This user's private dir for state its runs share (the port locks; a
/// PostgreSQL template when the cache cannot hold one): the first of
/// [`state_dir_candidates`] that is, or can be made, a 0700 dir of this
/// user's. A candidate another user owns is skipped, so nothing another
/// user creates can stop this user's runs.
pub fn state_dir() -> Result<PathBuf, StateDirError> {
    let uid = euid();
    // Given: a caller that moves $TMPDIR (a test keeping a run's files
    // apart) still shares the user's port locks with every other run.
    if let Some(dir) = std::env::var_os(STATE_DIR_VAR).map(PathBuf::from) {
        return match ensure_private_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) => Err(StateDirError {
                user: user_name(uid),
                tried: vec![e],
            }),
        };
    }
    // $XDG_RUNTIME_DIR only when it is this user's (a `sudo -E` keeps the
    // invoking user's, where root must not leave root-owned files).
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|r| std::fs::symlink_metadata(r).is_ok_and(|m| m.is_dir() && m.uid() == uid));
    let mut tried = Vec::new();
    for dir in state_dir_candidates(
        &std::env::temp_dir(),
        runtime.as_deref(),
        &crate::paths::cache_root(),
        uid,
        &hostname(),
    ) {
        if let Some(parent) = dir.parent() {
            // The cache root may not exist yet; the temp and runtime dirs do.
            let _ = std::fs::create_dir_all(parent);
            if let Ok(m) = std::fs::metadata(parent) {
                if !parent_keeps_entries(m.mode(), m.uid(), uid) {
                    tried.push(PrivateDirError::UnsafeParent {
                        parent: parent.to_path_buf(),
                        mode: mode_string(m.mode()),
                    });
                    continue;
                }
            }
        }
        match ensure_private_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => tried.push(e),
        }
    }
    Err(StateDirError {
        user: user_name(uid),
        tried,
    })
}

/// Can no one but its owner, root and `uid` rename or remove entries of a
/// dir of this mode and owner? True for a sticky dir (like /tmp) and for a
/// dir only its owner (this user or root) writes. Pure.
pub fn parent_keeps_entries(mode: u32, owner: u32, uid: u32) -> bool {
    let others_write = mode & 0o022 != 0;
    let sticky = mode & libc::S_ISVTX != 0;
    (owner == uid || owner == 0) && (!others_write || sticky)
}

/// What an operation needed of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Create an entry at the path: write and search on its parent.
    Create,
    Read,
    Write,
}

const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

/// May (uid, groups) have `want` (r=4, w=2, x=1) on a file of this
/// owner, group and mode? Root may always, as the kernel decides for
/// directories. Pure.
pub fn allowed(mode: u32, owner: u32, group: u32, uid: u32, groups: &[u32], want: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let bits = if uid == owner {
        (mode >> 6) & 7
    } else if groups.contains(&group) {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    bits & want == want
}

/// `drwxr-xr-x`, `drwxrwxrwt`, as `ls -l` shows a mode. Pure.
pub fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        _ => '-',
    };
    let mut s = String::from(kind);
    for (i, shift) in [6u32, 3, 0].into_iter().enumerate() {
        let b = (mode >> shift) & 7;
        s.push(if b & R != 0 { 'r' } else { '-' });
        s.push(if b & W != 0 { 'w' } else { '-' });
        let special = match i {
            0 => mode & libc::S_ISUID != 0,
            1 => mode & libc::S_ISGID != 0,
            _ => mode & libc::S_ISVTX != 0,
        };
        s.push(match (b & X != 0, special, i) {
            (true, true, 2) => 't',
            (false, true, 2) => 'T',
            (true, true, _) => 's',
            (false, true, _) => 'S',
            (true, false, _) => 'x',
            (false, false, _) => '-',
        });
    }
    s
}

fn perm_name(want: u32) -> &'static str {
    match want {
        X => "search (x) permission",
        W => "write (w) permission",
        R => "read (r) permission",
        _ => "write and search (wx) permission",
    }
}

fn sentence(path: &Path, meta: &Metadata, who: &str, want: u32) -> String {
    format!(
        "{} is {}, owned by {}; {who} needs {} on it",
        path.display(),
        mode_string(meta.mode()),
        user_name(meta.uid()),
        perm_name(want)
    )
}

/// Which path and which permission keep `(uid, groups)` from `access` to
/// `path`: the first ancestor it cannot search, else the dir it cannot
/// write (for `Create`: the nearest existing one) or the file it cannot
/// read or write. None when the modes allow it (then the cause is
/// elsewhere: a read-only file system, an ACL, root squash).
pub fn blocking(path: &Path, access: Access, uid: u32, groups: &[u32]) -> Option<String> {
    let who = user_name(uid);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    // The target whose own mode matters, and the permission it needs.
    let (target, want) = match access {
        Access::Create => {
            let mut dir = abs.parent()?.to_path_buf();
            while std::fs::symlink_metadata(&dir).is_err() {
                dir = dir.parent()?.to_path_buf();
            }
            (dir, W | X)
        }
        Access::Read => (abs.clone(), R),
        Access::Write => (abs.clone(), W),
    };
    for anc in target
        .ancestors()
        .skip(1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let Ok(meta) = std::fs::metadata(anc) else {
            continue;
        };
        if !allowed(meta.mode(), meta.uid(), meta.gid(), uid, groups, X) {
            return Some(sentence(anc, &meta, &who, X));
        }
    }
    let meta = std::fs::metadata(&target).ok()?;
    let want = if meta.is_dir() && access == Access::Read {
        R | X
    } else {
        want
    };
    (!allowed(meta.mode(), meta.uid(), meta.gid(), uid, groups, want))
        .then(|| sentence(&target, &meta, &who, want))
}

/// Why this process got `PermissionDenied` for `access` to `path`, naming
/// the path and the permission; the OS's words when the modes don't say.
pub fn explain_denied(path: &Path, access: Access) -> String {
    blocking(path, access, euid(), &groups())
        .unwrap_or_else(|| format!("permission denied on {}", path.display()))
}

/// Would this process be allowed, by the modes, to create `path`? For a
/// check before long work whose result goes there.
pub fn may_create(path: &Path) -> Result<(), String> {
    match blocking(path, Access::Create, euid(), &groups()) {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

/// An IO error's text, with [`explain_denied`] for a permission error.
pub fn explain_io(path: &Path, e: &io::Error, access: Access) -> String {
    if e.kind() == io::ErrorKind::PermissionDenied {
        explain_denied(path, access)
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        euid() == 0
    }

    /// The issue: root made a shared dir mode 755, `nobody` could not lock in it.
    #[test]
    fn a_root_owned_755_dir_is_named_with_the_permission_nobody_lacks() {
        let dir_mode = libc::S_IFDIR | 0o755;
        assert!(!allowed(dir_mode, 0, 0, 65534, &[65534], W | X));
        assert!(allowed(dir_mode, 0, 0, 65534, &[65534], X));
        assert!(allowed(dir_mode, 0, 0, 0, &[0], W | X));
        assert!(allowed(
            libc::S_IFDIR | 0o1777,
            0,
            0,
            65534,
            &[65534],
            W | X
        ));
        assert!(allowed(libc::S_IFDIR | 0o770, 0, 50, 1000, &[50], W | X));
        assert_eq!(mode_string(dir_mode), "drwxr-xr-x");
        assert_eq!(mode_string(libc::S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(libc::S_IFREG | 0o600), "-rw-------");
        assert_eq!(perm_name(W | X), "write and search (wx) permission");
    }

    #[test]
    fn the_state_dir_is_per_user_and_tmp_first() {
        let c = state_dir_candidates(
            Path::new("/tmp"),
            Some(Path::new("/run/user/1000")),
            Path::new("/home/u/.cache/cln-harness"),
            1000,
            "box",
        );
        assert_eq!(
            c,
            [
                PathBuf::from("/tmp/cln-harness-uid-1000"),
                PathBuf::from("/run/user/1000/cln-harness"),
                PathBuf::from("/home/u/.cache/cln-harness/state-box"),
            ]
        );
        // A relative $XDG_RUNTIME_DIR is invalid by the spec: ignored.
        let c = state_dir_candidates(
            Path::new("/tmp"),
            Some(Path::new("rel")),
            Path::new("/c"),
            0,
            "h",
        );
        assert_eq!(c.len(), 2);
        // /tmp last when $TMPDIR is elsewhere.
        let c = state_dir_candidates(Path::new("/home/u/tmp"), None, Path::new("/c"), 0, "h");
        assert_eq!(c.last().unwrap(), Path::new("/tmp/cln-harness-uid-0"));
    }

    #[test]
    fn a_state_dir_is_kept_only_where_others_cannot_swap_it() {
        assert!(parent_keeps_entries(libc::S_IFDIR | 0o1777, 0, 1000)); // /tmp
        assert!(parent_keeps_entries(libc::S_IFDIR | 0o700, 1000, 1000)); // $XDG_RUNTIME_DIR
        assert!(parent_keeps_entries(libc::S_IFDIR | 0o755, 1000, 1000)); // ~/.cache
        assert!(!parent_keeps_entries(libc::S_IFDIR | 0o777, 0, 1000)); // world-writable, no sticky bit
        assert!(!parent_keeps_entries(libc::S_IFDIR | 0o755, 1001, 1000)); // another user's
    }

    #[test]
    fn a_private_dir_is_created_0700_and_an_old_wide_one_is_narrowed() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("state");
        ensure_private_dir(&d).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o7777, 0o700);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&d).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o7777, 0o700);
    }

    #[test]
    fn a_symlink_planted_at_the_name_is_refused_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = t.path().join("cln-harness-uid-1");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = ensure_private_dir(&link).unwrap_err();
        assert!(matches!(e, PrivateDirError::Symlink { .. }), "{e}");
        // The target was not touched.
        assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o755);
    }

    #[test]
    fn a_file_at_the_name_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        std::fs::write(&f, "").unwrap();
        assert!(matches!(
            ensure_private_dir(&f).unwrap_err(),
            PrivateDirError::NotADir { .. }
        ));
    }

    /// Another user's dir under this user's name is passed over, never used.
    #[test]
    fn a_dir_another_user_owns_is_not_ours() {
        if !is_root() {
            return; // chown to another user needs root
        }
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("squatted");
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).unwrap();
        let e = ensure_private_dir(&d).unwrap_err();
        assert!(matches!(e, PrivateDirError::NotOurs { .. }), "{e}");
        assert!(e.to_string().contains("another user made it"), "{e}");
    }

    #[test]
    fn private_tempdirs_are_0700_whatever_the_umask() {
        let d = private_tempdir("cln-harness-test-").unwrap();
        assert_eq!(std::fs::metadata(d.path()).unwrap().mode() & 0o7777, 0o700);
        let inner = private_tempdir_in("x-", d.path()).unwrap();
        assert_eq!(
            std::fs::metadata(inner.path()).unwrap().mode() & 0o7777,
            0o700
        );
    }

    #[test]
    fn blocking_names_the_dir_and_the_permission() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let me = euid();
        // As someone who is neither the owner nor root.
        let other = if me == 65534 { 65533 } else { 65534 };
        let why = blocking(&shared.join("20001.lock"), Access::Create, other, &[other]).unwrap();
        assert!(
            why.starts_with(&format!("{} is drwxr-xr-x, owned by ", shared.display())),
            "{why}"
        );
        assert!(
            why.ends_with("needs write and search (wx) permission on it"),
            "{why}"
        );
        // The owner may.
        assert_eq!(
            blocking(&shared.join("20001.lock"), Access::Create, me, &[]),
            None
        );
        // A dir it cannot even search is named first.
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let why = blocking(&shared.join("x"), Access::Create, other, &[other]).unwrap();
        assert!(
            why.contains(&format!("{} is drwx------", t.path().display())),
            "{why}"
        );
        assert!(why.ends_with("search (x) permission on it"), "{why}");
    }
}
