//! The twinning button and its lamps over real SIP: a SIPp phone subscribed (dialog-info)
//! to the sample's key `twin1001` (hint `Twinning:1001`) and to the busy lamp `1001`
//! (`PJSIP/desk1001&TwinningCall:1001`) reads each NOTIFY as twinning is switched from
//! every surface and as a call rings, is answered on the mobile, is pulled to the desk and
//! ends; the key itself toggles, pushes and pulls; `DEVICE_STATE()` reads the same after
//! a restart; bad input fails and changes nothing.

use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::dialplan;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::status::twinning_field;
use twinning_tests::subscriber::{Lamp, Subscriber};
use twinning_tests::{Instance, Message};

const WAIT: Duration = Duration::from_secs(40);
const LAMP_WAIT: Duration = Duration::from_secs(10);

fn device_state(ami: &mut Ami, device: &str) -> String {
    ami.action("Getvar", &[("Variable", &format!("DEVICE_STATE({device})"))]).must("Value").to_owned()
}

/// Reads `device`'s state until it is `want` or a few seconds pass, and returns the last
/// reading. A channel's device state follows its hang-up through Asterisk's device-state
/// task queue, so a leg just cancelled may still read RINGING for a moment.
fn settled_device_state(ami: &mut Ami, device: &str, want: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let state = device_state(ami, device);
        if state == want || std::time::Instant::now() >= deadline {
            return state;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Presses 1001's key from 1001's own phone (a second line of the desk), keying `keys`
/// for the PIN, and returns `TWINNINGBUTTON` as the sample's key extension left it.
fn press_key(pbx: &Instance, ami: &mut Ami, keys: &str) -> String {
    let mut key = Phone::call_as(pbx, "key", "desk1001", "twin1001", &Caller::KeyIn { digits: keys.into() });
    let set = ami
        .event("VarSet", &[("Variable", "TWINNINGBUTTON")], WAIT)
        .unwrap_or_else(|| panic!("TwinningButton ran to no result; {}", key.summary()));
    key.wait(WAIT);
    set.must("Value").to_owned()
}

/// Waits for the next NOTIFY of `sub` showing `lamp`, after the `seen` before it.
fn lamp(sub: &Subscriber, lamp: Lamp, seen: &mut usize, what: &str) {
    *seen = sub.wait_for(lamp, *seen, LAMP_WAIT).unwrap_or_else(|e| panic!("{what}: {e}"));
}

#[test]
fn the_key_lamp_follows_every_surface_that_switches_twinning() {
    let pbx = pbx::start(pbx::TWINNING_CONF, "", PhonePorts::new());
    let mut ami = pbx.ami();
    let key = Subscriber::watch(&pbx, "key-lamp", "desk1001", "twin1001");
    let mut seen = 0;
    lamp(&key, Lamp::InUse, &mut seen, "at subscription, twinning is on");
    assert_eq!(device_state(&mut ami, "Twinning:1001"), "INUSE");

    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "enabled"), ("Value", "no")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    lamp(&key, Lamp::Idle, &mut seen, "AMI TwinningSet enabled=no");
    assert_eq!(device_state(&mut ami, "Twinning:1001"), "NOT_INUSE", "read afresh at once");

    pbx.cli("twinning set 1001 enabled yes");
    lamp(&key, Lamp::InUse, &mut seen, "CLI enabled=yes");

    // The dialplan function, on a channel: AMI's Setvar cannot reach it (it is escalating).
    assert_eq!(dialplan::write(&mut ami, "1001", "dnd", "yes").error, "");
    lamp(&key, Lamp::Idle, &mut seen, "TWINNING(1001,dnd)=yes");
    assert_eq!(dialplan::write(&mut ami, "1001", "dnd", "no").error, "");
    lamp(&key, Lamp::InUse, &mut seen, "TWINNING(1001,dnd)=no");

    let mut code = Phone::call_as(&pbx, "off", "desk1001", "*22", &Caller::KeyIn { digits: String::new() });
    assert_eq!(code.wait(WAIT), Some(0), "{}", code.summary());
    lamp(&key, Lamp::Idle, &mut seen, "feature code *22");

    assert_eq!(press_key(&pbx, &mut ami, ""), "ON");
    lamp(&key, Lamp::InUse, &mut seen, "the key pressed while off");
    assert_eq!(press_key(&pbx, &mut ami, ""), "OFF");
    lamp(&key, Lamp::Idle, &mut seen, "the key pressed while on");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "no");

    // Clearing the number turns the lamp off even with twinning enabled, and the key then
    // refuses to switch on.
    pbx.cli("twinning set 1001 enabled yes");
    lamp(&key, Lamp::InUse, &mut seen, "enabled again");
    pbx.cli("twinning set 1001 mobile \"\"");
    lamp(&key, Lamp::Idle, &mut seen, "no number");

    // A reload that adds a user: its lamp goes from INVALID to its settings.
    assert_eq!(device_state(&mut ami, "Twinning:1003"), "INVALID");
    pbx.write_file(
        "twinning.conf",
        &format!(
            "{}\n[1003]\ndesk = PJSIP/desk1003\nmobile = 07700900789\nenabled = yes\n",
            pbx::TWINNING_CONF
        ),
    );
    pbx.cli("module reload app_twinning.so");
    assert_eq!(device_state(&mut ami, "Twinning:1003"), "INUSE");
    assert_eq!(device_state(&mut ami, "TwinningCall:1003"), "NOT_INUSE");
    assert_eq!(device_state(&mut ami, "Twinning:9999"), "INVALID", "an unknown user");
    assert_eq!(device_state(&mut ami, "TwinningCall:9999"), "INVALID");
    // The lamp never showed a state twice in a row: each NOTIFY was a change (Asterisk
    // sends one per change of the hint's state).
    let lamps = key.lamps();
    assert!(lamps.windows(2).all(|w| w[0] != w[1]), "{lamps:?}");
}

