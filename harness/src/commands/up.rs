//! `cln-harness up`: bitcoind and N nodes in a line of channels, how to
//! reach each printed, until Ctrl-C (or SIGTERM).

use super::BinarySources;
use crate::binaries;
use crate::network::{ChannelSpec, Network, RunDir};
use crate::options::NodeConfig;
use crate::outcome::{exit_code, ExitCode, OutcomeKind, Verdict};
use std::time::Instant;

/// The nodes' names, in order: `--nodes N` takes the first N.
pub const NODE_NAMES: [&str; 8] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
];

#[derive(Debug, Clone)]
pub struct UpRequest {
    pub nodes: usize,
    /// Role (or label) every node runs.
    pub role: String,
    pub bins: BinarySources,
    /// Keep the run dir after exit.
    pub keep: bool,
    /// Wait for Ctrl-C once up (else shut down at once: benchmarks).
    pub wait: bool,
}

/// Bad input (a node count out of range, a bad config) exits before
/// anything starts; a binary or daemon that is not there is the
/// environment; channels that do not open are a failure (the run dir is
/// kept to look at).
pub async fn up(req: &UpRequest) -> i32 {
    let t0 = Instant::now();
    let progress = |msg: &str| eprintln!("[{:>6.2}s] {msg}", t0.elapsed().as_secs_f64());
    let environment = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        exit_code(OutcomeKind::Error)
    };
    if !(1..=NODE_NAMES.len()).contains(&req.nodes) {
        eprintln!("error: --nodes must be between 1 and {}", NODE_NAMES.len());
        return exit_code(Verdict::BadInput);
    }
    let disc = match super::discovery(&req.bins) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let lightningd = match disc.resolve(&req.role) {
        Ok(b) => b,
        Err(e) => return environment(&e),
    };
    let bitcoin = match binaries::resolve_bitcoind(req.bins.bitcoind.as_deref()) {
        Ok(b) => b,
        Err(e) => return environment(&e),
    };
    let mut run_dir = match RunDir::new(req.keep) {
        Ok(d) => d,
        Err(e) => return environment(&e),
    };
    progress(&format!(
        "starting bitcoind ({})",
        bitcoin.bitcoind.display()
    ));
    let names = &NODE_NAMES[..req.nodes];
    let specs = names
        .iter()
        .map(|n| (NodeConfig::named(n), lightningd.clone()))
        .collect();
    let mut net = match Network::create(run_dir.path(), &bitcoin, specs).await {
        Ok(n) => n,
        Err(e) => return environment(&e),
    };
    if req.bins.db == Some(crate::options::DbBackend::Postgres) {
        progress("starting PostgreSQL");
        let all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        if let Err(e) = net.attach_postgres(&all).await {
            return environment(&e);
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
        net.release(true).await;
        return exit_code(OutcomeKind::Fail);
    }
    progress("ready");
    print!("{}", how_to_reach(&net));
    if req.wait {
        progress("up; press Ctrl-C to shut down");
        wait_for_shutdown_signal().await;
    }
    progress("shutting down");
    net.shutdown().await;
    net.release(run_dir.is_kept()).await;
    progress("done");
    if run_dir.is_kept() {
        println!("run dir kept: {}", run_dir.path().display());
    }
    ExitCode::PASS
}

/// Each node's id, dirs, socket, address and `lightning-cli` command, then
/// bitcoind's: what `up` prints once ready.
fn how_to_reach(net: &Network) -> String {
    let mut t = String::new();
    for n in &net.nodes {
        t.push_str(&format!("{}\n", n.name));
        t.push_str(&format!(
            "  id:            {}\n",
            n.id.as_deref().unwrap_or("?")
        ));
        t.push_str(&format!("  lightning-dir: {}\n", n.dir.display()));
        t.push_str(&format!("  rpc socket:    {}\n", n.socket_path().display()));
        t.push_str(&format!("  address:       {}\n", n.address()));
        t.push_str(&format!("  cli:           {}\n", n.cli_command()));
    }
    t.push_str("bitcoind\n");
    t.push_str(&format!(
        "  datadir:       {}\n",
        net.bitcoind.datadir.display()
    ));
    t.push_str(&format!(
        "  cli:           {}\n",
        net.bitcoind.cli_command()
    ));
    t
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
