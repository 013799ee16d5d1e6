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
//!
//! The same run goes through FreeSWITCH too ([`PbxKind::FreeSwitch`], `scripts/chaos
//! --freeswitch`): the same plans, phones and checks, with FreeSWITCH's means for each
//! action. Handovers by the `twinning handover` API over ESL instead of AMI, reloads by
//! `reloadxml` and `twinning reload`, the `CUSTOM twinning::*` events (read over ESL) instead
//! of the AMI ones, a `chaos::call` event from the dialplan instead of the UserEvent,
//! `twinning calls` and the session count instead of the CLI's listings, and
//! `unload mod_twinning` at the end.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::asterisk::{Instance, InstanceConfig};
use crate::esl::{Esl, EslEvent};
use crate::freeswitch::{with_param, FreeSwitch, FsPorts, FsSettings, ESL_PASSWORD};
use crate::pbx::{self, PhonePorts};
use crate::sipp::{free_udp_port, Phone, SipSite};
use crate::Ami;

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
    /// The PBX the calls go through.
    pub pbx: PbxKind,
}

impl Options {
    pub fn new(calls: u64, seed: u64) -> Options {
        Options { calls, seed, rate: 6, limit: 60, reloads: 4, pickups: calls / 10, pbx: PbxKind::Asterisk }
    }
}

/// Which PBX a run goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PbxKind {
    /// A private Asterisk (tests/src/asterisk.rs), driven over AMI and the CLI.
    Asterisk,
    /// A private FreeSWITCH (tests/src/freeswitch.rs) from `FREESWITCH_PREFIX`, driven over
    /// the event socket.
    FreeSwitch,
}

/// What the summary and the failures call things on each PBX.
struct Words {
    pbx: &'static str,
    /// How handovers are requested: `AMI` (`TwinningHandover`), `API` (`twinning handover`).
    request: &'static str,
    requests_heading: &'static str,
    app: &'static str,
    start: &'static str,
    end: &'static str,
    events: &'static str,
}

