use std::fmt;

/// A per-user setting, by the name admins use in `twinning.conf`, `TWINNING(user,field)`,
/// the CLI and AMI. These names are public interface: extend, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Desk,
    Mobile,
    Enabled,
    DialDelay,
    AnswerGuard,
    Confirm,
    RingTime,
    CallerId,
    Dnd,
    Schedule,
    HuntGroupCalls,
    ForwardedCalls,
    Pin,
}

impl Field {
    pub const ALL: [Field; 13] = [
        Field::Desk,
        Field::Mobile,
        Field::Enabled,
        Field::DialDelay,
        Field::AnswerGuard,
        Field::Confirm,
        Field::RingTime,
        Field::CallerId,
        Field::Dnd,
        Field::Schedule,
        Field::HuntGroupCalls,
        Field::ForwardedCalls,
        Field::Pin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Desk => "desk",
            Field::Mobile => "mobile",
            Field::Enabled => "enabled",
            Field::DialDelay => "dial_delay",
            Field::AnswerGuard => "answer_guard",
            Field::Confirm => "confirm",
            Field::RingTime => "ring_time",
            Field::CallerId => "caller_id",
            Field::Dnd => "dnd",
            Field::Schedule => "schedule",
            Field::HuntGroupCalls => "hunt_group_calls",
            Field::ForwardedCalls => "forwarded_calls",
            Field::Pin => "pin",
        }
    }

    /// Field names are matched without regard to case, as Asterisk matches config keys.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The desk dial string decides which device rings inside the company; only the
    /// administrator may set it, in the configuration file.
    pub fn runtime_writable(self) -> bool {
        self != Field::Desk
    }

    /// Fields whose default may be given once in `[general]` for every user. `desk`,
    /// `mobile` and `pin` belong to one person and are never shared.
    pub fn has_general_default(self) -> bool {
        !matches!(self, Field::Desk | Field::Mobile | Field::Pin)
    }

    /// Whether the value is a secret that listings and events must not show.
    pub fn is_secret(self) -> bool {
        self == Field::Pin
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
