//! The regtest bitcoind, through the `bitcoind` crate. No wallet: coins are
//! mined straight to lightningd addresses.
//!
//! The crate's RPC client is synchronous, and `--jobs` runs share one
//! runtime thread: every RPC made from async code ([`Bitcoind::call`] and
//! the methods built on it) runs on tokio's blocking pool, so a slow
//! `generatetoaddress` never stalls another run's timers. `*_blocking`
//! variants are for synchronous code (evidence gathering after the run).

use crate::binaries::BitcoinBins;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BitcoindError {
    #[error("bitcoind {} did not start in {datadir}: {message}", exe.display())]
    Start {
        exe: PathBuf,
        datadir: PathBuf,
        message: String,
    },
    #[error("bitcoind `{method}` failed: {message}")]
    Rpc { method: String, message: String },
}

pub struct Bitcoind {
    /// Shared with the blocking-pool task of an RPC in flight.
    inner: Arc<bitcoind::BitcoinD>,
    /// Height of the next unspent OP_TRUE coinbase to fund a node from.
    next_coinbase: u64,
    /// The P2WSH address of the script `OP_TRUE` (from `decodescript 51`).
    op_true_address: String,
    pub bins: BitcoinBins,
    pub datadir: PathBuf,
    pub rpc_port: u16,
    pub rpc_user: String,
    pub rpc_password: String,
}

/// Seconds a tip may be old before bitcoind reports initial block
/// download: a hundred years, so no recorded chain ever expires.
pub const MAX_TIP_AGE_ARG: &str = "-maxtipage=3153600000";

/// The harness's bitcoind configuration. Pinned so a crate upgrade can't
/// silently change it:
/// ```
/// let conf = cln_harness::bitcoind::conf(std::path::Path::new("/t/bitcoind"));
/// assert_eq!(conf.wallet, None); // the vendored build has no wallet
/// assert_eq!(conf.network, "regtest");
/// assert_eq!(
///     conf.args,
///     vec!["-regtest", "-fallbackfee=0.0001", "-txindex=0", "-debug=rpc", "-maxtipage=3153600000"]
/// );
/// assert_eq!(conf.staticdir.as_deref(), Some(std::path::Path::new("/t/bitcoind")));
/// ```
pub fn conf(datadir: &Path) -> bitcoind::Conf<'static> {
    let mut conf = bitcoind::Conf::default();
    conf.args = vec![
        "-regtest",
        "-fallbackfee=0.0001",
        "-txindex=0",
        "-debug=rpc",
        // A chain restored from a recording made more than a day ago has an
        // old tip, and bitcoind calls an old tip initial block download
        // (`-maxtipage`, default 86400 s): lightningd then waits for it and
        // defers every commitment, so a good build hangs. A hundred years
        // keeps every recorded chain "synced", whenever it is replayed.
        MAX_TIP_AGE_ARG,
    ];
    conf.wallet = None;
    conf.staticdir = Some(datadir.to_path_buf());
    conf.tmpdir = None;
    conf
}

impl Bitcoind {
    /// Start bitcoind with its datadir at `datadir` (kept with the run).
    ///
    /// bitcoind is launched through `setpriv --pdeathsig KILL`, because the
    /// crate spawns it without a parent-death signal and a SIGKILLed
    /// harness must not leave it behind.
    pub fn start(bins: &BitcoinBins, datadir: &Path) -> Result<Bitcoind, BitcoindError> {
        Bitcoind::start_with(bins, datadir, false)
    }

