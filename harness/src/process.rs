//! Child processes that die with the harness.
//!
//! Every daemon gets its own process group (so its plugins and subdaemons
//! can be signalled together), `PR_SET_PDEATHSIG=SIGKILL` (so a SIGKILLed
//! harness takes it along), stdout/stderr in files, and a Drop that kills
//! the group and reaps. Knows nothing about lightningd.

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

#[derive(Debug, thiserror::Error)]
#[error("starting {program}: {kind}")]
pub struct SpawnError {
    pub program: PathBuf,
    #[source]
    pub kind: std::io::Error,
}

/// How a process ended, in the words a report needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Exit {
    Code { code: i32 },
    Signal { signal: i32 },
}

impl Exit {
    pub fn from_status(s: ExitStatus) -> Exit {
        match (s.code(), s.signal()) {
            (Some(code), _) => Exit::Code { code },
            (None, Some(signal)) => Exit::Signal { signal },
            (None, None) => Exit::Code { code: -1 },
        }
    }
    pub fn is_clean(&self) -> bool {
        matches!(self, Exit::Code { code: 0 })
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code { code } => write!(f, "exit code {code}"),
            Exit::Signal { signal } => write!(f, "signal {signal} ({})", signal_name(*signal)),
        }
    }
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

/// How long a SIGKILLed leader may take to be reaped.
const KILL_REAP: Duration = Duration::from_secs(10);

/// A running child in its own process group.
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    pub pid: u32,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    pub command_line: Vec<String>,
    exit: Option<Exit>,
}

/// Spawn `program args` with stdout/stderr appended to the given files.
/// Call from the runtime's own thread (tokio reaps the child on SIGCHLD),
/// which outlives the child: PDEATHSIG fires when the *spawning thread*
/// exits, so never from `spawn_blocking`.
pub fn spawn(
    program: &Path,
    args: &[String],
    cwd: &Path,
    stdout_path: &Path,
    stderr_path: &Path,
) -> Result<Supervised, SpawnError> {
    spawn_as(program, args, cwd, stdout_path, stderr_path, None, &[])
}

/// As [`spawn`], running as `user` = (uid, gid) when given (PostgreSQL
/// refuses to run as root), with `env` added to the inherited environment. std changes the credentials before the
/// `pre_exec` hook runs, so the parent-death signal set there survives
/// (a credential change would clear one set earlier).
pub fn spawn_as(
    program: &Path,
    args: &[String],
    cwd: &Path,
    stdout_path: &Path,
    stderr_path: &Path,
    user: Option<(u32, u32)>,
    env: &[(&str, String)],
) -> Result<Supervised, SpawnError> {
    let err = |kind| SpawnError {
        program: program.to_path_buf(),
        kind,
    };
    // tokio's Command panics outside a runtime; a caller's mistake is an
    // error here instead.
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(err(std::io::Error::other(
            "spawned outside the async runtime (no SIGCHLD reaper)",
        )));
    }
    let open = |p: &Path| File::options().create(true).append(true).open(p);
    let stdout = open(stdout_path).map_err(err)?;
    let stderr = open(stderr_path).map_err(err)?;
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own group, so plugins and subdaemons are signalled together.
        .process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() == 1 {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(err)?;
    let Some(pid) = child.id() else {
        return Err(err(std::io::Error::other("exited before its pid was read")));
    };
    let mut command_line = vec![program.display().to_string()];
    command_line.extend(args.iter().cloned());
    Ok(Supervised {
        pid,
        child,
        stdout_path: stdout_path.to_path_buf(),
        stderr_path: stderr_path.to_path_buf(),
        command_line,
        exit: None,
    })
}

