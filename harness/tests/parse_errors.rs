//! The scenario language's error messages and its no-panic guarantee.

use cln_harness::scenario::{self, Action, ExpectResult};
use proptest::prelude::*;

fn err(text: &str) -> String {
    scenario::from_str("bug.toml", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn every_committed_scenario_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = cln_harness::scenario::scenario_files(&[root]);
    assert!(files.len() >= 13, "{files:?}");
    for f in files {
        scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn an_unknown_step_is_located_and_a_near_miss_suggested() {
    let e = err("[[steps]]\ndo = \"keysnd\"\nnode = \"alice\"\n");
    assert!(
        e.starts_with(
            "bug.toml:2:6: `do`: step 1: unknown step `keysnd` (did you mean `keysend`?)"
        ),
        "{e}"
    );
}

#[test]
fn an_unknown_field_names_the_key_and_what_fits() {
    let e = err("[[steps]]\ndo = \"keysend\"\nnode = \"alice\"\nto = \"bob\"\namout_msat = 5\n");
    assert!(e.starts_with("bug.toml:5:1: `amout_msat`: step 1 (`keysend`): unknown key (did you mean `amount_msat`?)"), "{e}");
    let e = err("[[steps]]\ndo = \"mine\"\nfrobnicate = 5\n");
    assert!(
        e.starts_with("bug.toml:3:1: `frobnicate`: step 1 (`mine`): unknown key; expected one of:"),
        "{e}"
    );
}

#[test]
fn a_missing_required_key_is_an_error() {
    let e = err("[[steps]]\ndo = \"keysend\"\nnode = \"alice\"\nto = \"bob\"\n");
    assert!(e.contains("missing required key `amount_msat`"), "{e}");
}

#[test]
fn wrong_types_say_what_was_expected() {
    let e = err("[[steps]]\ndo = \"mine\"\nblocks = \"six\"\n");
    assert!(e.starts_with("bug.toml:3:10: `blocks`"), "{e}");
    assert!(
        e.contains("expected a non-negative integer, found a string"),
        "{e}"
    );
}

#[test]
fn references_to_unknown_nodes_and_unsaved_results_are_caught_before_running() {
    let e = err("[[steps]]\ndo = \"keysend\"\nnode = \"carol\"\nto = \"bob\"\namount_msat = 1\n");
    assert!(
        e.contains("no node named `carol` (nodes: alice, bob)"),
        "{e}"
    );
    let e = err("[[steps]]\ndo = \"pay\"\nnode = \"alice\"\nbolt11 = \"${inv.bolt11}\"\n");
    assert!(e.contains("`${inv.bolt11}` refers to `inv`"), "{e}");
}

#[test]
fn pay_xpay_mode_must_match_the_node() {
    let e = err("[[steps]]\ndo = \"pay\"\nnode = \"alice\"\nxpay = \"off\"\nbolt11 = \"x\"\n");
    assert!(
        e.contains("set `xpay = \"off\"` under [nodes.alice]"),
        "{e}"
    );
}

#[test]
fn invalid_toml_is_located() {
    let e = err("name = \"x\"\n[[steps]\n");
    assert!(e.starts_with("bug.toml:2:"), "{e}");
}

#[test]
fn defaults_are_two_nodes_on_candidate_with_one_channel() {
    let s = scenario::from_str("x.toml", "").unwrap();
    assert_eq!(
        s.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    assert_eq!(s.roles(), ["candidate"]);
    assert_eq!(s.channels.len(), 1);
}

#[test]
fn expectations_and_repeat_parse() {
    let s = scenario::from_str(
        "x.toml",
        r#"
[[steps]]
do = "repeat"
times = 3
[[steps.steps]]
do = "rpc"
node = "alice"
method = "nope"
save = "r${i}"
expect.error = { code = -32601, message = "Unknown" }
"#,
    )
    .unwrap();
    let Action::Repeat { times, steps, .. } = &s.steps[0].action else {
        panic!()
    };
    assert_eq!(*times, 3);
    assert!(matches!(
        steps[0].expect.result,
        ExpectResult::Error {
            code: Some(-32601),
            ..
        }
    ));
}

fn parallel_inner(s: &scenario::Scenario) -> Vec<Action> {
    match &s.steps[0].action {
        Action::Parallel { steps } => steps.iter().map(|s| s.action.clone()).collect(),
        other => panic!("not a parallel: {other:?}"),
    }
}

#[test]
fn parallel_parses_in_the_compact_and_the_long_form_alike() {
    let compact = scenario::from_str(
        "x.toml",
        r#"steps = [{ parallel = [
    { keysend = "alice", to = "bob", amount_msat = 1000, expect.fields = [{ path = "status", equals = "complete" }] },
    { rpc = "bob", method = "listinvoices" },
    { restart = "bob" },
], save = "race" }]
"#,
    )
    .unwrap();
    let long = scenario::from_str(
        "x.toml",
        r#"
[[steps]]
do = "parallel"
save = "race"
[[steps.steps]]
do = "keysend"
node = "alice"
to = "bob"
amount_msat = 1000
expect.fields = [{ path = "status", equals = "complete" }]
[[steps.steps]]
do = "rpc"
node = "bob"
method = "listinvoices"
[[steps.steps]]
do = "restart"
node = "bob"
"#,
    )
    .unwrap();
    assert_eq!(parallel_inner(&compact), parallel_inner(&long));
    let kinds: Vec<&str> = parallel_inner(&compact).iter().map(|a| a.kind()).collect();
    assert_eq!(kinds, ["keysend", "rpc", "restart"]);
    assert_eq!(compact.steps[0].save.as_deref(), Some("race"));
    let Action::Parallel { steps } = &compact.steps[0].action else {
        panic!()
    };
    assert_eq!(steps[0].expect.fields.len(), 1);
}

#[test]
fn parallel_holds_requests_and_at_most_one_network_change() {
    let e = err("steps = [{ parallel = [{ restart = \"bob\" }, { rpc = \"alice\", method = \"getinfo\" }, { mine = 1 }] }]\n");
    assert_eq!(
        e,
        "bug.toml:1:84: `do`: step 1.3 (`mine`): a parallel may hold one step that changes the network, and step 1.1 (`restart`) already does"
    );
    let e = err("steps = [\n  { mine = 1 },\n  { parallel = [{ rpc = \"alice\", method = \"getinfo\" }, { sleep = 1 }] },\n]\n");
    assert_eq!(
        e,
        "bug.toml:3:56: `do`: step 2.2 (`sleep`): `sleep` cannot run inside a parallel; it holds requests to nodes (invoice, pay, keysend, rpc, raw, wait_rpc) and at most one step that changes the network (mine, close, restart, upgrade, kill, start, stop)"
    );
    for inner in [
        "{ parallel = [{ mine = 1 }, { mine = 1 }] }",
        "{ repeat = 2, steps = [{ mine = 1 }] }",
        "{ wait_log = \"bob\", pattern = \"x\" }",
        "{ fund = \"bob\" }",
    ] {
        let e = err(&format!(
            "steps = [{{ parallel = [{{ rpc = \"alice\", method = \"getinfo\" }}, {inner}] }}]\n"
        ));
        assert!(
            e.starts_with("bug.toml:1:") && e.contains("cannot run inside a parallel"),
            "{inner}: {e}"
        );
    }
}

#[test]
fn parallel_needs_two_inner_steps() {
    let e = err("steps = [{ parallel = [{ rpc = \"alice\", method = \"getinfo\" }] }]\n");
    assert_eq!(
        e,
        "bug.toml:1:23: `steps`: step 1 (`parallel`): a parallel needs at least two inner steps to start at once, found 1"
    );
    let e = err("steps = [{ parallel = [] }]\n");
    assert!(e.contains("found 0"), "{e}");
    let e = err("steps = [{ do = \"parallel\" }]\n");
    assert!(e.contains("missing required key `steps`"), "{e}");
}

#[test]
fn parallel_inner_steps_save_nothing_and_fit_its_timeout() {
    let rpc = "{ rpc = \"alice\", method = \"getinfo\" }";
    let e = err(&format!(
        "steps = [{{ parallel = [{rpc}, {{ rpc = \"bob\", method = \"getinfo\", save = \"x\" }}] }}]\n"
    ));
    assert!(
        e.starts_with("bug.toml:1:63: `save`: step 1.2 (`rpc`): a step inside a parallel saves nothing; save the parallel"),
        "{e}"
    );
    let e = err(&format!(
        "steps = [{{ parallel = [{rpc}, {{ restart = \"bob\", soft = true }}] }}]\n"
    ));
    assert!(
        e.contains("`soft`: step 1.2 (`restart`): `soft` applies to the parallel as a whole"),
        "{e}"
    );
    let e = err(&format!(
        "steps = [{{ parallel = [{rpc}, {{ restart = \"bob\", timeout = 60 }}], timeout = 10 }}]\n"
    ));
    assert!(
        e.contains(
            "`timeout`: step 1.2 (`restart`): timeout 60s is longer than the parallel's 10s"
        ),
        "{e}"
    );
    // Without its own timeout, the parallel's is the scenario's.
    let e = err(&format!(
        "step_timeout = 20\nsteps = [{{ parallel = [{rpc}, {{ restart = \"bob\", timeout = 25 }}] }}]\n"
    ));
    assert!(e.contains("longer than the parallel's 20s"), "{e}");
    scenario::from_str(
        "ok.toml",
        &format!("steps = [{{ parallel = [{rpc}, {{ restart = \"bob\", timeout = 10 }}], timeout = 10 }}]\n"),
    )
    .unwrap();
}

#[test]
fn parallel_inner_references_see_the_bindings_before_it() {
    let ok = r#"steps = [
  { invoice = "bob", amount_msat = 1000, save = "inv" },
  { parallel = [{ pay = "alice", bolt11 = "${inv.bolt11}" }, { rpc = "bob", method = "listinvoices", params = { label = "${inv.label}" } }], save = "race" },
  { rpc = "bob", method = "getinfo", expect.fields = [{ path = "id", equals = "${race[1].invoices[0].label}" }] },
]
"#;
    scenario::from_str("ok.toml", ok).unwrap();
    let e = err(
        r#"steps = [{ parallel = [{ rpc = "alice", method = "getinfo" }, { rpc = "bob", method = "x", params = { a = "${race}" } }], save = "race" }]
"#,
    );
    assert!(
        e.contains("step 1.2 (`rpc`): `${race}` refers to `race`"),
        "{e}"
    );
    let e = err(
        r#"steps = [{ parallel = [{ rpc = "carol", method = "getinfo" }, { mine = 1 }] }]
"#,
    );
    assert!(e.contains("step 1.1 (`rpc`): no node named `carol`"), "{e}");
}

