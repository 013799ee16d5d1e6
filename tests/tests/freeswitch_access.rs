//! Mobile Direct Access against a real FreeSWITCH (`twinning_access`), as
//! tests/tests/mobile_access.rs does it against Asterisk: a SIPp caller claims a number
//! (the test dialplan sets it, as a trunk's caller ID would arrive), keys the PIN and the
//! number as SIP INFO, and the call is transferred to `access_context`, whose route
//! bridges to the trunk (a SIPp phone). FreeSWITCH is used when one is given
//! (`FREESWITCH_PREFIX`); without it every test here reports itself SKIPPED.

use std::time::Duration;

use twinning_tests::access_chaos::AccessChaos;
use twinning_tests::esl::{Esl, EslEvent};
use twinning_tests::freeswitch::{FreeSwitch, FsPorts, FsSettings};
use twinning_tests::sipp::{Answer, Caller, Phone, SipMessage};

const WAIT: Duration = Duration::from_secs(40);

struct Site {
    fs: FreeSwitch,
    esl: Esl,
    trunk: Phone,
}

/// `8<number>`: an access call from caller ID `<number>`; `6<digits>`: one from 1001's
/// mobile to a DID carrying `<digits>`, with option `d`. Numbers starting with 0 are the
/// access context's route (this same context): reported, then bridged to the trunk.
fn dialplan(trunk_port: u16) -> String {
    format!(
        r#"      <extension name="authenticate">
        <condition field="destination_number" expression="^\*99$">
          <action application="set" data="twinning_pin_prompt=tone_stream://%(100,0,500)"/>
          <action application="twinning_authenticate" data="${{caller_id_number}} a(1)"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Auth=${{twinning_auth}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="access">
        <condition field="destination_number" expression="^8(\d+)$">
          <action application="set_profile_var" data="caller_id_number=$1"/>
          <action application="twinning_access" data="t(4)"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Result=${{twinning_access_result}},Error=${{twinning_error}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="access-did">
        <condition field="destination_number" expression="^6(\d+)$">
          <action application="set_profile_var" data="caller_id_number=07700900123"/>
          <action application="set" data="twinning_did=$1"/>
          <action application="twinning_access" data="dt(4)"/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Result=${{twinning_access_result}},Error=${{twinning_error}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="callback">
        <condition field="destination_number" expression="^4(\d+)$">
          <action application="set_profile_var" data="caller_id_number=$1"/>
          <action application="twinning_callback" data=""/>
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Callback=${{twinning_callback_result}},Error=${{twinning_error}}"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="twinned">
        <condition field="destination_number" expression="^(1\d\d\d)$">
          <action application="twinning" data="$1"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="route">
        <condition field="destination_number" expression="^(0\d+)$">
          <action application="event" data="Event-Subclass=twinning::test,Event-Name=CUSTOM,Dialed=$1,CallerId=${{effective_caller_id_number}},ProfileCallerId=${{caller_id_number}},AccessUser=${{twinning_access_user}},Account=${{accountcode}}"/>
          <action application="set" data="call_timeout=20"/>
          <action application="bridge" data="{{execute_on_answer=sched_hangup +2 normal_clearing}}sofia/internal/$1@127.0.0.1:{trunk_port}"/>
        </condition>
      </extension>
"#
    )
}

fn start(test: &str, rate: Option<&str>) -> Option<Site> {
    start_with(test, |settings| match rate {
        Some(rate) => settings.user_param("1001", "access_rate", rate),
        None => settings,
    })
}

/// As [`start`], with the settings changed by `more`.
fn start_with(test: &str, more: impl FnOnce(FsSettings) -> FsSettings) -> Option<Site> {
    let ports = FsPorts::new();
    let (fs, esl) = launch(test, ports, more, false)?;
    let trunk = Phone::trunk(&fs, "trunk", ports.mobile, &[("0", 200)], 10);
    Some(Site { fs, esl, trunk })
}

/// FreeSWITCH with the test users; for callbacks (`callback`), 1001 may ask for one and
/// the route dials the phone on desk 2's port (the mobile's is the one called back).
fn launch(
    test: &str,
    ports: FsPorts,
    more: impl FnOnce(FsSettings) -> FsSettings,
    callback: bool,
) -> Option<(FreeSwitch, Esl)> {
    launch_env(test, ports, more, callback, &[])
}

/// As [`launch`], with `env` in FreeSWITCH's environment.
fn launch_env(
    test: &str,
    ports: FsPorts,
    more: impl FnOnce(FsSettings) -> FsSettings,
    callback: bool,
    env: &[(&str, &str)],
) -> Option<(FreeSwitch, Esl)> {
    let mut settings = FsSettings::new(ports.mobile)
        .param("blocked_prefixes", "09")
        .param("home_prefixes", "+44, 0044")
        .param("country_code", 44)
        .param("access_context", "twinning-test")
        .param("pin_max_attempts", 3)
        .param("pin_lockout", 60)
        .user("1001", ports.desk, "+447700900123", true)
        .user("1002", ports.desk2, "07700900456", true)
        .user("1003", ports.desk2, "07700900789", true);
    settings = settings.user_param("1001", "mobile_access", "yes").user_param("1001", "pin", "2468");
    settings = settings.user_param("1001", "accountcode", "ACME-1001");
    settings = settings.user_param("1002", "pin", "1357");
    settings = settings.user_param("1003", "mobile_access", "yes");
    if callback {
        settings = settings
            .user_param("1001", "mobile_callback", "yes")
            .user_param("1001", "answer_guard", "1.5")
            .param("callback_window", 10)
            .param("callback_delay", 2);
    }
    settings = more(settings);
    let route_port = if callback { ports.desk2 } else { ports.mobile };
    let fs = FreeSwitch::start_with_dialplan_env(test, &settings.xml(), &dialplan(route_port), ports, env)?;
    let mut esl = fs.esl();
    esl.subscribe(&["twinning::access", "twinning::auth_failed", "twinning::test", "twinning::start"]);
    Some((fs, esl))
}

impl Site {
    /// An access call to `exten` keying `digits`: the `twinning::access` event and the
    /// INVITEs that reached the trunk during the call.
    fn call(&mut self, exten: &str, digits: &str) -> (EslEvent, Vec<SipMessage>) {
        let before = self.trunk.received("INVITE").len();
        let mut caller = Phone::call(
            &self.fs,
            &format!("caller-{exten}"),
            exten,
            &Caller::KeyIn { digits: digits.into() },
        );
        let e = self
            .esl
            .event("twinning::access", &[], WAIT)
            .unwrap_or_else(|| panic!("no twinning::access for {exten}"));
        caller.wait(WAIT);
        std::thread::sleep(Duration::from_millis(500));
        let invites = self.trunk.received("INVITE").into_iter().skip(before).collect();
        (e, invites)
    }
}

#[test]
fn the_users_mobile_with_the_right_pin_dials_out_as_the_user() {
    let Some(mut s) = start("freeswitch::access_granted", None) else { return };
    let (e, invites) = s.call("807700900123", "2468#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason"), e.must("User")), ("granted", "pin", "1001"), "{e:?}");
    assert_eq!((e.must("Feature"), e.must("Number")), ("access", "01632960123"));
    let routed = s.esl.event("twinning::test", &[("Dialed", "01632960123")], WAIT).expect("the route ran");
    assert_eq!(routed.must("CallerId"), "1001", "the user's extension");
    assert_eq!(routed.must("ProfileCallerId"), "1001", "the channel's own caller ID number too");
    assert_eq!(routed.must("AccessUser"), "1001", "twinning_access_user, for the route");
    assert_eq!(routed.must("Account"), "ACME-1001", "billed to the user");
    assert_eq!(invites.len(), 1, "{}", s.trunk.summary());
    assert!(invites[0].first_line.starts_with("INVITE sip:01632960123@"), "{}", invites[0].first_line);
    let from = invites[0].header("From").unwrap();
    assert!(from.contains("sip:1001@"), "the trunk sees the user: {from}");
}

#[test]
fn option_d_dials_the_digits_the_did_carried() {
    let Some(mut s) = start("freeswitch::access_did", None) else { return };
    let (e, invites) = s.call("601632960555", "2468#");
    assert_eq!((e.must("Result"), e.must("Number")), ("granted", "01632960555"), "{e:?}");
    assert_eq!(invites.len(), 1, "{}", s.trunk.summary());
    assert!(invites[0].first_line.starts_with("INVITE sip:01632960555@"), "{}", invites[0].first_line);
}

#[test]
fn a_spoofed_caller_id_without_the_pin_dials_nothing_and_a_wrong_pin_locks_out() {
    let Some(mut s) = start("freeswitch::access_wrong_pin", None) else { return };
    let (e, invites) = s.call("80044770090012300", "");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "unknown_caller"), "{e:?}");
    assert!(invites.is_empty(), "{invites:?}");
    let (e, invites) = s.call("800447700900123", "1111#2222#3333#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason"), e.must("User")), ("refused", "locked", "1001"), "{e:?}");
    assert!(invites.is_empty(), "nothing dialed: {invites:?}");
    let failed = s.esl.drain("twinning::auth_failed", Duration::from_secs(1));
    assert_eq!(failed.len(), 3, "{failed:?}");
    // The same guard as every other PIN check of the user's, the desk phone's included.
    let check = s.esl.api("twinning checkpin 1001 2468");
    assert!(check.contains("LOCKED"), "{check}");
    let mut desk =
        Phone::call_as(&s.fs, "desk-pin", "1001", "*99", &Caller::KeyIn { digits: "2468#".into() });
    let auth = s.esl.event("twinning::test", &[("Auth", "LOCKED")], WAIT);
    assert!(auth.is_some(), "locked out on the desk by the mobile's wrong PINs");
    desk.wait(WAIT);
}

