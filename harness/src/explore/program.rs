//! Generated programs, pure: drawn from a seeded RNG, rendered as a
//! compact scenario file (so every program is a scenario `run` accepts, and
//! the parser is what turns it into a [`crate::scenario::Scenario`]), and
//! shrunk by dropping parts.
//!
//! A program is: 2 or 3 nodes in a line on `base`, traffic on base, the
//! state each node to be upgraded reports (saved), the upgrade of one or more
//! nodes to `candidate`, the state-survival checks against the saved state, a
//! check-db of each upgraded node's database, and traffic on candidate.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const NAMES: [&str; 3] = ["alice", "bob", "carol"];

/// What the versions on both sides can do (so no program is an `error` by construction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abilities {
    /// xpay can be switched on (v24.11+ on both sides).
    pub xpay_on: bool,
    /// Legacy pay exists on both sides (xpay can be switched off).
    pub xpay_off: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Keysend {
        from: usize,
        to: usize,
        msat: u64,
    },
    /// An invoice of `payee`'s, paid by `payer` (adjacent nodes).
    Pay {
        payer: usize,
        payee: usize,
        msat: u64,
    },
    /// Restart, then reconnect its channels.
    Restart {
        node: usize,
    },
    Mine {
        blocks: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub seed: u64,
    /// Per node: its xpay mode (`None`: the version's default).
    pub xpay: Vec<Option<&'static str>>,
    /// `(from, to, amount_sat, push_msat)` along the line.
    pub channels: Vec<(usize, usize, u64, u64)>,
    pub before: Vec<Op>,
    /// Nodes upgraded to `candidate`.
    pub upgrade: Vec<usize>,
    pub after: Vec<Op>,
    /// The state-survival checks around each upgrade (the shrinker drops
    /// them when the finding does not need them).
    pub state_checks: bool,
    /// check-db of each upgraded node's database (soft: traffic goes on).
    pub db_check: bool,
}

impl Program {
    pub fn nodes(&self) -> usize {
        self.xpay.len()
    }

    pub fn steps(&self) -> usize {
        self.before.len() + self.after.len() + self.upgrade.len()
    }
}

fn op(rng: &mut ChaCha8Rng, channels: &[(usize, usize, u64, u64)], nodes: usize) -> Op {
    let (a, b, _, _) = channels[rng.gen_range(0..channels.len())];
    let (from, to) = if rng.gen_bool(0.5) { (a, b) } else { (b, a) };
    match rng.gen_range(0..10) {
        0..=3 => Op::Keysend {
            from,
            to,
            msat: rng.gen_range(1..=50) * 1000,
        },
        4..=7 => Op::Pay {
            payer: from,
            payee: to,
            msat: rng.gen_range(1..=50) * 1000,
        },
        8 => Op::Restart {
            node: rng.gen_range(0..nodes),
        },
        _ => Op::Mine {
            blocks: rng.gen_range(1..=3),
        },
    }
}

/// The program for `seed`.
pub fn generate(seed: u64, max_nodes: usize, can: Abilities) -> Program {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes = rng.gen_range(2..=max_nodes.clamp(2, 3));
    let xpay = (0..nodes)
        .map(|_| match rng.gen_range(0..3) {
            0 if can.xpay_on => Some("on"),
            1 if can.xpay_off => Some("off"),
            _ => None,
        })
        .collect();
    // Enough on both sides of every channel for the traffic: a push of 20-50%.
    let channels: Vec<_> = (0..nodes - 1)
        .map(|i| {
            let sat = rng.gen_range(5..=20) * 100_000;
            (i, i + 1, sat, sat * 1000 / 100 * rng.gen_range(20..=50))
        })
        .collect();
    let before = (0..rng.gen_range(2..=6))
        .map(|_| op(&mut rng, &channels, nodes))
        .collect();
    let mut upgrade: Vec<usize> = (0..nodes).filter(|_| rng.gen_bool(0.5)).collect();
    if upgrade.is_empty() {
        upgrade.push(rng.gen_range(0..nodes));
    }
    let after = (0..rng.gen_range(2..=6))
        .map(|_| op(&mut rng, &channels, nodes))
        .collect();
    Program {
        seed,
        xpay,
        channels,
        before,
        upgrade,
        after,
        state_checks: true,
        db_check: true,
    }
}

