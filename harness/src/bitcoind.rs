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
/// assert_eq!(conf.args, vec!["-regtest", "-fallbackfee=0.0001", "-txindex=0", "-debug=rpc"]);
/// assert_eq!(conf.staticdir.as_deref(), Some(std::path::Path::new("/t/bitcoind")));
/// ```
pub fn conf(datadir: &Path) -> bitcoind::Conf<'static> {
    let mut conf = bitcoind::Conf::default();
    conf.args = vec!["-regtest", "-fallbackfee=0.0001", "-txindex=0", "-debug=rpc"];
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

    pub fn mine_to_address(&self, blocks: u64, address: &str) -> Result<(), BitcoindError> {
        self.call("generatetoaddress", &[json!(blocks), json!(address)]).map(|_| ())
    }

    /// Filler blocks whose coinbase nobody can spend (`raw(51)` = OP_TRUE).
    pub fn mine(&self, blocks: u64) -> Result<(), BitcoindError> {
        self.call("generatetodescriptor", &[json!(blocks), json!("raw(51)")]).map(|_| ())
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
