//! A run's own directory: private, fresh, and removed unless kept.

use std::path::{Path, PathBuf};

/// Where a run lives. Temporary unless `--keep`: then the path is printed
/// and left behind.
///
/// `<scratch>/cln-harness-XXXXXX` (`$TMPDIR` when set, else `/dev/shm`
/// when usable: see [`crate::scratch`]), mode 0700: it holds `hsm_secret`,
/// the databases and the bundle, which no other user may read, and a kept
/// one stays that way. A fresh random name per run, made by `mkdir`, so
/// nothing another user leaves in the scratch dir can be in its way.
pub struct RunDir {
    path: PathBuf,
    temp: Option<tempfile::TempDir>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot create a run dir in {tmp}: {why}")]
pub struct RunDirError {
    pub tmp: PathBuf,
    pub why: String,
    #[source]
    pub source: std::io::Error,
}

impl RunDir {
    pub fn new(keep: bool) -> Result<RunDir, RunDirError> {
        let temp = crate::scratch::private_dir("cln-harness-").map_err(|source| {
            let tmp = crate::scratch::base().to_path_buf();
            RunDirError {
                why: crate::userdirs::explain_io(
                    &tmp.join("cln-harness-XXXXXX"),
                    &source,
                    crate::userdirs::Access::Create,
                ),
                tmp,
                source,
            }
        })?;
        let path = temp.path().to_path_buf();
        if keep {
            let _ = temp.keep();
            return Ok(RunDir { path, temp: None });
        }
        Ok(RunDir {
            path,
            temp: Some(temp),
        })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Keep the dir after all (e.g. the run did not pass).
    pub fn keep(&mut self) {
        if let Some(t) = self.temp.take() {
            let _ = t.keep();
        }
    }
    pub fn is_kept(&self) -> bool {
        self.temp.is_none()
    }
}