impl PbxKind {
    fn words(self) -> Words {
        match self {
            PbxKind::Asterisk => Words {
                pbx: "Asterisk",
                request: "AMI",
                requests_heading: "AMI requests and reloads",
                app: "Twinning()",
                start: "TwinningStart",
                end: "TwinningEnd",
                events: "AMI events",
            },
            PbxKind::FreeSwitch => Words {
                pbx: "FreeSWITCH",
                request: "API",
                requests_heading: "API requests over ESL (twinning handover) and reloads",
                app: "twinning",
                start: "twinning::start",
                end: "twinning::end",
                events: "ESL events",
            },
        }
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
        /// (mobile `**2`, hold), `x` (mobile `**3` + `2000#`, transfer), or a consult
        /// (mobile `**4` + `2001#`) followed [`CONSULT_MS`] later by `c` `**5` (attended
        /// transfer), `f` `**6` (conference) or `g` `**7` (drop).
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
                    (Device::Mobile, Some(('x', _))) => add("keys transfer **3"),
                    (Device::Mobile, Some(('c', _))) => add("consults **4, then attended transfer **5"),
                    (Device::Mobile, Some(('f', _))) => add("consults **4, then conference **6"),
                    (Device::Mobile, Some(_)) => add("consults **4, then drops **7"),
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
                    Device::Mobile => ['k', 'k', 'o', 'x', 'c', 'f', 'g'][rng.range(0, 6) as usize],
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

/// How long after keying a consult the mobile keys what it does with it: the consult
/// target (`2001` in the consult context) answers at once and hangs up after 6 s, so the
/// code comes while it talks and the third party's own hang-up is exercised too.
const CONSULT_MS: u64 = 2500;

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
        for c in ['c', 'f', 'g'] {
            x += &from(&format!("a[0-9]+[.a-z0-9]*\\.{c}([0-9]+)"), &format!("cons{c},cons{c}_s"));
        }
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
        for c in ['c', 'f', 'g'] {
            x += &format!("<nop test=\"cons{c}\" next=\"cons{c}\"/>\n");
        }
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
        for (c, then) in [('c', "attend"), ('f', "conf"), ('g', "drop")] {
            x += &format!(
                "<label id=\"cons{c}\"/>\n<nop><action><todouble assign_to=\"cons{c}_ms\" variable=\"cons{c}_s\"/></action></nop>\n\
<pause variable=\"cons{c}_ms\"/>\n{}<pause milliseconds=\"{CONSULT_MS}\"/>\n{}<nop next=\"after_code\"/>\n",
                play("consult"),
                play(then)
            );
        }
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
/// `ringing` is the response that says the call rings, which a planned cancel counts from:
/// Asterisk sends 180 Ringing, FreeSWITCH 183 Session Progress (with its ringback).
fn caller_scenario(ringing: u16) -> String {
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
    x += &format!(
        "<label id=\"plan\"/>\n<nop test=\"cancel\" next=\"cancel_later\"/>\n\
<recv response=\"200\" response_txn=\"invite\" timeout=\"60000\" ontimeout=\"give_up\" next=\"answered\"/>\n\
<label id=\"give_up\"/>\n<nop next=\"do_cancel\"/>\n\
<label id=\"cancel_later\"/>\n\
<recv response=\"100\" optional=\"true\" response_txn=\"invite\"/>\n\
<recv response=\"{ringing}\" response_txn=\"invite\" timeout=\"3000\" ontimeout=\"cancel_pause\"/>\n\
<label id=\"cancel_pause\"/>\n<pause variable=\"ms\"/>\n<label id=\"do_cancel\"/>\n"
    );
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
         handover_timeout = 5\ndesk_pickup_time = {desk_pickup_time}\nconsult_context = twinning-consult\n\n\
         [1001]\ndesk = PJSIP/desk1001\nmobile = 07700900123\nenabled = yes\n\n\
         [1002]\ndesk = PJSIP/desk1002\nmobile = 07700900456\nenabled = yes\n"
    )
}

/// `100X` rings plainly, `6100X` with a dial delay and an answer guard, `7100X` with
/// confirmation; each call first announces its plan (the caller's display name) so AMI
/// events can be tied to it by Uniqueid.
const EXTENSIONS: &str = "[general]\n[default]\n\
exten => 2000,1,Answer()\n same => n,Wait(2)\n same => n,Hangup()\n\
[twinning-consult]\n\
exten => 2001,1,Answer()\n same => n,Wait(6)\n same => n,Hangup()\n\
[twinning-features]\n\
exten => *27,1,TwinningPickup(${TWINNING_USER})\n same => n,Hangup()\n\
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

/// FreeSWITCH's twinning.conf (the body of its `<configuration>`): the same users and
/// settings as [`twinning_conf`], the phones as SIP targets on loopback.
fn fs_twinning_conf(ports: PhonePorts, desk_pickup_time: u32) -> String {
    FsSettings::new(ports.mobile)
        .param("max_concurrent", 200)
        .param("handover_timeout", 5)
        .param("transfer_context", "twinning-test")
        .param("consult_context", "twinning-test")
        .param("desk_pickup_time", desk_pickup_time)
        .user("1001", ports.desk, "07700900123", true)
        .user("1002", ports.desk2, "07700900456", true)
        .xml()
}

/// FreeSWITCH's counterpart of [`EXTENSIONS`]: `100X` plain, `6100X` with a dial delay and
/// an answer guard, `7100X` with confirmation, each first announcing its plan (the caller's
/// name) as a `chaos::call` event; `*27` picks up; `2000` (the transfer target) answers,
/// waits and hangs up.
fn fs_extensions() -> String {
    let mut x = String::from(
        r#"      <extension name="transfer-target">
        <condition field="destination_number" expression="^2000$">
          <action application="answer"/>
          <action application="sleep" data="2000"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="consult-target">
        <condition field="destination_number" expression="^2001$">
          <action application="answer"/>
          <action application="sleep" data="6000"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="pickup">
        <condition field="destination_number" expression="^\*27$">
          <action application="twinning_pickup" data="${caller_id_number}"/>
          <action application="hangup"/>
        </condition>
      </extension>
"#,
    );
    for (name, prefix, options) in
        [("plain", "", "r(8)"), ("guarded", "6", "r(8)d(0.5)g(1.5)"), ("confirm", "7", "r(10)c")]
    {
        let _ = write!(
            x,
            r#"      <extension name="chaos-{name}">
        <condition field="destination_number" expression="^{prefix}(100\d)$">
          <action application="set" data="hold_music=tone_stream://%(1000,0,440);loops=-1"/>
          <action application="event" data="Event-Subclass=chaos::call,Event-Name=CUSTOM,Plan=${{caller_id_name}}"/>
          <action application="twinning" data="$1 {options}"/>
          <action application="hangup"/>
        </condition>
      </extension>
"#
        );
    }
    x
}

/// Every subclass the run listens to: the module's and the dialplan's `chaos::call`.
const FS_SUBCLASSES: &[&str] = &[
    "chaos::call",
    "twinning::start",
    "twinning::leg",
    "twinning::bridged",
    "twinning::handover",
    "twinning::end",
    "twinning::refused",
    "twinning::hold",
    "twinning::transfer",
    "twinning::consult",
    "twinning::conference",
    "twinning::request_refused",
];

/// The PBX under test: what differs between Asterisk and FreeSWITCH, behind one face (the
/// plans, the phones and the checks are the same for both).
enum Pbx {
    Asterisk(Instance),
    FreeSwitch(FreeSwitch),
}

impl Pbx {
    fn start(kind: PbxKind, ports: PhonePorts) -> Result<Pbx, String> {
        match kind {
            PbxKind::Asterisk => Ok(Pbx::Asterisk(start_pbx(ports))),
            PbxKind::FreeSwitch => {
                if crate::freeswitch::prefix().is_none() {
                    return Err(NO_FREESWITCH.into());
                }
                let conf = fs_twinning_conf(ports, 0);
                let ports = FsPorts {
                    sip: free_udp_port(),
                    desk: ports.desk,
                    mobile: ports.mobile,
                    desk2: ports.desk2,
                    third: free_udp_port(),
                };
                let mut fs = FreeSwitch::start_with_dialplan("chaos", &conf, &fs_extensions(), ports)
                    .ok_or_else(|| NO_FREESWITCH.to_string())?;
                // Below the kernel's ephemeral ports (SIPp's sockets) and the Asterisk tests'
                // RTP ports (20000 and up), so no call fails for a port taken by someone else.
                fs.set_rtp_ports(FS_RTP_PORTS.0, FS_RTP_PORTS.1);
                Ok(Pbx::FreeSwitch(fs))
            }
        }
    }

