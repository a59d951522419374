//! TOML text → [`Scenario`], pure. Every error carries `file:line:col`,
//! the offending key and what was expected; unknown keys and steps are
//! errors, never ignored.

use super::model::*;
use crate::options::XpayMode;
use serde_json::Value;
use std::ops::Range;
use std::time::Duration;

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

/// An owned TOML value with its byte span.
#[derive(Debug, Clone)]
pub(crate) struct Tv {
    pub span: Range<usize>,
    pub kind: TvKind,
}

#[derive(Debug, Clone)]
pub(crate) enum TvKind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Tv>),
    Table(Vec<(String, Range<usize>, Tv)>),
}

impl Tv {
    fn type_name(&self) -> &'static str {
        match self.kind {
            TvKind::Str(_) => "a string",
            TvKind::Int(_) => "an integer",
            TvKind::Float(_) => "a float",
            TvKind::Bool(_) => "a boolean",
            TvKind::Datetime(_) => "a datetime",
            TvKind::Array(_) => "an array",
            TvKind::Table(_) => "a table",
        }
    }

    /// As JSON (for RPC params and expected values).
    pub fn to_json(&self) -> Value {
        match &self.kind {
            TvKind::Str(s) | TvKind::Datetime(s) => Value::String(s.clone()),
            TvKind::Int(i) => Value::from(*i),
            TvKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            TvKind::Bool(b) => Value::Bool(*b),
            TvKind::Array(a) => Value::Array(a.iter().map(Tv::to_json).collect()),
            TvKind::Table(t) => {
                Value::Object(t.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

fn convert(v: toml::Spanned<toml::de::DeValue<'_>>) -> Result<Tv, (Range<usize>, String)> {
    use toml::de::DeValue;
    let span = v.span();
    let kind = match v.into_inner() {
        DeValue::String(s) => TvKind::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let text = i.as_str().replace('_', "");
            let n = i64::from_str_radix(
                text.trim_start_matches("0x")
                    .trim_start_matches("0o")
                    .trim_start_matches("0b"),
                i.radix(),
            )
            .map_err(|_| {
                (
                    span.clone(),
                    format!("integer `{}` does not fit in 64 bits", i.as_str()),
                )
            })?;
            TvKind::Int(n)
        }
        DeValue::Float(f) => TvKind::Float(
            f.as_str()
                .replace('_', "")
                .parse()
                .map_err(|_| (span.clone(), format!("bad float `{}`", f.as_str())))?,
        ),
        DeValue::Boolean(b) => TvKind::Bool(b),
        DeValue::Datetime(d) => TvKind::Datetime(d.to_string()),
        DeValue::Array(a) => TvKind::Array(a.into_iter().map(convert).collect::<Result<_, _>>()?),
        DeValue::Table(t) => {
            let mut entries = Vec::new();
            for (k, v) in t.into_iter() {
                let kspan = k.span();
                entries.push((k.into_inner().into_owned(), kspan, convert(v)?));
            }
            // File order, not the map's key order.
            entries.sort_by_key(|(_, ks, _)| ks.start);
            TvKind::Table(entries)
        }
    };
    // Array-of-tables entries come without a useful span of their own:
    // locate them by their first key.
    let span = match &kind {
        TvKind::Table(e) if span.is_empty() || span.start == 0 => match e.first() {
            Some((_, ks, _)) => ks.start..span.end.max(ks.end),
            None => span,
        },
        _ => span,
    };
    Ok(Tv { span, kind })
}

/// Positions in the source, for turning spans into line:col.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Location { line, column }
    }
    fn error(
        &self,
        span: &Range<usize>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let loc = self.location(span.start);
        ScenarioError {
            file: self.file.to_string(),
            line: loc.line,
            column: loc.column,
            key: key.map(String::from),
            message: message.into(),
        }
    }
}

/// Reads one TOML table, tracking which keys were used so that any key
/// left over is reported as unknown, with the list of keys that fit.
struct Fields<'s, 'a> {
    src: &'s Source<'a>,
    span: Range<usize>,
    /// e.g. "step 3 (`keysend`)", for messages.
    context: String,
    entries: Vec<(String, Range<usize>, Tv)>,
    allowed: Vec<&'static str>,
}

type R<T> = Result<T, ScenarioError>;

impl<'s, 'a> Fields<'s, 'a> {
    fn new(src: &'s Source<'a>, tv: &Tv, context: impl Into<String>) -> R<Self> {
        let context = context.into();
        match &tv.kind {
            TvKind::Table(entries) => Ok(Fields {
                src,
                span: tv.span.clone(),
                context,
                entries: entries.clone(),
                allowed: vec![],
            }),
            _ => Err(src.error(
                &tv.span,
                None,
                format!("{context} must be a table, found {}", tv.type_name()),
            )),
        }
    }

    fn take(&mut self, key: &'static str) -> Option<Tv> {
        self.allowed.push(key);
        let i = self.entries.iter().position(|(k, _, _)| k == key)?;
        Some(self.entries.remove(i).2)
    }

    fn err(&self, tv: &Tv, key: &str, msg: impl Into<String>) -> ScenarioError {
        self.src.error(
            &tv.span,
            Some(key),
            format!("{}: {}", self.context, msg.into()),
        )
    }

    fn required<T>(&mut self, key: &'static str, f: impl Fn(&mut Self, &Tv) -> R<T>) -> R<T> {
        match self.take(key) {
            Some(tv) => f(self, &tv),
            None => {
                // A typo of this very key is the likelier story.
                if let Some((k, span, _)) = self
                    .entries
                    .iter()
                    .find(|(k, _, _)| suggest(k, &[key]).is_some())
                {
                    return Err(self.src.error(
                        span,
                        Some(k),
                        format!("{}: unknown key (did you mean `{key}`?)", self.context),
                    ));
                }
                Err(self.src.error(
                    &self.span,
                    Some(key),
                    format!("{}: missing required key `{key}`", self.context),
                ))
            }
        }
    }
    fn optional<T>(
        &mut self,
        key: &'static str,
        f: impl Fn(&mut Self, &Tv) -> R<T>,
    ) -> R<Option<T>> {
        match self.take(key) {
            Some(tv) => f(self, &tv).map(Some),
            None => Ok(None),
        }
    }

    fn string(&mut self, key: &'static str) -> R<String> {
        self.required(key, |s, tv| s.as_string(tv, key))
    }
    fn opt_string(&mut self, key: &'static str) -> R<Option<String>> {
        self.optional(key, |s, tv| s.as_string(tv, key))
    }
    fn as_string(&self, tv: &Tv, key: &str) -> R<String> {
        match &tv.kind {
            TvKind::Str(s) => Ok(s.clone()),
            _ => Err(self.err(
                tv,
                key,
                format!("expected a string, found {}", tv.type_name()),
            )),
        }
    }
    fn opt_u64(&mut self, key: &'static str) -> R<Option<u64>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Int(i) if i >= 0 => Ok(i as u64),
            _ => Err(s.err(
                tv,
                key,
                format!("expected a non-negative integer, found {}", tv.type_name()),
            )),
        })
    }
    fn opt_i64(&mut self, key: &'static str) -> R<Option<i64>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Int(i) => Ok(i),
            _ => Err(s.err(
                tv,
                key,
                format!("expected an integer, found {}", tv.type_name()),
            )),
        })
    }
    fn opt_bool(&mut self, key: &'static str) -> R<Option<bool>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Bool(b) => Ok(b),
            _ => Err(s.err(
                tv,
                key,
                format!("expected true or false, found {}", tv.type_name()),
            )),
        })
    }
    fn opt_seconds(&mut self, key: &'static str) -> R<Option<f64>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Int(i) if i > 0 => Ok(i as f64),
            TvKind::Float(f) if f > 0.0 && f.is_finite() && f < 1e7 => Ok(f),
            _ => Err(s.err(tv, key, "expected a positive number of seconds")),
        })
    }
    /// A value that may be templated: any TOML value, as JSON.
    fn value(&mut self, key: &'static str) -> R<Value> {
        self.required(key, |_, tv| Ok(tv.to_json()))
    }
    fn opt_value(&mut self, key: &'static str) -> R<Option<Value>> {
        self.optional(key, |_, tv| Ok(tv.to_json()))
    }
    fn string_list(&mut self, key: &'static str) -> R<Vec<String>> {
        Ok(self
            .optional(key, |s, tv| match &tv.kind {
                TvKind::Array(items) => items.iter().map(|i| s.as_string(i, key)).collect(),
                TvKind::Str(one) => Ok(vec![one.clone()]),
                _ => Err(s.err(
                    tv,
                    key,
                    format!("expected a list of strings, found {}", tv.type_name()),
                )),
            })?
            .unwrap_or_default())
    }

    /// Anything not taken is an unknown key.
    fn finish(self) -> R<()> {
        if let Some((k, span, _)) = self.entries.first() {
            let mut allowed = self.allowed.clone();
            allowed.sort();
            allowed.dedup();
            let hint = suggest(k, &allowed)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(self.src.error(
                span,
                Some(k),
                format!(
                    "{}: unknown key{hint}; expected one of: {}",
                    self.context,
                    allowed.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The closest allowed word, for typos.
fn suggest<'x>(word: &str, allowed: &[&'x str]) -> Option<&'x str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    allowed
        .iter()
        .map(|a| (distance(word, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, a)| a)
}

pub use super::model::STEP_KINDS;

pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Parse a scenario file's text. `file` is used only in messages.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source { file, text };
    let root = toml::de::DeTable::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        src.error(&span, None, format!("invalid TOML: {}", e.message()))
    })?;
    let root_span = root.span();
    let root = convert(toml::Spanned::new(
        root_span,
        toml::de::DeValue::Table(root.into_inner()),
    ))
    .map_err(|(span, msg)| src.error(&span, None, msg))?;
    let mut top = Fields::new(&src, &root, "scenario")?;

    let default_name = std::path::Path::new(file)
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
    let db = db_backend(&mut top)?;
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

    let nodes_declared = top.take("nodes");
    let mut nodes = Vec::new();
    if let Some(tv) = &nodes_declared {
        if let TvKind::Array(names) = &tv.kind {
            // `nodes = ["alice", "bob", "carol"]`: every node with the defaults.
            for n in names {
                let TvKind::Str(name) = &n.kind else {
                    return Err(src.error(
                        &n.span,
                        Some("nodes"),
                        "expected node names, or [nodes.NAME] tables",
                    ));
                };
                let empty = Tv {
                    span: n.span.clone(),
                    kind: TvKind::Table(vec![]),
                };
                nodes.push(parse_node(&src, name, &n.span, &empty)?);
            }
        } else {
            let t = Fields::new(&src, tv, "[nodes]")?;
            for (name, kspan, v) in &t.entries {
                nodes.push(parse_node(&src, name, kspan, v)?);
            }
        }
    } else {
        for n in ["alice", "bob"] {
            nodes.push(NodeDecl {
                name: n.into(),
                role: "candidate".into(),
                developer: true,
                xpay: XpayMode::Default,
                reconnect: false,
                options: vec![],
                db: None,
            });
        }
    }

    let topology = match top.take("topology") {
        None => None,
        Some(tv) => match &tv.kind {
            TvKind::Str(t) => {
                Some(topology_channels(t, &nodes).map_err(|m| top.err(&tv, "topology", m))?)
            }
            _ => {
                return Err(top.err(
                    &tv,
                    "topology",
                    "expected \"line\", \"triangle\" or \"star\"",
                ))
            }
        },
    };
    let declared_channels = match top.take("channels") {
        Some(tv) => match &tv.kind {
            TvKind::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| parse_channel(&src, c, i + 1))
                    .collect::<R<Vec<_>>>()?,
            ),
            _ => {
                return Err(top.err(
                    &tv,
                    "channels",
                    "expected an array of tables ([[channels]] or channels = [{ from = ..., to = ... }])",
                ))
            }
        },
        None => None,
    };
    let channels = match (topology, declared_channels) {
        // A declared channel between two nodes the topology joins overrides
        // that channel (amount, push, announce); others are added.
        (Some(mut generated), Some(declared)) => {
            for d in declared {
                match generated.iter_mut().find(|g| {
                    (g.from == d.from && g.to == d.to) || (g.from == d.to && g.to == d.from)
                }) {
                    Some(g) => *g = d,
                    None => generated.push(d),
                }
            }
            generated
        }
        (Some(generated), None) => generated,
        (None, Some(declared)) => declared,
        (None, None) if nodes_declared.is_none() => vec![ChannelDecl {
            location: Location::default(),
            from: "alice".into(),
            to: "bob".into(),
            amount_sat: 1_000_000,
            announce: true,
            push_msat: 0,
        }],
        (None, None) => vec![],
    };

    let steps = match top.take("steps") {
        Some(tv) => parse_steps(&src, &tv, "")?,
        None => vec![],
    };
    if let Some(f) = &from_fixture {
        // The fixture's channels are the scenario's; its nodes are named.
        let at = |l: Location| ScenarioError {
            file: file.to_string(),
            line: l.line,
            column: l.column,
            key: Some("from_fixture".into()),
            message: String::new(),
        };
        if nodes_declared.is_none() {
            return Err(ScenarioError { message: "scenario: with from_fixture, declare the fixture's nodes you use (`nodes = [\"alice\", \"bob\"]`, roles as usual)".into(), ..at(f.location) });
        }
        if !channels.is_empty() {
            return Err(ScenarioError { message: "scenario: with from_fixture, the channels are the fixture's: drop `channels` and `topology`".into(), ..at(f.location) });
        }
        if setup == Setup::Manual {
            return Err(ScenarioError {
                message: "scenario: `setup = \"manual\"` and from_fixture contradict each other"
                    .into(),
                ..at(f.location)
            });
        }
    }
    top.finish()?;
    Ok(Scenario {
        name,
        description,
        nodes,
        channels,
        setup,
        step_timeout,
        broken_log,
        steps,
        from_fixture,
        db,
        witness,
    })
}

