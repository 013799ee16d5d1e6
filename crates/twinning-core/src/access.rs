//! Mobile Direct Access (and the dialing half of Mobile Callback): a call from a user's
//! mobile dials out as the user. Every decision is here, so both PBXes make the same:
//! whose mobile is calling, whether that user may, how many such calls an hour, and
//! whether the number asked for may be dialed at all.
//!
//! The caller ID is only a claim (it is spoofed easily), so it only picks the user; the
//! user's PIN, through the same guard and lockout as every other PIN check, is what lets a
//! call through, and a user without a PIN never gets access. Nothing the destination
//! policy refuses is ever dialed.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::settings::{printable, RemoteDestination, Settings};
use crate::{Millis, PhoneNumber, UserId, UserSettings};

/// Which feature a call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// `TwinningAccess`: dial out now.
    Access,
    /// `TwinningCallback`: be called back, then dial out.
    Callback,
}

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::Access => "access",
            Feature::Callback => "callback",
        }
    }

    fn allowed(self, user: &UserSettings) -> bool {
        match self {
            Feature::Access => user.mobile_access,
            Feature::Callback => user.mobile_callback,
        }
    }
}

/// Why a call was refused: the `Reason` of a `TwinningAccess` event. These names are public
/// interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The calling number is no user's remote destination (or is withheld).
    UnknownCaller,
    /// The number is a user's, but that user does not have the feature.
    NotEnabled,
    /// More than one user with the feature has this number: it cannot say who is calling.
    Ambiguous,
    /// `access_context` is not set: the admin has pointed access at no route.
    NoRoute,
    /// The user has no PIN; access always needs one.
    NoPin,
    /// No right PIN in this call.
    WrongPin,
    /// The user is locked out by the PIN guard.
    Locked,
    /// The user's `access_rate` for this hour is used up.
    Rate,
    /// No number was given.
    NoNumber,
    /// The number is refused by the destination policy, or is no number.
    Policy,
    /// A callback: the user is on a twinned call.
    Busy,
    /// A callback: one is already pending for the user.
    Pending,
    /// A callback: the caller did not hang up within `callback_window`.
    Window,
    /// A callback: the call back was not answered, or answered within the answer guard.
    NoAnswer,
    /// A callback: it could not be carried out (its thread could not be started, or
    /// failed); nothing more is dialed and the user may ask again.
    Failed,
    /// The caller hung up after a right PIN, or once called back: nothing was dialed.
    HungUp,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::UnknownCaller => "unknown_caller",
            Refusal::NotEnabled => "not_enabled",
            Refusal::Ambiguous => "ambiguous",
            Refusal::NoRoute => "no_route",
            Refusal::NoPin => "no_pin",
            Refusal::WrongPin => "wrong_pin",
            Refusal::Locked => "locked",
            Refusal::Rate => "rate",
            Refusal::NoNumber => "no_number",
            Refusal::Policy => "policy",
            Refusal::Busy => "busy",
            Refusal::Pending => "pending",
            Refusal::Window => "window",
            Refusal::NoAnswer => "no_answer",
            Refusal::Failed => "failed",
            Refusal::HungUp => "hung_up",
        }
    }
}

/// The user whose remote destination `calling` is, among those with `feature`. A number
/// that is only the remote destination of users without the feature is
/// [`Refusal::NotEnabled`]; no user's at all, [`Refusal::UnknownCaller`].
///
/// Only a plain number is matched: digits, with at most a leading `+`. A caller ID with
/// anything else in it is refused as [`Refusal::UnknownCaller`], never cleaned up into
/// someone's number. A destination switched off by its own `mobile<n>_enabled = no` is
/// matched by nothing.
pub fn find_user(settings: &Settings, calling: &str, feature: Feature) -> Result<UserId, Refusal> {
    if !plain_number(calling) {
        return Err(Refusal::UnknownCaller);
    }
    let general = settings.general();
    let (access, policy) = (&general.access, &general.policy);
    let mut allowed = Vec::new();
    let mut known = false;
    for (id, user) in settings.users() {
        if matchable_destinations(user).any(|d| access.same_number(calling, d.number, policy)) {
            known = true;
            if feature.allowed(user) {
                allowed.push(id.clone());
            }
        }
    }
    match allowed.len() {
        1 => Ok(allowed.remove(0)),
        0 if known => Err(Refusal::NotEnabled),
        0 => Err(Refusal::UnknownCaller),
        _ => Err(Refusal::Ambiguous),
    }
}

