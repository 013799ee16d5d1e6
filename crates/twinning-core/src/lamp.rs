//! What a user's two lamps show, as IP Office lights its twinning button and marks a user
//! busy while they talk on the mobile.
//!
//! - The **twinning lamp** (`Twinning:<user>`, `twinning+<user>`) is lit while twinning is
//!   on: enabled, a number set and no DND. It blinks (ringing) while a twinned call rings
//!   the mobile.
//! - The **call lamp** (`TwinningCall:<user>`, `twinningcall+<user>`) is lit while the user
//!   has an answered twinned call on any device, the mobile included, and blinks while one
//!   rings. Combined with the desk's own state in a hint, it makes colleagues' lamps and
//!   queues see the user as busy while they talk on the mobile.
//!
//! Both are pure functions of the settings and of what the user's calls are doing, so a
//! host asks for a lamp afresh whenever it likes (a restart included) and gets the same
//! answer it was last told.

use std::fmt;

use crate::UserSettings;

/// One of a user's lamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lamp {
    Twinning,
    TwinningCall,
}

impl Lamp {
    pub const ALL: [Lamp; 2] = [Lamp::Twinning, Lamp::TwinningCall];

    /// The device state provider's name in Asterisk (`Twinning:1001`).
    pub fn provider(self) -> &'static str {
        match self {
            Lamp::Twinning => "Twinning",
            Lamp::TwinningCall => "TwinningCall",
        }
    }

    /// The presence id's prefix in FreeSWITCH (`twinning+1001@domain`).
    pub fn presence_prefix(self) -> &'static str {
        match self {
            Lamp::Twinning => "twinning",
            Lamp::TwinningCall => "twinningcall",
        }
    }
}

impl fmt::Display for Lamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.provider())
    }
}

/// A lamp's state, named as Asterisk names device states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LampState {
    /// Off.
    NotInUse,
    /// Lit.
    InUse,
    /// Blinking.
    Ringing,
    /// No such user.
    Invalid,
}

impl LampState {
    pub fn name(self) -> &'static str {
        match self {
            LampState::NotInUse => "NOT_INUSE",
            LampState::InUse => "INUSE",
            LampState::Ringing => "RINGING",
            LampState::Invalid => "INVALID",
        }
    }
}

impl fmt::Display for LampState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a user's calls are doing, as far as the lamps care. Activities of several calls
/// combine with [`CallActivity::merge`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallActivity {
    /// A mobile leg is being dialed, rings, or waits for the press-1 confirmation.
    pub mobile_ringing: bool,
    /// Any leg is being dialed or rings while no leg is bridged.
    pub ringing: bool,
    /// A leg is bridged with the caller, or the caller is held for the desk.
    pub answered: bool,
}

impl CallActivity {
    pub fn merge(self, other: CallActivity) -> CallActivity {
        CallActivity {
            mobile_ringing: self.mobile_ringing || other.mobile_ringing,
            ringing: self.ringing || other.ringing,
            answered: self.answered || other.answered,
        }
    }
}

/// The state of `lamp` for a user with `settings` (`None`: no such user) whose calls are
/// doing `activity`.
pub fn lamp_state(lamp: Lamp, settings: Option<&UserSettings>, activity: CallActivity) -> LampState {
    let Some(user) = settings else { return LampState::Invalid };
    match lamp {
        Lamp::Twinning if activity.mobile_ringing => LampState::Ringing,
        Lamp::Twinning if user.twinning_on() => LampState::InUse,
        Lamp::Twinning => LampState::NotInUse,
        Lamp::TwinningCall if activity.answered => LampState::InUse,
        Lamp::TwinningCall if activity.ringing => LampState::Ringing,
        Lamp::TwinningCall => LampState::NotInUse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeskDevice, PhoneNumber};

    fn user(enabled: bool, mobile: bool, dnd: bool) -> UserSettings {
        let mut u = UserSettings::builtin(DeskDevice::parse("PJSIP/desk1001").unwrap());
        u.enabled = enabled;
        u.mobile = mobile.then(|| PhoneNumber::parse("07700900123").unwrap());
        u.dnd = dnd;
        u
    }

    const IDLE: CallActivity = CallActivity { mobile_ringing: false, ringing: false, answered: false };

    #[test]
    fn the_twinning_lamp_is_lit_only_with_enabled_a_number_and_no_dnd() {
        let on = |e, m, d| lamp_state(Lamp::Twinning, Some(&user(e, m, d)), IDLE);
        assert_eq!(on(true, true, false), LampState::InUse);
        assert_eq!(on(false, true, false), LampState::NotInUse);
        assert_eq!(on(true, false, false), LampState::NotInUse);
        assert_eq!(on(true, true, true), LampState::NotInUse);
    }

    #[test]
    fn a_ringing_mobile_blinks_the_twinning_lamp_and_an_answer_lights_the_call_lamp() {
        let u = user(true, true, false);
        let ringing = CallActivity { mobile_ringing: true, ringing: true, answered: false };
        assert_eq!(lamp_state(Lamp::Twinning, Some(&u), ringing), LampState::Ringing);
        assert_eq!(lamp_state(Lamp::TwinningCall, Some(&u), ringing), LampState::Ringing);
        let answered = CallActivity { answered: true, ..IDLE };
        assert_eq!(lamp_state(Lamp::Twinning, Some(&u), answered), LampState::InUse);
        assert_eq!(lamp_state(Lamp::TwinningCall, Some(&u), answered), LampState::InUse);
        // An answered call with another ringing (a handover) still shows the user busy.
        assert_eq!(lamp_state(Lamp::TwinningCall, Some(&u), answered.merge(ringing)), LampState::InUse);
        assert_eq!(lamp_state(Lamp::TwinningCall, Some(&u), IDLE), LampState::NotInUse);
    }

    #[test]
    fn an_unknown_user_is_invalid_on_both_lamps() {
        for lamp in Lamp::ALL {
            assert_eq!(lamp_state(lamp, None, IDLE), LampState::Invalid);
        }
    }
}
