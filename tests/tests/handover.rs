//! Moving an answered call between desk and mobile over real SIP: pickup to the desk by
//! feature code and by AMI, push to the mobile by DTMF and by AMI (answered, unanswered,
//! voicemail), and the mobile's codes (to desk, hold, transfer). Throughout, the caller's
//! dialog is never torn down or re-INVITEd.

use std::net::UdpSocket;
use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::{Instance, Message};

const WAIT: Duration = Duration::from_secs(40);

fn conf() -> String {
    pbx::TWINNING_CONF.replace("answer_guard = 0", "answer_guard = 0\nhandover_timeout = 5")
}

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

struct Call {
    pbx: Instance,
    ami: Ami,
    ports: PhonePorts,
    caller: Phone,
    first: Phone,
}

/// A call to 1001 answered by `who` ("desk" or "mobile"), the other device left ringing and
/// cancelled; the caller stays `hold_ms`.
fn answered_by(who: &str, hold_ms: u64, answer: Answer, conf: &str) -> Call {
    let ports = PhonePorts::new();
    let pbx = pbx::start(conf, "", ports);
    let mut ami = pbx.ami();
    let (desk_answer, mobile_answer) =
        if who == "desk" { (answer, Answer::Never) } else { (Answer::Never, answer) };
    let desk = Phone::uas(&pbx, "desk", ports.desk, &desk_answer);
    let mobile = Phone::uas(&pbx, "mobile", ports.mobile, &mobile_answer);
    let caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms });
    let bridged = ami.event("TwinningBridged", &[], WAIT).expect("the call was answered");
    assert_eq!(bridged.must("Leg"), who);
    let (mut first, mut other) = if who == "desk" { (desk, mobile) } else { (mobile, desk) };
    other.wait(Duration::from_secs(5));
    assert_eq!(other.received("CANCEL").len(), 1, "{}", other.summary());
    let _ = &mut first;
    Call { pbx, ami, ports, caller, first }
}

impl Call {
    fn handover(&mut self, result: &str) -> Message {
        self.ami
            .event("TwinningHandover", &[("Result", result)], WAIT)
            .unwrap_or_else(|| panic!("no TwinningHandover {result}; {}", self.caller.summary()))
    }

    /// Waits for the call to end and checks the caller's dialog was never touched. The
    /// phones' traces stay readable (they live in the PBX's directory, kept with `self`).
    fn end(&mut self) -> Message {
        let end = self.ami.event("TwinningEnd", &[], WAIT).expect("TwinningEnd");
        assert_eq!(self.caller.wait(WAIT), Some(0), "{}", self.caller.summary());
        self.first.wait(Duration::from_secs(5));
        // The caller kept one dialog from INVITE to its own BYE: no re-INVITE, no BYE from us.
        let caller_in: Vec<String> =
            self.caller.messages().iter().filter(|m| m.received).map(|m| m.first_line.clone()).collect();
        assert!(
            !caller_in.iter().any(|l| l.starts_with("INVITE") || l.starts_with("BYE")),
            "the caller's dialog was touched: {caller_in:?}"
        );
        end
    }
}

#[test]
fn pickup_by_feature_code_moves_a_mobile_call_to_the_desk() {
    let mut c = answered_by("mobile", 6000, ring(300), &conf());
    std::thread::sleep(Duration::from_millis(500));
    let mut desk =
        Phone::call_as(&c.pbx, "desk-pickup", "desk1001", "*27", &Caller::KeyIn { digits: String::new() });
    let h = c.handover("completed");
    assert_eq!((h.must("From"), h.must("To"), h.must("Trigger")), ("mobile", "desk", "featurecode"));
    let mobile_bye = {
        c.first.wait(Duration::from_secs(5));
        c.first.first_received_at("BYE").expect("the mobile is released")
    };
    let end = c.end();
    let caller = &c.caller;
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"));
    assert_eq!(desk.wait(WAIT), Some(0), "{}", desk.summary());
    let caller_bye =
        caller.messages().iter().find(|m| !m.received && m.first_line.starts_with("BYE")).unwrap().at;
    let desk_bye = desk.first_received_at("BYE").expect("the desk is in the call until the caller hangs up");
    assert!(
        desk_bye >= caller_bye - 0.01 && mobile_bye < caller_bye - 1.0,
        "desk {desk_bye} mobile {mobile_bye} caller {caller_bye}"
    );
}

