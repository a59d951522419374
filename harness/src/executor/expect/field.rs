//! One field check (`{ path, [where], [sum], <check> }`) against a value:
//! the value it is about ([`Subject`]) and one method per check kind, each
//! message naming the element and field that failed (helpers in `mod`).

use super::{
    contains, element_at, element_brief, element_fields, elements, first_difference, ident,
    stopped, why_not_contained, CONTEXT_MAX, ID_MAX, LIST_MAX, VALUE_MAX,
};
use crate::scenario::values::{self, Bindings, PathExpr};
use crate::scenario::{Check, FieldCheck};
use crate::text::{join_within, json_brief, json_within};
use serde_json::Value;

/// One `{ path, [where], [sum], equals|matches|count|exists|contains|any|all|unique_by }`
/// against a value.
pub fn check_field(fc: &FieldCheck, value: &Value, b: &Bindings) -> Result<(), String> {
    let s = Subject::of(fc, value, b)?;
    match &fc.check {
        Check::Exists(want) => s.exists(*want),
        Check::Equals(want) => s.equals(want),
        Check::Matches(re) => s.matches(re),
        Check::CountOf(v) => {
            let n = values::as_amount(&s.resolve(v)?)
                .ok_or_else(|| format!("count: {} is not a number", json_brief(v)))?;
            let resolved = FieldCheck {
                check: Check::Count(n),
                ..fc.clone()
            };
            check_field(&resolved, value, b)
        }
        Check::Count(n) => s.count(*n),
        Check::Contains(want) | Check::Any(want) => s.has_element(want),
        Check::All(want) => s.all_elements(want),
        Check::UniqueBy(fields) => s.unique_by(fields),
    }
}

