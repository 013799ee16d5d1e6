//! Consult from the mobile over real SIP: the mobile answers a twinned call, keys the
//! consult code and an extension; the caller is held (music on hold) and the extension (a
//! SIPp phone behind the sample `twinning-consult` context, extension 1002's desk) rings
//! presenting the user. Then each way out: the attended transfer, the conference of three,
//! the drop back to the caller, the third party hanging up, the mobile hanging up; and the
//! consults that must never be dialed.

use std::net::UdpSocket;
use std::time::Duration;

use twinning_tests::ami::Ami;
use twinning_tests::pbx::{self, PhonePorts};
use twinning_tests::sipp::{Answer, Caller, Phone};
use twinning_tests::{Instance, Message};

const WAIT: Duration = Duration::from_secs(40);

/// The mobile's keys: answer, then the consult code and 1002.
const CONSULT_1002: (u64, &str) = (800, "**41002#");

fn conf(consult_context: Option<&str>) -> String {
    let general = match consult_context {
        Some(c) => format!("answer_guard = 0\nconsult_context = {c}"),
        None => "answer_guard = 0".into(),
    };
    pbx::TWINNING_CONF
        .replace("answer_guard = 0", &general)
        .replace("[1001]\n", "[1001]\naccountcode = ACME-1001\n")
}

struct Consult {
    pbx: Instance,
    ami: Ami,
    caller: Phone,
    mobile: Phone,
    third: Phone,
    _desk: Phone,
    /// Where the caller's audio goes: what the caller hears.
    listener: UdpSocket,
}

/// A call to 1001 answered by the mobile as `mobile` says, the third party (1002's desk)
/// answering as `third` says; the caller stays `hold_ms`.
fn call(conf: &str, mobile: Answer, third: Answer, hold_ms: u64) -> Consult {
    let ports = PhonePorts::new();
    let pbx = pbx::start_with(conf, "", ports, |c| {
        let mut c =
            c.file("musiconhold.conf", "[default]\nmode=files\ndirectory=sounds/en_US_f_Allison/followme\n");
        c.modules.push("func_channel.so".into());
        c
    });
    let mut ami = pbx.ami();
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    let media_port = listener.local_addr().unwrap().port();
    let desk = Phone::uas(&pbx, "desk", ports.desk, &Answer::Never);
    let mobile = Phone::uas(&pbx, "mobile", ports.mobile, &mobile);
    let third = Phone::uas(&pbx, "third", ports.desk2, &third);
    let caller = Phone::call_listening(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms }, media_port);
    assert_eq!(ami.event("TwinningBridged", &[], WAIT).expect("answered").must("Leg"), "mobile");
    Consult { pbx, ami, caller, mobile, third, _desk: desk, listener }
}

impl Consult {
    fn consult(&mut self, result: &str) -> Message {
        self.ami
            .event("TwinningConsult", &[("Result", result)], WAIT)
            .unwrap_or_else(|| panic!("no TwinningConsult {result}; {}", self.mobile.summary()))
    }

    /// The consult began as it must: the caller held with music, 1002 called through the
    /// consult context as the user (caller ID and account code), its phone ringing.
    fn started(&mut self) {
        let started = self.consult("started");
        assert_eq!(
            (started.must("User"), started.must("Context"), started.must("Exten")),
            ("1001", "twinning-consult", "1002"),
            "{started:?}"
        );
        let moh = self.ami.event("MusicOnHoldStart", &[], WAIT).expect("the caller hears music on hold");
        assert!(moh.must("Channel").starts_with("PJSIP/caller-"), "{moh:?}");
        let dialed = self
            .ami
            .event("UserEvent", &[("UserEvent", "TwinningConsultDialed")], WAIT)
            .expect("the consult context ran");
        assert_eq!(
            (dialed.must("Number"), dialed.must("CallerId"), dialed.must("Account")),
            ("1002", "1001", "ACME-1001"),
            "placed as the user: {dialed:?}"
        );
        self.ami
            .wait(WAIT, |m| {
                m.is_event("DialState")
                    && m.get("DialStatus") == Some("RINGING")
                    && m.get("DestChannel").is_some_and(|c| c.starts_with("PJSIP/desk1002-"))
            })
            .expect("1002 rings");
        let invites = self.third.received("INVITE");
        assert_eq!(invites.len(), 1, "{}", self.third.summary());
        let from = invites[0].header("From").unwrap_or_default();
        assert!(from.contains("sip:1001@"), "1002 sees the user calling: {from}");
    }

