//! PIN entry rate-limited across calls: `TwinningAuthenticate()` in the shipped sample
//! dialplan, dialed from the user's own phone over SIP with the PIN keyed as SIP INFO.
//! Wrong PINs over several calls lock the user out; during the lockout the right PIN is
//! refused and the change it guards is not made; afterwards the right PIN works again.

use std::time::{Duration, Instant};

use twinning_tests::ami::Ami;
use twinning_tests::module_build::workspace_root;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Caller, Phone};
use twinning_tests::status::twinning_field;
use twinning_tests::{dialplan, Instance, InstanceConfig, Message};

/// Long enough that a call placed right after the lockout starts falls inside it on a
/// slow machine, short enough to wait out.
const LOCKOUT_SECS: u64 = 30;

fn conf() -> String {
    format!(
        "\
[general]
mobile_dial = PJSIP/{{number}}@mobile-trunk
blocked_prefixes = 09
pin_max_attempts = 3
pin_lockout = {LOCKOUT_SECS}
pin_window = 3600

[1001]
desk = PJSIP/desk1001
mobile = 07700900123
pin = 4826

[1002]
desk = PJSIP/desk1002
"
    )
}

/// The PBX with the sample feature codes, plus `*99`, which only authenticates and
/// reports `TWINNINGAUTH` with a UserEvent.
fn start(conf: &str) -> Instance {
    let pbx = pbx::start(conf, "", PhonePorts::new());
    let sample = std::fs::read_to_string(
        workspace_root().join("asterisk-module/conf/extensions_twinning.conf.sample"),
    )
    .unwrap();
    let features = sample.split("[twinning-calls]").next().unwrap().replacen(
        "[twinning-features]\n",
        "[twinning-features]\n\
         exten => *99,1,TwinningAuthenticate(${CALLERID(num)})\n \
         same => n,Answer()\n \
         same => n,UserEvent(TwinningAuthResult,Auth: ${TWINNINGAUTH},Error: ${TWINNINGERROR})\n \
         same => n,Hangup()\n",
        1,
    );
    pbx.write_file("extensions_twinning.conf", &features);
    let out = pbx.cli("dialplan reload");
    assert!(out.contains("Dialplan reloaded"), "{out}");
    pbx
}

fn dial(pbx: &Instance, from: &str, code: &str, keys: &str) {
    let mut phone = Phone::call_as(pbx, "phone", from, code, &Caller::KeyIn { digits: keys.into() });
    assert_eq!(phone.wait(Duration::from_secs(60)), Some(0), "{}", phone.summary());
}

fn auth_result(ami: &mut Ami) -> String {
    ami.event("UserEvent", &[("UserEvent", "TwinningAuthResult")], Duration::from_secs(30))
        .expect("the dialplan reported TWINNINGAUTH")
        .must("Auth")
        .to_owned()
}

/// Whether Asterisk's log says `text`, given its logger thread a moment to write it.
fn logged(pbx: &Instance, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pbx.log().contains(text) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

fn failures(ami: &mut Ami, settle: Duration) -> Vec<Message> {
    ami.drain_events("TwinningAuthFailed", settle)
}

fn summary(events: &[Message]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| (e.must("Reason").to_owned(), e.must("Attempts").to_owned(), e.must("LockedFor").to_owned()))
        .collect()
}

#[test]
fn the_right_pin_is_ok_and_a_user_without_a_pin_is_not_asked() {
    let pbx = start(&conf());
    let mut ami = pbx.ami();
    dial(&pbx, "desk1001", "*99", "4826#");
    assert_eq!(auth_result(&mut ami), "OK");
    dial(&pbx, "desk1001", "*2107700900999", "4826#");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900999");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "yes");
    dial(&pbx, "desk1002", "*99", "");
    assert_eq!(auth_result(&mut ami), "NOPIN");
    assert!(failures(&mut ami, Duration::from_millis(500)).is_empty());
    assert!(logged(&pbx, "Playing 'auth-thankyou"), "{}", pbx.log());
    // The application is documented.
    let doc = pbx.cli("core show application TwinningAuthenticate");
    assert!(doc.contains("TWINNINGAUTH") && doc.contains("pin_lockout"), "{doc}");
}

