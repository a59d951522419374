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
    Unbound { expr: String, root: String, bound: String },
    #[error("`${{{expr}}}`: `{root}` has no `{path}` (its value: {value})")]
    NoSuchField { expr: String, root: String, path: String, value: String },
    #[error("unterminated `${{` in {0:?}")]
    Unterminated(String),
}

/// One parsed path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// `a.b[0].c` or `a.b.0.c` → segments. Empty segments are skipped.
pub fn parse_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        let key_end = rest.find('[').unwrap_or(rest.len());
        let key = &rest[..key_end];
        if !key.is_empty() {
            match key.parse::<usize>() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Key(key.to_string())),
            }
        }
        rest = &rest[key_end..];
        while let Some(close) = rest.find(']') {
            if let Ok(i) = rest[1..close].trim().parse() {
                out.push(Segment::Index(i));
            }
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Follow a path into a value.
pub fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = value;
    for seg in parse_path(path) {
        cur = match seg {
            Segment::Key(k) => cur.get(&k)?,
            Segment::Index(i) => cur.get(i)?,
        };
    }
    Some(cur)
}

/// The references in a template string (`${...}` bodies).
pub fn references(s: &str) -> Result<Vec<String>, BindError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| BindError::Unterminated(s.to_string()))?;
        out.push(after[..end].trim().to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// The bound name a reference starts with (`inv` in `inv.bolt11`).
pub fn root_of(expr: &str) -> &str {
    let end = expr.find(['.', '[']).unwrap_or(expr.len());
    &expr[..end]
}

fn eval(expr: &str, b: &Bindings) -> Result<Value, BindError> {
    let root = root_of(expr);
    let value = b.get(root).ok_or_else(|| BindError::Unbound {
        expr: expr.into(),
        root: root.into(),
        bound: b.keys().cloned().collect::<Vec<_>>().join(", "),
    })?;
    let path = expr[root.len()..].trim_start_matches('.');
    lookup(value, path).cloned().ok_or_else(|| BindError::NoSuchField {
        expr: expr.into(),
        root: root.into(),
        path: path.into(),
        value: truncate(&value.to_string(), 200),
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Resolve every template inside `v`.
pub fn resolve(v: &Value, b: &Bindings) -> Result<Value, BindError> {
    Ok(match v {
        Value::String(s) => resolve_str(s, b)?,
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve(x, b)).collect::<Result<_, _>>()?),
        Value::Object(o) => Value::Object(
            o.iter().map(|(k, x)| Ok((k.clone(), resolve(x, b)?))).collect::<Result<_, BindError>>()?,
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
    if refs.len() == 1 && trimmed.starts_with("${") && trimmed.ends_with('}') && trimmed[2..].find('}') == Some(trimmed.len() - 3) {
        return eval(&refs[0], b);
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| BindError::Unterminated(s.to_string()))?;
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
        b.insert("inv".into(), json!({"bolt11": "lnbcrt1...", "routes": [{"scid": "103x1x0"}]}));
        b.insert("i".into(), json!(3));
        b
    }

    #[test]
    fn a_whole_reference_keeps_its_type() {
        assert_eq!(resolve(&json!("${bob.port}"), &bindings()).unwrap(), json!(20001));
        assert_eq!(resolve(&json!("${inv.routes[0].scid}"), &bindings()).unwrap(), json!("103x1x0"));
        assert_eq!(resolve(&json!("${inv.routes.0.scid}"), &bindings()).unwrap(), json!("103x1x0"));
    }

    #[test]
    fn references_inside_text_interpolate() {
        let v = resolve(&json!({"label": "pay-${i}", "amount": "${i}000"}), &bindings()).unwrap();
        assert_eq!(v, json!({"label": "pay-3", "amount": "3000"}));
        assert_eq!(as_amount(&v["amount"]), Some(3000));
    }

    #[test]
    fn unbound_and_missing_fields_say_what_exists() {
        let e = resolve(&json!("${carol.id}"), &bindings()).unwrap_err();
        assert!(e.to_string().contains("nothing is bound to `carol`"), "{e}");
        let e = resolve(&json!("${bob.nope}"), &bindings()).unwrap_err();
        assert!(e.to_string().contains("has no `nope`"), "{e}");
        assert!(matches!(references("${oops"), Err(BindError::Unterminated(_))));
    }
}
