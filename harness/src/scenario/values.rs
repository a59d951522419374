//! Bindings and templating: `${name.path}` anywhere a value goes. Pure.
//!
//! A string that is exactly one reference (`"${inv.bolt11}"`) becomes the
//! referenced JSON value, whatever its type; references inside a longer
//! string are interpolated as text (`"label-${i}"`).

use serde_json::Value;
use std::collections::BTreeMap;

pub type Bindings = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("unterminated `${{` in {0:?}")]
    Unterminated(String),
    #[error("`${{{expr}}}`: {error}")]
    BadExpr { expr: String, error: String },
    #[error("`${{{expr}}}`: {error}")]
    Eval { expr: String, error: String },
}

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

    /// Follow the path into a value (selectors compare literally).
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.lookup_with(value, &Bindings::new())
    }

    /// Follow the path, resolving `${...}` in selector values against `b`.
    pub fn lookup_with<'v>(&self, value: &'v Value, b: &Bindings) -> Option<&'v Value> {
        match self.walk_with(value, b) {
            (n, v) if n == self.segments.len() => Some(v),
            _ => None,
        }
    }

    /// Follow the path as far as it goes: how many segments were followed
    /// and the value reached, so a message can say where a path that leads
    /// nowhere stopped (`channels[3]` when there are 2).
    pub fn walk_with<'v>(&self, value: &'v Value, b: &Bindings) -> (usize, &'v Value) {
        let mut cur = value;
        for (n, seg) in self.segments.iter().enumerate() {
            let next = match seg {
                Segment::Key(k) => cur.get(k),
                Segment::Index(i) => cur.get(*i),
                Segment::Select { field, value } => {
                    selector_value(value, b).and_then(|want| select(cur, field, &want))
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

/// A selector's value as the text elements are compared with (`${...}`
/// resolved); `None` when it does not resolve.
pub fn selector_value(value: &str, b: &Bindings) -> Option<String> {
    Some(match resolve_str(value, b).ok()? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

impl std::fmt::Display for PathExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The `${...}` bodies in a template string, with nested braces balanced
/// (a selector may hold a reference: `${peers.channels[peer_id=${bob.id}]}`).
pub fn references(s: &str) -> Result<Vec<String>, BindError> {
    Ok(spans(s)?
        .into_iter()
        .map(|(start, end)| s[start + 2..end - 1].trim().to_string())
        .collect())
}

/// Byte ranges of each top-level `${...}` (from `$` to the closing `}` inclusive).
fn spans(s: &str) -> Result<Vec<(usize, usize)>, BindError> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = s[from..].find("${") {
        let start = from + rel;
        let mut depth = 0usize;
        let mut end = None;
        for (i, c) in s[start + 1..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(start + 1 + i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| BindError::Unterminated(s.to_string()))?;
        out.push((start, end));
        from = end;
    }
    Ok(out)
}

/// Parse a reference's body (validation calls this, so that a run never
/// meets a bad expression). The names it reads are `.roots()`.
pub fn check_reference(expr: &str) -> Result<super::expr::Expr, super::expr::ExprError> {
    super::expr::Expr::parse(expr)
}

fn eval(expr: &str, b: &Bindings) -> Result<Value, BindError> {
    let parsed = super::expr::Expr::parse(expr).map_err(|e| BindError::BadExpr {
        expr: expr.into(),
        error: e.to_string(),
    })?;
    parsed.eval(b).map_err(|error| BindError::Eval {
        expr: expr.into(),
        error,
    })
}

/// Resolve every template inside `v`.
pub fn resolve(v: &Value, b: &Bindings) -> Result<Value, BindError> {
    Ok(match v {
        Value::String(s) => resolve_str(s, b)?,
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, b)).collect::<Result<_, _>>()?),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), resolve(x, b)?)))
                .collect::<Result<_, BindError>>()?,
        ),
        other => other.clone(),
    })
}

