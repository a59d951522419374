//! Generated programs, pure: drawn from a seeded RNG, rendered (by
//! [`super::render`]) as a compact scenario file (so every program is a scenario `run` accepts, and
//! the parser is what turns it into a [`crate::scenario::Scenario`]), and
//! shrunk by dropping parts and lowering amounts.
//!
//! A program is: 2 or 3 nodes in a line on `base` (channels of random size,
//! some unannounced), traffic on base, the state each node to be upgraded
//! reports (saved once no HTLC is in flight), the upgrade of one or more
//! nodes to `candidate`, the state-survival checks against the saved state
//! (minus the [`KNOWN_DIFFERENCES`] between the two versions), a check-db
//! of each upgraded node's database, and traffic on candidate.
//!
//! Traffic: invoices paid with the node's xpay mode, keysends, BOLT12
//! offers where both versions have them on by default, payments to a peer or
//! across the line (announced channels only), restarts, kills, a keysend
//! racing its payer's own restart (a `parallel` step, see [`Op::Race`]),
//! mutual closes, unilateral closes (on candidate only, see [`Op::Close`]),
//! a unilateral close with an HTLC in flight on base, left on chain for
//! the upgraded nodes to resolve ([`Op::StrandedClose`]), splices on base
//! ([`Op::Splice`]), an HTLC held from base until every upgrade is done
//! and settled then ([`Op::HeldPay`]), mining. Ops after a close never use
//! that channel; nothing closes or splices a channel while it holds an HTLC.

pub use super::abilities::{Abilities, StateCheck, Steering};
use super::lines::Lines;
pub use super::shrinking::shrink_candidates;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// A channel of the line: `a` funds it to `b` (`b = a + 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chan {
    pub a: usize,
    pub b: usize,
    pub sat: u64,
    pub push_msat: u64,
    pub announce: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Keysend {
        from: usize,
        to: usize,
        msat: u64,
    },
    /// An invoice of `payee`'s, paid by `payer` (a peer, or across the line).
    Pay {
        payer: usize,
        payee: usize,
        msat: u64,
    },
    /// An offer of `payee`'s, fetched and paid by `payer`.
    Offer {
        payer: usize,
        payee: usize,
        msat: u64,
    },
    /// Restart, then reconnect its open channels.
    Restart {
        node: usize,
    },
    /// A keysend of [`RACE_MSAT`]` + msat` from `from`, in flight while
    /// `from` itself restarts (one `parallel` step): the payment may
    /// complete or fail, but the node must come back, reconnect, and every
    /// HTLC must resolve. What a payer's restart does to an xpay or pay in
    /// flight, and to the HTLC it left, is what no sequential step reaches.
    Race {
        from: usize,
        to: usize,
        msat: u64,
    },
    /// SIGKILL, start, reconnect.
    Kill {
        node: usize,
    },
    /// Close channel `chan` from its funder, mined and waited `ONCHAIN` on
    /// both ends. Unilateral (the peer stopped first) only on candidate: its
    /// sweeps would move the wallet totals the state checks compare.
    Close {
        chan: usize,
        unilateral: bool,
    },
    /// Channel `chan` closed by its funder with an HTLC of
    /// [`STRAND_MSAT`]` + msat` in flight to the peer, which is killed
    /// under it (as `scenarios/crash-force-close.toml` does by hand). The
    /// HTLC stays on chain until its timeout or the payee's claim, so when
    /// drawn on base it is the upgraded onchaind that resolves it: the
    /// program ends mining until every output is swept. Its sweeps and the
    /// pending payment move what some state checks compare, so those are
    /// left out ([`Program::upgrade_checks`]).
    StrandedClose {
        chan: usize,
        msat: u64,
    },
    /// Channel `chan`'s funder splices [`SPLICE_OUT_SAT`] out of it to its
    /// own wallet (`splice_init`, `splice_update` until the commitments
    /// are secured, `splice_signed`), confirmed and locked on both ends.
    /// On base only: the upgraded binary must load the spliced channel
    /// (its new funding outpoint, its inflight history) and go on using
    /// it; a splice between two versions would test the experimental
    /// protocol's compatibility, which CLN does not promise before v26.04.
    Splice {
        chan: usize,
    },
    /// Channel `chan`'s funder pays its peer [`STRAND_MSAT`]` + msat` by
    /// `sendpay`, and the peer holds the HTLC (`hold_htlcs_msat`, the
    /// harness's node plugin), committed on both sides, through everything
    /// after it on base and every upgrade. Once the upgrades are done the
    /// payee releases it (the plugin's `harness-release`) and the payment
    /// must complete. On base only: what the upgraded binaries do with an
    /// HTLC the old one accepted and never answered, replayed to the
    /// `htlc_accepted` hook on their first start, is what no other op
    /// reaches. Its channel is neither closed nor spliced while it is held.
    HeldPay {
        chan: usize,
        msat: u64,
    },
    Mine {
        blocks: u64,
    },
}

