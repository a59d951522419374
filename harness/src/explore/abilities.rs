//! What the versions on both sides of an upgrade can do, pure: which
//! traffic a program may use so none is an `error` by construction
//! ([`Abilities`], along a chain of upgrades too), and which state checks
//! hold across it ([`KNOWN_DIFFERENCES`], the one table of intended
//! changes to what a check reads).

use crate::version::{ClnVersion, Features};

/// One of the state-survival checks around an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StateCheck {
    /// `listinvoices`: count, and how many are paid.
    Invoices,
    /// `listsendpays`: count, and how many are complete.
    Payments,
    /// `listpeerchannels`: count, and how many are `CHANNELD_NORMAL`.
    Channels,
    /// `listpeerchannels`: the sum of `to_us_msat` (saved with no HTLC in flight).
    Balances,
    /// `listfunds`: the sum of the wallet's outputs.
    Funds,
    /// Bookkeeper: `bkpr-listbalances` accounts (counted) and
    /// `bkpr-listaccountevents` (must answer; the bookkeeper may append).
    Accounts,
}

pub const ALL_CHECKS: [StateCheck; 6] = [
    StateCheck::Invoices,
    StateCheck::Payments,
    StateCheck::Channels,
    StateCheck::Balances,
    StateCheck::Funds,
    StateCheck::Accounts,
];

/// A change a CLN version made on purpose to what a state check reads: the
/// check is left out of programs whose upgrade crosses `since` (base before
/// it, candidate at or after it). The one table of these; each entry says
/// why, so a finding is never silenced by a blanket ignore.
pub struct KnownDifference {
    pub check: StateCheck,
    /// (year, month) of the first release with the change.
    pub since: (u32, u32),
    pub why: &'static str,
}

pub const KNOWN_DIFFERENCES: &[KnownDifference] = &[];

/// A CLN bug explore found again: on a path with a version from before
/// the fix, programs steer around it (or allow its line), so a campaign
/// spends its runs on what nobody has reported. The one table of these;
/// each names its fix, or the verdict case that pins it while there is
/// none, so nothing is silenced by a blanket ignore, and a path whose
/// versions all have the fix is checked for it as for anything else.
pub struct KnownBug {
    /// (year, month) of the first release with the fix; `None`: no
    /// release has one yet, so every path steers around it. When one
    /// does, its verdict case (`fixtures/verdicts/cases.toml`) fails on
    /// it, and this gets the release.
    pub fixed_in: Option<(u32, u32)>,
    /// The upstream change that fixed it, or what pins it until one does.
    pub fix: &'static str,
    pub why: &'static str,
    pub steer: Steer,
}

