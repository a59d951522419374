//! Argument parsing and exit codes. No logic a test can't reach elsewhere.

use crate::binaries::{self, Discovery};
use crate::network::{ChannelSpec, Network, RunDir};
use crate::options::NodeConfig;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(
    name = "cln-harness",
    version,
    about = "Crash reproduction and regression harness for Core Lightning"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BinaryArgs {
    /// ROLE=PATH (or LABEL=PATH): the lightningd for a role. Repeatable.
    #[arg(long = "lightningd", value_name = "ROLE=PATH", value_parser = parse_role_path)]
    pub lightningd: Vec<(String, PathBuf)>,
    /// bitcoind to use (bitcoin-cli must sit beside it).
    #[arg(long, value_name = "PATH")]
    pub bitcoind: Option<PathBuf>,
    /// The database of every node whose scenario does not choose one:
    /// `sqlite` (lightningd's default) or `postgres` (a PostgreSQL server
    /// the harness starts for the run).
    #[arg(long, value_name = "BACKEND", value_parser = parse_db)]
    pub db: Option<crate::options::DbBackend>,
    /// electrs for scenarios with `witness = true` (else $ELECTRS_EXE, else
    /// the harness cache, where ci/build-electrs.sh puts it).
    #[arg(long, value_name = "PATH")]
    pub electrs: Option<PathBuf>,
}

fn parse_db(s: &str) -> Result<crate::options::DbBackend, String> {
    crate::options::DbBackend::parse(s).ok_or_else(|| "expected `sqlite` or `postgres`".into())
}

fn parse_role_path(s: &str) -> Result<(String, PathBuf), String> {
    let (role, path) = s.split_once('=').ok_or("expected ROLE=PATH")?;
    if role.is_empty() || path.is_empty() {
        return Err("expected ROLE=PATH".into());
    }
    Ok((role.to_string(), PathBuf::from(path)))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring up bitcoind and N channeled nodes, print how to reach them, wait for Ctrl-C.
    Up {
        #[arg(long, default_value_t = 2)]
        nodes: usize,
        /// Role (or label) every node runs.
        #[arg(long, default_value = "candidate")]
        role: String,
        #[command(flatten)]
        bins: BinaryArgs,
        /// Keep the run dir after exit.
        #[arg(long)]
        keep: bool,
        /// Exit once the channels are normal instead of waiting for Ctrl-C (benchmarks).
        #[arg(long, hide = true)]
        no_wait: bool,
    },
    /// Run scenario files; exit 0 pass, 1 crash/hang/fail, 2 bad scenario, 125 environment.
    Run(RunArgs),
    /// List scenarios with their description and the roles they need.
    List {
        #[arg(default_value = "scenarios")]
        dirs: Vec<PathBuf>,
    },
    /// Check a lightningd database offline, read-only: a `lightningd.sqlite3`
    /// path, or a PostgreSQL connection string (`postgres://USER@HOST/DB`,
    /// read in one read-only transaction). Exit 0 clean, 1 findings, 2 unreadable.
    CheckDb {
        #[arg(required_unless_present = "explain")]
        path: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Print every check with the schema versions it applies to, and exit.
        #[arg(long)]
        explain: bool,
    },
    /// Download official release tarballs (checked against SHA256SUMS) into
    /// the harness cache: `install v25.05 v26.06.6`, `install latest`.
    Install {
        #[arg(required = true)]
        labels: Vec<String>,
        /// A mirror URL or a local directory laid out like the release page
        /// (`<from>/<tag>/<file>`).
        #[arg(long, value_name = "URL|DIR")]
        from: Option<String>,
        /// The tarball platform (e.g. `Ubuntu-22.04`); default: this machine's.
        #[arg(long)]
        platform: Option<String>,
        /// Maintainer keys to check the release's signatures with (armored
        /// `*.txt`/`*.asc`, e.g. a CLN checkout's `contrib/keys`); default:
        /// CLN's repository at the tag (or `<from>/keys/` on a mirror).
        #[arg(long, value_name = "DIR")]
        keys: Option<PathBuf>,
    },
    /// The first build on which a scenario changes behaviour: over commits
    /// of a checkout (`--good REF --bad REF`, each built or reused) or over
    /// installed builds in the given order (`--labels`).
    ///
    /// Exit codes (the `answer` in `--json`):
    ///   0    first_bad / first_fixed: found the build
    ///   1    not_fixed: with --find-fix, the newer end still does not pass
    ///   1    ends_wrong: the older end does not show the old behaviour
    ///        (first bad: it fails; --find-fix: it passes), or the newer end
    ///        passes (first bad)
    ///   2    bad input only: a bad scenario, arguments, a ref that is not a commit
    ///   125  could_not_test: an end could not be tested (the line says why),
    ///        build prerequisites are missing, git stopped the search
    ///   125  among_skipped: skipped builds leave the answer among several
    #[command(verbatim_doc_comment)]
    Bisect(BisectArgs),
    /// Build Core Lightning from your checkout at each REF (in a private
    /// clone; your tree is untouched) into the harness cache, labelled by
    /// `git describe --tags`. Exit 0 built or reused, 125 otherwise.
    Build {
        #[arg(required = true, value_name = "REF")]
        refs: Vec<String>,
        /// The checkout (default: the current directory).
        #[arg(long, value_name = "PATH")]
        repo: Option<PathBuf>,
        #[command(flatten)]
        flags: BuildFlags,
    },
    /// Run a scenario's first STEP steps, stop the nodes, and save the chain
    /// and each node's lightning-dir as a fixture (`fixtures/NAME/`) that
    /// `from_fixture = "NAME"` resumes from. Exit 0 saved, 1 the run did not
    /// pass (nothing saved), 2 bad input, 125 environment.
    Record {
        scenario: PathBuf,
        /// Record after this many top-level steps (1-based; the scenario's
        /// steps up to and including it run; 0: right after setup, the
        /// channels open and normal).
        #[arg(long, value_name = "STEP")]
        at: usize,
        #[arg(long)]
        name: String,
        /// Where the fixture dir goes (default: `fixtures/NAME`).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Date the recorded chain this many days in the past (bitcoind's
        /// `setmocktime` while recording): a fixture as old as one recorded
        /// back then, to check that resuming does not depend on its age.
        #[arg(long, value_name = "DAYS")]
        chain_days_ago: Option<u64>,
        #[command(flatten)]
        bins: BinaryArgs,
    },
    /// The release gate as one command: the matrix file's cells, or with
    /// `--versions V1 V2 ...` (oldest first) every single-binary scenario
    /// and twin on each version and every upgrade scenario over each older →
    /// newer pair, judged against the file's expectations (default: pass).
    /// Prints a table; `--junit`, `--markdown`. Exit 0 only if every cell met
    /// its expectation (1 otherwise; 125 if only the environment failed).
    Matrix {
        /// The expectations file (default: `ci/gate.toml`, where every cell
        /// is expected to pass; `ci/matrix.toml` is the harness's own matrix).
        file: Option<PathBuf>,
        #[arg(long, num_args = 1.., value_name = "LABEL")]
        versions: Vec<String>,
        /// Where scenarios live (`examples/` inside it is left out with --versions).
        #[arg(long, default_value = "scenarios", value_name = "DIR")]
        scenarios: PathBuf,
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        /// Cells run at once.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        jobs: u32,
        #[command(flatten)]
        bins: BinaryArgs,
    },
    /// Generated traffic across an upgrade from BASE to CANDIDATE, with
    /// oracles that need no expectations (deaths, hangs, BROKEN lines,
    /// check-db, state that must survive the upgrade); each distinct finding
    /// shrunk to a scenario in DIR that `run` reproduces. Exit 1 if anything
    /// was found, 0 if not, 125 if nothing could run.
    Explore {
        #[arg(long)]
        base: String,
        #[arg(long)]
        candidate: String,
        /// At most this many nodes (2 or 3).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=3))]
        nodes: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop starting runs after this many seconds (default: 600 unless --runs).
        #[arg(long, value_name = "SECONDS", conflicts_with = "runs")]
        budget: Option<u64>,
        #[arg(long, value_name = "N")]
        runs: Option<u64>,
        #[arg(long, default_value = "explore-findings", value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
        jobs: u32,
        /// Reruns allowed per finding while shrinking.
        #[arg(long, default_value_t = 12)]
        shrink_reruns: u32,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Print the scenario of one run (its seed from a progress line) and exit.
        #[arg(long, value_name = "RUN_SEED")]
        show_program: Option<u64>,
        #[command(flatten)]
        bins: BinaryArgs,
    },
    /// Show every lightningd (and bitcoind) the harness can find.
    Binaries {
        #[command(flatten)]
        bins: BinaryArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub bins: BinaryArgs,
    /// Write the machine report here (a JSON array when several files run;
    /// with `--repeat`, an object: `repeats`, each file's groups, and `runs`).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Keep run dirs and write an artifact bundle even when passing.
    #[arg(long)]
    pub keep: bool,
    /// Compare each run's DB and log snapshots with the accepted ones in
    /// DIR (as the tests name them); a difference fails the run and
    /// leaves a `.snap.new` for `cargo insta review --workspace`.
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Also print the time spent per phase.
    #[arg(short, long)]
    pub verbose: bool,
    /// Run each scenario N times; print its pass rate and every outcome
    /// grouped by its headline (a crash's signature, a fail's step and
    /// detail, redacted), with its count. Exit 0 only if every run passed.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: u32,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BisectArgs {
    pub scenario: PathBuf,
    /// Installed builds, oldest first: the first must pass and the last
    /// must not (crash/hang/fail); with `--find-fix` the reverse: the first
    /// must not pass and the last must.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["good", "bad", "repo"], required_unless_present_all = ["good", "bad"])]
    pub labels: Vec<String>,
    /// A commit (or tag) of the checkout on which the scenario passes
    /// (the older end, or with `--find-fix` the newer one).
    #[arg(long, value_name = "REF", requires = "bad")]
    pub good: Option<String>,
    /// A commit (or tag) on which it crashes, hangs or fails (the newer
    /// end, or with `--find-fix` the older one).
    #[arg(long, value_name = "REF", requires = "good")]
    pub bad: Option<String>,
    /// The Core Lightning checkout to build commits from (default: the current directory).
    #[arg(long, value_name = "PATH")]
    pub repo: Option<PathBuf>,
    #[command(flatten)]
    pub build: BuildFlags,
    /// The role each label is tested in.
    #[arg(long, default_value = "candidate")]
    pub role: String,
    /// Find the first label on which a failing scenario passes (which
    /// release fixed it): the older end must not pass, the newer must.
    #[arg(long)]
    pub find_fix: bool,
    /// Runs per label; any run with the new behaviour counts (for flaky bugs).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Write the bisect report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub bins: BinaryArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BuildFlags {
    /// Configure with Rust plugins (default: `--disable-rust`).
    #[arg(long)]
    pub with_rust: bool,
    /// `make -j` (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

impl BuildFlags {
    fn options(&self) -> crate::builds::build::BuildOptions {
        let mut o = crate::builds::build::BuildOptions {
            rust: self.with_rust,
            ..Default::default()
        };
        if let Some(j) = self.jobs {
            o.jobs = j;
        }
        o
    }
}

pub const NODE_NAMES: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

/// Exit codes, all from [`outcome::exit_code`].
mod exit {
    use crate::outcome::{exit_code, OutcomeKind, Verdict};
    pub fn pass() -> i32 {
        exit_code(OutcomeKind::Pass)
    }
    pub fn failed() -> i32 {
        exit_code(OutcomeKind::Fail)
    }
    pub fn usage() -> i32 {
        exit_code(Verdict::BadInput)
    }
    pub fn environment() -> i32 {
        exit_code(OutcomeKind::Error)
    }
}

pub fn main_with_args(cli: Cli) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::environment();
        }
    };
    match cli.command {
        Command::Up {
            nodes,
            role,
            bins,
            keep,
            no_wait,
        } => rt.block_on(up(nodes, &role, &bins, keep, no_wait)),
        Command::Binaries { bins } => list_binaries(&bins),
        Command::Explore {
            base,
            candidate,
            nodes,
            seed,
            budget,
            runs,
            out,
            jobs,
            shrink_reruns,
            json,
            show_program,
            bins,
        } => {
            let c = crate::explore::ExploreConfig {
                base,
                candidate,
                nodes: nodes as usize,
                seed,
                budget: match (budget, runs) {
                    (Some(b), _) => Some(std::time::Duration::from_secs(b)),
                    (None, None) => Some(std::time::Duration::from_secs(600)),
                    (None, Some(_)) => None,
                },
                runs,
                jobs: jobs as usize,
                out,
                shrink_reruns: shrink_reruns as usize,
            };
            rt.block_on(explore(&c, json.as_deref(), show_program, &bins))
        }
        Command::Matrix {
            file,
            versions,
            scenarios,
            junit,
            markdown,
            jobs,
            bins,
        } => {
            let outputs = (junit.as_deref(), markdown.as_deref());
            rt.block_on(matrix(
                file.as_deref(),
                &versions,
                &scenarios,
                outputs,
                jobs as usize,
                &bins,
            ))
        }
        Command::Record {
            scenario,
            at,
            name,
            out,
            chain_days_ago,
            bins,
        } => rt.block_on(record(&scenario, at, &name, out, chain_days_ago, &bins)),
        Command::Run(args) => rt.block_on(run(&args)),
        Command::Bisect(args) => rt.block_on(bisect(&args)),
        Command::Build { refs, repo, flags } => build(&refs, repo.as_deref(), &flags),
        Command::Install {
            labels,
            from,
            platform,
            keys,
        } => install(
            &labels,
            from.as_deref(),
            platform.as_deref(),
            keys.as_deref(),
        ),
        Command::List { dirs } => list(&dirs),
        Command::CheckDb { explain: true, .. } => {
            print!("{}", crate::evidence::accounting::explain());
            exit::pass()
        }
        Command::CheckDb {
            path: Some(path),
            json,
            ..
        } => check_db_command(&path, json),
        Command::CheckDb { path: None, .. } => exit::usage(),
    }
}

