//! Bindings and templating: `${name.path}` anywhere a value goes. Pure.
//!
//! A string that is exactly one reference (`"${inv.bolt11}"`) becomes the
//! referenced JSON value, whatever its type; references inside a longer
//! string are interpolated as text (`"label-${i}"`).

use super::expr::{Expr, ExprError};
pub use super::path::{as_amount, Bindings, PathError, PathExpr, Segment};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("unterminated `${{` in {0:?}")]
    Unterminated(String),
    #[error("`${{{expr}}}`: {error}")]
    BadExpr { expr: String, error: String },
    #[error("`${{{expr}}}`: {error}")]
    Eval { expr: String, error: String },
}

/// Following a path with templating's selectors: `[field=${...}]` is
/// resolved against the bindings. (Defined here, above `expr`, because
/// resolving a selector evaluates an expression.)
impl PathExpr {
    /// Follow the path into a value, with no bindings: a selector matches
    /// its literal text (or an expression that needs no names).
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.lookup_with(value, &Bindings::new())
    }

    /// Follow the path, resolving `${...}` in selector values against `b`.
    pub fn lookup_with<'v>(&self, value: &'v Value, b: &Bindings) -> Option<&'v Value> {
        self.lookup_by(value, b, selector_value)
    }

    /// How far the path goes (see [`PathExpr::walk_by`]), selectors resolved against `b`.
    pub fn walk_with<'v>(&self, value: &'v Value, b: &Bindings) -> (usize, &'v Value) {
        self.walk_by(value, b, selector_value)
    }
}

/// A selector's value as the text elements are compared with (`${...}`
/// resolved); `None` when it does not resolve.
pub fn selector_value(value: &str, b: &Bindings) -> Option<String> {
    Some(match resolve_str(value, b).ok()? {
        Value::String(s) => s,
        other => other.to_string(),
    })
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
pub fn check_reference(expr: &str) -> Result<Expr, ExprError> {
    Expr::parse(expr)
}

fn eval(expr: &str, b: &Bindings) -> Result<Value, BindError> {
    let parsed = Expr::parse(expr).map_err(|e| BindError::BadExpr {
        expr: expr.into(),
        error: e.to_string(),
    })?;
    parsed
        .eval(b, selector_value)
        .map_err(|error| BindError::Eval {
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
    fn a_selector_value_is_resolved_before_elements_are_compared() {
        let mut b = bindings();
        b.insert(
            "peers".into(),
            json!({"channels": [{"peer_id": "02aa", "state": "ONCHAIN"}, {"peer_id": "02ab", "state": "CHANNELD_NORMAL"}]}),
        );
        assert_eq!(
            resolve(&json!("${peers.channels[peer_id=${bob.id}].state}"), &b).unwrap(),
            json!("CHANNELD_NORMAL")
        );
        let path = PathExpr::parse("channels[peer_id=${bob.id}].state").unwrap();
        assert_eq!(
            path.lookup_with(&b["peers"], &b),
            Some(&json!("CHANNELD_NORMAL"))
        );
        // Without bindings, the reference does not resolve and nothing matches.
        assert_eq!(path.lookup(&b["peers"]), None);
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