#[derive(PartialEq, Eq)]
pub enum Steer {
    /// Every channel announced in programs where xpay handles `pay`.
    AnnounceUnderXpay,
    /// This line allowed (a `broken_log` regex, matched against the redacted line).
    AllowBroken(&'static str),
    /// In zero-conf programs, no channel's acceptor pays before a block
    /// is mined (its funding confirmed): [`Steering::acceptor_spends_unmined`].
    AcceptorWaitsForTheFunding,
    /// A forwarding node goes down (restart, kill, stop) only once its
    /// channels have no HTLC in flight: [`Steering::down_mid_forward`].
    ForwarderSettlesFirst,
    /// Each channel spliced once at most: [`Steering::resplice`].
    OneSplicePerChannel,
}

pub const KNOWN_BUGS: &[KnownBug] = &[
    KnownBug {
        fixed_in: Some((25, 2)),
        fix: "a2f58a28b \"lightningd: injectpaymentonion can use scids of unannounced channels\" (Changelog-Fixed: xpay now works through unannounced channels)",
        why: "explore, v24.11 -> v25.02.1: on v24.11 with xpay handling `pay`, paying a peer's invoice over an unannounced channel fails with `Unexpected injectpaymentonion error -32602: Unknown scid`",
        steer: Steer::AnnounceUnderXpay,
    },
    KnownBug {
        fixed_in: Some((26, 4)),
        fix: "eb1986289 \"lightningd: don't complain if gossipd tells us about dead channel on startup\"",
        why: "explore, v25.02.1 -> v25.05: a node restarted after its channel's close was mined logs BROKEN `gossipd gave channel_update in CGOSSIP_CHANNEL_ANNOUNCED_DEAD?` when gossipd has not yet processed the block; harmless, it catches up",
        steer: Steer::AllowBroken("gossipd gave channel_update in CGOSSIP_CHANNEL_ANNOUNCED_DEAD"),
    },
    KnownBug {
        fixed_in: Some((25, 2)),
        fix: "07669a0e3 \"lightningd: rescan for missing p2wkph for closed channels\" (v24.11 missed mutual closes paid to the p2wpkh shutdown address; the repair rescans once, with a BROKEN line)",
        why: "explore, v24.11 -> v25.02.1: the first v25.02 start over a v24.11 database with a closed channel whose shutdown address holds no output (a unilateral close, an HTLC left on chain) logs BROKEN `Potentially missing 1 outputs from previous closes: scanning from block N`, then `Rescan finished! 0 outputs recovered.  Let's never do that again.`; the rescan itself is the fix",
        steer: Steer::AllowBroken(
            "Potentially missing .* outputs from previous closes|Rescan finished! .* outputs recovered",
        ),
    },
    KnownBug {
        fixed_in: None,
        fix: "none yet (v26.06.6 has it; no upstream report found, 2026-12-07): the verdict case `zero-conf-push-spent-before-lockin` pins it",
        why: "explore, every path from v24.11 to v26.06.6: a zero-conf channel's acceptor that pays part of its push away before the funding is mined aborts on the block that mines it (`Unable to sub our_msat - push`: `channel_record_open` takes the acceptor's opening balance as its balance now minus the push)",
        steer: Steer::AcceptorWaitsForTheFunding,
    },
    KnownBug {
        fixed_in: None,
        fix: "none yet (v26.06.6 has it; the harness found it, 2026-11): the verdict case `forward-settled-across-restart` pins it",
        why: "explore, v25.05 -> v25.09.1 and v25.09.1 -> v26.06.6: a forwarder restarted while its incoming HTLC's removal is still in flight reloads it from the database with no onion payload, logs BROKEN `Unable to calculate fees collected. Not logging an inbound HTLC`, and the forward's fee never reaches the accounting",
        steer: Steer::ForwarderSettlesFirst,
    },
    KnownBug {
        fixed_in: Some((25, 5)),
        fix: "among v25.05's splice changes (not bisected; likely 8741e7530 \"splice: Fix txid watch for splice RBF\" or 721f36831 \"splice: Add check for correct txid in `splice_locked`\"): the reproducer fails on v24.11 and v25.02.1 and passes on v25.05, v25.09, v25.09.1 and v26.06.6",
        why: "explore, v24.11 -> v25.02.1: a second splice of a channel never locks: lightningd still watches the first splice's transaction and sends its depth (`splice_depth_cb: sending funding depth scid` of the old splice), channeld answers `Unable to find inflight txid amoung 1 inflights` and the channel stays in CHANNELD_AWAITING_SPLICE",
        steer: Steer::OneSplicePerChannel,
    },
];

/// What the versions on both sides can do (so no program is an `error` by
/// construction), and which state checks apply across them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abilities {
    /// xpay can be switched on (v24.11+ on both sides).
    pub xpay_on: bool,
    /// Legacy pay exists on both sides (xpay can be switched off).
    pub xpay_off: bool,
    /// BOLT12 offers are on by default on both sides (v24.11+).
    pub offers: bool,
    /// Splices on base (v24.11+ on every version of the path: their
    /// `splice_init`/`splice_update`/`splice_signed` are the same through
    /// v26.06; the nodes are started with `splicing = true`). Only where
    /// every version speaks the same splice wire format
    /// ([`Features::splice_wire_era`]): across formats a splicing channel
    /// breaks, spliced or not, as CLN documents. Explore found both again:
    /// "bad reestablish msg" on v25.05 -> v26.06.6, "Bad commit_sig" on
    /// v25.05 -> v25.09.1.
    pub splices: bool,
    /// Splices of announced channels too (every version v25.09+). Before,
    /// the experimental splice never settles the new short id's
    /// announcement: after a splice on v24.11 or v25.05, both ends send
    /// `announcement_signatures` back and forth without end and the new
    /// id never reaches gossip (explore, v24.11 -> v25.02.1); v25.09
    /// reworked it (#8335, and routing over the old short id, #8387).
    pub splice_announced: bool,
    /// Dual-funded opens (`experimental-dual-fund`, the funder plugin's
    /// `match` policy: v24.11+ on every version of the path).
    pub dual_fund: bool,
    /// Zero-conf opens (`fundchannel mindepth=0` to a node whose
    /// `openchannel` hook answers `mindepth` 0: v24.11+ on every version).
    pub zero_conf: bool,
    /// electrs is installed: programs end with a chain-witness check of
    /// every node (one more oracle: lightningd's funds against the chain).
    pub witness: bool,
    /// Releases between base and candidate (`--via`): upgraded nodes go
    /// through each in turn, one database through several upgrades.
    pub via: usize,
    /// PostgreSQL is installed and both builds link libpq: a share of the
    /// programs ([`POSTGRES_SHARE`]) keep every node's database there.
    pub postgres: bool,
    /// The state checks that hold across this upgrade.
    pub checks: Vec<StateCheck>,
    /// What the [`KNOWN_BUGS`] on the path steer the programs around.
    pub steering: Steering,
}

