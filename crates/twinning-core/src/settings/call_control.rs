//! Mid-call control from `[general]`: how long a handover rings, the DTMF codes the desk
//! and the mobile use during a call (the consult codes among them), where a blind
//! transfer and a consult call go, and how long a caller is held for the desk after the
//! mobile hangs up.

use std::fmt;

use super::Millis;

/// A DTMF feature code: 1 to 8 of `0-9`, `*`, `#`. Empty switches the feature off.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DtmfCode(String);

impl DtmfCode {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() > 8 || !s.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') {
            return Err(format!(
                "'{}' is not a DTMF code (up to 8 of 0-9, * and #)",
                super::error::printable(s)
            ));
        }
        Ok(DtmfCode(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_off(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for DtmfCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallControl {
    /// How long the other device rings when a call is pushed or pulled; unanswered, the
    /// call stays where it was (IP Office returns a pushed call after 15 s).
    pub handover_timeout: Millis,
    /// Pressed on the desk during a call: send the call to the mobile.
    pub push_code: DtmfCode,
    /// Pressed on the mobile during a call: move the call to the desk.
    pub desk_code: DtmfCode,
    /// Pressed on the mobile: put the caller on hold (music), or take them off it.
    pub hold_code: DtmfCode,
    /// Pressed on the mobile, then an extension and `#`: blind-transfer the caller.
    pub transfer_code: DtmfCode,
    /// The dialplan context a blind transfer dials the extension in.
    pub transfer_context: String,
    /// Pressed on the mobile, then a number and `#`: hold the caller and call the number
    /// as the user (a consult).
    pub consult_code: DtmfCode,
    /// Pressed on the mobile while consulting: the caller and the third party talk, the
    /// mobile leaves (attended transfer).
    pub attended_code: DtmfCode,
    /// Pressed on the mobile while consulting: all three in one conference.
    pub conference_code: DtmfCode,
    /// Pressed on the mobile while consulting: drop the third party, back to the caller.
    pub drop_code: DtmfCode,
    /// The dialplan context a consult call is placed in; `None` (unset or empty) refuses
    /// consults. There is no fallback to `transfer_context`: that context holds internal
    /// extensions only, and its digits are sent unchecked.
    pub consult_context: Option<String>,
    /// After the mobile hangs up, hold the caller this long for the desk to take the call;
    /// zero switches it off.
    pub desk_pickup_time: Millis,
}

impl Default for CallControl {
    fn default() -> Self {
        CallControl {
            handover_timeout: Millis::from_secs(15),
            push_code: DtmfCode("*8".into()),
            desk_code: DtmfCode("**1".into()),
            hold_code: DtmfCode("**2".into()),
            transfer_code: DtmfCode("**3".into()),
            transfer_context: "default".into(),
            consult_code: DtmfCode("**4".into()),
            attended_code: DtmfCode("**5".into()),
            conference_code: DtmfCode("**6".into()),
            drop_code: DtmfCode("**7".into()),
            consult_context: None,
            desk_pickup_time: Millis(0),
        }
    }
}

impl CallControl {
    /// Applies one `[general]` key; `None` if the key is not a call-control setting.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Option<Result<(), String>> {
        let timer = |min: u64, max: u64| -> Result<Millis, String> {
            let v = Millis::parse(value)?;
            if v < Millis::from_secs(min) || v > Millis::from_secs(max) {
                return Err(format!("{v} s is outside {min} to {max} s"));
            }
            Ok(v)
        };
        let result = match key {
            "handover_timeout" => timer(5, 120).map(|v| self.handover_timeout = v),
            "desk_pickup_time" => timer(0, 120).map(|v| self.desk_pickup_time = v),
            "push_code" => DtmfCode::parse(value).map(|c| self.push_code = c),
            "desk_code" => DtmfCode::parse(value).map(|c| self.desk_code = c),
            "hold_code" => DtmfCode::parse(value).map(|c| self.hold_code = c),
            "transfer_code" => DtmfCode::parse(value).map(|c| self.transfer_code = c),
            "consult_code" => DtmfCode::parse(value).map(|c| self.consult_code = c),
            "attended_code" => DtmfCode::parse(value).map(|c| self.attended_code = c),
            "conference_code" => DtmfCode::parse(value).map(|c| self.conference_code = c),
            "drop_code" => DtmfCode::parse(value).map(|c| self.drop_code = c),
            "transfer_context" => parse_context(value).map(|c| self.transfer_context = c),
            // Empty: unset, as when the key is absent (consults refused).
            "consult_context" => match value.trim() {
                "" => {
                    self.consult_context = None;
                    Ok(())
                }
                v => parse_context(v).map(|c| self.consult_context = Some(c)),
            },
            _ => return None,
        };
        Some(result)
    }

    /// The context a consult call is placed in; `None` means a consult is refused. It is
    /// never `transfer_context`: a blind transfer's digits reach that context unchecked, so
    /// it must hold internal extensions only, and a consult must dial out through routes the
    /// admin chose for it.
    pub fn consult_context(&self) -> Option<&str> {
        self.consult_context.as_deref()
    }

    /// The mobile's codes share one stream of digits, so none may start another.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mobile = [
            &self.desk_code,
            &self.hold_code,
            &self.transfer_code,
            &self.consult_code,
            &self.attended_code,
            &self.conference_code,
            &self.drop_code,
        ];
        for (i, a) in mobile.iter().enumerate() {
            for b in mobile.iter().skip(i + 1) {
                if !a.is_off() && !b.is_off() && (a.0.starts_with(&b.0) || b.0.starts_with(&a.0)) {
                    return Err(format!("mobile codes {a} and {b} overlap: one is the start of the other"));
                }
            }
        }
        Ok(())
    }
}

