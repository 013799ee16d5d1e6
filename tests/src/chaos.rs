//! The chaos run: many twinned calls through a real Asterisk where the caller, the desk and
//! the mobile answer, decline, never answer or hang up at random moments, including in
//! the middle of handovers (AMI `TwinningHandover`, the desk's push code, the mobile's
//! codes), while the module is reloaded now and then. Afterwards the PBX must be clean:
//! Asterisk up, no channel left, no twinned call listed, one `TwinningEnd` per
//! `TwinningStart`, every leg that rang ended, no SIP dialog open at the phones, and the
//! module unloads.
//!
//! Every call's plan comes from a seeded generator, so a run is reproducible as far as
//! the plan goes (the timing on a busy machine is not). The plan travels with the call:
//! the caller (one SIPp UAC reading its calls from an injection file) puts it in its
//! display name, Asterisk passes that name on to the desk and the mobile, and the phones'
//! scenarios branch on it (SIPp `ereg` on `From`, `test`-guarded jumps, pauses read from
//! variables). A device keeps its plan for every INVITE of the call, so a device rung
//! again for a handover behaves as planned too. Hang-ups and cancels arriving at any
//! point (during a pause, mid-handover) are caught by `optional="global"` receives.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::asterisk::{Instance, InstanceConfig};
use crate::pbx::{self, PhonePorts};
use crate::sipp::{free_udp_port, Phone};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub calls: u64,
    pub seed: u64,
    /// New calls per second.
    pub rate: u32,
    /// Most calls up at once.
    pub limit: u32,
    /// Module reloads spread over the run.
    pub reloads: u32,
    /// Desk pickups by feature code (`*27` from the user's own phone), spread over the run.
    pub pickups: u64,
}

impl Options {
    pub fn new(calls: u64, seed: u64) -> Options {
        Options { calls, seed, rate: 6, limit: 60, reloads: 4, pickups: calls / 10 }
    }
}

/// A seed from the clock, for runs that are not given one.
pub fn random_seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    t.as_nanos() as u64 ^ u64::from(std::process::id()) << 32
}

/// SplitMix64: small, seedable, good enough to pick behaviours.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Picks an index by weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut r = self.next() % total;
        for (i, &w) in weights.iter().enumerate() {
            if r < u64::from(w) {
                return i;
            }
            r -= u64::from(w);
        }
        weights.len() - 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Device {
    Desk,
    Mobile,
}

/// What a device does with each INVITE of a call.
#[derive(Debug, Clone)]
enum DevicePlan {
    Busy,
    Decline,
    Unavailable,
    Never,
    Answer {
        after_ms: u64,
        /// With confirmation: press 1 (true) or 2 (false) after the prompt starts.
        confirm: Option<bool>,
        /// A code keyed some time after the answer: `k` (desk `*8`, mobile `**1`), `o`
        /// (mobile `**2`, hold), `x` (mobile `**3` + `2000#`, transfer).
        code: Option<(char, u64)>,
        /// Hang up this long after the answer (after the code, if any).
        hang_up_ms: Option<u64>,
    },
}

impl DevicePlan {
    fn encode(&self) -> String {
        match self {
            DevicePlan::Busy => "b".into(),
            DevicePlan::Decline => "r".into(),
            DevicePlan::Unavailable => "u".into(),
            DevicePlan::Never => "n".into(),
            DevicePlan::Answer { after_ms, confirm, code, hang_up_ms } => {
                let mut s = format!("a{after_ms}");
                match confirm {
                    Some(true) => s.push_str(".y"),
                    Some(false) => s.push_str(".q"),
                    None => {}
                }
                if let Some((c, ms)) = code {
                    let _ = write!(s, ".{c}{ms}");
                }
                if let Some(ms) = hang_up_ms {
                    let _ = write!(s, ".h{ms}");
                }
                s
            }
        }
    }

