//! `cln-harness explore`: generated traffic across an upgrade, with oracles
//! that need no expected values, and each distinct finding shrunk to a short
//! scenario that `run` reproduces.
//!
//! - [`program`] (pure): generation from a seeded RNG, rendering as a compact
//!   scenario, shrink candidates.
//! - Oracles are the scenario's own steps and the run's outcome: a node dies,
//!   hangs or logs an unexpected BROKEN line; check-db flags the upgraded
//!   database; state saved before the upgrade (invoices, payments, channels
//!   and balances, wallet totals) differs after it. Findings are keyed by the
//!   run's first signature (else the outcome and the failing step's kind), so
//!   they are deduplicated exactly as `run` classifies them.
//! - A finding that the same program also shows with `candidate` = `base`
//!   is not an upgrade regression: it is reported as pre-existing.
//! - This module is the runner: it writes programs to files and runs them.

pub mod abilities;
mod lines;
pub mod merge;
pub mod program;
pub mod render;
mod shard;
mod shrinking;
mod tally;

pub use shard::Shard;
use tally::Tally;

use crate::outcome::OutcomeKind;
use futures_util::StreamExt;
use program::{generate, shrink_candidates, Abilities, Program};
use render::render;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ExploreConfig {
    pub base: String,
    /// Releases between base and candidate (`--via`), in upgrade order.
    pub via: Vec<String>,
    pub candidate: String,
    pub nodes: usize,
    pub seed: u64,
    pub budget: Option<Duration>,
    pub runs: Option<u64>,
    pub jobs: usize,
    pub out: PathBuf,
    /// Reruns allowed per finding while shrinking.
    pub shrink_reruns: usize,
    /// `--shard K/N`: only this slice of the run indices.
    pub shard: Option<Shard>,
}

impl ExploreConfig {
    /// Each upgrade role a program names and the label it runs: `base`,
    /// `via1`..., `candidate`. With `on_base`, every role is base's label:
    /// the same program with no upgrade at all.
    pub fn roles(&self, on_base: bool) -> Vec<(String, String)> {
        Self::path_roles(&self.base, &self.via, &self.candidate, on_base)
    }

    /// [`ExploreConfig::roles`] of any upgrade path.
    pub fn path_roles(
        base: &str,
        via: &[String],
        candidate: &str,
        on_base: bool,
    ) -> Vec<(String, String)> {
        let label = |l: &str| if on_base { base } else { l }.to_string();
        std::iter::once(("base".to_string(), base.to_string()))
            .chain(
                via.iter()
                    .enumerate()
                    .map(|(k, l)| (format!("via{}", k + 1), label(l))),
            )
            .chain([("candidate".to_string(), label(candidate))])
            .collect()
    }

    /// How long to keep starting runs: `--budget` seconds, else ten
    /// minutes unless a run count (`--runs`) bounds it instead.
    pub fn budget(budget_secs: Option<u64>, runs: Option<u64>) -> Option<Duration> {
        match (budget_secs, runs) {
            (Some(b), _) => Some(Duration::from_secs(b)),
            (None, None) => Some(Duration::from_secs(600)),
            (None, Some(_)) => None,
        }
    }
}

/// What one run of a program said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub outcome: OutcomeKind,
    /// The dedup key: the first signature, else outcome + failing step kind,
    /// with amounts, ids and counters taken out (`redact::finding_key`).
    pub key: Option<String>,
    /// The values the key took out, in order.
    pub values: Vec<u64>,
    /// The top-level step (1-based) the run failed at, if it was a step.
    pub failed_at: Option<usize>,
    /// Which oracle spoke (see [`oracle_of`]).
    pub oracle: Option<&'static str>,
    pub detail: String,
}

impl Observed {
    fn error(detail: String) -> Observed {
        Observed {
            outcome: OutcomeKind::Error,
            key: None,
            values: vec![],
            failed_at: None,
            oracle: None,
            detail,
        }
    }
}

/// A finding's key from a report, pure (tested on fake reports).
pub fn key_of(
    outcome: OutcomeKind,
    first_signature: Option<&str>,
    failed_step: Option<&str>,
) -> Option<String> {
    match outcome {
        OutcomeKind::Pass | OutcomeKind::Error => None,
        _ => Some(match first_signature {
            Some(sig) => sig.to_string(),
            // The step's kind, not its node: the same failure on bob is the same finding.
            None => format!(
                "{} at {}",
                outcome.as_str(),
                failed_step
                    .and_then(|s| s.split_whitespace().next())
                    .unwrap_or("the end")
            ),
        }),
    }
}