#[test]
fn parallel_upgrade_needs_its_role() {
    let s = scenario::from_str(
        "x.toml",
        r#"steps = [{ parallel = [{ upgrade = "bob", role = "next" }, { rpc = "alice", method = "getinfo" }] }]
"#,
    )
    .unwrap();
    assert_eq!(s.roles(), ["candidate", "next"]);
}

/// The bug report: `path = "id[0]]"` in `expect.fields` panicked the
/// harness (exit 101, which `git bisect run` reads as "bad").
#[test]
fn malformed_paths_are_located_errors_not_panics() {
    let e = err("[[steps]]\ndo = \"rpc\"\nnode = \"alice\"\nmethod = \"getinfo\"\nexpect.fields = [{ path = \"id[0]]\", exists = true }]\n");
    assert!(
        e.contains("bad path `id[0]]` at character 6: `]` without an opening `[`"),
        "{e}"
    );
    let e = err("[[steps]]\ndo = \"invoice\"\nnode = \"alice\"\namount_msat = 1\nsave = \"x\"\n[[steps]]\ndo = \"pay\"\nnode = \"alice\"\nbolt11 = \"${x.y[0]]}\"\n");
    assert!(
        e.contains("`${x.y[0]]}`") && e.contains("`]` without an opening `[`"),
        "{e}"
    );
}

