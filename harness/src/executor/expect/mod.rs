//! Expectations, pure: does a step's result (or error) satisfy what the
//! scenario expected? Every mismatch says what was expected and shows the
//! part that failed: the element and the field a check failed on
//! (`[2].status = "pending" (label "inv-2")`), the path and the value where
//! two values differ, or where a path that leads nowhere stopped. Never a
//! prefix of the whole value: a prefix hides whatever comes after a long
//! field (a `bolt11` before the `status` a `where` was about). Lengths are
//! bounded by the helpers in `text`, which cut the context (the whole
//! value, other elements) and keep the failing field.

mod field;

pub use field::check_field;

use crate::scenario::values::{self, Bindings, PathExpr, Segment};
use crate::scenario::{Expect, ExpectResult};
use crate::text::{join_within, json_brief, json_within};
use serde_json::Value;

/// Room for the value a message is about (the failing field's).
const VALUE_MAX: usize = 300;
/// Room for the value around it, shown for context.
const CONTEXT_MAX: usize = 200;
/// Room for an element's identifying field: a node id (66 hex) fits whole,
/// so the redactor still recognises it when `--repeat` groups failures.
const ID_MAX: usize = 80;
/// Room for a list of elements in one message.
const LIST_MAX: usize = 600;

/// Fields that name an element of lightningd's answers, in the order one is
/// picked to show beside the element's index.
const ID_FIELDS: &[&str] = &[
    "label",
    "short_channel_id",
    "payment_hash",
    "peer_id",
    "txid",
    "channel_id",
    "id",
];

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
            return Err(format!("expected success, got error {}", error_brief(&e)))
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
                    return Err(format!("expected error code {c}, got {}", error_brief(&e)));
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
                        error_brief(&e)
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

/// An RPC error as a message shows it: its code and message first (what
/// `expect.error` is about), then its `data`, which can be long.
fn error_brief(e: &Value) -> String {
    let (Some(code), message) = (e.get("code"), e.get("message")) else {
        return json_brief(e);
    };
    let mut s = format!("code {code}");
    if let Some(m) = message {
        s.push_str(&format!(": {}", json_within(m, VALUE_MAX)));
    }
    if let Some(d) = e.get("data") {
        s.push_str(&format!(" (data: {})", json_within(d, CONTEXT_MAX)));
    }
    s
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

/// Where `got` stops containing `want`: the path inside `got` (`.state`,
/// `.amount.msat`, or empty for `got` itself) and what is there (`None`:
/// nothing). `None` when it does contain it.
fn why_not_contained<'v>(got: &'v Value, want: &Value) -> Option<(String, Option<&'v Value>)> {
    if contains(got, want) {
        return None;
    }
    if let (Value::Object(g), Value::Object(w)) = (got, want) {
        for (k, wv) in w {
            match g.get(k) {
                None => return Some((format!(".{k}"), None)),
                Some(gv) => {
                    if let Some((p, v)) = why_not_contained(gv, wv) {
                        return Some((format!(".{k}{p}"), v));
                    }
                }
            }
        }
    }
    Some((String::new(), Some(got)))
}

/// The first place two values differ: the path inside them and what each
/// has there (`None`: nothing). `None` when they are equal.
type Difference<'a> = (String, Option<&'a Value>, Option<&'a Value>);
fn first_difference<'a>(got: &'a Value, want: &'a Value) -> Option<Difference<'a>> {
    if got == want {
        return None;
    }
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    None => return Some((format!(".{k}"), None, Some(wv))),
                    Some(gv) => {
                        if let Some((p, a, b)) = first_difference(gv, wv) {
                            return Some((format!(".{k}{p}"), a, b));
                        }
                    }
                }
            }
            g.iter()
                .find(|(k, _)| !w.contains_key(*k))
                .map(|(k, gv)| (format!(".{k}"), Some(gv), None))
        }
        (Value::Array(g), Value::Array(w)) => {
            (0..g.len().max(w.len())).find_map(|i| match (g.get(i), w.get(i)) {
                (Some(gv), Some(wv)) => {
                    first_difference(gv, wv).map(|(p, a, b)| (format!("[{i}]{p}"), a, b))
                }
                (a, b) => Some((format!("[{i}]"), a, b)),
            })
        }
        _ => Some((String::new(), Some(got), Some(want))),
    }
}

