//! One lightningd: its dir, its port, the binary it currently runs, and
//! its lifecycle (start, stop, kill, restart, upgrade onto another binary
//! over the same lightning-dir). Options are recomputed on every start.

use crate::binaries::Lightningd;
use crate::options::{lightningd_args, NodeConfig, OptionsError, StartContext};
use crate::poll::{poll_until, Look};
use crate::ports::{self, PortLease};
use crate::process::{self, Exit, Supervised};
use crate::rpc::{self, CallError, RawReply, SocketPath};
use crate::text::tail;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to reach the harness's bitcoind (copied into every start).
#[derive(Debug, Clone)]
pub struct ChainBackend {
    pub bitcoin_cli: PathBuf,
    pub rpc_port: u16,
    pub rpc_user: String,
    pub rpc_password: String,
}

/// One start of one binary, kept for reports and bundles.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StartRecord {
    pub binary: PathBuf,
    pub version: String,
    pub command_line: Vec<String>,
    pub exit: Option<Exit>,
    /// Length of the log file when this start began: where its lines begin.
    pub log_offset: u64,
    /// The harness SIGKILLed it on purpose (a `kill` step): its exit is no
    /// signature.
    pub killed_on_purpose: bool,
    /// The harness signalled it to end it (a hung node, or one that would
    /// not stop): its exit is the harness's doing, never a signature.
    pub signalled_by_harness: bool,
    /// A call to it never answered: the call, and what the node's
    /// processes were doing then (`hangprobe`).
    #[serde(skip)]
    pub hang: Option<(String, crate::hangprobe::HangProbe)>,
}

#[derive(Debug, thiserror::Error)]
#[error("node {node} on {version}: {kind}")]
pub struct StartError {
    pub node: String,
    pub version: String,
    #[source]
    pub kind: StartErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum StartErrorKind {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("preparing the node dir: {0}")]
    Io(#[from] std::io::Error),
    #[error("leasing a port: {0}")]
    Port(#[from] ports::LeaseError),
    #[error(transparent)]
    Spawn(#[from] process::SpawnError),
    /// lightningd refused its command line (an option it does not know,
    /// or a value it rejects), or could not run at all for want of its own
    /// install (exit codes 10, 11): configuration, not a product crash.
    #[error("lightningd refused to start: {reason} (stderr: {stderr})")]
    Refused { reason: String, stderr: String },
    #[error("lightningd exited during startup with {exit}; stderr: {stderr}")]
    Exited { exit: Exit, stderr: String },
    #[error("`getinfo` did not answer within {0:?}")]
    NotReady(Duration),
    #[error("node is already running")]
    AlreadyRunning,
}

pub struct Node {
    pub name: String,
    pub config: NodeConfig,
    /// The lightning-dir; lives as long as the run.
    pub dir: PathBuf,
    pub binary: Lightningd,
    pub id: Option<String>,
    pub starts: Vec<StartRecord>,
    /// Length of the log file when the current process started.
    log_offset: u64,
    pending_stderr_offset: u64,
    socket: SocketPath,
    port: PortLease,
    process: Option<Supervised>,
    chain: ChainBackend,
}

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a hung node gets between SIGTERM and SIGKILL: it already
/// failed to answer for a whole step timeout, so a hung run ends within a
/// few seconds of that timeout instead of waiting out a graceful stop.
pub const HUNG_GRACE: Duration = Duration::from_secs(2);

impl Node {
    pub fn new(
        config: NodeConfig,
        dir: PathBuf,
        binary: Lightningd,
        chain: ChainBackend,
    ) -> Result<Node, StartError> {
        let err = |kind: StartErrorKind| StartError {
            node: config.name.clone(),
            version: binary.version.raw.clone(),
            kind,
        };
        std::fs::create_dir_all(dir.join("regtest")).map_err(|e| err(e.into()))?;
        let port = ports::lease().map_err(|e| err(e.into()))?;
        let socket =
            SocketPath::new(dir.join("regtest/lightning-rpc")).map_err(|e| err(e.into()))?;
        Ok(Node {
            name: config.name.clone(),
            config,
            dir,
            binary,
            id: None,
            starts: Vec::new(),
            log_offset: 0,
            pending_stderr_offset: 0,
            socket,
            port,
            process: None,
            chain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port.port
    }
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port.port)
    }
    pub fn socket_path(&self) -> &Path {
        &self.socket.real
    }
    /// Where a client connects to the RPC socket: the socket, or its short
    /// alias when the real path is too long for a Unix socket.
    pub fn rpc_connect_path(&self) -> &Path {
        self.socket.connect_path()
    }
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("log")
    }
    pub fn stderr_file(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }
    pub fn stdout_file(&self) -> PathBuf {
        self.dir.join("stdout.log")
    }
    pub fn database(&self) -> PathBuf {
        self.dir.join("regtest/lightningd.sqlite3")
    }
    /// Where this node's database is, once one exists: its SQLite file, or
    /// its PostgreSQL database after a first start has created the tables.
    pub fn db_source(&self) -> Option<crate::evidence::dbread::DbSource> {
        use crate::evidence::dbread::DbSource;
        match &self.config.wallet {
            Some(url) if url.starts_with("postgres") => {
                (!self.starts.is_empty()).then(|| DbSource::Postgres {
                    url: url.clone(),
                    psql: crate::postgres::PgBins::find()
                        .map(|b| b.bindir.join("psql"))
                        .unwrap_or_else(|_| PathBuf::from("psql")),
                })
            }
            _ => self
                .database()
                .exists()
                .then(|| DbSource::Sqlite(self.database())),
        }
    }
    /// The backend this node's database is on.
    pub fn db_backend(&self) -> crate::options::DbBackend {
        match &self.config.wallet {
            Some(url) if url.starts_with("postgres") => crate::options::DbBackend::Postgres,
            _ => crate::options::DbBackend::Sqlite,
        }
    }
    /// A copy-paste `lightning-cli` command for this node.
    pub fn cli_command(&self) -> String {
        format!(
            "{} --lightning-dir={} --network=regtest",
            self.binary.lightning_cli().display(),
            self.dir.display()
        )
    }

    /// Where in the log file the current process began writing.
    pub fn log_offset_at_start(&self) -> u64 {
        self.log_offset
    }

    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|p| p.is_running())
    }

