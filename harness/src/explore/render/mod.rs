//! A [`Program`] as a compact scenario file: the ops in order (knowing
//! which channels are still open, so nothing reconnects a closed channel),
//! the state saved before each upgrade and compared after it, check-db.

mod chain;
mod held;

use super::lines::Lines;
use super::program::{Chan, Op, Program, StateCheck, NAMES, RACE_MSAT, STRAND_MSAT};

/// Renders ops in order, knowing which channels are still open.
struct Renderer<'a> {
    out: Vec<String>,
    channels: &'a [Chan],
    /// Which channels are open and which hold an HTLC, as the ops so far
    /// left them.
    lines: Lines,
    /// Numbers the saved values (invoices, offers, closes).
    n: usize,
    /// Nodes with an HTLC left on chain ([`Op::StrandedClose`]): the
    /// program ends mining until each has swept every output.
    stranded: Vec<usize>,
    /// HTLCs held until the upgrades are done ([`Op::HeldPay`]), in the
    /// order to release them: each one's channel and the number its
    /// invoice is saved under.
    held: Vec<(usize, usize)>,
    /// The channels are zero-conf: their funding may be unmined, so they
    /// may have no short channel id yet, only their aliases.
    zero_conf: bool,
    /// [`super::abilities::Steering::down_mid_forward`].
    down_mid_forward: bool,
}