#[test]
fn users_without_access_or_without_a_pin_and_refused_numbers_dial_nothing() {
    let Some(mut s) = start("freeswitch::access_refused", None) else { return };
    for (exten, digits, reason) in [
        ("807700900456", "1357#01632960123#", "not_enabled"),
        ("807700900789", "#01632960123#", "no_pin"),
        ("807700900123", "2468#09011234567#", "policy"),
        ("807700900123", "2468#0033612345678#", "policy"),
        ("807700900123", "2468#0163*2*3#", "policy"),
    ] {
        let (e, invites) = s.call(exten, digits);
        assert_eq!((e.must("Result"), e.must("Reason")), ("refused", reason), "{exten} {digits}: {e:?}");
        assert!(invites.is_empty(), "{exten} {digits}: {invites:?}");
    }
}

#[test]
fn the_hourly_cap_holds() {
    let Some(mut s) = start("freeswitch::access_rate", Some("2")) else { return };
    for _ in 0..2 {
        let (e, _) = s.call("807700900123", "2468#01632960123#");
        assert_eq!(e.must("Result"), "granted", "{e:?}");
    }
    let (e, invites) = s.call("807700900123", "2468#01632960123#");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "rate"), "{e:?}");
    assert!(invites.is_empty(), "{invites:?}");
}