#[test]
fn wrong_pins_across_calls_lock_the_user_out_until_the_lockout_ends() {
    let pbx = start(&conf());
    let mut ami = pbx.ami();

    // Call 1: two wrong PINs and an empty entry use up the call's three tries.
    dial(&pbx, "desk1001", "*2107700900999", "1111#2222##");
    let events = failures(&mut ami, Duration::from_secs(1));
    assert_eq!(
        summary(&events),
        [("incorrect".into(), "1".into(), "0".into()), ("incorrect".into(), "2".into(), "0".into())]
    );
    assert!(events[0].must("Channel").starts_with("PJSIP/desk1001-"), "{:?}", events[0]);
    assert!(!events[0].must("Uniqueid").is_empty());
    assert_eq!(events[0].must("User"), "1001");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900123");

    // Call 2: the third wrong PIN, in a new call, locks the user out.
    dial(&pbx, "desk1001", "*99", "3333#");
    assert_eq!(auth_result(&mut ami), "LOCKED");
    let lockout = failures(&mut ami, Duration::from_secs(1));
    let locked_at = Instant::now();
    assert_eq!(summary(&lockout), [("lockout".into(), "3".into(), LOCKOUT_SECS.to_string())]);

    // Call 3, during the lockout: the right PIN is refused, and the change is not made.
    dial(&pbx, "desk1001", "*2107700900999", "4826#");
    let refused = failures(&mut ami, Duration::from_secs(1));
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!((refused[0].must("Reason"), refused[0].must("Attempts")), ("locked", "4"));
    let left: u64 = refused[0].must("LockedFor").parse().unwrap();
    assert!(left > 0 && left <= LOCKOUT_SECS, "{left}");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900123");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "no");
    // Also with the application alone.
    dial(&pbx, "desk1001", "*99", "4826#");
    assert_eq!(auth_result(&mut ami), "LOCKED");
    assert_eq!(failures(&mut ami, Duration::from_secs(1)).len(), 1);
    assert!(logged(&pbx, "wrong PIN for 1001; locked out for"), "{}", pbx.log());
    assert!(logged(&pbx, "a PIN was entered while 1001 is locked out"), "{}", pbx.log());

    // After the lockout the right PIN works again and the change is made.
    let end = Duration::from_secs(LOCKOUT_SECS + 1);
    if let Some(rest) = end.checked_sub(locked_at.elapsed()) {
        std::thread::sleep(rest);
    }
    dial(&pbx, "desk1001", "*2107700900999", "4826#");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900999");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "yes");
    assert!(failures(&mut ami, Duration::from_millis(500)).is_empty());
    // The right PIN forgot the count: one wrong PIN is the first again.
    dial(&pbx, "desk1001", "*99", "1111#4826#");
    assert_eq!(auth_result(&mut ami), "OK");
    assert_eq!(
        summary(&failures(&mut ami, Duration::from_secs(1))),
        [("incorrect".into(), "1".into(), "0".into())]
    );
}

#[test]
fn an_admin_setting_a_new_pin_lifts_the_lockout() {
    let pbx = start(&conf().replace("pin_max_attempts = 3", "pin_max_attempts = 1"));
    let mut ami = pbx.ami();
    dial(&pbx, "desk1001", "*99", "1111#");
    assert_eq!(auth_result(&mut ami), "LOCKED");
    let out = pbx.cli("twinning set 1001 pin 13579");
    assert!(out.contains(" set to "), "{out}");
    dial(&pbx, "desk1001", "*99", "13579#");
    assert_eq!(auth_result(&mut ami), "OK");
}