impl Renderer<'_> {
    fn push(&mut self, line: String) {
        self.out.push(format!("  {line},"));
    }

    fn op(&mut self, o: &Op) {
        if let Some(node) = o.goes_down(self.channels) {
            self.before_down(node);
        }
        self.lines.apply(o);
        let expect_complete = r#"expect.fields = [{ path = "status", equals = "complete" }]"#;
        match *o {
            Op::Keysend { from, to, msat } => self.push(format!(
                "{{ keysend = \"{}\", to = \"{}\", amount_msat = {msat}, {expect_complete} }}",
                NAMES[from], NAMES[to]
            )),
            Op::Pay { payer, payee, msat } => {
                self.n += 1;
                let n = self.n;
                self.push(format!("{{ invoice = \"{}\", amount_msat = {msat}, label = \"explore-{n}\", save = \"inv{n}\" }}", NAMES[payee]));
                self.push(format!(
                    "{{ pay = \"{}\", bolt11 = \"${{inv{n}.bolt11}}\", {expect_complete} }}",
                    NAMES[payer]
                ));
            }
            Op::Offer { payer, payee, msat } => {
                self.n += 1;
                let n = self.n;
                self.push(format!("{{ rpc = \"{}\", method = \"offer\", params = {{ amount = \"{msat}msat\", description = \"explore-{n}\" }}, save = \"offer{n}\" }}", NAMES[payee]));
                self.push(format!("{{ rpc = \"{}\", method = \"fetchinvoice\", params = {{ offer = \"${{offer{n}.bolt12}}\" }}, save = \"fetched{n}\" }}", NAMES[payer]));
                self.push(format!(
                    "{{ pay = \"{}\", bolt11 = \"${{fetched{n}.invoice}}\", {expect_complete} }}",
                    NAMES[payer]
                ));
            }
            Op::Restart { node } => {
                self.push(format!("{{ restart = \"{}\" }}", NAMES[node]));
                self.reconnect(node);
            }
            Op::Race { from, to, msat } => {
                // Either answer is fine (the keysend may land before the
                // stop, or its connection break with it); what follows
                // must hold: the payer back, its channels reestablished,
                // and no HTLC left in flight.
                let (f, t) = (NAMES[from], NAMES[to]);
                self.push(format!(
                    "{{ parallel = [{{ keysend = \"{f}\", to = \"{t}\", amount_msat = {}, expect.ok = false }}, {{ restart = \"{f}\" }}], timeout = 60 }}",
                    RACE_MSAT + msat
                ));
                self.reconnect(from);
                self.settle();
            }
            Op::Kill { node } => {
                self.push(format!("{{ kill = \"{}\" }}", NAMES[node]));
                self.push(format!("{{ start = \"{}\" }}", NAMES[node]));
                self.reconnect(node);
            }
            Op::Close { chan, unilateral } => {
                self.n += 1;
                let n = self.n;
                let (a, b) = (NAMES[self.channels[chan].a], NAMES[self.channels[chan].b]);
                if unilateral {
                    // The peer is down, so the close cannot be mutual.
                    self.push(format!("{{ stop = \"{b}\" }}"));
                    self.push(format!("{{ close = \"{a}\", peer = \"{b}\", unilateral_after = 1, save = \"close{n}\" }}"));
                    self.push(format!("{{ start = \"{b}\" }}"));
                    self.reconnect(self.channels[chan].b);
                } else {
                    self.push(format!(
                        "{{ close = \"{a}\", peer = \"{b}\", save = \"close{n}\" }}"
                    ));
                }
                self.push(format!(
                    "{{ wait_mempool = 1, txid = \"${{close{n}.txid}}\" }}"
                ));
                self.push("{ mine = 1 }".into());
                self.push(format!(
                    "{{ wait_channel = \"{a}\", peer = \"{b}\", state = \"ONCHAIN\" }}"
                ));
                self.push(format!(
                    "{{ wait_channel = \"{b}\", peer = \"{a}\", state = \"ONCHAIN\" }}"
                ));
            }
            Op::StrandedClose { chan, msat } => self.stranded_close(chan, STRAND_MSAT + msat),
            Op::Splice { chan } => self.splice_out(chan),
            Op::HeldPay { chan, msat } => self.held_pay(chan, STRAND_MSAT + msat),
            Op::Mine { blocks } => {
                self.settle();
                self.push(format!("{{ mine = {blocks} }}"));
            }
        }
    }

    /// Until no HTLC is in flight on any open channel, either side. `pay`
    /// returns on the preimage, before the commitment dance ends; with the
    /// harness's regtest deltas (`cltv-final=5`) a block or three mined then
    /// reaches a fulfilled HTLC's deadline and lightningd rightly goes to
    /// chain ("Fulfilled HTLC 3 SENT_REMOVE_COMMIT cltv 114 hit deadline",
    /// seen by explore on v25.02.1 -> v25.05): the program's doing, not a bug.
    /// A held HTLC ([`Op::HeldPay`]) stays, on purpose: only it.
    fn settle(&mut self) {
        for i in self.lines.still_open() {
            self.settle_channel(i);
        }
    }

    /// `node` is about to go down: where a forward's HTLCs in flight
    /// would trip the known bug ([`Program::down_mid_forward`]) and it
    /// forwards (two channels open), they settle first.
    fn before_down(&mut self, node: usize) {
        if self.down_mid_forward {
            return;
        }
        let its: Vec<usize> = (self.lines.still_open().into_iter())
            .filter(|&i| self.channels[i].a == node || self.channels[i].b == node)
            .collect();
        if its.len() >= 2 {
            for i in its {
                self.settle_channel(i);
            }
        }
    }

    /// Until channel `chan` has no HTLC in flight but those held on it.
    fn settle_channel(&mut self, chan: usize) {
        let c = self.channels[chan];
        // At most one per channel ([`Lines::apply`]).
        let held = usize::from(self.lines.held[chan]);
        for (a, b) in [(c.a, c.b), (c.b, c.a)] {
            let (a, b) = (NAMES[a], NAMES[b]);
            self.out.push(format!("  {{ wait_rpc = \"{a}\", method = \"listpeerchannels\", until = {{ path = \"channels[peer_id=${{{b}.id}}].htlcs\", count = {held} }} }},"));
        }
    }

    /// The harness runs nodes with `dev-no-reconnect`: connect each of
    /// `node`'s open channels again and wait until both ends are normal,
    /// connected and reestablished.
    fn reconnect(&mut self, node: usize) {
        for (i, c) in self.channels.iter().enumerate() {
            if !self.lines.open[i] || (c.a != node && c.b != node) {
                continue;
            }
            let peer = if c.a == node { c.b } else { c.a };
            let (n, p) = (NAMES[node], NAMES[peer]);
            self.push(format!("{{ connect = \"{n}\", peer = \"{p}\" }}"));
            // Normal is not enough: a channel stays CHANNELD_NORMAL while its
            // peer is away. Wait for this connection's reestablish on both
            // ends, or the next payment or close races it (seen as a 30 s
            // `close` hang and a keysend "Ran out of routes", v25.02.1 -> v25.05).
            for (a, b) in [(n, p), (p, n)] {
                self.push(format!("{{ wait_rpc = \"{a}\", method = \"listpeerchannels\", until = {{ path = \"channels\", where = {{ peer_id = \"${{{b}.id}}\", state = \"CHANNELD_NORMAL\", peer_connected = true, reestablished = true }}, count = 1 }} }}"));
            }
        }
    }

    /// `node` onto `role`: what must survive saved, the upgrade, the
    /// comparison, check-db of the database it left, and its channels back.
    fn upgrade(&mut self, node: usize, role: &str, p: &Program) {
        let name = NAMES[node];
        let checks = p.upgrade_checks();
        if !checks.contains(&StateCheck::Balances) {
            self.before_down(node);
        }
        if checks.is_empty() {
            self.out.push(format!(
                "  # {name} upgrades onto {role} over the same lightning-dir"
            ));
        } else {
            self.out.push(format!(
                "  # {name}: what must survive, then the upgrade onto {role}"
            ));
            self.save_state(node, &checks);
        }
        self.push(format!("{{ upgrade = \"{name}\", role = \"{role}\" }}"));
        self.check_state(node, &checks);
        if p.db_check {
            self.push(format!("{{ stop = \"{name}\" }}"));
            self.push(format!("{{ check_db = \"{name}\", soft = true }}"));
            self.push(format!("{{ start = \"{name}\" }}"));
        }
        self.reconnect(node);
    }

    /// The state `node` reports that must survive its upgrade, saved once
    /// no HTLC is in flight on its channels: `pay` returns on the preimage
    /// and the balance settles with the commitment dance after it.
    fn save_state(&mut self, node: usize, checks: &[StateCheck]) {
        let n = NAMES[node];
        if checks.contains(&StateCheck::Balances) {
            for i in 0..self.channels.len() {
                let c = self.channels[i];
                if c.a == node || c.b == node {
                    self.settle_channel(i);
                }
            }
        }
        for (method, key) in saved_rpcs(checks) {
            self.push(format!(
                "{{ rpc = \"{n}\", method = \"{method}\", save = \"{n}_{key}\" }}"
            ));
        }
    }

    /// ... and compared after it.
    fn check_state(&mut self, node: usize, checks: &[StateCheck]) {
        let n = NAMES[node];
        let count = |list: &str, key: &str, field: &str, value: &str| {
            format!("{{ path = \"{list}\", count = \"${{len({n}_{key}.{list})}}\" }}, {{ path = \"{list}\", where = {{ {field} = \"{value}\" }}, count = \"${{count_where({n}_{key}.{list}, '{field}', '{value}')}}\" }}")
        };
        let mut fields = |method: &str, f: Vec<String>| {
            if !f.is_empty() {
                self.push(format!(
                    "{{ rpc = \"{n}\", method = \"{method}\", expect.fields = [{}] }}",
                    f.join(", ")
                ));
            }
        };
        let has = |c| checks.contains(&c);
        if has(StateCheck::Invoices) {
            fields(
                "listinvoices",
                vec![count("invoices", "inv", "status", "paid")],
            );
        }
        if has(StateCheck::Payments) {
            fields(
                "listsendpays",
                vec![count("payments", "pays", "status", "complete")],
            );
        }
        let mut chans = vec![];
        if has(StateCheck::Channels) {
            chans.push(count("channels", "chans", "state", "CHANNELD_NORMAL"));
        }
        if has(StateCheck::Balances) {
            chans.push(format!("{{ path = \"channels\", sum = \"to_us_msat\", equals = \"${{sum({n}_chans.channels, 'to_us_msat')}}\" }}"));
        }
        fields("listpeerchannels", chans);
        if has(StateCheck::Funds) {
            fields("listfunds", vec![format!("{{ path = \"outputs\", sum = \"amount_msat\", equals = \"${{sum({n}_funds.outputs, 'amount_msat')}}\" }}")]);
        }
        if has(StateCheck::Accounts) {
            fields(
                "bkpr-listbalances",
                vec![format!(
                    "{{ path = \"accounts\", count = \"${{len({n}_accts.accounts)}}\" }}"
                )],
            );
            // Listed, not counted: the bookkeeper may append an event when
            // it reconciles at start (seen once in 41 runs, v25.02.1 ->
            // v25.05: a zero-credit channel_open for a peer-opened channel;
            // not reproduced in 12 reruns). A crash or an error here counts.
            self.push(format!(
                "{{ rpc = \"{n}\", method = \"bkpr-listaccountevents\" }}"
            ));
        }
    }
}