    fn faults(&self, device: Device, out: &mut BTreeMap<String, u64>) {
        let d = match device {
            Device::Desk => "desk",
            Device::Mobile => "mobile",
        };
        let mut add = |k: &str| *out.entry(format!("{d} {k}")).or_default() += 1;
        match self {
            DevicePlan::Busy => add("busy (486)"),
            DevicePlan::Decline => add("declines (603)"),
            DevicePlan::Unavailable => add("unavailable (480)"),
            DevicePlan::Never => add("never answers"),
            DevicePlan::Answer { confirm, code, hang_up_ms, .. } => {
                add("answers");
                match confirm {
                    Some(true) => add("confirms (1)"),
                    Some(false) => add("rejects the prompt (2)"),
                    None => {}
                }
                match (device, code) {
                    (Device::Desk, Some(_)) => add("keys push *8"),
                    (Device::Mobile, Some(('k', _))) => add("keys to-desk **1"),
                    (Device::Mobile, Some(('o', _))) => add("keys hold **2"),
                    (Device::Mobile, Some(_)) => add("keys transfer **3"),
                    _ => {}
                }
                if hang_up_ms.is_some() {
                    add("hangs up after answering");
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum CallerPlan {
    /// Hang up (CANCEL) this long after the ringing starts, if not answered by then. (The
    /// pause starts after the 180: a response arriving during a SIPp pause ends it only when
    /// the next message comes, so a pause started at the INVITE never ended in time.)
    Cancel(u64),
    /// Hang up this long after the answer.
    HangUp(u64),
    /// Stay until Asterisk hangs up (20 s at most).
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    /// Dial delay and answer guard.
    Guarded,
    /// The mobile must press 1.
    Confirm,
}

#[derive(Debug, Clone)]
struct CallPlan {
    id: usize,
    user: &'static str,
    variant: Variant,
    caller: CallerPlan,
    desk: DevicePlan,
    mobile: DevicePlan,
    /// An AMI `TwinningHandover` this long after the call is first bridged.
    ami: Option<(Device, u64)>,
}

impl CallPlan {
    fn display_name(&self) -> String {
        format!("k{} D={} M={}", self.id, self.desk.encode(), self.mobile.encode())
    }

    fn exten(&self) -> String {
        match self.variant {
            Variant::Plain => self.user.to_string(),
            Variant::Guarded => format!("6{}", self.user),
            Variant::Confirm => format!("7{}", self.user),
        }
    }
}

fn device_plan(rng: &mut Rng, device: Device, confirm: bool) -> DevicePlan {
    match rng.weighted(&[7, 6, 4, 16, 67]) {
        0 => DevicePlan::Busy,
        1 => DevicePlan::Decline,
        2 => DevicePlan::Unavailable,
        3 => DevicePlan::Never,
        _ => {
            let after_ms = match device {
                // Desks are often quick; mobiles vary more (and trip the guard sometimes).
                Device::Desk => rng.range(150, 6000),
                Device::Mobile => rng.range(150, 7000),
            };
            let confirm = (confirm && device == Device::Mobile).then(|| rng.weighted(&[60, 20, 20]));
            let confirm = match confirm {
                Some(0) => Some(true),
                Some(1) => Some(false),
                _ => None,
            };
            let code = if rng.chance(0.4) {
                let c = match device {
                    Device::Desk => 'k',
                    Device::Mobile => ['k', 'k', 'o', 'x'][rng.range(0, 3) as usize],
                };
                Some((c, rng.range(200, 4000)))
            } else {
                None
            };
            let hang_up_ms = rng.chance(0.45).then(|| rng.range(200, 9000));
            DevicePlan::Answer { after_ms, confirm, code, hang_up_ms }
        }
    }
}

fn call_plan(rng: &mut Rng, id: usize) -> CallPlan {
    let user = if rng.chance(0.5) { "1001" } else { "1002" };
    let variant = [Variant::Plain, Variant::Guarded, Variant::Confirm][rng.weighted(&[70, 15, 15])];
    let desk = device_plan(rng, Device::Desk, false);
    let mobile = device_plan(rng, Device::Mobile, variant == Variant::Confirm);
    let ami = rng
        .chance(0.25)
        .then(|| (if rng.chance(0.5) { Device::Mobile } else { Device::Desk }, rng.range(0, 4000)));
    let caller = match rng.weighted(&[22, 60, 18]) {
        0 => CallerPlan::Cancel(rng.range(100, 9000)),
        // Hang up around a planned handover more often than not: mid-handover faults.
        1 => match ami {
            Some((_, at)) if rng.chance(0.6) => {
                CallerPlan::HangUp((at + rng.range(0, 4000)).saturating_sub(500))
            }
            _ => CallerPlan::HangUp(rng.range(100, 12000)),
        },
        _ => CallerPlan::Wait,
    };
    CallPlan { id, user, variant, caller, desk, mobile, ami }
}

// --- SIPp scenarios ---------------------------------------------------------------------

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
    let (content, body) = if sdp {
        ("Content-Type: application/sdp\nContent-Length: [len]\n", SDP)
    } else {
        ("Content-Length: 0\n", "")
    };
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

/// A mandatory receive that never comes: SIPp wants one between optional receives and
/// what follows them, and the global handlers are only reached by jumps anyway.
const UNREACHABLE: &str = "<recv request=\"X-NEVER\"/>\n";

/// The phone scenario for `token` (`D` desk, `M` mobile). `dir` holds the key captures.
fn phone_scenario(token: char, dir: &str) -> String {
    let from = |re: &str, var: &str| {
        format!("<ereg regexp=\"{token}={re}\" search_in=\"hdr\" header=\"From:\" assign_to=\"{var}\"/>\n")
    };
    let mobile = token == 'M';
    let mut x =
        String::from("<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"chaos phone\">\n");
    x += "<recv request=\"INVITE\" crlf=\"true\"><action>\n\
<ereg regexp=\"[0-9]+\" search_in=\"hdr\" header=\"CSeq:\" assign_to=\"invite_cseq\"/>\n\
<ereg regexp=\"sip:[^>;]*\" search_in=\"hdr\" header=\"Contact:\" assign_to=\"peer_contact\"/>\n";
    x += &from("b", "busy");
    x += &from("r", "decline");
    x += &from("u", "unavailable");
    x += &from("a([0-9]+)", "ans,ans_s");
    x += &from("a[0-9]+[.a-z0-9]*\\.h([0-9]+)", "hup,hup_s");
    x += &from("a[0-9]+[.a-z0-9]*\\.k([0-9]+)", "keys,keys_s");
    if mobile {
        x += &from("a[0-9]+[.a-z0-9]*\\.o([0-9]+)", "hold,hold_s");
        x += &from("a[0-9]+[.a-z0-9]*\\.x([0-9]+)", "xfer,xfer_s");
        x += &from("a[0-9]+\\.y", "yes");
        x += &from("a[0-9]+\\.q", "no");
    }
    x += "</action></recv>\n";
    x += &response("180 Ringing", "[last_CSeq:]", false);
    // Handlers for whatever arrives at any point of the call.
    x += "<nop next=\"dispatch\"/>\n\
<recv request=\"CANCEL\" optional=\"global\" next=\"on_cancel\"/>\n\
<recv request=\"BYE\" optional=\"global\" next=\"on_bye\"/>\n\
<recv request=\"ACK\" optional=\"global\"/>\n\
<recv request=\"INVITE\" optional=\"global\"/>\n";
    x += UNREACHABLE;
    x += "<label id=\"dispatch\"/>\n\
<nop test=\"busy\" next=\"busy\"/>\n<nop test=\"decline\" next=\"decline\"/>\n\
<nop test=\"unavailable\" next=\"unavailable\"/>\n<nop test=\"ans\" next=\"answer\"/>\n";
    // Never answers: rings until cancelled.
    x += "<recv request=\"CANCEL\" next=\"on_cancel\"/>\n";
    x += "<label id=\"answer\"/>\n<nop><action><todouble assign_to=\"ans_ms\" variable=\"ans_s\"/></action></nop>\n\
<pause variable=\"ans_ms\"/>\n";
    x += &response("200 OK", "CSeq: [$invite_cseq] INVITE", true);
    x += "<nop><action><assign assign_to=\"answered\" value=\"1\"/></action></nop>\n\
<recv request=\"ACK\"><action>\
<ereg regexp=\".*\" search_in=\"hdr\" header=\"To:\" assign_to=\"local_party\"/>\
<ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" assign_to=\"remote_party\"/>\
</action></recv>\n";
    let play =
        |file: &str| format!("<nop><action><exec play_pcap_audio=\"{dir}/{file}.pcap\"/></action></nop>\n");
    if mobile {
        x += "<nop test=\"yes\" next=\"confirm_yes\"/>\n<nop test=\"no\" next=\"confirm_no\"/>\n";
    }
    x += "<label id=\"after_confirm\"/>\n<nop test=\"keys\" next=\"keys\"/>\n";
    if mobile {
        x += "<nop test=\"hold\" next=\"hold\"/>\n<nop test=\"xfer\" next=\"xfer\"/>\n";
    }
    x += "<label id=\"after_code\"/>\n<nop test=\"hup\" next=\"hang_up\"/>\n\
<recv request=\"BYE\" next=\"on_bye\"/>\n";
    let code = |label: &str, var: &str, file: &str| {
        format!(
            "<label id=\"{label}\"/>\n<nop><action><todouble assign_to=\"{var}_ms\" variable=\"{var}_s\"/></action></nop>\n\
<pause variable=\"{var}_ms\"/>\n{}<nop next=\"after_code\"/>\n",
            play(file)
        )
    };
    x += &code("keys", "keys", "keys");
    if mobile {
        x += &code("hold", "hold", "hold");
        x += &code("xfer", "xfer", "xfer");
        for (label, file) in [("confirm_yes", "yes"), ("confirm_no", "no")] {
            x += &format!(
                "<label id=\"{label}\"/>\n<pause milliseconds=\"1200\"/>\n{}<nop next=\"after_confirm\"/>\n",
                play(file)
            );
        }
    }
    x += "<label id=\"hang_up\"/>\n<nop><action><todouble assign_to=\"hup_ms\" variable=\"hup_s\"/></action></nop>\n\
<pause variable=\"hup_ms\"/>\n\
<send retrans=\"500\" start_txn=\"bye\"><![CDATA[
BYE [$peer_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_party]
To: [$remote_party]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response=\"481\" optional=\"true\" response_txn=\"bye\" next=\"end\"/>
<recv response=\"200\" response_txn=\"bye\" next=\"end\"/>
";
    // A CANCEL: answer it, and the INVITE with 487 unless it was answered already (the
    // CANCEL crossed our 200; a BYE follows).
    x += "<label id=\"on_cancel\"/>\n";
    x += &response("200 OK", "[last_CSeq:]", false);
    x += "<nop test=\"answered\" next=\"wait_bye\"/>\n";
    x += &response("487 Request Terminated", "CSeq: [$invite_cseq] INVITE", false);
    x += "<recv request=\"ACK\" next=\"end\"/>\n\
<label id=\"wait_bye\"/>\n<recv request=\"ACK\" optional=\"true\"/>\n<recv request=\"BYE\" next=\"on_bye\"/>\n\
<label id=\"on_bye\"/>\n";
    x += &response("200 OK", "[last_CSeq:]", false);
    x += "<nop next=\"end\"/>\n";
    for (label, code) in [
        ("busy", "486 Busy Here"),
        ("decline", "603 Decline"),
        ("unavailable", "480 Temporarily Unavailable"),
    ] {
        x += &format!("<label id=\"{label}\"/>\n");
        x += &response(code, "[last_CSeq:]", false);
        x += "<recv request=\"ACK\" next=\"end\"/>\n";
    }
    x += "<label id=\"end\"/>\n<timewait milliseconds=\"300\"/>\n</scenario>\n";
    x
}

const INVITE_BRANCH: &str = "z9hG4bK-[pid]-[call_number]-invite";

/// The caller: each call's display name (the plan), extension, own behaviour and SIP user
/// (which picks the PJSIP endpoint) come from the injection file (`[field0]`..`[field4]`).
fn caller_scenario() -> String {
    let from = "From: \"[field0]\" <sip:[field4]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]";
    let cancel = format!(
        "<send start_txn=\"cancel\"><![CDATA[
CANCEL sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={INVITE_BRANCH}
{from}
To: <sip:[field1]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response=\"487\" response_txn=\"invite\" timeout=\"32000\" ontimeout=\"end\" next=\"refused\"/>
"
    );
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"chaos caller\">\n\
<send retrans=\"500\" start_txn=\"invite\"><![CDATA[
INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={INVITE_BRANCH}
{from}
To: <sip:[field1]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field4]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{SDP}]]></send>
<nop next=\"plan\"><action>
<assignstr assign_to=\"act\" value=\"[field2]\"/>
<assignstr assign_to=\"ms_s\" value=\"[field3]\"/>
<todouble assign_to=\"ms\" variable=\"ms_s\"/>
<ereg regexp=\"c\" search_in=\"var\" variable=\"act\" assign_to=\"cancel\"/>
<ereg regexp=\"h\" search_in=\"var\" variable=\"act\" assign_to=\"hangup\"/>
</action></nop>
"
    );
    for code in [100, 180, 181, 182, 183] {
        x += &format!("<recv response=\"{code}\" optional=\"global\" response_txn=\"invite\"/>\n");
    }
    x += "<recv response=\"200\" optional=\"global\" response_txn=\"invite\" next=\"answered\"/>\n";
    for code in [403, 404, 408, 480, 481, 486, 487, 488, 500, 503, 603] {
        x += &format!(
            "<recv response=\"{code}\" optional=\"global\" response_txn=\"invite\" next=\"refused\"/>\n"
        );
    }
    x += "<recv response=\"200\" optional=\"global\" response_txn=\"cancel\"/>\n\
<recv response=\"481\" optional=\"global\" response_txn=\"cancel\"/>\n\
<recv request=\"BYE\" optional=\"global\" next=\"byed\"/>\n";
    x += UNREACHABLE;
    x += "<label id=\"plan\"/>\n<nop test=\"cancel\" next=\"cancel_later\"/>\n\
<recv response=\"200\" response_txn=\"invite\" timeout=\"60000\" ontimeout=\"give_up\" next=\"answered\"/>\n\
<label id=\"give_up\"/>\n<nop next=\"do_cancel\"/>\n\
<label id=\"cancel_later\"/>\n\
<recv response=\"100\" optional=\"true\" response_txn=\"invite\"/>\n\
<recv response=\"180\" response_txn=\"invite\" timeout=\"3000\" ontimeout=\"cancel_pause\"/>\n\
<label id=\"cancel_pause\"/>\n<pause variable=\"ms\"/>\n<label id=\"do_cancel\"/>\n";
    x += &cancel;
    x += "<label id=\"answered\"/>\n<send><![CDATA[
ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
";
    x += from;
    x += "
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:[field4]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<nop test=\"cancel\" next=\"hangup_now\"/>
<nop test=\"hangup\" next=\"hangup_later\"/>
<recv request=\"BYE\" timeout=\"20000\" ontimeout=\"hangup_now\" next=\"byed\"/>
<label id=\"hangup_later\"/>
<pause variable=\"ms\"/>
<label id=\"hangup_now\"/>
<send retrans=\"500\" start_txn=\"bye\"><![CDATA[
BYE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
";
    x += from;
    x += "
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:[field4]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response=\"481\" optional=\"true\" response_txn=\"bye\" next=\"end\"/>
<recv response=\"200\" response_txn=\"bye\" timeout=\"32000\" ontimeout=\"end\" next=\"end\"/>
<label id=\"byed\"/>
";
    x += &response("200 OK", "[last_CSeq:]", false);
    x += "<nop next=\"end\"/>\n<label id=\"refused\"/>\n<send ack_txn=\"invite\"><![CDATA[
ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
";
    x += &format!("Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={INVITE_BRANCH}\n{from}\n");
    x += "[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:[field4]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<label id=\"end\"/>
<timewait milliseconds=\"500\"/>
</scenario>
";
    x
}

// --- The PBX ----------------------------------------------------------------------------

fn twinning_conf(desk_pickup_time: u32) -> String {
    format!(
        "[general]\nmobile_dial = PJSIP/{{number}}@mobile-trunk\nmax_concurrent = 200\nanswer_guard = 0\n\
         handover_timeout = 5\ndesk_pickup_time = {desk_pickup_time}\n\n\
         [1001]\ndesk = PJSIP/desk1001\nmobile = 07700900123\nenabled = yes\n\n\
         [1002]\ndesk = PJSIP/desk1002\nmobile = 07700900456\nenabled = yes\n"
    )
}

/// `100X` rings plainly, `6100X` with a dial delay and an answer guard, `7100X` with
/// confirmation; each call first announces its plan (the caller's display name) so AMI
/// events can be tied to it by Uniqueid.
const EXTENSIONS: &str = "[general]\n[default]\n\
exten => 2000,1,Answer()\n same => n,Wait(2)\n same => n,Hangup()\n\
[twinning-features]\n\
exten => *27,1,TwinningPickup(${CALLERID(num)})\n same => n,Hangup()\n\
[twinning-calls]\n\
exten => _100X,1,UserEvent(ChaosCall,Plan: ${CALLERID(name)})\n same => n,Twinning(${EXTEN},r(8))\n same => n,Hangup()\n\
exten => _6100X,1,UserEvent(ChaosCall,Plan: ${CALLERID(name)})\n same => n,Twinning(${EXTEN:1},r(8)d(0.5)g(1.5))\n same => n,Hangup()\n\
exten => _7100X,1,UserEvent(ChaosCall,Plan: ${CALLERID(name)})\n same => n,Twinning(${EXTEN:1},r(10)c)\n same => n,Hangup()\n";

fn start_pbx(ports: PhonePorts) -> Instance {
    let sip_port = free_udp_port();
    let mut config = InstanceConfig::default()
        .file("twinning.conf", &twinning_conf(0))
        .file("pjsip.conf", &pbx::pjsip_conf(sip_port, ports))
        .file("extensions.conf", EXTENSIONS)
        .file("rtp.conf", "[general]\nrtpstart=20000\nrtpend=40000\nicesupport=no\n");
    config.modules.extend(pbx::CALL_MODULES.iter().map(|m| m.to_string()));
    config.sip_port = sip_port;
    Instance::start(config)
}

// --- What the run saw -------------------------------------------------------------------

/// A leg of one kind in one call: how many were dialed and how many ended (`cancelled`,
/// `failed`, `guarded`, `declined`, `hungup`, `released`). Every dialed leg ends once,
/// except the one still bridged when the call ends, which just goes with the call.
#[derive(Default, Debug, Clone, Copy)]
struct LegCount {
    dialing: u64,
    ended: u64,
}

#[derive(Default)]
struct Seen {
    plan_of: HashMap<String, usize>,
    starts: HashMap<String, u64>,
    ends: HashMap<String, Vec<String>>,
    legs: HashMap<(String, String), LegCount>,
    statuses: BTreeMap<String, u64>,
    handovers: BTreeMap<String, u64>,
    bridged: HashMap<String, u64>,
    leg_states: BTreeMap<String, u64>,
    events: u64,
    /// Twinning events for a call that came after its TwinningEnd: none may (a step's
    /// events are emitted before the next step's, see CallCtl::step).
    after_end: Vec<String>,
}

enum Action {
    Handover { user: &'static str, to: Device },
    Reload { desk_pickup_time: u32 },
}

struct Due(Instant, usize, Action);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first from a max-heap.
        (other.0, other.1).cmp(&(self.0, self.1))
    }
}

