//! `expect` and field checks (`{ path = ..., equals|matches|... = ... }`,
//! with `where` and `sum`), also used by `wait_rpc`'s `until`.

use super::fields::{Fields, R};
use super::source::{tv_span_of_key, Source, Tv, TvKind};
use crate::scenario::model::*;
use std::ops::Range;

pub(super) fn parse_expect(src: &Source, tv: &Tv, number: &str) -> R<Expect> {
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

pub(super) fn parse_field_check(src: &Source, tv: &Tv, context: &str) -> R<FieldCheck> {
    let mut f = Fields::new(src, tv, context)?;
    let path_span = tv_span_of_key(tv, "path").unwrap_or(tv.span.clone());
    let path = f.string("path")?;
    let parse_path = |p: &str, key: &str, span: &Range<usize>| {
        crate::scenario::path::PathExpr::parse(p)
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
