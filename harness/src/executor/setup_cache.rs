//! The setup cache, the executor's side: which runs may resume their
//! set-up network from a recorded entry instead of funding and confirming
//! channels again (the second `run` of a scenario, every explored program
//! with a setup seen before), and what an entry is keyed by.
//!
//! An entry is a fixture (`fixture::cache` keeps the store) of the network
//! right after `setup = "auto"`: bitcoind's chain and each node's files.
//! A run that misses records one first and then resumes from it like a
//! hit, so from the first step on a run is the same whether the entry was
//! there or not: durable, as the verdicts must be. The key is everything
//! the recorded state is a function of ([`SetupInputs`]): the binaries (by
//! sha256; the harness's own by its build), each node's configuration and
//! plugins, the channels; never the clock.
//!
//! A resumed run differs from a cold one in one way: its nodes started
//! again after the setup. So not cached, with the reason in the report:
//! `--no-setup-cache`, a scenario that resumes a fixture or has no
//! channels to set up, `record`, PostgreSQL nodes (entries hold SQLite
//! files), a node with an option that acts from its process's start
//! (`dev-*`, plugins), and a setup that logged anything an oracle reads
//! (the run then sets up cold, so it sees it).

use super::ExecConfig;
use crate::fixture::cache::SetupStore;
use crate::options::DbBackend;
use crate::scenario::{Scenario, Setup};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Bumped when an entry's layout changes.
const FORMAT: u32 = 1;

/// What the report says of the cache (`setup_cache` in `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "use", rename_all = "snake_case")]
pub enum CacheUse {
    /// Resumed from an entry recorded by an earlier run.
    Hit { key: String },
    /// No entry yet: this run recorded it, then resumed from it.
    Recorded { key: String },
    /// Set up from scratch.
    Off { why: String },
}

/// What a run does about its setup.
pub(super) enum Plan {
    Off(String),
    Hit { key: String, dir: PathBuf },
    Miss { key: String, store: SetupStore },
}

/// Everything a set-up network is a function of: the key hashes this.
#[derive(Debug, Serialize)]
pub struct SetupInputs {
    pub format: u32,
    /// Which build of the harness (its executable's path, size and mtime):
    /// its setup code is part of what an entry holds. Not its sha256: a
    /// debug test binary is 300 MB, and each new one would hash it in
    /// every test process at once. A rebuild only costs one re-recording.
    pub harness: String,
    pub bitcoind: String,
    pub nodes: Vec<NodeInputs>,
    /// `from>to:sat:push_msat:announce`, in the scenario's order.
    pub channels: Vec<String>,
    pub witness: bool,
}

#[derive(Debug, Serialize)]
pub struct NodeInputs {
    pub name: String,
    pub version: String,
    pub lightningd: String,
    /// The node's configuration as the scenario gives it (options in order).
    pub config: String,
    /// sha256 of every option value that names a file (plugins, mostly).
    pub files: Vec<String>,
}

/// The key: hex sha256 of the inputs' JSON, cut to 32 digits.
pub fn key(inputs: &SetupInputs) -> String {
    let json = serde_json::to_vec(inputs).unwrap_or_default();
    hex::encode(Sha256::digest(&json))[..32].to_string()
}

/// Node options whose effect runs from the process's start: a resumed
/// node starts again after the setup, so with these its steps would not
/// see what a node that lived through the setup sees (`dev-disconnect`
/// counts messages from the start; a plugin keeps what it saw in memory).
const OPTIONS_ACTING_SINCE_START: &[&str] = &["plugin", "important-plugin", "plugin-dir"];

fn acts_since_start(option: &str) -> bool {
    option.starts_with("dev-") || OPTIONS_ACTING_SINCE_START.contains(&option)
}

/// Why this scenario's setup is not cached, if it is not.
pub fn not_cacheable(scenario: &Scenario, cfg: &ExecConfig<'_>) -> Option<String> {
    let since_start = scenario.nodes.iter().find_map(|n| {
        n.options
            .iter()
            .find(|(k, _)| acts_since_start(k))
            .map(|(k, _)| format!("{}'s `{k}` acts from the process's start", n.name))
    });
    let on_postgres = scenario
        .nodes
        .iter()
        .any(|n| n.db.or(scenario.db).or(cfg.db).unwrap_or_default() == DbBackend::Postgres);
    let why = if !cfg.setup_cache {
        "--no-setup-cache"
    } else if scenario.from_fixture.is_some() {
        "the scenario resumes from a fixture"
    } else if cfg.record.is_some() {
        "record sets up from scratch"
    } else if scenario.setup != Setup::Auto || scenario.channels.is_empty() {
        "no channels to set up"
    } else if on_postgres {
        "PostgreSQL nodes (entries hold SQLite databases)"
    } else {
        return since_start;
    };
    Some(why.into())
}