fn discovery(bins: &BinaryArgs) -> Result<Discovery, i32> {
    Discovery::from_environment(bins.lightningd.clone()).map_err(|e| {
        eprintln!("error: {e}");
        exit::usage()
    })
}

/// Every role and label the harness can answer, with the same verdict a
/// run would reach: an explicitly given binary that cannot be used is
/// shown as such (and makes the command exit 125), never a substitute.
fn list_binaries(bins: &BinaryArgs) -> i32 {
    let Ok(disc) = discovery(bins) else {
        return exit::usage();
    };
    let mut found_any = false;
    let mut explicit_broken = false;
    for name in disc.known_requests() {
        match disc.resolve(&name) {
            Ok(b) => {
                found_any = true;
                let sha = b.sha256().unwrap_or_else(|e| format!("unreadable: {e}"));
                let pg = if crate::postgres::lightningd_has_postgres(&b.path) {
                    "sqlite, postgres"
                } else {
                    "sqlite only (built without libpq-dev)"
                };
                println!(
                    "{name:<12} {:<24} {}  (from {})\n{:<12} sha256 {sha}\n{:<12} databases: {pg}",
                    b.version.raw,
                    b.path.display(),
                    b.source,
                    "",
                    ""
                );
            }
            Err(e) => {
                explicit_broken |= e.explicit.is_some();
                let mark = if e.explicit.is_some() {
                    "UNUSABLE"
                } else {
                    "-"
                };
                println!("{name:<12} {mark}  {}", e.tried.join("; "));
            }
        }
    }
    let bitcoind_ok = match binaries::resolve_bitcoind(bins.bitcoind.as_deref()) {
        Ok(b) => {
            println!(
                "{:<12} {}  (from {})",
                "bitcoind",
                b.bitcoind.display(),
                b.source
            );
            true
        }
        Err(e) => {
            println!("{:<12} -  {e}", "bitcoind");
            false
        }
    };
    if found_any && bitcoind_ok && !explicit_broken {
        exit::pass()
    } else {
        exit::environment()
    }
}

