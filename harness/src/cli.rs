//! Argument parsing and dispatch: each subcommand's arguments become a
//! plain request for its function in [`crate::commands`], where a test can
//! reach it. No other logic lives here.

use crate::commands::{self, BinarySources};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    /// Set every network up from scratch. By default a setup (nodes started,
    /// channels funded and confirmed) is recorded in the harness cache on
    /// first use and later runs with the same key (binaries, node
    /// configuration, channels) resume from it; the report's `setup_cache`
    /// says which. Also `CLN_HARNESS_NO_SETUP_CACHE=1`.
    #[arg(long)]
    pub no_setup_cache: bool,
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
    Explore(ExploreArgs),
    /// Show every lightningd (and bitcoind) the harness can find.
    Binaries {
        #[command(flatten)]
        bins: BinaryArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ExploreArgs {
    #[command(subcommand)]
    pub merge: Option<ExploreCommand>,
    #[arg(long, required = true)]
    pub base: Option<String>,
    #[arg(long, required = true)]
    pub candidate: Option<String>,
    /// Releases to go through between base and candidate, in order
    /// (`--via v25.02.1,v25.05`): the upgraded nodes' one database is
    /// upgraded onto each in turn (roles `via1`, `via2`, ...), with the
    /// state checks and check-db at every hop.
    #[arg(long, value_delimiter = ',', value_name = "LABEL,...")]
    pub via: Vec<String>,
    /// Explore only slice K of N of the run indices (1-based), so N
    /// machines explore disjoint programs of one seed; merge their --out
    /// dirs with `explore merge`.
    #[arg(long, value_name = "K/N", value_parser = crate::explore::Shard::parse)]
    pub shard: Option<crate::explore::Shard>,
    /// At most this many nodes (2 or 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=3))]
    pub nodes: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop starting runs after this many seconds (default: 600 unless --runs).
    #[arg(long, value_name = "SECONDS", conflicts_with = "runs")]
    pub budget: Option<u64>,
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
    #[arg(long, default_value = "explore-findings", value_name = "DIR")]
    pub out: PathBuf,
    /// Programs run at once (default: two per core, as a run mostly waits
    /// on lightningd's 1 s block poll).
    #[arg(long, default_value_t = crate::explore::default_jobs(), value_parser = clap::value_parser!(u32).range(1..=16))]
    pub jobs: u32,
    /// Reruns allowed per finding while shrinking.
    #[arg(long, default_value_t = 12)]
    pub shrink_reruns: u32,
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print the scenario of one run (its seed from a progress line) and exit.
    #[arg(long, value_name = "RUN_SEED")]
    pub show_program: Option<u64>,
    #[command(flatten)]
    pub bins: BinaryArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ExploreCommand {
    /// Merge explorations' --out dirs (shards, machines, upgrade paths) into
    /// one report: findings deduplicated by signature, the shortest
    /// reproducer kept and run again, a Markdown summary in --out that
    /// says regression or pre-existing. Exit 1 if anything was found.
    Merge {
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        #[arg(long, default_value = "explore-merged", value_name = "DIR")]
        out: PathBuf,
        /// Do not run the kept reproducers again.
        #[arg(long)]
        no_recheck: bool,
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        #[command(flatten)]
        bins: BinaryArgs,
    },
}

impl ExploreCommand {
    fn request(self) -> commands::explore::MergeRequest {
        let ExploreCommand::Merge {
            dirs,
            out,
            no_recheck,
            json,
            bins,
        } = self;
        commands::explore::MergeRequest {
            dirs,
            out,
            recheck: !no_recheck,
            json,
            bins: bins.sources(),
        }
    }
}

impl ExploreArgs {
    fn request(self) -> commands::explore::ExploreRequest {
        commands::explore::ExploreRequest {
            config: crate::explore::ExploreConfig {
                nodes: self.nodes as usize,
                seed: self.seed,
                budget: crate::explore::ExploreConfig::budget(self.budget, self.runs),
                runs: self.runs,
                jobs: self.jobs as usize,
                out: self.out,
                shrink_reruns: self.shrink_reruns as usize,
                shard: self.shard,
                // clap requires both unless a subcommand is given.
                via: self.via,
                base: self.base.unwrap_or_default(),
                candidate: self.candidate.unwrap_or_default(),
            },
            json: self.json,
            show_program: self.show_program,
            bins: self.bins.sources(),
        }
    }
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
    /// Build with sanitizers (CLN's `--enable-address-sanitizer`,
    /// `--enable-ub-sanitizer`), installed under their own label, e.g.
    /// `v26.06.6-asan-ubsan`. A sanitizer report in a run is a crash.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub sanitize: Vec<crate::builds::sanitize::Sanitizer>,
}

impl BuildFlags {
    fn options(&self) -> crate::builds::build::BuildOptions {
        let mut o = crate::builds::build::BuildOptions {
            rust: self.with_rust,
            sanitize: self.sanitize.clone(),
            ..Default::default()
        };
        if let Some(j) = self.jobs {
            o.jobs = j;
        }
        o
    }
}

/// Exit codes, all from [`outcome::exit_code`].
mod exit {
    use crate::outcome::{exit_code, OutcomeKind, Verdict};
    pub fn usage() -> i32 {
        exit_code(Verdict::BadInput)
    }
    pub fn environment() -> i32 {
        exit_code(OutcomeKind::Error)
    }
}

impl BinaryArgs {
    fn sources(&self) -> BinarySources {
        BinarySources {
            lightningd: self.lightningd.clone(),
            bitcoind: self.bitcoind.clone(),
            db: self.db,
            electrs: self.electrs.clone(),
            no_setup_cache: self.no_setup_cache,
        }
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
        } => rt.block_on(commands::up::up(&commands::up::UpRequest {
            nodes,
            role,
            bins: bins.sources(),
            keep,
            wait: !no_wait,
        })),
        Command::Binaries { bins } => commands::inventory::binaries(&bins.sources()),
        Command::Explore(ExploreArgs {
            merge: Some(merge), ..
        }) => rt.block_on(commands::explore::merge(&merge.request())),
        Command::Explore(args) => rt.block_on(commands::explore::explore(&args.request())),
        Command::Matrix {
            file,
            versions,
            scenarios,
            junit,
            markdown,
            jobs,
            bins,
        } => rt.block_on(commands::matrix::matrix(&commands::matrix::MatrixRequest {
            file,
            versions,
            scenarios,
            junit,
            markdown,
            jobs: jobs as usize,
            bins: bins.sources(),
        })),
        Command::Record {
            scenario,
            at,
            name,
            out,
            chain_days_ago,
            bins,
        } => rt.block_on(commands::run::record(&commands::run::RecordRequest {
            scenario,
            at,
            name,
            out,
            chain_days_ago,
            bins: bins.sources(),
        })),
        Command::Run(args) => rt.block_on(commands::run::run(&commands::run::RunRequest {
            files: args.files,
            bins: args.bins.sources(),
            json: args.json,
            keep: args.keep,
            snapshots: args.snapshots,
            verbose: args.verbose,
            repeat: args.repeat,
        })),
        Command::Bisect(args) => rt.block_on(bisect(&args)),
        Command::Build { refs, repo, flags } => {
            commands::cache::build(&refs, repo.as_deref(), &flags.options())
        }
        Command::Install {
            labels,
            from,
            platform,
            keys,
        } => commands::cache::install(
            &labels,
            from.as_deref(),
            platform.as_deref(),
            keys.as_deref(),
        ),
        Command::List { dirs } => commands::inventory::list(&dirs),
        Command::CheckDb { explain: true, .. } => commands::check_db::explain(),
        Command::CheckDb {
            path: Some(path),
            json,
            ..
        } => commands::check_db::check_db(&path, json),
        Command::CheckDb { path: None, .. } => exit::usage(),
    }
}

/// [`commands::run_config`] for the commands still parsed and run here.
fn run_config(bins: &BinaryArgs, keep: bool) -> Result<crate::runner::RunConfig, i32> {
    commands::run_config(&bins.sources(), keep)
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
