//! Mobile Direct Access against a real Asterisk: a SIPp caller claims a number (the test
//! dialplan sets it, as a trunk's caller ID would arrive), keys the PIN and the number as
//! SIP INFO, and `TwinningAccess()` sends the call on in `access_context`, whose route
//! dials the trunk (a SIPp phone). What reaches the trunk is what the user dialed,
//! presenting the user's extension; anything refused reaches nothing.

use std::time::Duration;

use twinning_tests::access_chaos::AccessChaos;
use twinning_tests::ami::Ami;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Caller, Phone, SipMessage};
use twinning_tests::{Instance, Message};

const WAIT: Duration = Duration::from_secs(40);

fn conf(extra_1001: &str) -> String {
    format!(
        "\
[general]
mobile_dial = PJSIP/{{number}}@mobile-trunk
blocked_prefixes = 09
home_prefixes = +44, 0044
country_code = 44
access_context = twinning-access
pin_max_attempts = 3
pin_lockout = 60

[1001]
desk = PJSIP/desk1001
mobile = +447700900123
mobile_access = yes
pin = 2468
accountcode = ACME-1001
{extra_1001}

[1002]
desk = PJSIP/desk1002
mobile = 07700900456
pin = 1357

[1003]
desk = PJSIP/desk1003
mobile = 07700900789
mobile_access = yes
"
    )
}

/// `8<number>` is an access call from caller ID `<number>`; `6<digits>` one from 1001's
/// mobile to a DID carrying `<digits>`, with option `d`. The access context's route
/// reports the call and dials the trunk.
const DIALPLAN: &str = "\
[twinning-features](+)
exten => *99,1,TwinningAuthenticate(1001)
 same => n,UserEvent(TwinningAuthResult,Auth: ${TWINNINGAUTH})
 same => n,Hangup()
[twinning-calls](+)
exten => _8X.,1,Set(CALLERID(num)=${EXTEN:1})
 same => n,TwinningAccess(t(4))
 same => n,UserEvent(TwinningAccessResult,Result: ${TWINNINGACCESS},Error: ${TWINNINGERROR})
 same => n,Hangup()
exten => _6X.,1,Set(CALLERID(num)=07700900123)
 same => n,Set(CALLERID(dnid)=${EXTEN:1})
 same => n,TwinningAccess(dt(4))
 same => n,UserEvent(TwinningAccessResult,Result: ${TWINNINGACCESS},Error: ${TWINNINGERROR})
 same => n,Hangup()
exten => _4X.,1,Set(CALLERID(num)=${EXTEN:1})
 same => n,TwinningCallback()
 same => n,UserEvent(TwinningCallbackResult,Result: ${TWINNINGCALLBACK},Error: ${TWINNINGERROR})
 same => n,Hangup()
[twinning-callback-route]
exten => _X.,1,UserEvent(TwinningAccessDialed,Number: ${EXTEN},CallerId: ${CALLERID(num)},Account: ${CHANNEL(accountcode)})
 same => n,Dial(PJSIP/desk1002/sip:${EXTEN}@127.0.0.1:${DESK2},20,S(2))
 same => n,Hangup()
[twinning-access]
exten => _X.,1,UserEvent(TwinningAccessDialed,Number: ${EXTEN},CallerId: ${CALLERID(num)},Account: ${CHANNEL(accountcode)})
 same => n,Dial(PJSIP/${EXTEN}@mobile-trunk,20,S(2))
 same => n,Hangup()
";

struct Site {
    pbx: Instance,
    ami: Ami,
    /// The trunk: answers whatever reaches it; the route hangs up 2 s later.
    trunk: Phone,
}

fn start(conf: &str) -> Site {
    start_on(conf, PhonePorts::new())
}

