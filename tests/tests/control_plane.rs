//! What a control plane (twinctl, its web pages) reads and does over AMI, on a real
//! Asterisk with real SIP calls: the metrics, counted once in the driver and shown the
//! same in AMI `TwinningMetrics` and Asterisk's own `/metrics` (res_prometheus); a PIN
//! check that shares the phone's lockout; changes audited as the console's user; the live
//! calls and the store.

use std::io::{Read, Write};
use std::time::Duration;

use twinning_tests::asterisk::AMI_CTI;
use twinning_tests::console::{api_token, node_sample, ConsoleConfig, NodeSpec};
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{free_udp_port, Answer, Caller, Phone};
use twinning_tests::{Ami, Instance};

const WAIT: Duration = Duration::from_secs(40);

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

/// The PBX with Asterisk's HTTP server and res_prometheus at `/metrics`.
fn start(http_port: u16, ports: PhonePorts) -> Instance {
    pbx::start_with(pbx::TWINNING_CONF, "", ports, |mut c| {
        c.modules.extend(["res_prometheus.so".to_string()]);
        c.file(
            "http.conf",
            &format!("[general]\nenabled = yes\nbindaddr = 127.0.0.1\nbindport = {http_port}\n"),
        )
        .file("prometheus.conf", "[general]\nenabled = yes\nuri = metrics\n")
    })
}

/// The samples of `TwinningMetrics`, as `name{labels} value` lines.
fn ami_metrics(ami: &mut Ami) -> Vec<String> {
    let (r, events) = ami.list("TwinningMetrics", &[], "TwinningMetricsComplete");
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    events
        .iter()
        .filter(|e| e.get("Event") == Some("TwinningMetric"))
        .map(|e| {
            let labels = e.get("Labels").unwrap_or_default();
            let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
            format!("{}{labels} {}", e.must("Name"), e.must("Value"))
        })
        .collect()
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to Asterisk's HTTP server");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

fn value(lines: &[String], sample: &str) -> Option<f64> {
    lines.iter().find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn the_metrics_equal_the_calls_in_ami_and_in_asterisks_own_metrics() {
    let (http, ports) = (free_udp_port(), PhonePorts::new());
    let pbx = start(http, ports);
    let mut ami = pbx.ami();
    let call = |ami: &mut Ami, desk: Answer, mobile: Answer| {
        let mut d = Phone::uas(&pbx, "desk", ports.desk, &desk);
        let mut m = Phone::uas(&pbx, "mobile", ports.mobile, &mobile);
        let mut c = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 300 });
        ami.event("TwinningEnd", &[], WAIT).expect("TwinningEnd");
        c.wait(WAIT);
        d.wait(Duration::from_secs(5));
        m.wait(Duration::from_secs(5));
    };
    // Two calls answered on the mobile, one on the desk, one busy everywhere.
    call(&mut ami, Answer::Never, ring(300));
    call(&mut ami, Answer::Never, ring(300));
    call(&mut ami, ring(300), Answer::Never);
    call(&mut ami, Answer::Busy, Answer::Busy);
    // And a refused change, a change, from AMI.
    assert_eq!(
        ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "09098790000")])
            .get("Response"),
        Some("Error")
    );
    assert_eq!(
        ami.action("TwinningSet", &[("User", "1001"), ("Field", "dnd"), ("Value", "no")]).get("Response"),
        Some("Success")
    );
    let lines = ami_metrics(&mut ami);
    let expect = [
        ("twinning_calls_total{status=\"answered\"}", 3.0),
        ("twinning_calls_total{status=\"busy\"}", 1.0),
        ("twinning_answered_calls_total{leg=\"mobile\"}", 2.0),
        ("twinning_answered_calls_total{leg=\"desk\"}", 1.0),
        ("twinning_legs_total{outcome=\"answered\",reason=\"\"}", 3.0),
        ("twinning_legs_total{outcome=\"failed\",reason=\"busy\"}", 2.0),
        ("twinning_settings_changes_total{surface=\"ami\"}", 1.0),
        ("twinning_settings_refusals_total{surface=\"ami\"}", 1.0),
        ("twinning_live_calls", 0.0),
        ("twinning_ringing_legs", 0.0),
        ("twinning_store_up", 1.0),
        ("twinning_pin_failures_total", 0.0),
    ];
    for (sample, want) in expect {
        assert_eq!(value(&lines, &format!("{sample} ")), Some(want), "{sample}: {lines:#?}");
    }
    assert!(lines.iter().all(|l| !l.contains("0770") && !l.contains("1001")), "a number or user in a label");
    // Asterisk's own /metrics shows the same samples, beside its channel metrics.
    let scraped = http_get(http, "/metrics");
    assert!(scraped.contains("asterisk_"), "not Asterisk's /metrics: {scraped}");
    let scraped: Vec<String> = scraped.lines().map(str::to_owned).collect();
    for (sample, want) in expect {
        assert_eq!(value(&scraped, &format!("{sample} ")), Some(want), "/metrics {sample}");
    }
    // And `twinctl serve`'s /metrics, the same samples labelled with the node.
    let (token, entry) = api_token("scraper");
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], &entry);
    let api = config.serve();
    let deadline = std::time::Instant::now() + WAIT;
    let scraped = loop {
        let (status, body) = api.request("GET", "/metrics", Some(&token), None);
        assert_eq!(status, 200, "{body}");
        if body.contains("twinctl_node_up{node=\"pbx1\",pbx=\"asterisk\"} 1") {
            break body.lines().map(str::to_owned).collect::<Vec<_>>();
        }
        assert!(std::time::Instant::now() < deadline, "pbx1 never up in twinctl: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for (sample, want) in expect {
        let labelled = node_sample(&format!("{sample} "), "pbx1", "asterisk");
        assert_eq!(value(&scraped, &labelled), Some(want), "twinctl /metrics {labelled}: {scraped:#?}");
    }
}

