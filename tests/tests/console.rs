//! twinctl against real PBXes: `twinctl watch --json` printing a real SIP call's events in
//! order (from two Asterisk nodes, and from FreeSWITCH when given), `twinctl set` and the
//! API changing a user through the module's validation with the console's source in the
//! audit event, the toll-fraud corpus refused through `PATCH`, 401s and tokens, a node
//! down named and resynced after a restart, and the control-plane actions (calls,
//! metrics, the PIN check).

use std::time::Duration;

use serde_json::Value;
use twinning_tests::console::{api_token, has, node_sample, ConsoleConfig, NodeSpec};
use twinning_tests::freeswitch::{FreeSwitch, FsPorts, FsSettings};
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::status::twinning_field;
use twinning_tests::toll_fraud::corpus;
use twinning_tests::{Instance, InstanceConfig};

const WAIT: Duration = Duration::from_secs(40);

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn ring(after_ms: u64) -> Answer {
    Answer::After { after_ms, dtmf: vec![] }
}

/// A second node: Asterisk with the module and one user, no SIP.
fn plain_node() -> Instance {
    Instance::start(
        InstanceConfig::default().file(
            "twinning.conf",
            "[general]\nmobile_dial = PJSIP/{number}@t\n\n[2001]\ndesk = PJSIP/2001\n",
        ),
    )
}