fn resolve_str(s: &str, b: &Bindings) -> Result<Value, BindError> {
    let spans = spans(s)?;
    if spans.is_empty() {
        return Ok(Value::String(s.to_string()));
    }
    // A string that is exactly one reference keeps the value's type.
    let lead = s.len() - s.trim_start().len();
    if spans.len() == 1 && spans[0] == (lead, s.trim_end().len()) {
        return eval(s[spans[0].0 + 2..spans[0].1 - 1].trim(), b);
    }
    let mut out = String::new();
    let mut last = 0;
    for (start, end) in spans {
        out.push_str(&s[last..start]);
        match eval(s[start + 2..end - 1].trim(), b)? {
            Value::String(x) => out.push_str(&x),
            other => out.push_str(&other.to_string()),
        }
        last = end;
    }
    out.push_str(&s[last..]);
    Ok(Value::String(out))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bindings() -> Bindings {
        let mut b = Bindings::new();
        b.insert("bob".into(), json!({"id": "02ab", "port": 20001}));
        b.insert(
            "inv".into(),
            json!({"bolt11": "lnbcrt1...", "routes": [{"scid": "103x1x0"}]}),
        );
        b.insert("i".into(), json!(3));
        b
    }

    #[test]
    fn a_whole_reference_keeps_its_type() {
        assert_eq!(
            resolve(&json!("${bob.port}"), &bindings()).unwrap(),
            json!(20001)
        );
        assert_eq!(
            resolve(&json!("${inv.routes[0].scid}"), &bindings()).unwrap(),
            json!("103x1x0")
        );
        assert_eq!(
            resolve(&json!("${inv.routes.0.scid}"), &bindings()).unwrap(),
            json!("103x1x0")
        );
    }

    #[test]
    fn references_inside_text_interpolate() {
        let v = resolve(
            &json!({"label": "pay-${i}", "amount": "${i}000"}),
            &bindings(),
        )
        .unwrap();
        assert_eq!(v, json!({"label": "pay-3", "amount": "3000"}));
        assert_eq!(as_amount(&v["amount"]), Some(3000));
    }

    #[test]
    fn unbound_and_missing_fields_say_what_exists() {
        let e = resolve(&json!("${carol.id}"), &bindings()).unwrap_err();
        assert!(e.to_string().contains("nothing is bound to `carol`"), "{e}");
        let e = resolve(&json!("${bob.nope}"), &bindings()).unwrap_err();
        assert!(e.to_string().contains("has no `nope`"), "{e}");
        assert!(matches!(
            references("${oops"),
            Err(BindError::Unterminated(_))
        ));
    }

    #[test]
    fn paths_parse_once_with_a_located_error() {
        let p = PathExpr::parse("channels[0].state").unwrap();
        assert_eq!(
            p.segments(),
            [
                Segment::Key("channels".into()),
                Segment::Index(0),
                Segment::Key("state".into())
            ]
        );
        assert_eq!(
            PathExpr::parse("channels.0.state").unwrap().segments(),
            p.segments()
        );
        assert_eq!(PathExpr::parse("").unwrap().segments(), []);
        assert_eq!(
            PathExpr::parse("[1][2]").unwrap().segments(),
            [Segment::Index(1), Segment::Index(2)]
        );
        // The path from the bug report that used to panic the harness (exit 101).
        let e = PathExpr::parse("id[0]]").unwrap_err();
        assert_eq!(
            (e.offset, e.message.as_str()),
            (5, "`]` without an opening `[`")
        );
        for bad in ["a..b", "a.", "[x]", "a[", "a]b", "a[0]b", "[-1]", "]"] {
            assert!(PathExpr::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            resolve(&json!("${inv.routes[0]]}"), &bindings()),
            Err(BindError::BadExpr { .. })
        ));
        assert!(check_reference("x.y[0]]").is_err());
        let sel = PathExpr::parse("channels[peer_id=${bob.id}].state").unwrap();
        assert_eq!(
            sel.segments()[1],
            Segment::Select {
                field: "peer_id".into(),
                value: "${bob.id}".into()
            }
        );
        assert!(PathExpr::parse("channels[=x]").is_err());
        assert!(check_reference("inv.routes[0].scid").is_ok());
    }
}
