//! One typed stream of events from every node. Asterisk's AMI events (`TwinningStart`...)
//! and FreeSWITCH's `CUSTOM` events (`twinning::start`...) carry the same fields (see
//! `twinning_service::call_events`), so one parser reads both; fields a module does not
//! send are empty, and unknown fields are ignored.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Pbx;
use crate::fields::Fields;

/// An event, as `twinctl watch --json` prints it and `/api/v1/events` streams it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    /// The node it came from.
    pub node: String,
    pub pbx: Pbx,
    /// When the console received it, in milliseconds since 1970 (UTC).
    pub at_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. `call` is the caller's unique id (Asterisk's `Uniqueid`, FreeSWITCH's
/// `Unique-ID`), which ties a call's events together; `channel` the caller's channel.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A twinned call started.
    Start { user: String, call: String, channel: String, mobile: String },
    /// A leg changed state.
    Leg {
        user: String,
        call: String,
        channel: String,
        leg: String,
        state: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        destination: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        cause: String,
    },
    /// A leg won and was bridged with the caller.
    Bridged { user: String, call: String, channel: String, leg: String },
    /// A call is being, or was, moved.
    Handover {
        user: String,
        call: String,
        channel: String,
        from: String,
        to: String,
        trigger: String,
        result: String,
        detail: String,
    },
    /// The mobile put the caller on hold, or took them off it.
    Hold { user: String, call: String, channel: String, on: bool },
    /// The mobile transferred the caller: `blind`, or `attended` after a consult.
    Transfer {
        user: String,
        call: String,
        channel: String,
        context: String,
        exten: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        kind: String,
    },
    /// A consult from the mobile: the caller held while the user calls a third party.
    Consult { user: String, call: String, channel: String, result: String, exten: String, detail: String },
    /// The caller, the mobile and a consulted third party in one conference, or its end.
    Conference { user: String, call: String, channel: String, result: String, detail: String },
    /// A twinned call ended.
    End { user: String, call: String, channel: String, status: String, answered_by: String, duration_ms: u64 },
    /// A remote destination was not rung.
    Refused { user: String, call: String, channel: String, leg: String, reason: String, detail: String },
    /// A setting changed (`source` is the surface: `ami`, `esl`, `cli`, `console:<login>`...).
    Settings {
        user: String,
        field: String,
        value: String,
        old_value: String,
        source: String,
        channel: String,
        /// For a change made on another node (`source` `cluster`), that node.
        origin_node: String,
    },
    /// A change was refused; nothing changed.
    SettingsRefused { user: String, field: String, source: String, reason: String },
    /// An application or a device's request was refused.
    RequestRefused { application: String, arguments: String, reason: String, user: String, device: String },
    /// A wrong PIN, or one entered during a lockout.
    AuthFailed { user: String, reason: String, attempts: u32, locked_for: u64 },
    /// One of a user's lamps (`twinning` or `twinningcall`) changed.
    Lamps { user: String, lamp: String, state: String },
    /// The console reached the node and read its state.
    NodeUp { users: usize, calls: usize },
    /// The console lost the node, or could not reach it.
    NodeDown { error: String },
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The event's name, without its prefix: `TwinningLeg` and `twinning::leg` are `leg`.
fn name(f: &Fields) -> Option<String> {
    if let Some(sub) = f.get("Event-Subclass") {
        return sub.strip_prefix("twinning::").map(str::to_owned);
    }
    let e = f.get("Event")?;
    if e.eq_ignore_ascii_case("DeviceStateChange") {
        return Some("devstate".into());
    }
    let rest = e.strip_prefix("Twinning")?;
    Some(match rest {
        "SettingsChanged" => "settings".to_owned(),
        other => {
            // `SettingsRefused` is `settings_refused`, `AuthFailed` `auth_failed`.
            let mut out = String::new();
            for (i, c) in other.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        }
    })
}

