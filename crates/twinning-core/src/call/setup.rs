use super::{CallOptions, CallerId};
use crate::{CallControl, DestinationPolicy, MobileDialTemplate, UserId, UserSettings};

/// Local wall-clock time where the schedule applies, as the host read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 = Monday.
    pub weekday: u8,
    pub minute_of_day: u16,
}

/// Everything the engine needs to know when a call starts.
#[derive(Debug, Clone)]
pub struct CallSetup {
    pub user: UserId,
    /// The user's settings in force at the start of the call.
    pub settings: UserSettings,
    pub mobile_dial: MobileDialTemplate,
    pub policy: DestinationPolicy,
    pub caller: CallerId,
    /// The number the caller dialed (the DID), when the host knows it.
    pub dialed: Option<String>,
    pub options: CallOptions,
    pub local_time: LocalTime,
    /// Handover and mid-call codes, from `[general]`.
    pub call_control: CallControl,
}
