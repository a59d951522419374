//! Shrink candidates for a failing program: each smaller or simpler than
//! it (fewer nodes, ops, checks, settings, smaller amounts), each valid
//! ([`is_valid`]). Pure; the explorer reruns them and keeps what still
//! fails the same way.

use super::program::{is_valid, Chan, Op, Program};

/// Drop `node` (0 or the last) and everything touching it; the rest renumbered.
fn without_node(p: &Program, drop: usize) -> Option<Program> {
    let keep = |i: usize| i != drop;
    let shift = usize::from(drop == 0);
    let touches = |o: &Op| o.nodes(&p.channels).iter().any(|&n| !keep(n));
    // Nodes and channels alike: channel `i` joins nodes `i` and `i + 1`,
    // so dropping node 0 drops channel 0 and shifts both by one.
    let map = |o: &Op| {
        let mut o = o.clone();
        for i in o.indices_mut() {
            *i -= shift;
        }
        o
    };
    let upgrade: Vec<usize> = p
        .upgrade
        .iter()
        .filter(|&&i| keep(i))
        .map(|i| i - shift)
        .collect();
    (!upgrade.is_empty()).then(|| Program {
        xpay: (0..p.nodes())
            .filter(|&i| keep(i))
            .map(|i| p.xpay[i])
            .collect(),
        channels: p
            .channels
            .iter()
            .filter(|c| keep(c.a) && keep(c.b))
            .map(|c| Chan {
                a: c.a - shift,
                b: c.b - shift,
                ..*c
            })
            .collect(),
        before: p.before.iter().filter(|o| !touches(o)).map(map).collect(),
        upgrade,
        after: p.after.iter().filter(|o| !touches(o)).map(map).collect(),
        ..p.clone()
    })
}

/// Smaller programs to try, most aggressive first: fewer nodes, no checks,
/// fewer upgraded nodes, halves of the traffic, each op, then simpler
/// settings and smaller amounts. Only valid programs (see [`is_valid`]).
pub fn shrink_candidates(p: &Program) -> Vec<Program> {
    let mut out = Vec::new();
    if p.nodes() == 3 {
        out.extend([2usize, 0].iter().filter_map(|&d| without_node(p, d)));
    }
    if !p.checks.is_empty() {
        out.push(Program {
            checks: vec![],
            ..p.clone()
        });
    }
    if p.db_check {
        out.push(Program {
            db_check: false,
            ..p.clone()
        });
    }
    if p.witness {
        out.push(Program {
            witness: false,
            ..p.clone()
        });
    }
    if p.postgres {
        out.push(Program {
            postgres: false,
            ..p.clone()
        });
    }
    if p.dual_funded {
        out.push(Program {
            dual_funded: false,
            ..p.clone()
        });
    }
    if p.zero_conf {
        out.push(Program {
            zero_conf: false,
            ..p.clone()
        });
    }
    // Straight onto candidate: does the finding need the releases between?
    if p.via > 0 {
        out.push(Program {
            via: 0,
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
    if p.checks.len() > 1 {
        for i in 0..p.checks.len() {
            let mut q = p.clone();
            q.checks.remove(i);
            out.push(q);
        }
    }
    out.extend(simpler_settings(p));
    out.retain(is_valid);
    out
}

/// The same program with simpler settings, one kind at a time: default
/// xpay modes, every channel announced, mutual closes, restarts instead of
/// races, then smaller amounts.
fn simpler_settings(p: &Program) -> Vec<Program> {
    let mut out = Vec::new();
    if p.xpay.iter().any(Option::is_some) {
        out.push(Program {
            xpay: vec![None; p.nodes()],
            ..p.clone()
        });
    }
    // (A zero-conf channel stays unannounced: its funding may be unmined.)
    if p.channels.iter().any(|c| !c.announce) && !p.zero_conf {
        let mut q = p.clone();
        q.channels.iter_mut().for_each(|c| c.announce = true);
        out.push(q);
    }
    let mut q = p.clone();
    for o in q.after.iter_mut() {
        if let Op::Close { unilateral, .. } = o {
            *unilateral = false;
        }
    }
    if q != *p {
        out.push(q);
    }
    // Does the finding need the race, or only the restart? The HTLC left
    // on chain, or only the close? The held HTLC, or only its payment?
    let mut q = p.clone();
    for o in q.before.iter_mut().chain(q.after.iter_mut()) {
        match *o {
            Op::Race { from, .. } => *o = Op::Restart { node: from },
            Op::StrandedClose { chan, .. } => {
                *o = Op::Close {
                    chan,
                    unilateral: false,
                }
            }
            // The same payment, settled at once: does it need the hold?
            Op::HeldPay { chan, msat } => {
                *o = Op::Pay {
                    payer: p.channels[chan].a,
                    payee: p.channels[chan].b,
                    msat,
                }
            }
            _ => {}
        }
    }
    if q != *p {
        out.push(q);
    }
    // Smaller amounts: every payment halved (whole sat), every channel halved
    // down to 200_000 sat, one block per mine.
    let mut q = p.clone();
    for o in q.before.iter_mut().chain(q.after.iter_mut()) {
        if let Some(m) = o.msat_mut() {
            *m = (*m / 2000 * 1000).max(1000);
        }
        if let Op::Mine { blocks } = o {
            *blocks = 1;
        }
    }
    for c in q.channels.iter_mut().filter(|c| c.sat >= 400_000) {
        c.sat /= 2;
        c.push_msat /= 2;
    }
    if q != *p {
        out.push(q);
    }
    out
}
