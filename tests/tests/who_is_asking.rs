//! Who is asking? A request acts for a user only when Asterisk proved it may: the AMI
//! class of the account, or the device a channel came from. Never a caller ID, never
//! a function reached around the class that guards it. PINs are never shown or stored
//! in clear, and a withheld caller stays withheld on the mobile.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::asterisk::{AMI_CONFIG, AMI_CTI};
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::status::twinning_field;
use twinning_tests::{dialplan, Instance};

const WAIT: Duration = Duration::from_secs(40);

/// The harness's two users, each with a desk endpoint that names its user.
const CONF: &str = pbx::TWINNING_CONF;

fn set(ami: &mut Ami, user: &str, field: &str, value: &str) {
    let r = ami.action("TwinningSet", &[("User", user), ("Field", field), ("Value", value)]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
}

fn permission_denied(r: &twinning_tests::Message) -> bool {
    r.get("Response") == Some("Error") && r.get("Message").is_some_and(|m| m.contains("Permission denied"))
}

#[test]
fn ami_reaches_settings_only_through_the_class_that_guards_them() {
    let pbx = pbx::start(CONF, "", PhonePorts::new());
    let mut admin = pbx.ami();
    set(&mut admin, "1001", "pin", "4321");

    // A CTI panel's account (read call,reporting; write call).
    let mut cti = pbx.ami_as(AMI_CTI);
    let r = cti.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "07700900777")]);
    assert!(permission_denied(&r), "TwinningSet needs config: {r:?}");
    // Asterisk answers Getvar/Setvar with Success whatever a function does; what matters
    // is that the function was not run (the log says so) and nothing came back or changed.
    let r = cti.action("Getvar", &[("Variable", "TWINNING(1001,pin)")]);
    assert!(!format!("{r:?}").contains("4321"), "{r:?}");
    assert_eq!(r.get("Value").unwrap_or_default(), "", "TWINNING() answered AMI: {r:?}");
    cti.action("Setvar", &[("Variable", "TWINNING(1001,mobile)"), ("Value", "07700900777")]);
    assert!(pbx.log().contains("Dangerous function TWINNING"), "Asterisk did not block the function");
    let r = cti.action("TwinningHandover", &[("User", "1001"), ("To", "desk")]);
    assert!(!permission_denied(&r), "TwinningHandover is call control: {r:?}");
    assert!(r.must("Message").contains("no answered twinned call"), "{r:?}");
    let r = cti.action("TwinningStatus", &[("User", "1001")]);
    assert!(permission_denied(&r), "TwinningStatus needs reporting (write): {r:?}");

    // A provisioning account has config and reporting, not call control.
    let mut provisioning = pbx.ami_as(AMI_CONFIG);
    let r = provisioning.action("TwinningHandover", &[("User", "1001"), ("To", "desk")]);
    assert!(permission_denied(&r), "{r:?}");
    set(&mut provisioning, "1001", "dnd", "yes");
    assert_eq!(twinning_field(&mut provisioning, "1001", "pin"), "****");

    // Even the admin account cannot reach the function from outside the dialplan.
    let r = admin.action("Getvar", &[("Variable", "TWINNING(1001,enabled)")]);
    assert_eq!(r.get("Value").unwrap_or_default(), "", "{r:?}");
    assert_eq!(twinning_field(&mut admin, "1001", "mobile"), "07700900123", "nothing changed");

    // AstDB holds the hash; the dialplan reads ****.
    admin.action("DBGet", &[("Family", "twinning"), ("Key", "1001/pin")]);
    let r = admin.event("DBGetResponse", &[], Duration::from_secs(5)).expect("DBGetResponse");
    let shown = r.must("Val").to_owned();
    assert!(!shown.contains("4321") && shown.contains("$argon2id$"), "{shown}");
    assert_eq!(dialplan::read(&mut admin, "1001", "pin").value, "****");
    assert_eq!(dialplan::read(&mut admin, "1002", "pin").value, "", "no PIN reads empty");
}

