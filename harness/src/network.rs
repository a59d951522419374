//! bitcoind plus named lightningd nodes, their funding and channels, and
//! waiting on real state (never fixed sleeps).

use crate::binaries::{BitcoinBins, Lightningd};
use crate::bitcoind::{Bitcoind, BitcoindError};
use crate::node::{ChainBackend, Node, StartError};
use crate::options::NodeConfig;
use crate::rpc::CallError;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::rundir::{RunDir, RunDirError};

/// A channel to open: `from` funds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelSpec {
    pub from: String,
    pub to: String,
    pub amount_sat: u64,
    pub announce: bool,
    pub push_msat: u64,
}

impl ChannelSpec {
    pub fn new(from: &str, to: &str) -> ChannelSpec {
        ChannelSpec {
            from: from.into(),
            to: to.into(),
            amount_sat: 1_000_000,
            announce: true,
            push_msat: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Bitcoind(#[from] BitcoindError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Rpc(#[from] CallError),
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("no node named `{0}`")]
    UnknownNode(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Postgres(#[from] crate::postgres::PgError),
    #[error(transparent)]
    Witness(#[from] crate::witness::WitnessError),
    #[error("node {node} is to run on PostgreSQL, but {binary} was built without PostgreSQL support (libpq-dev was missing when it was configured); rebuild it with libpq-dev installed, or run it on sqlite")]
    NoPostgresSupport { node: String, binary: PathBuf },
}

pub type Progress<'a> = &'a dyn Fn(&str);

pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

pub struct Network {
    pub bitcoind: Bitcoind,
    pub nodes: Vec<Node>,
    /// The chain witness (electrs), for scenarios with `witness = true`.
    pub witness: Option<crate::witness::Witness>,
    /// The run's PostgreSQL server, when a node's database lives there.
    /// Declared last: dropped after the nodes that use it.
    pub postgres: Option<crate::postgres::PgServer>,
}

impl Network {
    /// Start bitcoind and (without starting them) create the nodes.
    pub async fn create(
        run_dir: &Path,
        bitcoin: &BitcoinBins,
        nodes: Vec<(NodeConfig, Lightningd)>,
    ) -> Result<Network, NetworkError> {
        Network::create_on(run_dir, bitcoin, nodes, true).await
    }

    /// As [`Network::create`]; `premine = false` leaves the chain at genesis
    /// (a fixture's chain is replayed into it instead).
    pub async fn create_on(
        run_dir: &Path,
        bitcoin: &BitcoinBins,
        nodes: Vec<(NodeConfig, Lightningd)>,
        premine: bool,
    ) -> Result<Network, NetworkError> {
        Network::create_with(run_dir, bitcoin, nodes, premine, false, None).await
    }

    /// As [`Network::create_on`]; `p2p` opens bitcoind's P2P port (electrs
    /// needs it); `mocktime` (unix seconds) sets bitcoind's clock before the
    /// first block, so every block of this chain is dated then (`record
    /// --chain-days-ago`: a fixture as old as one recorded long ago).
    ///
    /// bitcoind's own start (the crate spawns it and waits for its RPC)
    /// stays on the runtime's thread: it must be spawned from a thread
    /// that outlives it (`setpriv --pdeathsig`), which a blocking-pool
    /// thread does not. Everything after it is awaited.
    pub async fn create_with(
        run_dir: &Path,
        bitcoin: &BitcoinBins,
        nodes: Vec<(NodeConfig, Lightningd)>,
        premine: bool,
        p2p: bool,
        mocktime: Option<u64>,
    ) -> Result<Network, NetworkError> {
        let bitcoind = Bitcoind::start_with(bitcoin, &run_dir.join("bitcoind"), p2p)?;
        if let Some(t) = mocktime {
            bitcoind
                .call("setmocktime", &[serde_json::json!(t)])
                .await?;
        }
        // Mature coinbases for a few funders, before any node starts.
        if premine {
            bitcoind.premine(nodes.len() as u64).await?;
        }
        let chain = ChainBackend {
            bitcoin_cli: bitcoin.bitcoin_cli.clone(),
            rpc_port: bitcoind.rpc_port,
            rpc_user: bitcoind.rpc_user.clone(),
            rpc_password: bitcoind.rpc_password.clone(),
        };
        let nodes = nodes
            .into_iter()
            .map(|(cfg, bin)| {
                let dir = run_dir.join(&cfg.name);
                Node::new(cfg, dir, bin, chain.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Network {
            bitcoind,
            nodes,
            witness: None,
            postgres: None,
        })
    }

    /// Start the chain witness (electrs) on this network's bitcoind, which
    /// must have been started with P2P (`create_with`'s `p2p`).
    pub fn attach_witness(&mut self, exe: &Path, dir: &Path) -> Result<(), NetworkError> {
        let w = crate::witness::Witness::start(exe, &self.bitcoind, dir)?;
        self.witness = Some(w);
        Ok(())
    }

    /// Put these nodes' databases on a PostgreSQL server started for this
    /// run (one database per node, named after it), before they first start.
    pub async fn attach_postgres(&mut self, names: &[String]) -> Result<(), NetworkError> {
        if names.is_empty() {
            return Ok(());
        }
        let server = crate::postgres::PgServer::launch().await?;
        self.attach_postgres_server(names, server).await
    }

    /// As [`Network::attach_postgres`], on a server already launched
    /// (started before bitcoind, so both boot at once).
    pub async fn attach_postgres_server(
        &mut self,
        names: &[String],
        mut server: crate::postgres::PgServer,
    ) -> Result<(), NetworkError> {
        self.postgres_support(names)?;
        server.ready().await?;
        for name in names {
            server.create_database(name).await?;
            let url = server.url(name);
            self.node_mut(name)?.config.wallet = Some(url);
        }
        self.postgres = Some(server);
        Ok(())
    }

    /// Every one of these nodes' lightningd links libpq.
    fn postgres_support(&self, names: &[String]) -> Result<(), NetworkError> {
        for name in names {
            let n = self.node(name)?;
            if !crate::postgres::lightningd_has_postgres(&n.binary.path) {
                return Err(NetworkError::NoPostgresSupport {
                    node: name.clone(),
                    binary: n.binary.path.clone(),
                });
            }
        }
        Ok(())
    }

    /// The one redactor for this network's texts: node ids by node name.
    pub fn redactor(&self) -> crate::evidence::redact::Redactor {
        let names: Vec<(String, String)> = self
            .nodes
            .iter()
            .filter_map(|n| Some((n.name.clone(), n.id.clone()?)))
            .collect();
        crate::evidence::redact::Redactor::with_names(&names)
    }

    pub fn node(&self, name: &str) -> Result<&Node, NetworkError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NetworkError::UnknownNode(name.into()))
    }
    pub fn node_mut(&mut self, name: &str) -> Result<&mut Node, NetworkError> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .ok_or_else(|| NetworkError::UnknownNode(name.into()))
    }

    /// Launch every node at once, then wait for each: startup costs one
    /// node's time, not the sum.
    pub async fn start_all(&mut self) -> Result<(), NetworkError> {
        for n in &mut self.nodes {
            n.launch().await?;
        }
        // Wait for every node, all at once, even when one fails, so that
        // each node left running is ready (and the failure is the first
        // node's in order).
        let waits = self.nodes.iter_mut().map(|n| n.wait_ready());
        let results = futures_util::future::join_all(waits).await;
        match results.into_iter().find_map(Result::err) {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Mine `blocks` filler blocks and wait until every running node has seen them.
    pub async fn mine(&mut self, blocks: u64) -> Result<(), NetworkError> {
        self.bitcoind.mine(blocks).await?;
        self.wait_synced().await
    }

    pub async fn wait_synced(&mut self) -> Result<(), NetworkError> {
        let all: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        self.wait_synced_nodes(&all).await
    }

    /// Wait until these (running) nodes have seen bitcoind's tip, through
    /// lightningd's own `waitblockheight` (it answers the moment the block
    /// arrives: no polling interval on our side).
    pub async fn wait_synced_nodes(&mut self, names: &[String]) -> Result<(), NetworkError> {
        let tip = self.bitcoind.block_count().await?;
        for i in 0..self.nodes.len() {
            if !names.contains(&self.nodes[i].name) || !self.nodes[i].is_running() {
                continue;
            }
            let node = &self.nodes[i];
            let params = json!({"blockheight": tip, "timeout": WAIT_TIMEOUT.as_secs()});
            node.call("waitblockheight", params, WAIT_TIMEOUT + CALL_TIMEOUT)
                .await
                .map_err(|e| match e.kind {
                    crate::rpc::CallErrorKind::Rpc { .. }
                    | crate::rpc::CallErrorKind::Timeout(_) => NetworkError::Timeout {
                        what: format!("{} to reach block {tip}", node.name),
                        after: WAIT_TIMEOUT,
                    },
                    _ => NetworkError::Rpc(e),
                })?;
        }
        Ok(())
    }

    /// Pay each named node a mature coinbase, confirm it in one block, and
    /// wait until each sees a confirmed output: one bitcoind poll for all.
    pub async fn fund(
        &mut self,
        names: &[String],
        amount_sat: Option<u64>,
    ) -> Result<(), NetworkError> {
        let mut sent = Vec::new();
        for name in names {
            let node = self.node(name)?;
            let addr = node
                .call("newaddr", json!({"addresstype": "bech32"}), CALL_TIMEOUT)
                .await?;
            let addr = addr["bech32"].as_str().unwrap_or_default().to_string();
            self.bitcoind.send_from_coinbase(&addr, amount_sat).await?;
            sent.push((name, addr));
        }
        self.bitcoind.mine(1).await?;
        // This coin confirmed, not any: a node funded before already has
        // a confirmed output, and a `fundchannel` right after a second
        // `fund` must find the new coin (seen: "Could not afford ...
        // using all 0 available UTXOs" when a dual-funded peer had
        // reserved the first).
        for (name, addr) in sent {
            let node = self.node(name)?;
            wait_until(
                &format!("{name} to see its funds confirmed"),
                WAIT_TIMEOUT,
                || async {
                    let funds = node.call("listfunds", json!({}), CALL_TIMEOUT).await?;
                    Ok(funds["outputs"].as_array().is_some_and(|o| {
                        o.iter()
                            .any(|o| o["status"] == "confirmed" && o["address"] == addr.as_str())
                    }))
                },
            )
            .await?;
        }
        Ok(())
    }

    pub async fn connect(&self, from: &str, to: &str) -> Result<Value, NetworkError> {
        let peer = self.node(to)?;
        let id = peer.id.clone().unwrap_or_default();
        let target = format!("{id}@{}", peer.address());
        Ok(self
            .node(from)?
            .call("connect", json!({"id": target}), CALL_TIMEOUT)
            .await?)
    }

    /// `fundchannel` from `spec.from` to `spec.to` (connecting first).
    pub async fn open_channel(&self, spec: &ChannelSpec) -> Result<Value, NetworkError> {
        self.connect(&spec.from, &spec.to).await?;
        let peer_id = self.node(&spec.to)?.id.clone().unwrap_or_default();
        let mut params =
            json!({"id": peer_id, "amount": spec.amount_sat, "announce": spec.announce});
        if spec.push_msat > 0 {
            params["push_msat"] = json!(spec.push_msat);
        }
        Ok(self
            .node(&spec.from)?
            .call("fundchannel", params, CALL_TIMEOUT)
            .await?)
    }

    /// Wait until `node` reports `state` for its channel with `peer`
    /// (the one with `channel_id` if given).
    pub async fn wait_channel_state(
        &self,
        node: &str,
        peer: &str,
        state: &str,
        channel_id: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, NetworkError> {
        let n = self.node(node)?;
        let peer_id = self.node(peer)?.id.clone().unwrap_or_default();
        wait_for(
            &format!("{node}'s channel with {peer} to be {state}"),
            timeout,
            || async {
                let r = n
                    .call("listpeerchannels", json!({"id": peer_id}), CALL_TIMEOUT)
                    .await?;
                Ok(r["channels"].as_array().and_then(|cs| {
                    cs.iter()
                        .find(|c| {
                            c["state"] == state && channel_id.is_none_or(|id| c["channel_id"] == id)
                        })
                        .cloned()
                }))
            },
        )
        .await
    }

    /// The default set-up, and what scenarios build on: every channel is
    /// funded by a transaction the harness builds from a mature coinbase
    /// (lightningd's external funding: `fundchannel_start`, then
    /// `fundchannel_complete` with the PSBT, then the harness broadcasts),
    /// the rest of the coinbase going to the funder's own wallet. So no
    /// node waits for its funds to confirm before opening, and every channel,
    /// several from one funder included, confirms in one round of 6 blocks.
    /// Then both sides of each channel are waited for in CHANNELD_NORMAL,
    /// and (with more than two nodes) gossip.
    pub async fn open_channels(
        &mut self,
        channels: &[ChannelSpec],
        progress: Progress<'_>,
    ) -> Result<(), NetworkError> {
        let mut opened = Vec::new();
        for c in channels {
            progress(&format!(
                "opening {} → {} ({} sat)",
                c.from, c.to, c.amount_sat
            ));
            opened.push(self.open_channel_funded_by_harness(c).await?);
        }
        progress("confirming channels (6 blocks)");
        // Only channel members must see the blocks: a node outside every
        // channel may poll bitcoind slowly (no developer mode).
        let members: Vec<String> = channels
            .iter()
            .flat_map(|c| [c.from.clone(), c.to.clone()])
            .collect();
        self.bitcoind.mine(6).await?;
        self.wait_synced_nodes(&members).await?;
        for (c, id) in channels.iter().zip(&opened) {
            progress(&format!(
                "waiting for {} ↔ {} to be CHANNELD_NORMAL",
                c.from, c.to
            ));
            self.wait_channel_state(
                &c.from,
                &c.to,
                "CHANNELD_NORMAL",
                id.as_deref(),
                WAIT_TIMEOUT,
            )
            .await?;
            self.wait_channel_state(
                &c.to,
                &c.from,
                "CHANNELD_NORMAL",
                id.as_deref(),
                WAIT_TIMEOUT,
            )
            .await?;
        }
        let announced = channels.iter().filter(|c| c.announce).count();
        if self.nodes.len() > 2 && announced > 0 {
            progress("waiting for gossip to reach every node");
            let in_channels: Vec<String> = channels
                .iter()
                .flat_map(|c| [c.from.clone(), c.to.clone()])
                .collect();
            self.wait_gossip(announced, &in_channels).await?;
        }
        Ok(())
    }

    /// One channel, funded externally (see [`Network::open_channels`]);
    /// returns its channel id. The funding transaction is in the mempool.
    async fn open_channel_funded_by_harness(
        &mut self,
        spec: &ChannelSpec,
    ) -> Result<Option<String>, NetworkError> {
        self.connect(&spec.from, &spec.to).await?;
        let peer_id = self.node(&spec.to)?.id.clone().unwrap_or_default();
        let funder = self.node(&spec.from)?;
        let mut params =
            json!({"id": peer_id, "amount": spec.amount_sat, "announce": spec.announce});
        if spec.push_msat > 0 {
            params["push_msat"] = json!(spec.push_msat);
        }
        let started = funder
            .call("fundchannel_start", params, CALL_TIMEOUT)
            .await?;
        let funding_address = started["funding_address"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let change = funder
            .call("newaddr", json!({"addresstype": "bech32"}), CALL_TIMEOUT)
            .await?;
        let change = change["bech32"].as_str().unwrap_or_default().to_string();
        let (raw, psbt) = self
            .bitcoind
            .funding_tx(&funding_address, spec.amount_sat, &change)
            .await?;
        let funder = self.node(&spec.from)?;
        let completed = funder
            .call(
                "fundchannel_complete",
                json!({"id": peer_id, "psbt": psbt}),
                CALL_TIMEOUT,
            )
            .await?;
        self.bitcoind.broadcast(&raw).await?;
        Ok(completed["channel_id"].as_str().map(String::from))
    }

    /// Every node with a channel sees both directions of `announced` channels.
    pub async fn wait_gossip(
        &self,
        announced: usize,
        nodes: &[String],
    ) -> Result<(), NetworkError> {
        for n in self.nodes.iter().filter(|n| nodes.contains(&n.name)) {
            wait_until(
                &format!("{} to see {announced} announced channels", n.name),
                WAIT_TIMEOUT,
                || async {
                    let r = n.call("listchannels", json!({}), CALL_TIMEOUT).await?;
                    Ok(r["channels"].as_array().map_or(0, |c| c.len()) >= 2 * announced)
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Stop every node gracefully and at once (teardown costs the slowest
    /// node, not the sum). Never fails half-way: every node is attempted.
    pub async fn shutdown(&mut self) {
        futures_util::future::join_all(self.nodes.iter_mut().map(|n| n.stop())).await;
    }

    /// After the evidence is read: end bitcoind (a clean stop when its
    /// chain stays on disk, `chain_kept`; else killed, as nobody reads it
    /// again), drop the nodes (killing any still running), then shut the
    /// PostgreSQL server down cleanly, all awaited. Dropping a `Network`
    /// instead is the last resort: it kills everything without waiting
    /// (and leaves PostgreSQL's shared memory segment behind).
    pub async fn release(self, chain_kept: bool) {
        let Network {
            bitcoind,
            nodes,
            witness,
            postgres,
        } = self;
        drop(witness);
        if chain_kept {
            bitcoind.stop().await;
        } else {
            bitcoind.kill().await;
        }
        drop(nodes);
        if let Some(pg) = postgres {
            pg.stop().await;
        }
    }
}

/// Poll `check` until it says true; RPC errors while polling count as
/// "not yet" until the deadline, then the last one is reported.
pub async fn wait_until<F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<(), NetworkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, NetworkError>>,
{
    wait_for(what, timeout, || {
        let f = check();
        async move { f.await.map(|ok| ok.then_some(())) }
    })
    .await
}

/// Poll `check` until it yields a value; an error on the last look is
/// reported as itself, anything else as a timeout.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> Result<T, NetworkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, NetworkError>>,
{
    use crate::poll::{poll_until, Look, TimedOut};
    let r = poll_until(timeout, POLL, || {
        let look = check();
        async move {
            match look.await {
                Ok(Some(v)) => Look::Ready(v),
                Ok(None) => Look::NotYet(None),
                Err(e) => Look::NotYet(Some(e)),
            }
        }
    })
    .await;
    match r {
        Ok(v) => Ok(v),
        Err(TimedOut {
            last: Some(Some(e)),
            ..
        }) => Err(e),
        Err(TimedOut { after, .. }) => Err(NetworkError::Timeout {
            what: what.into(),
            after,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// tempfile leaves a dir at 0755 under the usual umask: a kept run's
    /// databases and bundle were readable by every user of the machine.
    #[test]
    fn a_run_dir_kept_or_not_is_its_owners_alone() {
        for keep in [false, true] {
            let d = RunDir::new(keep).unwrap();
            let mode = std::fs::metadata(d.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o7777, 0o700, "keep={keep}");
            if keep {
                std::fs::remove_dir(d.path()).unwrap();
            }
        }
    }
}
