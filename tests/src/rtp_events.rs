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

/// The pcap bytes for `keys` (Ethernet/IPv4/UDP/RTP; SIPp rewrites addresses and ports
/// but keeps the RTP header). `part` numbers the captures played in one call: each starts
/// at its own RTP sequence number and timestamp, or the receiver would take a later
/// capture's events for repeats of an earlier one's.
pub fn pcap(keys: &str, part: u32) -> Vec<u8> {
    let mut out = Vec::new();
    // Global header: magic, version 2.4, GMT, accuracy, snaplen, Ethernet.
    out.extend(0xa1b2c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend(0i32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());

    let (mut seq, mut timestamp, mut clock_us) =
        (1000u16.wrapping_add(part as u16 * 1000), 8000 + part * 800_000, 0u64);
    let packet = |out: &mut Vec<u8>,
                  marker: bool,
                  ts: u32,
                  event: u8,
                  end: bool,
                  duration: u16,
                  at_us: u64,
                  seq: u16| {
        let mut rtp = vec![0x80, (if marker { 0x80 } else { 0 }) | PAYLOAD_TYPE];
        rtp.extend(seq.to_be_bytes());
        rtp.extend(ts.to_be_bytes());
        rtp.extend(0x7711_2233u32.to_be_bytes());
        rtp.extend([event, (if end { 0x80 } else { 0 }) | 10]);
        rtp.extend(duration.to_be_bytes());
        let udp_len = 8 + rtp.len() as u16;
        let ip_len = 20 + udp_len;
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend([0x45, 0]);
        frame.extend(ip_len.to_be_bytes());
        frame.extend([0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend(40000u16.to_be_bytes());
        frame.extend(40002u16.to_be_bytes());
        frame.extend(udp_len.to_be_bytes());
        frame.extend([0, 0]);
        frame.extend(rtp);
        out.extend(((at_us / 1_000_000) as u32).to_le_bytes());
        out.extend(((at_us % 1_000_000) as u32).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.write_all(&frame).unwrap();
    };
    for key in keys.chars() {
        let Some(event) = event_code(key) else { continue };
        for i in 0..PACKETS_PER_KEY {
            let duration = ((i + 1) * SAMPLES_PER_PACKET) as u16;
            packet(&mut out, i == 0, timestamp, event, false, duration, clock_us, seq);
            seq = seq.wrapping_add(1);
            clock_us += 20_000;
        }
        let duration = ((PACKETS_PER_KEY + 1) * SAMPLES_PER_PACKET) as u16;
        // The end of the event is sent three times, as RFC 4733 recommends.
        for _ in 0..3 {
            packet(&mut out, false, timestamp, event, true, duration, clock_us, seq);
            seq = seq.wrapping_add(1);
        }
        clock_us += 20_000 + u64::from(GAP_SAMPLES) * 125;
        timestamp = timestamp.wrapping_add((PACKETS_PER_KEY + 1) * SAMPLES_PER_PACKET + GAP_SAMPLES);
    }
    out
}

/// `seconds` of G.711 µ-law audio as RTP in a pcap, 20 ms a packet, for a phone to "talk"
/// with. Every sample is `sample`, so a listener can tell which phone it is hearing
/// (bridged µ-law legs pass the payload through unchanged).
pub fn pcap_audio(seconds: u32, sample: u8) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend(0i32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(65535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for i in 0..seconds * 50 {
        let mut rtp = vec![0x80, if i == 0 { 0x80 } else { 0 }];
        rtp.extend((i as u16).to_be_bytes());
        rtp.extend((i * SAMPLES_PER_PACKET).to_be_bytes());
        rtp.extend(0x5151_0001u32.to_be_bytes());
        rtp.extend([sample; 160]);
        let udp_len = 8 + rtp.len() as u16;
        let mut frame = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
        frame.extend((20 + udp_len).to_be_bytes());
        frame.extend([0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend(40000u16.to_be_bytes());
        frame.extend(40002u16.to_be_bytes());
        frame.extend(udp_len.to_be_bytes());
        frame.extend([0, 0]);
        frame.extend(rtp);
        let at_us = u64::from(i) * 20_000;
        out.extend(((at_us / 1_000_000) as u32).to_le_bytes());
        out.extend(((at_us % 1_000_000) as u32).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend((frame.len() as u32).to_le_bytes());
        out.extend(frame);
    }
    out
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