fn start_on(conf: &str, ports: PhonePorts) -> Site {
    let pbx = pbx::start_with(conf, "", ports, |mut c| {
        c.modules.push("func_channel.so".into());
        let dialplan = format!(
            "{}\n{}",
            pbx::extensions_conf(""),
            DIALPLAN.replace("${DESK2}", &ports.desk2.to_string())
        );
        c.file("extensions.conf", &dialplan)
    });
    let ami = pbx.ami();
    let trunk = Phone::trunk(&pbx, "trunk", ports.mobile, &[("0", 200)], 10);
    Site { pbx, ami, trunk }
}

impl Site {
    /// An access call to `exten` keying `digits`; returns the `TwinningAccess` event and
    /// the INVITEs that reached the trunk during the call.
    fn call(&mut self, exten: &str, digits: &str) -> (Message, Vec<SipMessage>) {
        let before = self.trunk.received("INVITE").len();
        let mut caller = Phone::call(
            &self.pbx,
            &format!("caller-{exten}"),
            exten,
            &Caller::KeyIn { digits: digits.into() },
        );
        let e = self
            .ami
            .event("TwinningAccess", &[], WAIT)
            .unwrap_or_else(|| panic!("no TwinningAccess for {exten}"));
        caller.wait(WAIT);
        std::thread::sleep(Duration::from_millis(500));
        let invites = self.trunk.received("INVITE").into_iter().skip(before).collect();
        (e, invites)
    }
}

#[test]
fn the_users_mobile_with_the_right_pin_dials_out_as_the_user() {
    let mut s = start(&conf(""));
    // National form of the +44 number configured: the same mobile.
    let (e, invites) = s.call("807700900123", "2468#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason"), e.must("User")), ("granted", "pin", "1001"), "{e:?}");
    assert_eq!((e.must("Feature"), e.must("Number")), ("access", "01632960123"));
    let dialed =
        s.ami.event("UserEvent", &[("UserEvent", "TwinningAccessDialed")], WAIT).expect("the route ran");
    assert_eq!(dialed.must("Number"), "01632960123");
    assert_eq!(dialed.must("CallerId"), "1001", "the user's extension");
    assert_eq!(dialed.must("Account"), "ACME-1001", "billed to the user");
    assert_eq!(invites.len(), 1, "{}", s.trunk.summary());
    assert!(invites[0].first_line.starts_with("INVITE sip:01632960123@"), "{}", invites[0].first_line);
    let from = invites[0].header("From").unwrap();
    assert!(from.contains("sip:1001@"), "the trunk sees the user: {from}");
}

#[test]
fn option_d_dials_the_digits_the_did_carried() {
    let mut s = start(&conf(""));
    let (e, invites) = s.call("601632960555", "2468#");
    assert_eq!((e.must("Result"), e.must("Number")), ("granted", "01632960555"), "{e:?}");
    assert_eq!(invites.len(), 1, "{}", s.trunk.summary());
    assert!(invites[0].first_line.starts_with("INVITE sip:01632960555@"), "{}", invites[0].first_line);
}

#[test]
fn a_spoofed_caller_id_without_the_pin_dials_nothing_and_a_wrong_pin_locks_out_as_on_the_phone() {
    let mut s = start(&conf(""));
    // Whoever claims the mobile's number but keys no PIN, or wrong ones.
    let (e, invites) = s.call("80044770090012300", "");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "unknown_caller"), "not the number: {e:?}");
    assert!(invites.is_empty(), "{invites:?}");
    let (e, invites) = s.call("800447700900123", "1111#2222#3333#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason"), e.must("User")), ("refused", "locked", "1001"), "{e:?}");
    assert!(invites.is_empty(), "nothing dialed: {invites:?}");
    let failed = s.ami.drain_events("TwinningAuthFailed", Duration::from_secs(1));
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[2].get("Reason"), Some("lockout"));
    // The same guard as the desk phone's and the control planes': the right PIN is refused
    // now, on the user's own desk phone too.
    let r = s.ami.action("TwinningCheckPin", &[("User", "1001"), ("Pin", "2468")]);
    assert_eq!(r.get("Result"), Some("LOCKED"), "{r:?}");
    let mut desk =
        Phone::call_as(&s.pbx, "desk-pin", "desk1001", "*99", &Caller::KeyIn { digits: "2468#".into() });
    let auth =
        s.ami.event("UserEvent", &[("UserEvent", "TwinningAuthResult")], WAIT).expect("the desk's PIN entry");
    assert_eq!(auth.must("Auth"), "LOCKED", "locked out on the desk by the mobile's wrong PINs");
    desk.wait(WAIT);
    let (e, invites) = s.call("807700900123", "2468#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "locked"), "{e:?}");
    assert!(invites.is_empty(), "{invites:?}");
}