/// The remote destinations of `user` a calling mobile may be matched to: every one with a
/// number, except those switched off by their own `mobile<n>_enabled = no`.
pub fn matchable_destinations(user: &UserSettings) -> impl Iterator<Item = RemoteDestination<'_>> + '_ {
    user.destinations().filter(|d| !user.destination_switched_off(d.index))
}

/// Digits, with at most a leading `+`: what a trunk gives as a real caller's number.
fn plain_number(calling: &str) -> bool {
    let digits = calling.strip_prefix('+').unwrap_or(calling);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The number a user asked to dial (digits keyed on the phone, or the DID's), if the
/// destination policy lets it be dialed: nothing else is ever handed to the dialplan.
pub fn number_to_dial(settings: &Settings, digits: &str) -> Result<PhoneNumber, (Refusal, String)> {
    let digits = digits.trim();
    if digits.is_empty() {
        return Err((Refusal::NoNumber, "no number was given".into()));
    }
    let number =
        PhoneNumber::parse(digits).map_err(|e| (Refusal::Policy, format!("'{}': {e}", printable(digits))))?;
    settings.general().policy.check(&number).map_err(|e| (Refusal::Policy, e))?;
    Ok(number)
}

/// The options of `TwinningAccess([options])` / `twinning_access`: `d` dials the digits the
/// DID carried instead of asking for a number; `t(s)` seconds to wait for each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessOptions {
    pub did: bool,
    pub timeout: Millis,
}

impl Default for AccessOptions {
    fn default() -> Self {
        AccessOptions { did: false, timeout: Millis::from_secs(10) }
    }
}

impl AccessOptions {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut o = AccessOptions::default();
        let mut chars = s.trim().chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                'd' => o.did = true,
                't' => {
                    if chars.next() != Some('(') {
                        return Err("option 't' needs an argument, e.g. t(10)".into());
                    }
                    let mut arg = String::new();
                    loop {
                        match chars.next() {
                            Some(')') => break,
                            Some(ch) if arg.len() < 8 => arg.push(ch),
                            _ => return Err("option 't' has an unclosed or overlong argument".into()),
                        }
                    }
                    let v = Millis::parse(&arg).map_err(|e| format!("option 't': {e}"))?;
                    if v < Millis::from_secs(1) || v > Millis::from_secs(60) {
                        return Err("option 't': the timeout must be 1 to 60 s".into());
                    }
                    o.timeout = v;
                }
                other => {
                    return Err(format!(
                        "unknown option '{}' (options: d, t(s))",
                        printable(&other.to_string())
                    ))
                }
            }
        }
        Ok(o)
    }
}