/// `topology = "line" | "triangle" | "star"` over the nodes in declaration
/// order: a line joins each node to the next; a triangle is three nodes
/// joined in a ring; a star joins the first node to every other.
pub fn topology_channels(kind: &str, nodes: &[NodeDecl]) -> Result<Vec<ChannelDecl>, String> {
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let pairs: Vec<(&str, &str)> = match kind {
        "line" if names.len() >= 2 => names.windows(2).map(|w| (w[0], w[1])).collect(),
        "triangle" if names.len() == 3 => vec![
            (names[0], names[1]),
            (names[1], names[2]),
            (names[2], names[0]),
        ],
        "star" if names.len() >= 2 => names[1..].iter().map(|n| (names[0], *n)).collect(),
        "line" | "star" => {
            return Err(format!(
                "a {kind} needs at least two nodes, found {}",
                names.len()
            ))
        }
        "triangle" => {
            return Err(format!(
                "a triangle needs exactly three nodes, found {}",
                names.len()
            ))
        }
        other => {
            return Err(format!(
                "unknown topology `{other}`; expected \"line\", \"triangle\" or \"star\""
            ))
        }
    };
    Ok(pairs
        .into_iter()
        .map(|(from, to)| ChannelDecl {
            location: Location::default(),
            from: from.into(),
            to: to.into(),
            amount_sat: 1_000_000,
            announce: true,
            push_msat: 0,
        })
        .collect())
}