#[test]
fn users_without_access_or_without_a_pin_are_refused() {
    let mut s = start(&conf(""));
    let (e, invites) = s.call("807700900456", "1357#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason"), e.must("User")), ("refused", "not_enabled", ""), "{e:?}");
    assert!(invites.is_empty(), "{invites:?}");
    let (e, invites) = s.call("807700900789", "#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason"), e.must("User")), ("refused", "no_pin", "1003"), "{e:?}");
    assert!(invites.is_empty(), "{invites:?}");
    let r =
        s.ami.event("UserEvent", &[("UserEvent", "TwinningAccessResult")], WAIT).expect("dialplan went on");
    assert_eq!(r.must("Result"), "REFUSED");
}

#[test]
fn premium_international_and_injected_numbers_are_refused_and_nothing_is_dialed() {
    let mut s = start(&conf(""));
    for (number, reason) in [
        ("09011234567", "policy"),
        ("0033612345678", "policy"),
        // The corpus as a phone can key it: what is left of `0163&PJSIP/x` or `0,1` are
        // stars and digits, still no number.
        ("0163*2*3", "policy"),
        ("", "no_number"),
    ] {
        let (e, invites) = s.call("807700900123", &format!("2468#{number}#"));
        assert_eq!((e.must("Result"), e.must("Reason")), ("refused", reason), "{number}: {e:?}");
        assert!(invites.is_empty(), "{number}: {invites:?}");
    }
    // The typed digits of a refused number are never logged, only how many there were.
    let log = s.pbx.log();
    for typed in ["09011234567", "0033612345678"] {
        assert!(!log.contains(typed), "{typed} logged: {log}");
    }
    assert!(log.contains("a number of 11 keys refused (policy)"), "{log}");
}

#[test]
fn the_hourly_cap_holds() {
    let mut s = start(&conf("access_rate = 2"));
    for _ in 0..2 {
        let (e, _) = s.call("807700900123", "2468#01632960123#");
        assert_eq!(e.must("Result"), "granted", "{e:?}");
    }
    let (e, invites) = s.call("807700900123", "2468#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason"), e.must("User")), ("refused", "rate", "1001"), "{e:?}");
    assert!(invites.is_empty(), "{invites:?}");
}

/// Mobile Callback's settings: 1001 may ask; the callback's dial-out goes to the route that
/// dials the SIPp phone on desk 2's port (the trunk's port is the mobile's, called back).
fn callback_conf() -> String {
    conf("mobile_callback = yes").replace(
        "access_context = twinning-access",
        "access_context = twinning-callback-route\ncallback_window = 10\ncallback_delay = 2",
    )
}

/// A callback site: no trunk phone on the mobile's port (the test puts the mobile there).
fn start_callback(ports: PhonePorts) -> (Instance, Ami) {
    start_callback_with(&callback_conf(), ports)
}

fn start_callback_with(conf: &str, ports: PhonePorts) -> (Instance, Ami) {
    start_callback_env(conf, ports, &[])
}

fn start_callback_env(conf: &str, ports: PhonePorts, env: &[(&str, &str)]) -> (Instance, Ami) {
    let pbx = pbx::start_with(conf, "", ports, |mut c| {
        c.modules.push("func_channel.so".into());
        c.env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let dialplan = format!(
            "{}\n{}",
            pbx::extensions_conf(""),
            DIALPLAN.replace("${DESK2}", &ports.desk2.to_string())
        );
        c.file("extensions.conf", &dialplan)
    });
    let ami = pbx.ami();
    (pbx, ami)
}