impl Supervised {
    /// Non-blocking: has the leader exited? Reaps it if so.
    pub fn poll_exit(&mut self) -> Option<Exit> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(Exit::from_status(status));
            }
        }
        self.exit
    }

    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none()
    }

    /// Signal the whole process group.
    pub fn signal_group(&self, sig: i32) {
        // SAFETY: plain syscall; a negative pid addresses the group.
        unsafe {
            libc::kill(-(self.pid as i32), sig);
        }
    }

    /// Resolves when the leader has exited (reaped), woken by tokio's
    /// SIGCHLD handling: no polling interval, nothing blocks the runtime,
    /// and it is cancel-safe, so any enclosing timeout keeps working.
    pub async fn exited(&mut self) -> Exit {
        if let Some(e) = self.exit {
            return e;
        }
        let exit = match self.child.wait().await {
            Ok(status) => Exit::from_status(status),
            // Only if the leader was reaped behind tokio's back: the
            // group is gone either way.
            Err(_) => Exit::Code { code: -1 },
        };
        self.exit = Some(exit);
        exit
    }

    /// Wait up to `timeout` for the leader to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<Exit> {
        tokio::time::timeout(timeout, self.exited()).await.ok()
    }

    /// The stop ladder: SIGTERM to the group, then whichever comes first of
    /// the leader's exit and `grace`; at `grace`, SIGKILL to the group. Then
    /// waits until no live member of the group is left, so the same dir and
    /// port can be reused at once. Nothing waits once the process is gone.
    pub async fn stop_ladder(&mut self, grace: Duration) -> Exit {
        if self.is_running() {
            self.signal_group(libc::SIGTERM);
        }
        let exit = tokio::select! {
            e = self.exited() => Some(e),
            _ = tokio::time::sleep(grace) => None,
        };
        let exit = match exit {
            Some(e) => e,
            None => self.kill().await,
        };
        self.wait_group_empty(grace).await;
        exit
    }

    /// SIGKILL the group (crash simulation) and reap the leader.
    pub async fn kill(&mut self) -> Exit {
        self.signal_group(libc::SIGKILL);
        let exit = self.wait_exit(KILL_REAP).await.unwrap_or(Exit::Signal {
            signal: libc::SIGKILL,
        });
        self.wait_group_empty(KILL_REAP).await;
        exit
    }

    /// Children of a dead lightningd linger for a moment (seen on v25.05:
    /// 22 still alive 0.5 s after SIGKILL, all gone 2 s later). SIGKILL stragglers and wait until
    /// no live process remains in the group.
    pub async fn wait_group_empty(&self, timeout: Duration) {
        use crate::poll::{poll_until, Look};
        let _ = poll_until(timeout, Duration::from_millis(20), || async {
            if live_group_members(self.pid as i32).is_empty() {
                return Look::Ready(());
            }
            self.signal_group(libc::SIGKILL);
            Look::NotYet(())
        })
        .await;
    }

    pub fn exit(&self) -> Option<Exit> {
        self.exit
    }
}

/// The last resort (an error path, a panic, a dropped run): SIGKILL the
/// group and reap the leader without sleeping. A SIGKILLed leader dies in
/// the kernel at once; if it has not yet, tokio's orphan queue reaps it on
/// a later SIGCHLD, so the runtime thread never waits here.
impl Drop for Supervised {
    fn drop(&mut self) {
        if self.poll_exit().is_none() {
            self.signal_group(libc::SIGKILL);
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(Exit::from_status(status));
            }
        } else if !live_group_members(self.pid as i32).is_empty() {
            self.signal_group(libc::SIGKILL);
        }
    }
}

/// `/proc/<pid>/stat`'s fields after the `(comm)`, which may itself
/// contain spaces: state, ppid, pgrp, ...
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rfind(')').and_then(|i| stat.get(i + 2..))?;
    Some(rest.split(' ').map(str::to_string).collect())
}

/// Whether `pid` is a child of this process that has not been reaped
/// (so signalling it can reach no one else's process).
pub fn is_our_child(pid: i32) -> bool {
    let me = std::process::id().to_string();
    pid > 0 && stat_fields(pid).is_some_and(|f| f.get(1) == Some(&me))
}

