//! Expectations, pure: does a step's result (or error) satisfy what the
//! scenario expected? Every mismatch says what was expected and what was
//! there (truncated by the one helper in `text`).

use crate::scenario::values::{self, Bindings};
use crate::scenario::{Check, Expect, ExpectResult, FieldCheck};
use crate::text::json_brief;
use serde_json::Value;

/// Check the step's outcome against `expect.result` and `expect.fields`.
/// `result` is the step's value, or the error it ended in (as JSON with
/// `code` and `message`). Returns the value later checks and `save` see.
pub fn check_result(
    expect: &Expect,
    result: Result<Value, Value>,
    b: &Bindings,
) -> Result<Value, String> {
    let value = match (&expect.result, result) {
        (ExpectResult::Ok, Ok(v)) => v,
        (ExpectResult::Ok, Err(e)) => {
            return Err(format!("expected success, got error {}", json_brief(&e)))
        }
        (ExpectResult::Any, Ok(v)) | (ExpectResult::Any, Err(v)) => v,
        (ExpectResult::Error { .. }, Ok(v)) => {
            return Err(format!(
                "expected an error, got success: {}",
                json_brief(&v)
            ))
        }
        (ExpectResult::Error { code, message }, Err(e)) => {
            if let Some(c) = code {
                if e["code"].as_i64() != Some(*c) {
                    return Err(format!("expected error code {c}, got {}", json_brief(&e)));
                }
            }
            if let Some(m) = message {
                let text = e["message"].as_str().unwrap_or("");
                if !regex::Regex::new(m)
                    .map(|r| r.is_match(text))
                    .unwrap_or(false)
                {
                    return Err(format!(
                        "expected error message matching /{m}/, got {}",
                        json_brief(&e)
                    ));
                }
            }
            e
        }
    };
    for fc in &expect.fields {
        check_field(fc, &value, b)?;
    }
    Ok(value)
}

/// One `{ path, equals|matches|count|exists }` against a value.
pub fn check_field(fc: &FieldCheck, value: &Value, b: &Bindings) -> Result<(), String> {
    let got = fc.path.lookup(value);
    let shown = |g: Option<&Value>| {
        g.map_or_else(
            || format!("nothing (the result: {})", json_brief(value)),
            json_brief,
        )
    };
    match &fc.check {
        Check::Exists(want) => {
            if got.is_some() != *want {
                let verb = if *want { "exist" } else { "not exist" };
                return Err(format!(
                    "expected `{}` to {verb}, got {}",
                    fc.path,
                    shown(got)
                ));
            }
        }
        Check::Equals(want) => {
            let want = values::resolve(want, b).map_err(|e| e.to_string())?;
            if got != Some(&want) {
                return Err(format!(
                    "expected `{}` == {}, got {}",
                    fc.path,
                    json_brief(&want),
                    shown(got)
                ));
            }
        }
        Check::Matches(re) => {
            let text = match got {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => {
                    return Err(format!(
                        "expected `{}` to match /{re}/, got {}",
                        fc.path,
                        shown(None)
                    ))
                }
            };
            if !regex::Regex::new(re)
                .map(|r| r.is_match(&text))
                .unwrap_or(false)
            {
                return Err(format!(
                    "expected `{}` to match /{re}/, got {}",
                    fc.path,
                    crate::text::truncate(&format!("{text:?}"), 300)
                ));
            }
        }
        Check::Count(n) => {
            let len = match got {
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(o)) => o.len(),
                _ => {
                    return Err(format!(
                        "expected `{}` to be a list of {n}, got {}",
                        fc.path,
                        shown(got)
                    ))
                }
            };
            if len as u64 != *n {
                return Err(format!(
                    "expected {n} entries in `{}`, got {len}: {}",
                    fc.path,
                    shown(got)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::values::PathExpr;
    use serde_json::json;

    fn fc(path: &str, check: Check) -> FieldCheck {
        FieldCheck {
            path: PathExpr::parse(path).unwrap(),
            check,
        }
    }

    #[test]
    fn field_checks_explain_themselves() {
        let v = json!({"channels": [{"state": "CHANNELD_NORMAL"}]});
        let b = Bindings::new();
        assert!(check_field(&fc("channels", Check::Count(1)), &v, &b).is_ok());
        assert!(check_field(
            &fc("channels[0].state", Check::Matches("NORMAL".into())),
            &v,
            &b
        )
        .is_ok());
        let e = check_field(
            &fc("channels[0].state", Check::Equals(json!("ONCHAIN"))),
            &v,
            &b,
        )
        .unwrap_err();
        assert!(
            e.contains("expected `channels[0].state` == \"ONCHAIN\", got \"CHANNELD_NORMAL\""),
            "{e}"
        );
    }

    /// The bug report: a `count` mismatch did not show the list, so users
    /// wrote a deliberately wrong `equals` to see it.
    #[test]
    fn every_mismatch_shows_what_was_there() {
        let v = json!({"invoices": [{"label": "a"}, {"label": "b"}], "id": "02ab"});
        let b = Bindings::new();
        let e = check_field(&fc("invoices", Check::Count(3)), &v, &b).unwrap_err();
        assert!(
            e.contains("got 2: [{\"label\":\"a\"},{\"label\":\"b\"}]"),
            "{e}"
        );
        let e = check_field(&fc("nope", Check::Exists(true)), &v, &b).unwrap_err();
        assert!(e.contains("got nothing (the result: {\"invoices\""), "{e}");
        let e = check_field(&fc("id", Check::Exists(false)), &v, &b).unwrap_err();
        assert!(e.contains("got \"02ab\""), "{e}");
        let e = check_field(&fc("id", Check::Matches("^03".into())), &v, &b).unwrap_err();
        assert!(e.contains("got \"02ab\""), "{e}");
        let e = check_field(&fc("id", Check::Count(1)), &v, &b).unwrap_err();
        assert!(e.contains("a list of 1, got \"02ab\""), "{e}");
        let long = json!({"x": "y".repeat(5000)});
        let e = check_field(&fc("x", Check::Equals(json!("z"))), &long, &b).unwrap_err();
        assert!(e.len() < 700 && e.ends_with('…'), "{}", e.len());
    }

    #[test]
    fn errors_are_matched_by_code_and_message() {
        let b = Bindings::new();
        let expect = Expect {
            result: ExpectResult::Error {
                code: Some(-32601),
                message: Some("deprecated".into()),
            },
            ..Default::default()
        };
        let err = json!({"code": -32601, "message": "Command \"keysend\" is deprecated"});
        assert!(check_result(&expect, Err(err), &b).is_ok());
        let e = check_result(&expect, Err(json!({"code": -1, "message": "x"})), &b).unwrap_err();
        assert!(
            e.contains("expected error code -32601, got {\"code\":-1"),
            "{e}"
        );
        let e = check_result(&expect, Ok(json!({"ok": 1})), &b).unwrap_err();
        assert!(e.contains("got success: {\"ok\":1}"), "{e}");
        let e = check_result(&Expect::default(), Err(json!({"code": 205})), &b).unwrap_err();
        assert!(
            e.contains("expected success, got error {\"code\":205}"),
            "{e}"
        );
    }
}
