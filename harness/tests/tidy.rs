//! Invariants of the tree that ARCHITECTURE.md states, checked by reading
//! the source (as rust-analyzer's `xtask/tidy.rs` does), so prose and code
//! cannot drift apart silently. Each check names the file and line that
//! breaks it.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, with its text.
fn rust_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p, text));
            }
        }
    }
    out.sort();
    out
}

/// The text before a file's `#[cfg(test)]` module: what ships.
fn shipped(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

fn rel(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap_or(p).display().to_string()
}

#[test]
fn nothing_but_main_imports_the_cli() {
    let mut bad = Vec::new();
    for (p, text) in rust_files(&repo().join("harness/src")) {
        if p.ends_with("main.rs") || p.ends_with("cli.rs") {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if line.contains("crate::cli") || line.contains("cln_harness::cli") {
                bad.push(format!("{}:{}: {}", rel(&p), i + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "only main.rs may use the CLI (it holds no logic a test can't reach):\n{}",
        bad.join("\n")
    );
}

/// An exit-code literal in a line of shipped code: returned, matched to,
/// or compared with as an exit code. `in_exit_fn` says the line is inside
/// a function returning an exit code (`-> i32`, `Result<_, i32>`), where a
/// bare `0`, `return 1;`, `=> 125,` or `Err(2)` is one.
fn exit_literal(line: &str, in_exit_fn: bool) -> bool {
    use std::sync::OnceLock;
    static RETURNED: OnceLock<regex::Regex> = OnceLock::new();
    static COMPARED: OnceLock<regex::Regex> = OnceLock::new();
    let returned = RETURNED.get_or_init(|| {
        regex::Regex::new(r"(^|\breturn\s+|=>\s*|\b(?:Ok|Err|Some)\()(0|1|2|125)\b\)?\s*[,;]?$")
            .unwrap()
    });
    let compared = COMPARED.get_or_init(|| {
        regex::Regex::new(
            r"(exit_code|code|code\(\))\s*(==|!=)\s*(Some\()?(0|1|2|125)\b|\bexit_code\s*=\s*(0|1|2|125)\b",
        )
        .unwrap()
    });
    let raw_125 = line
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == "125");
    let raw_exit = line.contains("process::exit(") && line.chars().any(|c| c.is_ascii_digit());
    raw_125 || raw_exit || compared.is_match(line) || (in_exit_fn && returned.is_match(line))
}

/// Exit codes are numbers in one place, `outcome::ExitCode`'s constants,
/// and only `outcome::exit_code` maps a verdict to one: no other shipped
/// line (`outcome.rs`'s own included) returns, matches or compares an exit
/// code as a number, nor calls `process::exit` with one.
#[test]
fn exit_codes_come_from_outcome_only() {
    let mut bad = Vec::new();
    for (p, text) in rust_files(&repo().join("harness/src")) {
        let is_outcome = p.ends_with("harness/src/outcome.rs");
        let mut in_exit_fn = false;
        for (i, line) in shipped(&text).lines().enumerate() {
            let t = line.trim();
            if t.starts_with("//") || (is_outcome && t.starts_with("pub const ")) {
                continue;
            }
            if t.contains("fn ") {
                in_exit_fn = t.contains("-> i32") || t.contains(", i32>");
            }
            if exit_literal(t, in_exit_fn) {
                bad.push(format!("{}:{}: {}", rel(&p), i + 1, t));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "exit codes are outcome::ExitCode's names, mapped by outcome::exit_code:\n{}",
        bad.join("\n")
    );
}

/// The check above sees every form an exit-code literal takes, and not
/// the named constants or numbers that are not exit codes.
#[test]
fn the_exit_literal_check_sees_each_form() {
    for line in [
        "0",
        "return 1;",
        "Verdict::BadInput => 2,",
        "Err(125)",
        "Ok(0)",
        "if report.exit_code != 0 {",
        "std::process::exit(3)",
        "let code = 125;",
    ] {
        assert!(exit_literal(line, true), "missed {line:?}");
    }
    for line in [
        "ExitCode::PASS",
        "return ExitCode::FAIL;",
        "Err(exit::usage())",
        "if report.exit_code != ExitCode::PASS {",
        "let n = 1;",
        "UniqueConstraint => 0,",
    ] {
        assert!(!exit_literal(line, false), "flagged {line:?}");
    }
    assert!(!exit_literal("ExitCode::PASS", true));
}

/// Every module `lib.rs` declares has a row in ARCHITECTURE.md's code map.
#[test]
fn every_module_is_in_the_code_map() {
    let lib = std::fs::read_to_string(repo().join("harness/src/lib.rs")).unwrap();
    let arch = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or_else(|| l.trim().strip_prefix("mod "))
        })
        .map(|m| m.trim_end_matches(';'))
        .filter(|m| !arch.contains(&format!("| `{m}` |")) && !arch.contains(&format!("| `{m}/`")))
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a row in ARCHITECTURE.md's code map: {missing:?}"
    );
}

/// A comment that cites a Markdown document cites one in the repo.
#[test]
fn cited_documents_exist() {
    let mut bad = Vec::new();
    for (p, text) in rust_files(&repo().join("harness")) {
        for (i, line) in text.lines().enumerate() {
            let Some(comment) = line.split_once("//").map(|(_, c)| c) else {
                continue;
            };
            for word in comment.split(|c: char| c.is_whitespace() || "()`,;:".contains(c)) {
                let doc = word.trim_end_matches('.');
                if !doc.ends_with(".md") || doc.contains("://") {
                    continue;
                }
                let found = [
                    repo(),
                    repo().join("scenarios"),
                    repo().join("fixtures/evidence"),
                    p.parent().unwrap().to_path_buf(),
                ]
                .iter()
                .any(|d| d.join(doc).exists());
                if !found {
                    bad.push(format!("{}:{}: {doc}", rel(&p), i + 1));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "comments cite documents that are not in the repo:\n{}",
        bad.join("\n")
    );
}

/// Placeholders (`<hash>`, `<time>`, `<line>`, `<random>`, ...) are the
/// redactor's words: no other shipped file writes one, so every rule that
/// hides a run-varying value lives in one place. No exceptions.
#[test]
fn placeholders_live_in_the_redactor() {
    let mut bad = Vec::new();
    for (p, text) in rust_files(&repo().join("harness/src")) {
        let r = rel(&p);
        if r.ends_with("evidence/redact.rs") {
            continue;
        }
        for (i, line) in shipped(&text).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for m in placeholder_literals(line) {
                bad.push(format!("{r}:{}: {m}", i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "placeholders outside the redactor:\n{}",
        bad.join("\n")
    );
}

/// The string literals in a line that hold a placeholder: the redactor's
/// own (`<hash>`, `<n>`, `<node-id>`, ...) or a node's id (`<alice.id>`).
fn placeholder_literals(line: &str) -> Vec<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r#""[^"]*<(node-id|hash|hex|scid|time|addr|port|pid|line|version|run|bolt11|bolt12|n|random|value|id|txid|\w+\.id)>[^"]*""#,
        )
        .unwrap()
    });
    re.find_iter(line).map(|m| m.as_str().to_string()).collect()
}

#[test]
fn the_placeholder_check_sees_a_placeholder_in_any_literal() {
    assert_eq!(
        placeholder_literals(r#"Some(r.redact(&format!("{file}:<line> ({function})")))"#).len(),
        1
    );
    assert_eq!(
        placeholder_literals(r#"Value::String("<random>".into())"#).len(),
        1
    );
    assert_eq!(placeholder_literals(r#"format!("<{name}.id>")"#).len(), 0);
    assert_eq!(
        placeholder_literals(r#"t.replace("<alice.id>", "")"#).len(),
        1
    );
    assert!(placeholder_literals(r#"Vec<String> = "a < b > c""#).is_empty());
}

/// The scenario language sits below the runtime: `scenario/` may read a
/// fixture's metadata (`fixture::meta`) but never reaches the code that
/// starts, drives or records daemons, so parsing stays pure and testable
/// without binaries.
#[test]
fn the_language_imports_no_runtime() {
    const RUNTIME: &[&str] = &[
        "network", "node", "executor", "runner", "process", "bitcoind", "postgres",
    ];
    let path = regex::Regex::new(r"crate::(\w+)(::\w+)?").unwrap();
    let group = regex::Regex::new(r"crate::\{([^}]*)\}").unwrap();
    let mut bad = Vec::new();
    for (p, text) in rust_files(&repo().join("harness/src/scenario")) {
        for (i, line) in text.lines().enumerate() {
            let mut named: Vec<(String, Option<String>)> = path
                .captures_iter(line)
                .map(|c| {
                    (
                        c[1].to_string(),
                        c.get(2).map(|m| m.as_str()[2..].to_string()),
                    )
                })
                .collect();
            for c in group.captures_iter(line) {
                for item in c[1].split(',') {
                    let mut parts = item.trim().split("::");
                    let module = parts.next().unwrap_or_default().to_string();
                    named.push((module, parts.next().map(String::from)));
                }
            }
            let runtime = named.iter().any(|(module, sub)| {
                RUNTIME.contains(&module.as_str())
                    || (module == "fixture" && sub.as_deref() != Some("meta"))
            });
            if runtime {
                bad.push(format!("{}:{}: {}", rel(&p), i + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "scenario/ imports the runtime (it may use crate::fixture::meta, not the daemons):\n{}",
        bad.join("\n")
    );
}

/// The step kinds are one table (`scenario::model`'s `step_kinds!`): every
/// name in `STEP_KINDS` parses, through the public parser, to an `Action`
/// whose `kind()` is that name. A kind listed without a parser, or parsed
/// into another kind's action, fails here; so does a kind this test has no
/// minimal step for, so a new kind gets one.
#[test]
fn every_step_kind_parses_to_an_action_of_that_kind() {
    use cln_harness::scenario::{parse::parse, STEP_KINDS};
    // The fewest keys each kind needs, in the compact form.
    const MINIMAL: &[(&str, &str)] = &[
        ("fund", r#"{ fund = "alice" }"#),
        ("connect", r#"{ connect = "alice", peer = "bob" }"#),
        (
            "open_channel",
            r#"{ open_channel = "alice", peer = "bob" }"#,
        ),
        ("mine", "{ mine = 1 }"),
        (
            "wait_channel",
            r#"{ wait_channel = "alice", peer = "bob" }"#,
        ),
        ("invoice", r#"{ invoice = "alice", amount_msat = 1000 }"#),
        ("pay", r#"{ pay = "alice", bolt11 = "lnbcrt1" }"#),
        (
            "keysend",
            r#"{ keysend = "alice", to = "bob", amount_msat = 1000 }"#,
        ),
        ("close", r#"{ close = "alice", peer = "bob" }"#),
        ("force_close", r#"{ force_close = "alice", peer = "bob" }"#),
        ("wait_swept", r#"{ wait_swept = "alice" }"#),
        ("witness", r#"{ witness = "alice" }"#),
        ("bitcoin", r#"{ bitcoin = "getblockcount" }"#),
        ("wait_mempool", "{ wait_mempool = 1 }"),
        ("restart", r#"{ restart = "alice" }"#),
        ("upgrade", r#"{ upgrade = "alice", role = "candidate" }"#),
        ("kill", r#"{ kill = "alice" }"#),
        ("start", r#"{ start = "alice" }"#),
        ("stop", r#"{ stop = "alice" }"#),
        ("wait_log", r#"{ wait_log = "alice", pattern = "x" }"#),
        ("assert_log", r#"{ assert_log = "alice", pattern = "x" }"#),
        ("assert_alive", r#"{ assert_alive = "alice" }"#),
        ("rpc", r#"{ rpc = "alice", method = "getinfo" }"#),
        ("raw", r#"{ raw = "alice", request = "{}" }"#),
        (
            "wait_rpc",
            r#"{ wait_rpc = "alice", method = "getinfo", until = { path = "id", exists = true } }"#,
        ),
        ("check_db", r#"{ check_db = "alice" }"#),
        ("sleep", "{ sleep = 1 }"),
        ("repeat", "{ repeat = 1, steps = [{ mine = 1 }] }"),
        (
            "parallel",
            r#"{ parallel = [{ rpc = "alice", method = "getinfo" }, { mine = 1 }] }"#,
        ),
    ];
    let mut bad = Vec::new();
    for kind in STEP_KINDS {
        let Some((_, step)) = MINIMAL.iter().find(|(k, _)| k == kind) else {
            bad.push(format!("`{kind}`: no minimal step in this test; add one"));
            continue;
        };
        // The compact form is rewritten into the long one (`do = "KIND"`),
        // so this goes through both the compact form and the dispatch.
        match parse("kinds.toml", &format!("steps = [{step}]\n")) {
            Ok(s) if s.steps[0].action.kind() == *kind => {}
            Ok(s) => bad.push(format!(
                "`{step}` parses to a `{}`",
                s.steps[0].action.kind()
            )),
            Err(e) => bad.push(format!("`{step}`: {e}")),
        }
    }
    for (k, _) in MINIMAL {
        if !STEP_KINDS.contains(k) {
            bad.push(format!("`{k}` is not in STEP_KINDS"));
        }
    }
    assert!(
        bad.is_empty(),
        "step kinds and the parser disagree:\n{}",
        bad.join("\n")
    );
}

/// Shipped code stays in small pieces: no file over this many lines
/// before its test module, no function over `MAX_FN_LINES`.
const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 120;

/// Pieces allowed to be larger, each with the reason. Keep it short: an
/// entry is a debt, not a licence.
const SIZE_ALLOWED: &[(&str, &str)] = &[];

/// Every function in a parsed file (test modules skipped), as
/// (name, first line, last line).
fn functions(file: &syn::File) -> Vec<(String, usize, usize)> {
    use syn::spanned::Spanned;
    use syn::visit::Visit;
    struct Fns(Vec<(String, usize, usize)>);
    fn is_test(attrs: &[syn::Attribute]) -> bool {
        attrs.iter().any(|a| {
            a.path().is_ident("test")
                || (a.path().is_ident("cfg")
                    && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test"))
        })
    }
    impl Fns {
        /// From `fn` to the closing brace: doc comments and attributes
        /// are not code, and a well-documented function is no longer.
        fn add(&mut self, sig: &syn::Signature, body: proc_macro2::Span) {
            self.0.push((
                sig.ident.to_string(),
                sig.span().start().line,
                body.end().line,
            ));
        }
    }
    impl<'a> Visit<'a> for Fns {
        fn visit_item_mod(&mut self, m: &'a syn::ItemMod) {
            if !is_test(&m.attrs) {
                syn::visit::visit_item_mod(self, m);
            }
        }
        fn visit_item_fn(&mut self, f: &'a syn::ItemFn) {
            if !is_test(&f.attrs) {
                self.add(&f.sig, f.block.span());
                syn::visit::visit_item_fn(self, f);
            }
        }
        fn visit_impl_item_fn(&mut self, f: &'a syn::ImplItemFn) {
            if !is_test(&f.attrs) {
                self.add(&f.sig, f.block.span());
                syn::visit::visit_impl_item_fn(self, f);
            }
        }
        fn visit_trait_item_fn(&mut self, f: &'a syn::TraitItemFn) {
            if let Some(body) = &f.default {
                self.add(&f.sig, body.span());
            }
            syn::visit::visit_trait_item_fn(self, f);
        }
    }
    let mut fns = Fns(Vec::new());
    fns.visit_file(file);
    fns.0
}

#[test]
fn no_file_or_function_is_too_long() {
    let allowed = |what: &str| SIZE_ALLOWED.iter().any(|(w, _)| *w == what);
    let mut bad = Vec::new();
    for (p, text) in rust_files(&repo().join("harness/src")) {
        let lines = shipped(&text).lines().count();
        if lines > MAX_FILE_LINES && !allowed(&rel(&p)) {
            bad.push(format!(
                "{}: {lines} lines before its tests (max {MAX_FILE_LINES})",
                rel(&p)
            ));
        }
        let file =
            syn::parse_file(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", rel(&p)));
        for (name, first, last) in functions(&file) {
            let len = last - first + 1;
            let what = format!("{}::{name}", rel(&p));
            if len > MAX_FN_LINES && !allowed(&what) {
                bad.push(format!(
                    "{}:{first}: fn {name} is {len} lines (max {MAX_FN_LINES})",
                    rel(&p)
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "split these along their seams (or add a justified SIZE_ALLOWED entry):\n{}",
        bad.join("\n")
    );
}

/// The size check finds a long function: a check that cannot fail
/// guards nothing.
#[test]
fn the_size_check_sees_a_long_function() {
    let body = "let _x = 1;\n".repeat(MAX_FN_LINES + 1);
    let src = format!(
        "mod m {{ fn long() {{\n{body}}} }}\n#[cfg(test)]\nmod tests {{ fn t() {{\n{body}}} }}"
    );
    let fns = functions(&syn::parse_file(&src).unwrap());
    assert_eq!(fns.len(), 1, "{fns:?}");
    assert_eq!(fns[0].0, "long");
    assert!(fns[0].2 - fns[0].1 + 1 > MAX_FN_LINES);
    // Its documentation is not its length.
    let docs = "/// why it is so\n".repeat(MAX_FN_LINES);
    let fns = functions(&syn::parse_file(&format!("{docs}fn short() {{\n}}")).unwrap());
    assert_eq!(fns[0].2 - fns[0].1 + 1, 2, "{fns:?}");
}