/// The outcome of a run: figures, and the checks that failed (empty: all passed).
pub struct Report {
    pub seed: u64,
    pub calls: u64,
    pub failures: Vec<String>,
    pub summary: String,
}

fn handle_event(
    m: &crate::Message,
    seen: &mut Seen,
    plans: &[CallPlan],
    tx: &mpsc::Sender<Due>,
    seq: &mut usize,
) {
    let Some(event) = m.get("Event") else { return };
    seen.events += 1;
    let uid = m.get("Uniqueid").unwrap_or("").to_owned();
    if event.starts_with("Twinning") && seen.ends.contains_key(&uid) {
        seen.after_end.push(format!("{event} {uid}"));
    }
    match event {
        "UserEvent" if m.get("UserEvent") == Some("ChaosCall") => {
            let id = m
                .get("Plan")
                .and_then(|p| p.split_whitespace().next())
                .and_then(|k| k.strip_prefix('k'))
                .and_then(|n| n.parse().ok());
            if let Some(id) = id {
                seen.plan_of.insert(uid, id);
            }
        }
        "TwinningStart" => *seen.starts.entry(uid).or_default() += 1,
        "TwinningEnd" => {
            let status = m.get("Status").unwrap_or("?").to_owned();
            *seen.statuses.entry(status.clone()).or_default() += 1;
            seen.ends.entry(uid).or_default().push(status);
        }
        "TwinningLeg" => {
            let (leg, state) = (m.get("Leg").unwrap_or("?"), m.get("State").unwrap_or("?"));
            *seen.leg_states.entry(format!("{leg} {state}")).or_default() += 1;
            let count = seen.legs.entry((uid, leg.to_owned())).or_default();
            match state {
                "dialing" => count.dialing += 1,
                "cancelled" | "failed" | "guarded" | "declined" | "hungup" | "released" => count.ended += 1,
                _ => {}
            }
        }
        "TwinningHandover" => {
            let key = format!(
                "{} {}->{} {}",
                m.get("Trigger").unwrap_or("?"),
                m.get("From").unwrap_or("?"),
                m.get("To").unwrap_or("?"),
                m.get("Result").unwrap_or("?")
            );
            *seen.handovers.entry(key).or_default() += 1;
            // The pickup's own desk call joins the call without being dialed.
            if m.get("Trigger") == Some("featurecode") && m.get("Result") == Some("completed") {
                seen.legs.entry((uid, "desk".into())).or_default().dialing += 1;
            }
        }
        "TwinningBridged" => {
            let n = seen.bridged.entry(uid.clone()).or_default();
            *n += 1;
            if *n == 1 {
                let plan = seen.plan_of.get(&uid).and_then(|&id| plans.get(id));
                if let Some(CallPlan { user, ami: Some((to, after)), .. }) = plan {
                    *seq += 1;
                    let due = Instant::now() + Duration::from_millis(*after);
                    let _ = tx.send(Due(due, *seq, Action::Handover { user, to: *to }));
                }
            }
        }
        _ => {}
    }
}

