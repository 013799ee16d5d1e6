//! One node: its connection (AMI or ESL), the module's operations over it, and the task
//! that keeps it connected (reconnecting with backoff), resyncs the model at every
//! connect and applies the node's events to it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use utoipa::ToSchema;

use crate::ami::AmiClient;
use crate::config::{NodeConfig, Pbx};
use crate::esl::EslClient;
use crate::event::{self, Event, EventKind};
use crate::fields::Fields;
use crate::metrics::{self, Sample};
use crate::model::{self, CallModel, NodeModel, NodeState, UserModel};
use crate::{OpError, ProtocolError};

/// How often an idle connection is checked.
const PING_EVERY: Duration = Duration::from_secs(15);
/// The longest wait between two connection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The answer of a PIN check: the module's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PinResult {
    Ok,
    Wrong,
    Locked,
    Nopin,
}

impl PinResult {
    pub fn parse(s: &str) -> Option<PinResult> {
        match s.trim().to_ascii_uppercase().as_str() {
            "OK" => Some(PinResult::Ok),
            "WRONG" => Some(PinResult::Wrong),
            "LOCKED" => Some(PinResult::Locked),
            "NOPIN" => Some(PinResult::Nopin),
            _ => None,
        }
    }
}

/// A connection to one node's module.
#[derive(Clone)]
pub enum Client {
    Ami(AmiClient),
    Esl(EslClient),
}

/// Arguments the console puts into a command line or a function call: one word of
/// printable characters, so nothing can add words or break out of the syntax.
fn word(what: &str, s: &str) -> Result<(), OpError> {
    if s.is_empty()
        || s.len() > 80
        || !s.chars().all(|c| c.is_ascii_graphic() && !"(),;|&$`'\"\\{}".contains(c))
    {
        return Err(OpError::Usage(format!("{what} '{}' is not a single word", s.escape_debug())));
    }
    Ok(())
}

/// A value may have spaces (a schedule) but never a line break.
fn one_line(what: &str, s: &str) -> Result<(), OpError> {
    if s.chars().any(char::is_control) {
        return Err(OpError::Usage(format!("{what} must be one line of printable characters")));
    }
    Ok(())
}

impl Client {
    pub async fn connect(
        config: &NodeConfig,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Fields>), ProtocolError> {
        match config.kind {
            Pbx::Asterisk => {
                let (c, rx) = AmiClient::connect(&config.address, &config.username, &config.secret).await?;
                Ok((Client::Ami(c), rx))
            }
            Pbx::Freeswitch => {
                let (c, rx) = EslClient::connect(&config.address, &config.secret).await?;
                let mut subscription = String::from("CUSTOM");
                for s in twinning_service::call_events::SUBCLASSES {
                    subscription.push(' ');
                    subscription.push_str(s);
                }
                c.subscribe(&subscription).await?;
                Ok((Client::Esl(c), rx))
            }
        }
    }

    pub async fn close(&self) {
        match self {
            Client::Ami(c) => c.close().await,
            Client::Esl(c) => c.close().await,
        }
    }

    /// Whether the connection still answers.
    pub async fn ping(&self) -> Result<(), ProtocolError> {
        match self {
            Client::Ami(c) => c.action("Ping", &[]).await.map(|_| ()),
            Client::Esl(c) => c.api("version").await.map(|_| ()),
        }
    }

    /// An ESL API reply: `-ERR ...` is the module's refusal, `+OK ...` its text.
    fn esl_reply(node: &str, reply: String) -> Result<String, OpError> {
        let t = reply.trim_end();
        if let Some(e) = t.strip_prefix("-ERR") {
            return Err(OpError::Refused { node: node.into(), message: e.trim().to_owned() });
        }
        Ok(t.strip_prefix("+OK").map_or(t, str::trim_start).to_owned())
    }

    fn ami_reply(node: &str, r: Fields) -> Result<Fields, OpError> {
        if r.is("Response", "Success") {
            Ok(r)
        } else {
            Err(OpError::Refused {
                node: node.into(),
                message: r.get("Message").unwrap_or("refused, with no reason given").to_owned(),
            })
        }
    }