/// Options always send `--key=value`; flags are listed apart.
#[test]
fn options_carry_values_and_flags_are_explicit() {
    let s = scenario::from_str("t.toml", "[nodes.alice]\noptions = { xpay-handle-pay = true, fee-base = 5 }\nflags = [\"experimental-dual-fund\"]\n").unwrap();
    let alice = &s.nodes[0].options;
    assert!(
        alice.contains(&("xpay-handle-pay".into(), Some("true".into()))),
        "{alice:?}"
    );
    assert!(
        alice.contains(&("fee-base".into(), Some("5".into()))),
        "{alice:?}"
    );
    assert!(
        alice.contains(&("experimental-dual-fund".into(), None)),
        "{alice:?}"
    );
    let e = err("[nodes.alice]\nflags = [\"--experimental-dual-fund\"]\n");
    assert!(e.contains("without `--`"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any path text: parses or is a located error; a parsed path evaluates
    /// against any JSON without panicking.
    #[test]
    fn paths_never_panic(text in "[a-z0-9\\[\\]\\. _-]{0,24}", json in arb_json()) {
        match cln_harness::scenario::values::PathExpr::parse(&text) {
            Ok(p) => { let _ = p.lookup(&json); }
            Err(e) => prop_assert!(e.offset <= text.len(), "{e}"),
        }
        let _ = cln_harness::scenario::values::resolve(&serde_json::json!(format!("${{v.{text}}}")), &[("v".to_string(), json.clone())].into_iter().collect());
    }

    /// Any bytes: Ok or a located error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Err(e) = scenario::from_bytes("fuzz.toml", &bytes) {
            prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
        }
    }

    /// Scenario-shaped text built from the language's own words.
    #[test]
    fn scenario_shaped_text_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("[[steps]]\n"), Just("[[steps.steps]]\n"), Just("do = \"repeat\"\n"), Just("do = \"keysend\"\n"),
        Just("do = \"pay\"\n"), Just("times = 2\n"), Just("node = \"alice\"\n"), Just("to = \"bob\"\n"),
        Just("amount_msat = \"${i}\"\n"), Just("bolt11 = \"${x.y[0]}\"\n"), Just("[nodes.alice]\n"),
        Just("xpay = \"on\"\n"), Just("expect.fields = [{ path = \"a\", equals = 1 }]\n"), Just("save = \"x\"\n"),
        Just("[[channels]]\n"), Just("from = \"alice\"\n"), Just("timeout = 0\n"), Just("times = 0\n"),
        Just("expect.error = { message = \"(\" }\n"), Just("${\n"), Just("= =\n"),
        Just("expect.fields = [{ path = \"id[0]]\", exists = true }]\n"), Just("bolt11 = \"${x.y[0]]}\"\n"),
        Just("flags = [\"--x=1\"]\n"), Just("options = { a = true, b = [1] }\n"),
        Just("do = \"parallel\"\n"), Just("do = \"restart\"\n"), Just("steps = [{ mine = 1 }]\n"),
        Just("steps = [{ parallel = [{ rpc = \"alice\", method = \"m\" }, { stop = \"bob\" }] }]\n"),
    ], 0..30)) {
        let text: String = parts.concat();
        if let Err(e) = scenario::from_str("gen.toml", &text) {
            prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
        }
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z0-9]{0,6}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-z0-9]{1,3}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The compact form (the step kind as a key, one step a line) means
/// exactly what the long form means, and its errors are located too.
#[test]
fn compact_steps_mean_what_long_steps_mean() {
    let long = "[[steps]]\ndo = \"keysend\"\nnode = \"alice\"\nto = \"bob\"\namount_msat = 5000\n[[steps]]\ndo = \"mine\"\nblocks = 6\n[[steps]]\ndo = \"repeat\"\ntimes = 2\n[[steps.steps]]\ndo = \"restart\"\nnode = \"bob\"\n";
    let compact = "steps = [\n  { keysend = \"alice\", to = \"bob\", amount_msat = 5000 },\n  { mine = 6 },\n  { repeat = 2, steps = [{ restart = \"bob\" }] },\n]\n";
    // Everything but where each step sits in its file.
    let strip = |s: scenario::Scenario| -> String {
        let text = format!(
            "{:?}",
            s.steps
                .into_iter()
                .map(|s| s.action)
                .collect::<Vec<Action>>()
        );
        regex::Regex::new(r"location: Location \{[^}]*\}")
            .unwrap()
            .replace_all(&text, "")
            .into_owned()
    };
    let (l, c) = (
        scenario::from_str("l.toml", long).unwrap(),
        scenario::from_str("c.toml", compact).unwrap(),
    );
    assert_eq!(strip(l), strip(c));
    let e = err(
        "steps = [\n  { keysend = \"alice\", node = \"bob\", to = \"bob\", amount_msat = 1 },\n]\n",
    );
    assert!(
        e.starts_with(
            "bug.toml:2:24: `node`: step 1: `keysend = ...` already gives the node; drop `node`"
        ),
        "{e}"
    );
    let e = err("steps = [\n  { mine = 1, sleep = 2 },\n]\n");
    assert!(
        e.starts_with(
            "bug.toml:2:15: `sleep`: step 1: one step per table, found `mine` and `sleep`"
        ),
        "{e}"
    );
    let e = err("steps = [\n  { nodee = \"alice\" },\n]\n");
    assert!(
        e.starts_with("bug.toml:2:3: `do`: step 1: no step kind"),
        "{e}"
    );
    let e = err(
        "steps = [{ keysend = \"alice\", to = \"bob\", amount_msat = 1, maxfeeprecent = 1 }]\n",
    );
    assert!(
        e.contains(
            "`maxfeeprecent`: step 1 (`keysend`): unknown key (did you mean `maxfeepercent`?)"
        ),
        "{e}"
    );
}

