//! One user's complete settings, and how each field is parsed, bounded and shown.

use super::error::SettingError;
use super::field::FIRST_EXTRA_DESTINATION;
use super::values::{format_bool, parse_bool, MAX_VALUE_LEN};
use super::{
    AccountCode, CallerIdMode, CallerList, DeskDevice, DestinationField, DestinationPolicy, Field, Millis,
    PhoneNumber, Pin, Schedule,
};
use crate::call::MAX_DESTINATIONS;

/// What remote destination 2 … 10 sets of its own; `None` is the user's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraDestination {
    pub number: Option<PhoneNumber>,
    pub enabled: Option<bool>,
    pub dial_delay: Option<Millis>,
    pub answer_guard: Option<Millis>,
    pub ring_time: Option<Millis>,
}

/// One remote destination as it applies: its own values, or the user's where it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDestination<'a> {
    /// 1 is `mobile`, 2 … 10 are `mobile2` … `mobile10`.
    pub index: u8,
    pub number: &'a PhoneNumber,
    pub enabled: bool,
    pub dial_delay: Millis,
    pub answer_guard: Millis,
    pub ring_time: Millis,
}

const EXTRA: usize = (MAX_DESTINATIONS - FIRST_EXTRA_DESTINATION + 1) as usize;

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
    /// Callers who never ring a remote destination (the desk still rings).
    pub block_callers: CallerList,
    /// If not empty, the only callers who ring the remote destinations.
    pub allow_callers: CallerList,
    /// Remote legs are billed to this account code; `None` keeps the PBX's own.
    pub account_code: Option<AccountCode>,
    /// The caller ID a refused remote leg is retried with once; `None` is off. Never
    /// [`CallerIdMode::Original`]: a fallback is a company number.
    pub caller_id_fallback: Option<CallerIdMode>,
    /// Mobile Direct Access: from a remote destination, with the PIN, dial out as the user.
    pub mobile_access: bool,
    /// Mobile Callback: a call from a remote destination is called back for the same.
    pub mobile_callback: bool,
    /// Most access and callback calls in an hour.
    pub access_rate: u32,
    /// Destinations 2 … 10 (`extra[0]` is `mobile2`).
    pub extra: [ExtraDestination; EXTRA],
}