#[test]
fn both_lamps_follow_a_call_that_rings_is_answered_on_the_mobile_pulled_by_the_key_and_ends() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(pbx::TWINNING_CONF, "", ports);
    let mut ami = pbx.ami();
    let key = Subscriber::watch(&pbx, "key-lamp", "desk1002", "twin1001");
    let busy = Subscriber::watch(&pbx, "busy-lamp", "desk1002", "1001");
    let (mut k, mut b) = (0, 0);
    lamp(&key, Lamp::InUse, &mut k, "twinning on");
    lamp(&busy, Lamp::Idle, &mut b, "1001 idle");

    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mut mobile =
        Phone::uas(&pbx, "mobile", ports.mobile, &Answer::After { after_ms: 1500, dtmf: vec![] });
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 8000 });
    lamp(&key, Lamp::Ringing, &mut k, "the mobile rings");
    lamp(&busy, Lamp::Ringing, &mut b, "the desk and the mobile ring");

    ami.event("TwinningBridged", &[("Leg", "mobile")], WAIT).expect("the mobile answered");
    lamp(&key, Lamp::InUse, &mut k, "answered: the key shows twinning on again");
    lamp(&busy, Lamp::InUse, &mut b, "1001 talks on the mobile: busy");
    assert_eq!(device_state(&mut ami, "TwinningCall:1001"), "INUSE");
    assert_eq!(
        settled_device_state(&mut ami, "PJSIP/desk1001", "NOT_INUSE"),
        "NOT_INUSE",
        "the desk itself is idle once its leg is cancelled"
    );

    // The key on the desk takes the call off the mobile.
    let mut desk_key =
        Phone::call_as(&pbx, "key", "desk1001", "twin1001", &Caller::KeyIn { digits: String::new() });
    let h = ami.event("TwinningHandover", &[("Result", "completed")], WAIT).expect("the pull completed");
    assert_eq!((h.must("From"), h.must("To"), h.must("Trigger")), ("mobile", "desk", "button"));
    mobile.wait(Duration::from_secs(5));
    assert!(mobile.first_received_at("BYE").is_some(), "the mobile is released: {}", mobile.summary());
    assert_eq!(device_state(&mut ami, "TwinningCall:1001"), "INUSE", "on the desk now");

    let end = ami.event("TwinningEnd", &[], WAIT).expect("the call ended");
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"));
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    desk_key.wait(WAIT);
    let pulled = ami.event("VarSet", &[("Variable", "TWINNINGBUTTON")], WAIT).expect("TWINNINGBUTTON");
    assert_eq!(pulled.must("Value"), "PULLED");
    lamp(&busy, Lamp::Idle, &mut b, "the call ended");
    assert_eq!(device_state(&mut ami, "TwinningCall:1001"), "NOT_INUSE");
    assert_eq!(key.last(), Some(Lamp::InUse), "{:?}", key.lamps());
}

#[test]
fn the_key_pushes_a_desk_call_to_the_mobile() {
    let ports = PhonePorts::new();
    // The mobile rings only when pushed: its dial delay outlasts the desk's answer.
    let conf =
        pbx::TWINNING_CONF.replace("mobile = 07700900123\n", "mobile = 07700900123\ndial_delay = 30\n");
    let pbx = pbx::start(&conf, "", ports);
    let mut ami = pbx.ami();
    let mut desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::After { after_ms: 300, dtmf: vec![] });
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 8000 });
    ami.event("TwinningBridged", &[("Leg", "desk")], WAIT).expect("the desk answered");
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::After { after_ms: 500, dtmf: vec![] });

    assert_eq!(press_key(&pbx, &mut ami, ""), "PUSHED");
    let started = ami.event("TwinningHandover", &[("Result", "started")], WAIT).expect("the push started");
    assert_eq!(
        (started.must("From"), started.must("To"), started.must("Trigger")),
        ("desk", "mobile", "button")
    );
    ami.event("TwinningHandover", &[("Result", "completed")], WAIT).expect("the mobile took the call");
    desk.wait(Duration::from_secs(10));
    assert!(desk.first_received_at("BYE").is_some(), "the desk is released: {}", desk.summary());
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "yes", "the push switched nothing");
    let end = ami.event("TwinningEnd", &[], WAIT).expect("the call ended");
    assert_eq!(end.must("AnsweredBy"), "mobile");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    let touched = caller.dialog_touched();
    assert!(touched.is_empty(), "the caller's dialog was touched: {touched:?}");
    mobile.wait(Duration::from_secs(5));
}

