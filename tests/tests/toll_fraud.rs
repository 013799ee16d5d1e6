//! Toll fraud at the trunk: an injection corpus fed through every surface that can set a
//! twinned number or choose a destination (TWINNING() from the dialplan, a feature code
//! dialed over SIP, AMI TwinningSet, CLI `twinning set`, Twinning() arguments and options,
//! and twinning.conf at reload). After every attempt the number is unchanged, a security
//! event was raised, and a real twinned call reaches the mobile trunk, a SIPp UAS that
//! records every INVITE, at the original number: never the payload, and never one INVITE
//! more than the legitimate calls placed.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::asterisk::INSTALLATION;
use twinning_tests::module_build::workspace_root;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{free_udp_port, Answer, Caller, Phone};
use twinning_tests::status::{ami_header, twinning_field, twinning_user};
use twinning_tests::toll_fraud::corpus;
use twinning_tests::{dialplan, Instance, Message};

const ORIGINAL: &str = "07700900123";
const WAIT: Duration = Duration::from_secs(30);

/// The test PBX: the corpus's policy, 1001 twinned to `mobile` and 1002.
fn conf(mobile: &str) -> String {
    twinning_tests::toll_fraud::policy_conf(mobile)
}

/// The mobile trunk: one SIPp UAS for the whole test that answers every call at once and
/// records every message it receives.
struct Trunk {
    child: Child,
    trace: PathBuf,
}

impl Trunk {
    fn start(pbx: &Instance, port: u16) -> Trunk {
        let dir = "sipp-trunk";
        fs::create_dir_all(pbx.path(dir)).unwrap();
        fs::write(pbx.path(&format!("{dir}/scenario.xml")), TRUNK_SCENARIO).unwrap();
        let (port, media) = (port.to_string(), free_udp_port().to_string());
        let child = INSTALLATION
            .command_in("sipp", &pbx.inside_path(dir))
            .args(["-sf", "scenario.xml", "-i", "127.0.0.1", "-p", &port, "-mi", "127.0.0.1", "-mp", &media])
            .args(["-nostdin", "-trace_msg", "-message_file", "messages.log", "-trace_err", "-error_file"])
            .arg("errors.log")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp");
        std::thread::sleep(Duration::from_millis(300));
        Trunk { child, trace: pbx.path(&format!("{dir}/messages.log")) }
    }

    /// The request line of every INVITE received, once per dialog (a retransmission is
    /// the same INVITE).
    fn invites(&self) -> Vec<String> {
        let text = fs::read_to_string(&self.trace).unwrap_or_default();
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for block in text.split("----------------------------------------------- ").skip(1) {
            let mut lines = block.lines().skip(1);
            if !lines.next().unwrap_or("").contains("received") {
                continue;
            }
            let body: Vec<&str> = lines.skip_while(|l| l.trim().is_empty()).collect();
            let Some(first) = body.first().filter(|l| l.starts_with("INVITE ")) else { continue };
            let call_id = body
                .iter()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("Call-ID")))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default();
            if !seen.contains(&call_id) {
                seen.push(call_id);
                out.push(first.trim().to_owned());
            }
        }
        out
    }
}

impl Drop for Trunk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TRUNK_SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="mobile trunk">
<recv request="INVITE" crlf="true"/>
<send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
]]></send>
<recv request="ACK"/>
<recv request="BYE"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<timewait milliseconds="200"/>
</scenario>
"#;

/// A PBX whose desk rings without answering and whose mobile trunk answers every call,
/// with the dialplan contexts the surfaces need.
struct Fixture {
    pbx: Instance,
    ami: Ami,
    trunk: Trunk,
    _desk: Phone,
    /// Legitimate twinned calls placed so far.
    calls: usize,
    /// Attempts made, and the security events they raised.
    attempts: usize,
    events: usize,
}

const EXTRA_CONTEXTS: &str = "\
[toll-args]
exten => s,1,Twinning(${BASE64_DECODE(${TARGS64})})
 same => n,UserEvent(TollArgs,Tag: ${TTAG},Status: ${TWINNINGSTATUS},Error: ${BASE64_ENCODE(${TWINNINGERROR})})
 same => n,Hangup()
";