#[test]
fn a_pin_check_shares_the_phones_lockout_and_is_audited() {
    let conf = pbx::TWINNING_CONF
        .replace("answer_guard = 0\n", "answer_guard = 0\npin_max_attempts = 3\n")
        .replace("[1002]", "pin = 4826\n\n[1002]");
    let pbx = pbx::start(&conf, "", PhonePorts::new());
    let mut ami = pbx.ami();
    let check = |ami: &mut Ami, user: &str, pin: &str| -> String {
        let r = ami.action("TwinningCheckPin", &[("User", user), ("Pin", pin), ("Source", "console:alice")]);
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
        r.must("Result").to_owned()
    };
    assert_eq!(check(&mut ami, "1001", "4826"), "OK");
    assert_eq!(check(&mut ami, "1002", "1234"), "NOPIN");
    assert_eq!(check(&mut ami, "1001", "1111"), "WRONG");
    let failed = ami.event("TwinningAuthFailed", &[("User", "1001")], WAIT).expect("a security event");
    assert_eq!(failed.must("Reason"), "incorrect");
    assert_eq!(check(&mut ami, "1001", "2222"), "WRONG");
    assert_eq!(check(&mut ami, "1001", "3333"), "WRONG");
    // Locked out now, for the web and the phone alike: even the right PIN.
    assert_eq!(check(&mut ami, "1001", "4826"), "LOCKED");
    let mut phone =
        Phone::call_as(&pbx, "phone", "desk1001", "*21", &Caller::KeyIn { digits: "4826#".into() });
    phone.wait(WAIT);
    let locked = ami.event("TwinningAuthFailed", &[("User", "1001"), ("Reason", "locked")], WAIT);
    assert!(locked.is_some(), "the phone was not refused during the web's lockout");
    // A CTI account cannot test PINs; a bad source is refused.
    let mut cti = pbx.ami_as(AMI_CTI);
    let r = cti.action("TwinningCheckPin", &[("User", "1001"), ("Pin", "4826")]);
    assert!(r.get("Message").is_some_and(|m| m.contains("Permission denied")), "{r:?}");
    let r = ami.action("TwinningCheckPin", &[("User", "1001"), ("Pin", "4826"), ("Source", "console:a b")]);
    assert_eq!(r.get("Response"), Some("Error"), "{r:?}");
}

#[test]
fn a_console_change_is_audited_as_its_user_and_live_calls_and_the_store_are_listed() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(pbx::TWINNING_CONF, "", ports);
    let mut ami = pbx.ami();
    let r = ami.action(
        "TwinningSet",
        &[("User", "1001"), ("Field", "ring_time"), ("Value", "25"), ("Source", "console:alice")],
    );
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let e = ami.event("TwinningSettingsChanged", &[("Field", "ring_time")], WAIT).expect("audit event");
    assert_eq!(e.must("Source"), "console:alice");
    for bad in ["alice", "console:", "console:a\u{7f}", "root:alice", "console:$(x)"] {
        let r = ami.action(
            "TwinningSet",
            &[("User", "1001"), ("Field", "ring_time"), ("Value", "26"), ("Source", bad)],
        );
        assert_eq!(r.get("Response"), Some("Error"), "{bad:?}: {r:?}");
    }
    let store = ami.action("TwinningStore", &[]);
    assert_eq!(store.get("Backend"), Some("file"), "{store:?}");

    let mut desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &ring(300));
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 3000 });
    let bridged = ami.event("TwinningBridged", &[("Leg", "mobile")], WAIT).expect("answered on the mobile");
    let (r, mut calls) = ami.list("TwinningCalls", &[], "TwinningCallsComplete");
    calls.retain(|e| e.get("Event") == Some("TwinningCall"));
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].must("User"), "1001");
    assert!(calls[0].must("Channel").starts_with("PJSIP/caller-"), "{calls:?}");
    // The same Uniqueid as the call's own events, to tie the list to them.
    assert_eq!(calls[0].must("Uniqueid"), bridged.must("Uniqueid"), "{calls:?}");
    assert!(calls[0].must("Legs").contains("mobile:"), "{calls:?}");
    caller.wait(WAIT);
    desk.wait(Duration::from_secs(5));
    mobile.wait(Duration::from_secs(5));
}
