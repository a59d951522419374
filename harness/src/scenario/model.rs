//! The scenario language's data model: what a parsed, validated scenario
//! says. Values that may hold `${...}` references stay as JSON templates
//! (resolved at run time by `values`).

use crate::options::XpayMode;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub nodes: Vec<NodeDecl>,
    pub channels: Vec<ChannelDecl>,
    /// `auto`: the harness starts every node and opens `channels` before
    /// the first step. `manual`: only starts the nodes; the steps fund and
    /// open channels themselves.
    pub setup: Setup,
    /// Default per-step timeout; a step that exceeds it is a `hang`.
    pub step_timeout: Duration,
    /// Regexes for BROKEN lines this scenario expects (pyln's `broken_log`).
    pub broken_log: Vec<String>,
    pub steps: Vec<Step>,
    /// `from_fixture = "NAME"`: start from a recorded fixture's chain and
    /// lightning-dirs instead of funding from scratch.
    pub from_fixture: Option<FixtureRef>,
    /// `witness = true`: start electrs (the chain witness) for `witness`
    /// steps and the end-of-run conservation check.
    pub witness: bool,
    /// `db = "sqlite" | "postgres"` for every node that does not say
    /// (None: the run's `--db`, else SQLite).
    pub db: Option<crate::options::DbBackend>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FixtureRef {
    pub name: String,
    pub location: Location,
    /// `fixtures/NAME` found by [`super::load`] (None from pure parsing).
    pub dir: Option<std::path::PathBuf>,
}

impl Scenario {
    /// The binary roles this scenario needs, in first-use order.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        let mut add = |r: &str| {
            if !roles.iter().any(|x| x == r) {
                roles.push(r.to_string());
            }
        };
        for n in &self.nodes {
            add(&n.role);
        }
        fn walk(steps: &[Step], add: &mut dyn FnMut(&str)) {
            for s in steps {
                match &s.action {
                    Action::Upgrade { role, .. } => add(role),
                    Action::Repeat { steps, .. } | Action::Parallel { steps } => walk(steps, add),
                    _ => {}
                }
            }
        }
        walk(&self.steps, &mut add);
        roles
    }

    pub fn node(&self, name: &str) -> Option<&NodeDecl> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Auto,
    Manual,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeDecl {
    pub name: String,
    /// The binary role it starts on (`candidate` by default).
    pub role: String,
    pub developer: bool,
    pub xpay: XpayMode,
    pub reconnect: bool,
    /// `splicing = true`: splices allowed on every version (see
    /// [`crate::options::NodeConfig::splicing`]).
    pub splicing: bool,
    /// `zero_conf = true`: accepts zero-conf opens (see
    /// [`crate::options::NodeConfig::zero_conf`]).
    pub zero_conf: bool,
    /// `hold_htlcs_msat = N`: holds incoming HTLCs of at least N msat (see
    /// [`crate::options::NodeConfig::hold_htlcs_msat`]).
    pub hold_htlcs_msat: Option<u64>,
    pub options: Vec<(String, Option<String>)>,
    /// This node's own `db` (wins over the scenario's and the run's).
    pub db: Option<crate::options::DbBackend>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelDecl {
    pub location: Location,
    pub from: String,
    pub to: String,
    pub amount_sat: u64,
    pub announce: bool,
    pub push_msat: u64,
}

/// Where a step sits in the file, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `do` value, or the `name` the author gave.
    pub label: String,
    pub location: Location,
    pub action: Action,
    /// Save the step's result under this name for later `${name...}`.
    pub save: Option<String>,
    pub expect: Expect,
    pub timeout: Option<Duration>,
    /// A failed expectation is recorded but the run goes on (e.g. a
    /// `check_db` right after an upgrade, before the payment that crashes).
    pub soft: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Fund {
        node: String,
        /// Only this much of the coinbase (the rest back to the harness):
        /// a wallet of a realistic size. None: the whole coinbase.
        amount_sat: Option<u64>,
    },
    Connect {
        node: String,
        peer: String,
    },
    OpenChannel {
        node: String,
        peer: String,
        amount_sat: u64,
        announce: bool,
        push_msat: u64,
    },
    Mine {
        blocks: u64,
    },
    WaitChannel {
        node: String,
        peer: String,
        state: String,
    },
    Invoice {
        node: String,
        amount_msat: Value,
        label: Option<Value>,
        description: Option<Value>,
    },
    Pay {
        node: String,
        bolt11: Value,
        xpay: Option<XpayMode>,
        /// Any other parameter `pay` takes (`maxfee`, `retry_for`, ...), passed through.
        params: serde_json::Map<String, Value>,
    },
    Keysend {
        node: String,
        to: Value,
        amount_msat: Value,
        /// Any other parameter `keysend` takes (`extratlvs`, `maxdelay`, ...),
        /// passed through (translated for `xkeysend` where keysend is deprecated).
        params: serde_json::Map<String, Value>,
    },
    /// `close`: mutual, or unilateral once `unilateral_after` seconds pass
    /// without the peer agreeing (e.g. it is stopped).
    Close {
        node: String,
        peer: String,
        unilateral_after: Option<u64>,
    },
    /// `force_close`: drop the connection to `peer` (if any) and close
    /// unilaterally at once, with the commitment transaction's result.
    ForceClose {
        node: String,
        peer: String,
    },
    /// `wait_swept`: mine one block at a time (at most `max_blocks`) until
    /// every closed channel of `node` has all its outputs resolved (swept
    /// to its wallet after `to_self_delay`) and the sweeps are confirmed.
    WaitSwept {
        node: String,
        max_blocks: u64,
    },
    /// `witness`: `node`'s on-chain claims (`listfunds` outputs and its
    /// channels' funding outputs) against what electrs sees.
    Witness {
        node: String,
    },
    /// Any bitcoind RPC, e.g. `getrawmempool`.
    Bitcoin {
        method: String,
        params: Value,
    },
    /// Until the mempool holds at least `count` transactions (or `txid`).
    WaitMempool {
        count: u64,
        txid: Option<Value>,
    },
    Restart {
        node: String,
    },
    Upgrade {
        node: String,
        role: String,
    },
    Kill {
        node: String,
    },
    Start {
        node: String,
    },
    Stop {
        node: String,
    },
    WaitLog {
        node: String,
        pattern: String,
    },
    AssertLog {
        node: String,
        pattern: String,
        present: bool,
    },
    AssertAlive {
        node: String,
        alive: bool,
    },
    Rpc {
        node: String,
        method: String,
        params: Value,
    },
    Raw {
        node: String,
        request: RawRequest,
    },
    WaitRpc {
        node: String,
        method: String,
        params: Value,
        until: FieldCheck,
    },
    CheckDb {
        node: String,
    },
    Sleep {
        seconds: f64,
    },
    Repeat {
        times: u64,
        var: String,
        steps: Vec<Step>,
    },
    /// Every inner step started at once and awaited together: requests to
    /// nodes ([`Action::is_request`]) and at most one step that changes the
    /// network ([`Action::changes_network`]), so requests race it.
    Parallel {
        steps: Vec<Step>,
    },
}

