//! Plugins the harness gives a node itself: today one, accepting zero-conf
//! opens (`zero_conf = true`). Embedded in the binary, so a scenario runs
//! the same from any checkout or install, and written into the node's
//! lightning-dir before each start (the option that names it is computed
//! by [`crate::options`], purely, from the same path).

use std::io;
use std::path::{Path, PathBuf};

/// lightningd has no option to accept a zero-conf open: only the
/// `openchannel` hook's `mindepth` (CLN's own tests use a plugin, too).
const ACCEPT_ZERO_CONF: &str = include_str!("../plugins/accept-zero-conf.py");

/// Where a node's zero-conf plugin lives: in its own lightning-dir, so
/// parallel runs never share (or race on) one file.
pub fn accept_zero_conf_path(lightning_dir: &Path) -> PathBuf {
    lightning_dir.join("cln-harness-accept-zero-conf.py")
}

/// Writes the plugin (executable: lightningd runs it by its `#!` line).
pub fn write_accept_zero_conf(lightning_dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = accept_zero_conf_path(lightning_dir);
    std::fs::write(&path, ACCEPT_ZERO_CONF)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
}