impl Fixture {
    fn start() -> Fixture {
        let ports = PhonePorts::new();
        let pbx = pbx::start(&conf(ORIGINAL), "", ports);
        let sample =
            fs::read_to_string(workspace_root().join("asterisk-module/conf/extensions_twinning.conf.sample"))
                .unwrap();
        let features = sample.split("[twinning-calls]").next().unwrap();
        pbx.write_file(
            "extensions_twinning.conf",
            &format!("{features}\n{}\n{EXTRA_CONTEXTS}", dialplan::CONTEXT),
        );
        let out = pbx.cli("dialplan reload");
        assert!(out.contains("Dialplan reloaded"), "{out}");
        let desk = Phone::uas_all(&pbx, "desk", ports.desk, &Answer::Never);
        let trunk = Trunk::start(&pbx, ports.mobile);
        let ami = pbx.ami();
        let mut f = Fixture { pbx, ami, trunk, _desk: desk, calls: 0, attempts: 0, events: 0 };
        f.legitimate_call("start-up");
        f
    }

    fn mobile(&mut self) -> String {
        twinning_field(&mut self.ami, "1001", "mobile")
    }

    /// A real twinned call to 1001: the caller is a Local channel that stays 0.2 s
    /// once answered; the trunk answers at once, so the mobile takes the call.
    fn legitimate_call(&mut self, after: &str) {
        let r = self.ami.action(
            "Originate",
            &[
                ("Channel", "Local/1001@twinning-calls"),
                ("Application", "Wait"),
                ("Data", "0.2"),
                ("Async", "true"),
            ],
        );
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
        let end = self
            .ami
            .event("TwinningEnd", &[("User", "1001")], WAIT)
            .unwrap_or_else(|| panic!("after {after}: the twinned call did not end"));
        assert_eq!(
            (end.must("Status"), end.must("AnsweredBy")),
            ("ANSWERED", "mobile"),
            "after {after}: {end:?}"
        );
        self.calls += 1;
        let invites = self.trunk.invites();
        assert_eq!(invites.len(), self.calls, "after {after}: INVITEs at the trunk: {invites:#?}");
        for invite in &invites {
            assert!(
                invite.starts_with(&format!("INVITE sip:{ORIGINAL}@127.0.0.1:")),
                "after {after}: the trunk was asked for {invite}"
            );
        }
    }

    /// After an attempt with `payload` through `surface`: one security event, the number
    /// unchanged, and a real call to the original number.
    fn check(&mut self, surface: &str, payload: &str, events: &[&str]) {
        self.attempts += 1;
        let what = format!("{surface} {payload:?}");
        let event = self
            .ami
            .wait(Duration::from_secs(10), |m| events.iter().any(|e| m.is_event(e)))
            .unwrap_or_else(|| panic!("{what}: no {events:?} event"));
        self.events += 1;
        check_event(&event, &what);
        assert_eq!(self.mobile(), ORIGINAL, "{what} changed the number");
        assert!(
            self.ami.drain_events("TwinningSettingsChanged", Duration::ZERO).is_empty(),
            "{what}: a change was announced"
        );
        self.legitimate_call(&what);
    }

    fn report(&mut self, surface: &str) {
        // Nothing was changed behind the checks' backs.
        assert!(self.ami.drain_events("TwinningSettingsChanged", Duration::from_millis(500)).is_empty());
        assert_eq!(self.trunk.invites().len(), self.calls);
        eprintln!(
            "toll fraud, {surface}: {} inputs tried, {} security events, {} legitimate calls, {} INVITEs at the trunk, all to {ORIGINAL}",
            self.attempts,
            self.events,
            self.calls,
            self.trunk.invites().len()
        );
    }
}

fn check_event(event: &Message, what: &str) {
    if event.is_event("TwinningSettingsRefused") {
        assert!(!event.must("Reason").is_empty(), "{what}: {event:?}");
        if event.must("Source") != "reload" {
            assert_eq!(event.must("Field"), "mobile", "{what}: {event:?}");
            assert_eq!(event.must("User"), "1001", "{what}: {event:?}");
        }
    }
}

