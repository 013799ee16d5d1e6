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
    /// Callers who never ring a remote destination (`block_callers`).
    BlockCallers,
    /// If set, the only callers who ring the remote destinations (`allow_callers`).
    AllowCallers,
    /// The account code remote legs are billed to (`accountcode`): the twinning user's,
    /// not the caller's. Empty: the legs keep the PBX's usual account code.
    AccountCode,
    /// The caller ID a remote leg is dialed with once more when the trunk refuses the first
    /// (`caller_id_fallback`: `extension`, `did` or a number; empty is off).
    CallerIdFallback,
    /// Mobile Direct Access (`mobile_access`): a call from one of the user's remote
    /// destinations to `TwinningAccess` may, with the user's PIN, dial out as the user.
    MobileAccess,
    /// Mobile Callback (`mobile_callback`): a call from one of the user's remote
    /// destinations to `TwinningCallback` is called back, then dials out as with access.
    MobileCallback,
    /// Most access and callback calls the user may make in an hour (`access_rate`).
    AccessRate,
    /// Remote destination 2 … 10's own setting (`mobile2`, `mobile2_dial_delay`, …);
    /// destination 1 is `mobile` with the user's own fields.
    Destination(u8, DestinationField),
}

/// What a remote destination 2 … 10 has of its own. Each but the number defaults to the
/// user's value of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DestinationField {
    Number,
    Enabled,
    DialDelay,
    AnswerGuard,
    RingTime,
}

impl DestinationField {
    pub const ALL: [DestinationField; 5] = [
        DestinationField::Number,
        DestinationField::Enabled,
        DestinationField::DialDelay,
        DestinationField::AnswerGuard,
        DestinationField::RingTime,
    ];

    /// The user's own field this one defaults to (`mobile` for the number).
    pub fn user_field(self) -> Field {
        match self {
            DestinationField::Number => Field::Mobile,
            DestinationField::Enabled => Field::Enabled,
            DestinationField::DialDelay => Field::DialDelay,
            DestinationField::AnswerGuard => Field::AnswerGuard,
            DestinationField::RingTime => Field::RingTime,
        }
    }
}

/// The first destination with fields of its own.
pub const FIRST_EXTRA_DESTINATION: u8 = 2;
const EXTRA_DESTINATIONS: usize = (crate::call::MAX_DESTINATIONS - FIRST_EXTRA_DESTINATION + 1) as usize;

const DESTINATION_NAMES: [[&str; 5]; EXTRA_DESTINATIONS] = [
    ["mobile2", "mobile2_enabled", "mobile2_dial_delay", "mobile2_answer_guard", "mobile2_ring_time"],
    ["mobile3", "mobile3_enabled", "mobile3_dial_delay", "mobile3_answer_guard", "mobile3_ring_time"],
    ["mobile4", "mobile4_enabled", "mobile4_dial_delay", "mobile4_answer_guard", "mobile4_ring_time"],
    ["mobile5", "mobile5_enabled", "mobile5_dial_delay", "mobile5_answer_guard", "mobile5_ring_time"],
    ["mobile6", "mobile6_enabled", "mobile6_dial_delay", "mobile6_answer_guard", "mobile6_ring_time"],
    ["mobile7", "mobile7_enabled", "mobile7_dial_delay", "mobile7_answer_guard", "mobile7_ring_time"],
    ["mobile8", "mobile8_enabled", "mobile8_dial_delay", "mobile8_answer_guard", "mobile8_ring_time"],
    ["mobile9", "mobile9_enabled", "mobile9_dial_delay", "mobile9_answer_guard", "mobile9_ring_time"],
    ["mobile10", "mobile10_enabled", "mobile10_dial_delay", "mobile10_answer_guard", "mobile10_ring_time"],
];

const BASE: [Field; 20] = [
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
    Field::BlockCallers,
    Field::AllowCallers,
    Field::AccountCode,
    Field::CallerIdFallback,
    Field::MobileAccess,
    Field::MobileCallback,
    Field::AccessRate,
];

const fn all_fields() -> [Field; BASE.len() + 5 * EXTRA_DESTINATIONS] {
    let mut all = [Field::Desk; BASE.len() + 5 * EXTRA_DESTINATIONS];
    let mut i = 0;
    while i < BASE.len() {
        all[i] = BASE[i];
        i += 1;
    }
    let mut d = 0;
    while d < EXTRA_DESTINATIONS {
        let mut f = 0;
        while f < 5 {
            all[BASE.len() + d * 5 + f] =
                Field::Destination(FIRST_EXTRA_DESTINATION + d as u8, DestinationField::ALL[f]);
            f += 1;
        }
        d += 1;
    }
    all
}

impl Field {
    /// Every field: the user's own, then each destination 2 … 10's.
    pub const ALL: [Field; BASE.len() + 5 * EXTRA_DESTINATIONS] = all_fields();

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
            Field::BlockCallers => "block_callers",
            Field::AllowCallers => "allow_callers",
            Field::AccountCode => "accountcode",
            Field::CallerIdFallback => "caller_id_fallback",
            Field::MobileAccess => "mobile_access",
            Field::MobileCallback => "mobile_callback",
            Field::AccessRate => "access_rate",
            Field::Destination(n, f) => {
                let row = (n.clamp(FIRST_EXTRA_DESTINATION, crate::call::MAX_DESTINATIONS)
                    - FIRST_EXTRA_DESTINATION) as usize;
                DESTINATION_NAMES[row][f as usize]
            }
        }
    }

    /// Field names are matched without regard to case, as Asterisk matches config keys.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The desk dial string decides which device rings inside the company; only the
    /// administrator may set it, in the configuration file.
    pub fn runtime_writable(self) -> bool {
        self != Field::Desk
    }

    /// Fields whose default may be given once in `[general]` for every user. The desk, the
    /// numbers, the PIN and the caller lists belong to one person and are never shared.
    pub fn has_general_default(self) -> bool {
        !matches!(
            self,
            Field::Desk
                | Field::Mobile
                | Field::Pin
                | Field::BlockCallers
                | Field::AllowCallers
                | Field::Destination(_, DestinationField::Number)
        )
    }

    /// Whether the value is a secret that listings and events must not show.
    pub fn is_secret(self) -> bool {
        self == Field::Pin
    }

    /// Destination 2 … 10's fields are listed only for a destination in use.
    pub fn destination(self) -> Option<u8> {
        match self {
            Field::Destination(n, _) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_parses_back() {
        let mut names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        for f in Field::ALL {
            assert_eq!(Field::parse(f.name()), Some(f), "{f}");
        }
        assert_eq!(
            Field::parse("MOBILE10_RING_TIME"),
            Some(Field::Destination(10, DestinationField::RingTime))
        );
        assert_eq!(Field::parse("mobile1"), None);
        assert_eq!(Field::parse("mobile11"), None);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Field::ALL.len());
    }
}