    /// As [`Bitcoind::start`]; `p2p` opens its P2P port (for electrs).
    pub fn start_with(
        bins: &BitcoinBins,
        datadir: &Path,
        p2p: bool,
    ) -> Result<Bitcoind, BitcoindError> {
        let start_err = |message: String| BitcoindError::Start {
            exe: bins.bitcoind.clone(),
            datadir: datadir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(datadir).map_err(|e| start_err(e.to_string()))?;
        let exe =
            crate::process::pdeathsig_wrapper(&bins.bitcoind, datadir, "bitcoind-with-pdeathsig")
                .map_err(|e| start_err(e.to_string()))?;
        let mut conf = conf(datadir);
        if p2p {
            // electrs (the chain witness) fetches blocks over P2P.
            conf.p2p = bitcoind::P2P::Yes;
        }
        let inner =
            bitcoind::BitcoinD::with_conf(&exe, &conf).map_err(|e| start_err(format!("{e:#}")))?;
        let cookie = inner
            .params
            .get_cookie_values()
            .ok()
            .flatten()
            .ok_or_else(|| start_err("no RPC cookie".into()))?;
        Ok(Bitcoind {
            rpc_port: inner.params.rpc_socket.port(),
            rpc_user: cookie.user,
            rpc_password: cookie.password,
            datadir: datadir.to_path_buf(),
            bins: bins.clone(),
            inner: Arc::new(inner),
            next_coinbase: 1,
            op_true_address: String::new(),
        })
        .and_then(|mut b: Bitcoind| {
            let script = b
                .call_blocking("decodescript", &[json!("51")])
                .map_err(|e| start_err(e.to_string()))?;
            let addr = script["segwit"]["address"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if addr.is_empty() {
                return Err(start_err(format!(
                    "`decodescript 51` gave no P2WSH address: {script}"
                )));
            }
            b.op_true_address = addr;
            Ok(b)
        })
    }

    /// The crate's handle (electrsd takes it).
    pub fn inner(&self) -> &bitcoind::BitcoinD {
        &self.inner
    }

    /// One RPC, on the blocking pool (the crate's client is synchronous).
    pub async fn call(&self, method: &str, args: &[Value]) -> Result<Value, BitcoindError> {
        let inner = Arc::clone(&self.inner);
        let (method, args) = (method.to_string(), args.to_vec());
        let join_err = |method: &str, e: tokio::task::JoinError| BitcoindError::Rpc {
            method: method.into(),
            message: format!("the RPC task did not finish: {e}"),
        };
        let m = method.clone();
        tokio::task::spawn_blocking(move || rpc(&inner, &m, &args))
            .await
            .map_err(|e| join_err(&method, e))?
    }

    /// One RPC on the calling thread: for synchronous code only.
    pub fn call_blocking(&self, method: &str, args: &[Value]) -> Result<Value, BitcoindError> {
        rpc(&self.inner, method, args)
    }

    /// Height of the next unspent OP_TRUE coinbase (a fixture records it).
    pub fn next_coinbase(&self) -> u64 {
        self.next_coinbase
    }

    /// After a fixture's chain is replayed: its coinbases up to here are spent.
    pub fn set_next_coinbase(&mut self, height: u64) {
        self.next_coinbase = height;
    }

    pub async fn block_count(&self) -> Result<u64, BitcoindError> {
        Ok(self.call("getblockcount", &[]).await?.as_u64().unwrap_or(0))
    }

    /// As [`Bitcoind::block_count`], for synchronous code only.
    pub fn block_count_blocking(&self) -> Result<u64, BitcoindError> {
        Ok(self
            .call_blocking("getblockcount", &[])?
            .as_u64()
            .unwrap_or(0))
    }

    /// Blocks whose coinbase pays P2WSH(OP_TRUE): spendable by the harness
    /// without a key once mature (the witness is the script `51` itself),
    /// and segwit, as lightningd wants the inputs of a channel funding
    /// transaction it did not build (v26.06: "non-segwit and unsigned").
    pub async fn mine(&self, blocks: u64) -> Result<(), BitcoindError> {
        self.call(
            "generatetoaddress",
            &[json!(blocks), json!(self.op_true_address)],
        )
        .await
        .map(|_| ())
    }

    /// Mine enough blocks before any node starts that `funders` coinbases
    /// are mature: a node then starts at the tip instead of fetching a
    /// hundred blocks through `bcli` (one `bitcoin-cli` fork each) later.
    pub async fn premine(&self, funders: u64) -> Result<(), BitcoindError> {
        let want = COINBASE_MATURITY + funders.max(1);
        let have = self.block_count().await?;
        if have < want {
            self.mine(want - have).await?;
        }
        Ok(())
    }

    /// The next unspent mature OP_TRUE coinbase: (txid, value in sat).
    /// Mines one more block when none is mature yet.
    async fn take_coinbase(&mut self) -> Result<(Value, u64), BitcoindError> {
        let height = self.next_coinbase;
        let tip = self.block_count().await?;
        if tip < height + COINBASE_MATURITY {
            self.mine(height + COINBASE_MATURITY - tip).await?;
        }
        let hash = self.call("getblockhash", &[json!(height)]).await?;
        let block = self.call("getblock", &[hash, json!(2)]).await?;
        let coinbase = &block["tx"][0];
        let value = (coinbase["vout"][0]["value"].as_f64().unwrap_or(0.0) * 1e8).round() as u64;
        self.next_coinbase += 1;
        Ok((coinbase["txid"].clone(), value))
    }

    /// A raw transaction spending the next coinbase to `outputs` (address,
    /// sat), the rest (less [`FEE_SAT`]) to `change`.
    async fn spend_coinbase(
        &mut self,
        outputs: &[(&str, u64)],
        change: Option<&str>,
    ) -> Result<Value, BitcoindError> {
        let (txid, value) = self.take_coinbase().await?;
        let spent: u64 = outputs.iter().map(|(_, sat)| sat).sum();
        let mut outs: Vec<Value> = outputs
            .iter()
            .map(|(addr, sat)| json!({ *addr: btc(*sat) }))
            .collect();
        if let Some(change) = change {
            outs.push(json!({ change: btc(value.saturating_sub(spent + FEE_SAT)) }));
        }
        self.call(
            "createrawtransaction",
            &[json!([{"txid": txid, "vout": 0}]), json!(outs)],
        )
        .await
    }

    /// A raw transaction as broadcast: with its inputs' witnesses.
    fn signed(raw: &Value) -> Result<Value, BitcoindError> {
        with_op_true_witness(raw.as_str().unwrap_or_default())
            .map(|hex| json!(hex))
            .map_err(|e| BitcoindError::Rpc {
                method: "createrawtransaction".into(),
                message: format!("returned a transaction that does not decode: {e}"),
            })
    }

    /// Pay a whole mature OP_TRUE coinbase (less a fee) to `address`, or
    /// only `amount_sat` of it, the rest back to the harness's OP_TRUE
    /// address: the transaction goes to the mempool; the caller mines it.
    pub async fn send_from_coinbase(
        &mut self,
        address: &str,
        amount_sat: Option<u64>,
    ) -> Result<String, BitcoindError> {
        let raw = match amount_sat {
            None => self.spend_coinbase(&[], Some(address)).await?,
            Some(sat) => {
                let rest = self.op_true_address.clone();
                self.spend_coinbase(&[(address, sat)], Some(&rest)).await?
            }
        };
        self.broadcast(&raw).await
    }

    /// Where the harness mines: coins paid here leave every node's wallet
    /// (`${chain.op_true_address}` in a scenario).
    pub fn op_true_address(&self) -> &str {
        &self.op_true_address
    }

    /// The PSBT of an unsigned raw transaction, with each input's witness
    /// UTXO filled in from the chain (so lightningd can see it is segwit).
    async fn psbt_of(&self, raw: &Value) -> Result<Value, BitcoindError> {
        let psbt = self
            .call("converttopsbt", std::slice::from_ref(raw))
            .await?;
        self.call("utxoupdatepsbt", &[psbt]).await
    }

    /// A channel funding transaction built by the harness (lightningd's
    /// `fundchannel_start`/`fundchannel_complete` external funding): `amount_sat`
    /// to the channel's funding address, the rest of a coinbase to the
    /// funder's own `change` address. Returns (raw tx, its PSBT) for
    /// `fundchannel_complete`; broadcast the raw tx after it.
    pub async fn funding_tx(
        &mut self,
        funding_address: &str,
        amount_sat: u64,
        change: &str,
    ) -> Result<(Value, Value), BitcoindError> {
        let raw = self
            .spend_coinbase(&[(funding_address, amount_sat)], Some(change))
            .await?;
        let psbt = self.psbt_of(&raw).await?;
        Ok((raw, psbt))
    }

    /// Broadcast an unsigned raw transaction spending one OP_TRUE coinbase.
    pub async fn broadcast(&self, raw: &Value) -> Result<String, BitcoindError> {
        Ok(self
            .call("sendrawtransaction", &[Self::signed(raw)?])
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub fn debug_log(&self) -> PathBuf {
        self.datadir.join("regtest/debug.log")
    }

    /// A copy-paste `bitcoin-cli` command line for this bitcoind.
    pub fn cli_command(&self) -> String {
        format!(
            "{} -regtest -datadir={} -rpcport={}",
            self.bins.bitcoin_cli.display(),
            self.datadir.display(),
            self.rpc_port
        )
    }

    /// Stop bitcoind and wait for it to exit, on the blocking pool (the
    /// crate waits on the process, and so does its drop).
    pub async fn stop(self) {
        let Ok(mut inner) = Arc::try_unwrap(self.inner) else {
            return; // an RPC in flight holds it; its drop stops bitcoind
        };
        let _ = tokio::task::spawn_blocking(move || {
            let _ = inner.stop();
            drop(inner);
        })
        .await;
    }

    /// End bitcoind without a clean shutdown, for a chain nobody reads
    /// again (the run dir goes): SIGKILL, then reap it. A clean `stop`
    /// takes ~100 ms (bitcoind's HTTP and message threads wind down, the
    /// mempool and anchors are written), a tenth of a set-up keysend run.
    /// The crate keeps the child to itself, so the pid comes from bitcoind's
    /// pid file, and is signalled only if that process is still our child.
    pub async fn kill(self) {
        let pid_file = self.datadir.join("regtest/bitcoind.pid");
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|pid| crate::process::is_our_child(*pid))
        {
            // SAFETY: kill(2) on a pid that is our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // The crate's drop then finds it gone: its `stop` RPC is refused
        // at once, and it reaps the process.
        self.stop().await;
    }

    /// Stop bitcoind and wait for it to exit, its chain state flushed to
    /// disk (a fixture copies the datadir after this). Blocks the calling
    /// thread until then: for `record`, which runs alone.
    pub fn shut_down(&mut self) -> Result<(), BitcoindError> {
        let stop_err = |message: String| BitcoindError::Rpc {
            method: "stop".into(),
            message,
        };
        // Every RPC holds its clone only until it returns.
        let inner = Arc::get_mut(&mut self.inner)
            .ok_or_else(|| stop_err("an RPC is still in flight".into()))?;
        inner
            .stop()
            .map(|_| ())
            .map_err(|e| stop_err(format!("{e:#}")))
    }
}

/// One RPC through the crate's synchronous client.
fn rpc(inner: &bitcoind::BitcoinD, method: &str, args: &[Value]) -> Result<Value, BitcoindError> {
    inner
        .client
        .call::<Value>(method, args)
        .map_err(|e| BitcoindError::Rpc {
            method: method.into(),
            message: e.to_string(),
        })
}

/// Blocks before a coinbase can be spent.
const COINBASE_MATURITY: u64 = 100;
/// What every harness-built transaction pays in fees.
const FEE_SAT: u64 = 10_000;

/// An unsigned transaction spending P2WSH(OP_TRUE) coins (as
/// `createrawtransaction` returns it) with each input's witness: one item,
/// the script `51` itself. The `bitcoin` crate writes the segwit form
/// (marker, flag, witnesses after the outputs); the txid does not change.
pub fn with_op_true_witness(
    raw_hex: &str,
) -> Result<String, bitcoin::consensus::encode::FromHexError> {
    let mut tx: bitcoin::Transaction = bitcoin::consensus::encode::deserialize_hex(raw_hex)?;
    let op_true = [bitcoin::opcodes::OP_TRUE.to_u8()];
    for input in &mut tx.input {
        input.witness = bitcoin::Witness::from_slice(&[op_true]);
    }
    Ok(bitcoin::consensus::encode::serialize_hex(&tx))
}

/// Satoshis as bitcoind's decimal BTC string.
fn btc(sat: u64) -> String {
    format!("{}.{:08}", sat / 100_000_000, sat % 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `createrawtransaction` wrote it for a channel funding: version 2,
    /// one coinbase input (sequence fffffffd), 1 000 000 sat to a P2WSH
    /// funding address, the change to a P2WPKH address, locktime 0.
    const UNSIGNED: &str = concat!(
        "02000000",
        "01",
        "3b8c9e4f1d2a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e",
        "00000000",
        "00",
        "fdffffff",
        "02",
        "40420f0000000000",
        "220020",
        "a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "d08a052a01000000",
        "160014",
        "89abcdef0123456789abcdef0123456789abcdef",
        "00000000",
    );

    #[test]
    fn the_op_true_witness_goes_between_outputs_and_locktime() {
        // Known good: the bytes the harness broadcast before it used the
        // `bitcoin` crate, which bitcoind accepted (marker 00, flag 01
        // after the version; one witness item `51` before the locktime).
        let signed = concat!(
            "02000000",
            "0001",
            "01",
            "3b8c9e4f1d2a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e",
            "00000000",
            "00",
            "fdffffff",
            "02",
            "40420f0000000000",
            "220020",
            "a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "d08a052a01000000",
            "160014",
            "89abcdef0123456789abcdef0123456789abcdef",
            "010151",
            "00000000",
        );
        assert_eq!(with_op_true_witness(UNSIGNED).unwrap(), signed);
    }

    #[test]
    fn the_witness_leaves_the_txid_alone() {
        use bitcoin::consensus::encode::deserialize_hex;
        let unsigned: bitcoin::Transaction = deserialize_hex(UNSIGNED).unwrap();
        let signed: bitcoin::Transaction =
            deserialize_hex(&with_op_true_witness(UNSIGNED).unwrap()).unwrap();
        assert_eq!(signed.compute_txid(), unsigned.compute_txid());
        assert_ne!(signed.compute_wtxid(), unsigned.compute_wtxid());
    }

    #[test]
    fn what_is_not_a_transaction_is_an_error_not_a_guess() {
        assert!(with_op_true_witness("02000000").is_err());
        assert!(with_op_true_witness("not hex").is_err());
    }

    #[test]
    fn satoshis_as_bitcoind_writes_btc() {
        assert_eq!(btc(5_000_000_000), "50.00000000");
        assert_eq!(btc(1), "0.00000001");
    }
}
