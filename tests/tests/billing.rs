//! Every trunk leg on the bill, as a real CDR backend (cdr_csv) writes it: for the same
//! phone behaviour, Twinning() writes the rows Dial(desk&mobile) writes (one per leg, each
//! with its own disposition), names what each leg dialed and which leg it was, bills the
//! remote legs to the twinning user's account code, and bills a leg that answered and was
//! dropped (carrier voicemail inside the answer guard, a declined press-1) as ANSWERED.

use std::time::Duration;

use twinning_tests::cdr::{self, Row};
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::Instance;

const WAIT: Duration = Duration::from_secs(40);

/// 1001 twinned to the trunk, as pbx::TWINNING_CONF, with `extra` in its section.
fn conf(extra: &str) -> String {
    format!(
        "[general]\nmobile_dial = PJSIP/{{number}}@mobile-trunk\nanswer_guard = 0\n\n\
         [1001]\ndesk = PJSIP/desk1001\nmobile = 07700900123\nenabled = yes\n{extra}\n\n\
         [1002]\ndesk = PJSIP/desk1002\nmobile = 07700900456\nenabled = yes\n"
    )
}

/// The same two phones as the host's own fork: 2001 runs Dial(desk&mobile).
const DIAL: &str = "[twinning-calls](+)\n\
exten => 2001,1,Dial(PJSIP/desk1001&PJSIP/07700900123@mobile-trunk,20)\n same => n,Hangup()\n\
exten => 2005,1,Dial(PJSIP/desk1001&PJSIP/07700900123@mobile-trunk,5)\n same => n,Hangup()\n";

struct Site {
    pbx: Instance,
    ports: PhonePorts,
}

fn site(twinning_conf: &str, options: &str) -> Site {
    let ports = PhonePorts::new();
    let pbx = pbx::start_with(twinning_conf, options, ports, |c| {
        cdr::with_cdr(c.file("extensions.conf", &format!("{}{DIAL}", pbx::extensions_conf(options))))
    });
    cdr::prepare(&pbx);
    Site { pbx, ports }
}

impl Site {
    /// Calls `exten` with the desk and trunk behaving as given; the rows of that call.
    fn call(&self, exten: &str, desk: &Answer, mobile: &Answer, caller: &Caller) -> Vec<Row> {
        let before = cdr::rows(&self.pbx).len();
        let mut desk = Phone::uas(&self.pbx, "desk", self.ports.desk, desk);
        let mut mobile = Phone::uas(&self.pbx, "mobile", self.ports.mobile, mobile);
        let mut phone = Phone::call(&self.pbx, "caller", exten, caller);
        phone.wait(WAIT);
        let rows = cdr::wait_rows(&self.pbx, before + 1);
        desk.stop();
        mobile.stop();
        let rows: Vec<Row> = rows.into_iter().skip(before).collect();
        let caller = rows.first().map(|r| r.uniqueid.clone()).unwrap_or_default();
        rows.into_iter().filter(|r| r.uniqueid == caller).collect()
    }
}

/// (device rung, disposition) of each row, sorted: what an admin matches to the invoice.
fn legs(rows: &[Row]) -> Vec<(String, String)> {
    let mut l: Vec<(String, String)> = rows.iter().map(|r| (r.dst_device(), r.disposition.clone())).collect();
    l.sort();
    l
}

fn row<'a>(rows: &'a [Row], device: &str) -> &'a Row {
    rows.iter().find(|r| r.dst_device() == device).unwrap_or_else(|| panic!("no row for {device}: {rows:#?}"))
}

const DESK: &str = "PJSIP/desk1001";
const TRUNK: &str = "PJSIP/mobile-trunk";

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