    fn lost(node: &str) -> impl Fn(ProtocolError) -> OpError + '_ {
        move |e| OpError::from_protocol(node, e)
    }

    /// Every user's settings (or one user's).
    pub async fn status(&self, node: &str, user: Option<&str>) -> Result<Vec<UserModel>, OpError> {
        if let Some(u) = user {
            word("a user", u)?;
        }
        match self {
            Client::Ami(c) => {
                let headers: Vec<(&str, &str)> = user.map(|u| ("User", u)).into_iter().collect();
                let (r, events) = c.list("TwinningStatus", &headers).await.map_err(Self::lost(node))?;
                Self::ami_reply(node, r)?;
                Ok(events
                    .iter()
                    .filter(|e| e.is("Event", "TwinningUser"))
                    .filter_map(model::user_from_ami)
                    .collect())
            }
            Client::Esl(c) => {
                let users = match user {
                    Some(u) => vec![u.to_owned()],
                    None => {
                        let table = c.api("twinning status").await.map_err(Self::lost(node))?;
                        model::users_from_table(&Self::esl_reply(node, table)?)
                    }
                };
                let mut out = Vec::new();
                for u in users {
                    let detail = c.api(&format!("twinning status {u}")).await.map_err(Self::lost(node))?;
                    out.push(model::user_from_detail(&u, &Self::esl_reply(node, detail)?));
                }
                Ok(out)
            }
        }
    }

    /// Changes one field; `source` (`console:<login>`) is what the module audits.
    pub async fn set(
        &self,
        node: &str,
        user: &str,
        field: &str,
        value: &str,
        source: &str,
    ) -> Result<String, OpError> {
        word("a user", user)?;
        word("a field", field)?;
        word("a source", source)?;
        one_line("a value", value)?;
        match self {
            Client::Ami(c) => {
                let r = c
                    .action(
                        "TwinningSet",
                        &[("User", user), ("Field", field), ("Value", value), ("Source", source)],
                    )
                    .await
                    .map_err(Self::lost(node))?;
                Ok(Self::ami_reply(node, r)?.text("Message"))
            }
            Client::Esl(c) => {
                let r = c
                    .api(&format!("twinning set-as {source} {user} {field} {value}"))
                    .await
                    .map_err(Self::lost(node))?;
                Self::esl_reply(node, r)
            }
        }
    }

    pub async fn handover(&self, node: &str, user: &str, to: &str, source: &str) -> Result<String, OpError> {
        word("a user", user)?;
        word("a destination", to)?;
        word("a source", source)?;
        match self {
            Client::Ami(c) => {
                let r = c
                    .action("TwinningHandover", &[("User", user), ("To", to), ("Source", source)])
                    .await
                    .map_err(Self::lost(node))?;
                Ok(Self::ami_reply(node, r)?.text("Message"))
            }
            Client::Esl(c) => {
                let r = c
                    .api(&format!("twinning handover {user} {to} {source}"))
                    .await
                    .map_err(Self::lost(node))?;
                Self::esl_reply(node, r)
            }
        }
    }

    pub async fn calls(&self, node: &str) -> Result<Vec<CallModel>, OpError> {
        match self {
            Client::Ami(c) => {
                let (r, events) = c.list("TwinningCalls", &[]).await.map_err(Self::lost(node))?;
                Self::ami_reply(node, r)?;
                Ok(events
                    .iter()
                    .filter(|e| e.is("Event", "TwinningCall"))
                    .filter_map(model::call_from_ami)
                    .collect())
            }
            Client::Esl(c) => {
                let r = c.api("twinning calls").await.map_err(Self::lost(node))?;
                Ok(model::calls_from_table(&Self::esl_reply(node, r)?))
            }
        }
    }

    pub async fn store(&self, node: &str) -> Result<BTreeMap<String, String>, OpError> {
        match self {
            Client::Ami(c) => {
                let r =
                    Self::ami_reply(node, c.action("TwinningStore", &[]).await.map_err(Self::lost(node))?)?;
                Ok(r.iter()
                    .filter(|(k, _)| {
                        !["Response", "ActionID", "Message"].iter().any(|s| k.eq_ignore_ascii_case(s))
                    })
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect())
            }
            Client::Esl(c) => {
                let r = c.api("twinning store").await.map_err(Self::lost(node))?;
                Ok(model::key_values(&Self::esl_reply(node, r)?))
            }
        }
    }

    pub async fn metrics(&self, node: &str) -> Result<Vec<Sample>, OpError> {
        match self {
            Client::Ami(c) => {
                let (r, events) = c.list("TwinningMetrics", &[]).await.map_err(Self::lost(node))?;
                Self::ami_reply(node, r)?;
                Ok(metrics::from_ami(&events))
            }
            Client::Esl(c) => {
                let r = c.api("twinning metrics").await.map_err(Self::lost(node))?;
                Ok(metrics::parse_prometheus(&Self::esl_reply(node, r)?))
            }
        }
    }

    /// Checks a PIN through the module's guard and lockout; `source` names who asked.
    pub async fn check_pin(
        &self,
        node: &str,
        user: &str,
        pin: &str,
        source: &str,
    ) -> Result<PinResult, OpError> {
        word("a user", user)?;
        word("a source", source)?;
        if pin.is_empty()
            || pin.len() > 32
            || !pin.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#')
        {
            return Err(OpError::Usage("a PIN is digits".into()));
        }
        let answer = match self {
            Client::Ami(c) => {
                let r = c
                    .action("TwinningCheckPin", &[("User", user), ("Pin", pin), ("Source", source)])
                    .await
                    .map_err(Self::lost(node))?;
                Self::ami_reply(node, r)?.text("Result")
            }
            Client::Esl(c) => {
                let r = c
                    .api(&format!("twinning checkpin {user} {pin} {source}"))
                    .await
                    .map_err(Self::lost(node))?;
                Self::esl_reply(node, r)?
            }
        };
        PinResult::parse(&answer).ok_or_else(|| OpError::Refused {
            node: node.into(),
            message: format!(
                "an answer that is no PIN result: {}",
                answer.chars().take(80).collect::<String>()
            ),
        })
    }

    /// One user's lamps, where the PBX tells them (Asterisk: with func_devstate loaded).
    pub async fn lamps(&self, node: &str, user: &str) -> Result<BTreeMap<String, String>, OpError> {
        word("a user", user)?;
        match self {
            Client::Ami(c) => {
                let mut out = BTreeMap::new();
                for (lamp, device) in [("twinning", "Twinning"), ("twinningcall", "TwinningCall")] {
                    let var = format!("DEVICE_STATE({device}:{user})");
                    let r = c.action("Getvar", &[("Variable", &var)]).await.map_err(Self::lost(node))?;
                    if let Some(v) = r.get("Value").filter(|v| r.is("Response", "Success") && !v.is_empty()) {
                        out.insert(lamp.to_owned(), v.to_owned());
                    }
                }
                Ok(out)
            }
            Client::Esl(c) => {
                let r = c.api(&format!("twinning state {user}")).await.map_err(Self::lost(node))?;
                Ok(model::lamps_from_state(&Self::esl_reply(node, r)?))
            }
        }
    }

    /// Every lamp the PBX lists at once (Asterisk's `DeviceStateList`, where
    /// res_manager_devicestate is loaded); empty elsewhere.
    async fn all_lamps(&self) -> Vec<EventKind> {
        match self {
            Client::Ami(c) => match c.list("DeviceStateList", &[]).await {
                Ok((r, events)) if r.is("Response", "Success") => {
                    events.iter().filter_map(event::parse).collect()
                }
                _ => Vec::new(),
            },
            Client::Esl(_) => Vec::new(),
        }
    }
}