    /// The keys the caller hears within `within`.
    fn caller_hears(&self, within: Duration) -> String {
        twinning_tests::media::keys_heard(&self.listener, &self.caller.trace_path(), within)
            .into_iter()
            .map(|(_, k)| k)
            .collect()
    }

    /// The call ends once, answered by the mobile, the caller hanging up itself.
    fn ends_once(&mut self) {
        let end = self.ami.event("TwinningEnd", &[], WAIT).expect("TwinningEnd");
        assert_eq!(end.must("AnsweredBy"), "mobile", "{end:?}");
        assert_eq!(self.caller.wait(WAIT), Some(0), "{}", self.caller.summary());
        assert!(self.ami.drain_events("TwinningEnd", Duration::from_secs(2)).is_empty(), "one end per call");
        self.mobile.wait(Duration::from_secs(10));
        self.third.wait(Duration::from_secs(10));
        self.no_channel_left();
    }

    fn no_channel_left(&self) {
        // Nothing is left behind: the consult's Local pair and every leg are gone.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut channels = self.pbx.cli("core show channels");
        while !channels.contains("\n0 active channels") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            channels = self.pbx.cli("core show channels");
        }
        assert!(channels.contains("\n0 active channels"), "{channels}");
    }
}

/// Channels in the bridge `channel` is in, from Asterisk's own view of its bridges.
fn bridge_of(ami: &mut Ami, channel_prefix: &str) -> Vec<String> {
    let (_, bridges) = ami.list("BridgeList", &[], "BridgeListComplete");
    for b in bridges.iter().filter(|b| b.is_event("BridgeListItem")) {
        let id = b.must("BridgeUniqueid");
        let (_, info) = ami.list("BridgeInfo", &[("BridgeUniqueid", id)], "BridgeInfoComplete");
        let chans: Vec<String> = info
            .iter()
            .filter(|m| m.is_event("BridgeInfoChannel"))
            .map(|m| m.must("Channel").to_owned())
            .collect();
        if chans.iter().any(|c| c.starts_with(channel_prefix)) {
            return chans;
        }
    }
    Vec::new()
}

#[test]
fn the_attended_code_leaves_the_caller_with_the_third_party() {
    let mut c = call(
        &conf(Some("twinning-consult")),
        Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "**5")] },
        Answer::After { after_ms: 1500, dtmf: vec![(4500, "58")] },
        14000,
    );
    c.started();
    c.consult("answered");
    let t = c.ami.event("TwinningTransfer", &[], WAIT).expect("TwinningTransfer");
    assert_eq!(
        (t.must("Kind"), t.must("Context"), t.must("Exten")),
        ("attended", "twinning-consult", "1002"),
        "{t:?}"
    );
    let unheld = c.ami.event("MusicOnHoldStop", &[], WAIT).expect("the caller is taken off hold");
    assert!(unheld.must("Channel").starts_with("PJSIP/caller-"), "{unheld:?}");
    c.mobile.wait(Duration::from_secs(10));
    assert_eq!(c.mobile.received("BYE").len(), 1, "the mobile is released: {}", c.mobile.summary());
    let bridge = bridge_of(&mut c.ami, "PJSIP/caller-");
    assert_eq!(bridge.len(), 2, "{bridge:?}");
    assert!(bridge.iter().any(|ch| ch.starts_with("Local/1002@twinning-consult-")), "{bridge:?}");
    assert_eq!(c.caller_hears(Duration::from_secs(5)), "58", "the caller hears the third party");
    c.ends_once();
}