#[test]
fn bad_pin_limits_are_refused_on_reload_and_nothing_changes() {
    let pbx = start(&conf());
    let mut ami = pbx.ami();
    for (bad, line) in [
        ("pin_max_attempts = 0", 4),
        ("pin_max_attempts = many", 4),
        ("pin_max_attempts = 3&x", 4),
        ("pin_lockout = 0", 5),
        ("pin_lockout = 99999", 5),
        ("pin_window = -5", 6),
    ] {
        let key = bad.split(" =").next().unwrap();
        let original = conf().lines().find(|l| l.starts_with(key)).unwrap().to_owned();
        // A bad limit, with a user change that must not apply either.
        let text = conf().replace(&original, bad).replace("mobile = 07700900123", "mobile = 07700900555");
        pbx.write_file("twinning.conf", &text);
        let named = format!("line {line}: {key}");
        let before = pbx.log().matches(&named).count();
        pbx.cli("module reload app_twinning.so");
        let refused = ami
            .event("TwinningSettingsRefused", &[("Source", "reload")], Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{bad}: no security event for the refused reload"));
        assert!(refused.must("Reason").contains(&named), "{refused:?}");
        // Asterisk's logger writes on its own thread: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while pbx.log().matches(&named).count() <= before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = pbx.log();
        assert!(
            log.matches(&named).count() > before,
            "the log names line {line} for {bad:?}: {}",
            log.lines().filter(|l| l.contains("twinning")).collect::<Vec<_>>().join("\n")
        );
        assert_eq!(
            twinning_field(&mut ami, "1001", "mobile"),
            "07700900123",
            "{bad}: nothing of the file applied"
        );
    }
    // The limits in force are still the old ones: three wrong PINs to a lockout.
    pbx.write_file("twinning.conf", &conf());
    dial(&pbx, "desk1001", "*99", "1111#2222#3333#");
    assert_eq!(auth_result(&mut ami), "LOCKED");
    assert_eq!(
        summary(&failures(&mut ami, Duration::from_secs(1))).last().unwrap(),
        &("lockout".to_owned(), "3".to_owned(), LOCKOUT_SECS.to_string())
    );
}

/// `TwinningAuthenticate(${TARGS})` on a Local channel, without SIP: only outcomes that ask
/// for nothing (no PIN, bad arguments, an internal error) can finish there.
fn local_instance(env: Option<&str>) -> Instance {
    let dialplan = "[general]\n[default]\n[auth-test]\n\
        exten => s,1,TwinningAuthenticate(${BASE64_DECODE(${TARGS64})})\n \
        same => n,UserEvent(TwinningAuthResult,Tag: ${TTAG},Auth: ${TWINNINGAUTH},Error: ${TWINNINGERROR})\n \
        same => n,Hangup()\n";
    let mut config =
        InstanceConfig::default().file("twinning.conf", &conf()).file("extensions.conf", dialplan);
    config.modules.extend(dialplan::MODULES.iter().map(|m| m.to_string()));
    if let Some(e) = env {
        config.env.push(("TWINNING_INJECT_PANIC".into(), e.into()));
    }
    Instance::start(config)
}

fn run_local(ami: &mut Ami, tag: &str, args: &str) -> Message {
    // Base64, since AMI splits Originate variables at commas.
    let vars = [format!("TARGS64={}", dialplan::base64_encode(args.as_bytes())), format!("TTAG={tag}")];
    let mut headers = vec![("Channel", "Local/s@auth-test"), ("Application", "Wait"), ("Data", "1")];
    headers.push(("Async", "true"));
    headers.extend(vars.iter().map(|v| ("Variable", v.as_str())));
    let r = ami.action("Originate", &headers);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    ami.event("UserEvent", &[("UserEvent", "TwinningAuthResult"), ("Tag", tag)], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no result for {args:?}"))
}

#[test]
fn bad_arguments_and_internal_errors_fail_closed() {
    let a = local_instance(None);
    let mut ami = a.ami();
    assert_eq!(run_local(&mut ami, "nopin", "1002").must("Auth"), "NOPIN");
    for (tag, args, error) in [
        ("unknown", "9999", "unknown twinning user"),
        ("empty", "", "usage"),
        ("option", "1001,x(1)", "unknown option"),
        ("tries", "1001,a(50)", "tries must be 1 to 10"),
        ("injected", "1002&1001", "unknown twinning user"),
    ] {
        let e = run_local(&mut ami, tag, args);
        assert_eq!(e.must("Auth"), "FAILED", "{args:?}: {e:?}");
        assert!(e.must("Error").contains(error), "{args:?}: {e:?}");
        let refused = ami
            .event(
                "TwinningRequestRefused",
                &[("Application", "TwinningAuthenticate")],
                Duration::from_secs(5),
            )
            .unwrap_or_else(|| panic!("{args:?}: no security event"));
        assert!(refused.must("Reason").contains(error), "{refused:?}");
    }
    let a = local_instance(Some("TwinningAuthenticate()"));
    let mut ami = a.ami();
    assert_eq!(
        run_local(&mut ami, "panic", "1002").must("Auth"),
        "FAILED",
        "never NOPIN or OK after a panic"
    );
    assert!(logged(&a, "internal error in TwinningAuthenticate(): fault injected"), "{}", a.log());
    assert!(a.is_running_asterisk());
}