/// `cln-harness check-db [--json] PATH`: 0 clean, 1 findings, 2 unreadable
/// or not a lightningd database.
pub fn check_db_command(path: &std::path::Path, json: bool) -> i32 {
    use crate::evidence::checkdb;
    use crate::outcome::{exit_code, OutcomeKind, Verdict};
    let src = crate::evidence::dbread::DbSource::parse(&path.to_string_lossy());
    match checkdb::check_db_source(&src) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", checkdb::render_report(&report));
            }
            exit_code(if report.is_clean() {
                OutcomeKind::Pass
            } else {
                OutcomeKind::Fail
            })
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"path": path, "error": e.kind.to_string()})
                );
            }
            eprintln!("error: {e}");
            exit_code(Verdict::BadInput)
        }
    }
}

async fn up(count: usize, role: &str, bins: &BinaryArgs, keep: bool, no_wait: bool) -> i32 {
    let t0 = Instant::now();
    let progress = |msg: &str| eprintln!("[{:>6.2}s] {msg}", t0.elapsed().as_secs_f64());
    if !(1..=NODE_NAMES.len()).contains(&count) {
        eprintln!("error: --nodes must be between 1 and {}", NODE_NAMES.len());
        return exit::usage();
    }
    let Ok(disc) = discovery(bins) else {
        return exit::usage();
    };
    let lightningd = match disc.resolve(role) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::environment();
        }
    };
    let bitcoin = match binaries::resolve_bitcoind(bins.bitcoind.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::environment();
        }
    };
    let mut run_dir = match RunDir::new(keep) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::environment();
        }
    };
    progress(&format!(
        "starting bitcoind ({})",
        bitcoin.bitcoind.display()
    ));
    let names = &NODE_NAMES[..count];
    let specs = names
        .iter()
        .map(|n| (NodeConfig::named(n), lightningd.clone()))
        .collect();
    let mut net = match Network::create(run_dir.path(), &bitcoin, specs) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::environment();
        }
    };
    if bins.db == Some(crate::options::DbBackend::Postgres) {
        progress("starting PostgreSQL");
        let all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        if let Err(e) = net.attach_postgres(&all) {
            eprintln!("error: {e}");
            return exit::environment();
        }
        if let Some(pg) = &net.postgres {
            progress(&format!(
                "PostgreSQL on {} (psql {})",
                pg.socket_dir().display(),
                pg.url("alice")
            ));
        }
    }
    progress(&format!(
        "starting {} on {} ({})",
        names.join(", "),
        lightningd.version,
        lightningd.path.display()
    ));
    let channels: Vec<ChannelSpec> = names
        .windows(2)
        .map(|w| ChannelSpec::new(w[0], w[1]))
        .collect();
    let result = async {
        net.start_all().await?;
        net.open_channels(&channels, &progress).await
    }
    .await;
    if let Err(e) = result {
        eprintln!("error: {e}");
        run_dir.keep();
        eprintln!("run dir kept: {}", run_dir.path().display());
        net.shutdown().await;
        return exit::failed();
    }
    progress("ready");
    for n in &net.nodes {
        println!("{}", n.name);
        println!("  id:            {}", n.id.as_deref().unwrap_or("?"));
        println!("  lightning-dir: {}", n.dir.display());
        println!("  rpc socket:    {}", n.socket_path().display());
        println!("  address:       {}", n.address());
        println!("  cli:           {}", n.cli_command());
    }
    println!("bitcoind");
    println!("  datadir:       {}", net.bitcoind.datadir.display());
    println!("  cli:           {}", net.bitcoind.cli_command());
    if !no_wait {
        progress("up; press Ctrl-C to shut down");
        wait_for_shutdown_signal().await;
    }
    progress("shutting down");
    net.shutdown().await;
    progress("done");
    if run_dir.is_kept() {
        println!("run dir kept: {}", run_dir.path().display());
    }
    exit::pass()
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn list(dirs: &[PathBuf]) -> i32 {
    let mut code = exit::pass();
    for f in crate::scenario::scenario_files(dirs) {
        match crate::scenario::load(&f) {
            Ok(s) => println!(
                "{:<44} [{}] {}",
                f.display(),
                s.roles().join(", "),
                s.description
            ),
            Err(e) => {
                println!("{:<44} INVALID: {e}", f.display());
                code = exit::usage();
            }
        }
    }
    code
}