/// The outcomes Twinning shares with Dial: the same rows for the same phones.
#[test]
fn the_rows_of_each_outcome_are_those_dial_writes() {
    let s = site(&conf("accountcode = ACME-42"), "");
    let cases: [(&str, Answer, Answer, Caller); 4] = [
        ("mobile wins", Answer::Never, ring(400), Caller::HangUpAfter { hold_ms: 1500 }),
        ("desk wins", ring(400), Answer::Never, Caller::HangUpAfter { hold_ms: 1500 }),
        ("both busy", Answer::Busy, Answer::Busy, Caller::HangUpAfter { hold_ms: 500 }),
        ("caller cancels", Answer::Never, Answer::Never, Caller::CancelAfter { ms: 2000 }),
    ];
    let mut table = Vec::new();
    for (outcome, desk, mobile, caller) in &cases {
        let twinned = s.call("1001", desk, mobile, caller);
        let dialed = s.call("2001", desk, mobile, caller);
        eprintln!("{outcome}:\n  Twinning: {:?}\n  Dial:     {:?}", legs(&twinned), legs(&dialed));
        assert_eq!(legs(&twinned), legs(&dialed), "{outcome}: {twinned:#?}\nDial: {dialed:#?}");
        let leg_rows = twinned.iter().filter(|r| !r.dstchannel.is_empty()).count();
        assert_eq!(leg_rows, 2, "{outcome}: one row per leg: {twinned:#?}");
        // What each row dialed, and which leg it was.
        assert_eq!(row(&twinned, DESK).lastdata, DESK, "{outcome}");
        assert_eq!(row(&twinned, TRUNK).lastdata, "PJSIP/07700900123@mobile-trunk", "{outcome}");
        assert!(row(&twinned, DESK).userfield.contains("desk"), "{outcome}: {:?}", row(&twinned, DESK));
        assert!(row(&twinned, TRUNK).userfield.contains("mobile"), "{outcome}: {:?}", row(&twinned, TRUNK));
        // The user pays for the trunk leg; the caller's own row keeps the caller's code.
        assert_eq!(row(&twinned, TRUNK).accountcode, "ACME-42", "{outcome}");
        assert_eq!(row(&twinned, DESK).accountcode, "", "{outcome}");
        table.push(format!("| {outcome} | {:?} | {:?} |", legs(&twinned), legs(&dialed)));
    }
    eprintln!("| outcome | Twinning rows | Dial rows |\n|---|---|---|\n{}", table.join("\n"));
}

/// Carrier voicemail answers inside the answer guard and is dropped: the carrier bills it,
/// so its row is ANSWERED, with the leg's own answer and end.
#[test]
fn a_guarded_leg_is_billed_as_answered() {
    let s = site(&conf("answer_guard = 2"), "");
    let rows = s.call("1001", &ring(2500), &ring(300), &Caller::HangUpAfter { hold_ms: 1000 });
    let trunk = row(&rows, TRUNK);
    assert_eq!(trunk.disposition, "ANSWERED", "{trunk:?}");
    assert!(!trunk.answer.is_empty() && trunk.answer <= trunk.end, "{trunk:?}");
    assert!(trunk.billsec <= 1, "dropped at once: {trunk:?}");
    assert_eq!(row(&rows, DESK).disposition, "ANSWERED");
}

/// The mobile answers and declines with 2: the call was connected, and is billed.
#[test]
fn a_declined_press_one_is_billed_as_answered() {
    let s = site(&conf("confirm = yes"), "");
    let mobile = Answer::After { after_ms: 300, dtmf: vec![(1500, "2")] };
    let rows = s.call("1001", &ring(6000), &mobile, &Caller::HangUpAfter { hold_ms: 1000 });
    assert_eq!(row(&rows, TRUNK).disposition, "ANSWERED", "{rows:#?}");
    assert!(row(&rows, TRUNK).billsec >= 1, "{rows:#?}");
    assert_eq!(row(&rows, DESK).disposition, "ANSWERED");
}

/// Nobody answers within the ring time: both legs NO ANSWER, as with Dial's timeout.
#[test]
fn unanswered_legs_are_no_answer_as_with_dial() {
    let s = site(&conf(""), "r(5)");
    let twinned = s.call("1001", &Answer::Never, &Answer::Never, &Caller::HangUpAfter { hold_ms: 500 });
    let dialed = s.call("2005", &Answer::Never, &Answer::Never, &Caller::HangUpAfter { hold_ms: 500 });
    eprintln!("| unanswered | {:?} | {:?} |", legs(&twinned), legs(&dialed));
    assert_eq!(legs(&twinned), legs(&dialed), "{twinned:#?}\nDial: {dialed:#?}");
    assert_eq!(row(&twinned, DESK).disposition, "NO ANSWER");
    assert_eq!(row(&twinned, TRUNK).disposition, "NO ANSWER");
}

