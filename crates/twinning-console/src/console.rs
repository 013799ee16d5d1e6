//! Every node together: started from the configuration, one event stream, the models,
//! and the operations, each sent to the node that has the user (or the one named).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::config::{Config, Pbx};
use crate::event::Event;
use crate::metrics::NodeMetrics;
use crate::model::{CallModel, NodeModel, NodeState, UserModel};
use crate::node::{Node, PinResult};
use crate::OpError;

/// One node as `twinctl nodes` and `/api/v1/nodes` show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeSummary {
    pub name: String,
    pub pbx: Pbx,
    pub address: String,
    pub state: NodeState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub since_ms: u64,
    pub users: usize,
    pub calls: usize,
    pub store: BTreeMap<String, String>,
}

/// A user on a node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserEntry {
    pub node: String,
    #[serde(flatten)]
    pub user: UserModel,
}

/// A call on a node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallEntry {
    pub node: String,
    #[serde(flatten)]
    pub call: CallModel,
}

/// What an operation did, on which node.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Done {
    pub node: String,
    /// The module's own words.
    pub message: String,
}

pub struct Console {
    nodes: Vec<Arc<Node>>,
    events: broadcast::Sender<Event>,
}

impl Console {
    /// Starts a task per node (inside a tokio runtime).
    pub fn start(config: &Config) -> Console {
        Console::start_watching(config).0
    }

    /// Starts, with a subscription to the events taken before any node is tried, so
    /// none is missed.
    pub fn start_watching(config: &Config) -> (Console, broadcast::Receiver<Event>) {
        let (events, rx) = broadcast::channel(4096);
        let nodes: Vec<Arc<Node>> = config.nodes.iter().cloned().map(Node::new).collect();
        for n in &nodes {
            tokio::spawn(n.clone().run(events.clone()));
        }
        (Console { nodes, events }, rx)
    }