impl Op {
    /// A payment's two ends, payer first.
    pub(super) fn payment_ends(&self) -> Option<(usize, usize)> {
        match *self {
            Op::Keysend { from, to, .. } | Op::Race { from, to, .. } => Some((from, to)),
            Op::Pay { payer, payee, .. } | Op::Offer { payer, payee, .. } => Some((payer, payee)),
            _ => None,
        }
    }

    /// The node the op takes down (restarts, kills or stops), if any.
    pub(super) fn goes_down(&self, channels: &[Chan]) -> Option<usize> {
        match *self {
            Op::Restart { node } | Op::Kill { node } | Op::Race { from: node, .. } => Some(node),
            Op::Close {
                chan,
                unilateral: true,
            }
            | Op::StrandedClose { chan, .. } => channels.get(chan).map(|c| c.b),
            _ => None,
        }
    }

    /// The channel an op closes, splices or holds an HTLC on.
    pub(super) fn chan(&self) -> Option<usize> {
        match *self {
            Op::Close { chan, .. }
            | Op::StrandedClose { chan, .. }
            | Op::Splice { chan }
            | Op::HeldPay { chan, .. } => Some(chan),
            _ => None,
        }
    }

    /// Every node and channel index the op names, to renumber them.
    pub(super) fn indices_mut(&mut self) -> Vec<&mut usize> {
        match self {
            Op::Keysend { from, to, .. } | Op::Race { from, to, .. } => vec![from, to],
            Op::Pay { payer, payee, .. } | Op::Offer { payer, payee, .. } => vec![payer, payee],
            Op::Restart { node } | Op::Kill { node } => vec![node],
            Op::Close { chan, .. }
            | Op::StrandedClose { chan, .. }
            | Op::Splice { chan }
            | Op::HeldPay { chan, .. } => vec![chan],
            Op::Mine { .. } => vec![],
        }
    }

    pub(super) fn nodes(&self, channels: &[Chan]) -> Vec<usize> {
        if let Some((x, y)) = self.payment_ends() {
            return vec![x, y];
        }
        if let Some(chan) = self.chan() {
            return vec![channels[chan].a, channels[chan].b];
        }
        match *self {
            Op::Restart { node } | Op::Kill { node } => vec![node],
            _ => vec![],
        }
    }

