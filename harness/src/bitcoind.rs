//! The regtest bitcoind, through the `bitcoind` crate. No wallet: coins are
//! mined straight to lightningd addresses.

use crate::binaries::BitcoinBins;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BitcoindError {
    #[error("bitcoind {} did not start in {datadir}: {message}", exe.display())]
    Start { exe: PathBuf, datadir: PathBuf, message: String },
    #[error("bitcoind `{method}` failed: {message}")]
    Rpc { method: String, message: String },
}

pub struct Bitcoind {
    inner: bitcoind::BitcoinD,
    /// Height of the next unspent OP_TRUE coinbase to fund a node from.
    next_coinbase: u64,
    pub bins: BitcoinBins,
    pub datadir: PathBuf,
    pub rpc_port: u16,
    pub rpc_user: String,
    pub rpc_password: String,
}

/// The harness's bitcoind configuration. Pinned so a crate upgrade can't
/// silently change it:
/// ```
/// let conf = cln_harness::bitcoind::conf(std::path::Path::new("/t/bitcoind"));
/// assert_eq!(conf.wallet, None); // the vendored build has no wallet
/// assert_eq!(conf.network, "regtest");
/// assert_eq!(conf.args, vec!["-regtest", "-fallbackfee=0.0001", "-txindex=0", "-debug=rpc", "-acceptnonstdtxn=1"]);
/// assert_eq!(conf.staticdir.as_deref(), Some(std::path::Path::new("/t/bitcoind")));
/// ```
pub fn conf(datadir: &Path) -> bitcoind::Conf<'static> {
    let mut conf = bitcoind::Conf::default();
    // -acceptnonstdtxn: funding spends the harness's OP_TRUE coinbases
    // (see `Bitcoind::send_from_coinbase`), which relay policy calls non-standard.
    conf.args = vec!["-regtest", "-fallbackfee=0.0001", "-txindex=0", "-debug=rpc", "-acceptnonstdtxn=1"];
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
        let start_err = |message: String| BitcoindError::Start {
            exe: bins.bitcoind.clone(),
            datadir: datadir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(datadir).map_err(|e| start_err(e.to_string()))?;
        let exe = pdeathsig_wrapper(&bins.bitcoind, datadir).map_err(|e| start_err(e.to_string()))?;
        let inner = bitcoind::BitcoinD::with_conf(&exe, &conf(datadir)).map_err(|e| start_err(format!("{e:#}")))?;
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
            inner,
            next_coinbase: 1,
        })
    }

    pub fn call(&self, method: &str, args: &[Value]) -> Result<Value, BitcoindError> {
        self.inner.client.call::<Value>(method, args).map_err(|e| BitcoindError::Rpc {
            method: method.into(),
            message: e.to_string(),
        })
    }

    pub fn block_count(&self) -> Result<u64, BitcoindError> {
        Ok(self.call("getblockcount", &[])?.as_u64().unwrap_or(0))
    }

    /// Blocks whose coinbase pays `raw(51)` (OP_TRUE): spendable by the
    /// harness without a key once mature, which is how nodes are funded.
    pub fn mine(&self, blocks: u64) -> Result<(), BitcoindError> {
        self.call("generatetodescriptor", &[json!(blocks), json!("raw(51)")]).map(|_| ())
    }

    /// Mine enough blocks before any node starts that `funders` coinbases
    /// are mature: a node then starts at the tip instead of fetching a
    /// hundred blocks through `bcli` (one `bitcoin-cli` fork each) later.
    pub fn premine(&self, funders: u64) -> Result<(), BitcoindError> {
        let want = COINBASE_MATURITY + funders.max(1);
        let have = self.block_count()?;
        if have < want {
            self.mine(want - have)?;
        }
        Ok(())
    }

    /// Pay a whole mature OP_TRUE coinbase (less a fee) to `address`: the
    /// transaction goes to the mempool; the caller mines it. Each call uses
    /// the next coinbase, mining one more block when none is mature yet.
    pub fn send_from_coinbase(&mut self, address: &str) -> Result<String, BitcoindError> {
        let height = self.next_coinbase;
        let tip = self.block_count()?;
        if tip < height + COINBASE_MATURITY {
            self.mine(height + COINBASE_MATURITY - tip)?;
        }
        let hash = self.call("getblockhash", &[json!(height)])?;
        let block = self.call("getblock", &[hash, json!(2)])?;
        let coinbase = &block["tx"][0];
        let (txid, value) = (coinbase["txid"].clone(), coinbase["vout"][0]["value"].as_f64().unwrap_or(0.0));
        // Whole sats, as bitcoind wants amounts: value less a 10 000 sat fee.
        let amount = ((value * 1e8).round() as u64).saturating_sub(10_000);
        let outputs = json!({ address: format!("{}.{:08}", amount / 100_000_000, amount % 100_000_000) });
        let raw = self.call("createrawtransaction", &[json!([{"txid": txid, "vout": 0}]), outputs])?;
        let sent = self.call("sendrawtransaction", &[raw])?;
        self.next_coinbase += 1;
        Ok(sent.as_str().unwrap_or_default().to_string())
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

    pub fn stop(mut self) {
        let _ = self.inner.stop();
    }
}

/// Blocks before a coinbase can be spent.
const COINBASE_MATURITY: u64 = 100;

fn pdeathsig_wrapper(bitcoind: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if !Path::new("/usr/bin/setpriv").exists() {
        return Ok(bitcoind.to_path_buf());
    }
    let wrapper = dir.join("bitcoind-with-pdeathsig");
    let script = format!(
        "#!/bin/sh\nexec /usr/bin/setpriv --pdeathsig KILL -- '{}' \"$@\"\n",
        bitcoind.display().to_string().replace('\'', "'\\''")
    );
    std::fs::write(&wrapper, script)?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
    Ok(wrapper)
}
