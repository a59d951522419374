//! What a lightningd says it is: `<path> --version`, remembered per
//! (path, size, mtime) by [`super::memo`].

use super::memo;
use crate::version::ClnVersion;
use std::path::Path;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot run: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("`--version` exited with {0}")]
    Exit(std::process::ExitStatus),
    #[error("`--version` printed {0:?}, not a CLN version")]
    Unparsable(String),
}

/// Runs `<lightningd> --version` (remembered per (path, size, mtime): a
/// binary that changes is asked again).
pub fn probe(path: &Path) -> Result<ClnVersion, ProbeError> {
    let text = memo::version(path, || {
        let out = version_output(path).map_err(ProbeError::Spawn)?;
        if !out.status.success() {
            return Err(ProbeError::Exit(out.status));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })?;
    ClnVersion::parse(&text).ok_or(ProbeError::Unparsable(text))
}

/// `<path> --version`, tried again while exec says "Text file busy": a
/// binary just written (an install finishing, a test's fake) stays busy
/// until every process forked while its write handle was open has exec'd
/// (seen once in a full suite: another test thread's spawn).
fn version_output(path: &Path) -> std::io::Result<std::process::Output> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match Command::new(path).arg("--version").output() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}