    /// Waits (at most `timeout`) until every node has been tried once.
    pub async fn ready(&self, timeout: Duration) {
        let all = futures_util::future::join_all(self.nodes.iter().map(|n| n.tried()));
        let _ = tokio::time::timeout(timeout, all).await;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name().to_owned()).collect()
    }

    fn named(&self, name: &str) -> Result<&Arc<Node>, OpError> {
        self.nodes.iter().find(|n| n.name() == name).ok_or_else(|| {
            OpError::Usage(format!(
                "no node '{name}' in the configuration (nodes: {})",
                self.node_names().join(", ")
            ))
        })
    }

    /// Nodes that are down, with why, as an error (for commands that read every node).
    pub fn down(&self) -> Option<OpError> {
        let down: Vec<(String, String, bool)> = self
            .nodes
            .iter()
            .filter_map(|n| {
                let m = n.model();
                (m.state != NodeState::Up).then(|| {
                    let e = m.error.clone().unwrap_or_else(|| "not connected yet".into());
                    let auth = e.starts_with("authentication failed");
                    (n.name().to_owned(), e, auth)
                })
            })
            .collect();
        let (node, error, auth) = down.first()?.clone();
        if auth {
            return Some(OpError::Auth { node, message: error });
        }
        let node = down.iter().map(|(n, _, _)| n.as_str()).collect::<Vec<_>>().join(", ");
        let error = if down.len() == 1 {
            error
        } else {
            down.iter().map(|(n, e, _)| format!("{n}: {e}")).collect::<Vec<_>>().join("; ")
        };
        Some(OpError::NodeDown { node, error })
    }

    pub fn models(&self) -> Vec<NodeModel> {
        self.nodes.iter().map(|n| n.model().clone()).collect()
    }

    pub fn nodes(&self) -> Vec<NodeSummary> {
        self.nodes
            .iter()
            .map(|n| {
                let m = n.model();
                NodeSummary {
                    name: m.name.clone(),
                    pbx: m.pbx,
                    address: m.address.clone(),
                    state: m.state,
                    error: m.error.clone(),
                    since_ms: m.since_ms,
                    users: m.users.len(),
                    calls: m.calls.len(),
                    store: m.store.clone(),
                }
            })
            .collect()
    }

    pub fn users(&self) -> Vec<UserEntry> {
        self.nodes
            .iter()
            .flat_map(|n| {
                let m = n.model();
                m.users
                    .values()
                    .map(|u| UserEntry { node: m.name.clone(), user: u.clone() })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn calls(&self) -> Vec<CallEntry> {
        self.nodes
            .iter()
            .flat_map(|n| {
                let m = n.model();
                m.calls
                    .values()
                    .map(|c| CallEntry { node: m.name.clone(), call: c.clone() })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The node to act on for `user`: the one named, else the first node that is up and
    /// has the user (with a live call of the user's first, when `call` is set).
    fn node_for(&self, user: &str, node: Option<&str>, call: bool) -> Result<&Arc<Node>, OpError> {
        if let Some(name) = node {
            return self.named(name);
        }
        let has = |n: &&Arc<Node>, with_call: bool| {
            let m = n.model();
            m.state == NodeState::Up
                && m.users.contains_key(user)
                && (!with_call || m.calls.values().any(|c| c.user == user))
        };
        if call {
            if let Some(n) = self.nodes.iter().find(|n| has(n, true)) {
                return Ok(n);
            }
        }
        if let Some(n) = self.nodes.iter().find(|n| has(n, false)) {
            return Ok(n);
        }
        // No node that is up has the user: say which are down, they may.
        match self.down() {
            Some(down) => Err(down),
            None => Err(OpError::UnknownUser(user.to_owned())),
        }
    }

    /// A user's settings and lamps, read now from the node.
    pub async fn status(&self, user: &str, node: Option<&str>) -> Result<UserEntry, OpError> {
        let n = self.node_for(user, node, false)?;
        let client = n.client()?;
        let mut users = client.status(n.name(), Some(user)).await?;
        let Some(mut u) = users.pop() else {
            return Err(OpError::UnknownUser(user.to_owned()));
        };
        if let Ok(lamps) = client.lamps(n.name(), user).await {
            u.lamps = lamps;
        }
        if u.lamps.is_empty() {
            u.lamps = n.model().users.get(user).map(|m| m.lamps.clone()).unwrap_or_default();
        }
        Ok(UserEntry { node: n.name().to_owned(), user: u })
    }

    /// Changes a field through the module (which validates it and audits `source`).
    pub async fn set(
        &self,
        user: &str,
        field: &str,
        value: &str,
        source: &str,
        node: Option<&str>,
    ) -> Result<Done, OpError> {
        let n = self.node_for(user, node, false)?;
        let message = n.client()?.set(n.name(), user, field, value, source).await?;
        Ok(Done { node: n.name().to_owned(), message })
    }

    /// Moves the user's answered call; `source` (`console:<login>`, `web:<login>`) is who
    /// asked, whom the module's handover events name.
    pub async fn handover(
        &self,
        user: &str,
        to: &str,
        source: &str,
        node: Option<&str>,
    ) -> Result<Done, OpError> {
        if twinning_core::call::LegKind::parse(to).is_none() {
            return Err(OpError::Usage(format!(
                "handover to '{}': desk, mobile, or mobile2 ... mobile10",
                to.escape_debug()
            )));
        }
        let n = self.node_for(user, node, true)?;
        let message = n.client()?.handover(n.name(), user, to, source).await?;
        Ok(Done { node: n.name().to_owned(), message })
    }

    pub async fn check_pin(
        &self,
        user: &str,
        pin: &str,
        source: &str,
        node: Option<&str>,
    ) -> Result<PinResult, OpError> {
        let n = self.node_for(user, node, false)?;
        n.client()?.check_pin(n.name(), user, pin, source).await
    }

    /// Each node's store, read now (or the error for a node that is down).
    pub async fn store(&self) -> Vec<(String, Result<BTreeMap<String, String>, OpError>)> {
        let reads = self.nodes.iter().map(|n| async move {
            let result = match n.client() {
                Ok(c) => c.store(n.name()).await,
                Err(e) => Err(e),
            };
            if let Ok(s) = &result {
                n.model_mut().store = s.clone();
            }
            (n.name().to_owned(), result)
        });
        futures_util::future::join_all(reads).await
    }

    /// Every node's metrics, read now; a node that is down or refuses has none.
    pub async fn metrics(&self) -> Vec<(NodeMetrics, Option<OpError>)> {
        let reads = self.nodes.iter().map(|n| async move {
            let result = match n.client() {
                Ok(c) => c.metrics(n.name()).await,
                Err(e) => Err(e),
            };
            let (samples, error) = match result {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(e)),
            };
            (NodeMetrics { node: n.name().to_owned(), pbx: n.config.kind, samples }, error)
        });
        futures_util::future::join_all(reads).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::fake::FakeAmi;

    fn config(address: &str, secret: &str) -> Config {
        Config::parse(
            &format!("[[node]]\nname='pbx7'\nkind='asterisk'\naddress='{address}'\nusername='u'\nsecret='{secret}'\n"),
            std::path::Path::new("."),
        )
        .unwrap()
    }

    fn free_address() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    }

    async fn next(rx: &mut broadcast::Receiver<Event>, what: &str) -> Event {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} event"))
            .unwrap()
    }

    #[tokio::test]
    async fn a_node_down_is_named_then_comes_up_and_resyncs() {
        let address = free_address();
        let (console, mut rx) = Console::start_watching(&config(&address, "right"));
        let e = next(&mut rx, "node_down").await;
        assert_eq!((e.node.as_str(), e.kind.type_name()), ("pbx7", "node_down"));
        let err = console.set("1001", "dnd", "yes", "console:alice", None).await.unwrap_err();
        assert!(matches!(&err, OpError::NodeDown { node, .. } if node == "pbx7"), "{err:?}");
        assert_eq!(err.exit_code(), crate::exit::NODE_DOWN);
        assert!(err.to_string().contains("pbx7"), "{err}");
        // The PBX starts: the console reconnects by itself and reads the users.
        let fake = FakeAmi::start_on(&address).await;
        let e = next(&mut rx, "node_up").await;
        assert_eq!(e.kind, EventKind::NodeUp { users: 1, calls: 0 });
        assert!(console.down().is_none());
        let done = console.set("1001", "dnd", "yes", "console:alice", None).await.unwrap();
        assert_eq!(done.node, "pbx7");
        // Its own change comes back as an event, and the model follows.
        let e = next(&mut rx, "settings").await;
        assert!(matches!(&e.kind, EventKind::Settings { source, .. } if source == "console:alice"), "{e:?}");
        assert_eq!(console.users()[0].user.settings["dnd"], "yes");
        let status = console.status("1001", None).await.unwrap();
        assert_eq!(status.user.settings["dnd"], "yes");
        assert!(matches!(console.status("9999", None).await, Err(OpError::UnknownUser(_))));
        let refused = console.set("1001", "mobile", "0911", "console:alice", None).await.unwrap_err();
        assert_eq!(refused.exit_code(), crate::exit::REFUSED);
        assert_eq!(console.check_pin("1001", "0000", "console:alice", None).await, Ok(PinResult::Wrong));
        drop(fake);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_an_authentication_error_naming_the_node() {
        let fake = FakeAmi::start().await;
        let console = Console::start(&config(&fake.address, "not-the-secret"));
        console.ready(Duration::from_secs(5)).await;
        let e = console.down().expect("down");
        assert!(matches!(&e, OpError::Auth { node, .. } if node == "pbx7"), "{e:?}");
        assert_eq!(e.exit_code(), crate::exit::AUTH);
        assert!(!e.to_string().contains("not-the-secret"), "{e}");
        assert!(matches!(console.status("1001", Some("pbx7")).await, Err(OpError::Auth { .. })));
    }
}