#[test]
fn topologies_join_the_declared_nodes_with_overrides() {
    let chans = |text: &str| -> Vec<(String, String, u64)> {
        scenario::from_str("t.toml", text)
            .unwrap()
            .channels
            .into_iter()
            .map(|c| (c.from, c.to, c.amount_sat))
            .collect()
    };
    let m = 1_000_000;
    let nodes = "nodes = [\"a\", \"b\", \"c\"]\n";
    assert_eq!(
        chans(&format!("{nodes}topology = \"line\"")),
        [("a".into(), "b".into(), m), ("b".into(), "c".into(), m)]
    );
    assert_eq!(
        chans(&format!("{nodes}topology = \"star\"")),
        [("a".into(), "b".into(), m), ("a".into(), "c".into(), m)]
    );
    assert_eq!(chans(&format!("{nodes}topology = \"triangle\"")).len(), 3);
    // An override keeps its place; a channel the topology lacks is added.
    let o = chans(&format!("{nodes}topology = \"line\"\nchannels = [{{ from = \"c\", to = \"b\", amount_sat = 5 }}, {{ from = \"a\", to = \"c\" }}]"));
    assert_eq!(
        o,
        [
            ("a".into(), "b".into(), m),
            ("c".into(), "b".into(), 5),
            ("a".into(), "c".into(), m)
        ]
    );
    let e = err("nodes = [\"a\", \"b\"]\ntopology = \"triangle\"\n");
    assert!(
        e.starts_with(
            "bug.toml:2:12: `topology`: scenario: a triangle needs exactly three nodes, found 2"
        ),
        "{e}"
    );
    let e = err("nodes = [\"a\", \"b\"]\ntopology = \"ring\"\n");
    assert!(e.contains("unknown topology `ring`"), "{e}");
}

