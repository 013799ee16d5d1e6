//! Twinned calls over real SIP: SIPp plays the caller, the desk phone and the mobile trunk;
//! Asterisk runs Twinning(). Each test checks what every phone saw and the AMI events.

use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::{Instance, Message};

const WAIT: Duration = Duration::from_secs(40);
const SETTLE: Duration = Duration::from_secs(5);

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

struct Call {
    pbx: Instance,
    ami: Ami,
    desk: Phone,
    mobile: Phone,
}

/// A PBX with the desk phone and mobile trunk answering as given.
fn setup(conf: &str, options: &str, desk: Answer, mobile: Answer) -> Call {
    let ports = PhonePorts::new();
    let pbx = pbx::start(conf, options, ports);
    let ami = pbx.ami();
    let desk = Phone::uas(&pbx, "desk", ports.desk, &desk);
    let mobile = Phone::uas(&pbx, "mobile", ports.mobile, &mobile);
    Call { pbx, ami, desk, mobile }
}

impl Call {
    fn set(&mut self, field: &str, value: &str) {
        let r = self.ami.action("TwinningSet", &[("User", "1001"), ("Field", field), ("Value", value)]);
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    }

    /// Calls 1001 and waits for the call to end; returns TwinningEnd.
    fn call(&mut self, caller: Caller) -> Message {
        let mut phone = Phone::call(&self.pbx, "caller", "1001", &caller);
        let end = self
            .ami
            .event("TwinningEnd", &[], WAIT)
            .unwrap_or_else(|| panic!("no TwinningEnd; {}", self.phones()));
        assert_eq!(phone.wait(WAIT), Some(0), "the caller's call went wrong: {}", phone.summary());
        self.desk.wait(SETTLE);
        self.mobile.wait(SETTLE);
        end
    }

    /// The states the AMI events gave `leg`, in order.
    fn states(&mut self, leg: &str) -> Vec<String> {
        let mut all = self.ami.drain_events("TwinningLeg", Duration::from_millis(300));
        all.retain(|e| e.get("Leg") == Some(leg));
        all.iter().map(|e| e.must("State").to_owned()).collect()
    }

    fn bridged(&mut self) -> Vec<String> {
        self.ami
            .drain_events("TwinningBridged", Duration::from_millis(100))
            .iter()
            .map(|e| e.must("Leg").to_owned())
            .collect()
    }

    fn result(&mut self) -> Message {
        self.ami
            .event("UserEvent", &[("UserEvent", "TwinningResult")], WAIT)
            .unwrap_or_else(|| panic!("the dialplan did not continue after Twinning(); {}", self.phones()))
    }

    fn phones(&self) -> String {
        format!("{}\n{}", self.desk.summary(), self.mobile.summary())
    }
}

#[test]
fn desk_answers_first_and_the_mobile_stops_ringing() {
    let mut c = setup(pbx::TWINNING_CONF, "", ring(1000), Answer::Never);
    let end = c.call(Caller::HangUpAfter { hold_ms: 1000 });
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"));
    assert!(c.desk.answered() && c.desk.received("BYE").len() == 1, "{}", c.phones());
    assert_eq!(c.mobile.received("INVITE").len(), 1, "{}", c.phones());
    assert_eq!(c.mobile.received("CANCEL").len(), 1, "{}", c.phones());
    assert!(!c.mobile.answered());
    let bridged = c.ami.event("TwinningBridged", &[], Duration::ZERO).expect("TwinningBridged");
    let stamp = |m: &Message| m.must("Timestamp").parse::<f64>().unwrap();
    assert!(
        stamp(&end) - stamp(&bridged) >= 0.9,
        "bridged is announced when the bridge starts, not when it ends"
    );
    assert_eq!(bridged.must("Leg"), "desk");
    assert_eq!(c.states("mobile"), ["dialing", "ringing", "cancelled"]);
    assert!(end.must("Channel").starts_with("PJSIP/caller-"), "events carry the caller's channel: {end:?}");
}

