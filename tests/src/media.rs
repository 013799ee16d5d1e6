//! What the caller hears across a handover: the desk and the mobile "talk" with different
//! µ-law sample values, and the caller's announced RTP port is a socket this process
//! listens on, so the switch from one device to the other can be timed at the caller.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::pbx::{self, PhonePorts};
use crate::sipp::{Answer, Caller, Phone};

const WAIT: Duration = Duration::from_secs(40);
const DESK_SOUND: u8 = 0x9a;
const MOBILE_SOUND: u8 = 0x2b;

/// Places a call answered on the desk, pushes it to the mobile by AMI, and returns the time
/// from the desk's last audio packet to the mobile's first at the caller. Panics if the
/// caller did not hear the desk, then the mobile, never both at once.
pub fn handover_gap(twinning_conf: &str) -> Duration {
    let ports = PhonePorts::new();
    let pbx = pbx::start(twinning_conf, "", ports);
    let mut ami = pbx.ami();
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let media_port = listener.local_addr().unwrap().port();
    let mut desk = Phone::uas(
        &pbx,
        "desk",
        ports.desk,
        &Answer::Talk { after_ms: 300, seconds: 12, sample: DESK_SOUND },
    );
    let mut first_mobile = Phone::uas(&pbx, "mobile", ports.mobile, &Answer::Never);
    let mut caller =
        Phone::call_listening(&pbx, "caller", "1001", &Caller::HangUpAfter { hold_ms: 8000 }, media_port);
    ami.event("TwinningBridged", &[("Leg", "desk")], WAIT).expect("desk answered");
    first_mobile.wait(Duration::from_secs(5));
    let mut mobile = Phone::uas(
        &pbx,
        "mobile2",
        ports.mobile,
        &Answer::Talk { after_ms: 500, seconds: 12, sample: MOBILE_SOUND },
    );

    let started = Instant::now();
    let pushed_at = Duration::from_millis(2000);
    let mut arrivals: Vec<(Duration, u8)> = Vec::new();
    let mut pushed = false;
    let mut buf = [0u8; 2048];
    while started.elapsed() < Duration::from_secs(6) {
        if !pushed && started.elapsed() >= pushed_at {
            let r = ami.action("TwinningHandover", &[("User", "1001"), ("To", "mobile")]);
            assert_eq!(r.get("Response"), Some("Success"), "{r:?}");
            pushed = true;
        }
        if let Ok(n) = listener.recv(&mut buf) {
            if n > 12 + 80 {
                // The middle of the payload (past any header extension) says who is talking.
                arrivals.push((started.elapsed(), buf[12 + 80]));
            }
        }
    }
    let completed = ami.event("TwinningHandover", &[("Result", "completed")], WAIT).expect("pushed");
    assert_eq!(completed.must("To"), "mobile");
    let last_desk =
        arrivals.iter().filter(|a| a.1 == DESK_SOUND).map(|a| a.0).max().expect("the caller heard the desk");
    let first_mobile = arrivals
        .iter()
        .filter(|a| a.1 == MOBILE_SOUND)
        .map(|a| a.0)
        .min()
        .expect("the caller heard the mobile");
    assert!(
        first_mobile > last_desk - Duration::from_millis(60),
        "never both at once: desk until {last_desk:?}, mobile from {first_mobile:?}"
    );
    let after = arrivals.iter().filter(|a| a.1 == MOBILE_SOUND).count();
    assert!(after > 50, "the mobile's audio keeps flowing to the caller: {after} packets");
    caller.wait(WAIT);
    desk.wait(Duration::from_secs(5));
    mobile.wait(Duration::from_secs(5));
    assert!(mobile.answered() && desk.received("BYE").len() == 1, "{}\n{}", desk.summary(), mobile.summary());
    first_mobile.saturating_sub(last_desk)
}

/// The keys (RFC 4733 telephone events) arriving at `listener` (a caller's announced RTP
/// port) for `within`, each event once (its end packets repeat it), in order, with when
/// each first arrived. Meanwhile the caller talks as a phone does: a µ-law packet every
/// 20 ms to the PBX's media address once the caller's 200 OK (in `caller_trace`) has given it, so the PBX has
/// a stream to send the caller's keys with (a PBX may send queued keys only as it reads
/// or writes media).
pub fn keys_heard(
    listener: &UdpSocket,
    caller_trace: &std::path::Path,
    within: Duration,
) -> Vec<(Instant, char)> {
    listener.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let started = Instant::now();
    let mut seen: Vec<(u32, u32)> = Vec::new();
    let mut keys = Vec::new();
    let mut buf = [0u8; 2048];
    let mut pbx: Option<std::net::SocketAddr> = None;
    let (mut seq, mut next_packet) = (0u16, Instant::now());
    while started.elapsed() < within {
        if pbx.is_none() {
            pbx = answered_media(caller_trace);
        }
        if let Some(to) = pbx.filter(|_| Instant::now() >= next_packet) {
            let mut packet = vec![0x80, 0];
            packet.extend(seq.to_be_bytes());
            packet.extend((u32::from(seq) * 160).to_be_bytes());
            packet.extend(0x5151_0002u32.to_be_bytes());
            packet.extend([0xffu8; 160]);
            let _ = listener.send_to(&packet, to);
            seq = seq.wrapping_add(1);
            next_packet += Duration::from_millis(20);
        }
        let Ok(n) = listener.recv(&mut buf) else { continue };
        if let Some((event, id)) = telephone_event(&buf[..n]) {
            if !seen.contains(&id) {
                seen.push(id);
                keys.push((Instant::now(), event));
            }
        }
    }
    keys
}

/// Where the PBX takes the caller's audio: the connection address and audio port of the
/// SDP in the 200 OK `caller` received, once it has.
fn answered_media(caller_trace: &std::path::Path) -> Option<std::net::SocketAddr> {
    let ok = crate::sipp::messages_in(caller_trace)
        .into_iter()
        .find(|m| m.received && m.is_response(200) && m.text.contains("m=audio"))?;
    let address = ok.text.lines().find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?.trim().to_owned();
    let port = ok
        .text
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?
        .split_whitespace()
        .next()?
        .parse::<u16>()
        .ok()?;
    format!("{address}:{port}").parse().ok()
}

/// The key of an RTP telephone-event packet and what identifies its event (SSRC and RTP
/// timestamp); `None` for audio and anything else.
fn telephone_event(packet: &[u8]) -> Option<(char, (u32, u32))> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    // The payload type the caller offered for telephone-event.
    if packet[1] & 0x7f != 101 {
        return None;
    }
    let mut at = 12 + 4 * usize::from(packet[0] & 0x0f);
    if packet[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*packet.get(at + 2)?, *packet.get(at + 3)?]);
        at += 4 + 4 * usize::from(words);
    }
    let event = *packet.get(at)?;
    let key = match event {
        0..=9 => (b'0' + event) as char,
        10 => '*',
        11 => '#',
        _ => return None,
    };
    let timestamp = u32::from_be_bytes(packet[4..8].try_into().ok()?);
    let ssrc = u32::from_be_bytes(packet[8..12].try_into().ok()?);
    Some((key, (ssrc, timestamp)))
}