/// Defines the step kinds from one table: [`StepKind`] (which the parser
/// dispatches on, exhaustively), [`STEP_KINDS`] (the names) and
/// [`Action::kind`], so a kind cannot be added to one without the others.
macro_rules! step_kinds {
    ($($variant:ident = $name:literal,)*) => {
        /// A step kind, one per [`Action`] variant and of the same name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum StepKind {
            $($variant,)*
        }

        /// The one list of step kinds: what `do = "..."` accepts, in the
        /// order the docs list them.
        pub const STEP_KINDS: &[&str] = &[$($name,)*];

        impl StepKind {
            /// The `do = "..."` name.
            pub fn name(self) -> &'static str {
                match self {
                    $(StepKind::$variant => $name,)*
                }
            }

            /// The kind a `do = "..."` names, if any.
            pub fn from_name(name: &str) -> Option<StepKind> {
                match name {
                    $($name => Some(StepKind::$variant),)*
                    _ => None,
                }
            }
        }

        impl Action {
            pub fn step_kind(&self) -> StepKind {
                match self {
                    $(Action::$variant { .. } => StepKind::$variant,)*
                }
            }
        }
    };
}

step_kinds! {
    Fund = "fund",
    Connect = "connect",
    OpenChannel = "open_channel",
    Mine = "mine",
    WaitChannel = "wait_channel",
    Invoice = "invoice",
    Pay = "pay",
    Keysend = "keysend",
    Close = "close",
    ForceClose = "force_close",
    WaitSwept = "wait_swept",
    Witness = "witness",
    Bitcoin = "bitcoin",
    WaitMempool = "wait_mempool",
    Restart = "restart",
    Upgrade = "upgrade",
    Kill = "kill",
    Start = "start",
    Stop = "stop",
    WaitLog = "wait_log",
    AssertLog = "assert_log",
    AssertAlive = "assert_alive",
    Rpc = "rpc",
    Raw = "raw",
    WaitRpc = "wait_rpc",
    CheckDb = "check_db",
    Sleep = "sleep",
    Repeat = "repeat",
    Parallel = "parallel",
}

impl StepKind {
    /// One request to one node's RPC, answered without changing the
    /// network: what a `parallel` may hold any number of.
    pub fn is_request(self) -> bool {
        use StepKind::*;
        matches!(self, Rpc | Raw | WaitRpc | Invoice | Pay | Keysend)
    }

