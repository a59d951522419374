//! Steps about a node's process: `start`, `stop`, `restart`, `kill`,
//! `upgrade` (the same node on another role's binary) and `assert_alive`.

use super::steps::{env, StepError, World};
use crate::binaries::Lightningd;
use crate::node::StartErrorKind;
use serde_json::{json, Value};

impl World<'_> {
    pub(super) async fn restart(&mut self, node: &str) -> Result<Value, StepError> {
        self.net.node_mut(node).map_err(env)?.stop().await;
        self.start_node(node, None).await
    }

    /// Stops `node` and starts it on `role`'s binary (resolved now if no
    /// scenario node had that role yet).
    pub(super) async fn upgrade(&mut self, node: &str, role: &str) -> Result<Value, StepError> {
        let binary = match self.roles.get(role) {
            Some(b) => b.clone(),
            None => {
                let b = self.discovery.resolve(role).map_err(env)?;
                self.roles.insert(role.to_string(), b.clone());
                b
            }
        };
        let n = self.net.node_mut(node).map_err(env)?;
        let from = n.binary.version.raw.clone();
        n.stop().await;
        self.node_roles.insert(node.to_string(), role.to_string());
        let mut v = self.start_node(node, Some(binary)).await?;
        v["upgraded_from"] = json!(from);
        Ok(v)
    }

    pub(super) async fn kill(&mut self, node: &str) -> Result<Value, StepError> {
        let exit = self.net.node_mut(node).map_err(env)?.kill().await;
        Ok(json!({"exit": exit}))
    }

    pub(super) async fn stop(&mut self, node: &str) -> Result<Value, StepError> {
        let exit = self.net.node_mut(node).map_err(env)?.stop().await;
        Ok(json!({"exit": exit}))
    }

    pub(super) fn assert_alive(&mut self, node: &str, alive: bool) -> Result<Value, StepError> {
        let running = self.net.node_mut(node).map_err(env)?.is_running();
        if running == alive {
            Ok(json!({"alive": running}))
        } else {
            Err(StepError::Fail(format!(
                "expected {node} {}, but it is {}",
                alive_word(alive),
                alive_word(running)
            )))
        }
    }

    pub(super) async fn start_node(
        &mut self,
        name: &str,
        binary: Option<Lightningd>,
    ) -> Result<Value, StepError> {
        let n = self.net.node_mut(name).map_err(env)?;
        if let Some(b) = binary {
            n.binary = b;
        }
        let r = n.start().await;
        let version = n.binary.version.raw.clone();
        match r {
            Ok(()) => Ok(json!({"node": name, "version": version})),
            Err(e) => Err(match &e.kind {
                // The binary died on its own while starting (e.g. a
                // migration crash, which only reaches stderr).
                StartErrorKind::Exited { exit, .. } => StepError::Crash {
                    node: name.into(),
                    exit: *exit,
                    detail: e.to_string(),
                },
                StartErrorKind::NotReady(_) => StepError::Hang(e.to_string()),
                _ => StepError::Env(e.to_string()),
            }),
        }
    }
}

fn alive_word(alive: bool) -> &'static str {
    if alive {
        "alive"
    } else {
        "dead"
    }
}
