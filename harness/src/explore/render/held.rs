//! An HTLC held across the upgrades ([`Op::HeldPay`]): paid on base,
//! held by its payee's plugin, released once every upgrade is done.
//!
//! [`Op::HeldPay`]: crate::explore::program::Op::HeldPay

use super::Renderer;
use crate::explore::program::{HELD_CLTV, NAMES};

impl Renderer<'_> {
    /// `a` pays `b`'s invoice over channel `chan` by `sendpay` (it returns
    /// once the HTLC is offered); `b`'s plugin holds it (`hold_htlcs_msat`).
    /// Waits until it is committed on both sides, so every restart,
    /// upgrade and saved state after it has it in flight.
    pub(super) fn held_pay(&mut self, chan: usize, msat: u64) {
        self.n += 1;
        let n = self.n;
        let c = self.channels[chan];
        let (a, b) = (NAMES[c.a], NAMES[c.b]);
        self.held.push((chan, n));
        self.send_held(c.a, c.b, n, msat, HELD_CLTV);
        self.push(format!("{{ wait_rpc = \"{b}\", method = \"listpeerchannels\", until = {{ path = \"channels[peer_id=${{{a}.id}}].htlcs\", where = {{ payment_hash = \"${{inv{n}.payment_hash}}\", state = \"RCVD_ADD_ACK_REVOCATION\" }}, count = 1 }} }}"));
        self.push(format!("{{ wait_rpc = \"{a}\", method = \"listpeerchannels\", until = {{ path = \"channels[peer_id=${{{b}.id}}].htlcs\", where = {{ payment_hash = \"${{inv{n}.payment_hash}}\", state = \"SENT_ADD_ACK_REVOCATION\" }}, count = 1 }} }}"));
    }

    /// `a` pays `b`'s new invoice `inv{n}` by `sendpay` over their channel,
    /// an HTLC of `msat` with this CLTV delta, that `b`'s plugin holds
    /// (`hold_htlcs_msat`). `sendpay` returns once it is offered.
    pub(super) fn send_held(&mut self, a: usize, b: usize, n: usize, msat: u64, cltv: u64) {
        let (a, b) = (NAMES[a], NAMES[b]);
        // An unmined zero-conf channel has no short id yet: its local
        // alias names it to `sendpay` on every version.
        let scid = if self.zero_conf {
            "alias.local"
        } else {
            "short_channel_id"
        };
        self.push(format!("{{ invoice = \"{b}\", amount_msat = {msat}, label = \"explore-{n}\", save = \"inv{n}\" }}"));
        self.push(format!("{{ rpc = \"{a}\", method = \"listpeerchannels\", params = {{ id = \"${{{b}.id}}\" }}, save = \"ch{n}\" }}"));
        self.push(format!("{{ rpc = \"{a}\", method = \"sendpay\", params = {{ payment_hash = \"${{inv{n}.payment_hash}}\", payment_secret = \"${{inv{n}.payment_secret}}\", route = [{{ id = \"${{{b}.id}}\", channel = \"${{ch{n}.channels[0].{scid}}}\", amount_msat = {msat}, delay = {cltv} }}] }} }}"));
    }

    /// Every held HTLC released by its payee (the plugin's
    /// `harness-release`: the upgraded lightningd replayed it to the hook
    /// on its first start), and its payment complete on the payer, with
    /// the channel settled again.
    pub(super) fn release_held(&mut self) {
        if self.held.is_empty() {
            return;
        }
        self.out
            .push("  # each HTLC held since base: released, and its payment complete".into());
        self.lines.release_all();
        for (chan, n) in std::mem::take(&mut self.held) {
            let c = self.channels[chan];
            let (a, b) = (NAMES[c.a], NAMES[c.b]);
            self.push(format!("{{ rpc = \"{b}\", method = \"harness-release\", params = {{ payment_hash = \"${{inv{n}.payment_hash}}\" }} }}"));
            self.push(format!("{{ rpc = \"{a}\", method = \"waitsendpay\", params = {{ payment_hash = \"${{inv{n}.payment_hash}}\", timeout = 60 }}, expect.fields = [{{ path = \"status\", equals = \"complete\" }}] }}"));
            self.settle_channel(chan);
        }
    }
}