/// Discovery and bitcoind for runs; the exit code to end with if either
/// is unusable (a bad config file is bad input; no bitcoind is environment).
fn run_config(bins: &BinaryArgs, keep: bool) -> Result<crate::executor::RunConfig, i32> {
    let discovery = discovery(bins)?;
    let bitcoin = binaries::resolve_bitcoind(bins.bitcoind.as_deref()).map_err(|e| {
        eprintln!("error: {e}");
        exit::environment()
    })?;
    Ok(crate::executor::RunConfig {
        discovery,
        bitcoin,
        keep,
        record: None,
        db: bins.db,
        electrs: bins.electrs.clone(),
    })
}

async fn run(args: &RunArgs) -> i32 {
    use crate::runner::{run_file, RunOptions, RunResult};
    // Bad scenarios are reported before anything starts.
    for f in &args.files {
        if let Err(e) = crate::scenario::load(f) {
            eprintln!("error: {e}");
            return exit::usage();
        }
    }
    let cfg = match run_config(&args.bins, args.keep) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let opts = RunOptions {
        keep: args.keep,
        verbose: true,
        snapshots: args.snapshots.clone(),
    };
    let mut reports = Vec::new();
    let mut repeats = Vec::new();
    let mut worst = exit::pass();
    for f in &args.files {
        let mut runs = Vec::new();
        for _ in 0..args.repeat {
            match run_file(f, &cfg, &opts).await {
                RunResult::BadScenario(e) => {
                    eprintln!("error: {e}");
                    worst = crate::outcome::worst_exit_code([worst, exit::usage()]);
                    break;
                }
                RunResult::Ran(r) => {
                    println!("{}", crate::report::summary(&r));
                    if args.verbose {
                        println!("{}", crate::report::phases_line(&r));
                    }
                    worst = crate::outcome::worst_exit_code([worst, r.exit_code]);
                    runs.push(*r);
                }
            }
        }
        if args.repeat > 1 {
            let summary = crate::report::repeat_summary(&f.display().to_string(), &runs);
            println!("{}", crate::report::repeat_lines(&summary));
            repeats.push(summary);
        }
        reports.extend(runs);
    }
    if let Some(path) = &args.json {
        let value = if args.repeat > 1 {
            serde_json::to_value(crate::report::RepeatReport {
                repeats: &repeats,
                runs: &reports,
            })
        } else if reports.len() == 1 {
            serde_json::to_value(&reports[0])
        } else {
            serde_json::to_value(&reports)
        };
        if let Err(e) = std::fs::write(
            path,
            serde_json::to_vec_pretty(&value.unwrap_or_default()).unwrap_or_default(),
        ) {
            eprintln!("error: writing {}: {e}", path.display());
        }
    }
    worst
}

