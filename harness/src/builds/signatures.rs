//! The release's `SHA256SUMS-<tag>.asc`, checked with `gpg` against the
//! maintainers' keys CLN's repository publishes (`contrib/keys/*.txt`), in
//! a throwaway keyring so the user's own is never touched. No Rust crate
//! verifies OpenPGP signatures against armored keys without pulling in a
//! whole OpenPGP stack; gpg is what CLN's release process itself uses.
//!
//! Outcomes: a good signature from a known key → checked; no gpg, no
//! `.asc` published, or no keys reachable → not checked, said plainly; a
//! bad signature, or signatures only by unknown keys → refused.

use std::path::Path;
use std::process::{Command, Stdio};

/// The key files in CLN's `contrib/keys/` (v24.11 .. v26.06).
pub const KEY_FILES: &[&str] = &[
    "cln.txt",
    "rustyrussell.txt",
    "cdecker.txt",
    "niftynei.txt",
    "amyers.txt",
    "pneuroth.txt",
    "sfarooqui.txt",
    "madel.txt",
    "sangbida.txt",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signatures {
    /// Good signatures from these keys (their user ids).
    Good(Vec<String>),
    /// Why nothing was checked.
    NotChecked(String),
}

impl std::fmt::Display for Signatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signatures::Good(who) => write!(
                f,
                "signatures checked: good signature from {}",
                who.join(", ")
            ),
            Signatures::NotChecked(why) => write!(f, "signatures not checked: {why}"),
        }
    }
}

pub fn gpg_available() -> bool {
    Command::new("gpg")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// What gpg's `--status-fd` lines say about a detached signature, pure.
pub fn judge(status: &str) -> Result<Signatures, String> {
    let mut good = Vec::new();
    let mut unknown = Vec::new();
    for line in status.lines().filter_map(|l| l.strip_prefix("[GNUPG:] ")) {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("BADSIG"), Some(key), who) => {
                return Err(format!(
                    "BAD signature by key {key} ({})",
                    who.unwrap_or("?")
                ))
            }
            (Some("GOODSIG"), Some(_), Some(who)) => good.push(who.to_string()),
            (Some("ERRSIG"), Some(key), _) | (Some("NO_PUBKEY"), Some(key), _) => {
                unknown.push(key.to_string())
            }
            _ => {}
        }
    }
    if !good.is_empty() {
        good.dedup();
        return Ok(Signatures::Good(good));
    }
    if !unknown.is_empty() {
        unknown.dedup();
        return Err(format!("signed only by keys that are not among the maintainers' ({}); pass --keys DIR if a maintainer's key is new", unknown.join(", ")));
    }
    Err("gpg found no signature in it".into())
}

/// Verify `sig` over `sums` with `keys` (armored public keys).
pub fn verify(sums: &[u8], sig: &[u8], keys: &[Vec<u8>]) -> Result<Signatures, String> {
    // 0700, as gpg wants its home (tempfile alone would leave it 0755:
    // gpg then warns "unsafe permissions on homedir").
    let home = crate::userdirs::private_tempdir("cln-harness-gpg-")
        .map_err(|e| format!("a scratch keyring: {e}"))?;
    let gpg = |args: &[&str], dir: &Path| {
        Command::new("gpg")
            .arg("--homedir")
            .arg(home.path())
            .args(["--batch", "--no-tty", "--quiet"])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
    };
    let files = home.path().join("files");
    std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;
    for (i, k) in keys.iter().enumerate() {
        let name = format!("key{i}.asc");
        std::fs::write(files.join(&name), k).map_err(|e| e.to_string())?;
        // A key that does not import is simply not among those that can vouch.
        let _ = gpg(&["--import", &name], &files);
    }
    std::fs::write(files.join("SHA256SUMS"), sums).map_err(|e| e.to_string())?;
    std::fs::write(files.join("SHA256SUMS.asc"), sig).map_err(|e| e.to_string())?;
    let out = gpg(
        &[
            "--status-fd",
            "1",
            "--verify",
            "SHA256SUMS.asc",
            "SHA256SUMS",
        ],
        &files,
    )
    .map_err(|e| format!("running gpg: {e}"))?;
    judge(&String::from_utf8_lossy(&out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpg_status_lines_are_judged() {
        let good = "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 1234ABCD Rusty Russell <rusty@rustcorp.com.au>\n[GNUPG:] VALIDSIG ...\n";
        assert_eq!(
            judge(good).unwrap(),
            Signatures::Good(vec!["Rusty Russell <rusty@rustcorp.com.au>".into()])
        );
        let bad = "[GNUPG:] BADSIG 1234ABCD Rusty Russell <rusty@rustcorp.com.au>\n";
        assert!(judge(bad)
            .unwrap_err()
            .contains("BAD signature by key 1234ABCD"));
        let stranger =
            "[GNUPG:] ERRSIG FEEDFACE 1 8 00 1700000000 9 -\n[GNUPG:] NO_PUBKEY FEEDFACE\n";
        assert!(judge(stranger)
            .unwrap_err()
            .contains("not among the maintainers' (FEEDFACE)"));
        assert!(judge("").is_err());
        assert_eq!(
            Signatures::NotChecked("no gpg".into()).to_string(),
            "signatures not checked: no gpg"
        );
    }
}