/// The RPCs whose results the checks compare, and the names they are saved under.
fn saved_rpcs(checks: &[StateCheck]) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![];
    for c in checks {
        match c {
            StateCheck::Invoices => out.push(("listinvoices", "inv")),
            StateCheck::Payments => out.push(("listsendpays", "pays")),
            StateCheck::Channels | StateCheck::Balances => out.push(("listpeerchannels", "chans")),
            StateCheck::Funds => out.push(("listfunds", "funds")),
            StateCheck::Accounts => {
                out.push(("bkpr-listbalances", "accts"));
            }
        }
    }
    out.dedup();
    out
}

/// The roles a program's upgraded nodes go through, in order: `via1` ...
/// `via{p.via}`, then `candidate`.
pub fn upgrade_roles(p: &Program) -> Vec<String> {
    (1..=p.via)
        .map(|k| format!("via{k}"))
        .chain(["candidate".to_string()])
        .collect()
}

/// The node flags and options a dual-funded program's nodes run with: v2
/// opens, and CLN's funder plugin putting in as much as the funder does
/// (not only for liquidity ads, its default).
const DUAL_FUND_NODE: &str = "flags = [\"experimental-dual-fund\"], options = { funder-policy = \"match\", funder-policy-mod = 100, funder-lease-requests-only = false }";

/// The nodes, and the channels the harness's setup opens (none when the
/// program opens them itself, dual-funded).
fn topology(p: &Program) -> Vec<String> {
    let holds = p.holders();
    let nodes: Vec<String> = p
        .xpay
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let xpay = x.map(|m| format!(", xpay = \"{m}\"")).unwrap_or_default();
            let splicing = if p.splices() { ", splicing = true" } else { "" };
            let hold = if holds.contains(&i) {
                format!(", hold_htlcs_msat = {STRAND_MSAT}")
            } else {
                String::new()
            };
            let opening = if p.dual_funded {
                format!(", {DUAL_FUND_NODE}")
            } else if p.zero_conf {
                ", zero_conf = true".to_string()
            } else {
                String::new()
            };
            format!(
                "{} = {{ role = \"base\"{xpay}{splicing}{hold}{opening} }}",
                NAMES[i]
            )
        })
        .collect();
    let mut out = vec![format!("nodes = {{ {} }}", nodes.join(", "))];
    if p.dual_funded || p.zero_conf {
        out.push("setup = \"manual\"".into());
        return out;
    }
    let chans: Vec<String> = p
        .channels
        .iter()
        .map(|c| {
            let private = if c.announce { "" } else { ", announce = false" };
            format!(
                "{{ from = \"{}\", to = \"{}\", amount_sat = {}, push_msat = {}{private} }}",
                NAMES[c.a], NAMES[c.b], c.sat, c.push_msat
            )
        })
        .collect();
    out.push(format!("channels = [{}]", chans.join(", ")));
    out
}

