//! The line's channels as a program's ops leave them, for the generator,
//! the validity check and the renderer alike: which are open, which hold
//! an HTLC, and the routes a payment can take over them.

use super::program::{Chan, Op, Program};

/// Each channel's state as the ops so far left it.
#[derive(Debug, Clone)]
pub(super) struct Lines {
    channels: Vec<Chan>,
    pub open: Vec<bool>,
    /// An HTLC is held on it ([`Op::HeldPay`]) until the upgrades are done.
    pub held: Vec<bool>,
    /// Spliced already ([`Op::Splice`]).
    spliced: Vec<bool>,
    /// [`super::abilities::Steering::resplice`].
    resplice: bool,
    /// A block was mined: every funding is confirmed (zero-conf ones start
    /// in the mempool).
    mined: bool,
    /// Until then, no payment from a channel's acceptor side (a payer
    /// right of its payee on the line):
    /// [`super::abilities::Steering::acceptor_spends_unmined`].
    acceptor_waits: bool,
}

impl Lines {
    pub fn new(p: &Program) -> Lines {
        Lines {
            channels: p.channels.clone(),
            open: vec![true; p.channels.len()],
            held: vec![false; p.channels.len()],
            spliced: vec![false; p.channels.len()],
            resplice: p.steering.resplice,
            mined: false,
            acceptor_waits: p.zero_conf && !p.steering.acceptor_spends_unmined,
        }
    }

    /// The channels a payment from `x` to `y` crosses, if they are all
    /// open (and announced, when it takes more than one hop), and it may
    /// go now (channel `i`'s opener is node `i`, its acceptor `i + 1`).
    pub fn route(&self, x: usize, y: usize) -> Option<Vec<usize>> {
        if self.acceptor_waits && !self.mined && x > y {
            return None;
        }
        let hops: Vec<usize> = (x.min(y)..x.max(y)).collect();
        let usable = hops.iter().all(|&c| {
            c < self.channels.len()
                && self.open[c]
                && (hops.len() == 1 || self.channels[c].announce)
        });
        (x != y && usable).then_some(hops)
    }

    /// Open, and nothing held on it: a close or a splice may come.
    pub fn quiet(&self) -> Vec<usize> {
        (0..self.open.len())
            .filter(|&c| self.open[c] && !self.held[c])
            .collect()
    }

    /// Channel `c` may be spliced (again).
    pub fn may_splice(&self, c: usize) -> bool {
        self.resplice || !self.spliced[c]
    }

    /// The channels still open.
    pub fn still_open(&self) -> Vec<usize> {
        (0..self.open.len()).filter(|&c| self.open[c]).collect()
    }

    /// `o` done: false if it cannot be in this state (a payment with no
    /// route, a close or splice of a closed channel or of one holding an
    /// HTLC, a second HTLC held on one channel). Its channel index must be
    /// in range.
    pub fn apply(&mut self, o: &Op) -> bool {
        if let Some((x, y)) = o.payment_ends() {
            return self.route(x, y).is_some();
        }
        if matches!(
            o,
            Op::Mine { .. } | Op::Close { .. } | Op::StrandedClose { .. } | Op::Splice { .. }
        ) {
            self.mined = true;
        }
        match *o {
            Op::Close { chan, .. } | Op::StrandedClose { chan, .. } => {
                !self.held[chan] && std::mem::replace(&mut self.open[chan], false)
            }
            Op::Splice { chan } => {
                let may = self.may_splice(chan);
                self.spliced[chan] = true;
                may && self.open[chan] && !self.held[chan]
            }
            Op::HeldPay { chan, .. } => {
                self.open[chan] && !std::mem::replace(&mut self.held[chan], true)
            }
            _ => true,
        }
    }

    /// The upgrades are done: every held HTLC was released.
    pub fn release_all(&mut self) {
        self.held.fill(false);
    }
}