#[test]
fn a_callback_calls_the_same_number_back_once_after_the_delay_and_dials_as_the_user() {
    let ports = PhonePorts::new();
    let (pbx, mut ami) = start_callback(ports);
    // The mobile, called back: answers after the answer guard, keys the PIN and a number.
    let mut mobile = Phone::uas(
        &pbx,
        "mobile",
        ports.mobile,
        &twinning_tests::sipp::Answer::After {
            after_ms: 2000,
            dtmf: vec![(1500, "2468#"), (2500, "01632960123#")],
        },
    );
    let mut target = Phone::uas(
        &pbx,
        "target",
        ports.desk2,
        &twinning_tests::sipp::Answer::After { after_ms: 200, dtmf: vec![] },
    );
    // The request: rung, hung up (CANCEL) inside the window, never answered.
    let mut caller = Phone::call(
        &pbx,
        "caller",
        "40044 7700900123".replace(' ', "").as_str(),
        &Caller::CancelAfter { ms: 1500 },
    );
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("User")),
        ("callback", "granted", "1001"),
        "{e:?}"
    );
    assert_eq!(e.must("Number"), "01632960123");
    let dialed =
        ami.event("UserEvent", &[("UserEvent", "TwinningAccessDialed")], WAIT).expect("the route ran");
    assert_eq!((dialed.must("CallerId"), dialed.must("Account")), ("1001", "ACME-1001"));
    caller.wait(WAIT);
    mobile.wait(WAIT);
    target.wait(WAIT);
    let caller_msgs = caller.messages();
    assert!(
        !caller_msgs.iter().any(|m| m.received && m.is_response(200) && m.text.contains("INVITE")),
        "never answered: {}",
        caller.summary()
    );
    let cancel =
        caller_msgs.iter().find(|m| !m.received && m.is_request("CANCEL")).expect("the caller hung up");
    let invites = mobile.received("INVITE");
    assert_eq!(invites.len(), 1, "exactly one call back: {}", mobile.summary());
    assert!(
        invites[0].first_line.contains("+447700900123@"),
        "the same number, as configured: {}",
        invites[0].first_line
    );
    let delay = invites[0].at - cancel.at;
    assert!(delay >= 1.9, "called back {delay:.2} s after the hang-up, not before callback_delay");
    let to_target = target.received("INVITE");
    assert_eq!(to_target.len(), 1, "{}", target.summary());
    assert!(to_target[0].first_line.starts_with("INVITE sip:01632960123@"), "{}", to_target[0].first_line);
    assert!(to_target[0].header("From").unwrap().contains("sip:1001@"));
}

#[test]
fn a_callback_is_refused_while_the_user_is_on_a_twinned_call() {
    let ports = PhonePorts::new();
    let (pbx, mut ami) = start_callback(ports);
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &twinning_tests::sipp::Answer::Never);
    let mut twinned = Phone::call(&pbx, "twinned", "1001", &Caller::CancelAfter { ms: 8000 });
    ami.event("TwinningStart", &[("User", "1001")], WAIT).expect("a call for 1001");
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &twinning_tests::sipp::Answer::Never);
    let mut caller = Phone::call(&pbx, "caller", "407700900123", &Caller::CancelAfter { ms: 1500 });
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason")),
        ("callback", "refused", "busy"),
        "{e:?}"
    );
    caller.wait(WAIT);
    twinned.wait(WAIT);
    std::thread::sleep(Duration::from_secs(3));
    assert!(mobile.received("INVITE").is_empty(), "no call back: {}", mobile.summary());
    mobile.wait(Duration::from_secs(1));
}

