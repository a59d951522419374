//! The one place long text is shortened for messages and reports.

/// At most `max` bytes of `s` from its start, cut on a char boundary, with
/// `…` when something was left out.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// At most `max` bytes of the end of `s` (trimmed), with a leading `…`
/// when something was left out: the end of a stderr is where the reason is.
pub fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// A JSON value as one line for a message, truncated.
pub fn json_brief(v: &serde_json::Value) -> String {
    truncate(&v.to_string(), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_respect_char_boundaries() {
        assert_eq!(truncate("ééééé", 3), "é…");
        assert_eq!(tail("ééééé", 3), "…é");
        assert_eq!(truncate("short", 10), "short");
    }
}