    /// A change to the network (a node's process, the chain, a channel):
    /// a `parallel` may hold one, for its requests to race.
    pub fn changes_network(self) -> bool {
        use StepKind::*;
        matches!(self, Restart | Stop | Kill | Start | Upgrade | Mine | Close)
    }
}

impl Action {
    /// The `do = "..."` name of this step (one of [`STEP_KINDS`]).
    pub fn kind(&self) -> &'static str {
        self.step_kind().name()
    }

    /// Steps whose purpose is to wait for a state until their timeout (a
    /// `parallel` holding one waits as long).
    pub fn is_wait(&self) -> bool {
        match self {
            Action::Parallel { steps } => steps.iter().any(|s| s.action.is_wait()),
            _ => matches!(
                self,
                Action::WaitRpc { .. }
                    | Action::WaitLog { .. }
                    | Action::WaitChannel { .. }
                    | Action::WaitMempool { .. }
            ),
        }
    }

    /// Steps that are one request to one node's RPC (a `parallel` may hold
    /// any number of them).
    pub fn is_request(&self) -> bool {
        self.step_kind().is_request()
    }

    /// Steps that change the network (a `parallel` may hold one).
    pub fn changes_network(&self) -> bool {
        self.step_kind().changes_network()
    }

    /// Steps after which the node runs (again), when they succeed.
    pub fn starts_node(&self) -> bool {
        matches!(
            self,
            Action::Start { .. } | Action::Restart { .. } | Action::Upgrade { .. }
        )
    }

    /// The node a step acts on, if any.
    pub fn node(&self) -> Option<&str> {
        use Action::*;
        match self {
            Fund { node, .. }
            | Connect { node, .. }
            | OpenChannel { node, .. }
            | WaitChannel { node, .. }
            | Invoice { node, .. }
            | Pay { node, .. }
            | Keysend { node, .. }
            | Close { node, .. }
            | ForceClose { node, .. }
            | WaitSwept { node, .. }
            | Witness { node }
            | Restart { node }
            | Upgrade { node, .. }
            | Kill { node }
            | Start { node }
            | Stop { node }
            | WaitLog { node, .. }
            | AssertLog { node, .. }
            | AssertAlive { node, .. }
            | Rpc { node, .. }
            | Raw { node, .. }
            | WaitRpc { node, .. }
            | CheckDb { node } => Some(node),
            Mine { .. }
            | Sleep { .. }
            | Repeat { .. }
            | Parallel { .. }
            | Bitcoin { .. }
            | WaitMempool { .. } => None,
        }
    }
    /// Steps after which a node stopping is expected, not a crash.
    pub fn stops_node(&self) -> bool {
        matches!(self, Action::Kill { .. } | Action::Stop { .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RawRequest {
    /// A JSON object (templated), serialised as-is.
    Json(Value),
    /// Exact text, for requests malformed on purpose.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    pub result: ExpectResult,
    pub fields: Vec<FieldCheck>,
    pub alive: Vec<String>,
    pub dead: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum ExpectResult {
    /// The step must succeed (the default).
    #[default]
    Ok,
    /// The step must fail; optionally with this code and a message regex.
    Error {
        code: Option<i64>,
        message: Option<String>,
    },
    /// Either is fine.
    Any,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldCheck {
    /// `a.b[0].c` (or `a.b.0.c`, `a.b[id=${x.id}].c`) into the step's result.
    pub path: super::path::PathExpr,
    /// `where = { field = value, ... }`: only the list's elements that
    /// contain this (see [`Check::Contains`]) are counted, summed or checked.
    pub filter: Option<Value>,
    /// `sum = "field"`: the check applies to the sum of this field over
    /// the (filtered) list's elements, amounts included.
    pub sum: Option<super::path::PathExpr>,
    pub check: Check,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Equals(Value),
    /// A regex against a string, or against the compact JSON text of any
    /// other value (a number, a list, an object).
    Matches(String),
    Count(u64),
    /// `count = "${len(before.invoices)}"`: the number, resolved at run time.
    CountOf(Value),
    Exists(bool),
    /// The list has an element that contains this: an object contains
    /// another when every key of the other is there with a value that
    /// contains that key's value; lists contain each of the other's
    /// elements; anything else must be equal.
    Contains(Value),
    /// At least one (`Any`) or every (`All`) element contains this.
    Any(Value),
    All(Value),
    /// No two elements have the same values at these paths.
    UniqueBy(Vec<super::path::PathExpr>),
}

/// The keys of a field check that pick its check, in the docs' order.
pub const CHECK_KEYS: &[&str] = &[
    "equals",
    "matches",
    "count",
    "exists",
    "contains",
    "any",
    "all",
    "unique_by",
];