    fn site(&self) -> &dyn SipSite {
        match self {
            Pbx::Asterisk(a) => a,
            Pbx::FreeSwitch(f) => f,
        }
    }

    /// The SIP user a user's own phone calls as (for `*27`): Asterisk picks the user's desk
    /// endpoint `desk100X` by it (which names its user); FreeSWITCH takes the caller ID
    /// number from it, and knows the desk by its address.
    fn own_phone(&self, user: &str) -> String {
        match self {
            Pbx::Asterisk(_) => format!("desk{user}"),
            Pbx::FreeSwitch(_) => user.to_string(),
        }
    }

    /// The response that tells the caller its call rings.
    fn ringing(&self) -> u16 {
        match self {
            Pbx::Asterisk(_) => 180,
            Pbx::FreeSwitch(_) => 183,
        }
    }

    /// A connection that reads the twinning events (and the dialplan's plan announcements).
    fn events(&self) -> EventFeed {
        match self {
            Pbx::Asterisk(a) => {
                let mut events = a.ami();
                events.action("Filter", &[("Operation", "Add"), ("Filter", "Event: Twinning")]);
                events.action("Filter", &[("Operation", "Add"), ("Filter", "UserEvent: ChaosCall")]);
                EventFeed::Ami(events)
            }
            Pbx::FreeSwitch(f) => {
                let mut esl = f.esl();
                esl.subscribe(FS_SUBCLASSES);
                EventFeed::Esl(esl)
            }
        }
    }

    /// A connection for requests (handovers, reloads), reading no events.
    fn control(&self) -> Control {
        match self {
            Pbx::Asterisk(a) => {
                let mut actions = a.ami();
                actions.action("Events", &[("EventMask", "off")]);
                Control::Ami(actions)
            }
            Pbx::FreeSwitch(f) => Control::Esl(f.esl()),
        }
    }

