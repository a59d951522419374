//! CLN version strings as `lightningd --version` prints them, and the
//! feature gates the harness derives from them. Pure: no IO.

use std::cmp::Ordering;
use std::fmt;

/// A parsed `lightningd --version` line, e.g. `v25.02.1`,
/// `v25.02-321-g1cc64dd67` (a master build 321 commits after v25.02) or
/// `v26.06.6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClnVersion {
    /// The exact text lightningd printed (trimmed).
    pub raw: String,
    pub year: u32,
    pub month: u32,
    pub patch: u32,
    /// `rcN` suffix on the tag, if any.
    pub rc: Option<u32>,
    /// Commits after the tag (`-321-g<hash>`): a non-release build.
    pub commits_after: Option<u32>,
}

impl ClnVersion {
    /// Parses `v25.02`, `v25.02.1`, `v25.05rc1`, `v25.02-321-g1cc64dd67`,
    /// `v25.02.1-modded`, with or without the leading `v`.
    pub fn parse(text: &str) -> Option<ClnVersion> {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| {
            regex::Regex::new(
                r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:rc(\d+))?(?:[a-z][a-z0-9]*)?(?:-(\d+)-g[0-9a-f]+)?(?:-[A-Za-z0-9.-]+)?$",
            )
            .expect("static regex")
        });
        let raw = text.trim().to_string();
        let c = re.captures(&raw)?;
        let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
        Some(ClnVersion {
            year: num(1)?,
            month: num(2)?,
            patch: num(3).unwrap_or(0),
            rc: num(4),
            commits_after: num(5),
            raw: raw.clone(),
        })
    }

    /// lightningd itself calls a version "released" when it has no `-`
    /// (common/version.c); only non-released builds refuse to migrate a
    /// database without `--database-upgrade=true`.
    pub fn is_release(&self) -> bool {
        !self.raw.contains('-')
    }

    /// True when this build contains everything of release `yy.mm`
    /// (a master build after v25.02 counts as at least v25.02).
    pub fn at_least(&self, year: u32, month: u32) -> bool {
        (self.year, self.month) >= (year, month)
    }

    /// The short name snapshots and matrix entries use: the tag for a
    /// release (`v25.05`), the commit for a build between tags
    /// (`v25.02-321-g1cc64dd67` → `1cc64dd67`).
    pub fn label(&self) -> String {
        match self.raw.rsplit_once("-g") {
            Some((_, hash)) if self.commits_after.is_some() => {
                hash.split('-').next().unwrap_or(hash).to_string()
            }
            _ => self.raw.clone(),
        }
    }

    fn sort_key(&self) -> (u32, u32, u32, u32, u32) {
        // rc builds sort before their release; commits after a tag sort after it.
        let rc_key = self.rc.map_or(u32::MAX, |r| r);
        (
            self.year,
            self.month,
            self.patch,
            rc_key,
            self.commits_after.unwrap_or(0),
        )
    }
}

impl PartialOrd for ClnVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ClnVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key()
            .cmp(&other.sort_key())
            .then_with(|| self.raw.cmp(&other.raw))
    }
}