#[test]
fn mobile_answers_first_with_the_configured_caller_id() {
    let mut c = setup(pbx::TWINNING_CONF, "", Answer::Never, ring(1000));
    c.set("caller_id", "+441632960999");
    let end = c.call(Caller::HangUpAfter { hold_ms: 1000 });
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "mobile"));
    assert!(c.mobile.answered(), "{}", c.phones());
    assert_eq!(c.desk.received("CANCEL").len(), 1, "{}", c.phones());
    let invite = &c.mobile.received("INVITE")[0];
    assert!(invite.first_line.starts_with("INVITE sip:07700900123@"), "{}", invite.first_line);
    assert!(
        invite.header("From").unwrap().contains("+441632960999"),
        "caller id on the mobile leg: {:?}",
        invite.header("From")
    );
    let desk_invite = &c.desk.received("INVITE")[0];
    assert!(
        desk_invite.header("From").unwrap().contains("sip:caller@"),
        "the desk sees the caller: {:?}",
        desk_invite.header("From")
    );
}

/// A DID routed to the extension by Goto: `caller_id = did` shows the number the caller
/// dialed (the DNID), not the extension that ran Twinning().
#[test]
fn caller_id_did_shows_the_number_the_caller_dialed() {
    let mut c = setup(pbx::TWINNING_CONF, "", Answer::Never, ring(800));
    c.set("caller_id", "did");
    let mut phone = Phone::call(&c.pbx, "caller", "51001", &Caller::HangUpAfter { hold_ms: 800 });
    let end =
        c.ami.event("TwinningEnd", &[], WAIT).unwrap_or_else(|| panic!("no TwinningEnd; {}", c.phones()));
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "mobile"));
    assert_eq!(phone.wait(WAIT), Some(0), "{}", phone.summary());
    c.mobile.wait(SETTLE);
    let invite = &c.mobile.received("INVITE")[0];
    let from = invite.header("From").unwrap_or_default();
    assert!(from.contains("sip:51001@"), "the mobile is shown the DID, not the extension: {from}");
    // The desk still sees the caller, whatever the mobile is shown.
    c.desk.wait(SETTLE);
    let desk_from = c.desk.received("INVITE")[0].header("From").unwrap_or_default();
    assert!(desk_from.contains("sip:caller@"), "{desk_from}");
}

#[test]
fn a_mobile_answer_inside_the_guard_is_voicemail_and_the_desk_still_wins() {
    let mut c = setup(pbx::TWINNING_CONF, "g(2)", ring(2500), ring(300));
    let end = c.call(Caller::HangUpAfter { hold_ms: 500 });
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"));
    assert!(
        c.mobile.answered() && c.mobile.received("BYE").len() == 1,
        "voicemail is hung up: {}",
        c.phones()
    );
    assert!(c.desk.answered(), "{}", c.phones());
    assert_eq!(c.states("mobile"), ["dialing", "ringing", "answered", "guarded"]);
    assert_eq!(c.bridged(), ["desk"]);
}

#[test]
fn confirmation_accepted_by_pressing_1() {
    let mut c = setup(
        pbx::TWINNING_CONF,
        "c",
        Answer::Never,
        Answer::After { after_ms: 500, dtmf: vec![(1500, "1")] },
    );
    let end = c.call(Caller::HangUpAfter { hold_ms: 500 });
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "mobile"), "{}", c.phones());
    assert_eq!(c.states("mobile"), ["dialing", "ringing", "answered", "confirmed"]);
    assert_eq!(
        c.desk.received("CANCEL").len(),
        1,
        "the desk rang until the mobile confirmed: {}",
        c.phones()
    );
    let confirm_at = c.mobile.messages().iter().find(|m| !m.received && m.is_response(200)).unwrap().at;
    let desk_cancel = c.desk.first_received_at("CANCEL").unwrap();
    assert!(desk_cancel - confirm_at >= 1.4, "the desk kept ringing during confirmation: {}", c.phones());
}

#[test]
fn confirmation_declined_by_pressing_2_leaves_the_desk_ringing() {
    let mut c =
        setup(pbx::TWINNING_CONF, "c", ring(4000), Answer::After { after_ms: 500, dtmf: vec![(1000, "2")] });
    let end = c.call(Caller::HangUpAfter { hold_ms: 500 });
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"), "{}", c.phones());
    let declined = c.ami.event("TwinningLeg", &[("Leg", "mobile"), ("State", "declined")], Duration::ZERO);
    assert_eq!(declined.map(|e| e.must("Cause").to_owned()).as_deref(), Some("key"));
    assert_eq!(c.mobile.received("BYE").len(), 1, "{}", c.phones());
}

