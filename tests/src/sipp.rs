//! SIPp phones for the tests: the caller (a UAC) and the desk phone and mobile trunk
//! (UASes), each a real `sipp` process on its own loopback port, run inside the same root
//! as Asterisk. Scenarios are generated from a few behaviours, and each phone's message
//! trace is parsed afterwards to check what that phone saw.

use std::fs;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::asterisk::{Instance, INSTALLATION};

/// Where SIPp phones run and whom they call: a PBX under test (Asterisk or FreeSWITCH)
/// with a directory inside the provisioned root (SIPp runs there) for their files.
pub trait SipSite {
    /// The PBX's SIP port on 127.0.0.1.
    fn sip_port(&self) -> u16;
    /// A path under the site's directory, as this process sees it.
    fn path(&self, relative: &str) -> PathBuf;
    /// The same path as SIPp (inside the root) sees it.
    fn inside_path(&self, relative: &str) -> String;
    /// The SIP user a load's calls come from (`[call_number]`, SIPp's, gives each call a
    /// number of its own). Asterisk picks the caller's PJSIP endpoint by it, so `caller`
    /// unless the PBX needs no such match.
    fn load_caller(&self) -> &str {
        "caller"
    }
}

impl SipSite for Instance {
    fn sip_port(&self) -> u16 {
        self.sip_port
    }

    fn path(&self, relative: &str) -> PathBuf {
        Instance::path(self, relative)
    }

    fn inside_path(&self, relative: &str) -> String {
        Instance::inside_path(self, relative)
    }
}

