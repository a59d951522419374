//! One TOML table read key by key: typed getters, located errors, and
//! every key left over reported as unknown with what would have fitted.

use super::source::{Entry, Source, Tv, TvKind};
use super::ScenarioError;
use serde_json::Value;
use std::ops::Range;

/// Reads one TOML table, tracking which keys were used so that any key
/// left over is reported as unknown, with the list of keys that fit.
pub(super) struct Fields<'s, 'a> {
    pub(super) src: &'s Source<'a>,
    pub(super) span: Range<usize>,
    /// e.g. "step 3 (`keysend`)", for messages.
    pub(super) context: String,
    pub(super) entries: Vec<Entry>,
    pub(super) allowed: Vec<&'static str>,
}

pub(super) type R<T> = Result<T, ScenarioError>;

impl<'s, 'a> Fields<'s, 'a> {
    pub(super) fn new(src: &'s Source<'a>, tv: &Tv, context: impl Into<String>) -> R<Self> {
        let context = context.into();
        match &tv.kind {
            TvKind::Table(entries) => Ok(Fields {
                src,
                span: tv.span.clone(),
                context,
                entries: entries.clone(),
                allowed: vec![],
            }),
            _ => Err(src.error(
                &tv.span,
                None,
                format!("{context} must be a table, found {}", tv.type_name()),
            )),
        }
    }

    pub(super) fn take(&mut self, key: &'static str) -> Option<Tv> {
        self.allowed.push(key);
        let i = self.entries.iter().position(|(k, _, _)| k == key)?;
        Some(self.entries.remove(i).2)
    }

    pub(super) fn err(&self, tv: &Tv, key: &str, msg: impl Into<String>) -> ScenarioError {
        self.src.error(
            &tv.span,
            Some(key),
            format!("{}: {}", self.context, msg.into()),
        )
    }

    pub(super) fn required<T>(
        &mut self,
        key: &'static str,
        f: impl Fn(&mut Self, &Tv) -> R<T>,
    ) -> R<T> {
        match self.take(key) {
            Some(tv) => f(self, &tv),
            None => {
                // A typo of this very key is the likelier story.
                if let Some((k, span, _)) = self
                    .entries
                    .iter()
                    .find(|(k, _, _)| suggest(k, &[key]).is_some())
                {
                    return Err(self.src.error(
                        span,
                        Some(k),
                        format!("{}: unknown key (did you mean `{key}`?)", self.context),
                    ));
                }
                Err(self.src.error(
                    &self.span,
                    Some(key),
                    format!("{}: missing required key `{key}`", self.context),
                ))
            }
        }
    }
    pub(super) fn optional<T>(
        &mut self,
        key: &'static str,
        f: impl Fn(&mut Self, &Tv) -> R<T>,
    ) -> R<Option<T>> {
        match self.take(key) {
            Some(tv) => f(self, &tv).map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn string(&mut self, key: &'static str) -> R<String> {
        self.required(key, |s, tv| s.as_string(tv, key))
    }
    pub(super) fn opt_string(&mut self, key: &'static str) -> R<Option<String>> {
        self.optional(key, |s, tv| s.as_string(tv, key))
    }
    pub(super) fn as_string(&self, tv: &Tv, key: &str) -> R<String> {
        match &tv.kind {
            TvKind::Str(s) => Ok(s.clone()),
            _ => Err(self.err(
                tv,
                key,
                format!("expected a string, found {}", tv.type_name()),
            )),
        }
    }
    pub(super) fn opt_u64(&mut self, key: &'static str) -> R<Option<u64>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Int(i) if i >= 0 => Ok(i as u64),
            _ => Err(s.err(
                tv,
                key,
                format!("expected a non-negative integer, found {}", tv.type_name()),
            )),
        })
    }
    pub(super) fn opt_i64(&mut self, key: &'static str) -> R<Option<i64>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Int(i) => Ok(i),
            _ => Err(s.err(
                tv,
                key,
                format!("expected an integer, found {}", tv.type_name()),
            )),
        })
    }
    pub(super) fn opt_bool(&mut self, key: &'static str) -> R<Option<bool>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Bool(b) => Ok(b),
            _ => Err(s.err(
                tv,
                key,
                format!("expected true or false, found {}", tv.type_name()),
            )),
        })
    }
    pub(super) fn opt_seconds(&mut self, key: &'static str) -> R<Option<f64>> {
        self.optional(key, |s, tv| match tv.kind {
            TvKind::Int(i) if i > 0 => Ok(i as f64),
            TvKind::Float(f) if f > 0.0 && f.is_finite() && f < 1e7 => Ok(f),
            _ => Err(s.err(tv, key, "expected a positive number of seconds")),
        })
    }
    /// A value that may be templated: any TOML value, as JSON.
    pub(super) fn value(&mut self, key: &'static str) -> R<Value> {
        self.required(key, |_, tv| Ok(tv.to_json()))
    }
    pub(super) fn opt_value(&mut self, key: &'static str) -> R<Option<Value>> {
        self.optional(key, |_, tv| Ok(tv.to_json()))
    }
    pub(super) fn string_list(&mut self, key: &'static str) -> R<Vec<String>> {
        Ok(self
            .optional(key, |s, tv| match &tv.kind {
                TvKind::Array(items) => items.iter().map(|i| s.as_string(i, key)).collect(),
                TvKind::Str(one) => Ok(vec![one.clone()]),
                _ => Err(s.err(
                    tv,
                    key,
                    format!("expected a list of strings, found {}", tv.type_name()),
                )),
            })?
            .unwrap_or_default())
    }

    /// Anything not taken is an unknown key.
    pub(super) fn finish(self) -> R<()> {
        if let Some((k, span, _)) = self.entries.first() {
            let mut allowed = self.allowed.clone();
            allowed.sort();
            allowed.dedup();
            let hint = suggest(k, &allowed)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(self.src.error(
                span,
                Some(k),
                format!(
                    "{}: unknown key{hint}; expected one of: {}",
                    self.context,
                    allowed.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The closest allowed word, for typos: at most two edits away
/// (Levenshtein, over characters), the nearest first, ties alphabetically.
pub(super) fn suggest<'x>(word: &str, allowed: &[&'x str]) -> Option<&'x str> {
    allowed
        .iter()
        .map(|a| (strsim::levenshtein(word, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, a)| a)
}
