//! The one place long text is shortened for messages and reports, and
//! the one place words are quoted for a shell.

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
    json_within(v, 300)
}

/// A JSON value as one line of at most `max` bytes (plus `…`).
pub fn json_within(v: &serde_json::Value, max: usize) -> String {
    truncate(&v.to_string(), max)
}

/// Items joined with `sep` within about `max` bytes: the first item always
/// (it is the one a message is about), then as many whole items as fit,
/// then `and N more`. A list is cut between items, never inside one, so
/// what is shown of each item is whole.
pub fn join_within(items: &[String], sep: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 && out.len() + sep.len() + item.len() > max {
            out.push_str(&format!("{sep}and {} more", items.len() - i));
            return out;
        }
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(item);
    }
    out
}

/// `word` as one word for a POSIX shell, quoted only when it must be:
/// printed command lines (`rerun:`, `commands.txt`, `rerun.sh`) are copied
/// and pasted, so a path with a space must survive, and `--opt=value`,
/// `role=label` or `a,b` stay bare as people write them (`shlex` quotes
/// `=`, `,`, `%` and `+` for safety in places these words never go).
/// The quoting itself is `shlex`'s.
pub fn shell_word(word: &str) -> std::borrow::Cow<'_, str> {
    let bare = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c);
    if !word.is_empty() && word.chars().all(bare) {
        return word.into();
    }
    match shlex::try_quote(word) {
        Ok(quoted) => quoted,
        // Only a NUL makes shlex refuse, and no argument can hold one.
        Err(_) => shell_word(&word.replace('\0', "")).into_owned().into(),
    }
}

/// `words` as one shell command line, each quoted by [`shell_word`].
pub fn shell_words<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| shell_word(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sh` reads back from `line`, one word a line.
    fn as_sh_reads(line: &str) -> Vec<String> {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("printf '%s\\0' {line}")])
            .output()
            .unwrap();
        let mut words: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(String::from)
            .collect();
        words.pop();
        words
    }

    #[test]
    fn words_people_write_bare_stay_bare() {
        assert_eq!(
            shell_words(&["--lightningd", "a=v25.05", "--network=regtest", "/t/x.toml"]),
            "--lightningd a=v25.05 --network=regtest /t/x.toml"
        );
    }

    #[test]
    fn every_word_comes_back_from_the_shell_as_it_went_in() {
        let words = [
            "/tmp/my scenarios/x.toml",
            "it's",
            "",
            "$HOME",
            "a`b`",
            "\\back",
            "!bang",
            "^caret",
            "semi;colon",
            "star*",
            "bo\"th'",
            "tab\tand\nnewline",
            "é",
        ];
        assert_eq!(as_sh_reads(&shell_words(&words)), words);
    }

    #[test]
    fn the_empty_word_is_kept_as_a_word() {
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn cuts_respect_char_boundaries() {
        assert_eq!(truncate("ééééé", 3), "é…");
        assert_eq!(tail("ééééé", 3), "…é");
        assert_eq!(truncate("short", 10), "short");
    }

    #[test]
    fn lists_are_cut_between_items_and_say_how_many_were_left_out() {
        let items: Vec<String> = ["[0] a", "[1] b", "[2] c"].map(String::from).into();
        assert_eq!(join_within(&items, ", ", 100), "[0] a, [1] b, [2] c");
        assert_eq!(join_within(&items, ", ", 12), "[0] a, [1] b, and 1 more");
        // The first item is what the message is about: always whole.
        assert_eq!(join_within(&items, "; ", 1), "[0] a; and 2 more");
        assert_eq!(join_within(&[], ", ", 10), "");
    }
}