/// Live (non-zombie) processes whose process group is `pgid`, from /proc.
pub fn live_group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some(f) = stat_fields(pid) else {
            continue;
        };
        let state = f.first().map_or("", String::as_str);
        let pgrp: i32 = f.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        if pgrp == pgid && state != "Z" && state != "X" {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Instant;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// `sh -c script` in `dir`, with its output in `dir/out` and `dir/err`.
    /// Spawned inside `rt`, whose SIGCHLD handling reaps it.
    fn sh(rt: &tokio::runtime::Runtime, dir: &Path, script: &str) -> Supervised {
        let _in_rt = rt.enter();
        spawn(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            dir,
            &dir.join("out"),
            &dir.join("err"),
        )
        .unwrap()
    }

    /// A SIGKILL is delivered at once but the process takes a moment to die.
    fn wait_group_gone(pgid: i32) -> Vec<i32> {
        let t0 = Instant::now();
        while !live_group_members(pgid).is_empty() && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        live_group_members(pgid)
    }

    #[test]
    fn only_an_unreaped_child_is_ours_to_signal() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(is_our_child(pid));
        assert!(!is_our_child(1), "init is nobody's child here");
        assert!(!is_our_child(0));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_our_child(pid), "a reaped pid may be anyone's next");
    }

    #[test]
    fn stop_ladder_reaches_the_whole_group() {
        let d = tempfile::tempdir().unwrap();
        let rt = rt();
        // A leader that ignores SIGTERM and has a child: only SIGKILL ends it.
        let mut p = sh(&rt, d.path(), "trap '' TERM; sleep 30 & sleep 30");
        std::thread::sleep(Duration::from_millis(100));
        assert!(live_group_members(p.pid as i32).len() >= 2);
        let exit = rt.block_on(p.stop_ladder(Duration::from_millis(200)));
        assert_eq!(
            exit,
            Exit::Signal {
                signal: libc::SIGKILL
            }
        );
        assert!(live_group_members(p.pid as i32).is_empty());
    }

    #[test]
    fn stderr_goes_to_a_file_and_exit_codes_are_kept() {
        let d = tempfile::tempdir().unwrap();
        let rt = rt();
        let mut p = sh(&rt, d.path(), "echo boom >&2; exit 3");
        assert_eq!(
            rt.block_on(p.wait_exit(Duration::from_secs(5))),
            Some(Exit::Code { code: 3 })
        );
        assert_eq!(p.poll_exit(), Some(Exit::Code { code: 3 }));
        assert_eq!(
            std::fs::read_to_string(d.path().join("err")).unwrap(),
            "boom\n"
        );
    }

    /// Each child in its own group, the spawner's group untouched.
    #[test]
    fn a_child_leads_its_own_process_group() {
        let d = tempfile::tempdir().unwrap();
        let rt = rt();
        let p = sh(&rt, d.path(), "sleep 30");
        // SAFETY: plain syscalls.
        let (child_group, own_group) = unsafe { (libc::getpgid(p.pid as i32), libc::getpgid(0)) };
        assert_eq!(child_group, p.pid as i32);
        assert_ne!(own_group, p.pid as i32);
    }

    /// The exit is seen through SIGCHLD, not a polling interval: many
    /// short-lived children in a row each resolve at once.
    #[test]
    fn exits_resolve_without_a_polling_interval() {
        let d = tempfile::tempdir().unwrap();
        let rt = rt();
        let t0 = Instant::now();
        for _ in 0..20 {
            let mut p = sh(&rt, d.path(), "exit 0");
            assert_eq!(
                rt.block_on(p.wait_exit(Duration::from_secs(5))),
                Some(Exit::Code { code: 0 })
            );
        }
        assert!(t0.elapsed() < Duration::from_secs(10));
    }

    /// The stop ladder is async: an enclosing step timeout fires even while
    /// a process ignores SIGTERM (it used to block the current-thread runtime).
    #[test]
    fn a_step_timeout_fires_while_a_stop_is_waiting() {
        let d = tempfile::tempdir().unwrap();
        let rt = rt();
        let mut p = sh(&rt, d.path(), "trap '' TERM; touch trapped; sleep 30");
        while !d.path().join("trapped").exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let t0 = Instant::now();
        let r = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(200),
                p.stop_ladder(Duration::from_secs(20)),
            )
            .await
        });
        assert!(
            r.is_err(),
            "the ladder should still be in its grace period: {r:?}"
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
        drop(p);
    }

    #[test]
    fn drop_kills_the_group_without_waiting_on_it() {
        let d = tempfile::tempdir().unwrap();
        let rt = rt();
        let p = sh(&rt, d.path(), "sleep 30 & sleep 30");
        std::thread::sleep(Duration::from_millis(100));
        let pgid = p.pid as i32;
        let t0 = Instant::now();
        drop(p);
        assert!(t0.elapsed() < Duration::from_secs(1), "drop waited");
        assert_eq!(wait_group_gone(pgid), Vec::<i32>::new());
        // The dropped leader is reaped by the runtime, not left a zombie.
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(200)).await });
        let zombie = std::fs::read_to_string(format!("/proc/{pgid}/stat")).is_ok();
        assert!(!zombie, "leader {pgid} was not reaped");
    }

    #[test]
    fn spawning_outside_the_runtime_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let r = spawn(
            Path::new("/bin/true"),
            &[],
            d.path(),
            &d.path().join("o"),
            &d.path().join("e"),
        );
        assert!(r.is_err());
    }
}