/// A push to the mobile rings a new trunk leg: it has its own row.
#[test]
fn a_handover_leg_has_its_own_row() {
    let s = site(&conf("accountcode = ACME-42"), "");
    let before = cdr::rows(&s.pbx).len();
    let mut ami = s.pbx.ami();
    // The desk answers first; the trunk would answer later, so its first leg is cancelled
    // and the push's leg is the one it answers.
    let mut desk = Phone::uas_all(&s.pbx, "desk", s.ports.desk, &ring(200));
    let mut mobile = Phone::uas_all(&s.pbx, "mobile", s.ports.mobile, &ring(1500));
    let mut caller = Phone::call(&s.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 6000 });
    ami.event("TwinningBridged", &[("Leg", "desk")], WAIT).expect("the desk answers");
    let r = ami.action("TwinningHandover", &[("User", "1001"), ("To", "mobile")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    ami.event("TwinningHandover", &[("Result", "completed")], WAIT).expect("the push completes");
    caller.wait(WAIT);
    let rows: Vec<Row> = cdr::wait_rows(&s.pbx, before + 3).into_iter().skip(before).collect();
    desk.stop();
    mobile.stop();
    let trunk_rows: Vec<&Row> = rows.iter().filter(|r| r.dst_device() == TRUNK).collect();
    assert!(trunk_rows.len() >= 2, "the ringing-phase leg and the push leg each have a row: {rows:#?}");
    assert!(trunk_rows.iter().any(|r| r.disposition == "ANSWERED"), "{rows:#?}");
    assert!(trunk_rows.iter().all(|r| r.accountcode == "ACME-42"), "{rows:#?}");
}

/// A strict trunk refuses the company number the leg presents (403) and accepts the user's
/// extension: the leg is dialed once more with caller_id_fallback and answered, and the
/// events and the CDR say so.
#[test]
fn a_refused_caller_id_is_retried_once_with_the_fallback() {
    let s = site(&conf("caller_id = 01632960999\ncaller_id_fallback = extension"), "");
    let mut ami = s.pbx.ami();
    let before = cdr::rows(&s.pbx).len();
    let strict = Answer::RefuseCallerId { caller_id: Some("01632960999"), after_ms: 300 };
    let mut desk = Phone::uas(&s.pbx, "desk", s.ports.desk, &Answer::Never);
    let mut trunk = Phone::uas_all(&s.pbx, "trunk", s.ports.mobile, &strict);
    let mut caller = Phone::call(&s.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1000 });
    let retried = ami
        .event("TwinningLeg", &[("Leg", "mobile"), ("State", "retried")], WAIT)
        .expect("the refused leg is retried");
    assert_eq!((retried.must("Cause"), retried.must("RetryCallerId")), ("rejected", "1001"), "{retried:?}");
    let end = ami.event("TwinningEnd", &[], WAIT).expect("TwinningEnd");
    assert_eq!(end.must("AnsweredBy"), "mobile", "{end:?}");
    caller.wait(WAIT);
    desk.wait(Duration::from_secs(5));
    let rows: Vec<Row> = cdr::wait_rows(&s.pbx, before + 3).into_iter().skip(before).collect();
    trunk.stop();
    let trunk_rows: Vec<&Row> = rows.iter().filter(|r| r.dst_device() == TRUNK).collect();
    assert_eq!(trunk_rows.len(), 2, "the refused attempt and the retry: {rows:#?}");
    assert!(trunk_rows.iter().any(|r| r.disposition == "ANSWERED"), "{rows:#?}");
    assert!(trunk_rows.iter().any(|r| r.disposition != "ANSWERED"), "{rows:#?}");
}

/// A trunk that refuses both caller IDs: two attempts, never a third.
#[test]
fn a_trunk_refusing_both_caller_ids_gets_no_third_attempt() {
    let s = site(&conf("caller_id = 01632960999\ncaller_id_fallback = extension"), "r(8)");
    let mut ami = s.pbx.ami();
    let mut desk = Phone::uas(&s.pbx, "desk", s.ports.desk, &Answer::Never);
    let refuse_all = Answer::RefuseCallerId { caller_id: None, after_ms: 0 };
    let mut trunk = Phone::uas_all(&s.pbx, "trunk", s.ports.mobile, &refuse_all);
    let mut caller = Phone::call(&s.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 500 });
    ami.event("TwinningEnd", &[], WAIT).expect("TwinningEnd");
    caller.wait(WAIT);
    desk.wait(Duration::from_secs(5));
    let legs = ami.drain_events("TwinningLeg", Duration::from_millis(500));
    let dialing =
        legs.iter().filter(|e| e.get("Leg") == Some("mobile") && e.get("State") == Some("dialing")).count();
    let retried = legs.iter().filter(|e| e.get("State") == Some("retried")).count();
    assert_eq!((dialing, retried), (2, 1), "{legs:#?}");
    trunk.stop();
}

