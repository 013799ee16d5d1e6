//! The README's run command: a twinned call in the provisioned Asterisk 22, with SIPp
//! playing the caller, the desk phone and the trunk to two remote destinations (the
//! mobile, whose carrier voicemail picks up at once, and a home office line), and a
//! timeline of what every phone and Asterisk saw.

use std::time::Duration;

use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::Message;

const CONF: &str = "\
[general]
mobile_dial = PJSIP/{number}@mobile-trunk
blocked_prefixes = 09, 0871, +449

[1001]
desk = PJSIP/desk1001
mobile = 07700900123
enabled = yes
answer_guard = 2      ; an answer within 2 s is the carrier's voicemail
dial_delay = 0.5
ring_time = 20
mobile2 = 01632960123 ; a second destination: the home office
mobile2_dial_delay = 1
mobile2_answer_guard = 0
";

fn main() {
    println!("== app_twinning.so in Asterisk 22: a twinned call\n");
    let ports = PhonePorts::new();
    let pbx = pbx::start(CONF, "", ports);
    let mut ami = pbx.ami();
    print!("{}", pbx.cli("module show like twinning"));
    print!("{}", pbx.cli("twinning show user 1001"));

    println!("\nA caller dials 1001. The desk phone answers after 3 s; the mobile's voicemail");
    println!("answers after 0.3 s, inside the 2 s answer guard; the home office (mobile2) rings");
    println!("from 1 s and is cancelled when the desk answers. The caller talks for 2 s.\n");
    let mut desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::After { after_ms: 3000, dtmf: vec![] });
    let mut mobile = Phone::trunk(&pbx, "trunk", ports.mobile, &[("07700900123", 300)], 2);
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 2000 });
    let end = ami.event("TwinningEnd", &[], Duration::from_secs(40)).expect("the call ended");
    for p in [&mut caller, &mut desk, &mut mobile] {
        p.wait(Duration::from_secs(10));
    }

    let mut events: Vec<Message> = vec![end];
    for name in ["TwinningStart", "TwinningLeg", "TwinningRefused", "TwinningBridged"] {
        events.extend(ami.drain_events(name, Duration::from_millis(200)));
    }
    let mut timeline: Vec<(f64, String)> = events
        .iter()
        .map(|e| {
            let at = e.get("Timestamp").and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0) % 86_400.0;
            (at, format!("{:<8} {}", "AMI", describe(e)))
        })
        .collect();
    for phone in [&caller, &desk, &mobile] {
        for m in phone.messages() {
            let arrow = if m.received { "<-" } else { "->" };
            let line =
                m.first_line.split(" sip:").next().unwrap_or(&m.first_line).trim_end_matches(" SIP/2.0");
            timeline.push((m.at, format!("{:<8} {arrow} {line}", phone.name)));
        }
    }
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
    let t0 = timeline.first().map(|t| t.0).unwrap_or(0.0);
    println!("  time     who      what");
    for (at, what) in timeline {
        println!("  +{:6.3}s {what}", at - t0);
    }
    let result = events[0].clone();
    println!(
        "\nTwinningEnd: Status={} AnsweredBy={} after {} ms. The caller never heard the voicemail.",
        result.must("Status"),
        result.must("AnsweredBy"),
        result.must("Duration")
    );
}

fn describe(e: &Message) -> String {
    let event = e.must("Event");
    match event {
        "TwinningLeg" => {
            let extra = ["Destination", "AnsweredAfter", "Cause"]
                .iter()
                .filter_map(|k| e.get(k).map(|v| format!(" {k}={v}")))
                .collect::<String>();
            format!("{event} {} {}{extra}", e.must("Leg"), e.must("State"))
        }
        "TwinningBridged" => format!("{event} {}", e.must("Leg")),
        "TwinningRefused" => format!("{event} {} ({})", e.must("Reason"), e.must("Detail")),
        "TwinningStart" => format!("{event} user {} mobile {}", e.must("User"), e.must("Mobile")),
        _ => format!("{event} {} {}", e.must("Status"), e.get("AnsweredBy").unwrap_or("")),
    }
}
