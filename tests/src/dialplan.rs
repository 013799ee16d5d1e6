//! Running TWINNING() from real dialplan on a real channel: a Local channel is originated
//! into a test context that writes or reads a setting and reports the outcome with a
//! UserEvent. Values travel base64-encoded so commas, semicolons and `${...}` reach the
//! function exactly as given, as they would from a variable in a live dialplan.

use std::time::Duration;

use crate::ami::Ami;

/// The test context; add it to an instance's extensions.conf.
pub const CONTEXT: &str = "\
[twinning-test]
exten => write,1,Set(TWINNING(${TUSER},${TFIELD})=${BASE64_DECODE(${TVALUE64})})
 same => n,UserEvent(TwinningTestResult,Tag: ${TTAG},Error: ${BASE64_ENCODE(${TWINNINGERROR})},Value: ${BASE64_ENCODE(${TWINNING(${TUSER},${TFIELD})})})
 same => n,Hangup()
exten => read,1,Set(TWINNINGERROR=)
 same => n,Set(V=${TWINNING(${TUSER},${TFIELD})})
 same => n,UserEvent(TwinningTestResult,Tag: ${TTAG},Error: ${BASE64_ENCODE(${TWINNINGERROR})},Value: ${BASE64_ENCODE(${V})})
 same => n,Hangup()
";

/// Modules the test context needs.
pub const MODULES: &[&str] = &["func_base64.so"];

/// What the dialplan saw: TWINNINGERROR after the operation, and the value read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub error: String,
    pub value: String,
}

/// Runs `Set(TWINNING(user,field)=value)` on a channel.
pub fn write(ami: &mut Ami, user: &str, field: &str, value: &str) -> Outcome {
    run(ami, "write", user, field, value)
}

/// Reads `TWINNING(user,field)` on a channel.
pub fn read(ami: &mut Ami, user: &str, field: &str) -> Outcome {
    run(ami, "read", user, field, "")
}

fn run(ami: &mut Ami, exten: &str, user: &str, field: &str, value: &str) -> Outcome {
    static TAG: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let tag = format!("{}", TAG.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let vars = [
        format!("TUSER={user}"),
        format!("TFIELD={field}"),
        format!("TVALUE64={}", base64_encode(value.as_bytes())),
        format!("TTAG={tag}"),
    ];
    let channel = format!("Local/{exten}@twinning-test");
    let mut headers =
        vec![("Channel", channel.as_str()), ("Application", "Wait"), ("Data", "1"), ("Async", "true")];
    headers.extend(vars.iter().map(|v| ("Variable", v.as_str())));
    let r = ami.action("Originate", &headers);
    assert_eq!(r.get("Response"), Some("Success"), "originate failed: {r:?}");
    let ev = ami
        .event("UserEvent", &[("UserEvent", "TwinningTestResult"), ("Tag", &tag)], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("the dialplan did not report for {exten} {user},{field}"));
    Outcome { error: decode(ev.get("Error").unwrap_or("")), value: decode(ev.get("Value").unwrap_or("")) }
}

fn decode(s: &str) -> String {
    String::from_utf8_lossy(&base64_decode(s.trim())).into_owned()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let Some(v) = ALPHABET.iter().position(|&a| a == c) else { continue };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "mon-fri 08:00-18:00, sat", "0770&PJSIP/1;${X}"] {
            assert_eq!(base64_decode(&base64_encode(s.as_bytes())), s.as_bytes());
        }
        assert_eq!(base64_encode(b"abcd"), "YWJjZA==");
    }
}
