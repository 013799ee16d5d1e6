//! The twinned-call scenarios the Asterisk suite runs (tests/tests/twinned_calls.rs), on a
//! real FreeSWITCH 1.10 with real SIP: the caller id in each mode, the schedule, DND, the
//! eligibility of hunt-group and forwarded calls, and a mobile network's early media.
//!
//! FreeSWITCH is used when one is given (`FREESWITCH_PREFIX`); without it every test here
//! reports itself SKIPPED, never as a pass.

use std::time::Duration;

use twinning_tests::esl::{Esl, EslEvent};
use twinning_tests::freeswitch::{FreeSwitch, FsPorts, FsSettings};
use twinning_tests::sipp::{Answer, Caller, Phone};

const WAIT: Duration = Duration::from_secs(40);
const SETTLE: Duration = Duration::from_secs(5);

const EVENTS: &[&str] =
    &["twinning::start", "twinning::leg", "twinning::end", "twinning::refused", "twinning::test"];

struct Pbx {
    fs: FreeSwitch,
    esl: Esl,
    ports: FsPorts,
}

/// User 1001 (desk and mobile on the test's SIPp phones), `twinning 1001 <options>` on
/// extension 1001 (and on the DID 51001, transferred there).
fn start(test: &str, options: &str) -> Option<Pbx> {
    let ports = FsPorts::new();
    let conf = FsSettings::new(ports.mobile).user("1001", ports.desk, "07700900123", true).xml();
    let fs = FreeSwitch::start(test, &conf, options, ports)?;
    let mut esl = fs.esl();
    esl.subscribe(EVENTS);
    Some(Pbx { fs, esl, ports })
}

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

/// What the phones saw of one call.
struct Seen {
    end: EslEvent,
    refused: Option<EslEvent>,
    caller: Phone,
    desk: Phone,
    mobile: Phone,
}

impl Seen {
    fn mobile_invites(&self) -> usize {
        self.mobile.received("INVITE").len()
    }

    fn phones(&self) -> String {
        format!("{}\n{}", self.desk.summary(), self.mobile.summary())
    }
}

impl Pbx {
    fn set(&mut self, field: &str, value: &str) {
        let reply = self.esl.api(&format!("twinning set 1001 {field} {value}"));
        assert!(reply.starts_with("+OK"), "twinning set 1001 {field} {value}: {reply}");
    }

    /// Calls `number` with the desk and the mobile answering as given; waits for the end.
    fn call(&mut self, number: &str, desk: Answer, mobile: Answer) -> Seen {
        let mut desk = Phone::uas(&self.fs, "desk", self.ports.desk, &desk);
        let mut mobile = Phone::uas(&self.fs, "mobile", self.ports.mobile, &mobile);
        let mut caller = Phone::call(&self.fs, "caller", number, &Caller::HangUpAfter { hold_ms: 300 });
        let end = self.esl.event("twinning::end", &[], WAIT).unwrap_or_else(|| {
            panic!("no twinning::end; log:\n{}\n{}\n{}", self.fs.log(), desk.summary(), mobile.summary())
        });
        let refused = self.esl.event("twinning::refused", &[], Duration::from_millis(200));
        assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
        desk.wait(SETTLE);
        mobile.wait(SETTLE);
        Seen { end, refused, caller, desk, mobile }
    }
}

/// The mobile answers; the From of its INVITE is what its screen shows.
fn mobile_from(p: &mut Pbx, number: &str) -> String {
    let seen = p.call(number, Answer::Never, ring(300));
    assert_eq!(
        (seen.end.must("Status"), seen.end.must("AnsweredBy")),
        ("ANSWERED", "mobile"),
        "{}",
        seen.phones()
    );
    seen.mobile.received("INVITE")[0].header("From").unwrap_or_default()
}

#[test]
fn caller_id_in_every_mode_reaches_the_mobile() {
    let Some(mut p) = start("freeswitch_scenarios::caller_id_in_every_mode", "") else { return };
    // original (the default): the caller's own number.
    let from = mobile_from(&mut p, "1001");
    assert!(from.contains("sip:caller@"), "original: {from}");
    p.set("caller_id", "extension");
    let from = mobile_from(&mut p, "1001");
    assert!(from.contains("sip:1001@"), "extension: {from}");
    p.set("caller_id", "+441632960999");
    let from = mobile_from(&mut p, "1001");
    assert!(from.contains("sip:+441632960999@"), "fixed: {from}");
    // did: the number the caller dialed (51001, routed to the extension), not 1001.
    p.set("caller_id", "did");
    let from = mobile_from(&mut p, "51001");
    assert!(from.contains("sip:51001@"), "did: {from}");
    // Back to original: the setting, not the dialed number, decides.
    p.set("caller_id", "original");
    let from = mobile_from(&mut p, "51001");
    assert!(from.contains("sip:caller@"), "original again: {from}");
}

/// The hour now, as the PBX's local time reads it (the test machine runs on UTC).
fn hour_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 3600 % 24
}