/// How a desk phone or mobile answers an INVITE.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Ring, then answer after `after_ms` (unless cancelled first). Then, for each
    /// `(pause_ms, keys)`, wait and key the sequence as RFC 4733 events; stay until
    /// Asterisk hangs up.
    After { after_ms: u64, dtmf: Vec<(u64, &'static str)> },
    /// Ring, answer after `after_ms`, then hang up (send BYE) `hold_ms` later.
    AnswerThenHangUp { after_ms: u64, hold_ms: u64 },
    /// As `After`, then hang up (send BYE) `hold_ms` after the last keys.
    KeysThenHangUp { after_ms: u64, dtmf: Vec<(u64, &'static str)>, hold_ms: u64 },
    /// Ring, answer after `after_ms`, then send `seconds` of RTP audio; stay until Asterisk
    /// hangs up.
    Talk { after_ms: u64, seconds: u32, sample: u8 },
    /// Ring until cancelled.
    Never,
    /// A mobile network's early media: 183 Session Progress with SDP (an announcement or
    /// the network's own ringback), then, after `ringing_after_ms` if given, 180 Ringing;
    /// answer `answer_after_ms` after the INVITE if given, else ring until cancelled.
    EarlyMedia { ringing_after_ms: Option<u64>, answer_after_ms: Option<u64> },
    /// Refuse with 486 Busy Here.
    Busy,
    /// A strict trunk: refuse with 403 Forbidden a call whose From user is `caller_id`
    /// (every call when `None`), and ring and answer any other after `after_ms`.
    RefuseCallerId { caller_id: Option<&'static str>, after_ms: u64 },
}

/// How the caller behaves once its call is set up.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Wait for the answer, talk for `hold_ms`, hang up. A final error answer ends the
    /// call too.
    HangUpAfter { hold_ms: u64 },
    /// Hang up (CANCEL) after `ms` of ringing.
    CancelAfter { ms: u64 },
    /// A feature-code call: once answered, wait for the prompt, key `digits` (as SIP INFO
    /// application/dtmf-relay, which keeps a sequence of keys distinct however fast it is
    /// sent) and stay until Asterisk hangs up.
    KeyIn { digits: String },
}

/// A message in a phone's trace.
#[derive(Debug, Clone)]
pub struct SipMessage {
    pub received: bool,
    /// Seconds since midnight, from SIPp's trace (one clock for every phone).
    pub at: f64,
    pub first_line: String,
    pub text: String,
}

impl SipMessage {
    pub fn is_request(&self, method: &str) -> bool {
        self.first_line.starts_with(&format!("{method} "))
    }

    pub fn is_response(&self, code: u16) -> bool {
        self.first_line.starts_with(&format!("SIP/2.0 {code}"))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

pub struct Phone {
    pub name: String,
    pub port: u16,
    child: Option<Child>,
    trace: PathBuf,
    pub exit_code: Option<i32>,
}

/// The messages in a phone's trace file so far (see [`Phone::trace_path`]).
pub fn messages_in(trace: &std::path::Path) -> Vec<SipMessage> {
    parse_trace(&fs::read_to_string(trace).unwrap_or_default())
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Phone {
    /// A phone that answers calls as `answer` says, listening on `port`.
    pub fn uas(instance: &dyn SipSite, name: &str, port: u16, answer: &Answer) -> Phone {
        let dir = format!("sipp-{name}");
        fs::create_dir_all(instance.path(&dir)).unwrap();
        if let Answer::After { dtmf, .. } | Answer::KeysThenHangUp { dtmf, .. } = answer {
            for (i, (_, keys)) in dtmf.iter().enumerate() {
                fs::write(
                    instance.path(&format!("{dir}/keys{i}.pcap")),
                    crate::rtp_events::pcap(keys, i as u32),
                )
                .unwrap();
            }
        }
        if let Answer::Talk { seconds, sample, .. } = answer {
            fs::write(
                instance.path(&format!("{dir}/audio.pcap")),
                crate::rtp_events::pcap_audio(*seconds, *sample),
            )
            .unwrap();
        }
        let xml = uas_scenario(answer, &instance.inside_path(&dir));
        Phone::spawn(instance, name, port, &xml, &[])
    }

    /// Calls `exten` on Asterisk as SIP user `caller`.
    pub fn call(instance: &dyn SipSite, name: &str, exten: &str, behaviour: &Caller) -> Phone {
        Phone::call_as(instance, name, "caller", exten, behaviour)
    }

    /// Calls `exten`, announcing `media_port` (on 127.0.0.1) for the audio it receives, so
    /// the test itself can listen to what the caller hears.
    pub fn call_listening(
        instance: &dyn SipSite,
        name: &str,
        exten: &str,
        behaviour: &Caller,
        media_port: u16,
    ) -> Phone {
        let xml = uac_scenario(behaviour).replace("m=audio [media_port]", &format!("m=audio {media_port}"));
        let target = format!("127.0.0.1:{}", instance.sip_port());
        Phone::spawn(instance, name, free_udp_port(), &xml, &[&target, "-s", exten])
    }

    /// Calls `exten` as SIP user `from` (which picks the PJSIP endpoint).
    pub fn call_as(instance: &dyn SipSite, name: &str, from: &str, exten: &str, behaviour: &Caller) -> Phone {
        let xml = uac_scenario_from(behaviour, from);
        let target = format!("127.0.0.1:{}", instance.sip_port());
        Phone::spawn(instance, name, free_udp_port(), &xml, &[&target, "-s", exten])
    }

    /// Calls `exten` as SIP user `from` from another loopback address (`127.0.0.2`, say):
    /// a different phone on the network, whatever user it claims.
    pub fn call_as_from(
        instance: &dyn SipSite,
        name: &str,
        from: &str,
        address: &str,
        exten: &str,
        behaviour: &Caller,
    ) -> Phone {
        let xml = uac_scenario_from(behaviour, from);
        let target = format!("127.0.0.1:{}", instance.sip_port());
        Phone::spawn(instance, name, free_udp_port(), &xml, &[&target, "-s", exten, "-i", address])
    }

    /// Calls `exten` as a caller who withholds their number (`Privacy: id`, as a phone or
    /// a carrier sends it).
    pub fn call_withheld(instance: &dyn SipSite, name: &str, exten: &str, behaviour: &Caller) -> Phone {
        let xml = uac_scenario(behaviour).replacen("Max-Forwards: 70", "Privacy: id\nMax-Forwards: 70", 1);
        let target = format!("127.0.0.1:{}", instance.sip_port());
        Phone::spawn(instance, name, free_udp_port(), &xml, &[&target, "-s", exten])
    }

    fn spawn(instance: &dyn SipSite, name: &str, port: u16, xml: &str, extra: &[&str]) -> Phone {
        Phone::spawn_load(instance, name, port, xml, extra, Some(1))
    }

    /// A phone that answers every call it gets, as `answer` says, until stopped.
    pub fn uas_all(instance: &dyn SipSite, name: &str, port: u16, answer: &Answer) -> Phone {
        let dir = format!("sipp-{name}");
        fs::create_dir_all(instance.path(&dir)).unwrap();
        let xml = uas_scenario(answer, &instance.inside_path(&dir));
        Phone::spawn_load(instance, name, port, &xml, &[], None)
    }

    /// A trunk to several remote destinations: takes `calls` calls, and answers a call to
    /// a number starting with `answers[i].0` `answers[i].1` ms after its INVITE, staying
    /// until hung up; every other call rings until cancelled. Its trace shows each
    /// INVITE's time and number.
    pub fn trunk(
        instance: &dyn SipSite,
        name: &str,
        port: u16,
        answers: &[(&str, u64)],
        calls: u64,
    ) -> Phone {
        let mut x = String::from(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"twinning trunk\">\n\
<recv request=\"INVITE\" crlf=\"true\"><action>\
<ereg regexp=\"[0-9]+\" search_in=\"hdr\" header=\"CSeq:\" assign_to=\"invite_cseq\"/>",
        );
        for (i, (number, _)) in answers.iter().enumerate() {
            assert!(number.chars().all(|c| c.is_ascii_digit()), "a number prefix: {number}");
            x += &format!(
                "<ereg regexp=\"^INVITE sip:{number}\" search_in=\"msg\" check_it=\"false\" assign_to=\"answer{i}\"/>"
            );
        }
        x += "</action></recv>\n";
        x += &response("180 Ringing", "[last_CSeq:]", false);
        for i in 0..answers.len() {
            x += &format!("<nop test=\"answer{i}\" next=\"answer{i}\"/>\n");
        }
        // Not answered: rings until the PBX cancels it.
        x += "<recv request=\"CANCEL\"/>\n";
        x += &response("200 OK", "[last_CSeq:]", false);
        x += &response("487 Request Terminated", "CSeq: [$invite_cseq] INVITE", false);
        x += "<recv request=\"ACK\"/>\n<nop next=\"end\"/>\n";
        for (i, (_, after_ms)) in answers.iter().enumerate() {
            x += &format!("<label id=\"answer{i}\"/>\n<pause milliseconds=\"{after_ms}\"/>\n");
            x += &response("200 OK", "CSeq: [$invite_cseq] INVITE", true);
            x += "<recv request=\"ACK\"/>\n<recv request=\"BYE\"/>\n";
            x += &response("200 OK", "[last_CSeq:]", false);
            x += "<nop next=\"end\"/>\n";
        }
        x += "<label id=\"end\"/>\n</scenario>\n";
        Phone::spawn_load(instance, name, port, &x, &[], Some(calls))
    }

    /// Places `calls` calls to `exten` at `rate` per second (at most `limit` at once),
    /// recording each call's INVITE-to-200 time and SIPp's statistics in its directory.
    pub fn load(
        instance: &dyn SipSite,
        name: &str,
        exten: &str,
        behaviour: &Caller,
        calls: u64,
        rate: f64,
        limit: u32,
    ) -> Phone {
        let xml = uac_scenario_from(behaviour, instance.load_caller());
        let target = format!("127.0.0.1:{}", instance.sip_port());
        let dir = instance.inside_path(&format!("sipp-{name}"));
        let (rate, limit) = (format!("{rate}"), limit.to_string());
        let stats = format!("{dir}/stats.csv");
        let extra = [
            target.as_str(),
            "-s",
            exten,
            "-r",
            &rate,
            "-l",
            &limit,
            "-trace_rtt",
            "-rtt_freq",
            "1",
            "-trace_stat",
            "-stf",
            &stats,
            "-fd",
            "1",
        ];
        Phone::spawn_load(instance, name, free_udp_port(), &xml, &extra, Some(calls))
    }

    /// Each completed call's INVITE-to-200 time, in milliseconds (from `-trace_rtt`).
    pub fn response_times(&self) -> Vec<f64> {
        let dir = self.trace.parent().unwrap();
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().ends_with("_rtt.csv") {
                for line in fs::read_to_string(entry.path()).unwrap_or_default().lines() {
                    if let Some(v) = line.split(';').nth(1).and_then(|v| v.trim().parse::<f64>().ok()) {
                        out.push(v);
                    }
                }
            }
        }
        out
    }

    /// SIPp's cumulative (successful, failed) call counts from its statistics file.
    pub fn call_counts(&self) -> (u64, u64) {
        let text = fs::read_to_string(self.trace.parent().unwrap().join("stats.csv")).unwrap_or_default();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
        let last: Vec<&str> = text.lines().last().unwrap_or("").split(';').collect();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .and_then(|i| last.get(i))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (column("SuccessfulCall(C)"), column("FailedCall(C)"))
    }

    /// Runs SIPp with scenario `xml` on `port` (`extra` arguments first), for `calls` calls
    /// or, with `None`, until stopped. Its files live in the instance's `sipp-{name}`.
    pub fn spawn_load(
        instance: &dyn SipSite,
        name: &str,
        port: u16,
        xml: &str,
        extra: &[&str],
        calls: Option<u64>,
    ) -> Phone {
        let dir = format!("sipp-{name}");
        fs::create_dir_all(instance.path(&dir)).unwrap();
        fs::write(instance.path(&format!("{dir}/scenario.xml")), xml).unwrap();
        let inside = instance.inside_path(&dir);
        let trace = instance.path(&format!("{dir}/messages.log"));
        let media_port = free_udp_port().to_string();
        let (scenario, messages, errors) = (
            format!("{inside}/scenario.xml"),
            format!("{inside}/messages.log"),
            format!("{inside}/errors.log"),
        );
        let port_arg = port.to_string();
        let mut args: Vec<&str> = extra.to_vec();
        if !extra.contains(&"-i") {
            args.extend(["-i", "127.0.0.1"]);
        }
        args.extend(["-sf", &scenario, "-p", &port_arg, "-mi", "127.0.0.1", "-mp", &media_port]);
        let calls_arg = calls.map(|c| c.to_string());
        if let Some(c) = &calls_arg {
            args.extend(["-m", c]);
        }
        args.push("-nostdin");
        // A few calls' messages are what tests check; under load, tracing every message
        // would cost more than the calls themselves.
        if calls.is_some_and(|c| c <= 10) {
            args.extend(["-trace_msg", "-message_file", &messages]);
        }
        args.extend(["-trace_err", "-error_file", &errors]);
        let child = INSTALLATION
            .command_in("sipp", &inside)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp");
        // Nothing may be sent to the phone before SIPp has bound its port: a loaded machine
        // starts it slowly, and a request sent meanwhile meets a closed port (FreeSWITCH
        // then fails the leg at once).
        let mut phone = Phone { name: name.into(), port, child: Some(child), trace, exit_code: None };
        phone.wait_until_bound(Duration::from_secs(10));
        phone
    }

    /// Waits until a UDP socket is bound to the phone's port (read from /proc/net/udp), or
    /// SIPp has exited, or `timeout` has passed.
    fn wait_until_bound(&mut self, timeout: Duration) {
        let until = std::time::Instant::now() + timeout;
        let suffix = format!(":{:04X}", self.port);
        let bound = || {
            ["/proc/net/udp", "/proc/net/udp6"].iter().any(|f| {
                fs::read_to_string(f)
                    .unwrap_or_default()
                    .lines()
                    .skip(1)
                    .any(|l| l.split_whitespace().nth(1).is_some_and(|local| local.ends_with(&suffix)))
            })
        };
        while std::time::Instant::now() < until {
            let exited = self.child.as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some());
            if exited || bound() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the phone's scenario to end; returns SIPp's exit code (0: the call went
    /// as scripted), or None if it was still running at the timeout (it is then stopped).
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        if let Some(child) = self.child.as_mut() {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    self.exit_code = status.code();
                    self.child = None;
                    break;
                }
                if Instant::now() > deadline {
                    self.stop();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.exit_code
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every SIP message the phone sent or received, in order.
    pub fn messages(&self) -> Vec<SipMessage> {
        parse_trace(&fs::read_to_string(&self.trace).unwrap_or_default())
    }

    /// Where this phone's message trace is written, for another thread to read it while
    /// the phone runs ([`messages_in`]).
    pub fn trace_path(&self) -> PathBuf {
        self.trace.clone()
    }

    pub fn received(&self, method: &str) -> Vec<SipMessage> {
        self.messages().into_iter().filter(|m| m.received && m.is_request(method)).collect()
    }

    /// The responses with `code` this phone received, in order.
    pub fn received_responses(&self, code: u16) -> Vec<SipMessage> {
        self.messages().into_iter().filter(|m| m.received && m.is_response(code)).collect()
    }

    pub fn sent_response(&self, code: u16) -> bool {
        self.messages().iter().any(|m| !m.received && m.is_response(code))
    }

    /// Whether this phone answered an INVITE (sent 200 OK for it).
    pub fn answered(&self) -> bool {
        self.messages().iter().any(|m| {
            !m.received && m.is_response(200) && m.header("CSeq").is_some_and(|c| c.ends_with("INVITE"))
        })
    }

    /// When the phone first received a request of `method` (seconds since midnight).
    pub fn first_received_at(&self, method: &str) -> Option<f64> {
        self.received(method).first().map(|m| m.at)
    }

    pub fn got_response(&self, code: u16) -> bool {
        self.messages().iter().any(|m| m.received && m.is_response(code))
    }

    /// The requests the PBX sent into this phone's own dialog that would re-route or end it
    /// (a re-INVITE, a BYE): empty for a caller whose call was moved without it noticing.
    pub fn dialog_touched(&self) -> Vec<String> {
        self.messages()
            .iter()
            .filter(|m| m.received && (m.is_request("INVITE") || m.is_request("BYE")))
            .map(|m| m.first_line.clone())
            .collect()
    }

    /// The trace, for assertion messages.
    pub fn summary(&self) -> String {
        let lines: Vec<String> = self
            .messages()
            .iter()
            .map(|m| format!("{:.3} {} {}", m.at, if m.received { "<-" } else { "->" }, m.first_line))
            .collect();
        format!("{}: [{}]", self.name, lines.join(", "))
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse_trace(text: &str) -> Vec<SipMessage> {
    let mut out = Vec::new();
    let mut blocks = text.split("----------------------------------------------- ").skip(1);
    for block in &mut blocks {
        let mut lines = block.lines();
        let stamp = lines.next().unwrap_or("");
        // "2026-11-26T04:19:55.452834Z" (or a date and a time separated by white space).
        let at = stamp
            .trim()
            .trim_end_matches('Z')
            .rsplit(['T', ' ', '\t'])
            .next()
            .and_then(|t| {
                let mut p = t.split(':');
                let (h, m, s) = (
                    p.next()?.parse::<f64>().ok()?,
                    p.next()?.parse::<f64>().ok()?,
                    p.next()?.parse::<f64>().ok()?,
                );
                Some(h * 3600.0 + m * 60.0 + s)
            })
            .unwrap_or(0.0);
        let kind = lines.next().unwrap_or("");
        let received = kind.contains("received");
        if !(received || kind.contains("sent")) {
            continue;
        }
        let body: Vec<&str> = lines.skip_while(|l| l.trim().is_empty()).collect();
        let first_line = body.first().map(|l| l.trim().to_owned()).unwrap_or_default();
        out.push(SipMessage { received, at, first_line, text: body.join("\n") });
    }
    out
}

const SDP: &str = "v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
";

fn response(code: &str, cseq: &str, sdp: bool) -> String {
    let body = if sdp { SDP } else { "" };
    let content =
        if sdp { "Content-Type: application/sdp\nContent-Length: [len]\n" } else { "Content-Length: 0\n" };
    format!(
        "<send><![CDATA[
SIP/2.0 {code}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
{cseq}
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{content}
{body}]]></send>
"
    )
}

fn uas_scenario(answer: &Answer, dir: &str) -> String {
    let invite_cseq = "CSeq: [$invite_cseq] INVITE";
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"twinning phone\">\n",
    );
    // SIPp refuses a variable that is set but never used, so only answering phones keep
    // the INVITE's CSeq (for the 487 or 200 they send after other messages).
    let refusing;
    x += match answer {
        Answer::Busy | Answer::RefuseCallerId { caller_id: None, .. } => "<recv request=\"INVITE\" crlf=\"true\"/>\n",
        Answer::RefuseCallerId { caller_id: Some(number), .. } => {
            refusing = format!(
                "<recv request=\"INVITE\" crlf=\"true\"><action><ereg regexp=\"[0-9]+\" search_in=\"hdr\" header=\"CSeq:\" assign_to=\"invite_cseq\"/>\
<ereg regexp=\"sip:{number}@\" search_in=\"hdr\" header=\"From:\" check_it=\"false\" assign_to=\"refused\"/></action></recv>\n\
<nop test=\"refused\" next=\"refuse\"/>\n"
            );
            &refusing
        }
        Answer::AnswerThenHangUp { .. } | Answer::KeysThenHangUp { .. } => "<recv request=\"INVITE\" crlf=\"true\"><action><ereg regexp=\"[0-9]+\" search_in=\"hdr\" header=\"CSeq:\" assign_to=\"invite_cseq\"/><ereg regexp=\"sip:[^>;]*\" search_in=\"hdr\" header=\"Contact:\" assign_to=\"peer_contact\"/></action></recv>\n",
        _ => "<recv request=\"INVITE\" crlf=\"true\"><action><ereg regexp=\"[0-9]+\" search_in=\"hdr\" header=\"CSeq:\" assign_to=\"invite_cseq\"/></action></recv>\n",
    };
    match answer {
        Answer::Busy | Answer::RefuseCallerId { caller_id: None, .. } => {
            let code = if matches!(answer, Answer::Busy) { "486 Busy Here" } else { "403 Forbidden" };
            x += &response(code, "[last_CSeq:]", false);
            x += "<recv request=\"ACK\"/>\n";
        }
        Answer::AnswerThenHangUp { after_ms, hold_ms } | Answer::KeysThenHangUp { after_ms, hold_ms, .. } => {
            x += &response("180 Ringing", "[last_CSeq:]", false);
            x += &format!("<pause milliseconds=\"{after_ms}\"/>\n");
            x += &response("200 OK", "CSeq: [$invite_cseq] INVITE", true);
            // Our own BYE: From is the dialog's local side (the ACK's To, with our tag),
            // To the remote side (the ACK's From), sent to the Contact of the INVITE.
            x += "<recv request=\"ACK\"><action>\
<ereg regexp=\".*\" search_in=\"hdr\" header=\"To:\" assign_to=\"local_party\"/>\
<ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" assign_to=\"remote_party\"/>\
</action></recv>\n";
            if let Answer::KeysThenHangUp { dtmf, .. } = answer {
                for (i, (pause, _)) in dtmf.iter().enumerate() {
                    x += &format!(
                        "<pause milliseconds=\"{pause}\"/>\n<nop><action><exec play_pcap_audio=\"{dir}/keys{i}.pcap\"/></action></nop>\n"
                    );
                }
            }
            x += &format!("<pause milliseconds=\"{hold_ms}\"/>\n");
            x += "<send retrans=\"500\"><![CDATA[
BYE [$peer_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_party]
To: [$remote_party]
Call-ID: [call_id]
CSeq: 1 BYE
Contact: <sip:[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response=\"200\"/>
";
        }
        Answer::Never
        | Answer::After { .. }
        | Answer::Talk { .. }
        | Answer::RefuseCallerId { .. }
        | Answer::EarlyMedia { .. } => {
            let mut wait = match answer {
                Answer::After { after_ms, .. }
                | Answer::Talk { after_ms, .. }
                | Answer::RefuseCallerId { after_ms, .. } => *after_ms,
                Answer::EarlyMedia { answer_after_ms: Some(ms), .. } => *ms,
                _ => 600_000,
            };
            if let Answer::EarlyMedia { ringing_after_ms, .. } = answer {
                x += &response("183 Session Progress", "[last_CSeq:]", true);
                if let Some(ms) = ringing_after_ms {
                    x += &format!("<pause milliseconds=\"{ms}\"/>\n");
                    x += &response("180 Ringing", invite_cseq, false);
                    wait = wait.saturating_sub(*ms).max(1);
                }
            } else {
                x += &response("180 Ringing", "[last_CSeq:]", false);
            }
            x += &format!("<recv request=\"CANCEL\" timeout=\"{wait}\" ontimeout=\"answer\"/>\n");
            x += &response("200 OK", "[last_CSeq:]", false);
            x += &response("487 Request Terminated", invite_cseq, false);
            x += "<recv request=\"ACK\" next=\"end\"/>\n<label id=\"answer\"/>\n";
            x += &response("200 OK", invite_cseq, true);
            x += "<recv request=\"CANCEL\" optional=\"true\" next=\"late_cancel\"/>\n<recv request=\"ACK\"/>\n";
            if let Answer::Talk { .. } = answer {
                x += &format!("<nop><action><exec play_pcap_audio=\"{dir}/audio.pcap\"/></action></nop>\n");
            }
            if let Answer::After { dtmf, .. } = answer {
                for (i, (pause, _)) in dtmf.iter().enumerate() {
                    x += &format!(
                        "<pause milliseconds=\"{pause}\"/>\n<nop><action><exec play_pcap_audio=\"{dir}/keys{i}.pcap\"/></action></nop>\n"
                    );
                }
            }
            x += "<recv request=\"BYE\" next=\"bye\"/>\n<label id=\"late_cancel\"/>\n";
            x += &response("200 OK", "[last_CSeq:]", false);
            x += "<recv request=\"ACK\" optional=\"true\"/>\n<recv request=\"BYE\"/>\n<label id=\"bye\"/>\n";
            x += &response("200 OK", "[last_CSeq:]", false);
            if let Answer::RefuseCallerId { caller_id: Some(_), .. } = answer {
                x += "<nop next=\"end\"/>\n<label id=\"refuse\"/>\n";
                x += &response("403 Forbidden", "[last_CSeq:]", false);
                x += "<recv request=\"ACK\"/>\n";
            }
        }
    }
    x += "<label id=\"end\"/>\n<timewait milliseconds=\"200\"/>\n</scenario>\n";
    x
}

/// The INVITE's branch, spelled out so CANCEL and the ACK of an error answer can repeat it,
/// as they must to match the INVITE transaction.
const INVITE_BRANCH: &str = "z9hG4bK-[pid]-[call_number]-invite";

fn ack(branch: &str) -> String {
    format!(
        "<send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={branch}
From: \"Alice Caller\" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
"
    )
}

/// The caller's scenario as SIP user `from` (in From and Contact).
fn uac_scenario_from(behaviour: &Caller, from: &str) -> String {
    uac_scenario(behaviour).replace("sip:caller@", &format!("sip:{from}@"))
}

fn uac_scenario(behaviour: &Caller) -> String {
    let invite = format!(
        "<send retrans=\"500\"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={INVITE_BRANCH}
From: \"Alice Caller\" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{SDP}]]></send>
"
    );
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"twinning caller\">\n{invite}"
    );
    match behaviour {
        Caller::CancelAfter { ms } => {
            // SIPp needs a mandatory message before a pause: wait for the ringing, which
            // FreeSWITCH may announce as 183 (it pre-answers for an application needing
            // media) before any 180.
            x += "<recv response=\"100\" optional=\"true\"/>\n<recv response=\"183\" optional=\"true\" next=\"rung\"/>\n<recv response=\"180\"/>\n<label id=\"rung\"/>\n";
            x += &format!("<pause milliseconds=\"{ms}\"/>\n");
            x += "<send><![CDATA[
CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-invite
From: \"Alice Caller\" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response=\"180\" optional=\"true\"/>
<recv response=\"183\" optional=\"true\"/>
<recv response=\"200\"/>
<recv response=\"487\"/>
";
            x += &ack(INVITE_BRANCH);
        }
        Caller::KeyIn { digits } => {
            x += "<recv response=\"100\" optional=\"true\"/>\n<recv response=\"180\" optional=\"true\"/>\n<recv response=\"183\" optional=\"true\"/>\n";
            x += "<recv response=\"200\"/>\n";
            x += &ack("[branch]");
            if !digits.is_empty() {
                x += "<pause milliseconds=\"2500\"/>\n";
                for (i, d) in digits.chars().enumerate() {
                    x += &format!(
                        "<send><![CDATA[
INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: \"Alice Caller\" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {} INFO
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={d}
Duration=160
]]></send>
<recv response=\"200\"/>
<pause milliseconds=\"300\"/>
",
                        10 + i
                    );
                }
            }
            x += "<recv request=\"BYE\" timeout=\"30000\"/>\n";
            x += &response("200 OK", "[last_CSeq:]", false);
        }
        Caller::HangUpAfter { hold_ms } => {
            x += "<recv response=\"100\" optional=\"true\"/>\n<recv response=\"180\" optional=\"true\"/>\n<recv response=\"183\" optional=\"true\"/>\n";
            for code in [403, 404, 480, 486, 487, 500, 503, 603] {
                x += &format!("<recv response=\"{code}\" optional=\"true\" next=\"refused\"/>\n");
            }
            x += "<recv response=\"200\" rtd=\"true\"/>\n";
            x += &ack("[branch]");
            x += &format!(
                "<recv request=\"BYE\" timeout=\"{hold_ms}\" ontimeout=\"hangup\" next=\"byed\"/>\n"
            );
            x += "<label id=\"hangup\"/>\n<send retrans=\"500\"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: \"Alice Caller\" <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response=\"200\" next=\"end\"/>
<label id=\"byed\"/>
";
            x += &response("200 OK", "[last_CSeq:]", false);
            x += "<nop next=\"end\"/>\n<label id=\"refused\"/>\n";
            x += &ack(INVITE_BRANCH);
        }
    }
    x += "<label id=\"end\"/>\n<timewait milliseconds=\"200\"/>\n</scenario>\n";
    x
}