#[test]
fn a_callback_calls_the_same_number_back_once_after_the_delay_and_dials_as_the_user() {
    let ports = FsPorts::new();
    let Some((fs, mut esl)) = launch("freeswitch::callback", ports, |s| s, true) else { return };
    let mut mobile = Phone::uas(
        &fs,
        "mobile",
        ports.mobile,
        &Answer::After { after_ms: 2000, dtmf: vec![(1500, "2468#"), (2500, "01632960123#")] },
    );
    let mut target = Phone::uas(&fs, "target", ports.desk2, &Answer::After { after_ms: 200, dtmf: vec![] });
    let mut caller = Phone::call(&fs, "caller", "400447700900123", &Caller::CancelAfter { ms: 1500 });
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("User")),
        ("callback", "granted", "1001"),
        "{e:?}"
    );
    assert_eq!(e.must("Number"), "01632960123");
    let routed = esl.event("twinning::test", &[("Dialed", "01632960123")], WAIT).expect("the route ran");
    assert_eq!((routed.must("CallerId"), routed.must("Account")), ("1001", "ACME-1001"));
    caller.wait(WAIT);
    mobile.wait(WAIT);
    target.wait(WAIT);
    let caller_msgs = caller.messages();
    let cancel =
        caller_msgs.iter().find(|m| !m.received && m.is_request("CANCEL")).expect("the caller hung up");
    assert!(
        !caller_msgs.iter().any(|m| m.received && m.is_response(200) && m.text.contains("CSeq: 1 INVITE")),
        "never answered: {}",
        caller.summary()
    );
    let invites = mobile.received("INVITE");
    assert_eq!(invites.len(), 1, "exactly one call back: {}", mobile.summary());
    assert!(invites[0].first_line.contains("+447700900123@"), "the same number: {}", invites[0].first_line);
    let delay = invites[0].at - cancel.at;
    assert!(delay >= 1.9, "called back {delay:.2} s after the hang-up, not before callback_delay");
    let to_target = target.received("INVITE");
    assert_eq!(to_target.len(), 1, "{}", target.summary());
    assert!(to_target[0].first_line.starts_with("INVITE sip:01632960123@"), "{}", to_target[0].first_line);
}

