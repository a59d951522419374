//! The plugin the harness gives a node itself, for what lightningd has no
//! option for: accepting zero-conf opens (`zero_conf = true`) and holding
//! large incoming HTLCs (`hold_htlcs_msat = N`). One plain JSON-RPC plugin
//! in Python (no pyln-client needed), embedded in the binary so a scenario
//! runs the same from any checkout or install, written with the node's
//! settings into its own lightning-dir before each start (the `--plugin`
//! option is computed by [`crate::options`], purely, from the same path).

use std::io;
use std::path::{Path, PathBuf};

const NODE_PLUGIN: &str = include_str!("../plugins/node-plugin.py");

/// The line of [`NODE_PLUGIN`] that [`write`] replaces with the settings.
const SETTINGS_LINE: &str = r#"SETTINGS = {"accept_zero_conf": False, "hold_from_msat": None}"#;

/// What the plugin does for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodePlugin {
    /// Answer the `openchannel` hook with `mindepth` 0.
    pub accept_zero_conf: bool,
    /// Never answer `htlc_accepted` for an HTLC of at least this much.
    pub hold_from_msat: Option<u64>,
}

impl NodePlugin {
    /// Does the node need the plugin at all?
    pub fn wanted(&self) -> bool {
        self.accept_zero_conf || self.hold_from_msat.is_some()
    }
}

/// Where a node's plugin lives: in its own lightning-dir, so parallel runs
/// never share (or race on) one file.
pub fn path(lightning_dir: &Path) -> PathBuf {
    lightning_dir.join("cln-harness-node-plugin.py")
}

/// Writes the plugin with these settings (executable: lightningd runs a
/// plugin by its `#!` line).
pub fn write(lightning_dir: &Path, settings: NodePlugin) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let hold = settings
        .hold_from_msat
        .map_or_else(|| "None".to_string(), |m| m.to_string());
    let accept = if settings.accept_zero_conf {
        "True"
    } else {
        "False"
    };
    let text = NODE_PLUGIN.replace(
        SETTINGS_LINE,
        &format!(r#"SETTINGS = {{"accept_zero_conf": {accept}, "hold_from_msat": {hold}}}"#),
    );
    let path = path(lightning_dir);
    std::fs::write(&path, text)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings are written into the plugin; were the template line
    /// edited apart from [`SETTINGS_LINE`], a holding node would hold
    /// nothing and a zero-conf acceptor would accept no zero-conf open.
    #[test]
    fn the_plugin_gets_each_nodes_settings() {
        assert!(NODE_PLUGIN.contains(SETTINGS_LINE));
        let dir = tempfile::tempdir().unwrap();
        let settings = NodePlugin {
            accept_zero_conf: true,
            hold_from_msat: Some(20_000_000),
        };
        write(dir.path(), settings).unwrap();
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(
            text.contains(r#"SETTINGS = {"accept_zero_conf": True, "hold_from_msat": 20000000}"#),
            "{text}"
        );
        assert!(!NodePlugin::default().wanted());
    }

    /// What lightningd would send a holding node's plugin, answered as a
    /// held HTLC across an upgrade needs: the small HTLC goes on, the large
    /// one waits for `harness-release`, and the same HTLC replayed after a
    /// restart (here: after the release) goes on at once.
    #[test]
    fn a_held_htlc_goes_on_when_released_and_so_does_its_replay() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let settings = NodePlugin {
            accept_zero_conf: false,
            hold_from_msat: Some(20_000_000),
        };
        write(dir.path(), settings).unwrap();
        let htlc = |id: u32, msat: u64, hash: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"htlc_accepted","params":{{"htlc":{{"amount_msat":{msat},"payment_hash":"{hash}"}}}}}}"#
            )
        };
        let input = [
            r#"{"jsonrpc":"2.0","id":1,"method":"getmanifest","params":{}}"#.to_string(),
            htlc(2, 1_000, "aa"),
            htlc(3, 20_000_001, "bb"),
            htlc(4, 20_000_001, "cc"),
            r#"{"jsonrpc":"2.0","id":5,"method":"harness-release","params":{"payment_hash":"bb"}}"#
                .to_string(),
            htlc(6, 20_000_001, "bb"),
        ]
        .join("\n\n");
        let mut child = std::process::Command::new("python3")
            .arg(path(dir.path()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let ids: Vec<u64> = answers.iter().map(|a| a["id"].as_u64().unwrap()).collect();
        // 4 ("cc") is never released: no answer.
        assert_eq!(ids, [1, 2, 3, 5, 6], "{answers:?}");
        assert_eq!(
            answers[0]["result"]["rpcmethods"][0]["name"],
            "harness-release"
        );
        assert_eq!(answers[2]["result"]["result"], "continue");
        assert_eq!(answers[3]["result"]["released"], 1);
    }
}