/// The elements a collection check looks at, each with how a message names
/// it: a list's elements as `[2]`, an object's values as `.key`.
fn elements(v: &Value) -> Option<Vec<(String, &Value)>> {
    match v {
        Value::Array(a) => Some(
            a.iter()
                .enumerate()
                .map(|(i, e)| (format!("[{i}]"), e))
                .collect(),
        ),
        Value::Object(o) => Some(o.iter().map(|(k, e)| (format!(".{k}"), e)).collect()),
        _ => None,
    }
}

/// ` (label "inv-3")`: the first identifying field an element has, other
/// than the fields the message already shows; empty when it has none.
fn ident(e: &Value, shown: &[&str]) -> String {
    ID_FIELDS
        .iter()
        .filter(|f| !shown.contains(f))
        .find_map(|f| match e.get(*f) {
            Some(v @ (Value::String(_) | Value::Number(_))) => {
                Some(format!(" ({f} {})", json_within(v, ID_MAX)))
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// One element by the field a check failed on:
/// `[2].status = "pending" (label "inv-2")`, `[0].status missing`.
fn element_at(at: &str, e: &Value, sub: &str, got: Option<&Value>) -> String {
    let top = sub
        .trim_start_matches('.')
        .split(['.', '['])
        .next()
        .unwrap_or("");
    let part = match got {
        Some(v) => format!("{at}{sub} = {}", json_within(v, VALUE_MAX)),
        None => format!("{at}{sub} missing"),
    };
    format!("{part}{}", ident(e, &[top]))
}

/// One element by the fields a `where` names:
/// `[2].status = "pending" (label "inv-2")`; by an identifying field, or
/// the start of its JSON, when there are none.
fn element_fields(at: &str, e: &Value, keys: &[&str]) -> String {
    if keys.is_empty() {
        return element_brief(at, e);
    }
    let parts: Vec<String> = keys
        .iter()
        .map(|k| match e.get(*k) {
            Some(v) => format!(".{k} = {}", json_within(v, VALUE_MAX)),
            None => format!(".{k} missing"),
        })
        .collect();
    format!("{at}{}{}", parts.join(", "), ident(e, keys))
}

/// One element in a list of them: `[0] (label "a")`, or `[0] {"x":1,…`.
fn element_brief(at: &str, e: &Value) -> String {
    match ident(e, &[]) {
        id if id.is_empty() => format!("{at} {}", json_within(e, 60)),
        id => format!("{at}{id}"),
    }
}

/// Where a path that leads nowhere stopped, and what is there instead:
/// "`invoices` has 2 elements, no [5]", "no element of `channels` has
/// peer_id = 02aa; theirs: ...", "`channels[0]` has no `statee`; its keys: ...".
fn stopped(path: &PathExpr, value: &Value, b: &Bindings) -> String {
    let (n, at) = path.walk_with(value, b);
    let prefix = path.prefix_text(n);
    let here = if prefix.is_empty() {
        "the result".to_string()
    } else {
        format!("`{prefix}`")
    };
    match (path.segments().get(n), at) {
        (None, v) => format!("{here} is {}", json_within(v, CONTEXT_MAX)),
        (Some(Segment::Key(k)), Value::Object(o)) => {
            let keys: Vec<String> = o.keys().map(|k| format!("`{k}`")).collect();
            format!(
                "{here} has no `{k}`; its keys: {}",
                join_within(&keys, ", ", CONTEXT_MAX)
            )
        }
        (Some(Segment::Index(i)), Value::Array(a)) => {
            format!("{here} has {} elements, no [{i}]", a.len())
        }
        (Some(Segment::Select { field, value: sel }), Value::Array(a)) => {
            let want = values::selector_value(sel, b).unwrap_or_else(|| sel.clone());
            if a.is_empty() {
                return format!("{here} is empty, so no element has {field} = {want}");
            }
            let theirs: Vec<String> = a
                .iter()
                .enumerate()
                .map(|(i, e)| match e.get(field) {
                    Some(v) => format!("[{i}] {}", json_within(v, ID_MAX)),
                    None => format!("[{i}] missing"),
                })
                .collect();
            format!(
                "no element of {here} has {field} = {want}; theirs: {}",
                join_within(&theirs, ", ", LIST_MAX)
            )
        }
        (Some(seg), v) => {
            let wanted = match seg {
                Segment::Key(_) => "an object",
                _ => "a list",
            };
            format!("{here} is {}, not {wanted}", json_within(v, CONTEXT_MAX))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Check, FieldCheck};
    use serde_json::json;

    fn fc(path: &str, check: Check) -> FieldCheck {
        FieldCheck {
            path: PathExpr::parse(path).unwrap(),
            filter: None,
            sum: None,
            check,
        }
    }

    fn filtered(path: &str, filter: Value, check: Check) -> FieldCheck {
        FieldCheck {
            filter: Some(filter),
            ..fc(path, check)
        }
    }

    fn channels() -> Value {
        json!({"channels": [
            {"peer_id": "02aa", "state": "ONCHAIN", "to_us_msat": 0, "short_channel_id": "1x1x0"},
            {"peer_id": "02bb", "state": "CHANNELD_NORMAL", "to_us_msat": 700, "short_channel_id": "2x1x0"},
            {"peer_id": "02cc", "state": "CHANNELD_NORMAL", "to_us_msat": "300msat", "short_channel_id": "2x1x0"},
        ]})
    }

    /// `listinvoices` as lightningd answers it: `bolt11` (hundreds of
    /// characters) comes before `status`.
    fn invoices() -> Value {
        let bolt11 = |n: usize| format!("lnbcrt{n}0n1p{}", "q".repeat(400));
        json!({"invoices": [
            {"label": "paid-1", "bolt11": bolt11(1), "payment_hash": "11".repeat(32), "status": "paid"},
            {"label": "inv-2", "bolt11": bolt11(2), "payment_hash": "22".repeat(32), "status": "pending"},
            {"label": "inv-3", "bolt11": bolt11(3), "payment_hash": "33".repeat(32), "status": "expired"},
        ]})
    }

    /// The bug report: for `count = 0, where = { status = "pending" }` the
    /// message printed the start of the pending invoice's JSON, cut off in
    /// its `bolt11`, just before the `"status":"pending"` it was about.
    #[test]
    fn a_count_where_shows_the_field_it_counted_not_the_bolt11_before_it() {
        let b = Bindings::new();
        let check = filtered("invoices", json!({"status": "pending"}), Check::Count(0));
        let e = check_field(&check, &invoices(), &b).unwrap_err();
        assert_eq!(
            e,
            "expected 0 entries in `invoices` where {\"status\":\"pending\"}, got 1: \
             [1].status = \"pending\" (label \"inv-2\")"
        );
    }

    #[test]
    fn a_count_where_with_too_few_shows_why_the_others_were_left_out() {
        let b = Bindings::new();
        let check = filtered("invoices", json!({"status": "paid"}), Check::Count(2));
        let e = check_field(&check, &invoices(), &b).unwrap_err();
        assert_eq!(
            e,
            "expected 2 entries in `invoices` where {\"status\":\"paid\"}, got 1: \
             [0].status = \"paid\" (label \"paid-1\"); not kept: \
             [1].status = \"pending\" (label \"inv-2\"); [2].status = \"expired\" (label \"inv-3\")"
        );
        // Without a label, the next identifying field names the element.
        let v = json!({"outputs": [{"txid": "ab", "status": "unconfirmed"}]});
        let check = filtered("outputs", json!({"status": "confirmed"}), Check::Count(1));
        let e = check_field(&check, &v, &b).unwrap_err();
        assert!(
            e.ends_with("got 0; not kept: [0].status = \"unconfirmed\" (txid \"ab\")"),
            "{e}"
        );
        let check = filtered("outputs", json!({"reserved": true}), Check::Count(1));
        let e = check_field(&check, &v, &b).unwrap_err();
        assert!(
            e.ends_with("not kept: [0].reserved missing (txid \"ab\")"),
            "{e}"
        );
    }

    #[test]
    fn a_count_shows_a_short_list_whole_and_a_long_one_by_its_elements_names() {
        let b = Bindings::new();
        let v = json!({"invoices": [{"label": "a"}, {"label": "b"}], "id": "02ab"});
        let e = check_field(&fc("invoices", Check::Count(3)), &v, &b).unwrap_err();
        assert_eq!(
            e,
            "expected 3 entries in `invoices`, got 2: [{\"label\":\"a\"},{\"label\":\"b\"}]"
        );
        let e = check_field(&fc("invoices", Check::Count(2)), &invoices(), &b).unwrap_err();
        assert_eq!(
            e,
            "expected 2 entries in `invoices`, got 3: \
             [0] (label \"paid-1\"); [1] (label \"inv-2\"); [2] (label \"inv-3\")"
        );
        let e = check_field(&fc("id", Check::Count(1)), &v, &b).unwrap_err();
        assert!(e.contains("a list of 1, got \"02ab\""), "{e}");
        let e = check_field(&fc("nope", Check::Count(1)), &v, &b).unwrap_err();
        assert!(
            e.contains("a list of 1, got nothing: the result has no `nope`"),
            "{e}"
        );
    }

    #[test]
    fn many_matches_are_listed_within_a_bound_and_each_shows_its_field() {
        let b = Bindings::new();
        let many: Vec<Value> = (0..50)
            .map(|i| json!({"label": format!("inv-{i}"), "description": "d".repeat(1000), "status": "pending"}))
            .collect();
        let v = json!({ "invoices": many });
        let check = filtered("invoices", json!({"status": "pending"}), Check::Count(0));
        let e = check_field(&check, &v, &b).unwrap_err();
        assert!(e.len() < 1000, "{}: {e}", e.len());
        assert!(
            e.contains("got 50: [0].status = \"pending\" (label \"inv-0\"); [1].status")
                && e.ends_with(" more"),
            "{e}"
        );
        assert!(
            !e.contains("ddd"),
            "the description is not what failed: {e}"
        );
    }

    #[test]
    fn equals_shows_the_path_and_the_value_where_they_differ() {
        let b = Bindings::new();
        let v = channels();
        let e = check_field(
            &fc("channels[0].state", Check::Equals(json!("CHANNELD_NORMAL"))),
            &v,
            &b,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "expected `channels[0].state` == \"CHANNELD_NORMAL\", got \"ONCHAIN\""
        );
        // A whole object: the field that differs comes first, then the
        // value it is in (a long one would be cut there, not at the field).
        let want = json!({"peer_id": "02aa", "state": "CHANNELD_NORMAL", "to_us_msat": 0, "short_channel_id": "1x1x0"});
        let e = check_field(&fc("channels[0]", Check::Equals(want)), &v, &b).unwrap_err();
        assert!(
            e.contains(
                "got a different value: `channels[0].state` is \"ONCHAIN\", expected \"CHANNELD_NORMAL\"; the whole value: {\"peer_id\""
            ),
            "{e}"
        );
        let e = check_field(
            &fc("channels[1]", Check::Equals(json!({"peer_id": "02bb"}))),
            &v,
            &b,
        )
        .unwrap_err();
        assert!(
            e.contains("`channels[1].state` = \"CHANNELD_NORMAL\" not expected"),
            "{e}"
        );
        let e = check_field(&fc("", Check::Equals(json!({"channels": []}))), &v, &b).unwrap_err();
        assert!(e.contains("`channels[0]` = {\"peer_id\""), "{e}");
        let long = json!({"x": "y".repeat(5000)});
        let e = check_field(&fc("x", Check::Equals(json!("z"))), &long, &b).unwrap_err();
        assert!(e.len() < 700 && e.ends_with('…'), "{}", e.len());
    }

    #[test]
    fn a_path_that_leads_nowhere_says_where_it_stopped() {
        let mut b = Bindings::new();
        b.insert("dave".into(), json!({"id": "02dd"}));
        let v = channels();
        let e = check_field(&fc("channels[5].state", Check::Exists(true)), &v, &b).unwrap_err();
        assert_eq!(
            e,
            "expected `channels[5].state` to exist, got nothing: `channels` has 3 elements, no [5]"
        );
        let e = check_field(
            &fc(
                "channels[peer_id=${dave.id}].state",
                Check::Equals(json!("ONCHAIN")),
            ),
            &v,
            &b,
        )
        .unwrap_err();
        assert!(
            e.ends_with(
                "got nothing: no element of `channels` has peer_id = 02dd; theirs: [0] \"02aa\", [1] \"02bb\", [2] \"02cc\""
            ),
            "{e}"
        );
        let e = check_field(
            &fc("channels[0].statee", Check::Matches("x".into())),
            &v,
            &b,
        )
        .unwrap_err();
        assert!(
            e.ends_with(
                "got nothing: `channels[0]` has no `statee`; its keys: `peer_id`, `state`, `to_us_msat`, `short_channel_id`"
            ),
            "{e}"
        );
        let e = check_field(&fc("channels[0].state.x", Check::Exists(true)), &v, &b).unwrap_err();
        assert!(
            e.ends_with("`channels[0].state` is \"ONCHAIN\", not an object"),
            "{e}"
        );
        let e = check_field(&fc("channels[0].state", Check::Exists(false)), &v, &b).unwrap_err();
        assert!(e.ends_with("to not exist, got \"ONCHAIN\""), "{e}");
    }

    #[test]
    fn all_names_the_first_element_that_does_not_hold_and_its_field() {
        let b = Bindings::new();
        let e = check_field(
            &fc("channels", Check::All(json!({"state": "CHANNELD_NORMAL"}))),
            &channels(),
            &b,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "expected every element of `channels` to contain {\"state\":\"CHANNELD_NORMAL\"}; \
             1 of 3 do not, the first: [0].state = \"ONCHAIN\" (short_channel_id \"1x1x0\")"
        );
        // The pending invoice's `status`, not its `bolt11`.
        let e = check_field(
            &fc("invoices", Check::All(json!({"status": "paid"}))),
            &invoices(),
            &b,
        )
        .unwrap_err();
        assert!(
            e.ends_with("2 of 3 do not, the first: [1].status = \"pending\" (label \"inv-2\")"),
            "{e}"
        );
        // Nested: the path inside the element, down to the field.
        let v = json!({"peers": [{"id": "02aa", "features": {"x": 1}}]});
        let e = check_field(
            &fc("peers", Check::All(json!({"features": {"x": 2}}))),
            &v,
            &b,
        )
        .unwrap_err();
        assert!(
            e.ends_with("the first: [0].features.x = 1 (id \"02aa\")"),
            "{e}"
        );
    }

    #[test]
    fn any_and_contains_show_each_element_by_the_field_that_kept_it_out() {
        let b = Bindings::new();
        let v = channels();
        let e = check_field(
            &fc(
                "channels",
                Check::Any(json!({"state": "CLOSINGD_COMPLETE"})),
            ),
            &v,
            &b,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "expected `channels` to have an element containing {\"state\":\"CLOSINGD_COMPLETE\"}; none of 3 does: \
             [0].state = \"ONCHAIN\" (short_channel_id \"1x1x0\"); \
             [1].state = \"CHANNELD_NORMAL\" (short_channel_id \"2x1x0\"); \
             [2].state = \"CHANNELD_NORMAL\" (short_channel_id \"2x1x0\")"
        );
        let e = check_field(
            &fc(
                "channels",
                Check::Contains(json!({"peer_id": "02bb", "state": "ONCHAIN"})),
            ),
            &v,
            &b,
        )
        .unwrap_err();
        assert!(
            e.contains("[0].peer_id = \"02aa\" (short_channel_id \"1x1x0\"); [1].state = \"CHANNELD_NORMAL\""),
            "{e}"
        );
        let e = check_field(
            &fc("invoices", Check::Any(json!({"status": "paid"}))),
            &json!({"invoices": []}),
            &b,
        )
        .unwrap_err();
        assert!(e.ends_with("got an empty list"), "{e}");
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
        let normal = |check| filtered("channels", json!({"state": "CHANNELD_NORMAL"}), check);
        assert!(ok(normal(Check::Count(2))).is_ok());
        assert!(ok(normal(Check::All(json!({"state": "CHANNELD_NORMAL"})))).is_ok());
        // Amounts as numbers and as "Nmsat" strings add up.
        let sum = |want| FieldCheck {
            sum: Some(PathExpr::parse("to_us_msat").unwrap()),
            ..normal(Check::Equals(want))
        };
        assert!(ok(sum(json!(1000))).is_ok());
        assert!(ok(sum(json!("1000msat"))).is_ok());
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
    fn a_sum_shows_what_it_added_up() {
        let b = Bindings::new();
        let sum = |want| FieldCheck {
            sum: Some(PathExpr::parse("to_us_msat").unwrap()),
            ..filtered(
                "channels",
                json!({"state": "CHANNELD_NORMAL"}),
                Check::Equals(want),
            )
        };
        let e = check_field(&sum(json!(999)), &channels(), &b).unwrap_err();
        assert_eq!(
            e,
            "expected the sum of `to_us_msat` over `channels` where {\"state\":\"CHANNELD_NORMAL\"} == 999, \
             got 1000 (= [1] 700 + [2] 300)"
        );
        let v = json!({"channels": [{"short_channel_id": "1x1x0", "to_us_msat": "lots"}]});
        let e = check_field(
            &FieldCheck {
                sum: Some(PathExpr::parse("to_us_msat").unwrap()),
                ..fc("channels", Check::Equals(json!(1)))
            },
            &v,
            &b,
        )
        .unwrap_err();
        assert!(
            e.ends_with("no amount in [0].to_us_msat = \"lots\" (short_channel_id \"1x1x0\")"),
            "{e}"
        );
    }

    #[test]
    fn unique_by_names_the_two_that_clash_and_what_they_share() {
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
        assert_eq!(
            e,
            "expected no two elements of `channels` to share `short_channel_id`; \
             [1] (peer_id \"02bb\") and [2] (peer_id \"02cc\") both have short_channel_id = \"2x1x0\""
        );
        assert!(check_field(&by(&["short_channel_id", "peer_id"]), &v, &b).is_ok());
    }

    #[test]
    fn matches_shows_the_text_it_tried() {
        let v = json!({"id": "02ab"});
        let b = Bindings::new();
        assert!(check_field(&fc("id", Check::Matches("^02".into())), &v, &b).is_ok());
        let e = check_field(&fc("id", Check::Matches("^03".into())), &v, &b).unwrap_err();
        assert_eq!(e, "expected `id` to match /^03/, got \"02ab\"");
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
        assert_eq!(e, "expected error code -32601, got code -1: \"x\"");
        let e = check_result(&expect, Ok(json!({"ok": 1})), &b).unwrap_err();
        assert!(e.contains("got success: {\"ok\":1}"), "{e}");
        let e = check_result(&Expect::default(), Err(json!({"code": 205})), &b).unwrap_err();
        assert_eq!(e, "expected success, got error code 205");
        // A long `data` comes after the message, which is what failed.
        let err = json!({"code": 210, "data": {"attempts": "a".repeat(2000)}, "message": "Ran out of routes"});
        let e = check_result(&Expect::default(), Err(err), &b).unwrap_err();
        assert!(
            e.starts_with("expected success, got error code 210: \"Ran out of routes\" (data: {"),
            "{e}"
        );
        assert!(e.len() < 400, "{}", e.len());
    }
}