#[test]
fn a_callback_is_refused_while_the_user_is_on_a_twinned_call() {
    let ports = FsPorts::new();
    let Some((fs, mut esl)) = launch("freeswitch::callback_busy", ports, |s| s, true) else { return };
    let _desk = Phone::uas(&fs, "desk", ports.desk, &Answer::Never);
    let _first_mobile = Phone::uas(&fs, "mobile-ringing", ports.mobile, &Answer::Never);
    let mut twinned = Phone::call(&fs, "twinned", "1001", &Caller::CancelAfter { ms: 8000 });
    esl.event("twinning::start", &[("User", "1001")], WAIT).expect("a call for 1001");
    let mut caller = Phone::call(&fs, "caller", "407700900123", &Caller::CancelAfter { ms: 1500 });
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason")),
        ("callback", "refused", "busy"),
        "{e:?}"
    );
    caller.wait(WAIT);
    twinned.wait(WAIT);
}

#[test]
fn a_callback_answered_by_voicemail_inside_the_guard_gets_no_dial_tone() {
    let ports = FsPorts::new();
    let Some((fs, mut esl)) = launch("freeswitch::callback_voicemail", ports, |s| s, true) else { return };
    let mut mobile = Phone::uas(
        &fs,
        "mobile",
        ports.mobile,
        &Answer::After { after_ms: 300, dtmf: vec![(800, "2468#"), (1500, "01632960123#")] },
    );
    let mut target = Phone::uas(&fs, "target", ports.desk2, &Answer::Never);
    let mut caller = Phone::call(&fs, "caller", "407700900123", &Caller::CancelAfter { ms: 1500 });
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason")),
        ("callback", "refused", "no_answer"),
        "{e:?}"
    );
    caller.wait(WAIT);
    mobile.wait(WAIT);
    assert_eq!(mobile.received("BYE").len(), 1, "voicemail is hung up: {}", mobile.summary());
    assert!(esl.drain("twinning::auth_failed", Duration::from_secs(2)).is_empty(), "no PIN was asked");
    assert!(target.received("INVITE").is_empty());
    target.wait(Duration::from_secs(1));
}

/// Many access calls at once, of every kind, in a seeded random order (the seed is printed;
/// `TWINNING_ACCESS_SEED` repeats it): every call that was not hung up early is accounted
/// for by exactly one `twinning::access` with the expected outcome, only the granted numbers
/// reach the trunk, once each, and no channel is left behind.
#[test]
fn concurrent_access_calls_are_each_accounted_for_and_leave_nothing_behind() {
    let mut plan = AccessChaos::from_env();
    let seed = plan.seed;
    let Some(mut s) = start_with("freeswitch::access_chaos", |settings| {
        settings.user_param("1001", "access_rate", 100).param("pin_max_attempts", 20)
    }) else {
        return;
    };
    let mut phones = Vec::new();
    let mut events = Vec::new();
    for i in 0..20 {
        let (exten, behaviour) = plan.call(i);
        phones.push(Phone::call(&s.fs, &format!("caller{i}"), exten, &behaviour));
        // The event socket is read all along, as a monitoring client would.
        events.extend(s.esl.drain("twinning::access", Duration::from_millis(100 + plan.next(300))));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while events.len() < plan.total() && std::time::Instant::now() < deadline {
        events.extend(s.esl.drain("twinning::access", Duration::from_millis(500)));
    }
    for p in &mut phones {
        p.wait(WAIT);
    }
    events.extend(s.esl.drain("twinning::access", Duration::from_secs(2)));
    plan.check_outcomes(events.iter().map(|e| (e.must("Result"), e.must("Reason"))));
    plan.check_reached(&s.trunk.received("INVITE"));
    assert_eq!(s.fs.sessions(), 0, "seed {seed}: sessions left");
}

#[test]
fn a_second_callback_while_one_is_pending_and_a_caller_past_the_window_are_refused() {
    let ports = FsPorts::new();
    let Some((fs, mut esl)) = launch("freeswitch::callback_pending", ports, |s| s, true) else { return };
    let mut mobile = Phone::uas(&fs, "mobile", ports.mobile, &Answer::Never);
    let mut first = Phone::call(&fs, "first", "407700900123", &Caller::CancelAfter { ms: 1000 });
    first.wait(WAIT);
    let mut second = Phone::call(&fs, "second", "407700900123", &Caller::CancelAfter { ms: 1000 });
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason")),
        ("callback", "refused", "pending"),
        "{e:?}"
    );
    second.wait(WAIT);
    let e = esl.event("twinning::access", &[], Duration::from_secs(60)).expect("the call back's end");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "no_answer"), "{e:?}");
    assert_eq!(mobile.received("INVITE").len(), 1, "{}", mobile.summary());
    mobile.wait(Duration::from_secs(1));
    let mut stays = Phone::call(&fs, "stays", "407700900123", &Caller::CancelAfter { ms: 12_000 });
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "window"), "{e:?}");
    let r = esl.event("twinning::test", &[("Error", "window")], WAIT).expect("the dialplan went on");
    assert_eq!(r.must("Callback"), "REFUSED");
    stays.wait(WAIT);
}

