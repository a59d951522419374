//! Plugins the harness gives a node itself: accepting zero-conf opens
//! (`zero_conf = true`) and holding large incoming HTLCs
//! (`hold_htlcs_msat = N`). Embedded in the binary, so a scenario runs the
//! same from any checkout or install, and written into the node's
//! lightning-dir before each start (the options that name them are
//! computed by [`crate::options`], purely, from the same paths). Each is a
//! plain JSON-RPC plugin in Python: no pyln-client needed.

use std::io;
use std::path::{Path, PathBuf};

/// lightningd has no option to accept a zero-conf open: only the
/// `openchannel` hook's `mindepth` (CLN's own tests use a plugin, too).
const ACCEPT_ZERO_CONF: &str = include_str!("../plugins/accept-zero-conf.py");

/// Holds an HTLC by never answering its `htlc_accepted` hook: the only way
/// to keep one committed on both sides for as long as a scenario wants.
const HOLD_HTLCS: &str = include_str!("../plugins/hold-htlcs.py");

/// The line of [`HOLD_HTLCS`] that [`write_hold_htlcs`] replaces.
const HOLD_THRESHOLD_LINE: &str =
    "HOLD_FROM_MSAT = 0  # replaced by the harness when it writes this file";

/// Where a node's zero-conf plugin lives: in its own lightning-dir, so
/// parallel runs never share (or race on) one file.
pub fn accept_zero_conf_path(lightning_dir: &Path) -> PathBuf {
    lightning_dir.join("cln-harness-accept-zero-conf.py")
}

/// Where a node's HTLC-holding plugin lives (its own lightning-dir, too).
pub fn hold_htlcs_path(lightning_dir: &Path) -> PathBuf {
    lightning_dir.join("cln-harness-hold-htlcs.py")
}

/// Writes the zero-conf plugin.
pub fn write_accept_zero_conf(lightning_dir: &Path) -> io::Result<()> {
    write_executable(&accept_zero_conf_path(lightning_dir), ACCEPT_ZERO_CONF)
}

/// Writes the HTLC-holding plugin, holding HTLCs of at least `from_msat`.
pub fn write_hold_htlcs(lightning_dir: &Path, from_msat: u64) -> io::Result<()> {
    let text = HOLD_HTLCS.replace(
        HOLD_THRESHOLD_LINE,
        &format!("HOLD_FROM_MSAT = {from_msat}"),
    );
    write_executable(&hold_htlcs_path(lightning_dir), &text)
}

/// Executable: lightningd runs a plugin by its `#!` line.
fn write_executable(path: &Path, text: &str) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The threshold is written into the plugin; were the template line
    /// edited apart from [`HOLD_THRESHOLD_LINE`], every HTLC would be
    /// held (threshold 0) and every payment to the node would hang.
    #[test]
    fn the_hold_plugin_gets_its_threshold() {
        assert!(HOLD_HTLCS.contains(HOLD_THRESHOLD_LINE));
        let dir = tempfile::tempdir().unwrap();
        write_hold_htlcs(dir.path(), 20_000_000).unwrap();
        let text = std::fs::read_to_string(hold_htlcs_path(dir.path())).unwrap();
        assert!(text.contains("\nHOLD_FROM_MSAT = 20000000\n"), "{text}");
    }
}
