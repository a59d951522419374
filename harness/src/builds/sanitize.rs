//! `build --sanitize address,undefined`: CLN's own configure switches
//! (`--enable-address-sanitizer`, `--enable-ub-sanitizer`), a label that
//! says so, and a check that configure kept them.
//!
//! A sanitized build is installed under its own label (`v26.06.6-asan-ubsan`)
//! and says that label in `--version` (it is built with `VERSION=<label>`),
//! so it never stands in for the plain build of the same commit, nor the
//! reverse. Like any build whose version has a `-`, lightningd calls it
//! non-release and migrates a database only with `--database-upgrade=true`,
//! which the harness passes by the same rule.

/// A sanitizer CLN's configure can build in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Sanitizer {
    /// AddressSanitizer (`--enable-address-sanitizer`).
    Address,
    /// UndefinedBehaviorSanitizer (`--enable-ub-sanitizer`).
    Undefined,
}

impl Sanitizer {
    fn configure_switch(self) -> &'static str {
        match self {
            Sanitizer::Address => "--enable-address-sanitizer",
            Sanitizer::Undefined => "--enable-ub-sanitizer",
        }
    }

    /// What `config.vars`' `CSANFLAGS` holds when configure kept it.
    fn compiler_flag(self) -> &'static str {
        match self {
            Sanitizer::Address => "-fsanitize=address",
            Sanitizer::Undefined => "-fsanitize=undefined",
        }
    }

    fn label_part(self) -> &'static str {
        match self {
            Sanitizer::Address => "asan",
            Sanitizer::Undefined => "ubsan",
        }
    }
}

/// The requested sanitizers in one order, each once.
pub fn normalised(list: &[Sanitizer]) -> Vec<Sanitizer> {
    let mut v = list.to_vec();
    v.sort();
    v.dedup();
    v
}

/// `-asan-ubsan` (empty for a plain build): appended to the label and to
/// the build tree's configuration name.
pub fn suffix(list: &[Sanitizer]) -> String {
    normalised(list)
        .iter()
        .map(|s| format!("-{}", s.label_part()))
        .collect()
}

/// Configure's arguments for `list`: the switches, and clang as the
/// compiler. CLN's UBSan flags (`-fno-sanitize=function`) are clang's (gcc
/// stops with "unrecognized argument"), and CLN's own sanitizer CI builds
/// with clang.
pub fn configure_args(list: &[Sanitizer]) -> Vec<String> {
    let switches = normalised(list)
        .iter()
        .map(|s| s.configure_switch().to_string())
        .collect::<Vec<_>>();
    if switches.is_empty() {
        return switches;
    }
    std::iter::once("CC=clang".to_string())
        .chain(switches)
        .collect()
}

/// What a sanitized build needs beyond a plain one: clang.
pub fn prerequisites(list: &[Sanitizer]) -> Vec<super::prereqs::Prerequisite> {
    if list.is_empty() {
        vec![]
    } else {
        vec![super::prereqs::tool("clang", "clang")]
    }
}

/// The sanitizers configure dropped, from its `config.vars`. CLN's
/// configure silently disables ASan when its compiler test fails ("ASAN
/// compilation bug detected: DISABLING"): a build labelled `-asan` without
/// it would be a binary the user did not ask for.
pub fn dropped(list: &[Sanitizer], config_vars: &str) -> Vec<Sanitizer> {
    let flags = config_vars
        .lines()
        .find_map(|l| l.strip_prefix("CSANFLAGS="))
        .unwrap_or("");
    normalised(list)
        .into_iter()
        .filter(|s| !flags.split_whitespace().any(|f| f == s.compiler_flag()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sanitized_build_has_its_own_label_and_configure_switches() {
        let both = [Sanitizer::Undefined, Sanitizer::Address, Sanitizer::Address];
        assert_eq!(suffix(&both), "-asan-ubsan");
        assert_eq!(suffix(&[]), "");
        assert_eq!(
            configure_args(&both),
            [
                "CC=clang",
                "--enable-address-sanitizer",
                "--enable-ub-sanitizer"
            ]
        );
        assert!(configure_args(&[]).is_empty() && prerequisites(&[]).is_empty());
        assert_eq!(prerequisites(&both)[0].package, "clang");
        // The label parses as a CLN version, and only the sanitized build says it.
        let label = format!("v26.06.6{}", suffix(&both));
        let v = crate::version::ClnVersion::parse(&label).unwrap();
        assert!(crate::binaries::label_matches(&label, &v));
        assert!(!crate::binaries::label_matches(
            &label,
            &crate::version::ClnVersion::parse("v26.06.6").unwrap()
        ));
        assert!(!v.is_release() && v.at_least(26, 6));
    }

    #[test]
    fn a_sanitizer_configure_dropped_is_named() {
        let vars = "CC=cc\nCSANFLAGS= -fsanitize=undefined -fno-sanitize=function -fno-sanitize-recover=undefined\n";
        let both = [Sanitizer::Address, Sanitizer::Undefined];
        assert_eq!(dropped(&both, vars), [Sanitizer::Address]);
        let kept = "CSANFLAGS= -fsanitize=address -fsanitize=undefined\n";
        assert!(dropped(&both, kept).is_empty());
        assert!(dropped(&[], "").is_empty());
    }
}