/// Smaller programs to try, most aggressive first: fewer nodes, fewer
/// upgraded nodes, each traffic op dropped, smaller amounts.
pub fn shrink_candidates(p: &Program) -> Vec<Program> {
    let mut out = Vec::new();
    if p.nodes() == 3 {
        // Drop carol (and everything touching her), or alice with bob as the new first node.
        for drop in [2usize, 0] {
            let keep = |i: usize| i != drop;
            let remap = |i: usize| if drop == 0 { i - 1 } else { i };
            let touches = |o: &Op| match o {
                Op::Keysend { from, to, .. } => !keep(*from) || !keep(*to),
                Op::Pay { payer, payee, .. } => !keep(*payer) || !keep(*payee),
                Op::Restart { node } => !keep(*node),
                Op::Mine { .. } => false,
            };
            let map = |o: &Op| match o.clone() {
                Op::Keysend { from, to, msat } => Op::Keysend {
                    from: remap(from),
                    to: remap(to),
                    msat,
                },
                Op::Pay { payer, payee, msat } => Op::Pay {
                    payer: remap(payer),
                    payee: remap(payee),
                    msat,
                },
                Op::Restart { node } => Op::Restart { node: remap(node) },
                m => m,
            };
            let upgrade: Vec<usize> = p
                .upgrade
                .iter()
                .copied()
                .filter(|i| keep(*i))
                .map(remap)
                .collect();
            if upgrade.is_empty() {
                continue;
            }
            out.push(Program {
                seed: p.seed,
                xpay: p
                    .xpay
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(*i))
                    .map(|(_, x)| *x)
                    .collect(),
                channels: p
                    .channels
                    .iter()
                    .filter(|(a, b, _, _)| keep(*a) && keep(*b))
                    .map(|&(a, b, s, m)| (remap(a), remap(b), s, m))
                    .collect(),
                before: p.before.iter().filter(|o| !touches(o)).map(map).collect(),
                upgrade,
                after: p.after.iter().filter(|o| !touches(o)).map(map).collect(),
                ..p.clone()
            });
        }
    }
    if p.state_checks {
        out.push(Program {
            state_checks: false,
            ..p.clone()
        });
    }
    if p.db_check {
        out.push(Program {
            db_check: false,
            ..p.clone()
        });
    }
    if p.upgrade.len() > 1 {
        for i in 0..p.upgrade.len() {
            let mut q = p.clone();
            q.upgrade.remove(i);
            out.push(q);
        }
    }
    // Halves before single ops (as delta debugging does): fewer reruns to get small.
    for (len, after) in [(p.after.len(), true), (p.before.len(), false)] {
        if len >= 2 {
            for range in [len / 2..len, 0..len / 2] {
                let mut q = p.clone();
                let ops = if after { &mut q.after } else { &mut q.before };
                ops.drain(range);
                out.push(q);
            }
        }
    }
    // Later ops first: what comes after the trigger is usually noise.
    for i in (0..p.after.len()).rev() {
        let mut q = p.clone();
        q.after.remove(i);
        out.push(q);
    }
    for i in (0..p.before.len()).rev() {
        let mut q = p.clone();
        q.before.remove(i);
        out.push(q);
    }
    if p.xpay.iter().any(Option::is_some) {
        out.push(Program {
            xpay: vec![None; p.nodes()],
            ..p.clone()
        });
    }
    out
}

fn render_op(out: &mut Vec<String>, o: &Op, channels: &[(usize, usize, u64, u64)], n: &mut usize) {
    match o {
        Op::Keysend { from, to, msat } => out.push(format!(
            "  {{ keysend = \"{}\", to = \"{}\", amount_msat = {msat}, expect.fields = [{{ path = \"status\", equals = \"complete\" }}] }},",
            NAMES[*from], NAMES[*to]
        )),
        Op::Pay { payer, payee, msat } => {
            *n += 1;
            out.push(format!("  {{ invoice = \"{}\", amount_msat = {msat}, label = \"explore-{n}\", save = \"inv{n}\" }},", NAMES[*payee]));
            out.push(format!(
                "  {{ pay = \"{}\", bolt11 = \"${{inv{n}.bolt11}}\", expect.fields = [{{ path = \"status\", equals = \"complete\" }}] }},",
                NAMES[*payer]
            ));
        }
        Op::Restart { node } => {
            out.push(format!("  {{ restart = \"{}\" }},", NAMES[*node]));
            reconnect(out, *node, channels);
        }
        Op::Mine { blocks } => out.push(format!("  {{ mine = {blocks} }},")),
    }
}

