//! lightningd command-line options as a pure function of
//! (binary version, node configuration, start context).
//!
//! Computed again on *every* start, because an upgrade swaps the binary
//! under the same lightning-dir and the gates change with it.

use crate::version::{ClnVersion, Features};
use std::path::PathBuf;

/// How `pay` is served on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XpayMode {
    /// Whatever the binary does by default (xpay handles `pay` from v26.06).
    #[default]
    Default,
    /// The `cln-xpay` plugin handles `pay` (`xpay-handle-pay=true`).
    On,
    /// `cln-xpay` disabled: the classic `pay` plugin.
    Off,
}

impl XpayMode {
    pub fn parse(s: &str) -> Option<XpayMode> {
        match s {
            "default" => Some(XpayMode::Default),
            "on" => Some(XpayMode::On),
            "off" => Some(XpayMode::Off),
            _ => None,
        }
    }
}

/// Where a node keeps its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbBackend {
    /// `regtest/lightningd.sqlite3` in the lightning-dir (lightningd's default).
    #[default]
    Sqlite,
    /// A database on the run's PostgreSQL server (`--wallet=postgres://...`).
    Postgres,
}

impl DbBackend {
    pub fn parse(s: &str) -> Option<DbBackend> {
        match s {
            "sqlite" => Some(DbBackend::Sqlite),
            "postgres" => Some(DbBackend::Postgres),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
        }
    }
}

/// What a node asks for, independent of the binary it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub name: String,
    /// `--developer` plus the dev options that make runs fast and
    /// deterministic. Some bugs only show without it.
    pub developer: bool,
    pub xpay: XpayMode,
    /// Let lightningd reconnect to peers by itself (no `dev-no-reconnect`).
    pub reconnect: bool,
    /// Splices allowed: `experimental-splicing` where the binary still
    /// needs it (before v26.04), nothing from v26.04, where it is the
    /// default and the flag would stop lightningd. Computed per start, so
    /// a node upgraded across v26.04 keeps splicing.
    pub splicing: bool,
    /// Accept zero-conf opens: the harness's own plugin
    /// ([`crate::plugins`]) answers the `openchannel` hook with
    /// `mindepth` 0.
    pub zero_conf: bool,
    /// Hold every incoming HTLC of at least this many msat, never
    /// resolving it (the harness's own plugin, [`crate::plugins`]).
    pub hold_htlcs_msat: Option<u64>,
    /// `key` or `key=value`, passed last so they win over the harness's own.
    pub extra: Vec<(String, Option<String>)>,
    /// `--wallet=...` when the database is not the default SQLite file
    /// (set once the run's PostgreSQL database for this node exists).
    pub wallet: Option<String>,
}

impl NodeConfig {
    /// What the harness's own plugin does for this node.
    pub fn plugin(&self) -> crate::plugins::NodePlugin {
        crate::plugins::NodePlugin {
            accept_zero_conf: self.zero_conf,
            hold_from_msat: self.hold_htlcs_msat,
        }
    }

    pub fn named(name: &str) -> NodeConfig {
        NodeConfig {
            name: name.to_string(),
            developer: true,
            xpay: XpayMode::Default,
            reconnect: false,
            splicing: false,
            zero_conf: false,
            hold_htlcs_msat: None,
            extra: Vec::new(),
            wallet: None,
        }
    }
}

/// Facts about this particular start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartContext {
    pub lightning_dir: PathBuf,
    pub log_file: PathBuf,
    pub port: u16,
    pub bitcoin_datadir: PathBuf,
    pub bitcoin_cli: PathBuf,
    pub bitcoind_rpc_port: u16,
    pub bitcoind_rpc_user: String,
    pub bitcoind_rpc_password: String,
    /// The node's database already exists (a restart or upgrade): its
    /// `regtest/lightningd.sqlite3`, or a PostgreSQL database an earlier
    /// start of this run wrote.
    pub database_exists: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("node {node}: xpay mode `on` needs lightningd v24.11 or later, but this binary is {version}")]
    XpayUnavailable { node: String, version: String },
    #[error("node {node}: legacy `pay` (xpay off) was removed from lightningd in v27.03; this binary is {version}, so `pay` with xpay off cannot exist here")]
    LegacyPayRemoved { node: String, version: String },
}