    /// How the current (or last) process ended, if it has.
    pub fn exit(&mut self) -> Option<Exit> {
        let exit = self.process.as_mut()?.poll_exit();
        if let (Some(e), Some(last)) = (exit, self.starts.last_mut()) {
            last.exit.get_or_insert(e);
        }
        exit
    }

    /// Never started, or its last process has been seen to exit (never
    /// reaps: for readers of its files and reports).
    pub fn is_stopped(&self) -> bool {
        self.process.as_ref().is_none_or(|p| p.exit().is_some())
    }

    /// Wait up to `timeout` for the current process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<Exit> {
        let exit = self.process.as_mut()?.wait_exit(timeout).await;
        if let (Some(e), Some(last)) = (exit, self.starts.last_mut()) {
            last.exit.get_or_insert(e);
        }
        exit
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// Start on the current binary: options from *this* binary's version,
    /// `hsm_secret` written only if absent, ready when `getinfo` answers.
    pub async fn launch(&mut self) -> Result<(), StartError> {
        let version = self.binary.version.raw.clone();
        let name = self.name.clone();
        let err = |kind: StartErrorKind| StartError {
            node: name.clone(),
            version: version.clone(),
            kind,
        };
        if self.is_running() {
            return Err(err(StartErrorKind::AlreadyRunning));
        }
        // Anything left of an earlier process (connectd holds the port).
        if let Some(mut old) = self.process.take() {
            old.stop_ladder(Duration::from_millis(100)).await;
            ports::wait_port_free(self.port.port, Duration::from_secs(10)).await;
        }
        let ctx = StartContext {
            lightning_dir: self.dir.clone(),
            log_file: self.log_file(),
            port: self.port.port,
            bitcoin_datadir: self.dir.join("bitcoin"),
            bitcoin_cli: self.chain.bitcoin_cli.clone(),
            bitcoind_rpc_port: self.chain.rpc_port,
            bitcoind_rpc_user: self.chain.rpc_user.clone(),
            bitcoind_rpc_password: self.chain.rpc_password.clone(),
            database_exists: self.db_source().is_some(),
        };
        if self.db_backend() == crate::options::DbBackend::Postgres
            && !crate::postgres::lightningd_has_postgres(&self.binary.path)
        {
            return Err(err(StartErrorKind::Refused {
                reason: format!(
                    "{} was built without PostgreSQL support (libpq-dev was missing when it was configured), and this node's database is on PostgreSQL",
                    self.binary.path.display()
                ),
                stderr: String::new(),
            }));
        }
        let args =
            lightningd_args(&self.binary.version, &self.config, &ctx).map_err(|e| err(e.into()))?;
        std::fs::create_dir_all(&ctx.bitcoin_datadir).map_err(|e| err(e.into()))?;
        crate::hsm::write_if_absent(&self.dir, &self.name, &self.binary.version)
            .map_err(|e| err(e.into()))?;
        let plugin = self.config.plugin();
        if plugin.wanted() {
            crate::plugins::write(&self.dir, plugin).map_err(|e| err(e.into()))?;
        }
        // Mark each start in the captured streams, so a reader of stderr
        // can tell which binary wrote what.
        let marker = format!(
            "=== cln-harness: start #{} of {} on {} ===\n",
            self.starts.len() + 1,
            self.name,
            version
        );
        for f in [self.stderr_file(), self.stdout_file()] {
            use std::io::Write;
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&f)
                .and_then(|mut h| h.write_all(marker.as_bytes()));
        }
        let stderr_offset = std::fs::metadata(self.stderr_file())
            .map(|m| m.len())
            .unwrap_or(0);
        self.log_offset = std::fs::metadata(self.log_file())
            .map(|m| m.len())
            .unwrap_or(0);
        let proc = process::spawn_as(
            &self.binary.path,
            &args,
            &self.dir,
            &self.stdout_file(),
            &self.stderr_file(),
            None,
            &sanitizer_env(),
        )
        .map_err(|e| err(e.into()))?;
        self.starts.push(StartRecord {
            binary: self.binary.path.clone(),
            version: version.clone(),
            command_line: proc.command_line.clone(),
            exit: None,
            log_offset: self.log_offset,
            killed_on_purpose: false,
            signalled_by_harness: false,
            hang: None,
        });
        self.process = Some(proc);
        self.pending_stderr_offset = stderr_offset;
        Ok(())
    }

    /// Start and wait until ready.
    pub async fn start(&mut self) -> Result<(), StartError> {
        self.launch().await?;
        self.wait_ready().await
    }

    /// Wait for a launched process: ready when `getinfo` answers (and its
    /// port listens); an exit meanwhile is reported with its stderr.
    pub async fn wait_ready(&mut self) -> Result<(), StartError> {
        let version = self.binary.version.raw.clone();
        let name = self.name.clone();
        let err = |kind: StartErrorKind| StartError {
            node: name.clone(),
            version: version.clone(),
            kind,
        };
        let stderr_offset = self.pending_stderr_offset;
        let started = Instant::now();
        let (socket, node) = (self.socket.connect_path().to_path_buf(), self.name.clone());
        // Ready when `getinfo` answers; an exit meanwhile ends the wait.
        // Every 5 ms: until lightningd listens, a try is one refused
        // connect, and the wait sits in front of every run's first step.
        let ready = poll_until(READY_TIMEOUT, Duration::from_millis(5), || {
            let exited = self.exit();
            let (socket, node) = (socket.clone(), node.clone());
            async move {
                if let Some(exit) = exited {
                    return Look::Ready(Err(exit));
                }
                match rpc::call(
                    &node,
                    &socket,
                    "getinfo",
                    &json!({}),
                    Duration::from_secs(2),
                )
                .await
                {
                    Ok(info) => Look::Ready(Ok(info)),
                    Err(_) => Look::NotYet(()),
                }
            }
        })
        .await;
        match ready {
            Ok(Ok(info)) => {
                self.id = info["id"].as_str().map(String::from);
                // getinfo can answer before connectd listens; a peer's
                // `connect` right after start must not be refused.
                self.wait_listening(READY_TIMEOUT.saturating_sub(started.elapsed()))
                    .await;
                self.wait_xpay_height().await;
                Ok(())
            }
            Ok(Err(exit)) => {
                let stderr = read_from(&self.stderr_file(), stderr_offset);
                let kind = match refusal(exit, &stderr) {
                    Some(reason) => StartErrorKind::Refused {
                        reason,
                        stderr: tail(&stderr, 600),
                    },
                    None => StartErrorKind::Exited {
                        exit,
                        stderr: tail(&stderr, 1500),
                    },
                };
                Err(err(kind))
            }
            Err(_) => Err(err(StartErrorKind::NotReady(READY_TIMEOUT))),
        }
    }

    /// xpay (v24.11+) learns the block height from a `getchaininfo` it
    /// sends in its init without waiting for the answer, so lightningd is
    /// ready before xpay is: a keysend in that window is built on height 0
    /// and refused ("Expiry cltv 23 too close to current 107": the suite's
    /// twin upgrade-keysend on PostgreSQL, a keysend 20 ms after `start`).
    /// One `getchaininfo` of our own, sent after xpay's to the same bcli,
    /// answers after it, so the next step finds xpay knowing the height.
    /// Best effort: an error here is the next step's to meet.
    async fn wait_xpay_height(&self) {
        if crate::version::Features::of(&self.binary.version).xpay {
            let _ = self
                .call(
                    "getchaininfo",
                    json!({"last_height": 0}),
                    Duration::from_secs(10),
                )
                .await;
        }
    }

    async fn wait_listening(&mut self, timeout: Duration) {
        let port = self.port.port;
        let _ = poll_until(timeout, Duration::from_millis(20), || {
            let running = self.is_running();
            async move {
                if !running
                    || tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .is_ok()
                {
                    Look::Ready(())
                } else {
                    Look::NotYet(())
                }
            }
        })
        .await;
    }

    /// Graceful stop: the `stop` RPC, then the signal ladder if needed.
    /// Returns how the process ended.
    /// A hung node (see [`Node::probe_hang`]) skips the `stop` RPC, which
    /// it would not answer either, and gets [`HUNG_GRACE`].
    pub async fn stop(&mut self) -> Option<Exit> {
        let hung = self.starts.last().is_some_and(|s| s.hang.is_some());
        if self.is_running() && !hung {
            let _ = self.call("stop", json!({}), STOP_GRACE).await;
        }
        let proc = self.process.as_mut()?;
        let was_running = proc.is_running();
        let (exit, signalled) = if hung {
            (proc.stop_ladder(HUNG_GRACE).await, was_running)
        } else {
            match proc.wait_exit(STOP_GRACE).await {
                Some(e) => {
                    proc.wait_group_empty(STOP_GRACE).await;
                    (e, false)
                }
                None => (proc.stop_ladder(STOP_GRACE).await, true),
            }
        };
        if let Some(last) = self.starts.last_mut() {
            last.exit.get_or_insert(exit);
            last.signalled_by_harness |= signalled;
        }
        ports::wait_port_free(self.port.port, Duration::from_secs(10)).await;
        Some(exit)
    }

    /// A call to this node never answered (`what`): record what its
    /// processes were doing, in the start record and in `hang-probe.txt`
    /// for the bundle, before anything tears it down. Returns the summary
    /// (`busy: <process> at <frames>`).
    pub async fn probe_hang(&mut self, what: &str) -> Option<String> {
        let proc = self.process.as_mut()?;
        if !proc.is_running() {
            return None;
        }
        let pid = proc.pid as i32;
        let probe = crate::hangprobe::probe(pid).await;
        let summary = probe.summary();
        let _ = std::fs::write(
            self.dir.join("hang-probe.txt"),
            format!("{what}\n{summary}\n\n{}", probe.text),
        );
        if let Some(last) = self.starts.last_mut() {
            last.hang = Some((what.to_string(), probe));
        }
        Some(summary)
    }

    /// SIGKILL the whole process group (crash simulation); waits until the
    /// group is empty so the node can be started again on the same dir.
    pub async fn kill(&mut self) -> Option<Exit> {
        let proc = self.process.as_mut()?;
        let was_running = proc.is_running();
        let exit = if was_running {
            proc.kill().await
        } else {
            proc.poll_exit()?
        };
        proc.wait_group_empty(STOP_GRACE).await;
        if let Some(last) = self.starts.last_mut() {
            last.exit.get_or_insert(exit);
            last.killed_on_purpose |= was_running;
        }
        Some(exit)
    }

    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        rpc::call(
            &self.name,
            self.rpc_connect_path(),
            method,
            &params,
            timeout,
        )
        .await
    }

    pub async fn raw(&self, request: &[u8], timeout: Duration) -> Result<RawReply, CallError> {
        rpc::raw(&self.name, self.rpc_connect_path(), request, timeout).await
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or(&[])).into_owned()
}

