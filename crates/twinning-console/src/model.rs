//! The live model of one node: its users with their settings and lamps, its twinned calls
//! with each leg's state, and its store. Read in full when the console connects (and
//! after every reconnect), then kept up to date by the node's events. Applying an event
//! is idempotent per call (calls are keyed by the caller's unique id), so an event that
//! raced the resync neither duplicates nor resurrects a call.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Pbx;
use crate::event::{now_ms, EventKind};
use crate::fields::Fields;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Not tried yet.
    Connecting,
    Up,
    Down,
}

/// One user's settings in force (field name to value, a PIN as `****`) and lamps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct UserModel {
    pub user: String,
    pub settings: BTreeMap<String, String>,
    /// `twinning` and `twinningcall`, as the PBX shows them (`INUSE`, `NOT_INUSE`,
    /// `RINGING`...), where known.
    pub lamps: BTreeMap<String, String>,
    /// Where the values come from: the fields whose value a runtime change set (every
    /// other value is the configuration file's), as the module tells it (AMI
    /// `RuntimeFields`, ESL `(runtime)`), and each change seen since.
    #[serde(default)]
    pub runtime: std::collections::BTreeSet<String>,
}

/// A twinned call in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct CallModel {
    /// The caller's unique id (or its channel, where the PBX gives no id).
    pub call: String,
    pub user: String,
    /// The caller's channel.
    pub channel: String,
    /// When it started (ms since 1970, UTC); from the PBX's count of seconds after a resync.
    pub started_ms: u64,
    /// Each leg (`desk`, `mobile`, `mobile2`...) and its last state.
    pub legs: BTreeMap<String, String>,
    /// The leg bridged with the caller, once one is.
    pub answered_by: String,
    /// `ringing` until a leg is bridged, then `answered`.
    pub state: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeModel {
    pub name: String,
    pub pbx: Pbx,
    pub address: String,
    pub state: NodeState,
    /// Why the node is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the state last changed (ms since 1970, UTC).
    pub since_ms: u64,
    pub users: BTreeMap<String, UserModel>,
    pub calls: BTreeMap<String, CallModel>,
    /// The settings store's status lines (`Backend`, `State`, ...), as the module gives them.
    pub store: BTreeMap<String, String>,
}

impl NodeModel {
    pub fn new(name: &str, pbx: Pbx, address: &str) -> NodeModel {
        NodeModel {
            name: name.into(),
            pbx,
            address: address.into(),
            state: NodeState::Connecting,
            error: None,
            since_ms: now_ms(),
            users: BTreeMap::new(),
            calls: BTreeMap::new(),
            store: BTreeMap::new(),
        }
    }

    /// Replaces everything with a fresh read of the node.
    pub fn resync(&mut self, users: Vec<UserModel>, calls: Vec<CallModel>, store: BTreeMap<String, String>) {
        let old_lamps: BTreeMap<String, BTreeMap<String, String>> =
            std::mem::take(&mut self.users).into_iter().map(|(u, m)| (u, m.lamps)).collect();
        self.users = users
            .into_iter()
            .map(|mut u| {
                if u.lamps.is_empty() {
                    u.lamps = old_lamps.get(&u.user).cloned().unwrap_or_default();
                }
                (u.user.clone(), u)
            })
            .collect();
        self.calls = calls.into_iter().map(|c| (c.call.clone(), c)).collect();
        self.store = store;
    }

    pub fn set_state(&mut self, state: NodeState, error: Option<String>) {
        if self.state != state || self.error != error {
            self.since_ms = now_ms();
        }
        self.state = state;
        self.error = error;
    }