/// A node, its connection when up, and its live model.
pub struct Node {
    pub config: NodeConfig,
    client: Mutex<Option<Client>>,
    model: RwLock<NodeModel>,
    /// True once the first connection attempt has ended, up or down.
    tried: watch::Sender<bool>,
}

impl Node {
    pub fn new(config: NodeConfig) -> Arc<Node> {
        let model = NodeModel::new(&config.name, config.kind, &config.address);
        Arc::new(Node {
            config,
            client: Mutex::new(None),
            model: RwLock::new(model),
            tried: watch::channel(false).0,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The connection, or why there is none.
    pub fn client(&self) -> Result<Client, OpError> {
        if let Some(c) = self.client.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(c);
        }
        let m = self.model();
        let error = m.error.clone().unwrap_or_else(|| "not connected yet".into());
        if error.starts_with("authentication failed: ") {
            return Err(OpError::Auth { node: self.config.name.clone(), message: error });
        }
        Err(OpError::NodeDown { node: self.config.name.clone(), error })
    }

    pub fn model(&self) -> std::sync::RwLockReadGuard<'_, NodeModel> {
        self.model.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn model_mut(&self) -> std::sync::RwLockWriteGuard<'_, NodeModel> {
        self.model.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the first connection attempt has ended.
    pub async fn tried(&self) {
        let mut rx = self.tried.subscribe();
        let _ = rx.wait_for(|t| *t).await;
    }

    fn emit(&self, events: &broadcast::Sender<Event>, kind: EventKind) {
        let _ = events.send(Event::new(&self.config.name, self.config.kind, kind));
    }

    /// Reads everything the model holds from the node.
    async fn resync(&self, client: &Client) -> Result<(usize, usize), OpError> {
        let name = self.config.name.clone();
        let mut users = client.status(&name, None).await?;
        let calls = match client.calls(&name).await {
            Ok(c) => c,
            Err(OpError::Refused { message, .. }) => {
                // A module without the calls list: calls appear as their events come.
                log::info!("node {name}: no list of calls ({message}); calls show from their next event");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let store = match client.store(&name).await {
            Ok(s) => s,
            Err(OpError::Refused { message, .. }) => BTreeMap::from([("Error".to_owned(), message)]),
            Err(e) => return Err(e),
        };
        let lamps = client.all_lamps().await;
        if self.config.kind == Pbx::Freeswitch {
            for u in &mut users {
                if let Ok(l) = client.lamps(&name, &u.user).await {
                    u.lamps = l;
                }
            }
        }
        let (n_users, n_calls) = (users.len(), calls.len());
        let mut m = self.model_mut();
        m.resync(users, calls, store);
        for l in &lamps {
            m.apply(l);
        }
        Ok((n_users, n_calls))
    }

    /// Keeps the node connected until the program ends: connects, resyncs, applies
    /// events, and after a failure waits (0.5 s doubling to 30 s) and starts again.
    pub async fn run(self: Arc<Self>, events: broadcast::Sender<Event>) {
        let name = self.config.name.clone();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let result = self.session(&events).await;
            *self.client.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let (error, was_up) = match result {
                Ok(()) => ("the connection closed".to_owned(), true),
                Err((e, was_up)) => (e, was_up),
            };
            let changed = {
                let mut m = self.model_mut();
                let changed = m.state != NodeState::Down || m.error.as_deref() != Some(&error);
                m.set_state(NodeState::Down, Some(error.clone()));
                m.calls.clear();
                changed
            };
            if changed {
                log::warn!("node {name} is down: {error}");
                self.emit(&events, EventKind::NodeDown { error });
            }
            self.tried.send_replace(true);
            if was_up {
                backoff = FIRST_BACKOFF;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection, from connect to loss. The error, and whether it had come up.
    async fn session(&self, events: &broadcast::Sender<Event>) -> Result<(), (String, bool)> {
        let name = &self.config.name;
        let (client, mut incoming) = Client::connect(&self.config).await.map_err(|e| {
            let text = match e {
                ProtocolError::AuthFailed(m) => format!("authentication failed: {m}"),
                other => other.to_string(),
            };
            (text, false)
        })?;
        let (users, calls) = match self.resync(&client).await {
            Ok(n) => n,
            Err(e) => {
                client.close().await;
                let text = match e {
                    OpError::NodeDown { error, .. } => error,
                    other => format!("reading the module's state: {other}"),
                };
                return Err((text, false));
            }
        };
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(client.clone());
        self.model_mut().set_state(NodeState::Up, None);
        log::info!("node {name} is up: {users} user(s), {calls} call(s)");
        self.emit(events, EventKind::NodeUp { users, calls });
        self.tried.send_replace(true);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        let mut lamp_refresh = tokio::time::interval(Duration::from_millis(500));
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        loop {
            tokio::select! {
                message = incoming.recv() => {
                    let Some(fields) = message else { return Ok(()) };
                    let Some(kind) = event::parse(&fields) else { continue };
                    if self.config.kind == Pbx::Freeswitch {
                        if let Some(u) = kind.user() {
                            dirty.insert(u.to_owned());
                        }
                    }
                    self.model_mut().apply(&kind);
                    self.emit(events, kind);
                }
                _ = ping.tick() => {
                    if let Err(e) = client.ping().await {
                        client.close().await;
                        return Err((format!("no answer to a keepalive: {e}"), true));
                    }
                }
                _ = lamp_refresh.tick(), if !dirty.is_empty() => {
                    for user in std::mem::take(&mut dirty) {
                        let Ok(lamps) = client.lamps(name, &user).await else { continue };
                        for (lamp, state) in lamps {
                            let kind = EventKind::Lamps { user: user.clone(), lamp, state };
                            if self.model_mut().apply(&kind) {
                                self.emit(events, kind);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_single_words() {
        assert!(word("a user", "1001").is_ok());
        assert!(word("a user", "alice.smith@site").is_ok());
        for bad in ["", "1001 extra", "1001\n", "x)", "a,b", "$(x)", &"9".repeat(81)] {
            assert!(word("a user", bad).is_err(), "{bad:?}");
        }
        assert!(one_line("a value", "mon-fri 09:00-17:00").is_ok());
        assert!(one_line("a value", "x\r\nAction: Originate").is_err());
    }

    #[test]
    fn pin_results() {
        assert_eq!(PinResult::parse(" ok\n"), Some(PinResult::Ok));
        assert_eq!(PinResult::parse("NOPIN"), Some(PinResult::Nopin));
        assert_eq!(PinResult::parse("maybe"), None);
        assert_eq!(serde_json::to_string(&PinResult::Locked).unwrap(), "\"LOCKED\"");
    }

    #[test]
    fn esl_replies() {
        assert_eq!(Client::esl_reply("fs1", "+OK OK\n".into()), Ok("OK".into()));
        assert_eq!(
            Client::esl_reply("fs1", "-ERR mobile: 09 numbers are blocked\n".into()),
            Err(OpError::Refused { node: "fs1".into(), message: "mobile: 09 numbers are blocked".into() })
        );
        assert_eq!(Client::esl_reply("fs1", "Backend: file\n".into()), Ok("Backend: file".into()));
    }
}
