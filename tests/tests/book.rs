//! The admin guide (`docs/`) against the code: the reference parts are what the code's
//! references render, the AMI and ESL lists name every action, event, field, subclass and
//! API command the modules have (and nothing else), Asterisk's XML documentation agrees,
//! and the book's links, includes, snippets, script names and figures check out. No PBX
//! is needed; `scripts/book` runs this too.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::Duration;

use twinning_core::call::{
    CallStatus, ConferenceResult, ConsultResult, HandoverResult, HandoverTrigger, LegFailure, LegId, LegKind,
    LegNotice, Notification, RefusalReason, TransferKind,
};
use twinning_core::{Change, Field, UserId};
use twinning_service::call_events::{self, CallEvent};
use twinning_service::Source;
use twinning_tests::book::{self, protocol};

fn source(path: &str) -> String {
    fs::read_to_string(book::root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fail_on(problems: Vec<String>) {
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn generated_parts_match_the_references() {
    fail_on(book::sync(false));
}

#[test]
fn links_includes_snippets_scripts_figures_readme_and_samples() {
    fail_on(book::check_sources());
}

/// `Action { name: c"TwinningSet", authority: Class::Config, ... }` in ami.rs.
fn actions_in_code() -> BTreeMap<String, String> {
    let code = source("asterisk-module/src/ami.rs");
    let mut out = BTreeMap::new();
    for line in code.lines().filter(|l| l.contains("Action { name: c\"")) {
        let name = line.split("c\"").nth(1).and_then(|r| r.split('"').next()).expect("a name");
        let class = line.split("Class::").nth(1).and_then(|r| r.split(',').next()).expect("a class");
        out.insert(name.to_string(), class.to_lowercase());
    }
    out
}

#[test]
fn every_ami_action_is_listed_with_its_class() {
    let code = actions_in_code();
    assert!(!code.is_empty(), "no actions found in asterisk-module/src/ami.rs");
    let listed: BTreeMap<String, String> =
        protocol::ACTIONS.iter().map(|a| (a.name.to_string(), a.class.to_string())).collect();
    assert_eq!(listed, code, "tests/src/book/protocol.rs ACTIONS against asterisk-module/src/ami.rs");
}

/// One of every event the service builds, with every optional field present somewhere.
fn sample_events() -> Vec<CallEvent> {
    let leg = |notice| Notification::Leg { leg: LegId(1), kind: LegKind::MOBILE, notice };
    let mut notifications = vec![
        Notification::Start { mobile: Some("07700900123".into()) },
        leg(LegNotice::Dialing { target: "PJSIP/x".into() }),
        leg(LegNotice::Guarded { after: Duration::from_millis(300) }),
        leg(LegNotice::Declined { timeout: true }),
        leg(LegNotice::Failed { cause: LegFailure::Busy }),
        Notification::Refused { leg: LegKind::MOBILE, reason: RefusalReason::Cap, detail: "x".into() },
        Notification::Bridged { leg: LegId(1), kind: LegKind::MOBILE },
        Notification::Handover {
            from: LegKind::Desk,
            to: LegKind::MOBILE,
            trigger: HandoverTrigger::Ami,
            result: HandoverResult::Started,
            detail: String::new(),
        },
        Notification::Hold { on: true },
        Notification::Transfer {
            kind: TransferKind::Attended,
            context: "default".into(),
            exten: "1002".into(),
        },
        Notification::Consult {
            result: ConsultResult::Failed,
            context: "consult".into(),
            exten: "1002".into(),
            detail: "busy".into(),
        },
        Notification::Conference { result: ConferenceResult::Started, detail: "1002@consult".into() },
        Notification::End { status: CallStatus::Answered, answered_by: None, duration: Duration::ZERO },
    ];
    let mut out: Vec<CallEvent> =
        notifications.drain(..).map(|n| call_events::call_event("1001", &n)).collect();
    let change = Change {
        user: UserId::parse("1001").unwrap(),
        field: Field::Mobile,
        old: String::new(),
        new: "07700900123".into(),
    };
    out.push(call_events::settings_changed(&change, &Source::Cli));
    out.push(call_events::settings_refused("1001", "mobile", &Source::Ami, "x"));
    out.push(call_events::request_refused("Twinning", "", "x"));
    out.push(call_events::device_refused("pickup", "1001", "PJSIP/desk1002", "PJSIP/desk1002-1", "x"));
    out.push(call_events::auth_failed("1001", "incorrect", 1, 0));
    out.push(call_events::access("access", "granted", "pin", "1001", "07700900123", "01632960123"));
    out
}

#[test]
fn every_event_is_listed_with_its_subclass_and_fields() {
    let mut built: BTreeMap<&str, (&str, BTreeSet<&str>)> = BTreeMap::new();
    for e in sample_events() {
        let entry = built.entry(e.ami_name).or_insert((e.subclass, BTreeSet::new()));
        assert_eq!(entry.0, e.subclass, "{} is built with two subclasses", e.ami_name);
        entry.1.extend(e.fields.iter().map(|(f, _)| *f));
    }
    // Field names the service's source spells (`("Cause", ...)`): a field that only some
    // outcome sets, and no sample above builds, is still one the list must name.
    let code = source("crates/twinning-service/src/call_events.rs");
    let code_only = code.split("#[cfg(test)]").next().unwrap_or(&code);
    let spelled_fields: BTreeSet<&str> = code_only
        .split("(\"")
        .skip(1)
        .filter_map(|s| s.split_once("\","))
        .map(|(name, _)| name)
        .filter(|n| {
            !n.starts_with("Twinning") // the event names, in `("TwinningBridged", ...)`
                && n.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && n.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .collect();
    let all_listed: BTreeSet<&str> =
        protocol::EVENTS.iter().flat_map(|e| e.fields.iter().map(|(f, _)| *f)).collect();
    for f in &spelled_fields {
        assert!(all_listed.contains(f), "call_events.rs sets a field {f} that no event in protocol.rs lists");
    }
    for (ami, (subclass, fields)) in &built {
        let listed =
            protocol::event(ami).unwrap_or_else(|| panic!("event {ami} is not in protocol.rs EVENTS"));
        assert_eq!(listed.subclass, Some(*subclass), "{ami}'s subclass");
        let listed_fields: BTreeSet<&str> = listed.fields.iter().map(|(f, _)| *f).collect();
        let missing: Vec<&&str> = fields.difference(&listed_fields).collect();
        assert!(missing.is_empty(), "{ami} is built with {missing:?}, which protocol.rs does not list");
        let unknown: Vec<&&str> =
            listed_fields.iter().filter(|f| !fields.contains(*f) && !spelled_fields.contains(*f)).collect();
        assert!(
            unknown.is_empty(),
            "protocol.rs lists {unknown:?} for {ami}, which call_events.rs never sets"
        );
    }
    // Every event name the service's source spells is one of those built above (so a new
    // event without a sample here fails), and the list has no event the code lacks.
    let spelled: BTreeSet<String> = code
        .split('"')
        .filter(|s| s.starts_with("Twinning") && s.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(String::from)
        .collect();
    let built_names: BTreeSet<String> = built.keys().map(|s| s.to_string()).collect();
    assert_eq!(spelled, built_names, "event names in call_events.rs against the samples in this test");
    let ami_rs = source("asterisk-module/src/ami.rs");
    for e in protocol::EVENTS {
        match e.subclass {
            Some(_) => {
                assert!(built.contains_key(e.ami), "{} is listed but the service builds no such event", e.ami)
            }
            None => assert!(
                ami_rs.contains(&format!("\"{}\"", e.ami)),
                "{} is listed but ami.rs sends none",
                e.ami
            ),
        }
    }
}

#[test]
fn subclasses_are_the_reserved_ones() {
    let listed: BTreeSet<&str> = protocol::EVENTS.iter().filter_map(|e| e.subclass).collect();
    let reserved: BTreeSet<&str> = call_events::SUBCLASSES.iter().copied().collect();
    assert_eq!(listed, reserved, "protocol.rs subclasses against call_events::SUBCLASSES");
}

#[test]
fn event_classes_follow_the_host() {
    // asterisk-module/src/pbx.rs: call events as `call`, changes as `config`, refusals
    // and PIN failures through `security_event` as `security`.
    let pbx = source("asterisk-module/src/pbx.rs");
    assert!(pbx.contains("emit_event(Some(caller), Class::Call, e)"), "call events are no longer class call");
    assert!(
        pbx.contains("Class::Config, &call_events::settings_changed"),
        "settings changes are no longer class config"
    );
    assert!(
        pbx.contains("Class::Security,\n            &call_events::settings_refused"),
        "settings refusals moved class"
    );
    for e in protocol::EVENTS {
        let expected = match e.ami {
            "TwinningSettingsChanged" => "config",
            "TwinningSettingsRefused"
            | "TwinningRequestRefused"
            | "TwinningAuthFailed"
            | "TwinningAccess" => "security",
            "TwinningUser"
            | "TwinningStatusComplete"
            | "TwinningCall"
            | "TwinningCallsComplete"
            | "TwinningMetric"
            | "TwinningMetricsComplete" => "reporting",
            _ => "call",
        };
        assert_eq!(e.class, expected, "{}'s class", e.ami);
    }
}

#[test]
fn api_forms_are_the_usage_line() {
    let usage = twinning_service::api_command::USAGE.trim_start_matches("twinning ");
    let code: Vec<&str> = usage.split(" | ").collect();
    let listed: Vec<&str> = protocol::API.iter().map(|f| f.usage).collect();
    assert_eq!(listed, code, "protocol.rs API against twinning_service::api_command::USAGE");
}

/// The parameters of an XML element found by its opening text, up to its closing tag.
fn xml_parameters(xml: &str, open: &str, close: &str) -> BTreeSet<String> {
    let at = xml.find(open).unwrap_or_else(|| panic!("no {open} in the XML documentation"));
    let body = &xml[at..at + xml[at..].find(close).expect("closed")];
    body.split("<parameter name=\"").skip(1).filter_map(|p| p.split('"').next()).map(String::from).collect()
}

#[test]
fn asterisk_xml_documents_every_action_and_event() {
    let xml = source("asterisk-module/docs/twinning-en_US.xml");
    let mut problems = Vec::new();
    for a in protocol::ACTIONS {
        let params = xml_parameters(&xml, &format!("<manager name=\"{}\"", a.name), "</syntax>");
        let mut listed: BTreeSet<String> = a.headers.iter().map(|(h, _, _)| h.to_string()).collect();
        listed.insert("ActionID".into());
        if params != listed {
            problems.push(format!("{}: the XML has headers {params:?}, protocol.rs {listed:?}", a.name));
        }
    }
    for e in protocol::EVENTS.iter().filter(|e| e.ami != "TwinningUser") {
        let open = format!("<managerEvent name=\"{}\"", e.ami);
        let Some(at) = xml.find(&open) else {
            problems.push(format!("{}: not in the XML documentation", e.ami));
            continue;
        };
        let params = xml_parameters(&xml, &open, "</managerEvent>");
        let class = format!("class=\"EVENT_FLAG_{}\"", e.class.to_uppercase());
        if !xml[at..at + 200].contains(&class) {
            problems.push(format!("{} is documented with another class than {}", e.ami, e.class));
        }
        let mut listed: BTreeSet<String> = e.fields.iter().map(|(f, _)| f.to_string()).collect();
        // The channel the event was raised for, where there is one.
        let channel: BTreeSet<String> = ["Channel", "Uniqueid"].iter().map(|s| s.to_string()).collect();
        let extra: Vec<&String> = params.difference(&listed).filter(|p| !channel.contains(*p)).collect();
        if !extra.is_empty() {
            problems.push(format!("{}: the XML documents {extra:?}, which protocol.rs does not list", e.ami));
        }
        listed.retain(|f| !params.contains(f));
        if !listed.is_empty() {
            problems.push(format!("{}: the XML does not document {listed:?}", e.ami));
        }
    }
    fail_on(problems);
}

#[test]
fn the_asterisk_xml_is_well_formed_enough() {
    // Asterisk loads it with libxml2: every element opened is closed, in order.
    let xml = source("asterisk-module/docs/twinning-en_US.xml");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml.as_str();
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let end = rest.find('>').expect("a tag is closed");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| !c.is_whitespace()).collect();
        if tag.starts_with('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "</{name}> closes another element");
        } else {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert!(!xml.contains("&n") && !xml.contains("<n>"), "a raw <n> or & in the XML");
}