/// The typed event of an AMI event or a FreeSWITCH event, or None for anything else.
pub fn parse(f: &Fields) -> Option<EventKind> {
    let t = |k: &str| f.text(k);
    let user = t("User");
    let call = f.first(&["Uniqueid", "Unique-ID", "Channel-Call-UUID"]).unwrap_or_default().to_owned();
    let channel = f.first(&["Channel", "Channel-Name"]).unwrap_or_default().to_owned();
    Some(match name(f)?.as_str() {
        "start" => EventKind::Start { user, call, channel, mobile: t("Mobile") },
        "leg" => EventKind::Leg {
            user,
            call,
            channel,
            leg: t("Leg"),
            state: t("State"),
            destination: t("Destination"),
            cause: t("Cause"),
        },
        "bridged" => EventKind::Bridged { user, call, channel, leg: t("Leg") },
        "handover" => EventKind::Handover {
            user,
            call,
            channel,
            from: t("From"),
            to: t("To"),
            trigger: t("Trigger"),
            result: t("Result"),
            detail: t("Detail"),
        },
        "hold" => EventKind::Hold { user, call, channel, on: f.is("State", "on") },
        "transfer" => EventKind::Transfer {
            user,
            call,
            channel,
            context: t("Context"),
            exten: t("Exten"),
            kind: t("Kind"),
        },
        "consult" => EventKind::Consult {
            user,
            call,
            channel,
            result: t("Result"),
            exten: t("Exten"),
            detail: t("Detail"),
        },
        "conference" => {
            EventKind::Conference { user, call, channel, result: t("Result"), detail: t("Detail") }
        }
        "end" => EventKind::End {
            user,
            call,
            channel,
            status: t("Status"),
            answered_by: t("AnsweredBy"),
            duration_ms: t("Duration").trim().parse().unwrap_or(0),
        },
        "refused" => EventKind::Refused {
            user,
            call,
            channel,
            leg: t("Leg"),
            reason: t("Reason"),
            detail: t("Detail"),
        },
        "settings" => EventKind::Settings {
            user,
            field: t("Field"),
            value: t("Value"),
            old_value: t("OldValue"),
            source: t("Source"),
            channel: t("Channel"),
            origin_node: t("Node"),
        },
        "settings_refused" => {
            EventKind::SettingsRefused { user, field: t("Field"), source: t("Source"), reason: t("Reason") }
        }
        "request_refused" => EventKind::RequestRefused {
            application: t("Application"),
            arguments: t("Arguments"),
            reason: t("Reason"),
            user,
            device: t("Device"),
        },
        "auth_failed" => EventKind::AuthFailed {
            user,
            reason: t("Reason"),
            attempts: t("Attempts").trim().parse().unwrap_or(0),
            locked_for: t("LockedFor").trim().parse().unwrap_or(0),
        },
        "devstate" => {
            // `Twinning:1001` and `TwinningCall:1001`, the module's two lamps.
            let device = t("Device");
            let (provider, user) = device.split_once(':')?;
            let lamp = match provider {
                "Twinning" => "twinning",
                "TwinningCall" => "twinningcall",
                _ => return None,
            };
            EventKind::Lamps { user: user.to_owned(), lamp: lamp.into(), state: t("State") }
        }
        _ => return None,
    })
}