/// A dialplan context name: 1 to 64 letters, digits, `_` or `-` (nothing a dial string
/// or the dialplan would read as syntax).
pub(crate) fn parse_context(value: &str) -> Result<String, String> {
    let value = value.trim();
    if !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(value.to_owned())
    } else {
        Err("a context name is 1 to 64 letters, digits, '_' or '-'".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_overlaps() {
        assert!(DtmfCode::parse("**1").is_ok() && DtmfCode::parse("").unwrap().is_off());
        for bad in ["*a", "123456789", "1 2", "**&"] {
            assert!(DtmfCode::parse(bad).is_err(), "{bad}");
        }
        let mut c = CallControl::default();
        assert!(c.check().is_ok());
        c.set("hold_code", "**1").unwrap().unwrap();
        assert!(c.check().is_err());
        assert!(c.set("transfer_context", "from-internal").unwrap().is_ok());
        assert!(c.set("transfer_context", "x,y").unwrap().is_err());
        assert!(c.set("handover_timeout", "2").unwrap().is_err());
        assert!(c.set("nonsense", "1").is_none());

        // The consult codes join the mobile's stream: none may start another.
        let mut c = CallControl::default();
        assert_eq!(c.consult_context(), None, "unset: consults refused");
        c.set("transfer_context", "from-internal").unwrap().unwrap();
        assert_eq!(c.consult_context(), None, "never falls back to the transfer context");
        c.set("consult_context", "consult-out").unwrap().unwrap();
        assert_eq!(c.consult_context(), Some("consult-out"));
        assert!(c.set("consult_context", "a;b").unwrap().is_err());
        assert_eq!(c.consult_context(), Some("consult-out"), "a refused value changes nothing");
        c.set("consult_context", "").unwrap().unwrap();
        assert_eq!(c.consult_context(), None, "empty unsets it: consults refused");
        for (key, clash) in [
            ("consult_code", "**3"),
            ("attended_code", "**"),
            ("conference_code", "**11"),
            ("drop_code", "**4"),
        ] {
            let mut c = CallControl::default();
            c.set(key, clash).unwrap().unwrap();
            assert!(c.check().is_err(), "{key} = {clash} overlaps another mobile code");
        }
        let mut c = CallControl::default();
        c.set("conference_code", "*9").unwrap().unwrap();
        c.set("drop_code", "").unwrap().unwrap();
        assert!(c.check().is_ok(), "distinct codes, one off");
        assert!(c.set("attended_code", "**5x").unwrap().is_err());
    }
}