/// The program as a compact scenario file, with comments saying what each part is.
pub fn render(p: &Program, finding: Option<&str>) -> String {
    render_with(p, finding, true)
}

/// With `ending`, the program's closing steps too (the stranded HTLCs'
/// sweeps, the witness), which follow every op: without them, the step
/// count of the ops alone.
fn render_with(p: &Program, finding: Option<&str>, ending: bool) -> String {
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
    out.extend(topology(p));
    if p.witness {
        out.push("witness = true".into());
    }
    if p.postgres {
        out.push("db = \"postgres\"".into());
    }
    if !p.steering.allowed_broken.is_empty() {
        let quoted: Vec<String> = p
            .steering
            .allowed_broken
            .iter()
            .map(|l| format!("{l:?}"))
            .collect();
        out.push(format!("broken_log = [{}]", quoted.join(", ")));
    }
    out.push("steps = [".into());
    let mut r = Renderer {
        out,
        channels: &p.channels,
        lines: Lines::new(p),
        n: 0,
        stranded: vec![],
        held: vec![],
        zero_conf: p.zero_conf,
        down_mid_forward: p.steering.down_mid_forward,
    };
    if p.dual_funded {
        r.dual_funded_opens();
    } else if p.zero_conf {
        r.zero_conf_opens();
    }
    if !p.before.is_empty() {
        r.out.push("  # traffic on base".into());
    }
    for o in &p.before {
        r.op(o);
    }
    // One database through every hop: each `via` release, then candidate.
    for role in upgrade_roles(p) {
        for &u in &p.upgrade {
            r.upgrade(u, &role, p);
        }
    }
    r.release_held();
    if !p.after.is_empty() {
        r.out.push("  # traffic on candidate".into());
    }
    for o in &p.after {
        r.op(o);
    }
    if ending {
        r.sweep_stranded();
    }
    if p.witness && ending {
        r.out.push(
            "  # the chain witness: each node's funds as lightningd claims them, against electrs"
                .into(),
        );
        // electrs answers for mined transactions: a zero-conf funding
        // still in the mempool reads as spent. (Its lock-in is then on the
        // upgraded binary, which is worth a block on its own.)
        if p.zero_conf {
            r.settle();
            r.push("{ mine = 1 }".into());
        }
        for n in NAMES.iter().take(p.xpay.len()) {
            r.push(format!("{{ witness = \"{n}\" }}"));
        }
    }
    let mut out = r.out;
    out.push("]".into());
    out.join("\n") + "\n"
}

/// How many steps a rendered program has (each step is one `  { ... },` line).
fn step_count(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("  {")).count()
}