#[test]
fn pickup_when_there_is_nothing_to_pick_up_says_so() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf(), "", ports);
    let mut desk =
        Phone::call_as(&pbx, "desk-pickup", "desk1001", "*27", &Caller::KeyIn { digits: String::new() });
    assert_eq!(desk.wait(WAIT), Some(0), "{}", desk.summary());
    assert!(
        pbx.log().contains("TwinningPickup(1001): user 1001 has no answered twinned call"),
        "{}",
        pbx.log()
    );
}

#[test]
fn ami_moves_a_mobile_call_to_the_desk() {
    let mut c = answered_by("mobile", 6000, ring(300), &conf());
    let mut desk = Phone::uas(&c.pbx, "desk2", c.ports.desk, &ring(800));
    let r = c.ami.action("TwinningHandover", &[("User", "1001"), ("To", "desk")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let h = c.handover("completed");
    assert_eq!((h.must("From"), h.must("To"), h.must("Trigger")), ("mobile", "desk", "ami"));
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "desk");
    assert_eq!(c.first.received("BYE").len(), 1, "the mobile is released");
    desk.wait(Duration::from_secs(5));
    assert!(desk.answered() && desk.received("BYE").len() == 1, "{}", desk.summary());
}

#[test]
fn ami_pushes_a_desk_call_to_the_mobile() {
    let mut c = answered_by("desk", 6000, ring(300), &conf());
    let mut mobile = Phone::uas(&c.pbx, "mobile2", c.ports.mobile, &ring(800));
    let r = c.ami.action("TwinningHandover", &[("User", "1001"), ("To", "mobile")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    c.handover("completed");
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "mobile");
    assert_eq!(c.first.received("BYE").len(), 1, "the desk is released");
    mobile.wait(Duration::from_secs(5));
    assert!(mobile.answered());
    assert!(mobile.received("INVITE")[0].first_line.contains("07700900123"));
}

#[test]
fn an_unanswered_push_leaves_the_call_on_the_desk() {
    let mut c = answered_by("desk", 9000, ring(300), &conf());
    let mut mobile = Phone::uas(&c.pbx, "mobile2", c.ports.mobile, &Answer::Never);
    let r = c.ami.action("TwinningHandover", &[("User", "1001"), ("To", "mobile")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let h = c.handover("noanswer");
    assert_eq!(h.must("Trigger"), "ami");
    mobile.wait(Duration::from_secs(5));
    assert_eq!(mobile.received("CANCEL").len(), 1, "{}", mobile.summary());
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "desk");
    assert!(c.first.received("BYE").len() == 1);
}

#[test]
fn a_push_answered_by_voicemail_leaves_the_call_on_the_desk() {
    let conf = conf().replace("[1001]\n", "[1001]\nanswer_guard = 2\n");
    let mut c = answered_by("desk", 5000, ring(300), &conf);
    let mut mobile = Phone::uas(&c.pbx, "mobile2", c.ports.mobile, &ring(300));
    c.ami.action("TwinningHandover", &[("User", "1001"), ("To", "mobile")]);
    let h = c.handover("guarded");
    assert_eq!(h.must("To"), "mobile");
    mobile.wait(Duration::from_secs(5));
    assert!(
        mobile.answered() && mobile.received("BYE").len() == 1,
        "voicemail is hung up: {}",
        mobile.summary()
    );
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "desk");
}

#[test]
fn the_desk_pushes_its_call_to_the_mobile_by_dtmf() {
    let mut c = answered_by("desk", 7000, Answer::After { after_ms: 300, dtmf: vec![(1000, "*8")] }, &conf());
    let mut mobile = Phone::uas(&c.pbx, "mobile2", c.ports.mobile, &ring(600));
    let h = c.handover("completed");
    assert_eq!((h.must("From"), h.must("To"), h.must("Trigger")), ("desk", "mobile", "dtmf"));
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "mobile");
    mobile.wait(Duration::from_secs(5));
    assert!(mobile.answered());
}

#[test]
fn the_mobile_moves_its_call_to_the_desk_by_dtmf() {
    let mut c =
        answered_by("mobile", 7000, Answer::After { after_ms: 300, dtmf: vec![(1000, "**1")] }, &conf());
    let mut desk = Phone::uas(&c.pbx, "desk2", c.ports.desk, &ring(600));
    let h = c.handover("completed");
    assert_eq!((h.must("From"), h.must("To"), h.must("Trigger")), ("mobile", "desk", "dtmf"));
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "desk");
    desk.wait(Duration::from_secs(5));
    assert!(desk.answered());
}