#[test]
fn the_schedule_refuses_the_mobile_outside_its_rules_and_rings_it_inside() {
    let Some(mut p) = start("freeswitch_scenarios::schedule", "") else { return };
    // A one-minute window twelve hours from now is never now.
    let outside = (hour_now() + 12) % 24;
    p.set("schedule", &format!("{outside:02}:00-{outside:02}:01"));
    let seen = p.call("1001", ring(600), ring(200));
    assert_eq!((seen.end.must("Status"), seen.end.must("AnsweredBy")), ("ANSWERED", "desk"));
    let refused = seen.refused.as_ref().expect("twinning::refused outside the schedule");
    assert_eq!(refused.must("Reason"), "schedule");
    assert_eq!(seen.mobile_invites(), 0, "the mobile rang outside the schedule: {}", seen.phones());
    // A window from this hour to two hours on (past midnight if need be) holds now.
    let (from, to) = (hour_now(), (hour_now() + 2) % 24);
    p.set("schedule", &format!("{from:02}:00-{to:02}:00"));
    let seen = p.call("1001", Answer::Never, ring(300));
    assert_eq!(
        (seen.end.must("Status"), seen.end.must("AnsweredBy")),
        ("ANSWERED", "mobile"),
        "{}",
        seen.phones()
    );
    assert!(seen.refused.is_none(), "refused inside the schedule: {:?}", seen.refused);
}

#[test]
fn dnd_rings_nothing() {
    let Some(mut p) = start("freeswitch_scenarios::dnd", "") else { return };
    p.set("dnd", "yes");
    let seen = p.call("1001", ring(300), ring(300));
    assert_eq!(seen.end.must("Status"), "DND");
    assert_eq!(seen.refused.as_ref().expect("twinning::refused for DND").must("Reason"), "dnd");
    assert!(
        seen.desk.received("INVITE").is_empty() && seen.mobile_invites() == 0,
        "a phone rang with DND on: {}",
        seen.phones()
    );
    // The dialplan goes on with the status, as it would to voicemail.
    let result = p.esl.event("twinning::test", &[], WAIT).expect("the dialplan went on");
    assert_eq!(result.must("Status"), "DND");
}

/// A call marked as coming through a hunt group (`h`) or forwarded (`f`) rings only the
/// desk while the user's settings leave such calls out (the default).
fn desk_only_for(option: &str) {
    let test = format!("freeswitch_scenarios::eligibility_{option}");
    let Some(mut p) = start(&test, option) else { return };
    let seen = p.call("1001", ring(600), ring(200));
    assert_eq!(
        (seen.end.must("Status"), seen.end.must("AnsweredBy")),
        ("ANSWERED", "desk"),
        "{}",
        seen.phones()
    );
    let refused = seen.refused.as_ref().expect("twinning::refused for eligibility");
    assert_eq!(refused.must("Reason"), "eligibility");
    assert_eq!(seen.mobile_invites(), 0, "the mobile rang for an ineligible call: {}", seen.phones());
}

#[test]
fn hunt_group_and_forwarded_calls_follow_eligibility() {
    desk_only_for("h");
    desk_only_for("f");
}

#[test]
fn an_eligible_hunt_group_call_rings_the_mobile() {
    let Some(mut p) = start("freeswitch_scenarios::eligible_hunt_group", "h") else { return };
    p.set("hunt_group_calls", "yes");
    let seen = p.call("1001", Answer::Never, ring(300));
    assert_eq!(
        (seen.end.must("Status"), seen.end.must("AnsweredBy")),
        ("ANSWERED", "mobile"),
        "{}",
        seen.phones()
    );
    assert!(seen.refused.is_none(), "{:?}", seen.refused);
}

/// Whether a SIP message carries a session description (media).
fn has_sdp(m: &twinning_tests::sipp::SipMessage) -> bool {
    m.text.contains("m=audio")
}

/// A mobile network answers the INVITE with 183 and SDP (an announcement, its own
/// ringback): while the desk rings, that media must not reach the caller, who hears
/// ringing (signalwire/freeswitch #2596, #2490).
#[test]
fn early_media_from_the_mobile_does_not_reach_the_caller_while_the_desk_rings() {
    let Some(mut p) = start("freeswitch_scenarios::early_media_while_the_desk_rings", "") else { return };
    let early = Answer::EarlyMedia { ringing_after_ms: None, answer_after_ms: None };
    let seen = p.call("1001", ring(1500), early);
    assert_eq!(
        (seen.end.must("Status"), seen.end.must("AnsweredBy")),
        ("ANSWERED", "desk"),
        "{}",
        seen.phones()
    );
    let early: Vec<_> = [180, 183].iter().flat_map(|c| seen.caller.received_responses(*c)).collect();
    assert!(!early.is_empty(), "the caller heard no ringing: {}", seen.caller.summary());
    assert!(
        early.iter().all(|m| !has_sdp(m)),
        "the mobile's early media reached the caller: {:?}",
        early.iter().map(|m| &m.text).collect::<Vec<_>>()
    );
}

/// A 183 followed by a 180 from the mobile (the desk busy): the caller still gets ringing
/// before the mobile answers.
#[test]
fn a_183_then_a_180_from_the_mobile_still_gives_the_caller_ringing() {
    let Some(mut p) = start("freeswitch_scenarios::183_then_180", "") else { return };
    let early = Answer::EarlyMedia { ringing_after_ms: Some(400), answer_after_ms: Some(1500) };
    let seen = p.call("1001", Answer::Busy, early);
    assert_eq!(
        (seen.end.must("Status"), seen.end.must("AnsweredBy")),
        ("ANSWERED", "mobile"),
        "{}",
        seen.phones()
    );
    let ok = seen.caller.received_responses(200);
    let ringing = seen.caller.received_responses(180);
    assert!(
        ringing.first().is_some_and(|r| ok.first().is_none_or(|o| r.at <= o.at)),
        "the caller got no 180 before the answer: {}",
        seen.caller.summary()
    );
    let early: Vec<_> = [180, 183].iter().flat_map(|c| seen.caller.received_responses(*c)).collect();
    assert!(
        early.iter().all(|m| !has_sdp(m)),
        "the mobile's early media reached the caller: {}",
        seen.caller.summary()
    );
}