/// A SIPp phone's statistic (the last line of its `-trace_stat` file).
fn stat(instance: &Instance, phone: &str, column: &str) -> Option<u64> {
    let text = std::fs::read_to_string(instance.path(&format!("sipp-{phone}/stats.csv"))).ok()?;
    let header: Vec<&str> = text.lines().next()?.split(';').collect();
    let last: Vec<&str> = text.lines().last()?.split(';').collect();
    let i = header.iter().position(|h| *h == column)?;
    last.get(i)?.trim().parse().ok()
}

/// SIPp's statistics every second, automatic answers to INFO, UPDATE, OPTIONS and NOTIFY,
/// and, with TWINNING_CHAOS_TRACE=1, every SIP message in the phone's `messages.log`.
fn stats_args(instance: &Instance, phone: &str) -> Vec<String> {
    let file = instance.inside_path(&format!("sipp-{phone}/stats.csv"));
    let mut args: Vec<String> = ["-trace_stat", "-stf", &file, "-fd", "1", "-aa"].map(String::from).to_vec();
    if std::env::var_os("TWINNING_CHAOS_TRACE").is_some() {
        let messages = instance.inside_path(&format!("sipp-{phone}/messages.log"));
        args.extend(["-trace_msg".into(), "-message_file".into(), messages]);
    }
    args
}