#[test]
fn a_pin_is_never_at_rest_in_clear_and_still_works_after_a_restart() {
    let mut pbx = pbx::start(CONF, "", PhonePorts::new());
    let mut ami = pbx.ami();
    set(&mut ami, "1001", "pin", "482619");
    let journal = pbx.path("varlib/twinning/overrides.journal");
    let astdb = pbx.path("varlib/astdb.sqlite3");
    for file in [&journal, &astdb] {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!String::from_utf8_lossy(&bytes).contains("482619"), "{} holds the PIN", file.display());
    }
    let mode = std::fs::metadata(&journal).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "journal mode {mode:o}");
    assert!(pbx.cli("database show twinning").contains("$argon2id$"));

    // A journal from an older version, with the PIN in clear: hashed at load.
    pbx.stop();
    let old = std::fs::read_to_string(&journal).unwrap();
    let clear: String = old
        .lines()
        .map(|l| if l.contains("\tpin\t") { "set\t1001\tpin\t482619".to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(&journal, clear).unwrap();
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o644)).unwrap();
    pbx.restart();
    let migrated = std::fs::read_to_string(&journal).unwrap();
    assert!(!migrated.contains("482619") && migrated.contains("$argon2id$"), "{migrated}");
    assert_eq!(std::fs::metadata(&journal).unwrap().permissions().mode() & 0o777, 0o600);

    // The right and a wrong PIN still behave, from the user's desk.
    let mut ami = pbx.ami();
    let code = |keys: &str| {
        let mut p = Phone::call_as(
            &pbx,
            "code",
            "desk1001",
            "*2107700900999",
            &Caller::KeyIn { digits: keys.into() },
        );
        assert_eq!(p.wait(WAIT), Some(0), "{}", p.summary());
    };
    code("111111#");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900123");
    code("482619#");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900999");
}

/// What 1002's settings are now, to compare before and after an attempt.
fn settings_of(ami: &mut Ami, user: &str) -> Vec<String> {
    ["mobile", "enabled", "dnd"].iter().map(|f| twinning_field(ami, user, f)).collect()
}

fn refusals(ami: &mut Ami) -> Vec<twinning_tests::Message> {
    ami.drain_events("TwinningRequestRefused", Duration::from_millis(500))
}

#[test]
fn a_phone_claiming_another_user_changes_nothing_and_takes_no_call() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(CONF, "", ports);
    let mut ami = pbx.ami();
    let before = settings_of(&mut ami, "1002");
    for (code, keys) in [("*2107700900777", ""), ("*22", ""), ("*23", ""), ("twin1002", "")] {
        let mut p =
            Phone::call_as(&pbx, "intruder", "intruder", code, &Caller::KeyIn { digits: keys.into() });
        p.wait(WAIT);
        let refused = refusals(&mut ami);
        assert!(
            refused
                .iter()
                .any(|e| e.get("Device") == Some("PJSIP/intruder") && e.get("User") == Some("1002")),
            "{code}: no security event naming the device: {refused:?}"
        );
        assert_eq!(settings_of(&mut ami, "1002"), before, "{code} changed 1002's settings");
    }

    // 1002's live call on the mobile: the intruder's *27 does not take it.
    let desk = Phone::uas(&pbx, "desk2", ports.desk2, &Answer::Never);
    let mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::After { after_ms: 300, dtmf: vec![] });
    let mut caller = Phone::call(&pbx, "caller", "1002", &Caller::HangUpAfter { hold_ms: 6000 });
    ami.event("TwinningBridged", &[("Leg", "mobile")], WAIT).expect("answered on the mobile");
    let mut pickup =
        Phone::call_as(&pbx, "intruder-pickup", "intruder", "*27", &Caller::KeyIn { digits: String::new() });
    pickup.wait(WAIT);
    assert!(refusals(&mut ami).iter().any(|e| e.get("Application") == Some("pickup")));
    assert!(ami.drain_events("TwinningHandover", Duration::from_millis(500)).is_empty(), "the call moved");
    let end = ami.event("TwinningEnd", &[], WAIT).expect("TwinningEnd");
    assert_eq!(end.must("AnsweredBy"), "mobile");
    caller.wait(WAIT);
    drop((desk, mobile));

    // 1002's own desk still works.
    let mut own = Phone::call_as(&pbx, "own", "desk1002", "*22", &Caller::KeyIn { digits: String::new() });
    assert_eq!(own.wait(WAIT), Some(0), "{}", own.summary());
    assert_eq!(twinning_field(&mut ami, "1002", "enabled"), "no");
}

#[test]
fn a_withheld_caller_reaches_the_mobile_withheld() {
    let ports = PhonePorts::new();
    let pbx: Instance = pbx::start(CONF, "", ports);
    let mut ami = pbx.ami();
    let mut desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::After { after_ms: 300, dtmf: vec![] });
    let mut caller = Phone::call(&pbx, "caller", "69", &Caller::HangUpAfter { hold_ms: 1000 });
    ami.event("TwinningEnd", &[], WAIT).expect("TwinningEnd");
    caller.wait(WAIT);
    mobile.wait(Duration::from_secs(5));
    desk.wait(Duration::from_secs(5));
    let invite = mobile.received("INVITE").into_iter().next().expect("the mobile was rung");
    let from = invite.header("From").unwrap_or_default();
    assert!(!from.contains("sip:caller@"), "the caller's number reached the trunk: {from}");
    assert!(from.to_ascii_lowercase().contains("anonymous"), "From is not anonymous: {from}");
}