fn parse_node(src: &Source, name: &str, kspan: &Range<usize>, tv: &Tv) -> R<NodeDecl> {
    let mut f = Fields::new(src, tv, format!("node `{name}`"))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(src.error(
            kspan,
            Some(name),
            "node names are letters, digits, `-` and `_`",
        ));
    }
    let role = f.opt_string("role")?.unwrap_or_else(|| "candidate".into());
    let developer = f.opt_bool("developer")?.unwrap_or(true);
    let reconnect = f.opt_bool("reconnect")?.unwrap_or(false);
    let xpay = match f.take("xpay") {
        None => XpayMode::Default,
        Some(v) => match &v.kind {
            TvKind::Str(s) => XpayMode::parse(s)
                .ok_or_else(|| f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\""))?,
            _ => return Err(f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\"")),
        },
    };
    let db = db_backend(&mut f)?;
    // Options always carry a value (`--key=value`), booleans included:
    // lightningd options such as `xpay-handle-pay` take `true`/`false`.
    // Options without a value are listed in `flags`, so that nothing
    // decides from a value's type whether `=value` is sent.
    let mut options = Vec::new();
    if let Some(opts) = f.take("options") {
        let t = Fields::new(src, &opts, format!("node `{name}` options"))?;
        for (k, _, v) in &t.entries {
            let value = match &v.kind {
                TvKind::Bool(b) => b.to_string(),
                TvKind::Str(s) => s.clone(),
                TvKind::Int(i) => i.to_string(),
                TvKind::Float(x) => x.to_string(),
                _ => {
                    return Err(src.error(
                        &v.span,
                        Some(k),
                        "an option's value is a string, a number or a boolean (sent as `--key=value`); options that take no value go in `flags = [\"...\"]`",
                    ))
                }
            };
            options.push((k.clone(), Some(value)));
        }
    }
    let flags_span = tv_span_of_key(tv, "flags");
    for flag in f.string_list("flags")? {
        if flag.is_empty() || flag.starts_with('-') || flag.contains('=') {
            let span = flags_span.clone().unwrap_or(tv.span.clone());
            return Err(src.error(&span, Some("flags"), format!("`{flag}`: a flag is an option name without `--` and without a value, e.g. \"experimental-dual-fund\"")));
        }
        options.push((flag, None));
    }
    f.finish()?;
    Ok(NodeDecl {
        name: name.to_string(),
        role,
        developer,
        xpay,
        reconnect,
        options,
        db,
    })
}