/// The harness runs nodes with `dev-no-reconnect`: connect each of `node`'s
/// channels again and wait until both ends are normal.
fn reconnect(out: &mut Vec<String>, node: usize, channels: &[(usize, usize, u64, u64)]) {
    for &(a, b, _, _) in channels
        .iter()
        .filter(|(a, b, _, _)| *a == node || *b == node)
    {
        let peer = if a == node { b } else { a };
        out.push(format!(
            "  {{ connect = \"{}\", peer = \"{}\" }},",
            NAMES[node], NAMES[peer]
        ));
        out.push(format!(
            "  {{ wait_channel = \"{}\", peer = \"{}\" }},",
            NAMES[node], NAMES[peer]
        ));
        out.push(format!(
            "  {{ wait_channel = \"{}\", peer = \"{}\" }},",
            NAMES[peer], NAMES[node]
        ));
    }
}

/// The state a node reports that must survive its upgrade, saved before it.
fn save_state(out: &mut Vec<String>, node: &str) {
    for (method, key) in [
        ("listinvoices", "inv"),
        ("listsendpays", "pays"),
        ("listpeerchannels", "chans"),
        ("listfunds", "funds"),
    ] {
        out.push(format!(
            "  {{ rpc = \"{node}\", method = \"{method}\", save = \"{node}_{key}\" }},"
        ));
    }
}

/// ... and compared after it: counts and statuses, channel states, wallet
/// totals. Channel balances (`to_us_msat`) are not compared: `pay` returns
/// on the preimage and the balance settles with the commitment dance after,
/// so a snapshot can hold a balance that is not final yet (1 run in 12 on
/// v25.05 → v26.06.6 and on v25.05 alone: the oracle's race, not CLN's).
fn check_state(out: &mut Vec<String>, node: &str) {
    let n = node;
    out.push(format!("  {{ rpc = \"{n}\", method = \"listinvoices\", expect.fields = [{{ path = \"invoices\", count = \"${{len({n}_inv.invoices)}}\" }}, {{ path = \"invoices\", where = {{ status = \"paid\" }}, count = \"${{count_where({n}_inv.invoices, 'status', 'paid')}}\" }}] }},"));
    out.push(format!("  {{ rpc = \"{n}\", method = \"listsendpays\", expect.fields = [{{ path = \"payments\", count = \"${{len({n}_pays.payments)}}\" }}, {{ path = \"payments\", where = {{ status = \"complete\" }}, count = \"${{count_where({n}_pays.payments, 'status', 'complete')}}\" }}] }},"));
    out.push(format!("  {{ rpc = \"{n}\", method = \"listpeerchannels\", expect.fields = [{{ path = \"channels\", count = \"${{len({n}_chans.channels)}}\" }}, {{ path = \"channels\", all = {{ state = \"CHANNELD_NORMAL\" }} }}] }},"));
    out.push(format!("  {{ rpc = \"{n}\", method = \"listfunds\", expect.fields = [{{ path = \"outputs\", sum = \"amount_msat\", equals = \"${{sum({n}_funds.outputs, 'amount_msat')}}\" }}] }},"));
}

