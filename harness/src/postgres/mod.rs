//! A throwaway PostgreSQL server for one run: the nodes that run on
//! `db = "postgres"` each get a database on it.
//!
//! - Binaries: `$CLN_HARNESS_PG_BINDIR`, else `pg_config --bindir`, else the
//!   newest `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package).
//! - `initdb` runs once per PostgreSQL major version into the harness cache
//!   (`postgres/<major>/template`, published by one rename under a lock);
//!   each run copies that template (about 40 MB, a fraction of initdb's 1 s).
//!   When the cache is not this user's to use (a cache shared between
//!   users, or one root wrote into under `sudo -E`: root's template is the
//!   `postgres` user's, mode 0700), the template is made in this user's
//!   own state dir instead ([`crate::userdirs::state_dir`]): another user's
//!   files never stop a run.
//! - PostgreSQL refuses to run as root: where the harness is root, the
//!   server runs as the `postgres` user (else `nobody`), in a private dir
//!   (`<scratch>/cln-harness-pg-XXXXXX`, [`crate::scratch`], mode 0700)
//!   owned by that user; it
//!   must be able to search every dir above it, which is checked and named.
//! - Unix socket only (`listen_addresses=''`), in that dir: parallel runs
//!   never share a port, and since the socket takes any role without a
//!   password (trust), the 0700 dir is what keeps other users out of the
//!   databases. Durability off (`fsync`, `synchronous_commit`,
//!   `full_page_writes`), as test suites run it.
//! - The server is a [`Supervised`] child like every daemon: own process
//!   group, parent-death SIGKILL. [`PgServer::stop`] shuts it down cleanly
//!   (fast shutdown, so no shared memory is left behind); a drop is the
//!   last resort (SIGKILL, no waiting); the dir is removed with it.
//! - Nothing here blocks the async runtime, where `--jobs` runs share one
//!   thread: the blocking preparation (lookup, `initdb` under a lock, the
//!   template copy) runs on `spawn_blocking`, and `pg_isready` and `psql`
//!   are awaited as tokio processes. Only the server itself is spawned on
//!   the runtime's thread, which outlives it (PDEATHSIG).

use crate::process::{self, Supervised};
use crate::userdirs::{self, Access};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod template;
use template::template;