/// The events of one call (by its `call` id) as `type` or `type:leg:state` words.
fn story(lines: &[String], node: &str) -> (Vec<String>, Vec<Value>) {
    let events: Vec<Value> =
        lines.iter().map(|l| json(l)).filter(|e| e["node"] == node && e.get("call").is_some()).collect();
    let words = events
        .iter()
        .map(|e| match e["type"].as_str().unwrap() {
            "leg" => format!("leg:{}:{}", e["leg"].as_str().unwrap(), e["state"].as_str().unwrap()),
            "bridged" => format!("bridged:{}", e["leg"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect();
    (words, events)
}

#[test]
fn watch_prints_a_real_calls_events_in_order_from_every_node_and_follows_a_restart() {
    let ports = PhonePorts::new();
    let mut pbx1 = pbx::start(pbx::TWINNING_CONF, "", ports);
    let pbx2 = plain_node();
    let config = ConsoleConfig::new(
        &[NodeSpec::asterisk("pbx1", pbx1.ami_port), NodeSpec::asterisk("pbx2", pbx2.ami_port)],
        "",
    );
    let mut watch = config.watch();
    for node in ["pbx1", "pbx2"] {
        let up = |l: &str| has(l, "type", "node_up") && has(l, "node", node);
        if !watch.seen.iter().any(|l| up(l)) {
            watch.until(WAIT, up).unwrap_or_else(|| panic!("{node} never came up: {:?}", watch.seen));
        }
    }

    let _desk = Phone::uas(&pbx1, "desk", ports.desk, &ring(1000));
    let _mobile = Phone::uas(&pbx1, "mobile", ports.mobile, &Answer::Never);
    let mut caller = Phone::call(&pbx1, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1000 });
    watch.until(WAIT, |l| has(l, "type", "end")).unwrap_or_else(|| panic!("no end event: {:?}", watch.seen));
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());

    let (words, events) = story(&watch.seen, "pbx1");
    assert_eq!(words.first().map(String::as_str), Some("start"), "{words:?}");
    assert_eq!(words.last().map(String::as_str), Some("end"), "{words:?}");
    let at = |w: &str| words.iter().position(|x| x == w).unwrap_or_else(|| panic!("no {w} in {words:?}"));
    assert!(at("leg:desk:ringing") < at("bridged:desk"), "{words:?}");
    assert!(at("leg:mobile:dialing") < at("leg:mobile:cancelled"), "{words:?}");
    assert!(at("bridged:desk") < at("end"), "{words:?}");
    assert_eq!(words.iter().filter(|w| w.starts_with("bridged")).count(), 1, "{words:?}");
    let call = events[0]["call"].as_str().unwrap().to_owned();
    assert!(!call.is_empty());
    assert!(events.iter().all(|e| e["call"] == call.as_str() && e["user"] == "1001"), "one call: {events:?}");
    assert!(events[0]["channel"].as_str().unwrap().starts_with("PJSIP/caller-"), "{:?}", events[0]);
    let end = events.last().unwrap();
    assert_eq!((end["status"].as_str(), end["answered_by"].as_str()), (Some("ANSWERED"), Some("desk")));
    // At times of ms, in order.
    let times: Vec<u64> = events.iter().map(|e| e["at_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // The other node's events come on the same stream.
    let r = pbx2.ami().action("TwinningSet", &[("User", "2001"), ("Field", "dnd"), ("Value", "yes")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    let change = watch
        .until(WAIT, |l| has(l, "type", "settings") && has(l, "node", "pbx2"))
        .unwrap_or_else(|| panic!("no settings event from pbx2: {:?}", watch.seen));
    let change = json(&change);
    assert_eq!(
        (change["user"].as_str(), change["field"].as_str(), change["value"].as_str()),
        (Some("2001"), Some("dnd"), Some("yes"))
    );
    assert_eq!(change["source"], "ami");

    // pbx1 stops and starts: the stream says it went down, then resyncs it.
    pbx1.restart();
    watch
        .until(WAIT, |l| has(l, "type", "node_down") && has(l, "node", "pbx1"))
        .unwrap_or_else(|| panic!("no node_down for pbx1: {:?}", watch.seen));
    let up = watch
        .until(WAIT, |l| has(l, "type", "node_up") && has(l, "node", "pbx1"))
        .unwrap_or_else(|| panic!("pbx1 did not come back: {:?}", watch.seen));
    assert_eq!(json(&up)["users"], 2, "resynced: {up}");
    assert_eq!(json(&up)["calls"], 0, "no call survives a restart: {up}");
}

#[test]
fn set_changes_a_user_through_the_module_with_the_console_as_source() {
    let pbx = pbx::start(pbx::TWINNING_CONF, "", PhonePorts::new());
    let mut ami = pbx.ami();
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], "");

    let out = config.run(&["--as", "alice", "set", "1001", "dnd", "yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("pbx1: 1001.dnd set to 'yes'"), "{out:?}");
    assert_eq!(twinning_field(&mut ami, "1001", "dnd"), "yes");
    let audit = ami
        .event("TwinningSettingsChanged", &[("User", "1001"), ("Field", "dnd")], WAIT)
        .expect("the change's audit event");
    assert_eq!(audit.get("Source"), Some("console:alice"), "{audit:?}");

    // A value the module refuses: its reason, exit 4, nothing changed.
    let out = config.run(&["--as", "alice", "set", "1001", "mobile", "09001234567"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(out.stderr.contains("node pbx1 refused:"), "the module's reason: {out:?}");
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900123");
    let out = config.run(&["status", "9999"]);
    assert_eq!(out.code, 4, "{out:?}");
    let out = config.run(&["--as", "bad login!", "set", "1001", "dnd", "no"]);
    assert_eq!(out.code, 2, "{out:?}");

    // status, users and nodes, for people and for scripts.
    let out = config.run(&["status", "1001"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("1001 on pbx1") && out.stdout.contains("dnd") && out.stdout.contains("yes"),
        "{out:?}"
    );
    let out = config.run(&["--json", "status", "1001"]);
    let status = json(&out.stdout);
    assert_eq!(
        (status["node"].as_str(), status["settings"]["mobile"].as_str()),
        (Some("pbx1"), Some("07700900123"))
    );
    assert_eq!(status["settings"]["pin"], "", "no PIN, and never a PIN in clear");
    let out = config.run(&["--json", "users"]);
    assert_eq!(out.code, 0, "{out:?}");
    let users: Vec<String> = json(&out.stdout)
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["1001", "1002"]);
    let out = config.run(&["users"]);
    assert!(out.stdout.contains("NODE") && out.stdout.contains("2 users"), "{out:?}");
    let out = config.run(&["--json", "nodes"]);
    assert_eq!(json(&out.stdout)[0]["state"], "up", "{out:?}");
    // A handover with no call to move is the module's refusal.
    let out = config.run(&["handover", "1001", "mobile"]);
    assert_eq!(out.code, 4, "{out:?}");
    let out = config.run(&["handover", "1001", "voicemail"]);
    assert_eq!(out.code, 2, "{out:?}");
}

#[test]
fn a_node_down_or_refusing_the_login_is_named_and_the_others_keep_working() {
    let pbx = plain_node();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = ConsoleConfig::new(
        &[NodeSpec::asterisk("pbx1", pbx.ami_port), NodeSpec::asterisk("pbx-dead", dead)],
        "",
    );
    let out = config.run(&["--timeout", "3", "--json", "users"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("pbx-dead"), "the error names the node: {out:?}");
    assert_eq!(json(&out.stdout)[0]["user"], "2001", "pbx1's users are still listed: {out:?}");
    let out = config.run(&["--timeout", "3", "--as", "alice", "set", "2001", "dnd", "yes"]);
    assert_eq!(out.code, 0, "a user on a node that is up: {out:?}");
    let out = config.run(&["--timeout", "3", "--json", "nodes"]);
    assert_eq!(out.code, 3, "{out:?}");
    let nodes = json(&out.stdout);
    assert_eq!((nodes[0]["state"].as_str(), nodes[1]["state"].as_str()), (Some("up"), Some("down")));
    assert!(nodes[1]["error"].as_str().unwrap().contains("connect"), "{nodes}");

    let secret = "wrong-secret-do-not-print";
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port).secret(secret)], "");
    let out = config.run(&["users"]);
    assert_eq!(out.code, 5, "{out:?}");
    assert!(out.stderr.contains("pbx1") && out.stderr.contains("authentication failed"), "{out:?}");
    assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret), "the secret was printed: {out:?}");

    // A malformed configuration: the node named, exit 2, no secret.
    let broken = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], "");
    let text =
        std::fs::read_to_string(&broken.path).unwrap().replace("kind = \"asterisk\"", "kind = \"asterix\"");
    std::fs::write(&broken.path, text).unwrap();
    let out = broken.run(&["users"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("node 'pbx1': unknown kind 'asterix'"), "{out:?}");
    assert!(!out.stderr.contains(twinning_tests::asterisk::AMI_SECRET), "{out:?}");
}

#[test]
fn the_api_needs_credentials_and_changes_through_the_module() {
    let pbx = pbx::start(&twinning_tests::toll_fraud::policy_conf("07700900123"), "", PhonePorts::new());
    let mut ami = pbx.ami();
    // The admin's password hash and a token's, as `twinctl hash-password` makes them.
    let hashing = ConsoleConfig::new(&[], "");
    let hash = hashing.run_with_input(&["hash-password"], "correct horse\n");
    assert_eq!(hash.code, 0, "{hash:?}");
    let made = hashing.run(&["hash-password", "--token", "ci"]);
    assert_eq!(made.code, 0, "{made:?}");
    let token = made.stdout.split("Bearer ").nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let entry: String = made.stdout.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
    assert!(!entry.contains(&token), "only the token's hash goes into the configuration");
    // (Lines before the first table are [serve]'s.)
    let extra = format!(
        "auth_attempts_per_minute = 60\n\n[[admin]]\nlogin = \"alice\"\npassword_hash = \"{}\"\n\n{entry}\n",
        hash.stdout.trim()
    );
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], &extra);
    let api = config.serve();

    for path in ["/api/v1/users", "/api/v1/calls", "/api/v1/nodes", "/metrics"] {
        assert_eq!(api.request("GET", path, None, None).0, 401, "{path}");
        assert_eq!(api.request("GET", path, Some("twc_0000"), None).0, 401, "{path}");
    }
    let (s, doc) = api.request("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(s, 200);
    assert!(json(&doc)["paths"]["/api/v1/users/{user}"]["patch"].is_object(), "{doc}");

    // Wait for the node (the API answers 503 naming it until it is up).
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (s, body) = api.request("GET", "/api/v1/users", Some(&token), None);
        assert_eq!(s, 200, "{body}");
        if body.contains("\"1001\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no users: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = api.events(&token);

    // The toll-fraud corpus through PATCH: each refused (by the module, or as a line
    // break before it), and the number never changes.
    for number in corpus() {
        let body = serde_json::json!({ "mobile": number }).to_string();
        let (s, answer) = api.request("PATCH", "/api/v1/users/1001", Some(&token), Some(&body));
        assert!(s == 422 || s == 400, "{number:?} was taken: {s} {answer}");
        let answer = json(&answer);
        assert!(!answer["error"].as_str().unwrap().is_empty(), "{number:?}: no reason");
        if s == 422 {
            assert_eq!(answer["node"], "pbx1");
        }
    }
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900123");

    // An admin's session changes a field; the audit event names the admin.
    let (s, login) =
        api.request("POST", "/api/v1/login", None, Some(r#"{"login":"alice","password":"wrong"}"#));
    assert_eq!(s, 401, "{login}");
    let (s, login) =
        api.request("POST", "/api/v1/login", None, Some(r#"{"login":"alice","password":"correct horse"}"#));
    assert_eq!(s, 200, "{login}");
    let session = json(&login)["token"].as_str().unwrap().to_owned();
    let (s, body) = api.request(
        "PATCH",
        "/api/v1/users/1001",
        Some(&session),
        Some(r#"{"mobile":"07700900777","dnd":false}"#),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(json(&body)["applied"], serde_json::json!(["dnd", "mobile"]));
    assert_eq!(twinning_field(&mut ami, "1001", "mobile"), "07700900777");
    let audit = ami
        .event("TwinningSettingsChanged", &[("User", "1001"), ("Field", "mobile")], WAIT)
        .expect("the change's audit event");
    assert_eq!(audit.get("Source"), Some("console:alice"), "{audit:?}");
    let (s, user) = api.request("GET", "/api/v1/users/1001", Some(&session), None);
    assert_eq!(s, 200);
    assert_eq!(json(&user)["settings"]["mobile"], "07700900777");
    assert_eq!(api.request("GET", "/api/v1/users/9999", Some(&session), None).0, 404);
    // The change came on the event stream too.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let line = events
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("no settings event on the stream");
        if line.starts_with("data:") && line.contains("\"type\":\"settings\"") && line.contains("07700900777")
        {
            assert!(line.contains("\"source\":\"console:alice\""), "{line}");
            break;
        }
    }
}

/// Needs the module's control-plane actions (`TwinningCalls`, `TwinningMetrics`,
/// `TwinningCheckPin`).
#[test]
fn calls_metrics_and_the_pin_check_through_the_control_plane_actions() {
    let ports = PhonePorts::new();
    let pbx = pbx::start(pbx::TWINNING_CONF, "", ports);
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], "");
    let _desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let _mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::Never);
    let mut ami = pbx.ami();
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::CancelAfter { ms: 12000 });
    ami.event("TwinningLeg", &[("Leg", "mobile"), ("State", "ringing")], WAIT).expect("the mobile rings");
    // A call in progress, read at connect (not from its events, which came before).
    let out = config.run(&["--json", "calls"]);
    assert_eq!(out.code, 0, "{out:?}");
    let calls = json(&out.stdout);
    assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
    assert_eq!((calls[0]["node"].as_str(), calls[0]["user"].as_str()), (Some("pbx1"), Some("1001")));
    assert_eq!(calls[0]["legs"]["mobile"], "ringing", "{calls}");
    let end = ami.event("TwinningEnd", &[], WAIT).expect("the call ends");
    caller.wait(WAIT);

    let out = config.run(&["metrics"]);
    assert_eq!(out.code, 0, "{out:?}");
    let line = format!(
        "twinning_calls_total{{node=\"pbx1\",pbx=\"asterisk\",status=\"{}\"}} 1\n",
        end.must("Status").to_lowercase()
    );
    assert!(out.stdout.contains(&line), "no {line:?} in\n{}", out.stdout);
    assert!(out.stdout.contains("twinctl_node_up{node=\"pbx1\",pbx=\"asterisk\"} 1"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("1001") && !out.stdout.contains("07700900123"),
        "no user or number in a label"
    );

    let out = config.run(&["--json", "store"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json(&out.stdout)["pbx1"]["Backend"], "file", "{out:?}");

    // The PIN check, through the phone's guard.
    assert_eq!(config.run_with_input(&["check-pin", "1001"], "1234\n").code, 4, "no PIN set: NOPIN");
    assert_eq!(config.run(&["--as", "alice", "set", "1001", "pin", "1234"]).code, 0);
    let ok = config.run_with_input(&["--as", "alice", "check-pin", "1001"], "1234\n");
    assert_eq!((ok.code, ok.stdout.trim()), (0, "OK"), "{ok:?}");
    let wrong = config.run_with_input(&["--as", "alice", "check-pin", "1001"], "9999\n");
    assert_eq!((wrong.code, wrong.stdout.trim()), (4, "WRONG"), "{wrong:?}");
    ami.event("TwinningAuthFailed", &[("User", "1001")], WAIT)
        .expect("a wrong PIN raises the security event");
}

#[test]
fn watch_prints_a_freeswitch_calls_events() {
    let ports = FsPorts::new();
    let conf = FsSettings::new(ports.mobile)
        .param("blocked_prefixes", "09")
        .user("1001", ports.desk, "07700900123", true)
        .xml();
    let Some(fs) = FreeSwitch::start("console::watch_prints_a_freeswitch_calls_events", &conf, "", ports)
    else {
        return;
    };
    let config = ConsoleConfig::new(&[NodeSpec::freeswitch("fs1", fs.esl_port)], "");
    let mut watch = config.watch();
    let up = watch
        .until(WAIT, |l| has(l, "type", "node_up"))
        .unwrap_or_else(|| panic!("fs1 never came up: {:?}", watch.seen));
    assert_eq!((json(&up)["pbx"].as_str(), json(&up)["users"].as_u64()), (Some("freeswitch"), Some(1)));
    let _desk = Phone::uas(&fs, "desk", ports.desk, &Answer::Never);
    let _mobile = Phone::uas(&fs, "mobile", ports.mobile, &ring(500));
    let mut caller = Phone::call(&fs, "caller", "1001", &Caller::HangUpAfter { hold_ms: 1000 });
    watch.until(WAIT, |l| has(l, "type", "end")).unwrap_or_else(|| panic!("no end event: {:?}", watch.seen));
    caller.wait(WAIT);
    let (words, events) = story(&watch.seen, "fs1");
    assert_eq!(words.first().map(String::as_str), Some("start"), "{words:?}");
    assert_eq!(words.last().map(String::as_str), Some("end"), "{words:?}");
    assert!(
        words.iter().position(|w| w == "bridged:mobile") < words.iter().position(|w| w == "end"),
        "{words:?}"
    );
    let call = events[0]["call"].as_str().unwrap();
    assert!(!call.is_empty() && events.iter().all(|e| e["call"] == call), "one call: {events:?}");
    assert_eq!(events.last().unwrap()["answered_by"], "mobile");

    // A change over ESL, as the console's user.
    let out = config.run(&["--as", "alice", "set", "1001", "dnd", "yes"]);
    assert_eq!(out.code, 0, "{out:?}");
    let change = watch.until(WAIT, |l| has(l, "type", "settings")).expect("the change's event");
    assert_eq!(json(&change)["source"], "console:alice", "{change}");
    assert_eq!(config.run(&["--as", "alice", "set", "1001", "mobile", "09001234567"]).code, 4);
}

/// N FreeSWITCH calls with known outcomes: `twinctl serve`'s `/metrics` (FreeSWITCH has
/// no Prometheus module in tree) shows exactly those outcomes, labelled with the node.
#[test]
fn twinctl_serves_the_metrics_of_freeswitch_calls_exactly() {
    let ports = FsPorts::new();
    let conf = FsSettings::new(ports.mobile).user("1001", ports.desk, "07700900123", true).xml();
    let Some(fs) =
        FreeSwitch::start("console::twinctl_serves_the_metrics_of_freeswitch_calls", &conf, "", ports)
    else {
        return;
    };
    let mut esl = fs.esl();
    esl.subscribe(&["twinning::end"]);
    let call = |esl: &mut twinning_tests::esl::Esl, desk: Answer, mobile: Answer| {
        let mut d = Phone::uas(&fs, "desk", ports.desk, &desk);
        let mut m = Phone::uas(&fs, "mobile", ports.mobile, &mobile);
        let mut c = Phone::call(&fs, "caller", "1001", &Caller::HangUpAfter { hold_ms: 300 });
        esl.event("twinning::end", &[], WAIT).expect("twinning::end");
        c.wait(WAIT);
        d.wait(Duration::from_secs(5));
        m.wait(Duration::from_secs(5));
    };
    // Two calls answered on the mobile, one on the desk, one busy everywhere.
    call(&mut esl, Answer::Never, ring(300));
    call(&mut esl, Answer::Never, ring(300));
    call(&mut esl, ring(300), Answer::Never);
    call(&mut esl, Answer::Busy, Answer::Busy);

    let (token, entry) = api_token("scraper");
    let config = ConsoleConfig::new(&[NodeSpec::freeswitch("fs1", fs.esl_port)], &entry);
    let api = config.serve();
    let deadline = std::time::Instant::now() + WAIT;
    let scraped = loop {
        let (status, body) = api.request("GET", "/metrics", Some(&token), None);
        assert_eq!(status, 200, "{body}");
        if body.contains("twinctl_node_up{node=\"fs1\",pbx=\"freeswitch\"} 1") {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "fs1 never up in twinctl: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for (sample, want) in [
        ("twinning_calls_total{status=\"answered\"}", 3),
        ("twinning_calls_total{status=\"busy\"}", 1),
        ("twinning_legs_total{outcome=\"answered\",reason=\"\"}", 3),
        ("twinning_legs_total{outcome=\"failed\",reason=\"busy\"}", 2),
        ("twinning_live_calls", 0),
        ("twinning_ringing_legs", 0),
    ] {
        let line = format!("{}{want}\n", node_sample(&format!("{sample} "), "fs1", "freeswitch"));
        assert!(scraped.contains(&line), "no {line:?} in\n{scraped}");
    }
    assert!(!scraped.contains("1001") && !scraped.contains("07700900123"), "no user or number in a label");
}

/// With a certificate, `twinctl serve` speaks only HTTPS: a client that trusts the
/// certificate is answered (401 without credentials, 200 with a token), plain HTTP is not,
/// and the web pages' cookies are Secure as well as HttpOnly and SameSite=Strict.
#[test]
fn serve_speaks_tls_with_the_given_certificate_and_its_cookies_are_secure() {
    let (token, entry) = api_token("tls");
    let dir = tempfile_dir("twinctl-tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (a test prerequisite)");
    assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
    let extra = format!("tls_cert = \"{}\"\ntls_key = \"{}\"\n\n{entry}\n", cert.display(), key.display());
    // A node nobody answers for: the API still serves, naming it down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", closed)], &extra);
    let api = config.serve();
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&cert)
            .args(args)
            .output()
            .expect("run curl (a test prerequisite)");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let base = format!("https://localhost:{}", api.port);
    let (ok, code) = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{base}/api/v1/nodes")]);
    assert!(ok && code == "401", "no credentials over TLS: {ok} {code}");
    let bearer = format!("Authorization: Bearer {token}");
    let (ok, body) = curl(&["-H", &bearer, &format!("{base}/api/v1/nodes")]);
    assert!(ok && body.trim_start().starts_with('['), "a token over TLS: {ok} {body}");
    // Plain HTTP to the same port is not served.
    let (status, _) = api.request("GET", "/api/v1/nodes", Some(&token), None);
    assert_ne!(status, 200, "plain HTTP was answered");
    let (ok, head) = curl(&["-D", "-", "-o", "/dev/null", &format!("{base}/login")]);
    assert!(ok, "{head}");
    let cookies: Vec<&str> =
        head.lines().filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).collect();
    assert!(!cookies.is_empty(), "the login page sets its CSRF cookie: {head}");
    for c in cookies {
        for attribute in ["; Secure", "; HttpOnly", "; SameSite=Strict"] {
            assert!(c.contains(attribute), "{attribute} missing: {c}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn handover_moves_a_live_call() {
    let ports = PhonePorts::new();
    let conf = pbx::TWINNING_CONF.replace("answer_guard = 0", "answer_guard = 0\nhandover_timeout = 5");
    let pbx = pbx::start(&conf, "", ports);
    let mut ami = pbx.ami();
    let config = ConsoleConfig::new(&[NodeSpec::asterisk("pbx1", pbx.ami_port)], "");
    let mut first_desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mut mobile = Phone::uas(&pbx, "mobile", ports.mobile, &ring(300));
    let mut caller = Phone::call(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 6000 });
    ami.event("TwinningBridged", &[("Leg", "mobile")], WAIT).expect("the mobile answers");
    // The desk was cancelled; its phone goes, and a new one takes its port.
    first_desk.wait(Duration::from_secs(5));
    let mut desk = Phone::uas(&pbx, "desk2", ports.desk, &ring(800));
    let out = config.run(&["--json", "--as", "alice", "handover", "1001", "desk"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(json(&out.stdout)["node"], "pbx1");
    let h = ami.event("TwinningHandover", &[("Result", "completed")], WAIT).expect("the handover completes");
    assert_eq!((h.must("From"), h.must("To")), ("mobile", "desk"));
    // Who asked is in the handover's events, as a change's source is in its audit event.
    assert_eq!((h.must("Trigger"), h.get("Source")), ("ami", Some("console:alice")), "{h:?}");
    let end = ami.event("TwinningEnd", &[], WAIT).expect("the call ends");
    assert_eq!(end.must("AnsweredBy"), "desk");
    assert_eq!(caller.wait(WAIT), Some(0), "{}", caller.summary());
    mobile.wait(Duration::from_secs(5));
    desk.wait(Duration::from_secs(5));
    assert!(desk.answered(), "{}", desk.summary());
}