/// A shell wrapper that runs `exe` under `setpriv --pdeathsig KILL`: for
/// daemons a crate spawns without a parent-death signal (bitcoind, electrs),
/// so a SIGKILLed harness still takes them along. `setpriv` is looked up on
/// `PATH`; without it, `exe` itself, after one warning per process naming
/// what is lost.
pub fn pdeathsig_wrapper(exe: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(setpriv) = find_on_path("setpriv", &path) else {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| eprintln!("warning: {SETPRIV_MISSING}"));
        return Ok(exe.to_path_buf());
    };
    let wrapper = dir.join(name);
    let script = format!(
        "#!/bin/sh\nexec {} --pdeathsig KILL -- {} \"$@\"\n",
        crate::text::shell_word(&setpriv.display().to_string()),
        crate::text::shell_word(&exe.display().to_string())
    );
    std::fs::write(&wrapper, script)?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    Ok(wrapper)
}

/// What a machine without `setpriv` loses, and how to get it back.
pub const SETPRIV_MISSING: &str = "no `setpriv` on PATH: bitcoind and electrs will outlive this harness if it is killed (SIGKILL); install util-linux, which provides setpriv";

/// The first executable file `name` in the `:`-separated `path`, as a shell
/// would find it (an empty entry is the current dir).
pub fn find_on_path(name: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".").join(name)
            } else {
                dir.join(name)
            }
        })
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod setpriv_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A PATH without setpriv finds none (the wrapper then warns and runs
    /// the daemon bare); one with it finds the first, skipping a
    /// non-executable file of that name.
    #[test]
    fn setpriv_is_looked_up_on_path_not_at_a_fixed_place() {
        let (without, with) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        executable(without.path(), "bitcoind");
        std::fs::write(without.path().join("setpriv"), "not executable").unwrap();
        let found = executable(with.path(), "setpriv");
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();
        assert_eq!(find_on_path("setpriv", &path(&[without.path()])), None);
        assert_eq!(
            find_on_path("setpriv", &path(&[without.path(), with.path()])),
            Some(found)
        );
        assert!(SETPRIV_MISSING.contains("util-linux"));
        assert!(SETPRIV_MISSING.contains("outlive"));
    }
}