impl UserSettings {
    /// Access and callback calls a user may make in an hour unless set otherwise.
    pub const DEFAULT_ACCESS_RATE: u32 = 10;
    /// The most `access_rate` may be.
    pub const MAX_ACCESS_RATE: u32 = 100;

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
            block_callers: CallerList::default(),
            allow_callers: CallerList::default(),
            account_code: None,
            caller_id_fallback: None,
            mobile_access: false,
            mobile_callback: false,
            access_rate: Self::DEFAULT_ACCESS_RATE,
            extra: Default::default(),
        }
    }

    /// Remote destination `index` (1 … 10) if it has a number, with the values that apply.
    pub fn destination(&self, index: u8) -> Option<RemoteDestination<'_>> {
        if index == 1 {
            return self.mobile.as_ref().map(|number| RemoteDestination {
                index,
                number,
                enabled: self.enabled,
                dial_delay: self.dial_delay,
                answer_guard: self.answer_guard,
                ring_time: self.ring_time,
            });
        }
        let d = self.extra_destination(index)?;
        d.number.as_ref().map(|number| RemoteDestination {
            index,
            number,
            enabled: d.enabled.unwrap_or(self.enabled),
            dial_delay: d.dial_delay.unwrap_or(self.dial_delay),
            answer_guard: d.answer_guard.unwrap_or(self.answer_guard),
            ring_time: d.ring_time.unwrap_or(self.ring_time),
        })
    }

    /// Every remote destination with a number, destination 1 first.
    pub fn destinations(&self) -> impl Iterator<Item = RemoteDestination<'_>> + '_ {
        (1..=MAX_DESTINATIONS).filter_map(|i| self.destination(i))
    }

    /// Whether destination `index` (2 … 10) is switched off by its own
    /// `mobile<n>_enabled = no` (not merely following `enabled`).
    pub fn destination_switched_off(&self, index: u8) -> bool {
        self.extra_destination(index).is_some_and(|d| d.enabled == Some(false))
    }

    /// Whether twinning is on: no DND, and some destination with a number is enabled.
    pub fn twinning_on(&self) -> bool {
        !self.dnd && self.destinations().any(|d| d.enabled)
    }

    fn extra_destination(&self, index: u8) -> Option<&ExtraDestination> {
        self.extra.get(usize::from(index.checked_sub(FIRST_EXTRA_DESTINATION)?))
    }

    /// Whether a caller with `number` may ring the remote destinations: not blocked, and
    /// on the allow list when there is one.
    pub fn admits_caller(&self, number: &str) -> bool {
        !self.block_callers.matches(number)
            && (self.allow_callers.is_empty() || self.allow_callers.matches(number))
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
            Field::MobileAccess => self.mobile_access = parse_bool(raw).map_err(inv)?,
            Field::MobileCallback => self.mobile_callback = parse_bool(raw).map_err(inv)?,
            Field::AccessRate => {
                self.access_rate = match raw.parse::<u32>() {
                    Ok(n) if (1..=Self::MAX_ACCESS_RATE).contains(&n) => n,
                    _ => {
                        return Err(inv(format!(
                            "a whole number of calls an hour from 1 to {}",
                            Self::MAX_ACCESS_RATE
                        )))
                    }
                }
            }
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
            Field::BlockCallers => self.block_callers = CallerList::parse(raw).map_err(inv)?,
            Field::AllowCallers => self.allow_callers = CallerList::parse(raw).map_err(inv)?,
            Field::AccountCode => {
                self.account_code =
                    if raw.is_empty() { None } else { Some(AccountCode::parse(raw).map_err(inv)?) }
            }
            Field::CallerIdFallback => {
                self.caller_id_fallback = match raw {
                    "" => None,
                    _ => match CallerIdMode::parse(raw).map_err(inv)? {
                        CallerIdMode::Original => {
                            return Err(inv(
                                "a fallback is a company number: extension, did or a number".into()
                            ))
                        }
                        mode => Some(mode),
                    },
                }
            }
            Field::Destination(n, f) => {
                let i = usize::from(n - FIRST_EXTRA_DESTINATION);
                // Parsed before anything changes: on error nothing does.
                let mut d = self.extra[i].clone();
                match f {
                    DestinationField::Number => {
                        d.number = if raw.is_empty() {
                            None
                        } else {
                            let number = PhoneNumber::parse(raw).map_err(inv)?;
                            policy
                                .check(&number)
                                .map_err(|e| inv(format!("refused by destination policy: {e}")))?;
                            Some(number)
                        }
                    }
                    // Empty: back to the user's own value.
                    _ if raw.is_empty() => match f {
                        DestinationField::Enabled => d.enabled = None,
                        DestinationField::DialDelay => d.dial_delay = None,
                        DestinationField::AnswerGuard => d.answer_guard = None,
                        _ => d.ring_time = None,
                    },
                    DestinationField::Enabled => d.enabled = Some(parse_bool(raw).map_err(inv)?),
                    DestinationField::DialDelay => {
                        d.dial_delay = Some(parse_timer(field, raw, Millis(0), Millis::from_secs(120))?)
                    }
                    DestinationField::AnswerGuard => {
                        d.answer_guard = Some(parse_timer(field, raw, Millis(0), Millis::from_secs(30))?)
                    }
                    DestinationField::RingTime => {
                        d.ring_time =
                            Some(parse_timer(field, raw, Millis::from_secs(5), Millis::from_secs(600))?)
                    }
                }
                self.extra[i] = d;
            }
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
            Field::Pin => self.pin.as_ref().map(|p| p.stored().to_owned()).unwrap_or_default(),
            Field::BlockCallers => self.block_callers.to_string(),
            Field::AllowCallers => self.allow_callers.to_string(),
            Field::AccountCode => self.account_code.as_ref().map(ToString::to_string).unwrap_or_default(),
            Field::CallerIdFallback => {
                self.caller_id_fallback.as_ref().map(ToString::to_string).unwrap_or_default()
            }
            Field::MobileAccess => format_bool(self.mobile_access).into(),
            Field::MobileCallback => format_bool(self.mobile_callback).into(),
            Field::AccessRate => self.access_rate.to_string(),
            // The value that applies: the destination's own, or the user's.
            Field::Destination(n, f) => {
                let d = &self.extra[usize::from(n - FIRST_EXTRA_DESTINATION)];
                match f {
                    DestinationField::Number => {
                        d.number.as_ref().map(ToString::to_string).unwrap_or_default()
                    }
                    DestinationField::Enabled => format_bool(d.enabled.unwrap_or(self.enabled)).into(),
                    DestinationField::DialDelay => d.dial_delay.unwrap_or(self.dial_delay).to_string(),
                    DestinationField::AnswerGuard => d.answer_guard.unwrap_or(self.answer_guard).to_string(),
                    DestinationField::RingTime => d.ring_time.unwrap_or(self.ring_time).to_string(),
                }
            }
        }
    }

    /// Whether destination `n`'s field is its own value rather than the user's.
    pub fn is_own_value(&self, field: Field) -> bool {
        let Field::Destination(n, f) = field else { return true };
        let d = &self.extra[usize::from(n - FIRST_EXTRA_DESTINATION)];
        match f {
            DestinationField::Number => d.number.is_some(),
            DestinationField::Enabled => d.enabled.is_some(),
            DestinationField::DialDelay => d.dial_delay.is_some(),
            DestinationField::AnswerGuard => d.answer_guard.is_some(),
            DestinationField::RingTime => d.ring_time.is_some(),
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
            (Field::MobileAccess, "yes"),
            (Field::MobileCallback, "yes"),
            (Field::AccessRate, "4"),
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
            (Field::MobileAccess, "sometimes"),
            (Field::MobileCallback, "1;2"),
            (Field::AccessRate, "0"),
            (Field::AccessRate, "101"),
            (Field::AccessRate, "-3"),
            (Field::AccessRate, "5&PJSIP/x"),
        ] {
            assert!(u.set(field, bad, &policy).is_err(), "{field}={bad:?} was accepted");
            assert_eq!(u, before);
        }
        assert!(u.set(Field::Mobile, &"1".repeat(300), &policy).is_err());
    }

    #[test]
    fn destinations_and_caller_lists_round_trip_and_default_to_the_users_values() {
        let policy = DestinationPolicy { blocked_prefixes: vec!["09".into()], ..Default::default() };
        let mut u = user();
        u.set(Field::RingTime, "25", &policy).unwrap();
        let d = |n, f| Field::Destination(n, f);
        assert_eq!(u.get(d(4, DestinationField::RingTime)), "25", "the user's own value applies");
        for (field, text) in [
            (d(2, DestinationField::Number), "07700900222"),
            (d(2, DestinationField::Enabled), "no"),
            (d(2, DestinationField::DialDelay), "1.5"),
            (d(10, DestinationField::AnswerGuard), "3"),
            (d(10, DestinationField::RingTime), "40"),
            (Field::BlockCallers, "0161*,anonymous"),
            (Field::AllowCallers, "442071234567"),
        ] {
            u.set(field, text, &policy).unwrap();
            assert_eq!(u.get(field), text, "{field}");
            assert!(u.is_own_value(field));
        }
        u.set(d(10, DestinationField::RingTime), "", &policy).unwrap();
        assert_eq!(u.get(d(10, DestinationField::RingTime)), "25", "cleared: the user's again");
        assert!(!u.is_own_value(d(10, DestinationField::RingTime)));
        let before = u.clone();
        for (field, bad) in [
            (d(3, DestinationField::Number), "0909"),
            (d(3, DestinationField::Number), "0770&PJSIP/2000"),
            (d(3, DestinationField::DialDelay), "121"),
            (d(3, DestinationField::RingTime), "4"),
            (d(3, DestinationField::Enabled), "maybe"),
            (Field::BlockCallers, "0161,,0207"),
            (Field::AllowCallers, "PJSIP/x"),
        ] {
            assert!(u.set(field, bad, &policy).is_err(), "{field}={bad:?} was accepted");
            assert_eq!(u, before);
        }
        let remote: Vec<u8> = u.destinations().map(|d| d.index).collect();
        assert_eq!(remote, [2], "mobile is unset; mobile2 has a number");
        assert!(!u.destination(2).unwrap().enabled);
    }
}