/// Why lightningd refused to start, if it was a matter of configuration:
/// its option parser's complaint (ccan/opt prints `lightningd: --OPT[=VAL]: PROBLEM`
/// and exits 1: unknown option, bad value, deprecated option, missing or
/// unwanted argument), or the exit codes of `common/errcode.h` that mean the
/// install or the dir is unusable (10: a subdaemon could not run or has
/// another version; 11: another lightningd holds the pidfile).
pub fn refusal(exit: Exit, stderr: &str) -> Option<String> {
    let re =
        regex::Regex::new(r"(?m)^lightningd: (--?[A-Za-z0-9][A-Za-z0-9_-]*)(=.*?)?: (.+)$").ok()?;
    if let Some(c) = re.captures(stderr) {
        let option = c[1].trim_start_matches('-');
        return Some(format!(
            "option `{option}{}`: {}",
            c.get(2).map_or("", |m| m.as_str()),
            c[3].trim()
        ));
    }
    // A database written by a newer lightningd: asking an older binary to
    // open it is a downgrade, which the scenario set up, not a bug the
    // binary has (e.g. v25.02.1's backported migrations vs v25.02).
    let down = regex::Regex::new(r"Refusing to migrate down from version (\d+) to (\d+)").ok()?;
    if let Some(c) = down.captures(stderr) {
        return Some(format!(
            "the database is at schema {} (written by a newer lightningd) and this lightningd knows only up to {}: a downgrade, which lightningd refuses",
            &c[1], &c[2]
        ));
    }
    match exit {
        Exit::Code { code: 10 } => Some("a subdaemon could not run or is another version (exit code 10): is the install tree complete?".into()),
        Exit::Code { code: 11 } => Some("another lightningd holds this dir's pidfile (exit code 11)".into()),
        _ => None,
    }
}