    /// The amount the shrinker may lower. Not a race's: its amount stays
    /// above all other traffic (see [`RACE_MSAT`]).
    pub(super) fn msat_mut(&mut self) -> Option<&mut u64> {
        match self {
            Op::Keysend { msat, .. }
            | Op::Pay { msat, .. }
            | Op::Offer { msat, .. }
            | Op::StrandedClose { msat, .. }
            | Op::HeldPay { msat, .. } => Some(msat),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub seed: u64,
    /// Per node: its xpay mode (`None`: the version's default).
    pub xpay: Vec<Option<&'static str>>,
    /// Channel `i` joins node `i` and node `i + 1`.
    pub channels: Vec<Chan>,
    pub before: Vec<Op>,
    /// Nodes upgraded to `candidate`.
    pub upgrade: Vec<usize>,
    pub after: Vec<Op>,
    /// The state-survival checks around each upgrade (the shrinker drops
    /// them when the finding does not need them).
    pub checks: Vec<StateCheck>,
    /// check-db of each upgraded node's database (soft: traffic goes on).
    pub db_check: bool,
    /// End with the chain witness's check of every node (`witness = true`).
    pub witness: bool,
    /// Every node's database on PostgreSQL (`db = "postgres"`).
    pub postgres: bool,
    /// The channels are dual-funded ([`DUAL_FUND_SHARE`]): every node
    /// runs `experimental-dual-fund` and CLN's funder plugin matching what
    /// its peer puts in, and each funder opens with `fundchannel` (the v2
    /// open protocol, both wallets' inputs in the funding transaction)
    /// instead of the harness's cached setup. Both sides' contributions
    /// replace the push a v2 open cannot make.
    pub dual_funded: bool,
    /// The channels are zero-conf ([`ZERO_CONF_SHARE`], never with
    /// `dual_funded`): every node accepts them (`zero_conf = true`), each
    /// funder opens with `fundchannel mindepth=0`, and the traffic starts
    /// with the funding still in the mempool, mined only by a later op.
    /// Unannounced: nothing announces an unconfirmed channel, so traffic
    /// stays between peers.
    pub zero_conf: bool,
    /// How many `via` releases the upgraded nodes go through before
    /// candidate (roles `via1`, `via2`, ...; 0: straight onto candidate).
    pub via: usize,
    /// What the path's known bugs steer this program around (its
    /// `broken_log` among them), as [`Abilities::between`] found them.
    pub steering: Steering,
}

/// A race's keysend pays this much more than its drawn amount: above all
/// other traffic (at most 50 sat). When the racing keysend fails, xpay
/// (v26) learns "this channel carries at most <amount - 1> msat" and
/// refuses larger payments for longer than a program lasts; seen as a
/// later keysend's "layer xpay says max is 3999msat" in the
/// parallel-requests example. Above everything else, what it learns never
/// blocks the traffic after it.
pub const RACE_MSAT: u64 = 100_000;
const _: () = assert!(RACE_MSAT > MAX_PAYMENT_MSAT);

/// The largest payment of the other traffic.
const MAX_PAYMENT_MSAT: u64 = 50_000;

/// A stranded HTLC pays this much more than its drawn amount: far above
/// the dust limit, so the HTLC is an output of the closing commitment and
/// onchaind has to resolve it (a dust HTLC would only go to fees).
pub const STRAND_MSAT: u64 = 20_000_000;
// The payee holds HTLCs from this size on: nothing else may reach it.
const _: () = assert!(STRAND_MSAT > RACE_MSAT + MAX_PAYMENT_MSAT);

/// The stranded HTLC's CLTV delta: past the payee's `cltv-final` (5), and
/// short, so its timeout comes within a few dozen mined blocks.
pub const STRAND_CLTV: u64 = 10;

/// A held HTLC's CLTV delta ([`Op::HeldPay`]): far past what base can mine
/// while it is held (at most six ops, a splice's six blocks the most), so
/// neither end goes to chain for it before its release.
pub const HELD_CLTV: u64 = 100;

/// The wallet the closer of a stranded HTLC keeps (pyln-testing's
/// `fundwallet` default is 0.1 BTC too): enough to pay for the HTLC's
/// timeout transaction, far below the ~43 BTC UTXO whose fee arithmetic
/// overflows in CLN's `wallet_utxo_boost` (every version to v26.06.6).
pub const STRAND_WALLET_SAT: u64 = 10_000_000;

/// What a splice takes out of its channel to the funder's wallet: twice
/// the largest payment, so a channel keeps room for every op after it
/// (a funder's side starts at 700 000 sat, and at most six ops run on
/// base).
pub const SPLICE_OUT_SAT: u64 = 100_000;

/// What the channel pays on top for the splice transaction's fee. CLN's
/// own tests pay 5 000 to 5 801 sat; the harness's feerates differ, so a
/// margin, with `force_feerate` (past five times the minimum fee, CLN
/// asks "Feerate too high. Do you really want to spend ...?").
pub const SPLICE_FEE_SAT: u64 = 10_000;

/// One program in this many runs on PostgreSQL, where it can: enough to
/// cover the backend (its migrations and queries differ from SQLite's)
/// without paying its slower commits on every run.
pub const POSTGRES_SHARE: u64 = 6;

/// One program in this many opens its channels dual-funded, where every
/// version of the path can: its setup is funded and confirmed from scratch
/// (no setup cache), so not more.
pub const DUAL_FUND_SHARE: u64 = 5;

/// One program in this many opens its channels zero-conf, where it can
/// (also funded and opened from scratch).
pub const ZERO_CONF_SHARE: u64 = 6;

impl Program {
    pub fn nodes(&self) -> usize {
        self.xpay.len()
    }

    pub fn steps(&self) -> usize {
        self.before.len() + self.after.len() + self.upgrade.len()
    }

    /// Only the traffic on base: no upgrade, nothing after it, and none of
    /// the checks an upgrade brings.
    pub fn base_only(&self) -> Program {
        Program {
            upgrade: vec![],
            after: vec![],
            checks: vec![],
            db_check: false,
            witness: false,
            ..self.clone()
        }
    }

    /// Every op, base's then candidate's.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.before.iter().chain(&self.after)
    }

    /// Does any op splice? Only then do the nodes start splicing: the flag
    /// changes what they advertise, and so every other program's setup.
    pub fn splices(&self) -> bool {
        self.ops().any(|o| matches!(o, Op::Splice { .. }))
    }

    /// The nodes whose plugin holds large HTLCs: the payee of each HTLC
    /// left on chain or held across the upgrades (nothing else is as large).
    pub fn holders(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .ops()
            .filter_map(|o| match *o {
                Op::StrandedClose { chan, .. } | Op::HeldPay { chan, .. } => {
                    Some(self.channels[chan].b)
                }
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The state checks around the upgrades. An HTLC stranded on chain on
    /// base (see [`Op::StrandedClose`]) is resolved whenever its timeout or
    /// its payee's claim comes, upgrade or not: it moves the wallet's funds
    /// and its payment's status, and keeps the closed channel's HTLC listed
    /// (the balance check waits for none). Those checks are left out.
    pub fn upgrade_checks(&self) -> Vec<StateCheck> {
        let stranded = self
            .before
            .iter()
            .any(|o| matches!(o, Op::StrandedClose { .. }));
        self.checks
            .iter()
            .copied()
            .filter(|c| {
                !stranded
                    || !matches!(
                        c,
                        StateCheck::Funds | StateCheck::Payments | StateCheck::Balances
                    )
            })
            .collect()
    }
}

fn op(rng: &mut ChaCha8Rng, p: &Program, lines: &Lines, can: &Abilities, on_candidate: bool) -> Op {
    let nodes = p.nodes();
    let pairs: Vec<(usize, usize)> = (0..nodes)
        .flat_map(|x| (0..nodes).map(move |y| (x, y)))
        .filter(|&(x, y)| lines.route(x, y).is_some())
        .collect();
    // Base's closes and splices leave a channel with a held HTLC alone; on
    // candidate it was released.
    let closable: Vec<usize> = if on_candidate {
        lines.still_open()
    } else {
        lines.quiet()
    };
    let msat = rng.gen_range(1..=MAX_PAYMENT_MSAT / 1000) * 1000;
    loop {
        match rng.gen_range(0..21) {
            0..=5 if !pairs.is_empty() => {
                let (from, to) = pairs[rng.gen_range(0..pairs.len())];
                return Op::Keysend { from, to, msat };
            }
            6..=11 if !pairs.is_empty() => {
                let (payer, payee) = pairs[rng.gen_range(0..pairs.len())];
                return Op::Pay { payer, payee, msat };
            }
            12..=13 if can.offers && !pairs.is_empty() => {
                let (payer, payee) = pairs[rng.gen_range(0..pairs.len())];
                return Op::Offer { payer, payee, msat };
            }
            14 => {
                let node = rng.gen_range(0..nodes);
                // Half the restarts of a node that can pay race a keysend.
                let peers: Vec<usize> = pairs
                    .iter()
                    .filter(|&&(x, _)| x == node)
                    .map(|&(_, y)| y)
                    .collect();
                if !peers.is_empty() && rng.gen_bool(0.5) {
                    let to = peers[rng.gen_range(0..peers.len())];
                    return Op::Race {
                        from: node,
                        to,
                        msat,
                    };
                }
                return Op::Restart { node };
            }
            15 => {
                return Op::Kill {
                    node: rng.gen_range(0..nodes),
                }
            }
            16 if !closable.is_empty() => {
                let chan = closable[rng.gen_range(0..closable.len())];
                // A third of the closes on base leave an HTLC on chain.
                if !on_candidate && rng.gen_range(0..3) == 0 {
                    return Op::StrandedClose { chan, msat };
                }
                return Op::Close {
                    chan,
                    unilateral: on_candidate && rng.gen_bool(0.5),
                };
            }
            // Not on a zero-conf channel: its funding may still be unmined.
            17 if can.splices && !p.zero_conf && !on_candidate => {
                let spliceable: Vec<usize> = closable
                    .iter()
                    .copied()
                    .filter(|&c| can.splice_announced || !p.channels[c].announce)
                    .filter(|&c| lines.may_splice(c))
                    .collect();
                if !spliceable.is_empty() {
                    let chan = spliceable[rng.gen_range(0..spliceable.len())];
                    return Op::Splice { chan };
                }
            }
            17..=19 => {
                return Op::Mine {
                    blocks: rng.gen_range(1..=3),
                }
            }
            20 if !on_candidate && !closable.is_empty() => {
                let chan = closable[rng.gen_range(0..closable.len())];
                return Op::HeldPay { chan, msat };
            }
            _ => {}
        }
    }
}

/// Channel `i`'s size: enough on both sides for the traffic (payments of
/// at most 50 000 sat).
const CHANNEL_SAT: [u64; 2] = [1_000_000, 1_500_000];

/// The program for `seed`.
pub fn generate(seed: u64, max_nodes: usize, can: &Abilities) -> Program {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes = rng.gen_range(2..=max_nodes.clamp(2, 3));
    // One xpay mode for every node, and channels from a small menu (their
    // sizes fixed by position, a push of 30%, announced or not): a handful
    // of distinct setups per upgrade path, so most runs resume theirs from
    // the setup cache instead of funding and confirming again.
    let mode = match rng.gen_range(0..3) {
        0 if can.xpay_on => Some("on"),
        1 if can.xpay_off => Some("off"),
        _ => None,
    };
    let xpay = vec![mode; nodes];
    // Each from its own stream, as `postgres`.
    let dual_funded = can.dual_fund
        && ChaCha8Rng::seed_from_u64(seed ^ 0x4475_616c).gen_range(0..DUAL_FUND_SHARE) == 0;
    let zero_conf = can.zero_conf
        && !dual_funded
        && (mode != Some("on") || can.steering.xpay_unannounced)
        && ChaCha8Rng::seed_from_u64(seed ^ 0x5a65_726f).gen_range(0..ZERO_CONF_SHARE) == 0;
    let channels: Vec<Chan> = (0..nodes - 1)
        .map(|i| {
            let sat = CHANNEL_SAT[i % CHANNEL_SAT.len()];
            Chan {
                a: i,
                b: i + 1,
                sat,
                push_msat: sat * 1000 / 100 * 30,
                // Drawn either way, so each seed's other choices stay.
                announce: (rng.gen_range(0..4) != 0
                    || (mode == Some("on") && !can.steering.xpay_unannounced))
                    && !zero_conf,
            }
        })
        .collect();
    let mut p = Program {
        seed,
        xpay,
        channels,
        before: vec![],
        upgrade: vec![],
        after: vec![],
        checks: can.checks.clone(),
        db_check: true,
        witness: can.witness,
        // Its own draw, from its own stream: the rest of each seed's
        // program stays what it was before PostgreSQL was a choice.
        postgres: can.postgres
            && ChaCha8Rng::seed_from_u64(seed ^ 0x5067_5351).gen_range(0..POSTGRES_SHARE) == 0,
        dual_funded,
        zero_conf,
        via: can.via,
        steering: can.steering.clone(),
    };
    let mut lines = Lines::new(&p);
    p.before = (0..rng.gen_range(2..=6))
        .map(|_| {
            let o = op(&mut rng, &p, &lines, can, false);
            lines.apply(&o);
            o
        })
        .collect();
    lines.release_all();
    p.upgrade = (0..nodes).filter(|_| rng.gen_bool(0.5)).collect();
    if p.upgrade.is_empty() {
        p.upgrade.push(rng.gen_range(0..nodes));
    }
    p.after = (0..rng.gen_range(2..=6))
        .map(|_| {
            let o = op(&mut rng, &p, &lines, can, true);
            lines.apply(&o);
            o
        })
        .collect();
    p
}

/// Does every op still make sense in order (its channels open and routable)?
/// Shrinking drops parts, so a candidate may not: e.g. the close that a
/// later payment relied on having happened after it.
pub fn is_valid(p: &Program) -> bool {
    let mut lines = Lines::new(p);
    let in_range = |o: &Op| {
        o.chan().is_none_or(|c| c < p.channels.len())
            && o.nodes(&p.channels).iter().all(|&n| n < p.nodes())
    };
    let on_base = p.before.iter().all(|o| {
        in_range(o)
            && !matches!(
                o,
                Op::Close {
                    unilateral: true,
                    ..
                }
            )
            && lines.apply(o)
    });
    // Every held HTLC is released once the upgrades are done.
    lines.release_all();
    on_base
        && p.after
            .iter()
            .all(|o| in_range(o) && !matches!(o, Op::HeldPay { .. }) && lines.apply(o))
        // Only a reproducer cut after a failure on base has no upgrade.
        && (!p.upgrade.is_empty() || p.after.is_empty())
}

#[cfg(test)]
mod tests {
    use super::super::abilities::{ALL_CHECKS, KNOWN_DIFFERENCES};
    use super::*;
    use crate::explore::render::render;
    use crate::explore::shrinking::shrink_candidates;
    use crate::version::ClnVersion;

    fn all() -> Abilities {
        Abilities::all()
    }

    #[test]
    fn a_seed_gives_the_same_program_and_every_program_is_a_valid_scenario() {
        assert_eq!(generate(7, 3, &all()), generate(7, 3, &all()));
        assert_ne!(generate(7, 3, &all()), generate(8, 3, &all()));
        for seed in 0..300 {
            let p = generate(seed, 3, &all());
            assert!(is_valid(&p), "seed {seed}: {p:?}");
            let text = render(&p, None);
            let s = crate::scenario::from_str("explore.toml", &text)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            assert_eq!(s.roles(), ["base", "candidate"]);
            assert!(!p.upgrade.is_empty() && (2..=3).contains(&p.nodes()));
        }
    }

    #[test]
    fn the_traffic_covers_what_the_issue_lists() {
        let ops: Vec<Op> = (0..300)
            .map(|s| generate(s, 3, &all()))
            .flat_map(|p| {
                let across = p.before.iter().chain(&p.after).any(|o| {
                    matches!(o, Op::Pay { payer, payee, .. } | Op::Keysend { from: payer, to: payee, .. } if payer.abs_diff(*payee) == 2)
                });
                assert!(!across || p.channels.iter().all(|c| c.announce), "{p:?}");
                p.before.into_iter().chain(p.after)
            })
            .collect();
        let seen = |f: &dyn Fn(&Op) -> bool| ops.iter().any(f);
        assert!(seen(&|o| matches!(o, Op::Offer { .. })));
        assert!(seen(&|o| matches!(o, Op::Kill { .. })));
        assert!(seen(&|o| matches!(o, Op::Race { .. })));
        assert!(seen(&|o| matches!(o, Op::StrandedClose { .. })));
        assert!(seen(&|o| matches!(o, Op::Splice { .. })));
        assert!(seen(&|o| matches!(o, Op::HeldPay { .. })));
        assert!(seen(&|o| matches!(o, Op::Restart { .. })));
        assert!(seen(&|o| matches!(
            o,
            Op::Close {
                unilateral: true,
                ..
            }
        )));
        assert!(seen(&|o| matches!(
            o,
            Op::Close {
                unilateral: false,
                ..
            }
        )));
        assert!(seen(
            &|o| matches!(o, Op::Pay { payer, payee, .. } if payer.abs_diff(*payee) == 2)
        ));
        assert!((0..50).any(|s| generate(s, 3, &all()).channels.iter().any(|c| !c.announce)));
    }

    #[test]
    fn a_chain_supports_only_what_every_hop_does() {
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        let chain = Abilities::along(&[v("v24.11"), v("v25.05"), v("v26.06.6")]);
        let direct = Abilities::between(&v("v24.11"), &v("v26.06.6"));
        assert_eq!(chain.via, 1);
        assert_eq!(direct.via, 0);
        assert_eq!(
            (chain.xpay_on, chain.xpay_off, chain.offers),
            (direct.xpay_on, direct.xpay_off, direct.offers)
        );
        let old = Abilities::along(&[v("v24.08"), v("v25.05"), v("v26.06.6")]);
        assert!(!old.xpay_on && !old.offers, "v24.08 has neither: {old:?}");
    }

    /// Explore, v24.11 -> v25.02.1: alice spliced out of her channel to
    /// bob twice; the second splice never locked ("Unable to find inflight
    /// txid") and the channel stayed in CHANNELD_AWAITING_SPLICE. Fixed by
    /// v25.05: before it, each channel is spliced once at most, and
    /// shrinking cannot make a program that splices one twice.
    #[test]
    fn before_v25_05_a_channel_is_spliced_once_at_most() {
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        let resplice = |b: &str, c: &str| Abilities::between(&v(b), &v(c)).steering.resplice;
        assert!(!resplice("v24.11", "v25.02.1"));
        assert!(!resplice("v25.02.1", "v25.05"));
        assert!(resplice("v25.05", "v25.05"));
        let twice = |p: &Program| {
            (0..p.channels.len()).any(|c| {
                p.before
                    .iter()
                    .filter(|o| matches!(o, Op::Splice { chan } if *chan == c))
                    .count()
                    > 1
            })
        };
        let gen = |can: &Abilities| (0..3000).map(|s| generate(s, 3, can)).collect::<Vec<_>>();
        assert!(gen(&all()).iter().any(twice));
        let once = Abilities {
            steering: Steering {
                resplice: false,
                ..Steering::none()
            },
            ..all()
        };
        let programs = gen(&once);
        assert!(programs.iter().all(|p| !twice(p)));
        // The same splice again, right after it: valid only where allowed.
        let p = programs
            .iter()
            .find(|p| p.before.iter().any(|o| matches!(o, Op::Splice { .. })))
            .unwrap();
        let at = p
            .before
            .iter()
            .position(|o| matches!(o, Op::Splice { .. }))
            .unwrap();
        let mut before = p.before.clone();
        before.insert(at, p.before[at].clone());
        let again = Program {
            before,
            ..p.clone()
        };
        assert!(is_valid(p) && !is_valid(&again), "{again:?}");
        assert!(is_valid(&Program {
            steering: Steering::none(),
            ..again
        }));
    }

    /// Explore's campaigns found it on all four release paths, v24.11 to
    /// v26.06.6, as ~1 run in 15: bob, a zero-conf channel's acceptor,
    /// keysends part of alice's push back before the funding is mined, and
    /// dies on the block that mines it ("Unable to sub our_msat - push").
    /// No release fixes it yet, so every path's zero-conf programs keep
    /// the acceptor from paying until a block is mined, and shrinking
    /// cannot drop the block from under such a payment.
    #[test]
    fn a_zero_conf_acceptor_pays_only_once_a_block_mined_its_funding() {
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        for (b, c) in [("v24.11", "v25.02.1"), ("v25.09.1", "v26.06.6")] {
            assert!(
                !Abilities::between(&v(b), &v(c))
                    .steering
                    .acceptor_spends_unmined
            );
        }
        let mines = |o: &Op| {
            matches!(
                o,
                Op::Mine { .. } | Op::Close { .. } | Op::StrandedClose { .. } | Op::Splice { .. }
            )
        };
        // Payments by an acceptor (a payer right of its payee) before the
        // first block.
        let early_acceptor_payments = |p: &Program| {
            let ops: Vec<&Op> = p.before.iter().chain(&p.after).collect();
            let first_block = ops.iter().position(|o| mines(o)).unwrap_or(ops.len());
            ops[..first_block]
                .iter()
                .filter(|o| o.payment_ends().is_some_and(|(x, y)| x > y))
                .count()
        };
        let steered = Abilities {
            steering: Steering {
                acceptor_spends_unmined: false,
                ..Steering::none()
            },
            ..all()
        };
        let zero_conf = |can: &Abilities| -> Vec<Program> {
            (0..400)
                .map(|s| generate(s, 3, can))
                .filter(|p| p.zero_conf)
                .collect()
        };
        let free = zero_conf(&all());
        assert!(free.iter().any(|p| early_acceptor_payments(p) > 0));
        let kept = zero_conf(&steered);
        assert!(kept.len() > 20);
        for p in &kept {
            assert_eq!(early_acceptor_payments(p), 0, "{p:?}");
            for q in shrink_candidates(p) {
                assert!(
                    !q.zero_conf || early_acceptor_payments(&q) == 0,
                    "shrunk to the known bug: {q:?}"
                );
            }
        }
    }

    /// Explore's first splicing runs on v25.05 -> v26.06.6 failed at the
    /// first reconnect after the upgrade, spliced or not: "bad reestablish
    /// msg", v25.05's splice TLV 1 (32 bytes) read as v25.12's
    /// `next_funding` (33). On v25.05 -> v25.09.1 the upgraded node's
    /// first commit after a splice was a "Bad commit_sig" (v25.09 dropped
    /// `batch_size`). CLN documents both (#8335, #8342, #8646: both nodes
    /// upgrade in unison), so splices are drawn only within one format.
    #[test]
    fn splices_only_where_every_version_reestablishes_a_splicing_channel_alike() {
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        let splices = |path: &[&str]| {
            Abilities::along(&path.iter().map(|s| v(s)).collect::<Vec<_>>()).splices
        };
        assert!(splices(&["v24.11", "v25.02.1"]));
        assert!(splices(&["v25.09", "v25.09.1"]));
        assert!(!splices(&["v25.05", "v25.09.1"]));
        assert!(splices(&["v26.04", "v26.06.6"]));
        assert!(!splices(&["v25.02.1", "v25.05"]));
        assert!(!splices(&["v25.05", "v26.06.6"]));
        assert!(!splices(&["v25.09.1", "v26.06.6"]));
        assert!(!splices(&["v25.05", "v25.09", "v26.06.6"]));
        assert!(!splices(&["v24.08", "v24.11"]));
        // A commit between releases may already speak the next format.
        assert!(!splices(&["v25.02.1", "v25.02-321-g1cc64dd67"]));
        // Before v25.09 only unannounced channels: the new short id's
        // announcement never settles there.
        let old = Abilities::between(&v("v24.11"), &v("v25.02.1"));
        assert!(!old.splice_announced);
        let spliced: Vec<(Program, usize)> = (0..300)
            .map(|s| generate(s, 3, &old))
            .flat_map(|p| {
                let chans: Vec<usize> = p
                    .before
                    .iter()
                    .filter_map(|o| match o {
                        Op::Splice { chan } => Some(*chan),
                        _ => None,
                    })
                    .collect();
                chans.into_iter().map(move |c| (p.clone(), c))
            })
            .collect();
        assert!(!spliced.is_empty());
        assert!(spliced.iter().all(|(p, c)| !p.channels[*c].announce));
    }

    /// The issue: "a share of runs on PostgreSQL". About one in
    /// POSTGRES_SHARE, only where both builds can, and the rest of each
    /// seed's program is the same whichever backend it drew.
    #[test]
    fn a_share_of_programs_keep_their_databases_on_postgres() {
        let on = (0..600)
            .filter(|s| generate(*s, 3, &all()).postgres)
            .count();
        assert!((60..=140).contains(&on), "{on} of 600");
        let without = Abilities {
            postgres: false,
            ..all()
        };
        for seed in 0..200 {
            let (a, b) = (generate(seed, 3, &all()), generate(seed, 3, &without));
            assert!(!b.postgres);
            assert_eq!(
                Program {
                    postgres: false,
                    ..a.clone()
                },
                b
            );
            assert_eq!(
                crate::explore::render::render(&a, None).contains("db = \"postgres\""),
                a.postgres
            );
        }
    }

    /// The campaigns' two findings on old paths were CLN bugs fixed
    /// upstream: programs steer around them only where a version of the
    /// path predates the fix.
    #[test]
    fn known_bugs_are_steered_around_only_on_paths_that_have_them() {
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        let old = Abilities::between(&v("v24.11"), &v("v25.02.1"));
        assert!(!old.steering.xpay_unannounced && old.steering.allowed_broken.len() == 2);
        for seed in 0..100 {
            let p = generate(seed, 3, &old);
            if p.xpay.contains(&Some("on")) {
                assert!(p.channels.iter().all(|c| c.announce), "seed {seed}");
            }
            assert!(render(&p, None).contains(
                "broken_log = [\"gossipd gave channel_update in CGOSSIP_CHANNEL_ANNOUNCED_DEAD\", \"Potentially missing .* outputs from previous closes|Rescan finished! .* outputs recovered\"]"
            ));
        }
        let mid = Abilities::between(&v("v25.02.1"), &v("v25.05"));
        assert!(mid.steering.xpay_unannounced && mid.steering.allowed_broken.len() == 1);
        let new = Abilities::between(&v("v26.04"), &v("v26.06.6"));
        assert!(new.steering.xpay_unannounced && new.steering.allowed_broken.is_empty());
        assert!(!render(&generate(1, 3, &new), None).contains("broken_log"));
        // One with no fix yet names the verdict case that pins it, so the
        // release that fixes it turns that case red.
        let cases = include_str!("../../../fixtures/verdicts/cases.toml");
        for k in super::super::abilities::KNOWN_BUGS {
            assert!(!k.fix.is_empty() && !k.why.is_empty());
            if k.fixed_in.is_none() {
                let case = k.fix.split('`').nth(1).unwrap_or_default();
                assert!(
                    cases.contains(&format!("scenarios = [\"{case}\"]")),
                    "{}",
                    k.fix
                );
            }
        }
    }

    #[test]
    fn versions_without_xpay_or_offers_get_neither() {
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        let none = Abilities::between(&v("v24.08"), &v("v25.05"));
        assert!(!none.xpay_on && !none.offers && none.xpay_off);
        for seed in 0..50 {
            let p = generate(seed, 3, &none);
            assert!(!p.xpay.contains(&Some("on")));
            assert!(!p
                .before
                .iter()
                .chain(&p.after)
                .any(|o| matches!(o, Op::Offer { .. })));
        }
        let both = Abilities::between(&v("v25.05"), &v("v26.06.6"));
        assert!(both.xpay_on && both.offers);
    }

    #[test]
    fn known_differences_leave_out_only_their_check_and_only_across_their_release() {
        let v = |s: &str| ClnVersion::parse(s).unwrap();
        for k in KNOWN_DIFFERENCES {
            let (y, m) = k.since;
            let before = v(&format!("v{}.{:02}", y - 1, m));
            let at = v(&format!("v{y}.{m:02}"));
            assert!(
                !Abilities::between(&before, &at).checks.contains(&k.check),
                "{}",
                k.why
            );
            assert!(Abilities::between(&at, &at).checks.contains(&k.check));
            assert!(!k.why.is_empty());
        }
        assert_eq!(
            Abilities::between(&v("v25.05"), &v("v25.05")).checks,
            ALL_CHECKS
        );
    }

    #[test]
    fn shrinking_only_makes_programs_smaller_and_valid() {
        for seed in 0..100 {
            let p = generate(seed, 3, &all());
            for q in shrink_candidates(&p) {
                assert_ne!(q, p);
                assert!(is_valid(&q) && !q.upgrade.is_empty());
                crate::scenario::from_str("s.toml", &render(&q, Some("x"))).unwrap();
                let size = |p: &Program| {
                    let msat: u64 = p
                        .before
                        .iter()
                        .chain(&p.after)
                        .map(|o| o.clone().msat_mut().map_or(0, |m| *m))
                        .sum();
                    let sat: u64 = p.channels.iter().map(|c| c.sat).sum();
                    (
                        p.steps()
                            + p.nodes()
                            + p.checks.len()
                            + usize::from(p.db_check)
                            + usize::from(p.witness)
                            + usize::from(p.postgres)
                            + usize::from(p.dual_funded)
                            + usize::from(p.zero_conf)
                            + p.via,
                        msat + sat,
                    )
                };
                let simpler = q.xpay != p.xpay
                    || q.channels
                        .iter()
                        .zip(&p.channels)
                        .any(|(a, b)| a.announce != b.announce)
                    || q.before.iter().zip(&p.before).any(|(a, b)| a != b)
                    || q.after.iter().zip(&p.after).any(|(a, b)| a != b);
                assert!(
                    size(&q).0 < size(&p).0 || size(&q).1 < size(&p).1 || simpler,
                    "{q:?}"
                );
            }
        }
        // A three-node program can lose a node and everything touching it.
        let p = (0..100)
            .map(|s| generate(s, 3, &all()))
            .find(|p| p.nodes() == 3)
            .unwrap();
        assert!(shrink_candidates(&p)
            .iter()
            .any(|q| q.nodes() == 2 && q.channels.len() == 1));
    }

    #[test]
    fn a_shrunk_program_never_pays_over_a_channel_its_dropped_ops_left_closed() {
        let p = Program {
            seed: 0,
            xpay: vec![None, None],
            channels: vec![Chan {
                a: 0,
                b: 1,
                sat: 500_000,
                push_msat: 100_000_000,
                announce: true,
            }],
            before: vec![Op::Close {
                chan: 0,
                unilateral: false,
            }],
            upgrade: vec![0],
            after: vec![Op::Keysend {
                from: 0,
                to: 1,
                msat: 1000,
            }],
            checks: vec![],
            db_check: false,
            witness: false,
            postgres: false,
            dual_funded: false,
            zero_conf: false,
            via: 0,
            steering: Steering::none(),
        };
        assert!(!is_valid(&p));
        let q = Program {
            before: vec![],
            ..p
        };
        assert!(is_valid(&q));
    }
}