/// `db = "sqlite" | "postgres"` in a node's table or at the top.
fn db_backend(f: &mut Fields<'_, '_>) -> R<Option<crate::options::DbBackend>> {
    match f.take("db") {
        None => Ok(None),
        Some(v) => match &v.kind {
            TvKind::Str(s) => crate::options::DbBackend::parse(s)
                .map(Some)
                .ok_or_else(|| f.err(&v, "db", "expected \"sqlite\" or \"postgres\"")),
            _ => Err(f.err(&v, "db", "expected \"sqlite\" or \"postgres\"")),
        },
    }
}

fn parse_channel(src: &Source, tv: &Tv, n: usize) -> R<ChannelDecl> {
    let mut f = Fields::new(src, tv, format!("channel {n}"))?;
    let c = ChannelDecl {
        location: src.location(tv.span.start),
        from: f.string("from")?,
        to: f.string("to")?,
        amount_sat: f.opt_u64("amount_sat")?.unwrap_or(1_000_000),
        announce: f.opt_bool("announce")?.unwrap_or(true),
        push_msat: f.opt_u64("push_msat")?.unwrap_or(0),
    };
    f.finish()?;
    Ok(c)
}

fn parse_steps(src: &Source, tv: &Tv, prefix: &str) -> R<Vec<Step>> {
    let TvKind::Array(items) = &tv.kind else {
        return Err(src.error(
            &tv.span,
            Some("steps"),
            "expected an array of tables ([[steps]])",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, s)| parse_step(src, s, &format!("{prefix}{}", i + 1)))
        .collect()
}

/// What the value of a step's kind key names in the compact form
/// (`{ keysend = "alice", ... }`, `{ mine = 6 }`).
fn head_key(kind: &str) -> &'static str {
    match kind {
        "mine" => "blocks",
        "sleep" => "seconds",
        "repeat" => "times",
        "bitcoin" => "method",
        "wait_mempool" => "count",
        _ => "node",
    }
}