/// How many access and callback calls each user made in the last hour: the user's
/// `access_rate` caps them. Sans-IO: the host passes the time.
#[derive(Debug, Default)]
pub struct AccessRate {
    calls: HashMap<UserId, VecDeque<Instant>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl AccessRate {
    pub fn new() -> Self {
        AccessRate::default()
    }

    /// Counts a call for `user` if fewer than `rate` were made in the hour before `now`;
    /// false (and nothing counted) if the cap is reached.
    pub fn admit(&mut self, user: &UserId, rate: u32, now: Instant) -> bool {
        let calls = self.calls.entry(user.clone()).or_default();
        while calls.front().is_some_and(|&t| now.saturating_duration_since(t) >= HOUR) {
            calls.pop_front();
        }
        if calls.len() >= rate as usize {
            return false;
        }
        calls.push_back(now);
        true
    }

    /// Forgets users with no call in the last hour.
    pub fn prune(&mut self, now: Instant) {
        self.calls.retain(|_, calls| calls.back().is_some_and(|&t| now.saturating_duration_since(t) < HOUR));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, RawConfig};

    fn settings(extra_general: &str, users: &str) -> Settings {
        let text = format!(
            "[general]\nmobile_dial = PJSIP/{{number}}@trunk\ncountry_code = 44\nblocked_prefixes = 09\nhome_prefixes = +44, 0044\n\
             {extra_general}\n{users}"
        );
        Settings::new(Config::from_raw(&RawConfig::parse_conf(&text).unwrap()).unwrap())
    }

    #[test]
    fn the_caller_is_matched_in_any_form_and_only_to_a_user_with_the_feature() {
        let s = settings(
            "",
            "[1001]\ndesk=PJSIP/1001\nmobile=07700900123\nmobile_access=yes\npin=2468\n\
             [1002]\ndesk=PJSIP/1002\nmobile=+447700900456\nmobile3=01632960999\n",
        );
        for calling in ["07700900123", "+447700900123", "00447700900123"] {
            assert_eq!(find_user(&s, calling, Feature::Access).unwrap().as_str(), "1001", "{calling}");
        }
        assert_eq!(find_user(&s, "07700900123", Feature::Callback), Err(Refusal::NotEnabled));
        assert_eq!(find_user(&s, "07700900456", Feature::Access), Err(Refusal::NotEnabled));
        assert_eq!(
            find_user(&s, "01632960999", Feature::Access),
            Err(Refusal::NotEnabled),
            "any destination"
        );
        // Anything but digits and a leading `+` is no caller's number, whatever is left once
        // it is cleaned up.
        for unknown in [
            "07700900999",
            "",
            "anonymous",
            "123",
            "0770 0900 123",
            "0770-0900-123",
            "++447700900123",
            "07700900123;x",
            " 07700900123",
            "+",
        ] {
            assert_eq!(find_user(&s, unknown, Feature::Access), Err(Refusal::UnknownCaller), "{unknown:?}");
        }
        let shared = settings(
            "",
            "[1001]\ndesk=PJSIP/1001\nmobile=07700900123\nmobile_access=yes\n\
             [1002]\ndesk=PJSIP/1002\nmobile=+447700900123\nmobile_access=yes\n",
        );
        assert_eq!(find_user(&shared, "07700900123", Feature::Access), Err(Refusal::Ambiguous));

        // A destination switched off by its own mobile<n>_enabled = no matches nothing; one
        // that only follows `enabled` (off by default) still does.
        let off = settings(
            "",
            "[1001]\ndesk=PJSIP/1001\nmobile=07700900123\nmobile2=01632960222\nmobile2_enabled=no\n\
             mobile3=01632960333\nmobile_access=yes\nmobile_callback=yes\npin=2468\n",
        );
        for feature in [Feature::Access, Feature::Callback] {
            assert_eq!(find_user(&off, "01632960222", feature), Err(Refusal::UnknownCaller));
            assert_eq!(find_user(&off, "01632960333", feature).unwrap().as_str(), "1001");
            assert_eq!(find_user(&off, "07700900123", feature).unwrap().as_str(), "1001");
        }
    }

    #[test]
    fn only_numbers_the_policy_allows_are_dialed() {
        let s = settings("", "[1001]\ndesk=PJSIP/1001\n");
        assert_eq!(number_to_dial(&s, "01632960123").unwrap().as_str(), "01632960123");
        for (digits, refusal) in [
            ("", Refusal::NoNumber),
            ("09011234567", Refusal::Policy),
            ("0033612345678", Refusal::Policy),
            ("1*2", Refusal::Policy),
            ("12", Refusal::Policy),
            ("0163&PJSIP/x", Refusal::Policy),
        ] {
            assert_eq!(number_to_dial(&s, digits).map_err(|e| e.0), Err(refusal), "{digits:?}");
        }
    }

    #[test]
    fn options_parse_and_bad_ones_are_refused() {
        assert_eq!(AccessOptions::parse("").unwrap(), AccessOptions::default());
        let o = AccessOptions::parse("dt(5)").unwrap();
        assert!(o.did && o.timeout == Millis::from_secs(5));
        for bad in ["x", "t", "t(0)", "t(99)", "t(5", "d,"] {
            assert!(AccessOptions::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hourly_cap_holds_and_frees_up_after_an_hour() {
        let mut r = AccessRate::new();
        let user = UserId::parse("1001").unwrap();
        let t0 = Instant::now();
        assert!(r.admit(&user, 2, t0));
        assert!(r.admit(&user, 2, t0 + Duration::from_secs(60)));
        assert!(!r.admit(&user, 2, t0 + Duration::from_secs(120)), "third in the hour");
        assert!(!r.admit(&user, 2, t0 + Duration::from_secs(3599)));
        assert!(r.admit(&user, 2, t0 + Duration::from_secs(3600)), "the first has left the hour");
        let other = UserId::parse("1002").unwrap();
        assert!(r.admit(&other, 1, t0 + Duration::from_secs(3600)), "per user");
        r.prune(t0 + Duration::from_secs(3600 * 3));
        assert!(r.calls.is_empty());
    }
}