/// Runs the chaos and checks the PBX afterwards.
pub fn run(o: &Options) -> Report {
    let started = Instant::now();
    let mut rng = Rng(o.seed);
    let plans: Vec<CallPlan> = (0..o.calls as usize).map(|i| call_plan(&mut rng, i)).collect();
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    for p in &plans {
        p.desk.faults(Device::Desk, &mut faults);
        p.mobile.faults(Device::Mobile, &mut faults);
        let caller = match p.caller {
            CallerPlan::Cancel(_) => "caller cancels while ringing",
            CallerPlan::HangUp(_) => "caller hangs up after the answer",
            CallerPlan::Wait => "caller waits for the far end",
        };
        *faults.entry(caller.into()).or_default() += 1;
        match p.ami {
            Some((Device::Mobile, _)) => *faults.entry("AMI push to mobile".into()).or_default() += 1,
            Some((Device::Desk, _)) => *faults.entry("AMI pull to desk".into()).or_default() += 1,
            None => {}
        }
        let variant = match p.variant {
            Variant::Plain => "call plain",
            Variant::Guarded => "call with dial delay and answer guard",
            Variant::Confirm => "call with confirmation",
        };
        *faults.entry(variant.into()).or_default() += 1;
    }

    let ports = PhonePorts::new();
    let pbx = start_pbx(ports);
    // The phones: one desk per user and the mobile trunk, each answering every INVITE as
    // the call's plan says.
    let mut phones = Vec::new();
    for (name, port, token) in
        [("desk1001", ports.desk, 'D'), ("desk1002", ports.desk2, 'D'), ("mobile", ports.mobile, 'M')]
    {
        let dir = format!("sipp-{name}");
        std::fs::create_dir_all(pbx.path(&dir)).unwrap();
        let captures: &[(&str, &str)] = if token == 'D' {
            &[("keys", "*8")]
        } else {
            &[("yes", "1"), ("no", "2"), ("keys", "**1"), ("hold", "**2"), ("xfer", "**32000#")]
        };
        for (part, (file, keys)) in captures.iter().enumerate() {
            std::fs::write(
                pbx.path(&format!("{dir}/{file}.pcap")),
                crate::rtp_events::pcap(keys, part as u32),
            )
            .unwrap();
        }
        let xml = phone_scenario(token, &pbx.inside_path(&dir));
        let args = stats_args(&pbx, name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        phones.push(Phone::spawn_load(&pbx, name, port, &xml, &args, None));
    }

    let mut csv = String::from("SEQUENTIAL\n");
    for p in &plans {
        let (act, ms) = match p.caller {
            CallerPlan::Cancel(ms) => ("c", ms),
            CallerPlan::HangUp(ms) => ("h", ms),
            CallerPlan::Wait => ("w", 0),
        };
        let _ = writeln!(csv, "{};{};{act};{ms};caller", p.display_name(), p.exten());
    }
    std::fs::create_dir_all(pbx.path("sipp-callers")).unwrap();
    std::fs::write(pbx.path("sipp-callers/plans.csv"), csv).unwrap();
    // The users' own phones pick calls up with *27 and stay a while.
    let mut pickups = String::from("SEQUENTIAL\n");
    for i in 0..o.pickups {
        let user = if rng.chance(0.5) { "1001" } else { "1002" };
        let _ = writeln!(pickups, "p{i};*27;h;{};phone{user}", rng.range(300, 8000));
        *faults.entry(format!("pickup by *27 from the desk ({user})")).or_default() += 1;
    }
    std::fs::create_dir_all(pbx.path("sipp-pickups")).unwrap();
    std::fs::write(pbx.path("sipp-pickups/plans.csv"), pickups).unwrap();

    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Seen::default());
    let ami_requests: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let (tx, rx) = mpsc::channel::<Due>();
    let run_for = Duration::from_secs_f64(o.calls as f64 / f64::from(o.rate.max(1)));
    let mut caller_counts = (None, None);
    std::thread::scope(|s| {
        // AMI events: tie calls to plans, count, and schedule each plan's handover.
        let mut events = pbx.ami();
        events.action("Filter", &[("Operation", "Add"), ("Filter", "Event: Twinning")]);
        events.action("Filter", &[("Operation", "Add"), ("Filter", "UserEvent: ChaosCall")]);
        let (seen_ref, stop_ref, plans_ref, tx_events) = (&seen, &stop, &plans, tx.clone());
        let mut log = std::io::BufWriter::new(std::fs::File::create(pbx.path("chaos-events.log")).unwrap());
        s.spawn(move || {
            use std::io::Write as _;
            let mut seq = 1_000_000;
            while !stop_ref.load(Ordering::Relaxed) {
                if let Some(m) = events.wait(Duration::from_millis(200), |_| true) {
                    let line: Vec<String> = m.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    let _ = writeln!(log, "{}", line.join(" | "));
                    handle_event(&m, &mut seen_ref.lock().unwrap(), plans_ref, &tx_events, &mut seq);
                }
            }
        });
        // Actions at their time: handovers by AMI and module reloads.
        let mut actions = pbx.ami();
        actions.action("Events", &[("EventMask", "off")]);
        let (pbx_ref, requests) = (&pbx, &ami_requests);
        s.spawn(move || {
            let mut due: BinaryHeap<Due> = BinaryHeap::new();
            loop {
                let wait = due.peek().map_or(Duration::from_millis(200), |d| {
                    d.0.saturating_duration_since(Instant::now()).min(Duration::from_millis(200))
                });
                match rx.recv_timeout(wait) {
                    Ok(d) => due.push(d),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                while due.peek().is_some_and(|d| d.0 <= Instant::now()) {
                    let Due(_, _, action) = due.pop().unwrap();
                    match action {
                        Action::Handover { user, to } => {
                            let to = if to == Device::Mobile { "mobile" } else { "desk" };
                            let r = actions.action("TwinningHandover", &[("User", user), ("To", to)]);
                            let key = format!("to {to}: {}", r.get("Response").unwrap_or("?"));
                            *requests.lock().unwrap().entry(key).or_default() += 1;
                        }
                        Action::Reload { desk_pickup_time } => {
                            pbx_ref.write_file("twinning.conf", &twinning_conf(desk_pickup_time));
                            let out = pbx_ref.cli("module reload app_twinning.so");
                            let key = format!("module reload (desk_pickup_time {desk_pickup_time})");
                            *requests.lock().unwrap().entry(key).or_default() += 1;
                            if out.to_lowercase().contains("error") {
                                eprintln!("chaos: reload said {out}");
                            }
                        }
                    }
                }
            }
        });
        // Reloads spread over the run, alternating desk pickup after a mobile hang-up.
        for i in 0..o.reloads {
            let at = run_for.mul_f64(f64::from(i + 1) / f64::from(o.reloads + 1));
            let desk_pickup_time = if i % 2 == 0 { 3 } else { 0 };
            let _ = tx.send(Due(Instant::now() + at, i as usize, Action::Reload { desk_pickup_time }));
        }
        drop(tx);

        let csv = pbx.inside_path("sipp-callers/plans.csv");
        let mut args = stats_args(&pbx, "callers");
        let (rate, limit) = (o.rate.to_string(), o.limit.to_string());
        let target = format!("127.0.0.1:{}", pbx.sip_port);
        args.splice(0..0, [target, "-inf".into(), csv, "-r".into(), rate, "-l".into(), limit]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut callers =
            Phone::spawn_load(&pbx, "callers", free_udp_port(), &caller_scenario(), &args, Some(o.calls));
        let mut pickup_phones = (o.pickups > 0).then(|| {
            let csv = pbx.inside_path("sipp-pickups/plans.csv");
            let period = (run_for.as_millis() as u64 * 9 / 10 / o.pickups).max(100).to_string();
            let mut args = stats_args(&pbx, "pickups");
            let target = format!("127.0.0.1:{}", pbx.sip_port);
            args.splice(0..0, [target, "-inf".into(), csv, "-r".into(), "1".into(), "-rp".into(), period]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Phone::spawn_load(&pbx, "pickups", free_udp_port(), &caller_scenario(), &args, Some(o.pickups))
        });
        // Every call ends within about 75 s of starting (the caller waits 60 s for an answer).
        let code = callers.wait(run_for + Duration::from_secs(240));
        if code.is_none() {
            eprintln!("chaos: the caller did not finish in time; stopped it");
        }
        if let Some(p) = pickup_phones.as_mut() {
            p.wait(Duration::from_secs(120));
        }
        caller_counts = (stat(&pbx, "callers", "SuccessfulCall(C)"), stat(&pbx, "callers", "FailedCall(C)"));
        // Drain: legs still being torn down, handovers timing out.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !pbx.cli("core show channels").contains("\n0 active channels") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
    });
    let mut pbx = pbx;
    check(
        o,
        &mut pbx,
        &phones,
        &plans,
        seen.into_inner().unwrap(),
        ami_requests.into_inner().unwrap(),
        faults,
        caller_counts,
        started,
    )
}

#[allow(clippy::too_many_arguments)]
fn check(
    o: &Options,
    pbx: &mut Instance,
    phones: &[Phone],
    plans: &[CallPlan],
    seen: Seen,
    ami_requests: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    (ok, failed): (Option<u64>, Option<u64>),
    started: Instant,
) -> Report {
    let mut failures = Vec::new();
    let alive = pbx.is_running() && pbx.is_running_asterisk();
    if !alive {
        failures.push(format!("Asterisk is not up any more:\n{}", pbx.console_output()));
    }
    let channels = pbx.cli("core show channels");
    let active = channels.lines().find(|l| l.contains("active channel")).unwrap_or("?").trim().to_owned();
    if !channels.contains("\n0 active channels") {
        failures.push(format!("channels left after the drain:\n{channels}"));
    }
    let calls = pbx.cli("twinning show calls");
    if !calls.contains("0 twinned calls") {
        failures.push(format!("twinned calls left: {calls}"));
    }
    let mut unmatched = Vec::new();
    for (uid, n) in &seen.starts {
        let ends = seen.ends.get(uid).map_or(0, Vec::len);
        if *n != 1 || ends != 1 {
            unmatched.push(format!("{uid}: {n} TwinningStart, {ends} TwinningEnd"));
        }
    }
    for uid in seen.ends.keys().filter(|u| !seen.starts.contains_key(*u)) {
        unmatched.push(format!("{uid}: TwinningEnd without TwinningStart"));
    }
    if !unmatched.is_empty() {
        failures.push(format!("start/end mismatch ({}): {}", unmatched.len(), unmatched.join("; ")));
    }
    let reached = seen.plan_of.len() as u64;
    if seen.starts.len() as u64 != reached {
        failures.push(format!("{reached} calls reached Twinning() but {} TwinningStart", seen.starts.len()));
    }
    let plan = |uid: &str| seen.plan_of.get(uid).map_or("?".to_string(), |&id| format!("{:?}", plans[id]));
    // Per call: no kind has more ends than dials (a leg ended twice), and all legs but at
    // most one ended, that one only in an answered call (the leg bridged at the end).
    let mut per_call: HashMap<&str, (LegCount, Vec<String>)> = HashMap::new();
    for ((uid, leg), c) in &seen.legs {
        let entry = per_call.entry(uid.as_str()).or_default();
        entry.0.dialing += c.dialing;
        entry.0.ended += c.ended;
        if c.ended > c.dialing {
            entry.1.push(format!("{leg}: {} dialed, {} ended", c.dialing, c.ended));
        }
    }
    let mut legs_wrong = Vec::new();
    for (uid, (c, mut wrong)) in per_call {
        let answered = seen.ends.get(uid).is_some_and(|e| e.iter().any(|s| s == "ANSWERED"));
        let open = c.dialing as i64 - c.ended as i64;
        if !(open == 0 || open == 1 && answered) {
            wrong.push(format!("{} legs dialed, {} ended, answered {answered}", c.dialing, c.ended));
        }
        if !wrong.is_empty() {
            legs_wrong.push(format!("{uid} {}; plan {}", wrong.join(", "), plan(uid)));
        }
    }
    if !legs_wrong.is_empty() {
        failures.push(format!("legs left ringing or ended twice: {}", legs_wrong.join("; ")));
    }
    // SIPp writes its statistics every second: give the last line time to show the end.
    std::thread::sleep(Duration::from_millis(2500));
    let mut open = Vec::new();
    for p in phones {
        match stat(pbx, &p.name, "CurrentCall") {
            Some(0) => {}
            other => open.push(format!("{}: {other:?}", p.name)),
        }
    }
    if !open.is_empty() {
        failures.push(format!("SIP dialogs still open at the phones: {}", open.join(", ")));
    }
    let phone_failed: Vec<String> = phones
        .iter()
        .map(|p| format!("{} {}", p.name, stat(pbx, &p.name, "FailedCall(C)").unwrap_or(0)))
        .collect();
    let finished = ok.unwrap_or(0) + failed.unwrap_or(0);
    if finished != o.calls {
        failures.push(format!("the caller finished {finished} of {} calls", o.calls));
    }
    // A call's events are emitted in step order (CallCtl::step), so nothing follows its end.
    if !seen.after_end.is_empty() {
        failures.push(format!(
            "events after their call's TwinningEnd ({}): {}",
            seen.after_end.len(),
            seen.after_end.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let unload = pbx.cli("module unload app_twinning.so");
    if !unload.contains("Unloaded app_twinning.so") {
        failures.push(format!("module unload failed: {unload}"));
    }
    let errors: Vec<String> = pbx
        .log()
        .lines()
        .filter(|l| l.contains("ERROR[") && l.contains("twinning"))
        .take(20)
        .map(str::to_owned)
        .collect();
    if !errors.is_empty() {
        failures.push(format!("module errors in the log:\n{}", errors.join("\n")));
    }

    let mut s = String::new();
    let _ = writeln!(
        s,
        "chaos run: seed {} ({} calls, {}/s, at most {} at once)",
        o.seed, o.calls, o.rate, o.limit
    );
    let _ = writeln!(
        s,
        "  duration {:.0} s; caller: {} completed, {} failed (SIPp's view); phones' failed calls: {}",
        started.elapsed().as_secs_f64(),
        ok.unwrap_or(0),
        failed.unwrap_or(0),
        phone_failed.join(", ")
    );
    if o.pickups > 0 {
        let _ = writeln!(
            s,
            "  pickups by *27: {} completed, {} failed (SIPp's view: a pickup with no call to take is refused)",
            stat(pbx, "pickups", "SuccessfulCall(C)").unwrap_or(0),
            stat(pbx, "pickups", "FailedCall(C)").unwrap_or(0)
        );
    }
    let _ = writeln!(s, "  faults planned:");
    for (k, v) in &faults {
        let _ = writeln!(s, "    {v:>6}  {k}");
    }
    let _ = writeln!(s, "  AMI requests and reloads:");
    for (k, v) in &ami_requests {
        let _ = writeln!(s, "    {v:>6}  {k}");
    }
    let _ = writeln!(
        s,
        "  calls that reached Twinning(): {reached}; TwinningStart {}; TwinningEnd {}; AMI events read {}",
        seen.starts.len(),
        seen.ends.values().map(Vec::len).sum::<usize>(),
        seen.events
    );
    let _ = writeln!(
        s,
        "  events after their call's TwinningEnd: {} {}",
        seen.after_end.len(),
        seen.after_end.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(s, "  statuses:");
    for (k, v) in &seen.statuses {
        let _ = writeln!(s, "    {v:>6}  {k}");
    }
    let _ = writeln!(s, "  handovers (trigger from->to result):");
    for (k, v) in &seen.handovers {
        let _ = writeln!(s, "    {v:>6}  {k}");
    }
    let _ = writeln!(s, "  leg states:");
    for (k, v) in &seen.leg_states {
        let _ = writeln!(s, "    {v:>6}  {k}");
    }
    let _ = writeln!(s, "  at the end: {active}; {}", calls.lines().last().unwrap_or("?"));
    let _ = writeln!(
        s,
        "  checks: {}",
        if failures.is_empty() { "all passed".to_string() } else { format!("{} FAILED", failures.len()) }
    );
    Report { seed: o.seed, calls: o.calls, failures, summary: s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_reproducible_from_the_seed() {
        let a: Vec<String> = (0..50).map(|i| call_plan(&mut Rng(7 + i), i as usize).display_name()).collect();
        let b: Vec<String> = (0..50).map(|i| call_plan(&mut Rng(7 + i), i as usize).display_name()).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|n| n.len() < 80 && !n.contains(',') && !n.contains('"')), "{a:?}");
    }
}