impl EventKind {
    /// The user the event is about, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            EventKind::Start { user, .. }
            | EventKind::Leg { user, .. }
            | EventKind::Bridged { user, .. }
            | EventKind::Handover { user, .. }
            | EventKind::Hold { user, .. }
            | EventKind::Transfer { user, .. }
            | EventKind::Consult { user, .. }
            | EventKind::Conference { user, .. }
            | EventKind::End { user, .. }
            | EventKind::Refused { user, .. }
            | EventKind::Settings { user, .. }
            | EventKind::SettingsRefused { user, .. }
            | EventKind::RequestRefused { user, .. }
            | EventKind::AuthFailed { user, .. }
            | EventKind::Lamps { user, .. } => Some(user),
            EventKind::NodeUp { .. } | EventKind::NodeDown { .. } => None,
        }
    }

    /// The `type` the JSON gives it.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Start { .. } => "start",
            EventKind::Leg { .. } => "leg",
            EventKind::Bridged { .. } => "bridged",
            EventKind::Handover { .. } => "handover",
            EventKind::Hold { .. } => "hold",
            EventKind::Transfer { .. } => "transfer",
            EventKind::Consult { .. } => "consult",
            EventKind::Conference { .. } => "conference",
            EventKind::End { .. } => "end",
            EventKind::Refused { .. } => "refused",
            EventKind::Settings { .. } => "settings",
            EventKind::SettingsRefused { .. } => "settings_refused",
            EventKind::RequestRefused { .. } => "request_refused",
            EventKind::AuthFailed { .. } => "auth_failed",
            EventKind::Lamps { .. } => "lamps",
            EventKind::NodeUp { .. } => "node_up",
            EventKind::NodeDown { .. } => "node_down",
        }
    }

    /// The rest of a `twinctl watch` line, after the time, node and type.
    pub fn describe(&self) -> String {
        match self {
            EventKind::Start { user, mobile, channel, .. } => {
                format!("{user} from {channel} (mobile {mobile})")
            }
            EventKind::Leg { user, leg, state, destination, cause, .. } => {
                let mut s = format!("{user} {leg} {state}");
                if !destination.is_empty() {
                    s.push_str(&format!(" to {destination}"));
                }
                if !cause.is_empty() {
                    s.push_str(&format!(" ({cause})"));
                }
                s
            }
            EventKind::Bridged { user, leg, .. } => format!("{user} {leg}"),
            EventKind::Handover { user, from, to, trigger, result, detail, .. } => {
                format!("{user} {from} -> {to} by {trigger}: {result} {detail}").trim_end().to_owned()
            }
            EventKind::Hold { user, on, .. } => format!("{user} {}", if *on { "on" } else { "off" }),
            EventKind::Transfer { user, context, exten, kind, .. } => {
                format!("{user} to {exten}@{context} {kind}").trim_end().to_owned()
            }
            EventKind::Consult { user, result, exten, detail, .. } => {
                format!("{user} {exten} {result} {detail}").trim_end().to_owned()
            }
            EventKind::Conference { user, result, detail, .. } => {
                format!("{user} {result} {detail}").trim_end().to_owned()
            }
            EventKind::End { user, status, answered_by, duration_ms, .. } => {
                format!("{user} {status} by {} after {:.1}s", dash(answered_by), *duration_ms as f64 / 1000.0)
            }
            EventKind::Refused { user, leg, reason, detail, .. } => {
                format!("{user} {leg} {reason}: {detail}")
            }
            EventKind::Settings { user, field, value, old_value, source, origin_node, .. } => {
                let from =
                    if origin_node.is_empty() { source.clone() } else { format!("{source} {origin_node}") };
                format!("{user} {field} '{old_value}' -> '{value}' by {from}")
            }
            EventKind::SettingsRefused { user, field, source, reason } => {
                format!("{} {} by {source}: {reason}", dash(user), dash(field))
            }
            EventKind::RequestRefused { application, arguments, reason, .. } => {
                format!("{application}({arguments}): {reason}")
            }
            EventKind::AuthFailed { user, reason, attempts, locked_for } => {
                format!("{user} {reason}, {attempts} attempt(s), locked for {locked_for}s")
            }
            EventKind::Lamps { user, lamp, state } => format!("{user} {lamp} {state}"),
            EventKind::NodeUp { users, calls } => format!("{users} user(s), {calls} call(s)"),
            EventKind::NodeDown { error } => error.clone(),
        }
    }
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

impl Event {
    pub fn new(node: &str, pbx: Pbx, kind: EventKind) -> Event {
        Event { node: node.to_owned(), pbx, at_ms: now_ms(), kind }
    }