/// The compact form, one step a line: the step kind is a key whose value
/// is the step's head (its node, or blocks/seconds/times/method/count).
/// Rewritten into the long form, with the spans of what was written, so
/// errors point at the same places in both forms.
fn expand_compact(src: &Source, tv: &Tv, number: &str) -> R<Tv> {
    let TvKind::Table(entries) = &tv.kind else {
        return Ok(tv.clone());
    };
    if entries.iter().any(|(k, _, _)| k == "do") {
        return Ok(tv.clone());
    }
    let kinds: Vec<&(String, Range<usize>, Tv)> = entries
        .iter()
        .filter(|(k, _, _)| STEP_KINDS.contains(&k.as_str()))
        .collect();
    match kinds.as_slice() {
        [] => Err(src.error(
            &tv.span,
            Some("do"),
            format!("step {number}: no step kind: write `do = \"KIND\"`, or the kind as a key (`{{ keysend = \"alice\", ... }}`); steps are: {}", STEP_KINDS.join(", ")),
        )),
        [(kind, kspan, head)] => {
            let head_name = head_key(kind);
            if let Some((_, span, _)) = entries.iter().find(|(k, _, _)| k == head_name) {
                return Err(src.error(span, Some(head_name), format!("step {number}: `{kind} = ...` already gives the {head_name}; drop `{head_name}`")));
            }
            let mut out = Vec::with_capacity(entries.len() + 1);
            for (k, ks, v) in entries {
                if k == kind {
                    out.push(("do".to_string(), kspan.clone(), Tv { span: kspan.clone(), kind: TvKind::Str(kind.clone()) }));
                    out.push((head_name.to_string(), head.span.clone(), head.clone()));
                } else {
                    out.push((k.clone(), ks.clone(), v.clone()));
                }
            }
            Ok(Tv { span: tv.span.clone(), kind: TvKind::Table(out) })
        }
        [(a, _, _), (b, bspan, _), ..] => Err(src.error(bspan, Some(b), format!("step {number}: one step per table, found `{a}` and `{b}`"))),
    }
}

/// Parameters `pay` and `keysend` pass through to their RPCs (from CLN's
/// request schemas, v24.11 to v26.06); anything else is an unknown key.
pub const PAY_PARAMS: &[&str] = &[
    "amount_msat",
    "label",
    "riskfactor",
    "maxfeepercent",
    "retry_for",
    "maxdelay",
    "exemptfee",
    "localinvreqid",
    "exclude",
    "maxfee",
    "description",
    "partial_msat",
];
pub const KEYSEND_PARAMS: &[&str] = &[
    "label",
    "maxfeepercent",
    "retry_for",
    "maxdelay",
    "exemptfee",
    "routehints",
    "extratlvs",
    "maxfee",
];

