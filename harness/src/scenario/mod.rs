//! The scenario language: model, parsing, validation and templating are
//! pure (no IO; any byte string gives `Ok` or a located error). Only
//! [`load`] touches the filesystem.

pub mod expr;
pub mod model;
pub mod parse;
pub mod path;
pub mod validate;
pub mod values;

pub use model::*;
pub use parse::ScenarioError;

use crate::fixture::meta as fixture;
use std::path::Path;

/// Parse and validate scenario text.
pub fn from_str(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let s = parse::parse(file, text)?;
    validate::validate(file, &s)?;
    Ok(s)
}

/// Parse and validate bytes (which need not be UTF-8).
pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Scenario, ScenarioError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => from_str(file, text),
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = before.len()
                - before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
                + 1;
            Err(ScenarioError {
                file: file.into(),
                line,
                column: col,
                key: None,
                message: "not valid UTF-8".into(),
            })
        }
    }
}

/// Read and parse a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: 0,
        column: 0,
        key: None,
        message: format!("cannot read: {e}"),
    })?;
    let mut scenario = from_bytes(&file, &bytes)?;
    // `${scenario.dir}` in a node option is the scenario file's directory,
    // so a file can name a plugin that sits beside it (lightningd runs in
    // the node's dir, where a relative path would not resolve).
    let dir = std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.parent().map(|d| d.display().to_string()))
        .unwrap_or_else(|| ".".into());
    for node in &mut scenario.nodes {
        for (_, value) in &mut node.options {
            if let Some(v) = value {
                *v = v.replace(SCENARIO_DIR, &dir);
            }
        }
    }
    if let Some(f) = &mut scenario.from_fixture {
        let located = |message: String| ScenarioError {
            file: file.clone(),
            line: f.location.line,
            column: f.location.column,
            key: Some("from_fixture".into()),
            message,
        };
        let found = fixture::find(&f.name, std::path::Path::new(&dir))
            .ok_or_else(|| located(format!("no fixture `{}`: looked for fixtures/{}/{} beside the scenario and in every directory above it", f.name, f.name, fixture::META)))?;
        let meta = fixture::load_meta(&found).map_err(|e| located(e.to_string()))?;
        let missing: Vec<&str> = scenario
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| !meta.nodes.iter().any(|r| r.name == *n))
            .collect();
        if !missing.is_empty() {
            let recorded: Vec<&str> = meta.nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(located(format!(
                "fixture `{}` has no node {} (it has {})",
                f.name,
                missing.join(", "),
                recorded.join(", ")
            )));
        }
        f.dir = Some(found);
    }
    Ok(scenario)
}

/// The one reference a node option may hold; [`load`] fills it in.
pub const SCENARIO_DIR: &str = "${scenario.dir}";

/// Scenario files under `dirs` (recursively; a file is taken as given), sorted.
pub fn scenario_files(dirs: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if p.is_file() {
            if p.extension().is_some_and(|e| e == "toml") {
                out.push(p.to_path_buf());
            }
            return;
        }
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        walk(d, &mut out);
    }
    out.sort();
    out
}