    /// Requests a handover of `user`'s call; what came of the request, for the summary.
    fn handover(&self, control: &mut Control, user: &str, to: Device) -> String {
        let to = if to == Device::Mobile { "mobile" } else { "desk" };
        match control {
            Control::Ami(ami) => {
                let r = ami.action("TwinningHandover", &[("User", user), ("To", to)]);
                format!("to {to}: {}", r.get("Response").unwrap_or("?"))
            }
            Control::Esl(esl) => {
                let r = esl.api(&format!("twinning handover {user} {to}"));
                let r = r.lines().next().unwrap_or("?").trim();
                // "+OK handover of 1001 to mobile started" or "-ERR <why>", per user alike.
                let gist = if r.starts_with("+OK") { "+OK" } else { r };
                format!("to {to}: {}", gist.replace(user, "<user>"))
            }
        }
    }

    /// Rewrites the configuration with `desk_pickup_time` and reloads the module: the
    /// request's name for the summary, and why it was refused if it was (FreeSWITCH: a
    /// reply other than `+OK`; Asterisk's reload is only reported, as it always was).
    fn reload(&self, control: &mut Control, desk_pickup_time: u32) -> (String, Option<String>) {
        match (self, control) {
            (Pbx::Asterisk(a), _) => {
                a.write_file("twinning.conf", &twinning_conf(desk_pickup_time));
                let out = a.cli("module reload app_twinning.so");
                if out.to_lowercase().contains("error") {
                    eprintln!("chaos: reload said {out}");
                }
                (format!("module reload (desk_pickup_time {desk_pickup_time})"), None)
            }
            (Pbx::FreeSwitch(f), Control::Esl(esl)) => {
                let path = f.path("conf/freeswitch.xml");
                let xml = std::fs::read_to_string(&path).unwrap_or_default();
                let rewritten = with_param(&xml, "desk_pickup_time", desk_pickup_time);
                let Some(rewritten) = rewritten else {
                    return (
                        "twinning reload".into(),
                        Some(format!("no desk_pickup_time in {}", path.display())),
                    );
                };
                std::fs::write(&path, rewritten).unwrap();
                let xml_reply = esl.api("reloadxml");
                let reply = esl.api("twinning reload");
                let key = format!("reloadxml + twinning reload (desk_pickup_time {desk_pickup_time})");
                let refused = (!xml_reply.contains("+OK") || !reply.starts_with("+OK"))
                    .then(|| format!("reloadxml: {} twinning reload: {}", xml_reply.trim(), reply.trim()));
                (key, refused)
            }
            (Pbx::FreeSwitch(_), Control::Ami(_)) => unreachable!("FreeSWITCH is driven over ESL"),
        }
    }

    /// Whether no channel is up any more.
    fn idle(&self) -> bool {
        match self {
            Pbx::Asterisk(a) => a.cli("core show channels").contains("\n0 active channels"),
            Pbx::FreeSwitch(f) => fs_sessions(f).is_ok_and(|(n, _)| n == 0),
        }
    }

    /// The PBX is still up; otherwise what it said last.
    fn alive(&mut self) -> Result<(), String> {
        match self {
            Pbx::Asterisk(a) => {
                if a.is_running() && a.is_running_asterisk() {
                    Ok(())
                } else {
                    Err(format!("Asterisk is not up any more:\n{}", a.console_output()))
                }
            }
            Pbx::FreeSwitch(f) => {
                if f.is_running() && fs_api(f, "status").is_ok() {
                    Ok(())
                } else {
                    let console = std::fs::read_to_string(f.path("log/console.out")).unwrap_or_default();
                    Err(format!(
                        "FreeSWITCH is not up any more (a crash?); its log ends:\n{}\nconsole:\n{}",
                        tail(&f.log(), 80),
                        tail(&console, 40)
                    ))
                }
            }
        }
    }

    /// The channels left: whether there are none, the count's line, and the whole listing.
    fn channels(&self) -> (bool, String, String) {
        match self {
            Pbx::Asterisk(a) => {
                let channels = a.cli("core show channels");
                let active =
                    channels.lines().find(|l| l.contains("active channel")).unwrap_or("?").trim().to_owned();
                (channels.contains("\n0 active channels"), active, channels)
            }
            Pbx::FreeSwitch(f) => match fs_sessions(f) {
                Ok((n, line)) => {
                    let listing =
                        if n == 0 { line.clone() } else { fs_api(f, "show calls").unwrap_or_default() };
                    (n == 0, line, listing)
                }
                Err(e) => (false, "?".into(), e),
            },
        }
    }

