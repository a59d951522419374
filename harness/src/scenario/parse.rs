//! TOML text → [`Scenario`], pure. Every error carries `file:line:col`,
//! the offending key and what was expected; unknown keys and steps are
//! errors, never ignored.
//!
//! Split along the file's shape: [`source`] (the TOML document with spans),
//! [`fields`] (one table read key by key), [`topology`] (nodes, channels,
//! topologies), [`steps`] (the compact form and each step's keys) and
//! [`checks`] (`expect` and field checks); this module reads the top level.

mod checks;
mod fields;
mod source;
mod steps;
mod topology;

use super::model::*;
use fields::Fields;
use source::{convert, Source, Tv, TvKind};
use std::time::Duration;

pub use super::model::STEP_KINDS;
pub use steps::{KEYSEND_PARAMS, PAY_PARAMS};
pub use topology::topology_channels;

/// A located scenario error: `file:line:col: key: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {}{message}", key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
}

pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Parse a scenario file's text. `file` is used only in messages.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source { file, text };
    let root = document(&src)?;
    let mut top = Fields::new(&src, &root, "scenario")?;
    // Keys are read in this order, which decides which of several errors
    // is reported first.
    let header = Header::read(&src, &mut top)?;
    let nodes_declared = top.take("nodes");
    let nodes = topology::nodes(&src, nodes_declared.as_ref())?;
    let channels = topology::channels(&src, &mut top, &nodes, nodes_declared.is_some())?;
    let steps = match top.take("steps") {
        Some(tv) => steps::parse_steps(&src, &tv, "")?,
        None => vec![],
    };
    if let Some(f) = &header.from_fixture {
        fixture_use(file, f, nodes_declared.is_some(), &channels, header.setup)?;
    }
    top.finish()?;
    Ok(Scenario {
        name: header.name,
        description: header.description,
        nodes,
        channels,
        setup: header.setup,
        step_timeout: header.step_timeout,
        broken_log: header.broken_log,
        steps,
        from_fixture: header.from_fixture,
        db: header.db,
        witness: header.witness,
    })
}

/// The whole file as one spanned table.
fn document(src: &Source) -> Result<Tv, ScenarioError> {
    let root = toml::de::DeTable::parse(src.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        src.error(&span, None, format!("invalid TOML: {}", e.message()))
    })?;
    let root_span = root.span();
    convert(toml::Spanned::new(
        root_span,
        toml::de::DeValue::Table(root.into_inner()),
    ))
    .map_err(|(span, msg)| src.error(&span, None, msg))
}

/// The top-level keys that are neither the network nor the steps.
struct Header {
    name: String,
    description: String,
    setup: Setup,
    step_timeout: Duration,
    broken_log: Vec<String>,
    db: Option<crate::options::DbBackend>,
    witness: bool,
    from_fixture: Option<FixtureRef>,
}

impl Header {
    fn read(src: &Source, top: &mut Fields) -> Result<Header, ScenarioError> {
        let default_name = std::path::Path::new(src.file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("scenario")
            .to_string();
        let name = top.opt_string("name")?.unwrap_or(default_name);
        let description = top.opt_string("description")?.unwrap_or_default();
        let setup = match top.take("setup") {
            None => Setup::Auto,
            Some(tv) => match &tv.kind {
                TvKind::Str(s) if s == "auto" => Setup::Auto,
                TvKind::Str(s) if s == "manual" => Setup::Manual,
                _ => return Err(top.err(&tv, "setup", "expected \"auto\" or \"manual\"")),
            },
        };
        let step_timeout = top
            .opt_seconds("step_timeout")?
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_STEP_TIMEOUT);
        let broken_log = top.string_list("broken_log")?;
        let db = topology::db_backend(top)?;
        let witness = top.opt_bool("witness")?.unwrap_or(false);
        let from_fixture = match top.take("from_fixture") {
            None => None,
            Some(tv) => match &tv.kind {
                TvKind::Str(n) if !n.is_empty() && !n.contains(['/', '\\']) && n != ".." => {
                    Some(FixtureRef {
                        name: n.clone(),
                        location: src.location(tv.span.start),
                        dir: None,
                    })
                }
                _ => {
                    return Err(top.err(
                        &tv,
                        "from_fixture",
                        "expected a fixture name (a directory under fixtures/)",
                    ))
                }
            },
        };
        Ok(Header {
            name,
            description,
            setup,
            step_timeout,
            broken_log,
            db,
            witness,
            from_fixture,
        })
    }
}

/// With `from_fixture`, the fixture's channels are the scenario's; its
/// nodes are named.
fn fixture_use(
    file: &str,
    f: &FixtureRef,
    nodes_declared: bool,
    channels: &[ChannelDecl],
    setup: Setup,
) -> Result<(), ScenarioError> {
    let at = |message: &str| ScenarioError {
        file: file.to_string(),
        line: f.location.line,
        column: f.location.column,
        key: Some("from_fixture".into()),
        message: message.into(),
    };
    if !nodes_declared {
        return Err(at("scenario: with from_fixture, declare the fixture's nodes you use (`nodes = [\"alice\", \"bob\"]`, roles as usual)"));
    }
    if !channels.is_empty() {
        return Err(at("scenario: with from_fixture, the channels are the fixture's: drop `channels` and `topology`"));
    }
    if setup == Setup::Manual {
        return Err(at(
            "scenario: `setup = \"manual\"` and from_fixture contradict each other",
        ));
    }
    Ok(())
}