/// `unique-constraint-failed-channel-htlcs-id`
pub fn slug(key: &str) -> String {
    let s: String = key
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let parts: Vec<&str> = s.split('-').filter(|p| !p.is_empty()).collect();
    crate::text::truncate(&parts.join("-"), 60)
        .trim_end_matches('…')
        .to_string()
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub key: String,
    pub outcome: String,
    pub seeds: Vec<u64>,
    pub hits: u64,
    /// Per slot of the key (an amount, an id), the lowest and highest raw
    /// value seen over the hits.
    pub ranges: Vec<(u64, u64)>,
    /// The oracle that spoke on its first hit.
    pub oracle: String,
    /// Also seen with candidate = base: not an upgrade regression.
    pub also_on_base: bool,
    pub file: Option<PathBuf>,
    pub lines: usize,
    pub reproduced: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub base: String,
    /// The releases between (`--via`).
    #[serde(default)]
    pub via: Vec<String>,
    pub candidate: String,
    pub seed: u64,
    pub runs: u64,
    pub errors: u64,
    /// The whole exploration, findings' shrinking included.
    pub seconds: f64,
    /// Until the last run ended: what runs/min is over (shrinking a
    /// finding reruns it, but those are not the exploration's runs).
    #[serde(default)]
    pub run_seconds: f64,
    pub first_finding_after_s: Option<f64>,
    /// `--shard K/N`: this exploration ran every run index `i` with
    /// `i % N == K - 1`.
    pub shard: Option<Shard>,
    /// Runs that found something, per oracle (a run counts once).
    pub oracles: std::collections::BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
}

impl Finding {
    /// The key with each slot shown as the range of values its hits had.
    pub fn shown(&self) -> String {
        crate::evidence::redact::fill_finding_slots(&self.key, &self.ranges)
    }
}

struct Runner<'a> {
    cfg: &'a crate::runner::RunConfig,
    dir: tempfile::TempDir,
    n: std::cell::Cell<u64>,
}

impl Runner<'_> {
    /// Run a program with its roles pinned to these labels.
    async fn run(&self, p: &Program, roles: &[(String, String)]) -> Observed {
        let i = self.n.get();
        self.n.set(i + 1);
        let file = self.dir.path().join(format!("p{i}-{}.toml", p.seed));
        if let Err(e) = std::fs::write(&file, render(p, None)) {
            return Observed::error(e.to_string());
        }
        let run_cfg = self
            .cfg
            .pinned(roles.iter().map(|(r, l)| (r.as_str(), l.as_str())));
        let opts = crate::runner::RunOptions::quiet();
        match crate::runner::run_file(&file, &run_cfg, &opts).await {
            crate::runner::RunResult::BadScenario(e) => {
                Observed::error(format!("generated a bad scenario (a harness bug): {e}"))
            }
            crate::runner::RunResult::Ran(r) => observe(&r),
        }
    }
}

/// What generated programs may use: only what both versions have (each
/// resolved as `run` would), plus the chain witness where electrs is
/// installed. An error names the version that cannot be found.
pub fn abilities(
    cfg: &crate::runner::RunConfig,
    c: &ExploreConfig,
    electrs: Option<&Path>,
) -> Result<Abilities, crate::binaries::ResolveError> {
    let mut found = vec![];
    for label in std::iter::once(&c.base).chain(&c.via).chain([&c.candidate]) {
        let mut d = cfg.discovery.clone();
        d.command_line
            .push(("explore".into(), PathBuf::from(label)));
        found.push(d.resolve("explore")?);
    }
    let versions: Vec<_> = found.iter().map(|l| l.version.clone()).collect();
    let mut can = Abilities::along(&versions);
    can.witness = crate::witness::find_electrs(electrs).is_ok();
    can.postgres = crate::postgres::PgBins::find().is_ok()
        && found
            .iter()
            .all(|l| crate::postgres::lightningd_has_postgres(&l.path));
    Ok(can)
}

/// What a finished run says to explore: its key as [`key_of`] makes it,
/// redacted to one bug's key, where it failed and which oracle spoke.
pub fn observe(r: &crate::report::Report) -> Observed {
    let failed_step = r.step.as_ref().map(|s| s.name.as_str());
    let raw = key_of(r.outcome, r.first_signature.as_deref(), failed_step);
    let (key, values) = match raw {
        Some(k) => {
            let (k, v) = crate::evidence::redact::finding_key(&k);
            (Some(k), v)
        }
        None => (None, vec![]),
    };
    Observed {
        outcome: r.outcome,
        oracle: key
            .as_ref()
            .map(|_| oracle_of(r.outcome, r.first_signature.is_some(), failed_step)),
        key,
        values,
        failed_at: r
            .step
            .as_ref()
            .and_then(|s| s.index.split(['.', '#']).next()?.parse().ok()),
        detail: r.detail.clone(),
    }
}