#[test]
fn confirmation_times_out() {
    let mut c = setup(pbx::TWINNING_CONF, "c", ring(10_500), ring(500));
    let end = c.call(Caller::HangUpAfter { hold_ms: 500 });
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"), "{}", c.phones());
    let declined = c.ami.event("TwinningLeg", &[("Leg", "mobile"), ("State", "declined")], Duration::ZERO);
    assert_eq!(declined.map(|e| e.must("Cause").to_owned()).as_deref(), Some("timeout"));
    let answered_at = c.mobile.messages().iter().find(|m| !m.received && m.is_response(200)).unwrap().at;
    let bye_at = c.mobile.first_received_at("BYE").unwrap();
    assert!(
        (7.5..9.5).contains(&(bye_at - answered_at)),
        "hung up after the 8 s confirmation window: {}",
        c.phones()
    );
}

#[test]
fn the_dial_delay_holds_the_mobile_back() {
    let mut c = setup(pbx::TWINNING_CONF, "d(2)", ring(3500), Answer::Never);
    c.call(Caller::HangUpAfter { hold_ms: 200 });
    let desk_at = c.desk.first_received_at("INVITE").unwrap();
    let mobile_at = c.mobile.first_received_at("INVITE").expect("the mobile rang");
    let gap = mobile_at - desk_at;
    // The delay runs from the call's start, the desk's INVITE goes a moment after it: on a
    // loaded machine that moment is tens of milliseconds.
    assert!((1.9..2.5).contains(&gap), "mobile INVITE {gap:.3} s after the desk's: {}", c.phones());
}

#[test]
fn no_answer_returns_to_the_dialplan() {
    let mut c = setup(pbx::TWINNING_CONF, "r(5)", Answer::Never, Answer::Never);
    let end = c.call(Caller::HangUpAfter { hold_ms: 100 });
    assert_eq!(end.must("Status"), "NOANSWER");
    let result = c.result();
    assert_eq!((result.must("Status"), result.must("AnsweredBy")), ("NOANSWER", ""));
    assert_eq!(
        (c.desk.received("CANCEL").len(), c.mobile.received("CANCEL").len()),
        (1, 1),
        "{}",
        c.phones()
    );
    assert!((4.5..6.5).contains(&(end.must("Duration").parse::<f64>().unwrap() / 1000.0)), "{end:?}");
}

#[test]
fn dnd_rings_nothing() {
    let mut c = setup(pbx::TWINNING_CONF, "", ring(500), ring(500));
    c.set("dnd", "yes");
    let end = c.call(Caller::HangUpAfter { hold_ms: 100 });
    assert_eq!(end.must("Status"), "DND");
    assert_eq!(c.result().must("Status"), "DND");
    let refused = c.ami.event("TwinningRefused", &[], Duration::ZERO).expect("TwinningRefused");
    assert_eq!(refused.must("Reason"), "dnd");
    assert!(c.desk.received("INVITE").is_empty() && c.mobile.received("INVITE").is_empty(), "{}", c.phones());
}

/// Each refusal rings only the desk and says why.
fn desk_only(field: &str, value: &str, options: &str, reason: &str) {
    let mut c = setup(pbx::TWINNING_CONF, options, ring(800), ring(300));
    if !field.is_empty() {
        c.set(field, value);
    }
    let end = c.call(Caller::HangUpAfter { hold_ms: 200 });
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"));
    let refused = c.ami.event("TwinningRefused", &[], Duration::ZERO).expect("TwinningRefused");
    assert_eq!(refused.must("Reason"), reason, "{refused:?}");
    assert!(c.mobile.received("INVITE").is_empty(), "the mobile trunk saw an INVITE: {}", c.phones());
}

#[test]
fn disabled_twinning_rings_only_the_desk() {
    desk_only("enabled", "no", "", "disabled");
}