/// The role lightningd connects as (trust authentication on the socket).
pub const SUPERUSER: &str = "postgres";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a fast shutdown (SIGINT) may take before the group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Test only: seconds the server's start spends in its blocking
/// preparation on top of the real work (as a slow disk copying the
/// template would), so a test can show that one run's slow PostgreSQL
/// start does not stall the other runs sharing the runtime.
pub const START_DELAY_ENV: &str = "CLN_HARNESS_TEST_PG_START_DELAY";

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("PostgreSQL is not installed (no `pg_config`, no /usr/lib/postgresql/*/bin/postgres): install Debian's `postgresql` package (ci/setup.sh does), or set CLN_HARNESS_PG_BINDIR")]
    NotInstalled,
    #[error("PostgreSQL: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("PostgreSQL: `{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("PostgreSQL did not accept connections within {0:?}; its log: {1}")]
    NotReady(Duration, String),
    #[error("PostgreSQL: {0}")]
    Lock(#[from] crate::builds::CacheLockError),
    #[error("PostgreSQL: the template: {0}")]
    StateDir(#[from] crate::userdirs::StateDirError),
    /// Root runs the server as an unprivileged user, who must reach its dir.
    #[error("PostgreSQL runs as {user}, which cannot reach {dir}: {why}; set TMPDIR to a dir every user can search (e.g. /tmp)")]
    Unreachable {
        user: String,
        dir: PathBuf,
        why: String,
    },
    #[error(transparent)]
    Spawn(#[from] process::SpawnError),
    #[error("PostgreSQL: {what} did not finish: {source}")]
    Blocking {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Run blocking work (child processes waited on, file copies, locks) on
/// tokio's blocking pool, so the runtime's thread keeps serving the other
/// runs' timers. Never spawn a long-lived child in `work`: PDEATHSIG would
/// fire when the pool's thread exits.
async fn off_runtime<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, PgError> + Send + 'static,
) -> Result<T, PgError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| PgError::Blocking { what, source })?
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let what = what.into();
    move |source| PgError::Io { what, source }
}

/// As [`io`], naming the path and, for a permission, what this user lacks.
fn io_at(what: &str, path: &Path, access: Access) -> impl FnOnce(std::io::Error) -> PgError {
    let (what, path) = (what.to_string(), path.to_path_buf());
    move |source| PgError::Io {
        what: format!(
            "{what} {} ({})",
            path.display(),
            userdirs::explain_io(&path, &source, access)
        ),
        source,
    }
}

impl PgError {
    /// A permission kept this user from a path (as opposed to PostgreSQL
    /// itself failing).
    fn is_permission(&self) -> bool {
        let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
        match self {
            PgError::Io { source, .. } => denied(source),
            PgError::Lock(e) => denied(&e.source),
            _ => false,
        }
    }
}

/// Where PostgreSQL's programs are, and its major version.
#[derive(Debug, Clone)]
pub struct PgBins {
    pub bindir: PathBuf,
    pub major: String,
}

impl PgBins {
    pub fn find() -> Result<PgBins, PgError> {
        let from_env = std::env::var_os("CLN_HARNESS_PG_BINDIR").map(PathBuf::from);
        let from_pg_config = || {
            Command::new("pg_config")
                .arg("--bindir")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        };
        let from_debian = || {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect();
            dirs.sort_by_key(|d| {
                d.parent()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(0)
            });
            dirs.pop()
        };
        let bindir = from_env
            .or_else(from_pg_config)
            .filter(|d| d.join("postgres").exists())
            .or_else(from_debian)
            .filter(|d| d.join("postgres").exists() && d.join("initdb").exists())
            .ok_or(PgError::NotInstalled)?;
        let out = Command::new(bindir.join("postgres"))
            .arg("--version")
            .output()
            .map_err(io("postgres --version"))?;
        // "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)"
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let major = text
            .split_whitespace()
            .nth(2)
            .and_then(|v| v.split('.').next())
            .unwrap_or("unknown")
            .to_string();
        Ok(PgBins { bindir, major })
    }

    fn exe(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

/// The unprivileged user to run as, when the harness runs as root.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: plain libc calls; getpwnam's result is read at once.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        for name in [c"postgres", c"nobody"] {
            let pw = libc::getpwnam(name.as_ptr());
            if !pw.is_null() {
                return Some(((*pw).pw_uid, (*pw).pw_gid));
            }
        }
    }
    Some((65534, 65534))
}

fn chown_tree(dir: &Path, user: Option<(u32, u32)>) -> Result<(), PgError> {
    let Some((uid, gid)) = user else {
        return Ok(());
    };
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(dir)
        .status()
        .map_err(io("chown"))?;
    if !status.success() {
        return Err(PgError::Command {
            command: format!("chown -R {uid}:{gid} {}", dir.display()),
            stderr: status.to_string(),
        });
    }
    Ok(())
}

/// Can the unprivileged user PostgreSQL runs as reach `dir` (now its own)?
/// A `$TMPDIR` inside root's home (mode 0700) would fail only later, as a
/// server that never answers.
fn reachable(dir: &Path, user: Option<(u32, u32)>) -> Result<(), PgError> {
    let Some((uid, gid)) = user else {
        return Ok(());
    };
    match userdirs::blocking(dir, Access::Read, uid, &[gid]) {
        None => Ok(()),
        Some(why) => Err(PgError::Unreachable {
            user: userdirs::user_name(uid),
            dir: dir.to_path_buf(),
            why,
        }),
    }
}

/// Run a short command to its end (blocking: on the blocking pool only).
fn run(cmd: &mut Command) -> Result<String, PgError> {
    let out = cmd
        .output()
        .map_err(io(format!("running {:?}", cmd.get_program())))?;
    checked(cmd, out)
}