pub(super) fn plan(scenario: &Scenario, cfg: &ExecConfig<'_>) -> Plan {
    if let Some(why) = not_cacheable(scenario, cfg) {
        return Plan::Off(why);
    }
    let inputs = match inputs(scenario, cfg) {
        Ok(i) => i,
        Err(e) => return Plan::Off(e),
    };
    let key = key(&inputs);
    let store = match SetupStore::open() {
        Ok(s) => s,
        Err(e) => return Plan::Off(format!("the setup cache is not usable: {e}")),
    };
    match store.lookup(&key) {
        Some(dir) => Plan::Hit { key, dir },
        None => Plan::Miss { key, store },
    }
}

fn inputs(scenario: &Scenario, cfg: &ExecConfig<'_>) -> Result<SetupInputs, String> {
    let sha = |p: &std::path::Path| {
        crate::binaries::sha256_file(p).map_err(|e| format!("{}: {e}", p.display()))
    };
    let exe = std::env::current_exe().map_err(|e| format!("the harness's own path: {e}"))?;
    let harness = crate::binaries::file_identity(&exe).ok_or_else(|| {
        format!(
            "{}: cannot stat the harness's own executable",
            exe.display()
        )
    })?;
    let mut nodes = Vec::new();
    for n in &scenario.nodes {
        // A role that does not resolve is prepare's error to report.
        let bin = cfg.discovery.resolve(&n.role).map_err(|e| e.to_string())?;
        let config = super::node_config(n);
        let files = config
            .extra
            .iter()
            .filter_map(|(_, v)| v.as_deref())
            .map(std::path::Path::new)
            .filter(|p| p.is_file())
            .map(sha)
            .collect::<Result<_, _>>()?;
        nodes.push(NodeInputs {
            name: n.name.clone(),
            version: bin.version.raw.clone(),
            lightningd: sha(&bin.path)?,
            config: format!("{config:?}"),
            files,
        });
    }
    Ok(SetupInputs {
        format: FORMAT,
        harness,
        bitcoind: sha(&cfg.bitcoin.bitcoind)?,
        nodes,
        channels: scenario
            .channels
            .iter()
            .map(|c| {
                format!(
                    "{}>{}:{}:{}:{}",
                    c.from, c.to, c.amount_sat, c.push_msat, c.announce
                )
            })
            .collect(),
        witness: scenario.witness,
    })
}

/// What a set-up network's logs hold that an oracle reads (a crash, a
/// BROKEN line, ...): such a setup is not cached, since a run resumed from
/// it would never see the lines.
pub(super) fn what_the_setup_logged(net: &crate::network::Network) -> Option<String> {
    use crate::evidence::signatures;
    let redactor = net.redactor();
    for n in &net.nodes {
        let text = std::fs::read_to_string(n.log_file()).unwrap_or_default();
        let sigs = signatures::extract(&n.name, &text, &redactor);
        let crash = signatures::crashes_not_whitelisted(&sigs, &[]);
        let lines = signatures::broken_lines_not_whitelisted(&sigs, &[]);
        if let Some(s) = crash.first().copied().or(lines.first().map(|(_, s)| *s)) {
            return Some(format!("the setup logged `{}`", s.text));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_act_from_the_start_keep_a_setup_out_of_the_cache() {
        assert!(acts_since_start("dev-disconnect"));
        assert!(acts_since_start("plugin"));
        assert!(!acts_since_start("experimental-splicing"));
        assert!(!acts_since_start("xpay-handle-pay"));
    }

    fn inputs() -> SetupInputs {
        SetupInputs {
            format: FORMAT,
            harness: "h".into(),
            bitcoind: "b".into(),
            nodes: vec![NodeInputs {
                name: "alice".into(),
                version: "v25.05".into(),
                lightningd: "l".into(),
                config: "c".into(),
                files: vec![],
            }],
            channels: vec!["alice>bob:1000000:0:true".into()],
            witness: false,
        }
    }

    #[test]
    fn every_input_is_part_of_the_key_and_nothing_else_is() {
        let base = key(&inputs());
        assert_eq!(base, key(&inputs()), "a function of the inputs alone");
        assert_eq!(base.len(), 32);
        let changed: Vec<fn(&mut SetupInputs)> = vec![
            |i| i.harness = "h2".into(),
            |i| i.bitcoind = "b2".into(),
            |i| i.nodes[0].lightningd = "l2".into(),
            |i| i.nodes[0].version = "v25.09".into(),
            |i| i.nodes[0].config = "c2".into(),
            |i| i.nodes[0].files.push("plugin".into()),
            |i| i.channels[0] = "alice>bob:1000000:0:false".into(),
            |i| i.witness = true,
        ];
        for change in changed {
            let mut i = inputs();
            change(&mut i);
            assert_ne!(key(&i), base, "{i:?}");
        }
    }
}