/// The payload as the user part of a SIP URI: what SIP allows there as it is (unreserved
/// and user-unreserved characters), everything else percent-escaped, which PJSIP decodes
/// before Asterisk takes the extension.
fn sip_user(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
fn twinning_function_in_the_dialplan() {
    let mut f = Fixture::start();
    for payload in corpus() {
        let out = dialplan::write(&mut f.ami, "1001", "mobile", &payload);
        assert!(!out.error.is_empty(), "TWINNING() accepted {payload:?}");
        assert_eq!(out.value, ORIGINAL);
        f.check("TWINNING()", &payload, &["TwinningSettingsRefused"]);
    }
    f.report("TWINNING() in the dialplan");
}

#[test]
fn feature_code_dialed_over_sip() {
    let mut f = Fixture::start();
    for (i, payload) in corpus().into_iter().enumerate() {
        // The sample's pattern is _*21X.: the number starts with a digit.
        let number =
            if payload.starts_with(|c: char| c.is_ascii_digit()) { payload } else { format!("0{payload}") };
        let exten = format!("*21{}", sip_user(&number));
        let mut phone = Phone::call_as(
            &f.pbx,
            &format!("phone{i}"),
            "desk1001",
            &exten,
            &Caller::HangUpAfter { hold_ms: 300 },
        );
        phone.wait(WAIT);
        assert!(
            phone.messages().iter().any(|m| m.is_request("INVITE") && !m.received),
            "{exten}: {}",
            phone.summary()
        );
        f.check("feature code", &exten, &["TwinningSettingsRefused"]);
    }
    f.report("feature code *21<number> over SIP");
}

#[test]
fn ami_twinning_set() {
    let mut f = Fixture::start();
    // A CR or LF would end the AMI header itself: not a value an AMI client can send.
    for payload in corpus().into_iter().filter(|p| !p.contains(['\r', '\n'])) {
        let r = f.ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", &payload)]);
        assert_eq!(r.get("Response"), Some("Error"), "AMI accepted {payload:?}: {r:?}");
        f.check("AMI TwinningSet", &payload, &["TwinningSettingsRefused"]);
    }
    f.report("AMI TwinningSet");
    // The control: a valid change does reach the trunk, so the checks above could fail.
    let r = f.ami.action("TwinningSet", &[("User", "1001"), ("Field", "mobile"), ("Value", "07700900999")]);
    assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
    f.ami.action(
        "Originate",
        &[("Channel", "Local/1001@twinning-calls"), ("Application", "Wait"), ("Data", "0.2")],
    );
    f.ami.event("TwinningEnd", &[("User", "1001")], WAIT).expect("the control call ended");
    let invites = f.trunk.invites();
    assert_eq!(invites.len(), f.calls + 1);
    assert!(invites.last().unwrap().starts_with("INVITE sip:07700900999@"), "{invites:?}");
}

#[test]
fn cli_twinning_set() {
    let mut f = Fixture::start();
    // The CLI takes one line of text: a NUL cannot be passed, a line end ends the command.
    for payload in corpus().into_iter().filter(|p| !p.contains(['\0', '\r', '\n'])) {
        let quoted = format!("\"{}\"", payload.replace('\\', "\\\\").replace('"', "\\\""));
        let out = f.pbx.cli(&format!("twinning set 1001 mobile {quoted}"));
        assert!(!out.contains(" set to "), "the CLI accepted {payload:?}: {out}");
        f.check("CLI twinning set", &payload, &["TwinningSettingsRefused"]);
    }
    f.report("CLI twinning set");
}

/// Arguments a dialplan might hand Twinning() from caller-controlled text: other users,
/// dial strings, options smuggled in with separators, expressions, odd characters.
fn twinning_arguments() -> Vec<String> {
    let mut a: Vec<String> = [
        "1001&1002",
        "1001&PJSIP/0900123456@mobile-trunk",
        "PJSIP/desk1001",
        "1001@twinning-calls",
        "../1001",
        "1001)",
        "(1001",
        "1001;1002",
        "1001|1002",
        "1001 1002",
        "1001\t1002",
        "1001\r\n1002",
        "${EXTEN}",
        "$[1000+1]",
        "１００１",
        "١٠٠١",
        "\u{0}1001",
        "",
        ",1001",
        "1001,c,d(1)",
        "1001,h&f",
        "1001,d(1)&r(5)",
        "1001,r(30),x",
        "1001,c;d(1)",
        "1001,g(1)|c",
        "1001,d(${EXTEN})",
        "1001,d(99999999999)",
        "1001,d(-1)",
        "1001,r(1)",
        "1001,c(1)",
        "1001,d(1",
        "1001,r(30)x",
        "1001,\u{7}",
        "1001,c&PJSIP/0900123456",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push("1".repeat(41));
    a
}

#[test]
fn twinning_application_arguments() {
    let mut f = Fixture::start();
    for (i, args) in twinning_arguments().into_iter().enumerate() {
        let tag = format!("args{i}");
        let vars = [format!("TARGS64={}", dialplan::base64_encode(args.as_bytes())), format!("TTAG={tag}")];
        let mut headers = vec![("Channel", "Local/s@toll-args"), ("Application", "Wait"), ("Data", "1")];
        headers.push(("Async", "true"));
        headers.extend(vars.iter().map(|v| ("Variable", v.as_str())));
        let r = f.ami.action("Originate", &headers);
        assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
        let result = f
            .ami
            .event("UserEvent", &[("UserEvent", "TollArgs"), ("Tag", &tag)], WAIT)
            .unwrap_or_else(|| panic!("Twinning({args:?}) did not return to the dialplan"));
        assert_eq!(result.must("Status"), "FAILED", "Twinning({args:?}): {result:?}");
        assert!(!result.must("Error").is_empty(), "Twinning({args:?}) gave no reason");
        f.check("Twinning()", &args, &["TwinningRequestRefused"]);
    }
    f.report("Twinning() arguments and options");
}

#[test]
fn twinning_conf_at_reload() {
    let mut f = Fixture::start();
    // A value ends at the end of its line, so CR and LF cannot be inside one; `;` starts a
    // comment unless escaped as `\;`.
    for payload in corpus().into_iter().filter(|p| !p.contains(['\r', '\n'])) {
        f.pbx.write_file("twinning.conf", &conf(&payload.replace(';', "\\;")));
        f.pbx.cli("module reload app_twinning.so");
        f.check("twinning.conf", &payload, &["TwinningSettingsRefused"]);
    }
    f.pbx.write_file("twinning.conf", &conf(ORIGINAL));
    f.pbx.cli("module reload app_twinning.so");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !f.pbx.log().contains("twinning.conf reloaded") {
        assert!(std::time::Instant::now() < deadline, "the good file loads again: {}", f.pbx.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    f.report("twinning.conf at reload");
}

/// The fields of destinations 2 … 10 and the caller lists, over AMI (the CLI and the
/// function go through the same validation, which the tests above cover for `mobile`):
/// every payload is refused and changes nothing, a list never takes anything but numbers,
/// prefixes and `anonymous`, and calls still reach only the original number.
#[test]
fn the_other_destinations_and_the_caller_lists_refuse_the_corpus() {
    let mut f = Fixture::start();
    // None while the destination is not in use, as TwinningStatus does not list it then: a
    // payload that got in would put it in use.
    let get = |f: &mut Fixture, field: &str| {
        twinning_user(&mut f.ami, "1001").get(&ami_header(field)).map(str::to_owned)
    };
    let fields =
        ["mobile2", "mobile10", "mobile5_ring_time", "mobile7_dial_delay", "block_callers", "allow_callers"];
    let mut refused = 0;
    for field in fields {
        let before = get(&mut f, field);
        for payload in corpus().into_iter().filter(|p| !p.contains(['\r', '\n'])) {
            let list = field.ends_with("_callers");
            // Plain digits are a valid list entry (a list never dials): only the rest must be
            // refused. A timer takes a number of seconds, which a payload like "12" is.
            if list && payload.trim().chars().all(|c| c.is_ascii_digit() || "+*, ".contains(c)) {
                continue;
            }
            if (field.ends_with("_time") || field.ends_with("_delay"))
                && payload.trim().parse::<f64>().is_ok()
            {
                continue;
            }
            let r = f.ami.action("TwinningSet", &[("User", "1001"), ("Field", field), ("Value", &payload)]);
            assert_eq!(r.get("Response"), Some("Error"), "{field}: AMI accepted {payload:?}: {r:?}");
            let e = f
                .ami
                .event("TwinningSettingsRefused", &[("Field", field)], Duration::from_secs(10))
                .unwrap_or_else(|| panic!("{field} {payload:?}: no security event"));
            assert!(!e.must("Reason").is_empty());
            assert_eq!(get(&mut f, field), before, "{field} {payload:?} changed it");
            refused += 1;
        }
    }
    assert!(f.ami.drain_events("TwinningSettingsChanged", Duration::from_millis(500)).is_empty());
    f.legitimate_call("the corpus on the other destinations and the lists");
    eprintln!("toll fraud, other destinations and caller lists: {refused} inputs refused; calls still reach only {ORIGINAL}");
}