impl fmt::Display for ClnVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Feature gates the harness needs, in one place, each with the version
/// that introduced it (from CLN's `doc/` and pyln-testing's version gates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `--developer` flag (before v23.11 dev options needed a dev build).
    pub developer_flag: bool,
    /// `log-level=trace`.
    pub log_trace: bool,
    /// `autoconnect-seeker-peers`, `xpay-handle-pay`, the cln-xpay plugin.
    pub xpay: bool,
    /// `xpay-handle-pay` defaults to true.
    pub xpay_handles_pay_by_default: bool,
    /// `keysend` and legacy `pay` need `allow-deprecated-apis`.
    pub keysend_and_pay_deprecated: bool,
    /// Legacy `pay` (xpay off) is gone entirely.
    pub legacy_pay_removed: bool,
    /// `hsm_secret` holds a BIP39 mnemonic rather than 32 raw bytes.
    pub mnemonic_hsm_secret: bool,
    /// `database-upgrade` option exists.
    pub database_upgrade_option: bool,
    /// Splicing is on without `experimental-splicing` (v26.04 made it the
    /// default and deprecated the flag: given, it stops lightningd unless
    /// deprecated APIs are allowed).
    pub splicing_by_default: bool,
    /// Which splice wire format the binary speaks, once splicing is on.
    /// 0 before v25.05 (`channel_reestablish` TLVs 0/1/3 still the channel
    /// upgrade protocol's); 1 from v25.05 (#8342: the splice draft's
    /// `your_last_funding_locked_txid` 1, `my_current_funding_locked_txid`
    /// 3); 2 from v25.09 (#8335, `start_batch`: `commitment_signed`'s
    /// `splice_info` loses its `batch_size`, so v25.05 answers a v25.09
    /// commit "Bad commit_sig"); 3 from v25.12 (#8646, the final spec:
    /// `next_funding` 1 of 33 bytes, `my_current_funding_locked` 5: "bad
    /// reestablish msg"). Across two eras a splicing channel breaks; CLN's
    /// changelog says both nodes must upgrade in unison.
    pub splice_wire_era: u8,
}

impl Features {
    pub fn of(v: &ClnVersion) -> Features {
        Features {
            developer_flag: v.at_least(23, 11),
            log_trace: v.at_least(24, 5),
            xpay: v.at_least(24, 11),
            xpay_handles_pay_by_default: v.at_least(26, 6),
            keysend_and_pay_deprecated: v.at_least(26, 6),
            legacy_pay_removed: v.at_least(27, 3),
            mnemonic_hsm_secret: v.at_least(25, 12),
            database_upgrade_option: v.at_least(22, 11),
            splicing_by_default: v.at_least(26, 4),
            splice_wire_era: if v.at_least(25, 12) {
                3
            } else if v.at_least(25, 9) {
                2
            } else if v.at_least(25, 5) {
                1
            } else {
                0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_tags_or_commits() {
        assert_eq!(ClnVersion::parse("v25.05").unwrap().label(), "v25.05");
        assert_eq!(
            ClnVersion::parse("v25.02-321-g1cc64dd67").unwrap().label(),
            "1cc64dd67"
        );
        assert_eq!(ClnVersion::parse("v26.06.6").unwrap().label(), "v26.06.6");
    }

    #[test]
    fn parses_the_versions_that_matter() {
        let old = ClnVersion::parse("v25.02.1\n").unwrap();
        assert_eq!((old.year, old.month, old.patch), (25, 2, 1));
        assert!(old.is_release());

        let broken = ClnVersion::parse("v25.02-321-g1cc64dd67").unwrap();
        assert_eq!(broken.commits_after, Some(321));
        assert!(
            !broken.is_release(),
            "a master build must need --database-upgrade"
        );

        let fixed = ClnVersion::parse("v25.05").unwrap();
        let latest = ClnVersion::parse("v26.06.6").unwrap();
        assert!(ClnVersion::parse("v25.02").unwrap() < broken);
        assert!(old < fixed && broken < fixed && fixed < latest);
        assert_eq!(ClnVersion::parse("v24.11gl1").unwrap().month, 11);
        assert!(ClnVersion::parse("v25.05rc1").unwrap() < fixed);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "lightningd", "v25", "vX.Y", "v25.02.1.4"] {
            assert!(ClnVersion::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn gates_follow_the_reference_table() {
        let f = |s| Features::of(&ClnVersion::parse(s).unwrap());
        assert!(!f("v24.08").xpay && f("v24.11").xpay);
        assert!(f("v25.02-321-g1cc64dd67").xpay);
        assert!(
            !f("v26.04").xpay_handles_pay_by_default && f("v26.06.6").xpay_handles_pay_by_default
        );
        assert!(!f("v25.05").mnemonic_hsm_secret && f("v25.12").mnemonic_hsm_secret);
        assert!(f("v26.06.6").keysend_and_pay_deprecated && !f("v26.06.6").legacy_pay_removed);
    }
}
