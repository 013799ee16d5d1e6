//! Value types of the settings model. Each one can only be built by parsing, so a value
//! that exists has been validated: nothing downstream re-checks a `PhoneNumber` for `&`.

use std::fmt;

/// Characters that carry meaning in an Asterisk or FreeSWITCH dial string, dialplan
/// expression or application argument list. None of them is ever needed in a phone number,
/// and in an admin-written dial string they would fork, chain or re-parse the call.
const DIAL_STRING_METACHARS: &[char] = &[
    '&', ',', '|', '(', ')', '$', '{', '}', '[', ']', '^', '"', '\'', '\\', ';', '`', '<', '>', '!', '=',
    '*', '?', '~', '%', '#',
];

/// Longest text accepted for any single setting value; far above any real value.
pub(crate) const MAX_VALUE_LEN: usize = 256;

/// A twinning user: the section name in `twinning.conf`, usually the extension number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 40;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("a user name cannot be empty".into());
        }
        if s.len() > Self::MAX_LEN {
            return Err(format!("a user name is at most {} characters", Self::MAX_LEN));
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            return Err("a user name may only hold letters, digits, '_', '-' and '.'".into());
        }
        Ok(UserId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An outside number to ring: digits with an optional leading `+`. This is all that ever
/// reaches the `{number}` slot of the mobile dial template, so it must never be able to
/// alter the dial string around it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Syntactic bounds only; the destination policy narrows them.
    pub const MAX_DIGITS: usize = 20;

    pub fn parse(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix('+').unwrap_or(s);
        if digits.is_empty() {
            return Err("a number needs digits".into());
        }
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(format!(
                "a number may only hold digits and a leading '+', not {}",
                describe_char(bad)
            ));
        }
        if digits.len() > Self::MAX_DIGITS {
            return Err(format!("a number has at most {} digits", Self::MAX_DIGITS));
        }
        Ok(PhoneNumber(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without any leading `+`.
    pub fn digits(&self) -> &str {
        self.0.strip_prefix('+').unwrap_or(&self.0)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The desk device as `Tech/resource` (e.g. `PJSIP/1001`). Admin-only, but still checked:
/// a typo such as `PJSIP/1001&PJSIP/1002` must not silently ring two phones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskDevice {
    tech: String,
    resource: String,
}

impl DeskDevice {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (tech, resource) = split_dial_string(s)?;
        Ok(DeskDevice { tech: tech.to_owned(), resource: resource.to_owned() })
    }

    pub fn tech(&self) -> &str {
        &self.tech
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }
}

impl fmt::Display for DeskDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tech, self.resource)
    }
}

/// How the mobile leg is placed, from `[general] mobile_dial`, e.g. `PJSIP/{number}@trunk`
/// or `Local/{number}@twinning-out`. `{number}` appears exactly once, and only a validated
/// [`PhoneNumber`] is ever put there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileDialTemplate {
    tech: String,
    before: String,
    after: String,
}

impl MobileDialTemplate {
    pub const PLACEHOLDER: &'static str = "{number}";

    pub fn parse(s: &str) -> Result<Self, String> {
        let Some(at) = s.find(Self::PLACEHOLDER) else {
            return Err(format!("the mobile dial template needs '{}'", Self::PLACEHOLDER));
        };
        let before = &s[..at];
        let after = &s[at + Self::PLACEHOLDER.len()..];
        if after.contains(Self::PLACEHOLDER) {
            return Err(format!("'{}' may appear only once", Self::PLACEHOLDER));
        }
        // Check the template as it will be dialed, with a number standing in.
        let sample = format!("{before}0{after}");
        split_dial_string(&sample)?;
        let Some((tech, resource_before)) = before.split_once('/') else {
            return Err(format!("'{}' must follow 'Tech/', e.g. PJSIP/{{number}}@trunk", Self::PLACEHOLDER));
        };
        Ok(MobileDialTemplate {
            tech: tech.to_owned(),
            before: resource_before.to_owned(),
            after: after.to_owned(),
        })
    }

    pub fn tech(&self) -> &str {
        &self.tech
    }

    /// The resource part of the dial string for this number (what follows `Tech/`).
    pub fn resource_for(&self, number: &PhoneNumber) -> String {
        format!("{}{}{}", self.before, number.as_str(), self.after)
    }
}

impl fmt::Display for MobileDialTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}{}", self.tech, self.before, Self::PLACEHOLDER, self.after)
    }
}

fn split_dial_string(s: &str) -> Result<(&str, &str), String> {
    if s.len() > MAX_VALUE_LEN {
        return Err(format!("a dial string is at most {MAX_VALUE_LEN} characters"));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || !c.is_ascii() || DIAL_STRING_METACHARS.contains(c))
    {
        return Err(format!("a dial string may not contain {}", describe_char(bad)));
    }
    // FreeSWITCH's separator for dialing several destinations at once.
    if s.contains(":_:") {
        return Err("a dial string may not contain ':_:'".into());
    }
    let Some((tech, resource)) = s.split_once('/') else {
        return Err("a dial string has the form Tech/resource, e.g. PJSIP/1001".into());
    };
    if tech.is_empty() || !tech.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("'{tech}' is not a channel technology name"));
    }
    if resource.is_empty() {
        return Err("a dial string needs a resource after 'Tech/'".into());
    }
    Ok((tech, resource))
}