#[test]
fn new_steps_and_checks_parse_with_their_errors() {
    let s = scenario::from_str(
        "n.toml",
        "steps = [\n  { close = \"alice\", peer = \"bob\", unilateral_after = 1, save = \"c\" },\n  { wait_mempool = 1, txid = \"${c.txid}\" },\n  { bitcoin = \"getblockcount\" },\n  { wait_channel = \"alice\", peer = \"bob\", state = \"gone\" },\n  { rpc = \"alice\", method = \"listpeerchannels\", expect.fields = [{ path = \"channels\", count = 1, where = { state = \"ONCHAIN\" } }, { path = \"channels\", sum = \"to_us_msat\", equals = \"${len(repeat('ab', 350)) * 2}\" }, { path = \"channels\", unique_by = [\"short_channel_id\"] }, { path = \"channels[peer_id=${bob.id}].state\", equals = \"ONCHAIN\" }] },\n]\n",
    )
    .unwrap();
    assert!(matches!(
        &s.steps[0].action,
        Action::Close {
            unilateral_after: Some(1),
            ..
        }
    ));
    assert!(matches!(
        &s.steps[1].action,
        Action::WaitMempool {
            count: 1,
            txid: Some(_)
        }
    ));
    let e = err("steps = [{ bitcoin = \"getrawmempool\", params = \"x\" }]\n");
    assert!(
        e.contains("`params`: step 1 (`bitcoin`): expected a list of positional arguments"),
        "{e}"
    );
    let e = err("steps = [{ rpc = \"alice\", method = \"x\", expect.fields = [{ path = \"a\", sum = \"b\", count = 1 }] }]\n");
    assert!(e.contains("a `sum` is compared with `equals`"), "{e}");
    let e = err("steps = [{ rpc = \"alice\", method = \"x\", expect.fields = [{ path = \"a\", equals = \"${nobody.id}\" }] }]\n");
    assert!(e.contains("refers to `nobody`"), "{e}");
    let e = err("steps = [{ rpc = \"alice\", method = \"x\", expect.fields = [{ path = \"a[peer_id=${nobody.id}]\", exists = true }] }]\n");
    assert!(e.contains("refers to `nobody`"), "{e}");
    let e = err("steps = [{ rpc = \"alice\", method = \"x\", params = { v = \"${hex('a'}\" } }]\n");
    assert!(
        e.contains("expected `,` or `)`") || e.contains("unterminated"),
        "{e}"
    );
}