/// What the [`KNOWN_BUGS`] present on a path ask of its programs, in one
/// value: [`Abilities::between`] makes it, [`super::program::Program`]
/// carries it whole, and the generator, `is_valid` (through `Lines`) and
/// the renderer read it there. Each `true` means "no bug on the path asks
/// for this steer".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steering {
    /// xpay pays through unannounced channels on every version of the
    /// path (else programs that switch xpay on announce every channel).
    pub xpay_unannounced: bool,
    /// BROKEN lines that a version of the path still logs: the program's
    /// `broken_log`.
    pub allowed_broken: Vec<&'static str>,
    /// A zero-conf channel's acceptor may pay over it before its funding
    /// is mined (else it waits for the first block).
    pub acceptor_spends_unmined: bool,
    /// A node with two channels (it forwards) may go down with HTLCs in
    /// flight on them (else they settle first).
    pub down_mid_forward: bool,
    /// A channel may be spliced again after its splice locked (else once
    /// at most).
    pub resplice: bool,
}

impl Steering {
    /// Nothing to steer around: no bug present.
    pub fn none() -> Steering {
        Steering::for_bugs(&[])
    }

    /// What these bugs ask for.
    pub fn for_bugs(present: &[&KnownBug]) -> Steering {
        let unsteered = |steer: Steer| !present.iter().any(|k| k.steer == steer);
        Steering {
            xpay_unannounced: unsteered(Steer::AnnounceUnderXpay),
            allowed_broken: present
                .iter()
                .filter_map(|k| match k.steer {
                    Steer::AllowBroken(line) => Some(line),
                    _ => None,
                })
                .collect(),
            acceptor_spends_unmined: unsteered(Steer::AcceptorWaitsForTheFunding),
            down_mid_forward: unsteered(Steer::ForwarderSettlesFirst),
            resplice: unsteered(Steer::OneSplicePerChannel),
        }
    }
}

impl Abilities {
    /// Everything on, every check: for tests.
    pub fn all() -> Abilities {
        Abilities {
            xpay_on: true,
            xpay_off: true,
            offers: true,
            splices: true,
            splice_announced: true,
            dual_fund: true,
            zero_conf: true,
            witness: true,
            via: 0,
            postgres: true,
            checks: ALL_CHECKS.to_vec(),
            steering: Steering::none(),
        }
    }

    /// Along a chain of upgrades (base, the `via` releases, candidate):
    /// what every hop supports, and the checks that hold across each.
    pub fn along(versions: &[ClnVersion]) -> Abilities {
        let mut can = Abilities::between(&versions[0], &versions[versions.len() - 1]);
        for hop in versions.windows(2) {
            let h = Abilities::between(&hop[0], &hop[1]);
            can.xpay_on &= h.xpay_on;
            can.xpay_off &= h.xpay_off;
            can.offers &= h.offers;
            can.splices &= h.splices;
            can.splice_announced &= h.splice_announced;
            can.dual_fund &= h.dual_fund;
            can.zero_conf &= h.zero_conf;
            can.checks.retain(|c| h.checks.contains(c));
        }
        can.via = versions.len().saturating_sub(2);
        can
    }

    pub fn between(base: &ClnVersion, candidate: &ClnVersion) -> Abilities {
        let (b, c) = (Features::of(base), Features::of(candidate));
        let crosses = |(y, m): (u32, u32)| !base.at_least(y, m) && candidate.at_least(y, m);
        // Base is the oldest version of the path: a bug is on it if base is.
        let present: Vec<&KnownBug> = KNOWN_BUGS
            .iter()
            .filter(|k| k.fixed_in.is_none_or(|(y, m)| !base.at_least(y, m)))
            .collect();
        Abilities {
            xpay_on: b.xpay && c.xpay,
            xpay_off: !b.legacy_pay_removed && !c.legacy_pay_removed,
            offers: base.at_least(24, 11) && candidate.at_least(24, 11),
            // A build between releases may carry the next release's wire
            // format (v25.02-321-g1cc64dd67 already speaks v25.05's
            // reestablish: explore, v25.02.1 -> 1cc64dd67), so only releases.
            splices: base.at_least(24, 11)
                && candidate.at_least(24, 11)
                && base.is_release()
                && candidate.is_release()
                && b.splice_wire_era == c.splice_wire_era,
            splice_announced: base.at_least(25, 9) && candidate.at_least(25, 9),
            dual_fund: base.at_least(24, 11) && candidate.at_least(24, 11),
            zero_conf: base.at_least(24, 11) && candidate.at_least(24, 11),
            witness: false,
            via: 0,
            postgres: false,
            checks: ALL_CHECKS
                .into_iter()
                .filter(|check| {
                    !KNOWN_DIFFERENCES
                        .iter()
                        .any(|k| k.check == *check && crosses(k.since))
                })
                .collect(),
            steering: Steering::for_bugs(&present),
        }
    }
}
