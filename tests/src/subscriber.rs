//! A phone's BLF key: SIPp subscribes to a hint or presence id (`Event: dialog`,
//! `application/dialog-info+xml`) and answers every NOTIFY, and the test reads the state
//! each NOTIFY carried, as the phone would light its lamp.

use std::time::{Duration, Instant};

use crate::sipp::{free_udp_port, Phone, SipSite};

/// A lamp as a dialog-info NOTIFY shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lamp {
    /// `terminated` (or no dialog at all): off.
    Idle,
    /// `early`: blinking.
    Ringing,
    /// `confirmed`: lit.
    InUse,
}

pub struct Subscriber {
    phone: Phone,
}

impl Subscriber {
    /// Subscribes as SIP user `from` to `target` (`twin1001`, `twinning+1001`) at the
    /// site's SIP port.
    pub fn watch(site: &dyn SipSite, name: &str, from: &str, target: &str) -> Subscriber {
        let xml = SCENARIO.replace("FROM", from);
        let dest = format!("127.0.0.1:{}", site.sip_port());
        // `-aa`: SIPp answers each NOTIFY itself, at once, whatever the scenario is doing;
        // a scenario's own reply can be overtaken by the next NOTIFY, which SIPp then takes
        // for an unexpected message and ends the subscription.
        let phone =
            Phone::spawn_load(site, name, free_udp_port(), &xml, &[&dest, "-s", target, "-aa"], Some(1));
        Subscriber { phone }
    }

    /// The lamp shown by each NOTIFY received so far, in order.
    pub fn lamps(&self) -> Vec<Lamp> {
        self.phone.received("NOTIFY").iter().map(|m| lamp_of(&m.text)).collect()
    }

    /// Waits until a NOTIFY after the first `seen` shows `lamp`; returns how many NOTIFYs
    /// have been received then, for the next wait.
    pub fn wait_for(&self, lamp: Lamp, seen: usize, timeout: Duration) -> Result<usize, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let lamps = self.lamps();
            if let Some(i) = lamps.iter().skip(seen).position(|l| *l == lamp) {
                return Ok(seen + i + 1);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no NOTIFY showing {lamp:?} after the first {seen}: {lamps:?}; {}",
                    self.summary()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lamp shown.
    pub fn last(&self) -> Option<Lamp> {
        self.lamps().last().copied()
    }

    pub fn summary(&self) -> String {
        self.phone.summary()
    }
}

/// The lamp a NOTIFY's dialog-info body shows: the first dialog's `<state>`.
pub fn lamp_of(notify: &str) -> Lamp {
    let state = notify
        .split("<state")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once("</state>"))
        .map(|(state, _)| state.trim());
    match state {
        Some("confirmed") => Lamp::InUse,
        Some("early") => Lamp::Ringing,
        _ => Lamp::Idle,
    }
}

/// SUBSCRIBE, then stay (SIPp answers the NOTIFYs) until stopped.
const SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="twinning lamp">
<send retrans="500"><![CDATA[
SUBSCRIBE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:FROM@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 SUBSCRIBE
Contact: <sip:FROM@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: dialog
Accept: application/dialog-info+xml
Expires: 600
Content-Length: 0

]]></send>
<recv response="100" optional="true"/>
<recv response="202" optional="true" next="subscribed"/>
<recv response="200"/>
<label id="subscribed"/>
<pause milliseconds="900000"/>
</scenario>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_dialog_state_of_a_notify() {
        let body = "<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"1\" state=\"full\" \
                    entity=\"sip:twin1001@127.0.0.1\"><dialog id=\"twin1001\" direction=\"recipient\">\
                    <state>early</state></dialog></dialog-info>";
        assert_eq!(lamp_of(body), Lamp::Ringing);
        assert_eq!(lamp_of(&body.replace("early", "confirmed")), Lamp::InUse);
        assert_eq!(lamp_of(&body.replace("early", "terminated")), Lamp::Idle);
        assert_eq!(lamp_of("<dialog-info state=\"full\"/>"), Lamp::Idle);
    }
}
