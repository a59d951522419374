//! The line's channels as a program's ops leave them, for the generator
//! and the validity check alike: which are open, which hold an HTLC, and
//! the routes a payment can take over them.

use super::program::{Chan, Program};

/// The channels a payment from `x` to `y` crosses, if they are all open
/// (and announced, when it takes more than one hop).
pub(super) fn route(channels: &[Chan], open: &[bool], x: usize, y: usize) -> Option<Vec<usize>> {
    let hops: Vec<usize> = (x.min(y)..x.max(y)).collect();
    let usable = hops
        .iter()
        .all(|&c| c < channels.len() && open[c] && (hops.len() == 1 || channels[c].announce));
    (x != y && usable).then_some(hops)
}

/// Each channel's state as the ops so far left it.
#[derive(Debug, Clone)]
pub(super) struct Lines {
    pub open: Vec<bool>,
    /// An HTLC is held on it ([`Op::HeldPay`]) until the upgrades are done.
    pub held: Vec<bool>,
}

impl Lines {
    pub fn new(p: &Program) -> Lines {
        Lines {
            open: vec![true; p.channels.len()],
            held: vec![false; p.channels.len()],
        }
    }

    /// Open, and nothing held on it: a close or a splice may come.
    pub fn quiet(&self) -> Vec<usize> {
        (0..self.open.len())
            .filter(|&c| self.open[c] && !self.held[c])
            .collect()
    }
}
