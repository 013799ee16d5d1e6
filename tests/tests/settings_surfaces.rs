//! Every settings surface an admin has (TWINNING() in dialplan, the CLI, AMI) against a
//! real Asterisk: values round-trip through all of them, bad values are refused by all of
//! them with a clear reason and change nothing, and every change is audited.

use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::asterisk::AMI_READER;
use twinning_tests::status::{twinning_field, twinning_user};
use twinning_tests::{dialplan, Instance, InstanceConfig};

const TWINNING_CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
blocked_prefixes = 09, 0871, +449
home_prefixes = +44, 0044

[1001]
desk = PJSIP/1001
mobile = 07700900123

[1002]
desk = PJSIP/1002
";

fn instance() -> Instance {
    let mut config = InstanceConfig::default()
        .file("twinning.conf", TWINNING_CONF)
        .file("extensions.conf", &format!("[general]\n[default]\n{}", dialplan::CONTEXT));
    config.modules.extend(dialplan::MODULES.iter().map(|m| m.to_string()));
    Instance::start(config)
}

/// A field, a value to write, and its canonical value, which every surface reads back (a
/// PIN only as `****`: see [`shown`]).
const SAMPLES: &[(&str, &str, &str)] = &[
    ("mobile", "+447700900555", "+447700900555"),
    ("enabled", "on", "yes"),
    ("dial_delay", "2.50", "2.5"),
    ("answer_guard", "1500ms", "1.5"),
    ("confirm", "yes", "yes"),
    ("ring_time", "45", "45"),
    ("caller_id", "did", "did"),
    ("dnd", "true", "yes"),
    ("schedule", "mon-fri 08:00-18:00, sat 09:00-12:00", "mon-fri 08:00-18:00, sat 09:00-12:00"),
    ("hunt_group_calls", "yes", "yes"),
    ("forwarded_calls", "1", "yes"),
    ("pin", "4321", "4321"),
    ("mobile_access", "on", "yes"),
    ("mobile_callback", "true", "yes"),
    ("access_rate", "4", "4"),
];

/// Alternative values, so each surface is seen to change what the previous one set.
const SECOND: &[(&str, &str)] = &[
    ("mobile", "07700900999"),
    ("enabled", "no"),
    ("dial_delay", "3"),
    ("answer_guard", "0"),
    ("confirm", "no"),
    ("ring_time", "30"),
    ("caller_id", "+442071234567"),
    ("dnd", "no"),
    ("schedule", "always"),
    ("hunt_group_calls", "no"),
    ("forwarded_calls", "no"),
    ("pin", "98765"),
    ("mobile_access", "no"),
    ("mobile_callback", "no"),
    ("access_rate", "25"),
];

fn cli_value(a: &Instance, user: &str, field: &str) -> String {
    let out = a.cli(&format!("twinning show user {user}"));
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{field} ")))
        .unwrap_or_else(|| panic!("{field} not shown: {out}"));
    let v = line.split_once(": ").unwrap().1.trim_end_matches("  (runtime)").trim().to_owned();
    if v == "-" {
        String::new()
    } else {
        v
    }
}

/// What a surface reads back for `canonical`: a PIN that is set never leaves the module,
/// not even to the dialplan.
fn shown(field: &str, canonical: &str) -> String {
    if field == "pin" && !canonical.is_empty() {
        "****".into()
    } else {
        canonical.into()
    }
}