/// The program as a compact scenario file, with comments saying what each part is.
pub fn render(p: &Program, finding: Option<&str>) -> String {
    let mut out = vec![format!("name = \"explore-{}\"", p.seed)];
    let what = finding.map_or_else(
        || "a generated upgrade program".to_string(),
        |f| format!("found by explore: {}", f.replace('"', "'")),
    );
    out.push(format!(
        "description = \"{}\"",
        crate::text::truncate(&what, 150)
    ));
    out.push(format!("# cln-harness explore --seed {} (run with --lightningd base=... --lightningd candidate=...)", p.seed));
    let nodes: Vec<String> = p
        .xpay
        .iter()
        .enumerate()
        .map(|(i, x)| match x {
            Some(m) => format!("{} = {{ role = \"base\", xpay = \"{m}\" }}", NAMES[i]),
            None => format!("{} = {{ role = \"base\" }}", NAMES[i]),
        })
        .collect();
    out.push(format!("nodes = {{ {} }}", nodes.join(", ")));
    let chans: Vec<String> = p
        .channels
        .iter()
        .map(|(a, b, sat, push)| {
            format!(
                "{{ from = \"{}\", to = \"{}\", amount_sat = {sat}, push_msat = {push} }}",
                NAMES[*a], NAMES[*b]
            )
        })
        .collect();
    out.push(format!("channels = [{}]", chans.join(", ")));
    out.push("steps = [".into());
    let mut n = 0;
    if !p.before.is_empty() {
        out.push("  # traffic on base".into());
    }
    for o in &p.before {
        render_op(&mut out, o, &p.channels, &mut n);
    }
    for &u in &p.upgrade {
        let name = NAMES[u];
        if p.state_checks {
            out.push(format!(
                "  # {name}: what must survive, then the upgrade onto candidate"
            ));
            save_state(&mut out, name);
        } else {
            out.push(format!(
                "  # {name} upgrades onto candidate over the same lightning-dir"
            ));
        }
        out.push(format!(
            "  {{ upgrade = \"{name}\", role = \"candidate\" }},"
        ));
        if p.state_checks {
            check_state(&mut out, name);
        }
        if p.db_check {
            out.push(format!("  {{ stop = \"{name}\" }},"));
            out.push(format!("  {{ check_db = \"{name}\", soft = true }},"));
            out.push(format!("  {{ start = \"{name}\" }},"));
        }
        reconnect(&mut out, u, &p.channels);
    }
    if !p.after.is_empty() {
        out.push("  # traffic on candidate".into());
    }
    for o in &p.after {
        render_op(&mut out, o, &p.channels, &mut n);
    }
    out.push("]".into());
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Abilities = Abilities {
        xpay_on: true,
        xpay_off: true,
    };

    #[test]
    fn a_seed_gives_the_same_program_and_every_program_is_a_valid_scenario() {
        assert_eq!(generate(7, 3, ALL), generate(7, 3, ALL));
        assert_ne!(generate(7, 3, ALL), generate(8, 3, ALL));
        for seed in 0..200 {
            let p = generate(seed, 3, ALL);
            let text = render(&p, None);
            let s = crate::scenario::from_str("explore.toml", &text)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            assert_eq!(s.roles(), ["base", "candidate"]);
            assert!(!p.upgrade.is_empty() && (2..=3).contains(&p.nodes()));
        }
    }

    #[test]
    fn versions_without_xpay_get_no_xpay_modes() {
        let none = Abilities {
            xpay_on: false,
            xpay_off: false,
        };
        for seed in 0..50 {
            assert!(generate(seed, 3, none).xpay.iter().all(Option::is_none));
        }
    }

    #[test]
    fn shrinking_only_makes_programs_smaller_and_valid() {
        for seed in 0..50 {
            let p = generate(seed, 3, ALL);
            for q in shrink_candidates(&p) {
                let fewer_checks = (q.state_checks, q.db_check) < (p.state_checks, p.db_check);
                assert!(
                    q.steps() < p.steps()
                        || q.nodes() < p.nodes()
                        || q.xpay != p.xpay
                        || fewer_checks,
                    "{q:?}"
                );
                assert!(!q.upgrade.is_empty());
                crate::scenario::from_str("s.toml", &render(&q, Some("x"))).unwrap();
            }
        }
        // A three-node program can lose a node and everything touching it.
        let p = (0..100)
            .map(|s| generate(s, 3, ALL))
            .find(|p| p.nodes() == 3)
            .unwrap();
        assert!(shrink_candidates(&p)
            .iter()
            .any(|q| q.nodes() == 2 && q.channels.len() == 1));
    }
}