/// `bisect`: the arguments as a [`crate::bisect::command::Request`]; the
/// rest (checks, search, printing) is `bisect::command`'s.
async fn bisect(args: &BisectArgs) -> i32 {
    use crate::bisect::command::{Over, Request};
    let over = match (&args.good, &args.bad) {
        (Some(good), Some(bad)) => Over::Commits {
            repo: crate::builds::git::Repo::new(
                args.repo.as_deref().unwrap_or(std::path::Path::new(".")),
            ),
            good: good.clone(),
            bad: bad.clone(),
            build: args.build.options(),
        },
        _ => Over::Labels(args.labels.clone()),
    };
    let req = Request {
        scenario: args.scenario.clone(),
        over,
        role: args.role.clone(),
        find_fix: args.find_fix,
        repeat: args.repeat,
        json: args.json.clone(),
        rerun: crate::bisect::RerunFlags {
            lightningd: args.bins.lightningd.clone(),
            bitcoind: args.bins.bitcoind.clone(),
            db: args.bins.db,
            electrs: args.bins.electrs.clone(),
            repeat: args.repeat,
        },
    };
    if let Err(e) = crate::bisect::command::check(&req) {
        eprintln!("error: {e}");
        return exit::usage();
    }
    match run_config(&args.bins, false) {
        Ok(cfg) => crate::bisect::command::run(&req, &cfg).await,
        Err(code) => code,
    }
}

