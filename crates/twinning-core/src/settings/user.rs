//! One user's complete settings, and how each field is parsed, bounded and shown.

use super::error::SettingError;
use super::values::{format_bool, parse_bool, MAX_VALUE_LEN};
use super::{CallerIdMode, DeskDevice, DestinationPolicy, Field, Millis, PhoneNumber, Pin, Schedule};

/// Everything that decides how one user's calls are twinned. Values are always valid:
/// they can only change through [`UserSettings::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSettings {
    pub desk: DeskDevice,
    /// No number means the user has no twin: only the desk rings.
    pub mobile: Option<PhoneNumber>,
    pub enabled: bool,
    pub dial_delay: Millis,
    pub answer_guard: Millis,
    pub confirm: bool,
    pub ring_time: Millis,
    pub caller_id: CallerIdMode,
    pub dnd: bool,
    pub schedule: Schedule,
    pub hunt_group_calls: bool,
    pub forwarded_calls: bool,
    pub pin: Option<Pin>,
}

impl UserSettings {
    /// Built-in defaults, used where neither `[general]` nor the user's section says
    /// otherwise. Twinning starts off, so adding a user to the file rings nothing outside
    /// until the user or admin turns it on. The timers follow the peers: FreePBX rings 20 s;
    /// Cisco treats an answer within 1.5 s as a voicemail.
    pub fn builtin(desk: DeskDevice) -> Self {
        UserSettings {
            desk,
            mobile: None,
            enabled: false,
            dial_delay: Millis(0),
            answer_guard: Millis(1_500),
            confirm: false,
            ring_time: Millis::from_secs(20),
            caller_id: CallerIdMode::Original,
            dnd: false,
            schedule: Schedule::always(),
            hunt_group_calls: false,
            forwarded_calls: false,
            pin: None,
        }
    }

    /// Parses `raw` as a value of `field` and stores it. On error nothing changes.
    pub fn set(&mut self, field: Field, raw: &str, policy: &DestinationPolicy) -> Result<(), SettingError> {
        let raw = raw.trim();
        if raw.len() > MAX_VALUE_LEN {
            return Err(SettingError::invalid(
                field,
                format!("a value is at most {MAX_VALUE_LEN} characters"),
            ));
        }
        let inv = |reason: String| SettingError::invalid(field, reason);
        match field {
            Field::Desk => self.desk = DeskDevice::parse(raw).map_err(inv)?,
            Field::Mobile => {
                self.mobile = if raw.is_empty() {
                    None
                } else {
                    let number = PhoneNumber::parse(raw).map_err(inv)?;
                    policy.check(&number).map_err(|e| inv(format!("refused by destination policy: {e}")))?;
                    Some(number)
                }
            }
            Field::Enabled => self.enabled = parse_bool(raw).map_err(inv)?,
            Field::Confirm => self.confirm = parse_bool(raw).map_err(inv)?,
            Field::Dnd => self.dnd = parse_bool(raw).map_err(inv)?,
            Field::HuntGroupCalls => self.hunt_group_calls = parse_bool(raw).map_err(inv)?,
            Field::ForwardedCalls => self.forwarded_calls = parse_bool(raw).map_err(inv)?,
            Field::DialDelay => self.dial_delay = parse_timer(field, raw, Millis(0), Millis::from_secs(120))?,
            Field::AnswerGuard => {
                self.answer_guard = parse_timer(field, raw, Millis(0), Millis::from_secs(30))?
            }
            Field::RingTime => {
                self.ring_time = parse_timer(field, raw, Millis::from_secs(5), Millis::from_secs(600))?
            }
            Field::CallerId => self.caller_id = CallerIdMode::parse(raw).map_err(inv)?,
            Field::Schedule => self.schedule = Schedule::parse(raw).map_err(inv)?,
            Field::Pin => self.pin = if raw.is_empty() { None } else { Some(Pin::parse(raw).map_err(inv)?) },
        }
        Ok(())
    }