#[test]
fn the_conference_code_puts_all_three_in_the_callers_bridge() {
    let mut c = call(
        &conf(Some("twinning-consult")),
        Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "**6")] },
        Answer::After { after_ms: 1500, dtmf: vec![(4500, "58")] },
        14000,
    );
    c.started();
    c.consult("answered");
    let conference = c.ami.event("TwinningConference", &[("Result", "started")], WAIT).expect("conference");
    assert_eq!(conference.must("User"), "1001");
    c.ami
        .wait(WAIT, |m| {
            m.is_event("BridgeEnter")
                && m.get("BridgeNumChannels") == Some("3")
                && m.get("Channel").is_some_and(|ch| ch.starts_with("Local/1002@twinning-consult-"))
        })
        .expect("the third party joins the caller's bridge as its third channel");
    let bridge = bridge_of(&mut c.ami, "PJSIP/caller-");
    assert_eq!(bridge.len(), 3, "{bridge:?}");
    assert!(bridge.iter().any(|ch| ch.starts_with("PJSIP/mobile-trunk-")), "{bridge:?}");
    assert!(bridge.iter().any(|ch| ch.starts_with("Local/1002@twinning-consult-")), "{bridge:?}");
    assert_eq!(c.caller_hears(Duration::from_secs(5)), "58", "the caller hears the third party");
    let bridge = bridge_of(&mut c.ami, "PJSIP/caller-");
    assert_eq!(bridge.len(), 3, "nobody left: {bridge:?}");
    c.ends_once();
    let ended = c.ami.event("TwinningConference", &[("Result", "ended")], WAIT).expect("ended with the call");
    assert_eq!(ended.must("Detail"), "the call ended");
    assert_eq!(c.mobile.received("BYE").len(), 1, "{}", c.mobile.summary());
    assert_eq!(c.third.received("BYE").len(), 1, "{}", c.third.summary());
}

/// In a conference, one party leaving leaves the other two talking: the third party
/// hanging up, or dropped by the mobile's drop code, gives the caller back to the mobile.
#[test]
fn the_third_party_leaving_a_conference_leaves_the_caller_and_the_mobile() {
    let hangs_up = (
        Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "**6"), (7000, "9")] },
        Answer::AnswerThenHangUp { after_ms: 1500, hold_ms: 6000 },
        "the third party left",
    );
    let dropped = (
        Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "**6"), (3000, "**7"), (4000, "9")] },
        Answer::After { after_ms: 1500, dtmf: vec![] },
        "the mobile dropped the third party",
    );
    for (mobile, third, detail) in [hangs_up, dropped] {
        let mut c = call(&conf(Some("twinning-consult")), mobile, third, 16000);
        c.started();
        c.ami.event("TwinningConference", &[("Result", "started")], WAIT).expect("conference");
        let ended =
            c.ami.event("TwinningConference", &[("Result", "ended")], WAIT).expect("the third party left");
        assert_eq!(ended.must("Detail"), detail);
        c.third.wait(Duration::from_secs(10));
        assert_eq!(
            c.third.received("BYE").len(),
            usize::from(detail != "the third party left"),
            "{}",
            c.third.summary()
        );
        let bridge = bridge_of(&mut c.ami, "PJSIP/caller-");
        assert_eq!(bridge.len(), 2, "{bridge:?}");
        assert!(bridge.iter().any(|ch| ch.starts_with("PJSIP/mobile-trunk-")), "{bridge:?}");
        assert_eq!(c.caller_hears(Duration::from_secs(6)), "9", "the mobile talks to the caller on");
        c.ends_once();
        assert_eq!(c.mobile.received("BYE").len(), 1, "only at the end: {}", c.mobile.summary());
    }
}