#[test]
fn from_fixture_names_its_nodes_and_brings_its_channels() {
    let e = err("from_fixture = \"twin\"\nsteps = []\n");
    assert!(e.starts_with("bug.toml:1:16: `from_fixture`: scenario: with from_fixture, declare the fixture's nodes"), "{e}");
    let e = err("from_fixture = \"twin\"\nnodes = [\"alice\", \"bob\"]\ntopology = \"line\"\n");
    assert!(e.contains("the channels are the fixture's"), "{e}");
    let e = err("from_fixture = \"../x\"\nnodes = [\"alice\"]\n");
    assert!(e.contains("expected a fixture name"), "{e}");
    let s = scenario::from_str(
        "ok.toml",
        "from_fixture = \"twin\"\nnodes = [\"alice\", \"bob\"]\n",
    )
    .unwrap();
    assert_eq!(
        s.from_fixture.as_ref().map(|f| f.name.as_str()),
        Some("twin")
    );
    assert!(s.channels.is_empty());
}

#[test]
fn a_missing_fixture_or_node_is_a_located_error_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "from_fixture = \"nowhere\"\nnodes = [\"alice\"]\n").unwrap();
    let e = scenario::load(&file).unwrap_err().to_string();
    assert!(
        e.contains(":1:16: `from_fixture`: no fixture `nowhere`"),
        "{e}"
    );
    // The committed twin's fixture has alice and bob, not carol.
    let twin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/twins/upgrade-keysend.toml");
    let text = "from_fixture = \"upgrade-keysend@v25.02.1\"\nnodes = [\"alice\", \"carol\"]\n";
    let copy = twin.with_file_name(format!("carol-twin-{}.toml.tmp", std::process::id()));
    std::fs::write(&copy, text).unwrap();
    let e = scenario::load(&copy).map(|_| ()).unwrap_err().to_string();
    let _ = std::fs::remove_file(&copy);
    assert!(e.contains("has no node carol (it has alice, bob)"), "{e}");
}