#[test]
fn every_field_round_trips_through_dialplan_cli_and_ami() {
    let a = instance();
    let mut ami = a.ami();
    for &(field, written, canonical) in SAMPLES {
        // Written from dialplan, on a channel.
        let out = dialplan::write(&mut ami, "1001", field, written);
        assert_eq!(
            out,
            dialplan::Outcome { error: String::new(), value: shown(field, canonical) },
            "{field}"
        );
        // Read back from dialplan on another channel (AMI's Getvar cannot reach the
        // function: it is escalating), the CLI and TwinningStatus.
        assert_eq!(dialplan::read(&mut ami, "1001", field).value, shown(field, canonical), "{field}");
        assert_eq!(cli_value(&a, "1001", field), shown(field, canonical), "{field}");
        assert_eq!(twinning_field(&mut ami, "1001", field), shown(field, canonical), "{field}");
    }
    for &(field, value) in SECOND {
        let out = a.cli(&format!("twinning set 1001 {field} {value}"));
        assert!(out.contains(" set to "), "{field}: {out}");
        assert_eq!(dialplan::read(&mut ami, "1001", field).value, shown(field, value), "{field} after CLI");
        // And back through AMI.
        let (_, first, _) = SAMPLES.iter().find(|s| s.0 == field).unwrap();
        let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", field), ("Value", first)]);
        assert_eq!(r.get("Response"), Some("Success"), "{field}: {r:?}");
        assert_eq!(
            dialplan::read(&mut ami, "1001", field).value,
            shown(field, SAMPLES.iter().find(|s| s.0 == field).unwrap().2)
        );
    }
    // Clearing the number and PIN: an empty value.
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    assert_eq!(cli_value(&a, "1001", "mobile"), "");
    a.cli("twinning set 1001 pin \"\"");
    assert_eq!(dialplan::read(&mut ami, "1001", "pin").value, "");
}

/// Values no surface may accept, each with the field it is tried on.
const BAD: &[(&str, &str, &str)] = &[
    ("1001", "mobile", "07700900123&PJSIP/2000"),
    ("1001", "mobile", "0770,0900123"),
    ("1001", "mobile", "07700900123@evil-trunk"),
    ("1001", "mobile", "PJSIP/07700900123"),
    ("1001", "mobile", "0770(0900123)"),
    ("1001", "mobile", "${EXTEN}"),
    ("1001", "mobile", "0770 0900123"),
    ("1001", "mobile", "07700900123\u{7}"),
    ("1001", "mobile", "０７７００９００１２３"),
    ("1001", "mobile", "077009001230000000000000"),
    ("1001", "mobile", "09011234567"),
    ("1001", "mobile", "+33612345678"),
    ("1001", "mobile", "+449001234567"),
    ("1001", "dial_delay", "-1"),
    ("1001", "dial_delay", "99999999999"),
    ("1001", "ring_time", "0"),
    ("1001", "answer_guard", "forever"),
    ("1001", "enabled", "maybe"),
    ("1001", "caller_id", "anonymous&x"),
    ("1001", "schedule", "mon-fri 8am-6pm"),
    ("1001", "pin", "12"),
    ("1001", "pin", "12ab"),
    ("1001", "mobile_access", "maybe"),
    ("1001", "mobile_callback", "yes&PJSIP/x"),
    ("1001", "access_rate", "0"),
    ("1001", "access_rate", "101"),
    ("1001", "access_rate", "10;x"),
    ("1001", "desk", "PJSIP/2000"),
    ("1001", "colour", "red"),
    ("9999", "enabled", "yes"),
    ("10 01", "enabled", "yes"),
];

fn snapshot(ami: &mut Ami) -> Vec<Vec<(String, String)>> {
    let (_, events) = ami.list("TwinningStatus", &[], "TwinningStatusComplete");
    events
        .into_iter()
        .filter(|e| e.is_event("TwinningUser"))
        .map(|e| e.headers.into_iter().filter(|(k, _)| k != "ActionID").collect())
        .collect()
}

#[test]
fn bad_values_are_refused_on_every_surface_and_change_nothing() {
    let a = instance();
    let mut ami = a.ami();
    let before = snapshot(&mut ami);
    for &(user, field, value) in BAD {
        let out = dialplan::write(&mut ami, user, field, value);
        assert!(!out.error.is_empty(), "dialplan accepted {user}.{field}={value:?}");

        let r = ami.action("TwinningSet", &[("User", user), ("Field", field), ("Value", value)]);
        assert_eq!(r.get("Response"), Some("Error"), "AMI accepted {user}.{field}={value:?}");
        let reason = r.must("Message");
        assert!(!reason.is_empty() && reason != "Error", "unclear reason for {value:?}: {reason}");

        if !value.contains(['"', '\u{7}']) {
            let out = a.cli(&format!("twinning set {user} {field} {value}"));
            assert!(
                out.contains("invalid")
                    || out.contains("unknown")
                    || out.contains("admin")
                    || out.contains("Usage"),
                "CLI accepted {user}.{field}={value:?}: {out}"
            );
        }
        assert_eq!(snapshot(&mut ami), before, "{user}.{field}={value:?} changed the settings");
    }
    let refused = ami.drain_events("TwinningSettingsRefused", Duration::from_millis(500));
    assert!(refused.len() >= BAD.len() * 2, "every refusal is reported: {} events", refused.len());
    let policy = refused
        .iter()
        .find(|e| e.get("Reason").is_some_and(|r| r.contains("blocked prefix 09")))
        .expect("policy reason");
    assert_eq!(policy.get("Field"), Some("mobile"));
    assert!(ami.drain_events("TwinningSettingsChanged", Duration::from_millis(100)).is_empty());
    // Asterisk's log names the refusals too.
    assert!(a.log().contains("refused change of 1001.mobile"), "{}", a.log());
}

