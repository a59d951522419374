//! Child processes that die with the harness.
//!
//! Every daemon gets its own process group (so its plugins and subdaemons
//! can be signalled together), `PR_SET_PDEATHSIG=SIGKILL` (so a SIGKILLed
//! harness takes it along), stdout/stderr in files, and a Drop that kills
//! the group and reaps. Knows nothing about lightningd.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

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

const EXIT_POLL: Duration = Duration::from_millis(10);
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
/// Call from a thread that outlives the child: PDEATHSIG fires when the
/// *spawning thread* exits.
pub fn spawn(
    program: &Path,
    args: &[String],
    cwd: &Path,
    stdout_path: &Path,
    stderr_path: &Path,
) -> Result<Supervised, SpawnError> {
    spawn_as(program, args, cwd, stdout_path, stderr_path, None)
}

/// As [`spawn`], running as `user` = (uid, gid) when given (PostgreSQL
/// refuses to run as root). std changes the credentials before the
/// `pre_exec` hook runs, so the parent-death signal set there survives
/// (a credential change would clear one set earlier).
pub fn spawn_as(
    program: &Path,
    args: &[String],
    cwd: &Path,
    stdout_path: &Path,
    stderr_path: &Path,
    user: Option<(u32, u32)>,
) -> Result<Supervised, SpawnError> {
    let err = |kind| SpawnError {
        program: program.to_path_buf(),
        kind,
    };
    let open = |p: &Path| File::options().create(true).append(true).open(p);
    let stdout = open(stdout_path).map_err(err)?;
    let stderr = open(stderr_path).map_err(err)?;
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
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
    let mut command_line = vec![program.display().to_string()];
    command_line.extend(args.iter().cloned());
    Ok(Supervised {
        pid: child.id(),
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

    /// Resolves when the leader has exited (reaped). Cancellable: it only
    /// polls `try_wait` between timer ticks, so it never blocks the runtime
    /// and any enclosing timeout keeps working.
    pub async fn exited(&mut self) -> Exit {
        loop {
            if let Some(e) = self.poll_exit() {
                return e;
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
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

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.signal_group(libc::SIGKILL);
            let _ = self.child.wait();
        } else if !live_group_members(self.pid as i32).is_empty() {
            self.signal_group(libc::SIGKILL);
        }
    }
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
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`, which may itself contain spaces.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split(' ');
        let state = f.next().unwrap_or("");
        let _ppid = f.next();
        let pgrp: i32 = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
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
    fn sh(dir: &Path, script: &str) -> Supervised {
        spawn(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            dir,
            &dir.join("out"),
            &dir.join("err"),
        )
        .unwrap()
    }

    #[test]
    fn stop_ladder_reaches_the_whole_group() {
        let d = tempfile::tempdir().unwrap();
        // A leader that ignores SIGTERM and has a child: only SIGKILL ends it.
        let mut p = sh(d.path(), "trap '' TERM; sleep 30 & sleep 30");
        std::thread::sleep(Duration::from_millis(100));
        assert!(live_group_members(p.pid as i32).len() >= 2);
        let exit = rt().block_on(p.stop_ladder(Duration::from_millis(200)));
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
        let mut p = sh(d.path(), "echo boom >&2; exit 3");
        assert_eq!(
            rt().block_on(p.wait_exit(Duration::from_secs(5))),
            Some(Exit::Code { code: 3 })
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("err")).unwrap(),
            "boom\n"
        );
    }

    /// The stop ladder is async: an enclosing step timeout fires even while
    /// a process ignores SIGTERM (it used to block the current-thread runtime).
    #[test]
    fn a_step_timeout_fires_while_a_stop_is_waiting() {
        let d = tempfile::tempdir().unwrap();
        let mut p = sh(d.path(), "trap '' TERM; touch trapped; sleep 30");
        while !d.path().join("trapped").exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let t0 = Instant::now();
        let r = rt().block_on(async {
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
    fn drop_kills_and_reaps() {
        let d = tempfile::tempdir().unwrap();
        let p = spawn(
            Path::new("/bin/sleep"),
            &["30".into()],
            d.path(),
            &d.path().join("o"),
            &d.path().join("e"),
        )
        .unwrap();
        let pgid = p.pid as i32;
        drop(p);
        assert!(live_group_members(pgid).is_empty());
    }
}

/// A shell wrapper that runs `exe` under `setpriv --pdeathsig KILL`: for
/// daemons a crate spawns without a parent-death signal (bitcoind, electrs),
/// so a SIGKILLed harness still takes them along. Without setpriv, `exe`.
pub fn pdeathsig_wrapper(exe: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if !Path::new("/usr/bin/setpriv").exists() {
        return Ok(exe.to_path_buf());
    }
    let wrapper = dir.join(name);
    let script = format!(
        "#!/bin/sh\nexec /usr/bin/setpriv --pdeathsig KILL -- {} \"$@\"\n",
        crate::text::shell_word(&exe.display().to_string())
    );
    std::fs::write(&wrapper, script)?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    Ok(wrapper)
}
