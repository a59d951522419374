//! The chain witness: electrs, through the `electrsd` crate, against the
//! harness's own bitcoind. lightningd's view of its funds lives in the
//! database a bad migration corrupts; electrs indexes the chain itself, so
//! it can say whether what lightningd claims is really there.
//!
//! Started only for scenarios that declare `witness = true` (bitcoind then
//! listens for P2P, which electrs 0.10 fetches blocks over). IO lives here;
//! the comparisons are pure ([`compare`]).

pub mod chains;
pub mod compare;

use crate::bitcoind::Bitcoind;
use electrsd::electrum_client::raw_client::{ElectrumPlaintextStream, RawClient};
use electrsd::electrum_client::ElectrumApi;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("no electrs: the scenario declares `witness = true`, but none was given (--electrs PATH or $ELECTRS_EXE) nor built into {cache} (ci/build-electrs.sh)")]
    NotInstalled { cache: String },
    #[error("electrs {exe} did not start: {message}")]
    Start { exe: PathBuf, message: String },
    #[error("electrs: {0}")]
    Query(String),
    #[error("electrs did not reach block {height} within {after:?} (at {seen})")]
    Behind {
        height: u64,
        seen: i64,
        after: Duration,
    },
}

/// electrs to use: `--electrs PATH`, else `$ELECTRS_EXE`, else the newest
/// `<cache>/electrs/*/bin/electrs` (ci/build-electrs.sh puts it there).
pub fn find_electrs(explicit: Option<&Path>) -> Result<PathBuf, WitnessError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ELECTRS_EXE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let root = crate::paths::cache_root().join("electrs");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/electrs"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().ok_or(WitnessError::NotInstalled {
        cache: root.display().to_string(),
    })
}

pub struct Witness {
    electrs: electrsd::ElectrsD,
    pub started_in: Duration,
}

/// One unspent output as electrs sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainUtxo {
    pub txid: String,
    pub vout: u32,
    pub sat: u64,
    /// 0 while in the mempool.
    pub height: u64,
}

impl Witness {
    /// Start electrs on `bitcoind` (which must listen for P2P), its index in `dir`.
    pub fn start(exe: &Path, bitcoind: &Bitcoind, dir: &Path) -> Result<Witness, WitnessError> {
        let t0 = Instant::now();
        let start_err = |message: String| WitnessError::Start {
            exe: exe.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| start_err(e.to_string()))?;
        // Like bitcoind: launched through `setpriv --pdeathsig KILL`, so a
        // SIGKILLed harness does not leave it behind.
        let wrapped = crate::process::pdeathsig_wrapper(exe, dir, "electrs-with-pdeathsig")
            .map_err(|e| start_err(e.to_string()))?;
        let mut conf = electrsd::Conf::default();
        conf.network = "regtest";
        conf.staticdir = Some(dir.join("db"));
        conf.tmpdir = None;
        let electrs = electrsd::ElectrsD::with_conf(&wrapped, bitcoind.inner(), &conf)
            .map_err(|e| start_err(format!("{e:#}")))?;
        Ok(Witness {
            electrs,
            started_in: t0.elapsed(),
        })
    }

    fn client(&self) -> &RawClient<ElectrumPlaintextStream> {
        &self.electrs.client
    }

    /// Until electrs has indexed block `height` (nudged with SIGUSR1, as
    /// electrsd documents, rather than waiting for its own poll).
    pub async fn sync(&self, height: u64, timeout: Duration) -> Result<(), WitnessError> {
        let t0 = Instant::now();
        let mut seen = -1i64;
        loop {
            let _ = self.electrs.trigger();
            // A fresh subscription answers the current tip.
            if let Ok(h) = self.client().block_headers_subscribe_raw() {
                seen = h.height as i64;
                if h.height as u64 >= height {
                    return Ok(());
                }
            }
            if t0.elapsed() > timeout {
                return Err(WitnessError::Behind {
                    height,
                    seen,
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The unspent outputs of a script (hex), confirmed and in the mempool.
    pub fn unspent(&self, script_hex: &str) -> Result<Vec<ChainUtxo>, WitnessError> {
        let script = script_of(script_hex)?;
        let list = self
            .client()
            .script_list_unspent(&script)
            .map_err(|e| WitnessError::Query(e.to_string()))?;
        Ok(list
            .into_iter()
            .map(|u| ChainUtxo {
                txid: u.tx_hash.to_string(),
                vout: u.tx_pos as u32,
                sat: u.value,
                height: u.height as u64,
            })
            .collect())
    }
}

impl chains::ChainLookup for Witness {
    fn transaction(&self, txid: &str) -> Result<compare::ChainTx, WitnessError> {
        Witness::transaction(self, txid)
    }

    fn history(&self, script_hex: &str) -> Result<Vec<String>, WitnessError> {
        Witness::history(self, script_hex)
    }
}

impl Witness {
    /// A transaction's outputs (sat, script hex) and the outpoints it spends.
    pub fn transaction(&self, txid: &str) -> Result<compare::ChainTx, WitnessError> {
        let id: electrsd::electrum_client::bitcoin::Txid = txid
            .parse()
            .map_err(|e| WitnessError::Query(format!("txid {txid}: {e}")))?;
        let tx = self
            .client()
            .transaction_get(&id)
            .map_err(|e| WitnessError::Query(format!("transaction {txid}: {e}")))?;
        Ok(compare::ChainTx {
            txid: txid.to_string(),
            inputs: tx
                .input
                .iter()
                .map(|i| (i.previous_output.txid.to_string(), i.previous_output.vout))
                .collect(),
            outputs: tx
                .output
                .iter()
                .map(|o| (o.value.to_sat(), hex::encode(o.script_pubkey.as_bytes())))
                .collect(),
        })
    }

    /// Every transaction that touched a script (hex).
    pub fn history(&self, script_hex: &str) -> Result<Vec<String>, WitnessError> {
        let script = script_of(script_hex)?;
        Ok(self
            .client()
            .script_get_history(&script)
            .map_err(|e| WitnessError::Query(e.to_string()))?
            .into_iter()
            .map(|h| h.tx_hash.to_string())
            .collect())
    }
}

fn script_of(
    hex_script: &str,
) -> Result<electrsd::electrum_client::bitcoin::ScriptBuf, WitnessError> {
    hex::decode(hex_script)
        .map(electrsd::electrum_client::bitcoin::ScriptBuf::from_bytes)
        .map_err(|e| WitnessError::Query(format!("script {hex_script}: {e}")))
}