/// A duration in milliseconds, written in settings as seconds with up to three decimals
/// (`1.5`), optionally suffixed `s`, or as whole milliseconds suffixed `ms` (`1500ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    pub fn from_secs(s: u64) -> Self {
        Millis(s * 1000)
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let err = || {
            format!(
                "'{}' is not a duration; write seconds such as 20 or 1.5, or 1500ms",
                super::error::printable(s)
            )
        };
        if let Some(ms) = s.strip_suffix("ms") {
            if ms.is_empty() || ms.len() > 9 || !ms.chars().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            return ms.parse().map(Millis).map_err(|_| err());
        }
        let s = s.strip_suffix('s').unwrap_or(s);
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let all_digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || whole.len() > 6 || !all_digits(whole) || frac.len() > 3 || !all_digits(frac) {
            return Err(err());
        }
        if s.ends_with('.') {
            return Err(err());
        }
        let whole: u64 = whole.parse().map_err(|_| err())?;
        let frac_ms: u64 = format!("{frac:0<3}").parse().map_err(|_| err())?;
        Ok(Millis(whole * 1000 + frac_ms))
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Millis {
    /// Seconds, with only as many decimals as needed, so values round-trip exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, ms) = (self.0 / 1000, self.0 % 1000);
        if ms == 0 {
            write!(f, "{secs}")
        } else {
            let frac = format!("{ms:03}");
            write!(f, "{secs}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// The account code a remote leg is billed to: 1 to 40 letters, digits, `.`, `_` or `-`,
/// so it is one CSV field and one SQL value in every CDR backend, and can never carry a
/// separator, a quote or a variable into a dialplan that reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCode(String);

impl AccountCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 40 {
            return Err("an account code is 1 to 40 characters".into());
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(format!(
                "'{}' is not an account code: letters, digits, '.', '_' and '-' only",
                super::error::printable(s)
            ));
        }
        Ok(AccountCode(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the mobile leg shows as the calling number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerIdMode {
    /// The caller's own number, as on the desk phone.
    Original,
    /// The number the caller dialed to reach the user (the DID).
    Did,
    /// The user's extension, so the mobile sees an internal call.
    Extension,
    /// A fixed number, typically the company's main number, for trunks that refuse
    /// to present numbers they do not own.
    Fixed(PhoneNumber),
}

impl CallerIdMode {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "original" => Ok(CallerIdMode::Original),
            "did" => Ok(CallerIdMode::Did),
            "extension" => Ok(CallerIdMode::Extension),
            _ => PhoneNumber::parse(s)
                .map(CallerIdMode::Fixed)
                .map_err(|e| format!("use original, did, extension or a fixed number ({e})")),
        }
    }
}

impl fmt::Display for CallerIdMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallerIdMode::Original => f.write_str("original"),
            CallerIdMode::Did => f.write_str("did"),
            CallerIdMode::Extension => f.write_str("extension"),
            CallerIdMode::Fixed(n) => n.fmt(f),
        }
    }
}

/// Parses the boolean spellings Asterisk admins use (`ast_true`/`ast_false`).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "t" | "1" | "on" => Ok(true),
        "no" | "false" | "n" | "f" | "0" | "off" => Ok(false),
        _ => Err(format!("'{}' is not yes or no", super::error::printable(s))),
    }
}

pub fn format_bool(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub(crate) fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        c if c.is_control() => format!("the control character {}", c.escape_default()),
        c if !c.is_ascii() => format!("the non-ASCII character U+{:04X}", c as u32),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_refuse_everything_but_digits_and_leading_plus() {
        assert!(PhoneNumber::parse("+447700900123").is_ok());
        assert!(PhoneNumber::parse("07700900123").is_ok());
        for bad in [
            "",
            "+",
            "0770&PJSIP/1",
            "1,2",
            "12@x",
            "1/2",
            "1(2)",
            "1 2",
            "1\n2",
            "++1",
            "1+2",
            "١٢٣",
            "${EXTEN}",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(PhoneNumber::parse(&"1".repeat(21)).is_err());
    }

    #[test]
    fn durations_round_trip_and_refuse_junk() {
        for (text, ms) in
            [("0", 0), ("20", 20_000), ("1.5", 1_500), ("1.25s", 1_250), ("1500ms", 1_500), ("0.001", 1)]
        {
            assert_eq!(Millis::parse(text), Ok(Millis(ms)), "{text}");
        }
        assert_eq!(Millis(1_500).to_string(), "1.5");
        assert_eq!(Millis(20_000).to_string(), "20");
        assert_eq!(Millis(1).to_string(), "0.001");
        for bad in ["", "-1", "1.", ".5", "1.2345", "abc", "1e3", "99999999", "ms", "1 s"] {
            assert!(Millis::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn dial_template_places_only_the_number() {
        let t = MobileDialTemplate::parse("PJSIP/{number}@mobile-trunk").unwrap();
        assert_eq!(t.tech(), "PJSIP");
        assert_eq!(t.resource_for(&PhoneNumber::parse("+4477").unwrap()), "+4477@mobile-trunk");
        assert_eq!(t.to_string(), "PJSIP/{number}@mobile-trunk");
        for bad in [
            "PJSIP/trunk",
            "PJSIP/{number}&PJSIP/{number}",
            "{number}",
            "PJ SIP/{number}",
            "PJSIP/{number}@t,30",
            "PJSIP/{number}{number}",
        ] {
            assert!(MobileDialTemplate::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn desk_device_is_one_device() {
        assert_eq!(DeskDevice::parse("PJSIP/1001").unwrap().to_string(), "PJSIP/1001");
        for bad in
            ["PJSIP/1001&PJSIP/1002", "user/1001:_:user/1002", "1001", "/1001", "PJSIP/", "PJSIP/1001,20"]
        {
            assert!(DeskDevice::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