/// Which oracle a finding came from, for the per-oracle counts: a death, a
/// hang, check-db, a state check around an upgrade (an `rpc` whose fields
/// differ), the chain witness, a payment, or a signature alone (an
/// unexpected BROKEN line at the end).
pub fn oracle_of(outcome: OutcomeKind, signed: bool, failed_step: Option<&str>) -> &'static str {
    let kind = failed_step.and_then(|s| s.split_whitespace().next());
    match (outcome, kind) {
        (OutcomeKind::Crash, _) => "crash",
        (OutcomeKind::Hang, _) => "hang",
        (_, Some("check_db")) => "check-db",
        (_, Some("rpc" | "wait_rpc")) => "state check",
        (_, Some("witness" | "wait_swept")) => "chain witness",
        (_, Some("pay" | "keysend" | "invoice")) => "payment",
        (_, None) if signed => "BROKEN line",
        _ => "step failed",
    }
}

/// Explore until the budget or run count is spent; shrink and confirm each
/// distinct finding. `progress` gets one line per run and per shrink step.
pub async fn explore(
    c: &ExploreConfig,
    cfg: &crate::runner::RunConfig,
    can: &Abilities,
    progress: &mut dyn FnMut(&str),
) -> Result<Summary, String> {
    let started = Instant::now();
    // Findings are written after the budget is spent: an --out this user
    // cannot write (another user's, in a shared checkout) is said first.
    crate::userdirs::may_create(&c.out.join("finding.toml")).map_err(|why| {
        format!(
            "--out {}: cannot write findings there: {why}",
            c.out.display()
        )
    })?;
    let runner = Runner {
        cfg,
        // Holds every run's dir (databases, bundles): private.
        dir: crate::userdirs::private_tempdir("cln-harness-explore-").map_err(|e| {
            format!(
                "cannot create explore's run dir in {}: {e}",
                std::env::temp_dir().display()
            )
        })?,
        n: std::cell::Cell::new(0),
    };
    let mut tally = Tally::default();
    // A new run starts as soon as one ends, not batch by batch: a batch
    // waited for its slowest run (an HTLC left on chain mines for ~20 s)
    // with the other slots idle.
    let mut running = futures_util::stream::FuturesUnordered::new();
    let mut next = 0u64;
    let jobs = c.jobs.max(1);
    let may_start = |started_runs: u64| {
        c.runs.is_none_or(|n| started_runs < n) && c.budget.is_none_or(|b| started.elapsed() < b)
    };
    loop {
        while running.len() < jobs && may_start(next) {
            let p = generate(mix(c.seed, Shard::run_index(c.shard, next)), c.nodes, can);
            next += 1;
            let r = &runner;
            running.push(async move {
                let v = r.run(&p, &c.roles(false)).await;
                (p, v)
            });
        }
        let Some((p, v)) = running.next().await else {
            break;
        };
        tally.add(p, v, started.elapsed().as_secs_f64(), progress);
        // As many runs as run at once, all in `error`: the environment.
        if tally.errors == tally.runs && tally.runs >= (jobs as u64).min(c.runs.unwrap_or(u64::MAX))
        {
            return Err(
                "every run so far ended in `error`: the environment cannot run these versions"
                    .into(),
            );
        }
    }
    let run_seconds = started.elapsed().as_secs_f64();
    for (f, p, failed_at) in &mut tally.found {
        settle(&runner, c, f, p, *failed_at, progress).await?;
    }
    Ok(Summary {
        base: c.base.clone(),
        via: c.via.clone(),
        candidate: c.candidate.clone(),
        seed: c.seed,
        runs: tally.runs,
        errors: tally.errors,
        seconds: started.elapsed().as_secs_f64(),
        run_seconds,
        first_finding_after_s: tally.first_finding,
        shard: c.shard,
        oracles: tally.oracles,
        findings: tally.found.into_iter().map(|(f, _, _)| f).collect(),
    })
}

