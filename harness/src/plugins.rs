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
}