fn passthrough(f: &mut Fields, keys: &[&'static str]) -> R<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for k in keys {
        if let Some(v) = f.opt_value(k)? {
            out.insert(k.to_string(), v);
        }
    }
    Ok(out)
}

fn parse_step(src: &Source, tv: &Tv, number: &str) -> R<Step> {
    let tv = &expand_compact(src, tv, number)?;
    let mut f = Fields::new(src, tv, format!("step {number}"))?;
    let kind = f.string("do")?;
    if !STEP_KINDS.contains(&kind.as_str()) {
        let hint = suggest(&kind, STEP_KINDS)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let span = tv_span_of_key(tv, "do").unwrap_or(tv.span.clone());
        return Err(src.error(
            &span,
            Some("do"),
            format!(
                "step {number}: unknown step `{kind}`{hint}; steps are: {}",
                STEP_KINDS.join(", ")
            ),
        ));
    }
    f.context = format!("step {number} (`{kind}`)");
    let label = f.opt_string("name")?.unwrap_or_else(|| kind.clone());
    let save = f.opt_string("save")?;
    let timeout = f.opt_seconds("timeout")?.map(Duration::from_secs_f64);
    let soft = f.opt_bool("soft")?.unwrap_or(false);
    let expect = match f.take("expect") {
        Some(e) => parse_expect(src, &e, number)?,
        None => Expect::default(),
    };
    let node = |f: &mut Fields| f.string("node");
    use Action::*;
    let action = match kind.as_str() {
        "fund" => Fund {
            node: node(&mut f)?,
        },
        "connect" => Connect {
            node: node(&mut f)?,
            peer: f.string("peer")?,
        },
        "open_channel" => OpenChannel {
            node: node(&mut f)?,
            peer: f.string("peer")?,
            amount_sat: f.opt_u64("amount_sat")?.unwrap_or(1_000_000),
            announce: f.opt_bool("announce")?.unwrap_or(true),
            push_msat: f.opt_u64("push_msat")?.unwrap_or(0),
        },
        "mine" => Mine {
            blocks: f.opt_u64("blocks")?.unwrap_or(1),
        },
        "wait_channel" => WaitChannel {
            node: node(&mut f)?,
            peer: f.string("peer")?,
            state: f
                .opt_string("state")?
                .unwrap_or_else(|| "CHANNELD_NORMAL".into()),
        },
        "invoice" => Invoice {
            node: node(&mut f)?,
            amount_msat: f.value("amount_msat")?,
            label: f.opt_value("label")?,
            description: f.opt_value("description")?,
        },
        "pay" => {
            let node = node(&mut f)?;
            let bolt11 = f.value("bolt11")?;
            let xpay = match f.take("xpay") {
                None => None,
                Some(v) => Some(match &v.kind {
                    TvKind::Str(s) => XpayMode::parse(s).ok_or_else(|| {
                        f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\"")
                    })?,
                    _ => return Err(f.err(&v, "xpay", "expected \"on\", \"off\" or \"default\"")),
                }),
            };
            let params = passthrough(&mut f, PAY_PARAMS)?;
            Pay {
                node,
                bolt11,
                xpay,
                params,
            }
        }
        "keysend" => Keysend {
            node: node(&mut f)?,
            to: f.value("to")?,
            amount_msat: f.value("amount_msat")?,
            params: passthrough(&mut f, KEYSEND_PARAMS)?,
        },
        "close" => Close {
            node: node(&mut f)?,
            peer: f.string("peer")?,
            unilateral_after: f.opt_u64("unilateral_after")?,
        },
        "force_close" => ForceClose {
            node: node(&mut f)?,
            peer: f.string("peer")?,
        },
        "wait_swept" => WaitSwept {
            node: node(&mut f)?,
            max_blocks: f.opt_u64("max_blocks")?.unwrap_or(30),
        },
        "witness" => Witness {
            node: node(&mut f)?,
        },
        "bitcoin" => Bitcoin {
            method: f.string("method")?,
            params: f
                .optional("params", |s, tv| match &tv.kind {
                    TvKind::Array(_) => Ok(tv.to_json()),
                    _ => Err(s.err(
                        tv,
                        "params",
                        "expected a list of positional arguments, e.g. [\"${close.txid}\"]",
                    )),
                })?
                .unwrap_or(Value::Array(vec![])),
        },
        "wait_mempool" => WaitMempool {
            count: f.opt_u64("count")?.unwrap_or(1),
            txid: f.opt_value("txid")?,
        },
        "restart" => Restart {
            node: node(&mut f)?,
        },
        "upgrade" => Upgrade {
            node: node(&mut f)?,
            role: f.string("role")?,
        },
        "kill" => Kill {
            node: node(&mut f)?,
        },
        "start" => Start {
            node: node(&mut f)?,
        },
        "stop" => Stop {
            node: node(&mut f)?,
        },
        "wait_log" => WaitLog {
            node: node(&mut f)?,
            pattern: f.string("pattern")?,
        },
        "assert_log" => AssertLog {
            node: node(&mut f)?,
            pattern: f.string("pattern")?,
            present: f.opt_bool("present")?.unwrap_or(true),
        },
        "assert_alive" => AssertAlive {
            node: node(&mut f)?,
            alive: f.opt_bool("alive")?.unwrap_or(true),
        },
        "rpc" => Rpc {
            node: node(&mut f)?,
            method: f.string("method")?,
            params: f
                .opt_value("params")?
                .unwrap_or_else(|| Value::Object(Default::default())),
        },
        "raw" => {
            let node = node(&mut f)?;
            let request = f.required("request", |s, tv| match &tv.kind {
                TvKind::Table(_) => Ok(RawRequest::Json(tv.to_json())),
                TvKind::Str(text) => Ok(RawRequest::Text(text.clone())),
                _ => Err(s.err(
                    tv,
                    "request",
                    "expected a table (a JSON object) or a string (exact bytes)",
                )),
            })?;
            Raw { node, request }
        }
        "wait_rpc" => {
            let node = node(&mut f)?;
            let method = f.string("method")?;
            let params = f
                .opt_value("params")?
                .unwrap_or_else(|| Value::Object(Default::default()));
            let until = f.required("until", |_, tv| {
                parse_field_check(src, tv, &format!("step {number} `until`"))
            })?;
            WaitRpc {
                node,
                method,
                params,
                until,
            }
        }
        "check_db" => CheckDb {
            node: node(&mut f)?,
        },
        "sleep" => Sleep {
            seconds: f.opt_seconds("seconds")?.unwrap_or(1.0),
        },
        "repeat" => {
            let times = f.required("times", |s, tv| match tv.kind {
                TvKind::Int(i) if (1..=100_000).contains(&i) => Ok(i as u64),
                _ => Err(s.err(tv, "times", "expected an integer from 1 to 100000")),
            })?;
            let var = f.opt_string("var")?.unwrap_or_else(|| "i".into());
            let steps = f.required("steps", |_, tv| parse_steps(src, tv, &format!("{number}.")))?;
            Repeat { times, var, steps }
        }
        other => {
            return Err(src.error(
                &tv.span,
                Some("do"),
                format!("step {number}: `{other}` is listed as a step kind but has no parser"),
            ))
        }
    };
    f.finish()?;
    Ok(Step {
        label,
        location: src.location(tv.span.start),
        action,
        save,
        expect,
        timeout,
        soft,
    })
}