#[test]
fn the_key_asks_for_the_pin_before_switching() {
    let conf = pbx::TWINNING_CONF
        .replace("enabled = yes\n\n[1002]", "enabled = yes\npin = 4826\n\n[1002]")
        .replace("answer_guard = 0\n", "answer_guard = 0\npin_max_attempts = 5\n");
    let pbx = pbx::start(&conf, "", PhonePorts::new());
    let mut ami = pbx.ami();
    assert_eq!(press_key(&pbx, &mut ami, "1111#1111#1111#"), "FAILED");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "yes", "a wrong PIN changes nothing");
    assert_eq!(device_state(&mut ami, "Twinning:1001"), "INUSE");
    // Three wrong PINs do not lock 1001 out under this policy (five).
    assert_eq!(press_key(&pbx, &mut ami, "4826#"), "OFF");
    assert_eq!(twinning_field(&mut ami, "1001", "enabled"), "no");
    assert_eq!(device_state(&mut ami, "Twinning:1001"), "NOT_INUSE");
}

fn run_button(ami: &mut Ami, tag: &str, args: &str) -> Message {
    // Base64, since AMI splits Originate variables at commas.
    let vars = [format!("TARGS64={}", dialplan::base64_encode(args.as_bytes())), format!("TTAG={tag}")];
    let mut headers =
        vec![("Channel", "Local/s@twinning-button-test"), ("Application", "Wait"), ("Data", "10")];
    headers.push(("Async", "true"));
    headers.extend(vars.iter().map(|v| ("Variable", v.as_str())));
    let r = ami.action("Originate", &headers);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    ami.event("UserEvent", &[("UserEvent", "TwinningButtonResult"), ("Tag", tag)], WAIT)
        .unwrap_or_else(|| panic!("no result for {args:?}"))
}

#[test]
fn bad_button_input_fails_clearly_and_changes_nothing() {
    let pbx = pbx::start(pbx::TWINNING_CONF, "", PhonePorts::new());
    let mut ami = pbx.ami();
    for (tag, args, error) in [
        ("empty", "", "usage: TwinningButton(user)"),
        ("unknown", "9999", "unknown twinning user '9999'"),
        ("extra", "1001,x", "usage: TwinningButton(user)"),
        ("injected", "1001&1002", "unknown twinning user"),
    ] {
        let e = run_button(&mut ami, tag, args);
        assert_eq!(e.must("Result"), "FAILED", "{args:?}: {e:?}");
        assert!(e.must("Error").contains(error), "{args:?}: {e:?}");
        let refused = ami
            .event("TwinningRequestRefused", &[("Application", "TwinningButton")], Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{args:?}: no security event"));
        assert!(refused.must("Reason").contains(error), "{refused:?}");
    }
    for user in ["1001", "1002"] {
        assert_eq!(twinning_field(&mut ami, user, "enabled"), "yes", "{user} was changed");
    }
    // A press with nothing to push or pull toggles; from a Local channel (no PIN set).
    assert_eq!(run_button(&mut ami, "toggle", "1002").must("Result"), "OFF");
    assert_eq!(twinning_field(&mut ami, "1002", "enabled"), "no");
}

#[test]
fn device_state_reads_the_same_after_a_restart() {
    let mut pbx = pbx::start(pbx::TWINNING_CONF, "", PhonePorts::new());
    {
        let mut ami = pbx.ami();
        let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "enabled"), ("Value", "no")]);
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
        assert_eq!(device_state(&mut ami, "Twinning:1001"), "NOT_INUSE");
    }
    pbx.restart();
    let mut ami = pbx.ami();
    assert_eq!(device_state(&mut ami, "Twinning:1001"), "NOT_INUSE", "the runtime change survived");
    assert_eq!(device_state(&mut ami, "Twinning:1002"), "INUSE");
    assert_eq!(device_state(&mut ami, "TwinningCall:1001"), "NOT_INUSE");
    let key = Subscriber::watch(&pbx, "key-lamp", "desk1001", "twin1001");
    key.wait_for(Lamp::Idle, 0, LAMP_WAIT).expect("a phone subscribing after the restart sees it off");
    let key2 = Subscriber::watch(&pbx, "key-lamp2", "desk1002", "twin1002");
    key2.wait_for(Lamp::InUse, 0, LAMP_WAIT).expect("and 1002's on");
}
