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
