use std::fmt;

/// A leg of a twinned call, numbered by the engine in the order it creates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegId(pub u32);

/// How many remote destinations a user may have: `mobile` and `mobile2` … `mobile10`, as
/// Cisco Single Number Reach allows ten.
pub const MAX_DESTINATIONS: u8 = 10;

/// Which of the user's devices a leg rings: the desk, or remote destination `n` (1 is
/// `mobile`, 2 … 10 are `mobile2` … `mobile10`). The names are public interface (`Leg:`
/// in events, `TWINNINGANSWEREDBY`, handover `To:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LegKind {
    Desk,
    Mobile(u8),
    /// The third party the mobile called during the call (the consult code). Never a
    /// handover target: `parse` does not know it.
    Consult,
}

const MOBILE_NAMES: [&str; MAX_DESTINATIONS as usize] = [
    "mobile", "mobile2", "mobile3", "mobile4", "mobile5", "mobile6", "mobile7", "mobile8", "mobile9",
    "mobile10",
];

impl LegKind {
    /// Destination 1, the user's `mobile`.
    pub const MOBILE: LegKind = LegKind::Mobile(1);

    pub fn name(self) -> &'static str {
        match self {
            LegKind::Desk => "desk",
            LegKind::Consult => "consult",
            LegKind::Mobile(n) => MOBILE_NAMES[(n.clamp(1, MAX_DESTINATIONS) - 1) as usize],
        }
    }

    /// `desk`, `mobile`, `mobile2` … `mobile10`.
    pub fn parse(name: &str) -> Option<LegKind> {
        if name.eq_ignore_ascii_case("desk") {
            return Some(LegKind::Desk);
        }
        (1..=MAX_DESTINATIONS).map(LegKind::Mobile).find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// Whether this is a remote destination (any `mobile…`).
    pub fn is_remote(self) -> bool {
        matches!(self, LegKind::Mobile(_))
    }
}

impl fmt::Display for LegKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(LegKind::MOBILE.name(), "mobile");
        assert_eq!(LegKind::Mobile(10).name(), "mobile10");
        for n in 1..=MAX_DESTINATIONS {
            assert_eq!(LegKind::parse(LegKind::Mobile(n).name()), Some(LegKind::Mobile(n)));
        }
        assert_eq!(LegKind::parse("desk"), Some(LegKind::Desk));
        assert_eq!(LegKind::parse("mobile1"), None);
        assert_eq!(LegKind::parse("mobile11"), None);
    }
}
