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

/// Does `got` contain `want`? Objects: every key of `want` is in `got`
/// with a value that contains `want`'s; lists: each of `want`'s elements is
/// contained by some element of `got`; anything else: equal (numbers and
/// amounts by value, so `1000` contains `"1000msat"`).
pub fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        (Value::Array(g), Value::Array(w)) => {
            w.iter().all(|wv| g.iter().any(|gv| contains(gv, wv)))
        }
        (g, w) if g == w => true,
        (g, w) => match (values::as_amount(g), values::as_amount(w)) {
            (Some(a), Some(b)) => a == b && (g.is_number() || w.is_number()),
            _ => false,
        },
    }
}

/// The elements a collection check looks at: a list's elements, or an
/// object's values.
fn elements(v: &Value) -> Option<Vec<&Value>> {
    match v {
        Value::Array(a) => Some(a.iter().collect()),
        Value::Object(o) => Some(o.values().collect()),
        _ => None,
    }
}

/// One `{ path, [where], [sum], equals|matches|count|exists|contains|any|all|unique_by }`
/// against a value.
pub fn check_field(fc: &FieldCheck, value: &Value, b: &Bindings) -> Result<(), String> {
    let resolve = |v: &Value| values::resolve(v, b).map_err(|e| e.to_string());
    let got = fc.path.lookup_with(value, b);
    let shown = |g: Option<&Value>| {
        g.map_or_else(
            || format!("nothing (the result: {})", json_brief(value)),
            json_brief,
        )
    };
    // `where` narrows a list to the elements that contain it; `sum` folds it.
    let narrowed;
    let (got, what) = match &fc.filter {
        None => (got, format!("`{}`", fc.path)),
        Some(w) => {
            let w = resolve(w)?;
            let list = got.and_then(elements).ok_or_else(|| {
                format!(
                    "expected `{}` to be a list to filter, got {}",
                    fc.path,
                    shown(got)
                )
            })?;
            narrowed = Value::Array(
                list.into_iter()
                    .filter(|e| contains(e, &w))
                    .cloned()
                    .collect(),
            );
            (
                Some(&narrowed),
                format!("`{}` where {}", fc.path, json_brief(&w)),
            )
        }
    };
    let summed;
    let (got, what) = match &fc.sum {
        None => (got, what),
        Some(field) => {
            let list = got.and_then(elements).ok_or_else(|| {
                format!("expected {what} to be a list to sum, got {}", shown(got))
            })?;
            let mut total: u64 = 0;
            for e in list {
                let v = field.lookup(e).and_then(values::as_amount).ok_or_else(|| {
                    format!(
                        "sum of `{field}` over {what}: {} has no amount at `{field}`",
                        json_brief(e)
                    )
                })?;
                total = total
                    .checked_add(v)
                    .ok_or_else(|| format!("sum of `{field}` over {what} overflows"))?;
            }
            summed = Value::from(total);
            (Some(&summed), format!("the sum of `{field}` over {what}"))
        }
    };
    match &fc.check {
        Check::Exists(want) => {
            if got.is_some() != *want {
                let verb = if *want { "exist" } else { "not exist" };
                return Err(format!("expected {what} to {verb}, got {}", shown(got)));
            }
        }
        Check::Equals(want) => {
            let want = resolve(want)?;
            let equal = match (got, fc.sum.is_some()) {
                // A sum is a number; the expected amount may be written "1000msat".
                (Some(g), true) => values::as_amount(g) == values::as_amount(&want),
                (g, false) => g == Some(&want),
                (None, true) => false,
            };
            if !equal {
                return Err(format!(
                    "expected {what} == {}, got {}",
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
                        "expected {what} to match /{re}/, got {}",
                        shown(None)
                    ))
                }
            };
            if !regex::Regex::new(re)
                .map(|r| r.is_match(&text))
                .unwrap_or(false)
            {
                return Err(format!(
                    "expected {what} to match /{re}/, got {}",
                    crate::text::truncate(&format!("{text:?}"), 300)
                ));
            }
        }
        Check::CountOf(v) => {
            let n = values::as_amount(&resolve(v)?)
                .ok_or_else(|| format!("count: {} is not a number", json_brief(v)))?;
            let resolved = FieldCheck {
                check: Check::Count(n),
                ..fc.clone()
            };
            return check_field(&resolved, value, b);
        }
        Check::Count(n) => {
            let Some(list) = got.and_then(elements) else {
                return Err(format!(
                    "expected {what} to be a list of {n}, got {}",
                    shown(got)
                ));
            };
            if list.len() as u64 != *n {
                return Err(format!(
                    "expected {n} entries in {what}, got {}: {}",
                    list.len(),
                    shown(got)
                ));
            }
        }
        Check::Contains(want) | Check::Any(want) | Check::All(want) => {
            let want = resolve(want)?;
            let Some(list) = got.and_then(elements) else {
                return Err(format!("expected {what} to be a list, got {}", shown(got)));
            };
            let (ok, verb) = match &fc.check {
                Check::All(_) => (
                    list.iter().all(|e| contains(e, &want)),
                    "every element to contain",
                ),
                _ => (
                    list.iter().any(|e| contains(e, &want)),
                    "an element containing",
                ),
            };
            if !ok {
                let offender = match &fc.check {
                    Check::All(_) => list
                        .iter()
                        .find(|e| !contains(e, &want))
                        .map(|e| format!("; this one does not: {}", json_brief(e)))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                return Err(format!(
                    "expected {what} to have {verb} {}, got {}{offender}",
                    json_brief(&want),
                    shown(got)
                ));
            }
        }
        Check::UniqueBy(fields) => {
            let Some(list) = got.and_then(elements) else {
                return Err(format!("expected {what} to be a list, got {}", shown(got)));
            };
            let mut seen: Vec<(Vec<Option<&Value>>, &Value)> = Vec::new();
            for e in list {
                let key: Vec<Option<&Value>> = fields.iter().map(|f| f.lookup(e)).collect();
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                    let names: Vec<String> = fields.iter().map(|f| format!("`{f}`")).collect();
                    return Err(format!(
                        "expected no two elements of {what} to share {}; these do: {} and {}",
                        names.join(", "),
                        json_brief(first),
                        json_brief(e)
                    ));
                }
                seen.push((key, e));
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
            filter: None,
            sum: None,
            check,
        }
    }

    fn channels() -> Value {
        json!({"channels": [
            {"peer_id": "02aa", "state": "ONCHAIN", "to_us_msat": 0, "short_channel_id": "1x1x0"},
            {"peer_id": "02bb", "state": "CHANNELD_NORMAL", "to_us_msat": 700, "short_channel_id": "2x1x0"},
            {"peer_id": "02cc", "state": "CHANNELD_NORMAL", "to_us_msat": "300msat", "short_channel_id": "2x1x0"},
        ]})
    }

    #[test]
    fn collections_contain_any_all_count_where_and_sum() {
        let mut b = Bindings::new();
        b.insert("bob".into(), json!({"id": "02bb"}));
        let v = channels();
        let ok = |fc: FieldCheck| check_field(&fc, &v, &b);
        assert!(ok(fc(
            "channels",
            Check::Contains(json!({"peer_id": "${bob.id}", "state": "CHANNELD_NORMAL"}))
        ))
        .is_ok());
        assert!(ok(fc("channels", Check::Any(json!({"state": "ONCHAIN"})))).is_ok());
        let e = ok(fc(
            "channels",
            Check::All(json!({"state": "CHANNELD_NORMAL"})),
        ))
        .unwrap_err();
        assert!(
            e.contains("every element to contain")
                && e.contains("this one does not: {\"peer_id\":\"02aa\""),
            "{e}"
        );
        let normal = |check| FieldCheck {
            filter: Some(json!({"state": "CHANNELD_NORMAL"})),
            ..fc("channels", check)
        };
        assert!(ok(normal(Check::Count(2))).is_ok());
        let e = ok(normal(Check::Count(3))).unwrap_err();
        assert!(
            e.contains(
                "expected 3 entries in `channels` where {\"state\":\"CHANNELD_NORMAL\"}, got 2"
            ),
            "{e}"
        );
        // Amounts as numbers and as "Nmsat" strings add up.
        let sum = |want| FieldCheck {
            sum: Some(PathExpr::parse("to_us_msat").unwrap()),
            ..normal(Check::Equals(want))
        };
        assert!(ok(sum(json!(1000))).is_ok());
        assert!(ok(sum(json!("1000msat"))).is_ok());
        let e = ok(sum(json!(999))).unwrap_err();
        assert!(
            e.contains("the sum of `to_us_msat` over `channels` where"),
            "{e}"
        );
        assert!(ok(fc(
            "channels[peer_id=${bob.id}].state",
            Check::Equals(json!("CHANNELD_NORMAL"))
        ))
        .is_ok());
        assert!(
            ok(fc(
                "channels",
                Check::Contains(json!([{"peer_id": "02cc"}]))
            ))
            .is_err(),
            "a list is not an element"
        );
    }

    #[test]
    fn unique_by_names_the_two_that_clash() {
        let v = channels();
        let b = Bindings::new();
        let by = |f: &[&str]| {
            fc(
                "channels",
                Check::UniqueBy(f.iter().map(|p| PathExpr::parse(p).unwrap()).collect()),
            )
        };
        assert!(check_field(&by(&["peer_id"]), &v, &b).is_ok());
        let e = check_field(&by(&["short_channel_id"]), &v, &b).unwrap_err();
        assert!(
            e.contains("share `short_channel_id`; these do: {\"peer_id\":\"02bb\"")
                && e.contains("\"peer_id\":\"02cc\""),
            "{e}"
        );
        assert!(check_field(&by(&["short_channel_id", "peer_id"]), &v, &b).is_ok());
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