#[test]
fn the_database_backend_is_chosen_per_node_then_per_file_with_located_errors() {
    use cln_harness::options::DbBackend;
    let s = scenario::from_str(
        "t.toml",
        "db = \"postgres\"\nnodes.alice = { db = \"sqlite\" }\nnodes.bob = {}\n",
    )
    .unwrap();
    assert_eq!(s.db, Some(DbBackend::Postgres));
    let alice = s.nodes.iter().find(|n| n.name == "alice").unwrap();
    let bob = s.nodes.iter().find(|n| n.name == "bob").unwrap();
    assert_eq!((alice.db, bob.db), (Some(DbBackend::Sqlite), None));
    let e = err("db = \"mysql\"\n");
    assert!(
        e.starts_with("bug.toml:1:") && e.contains("expected \"sqlite\" or \"postgres\""),
        "{e}"
    );
    let e = err("[nodes.alice]\ndb = 3\n");
    assert!(
        e.starts_with("bug.toml:2:") && e.contains("\"postgres\""),
        "{e}"
    );
    assert!(cln_harness::matrix::parse(
        "[[case]]\nscenarios = [\"keysend\"]\nroles = {}\nexpect = [\"pass\"]\ndb = \"mysql\"\n"
    )
    .is_err());
}

#[test]
fn witness_steps_parse_and_need_the_witness_declared() {
    let s = scenario::from_str(
        "t.toml",
        "witness = true\nsteps = [\n  { force_close = \"alice\", peer = \"bob\" },\n  { wait_swept = \"alice\", max_blocks = 12 },\n  { witness = \"bob\" },\n]\n",
    )
    .unwrap();
    assert!(s.witness);
    assert!(matches!(
        &s.steps[1].action,
        Action::WaitSwept { max_blocks: 12, .. }
    ));
    let e = err("steps = [\n  { witness = \"bob\" },\n]\n");
    assert!(
        e.starts_with("bug.toml:2:") && e.contains("witness = true"),
        "{e}"
    );
    let e = err("witness = true\nsteps = [\n  { force_close = \"alice\", peer = \"zed\" },\n]\n");
    assert!(e.contains("zed"), "{e}");
}

/// scenarios/README.md promises that a step may break between its keys
/// inside `{ ... }` (TOML 1.1, which the `toml` crate implements from
/// 0.9.10) and means what the one-line step means. A `toml` that parsed
/// TOML 1.0 only would reject the first text.
#[test]
fn a_step_may_span_lines_inside_its_braces_as_toml_1_1_allows() {
    let spanning = "steps = [\n  { keysend = \"alice\", to = \"bob\", amount_msat = 12_345,\n    expect.fields = [{ path = \"status\", equals = \"complete\" }] },\n]\n";
    let one_line = "steps = [\n  { keysend = \"alice\", to = \"bob\", amount_msat = 12_345, expect.fields = [{ path = \"status\", equals = \"complete\" }] },\n]\n";
    let a = scenario::from_str("a.toml", spanning).unwrap();
    let b = scenario::from_str("a.toml", one_line).unwrap();
    assert_eq!(a.steps[0].action, b.steps[0].action);
    assert_eq!(a.steps[0].expect, b.steps[0].expect);
    // A trailing comma inside the braces is TOML 1.1 too.
    let trailing = scenario::from_str("a.toml", "steps = [{ mine = 6, }]\n").unwrap();
    assert_eq!(trailing.steps[0].action, Action::Mine { blocks: 6 });
}