    /// The module's listing of live calls (its last line says how many: "0 twinned calls").
    fn twinned_calls(&self) -> String {
        match self {
            Pbx::Asterisk(a) => a.cli("twinning show calls"),
            Pbx::FreeSwitch(f) => fs_api(f, "twinning calls").unwrap_or_else(|e| e),
        }
    }

    /// Unloads the module; why not, if it did not go.
    fn unload(&self) -> Result<(), String> {
        match self {
            Pbx::Asterisk(a) => {
                let unload = a.cli("module unload app_twinning.so");
                if unload.contains("Unloaded app_twinning.so") {
                    Ok(())
                } else {
                    Err(unload)
                }
            }
            Pbx::FreeSwitch(f) => match fs_api(f, "unload mod_twinning") {
                Ok(r) if r.starts_with("+OK") => Ok(()),
                Ok(r) | Err(r) => Err(r),
            },
        }
    }

    /// The module's error lines in the PBX's log (the first 20).
    fn module_errors(&self) -> Vec<String> {
        let (log, is_error): (String, fn(&str) -> bool) = match self {
            Pbx::Asterisk(a) => (a.log(), |l| l.contains("ERROR[") && l.contains("twinning")),
            Pbx::FreeSwitch(f) => {
                (f.log(), |l| (l.contains("[ERR]") || l.contains("[CRIT]")) && l.contains("mod_twinning"))
            }
        };
        log.lines().filter(|l| is_error(l)).take(20).map(str::to_owned).collect()
    }

    /// Where the instance's files are kept after the run, if they are (FreeSWITCH keeps
    /// them when a check failed, to look at).
    fn keep_files(&self) -> Option<std::path::PathBuf> {
        match self {
            Pbx::Asterisk(_) => None,
            Pbx::FreeSwitch(f) => {
                std::env::set_var("TWINNING_KEEP_INSTANCE", "1");
                Some(f.path(""))
            }
        }
    }
}

impl SipSite for Pbx {
    fn sip_port(&self) -> u16 {
        self.site().sip_port()
    }

    fn path(&self, relative: &str) -> std::path::PathBuf {
        self.site().path(relative)
    }

