//! `cln-harness matrix`: the release gate as one command, over
//! [`crate::gate`].

use super::BinarySources;
use crate::outcome::{exit_code, Verdict};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct MatrixRequest {
    /// The expectations file (default: `ci/gate.toml`).
    pub file: Option<PathBuf>,
    pub versions: Vec<String>,
    pub scenarios: PathBuf,
    pub junit: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    /// Cells run at once.
    pub jobs: usize,
    pub bins: BinarySources,
}

/// Bad input when no cells can be chosen; else the gate's verdict.
pub async fn matrix(req: &MatrixRequest) -> i32 {
    let sel = match crate::gate::select(req.file.as_deref(), &req.versions, &req.scenarios) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit_code(Verdict::BadInput);
        }
    };
    let cfg = match super::run_config(&req.bins, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    eprintln!("{} cells, {} at a time", sel.cells.len(), req.jobs);
    let mut progress = |c: &crate::gate::Cell| eprintln!("{}", crate::gate::progress_line(c));
    let done = crate::gate::run_cells(&sel.root, sel.cells, &cfg, req.jobs, &mut progress).await;
    print!("{}", crate::gate::table(&done));
    if let Some(path) = &req.junit {
        match crate::gate::junit(&done, "matrix") {
            Ok(xml) => write(path, xml),
            Err(e) => eprintln!("error: JUnit: {e}"),
        }
    }
    if let Some(path) = &req.markdown {
        write(path, crate::gate::markdown(&done, &sel.title));
    }
    exit_code(crate::gate::verdict(&done))
}

/// A report file the user asked for; one that cannot be written is said
/// and does not change the gate's verdict.
fn write(path: &Path, text: impl AsRef<[u8]>) {
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("error: writing {}: {e}", path.display());
    }
}