/// The request is checked again just before the call back: a user whose `mobile_callback`
/// is switched off during `callback_delay` is not called back, and the refusal is raised.
#[test]
fn a_callback_is_checked_again_before_the_call_back_is_placed() {
    let ports = FsPorts::new();
    let more = |s: FsSettings| s.param("callback_delay", 6);
    let Some((fs, mut esl)) = launch("freeswitch::callback_recheck", ports, more, true) else { return };
    let mut mobile = Phone::uas(&fs, "mobile", ports.mobile, &Answer::Never);
    let mut caller = Phone::call(&fs, "caller", "407700900123", &Caller::CancelAfter { ms: 1000 });
    caller.wait(WAIT);
    let r = esl.api("twinning set 1001 mobile_callback no");
    assert!(r.starts_with("+OK"), "{r}");
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason"), e.must("User")),
        ("callback", "refused", "not_enabled", "1001"),
        "{e:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(mobile.received("INVITE").is_empty(), "no call back: {}", mobile.summary());
    mobile.wait(Duration::from_secs(1));
    // Nothing is left pending: with the feature back on, the user may ask again.
    assert!(esl.api("twinning set 1001 mobile_callback yes").starts_with("+OK"));
    let mut again = Phone::call(&fs, "again", "407700900123", &Caller::CancelAfter { ms: 12_000 });
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!((e.must("Result"), e.must("Reason")), ("refused", "window"), "not pending: {e:?}");
    again.wait(WAIT);
}

/// A callback whose thread fails (a panic injected into it) never stays pending: the
/// refusal is raised (`failed`), nothing is dialed, and the user may ask again.
#[test]
fn a_failed_callback_is_refused_and_never_stays_pending() {
    let ports = FsPorts::new();
    let env = [("TWINNING_INJECT_PANIC", "callback")];
    let Some((fs, mut esl)) = launch_env("freeswitch::callback_failed", ports, |s| s, true, &env) else {
        return;
    };
    let mut mobile = Phone::uas(&fs, "mobile", ports.mobile, &Answer::Never);
    for i in 0..2 {
        let mut caller =
            Phone::call(&fs, &format!("caller{i}"), "407700900123", &Caller::CancelAfter { ms: 1000 });
        let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
        assert_eq!(
            (e.must("Feature"), e.must("Result"), e.must("Reason"), e.must("User")),
            ("callback", "refused", "failed", "1001"),
            "request {i}, not pending: {e:?}"
        );
        caller.wait(WAIT);
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(mobile.received("INVITE").is_empty(), "nothing dialed: {}", mobile.summary());
    mobile.wait(Duration::from_secs(1));
}

/// Hanging up once called back, during the PIN entry, is reported: refused, `hung_up`.
#[test]
fn hanging_up_during_the_callbacks_pin_entry_is_reported() {
    let ports = FsPorts::new();
    let Some((fs, mut esl)) = launch("freeswitch::callback_hung_up", ports, |s| s, true) else { return };
    let mut mobile =
        Phone::uas(&fs, "mobile", ports.mobile, &Answer::AnswerThenHangUp { after_ms: 2000, hold_ms: 1500 });
    let mut caller = Phone::call(&fs, "caller", "407700900123", &Caller::CancelAfter { ms: 1000 });
    let e = esl.event("twinning::access", &[], WAIT).expect("twinning::access");
    assert_eq!(
        (e.must("Feature"), e.must("Result"), e.must("Reason"), e.must("User")),
        ("callback", "refused", "hung_up", "1001"),
        "{e:?}"
    );
    caller.wait(WAIT);
    mobile.wait(WAIT);
}