/// Two remote destinations, the second answering first: a row for each leg, the second's
/// ANSWERED, both billed to the user.
#[test]
fn two_remote_destinations_each_have_a_row() {
    let s = site(
        &conf("accountcode = ACME-42\ndial_delay = 0.2\nmobile2 = 01632960123\nmobile2_dial_delay = 0"),
        "",
    );
    let before = cdr::rows(&s.pbx).len();
    let mut desk = Phone::uas(&s.pbx, "desk", s.ports.desk, &Answer::Never);
    // Every trunk leg answers 600 ms after its INVITE: mobile2, dialed first, wins.
    let mut trunk = Phone::uas_all(&s.pbx, "trunk", s.ports.mobile, &ring(600));
    let mut caller = Phone::call(&s.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 800 });
    caller.wait(WAIT);
    desk.wait(Duration::from_secs(5));
    let rows: Vec<Row> = cdr::wait_rows(&s.pbx, before + 3).into_iter().skip(before).collect();
    trunk.stop();
    let by_leg = |leg: &str| {
        rows.iter()
            .find(|r| r.userfield.ends_with(leg) && !r.dstchannel.is_empty())
            .unwrap_or_else(|| panic!("no row for {leg}: {rows:#?}"))
    };
    assert_eq!(by_leg("mobile2").disposition, "ANSWERED", "{rows:#?}");
    assert_eq!(by_leg("mobile2").lastdata, "PJSIP/01632960123@mobile-trunk");
    assert_eq!(by_leg("mobile").disposition, "NO ANSWER", "{rows:#?}");
    assert_eq!(by_leg("desk").disposition, "NO ANSWER", "{rows:#?}");
    for leg in ["mobile", "mobile2"] {
        assert_eq!(by_leg(leg).accountcode, "ACME-42");
    }
}

/// The mobile hangs up and the held caller rings the desk again (desk_pickup_time): the
/// desk leg rung for the pickup has its own row.
#[test]
fn a_desk_rung_after_the_mobile_hangs_up_has_its_own_row() {
    let s = site(&conf("").replace("answer_guard = 0\n", "answer_guard = 0\ndesk_pickup_time = 10\n"), "");
    let before = cdr::rows(&s.pbx).len();
    let mut ami = s.pbx.ami();
    // The desk answers 2.5 s after each INVITE: too late for the first, in time for the
    // second; the mobile answers at once and hangs up a second later.
    let mut desk = Phone::uas_all(&s.pbx, "desk", s.ports.desk, &ring(2500));
    let mut mobile = Phone::uas(
        &s.pbx,
        "mobile",
        s.ports.mobile,
        &Answer::AnswerThenHangUp { after_ms: 300, hold_ms: 1000 },
    );
    let mut caller = Phone::call(&s.pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 7000 });
    ami.event("TwinningHandover", &[("Result", "completed")], WAIT).expect("the desk took the held caller");
    caller.wait(WAIT);
    mobile.wait(Duration::from_secs(5));
    let rows: Vec<Row> = cdr::wait_rows(&s.pbx, before + 3).into_iter().skip(before).collect();
    desk.stop();
    let desk_rows: Vec<&Row> = rows.iter().filter(|r| r.dst_device() == DESK).collect();
    assert_eq!(desk_rows.len(), 2, "the first desk leg and the pickup's: {rows:#?}");
    assert!(desk_rows.iter().any(|r| r.disposition == "NO ANSWER"), "{rows:#?}");
    assert!(desk_rows.iter().any(|r| r.disposition == "ANSWERED"), "{rows:#?}");
    assert_eq!(row(&rows, TRUNK).disposition, "ANSWERED", "{rows:#?}");
}