#[test]
fn changes_are_audited_with_source_and_channel() {
    let a = instance();
    let mut ami = a.ami();
    dialplan::write(&mut ami, "1001", "mobile", "07700900888");
    let e = ami
        .event("TwinningSettingsChanged", &[("Source", "dialplan")], Duration::from_secs(5))
        .expect("event");
    assert_eq!(
        (e.must("User"), e.must("Field"), e.must("Value"), e.must("OldValue")),
        ("1001", "mobile", "07700900888", "07700900123")
    );
    assert!(e.must("Channel").starts_with("Local/write@twinning-test"), "{e:?}");
    a.cli("twinning set 1001 pin 2468");
    let e =
        ami.event("TwinningSettingsChanged", &[("Source", "cli")], Duration::from_secs(5)).expect("event");
    assert_eq!(e.must("Value"), "****", "a PIN never appears in events");
    ami.action("TwinningSet", &[("User", "1002"), ("Field", "enabled"), ("Value", "yes")]);
    let e =
        ami.event("TwinningSettingsChanged", &[("Source", "ami")], Duration::from_secs(5)).expect("event");
    assert_eq!((e.must("User"), e.must("Value")), ("1002", "yes"));
    assert!(a.log().contains("1002.enabled changed from 'no' to 'yes' by ami"), "{}", a.log());
    assert_eq!(a.cli("database get twinning 1001/mobile").trim(), "Value: 07700900888");
}

#[test]
fn changing_settings_over_ami_needs_config_permission() {
    let a = instance();
    let mut reader = a.ami_as(AMI_READER);
    let r = reader.action("TwinningSet", &[("User", "1001"), ("Field", "enabled"), ("Value", "yes")]);
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
    assert_eq!(r.get("Message"), Some("Permission denied"));
    let (r, _) = reader.list("TwinningStatus", &[], "TwinningStatusComplete");
    assert_eq!(r.get("Response"), Some("Success"), "reading is allowed: {r:?}");
    assert!(a.cli("twinning show user 1001").contains("enabled          : no"));
}

#[test]
fn status_lists_all_users_or_one_and_refuses_unknown() {
    let a = instance();
    let mut ami = a.ami();
    let (_, events) = ami.list("TwinningStatus", &[], "TwinningStatusComplete");
    let users: Vec<_> =
        events.iter().filter(|e| e.is_event("TwinningUser")).map(|e| e.must("User").to_owned()).collect();
    assert_eq!(users, ["1001", "1002"]);
    assert_eq!(events.last().unwrap().get("ListItems"), Some("2"));
    let user = twinning_user(&mut ami, "1001");
    assert_eq!(
        (user.must("Desk"), user.must("Mobile"), user.must("Enabled")),
        ("PJSIP/1001", "07700900123", "no")
    );
    let r = ami.action("TwinningStatus", &[("User", "nobody")]);
    assert_eq!(r.get("Response"), Some("Error"));
    assert!(r.must("Message").contains("unknown twinning user"), "{r:?}");
}

#[test]
fn cli_completes_users_and_fields() {
    let a = instance();
    let users = a.cli("_command matchesarray \"twinning show user \" \"\"");
    assert!(users.contains("1001") && users.contains("1002"), "{users}");
    let fields = a.cli("_command matchesarray \"twinning set 1001 d\" \"d\"");
    assert!(fields.contains("dial_delay") && fields.contains("dnd"), "{fields}");
    assert!(!fields.contains("desk"), "desk is not offered: it is admin-only: {fields}");
    let usage = a.cli("twinning set 1001");
    assert!(usage.contains("Usage: twinning set <user> <field> <value>"), "{usage}");
}