#[test]
fn the_mobile_holds_and_resumes_the_caller() {
    let mut c = answered_by(
        "mobile",
        6000,
        Answer::After { after_ms: 300, dtmf: vec![(800, "**2"), (1000, "**2")] },
        &conf(),
    );
    let on = c.ami.event("TwinningHold", &[("State", "on")], WAIT).expect("hold");
    let off = c.ami.event("TwinningHold", &[("State", "off")], WAIT).expect("resume");
    assert_eq!(on.must("User"), "1001");
    let _ = off;
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "mobile");
}

#[test]
fn the_mobile_transfers_the_caller_blind() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf(), "", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mut mobile = Phone::uas(
        &pbx,
        "mobile",
        ports.mobile,
        &Answer::After { after_ms: 300, dtmf: vec![(800, "**32000#")] },
    );
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 6000 });
    let t = ami.event("TwinningTransfer", &[], WAIT).expect("TwinningTransfer");
    assert_eq!((t.must("Context"), t.must("Exten")), ("default", "2000"));
    let arrived = ami
        .event("UserEvent", &[("UserEvent", "TwinningTransferred")], WAIT)
        .expect("the caller reached 2000");
    assert!(arrived.must("Channel").starts_with("PJSIP/caller-"), "{arrived:?}");
    mobile.wait(Duration::from_secs(10));
    assert_eq!(mobile.received("BYE").len(), 1, "the mobile is released: {}", mobile.summary());
    caller.wait(WAIT);
}

/// A key on the mobile that starts a code but is not followed (a lone `*` for an IVR on
/// the caller's side) reaches the caller once the code can no longer complete, exactly
/// once; a code keyed later is still a code and none of its keys reach the caller.
#[test]
fn a_lone_star_on_the_mobile_reaches_the_caller_after_the_code_timeout() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf(), "", ports);
    let mut ami = pbx.ami();
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = listener.local_addr().unwrap().port();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mut mobile = Phone::uas(
        &pbx,
        "mobile",
        ports.mobile,
        &Answer::After { after_ms: 300, dtmf: vec![(1000, "*"), (3000, "**2")] },
    );
    let mut caller =
        Phone::call_listening(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 8000 }, media_port);
    assert_eq!(ami.event("TwinningBridged", &[], WAIT).expect("answered").must("Leg"), "mobile");
    let listening = {
        let trace = caller.trace_path();
        std::thread::spawn(move || {
            twinning_tests::media::keys_heard(&listener, &trace, Duration::from_secs(6))
        })
    };
    let on =
        ami.event("TwinningHold", &[("State", "on")], WAIT).expect("the code after the star still works");
    let held_at = std::time::Instant::now();
    assert_eq!(on.must("User"), "1001");
    let heard = listening.join().unwrap();
    let keys: String = heard.iter().map(|(_, k)| k).collect();
    assert_eq!(keys, "*", "the caller hears the lone star once, and no key of the code");
    // Keyed 3 s before the code: it reached the caller on its own, not pushed out by the
    // keys that came next.
    assert!(heard[0].0 + Duration::from_millis(1500) < held_at, "the star waited for the next key");
    caller.wait(WAIT);
    mobile.wait(Duration::from_secs(5));
}

#[test]
fn handover_requests_are_checked() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf(), "", ports);
    let mut ami = pbx.ami();
    for (headers, needle) in [
        (vec![("User", "1001"), ("To", "desk")], "no answered twinned call"),
        (vec![("User", "1001"), ("To", "fax")], "To must be desk or mobile"),
        (vec![("To", "desk")], "missing header: User"),
    ] {
        let r = ami.action("TwinningHandover", &headers);
        assert_eq!(r.get("Response"), Some("Error"));
        assert!(r.must("Message").contains(needle), "{r:?}");
    }
}

fn parked_conf(secs: u32) -> String {
    conf().replace("handover_timeout = 5", &format!("handover_timeout = 5\ndesk_pickup_time = {secs}"))
}

