//! Which nodes the scenario expects to be running, and who died anyway.
//!
//! A death is a node expected up whose lightningd has exited. After a step
//! that ended in an error or a broken connection, a node may be on its way
//! down (a fatal() writes its backtrace and crash.log first, an important
//! plugin's death shuts lightningd down): such a node no longer answers on
//! its socket (lightningd stops listening first thing when it shuts down),
//! so the harness waits for its exit before deciding.

use crate::network::Network;
use crate::process::Exit;
use crate::rpc::CallErrorKind;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a node that stopped answering may take to exit.
pub const DYING_GRACE: Duration = Duration::from_secs(10);
/// How long a healthy node gets to answer the "are you there?" probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    pub node: String,
    pub exit: Exit,
}

pub struct Liveness {
    expected_up: BTreeMap<String, bool>,
}

impl Liveness {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Liveness {
        Liveness {
            expected_up: names.into_iter().map(|n| (n.to_string(), false)).collect(),
        }
    }

    pub fn expect_up(&mut self, node: &str) {
        self.expected_up.insert(node.to_string(), true);
    }

    pub fn expect_down(&mut self, node: &str) {
        self.expected_up.insert(node.to_string(), false);
    }

    /// Nodes expected up that have exited, each reported once (and then
    /// expected down). With `probe`, a node that still runs but no longer
    /// answers `getinfo` gets [`DYING_GRACE`] to exit.
    pub async fn deaths(&mut self, net: &mut Network, probe: bool) -> Vec<Death> {
        let mut dead = Vec::new();
        for n in &mut net.nodes {
            if self.expected_up.get(&n.name) != Some(&true) {
                continue;
            }
            let mut exit = n.exit();
            // A node that just hung on a call gets no second call to hang on.
            let hung = n.starts.last().is_some_and(|s| s.hang.is_some());
            if exit.is_none() && probe && !hung {
                // A socket that refuses or drops us means lightningd is going
                // down; a slow answer (a busy or hung node) is not a death.
                let gone = match n.call("getinfo", json!({}), PROBE_TIMEOUT).await {
                    Err(e) => matches!(
                        e.kind,
                        CallErrorKind::Closed(_) | CallErrorKind::Connect { .. }
                    ),
                    Ok(_) => false,
                };
                if gone {
                    exit = n.wait_exit(DYING_GRACE).await;
                }
            }
            if let Some(exit) = exit {
                // Reap the rest of its process group before evidence is read.
                n.kill().await;
                self.expected_up.insert(n.name.clone(), false);
                dead.push(Death {
                    node: n.name.clone(),
                    exit,
                });
            }
        }
        dead
    }
}