#[test]
fn outside_the_schedule_rings_only_the_desk() {
    // A one-minute window twelve hours from now is never now.
    let hour = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 3600
        + 12)
        % 24;
    desk_only("schedule", &format!("{hour:02}:00-{hour:02}:01"), "", "schedule");
}

#[test]
fn hunt_group_and_forwarded_calls_follow_eligibility() {
    desk_only("", "", "h", "eligibility");
    desk_only("", "", "f", "eligibility");
}

#[test]
fn an_off_policy_number_never_reaches_the_trunk() {
    let mut c = setup(pbx::TWINNING_CONF, "", ring(800), ring(300));
    c.set("mobile", "");
    let r = c.ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "09011112222")]);
    assert_eq!(r.get("Response"), Some("Error"));
    let r = c
        .ami
        .action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "0770&PJSIP/desk1002")]);
    assert_eq!(r.get("Response"), Some("Error"));
    let end = c.call(Caller::HangUpAfter { hold_ms: 200 });
    assert_eq!(end.must("AnsweredBy"), "desk");
    assert!(c.mobile.received("INVITE").is_empty(), "{}", c.phones());
}

#[test]
fn the_concurrent_cap_holds() {
    let conf = pbx::TWINNING_CONF.replace("answer_guard = 0", "answer_guard = 0\nmax_concurrent = 1");
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf, "", ports);
    let mut ami = pbx.ami();
    let mut desk1 = Phone::uas(&pbx, "desk1", ports.desk, &ring(2500));
    let mut desk2 = Phone::uas(&pbx, "desk2", ports.desk2, &ring(2500));
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::Never);
    let mut first = Phone::call(&pbx, "caller1", "1001", &Caller::HangUpAfter { hold_ms: 200 });
    std::thread::sleep(Duration::from_millis(500));
    let mut second = Phone::call(&pbx, "caller2", "1002", &Caller::HangUpAfter { hold_ms: 200 });
    assert_eq!(first.wait(WAIT), Some(0), "{}", first.summary());
    assert_eq!(second.wait(WAIT), Some(0), "{}", second.summary());
    let refused = ami.event("TwinningRefused", &[], Duration::from_secs(5)).expect("TwinningRefused");
    assert_eq!((refused.must("Reason"), refused.must("User")), ("cap", "1002"));
    for p in [&mut desk1, &mut desk2, &mut mobile] {
        p.wait(SETTLE);
    }
    let invites = mobile.received("INVITE");
    assert_eq!(invites.len(), 1, "{}", mobile.summary());
    assert!(invites[0].first_line.contains("07700900123"), "the first call's mobile rang");
    assert!(desk1.answered() && desk2.answered());
}

#[test]
fn simultaneous_answers_bridge_exactly_one_leg() {
    let mut c = setup(pbx::TWINNING_CONF, "", ring(1500), ring(1500));
    let end = c.call(Caller::HangUpAfter { hold_ms: 500 });
    assert_eq!(end.must("Status"), "ANSWERED");
    let winner = end.must("AnsweredBy").to_owned();
    assert_eq!(c.bridged(), std::slice::from_ref(&winner));
    let (won, lost) = if winner == "desk" { (&c.desk, &c.mobile) } else { (&c.mobile, &c.desk) };
    assert!(won.answered() && won.received("BYE").len() == 1, "{}", c.phones());
    // The other leg is stopped: a CANCEL while it rings, a BYE once answered. When its 200
    // crosses our CANCEL, RFC 3261 has us ACK and BYE that answer too, so both can come.
    let (cancels, byes) = (lost.received("CANCEL").len(), lost.received("BYE").len());
    assert!(cancels <= 1 && byes <= 1 && cancels + byes >= 1, "the other leg is stopped: {}", c.phones());
    assert!(!lost.answered() || byes == 1, "an answered losing leg gets a BYE: {}", c.phones());
}

#[test]
fn the_caller_hanging_up_cancels_every_leg() {
    let mut c = setup(pbx::TWINNING_CONF, "", Answer::Never, Answer::Never);
    let end = c.call(Caller::CancelAfter { ms: 1500 });
    assert_eq!(end.must("Status"), "CANCEL");
    assert_eq!(
        (c.desk.received("CANCEL").len(), c.mobile.received("CANCEL").len()),
        (1, 1),
        "{}",
        c.phones()
    );
    assert!(c.pbx.cli("twinning show calls").contains("0 twinned calls"));
}