#[test]
fn after_the_mobile_hangs_up_the_desk_takes_the_held_caller() {
    let mut c = answered_by(
        "mobile",
        9000,
        Answer::AnswerThenHangUp { after_ms: 300, hold_ms: 1500 },
        &parked_conf(8),
    );
    let mut desk = Phone::uas(&c.pbx, "desk2", c.ports.desk, &ring(800));
    let started = c.handover("started");
    assert_eq!(
        (started.must("From"), started.must("To"), started.must("Trigger")),
        ("mobile", "desk", "hangup")
    );
    c.handover("completed");
    let end = c.end();
    assert_eq!((end.must("Status"), end.must("AnsweredBy")), ("ANSWERED", "desk"));
    desk.wait(Duration::from_secs(5));
    assert!(desk.answered() && desk.received("BYE").len() == 1, "{}", desk.summary());
}

#[test]
fn a_held_caller_nobody_takes_is_let_go_after_the_pickup_time() {
    let mut c = answered_by(
        "mobile",
        20_000,
        Answer::AnswerThenHangUp { after_ms: 300, hold_ms: 1000 },
        &parked_conf(4),
    );
    let mut desk = Phone::uas(&c.pbx, "desk2", c.ports.desk, &Answer::Never);
    let h = c.handover("noanswer");
    assert_eq!(h.must("Trigger"), "hangup");
    let result =
        c.ami.event("UserEvent", &[("UserEvent", "TwinningResult")], WAIT).expect("the dialplan continued");
    assert_eq!((result.must("Status"), result.must("AnsweredBy")), ("ANSWERED", "mobile"));
    desk.wait(Duration::from_secs(5));
    assert_eq!(desk.received("CANCEL").len(), 1, "{}", desk.summary());
    c.caller.wait(WAIT);
}

#[test]
fn the_pickup_code_takes_a_held_caller() {
    let mut c = answered_by(
        "mobile",
        9000,
        Answer::AnswerThenHangUp { after_ms: 300, hold_ms: 1000 },
        &parked_conf(10),
    );
    // The desk phone keeps ringing unanswered; the user dials *27 from it instead.
    let _desk = Phone::uas(&c.pbx, "desk2", c.ports.desk, &Answer::Never);
    c.handover("started");
    let mut pickup =
        Phone::call_as(&c.pbx, "desk-pickup", "desk1001", "*27", &Caller::KeyIn { digits: String::new() });
    let h = c.handover("completed");
    assert_eq!(h.must("Trigger"), "featurecode");
    let end = c.end();
    assert_eq!(end.must("AnsweredBy"), "desk");
    assert_eq!(pickup.wait(WAIT), Some(0), "{}", pickup.summary());
    assert_eq!(pickup.received("BYE").len(), 1);
}

#[test]
fn keys_that_are_not_codes_reach_the_caller_unchanged() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf(), "", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    // The mobile keys the hold code twice (consumed), then 5 and 9 (not codes).
    let mut mobile = Phone::uas(
        &pbx,
        "mobile",
        ports.mobile,
        &Answer::After { after_ms: 300, dtmf: vec![(1500, "**2**259")] },
    );
    // The caller is a Local channel whose other half reads two digits, as a person
    // listening would hear them.
    let r = ami.action(
        "Originate",
        &[
            ("Channel", "Local/1001@twinning-calls"),
            ("Context", "twinning-listen"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("CallerID", "Listener <442071234567>"),
            ("Async", "true"),
        ],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let digits =
        ami.event("UserEvent", &[("UserEvent", "TwinningDigits")], WAIT).expect("the caller read digits");
    assert_eq!(digits.must("Digits"), "59", "only the keys that are not codes reach the caller");
    assert_eq!(
        ami.drain_events("TwinningHold", Duration::from_millis(500)).len(),
        2,
        "the codes still worked"
    );
    mobile.wait(Duration::from_secs(10));
}

#[test]
fn the_caller_hears_the_new_device_right_after_a_handover() {
    let measured = twinning_tests::media::handover_gap(&conf());
    // Reported, not asserted: timing on a shared 2-core machine is not a test result.
    println!(
        "handover media gap: {} ms from the desk's last audio packet to the mobile's first at the caller",
        measured.as_millis()
    );
}
