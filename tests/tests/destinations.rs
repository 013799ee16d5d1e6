//! Several remote destinations per user over real SIP: each rings after its own delay (the
//! INVITE times are measured at the trunk), with its own answer guard and ring time; the
//! first valid answer wins and the rest are cancelled; caller lists decide who reaches
//! them; every new field round-trips on every surface and survives a restart.

use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::status::{twinning_field, twinning_user};
use twinning_tests::{dialplan, Instance};

const WAIT: Duration = Duration::from_secs(40);

/// 1001 with three destinations: mobile (no delay), mobile2 (1 s) and mobile3 (3 s).
fn conf(extra: &str) -> String {
    pbx::TWINNING_CONF.replace(
        "mobile = 07700900123\nenabled = yes\n",
        &format!(
            "mobile = 07700900123\nenabled = yes\nmobile2 = 07700900222\nmobile2_dial_delay = 1\n\
             mobile3 = 07700900333\nmobile3_dial_delay = 3\n{extra}"
        ),
    )
}

/// Each INVITE the trunk received: (seconds since midnight, the number dialed).
fn invites(trunk: &Phone) -> Vec<(f64, String)> {
    trunk
        .received("INVITE")
        .iter()
        .map(|m| {
            let number =
                m.first_line.trim_start_matches("INVITE sip:").split('@').next().unwrap_or("").to_owned();
            (m.at, number)
        })
        .collect()
}

fn leg_states(ami: &mut Ami, leg: &str) -> Vec<String> {
    ami.drain_events("TwinningLeg", Duration::from_millis(300))
        .into_iter()
        .filter(|e| e.must("Leg") == leg)
        .map(|e| e.must("State").to_owned())
        .collect()
}

/// How the call ended (TWINNINGSTATUS and TWINNINGANSWEREDBY carry the same).
fn result(ami: &mut Ami) -> (String, String) {
    let r = ami.event("TwinningEnd", &[], WAIT).expect("the call ended");
    (r.must("Status").to_owned(), r.must("AnsweredBy").to_owned())
}

#[test]
fn each_destination_rings_after_its_delay_and_the_second_answers_first_and_wins() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(&conf(""), "", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    // mobile2 (dialed at 1 s) answers 2.8 s after its INVITE: after mobile3's, at 3 s.
    let mut trunk = Phone::trunk(&pbx, "trunk", ports.mobile, &[("07700900222", 2800)], 3);
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1000 });
    let bridged = ami.event("TwinningBridged", &[], WAIT).expect("answered");
    assert_eq!(bridged.must("Leg"), "mobile2");
    assert_eq!(result(&mut ami), ("ANSWERED".into(), "mobile2".into()));
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    trunk.wait(Duration::from_secs(10));
    let invites = invites(&trunk);
    let numbers: Vec<&str> = invites.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(numbers, ["07700900123", "07700900222", "07700900333"], "{}", trunk.summary());
    let (t1, t2, t3) = (invites[0].0, invites[1].0, invites[2].0);
    println!("destination INVITEs after the first: mobile2 +{:.3} s, mobile3 +{:.3} s", t2 - t1, t3 - t1);
    assert!((t2 - t1 - 1.0).abs() < 0.4, "mobile2 at +{:.3} s", t2 - t1);
    assert!((t3 - t1 - 3.0).abs() < 0.4, "mobile3 at +{:.3} s", t3 - t1);
    // The others were cancelled, in the step that bridged mobile2.
    assert_eq!(trunk.received("CANCEL").len(), 2, "{}", trunk.summary());
    assert_eq!(leg_states(&mut ami, "mobile3"), ["dialing", "ringing", "cancelled"]);
}

#[test]
fn a_guard_on_one_destination_applies_to_it_only() {
    let ports = PhonePorts::new();
    let conf = conf("mobile2_answer_guard = 3\n").replace("mobile2_dial_delay = 1", "mobile2_dial_delay = 0");
    let pbx = pbx::start(&conf, "", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    // mobile2 answers at 0.5 s, inside its own 3 s guard: voicemail. mobile (guard 0, the
    // user's) answers at 1.5 s and wins.
    let mut trunk =
        Phone::trunk(&pbx, "trunk", ports.mobile, &[("07700900222", 500), ("07700900123", 1500)], 2);
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1000 });
    assert_eq!(ami.event("TwinningBridged", &[], WAIT).expect("answered").must("Leg"), "mobile");
    assert_eq!(result(&mut ami).1, "mobile");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    trunk.wait(Duration::from_secs(10));
    assert_eq!(leg_states(&mut ami, "mobile2"), ["dialing", "ringing", "answered", "guarded"]);
}

#[test]
fn a_destinations_own_ring_time_ends_its_leg_while_the_others_ring_on() {
    let ports = PhonePorts::new();
    let conf = conf("mobile2_ring_time = 5\n").replace("mobile2_dial_delay = 1", "mobile2_dial_delay = 0");
    let pbx = pbx::start(&conf, "", ports);
    let mut ami = pbx.ami();
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mut trunk = Phone::trunk(&pbx, "trunk", ports.mobile, &[("07700900123", 7000)], 3);
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 500 });
    let noanswer = ami
        .event("TwinningLeg", &[("Leg", "mobile2"), ("State", "noanswer")], WAIT)
        .expect("mobile2 gave up");
    let _ = noanswer;
    assert_eq!(ami.event("TwinningBridged", &[], WAIT).expect("answered").must("Leg"), "mobile");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    trunk.wait(Duration::from_secs(10));
    let cancels = trunk.received("CANCEL");
    let invite2 = invites(&trunk).iter().find(|(_, n)| n == "07700900222").unwrap().0;
    let first_cancel = cancels.first().expect("mobile2 was cancelled").at;
    assert!((first_cancel - invite2 - 5.0).abs() < 0.5, "mobile2 rang {:.3} s", first_cancel - invite2);
}