/// As [`run`], awaited as a tokio process: the runtime keeps running.
async fn run_async(cmd: Command) -> Result<String, PgError> {
    let mut cmd = tokio::process::Command::from(cmd);
    let out = cmd
        .output()
        .await
        .map_err(io(format!("running {:?}", cmd.as_std().get_program())))?;
    checked(cmd.as_std(), out)
}

/// The command's stdout when it succeeded, else its stderr as the error.
fn checked(cmd: &Command, out: std::process::Output) -> Result<String, PgError> {
    if !out.status.success() {
        return Err(PgError::Command {
            command: format!(
                "{} {}",
                cmd.get_program().to_string_lossy(),
                cmd.get_args()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A running server, its dir, and the databases made on it. End it with
/// [`PgServer::stop`]; a drop kills the group without waiting (the last
/// resort, which leaves PostgreSQL's shared memory segment behind).
pub struct PgServer {
    process: Supervised,
    bins: PgBins,
    /// Private dir (data, socket, log), removed on drop.
    dir: tempfile::TempDir,
    /// When [`PgServer::launch`] began.
    launched: Instant,
    /// From the launch until it answered.
    pub started_in: Duration,
}

/// What the blocking preparation leaves for the server's start.
struct Prepared {
    bins: PgBins,
    user: Option<(u32, u32)>,
    dir: tempfile::TempDir,
    data: PathBuf,
}

/// The blocking part of a start: find the binaries, make (or reuse) the
/// template, copy it into a fresh private dir owned by the server's user.
fn prepare() -> Result<Prepared, PgError> {
    let bins = PgBins::find()?;
    let user = run_as();
    let tpl = template(&bins, user)?;
    let dir =
        crate::scratch::private_dir("cln-harness-pg-").map_err(io("creating the server dir"))?;
    let data = dir.path().join("data");
    run(Command::new("cp").arg("-a").arg(&tpl).arg(&data))?;
    chown_tree(dir.path(), user)?;
    reachable(dir.path(), user)?;
    if let Some(secs) = std::env::var(START_DELAY_ENV)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
    }
    Ok(Prepared {
        bins,
        user,
        dir,
        data,
    })
}

impl PgServer {
    /// Start a server from the cached template without waiting for it to
    /// answer: it boots while the caller starts bitcoind (whose start holds
    /// the runtime's thread), and [`PgServer::ready`] waits after.
    pub async fn launch() -> Result<PgServer, PgError> {
        let t0 = Instant::now();
        let Prepared {
            bins,
            user,
            dir,
            data,
        } = off_runtime("preparing the server's dir", prepare).await?;
        let sock = dir.path().to_path_buf();
        let args: Vec<String> = [
            "-D".to_string(),
            data.display().to_string(),
            "-k".into(),
            sock.display().to_string(),
            "-c".into(),
            "listen_addresses=".into(),
            "-c".into(),
            "fsync=off".into(),
            "-c".into(),
            "synchronous_commit=off".into(),
            "-c".into(),
            "full_page_writes=off".into(),
            "-c".into(),
            "max_connections=40".into(),
            "-c".into(),
            "shared_buffers=16MB".into(),
        ]
        .into();
        let log = dir.path().join("postgres.log");
        // On the runtime's thread, which outlives the server (PDEATHSIG).
        let process = process::spawn_as(
            &bins.exe("postgres"),
            &args,
            dir.path(),
            &log,
            &log,
            user,
            &[],
        )?;
        Ok(PgServer {
            process,
            bins,
            dir,
            launched: t0,
            started_in: Duration::ZERO,
        })
    }

    /// Wait until a launched server answers.
    pub async fn ready(&mut self) -> Result<(), PgError> {
        self.wait_ready().await?;
        self.started_in = self.launched.elapsed();
        Ok(())
    }

    /// The server starts in a few hundred ms; `pg_isready` every 20 ms,
    /// awaited, so the other runs on the runtime keep going meanwhile.
    async fn wait_ready(&mut self) -> Result<(), PgError> {
        let t0 = Instant::now();
        loop {
            if let Some(exit) = self.process.poll_exit() {
                return Err(PgError::NotReady(
                    t0.elapsed(),
                    format!("postgres exited with {exit}: {}", self.log_tail()),
                ));
            }
            let ok = tokio::process::Command::new(self.bins.exe("pg_isready"))
                .args(["-q", "-h"])
                .arg(self.socket_dir())
                .args(["-U", SUPERUSER])
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if t0.elapsed() > READY_TIMEOUT {
                return Err(PgError::NotReady(READY_TIMEOUT, self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fast shutdown (SIGINT: clients cut off, shared memory released),
    /// awaited; the group is killed if it takes longer than [`STOP_GRACE`].
    /// Then the dir goes.
    pub async fn stop(mut self) {
        if self.process.is_running() {
            self.process.signal_group(libc::SIGINT);
            if self.process.wait_exit(STOP_GRACE).await.is_none() {
                self.process.kill().await;
            }
        }
        self.process.wait_group_empty(STOP_GRACE).await;
        // Removing the data dir (tens of MB) is blocking file work too.
        let PgServer { process, dir, .. } = self;
        drop(process);
        let _ = tokio::task::spawn_blocking(move || drop(dir)).await;
    }

    fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        crate::text::tail(&text, 800).to_string()
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.process.pid
    }

    /// lightningd's `--wallet` for database `db`.
    pub fn url(&self, db: &str) -> String {
        url(db, self.socket_dir())
    }

    pub async fn create_database(&self, db: &str) -> Result<(), PgError> {
        self.psql("template1", &format!("CREATE DATABASE \"{db}\""))
            .await
            .map(|_| ())
    }

    /// Run one statement on `db`, returning psql's unaligned output.
    pub async fn psql(&self, db: &str, sql: &str) -> Result<String, PgError> {
        let mut cmd = Command::new(self.bins.exe("psql"));
        cmd.arg(self.url(db))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]);
        run_async(cmd).await
    }

    /// `pg_dump` of `db` (plain SQL) into `out`, for the bundle. Blocking:
    /// the bundle is written after the run, by the synchronous gather.
    pub fn dump(&self, db: &str, out: &Path) -> Result<(), PgError> {
        let text = run(Command::new(self.bins.exe("pg_dump"))
            .arg("--no-owner")
            .arg(self.url(db)))?;
        std::fs::write(out, text).map_err(io(format!("writing {}", out.display())))
    }

    pub fn psql_exe(&self) -> PathBuf {
        self.bins.exe("psql")
    }
}

/// `postgres://postgres@/DB?host=SOCKETDIR`: what lightningd's `--wallet`
/// and psql both take.
///
/// ```
/// use cln_harness::postgres::url;
/// assert_eq!(url("alice", "/tmp/pg".as_ref()), "postgres://postgres@/alice?host=/tmp/pg");
/// ```
pub fn url(db: &str, socket_dir: &Path) -> String {
    format!("postgres://{SUPERUSER}@/{db}?host={}", socket_dir.display())
}

/// Does this lightningd link libpq (was it configured with `libpq-dev`)?
/// Read from its dynamic section's needed libraries, as `ldd` would show.
pub fn lightningd_has_postgres(lightningd: &Path) -> bool {
    std::fs::read(lightningd)
        .is_ok_and(|bytes| bytes.windows(b"libpq.so".len()).any(|w| w == b"libpq.so"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_links_libpq_or_it_cannot_run_on_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let with = dir.path().join("with");
        let without = dir.path().join("without");
        std::fs::write(&with, b"\x7fELF....libsqlite3.so.0\0libpq.so.5\0libc.so.6").unwrap();
        std::fs::write(&without, b"\x7fELF....libsqlite3.so.0\0libc.so.6").unwrap();
        assert!(lightningd_has_postgres(&with));
        assert!(!lightningd_has_postgres(&without));
        assert!(!lightningd_has_postgres(&dir.path().join("missing")));
        assert_eq!(
            url("bob", Path::new("/tmp/cln-harness-pg-x")),
            "postgres://postgres@/bob?host=/tmp/cln-harness-pg-x"
        );
    }
}