fn tv_span_of_key(tv: &Tv, key: &str) -> Option<Range<usize>> {
    match &tv.kind {
        TvKind::Table(e) => e
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v.span.clone()),
        _ => None,
    }
}

fn parse_expect(src: &Source, tv: &Tv, number: &str) -> R<Expect> {
    let mut f = Fields::new(src, tv, format!("step {number} `expect`"))?;
    let ok = f.opt_bool("ok")?;
    let error = f.take("error");
    let result = match (ok, error) {
        (Some(true), Some(e)) => {
            return Err(f.err(&e, "error", "`ok = true` and `error` contradict each other"))
        }
        (_, Some(e)) => {
            let mut ef = Fields::new(src, &e, format!("step {number} `expect.error`"))?;
            let code = ef.opt_i64("code")?;
            let message = ef.opt_string("message")?;
            if let Some(m) = &message {
                regex::Regex::new(m).map_err(|err| {
                    src.error(&e.span, Some("message"), format!("bad regex: {err}"))
                })?;
            }
            ef.finish()?;
            ExpectResult::Error { code, message }
        }
        (Some(false), None) => ExpectResult::Any,
        _ => ExpectResult::Ok,
    };
    let fields = match f.take("fields") {
        None => vec![],
        Some(tv) => match &tv.kind {
            TvKind::Array(items) => items
                .iter()
                .map(|i| parse_field_check(src, i, &format!("step {number} `expect.fields`")))
                .collect::<R<_>>()?,
            _ => {
                return Err(f.err(
                    &tv,
                    "fields",
                    "expected an array of { path = ..., equals|matches|count|exists = ... }",
                ))
            }
        },
    };
    let alive = f.string_list("alive")?;
    let dead = f.string_list("dead")?;
    f.finish()?;
    Ok(Expect {
        result,
        fields,
        alive,
        dead,
    })
}

