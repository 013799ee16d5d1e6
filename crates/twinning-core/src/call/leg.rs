use std::fmt;

/// A leg of a twinned call, numbered by the engine in the order it creates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegId(pub u32);

/// Which of the user's devices a leg rings. The names are public interface (`Leg:` in
/// events, `TWINNINGANSWEREDBY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegKind {
    Desk,
    Mobile,
}

impl LegKind {
    pub fn name(self) -> &'static str {
        match self {
            LegKind::Desk => "desk",
            LegKind::Mobile => "mobile",
        }
    }
}

impl fmt::Display for LegKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
