//! RFC 4733 telephone-event packets in a pcap file, for SIPp's `play_pcap_audio`.
//!
//! SIPp ships one pcap per key, all with the same RTP timestamp, so playing several in a
//! row makes Asterisk see one long key press. This writes a whole key sequence as one
//! capture, each key a separate event (its own timestamp, marker bit, three end packets).

use std::io::Write;

const PAYLOAD_TYPE: u8 = 101;
const SAMPLES_PER_PACKET: u32 = 160; // 20 ms at 8 kHz
const PACKETS_PER_KEY: u32 = 5; // 100 ms of key press
const GAP_SAMPLES: u32 = 800; // 100 ms between keys

fn event_code(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        _ => None,
    }
}

/// The RTP header fields that vary.
struct Header {
    marker: bool,
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
}

/// A pcap capture of RTP packets (Ethernet/IPv4/UDP; SIPp rewrites addresses and ports
/// but keeps the RTP header and the timing).
struct Capture(Vec<u8>);

impl Capture {
    fn new() -> Capture {
        let mut out = Vec::new();
        // Global header: magic, version 2.4, GMT, accuracy, snaplen, Ethernet.
        out.extend(0xa1b2c3d4u32.to_le_bytes());
        out.extend(2u16.to_le_bytes());
        out.extend(4u16.to_le_bytes());
        out.extend(0i32.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(65535u32.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        Capture(out)
    }

    /// Adds an RTP packet sent `at_us` after the capture starts.
    fn rtp(&mut self, at_us: u64, header: Header, payload: &[u8]) {
        let mut rtp = vec![0x80, (if header.marker { 0x80 } else { 0 }) | header.payload_type];
        rtp.extend(header.seq.to_be_bytes());
        rtp.extend(header.timestamp.to_be_bytes());
        rtp.extend(header.ssrc.to_be_bytes());
        rtp.extend(payload);
        let udp_len = 8 + rtp.len() as u16;
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
        frame.extend((20 + udp_len).to_be_bytes());
        frame.extend([0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend(40000u16.to_be_bytes());
        frame.extend(40002u16.to_be_bytes());
        frame.extend(udp_len.to_be_bytes());
        frame.extend([0, 0]);
        frame.extend(rtp);
        self.0.extend(((at_us / 1_000_000) as u32).to_le_bytes());
        self.0.extend(((at_us % 1_000_000) as u32).to_le_bytes());
        self.0.extend((frame.len() as u32).to_le_bytes());
        self.0.extend((frame.len() as u32).to_le_bytes());
        self.0.write_all(&frame).unwrap();
    }
}

/// The pcap bytes for `keys`. `part` numbers the captures played in one call: each starts
/// at its own RTP sequence number and timestamp, or the receiver would take a later
/// capture's events for repeats of an earlier one's.
pub fn pcap(keys: &str, part: u32) -> Vec<u8> {
    let mut capture = Capture::new();
    let (mut seq, mut timestamp, mut clock_us) =
        (1000u16.wrapping_add(part as u16 * 1000), 8000 + part * 800_000, 0u64);
    const SSRC: u32 = 0x7711_2233;
    for key in keys.chars() {
        let Some(event) = event_code(key) else { continue };
        for i in 0..PACKETS_PER_KEY {
            let duration = ((i + 1) * SAMPLES_PER_PACKET) as u16;
            let payload = [[event, 10], duration.to_be_bytes()].concat();
            let header = Header { marker: i == 0, payload_type: PAYLOAD_TYPE, seq, timestamp, ssrc: SSRC };
            capture.rtp(clock_us, header, &payload);
            seq = seq.wrapping_add(1);
            clock_us += 20_000;
        }
        let duration = ((PACKETS_PER_KEY + 1) * SAMPLES_PER_PACKET) as u16;
        // The end of the event is sent three times, as RFC 4733 recommends.
        for _ in 0..3 {
            let payload = [[event, 0x80 | 10], duration.to_be_bytes()].concat();
            let header = Header { marker: false, payload_type: PAYLOAD_TYPE, seq, timestamp, ssrc: SSRC };
            capture.rtp(clock_us, header, &payload);
            seq = seq.wrapping_add(1);
        }
        clock_us += 20_000 + u64::from(GAP_SAMPLES) * 125;
        timestamp = timestamp.wrapping_add((PACKETS_PER_KEY + 1) * SAMPLES_PER_PACKET + GAP_SAMPLES);
    }
    capture.0
}

/// `seconds` of G.711 µ-law audio as RTP in a pcap, 20 ms a packet, for a phone to "talk"
/// with. Every sample is `sample`, so a listener can tell which phone it is hearing
/// (bridged µ-law legs pass the payload through unchanged).
pub fn pcap_audio(seconds: u32, sample: u8) -> Vec<u8> {
    let mut capture = Capture::new();
    for i in 0..seconds * 50 {
        let header = Header {
            marker: i == 0,
            payload_type: 0,
            seq: i as u16,
            timestamp: i * SAMPLES_PER_PACKET,
            ssrc: 0x5151_0001,
        };
        capture.rtp(u64::from(i) * 20_000, header, &[sample; 160]);
    }
    capture.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_event_per_key() {
        let p = super::pcap("*8", 0);
        // 24-byte header, then 8 packets per key of 16 + 14 + 20 + 8 + 16 bytes.
        assert_eq!(p.len(), 24 + 2 * 8 * (16 + 58));
        assert_eq!(&p[..4], &0xa1b2c3d4u32.to_le_bytes());
    }
}