    /// The key of the call an event is about: its id, or the call already known by the
    /// same channel (after a resync from a table that gives channels only), re-keyed.
    fn call_key(&mut self, call: &str, channel: &str) -> String {
        let key = if call.is_empty() { channel } else { call };
        if self.calls.contains_key(key) || channel.is_empty() {
            return key.to_owned();
        }
        if let Some(old) = self.calls.iter().find(|(_, c)| c.channel == channel).map(|(k, _)| k.clone()) {
            if let Some(mut c) = self.calls.remove(&old) {
                c.call = key.to_owned();
                self.calls.insert(key.to_owned(), c);
            }
        }
        key.to_owned()
    }

    fn call_mut(&mut self, user: &str, call: &str, channel: &str) -> Option<&mut CallModel> {
        let key = self.call_key(call, channel);
        if key.is_empty() {
            return None;
        }
        Some(self.calls.entry(key.clone()).or_insert_with(|| CallModel {
            call: key,
            user: user.to_owned(),
            channel: channel.to_owned(),
            started_ms: now_ms(),
            state: "ringing".into(),
            ..CallModel::default()
        }))
    }

    /// Applies an event; true if the model changed.
    pub fn apply(&mut self, e: &EventKind) -> bool {
        match e {
            EventKind::Start { user, call, channel, .. } => self.call_mut(user, call, channel).is_some(),
            EventKind::Leg { user, call, channel, leg, state, .. } => self
                .call_mut(user, call, channel)
                .map(|c| c.legs.insert(leg.clone(), state.clone()))
                .is_some(),
            EventKind::Refused { user, call, channel, leg, .. } => self
                .call_mut(user, call, channel)
                .map(|c| c.legs.insert(leg.clone(), "refused".into()))
                .is_some(),
            EventKind::Bridged { user, call, channel, leg } => self
                .call_mut(user, call, channel)
                .map(|c| {
                    c.answered_by = leg.clone();
                    c.state = "answered".into();
                    c.legs.insert(leg.clone(), "bridged".into());
                })
                .is_some(),
            EventKind::Handover { user, call, channel, to, result, .. } if result == "completed" => self
                .call_mut(user, call, channel)
                .map(|c| {
                    c.answered_by = to.clone();
                    c.legs.insert(to.clone(), "bridged".into());
                })
                .is_some(),
            EventKind::End { call, channel, .. } => {
                let key = self.call_key(call, channel);
                self.calls.remove(&key).is_some()
            }
            EventKind::Settings { user, field, value, .. } => {
                let u = self
                    .users
                    .entry(user.clone())
                    .or_insert_with(|| UserModel { user: user.clone(), ..UserModel::default() });
                // A change is a runtime value from now on, whatever it set.
                let new_origin = u.runtime.insert(field.clone());
                u.settings.insert(field.clone(), value.clone()) != Some(value.clone()) || new_origin
            }
            EventKind::Lamps { user, lamp, state } => match self.users.get_mut(user) {
                Some(u) => u.lamps.insert(lamp.clone(), state.clone()) != Some(state.clone()),
                None => false,
            },
            _ => false,
        }
    }
}

/// The settings field an AMI `TwinningUser` header names: `DialDelay` is `dial_delay`,
/// `Mobile3RingTime` `mobile3_ring_time` (looked up in the module's own field list, and
/// spelt out by rule for a field this build does not know).
pub fn field_of_header(header: &str) -> String {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static MAP: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        twinning_core::Field::ALL
            .iter()
            .map(|&f| (twinning_service::report::ami_header(f).to_ascii_lowercase(), f.name()))
            .collect()
    });
    if let Some(name) = map.get(&header.to_ascii_lowercase()) {
        return (*name).to_owned();
    }
    let mut out = String::new();
    for (i, c) in header.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The `TwinningUser` header naming the fields a runtime change set (not a field).
const RUNTIME_FIELDS: &str = "RuntimeFields";

/// A `TwinningUser` event as a user's settings.
pub fn user_from_ami(f: &Fields) -> Option<UserModel> {
    let user = f.get("User")?.to_owned();
    let settings = f
        .iter()
        .filter(|(k, _)| {
            !["Event", "ActionID", "User", "Privilege", "Timestamp", "SystemName", RUNTIME_FIELDS]
                .iter()
                .any(|skip| k.eq_ignore_ascii_case(skip))
        })
        .map(|(k, v)| (field_of_header(k), v.to_owned()))
        .collect();
    let runtime = f
        .text(RUNTIME_FIELDS)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Some(UserModel { user, settings, lamps: BTreeMap::new(), runtime })
}