/// The mobile leaving a conference, by the attended code or by hanging up: the caller and
/// the third party talk on, and the call is theirs until the caller hangs up.
#[test]
fn the_mobile_leaving_a_conference_leaves_the_caller_and_the_third_party() {
    let by_code = Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "**6"), (3000, "**5")] };
    let by_hanging_up =
        Answer::KeysThenHangUp { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "**6")], hold_ms: 3000 };
    for (mobile, transfer) in [(by_code, true), (by_hanging_up, false)] {
        let mut c = call(
            &conf(Some("twinning-consult")),
            mobile,
            Answer::After { after_ms: 1500, dtmf: vec![(9000, "58")] },
            16000,
        );
        c.started();
        c.ami.event("TwinningConference", &[("Result", "started")], WAIT).expect("conference");
        let ended = c.ami.event("TwinningConference", &[("Result", "ended")], WAIT).expect("the mobile left");
        assert_eq!(ended.must("Detail"), "the mobile left");
        // The attended code hands the call over; hanging up just leaves.
        let transfers = c.ami.drain_events("TwinningTransfer", Duration::from_millis(200));
        assert_eq!(transfers.len(), usize::from(transfer), "{transfers:?}");
        if transfer {
            assert_eq!(transfers[0].must("Kind"), "attended");
            c.mobile.wait(Duration::from_secs(10));
            assert_eq!(c.mobile.received("BYE").len(), 1, "the mobile is released: {}", c.mobile.summary());
        }
        assert_eq!(c.caller_hears(Duration::from_secs(6)), "58", "the caller hears the third party");
        let bridge = bridge_of(&mut c.ami, "PJSIP/caller-");
        assert_eq!(bridge.len(), 2, "{bridge:?}");
        assert!(bridge.iter().any(|ch| ch.starts_with("Local/1002@twinning-consult-")), "{bridge:?}");
        c.ends_once();
    }
}

#[test]
fn the_drop_code_goes_back_to_the_caller() {
    let mut c = call(
        &conf(Some("twinning-consult")),
        Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "**7"), (2500, "9")] },
        Answer::After { after_ms: 1500, dtmf: vec![] },
        14000,
    );
    c.started();
    c.consult("answered");
    let dropped = c.consult("dropped");
    assert_eq!(dropped.must("Exten"), "1002");
    let unheld = c.ami.event("MusicOnHoldStop", &[], WAIT).expect("the caller is taken off hold");
    assert!(unheld.must("Channel").starts_with("PJSIP/caller-"), "{unheld:?}");
    c.third.wait(Duration::from_secs(10));
    assert_eq!(c.third.received("BYE").len(), 1, "the third party is hung up: {}", c.third.summary());
    assert_eq!(c.caller_hears(Duration::from_secs(5)), "9", "the mobile talks to the caller again");
    assert!(c.mobile.received("BYE").is_empty(), "the mobile stays: {}", c.mobile.summary());
    c.ends_once();
}

#[test]
fn the_third_party_hanging_up_returns_the_mobile_to_the_caller() {
    let mut c = call(
        &conf(Some("twinning-consult")),
        Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (6000, "9")] },
        Answer::AnswerThenHangUp { after_ms: 1500, hold_ms: 1500 },
        14000,
    );
    c.started();
    c.consult("answered");
    let ended = c.consult("ended");
    assert_eq!(ended.must("Detail"), "the third party hung up");
    let unheld = c.ami.event("MusicOnHoldStop", &[], WAIT).expect("the caller is taken off hold");
    assert!(unheld.must("Channel").starts_with("PJSIP/caller-"), "{unheld:?}");
    assert_eq!(c.caller_hears(Duration::from_secs(6)), "9", "the mobile talks to the caller again");
    c.ends_once();
    assert_eq!(c.mobile.received("BYE").len(), 1, "only at the end: {}", c.mobile.summary());
}