    fn inside_path(&self, relative: &str) -> String {
        self.site().inside_path(relative)
    }
}

/// FreeSWITCH's RTP ports in the run (4000 pairs).
const FS_RTP_PORTS: (u16, u16) = (10000, 18000);

const NO_FREESWITCH: &str =
    "no FreeSWITCH to run the chaos through: set FREESWITCH_PREFIX to a FreeSWITCH 1.10 install (see README)";

/// An API command over a fresh event-socket connection; an error (not a panic) if
/// FreeSWITCH does not answer.
fn fs_api(f: &FreeSwitch, command: &str) -> Result<String, String> {
    let mut esl = Esl::connect(f.esl_port, ESL_PASSWORD).map_err(|e| format!("no event socket: {e}"))?;
    Ok(esl.api(command))
}

/// FreeSWITCH's session count and the line of `status` that says it.
fn fs_sessions(f: &FreeSwitch) -> Result<(u64, String), String> {
    let status = fs_api(f, "status")?;
    let line =
        status.lines().find(|l| l.contains("session(s) - peak")).ok_or(format!("no sessions in {status}"))?;
    let n =
        line.split_whitespace().next().and_then(|n| n.parse().ok()).ok_or(format!("no count in {line}"))?;
    Ok((n, line.trim().to_owned()))
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One twinning event (or plan announcement), whichever PBX sent it: `name` is the AMI
/// event's (`TwinningStart`...; `ChaosCall` for the plan), the headers its fields.
struct Event {
    name: String,
    /// FreeSWITCH's `Event-Sequence` (the order the events were made in).
    seq: Option<u64>,
    headers: Vec<(String, String)>,
}

impl Event {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn from_ami(m: crate::Message) -> Event {
        let name = match m.get("Event") {
            Some("UserEvent") if m.get("UserEvent") == Some("ChaosCall") => "ChaosCall",
            Some(e) => e,
            None => "",
        };
        Event { name: name.to_owned(), seq: None, headers: m.headers }
    }

    /// `twinning::start` is `TwinningStart` and so on; the headers kept are the event's own
    /// (what the module or the dialplan put in), not FreeSWITCH's channel data.
    fn from_esl(e: EslEvent) -> Event {
        let name = match e.subclass() {
            "chaos::call" => "ChaosCall".to_owned(),
            s => match s.strip_prefix("twinning::") {
                Some(rest) => {
                    let camel: String = rest
                        .split('_')
                        .map(|w| {
                            let mut c = w.chars();
                            c.next()
                                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                                .unwrap_or_default()
                        })
                        .collect();
                    format!("Twinning{camel}")
                }
                None => s.to_owned(),
            },
        };
        let seq = e.get("Event-Sequence").and_then(|s| s.parse().ok());
        let mut headers = vec![("Event".to_owned(), name.clone())];
        headers.extend(e.get("Event-Sequence").map(|s| ("Event-Sequence".to_owned(), s.to_owned())));
        // The event's own headers come after its subclass, FreeSWITCH's channel data (from
        // Channel-State on) after them.
        headers.extend(
            e.headers
                .iter()
                .skip_while(|(k, _)| k != "Event-Subclass")
                .skip(1)
                .take_while(|(k, _)| k != "Channel-State")
                .filter(|(k, _)| !is_core_header(k))
                .cloned(),
        );
        if !headers.iter().any(|(k, _)| k == "Uniqueid") {
            headers.push(("Uniqueid".into(), e.get("Unique-ID").unwrap_or("").to_owned()));
        }
        Event { name, seq, headers }
    }
}

/// The headers FreeSWITCH puts in every event (`switch_event_prep_for_delivery`).
fn is_core_header(name: &str) -> bool {
    ["Event-Name", "Core-UUID", "Event-Sequence"].contains(&name)
        || ["FreeSWITCH-", "Event-Date-", "Event-Calling-"].iter().any(|p| name.starts_with(p))
}

/// Where the run reads its events from.
enum EventFeed {
    Ami(Ami),
    Esl(Esl),
}

impl EventFeed {
    fn next(&mut self, timeout: Duration) -> Option<Event> {
        match self {
            EventFeed::Ami(ami) => ami.wait(timeout, |_| true).map(Event::from_ami),
            EventFeed::Esl(esl) => esl.next_event(timeout).map(Event::from_esl),
        }
    }
}

/// Where the run sends its requests.
enum Control {
    Ami(Ami),
    Esl(Esl),
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
    /// FreeSWITCH: each call's first end's `Event-Sequence`, to tell in a failure whether
    /// an event after it was also made after it.
    end_seq: HashMap<String, u64>,
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

fn handle_event(m: &Event, seen: &mut Seen, plans: &[CallPlan], tx: &mpsc::Sender<Due>, seq: &mut usize) {
    let event = m.name.as_str();
    if event.is_empty() {
        return;
    }
    seen.events += 1;
    let uid = m.get("Uniqueid").unwrap_or("").to_owned();
    if event.starts_with("Twinning") && seen.ends.contains_key(&uid) {
        let order = match (m.seq, seen.end_seq.get(&uid)) {
            (Some(n), Some(end)) => format!(" (Event-Sequence {n}, the end's {end})"),
            _ => String::new(),
        };
        seen.after_end.push(format!("{event} {uid}{order}"));
    }
    match event {
        "ChaosCall" => {
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
            if let Some(n) = m.seq {
                seen.end_seq.entry(uid.clone()).or_insert(n);
            }
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
fn stat(instance: &dyn SipSite, phone: &str, column: &str) -> Option<u64> {
    let text = std::fs::read_to_string(instance.path(&format!("sipp-{phone}/stats.csv"))).ok()?;
    let header: Vec<&str> = text.lines().next()?.split(';').collect();
    let last: Vec<&str> = text.lines().last()?.split(';').collect();
    let i = header.iter().position(|h| *h == column)?;
    last.get(i)?.trim().parse().ok()
}

/// SIPp's statistics every second, automatic answers to INFO, UPDATE, OPTIONS and NOTIFY,
/// and, with TWINNING_CHAOS_TRACE=1, every SIP message in the phone's `messages.log`.
fn stats_args(instance: &dyn SipSite, phone: &str) -> Vec<String> {
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
    let words = o.pbx.words();
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
            Some((Device::Mobile, _)) => {
                *faults.entry(format!("{} push to mobile", words.request)).or_default() += 1
            }
            Some((Device::Desk, _)) => {
                *faults.entry(format!("{} pull to desk", words.request)).or_default() += 1
            }
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
    let pbx = match Pbx::start(o.pbx, ports) {
        Ok(pbx) => pbx,
        Err(why) => {
            let summary = format!("chaos run on {}: not run\n", words.pbx);
            return Report { seed: o.seed, calls: o.calls, failures: vec![why], summary };
        }
    };
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
            &[
                ("yes", "1"),
                ("no", "2"),
                ("keys", "**1"),
                ("hold", "**2"),
                ("xfer", "**32000#"),
                ("consult", "**42001#"),
                ("attend", "**5"),
                ("conf", "**6"),
                ("drop", "**7"),
            ]
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
        let _ = writeln!(pickups, "p{i};*27;h;{};{}", rng.range(300, 8000), pbx.own_phone(user));
        *faults.entry(format!("pickup by *27 from the desk ({user})")).or_default() += 1;
    }
    std::fs::create_dir_all(pbx.path("sipp-pickups")).unwrap();
    std::fs::write(pbx.path("sipp-pickups/plans.csv"), pickups).unwrap();

    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Seen::default());
    let ami_requests: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let reloads_refused: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let (tx, rx) = mpsc::channel::<Due>();
    let run_for = Duration::from_secs_f64(o.calls as f64 / f64::from(o.rate.max(1)));
    let mut caller_counts = (None, None);
    std::thread::scope(|s| {
        // Events: tie calls to plans, count, and schedule each plan's handover.
        let mut events = pbx.events();
        let (seen_ref, stop_ref, plans_ref, tx_events) = (&seen, &stop, &plans, tx.clone());
        let mut log = std::io::BufWriter::new(std::fs::File::create(pbx.path("chaos-events.log")).unwrap());
        s.spawn(move || {
            use std::io::Write as _;
            let mut seq = 1_000_000;
            while !stop_ref.load(Ordering::Relaxed) {
                let asked = Instant::now();
                if let Some(m) = events.next(Duration::from_millis(200)) {
                    let line: Vec<String> = m.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    let _ = writeln!(log, "{}", line.join(" | "));
                    handle_event(&m, &mut seen_ref.lock().unwrap(), plans_ref, &tx_events, &mut seq);
                } else if asked.elapsed() < Duration::from_millis(100) {
                    // The connection is gone (the PBX with it): the checks will say so.
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
        // Actions at their time: handovers by AMI (FreeSWITCH: the API) and module reloads.
        let mut control = pbx.control();
        let (pbx_ref, requests, refused) = (&pbx, &ami_requests, &reloads_refused);
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
                            let key = pbx_ref.handover(&mut control, user, to);
                            *requests.lock().unwrap().entry(key).or_default() += 1;
                        }
                        Action::Reload { desk_pickup_time } => {
                            let (key, why) = pbx_ref.reload(&mut control, desk_pickup_time);
                            *requests.lock().unwrap().entry(key).or_default() += 1;
                            if let Some(why) = why {
                                eprintln!("chaos: reload refused: {why}");
                                refused.lock().unwrap().push(why);
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
        let target = format!("127.0.0.1:{}", pbx.sip_port());
        args.splice(0..0, [target, "-inf".into(), csv, "-r".into(), rate, "-l".into(), limit]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut callers = Phone::spawn_load(
            &pbx,
            "callers",
            free_udp_port(),
            &caller_scenario(pbx.ringing()),
            &args,
            Some(o.calls),
        );
        let mut pickup_phones = (o.pickups > 0).then(|| {
            let csv = pbx.inside_path("sipp-pickups/plans.csv");
            let period = (run_for.as_millis() as u64 * 9 / 10 / o.pickups).max(100).to_string();
            let mut args = stats_args(&pbx, "pickups");
            let target = format!("127.0.0.1:{}", pbx.sip_port());
            args.splice(0..0, [target, "-inf".into(), csv, "-r".into(), "1".into(), "-rp".into(), period]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Phone::spawn_load(
                &pbx,
                "pickups",
                free_udp_port(),
                &caller_scenario(pbx.ringing()),
                &args,
                Some(o.pickups),
            )
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
        while !pbx.idle() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
    });
    let mut pbx = pbx;
    let report = check(
        o,
        &mut pbx,
        &phones,
        &plans,
        seen.into_inner().unwrap(),
        (ami_requests.into_inner().unwrap(), reloads_refused.into_inner().unwrap()),
        faults,
        caller_counts,
        started,
    );
    if !report.failures.is_empty() {
        if let Some(dir) = pbx.keep_files() {
            eprintln!(
                "chaos: the {} instance's files (logs, events, SIPp) are kept in {}",
                words.pbx,
                dir.display()
            );
        }
    }
    report
}

#[allow(clippy::too_many_arguments)]
fn check(
    o: &Options,
    pbx: &mut Pbx,
    phones: &[Phone],
    plans: &[CallPlan],
    seen: Seen,
    (ami_requests, reloads_refused): (BTreeMap<String, u64>, Vec<String>),
    faults: BTreeMap<String, u64>,
    (ok, failed): (Option<u64>, Option<u64>),
    started: Instant,
) -> Report {
    let words = o.pbx.words();
    let mut failures = Vec::new();
    if let Err(why) = pbx.alive() {
        failures.push(why);
    }
    let (no_channels, active, channels) = pbx.channels();
    if !no_channels {
        failures.push(format!("channels left after the drain:\n{channels}"));
    }
    let calls = pbx.twinned_calls();
    if !calls.contains("0 twinned calls") {
        failures.push(format!("twinned calls left: {calls}"));
    }
    if !reloads_refused.is_empty() {
        failures.push(format!("reloads refused ({}): {}", reloads_refused.len(), reloads_refused.join("; ")));
    }
    let mut unmatched = Vec::new();
    for (uid, n) in &seen.starts {
        let ends = seen.ends.get(uid).map_or(0, Vec::len);
        if *n != 1 || ends != 1 {
            unmatched.push(format!("{uid}: {n} {}, {ends} {}", words.start, words.end));
        }
    }
    for uid in seen.ends.keys().filter(|u| !seen.starts.contains_key(*u)) {
        unmatched.push(format!("{uid}: {} without {}", words.end, words.start));
    }
    if !unmatched.is_empty() {
        failures.push(format!("start/end mismatch ({}): {}", unmatched.len(), unmatched.join("; ")));
    }
    let reached = seen.plan_of.len() as u64;
    if seen.starts.len() as u64 != reached {
        failures.push(format!(
            "{reached} calls reached {} but {} {}",
            words.app,
            seen.starts.len(),
            words.start
        ));
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
            "events after their call's {} ({}): {}",
            words.end,
            seen.after_end.len(),
            seen.after_end.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Err(unload) = pbx.unload() {
        failures.push(format!("module unload failed: {unload}"));
    }
    let errors = pbx.module_errors();
    if !errors.is_empty() {
        failures.push(format!("module errors in the log:\n{}", errors.join("\n")));
    }

    let mut s = String::new();
    let on = if o.pbx == PbxKind::Asterisk { String::new() } else { format!(" on {}", words.pbx) };
    let _ = writeln!(
        s,
        "chaos run{on}: seed {} ({} calls, {}/s, at most {} at once)",
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
    let _ = writeln!(s, "  {}:", words.requests_heading);
    for (k, v) in &ami_requests {
        let _ = writeln!(s, "    {v:>6}  {k}");
    }
    let _ = writeln!(
        s,
        "  calls that reached {}: {reached}; {} {}; {} {}; {} read {}",
        words.app,
        words.start,
        seen.starts.len(),
        words.end,
        seen.ends.values().map(Vec::len).sum::<usize>(),
        words.events,
        seen.events
    );
    let _ = writeln!(
        s,
        "  events after their call's {}: {} {}",
        words.end,
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