/// One distinct finding: is it an upgrade regression, then shrink it,
/// write it, and confirm that `run` reproduces it from the file.
async fn settle(
    runner: &Runner<'_>,
    c: &ExploreConfig,
    f: &mut Finding,
    p: &Program,
    failed_at: Option<usize>,
    progress: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let on_base = runner.run(p, &c.roles(true)).await;
    f.also_on_base = on_base.key.as_deref() == Some(f.key.as_str());
    progress(&format!(
        "finding `{}`: {}",
        crate::text::truncate(&f.key, 80),
        if f.also_on_base {
            "also with candidate = base (pre-existing, not an upgrade regression)"
        } else {
            "only across the upgrade"
        }
    ));
    let best = shrink(runner, c, &f.key, p, failed_at, progress).await;
    std::fs::create_dir_all(&c.out).map_err(|e| format!("{}: {e}", c.out.display()))?;
    let file = c.out.join(format!("{}.toml", slug(&f.key)));
    let text = render(&best, Some(&f.key));
    std::fs::write(&file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
    f.lines = text.lines().count();
    // Confirm with `run` itself, from the written file.
    let roles = c.roles(false);
    let run_cfg = runner
        .cfg
        .pinned(roles.iter().map(|(r, l)| (r.as_str(), l.as_str())));
    let opts = crate::runner::RunOptions::quiet();
    if let crate::runner::RunResult::Ran(r) = crate::runner::run_file(&file, &run_cfg, &opts).await
    {
        f.reproduced = observe(&r).key.as_deref() == Some(f.key.as_str());
    }
    progress(&format!(
        "  wrote {} ({} lines), `run` {}",
        file.display(),
        f.lines,
        if f.reproduced {
            "reproduces it"
        } else {
            "does NOT reproduce it"
        }
    ));
    f.file = Some(file);
    Ok(())
}

/// The smallest program found that still shows `key`, within the rerun
/// budget: each candidate that keeps it becomes the one shrunk next. The
/// first candidate each round cuts everything after the step the last
/// keeping run failed at: what follows a failure cannot have caused it.
async fn shrink(
    runner: &Runner<'_>,
    c: &ExploreConfig,
    key: &str,
    p: &Program,
    failed_at: Option<usize>,
    progress: &mut dyn FnMut(&str),
) -> Program {
    let mut best = p.clone();
    let mut best_failed_at = failed_at;
    let mut reruns = 0;
    'shrink: loop {
        let cut = best_failed_at.and_then(|step| render::cut_after_step(&best, step));
        for q in cut.into_iter().chain(shrink_candidates(&best)) {
            if reruns >= c.shrink_reruns {
                break 'shrink;
            }
            reruns += 1;
            let v = runner.run(&q, &c.roles(false)).await;
            let kept = v.key.as_deref() == Some(key);
            progress(&format!(
                "  shrink {reruns:>2}: {} nodes, {} steps: {}",
                q.nodes(),
                q.steps(),
                if kept { "still reproduces" } else { "gone" }
            ));
            if kept {
                best = q;
                best_failed_at = v.failed_at;
                continue 'shrink;
            }
        }
        break;
    }
    best
}

/// Run `k`'s seed from the user's: distinct, reproducible, and stable
/// whatever `--jobs` is.
/// `--jobs` by default: two runs per core. A run spends most of its time
/// waiting for lightningd to poll a block or a peer to answer (measured on
/// 2 cores, v25.05 → v26.06.6: 9.1 runs/min at 1 job, 12.7 at 2, 19.9 at 4,
/// with the traffic of then; with batches that waited for their slowest
/// run, 6 jobs did little better than 4: 14.8 against 14.4 runs/min).
pub fn default_jobs() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * 2).clamp(1, 16) as u32
}