#[test]
fn a_callback_answered_by_voicemail_inside_the_guard_gets_no_dial_tone() {
    let ports = PhonePorts::new();
    let (pbx, mut ami) = start_callback(ports);
    let mut mobile = Phone::uas(
        &pbx,
        "mobile",
        ports.mobile,
        &twinning_tests::sipp::Answer::After {
            after_ms: 300,
            dtmf: vec![(800, "2468#"), (1500, "01632960123#")],
        },
    );
    let mut target = Phone::uas(&pbx, "target", ports.desk2, &twinning_tests::sipp::Answer::Never);
    let mut caller = Phone::call(&pbx, "caller", "407700900123", &Caller::CancelAfter { ms: 1500 });
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason")),
        ("callback", "refused", "no_answer"),
        "{e:?}"
    );
    caller.wait(WAIT);
    mobile.wait(WAIT);
    assert_eq!(mobile.received("BYE").len(), 1, "voicemail is hung up: {}", mobile.summary());
    assert!(ami.drain_events("TwinningAuthFailed", Duration::from_secs(2)).is_empty(), "no PIN was asked");
    assert!(target.received("INVITE").is_empty());
    target.wait(Duration::from_secs(1));
}

/// Many access calls at once, of every kind, in a seeded random order (the seed is printed;
/// `TWINNING_ACCESS_SEED` repeats it): every call that was not hung up early is accounted
/// for by exactly one `TwinningAccess` with the expected outcome, only the granted numbers
/// reach the trunk, once each, and no channel is left behind.
#[test]
fn concurrent_access_calls_are_each_accounted_for_and_leave_nothing_behind() {
    let mut plan = AccessChaos::from_env();
    let seed = plan.seed;
    let conf = conf("access_rate = 100").replace("pin_max_attempts = 3", "pin_max_attempts = 20");
    let mut s = start(&conf);
    let mut phones = Vec::new();
    let mut events = Vec::new();
    for i in 0..20 {
        let (exten, behaviour) = plan.call(i);
        phones.push(Phone::call(&s.pbx, &format!("caller{i}"), exten, &behaviour));
        // AMI is read all along: a reader that stops reading is cut off by Asterisk.
        events.extend(s.ami.drain_events("TwinningAccess", Duration::from_millis(100 + plan.next(300))));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while events.len() < plan.total() && std::time::Instant::now() < deadline {
        events.extend(s.ami.drain_events("TwinningAccess", Duration::from_millis(500)));
    }
    for p in &mut phones {
        p.wait(WAIT);
    }
    events.extend(s.ami.drain_events("TwinningAccess", Duration::from_secs(2)));
    plan.check_outcomes(events.iter().map(|e| (e.must("Result"), e.must("Reason"))));
    plan.check_reached(&s.trunk.received("INVITE"));
    let channels = s.pbx.cli("core show channels");
    assert!(channels.contains("\n0 active channels"), "seed {seed}: {channels}");
}

#[test]
fn a_second_callback_while_one_is_pending_and_a_caller_past_the_window_are_refused() {
    let ports = PhonePorts::new();
    let (pbx, mut ami) = start_callback(ports);
    // The call back rings (unanswered) while the second request comes in.
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &twinning_tests::sipp::Answer::Never);
    let mut first = Phone::call(&pbx, "first", "407700900123", &Caller::CancelAfter { ms: 1000 });
    first.wait(WAIT);
    let mut second = Phone::call(&pbx, "second", "407700900123", &Caller::CancelAfter { ms: 1000 });
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason")),
        ("callback", "refused", "pending"),
        "{e:?}"
    );
    second.wait(WAIT);
    // The first one's call back is not answered: refused, and the user may ask again.
    let e = ami.event("TwinningAccess", &[], Duration::from_secs(60)).expect("the call back's end");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "no_answer"), "{e:?}");
    assert_eq!(mobile.received("INVITE").len(), 1, "{}", mobile.summary());
    mobile.wait(Duration::from_secs(1));
    // A caller who stays past callback_window (10 s) is not called back.
    let mut stays = Phone::call(&pbx, "stays", "407700900123", &Caller::CancelAfter { ms: 12_000 });
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "window"), "{e:?}");
    let r = ami
        .event("UserEvent", &[("UserEvent", "TwinningCallbackResult"), ("Error", "window")], WAIT)
        .expect("the dialplan went on");
    assert_eq!(r.must("Result"), "REFUSED");
    stays.wait(WAIT);
}