    /// One `twinctl watch` line: `12:00:01.250 pbx1 leg 1001 mobile ringing`.
    pub fn line(&self) -> String {
        let ms = self.at_ms % 86_400_000;
        format!(
            "{:02}:{:02}:{:02}.{:03} {} {} {}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            self.node,
            self.kind.type_name(),
            self.kind.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use twinning_core::call::{CallStatus, LegId, LegKind, LegNotice, Notification};
    use twinning_service::call_events::{self, CallEvent};

    /// The event as the Asterisk module sends it over AMI.
    fn ami(e: &CallEvent) -> Fields {
        let mut f = Fields::default();
        f.push("Event", e.ami_name);
        f.push("Privilege", "call,all");
        f.push("Channel", "PJSIP/caller-00000001");
        f.push("Uniqueid", "1700000000.1");
        for (k, v) in &e.fields {
            f.push(k, v);
        }
        f
    }

    /// The event as the FreeSWITCH module sends it over ESL, decoded.
    fn esl(e: &CallEvent) -> Fields {
        let mut f = Fields::default();
        f.push("Event-Name", "CUSTOM");
        f.push("Event-Subclass", e.subclass);
        f.push("Unique-ID", "0b2a-uuid");
        f.push("Channel-Name", "sofia/internal/caller@127.0.0.1");
        for (k, v) in &e.fields {
            f.push(k, v);
        }
        f
    }

    fn samples() -> Vec<CallEvent> {
        let leg = |notice| Notification::Leg { leg: LegId(1), kind: LegKind::MOBILE, notice };
        let mut out: Vec<CallEvent> = [
            Notification::Start { mobile: Some("07700900123".into()) },
            leg(LegNotice::Dialing { target: "PJSIP/07700900123@trunk".into() }),
            Notification::Bridged { leg: LegId(1), kind: LegKind::MOBILE },
            Notification::Hold { on: true },
            Notification::End {
                status: CallStatus::Answered,
                answered_by: Some(LegKind::MOBILE),
                duration: Duration::from_millis(2500),
            },
        ]
        .iter()
        .map(|n| call_events::call_event("1001", n))
        .collect();
        out.push(call_events::auth_failed("1001", "incorrect", 2, 0));
        out.push(call_events::settings_refused("1001", "mobile", &twinning_service::Source::Ami, "blocked"));
        out.push(call_events::request_refused("Twinning", "9999", "unknown user"));
        out
    }

    #[test]
    fn the_modules_events_parse_alike_from_either_pbx() {
        for e in samples() {
            let (a, f) = (parse(&ami(&e)), parse(&esl(&e)));
            let (a, f) = (a.unwrap_or_else(|| panic!("{e:?}")), f.unwrap_or_else(|| panic!("{e:?}")));
            assert_eq!(a.type_name(), f.type_name(), "{e:?}");
            assert_eq!(a.user(), f.user());
        }
        let kinds: Vec<EventKind> = samples().iter().filter_map(|e| parse(&ami(e))).collect();
        assert_eq!(
            kinds[1],
            EventKind::Leg {
                user: "1001".into(),
                call: "1700000000.1".into(),
                channel: "PJSIP/caller-00000001".into(),
                leg: "mobile".into(),
                state: "dialing".into(),
                destination: "PJSIP/07700900123@trunk".into(),
                cause: String::new(),
            }
        );
        assert!(matches!(&kinds[3], EventKind::Hold { on: true, .. }));
        assert!(
            matches!(&kinds[4], EventKind::End { duration_ms: 2500, answered_by, .. } if answered_by == "mobile")
        );
        assert!(matches!(&kinds[5], EventKind::AuthFailed { attempts: 2, .. }));
        assert!(matches!(&kinds[6], EventKind::SettingsRefused { reason, .. } if reason == "blocked"));
        assert!(matches!(&kinds[7], EventKind::RequestRefused { arguments, .. } if arguments == "9999"));
        let esl_start = parse(&esl(&samples()[0])).unwrap();
        assert!(matches!(esl_start, EventKind::Start { call, .. } if call == "0b2a-uuid"));
    }

    #[test]
    fn consults_transfers_and_conferences_read_alike_from_either_pbx() {
        use twinning_core::call::{ConferenceResult, ConsultResult, TransferKind};
        let notes = [
            Notification::Consult {
                result: ConsultResult::Refused,
                context: "consult".into(),
                exten: "0900123456".into(),
                detail: "0900123456 starts with blocked prefix 09".into(),
            },
            Notification::Transfer {
                kind: TransferKind::Attended,
                context: "consult".into(),
                exten: "1002".into(),
            },
            Notification::Conference { result: ConferenceResult::Started, detail: "1002@consult".into() },
        ];
        for n in &notes {
            let e = call_events::call_event("1001", n);
            assert_eq!(parse(&ami(&e)), parse(&esl(&e)).map(with_ami_ids), "{n:?}");
        }
        let lines: Vec<String> = notes
            .iter()
            .map(|n| parse(&ami(&call_events::call_event("1001", n))).unwrap().describe())
            .collect();
        assert_eq!(
            lines,
            [
                "1001 0900123456 refused 0900123456 starts with blocked prefix 09",
                "1001 to 1002@consult attended",
                "1001 started 1002@consult",
            ]
        );
    }

    /// `k` as parsed from AMI: the call's id and channel as the AMI samples give them.
    fn with_ami_ids(mut k: EventKind) -> EventKind {
        if let EventKind::Consult { call, channel, .. }
        | EventKind::Transfer { call, channel, .. }
        | EventKind::Conference { call, channel, .. } = &mut k
        {
            *call = "1700000000.1".into();
            *channel = "PJSIP/caller-00000001".into();
        }
        k
    }

    #[test]
    fn settings_changes_carry_their_source() {
        let f = Fields::from([
            ("Event", "TwinningSettingsChanged"),
            ("User", "1001"),
            ("Field", "dnd"),
            ("Value", "yes"),
            ("OldValue", "no"),
            ("Source", "console:alice"),
            ("Channel", ""),
            ("Node", ""),
        ]);
        let k = parse(&f).unwrap();
        assert_eq!(k.type_name(), "settings");
        assert!(k.describe().contains("by console:alice"), "{}", k.describe());
        let json = serde_json::to_value(Event::new("pbx1", Pbx::Asterisk, k)).unwrap();
        assert_eq!(json["type"], "settings");
        assert_eq!(json["node"], "pbx1");
        assert_eq!(json["pbx"], "asterisk");
        assert_eq!(json["source"], "console:alice");
    }

    #[test]
    fn lamps_and_other_events() {
        let lamp = Fields::from([
            ("Event", "DeviceStateChange"),
            ("Device", "TwinningCall:1001"),
            ("State", "INUSE"),
        ]);
        assert_eq!(
            parse(&lamp),
            Some(EventKind::Lamps {
                user: "1001".into(),
                lamp: "twinningcall".into(),
                state: "INUSE".into()
            })
        );
        for other in [
            Fields::from([("Event", "DeviceStateChange"), ("Device", "PJSIP/desk1001"), ("State", "INUSE")]),
            Fields::from([("Event", "Newchannel")]),
            Fields::from([("Event-Name", "CUSTOM"), ("Event-Subclass", "sofia::register")]),
            Fields::from([("Response", "Success")]),
        ] {
            assert_eq!(parse(&other), None, "{other:?}");
        }
        // A field missing, or a number that is not one: empty, zero; never a failure.
        let bare = Fields::from([("Event", "TwinningEnd"), ("Duration", "soon")]);
        assert!(matches!(parse(&bare), Some(EventKind::End { duration_ms: 0, .. })));
    }

    #[test]
    fn watch_lines() {
        let e = Event {
            node: "pbx1".into(),
            pbx: Pbx::Asterisk,
            at_ms: 3_600_000 + 61_250,
            kind: EventKind::Bridged {
                user: "1001".into(),
                call: "1.1".into(),
                channel: "c".into(),
                leg: "desk".into(),
            },
        };
        assert_eq!(e.line(), "01:01:01.250 pbx1 bridged 1001 desk");
    }
}
