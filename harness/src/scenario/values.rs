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
    #[error("`${{{expr}}}`: nothing is bound to `{root}` (bound: {bound})")]
    Unbound {
        expr: String,
        root: String,
        bound: String,
    },
    #[error("`${{{expr}}}`: `{root}` has no `{path}` (its value: {value})")]
    NoSuchField {
        expr: String,
        root: String,
        path: String,
        value: String,
    },
    #[error("unterminated `${{` in {0:?}")]
    Unterminated(String),
    #[error("`${{{expr}}}`: {error}")]
    BadPath { expr: String, error: PathError },
}

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path into a JSON value, parsed once (in validation, with a located
/// error) so that evaluating it can never fail on syntax:
/// `channels[0].state`, `channels.0.state`, `a-b.c_d`, or `` (the value
/// itself). A key made of digits indexes an array.
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
                    let close = text[i..]
                        .find(']')
                        .map(|c| i + c)
                        .ok_or_else(|| err(i, "`[` without a closing `]`"))?;
                    let inner = text[i + 1..close].trim();
                    let index = inner.parse::<usize>().map_err(|_| {
                        err(
                            i + 1,
                            "expected an index (a non-negative integer) between `[` and `]`",
                        )
                    })?;
                    segments.push(Segment::Index(index));
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

    /// Follow the path into a value.
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        let mut cur = value;
        for seg in &self.segments {
            cur = match seg {
                Segment::Key(k) => cur.get(k)?,
                Segment::Index(i) => cur.get(*i)?,
            };
        }
        Some(cur)
    }
}

impl std::fmt::Display for PathExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The references in a template string (`${...}` bodies).
pub fn references(s: &str) -> Result<Vec<String>, BindError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| BindError::Unterminated(s.to_string()))?;
        out.push(after[..end].trim().to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// The bound name a reference starts with (`inv` in `inv.bolt11`).
pub fn root_of(expr: &str) -> &str {
    let end = expr.find(['.', '[', ']']).unwrap_or(expr.len());
    &expr[..end]
}

/// Check a reference's path syntax (validation calls this, so that a run
/// never meets a bad path).
pub fn check_reference(expr: &str) -> Result<(), PathError> {
    let root = root_of(expr);
    PathExpr::parse(expr[root.len()..].trim_start_matches('.')).map(|_| ())
}

fn eval(expr: &str, b: &Bindings) -> Result<Value, BindError> {
    let root = root_of(expr);
    let value = b.get(root).ok_or_else(|| BindError::Unbound {
        expr: expr.into(),
        root: root.into(),
        bound: b.keys().cloned().collect::<Vec<_>>().join(", "),
    })?;
    let path = expr[root.len()..].trim_start_matches('.');
    let parsed = PathExpr::parse(path).map_err(|e| BindError::BadPath {
        expr: expr.into(),
        error: e,
    })?;
    parsed
        .lookup(value)
        .cloned()
        .ok_or_else(|| BindError::NoSuchField {
            expr: expr.into(),
            root: root.into(),
            path: path.into(),
            value: crate::text::truncate(&value.to_string(), 200),
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
    let refs = references(s)?;
    if refs.is_empty() {
        return Ok(Value::String(s.to_string()));
    }
    let trimmed = s.trim();
    if refs.len() == 1
        && trimmed.starts_with("${")
        && trimmed.ends_with('}')
        && trimmed[2..].find('}') == Some(trimmed.len() - 3)
    {
        return eval(&refs[0], b);
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| BindError::Unterminated(s.to_string()))?;
        match eval(after[..end].trim(), b)? {
            Value::String(x) => out.push_str(&x),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
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
            Err(BindError::BadPath { .. })
        ));
        assert!(check_reference("x.y[0]]").is_err());
        assert!(check_reference("inv.routes[0].scid").is_ok());
    }
}