#[test]
fn without_an_access_context_access_is_refused_and_nothing_is_asked() {
    let mut s = start(&conf("").replace("access_context = twinning-access\n", ""));
    let (e, invites) = s.call("807700900123", "2468#01632960123#");
    assert_eq!(
        (e.must("Result"), e.must("Reason"), e.must("User")),
        ("refused", "no_route", "1001"),
        "{e:?}"
    );
    assert!(invites.is_empty(), "{invites:?}");
    assert!(s.ami.drain_events("TwinningAuthFailed", Duration::from_secs(1)).is_empty());
}

/// The request is checked again just before the call back: a user whose `mobile_callback`
/// is switched off during `callback_delay` is not called back, and the refusal is raised.
#[test]
fn a_callback_is_checked_again_before_the_call_back_is_placed() {
    let ports = PhonePorts::new();
    let conf = callback_conf().replace("callback_delay = 2", "callback_delay = 6");
    let (pbx, mut ami) = start_callback_with(&conf, ports);
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &twinning_tests::sipp::Answer::Never);
    let mut caller = Phone::call(&pbx, "caller", "407700900123", &Caller::CancelAfter { ms: 1000 });
    caller.wait(WAIT);
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile_callback"), ("Value", "no")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason"), e.must("User")),
        ("callback", "refused", "not_enabled", "1001"),
        "{e:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(mobile.received("INVITE").is_empty(), "no call back: {}", mobile.summary());
    mobile.wait(Duration::from_secs(1));
    // Nothing is left pending: with the feature back on, the user may ask again.
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile_callback"), ("Value", "yes")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let mut again = Phone::call(&pbx, "again", "407700900123", &Caller::CancelAfter { ms: 12_000 });
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "window"), "not pending: {e:?}");
    again.wait(WAIT);
}

/// A callback whose thread fails (a panic injected into it) never stays pending: the
/// refusal is raised (`failed`), nothing is dialed, and the user may ask again.
#[test]
fn a_failed_callback_is_refused_and_never_stays_pending() {
    let ports = PhonePorts::new();
    let (pbx, mut ami) =
        start_callback_env(&callback_conf(), ports, &[("TWINNING_INJECT_PANIC", "callback")]);
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &twinning_tests::sipp::Answer::Never);
    for i in 0..2 {
        let mut caller =
            Phone::call(&pbx, &format!("caller{i}"), "407700900123", &Caller::CancelAfter { ms: 1000 });
        let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
        assert_eq!(
            (e.must("Feature"), e.must("Result"), e.must("Reason"), e.must("User")),
            ("callback", "refused", "failed", "1001"),
            "request {i}, not pending: {e:?}"
        );
        caller.wait(WAIT);
    }
    assert!(pbx.log().contains("internal error in callback: fault injected"), "{}", pbx.log());
    std::thread::sleep(Duration::from_secs(3));
    assert!(mobile.received("INVITE").is_empty(), "nothing dialed: {}", mobile.summary());
    mobile.wait(Duration::from_secs(1));
}

/// Hanging up once called back, during the PIN entry, is reported: refused, `hung_up`.
#[test]
fn hanging_up_during_the_callbacks_pin_entry_is_reported() {
    let ports = PhonePorts::new();
    let (pbx, mut ami) = start_callback(ports);
    let mut mobile = Phone::uas(
        &pbx,
        "mobile",
        ports.mobile,
        &twinning_tests::sipp::Answer::AnswerThenHangUp { after_ms: 2000, hold_ms: 1500 },
    );
    let mut caller = Phone::call(&pbx, "caller", "407700900123", &Caller::CancelAfter { ms: 1000 });
    let e = ami.event("TwinningAccess", &[], WAIT).expect("TwinningAccess");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason"), e.must("User")),
        ("callback", "refused", "hung_up", "1001"),
        "{e:?}"
    );
    caller.wait(WAIT);
    mobile.wait(WAIT);
}