/// The users of FreeSWITCH's `twinning status` table (the first column of each row).
pub fn users_from_table(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter(|l| {
            !l.trim().is_empty()
                && !l.starts_with(|c: char| c.is_ascii_digit() && l.contains("twinning user"))
        })
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|u| !u.starts_with("-ERR") && !u.starts_with("+OK"))
        .collect()
}

/// FreeSWITCH's `twinning status <user>`: `  field : value` lines, `-` for empty, and
/// `(runtime)` after an overridden value.
pub fn user_from_detail(user: &str, text: &str) -> UserModel {
    let mut settings = BTreeMap::new();
    let mut runtime = std::collections::BTreeSet::new();
    for line in text.lines().skip_while(|l| !l.starts_with("Twinning user")).skip(1) {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim();
        let v = match v.strip_suffix("(runtime)") {
            Some(v) => {
                runtime.insert(k.trim().to_owned());
                v.trim_end()
            }
            None => v,
        };
        settings.insert(k.trim().to_owned(), if v == "-" { String::new() } else { v.to_owned() });
    }
    UserModel { user: user.to_owned(), settings, lamps: BTreeMap::new(), runtime }
}

/// Legs written `desk:ringing mobile:dialing`.
pub fn parse_legs(text: &str) -> BTreeMap<String, String> {
    text.split_whitespace()
        .filter_map(|w| w.split_once(':'))
        .map(|(leg, state)| (leg.to_owned(), state.to_owned()))
        .collect()
}

fn call_state(legs: &BTreeMap<String, String>) -> (String, String) {
    match legs.iter().find(|(_, s)| ["bridged", "answered", "confirmed", "up"].contains(&s.as_str())) {
        Some((leg, _)) => (leg.clone(), "answered".into()),
        None => (String::new(), "ringing".into()),
    }
}

/// A `TwinningCall` event (User, Channel, Uniqueid, Seconds, Legs).
pub fn call_from_ami(f: &Fields) -> Option<CallModel> {
    let user = f.get("User")?.to_owned();
    let channel = f.text("Channel");
    let id = f.get("Uniqueid").filter(|u| !u.is_empty()).map_or(channel.clone(), str::to_owned);
    let seconds: u64 = f.text("Seconds").trim().parse().unwrap_or(0);
    let legs = parse_legs(&f.text("Legs"));
    let (answered_by, state) = call_state(&legs);
    Some(CallModel {
        call: id,
        user,
        channel,
        started_ms: now_ms().saturating_sub(seconds * 1000),
        legs,
        answered_by,
        state,
    })
}

/// The `twinning calls` table: `User  Caller channel  Seconds  Legs...` rows, then a count.
pub fn calls_from_table(text: &str) -> Vec<CallModel> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 || words.contains(&"twinned") {
            continue;
        }
        let Ok(seconds) = words[2].parse::<u64>() else { continue };
        let legs = parse_legs(&words[3..].join(" "));
        let (answered_by, state) = call_state(&legs);
        out.push(CallModel {
            call: words[1].to_owned(),
            user: words[0].to_owned(),
            channel: words[1].to_owned(),
            started_ms: now_ms().saturating_sub(seconds * 1000),
            legs,
            answered_by,
            state,
        });
    }
    out
}