/// The program cut right after the op that rendered its `step`th step
/// (1-based, as a report's step index): what follows a failure cannot have
/// caused it. A failure on base keeps no upgrade and no later traffic; one
/// during the upgrades keeps no traffic after them. `None` when nothing
/// would be cut or the step is not one of the program's.
pub fn cut_after_step(p: &Program, step: usize) -> Option<Program> {
    let base_only = p.base_only();
    let prefixes = (1..=p.before.len())
        .map(|i| Program {
            before: p.before[..i].to_vec(),
            ..base_only.clone()
        })
        .chain((1..=p.upgrade.len()).map(|j| Program {
            upgrade: p.upgrade[..j].to_vec(),
            after: vec![],
            witness: false,
            ..p.clone()
        }))
        .chain((1..=p.after.len()).map(|i| Program {
            after: p.after[..i].to_vec(),
            witness: false,
            ..p.clone()
        }));
    let whole = step_count(&render(p, None));
    for q in prefixes {
        let n = step_count(&render_with(&q, None, false));
        if n >= step {
            return (n < whole && super::program::is_valid(&q)).then_some(q);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::program::{
        generate, shrink_candidates, Abilities, Steering, HELD_CLTV, STRAND_CLTV,
    };

    /// `--via`: one database through several upgrades, each hop with its
    /// own saved state, comparison and check-db, in the order given.
    #[test]
    fn a_chain_of_upgrades_goes_through_every_via_release_in_order() {
        let p = Program {
            via: 2,
            ..(0..50)
                .map(|s| generate(s, 3, &all()))
                .find(|p| !p.upgrade.is_empty() && !p.checks.is_empty())
                .unwrap()
        };
        let text = render(&p, None);
        crate::scenario::from_str("s.toml", &text).unwrap();
        let name = NAMES[p.upgrade[0]];
        let at = |role: &str| {
            text.find(&format!("{{ upgrade = \"{name}\", role = \"{role}\" }}"))
                .unwrap_or_else(|| panic!("no upgrade onto {role}:\n{text}"))
        };
        assert!(
            at("via1") < at("via2") && at("via2") < at("candidate"),
            "{text}"
        );
        assert_eq!(text.matches("check_db = ").count(), 3 * p.upgrade.len());
        assert_eq!(upgrade_roles(&p), ["via1", "via2", "candidate"]);
        // The shrinker tries the direct jump.
        assert!(crate::explore::program::shrink_candidates(&p)
            .iter()
            .any(|q| q.via == 0));
    }

    /// A finding that failed at a `pay` on base shrank to 15 lines that still
    /// upgraded, reconnected and waited after it: the cut drops all of that.
    #[test]
    fn a_failure_on_base_cuts_the_upgrade_and_everything_after_it() {
        let p = (0..200)
            .map(|s| generate(s, 3, &all()))
            .find(|p| p.before.len() >= 2 && p.after.len() >= 2)
            .unwrap();
        let text = render(&p, None);
        // The first op's last step: the cut keeps exactly that op.
        let first = Program {
            before: p.before[..1].to_vec(),
            ..p.base_only()
        };
        let n = step_count(&render(&first, None));
        let cut = cut_after_step(&p, n).expect("a cut");
        assert_eq!(cut, first, "{text}");
        assert!(!render(&cut, None).contains("upgrade ="));
        // A failure in the last step cuts nothing; a step past the end is not the program's.
        let whole = step_count(&text);
        assert_eq!(cut_after_step(&p, whole), None);
        assert_eq!(cut_after_step(&p, whole + 1), None);
        // A failure in the first traffic on candidate keeps base's traffic and every upgrade.
        let upgraded = Program {
            after: vec![],
            witness: false,
            ..p.clone()
        };
        let at = step_count(&render(&upgraded, None)) + 1;
        let cut = cut_after_step(&p, at).expect("a cut");
        assert_eq!(
            (cut.before.len(), cut.upgrade.len(), cut.after.len()),
            (p.before.len(), p.upgrade.len(), 1)
        );
    }

    fn all() -> Abilities {
        Abilities::all()
    }

    /// A program rendered (and parsed), with the two ends of channel `chan`.
    struct Rendered {
        text: String,
        a: &'static str,
        b: &'static str,
    }

    impl Rendered {
        fn of(p: &Program, chan: usize) -> Rendered {
            let text = render(p, None);
            crate::scenario::from_str("s.toml", &text).unwrap();
            let (a, b) = (NAMES[p.channels[chan].a], NAMES[p.channels[chan].b]);
            Rendered { text, a, b }
        }

        fn at(&self, needle: &str) -> usize {
            let text = &self.text;
            text.find(needle)
                .unwrap_or_else(|| panic!("no `{needle}`:\n{text}"))
        }

        /// Where the `sendpay` of this HTLC is.
        fn sent(&self, msat: u64, cltv: u64) -> usize {
            self.at(&format!("amount_msat = {msat}, delay = {cltv} }}] }} }}"))
        }
    }

    #[test]
    fn no_traffic_uses_a_closed_channel_and_unilateral_closes_wait_for_candidate() {
        for seed in 0..300 {
            let p = generate(seed, 3, &all());
            assert!(!p.before.iter().any(|o| matches!(
                o,
                Op::Close {
                    unilateral: true,
                    ..
                }
            )));
            let text = render(&p, None);
            // A closed channel is never reconnected: no wait for CHANNELD_NORMAL after its close.
            if let Some(Op::Close { chan, .. }) =
                p.before.iter().find(|o| matches!(o, Op::Close { .. }))
            {
                let c = p.channels[*chan];
                let after_close = text.split("state = \"ONCHAIN\"").last().unwrap();
                assert!(
                    !after_close.contains(&format!(
                        "{{ connect = \"{}\", peer = \"{}\" }}",
                        NAMES[c.a], NAMES[c.b]
                    )) && !after_close.contains(&format!(
                        "{{ connect = \"{}\", peer = \"{}\" }}",
                        NAMES[c.b], NAMES[c.a]
                    )),
                    "seed {seed}:\n{text}"
                );
            }
        }
    }

    /// The issue: "Explore uses it to race requests: payments against a
    /// restart". The keysend and the restart are one `parallel` step; after
    /// it the payer reconnects and every HTLC must resolve.
    #[test]
    fn a_keysend_races_its_payers_restart_and_its_htlc_must_resolve_after() {
        let p = (0..300)
            .map(|s| generate(s, 3, &all()))
            .find(|p| p.after.iter().any(|o| matches!(o, Op::Race { .. })))
            .expect("a race in 300 seeds");
        let Some(&Op::Race { from, to, msat }) =
            p.after.iter().find(|o| matches!(o, Op::Race { .. }))
        else {
            unreachable!()
        };
        let text = render(&p, None);
        crate::scenario::from_str("s.toml", &text).unwrap();
        let (f, t) = (NAMES[from], NAMES[to]);
        let race = format!(
            "{{ parallel = [{{ keysend = \"{f}\", to = \"{t}\", amount_msat = {}, expect.ok = false }}, {{ restart = \"{f}\" }}], timeout = 60 }}",
            RACE_MSAT + msat
        );
        let at = text.find(&race).unwrap_or_else(|| panic!("{race}\n{text}"));
        let rest = &text[at..];
        let reconnect = rest.find(&format!("{{ connect = \"{f}\"")).unwrap();
        let settled = rest.find("htlcs\", count = 0").unwrap();
        assert!(reconnect < settled, "{text}");
    }

    /// The issue: "a unilateral close with HTLCs in flight, resolved on
    /// chain after the upgrade". On base the payee dies under a `sendpay`
    /// and the payer closes; the upgrade follows with the HTLC still on
    /// chain, and the program ends mining until both ends swept every
    /// output. The checks the resolution moves are left out.
    /// The issue: "splices". A program that splices starts every node with
    /// `splicing = true` (the version-gated flag), splices out on base as
    /// CLN's own test does, locks it on both ends before anything else,
    /// and only then upgrades; a program that does not splice never
    /// asks for it, and no splice is drawn on candidate.
    #[test]
    fn a_splice_on_base_is_locked_on_both_ends_before_the_upgrade() {
        let programs: Vec<Program> = (0..400).map(|s| generate(s, 3, &all())).collect();
        let spliced = |p: &Program| p.before.iter().any(|o| matches!(o, Op::Splice { .. }));
        let p = programs
            .iter()
            .find(|p| spliced(p))
            .expect("a splice in 400 seeds");
        assert!(programs
            .iter()
            .all(|p| !p.after.iter().any(|o| matches!(o, Op::Splice { .. }))));
        let text = render(p, None);
        crate::scenario::from_str("s.toml", &text).unwrap();
        assert_eq!(text.matches("splicing = true").count(), p.nodes(), "{text}");
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("no `{needle}`:\n{text}"))
        };
        let init = at("method = \"splice_init\"");
        let secured = at("path = \"commitments_secured\", equals = true");
        let signed = at("method = \"splice_signed\"");
        let normal = init + text[init..].find("state = \"CHANNELD_NORMAL\"").unwrap();
        let upgraded = at("{ upgrade = ");
        assert!(init < secured && secured < signed && signed < normal && normal < upgraded);
        let plain = programs.iter().find(|p| !spliced(p)).unwrap();
        assert!(!render(plain, None).contains("splicing"));
        let none = Abilities {
            splices: false,
            ..all()
        };
        assert!((0..400).all(|s| !spliced(&generate(s, 3, &none))));
    }

    /// The issue: "dual-funded opens". A share of programs open their
    /// channels themselves, v2, on nodes whose funder plugin matches the
    /// funder's amount; a node on two channels gets a coin for each.
    #[test]
    fn a_share_of_programs_open_their_channels_dual_funded() {
        let programs: Vec<Program> = (0..200).map(|s| generate(s, 3, &all())).collect();
        let dual = programs
            .iter()
            .filter(|p| p.dual_funded)
            .find(|p| p.nodes() == 3)
            .expect("a dual-funded line of three in 200 seeds");
        let share = programs.iter().filter(|p| p.dual_funded).count();
        assert!((20..=60).contains(&share), "{share} of 200");
        let text = render(dual, None);
        let s = crate::scenario::from_str("s.toml", &text).unwrap();
        assert!(s.channels.is_empty() && s.setup == crate::scenario::Setup::Manual);
        for n in &s.nodes {
            assert!(n.options.contains(&("experimental-dual-fund".into(), None)));
            assert!(n
                .options
                .contains(&("funder-policy".into(), Some("match".into()))));
        }
        assert_eq!(text.matches("{ fund = \"bob\" }").count(), 2, "{text}");
        assert_eq!(text.matches("{ fund = \"alice\" }").count(), 1, "{text}");
        let opened = text.find("method = \"fundchannel\"").unwrap();
        let traffic = text.find("# traffic on base").unwrap_or(text.len());
        let normal = opened + text[opened..].find("state = \"CHANNELD_NORMAL\"").unwrap();
        assert!(normal < traffic, "{text}");
        let plain = programs.iter().find(|p| !p.dual_funded).unwrap();
        assert!(!render(plain, None).contains("experimental-dual-fund"));
        assert!(shrink_candidates(dual).iter().any(|q| !q.dual_funded));
    }

    /// The issue: "zero-conf opens". A share of programs open unannounced
    /// channels with `mindepth = 0` to nodes that accept them, and the
    /// traffic starts with nothing mined; they never splice.
    #[test]
    fn a_share_of_programs_open_zero_conf_and_start_before_any_block() {
        let programs: Vec<Program> = (0..300).map(|s| generate(s, 3, &all())).collect();
        let zero: Vec<&Program> = programs.iter().filter(|p| p.zero_conf).collect();
        assert!((20..=80).contains(&zero.len()), "{} of 300", zero.len());
        assert!(zero.iter().all(|p| !p.dual_funded
            && p.channels.iter().all(|c| !c.announce)
            && !p.before.iter().any(|o| matches!(o, Op::Splice { .. }))));
        let p = zero.iter().find(|p| p.nodes() == 3).unwrap();
        let text = render(p, None);
        let s = crate::scenario::from_str("s.toml", &text).unwrap();
        assert!(s.nodes.iter().all(|n| n.zero_conf) && s.channels.is_empty());
        // Their fundings may be unmined: no short channel id to name them by.
        for z in &zero {
            assert!(!render(z, None).contains(".short_channel_id}"), "{z:?}");
        }
        let opened = text.find("mindepth = 0 } }").unwrap();
        let normal = opened + text[opened..].find("state = \"CHANNELD_NORMAL\"").unwrap();
        let first_block = text.find("{ mine = ").unwrap_or(text.len());
        assert!(normal < first_block, "{text}");
        assert!(shrink_candidates(p).iter().any(|q| !q.zero_conf));
        assert!(shrink_candidates(p)
            .iter()
            .all(|q| !q.zero_conf || q.channels.iter().all(|c| !c.announce)));
    }

    /// Explore, v25.05 -> v25.09.1: alice keysends to carol through bob,
    /// and bob restarts (racing a keysend of his own) before the forward's
    /// removal is done; reloaded, bob logs BROKEN "Unable to calculate fees
    /// collected" (the pinned verdict case `forward-settled-across-restart`).
    /// While no release fixes it, a forwarder's channels settle before it
    /// goes down, however it goes down; a node that forwards nothing does
    /// not wait.
    #[test]
    fn a_forwarder_goes_down_only_once_its_forwards_settled() {
        let base = (0..100)
            .map(|s| generate(s, 3, &all()))
            .find(|p| p.nodes() == 3 && !p.zero_conf && !p.dual_funded)
            .unwrap();
        let channels: Vec<Chan> = base
            .channels
            .iter()
            .map(|c| Chan {
                announce: true,
                ..*c
            })
            .collect();
        let forward = Op::Keysend {
            from: 0,
            to: 2,
            msat: 1000,
        };
        let settles = Steering {
            down_mid_forward: false,
            ..Steering::none()
        };
        let settled = |text: &str, down: &str| {
            let (start, end) = (
                text.find("to = \"carol\"").unwrap(),
                text.find(down).unwrap(),
            );
            ["alice", "carol"].iter().all(|peer| {
                text[start..end].contains(&format!("{{ wait_rpc = \"bob\", method = \"listpeerchannels\", until = {{ path = \"channels[peer_id=${{{peer}.id}}].htlcs\", count = 0 }} }}"))
            })
        };
        let downs = [
            (Op::Restart { node: 1 }, "{ restart = \"bob\" }"),
            (Op::Kill { node: 1 }, "{ kill = \"bob\" }"),
            (
                Op::Race {
                    from: 1,
                    to: 2,
                    msat: 0,
                },
                "{ restart = \"bob\" }",
            ),
            (
                Op::Close {
                    chan: 0,
                    unilateral: true,
                },
                "{ stop = \"bob\" }",
            ),
        ];
        for (down, line) in downs {
            let p = Program {
                channels: channels.clone(),
                before: vec![forward.clone(), down.clone()],
                upgrade: vec![0],
                after: vec![],
                steering: settles.clone(),
                ..base.clone()
            };
            assert!(settled(&render(&p, None), line), "{down:?}");
            let free = Program {
                steering: Steering::none(),
                ..p
            };
            assert!(!settled(&render(&free, None), line), "{down:?}");
        }
        // Carol forwards nothing: she restarts at once.
        let p = Program {
            channels,
            before: vec![forward, Op::Restart { node: 2 }],
            upgrade: vec![0],
            after: vec![],
            steering: settles,
            ..base
        };
        let text = render(&p, None);
        let (sent, restart) = (
            text.find("to = \"carol\"").unwrap(),
            text.find("{ restart = \"carol\" }").unwrap(),
        );
        assert!(!text[sent..restart].contains("wait_rpc"), "{text}");
    }

    #[test]
    fn an_htlc_stranded_on_chain_on_base_is_swept_after_the_upgrade() {
        let p = (0..600)
            .map(|s| generate(s, 3, &all()))
            .find(|p| {
                p.before
                    .iter()
                    .any(|o| matches!(o, Op::StrandedClose { .. }))
                    && !p.before.iter().any(|o| matches!(o, Op::HeldPay { .. }))
            })
            .expect("a stranded close in 600 seeds");
        let Some(&Op::StrandedClose { chan, msat }) = p
            .before
            .iter()
            .find(|o| matches!(o, Op::StrandedClose { .. }))
        else {
            unreachable!()
        };
        let r = Rendered::of(&p, chan);
        let (text, a, b, at) = (&r.text, r.a, r.b, |n: &str| r.at(n));
        let sent = r.sent(STRAND_MSAT + msat, STRAND_CLTV);
        let held = at("state = \"SENT_ADD_ACK_REVOCATION\"");
        let killed = at(&format!("{{ kill = \"{b}\" }}"));
        // Only the payee holds, and only HTLCs above all other traffic.
        let holder = text.lines().find(|l| l.starts_with("nodes = ")).unwrap();
        assert!(
            holder.contains(&format!("{b} = {{ role = \"base\""))
                && holder.contains(&format!("hold_htlcs_msat = {STRAND_MSAT}")),
            "{holder}"
        );
        assert_eq!(holder.matches("hold_htlcs_msat").count(), 1, "{holder}");
        let closed = at(&format!("{{ force_close = \"{a}\", peer = \"{b}\""));
        let upgraded = at("{ upgrade = ");
        let swept_a = at(&format!("{{ wait_swept = \"{a}\""));
        let swept_b = at(&format!("{{ wait_swept = \"{b}\""));
        assert!(
            sent < held && held < killed && killed < closed && closed < upgraded,
            "{text}"
        );
        assert!(upgraded < swept_a && upgraded < swept_b, "{text}");
        assert!(
            !text.contains("_funds") && !text.contains("_pays"),
            "{text}"
        );
        assert!(!p.upgrade_checks().contains(&StateCheck::Balances));
        // The shrinker asks whether the HTLC matters, or only the close.
        let mutual = Op::Close {
            chan,
            unilateral: false,
        };
        assert!(shrink_candidates(&p)
            .iter()
            .any(|q| q.before.contains(&mutual)));
    }

    /// An HTLC the old binary accepted and never answered, replayed to the
    /// upgraded binary's hook: held through every upgrade (what settles the
    /// channels before a block or a saved state leaves it in flight), then
    /// released, and its payment must complete before the traffic on
    /// candidate.
    #[test]
    fn an_htlc_held_on_base_is_released_and_settled_after_every_upgrade() {
        let p = (0..600)
            .map(|s| generate(s, 3, &all()))
            .find(|p| {
                p.before
                    .windows(2)
                    .any(|w| matches!(w, [Op::HeldPay { .. }, Op::Mine { .. }]))
                    && !p.after.is_empty()
            })
            .expect("a held pay and a mine in 600 seeds");
        let Some(&[Op::HeldPay { chan, msat }, _]) = p
            .before
            .windows(2)
            .find(|w| matches!(w, [Op::HeldPay { .. }, Op::Mine { .. }]))
        else {
            unreachable!()
        };
        let r = Rendered::of(&p, chan);
        let (text, a, b, at) = (&r.text, r.a, r.b, |n: &str| r.at(n));
        let sent = r.sent(STRAND_MSAT + msat, HELD_CLTV);
        let committed = at("state = \"RCVD_ADD_ACK_REVOCATION\"");
        let last_upgrade = text.rfind("{ upgrade = ").unwrap();
        let released = at(&format!("{{ rpc = \"{b}\", method = \"harness-release\""));
        let complete = at(&format!("{{ rpc = \"{a}\", method = \"waitsendpay\""));
        let candidate = at("# traffic on candidate");
        assert!(
            sent < committed
                && committed < last_upgrade
                && last_upgrade < released
                && released < complete
                && complete < candidate,
            "{text}"
        );
        let holder = text.lines().find(|l| l.starts_with("nodes = ")).unwrap();
        assert!(holder.contains(&format!("hold_htlcs_msat = {STRAND_MSAT}")));
        // While held, settling waits for that one HTLC on its channel, not none.
        let held_wait = format!("{{ wait_rpc = \"{a}\", method = \"listpeerchannels\", until = {{ path = \"channels[peer_id=${{{b}.id}}].htlcs\", count = 1 }} }}");
        let mine = sent + text[sent..].find("{ mine = ").unwrap();
        assert!(text[sent..mine].contains(&held_wait), "{text}");
        // Nothing closes or splices it while held; the shrinker asks whether the hold matters.
        assert!(!text[sent..released].contains(&format!("peer = \"{b}\", save = \"close")));
        let plain = Op::Pay {
            payer: p.channels[chan].a,
            payee: p.channels[chan].b,
            msat,
        };
        assert!(shrink_candidates(&p)
            .iter()
            .any(|q| q.before.contains(&plain)));
    }

    #[test]
    fn state_is_saved_with_no_htlc_in_flight_and_compared_after_the_upgrade() {
        let p = (0..100)
            .map(|s| generate(s, 3, &all()))
            .find(|p| p.upgrade.contains(&1) && p.nodes() == 3)
            .unwrap();
        let text = render(&p, None);
        let save = text.find("save = \"bob_chans\"").unwrap();
        let wait = text.find("{ wait_rpc = \"bob\", method = \"listpeerchannels\", until = { path = \"channels[peer_id=${carol.id}].htlcs\", count = 0 } }").unwrap();
        let upgrade = text.find("{ upgrade = \"bob\"").unwrap();
        let compare = text
            .find("sum = \"to_us_msat\", equals = \"${sum(bob_chans.channels, 'to_us_msat')}\"")
            .unwrap();
        assert!(wait < save && save < upgrade && upgrade < compare, "{text}");
        assert!(text.contains("{ rpc = \"bob\", method = \"bkpr-listaccountevents\" }"));
        assert!(text.contains("method = \"bkpr-listbalances\", expect.fields = [{ path = \"accounts\", count = \"${len(bob_accts.accounts)}\" }]"));
        let fewer = Program {
            checks: vec![StateCheck::Funds],
            ..p
        };
        let text = render(&fewer, None);
        assert!(
            !text.contains("bkpr") && !text.contains("bob_chans") && text.contains("bob_funds")
        );
    }
}