/// What a field check looks at: the value at its path, narrowed by `where`
/// (keeping how each element was named in the whole list, for messages)
/// and folded by `sum`, with the words a message names it by.
struct Subject<'v> {
    fc: &'v FieldCheck,
    value: &'v Value,
    b: &'v Bindings,
    /// What the path leads to, before `where` and `sum`.
    at_path: Option<&'v Value>,
    got: Option<std::borrow::Cow<'v, Value>>,
    /// "`invoices` where {...}", "the sum of `amount_msat` over ...".
    what: String,
    /// The elements checked (those `where` kept), each with its name.
    listed: Option<Vec<(String, &'v Value)>>,
    /// The elements `where` left out.
    others: Vec<(String, &'v Value)>,
    /// `[0] 1000` per summed element.
    addends: Vec<String>,
    /// `where`, resolved.
    filter: Option<Value>,
}

impl<'v> Subject<'v> {
    fn of(fc: &'v FieldCheck, value: &'v Value, b: &'v Bindings) -> Result<Subject<'v>, String> {
        let at_path = fc.path.lookup_with(value, b);
        let mut s = Subject {
            fc,
            value,
            b,
            at_path,
            got: at_path.map(std::borrow::Cow::Borrowed),
            what: format!("`{}`", fc.path),
            listed: at_path.and_then(elements),
            others: Vec::new(),
            addends: Vec::new(),
            filter: None,
        };
        if let Some(w) = &fc.filter {
            s.filter = Some(s.resolve(w)?);
            s.narrow()?;
        }
        if fc.sum.is_some() {
            s.sum()?;
        }
        Ok(s)
    }

    fn resolve(&self, v: &Value) -> Result<Value, String> {
        values::resolve(v, self.b).map_err(|e| e.to_string())
    }

    fn got(&self) -> Option<&Value> {
        self.got.as_deref()
    }

    /// A value as a message shows it; where a path leads nowhere, where it stopped.
    fn shown(&self, g: Option<&Value>) -> String {
        match g {
            Some(v) => json_within(v, VALUE_MAX),
            None if self.at_path.is_none() => {
                format!("nothing: {}", stopped(&self.fc.path, self.value, self.b))
            }
            None => "nothing".to_string(),
        }
    }

    /// `where`: only the elements that contain it.
    fn narrow(&mut self) -> Result<(), String> {
        let w = self.filter.clone().unwrap_or_default();
        let Some(list) = self.listed.take() else {
            return Err(format!(
                "expected `{}` to be a list to filter, got {}",
                self.fc.path,
                self.shown(self.at_path)
            ));
        };
        let (matching, rest): (Vec<_>, Vec<_>) =
            list.into_iter().partition(|(_, e)| contains(e, &w));
        let narrowed = Value::Array(matching.iter().map(|(_, e)| (*e).clone()).collect());
        self.got = Some(std::borrow::Cow::Owned(narrowed));
        self.others = rest;
        self.listed = Some(matching);
        self.what = format!("`{}` where {}", self.fc.path, json_brief(&w));
        Ok(())
    }

    /// `sum`: the total of one amount field over the elements.
    fn sum(&mut self) -> Result<(), String> {
        let (Some(field), what) = (&self.fc.sum, &self.what) else {
            return Ok(());
        };
        let Some(list) = self.listed.as_ref() else {
            return Err(format!(
                "expected {what} to be a list to sum, got {}",
                self.shown(self.got())
            ));
        };
        let mut total: u64 = 0;
        let mut addends = Vec::new();
        for (at, e) in list {
            let found = field.lookup(e);
            let v = found.and_then(values::as_amount).ok_or_else(|| {
                let part = element_at(at, e, &format!(".{field}"), found);
                format!("sum of `{field}` over {what}: no amount in {part}")
            })?;
            addends.push(format!("{at} {v}"));
            total = total
                .checked_add(v)
                .ok_or_else(|| format!("sum of `{field}` over {what} overflows"))?;
        }
        self.what = format!("the sum of `{field}` over {what}");
        self.addends = addends;
        self.got = Some(std::borrow::Cow::Owned(Value::from(total)));
        Ok(())
    }

    /// The elements, for checks over a list (a sum is no list).
    fn list(&self) -> Option<&Vec<(String, &'v Value)>> {
        self.listed.as_ref().filter(|_| self.fc.sum.is_none())
    }

    fn exists(&self, want: bool) -> Result<(), String> {
        if self.got().is_some() != want {
            let verb = if want { "exist" } else { "not exist" };
            return Err(format!(
                "expected {} to {verb}, got {}",
                self.what,
                self.shown(self.got())
            ));
        }
        Ok(())
    }

    fn equals(&self, want: &Value) -> Result<(), String> {
        let want = self.resolve(want)?;
        let got = self.got();
        let equal = match (got, self.fc.sum.is_some()) {
            // A sum is a number; the expected amount may be written "1000msat".
            (Some(g), true) => values::as_amount(g) == values::as_amount(&want),
            (g, false) => g == Some(&want),
            (None, true) => false,
        };
        if equal {
            return Ok(());
        }
        let mut e = format!("expected {} == {}, got ", self.what, json_brief(&want));
        match got.and_then(|g| first_difference(g, &want)) {
            // Containers: where they differ first, then the whole value.
            Some((sub, a, w)) if !sub.is_empty() => {
                e.push_str(&format!(
                    "a different value: {}; the whole value: {}",
                    self.difference(&sub, a, w),
                    json_within(got.unwrap_or(&Value::Null), CONTEXT_MAX)
                ));
            }
            _ => e.push_str(&self.shown(got)),
        }
        if self.fc.sum.is_some() {
            let from = if self.addends.is_empty() {
                "no elements".to_string()
            } else {
                join_within(&self.addends, " + ", LIST_MAX)
            };
            e.push_str(&format!(" (= {from})"));
        }
        Err(e)
    }

    /// Where two containers differ: `sub` inside them, what each has there.
    fn difference(&self, sub: &str, a: Option<&Value>, w: Option<&Value>) -> String {
        let here = if self.fc.filter.is_none() {
            format!(
                "`{}`",
                format!("{}{sub}", self.fc.path).trim_start_matches('.')
            )
        } else {
            format!("`{}` of the elements kept", sub.trim_start_matches('.'))
        };
        match (a, w) {
            (Some(a), Some(w)) => format!(
                "{here} is {}, expected {}",
                json_within(a, VALUE_MAX),
                json_within(w, CONTEXT_MAX)
            ),
            (None, Some(w)) => format!("{here} missing, expected {}", json_within(w, CONTEXT_MAX)),
            // A key too many: its name is the point, not its value.
            (a, None) => format!(
                "{here} = {} not expected",
                json_within(a.unwrap_or(&Value::Null), ID_MAX)
            ),
        }
    }

    fn matches(&self, re: &str) -> Result<(), String> {
        let text = match self.got() {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => {
                return Err(format!(
                    "expected {} to match /{re}/, got {}",
                    self.what,
                    self.shown(None)
                ))
            }
        };
        if !regex::Regex::new(re)
            .map(|r| r.is_match(&text))
            .unwrap_or(false)
        {
            return Err(format!(
                "expected {} to match /{re}/, got {}",
                self.what,
                crate::text::truncate(&format!("{text:?}"), VALUE_MAX)
            ));
        }
        Ok(())
    }

    fn count(&self, n: u64) -> Result<(), String> {
        let what = &self.what;
        let Some(list) = self.list() else {
            return Err(format!(
                "expected {what} to be a list of {n}, got {}",
                self.shown(self.got())
            ));
        };
        if list.len() as u64 == n {
            return Ok(());
        }
        let mut e = format!("expected {n} entries in {what}, got {}", list.len());
        match &self.filter {
            Some(w) => e.push_str(&self.kept_and_not(list, w, n)),
            None => {
                // The whole list when it is short; otherwise each
                // element by its identifying field.
                let whole = self.got().map(|g| g.to_string()).unwrap_or_default();
                if whole.len() <= CONTEXT_MAX {
                    e.push_str(&format!(": {whole}"));
                } else {
                    let each: Vec<String> =
                        list.iter().map(|(at, el)| element_brief(at, el)).collect();
                    e.push_str(&format!(": {}", join_within(&each, "; ", LIST_MAX)));
                }
            }
        }
        Err(e)
    }

    /// The elements the `where` kept, by the fields it names; when too few,
    /// also the others, by the field that kept each out.
    fn kept_and_not(&self, list: &[(String, &Value)], w: &Value, n: u64) -> String {
        let filter_keys: Vec<&str> = match w {
            Value::Object(o) => o.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let mut e = String::new();
        let kept: Vec<String> = list
            .iter()
            .map(|(at, el)| element_fields(at, el, &filter_keys))
            .collect();
        if !kept.is_empty() {
            e.push_str(&format!(": {}", join_within(&kept, "; ", LIST_MAX)));
        }
        if (list.len() as u64) < n {
            let rest: Vec<String> = self
                .others
                .iter()
                .map(|(at, el)| {
                    let (sub, v) = why_not_contained(el, w).unwrap_or_default();
                    element_at(at, el, &sub, v)
                })
                .collect();
            if rest.is_empty() {
                e.push_str(&format!("; `{}` has no other elements", self.fc.path));
            } else {
                e.push_str(&format!(
                    "; not kept: {}",
                    join_within(&rest, "; ", LIST_MAX)
                ));
            }
        }
        e
    }

    /// `contains` / `any`: some element contains `want`.
    fn has_element(&self, want: &Value) -> Result<(), String> {
        let want = self.resolve(want)?;
        let what = &self.what;
        let Some(list) = self.list() else {
            return Err(format!(
                "expected {what} to be a list, got {}",
                self.shown(self.got())
            ));
        };
        if list.iter().any(|(_, el)| contains(el, &want)) {
            return Ok(());
        }
        let mut e = format!(
            "expected {what} to have an element containing {}",
            json_brief(&want)
        );
        if list.is_empty() {
            e.push_str(", got an empty list");
        } else {
            let misses: Vec<String> = list
                .iter()
                .map(|(at, el)| {
                    let (sub, v) = why_not_contained(el, &want).unwrap_or_default();
                    element_at(at, el, &sub, v)
                })
                .collect();
            e.push_str(&format!(
                "; none of {} does: {}",
                list.len(),
                join_within(&misses, "; ", LIST_MAX)
            ));
        }
        Err(e)
    }

    /// `all`: every element contains `want`.
    fn all_elements(&self, want: &Value) -> Result<(), String> {
        let want = self.resolve(want)?;
        let what = &self.what;
        let Some(list) = self.list() else {
            return Err(format!(
                "expected {what} to be a list, got {}",
                self.shown(self.got())
            ));
        };
        let mut bad = list
            .iter()
            .filter_map(|(at, el)| why_not_contained(el, &want).map(|m| (at, el, m)));
        if let Some((at, el, (sub, v))) = bad.next() {
            return Err(format!(
                "expected every element of {what} to contain {}; {} of {} do not, the first: {}",
                json_brief(&want),
                1 + bad.count(),
                list.len(),
                element_at(at, el, &sub, v)
            ));
        }
        Ok(())
    }

    fn unique_by(&self, fields: &[PathExpr]) -> Result<(), String> {
        let what = &self.what;
        let Some(list) = self.list() else {
            return Err(format!(
                "expected {what} to be a list, got {}",
                self.shown(self.got())
            ));
        };
        let names: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        let shown_names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut seen: Vec<(Vec<Option<&Value>>, &str, &Value)> = Vec::new();
        for (at, el) in list {
            let key: Vec<Option<&Value>> = fields.iter().map(|f| f.lookup(el)).collect();
            if let Some((_, first_at, first)) = seen.iter().find(|(k, _, _)| *k == key) {
                let shared: Vec<String> = names
                    .iter()
                    .zip(&key)
                    .map(|(f, v)| match v {
                        Some(v) => format!("{f} = {}", json_within(v, VALUE_MAX)),
                        None => format!("no {f}"),
                    })
                    .collect();
                let quoted: Vec<String> = names.iter().map(|f| format!("`{f}`")).collect();
                return Err(format!(
                    "expected no two elements of {what} to share {}; {first_at}{} and {at}{} both have {}",
                    quoted.join(", "),
                    ident(first, &shown_names),
                    ident(el, &shown_names),
                    shared.join(", ")
                ));
            }
            seen.push((key, at, el));
        }
        Ok(())
    }
}