/// `Key: Value` lines (FreeSWITCH's `twinning store`).
pub fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// FreeSWITCH's `twinning state <user>`: `twinning+1001: INUSE` lines.
pub fn lamps_from_state(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(k, v)| Some((k.trim().split_once('+')?.0.to_owned(), v.trim().to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(call: &str, leg: &str, state: &str) -> EventKind {
        EventKind::Leg {
            user: "1001".into(),
            call: call.into(),
            channel: format!("PJSIP/caller-{call}"),
            leg: leg.into(),
            state: state.into(),
            destination: String::new(),
            cause: String::new(),
        }
    }

    fn start(call: &str) -> EventKind {
        EventKind::Start {
            user: "1001".into(),
            call: call.into(),
            channel: format!("PJSIP/caller-{call}"),
            mobile: String::new(),
        }
    }

    fn end(call: &str) -> EventKind {
        EventKind::End {
            user: "1001".into(),
            call: call.into(),
            channel: format!("PJSIP/caller-{call}"),
            status: "ANSWERED".into(),
            answered_by: "desk".into(),
            duration_ms: 1,
        }
    }

    #[test]
    fn a_call_lives_from_start_to_end() {
        let mut m = NodeModel::new("pbx1", Pbx::Asterisk, "h:1");
        assert!(m.apply(&start("1.1")));
        m.apply(&leg("1.1", "desk", "ringing"));
        m.apply(&leg("1.1", "mobile", "dialing"));
        m.apply(&leg("1.1", "mobile", "ringing"));
        let c = &m.calls["1.1"];
        assert_eq!(
            (c.legs["desk"].as_str(), c.legs["mobile"].as_str(), c.state.as_str()),
            ("ringing", "ringing", "ringing")
        );
        m.apply(&EventKind::Bridged {
            user: "1001".into(),
            call: "1.1".into(),
            channel: "PJSIP/caller-1.1".into(),
            leg: "mobile".into(),
        });
        assert_eq!(
            (m.calls["1.1"].answered_by.as_str(), m.calls["1.1"].state.as_str()),
            ("mobile", "answered")
        );
        assert!(m.apply(&end("1.1")));
        assert!(m.calls.is_empty());
        assert!(!m.apply(&end("1.1")), "a second end changes nothing");
    }

    #[test]
    fn a_resync_then_racing_events_neither_duplicate_nor_resurrect() {
        let mut m = NodeModel::new("fs1", Pbx::Freeswitch, "h:1");
        // The table gives channels, not ids: the call's events re-key it.
        let calls = calls_from_table(
            "User         Caller channel                        Seconds  Legs\n\
             1001         PJSIP/caller-2.2                           4  desk:ringing mobile:ringing\n\
             1 twinned call\n",
        );
        m.resync(vec![], calls, BTreeMap::new());
        m.apply(&start("2.2"));
        m.apply(&leg("2.2", "mobile", "answered"));
        assert_eq!(m.calls.len(), 1, "{:?}", m.calls);
        assert_eq!(m.calls["2.2"].legs["mobile"], "answered");
        // An end that raced the read of a call the read no longer had: nothing happens.
        m.apply(&end("3.3"));
        assert_eq!(m.calls.len(), 1);
        m.apply(&end("2.2"));
        assert!(m.calls.is_empty());
        // A second resync replaces everything.
        m.apply(&start("4.4"));
        m.resync(vec![], vec![], BTreeMap::new());
        assert!(m.calls.is_empty());
    }

    #[test]
    fn settings_and_lamps_follow_events() {
        let mut m = NodeModel::new("pbx1", Pbx::Asterisk, "h:1");
        let u = user_from_ami(&Fields::from([
            ("Event", "TwinningUser"),
            ("ActionID", "1"),
            ("User", "1001"),
            ("Mobile", "07700900123"),
            ("DialDelay", "0"),
            ("Mobile3RingTime", "20"),
            ("Pin", "****"),
        ]))
        .unwrap();
        assert_eq!(u.settings.get("dial_delay").map(String::as_str), Some("0"));
        assert_eq!(u.settings.get("mobile3_ring_time").map(String::as_str), Some("20"));
        assert!(!u.settings.contains_key("action_i_d") && !u.settings.contains_key("user"));
        m.resync(vec![u], vec![], BTreeMap::new());
        let change = EventKind::Settings {
            user: "1001".into(),
            field: "dnd".into(),
            value: "yes".into(),
            old_value: "no".into(),
            source: "console:alice".into(),
            channel: String::new(),
            origin_node: String::new(),
        };
        assert!(m.apply(&change));
        assert!(!m.apply(&change), "the same value again changes nothing");
        assert_eq!(m.users["1001"].settings["dnd"], "yes");
        m.apply(&EventKind::Lamps { user: "1001".into(), lamp: "twinning".into(), state: "INUSE".into() });
        assert_eq!(m.users["1001"].lamps["twinning"], "INUSE");
        m.resync(vec![UserModel { user: "1001".into(), ..UserModel::default() }], vec![], BTreeMap::new());
        assert_eq!(m.users["1001"].lamps["twinning"], "INUSE", "lamps survive a resync that reads none");
    }

    #[test]
    fn freeswitch_reports() {
        let table = "User         Desk                 Mobile           Enabled DND   Delay  Guard   Ring Confirm Schedule\n\
                     1001         user/1001            07700900123      yes     no        0      0     30 no      -\n\
                     1002         user/1002            -                yes     no        0      0     30 no      -\n\
                     2 twinning users\n";
        assert_eq!(users_from_table(table), ["1001", "1002"]);
        let detail = "Twinning user 1001\n  desk             : user/1001\n  mobile           : -\n  ring_time        : 30  (runtime)\n  schedule         : mon-fri 09:00-17:00\n";
        let u = user_from_detail("1001", detail);
        assert_eq!(u.settings["mobile"], "");
        assert_eq!(u.settings["ring_time"], "30");
        assert_eq!(u.settings["schedule"], "mon-fri 09:00-17:00");
        assert_eq!(u.settings["desk"], "user/1001");
        assert_eq!(u.runtime.iter().collect::<Vec<_>>(), ["ring_time"], "where each value comes from");
        let a = user_from_ami(&Fields::from([
            ("Event", "TwinningUser"),
            ("User", "1001"),
            ("RingTime", "30"),
            ("Dnd", "no"),
            ("RuntimeFields", "ring_time,mobile2"),
        ]))
        .unwrap();
        assert_eq!(a.runtime.iter().collect::<Vec<_>>(), ["mobile2", "ring_time"]);
        assert!(!a.settings.contains_key("runtime_fields"), "not a field: {:?}", a.settings);
        let mut m = NodeModel::new("pbx1", Pbx::Asterisk, "h:1");
        m.resync(vec![a], vec![], BTreeMap::new());
        assert!(m.apply(&EventKind::Settings {
            user: "1001".into(),
            field: "dnd".into(),
            value: "no".into(),
            old_value: "no".into(),
            source: "ami".into(),
            channel: String::new(),
            origin_node: String::new(),
        }));
        assert!(m.users["1001"].runtime.contains("dnd"), "a change is a runtime value, even the same one");
        let lamps = lamps_from_state("twinning+1001: INUSE\ntwinningcall+1001: NOT_INUSE\n");
        assert_eq!(lamps["twinning"], "INUSE");
        assert_eq!(lamps["twinningcall"], "NOT_INUSE");
        let store = key_values("Backend: file\nJournal: /var/lib/x\nState: local (always available)\nLeases: 0 held here, max 0\n");
        assert_eq!(store["Backend"], "file");
        assert_eq!(store["State"], "local (always available)");
        let c = call_from_ami(&Fields::from([
            ("Event", "TwinningCall"),
            ("User", "1001"),
            ("Channel", "PJSIP/caller-1"),
            ("Uniqueid", "9.9"),
            ("Seconds", "3"),
            ("Legs", "desk:ringing mobile:dialing"),
        ]))
        .unwrap();
        assert_eq!((c.call.as_str(), c.legs.len(), c.state.as_str()), ("9.9", 2, "ringing"));
    }
}
