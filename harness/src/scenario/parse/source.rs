//! The TOML document as owned values with their byte spans, and spans
//! turned into `file:line:col` errors.

use super::ScenarioError;
use crate::scenario::model::Location;
use serde_json::Value;
use std::ops::Range;

#[derive(Debug, Clone)]
pub(super) struct Tv {
    pub span: Range<usize>,
    pub kind: TvKind,
}

/// A table's entry: its key, the key's span, its value.
pub(super) type Entry = (String, Range<usize>, Tv);

#[derive(Debug, Clone)]
pub(super) enum TvKind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Tv>),
    Table(Vec<Entry>),
}

impl Tv {
    pub(super) fn type_name(&self) -> &'static str {
        match self.kind {
            TvKind::Str(_) => "a string",
            TvKind::Int(_) => "an integer",
            TvKind::Float(_) => "a float",
            TvKind::Bool(_) => "a boolean",
            TvKind::Datetime(_) => "a datetime",
            TvKind::Array(_) => "an array",
            TvKind::Table(_) => "a table",
        }
    }

    /// As JSON (for RPC params and expected values).
    pub fn to_json(&self) -> Value {
        match &self.kind {
            TvKind::Str(s) | TvKind::Datetime(s) => Value::String(s.clone()),
            TvKind::Int(i) => Value::from(*i),
            TvKind::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            TvKind::Bool(b) => Value::Bool(*b),
            TvKind::Array(a) => Value::Array(a.iter().map(Tv::to_json).collect()),
            TvKind::Table(t) => {
                Value::Object(t.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

pub(super) fn convert(
    v: toml::Spanned<toml::de::DeValue<'_>>,
) -> Result<Tv, (Range<usize>, String)> {
    use toml::de::DeValue;
    let span = v.span();
    let kind = match v.into_inner() {
        DeValue::String(s) => TvKind::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let text = i.as_str().replace('_', "");
            let n = i64::from_str_radix(
                text.trim_start_matches("0x")
                    .trim_start_matches("0o")
                    .trim_start_matches("0b"),
                i.radix(),
            )
            .map_err(|_| {
                (
                    span.clone(),
                    format!("integer `{}` does not fit in 64 bits", i.as_str()),
                )
            })?;
            TvKind::Int(n)
        }
        DeValue::Float(f) => TvKind::Float(
            f.as_str()
                .replace('_', "")
                .parse()
                .map_err(|_| (span.clone(), format!("bad float `{}`", f.as_str())))?,
        ),
        DeValue::Boolean(b) => TvKind::Bool(b),
        DeValue::Datetime(d) => TvKind::Datetime(d.to_string()),
        DeValue::Array(a) => TvKind::Array(a.into_iter().map(convert).collect::<Result<_, _>>()?),
        DeValue::Table(t) => {
            let mut entries = Vec::new();
            for (k, v) in t.into_iter() {
                let kspan = k.span();
                entries.push((k.into_inner().into_owned(), kspan, convert(v)?));
            }
            // File order, not the map's key order.
            entries.sort_by_key(|(_, ks, _)| ks.start);
            TvKind::Table(entries)
        }
    };
    // Array-of-tables entries come without a useful span of their own:
    // locate them by their first key.
    let span = match &kind {
        TvKind::Table(e) if span.is_empty() || span.start == 0 => match e.first() {
            Some((_, ks, _)) => ks.start..span.end.max(ks.end),
            None => span,
        },
        _ => span,
    };
    Ok(Tv { span, kind })
}

/// Positions in the source, for turning spans into line:col.
pub(super) struct Source<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Source<'_> {
    pub(super) fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        Location { line, column }
    }
    pub(super) fn error(
        &self,
        span: &Range<usize>,
        key: Option<&str>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let loc = self.location(span.start);
        ScenarioError {
            file: self.file.to_string(),
            line: loc.line,
            column: loc.column,
            key: key.map(String::from),
            message: message.into(),
        }
    }
}

pub(super) fn tv_span_of_key(tv: &Tv, key: &str) -> Option<Range<usize>> {
    match &tv.kind {
        TvKind::Table(e) => e
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v.span.clone()),
        _ => None,
    }
}