    /// The canonical text of a field: what [`UserSettings::set`] accepts back unchanged.
    pub fn get(&self, field: Field) -> String {
        match field {
            Field::Desk => self.desk.to_string(),
            Field::Mobile => self.mobile.as_ref().map(ToString::to_string).unwrap_or_default(),
            Field::Enabled => format_bool(self.enabled).into(),
            Field::DialDelay => self.dial_delay.to_string(),
            Field::AnswerGuard => self.answer_guard.to_string(),
            Field::Confirm => format_bool(self.confirm).into(),
            Field::RingTime => self.ring_time.to_string(),
            Field::CallerId => self.caller_id.to_string(),
            Field::Dnd => format_bool(self.dnd).into(),
            Field::Schedule => self.schedule.to_string(),
            Field::HuntGroupCalls => format_bool(self.hunt_group_calls).into(),
            Field::ForwardedCalls => format_bool(self.forwarded_calls).into(),
            Field::Pin => self.pin.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        }
    }

    /// The field as listings and events show it: a set PIN is masked.
    pub fn display(&self, field: Field) -> String {
        let value = self.get(field);
        mask_secret(field, &value)
    }
}

pub(crate) fn mask_secret(field: Field, value: &str) -> String {
    if field.is_secret() && !value.is_empty() {
        "****".into()
    } else {
        value.to_owned()
    }
}

fn parse_timer(field: Field, raw: &str, min: Millis, max: Millis) -> Result<Millis, SettingError> {
    let value = Millis::parse(raw).map_err(|e| SettingError::invalid(field, e))?;
    if value < min || value > max {
        return Err(SettingError::invalid(field, format!("{value} s is outside {min} to {max} s")));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserSettings {
        UserSettings::builtin(DeskDevice::parse("PJSIP/1001").unwrap())
    }

    #[test]
    fn every_field_round_trips_its_canonical_text() {
        let policy = DestinationPolicy::default();
        let mut u = user();
        let samples = [
            (Field::Mobile, "07700900123"),
            (Field::Enabled, "yes"),
            (Field::DialDelay, "2.5"),
            (Field::AnswerGuard, "1.5"),
            (Field::Confirm, "yes"),
            (Field::RingTime, "25"),
            (Field::CallerId, "+442071234567"),
            (Field::Dnd, "no"),
            (Field::Schedule, "mon-fri 08:00-18:00"),
            (Field::HuntGroupCalls, "yes"),
            (Field::ForwardedCalls, "no"),
            (Field::Pin, "2468"),
            (Field::Desk, "PJSIP/1002"),
        ];
        for (field, text) in samples {
            u.set(field, text, &policy).unwrap();
            assert_eq!(u.get(field), text, "{field}");
        }
        assert_eq!(u.display(Field::Pin), "****");
    }

    #[test]
    fn a_refused_value_changes_nothing() {
        let policy = DestinationPolicy { blocked_prefixes: vec!["09".into()], ..Default::default() };
        let mut u = user();
        u.set(Field::Mobile, "07700900123", &policy).unwrap();
        let before = u.clone();
        for (field, bad) in [
            (Field::Mobile, "0909"),
            (Field::Mobile, "0770&PJSIP/2000"),
            (Field::Mobile, "+"),
            (Field::DialDelay, "-1"),
            (Field::DialDelay, "121"),
            (Field::RingTime, "4"),
            (Field::AnswerGuard, "31"),
            (Field::Enabled, "maybe"),
            (Field::CallerId, "anonymous"),
            (Field::Pin, "12"),
            (Field::Schedule, "whenever"),
        ] {
            assert!(u.set(field, bad, &policy).is_err(), "{field}={bad:?} was accepted");
            assert_eq!(u, before);
        }
        assert!(u.set(Field::Mobile, &"1".repeat(300), &policy).is_err());
    }
}