#[test]
fn caller_lists_decide_who_reaches_the_remote_destinations() {
    let ports = PhonePorts::new();
    let conf = conf("block_callers = 0161*, anonymous\n");
    let mut pbx = pbx::start(&conf, "", ports);
    let mut ami = pbx.ami();
    let check = |pbx: &Instance, ami: &mut Ami, exten: &str, rings_remote: bool| {
        let mut desk = Phone::uas(pbx, "desk", ports.desk, &Answer::After { after_ms: 300, dtmf: vec![] });
        let mut trunk = Phone::trunk(pbx, "trunk", ports.mobile, &[], 3);
        let mut caller = Phone::call(pbx, "caller", exten, &Caller::HangUpAfter { hold_ms: 300 });
        assert_eq!(result(ami).1, "desk", "{exten}: the desk rings whoever calls");
        assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
        desk.wait(Duration::from_secs(5));
        trunk.stop();
        let refused: Vec<(String, String)> = ami
            .drain_events("TwinningRefused", Duration::from_millis(300))
            .iter()
            .map(|e| (e.must("Leg").to_owned(), e.must("Reason").to_owned()))
            .collect();
        if rings_remote {
            assert!(!trunk.received("INVITE").is_empty(), "{exten}: the destinations rang");
            assert!(refused.is_empty(), "{exten}: {refused:?}");
        } else {
            assert!(trunk.received("INVITE").is_empty(), "{exten}: {}", trunk.summary());
            let expected: Vec<(String, String)> = ["mobile", "mobile2", "mobile3"]
                .iter()
                .map(|l| (l.to_string(), "caller".to_string()))
                .collect();
            assert_eq!(refused, expected, "{exten}");
        }
    };
    check(&pbx, &mut ami, "701614960000", false);
    check(&pbx, &mut ami, "70", false);
    check(&pbx, &mut ami, "7442071234567", true);
    // An allow list: only those on it reach the destinations.
    pbx.cli("twinning set 1001 block_callers \"\"");
    pbx.cli("twinning set 1001 allow_callers 44207*");
    check(&pbx, &mut ami, "7442071234567", true);
    check(&pbx, &mut ami, "7441632960000", false);
    pbx.restart();
    let mut ami = pbx.ami();
    assert_eq!(twinning_field(&mut ami, "1001", "allow_callers"), "44207*", "the list survived the restart");
}

#[test]
fn every_destination_field_round_trips_on_every_surface_and_survives_a_restart() {
    let mut pbx = pbx::start(&conf(""), "", PhonePorts::new());
    let mut ami = pbx.ami();
    let get = |ami: &mut Ami, field: &str| twinning_field(ami, "1001", field);
    // The config file's values, and the user's own where a destination has none.
    assert_eq!(get(&mut ami, "mobile3"), "07700900333");
    assert_eq!(get(&mut ami, "mobile3_dial_delay"), "3");
    assert_eq!(get(&mut ami, "mobile3_ring_time"), "20", "the user's ring time");
    // AMI, CLI and the function each write one.
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile10"), ("Value", "07700900999")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    pbx.cli("twinning set 1001 mobile10_ring_time 30");
    for (field, value) in
        [("mobile10_answer_guard", "2.5"), ("mobile10_enabled", "no"), ("mobile2_dial_delay", "1.5")]
    {
        let out = dialplan::write(&mut ami, "1001", field, value);
        assert_eq!(out, dialplan::Outcome { error: String::new(), value: value.into() }, "{field}");
    }
    let user = twinning_user(&mut ami, "1001");
    assert_eq!(user.must("Mobile10"), "07700900999");
    assert_eq!(user.must("Mobile10RingTime"), "30");
    assert!(user.get("Mobile5").is_none(), "an unused destination is not listed: {user:?}");
    pbx.restart();
    let mut ami = pbx.ami();
    for (field, value) in [
        ("mobile10", "07700900999"),
        ("mobile10_ring_time", "30"),
        ("mobile10_answer_guard", "2.5"),
        ("mobile10_enabled", "no"),
        ("mobile2_dial_delay", "1.5"),
    ] {
        assert_eq!(get(&mut ami, field), value, "{field} after a restart");
    }
    assert!(pbx.cli("twinning show user 1001").contains("mobile10_ring_time: 30  (runtime)"));
    // A refused value changes nothing and says why.
    let r = ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile4"), ("Value", "0909")]);
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
    assert!(twinning_user(&mut ami, "1001").get("Mobile4").is_none(), "mobile4 is still not in use");
    let r =
        ami.action("TwinningSet", &[("User", "1001"), ("Field", "block_callers"), ("Value", "0161,PJSIP/x")]);
    assert!(r.must("Message").contains("not a number, a prefix like 0161* or anonymous"), "{r:?}");
}