/// What a sanitized build (`build --sanitize`) needs to report usefully,
/// unless the user set it: no LeakSanitizer at exit (CLN's leak check is
/// `dev-memleak`, asked before each stop; LSan would report everything a
/// daemon leaves to its exit), and UBSan's frames (the headline names
/// them). A build without sanitizers ignores both.
fn sanitizer_env() -> Vec<(&'static str, String)> {
    [
        ("ASAN_OPTIONS", "detect_leaks=0"),
        ("UBSAN_OPTIONS", "print_stacktrace=1"),
    ]
    .into_iter()
    .filter(|(k, _)| std::env::var_os(k).is_none())
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: Exit = Exit::Code { code: 1 };

    #[test]
    fn a_database_from_a_newer_lightningd_is_a_refusal_not_a_crash() {
        // Seen when bisecting #8269: v25.02 over a DB v25.02.1 wrote.
        let r = refusal(
            ONE,
            "lightningd: Refusing to migrate down from version 263 to 261\n",
        )
        .unwrap();
        assert!(
            r.contains("schema 263") && r.contains("up to 261") && r.contains("downgrade"),
            "{r}"
        );
    }

    #[test]
    fn option_complaints_are_refusals_with_lightningds_words() {
        let r = refusal(
            ONE,
            "=== cln-harness: start #1 ===\nlightningd: --frobnicate=1: unrecognized option\n",
        );
        assert_eq!(
            r.as_deref(),
            Some("option `frobnicate=1`: unrecognized option")
        );
        let r = refusal(ONE, "lightningd: --xpay-handle-pay: requires an argument\n");
        assert_eq!(
            r.as_deref(),
            Some("option `xpay-handle-pay`: requires an argument")
        );
        let r = refusal(
            ONE,
            "lightningd: --addr=127.0.0.1:x: Unable to parse address\n",
        );
        assert_eq!(
            r.as_deref(),
            Some("option `addr=127.0.0.1:x`: Unable to parse address")
        );
    }

    #[test]
    fn crashes_at_startup_are_not_refusals() {
        // A migration that dies at startup prints to stderr and exits 1
        // (`lightningd/log.c` `fatal_vfmt` before the crash log is set up).
        let stderr = "lightningd: Error executing statement: wallet/wallet.c:123: UPDATE ...: UNIQUE constraint failed: x.y\n";
        assert_eq!(refusal(ONE, stderr), None);
        assert_eq!(
            refusal(
                Exit::Signal { signal: 6 },
                "lightningd: FATAL SIGNAL 6 (version v25.05)\n"
            ),
            None
        );
        assert!(refusal(Exit::Code { code: 10 }, "").is_some());
    }
}