/// The full argument list for one lightningd start.
///
/// ```
/// use cln_harness::options::{lightningd_args, NodeConfig, StartContext};
/// use cln_harness::version::ClnVersion;
/// let ctx = StartContext {
///     lightning_dir: "/t/alice".into(), log_file: "/t/alice/log".into(), port: 20001,
///     bitcoin_datadir: "/t/alice/bitcoin".into(), bitcoin_cli: "/b/bitcoin-cli".into(),
///     bitcoind_rpc_port: 18443, bitcoind_rpc_user: "u".into(), bitcoind_rpc_password: "p".into(),
///     database_exists: false,
/// };
/// let v = ClnVersion::parse("v25.05").unwrap();
/// let args = lightningd_args(&v, &NodeConfig::named("alice"), &ctx).unwrap();
/// assert_eq!(args[0], "--developer"); // must come first
/// assert!(args.contains(&"--network=regtest".to_string()));
/// assert!(args.contains(&"--dev-bitcoind-poll=1".to_string()));
/// assert!(args.contains(&"--log-level=trace".to_string()));
/// assert!(!args.iter().any(|a| a.starts_with("--database-upgrade")));
/// ```
pub fn lightningd_args(
    version: &ClnVersion,
    node: &NodeConfig,
    ctx: &StartContext,
) -> Result<Vec<String>, OptionsError> {
    let f = Features::of(version);
    let mut opts: Vec<(String, Option<String>)> = Vec::new();
    let mut set = |k: &str, v: Option<String>| opts.push((k.to_string(), v));
    let dev = node.developer && f.developer_flag;
    if dev {
        set("developer", None);
    }
    set(
        "lightning-dir",
        Some(ctx.lightning_dir.display().to_string()),
    );
    set("network", Some("regtest".into()));
    set(
        "log-level",
        Some(if f.log_trace { "trace" } else { "debug" }.into()),
    );
    set("log-file", Some(ctx.log_file.display().to_string()));
    set("addr", Some(format!("127.0.0.1:{}", ctx.port)));
    set(
        "bitcoin-datadir",
        Some(ctx.bitcoin_datadir.display().to_string()),
    );
    set("bitcoin-cli", Some(ctx.bitcoin_cli.display().to_string()));
    set("bitcoin-rpcconnect", Some("127.0.0.1".into()));
    set("bitcoin-rpcport", Some(ctx.bitcoind_rpc_port.to_string()));
    set("bitcoin-rpcuser", Some(ctx.bitcoind_rpc_user.clone()));
    set(
        "bitcoin-rpcpassword",
        Some(ctx.bitcoind_rpc_password.clone()),
    );
    if dev {
        set("dev-bitcoind-poll", Some("1".into()));
        set("dev-fast-gossip", None);
        set("dev-fail-on-subdaemon-fail", None);
        if !node.reconnect {
            set("dev-no-reconnect", None);
        }
    }
    if f.xpay {
        set("autoconnect-seeker-peers", Some("0".into()));
    }
    if node.splicing && !f.splicing_by_default {
        set("experimental-splicing", None);
    }
    if node.plugin().wanted() {
        let plugin = crate::plugins::path(&ctx.lightning_dir);
        set("plugin", Some(plugin.display().to_string()));
    }
    set("disable-dns", None);
    set("cltv-delta", Some("6".into()));
    set("cltv-final", Some("5".into()));
    set("watchtime-blocks", Some("5".into()));
    set("rescan", Some("1".into()));

    let mut allow_deprecated = false;
    match node.xpay {
        XpayMode::Default => {}
        XpayMode::On => {
            if !f.xpay {
                return Err(OptionsError::XpayUnavailable {
                    node: node.name.clone(),
                    version: version.raw.clone(),
                });
            }
            set("xpay-handle-pay", Some("true".into()));
        }
        XpayMode::Off => {
            if f.legacy_pay_removed {
                return Err(OptionsError::LegacyPayRemoved {
                    node: node.name.clone(),
                    version: version.raw.clone(),
                });
            }
            // Only from v24.11 is there a cln-xpay plugin to disable.
            if f.xpay {
                set("disable-plugin", Some("cln-xpay".into()));
            }
            // v26.06 deprecates legacy pay; only allow-deprecated-apis brings
            // it back (i-promise-to-fix-broken-api-user=pay does not).
            allow_deprecated |= f.keysend_and_pay_deprecated;
        }
    }
    set("allow-deprecated-apis", Some(allow_deprecated.to_string()));

    if let Some(wallet) = &node.wallet {
        set("wallet", Some(wallet.clone()));
    }
    if ctx.database_exists && !version.is_release() && f.database_upgrade_option {
        set("database-upgrade", Some("true".into()));
    }

    // The node's own options win: drop ours where it names the same key.
    let user_keys: Vec<&str> = node.extra.iter().map(|(k, _)| k.as_str()).collect();
    // `plugin` adds a plugin each time it is given: the node's own never
    // replace the harness's (zero-conf, HTLC holding).
    opts.retain(|(k, _)| k == "plugin" || !user_keys.contains(&k.as_str()));
    opts.extend(node.extra.iter().cloned());

    Ok(opts
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => format!("--{k}={v}"),
            None => format!("--{k}"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(database_exists: bool) -> StartContext {
        StartContext {
            lightning_dir: "/t/alice".into(),
            log_file: "/t/alice/log".into(),
            port: 20001,
            bitcoin_datadir: "/t/alice/bitcoin".into(),
            bitcoin_cli: "/b/bitcoin-cli".into(),
            bitcoind_rpc_port: 18443,
            bitcoind_rpc_user: "u".into(),
            bitcoind_rpc_password: "p".into(),
            database_exists,
        }
    }
    fn args(version: &str, node: &NodeConfig, db: bool) -> Vec<String> {
        lightningd_args(&ClnVersion::parse(version).unwrap(), node, &ctx(db)).unwrap()
    }
    fn has(args: &[String], a: &str) -> bool {
        args.iter().any(|x| x == a)
    }

    #[test]
    fn v25_02_1_gets_xpay_era_options_but_debug_logging_is_trace() {
        let a = args("v25.02.1", &NodeConfig::named("alice"), false);
        assert_eq!(a[0], "--developer");
        assert!(has(&a, "--autoconnect-seeker-peers=0"));
        assert!(has(&a, "--log-level=trace"));
        assert!(has(&a, "--dev-no-reconnect"));
        assert!(has(&a, "--allow-deprecated-apis=false"));
    }

    #[test]
    fn old_versions_get_neither_developer_nor_seeker_options() {
        let a = args("v23.08", &NodeConfig::named("alice"), false);
        assert!(!has(&a, "--developer"));
        assert!(!a.iter().any(|x| x.starts_with("--dev-")));
        assert!(!a
            .iter()
            .any(|x| x.starts_with("--autoconnect-seeker-peers")));
        assert!(has(&a, "--log-level=debug"));
    }

    #[test]
    fn upgrading_onto_a_master_build_adds_database_upgrade_only_over_an_existing_db() {
        let node = NodeConfig::named("alice");
        assert!(has(
            &args("v25.02-321-g1cc64dd67", &node, true),
            "--database-upgrade=true"
        ));
        assert!(!has(
            &args("v25.02-321-g1cc64dd67", &node, false),
            "--database-upgrade=true"
        ));
        // Release builds migrate silently.
        assert!(!has(
            &args("v25.05", &node, true),
            "--database-upgrade=true"
        ));
    }

    #[test]
    fn xpay_modes_per_version() {
        let mut node = NodeConfig::named("alice");
        node.xpay = XpayMode::On;
        assert!(has(&args("v25.05", &node, false), "--xpay-handle-pay=true"));
        let err = lightningd_args(&ClnVersion::parse("v24.08").unwrap(), &node, &ctx(false));
        assert!(matches!(err, Err(OptionsError::XpayUnavailable { .. })));

        node.xpay = XpayMode::Off;
        let a = args("v25.05", &node, false);
        assert!(has(&a, "--disable-plugin=cln-xpay"));
        assert!(!a.iter().any(|x| x.starts_with("--xpay-handle-pay")));
        assert!(has(&a, "--allow-deprecated-apis=false"));
        // Legacy pay is deprecated in v26.06: only allow-deprecated-apis keeps it.
        assert!(has(
            &args("v26.06.6", &node, false),
            "--allow-deprecated-apis=true"
        ));
        let err = lightningd_args(&ClnVersion::parse("v27.03").unwrap(), &node, &ctx(false));
        assert!(matches!(err, Err(OptionsError::LegacyPayRemoved { .. })));
    }

    #[test]
    fn non_developer_nodes_get_no_dev_options() {
        let mut node = NodeConfig::named("bob");
        node.developer = false;
        let a = args("v25.05", &node, false);
        assert!(!a.iter().any(|x| x.starts_with("--dev")));
    }

    /// v26.04 made splicing the default and deprecated its flag; given to
    /// v26.06.6, `--experimental-splicing` stops lightningd ("is now
    /// enabled by default"). A splicing node upgraded across it must lose
    /// the flag, and one that does not splice never gets it.
    /// A zero-conf acceptor runs the harness's own plugin, from its own
    /// lightning-dir (never a shared path another run could rewrite).
    #[test]
    fn a_zero_conf_node_runs_the_harness_plugin_from_its_own_dir() {
        let mut node = NodeConfig::named("bob");
        assert!(!args("v25.05", &node, false)
            .iter()
            .any(|a| a.starts_with("--plugin=")));
        node.zero_conf = true;
        let a = args("v25.05", &node, false);
        assert!(
            has(&a, "--plugin=/t/alice/cln-harness-node-plugin.py"),
            "{a:?}"
        );
        // Holding HTLCs too: still one plugin, with both settings.
        node.hold_htlcs_msat = Some(1000);
        let a = args("v25.05", &node, false);
        assert_eq!(a.iter().filter(|x| x.starts_with("--plugin=")).count(), 1);
    }

    #[test]
    fn splicing_gets_its_flag_only_before_v26_04() {
        let mut node = NodeConfig::named("alice");
        assert!(!has(
            &args("v25.05", &node, false),
            "--experimental-splicing"
        ));
        node.splicing = true;
        assert!(has(
            &args("v24.11", &node, false),
            "--experimental-splicing"
        ));
        assert!(has(
            &args("v25.09.1", &node, true),
            "--experimental-splicing"
        ));
        assert!(!has(
            &args("v26.04", &node, true),
            "--experimental-splicing"
        ));
        assert!(!has(
            &args("v26.06.6", &node, true),
            "--experimental-splicing"
        ));
    }

    #[test]
    fn node_options_override_the_harness_defaults_and_come_last() {
        let mut node = NodeConfig::named("alice");
        node.extra = vec![
            ("log-level".into(), Some("debug".into())),
            ("large-channels".into(), None),
        ];
        let a = args("v25.05", &node, false);
        assert_eq!(a.iter().filter(|x| x.starts_with("--log-level")).count(), 1);
        assert_eq!(
            a[a.len() - 2..],
            [
                "--log-level=debug".to_string(),
                "--large-channels".to_string()
            ]
        );
    }
}