pub fn mix(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn table(s: &Summary) -> String {
    let mut t = format!(
        "explore {}{} -> {}{}: {} runs in {:.0} s ({:.1} runs/min; {:.0} s in all, findings settled), {} error(s), first finding after {}\n",
        s.base,
        s.via.iter().map(|v| format!(" -> {v}")).collect::<String>(),
        s.candidate,
        s.shard
            .map_or(String::new(), |k| format!(" (shard {}/{})", k.index, k.of)),
        s.runs,
        s.run_seconds,
        s.runs as f64 / (s.run_seconds / 60.0).max(1e-9),
        s.seconds,
        s.errors,
        s.first_finding_after_s.map_or("-".into(), |t| format!("{t:.0} s"))
    );
    if s.findings.is_empty() {
        t.push_str("no findings\n");
        return t;
    }
    let by_oracle: Vec<String> = s.oracles.iter().map(|(o, n)| format!("{o} {n}")).collect();
    t.push_str(&format!(
        "runs with a finding, by oracle: {}\n",
        by_oracle.join(", ")
    ));
    t.push_str(&format!(
        "{:<60} {:<6} {:>4}  {:<9} {}\n",
        "finding (first signature)", "kind", "hits", "upgrade?", "shrunk file (lines, reproduced)"
    ));
    for f in &s.findings {
        t.push_str(&format!(
            "{:<60} {:<6} {:>4}  {:<9} {} ({} lines, {})\n",
            crate::text::truncate(&f.shown(), 60),
            f.outcome,
            f.hits,
            if f.also_on_base { "no" } else { "yes" },
            f.file
                .as_deref()
                .map_or("-".into(), |p: &Path| p.display().to_string()),
            f.lines,
            if f.reproduced {
                "reproduced"
            } else {
                "NOT reproduced"
            }
        ));
    }
    t
}

/// What the exploration concluded (`outcome::exit_code` makes it the exit
/// code): a failure if anything was found, an environment error if nothing
/// could run, else a pass.
pub fn verdict(s: &Summary) -> OutcomeKind {
    if !s.findings.is_empty() {
        OutcomeKind::Fail
    } else if s.runs > 0 && s.errors == s.runs {
        OutcomeKind::Error
    } else {
        OutcomeKind::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_keyed_like_run_classifies_them() {
        assert_eq!(key_of(OutcomeKind::Pass, None, None), None);
        assert_eq!(key_of(OutcomeKind::Error, Some("x"), None), None);
        assert_eq!(
            key_of(
                OutcomeKind::Crash,
                Some("UNIQUE constraint failed: channel_htlcs.id"),
                Some("keysend alice → bob")
            )
            .as_deref(),
            Some("UNIQUE constraint failed: channel_htlcs.id")
        );
        assert_eq!(
            key_of(OutcomeKind::Fail, None, Some("rpc alice listfunds")).as_deref(),
            Some("fail at rpc")
        );
        assert_eq!(
            slug("UNIQUE constraint failed: channel_htlcs.id"),
            "unique-constraint-failed-channel-htlcs-id"
        );
    }

    #[test]
    fn every_role_is_pinned_and_on_base_every_role_is_base() {
        let roles = ExploreConfig::path_roles("v24.11", &["v25.05".into()], "v26.06.6", false);
        let names: Vec<String> = roles.iter().map(|(r, l)| format!("{r}={l}")).collect();
        assert_eq!(names, ["base=v24.11", "via1=v25.05", "candidate=v26.06.6"]);
        let on_base = ExploreConfig::path_roles("v24.11", &["v25.05".into()], "v26.06.6", true);
        assert!(on_base.iter().all(|(_, l)| l == "v24.11"));
    }

    #[test]
    fn findings_name_their_oracle() {
        assert_eq!(
            oracle_of(OutcomeKind::Crash, true, Some("keysend alice")),
            "crash"
        );
        assert_eq!(
            oracle_of(OutcomeKind::Fail, false, Some("check_db bob")),
            "check-db"
        );
        assert_eq!(
            oracle_of(OutcomeKind::Fail, false, Some("rpc bob listfunds")),
            "state check"
        );
        assert_eq!(oracle_of(OutcomeKind::Fail, true, None), "BROKEN line");
    }

    #[test]
    fn the_budget_is_ten_minutes_unless_a_run_count_or_budget_is_given() {
        assert_eq!(
            ExploreConfig::budget(None, None),
            Some(Duration::from_secs(600))
        );
        assert_eq!(ExploreConfig::budget(None, Some(5)), None);
        assert_eq!(
            ExploreConfig::budget(Some(30), None),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn run_seeds_are_reproducible_and_distinct() {
        assert_eq!(mix(1, 0), mix(1, 0));
        let seeds: std::collections::BTreeSet<u64> = (0..1000).map(|k| mix(1, k)).collect();
        assert_eq!(seeds.len(), 1000);
    }

    #[test]
    fn nothing_found_passes_nothing_run_is_the_environment_anything_found_fails() {
        let mut s = Summary {
            base: "a".into(),
            via: vec![],
            candidate: "b".into(),
            seed: 1,
            runs: 3,
            errors: 0,
            seconds: 1.0,
            run_seconds: 1.0,
            first_finding_after_s: None,
            shard: None,
            oracles: Default::default(),
            findings: vec![],
        };
        assert_eq!(verdict(&s), OutcomeKind::Pass);
        s.errors = 3;
        assert_eq!(verdict(&s), OutcomeKind::Error);
        s.findings.push(Finding {
            key: "k".into(),
            outcome: "crash".into(),
            seeds: vec![1],
            hits: 1,
            ranges: vec![],
            oracle: "crash".into(),
            also_on_base: false,
            file: None,
            lines: 0,
            reproduced: true,
        });
        assert_eq!(verdict(&s), OutcomeKind::Fail);
        assert!(table(&s).contains("k"));
    }
}