#[test]
fn busy_desk_and_unanswered_mobile_report_busy() {
    let mut c = setup(pbx::TWINNING_CONF, "r(5)", Answer::Busy, Answer::Never);
    let end = c.call(Caller::HangUpAfter { hold_ms: 100 });
    assert_eq!(end.must("Status"), "NOANSWER", "the mobile rang to the end");
    let failed = c
        .ami
        .event("TwinningLeg", &[("Leg", "desk"), ("State", "failed")], Duration::ZERO)
        .expect("desk failed");
    assert_eq!(failed.must("Cause"), "busy");
}

#[test]
fn calls_in_progress_are_listed() {
    let mut c = setup(pbx::TWINNING_CONF, "d(5)", Answer::Never, Answer::Never);
    let mut caller = Phone::call(&c.pbx, "caller", "1001", &Caller::CancelAfter { ms: 2000 });
    std::thread::sleep(Duration::from_millis(1000));
    let calls = c.pbx.cli("twinning show calls");
    assert!(
        calls.contains("1001") && calls.contains("desk:ringing") && calls.contains("mobile:waiting"),
        "{calls}"
    );
    assert!(calls.contains("1 twinned call"), "{calls}");
    caller.wait(WAIT);
    c.ami.event("TwinningEnd", &[], WAIT).expect("end");
}

/// Whether a SIP message carries a session description (media).
fn has_sdp(m: &twinning_tests::sipp::SipMessage) -> bool {
    m.text.contains("m=audio")
}

/// Calls 1001 and returns the caller's phone and TwinningEnd.
fn call_keeping_the_caller(c: &mut Call) -> (Phone, Message) {
    let mut caller = Phone::call(&c.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 300 });
    let end =
        c.ami.event("TwinningEnd", &[], WAIT).unwrap_or_else(|| panic!("no TwinningEnd; {}", c.phones()));
    assert_eq!(caller.wait(WAIT), Some(0), "the caller's call went wrong: {}", caller.summary());
    c.desk.wait(SETTLE);
    c.mobile.wait(SETTLE);
    (caller, end)
}

/// A mobile network answers the INVITE with 183 and SDP (an announcement, its own
/// ringback): while the desk rings, that media must not reach the caller, who hears
/// ringing.
#[test]
fn early_media_from_the_mobile_does_not_reach_the_caller_while_the_desk_rings() {
    let early = Answer::EarlyMedia { ringing_after_ms: None, answer_after_ms: None };
    let mut c = setup(pbx::TWINNING_CONF, "", ring(1500), early);
    let (caller, end) = call_keeping_the_caller(&mut c);
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"), "{}", c.phones());
    let early: Vec<_> = [180, 183].iter().flat_map(|code| caller.received_responses(*code)).collect();
    assert!(!early.is_empty(), "the caller heard no ringing: {}", caller.summary());
    assert!(
        early.iter().all(|m| !has_sdp(m)),
        "the mobile's early media reached the caller: {}",
        caller.summary()
    );
}

/// A 183 followed by a 180 from the mobile (the desk busy): the caller still gets ringing
/// before the mobile answers.
#[test]
fn a_183_then_a_180_from_the_mobile_still_gives_the_caller_ringing() {
    let early = Answer::EarlyMedia { ringing_after_ms: Some(400), answer_after_ms: Some(1500) };
    let mut c = setup(pbx::TWINNING_CONF, "", Answer::Busy, early);
    let (caller, end) = call_keeping_the_caller(&mut c);
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "mobile"), "{}", c.phones());
    let ok = caller.received_responses(200);
    let ringing = caller.received_responses(180);
    assert!(
        ringing.first().is_some_and(|r| ok.first().is_none_or(|o| r.at <= o.at)),
        "the caller got no 180 before the answer: {}",
        caller.summary()
    );
    let early: Vec<_> = [180, 183].iter().flat_map(|code| caller.received_responses(*code)).collect();
    assert!(
        early.iter().all(|m| !has_sdp(m)),
        "the mobile's early media reached the caller: {}",
        caller.summary()
    );
}
