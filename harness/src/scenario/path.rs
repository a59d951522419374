//! Paths into JSON values (`channels[0].state`, `channels.0.state`,
//! `channels[peer_id=${bob.id}].state`), parsed once with a located error,
//! and the bindings they are followed in. Pure.
//!
//! The bottom of the language's values: `expr` (what goes inside `${...}`)
//! and `values` (templating) both build on this. A selector's value may
//! itself hold `${...}`, which only templating can resolve; a path is
//! therefore followed with a [`Selector`] supplied from above
//! (`values::selector_value`), so that no module imports one that imports it.

use serde_json::Value;
use std::collections::BTreeMap;

pub type Bindings = BTreeMap<String, Value>;

/// Turns a selector's value (`${bob.id}` in `[peer_id=${bob.id}]`) into the
/// text elements are compared with, against the bindings; `None` when it
/// does not resolve.
pub type Selector = fn(&str, &Bindings) -> Option<String>;

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// `[field=value]`: the first element of a list whose `field` is
    /// `value` (a string compared as text; `${...}` in it resolved first),
    /// because element order differs between versions.
    Select {
        field: String,
        value: String,
    },
}

/// A path into a JSON value, parsed once (in validation, with a located
/// error) so that evaluating it can never fail on syntax:
/// `channels[0].state`, `channels.0.state`, `a-b.c_d`,
/// `channels[peer_id=${bob.id}].state`, or `` (the value itself). A key
/// made of digits indexes an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathExpr {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path `{path}` at character {}: {message}", offset + 1)]
pub struct PathError {
    pub path: String,
    /// Byte offset of the problem in `path`.
    pub offset: usize,
    pub message: String,
}

impl PathExpr {
    pub fn parse(text: &str) -> Result<PathExpr, PathError> {
        let err = |offset: usize, message: &str| PathError {
            path: text.to_string(),
            offset,
            message: message.to_string(),
        };
        let mut segments = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        // Where a key may start: at the beginning, or after a `.`.
        let mut expect_key = true;
        while i < bytes.len() {
            match bytes[i] {
                b'[' => {
                    // The matching `]`: a selector's value may hold `${...}` with brackets.
                    let mut depth = 0usize;
                    let close = text[i..]
                        .char_indices()
                        .find(|&(_, c)| {
                            match c {
                                '[' => depth += 1,
                                ']' => depth -= 1,
                                _ => {}
                            }
                            depth == 0
                        })
                        .map(|(c, _)| i + c)
                        .ok_or_else(|| err(i, "`[` without a closing `]`"))?;
                    let inner = text[i + 1..close].trim();
                    if let Some((field, value)) = inner.split_once('=') {
                        let field = field.trim();
                        if field.is_empty()
                            || !field
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        {
                            return Err(err(
                                i + 1,
                                "expected `[field=value]` with a plain field name",
                            ));
                        }
                        segments.push(Segment::Select {
                            field: field.to_string(),
                            value: value.trim().to_string(),
                        });
                    } else {
                        let index = inner.parse::<usize>().map_err(|_| {
                            err(
                                i + 1,
                                "expected an index (a non-negative integer) or `field=value` between `[` and `]`",
                            )
                        })?;
                        segments.push(Segment::Index(index));
                    }
                    i = close + 1;
                    expect_key = false;
                }
                b']' => return Err(err(i, "`]` without an opening `[`")),
                b'.' => {
                    if expect_key && i > 0 {
                        return Err(err(i, "empty key between two `.`"));
                    }
                    if i + 1 == bytes.len() {
                        return Err(err(i, "the path ends with `.`"));
                    }
                    expect_key = true;
                    i += 1;
                }
                _ => {
                    if !expect_key {
                        return Err(err(i, "expected `.` or `[` after `]`"));
                    }
                    let end = text[i..]
                        .find(['.', '[', ']'])
                        .map_or(text.len(), |e| i + e);
                    let key = &text[i..end];
                    segments.push(match key.parse::<usize>() {
                        Ok(n) => Segment::Index(n),
                        Err(_) => Segment::Key(key.to_string()),
                    });
                    i = end;
                    expect_key = false;
                }
            }
        }
        Ok(PathExpr {
            text: text.to_string(),
            segments,
        })
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Follow the path, resolving selector values with `selector` against
    /// `b`.
    pub fn lookup_by<'v>(
        &self,
        value: &'v Value,
        b: &Bindings,
        selector: Selector,
    ) -> Option<&'v Value> {
        match self.walk_by(value, b, selector) {
            (n, v) if n == self.segments.len() => Some(v),
            _ => None,
        }
    }

    /// Follow the path as far as it goes: how many segments were followed
    /// and the value reached, so a message can say where a path that leads
    /// nowhere stopped (`channels[3]` when there are 2).
    pub fn walk_by<'v>(
        &self,
        value: &'v Value,
        b: &Bindings,
        selector: Selector,
    ) -> (usize, &'v Value) {
        let mut cur = value;
        for (n, seg) in self.segments.iter().enumerate() {
            let next = match seg {
                Segment::Key(k) => cur.get(k),
                Segment::Index(i) => cur.get(*i),
                Segment::Select { field, value } => {
                    selector(value, b).and_then(|want| select(cur, field, &want))
                }
            };
            match next {
                Some(v) => cur = v,
                None => return (n, cur),
            }
        }
        (self.segments.len(), cur)
    }

    /// The path's first `n` segments as text (`channels[0]`), for messages.
    pub fn prefix_text(&self, n: usize) -> String {
        let mut s = String::new();
        for seg in self.segments.iter().take(n) {
            match seg {
                Segment::Key(k) if s.is_empty() => s.push_str(k),
                Segment::Key(k) => {
                    s.push('.');
                    s.push_str(k)
                }
                Segment::Index(i) => s.push_str(&format!("[{i}]")),
                Segment::Select { field, value } => s.push_str(&format!("[{field}={value}]")),
            }
        }
        s
    }
}

/// `[field=want]`: the first element of a list whose `field` reads `want`
/// (a string as itself, anything else as its JSON text).
fn select<'v>(list: &'v Value, field: &str, want: &str) -> Option<&'v Value> {
    list.as_array()?.iter().find(|e| match e.get(field) {
        Some(Value::String(s)) => s == want,
        Some(other) => other.to_string().as_str() == want,
        None => false,
    })
}

impl std::fmt::Display for PathExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// An amount: an integer, or a string of digits (after templating),
/// optionally ending in `msat`.
pub fn as_amount(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().trim_end_matches("msat").parse().ok(),
        _ => None,
    }
}