async fn matrix(
    file: Option<&std::path::Path>,
    versions: &[String],
    scenarios_dir: &std::path::Path,
    (junit, markdown): (Option<&std::path::Path>, Option<&std::path::Path>),
    jobs: usize,
    bins: &BinaryArgs,
) -> i32 {
    use crate::matrix::{expand, parse, ScenarioRoles};
    let file = file
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ci/gate.toml"));
    let entries = match std::fs::read_to_string(&file)
        .map_err(|e| e.to_string())
        .and_then(|t| parse(&t))
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return exit::usage();
        }
    };
    let root = scenarios_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    let cells = if versions.is_empty() {
        entries
    } else {
        let mut found = Vec::new();
        for f in crate::scenario::scenario_files(&[scenarios_dir.to_path_buf()]) {
            let rel = f
                .strip_prefix(scenarios_dir)
                .unwrap_or(&f)
                .with_extension("");
            if rel.components().any(|c| c.as_os_str() == "examples") {
                continue;
            }
            match crate::scenario::load(&f) {
                Ok(s) => found.push(ScenarioRoles {
                    name: rel.display().to_string(),
                    roles: s.roles(),
                }),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::usage();
                }
            }
        }
        expand(versions, &found, &entries)
    };
    if cells.is_empty() {
        eprintln!("error: no cells to run");
        return exit::usage();
    }
    let cfg = match run_config(bins, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    eprintln!("{} cells, {jobs} at a time", cells.len());
    let mut progress = |c: &crate::gate::Cell| {
        let roles: Vec<String> = c
            .entry
            .roles
            .iter()
            .map(|(r, l)| format!("{r}={l}"))
            .collect();
        eprintln!(
            "  {} {}@{} {} ({:.1}s)",
            if c.met() { "ok" } else { "NO" },
            c.entry.scenario,
            roles.join(","),
            c.outcome.as_str(),
            c.seconds
        );
    };
    let done = crate::gate::run_cells(&root, cells, &cfg, jobs, &mut progress).await;
    print!("{}", crate::gate::table(&done));
    let title = if versions.is_empty() {
        format!("cln-harness matrix ({})", file.display())
    } else {
        format!("cln-harness matrix: {}", versions.join(" → "))
    };
    if let Some(path) = junit {
        match crate::gate::junit(&done, "matrix") {
            Ok(xml) => {
                if let Err(e) = std::fs::write(path, xml) {
                    eprintln!("error: writing {}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("error: JUnit: {e}"),
        }
    }
    if let Some(path) = markdown {
        if let Err(e) = std::fs::write(path, crate::gate::markdown(&done, &title)) {
            eprintln!("error: writing {}: {e}", path.display());
        }
    }
    crate::gate::exit_code(&done)
}

async fn explore(
    c: &crate::explore::ExploreConfig,
    json: Option<&std::path::Path>,
    show_program: Option<u64>,
    bins: &BinaryArgs,
) -> i32 {
    let cfg = match run_config(bins, false) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    // Generated programs use only what both versions have.
    let mut versions = vec![];
    for label in [&c.base, &c.candidate] {
        let mut d = cfg.discovery.clone();
        d.command_line
            .push(("explore".into(), PathBuf::from(label)));
        match d.resolve("explore") {
            Ok(b) => versions.push(b.version),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::environment();
            }
        }
    }
    let mut can = crate::explore::program::Abilities::between(&versions[0], &versions[1]);
    // The chain witness is one more oracle where electrs is installed.
    can.witness = crate::witness::find_electrs(bins.electrs.as_deref()).is_ok();
    if let Some(seed) = show_program {
        use crate::explore::{program::generate, render::render};
        print!("{}", render(&generate(seed, c.nodes, &can), None));
        return exit::pass();
    }
    let mut progress = |l: &str| eprintln!("{l}");
    match crate::explore::explore(c, &cfg, &can, &mut progress).await {
        Ok(summary) => {
            print!("{}", crate::explore::table(&summary));
            if let Some(path) = json {
                if let Err(e) = std::fs::write(
                    path,
                    serde_json::to_vec_pretty(&summary).unwrap_or_default(),
                ) {
                    eprintln!("error: writing {}: {e}", path.display());
                }
            }
            crate::explore::exit_code(&summary)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::environment()
        }
    }
}

async fn record(
    file: &std::path::Path,
    at: usize,
    name: &str,
    out: Option<PathBuf>,
    chain_days_ago: Option<u64>,
    bins: &BinaryArgs,
) -> i32 {
    let mut scenario = match crate::scenario::load(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::usage();
        }
    };
    if at > scenario.steps.len() {
        eprintln!(
            "error: --at {at}: {} has steps 1 to {} (0: right after setup)",
            file.display(),
            scenario.steps.len()
        );
        return exit::usage();
    }
    if name.is_empty() || name.contains(['/', '\\']) || name == ".." {
        eprintln!("error: --name {name:?}: a fixture name is one directory name");
        return exit::usage();
    }
    scenario.steps.truncate(at);
    let mut cfg = match run_config(bins, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let out = out.unwrap_or_else(|| PathBuf::from("fixtures").join(name));
    cfg.record = Some(crate::executor::RecordSpec {
        name: name.to_string(),
        out: out.clone(),
        after_step: at,
        chain_mocktime: chain_days_ago.map(|days| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            now.saturating_sub(days.saturating_mul(86_400))
        }),
    });
    let opts = crate::runner::RunOptions {
        keep: false,
        verbose: true,
        snapshots: None,
    };
    let report = crate::runner::run_scenario(&scenario, file, &cfg, &opts).await;
    println!("{}", crate::report::summary(&report));
    if report.exit_code != exit::pass() {
        eprintln!("error: the run did not pass up to step {at}: no fixture saved");
        return report.exit_code;
    }
    let size: u64 = std::fs::read_dir(&out)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("fixture {name}: {} ({} KiB)", out.display(), size / 1024);
    exit::pass()
}

/// `build`: 0 when every ref is built (or was already), 125 when one could
/// not be (a bad ref, missing prerequisites, a failed build).
fn build(refs: &[String], repo: Option<&std::path::Path>, flags: &BuildFlags) -> i32 {
    use crate::builds::build::{build, Built};
    let repo = crate::builds::git::Repo::new(repo.unwrap_or(std::path::Path::new(".")));
    let (cache, opts) = (crate::paths::cache_root(), flags.options());
    let mut code = exit::pass();
    for r in refs {
        match build(&repo, r, &cache, &opts, &mut |l| eprintln!("{l}")) {
            Ok(Built::New {
                label,
                dir,
                seconds,
                kind,
                ..
            }) => println!(
                "{r}: built {label} into {} in {seconds}s ({} build)",
                dir.display(),
                kind.as_str()
            ),
            Ok(Built::Reused { label, dir, .. }) => {
                println!("{r}: {label} already built in {}", dir.display())
            }
            Err(e) => {
                eprintln!("error: {r}: {e}");
                code = exit::environment();
            }
        }
    }
    code
}

/// `install`: 0 when every label is installed (or already was), 125 when
/// one could not be (no network, no tarball for this platform, a tarball
/// that fails its checksum: nothing is installed then).
fn install(
    labels: &[String],
    from: Option<&str>,
    platform: Option<&str>,
    keys: Option<&std::path::Path>,
) -> i32 {
    use crate::builds::install::{install, platform_from_os_release, Installed, ReleaseSource};
    let platform = match platform {
        Some(p) => p.to_string(),
        None => {
            let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
            match platform_from_os_release(&os, std::env::consts::ARCH) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::environment();
                }
            }
        }
    };
    let source = ReleaseSource::parse(from);
    let cache = crate::paths::cache_root();
    let mut code = exit::pass();
    for label in labels {
        match install(label, &source, &platform, &cache, keys) {
            Ok(Installed::New {
                tag,
                dir,
                asset,
                signatures,
            }) => {
                println!("{tag}: installed {asset} (sha256 checked against SHA256SUMS-{tag}; {signatures}) into {}", dir.display())
            }
            Ok(Installed::AlreadyThere { tag, dir }) => {
                println!("{tag}: already installed in {}", dir.display())
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = exit::environment();
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_db(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/evidence/db")
            .join(name)
    }

    #[test]
    fn check_db_exits_0_clean_1_findings_2_unreadable() {
        assert_eq!(
            check_db_command(&fixture_db("alice-v25.02.1-then-v25.05.sqlite3"), false),
            0
        );
        assert_eq!(
            check_db_command(
                &fixture_db("alice-v25.02.1-then-1cc64dd67-crashed.sqlite3"),
                true
            ),
            1
        );
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "not a database, just words long enough for a header").unwrap();
        assert_eq!(check_db_command(&text, false), 2);
    }
}