fn parse_field_check(src: &Source, tv: &Tv, context: &str) -> R<FieldCheck> {
    let mut f = Fields::new(src, tv, context)?;
    let path_span = tv_span_of_key(tv, "path").unwrap_or(tv.span.clone());
    let path = f.string("path")?;
    let parse_path = |p: &str, key: &str, span: &Range<usize>| {
        super::values::PathExpr::parse(p)
            .map_err(|e| src.error(span, Some(key), format!("{context}: {e}")))
    };
    let path = parse_path(&path, "path", &path_span)?;
    let sub_object = |f: &mut Fields, key: &'static str| {
        f.optional(key, |s, tv| match &tv.kind {
            TvKind::Table(_) => Ok(tv.to_json()),
            _ => Err(s.err(
                tv,
                key,
                "expected a table of fields, e.g. { state = \"ONCHAIN\" }",
            )),
        })
    };
    let filter = sub_object(&mut f, "where")?;
    let sum_span = tv_span_of_key(tv, "sum").unwrap_or(tv.span.clone());
    let sum = f
        .opt_string("sum")?
        .map(|p| parse_path(&p, "sum", &sum_span))
        .transpose()?;
    let mut checks = Vec::new();
    if let Some(v) = f.opt_value("equals")? {
        checks.push(Check::Equals(v));
    }
    if let Some(m) = f.opt_string("matches")? {
        regex::Regex::new(&m)
            .map_err(|e| src.error(&tv.span, Some("matches"), format!("bad regex: {e}")))?;
        checks.push(Check::Matches(m));
    }
    if let Some(c) = f.optional("count", |s, tv| match &tv.kind {
        TvKind::Int(i) if *i >= 0 => Ok(Check::Count(*i as u64)),
        TvKind::Str(t) if t.contains("${") => Ok(Check::CountOf(tv.to_json())),
        _ => Err(s.err(
            tv,
            "count",
            "expected a non-negative integer, or \"${...}\" that gives one",
        )),
    })? {
        checks.push(c);
    }
    if let Some(b) = f.opt_bool("exists")? {
        checks.push(Check::Exists(b));
    }
    if let Some(v) = f.opt_value("contains")? {
        checks.push(Check::Contains(v));
    }
    if let Some(v) = sub_object(&mut f, "any")? {
        checks.push(Check::Any(v));
    }
    if let Some(v) = sub_object(&mut f, "all")? {
        checks.push(Check::All(v));
    }
    let unique_span = tv_span_of_key(tv, "unique_by").unwrap_or(tv.span.clone());
    let unique = f.string_list("unique_by")?;
    if tv_span_of_key(tv, "unique_by").is_some() {
        if unique.is_empty() {
            return Err(src.error(
                &unique_span,
                Some("unique_by"),
                format!("{context}: name at least one field"),
            ));
        }
        checks.push(Check::UniqueBy(
            unique
                .iter()
                .map(|p| parse_path(p, "unique_by", &unique_span))
                .collect::<R<_>>()?,
        ));
    }
    f.finish()?;
    let one_of = CHECK_KEYS.join(", ");
    let check = match checks.len() {
        1 => checks.remove(0),
        0 => {
            return Err(src.error(
                &tv.span,
                Some("path"),
                format!("{context}: give one of {one_of}"),
            ))
        }
        _ => {
            return Err(src.error(
                &tv.span,
                Some("path"),
                format!("{context}: give only one of {one_of}"),
            ))
        }
    };
    if sum.is_some() && !matches!(check, Check::Equals(_)) {
        return Err(src.error(
            &sum_span,
            Some("sum"),
            format!("{context}: a `sum` is compared with `equals`"),
        ));
    }
    if (filter.is_some() || sum.is_some()) && matches!(check, Check::Exists(_) | Check::Matches(_))
    {
        return Err(src.error(&tv.span, Some("where"), format!("{context}: `where` and `sum` go with equals, count, contains, any, all or unique_by")));
    }
    Ok(FieldCheck {
        path,
        filter,
        sum,
        check,
    })
}
