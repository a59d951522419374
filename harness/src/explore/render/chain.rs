//! The ops and openings that put transactions on chain on their own
//! terms: an HTLC left on chain and its sweeps, a splice-out, dual-funded
//! and zero-conf opens in place of the harness's setup.

use super::Renderer;
use crate::explore::program::{
    NAMES, SPLICE_FEE_SAT, SPLICE_OUT_SAT, STRAND_CLTV, STRAND_WALLET_SAT,
};

impl Renderer<'_> {
    /// `a` pays `b`'s invoice over channel `chan` by `sendpay`; `b` holds
    /// the HTLC (`hold_htlcs_msat`), so once it is committed on both sides
    /// `b` is killed and `a` closes unilaterally, the HTLC an output of
    /// the closing commitment. `b` comes back (its onchaind sees the
    /// close); both ends must resolve the HTLC on chain, later: `a` times
    /// it out, since `b` never learns to settle it.
    pub(super) fn stranded_close(&mut self, chan: usize, msat: u64) {
        self.n += 1;
        let n = self.n;
        let (ai, bi) = (self.channels[chan].a, self.channels[chan].b);
        let (a, b) = (NAMES[ai], NAMES[bi]);
        for node in [ai, bi] {
            if !self.stranded.contains(&node) {
                self.stranded.push(node);
            }
        }
        // A wallet of a realistic size first: with the setup's coinbase
        // change (~50 BTC) in it, boosting the HTLC's timeout transaction
        // aborts lightningd (`calc_feerate` overflows in
        // `wallet_utxo_boost`), a CLN bug explore found that would hide
        // everything after it.
        self.push(format!("{{ rpc = \"{a}\", method = \"withdraw\", params = {{ destination = \"${{chain.op_true_address}}\", satoshi = \"all\", minconf = 0 }} }}"));
        self.push(format!(
            "{{ fund = \"{a}\", amount_sat = {STRAND_WALLET_SAT} }}"
        ));
        self.send_held(ai, bi, n, msat, STRAND_CLTV);
        // Committed on both sides (b's plugin holds it: `hold_htlcs_msat`),
        // so it is an output of whichever commitment goes on chain.
        self.push(format!("{{ wait_rpc = \"{a}\", method = \"listpeerchannels\", until = {{ path = \"channels[peer_id=${{{b}.id}}].htlcs\", where = {{ state = \"SENT_ADD_ACK_REVOCATION\" }}, count = 1 }} }}"));
        self.push(format!("{{ kill = \"{b}\" }}"));
        self.push(format!(
            "{{ force_close = \"{a}\", peer = \"{b}\", save = \"close{n}\" }}"
        ));
        self.push(format!(
            "{{ wait_mempool = 1, txid = \"${{close{n}.txid}}\" }}"
        ));
        self.push("{ mine = 1 }".into());
        self.push(format!("{{ start = \"{b}\" }}"));
        self.reconnect(bi);
        self.push(format!(
            "{{ wait_channel = \"{a}\", peer = \"{b}\", state = \"ONCHAIN\" }}"
        ));
        self.push(format!(
            "{{ wait_channel = \"{b}\", peer = \"{a}\", state = \"ONCHAIN\" }}"
        ));
    }

    /// The funder splices [`SPLICE_OUT_SAT`] out to its own wallet, as
    /// CLN's `test_splice_out` does: `splice_init` with a PSBT holding the
    /// output, `splice_update` twice (the second secures the commitments),
    /// `splice_signed`. Six blocks lock it; with three nodes an announced
    /// channel's new short id must reach every node's gossip before
    /// anything routes across it.
    pub(super) fn splice_out(&mut self, chan: usize) {
        self.settle();
        self.n += 1;
        let n = self.n;
        let c = self.channels[chan];
        let (a, b) = (NAMES[c.a], NAMES[c.b]);
        let id = format!("${{sp{n}.channels[0].channel_id}}");
        self.push(format!("{{ rpc = \"{a}\", method = \"addpsbtoutput\", params = {{ satoshi = {SPLICE_OUT_SAT} }}, save = \"out{n}\" }}"));
        self.push(format!("{{ rpc = \"{a}\", method = \"listpeerchannels\", params = {{ id = \"${{{b}.id}}\" }}, save = \"sp{n}\" }}"));
        self.push(format!("{{ rpc = \"{a}\", method = \"splice_init\", params = {{ channel_id = \"{id}\", relative_amount = -{}, initialpsbt = \"${{out{n}.psbt}}\", force_feerate = true }}, save = \"init{n}\" }}", SPLICE_OUT_SAT + SPLICE_FEE_SAT));
        self.push(format!("{{ rpc = \"{a}\", method = \"splice_update\", params = {{ channel_id = \"{id}\", psbt = \"${{init{n}.psbt}}\" }}, save = \"upd{n}\" }}"));
        self.push(format!("{{ rpc = \"{a}\", method = \"splice_update\", params = {{ channel_id = \"{id}\", psbt = \"${{upd{n}.psbt}}\" }}, save = \"sec{n}\", expect.fields = [{{ path = \"commitments_secured\", equals = true }}] }}"));
        self.push(format!("{{ rpc = \"{a}\", method = \"splice_signed\", params = {{ channel_id = \"{id}\", psbt = \"${{sec{n}.psbt}}\" }}, save = \"splice{n}\" }}"));
        self.push(format!(
            "{{ wait_mempool = 1, txid = \"${{splice{n}.txid}}\" }}"
        ));
        self.push("{ mine = 6 }".into());
        for (x, y) in [(a, b), (b, a)] {
            self.push(format!(
                "{{ wait_channel = \"{x}\", peer = \"{y}\", state = \"CHANNELD_NORMAL\" }}"
            ));
        }
        if c.announce && self.channels.len() > 1 {
            self.push(format!("{{ rpc = \"{a}\", method = \"listpeerchannels\", params = {{ id = \"${{{b}.id}}\" }}, save = \"spliced{n}\" }}"));
            for node in NAMES.iter().take(self.channels.len() + 1) {
                self.push(format!("{{ wait_rpc = \"{node}\", method = \"listchannels\", params = {{ short_channel_id = \"${{spliced{n}.channels[0].short_channel_id}}\" }}, until = {{ path = \"channels\", count = 2 }} }}"));
            }
        }
    }

    /// The channels opened dual-funded, in place of the harness's setup:
    /// each node's wallet funded once per channel it is on (a node that
    /// both accepts and funds needs a confirmed coin for each), each
    /// funder's `fundchannel` (v2, since both ends run
    /// `experimental-dual-fund`; the peer's funder plugin matches its
    /// amount), six blocks, `CHANNELD_NORMAL` on both ends, and with three
    /// nodes every announced channel in every node's gossip.
    pub(super) fn dual_funded_opens(&mut self) {
        self.out
            .push("  # the channels, dual-funded: each peer puts in as much as the funder".into());
        let nodes = self.channels.len() + 1;
        for (i, name) in NAMES.iter().enumerate().take(nodes) {
            let coins = self
                .channels
                .iter()
                .filter(|c| c.a == i || c.b == i)
                .count();
            for _ in 0..coins {
                self.push(format!("{{ fund = \"{name}\" }}"));
            }
        }
        for c in self.channels {
            let (a, b) = (NAMES[c.a], NAMES[c.b]);
            self.push(format!("{{ connect = \"{a}\", peer = \"{b}\" }}"));
            self.push(format!("{{ rpc = \"{a}\", method = \"fundchannel\", params = {{ id = \"${{{b}.id}}\", amount = {}, announce = {} }} }}", c.sat, c.announce));
        }
        self.push("{ mine = 6 }".into());
        for c in self.channels {
            let (a, b) = (NAMES[c.a], NAMES[c.b]);
            for (x, y) in [(a, b), (b, a)] {
                self.push(format!(
                    "{{ wait_channel = \"{x}\", peer = \"{y}\", state = \"CHANNELD_NORMAL\" }}"
                ));
            }
        }
        let announced = self.channels.iter().filter(|c| c.announce).count();
        if nodes > 2 && announced > 0 {
            for name in NAMES.iter().take(nodes) {
                self.push(format!("{{ wait_rpc = \"{name}\", method = \"listchannels\", until = {{ path = \"channels\", where = {{ public = true }}, count = {} }} }}", 2 * announced));
            }
        }
    }

    /// The channels opened zero-conf, in place of the harness's setup: each
    /// funder's wallet funded, `fundchannel mindepth=0` with the push, and
    /// `CHANNELD_NORMAL` on both ends with the funding still unmined (the
    /// first `mine` op confirms it, or none does).
    pub(super) fn zero_conf_opens(&mut self) {
        self.out
            .push("  # the channels, zero-conf: usable before their funding is mined".into());
        for c in self.channels {
            self.push(format!("{{ fund = \"{}\" }}", NAMES[c.a]));
        }
        for c in self.channels {
            let (a, b) = (NAMES[c.a], NAMES[c.b]);
            self.push(format!("{{ connect = \"{a}\", peer = \"{b}\" }}"));
            self.push(format!("{{ rpc = \"{a}\", method = \"fundchannel\", params = {{ id = \"${{{b}.id}}\", amount = {}, announce = false, push_msat = {}, mindepth = 0 }} }}", c.sat, c.push_msat));
            for (x, y) in [(a, b), (b, a)] {
                self.push(format!(
                    "{{ wait_channel = \"{x}\", peer = \"{y}\", state = \"CHANNELD_NORMAL\" }}"
                ));
            }
        }
    }

    /// Blocks mined one by one until every node with an HTLC left on chain
    /// has resolved and swept every output: the HTLC's timeout (or its
    /// payee's claim), then each `to_self_delay`.
    pub(super) fn sweep_stranded(&mut self) {
        if self.stranded.is_empty() {
            return;
        }
        self.out
            .push("  # every HTLC left on chain resolved, every output swept".into());
        self.settle();
        for node in self.stranded.clone() {
            self.push(format!(
                "{{ wait_swept = \"{}\", max_blocks = {} }}",
                NAMES[node],
                STRAND_CLTV + 50
            ));
        }
    }
}