#[test]
fn the_mobile_hanging_up_mid_consult_completes_the_transfer() {
    let mut c = call(
        &conf(Some("twinning-consult")),
        Answer::KeysThenHangUp { after_ms: 300, dtmf: vec![CONSULT_1002], hold_ms: 4500 },
        Answer::After { after_ms: 1500, dtmf: vec![(5000, "58")] },
        14000,
    );
    c.started();
    c.consult("answered");
    let t = c.ami.event("TwinningTransfer", &[], WAIT).expect("the transfer completes");
    assert_eq!(t.must("Kind"), "attended", "{t:?}");
    let bridge = bridge_of(&mut c.ami, "PJSIP/caller-");
    assert!(bridge.iter().any(|ch| ch.starts_with("Local/1002@twinning-consult-")), "{bridge:?}");
    assert!(!bridge.iter().any(|ch| ch.starts_with("PJSIP/mobile-trunk-")), "{bridge:?}");
    assert_eq!(c.caller_hears(Duration::from_secs(5)), "58", "the caller hears the third party");
    c.ends_once();
}

/// A consult that never connects: the third party busy (the mobile is back with the
/// caller), or the mobile hanging up while it rings (the consult is cancelled with it and
/// the call ends, as any hang-up of the mobile ends it).
#[test]
fn a_consult_that_never_connects_ends_cleanly() {
    let mut c = call(
        &conf(Some("twinning-consult")),
        Answer::After { after_ms: 300, dtmf: vec![CONSULT_1002, (4000, "9")] },
        Answer::Busy,
        10000,
    );
    let started = c.consult("started");
    assert_eq!(started.must("Exten"), "1002");
    let failed = c.consult("failed");
    assert_eq!(failed.must("Detail"), "busy", "{failed:?}");
    let unheld = c.ami.event("MusicOnHoldStop", &[], WAIT).expect("the caller is taken off hold");
    assert!(unheld.must("Channel").starts_with("PJSIP/caller-"), "{unheld:?}");
    assert_eq!(c.caller_hears(Duration::from_secs(5)), "9", "the mobile talks to the caller again");
    c.ends_once();

    let mut c = call(
        &conf(Some("twinning-consult")),
        Answer::KeysThenHangUp { after_ms: 300, dtmf: vec![CONSULT_1002], hold_ms: 3000 },
        Answer::Never,
        20000,
    );
    c.started();
    let cancelled = c.consult("cancelled");
    assert_eq!(cancelled.must("Detail"), "the mobile hung up");
    let end = c.ami.event("TwinningEnd", &[], WAIT).expect("the call ends with the mobile");
    assert_eq!(end.must("AnsweredBy"), "mobile", "{end:?}");
    c.third.wait(Duration::from_secs(10));
    assert_eq!(c.third.received("CANCEL").len(), 1, "1002 stops ringing: {}", c.third.summary());
    assert_eq!(c.caller.wait(WAIT), Some(0), "{}", c.caller.summary());
    assert!(c.ami.drain_events("TwinningEnd", Duration::from_secs(2)).is_empty(), "one end per call");
    c.no_channel_left();
}

#[test]
fn a_consult_without_a_context_or_to_a_blocked_number_is_refused_and_nothing_is_dialed() {
    for (consult_context, keys, detail) in [
        (None, "**41002#", "consult_context is not set"),
        (Some("twinning-consult"), "**409001234#", "blocked prefix 09"),
    ] {
        let mut c = call(
            &conf(consult_context),
            Answer::After { after_ms: 300, dtmf: vec![(800, keys), (2500, "9")] },
            Answer::After { after_ms: 500, dtmf: vec![] },
            8000,
        );
        let refused = c.consult("refused");
        assert!(refused.must("Detail").contains(detail), "{refused:?}");
        // The mobile is still with the caller, who was never held.
        assert_eq!(c.caller_hears(Duration::from_secs(4)), "9");
        c.ends_once();
        assert!(c.third.received("INVITE").is_empty(), "nothing dialed: {}", c.third.summary());
        assert!(
            c.ami.drain_events("MusicOnHoldStart", Duration::from_millis(200)).is_empty(),
            "the caller was never held"
        );
        assert!(
            c.ami
                .drain_events("DialBegin", Duration::from_millis(200))
                .iter()
                .all(|d| d.get("DestChannel").is_none_or(|ch| !ch.starts_with("Local/"))),
            "no consult placed"
        );
    }
}
